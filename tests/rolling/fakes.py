"""A small in-memory cluster for the executor's unit tests: an ``Observer`` and a ``Runner`` in one.

Time is a ``FakeClock``; an upgrade/reboot schedules ``down_at`` / ``back_at`` / ``ready_at`` like the
simulator does, and every look applies what is due. Faults are time windows or one-shot flags.
``commands`` records every mutating command with a health snapshot taken at that instant, which is
what the property tests check (never two control planes out, never past a red gate).
"""

from __future__ import annotations

import math
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeops.clock import FakeClock
from homeops.errors import CommandError, ConnectionFailed
from homeops.inventory.model import (
    Cluster,
    CustomGate,
    Gates,
    Inventory,
    Node,
    SshHost,
    UpgradePolicy,
    VmRef,
)
from homeops.operations.facts import Check, ClusterFacts, EtcdFacts, EtcdMemberFacts, K8sNodeFacts, NodeFacts
from homeops.runners import Result

SCHEMATIC = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
IMAGE_URL = f"factory.talos.dev/metal-installer/{SCHEMATIC}"


def make_inventory(
    tmp: Path,
    *,
    control_planes: int = 3,
    workers: int = 3,
    hosts: int = 3,
    talos: str = "v1.11.6",
    kubernetes: str = "v1.34.2",
    stability: float = 10.0,
    max_unavailable: int = 1,
    vm_snapshot: bool = False,
    gates: Gates | None = None,
) -> Inventory:
    nodes = []
    for i in range(control_planes + workers):
        nodes.append(
            Node(
                hostname=f"k8s-{i}",
                ip=f"10.10.0.{20 + i}",
                control_plane=i < control_planes,
                talos_image_url=IMAGE_URL,
                vm=VmRef(f"pve{i % hosts + 1}", 200 + i) if hosts else None,
            )
        )
    ssh = (
        *(SshHost(f"pve{i + 1}", f"10.10.0.{2 + i}", "proxmox") for i in range(hosts)),
        SshHost("nas", "10.10.0.5", "truenas"),
    )
    cluster = Cluster(
        name="home",
        endpoint="https://10.10.0.10:6443",
        talos_version=talos,
        kubernetes_version=kubernetes,
        talconfig=tmp / "talconfig.yaml",
        talosconfig=tmp / "talosconfig",
        kubeconfig=tmp / "kubeconfig",
        clusterconfig_dir=tmp / "clusterconfig",
    )
    policy = UpgradePolicy(
        max_unavailable=max_unavailable,
        stability_seconds=stability,
        reboot_timeout=300,
        ready_timeout=200,
        poll_interval=5,
        vm_snapshot=vm_snapshot,
        gates=gates or Gates(proxmox=True, nas=True),
    )
    return Inventory(root=tmp, cluster=cluster, nodes=tuple(nodes), hosts=ssh, policy=policy, state_dir=tmp / "state")


@dataclass
class FakeNode:
    node: Node
    version: str
    boot: int = 1
    down_at: float | None = None
    back_at: float | None = None
    ready_at: float | None = None
    after_version: str | None = None
    rebooted_pending: bool = False


@dataclass
class Fault:
    kind: str  # never-returns, rollback, slow-ready, etcd-unhealthy, api-down, command-fails, pve-down, nas-degraded
    target: str | None = None
    start: float = 0.0
    end: float = math.inf
    times: int = 0
    seconds: float = 0.0


@dataclass
class CommandRecord:
    t: float
    line: str
    node: str | None
    action: str
    cps_unavailable: tuple[str, ...]
    red_gates: tuple[str, ...]


@dataclass
class FakeCluster:
    inventory: Inventory
    clock: FakeClock
    version: str = "v1.10.9"
    upgrade_seconds: float = 5.0
    reboot_seconds: float = 30.0
    ready_seconds: float = 15.0
    leader: str = "k8s-0"
    faults: list[Fault] = field(default_factory=list)
    commands: list[CommandRecord] = field(default_factory=list)
    looks: int = 0
    target: str = "local"
    fleet: dict[str, FakeNode] = field(default_factory=dict)
    snapshots: dict[str, str] = field(default_factory=dict)
    gate_inventory: Inventory | None = None

    def __post_init__(self) -> None:
        for node in self.inventory.nodes:
            self.fleet[node.hostname] = FakeNode(node, self.version)

    # ---------------------------------------------------------------------------- time and state

    def now(self) -> float:
        return self.clock.monotonic()

    def _fault(self, kind: str, target: str | None = None) -> Fault | None:
        t = self.now()
        for fault in self.faults:
            if fault.kind == kind and fault.start <= t < fault.end and fault.target in (None, target):
                return fault
        return None

    def _advance(self, fake: FakeNode) -> None:
        t = self.now()
        if fake.back_at is not None and t >= fake.back_at and fake.rebooted_pending:
            fake.boot += 1
            fake.version = fake.after_version or fake.version
            fake.rebooted_pending = False
        if fake.ready_at is not None and t >= fake.ready_at:
            fake.down_at = fake.back_at = fake.ready_at = None

    def _reachable(self, fake: FakeNode) -> bool:
        self._advance(fake)
        if fake.node.vm and self._fault("pve-down", fake.node.vm.host):
            return False
        t = self.now()
        return not (fake.down_at is not None and fake.down_at <= t and (fake.back_at is None or t < fake.back_at))

    def _state(self, fake: FakeNode) -> NodeFacts:
        reachable = self._reachable(fake)
        n = fake.node
        if not reachable:
            return NodeFacts(n.hostname, n.ip, False, detail="connection refused")
        t = self.now()
        if fake.down_at is not None and t < fake.down_at:
            stage, ready = "upgrading", False
        elif fake.ready_at is not None and t < fake.ready_at:
            stage, ready = "booting", False
        else:
            stage, ready = "running", True
        return NodeFacts(
            n.hostname, n.ip, True, stage, ready, fake.version, SCHEMATIC, f"boot-{n.hostname}-{fake.boot}"
        )

    def unavailable_cps(self) -> tuple[str, ...]:
        out = []
        for name, fake in self.fleet.items():
            if fake.node.control_plane:
                state = self._state(fake)
                if not state.running_ready or fake.down_at is not None or self._fault("etcd-unhealthy", name):
                    out.append(name)
        return tuple(out)

    def facts(self) -> ClusterFacts:
        return ClusterFacts(
            nodes=self.nodes_facts(self.inventory.nodes),
            etcd_leader=self.leader,
            kubernetes_version=self.inventory.cluster.kubernetes_version,
        )

    def nodes_facts(self, nodes: Sequence[Node]) -> dict[str, NodeFacts]:
        return {n.hostname: self._state(self.fleet[n.hostname]) for n in nodes}

    # ---------------------------------------------------------------------------- Observer

    def _look(self) -> None:
        self.looks += 1
        fault = self._fault("observe-fails")
        if fault and fault.times > 0:
            fault.times -= 1
            raise CommandError("talosctl get failed (exit 1): rpc error: code = Unavailable desc = flaky")

    def nodes(self, nodes: Sequence[Node], *, boot_ids: bool = False, versions: bool = True) -> dict[str, NodeFacts]:
        self._look()
        return self.nodes_facts(nodes)

    def boot_ids(self, nodes: Sequence[Node]) -> dict[str, str | None]:
        self._look()
        return {n: f.boot_id if f.reachable else None for n, f in self.nodes_facts(nodes).items()}

    def etcd(self) -> EtcdFacts:
        self._look()
        members = []
        for name, fake in self.fleet.items():
            if not fake.node.control_plane:
                continue
            state = self._state(fake)
            healthy = state.running_ready and not self._fault("etcd-unhealthy", name)
            members.append(EtcdMemberFacts(name, f"{hash(name) & 0xFFFFFFFFFFFFFFFF:016x}", healthy))
        alarms = tuple(
            f"NOSPACE on {f.target}"
            for f in self.faults
            if f.kind == "etcd-alarm" and self._fault("etcd-alarm", f.target)
        )
        return EtcdFacts(tuple(members), self.leader, alarms)

    def volume_attachments(self) -> dict[str, tuple[str, ...]]:
        return {}

    def upgraders(self) -> tuple[Any, ...]:
        return ()

    def longhorn(self) -> Check:
        return Check(True, "no Longhorn volumes")

    def k8s_nodes(self) -> dict[str, K8sNodeFacts]:
        self._look()
        if self._fault("api-down"):
            raise ConnectionFailed(
                "kubectl: Unable to connect to the server: dial tcp 10.10.0.10:6443: connection refused"
            )
        out = {}
        for name, fake in self.fleet.items():
            state = self._state(fake)
            out[name] = K8sNodeFacts(name, state.running_ready, False, self.inventory.cluster.kubernetes_version)
        return out

    def api(self) -> Check:
        self._look()
        if self._fault("api-down"):
            return Check(False, "/readyz: connection refused")
        return Check(True, "/readyz ok")

    def proxmox(self, host: str | None = None) -> Check:
        if host and self._fault("pve-down", host):
            return Check(False, f"host {host} unreachable")
        return Check(True, "quorate")

    def nas(self) -> Check:
        if self._fault("nas-degraded"):
            return Check(False, "tank DEGRADED")
        return Check(True, "pools ONLINE, NFS running")

    def ceph(self) -> Check:
        return Check(True, "HEALTH_OK")

    def flux(self) -> Check:
        return Check(True, "ready")

    def volsync(self) -> Check:
        return Check(True, "idle")

    def custom(self, gate: CustomGate) -> Check:
        return Check(True, "ok")

    # ---------------------------------------------------------------------------- Runner

    def red_gates(self) -> tuple[str, ...]:
        from homeops.engine.gates import evaluate
        from homeops.operations.health import ClusterWorld, cluster_gates

        saved = self.looks
        inv = self.gate_inventory or self.inventory
        red = tuple(g.name for g in cluster_gates(inv) if not evaluate(g, ClusterWorld(inv, self).look).ok)
        self.looks = saved
        return red

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        stdin: str | None = None,
        secrets: Sequence[str] = (),
    ) -> Result:
        argv = list(argv)
        line = shlex.join(argv)
        node_ip = argv[argv.index("--nodes") + 1] if "--nodes" in argv else None
        fake = next((f for f in self.fleet.values() if f.node.ip == node_ip), None)
        action = argv[1] if len(argv) > 1 else argv[0]
        if argv[:3] == ["talosctl", "etcd", "forfeit-leadership"]:
            action = "etcd-forfeit"
        elif argv[:3] == ["talosctl", "image", "pull"]:
            action = "pre-pull"
        elif argv[:2] == ["talosctl", "etcd"]:
            action = "etcd-snapshot"
        elif argv[0] == "qm":
            action = "vm-snapshot"
        elif argv[0] == "sh":
            action = "nas-copy"
        self.commands.append(
            CommandRecord(
                self.now(), line, fake.node.hostname if fake else None, action, self.unavailable_cps(), self.red_gates()
            )
        )
        fault = self._fault("command-fails")
        if fault and fault.times > 0 and argv[0] == "talosctl":
            fault.times -= 1
            return Result(
                tuple(argv), 1, "", f'error: rpc error: code = Unavailable desc = connection refused "{node_ip}"', 0.0
            )
        if action == "etcd-snapshot":
            path = Path(argv[3])
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"etcd-snapshot-bytes" * 10)
            self.snapshots["etcd"] = str(path)
            return Result(tuple(argv), 0, f'etcd snapshot saved to "{path}" (190 bytes)\n', "", 0.0)
        if action in ("vm-snapshot",):
            return Result(tuple(argv), 0, "", "", 0.0, self.target)
        if action == "pre-pull":
            return Result(tuple(argv), 0, "", f"{node_ip}: pulled image {argv[-1]}\n", 0.0)
        if action == "etcd-forfeit":
            if fake is not None and self.leader == fake.node.hostname:
                others = sorted(f.node.hostname for f in self.fleet.values() if f.node.control_plane and f is not fake)
                self.leader = others[0] if others else self.leader
            return Result(tuple(argv), 0, "", "", 0.0)
        if action == "nas-copy":
            import base64

            size = len(base64.b64decode(stdin or ""))
            return Result(tuple(argv), 0, f"{size}\n", "", 0.0, self.target)
        if fake is None:
            return Result(tuple(argv), 1, "", f"unexpected command {line}", 0.0)
        if not self._reachable(fake):
            return Result(
                tuple(argv), 1, "", f'error: rpc error: code = Unavailable desc = connection refused "{node_ip}"', 0.0
            )
        if action in ("upgrade", "reboot", "apply-config"):
            t = self.now()
            target_version = fake.version
            if action == "upgrade":
                image = argv[argv.index("--image") + 1]
                target_version = image.rsplit(":", 1)[1]
                if self._fault("rollback", fake.node.hostname):
                    target_version = fake.version
            if (
                action == "apply-config"
                and "--mode" in argv
                and argv[argv.index("--mode") + 1] not in ("auto", "reboot")
            ):
                return Result(tuple(argv), 0, "", "Applied configuration without a reboot\n", 0.0)
            slow = self._fault("slow-ready", fake.node.hostname)
            fake.down_at = t + self.upgrade_seconds
            fake.back_at = (
                None if self._fault("never-returns", fake.node.hostname) else fake.down_at + self.reboot_seconds
            )
            fake.ready_at = (
                math.inf if fake.back_at is None else fake.back_at + self.ready_seconds + (slow.seconds if slow else 0)
            )
            fake.after_version = target_version
            fake.rebooted_pending = True
            if action == "upgrade":
                return Result(
                    tuple(argv), 0, f"NODE   ACK   STARTED\n{node_ip}   Upgrade request received   now\n", "", 0.0
                )
            if action == "apply-config":
                return Result(tuple(argv), 0, "", "Applied configuration with a reboot\n", 0.0)
            return Result(tuple(argv), 0, "", "", 0.0)
        return Result(tuple(argv), 1, "", f"unexpected command {line}", 0.0)

    def close(self) -> None:
        return None

    def mutations(self, action: str = "upgrade") -> list[CommandRecord]:
        return [c for c in self.commands if c.action == action]
