"""Health gates: which ones a plan has, and how to tell green from red.

Core gates always apply to node operations: every Talos node reachable, running and ready; etcd
with as many healthy members as there are control planes and no alarms; every Kubernetes node Ready;
the API answering ``/readyz`` on the VIP. The inventory's ``upgrade.gates`` switches on the rest:
Proxmox quorum (and the node's host up), TrueNAS pools and NFS, Ceph, Flux, VolSync, and custom
JSONPath/command gates with their own timeouts.

``preflight`` looks once (retrying only a look that *errored*, never a red answer) and refuses to
start; ``wait_green`` waits between nodes until all gates are green together; ``hold_green`` is the
stability window: green must last ``seconds``, a red look restarts the window, and each gate's own
timeout bounds the whole thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from homeops.clock import Clock
from homeops.errors import CommandError, ConnectionFailed, GateFailed
from homeops.inventory.model import Inventory, Node
from homeops.operations.facts import Check, Observer
from homeops.plan import Gate

GateReporter = Callable[[Gate, Check], None]


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    ok: bool
    observed: str
    errored: bool = False  # the look itself failed (tool error, timeout) rather than seeing red


# --------------------------------------------------------------------------------- definitions


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
    if policy.flux:
        gates.append(Gate("flux", "flux", "every Flux Kustomization Ready", None, limit))
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


# --------------------------------------------------------------------------------- evaluation


def evaluate(gate: Gate, observer: Observer, inventory: Inventory) -> GateResult:
    """One look at ``gate``. Never raises for a tool or connection error: that is a red, errored look."""
    try:
        check = _evaluate(gate, observer, inventory)
    except (CommandError, ConnectionFailed) as exc:
        return GateResult(gate, False, _one_line(str(exc)), errored=True)
    return GateResult(gate, check.ok, check.observed)


def _evaluate(gate: Gate, observer: Observer, inventory: Inventory) -> Check:
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


def _fail(result: GateResult, *, hint: str | None = None) -> GateFailed:
    return GateFailed(result.gate.name, result.observed, target=result.gate.target, hint=hint)


def preflight(
    gates: Sequence[Gate],
    observer: Observer,
    inventory: Inventory,
    *,
    clock: Clock,
    retries: int = 3,
    interval: float = 2.0,
    report: GateReporter | None = None,
) -> tuple[GateResult, ...]:
    """Check every gate once; a look that errored is retried; any red gate raises ``GateFailed``."""
    results: list[GateResult] = []
    for gate in gates:
        result = evaluate(gate, observer, inventory)
        for _ in range(retries - 1):
            if not result.errored:
                break
            clock.sleep(interval)
            result = evaluate(gate, observer, inventory)
        if report:
            report(gate, Check(result.ok, result.observed))
        results.append(result)
        if not result.ok:
            raise _fail(result, hint="nothing was changed; fix this and run again")
    return tuple(results)


def wait_green(
    gates: Sequence[Gate],
    observer: Observer,
    inventory: Inventory,
    *,
    clock: Clock,
    interval: float,
    report: GateReporter | None = None,
    hint: str | None = None,
) -> tuple[GateResult, ...]:
    """Wait until every gate is green in the same look; a gate red past its own timeout raises ``GateFailed``."""
    return _green_look(gates, observer, inventory, clock=clock, interval=interval, report=report, hint=hint)[0]


def _green_look(
    gates: Sequence[Gate],
    observer: Observer,
    inventory: Inventory,
    *,
    clock: Clock,
    interval: float,
    report: GateReporter | None,
    hint: str | None,
) -> tuple[tuple[GateResult, ...], float]:
    """Like ``wait_green``; also returns when the all-green look *began* (its evidence dates from then)."""
    start = clock.monotonic()
    while True:
        began = clock.monotonic()
        results = tuple(evaluate(g, observer, inventory) for g in gates)
        red = [r for r in results if not r.ok]
        if not red:
            return results, began
        elapsed = clock.monotonic() - start
        for result in red:
            if elapsed >= result.gate.timeout:
                raise _fail(result, hint=hint)
            if report:
                report(result.gate, Check(False, result.observed))
        remaining = min(r.gate.timeout for r in red) - elapsed
        clock.sleep(max(0.0, min(interval, remaining)))


def hold_green(
    gates: Sequence[Gate],
    observer: Observer,
    inventory: Inventory,
    *,
    seconds: float,
    clock: Clock,
    interval: float,
    report: GateReporter | None = None,
    hint: str | None = None,
) -> tuple[GateResult, ...]:
    """The stability window: every gate green, continuously, for ``seconds``; red restarts the window.

    The window opens when the first all-green look began and closes with a look that begins at least
    ``seconds`` later; looks in between are ``interval`` apart.
    """
    kw = {"clock": clock, "interval": interval, "report": report, "hint": hint}
    results, window_start = _green_look(gates, observer, inventory, **kw)  # type: ignore[arg-type]
    if seconds <= 0 or not gates:
        return results
    budget_end = clock.monotonic() + max(g.timeout for g in gates) + seconds
    while True:
        left = seconds - (clock.monotonic() - window_start)
        if left <= 0:
            return results
        clock.sleep(min(interval, left))
        results = tuple(evaluate(g, observer, inventory) for g in gates)
        red = [r for r in results if not r.ok]
        if not red:
            continue
        if clock.monotonic() >= budget_end:
            raise _fail(red[0], hint=hint)
        if report:
            for result in red:
                report(result.gate, Check(False, result.observed + " (stability window restarts)"))
        results, window_start = _green_look(gates, observer, inventory, **kw)  # type: ignore[arg-type]


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


__all__ = [
    "GateResult",
    "cluster_gates",
    "evaluate",
    "hold_green",
    "node_gates",
    "preflight",
    "wait_green",
]
