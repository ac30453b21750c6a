"""What homeops observes about a cluster, as values, and the ``Observer`` seam that collects them.

Planners take these facts (never a runner); gates and waits turn them into green/red decisions.
``homeops.operations.observe.ClusterObserver`` collects them with the tool adapters; tests pass
their own observer. An observer method may raise ``CommandError``/``ConnectionFailed`` when the
thing it asks cannot answer right now — waits treat that as "not yet", preflight gates as red.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from homeops.engine.gates import Check
from homeops.inventory.model import CustomGate, Node

__all__ = ["Check", "ClusterFacts", "EtcdFacts", "EtcdMemberFacts", "K8sNodeFacts", "NodeFacts", "Observer"]


@dataclass(frozen=True)
class NodeFacts:
    hostname: str
    ip: str
    reachable: bool
    stage: str | None = None
    ready: bool = False
    version: str | None = None  # the running Talos tag, e.g. v1.11.6
    schematic: str | None = None  # Image Factory schematic ID, when the node reports one
    boot_id: str | None = None
    detail: str = ""  # why unreachable / what is unmet

    @property
    def running_ready(self) -> bool:
        return self.reachable and self.stage == "running" and self.ready

    def describe(self) -> str:
        if not self.reachable:
            return f"unreachable ({self.detail})" if self.detail else "unreachable"
        text = f"stage {self.stage}, ready {str(self.ready).lower()}, {self.version or 'version ?'}"
        return text + (f", {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class EtcdMemberFacts:
    hostname: str
    id: str
    healthy: bool
    detail: str = ""


@dataclass(frozen=True)
class EtcdFacts:
    members: tuple[EtcdMemberFacts, ...]
    leader: str | None = None  # hostname of the leader, when known
    alarms: tuple[str, ...] = ()

    @property
    def healthy_members(self) -> tuple[str, ...]:
        return tuple(m.hostname for m in self.members if m.healthy)

    def describe(self) -> str:
        parts = [f"{len(self.healthy_members)}/{len(self.members)} members healthy"]
        sick = [f"{m.hostname}: {m.detail or 'unhealthy'}" for m in self.members if not m.healthy]
        if sick:
            parts.append("; ".join(sick))
        if self.alarms:
            parts.append("alarms: " + ", ".join(self.alarms))
        return ", ".join(parts)


@dataclass(frozen=True)
class K8sNodeFacts:
    name: str
    ready: bool
    unschedulable: bool = False
    kubelet_version: str | None = None


@dataclass(frozen=True)
class Upgrader:
    """An in-cluster upgrader (tuppr) that would fight a homeops run if it acted during it."""

    tool: str  # "tuppr", "kured", "system-upgrade-controller"
    kind: str  # TalosUpgrade, KubernetesUpgrade, DaemonSet, Plan
    name: str
    resource: str  # for kubectl: talosupgrades.tuppr.home-operations.com
    phase: str
    active: bool  # an upgrade in progress: homeops refuses to start
    suspended_by: str | None = None  # already suspended (by someone): left as it is
    namespace: str | None = None
    can_suspend: bool = True  # system-upgrade-controller has no suspend: homeops only refuses beside it

    def describe(self) -> str:
        return f"{self.tool} {self.kind} {self.name} ({self.phase})"


@dataclass(frozen=True)
class ClusterFacts:
    """What a planner needs to know about the cluster right now."""

    nodes: Mapping[str, NodeFacts] = field(default_factory=dict)  # by hostname
    etcd_leader: str | None = None
    kubernetes_version: str | None = None  # the lowest kubelet version seen
    talosctl_client: str | None = None  # talosctl's own version: its flags differ (1.13 upgrade --drain)
    upgraders: tuple[Upgrader, ...] = ()
    upgraders_unknown: str | None = None  # why they could not be listed (the plan warns)


class Observer(Protocol):
    def nodes(self, nodes: Sequence[Node], *, boot_ids: bool = False, versions: bool = True) -> dict[str, NodeFacts]:
        """Machine status of each node, its version and boot ID when asked; unreachable ones included."""
        ...

    def boot_ids(self, nodes: Sequence[Node]) -> dict[str, str | None]:
        """Each node's boot ID; None when it does not answer (down or rebooting)."""
        ...

    def etcd(self) -> EtcdFacts: ...

    def k8s_nodes(self) -> dict[str, K8sNodeFacts]: ...

    def upgraders(self) -> tuple[Upgrader, ...]:
        """In-cluster upgraders installed (tuppr), with their state; empty when none is installed."""
        ...

    def volume_attachments(self) -> dict[str, tuple[str, ...]]:
        """Node name → the volumes (PV names) CSI still has attached there."""
        ...

    def api(self) -> Check: ...

    def proxmox(self, host: str | None = None) -> Check: ...

    def nas(self) -> Check: ...

    def ceph(self) -> Check: ...

    def longhorn(self) -> Check: ...

    def flux(self) -> Check: ...

    def volsync(self) -> Check: ...

    def custom(self, gate: CustomGate) -> Check: ...
