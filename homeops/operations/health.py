"""The cluster's health gates: which ones a node operation has, and how to look at each.

Core gates always apply to node operations: every Talos node reachable, running and ready; etcd
with as many healthy members as there are control planes and no alarms; every Kubernetes node Ready;
the API answering ``/readyz`` on the VIP. The inventory's ``upgrade.gates`` switches on the rest:
Proxmox quorum (and the node's host up), TrueNAS pools and NFS, Ceph, Flux, VolSync, and custom
JSONPath/command gates with their own timeouts.

``ClusterWorld`` is what the engine's executor acts on for these workflows: the inventory's state
dir, and ``look(gate)`` through the observer. Against the simulator a custom *command* gate is never
run (it would run on this machine, against the real world): it is reported as simulated. The
engine's ``gates.preflight``/``wait_green``/``hold_green``/``evaluate`` take a world's ``look``; the
world itself is built where the run is wired (``homeops.app``), with the runtime's backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from homeops.engine.gates import Check
from homeops.engine.plan import Gate
from homeops.inventory.model import Inventory, Node
from homeops.operations.facts import Observer
from homeops.runners import Runner

SIMULATED_COMMAND_GATE = "SIMULATED: command gate not run (it would run on this machine, not in the simulator)"


def cluster_gates(inventory: Inventory, *, timeout: float | None = None) -> tuple[Gate, ...]:
    """The gates a node operation checks before it starts and after every node."""
    limit = inventory.policy.ready_timeout if timeout is None else timeout
    cps = len(inventory.control_planes)
    gates = [
        Gate(
            "talos-nodes",
            "talos-nodes",
            f"all {len(inventory.nodes)} nodes reachable, stage running, ready",
            None,
            limit,
        ),
        Gate("etcd", "etcd", f"{cps} healthy etcd members (one per control plane), no alarms", None, limit),
        Gate("k8s-nodes", "k8s-nodes", "every Kubernetes node Ready", None, limit),
        Gate("api", "api", f"Kubernetes API answers /readyz on {inventory.cluster.vip}", None, limit),
    ]
    policy = inventory.policy.gates
    if policy.proxmox and inventory.hosts_of_kind("proxmox"):
        gates.append(Gate("proxmox", "proxmox", "Proxmox cluster quorate", None, limit))
    if policy.nas and inventory.hosts_of_kind("truenas"):
        gates.append(Gate("nas", "nas", "TrueNAS pools healthy and NFS running", None, limit))
    if policy.ceph:
        gates.append(Gate("ceph", "ceph", "CephCluster HEALTH_OK", None, limit))
    if policy.longhorn:
        gates.append(
            Gate("longhorn", "longhorn", "every Longhorn volume healthy (none degraded or faulted)", None, limit)
        )
    if policy.flux:
        gates.append(
            Gate(
                "flux",
                "flux",
                "every FluxInstance, Kustomization and HelmRelease Ready (suspended ones aside)",
                None,
                limit,
            )
        )
    if policy.volsync:
        gates.append(Gate("volsync", "volsync", "no VolSync ReplicationSource synchronizing", None, limit))
    for custom in policy.custom:
        if custom.kind == "jsonpath":
            where = f"{custom.resource}" + (f" -n {custom.namespace}" if custom.namespace else "")
            what = f"{where} {custom.jsonpath} == {custom.expect!r}"
        else:
            what = f"`{' '.join(custom.command)}` exits 0"
        gates.append(Gate("custom", custom.name, what, custom.name, custom.timeout))
    return tuple(gates)


def node_gates(inventory: Inventory, node: Node, *, timeout: float | None = None) -> tuple[Gate, ...]:
    """Gates about one node, checked right before it is touched: its Proxmox host is up."""
    limit = inventory.policy.ready_timeout if timeout is None else timeout
    if node.vm is None or not inventory.policy.gates.proxmox:
        return ()
    return (Gate("proxmox", "proxmox-host", f"Proxmox host {node.vm.host} up and quorate", node.vm.host, limit),)


def look(gate: Gate, observer: Observer, inventory: Inventory) -> Check:
    """One look at one of the cluster gates above (raises on a tool or connection error)."""
    kind = gate.kind
    if kind == "talos-nodes":
        wanted = [n for n in inventory.nodes if gate.target in (None, n.hostname)]
        facts = observer.nodes(wanted, versions=False)
        bad = [f"{n.hostname}: {facts[n.hostname].describe()}" for n in wanted if not facts[n.hostname].running_ready]
        return Check(not bad, "; ".join(bad) if bad else f"{len(wanted)} nodes running and ready")
    if kind == "etcd":
        etcd = observer.etcd()
        expected = {n.hostname for n in inventory.control_planes}
        healthy = set(etcd.healthy_members)
        problems = []
        missing = sorted(expected - {m.hostname for m in etcd.members})
        if missing:
            problems.append("no member for " + ", ".join(missing))
        if len(healthy & expected) != len(expected):
            problems.append(etcd.describe())
        elif etcd.alarms:
            problems.append("alarms: " + ", ".join(etcd.alarms))
        extra = sorted({m.hostname for m in etcd.members} - expected)
        if extra:
            problems.append("unexpected members " + ", ".join(extra))
        return Check(not problems, "; ".join(problems) if problems else etcd.describe())
    if kind == "k8s-nodes":
        k8s = observer.k8s_nodes()
        names = [n.hostname for n in inventory.nodes if gate.target in (None, n.hostname)]
        bad = [
            name + (": not registered" if name not in k8s else ": NotReady")
            for name in names
            if name not in k8s or not k8s[name].ready
        ]
        return Check(not bad, "; ".join(bad) if bad else f"{len(names)} nodes Ready")
    if kind == "api":
        return observer.api()
    if kind == "proxmox":
        return observer.proxmox(gate.target)
    if kind == "nas":
        return observer.nas()
    if kind == "ceph":
        return observer.ceph()
    if kind == "longhorn":
        return observer.longhorn()
    if kind == "flux":
        return observer.flux()
    if kind == "volsync":
        return observer.volsync()
    if kind == "custom":
        for custom in inventory.policy.gates.custom:
            if custom.name == gate.target:
                return observer.custom(custom)
        return Check(False, f"custom gate '{gate.target}' is no longer in the inventory")
    return Check(False, f"unknown gate kind {kind!r}")


@dataclass
class ClusterWorld:
    """The engine's ``World`` for cluster workflows: inventory, observer, and how the run reaches things."""

    inventory: Inventory
    observer: Observer
    simulated: bool = False
    uploader: Callable[[Path], str] | None = None  # copies a backup to the NAS, returns where
    host: Callable[[str], Runner] | None = None  # the runner of an SSH host, for gates that ask one

    @property
    def state_dir(self) -> Path:
        return self.inventory.state_dir

    def look(self, gate: Gate) -> Check:
        if self.simulated and gate.kind == "custom":
            custom = next((c for c in self.inventory.policy.gates.custom if c.name == gate.target), None)
            if custom is not None and custom.kind != "jsonpath":
                return Check(True, SIMULATED_COMMAND_GATE)
        extra = _GATE_LOOKS.get(gate.kind)
        if extra is not None:
            return extra(gate, self)
        return look(gate, self.observer, self.inventory)


#: Gate kinds a workflow adds (``register_gate``), looked at with the world they run in.
_GATE_LOOKS: dict[str, Callable[[Gate, ClusterWorld], Check]] = {}


def register_gate(kind: str, look: Callable[[Gate, ClusterWorld], Check]) -> None:
    """Teach ``ClusterWorld.look`` a gate kind of another workflow (the VM workflow's etcd-quorum)."""
    _GATE_LOOKS[kind] = look


__all__ = [
    "ClusterWorld",
    "cluster_gates",
    "look",
    "node_gates",
    "register_gate",
]
