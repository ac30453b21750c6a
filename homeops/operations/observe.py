"""``ClusterObserver``: the facts of ``homeops.operations.facts``, collected with the tool adapters.

One look costs few commands whatever the cluster size: machine status and versions of many nodes
come from one multi-node ``talosctl`` call each, Kubernetes nodes from one ``kubectl get nodes``.
Per-node truth never comes from talosctl's exit code (see ``adapters.talosctl``): ``version`` and
``etcd status`` exit 0 with a WARNING for a silent node, and ``get`` aborts when the first node is
down, so a node that did not answer is asked again on its own and reported unreachable with its
own reason. Boot IDs need one ``talosctl read`` per node and are only read when a wait needs them.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Sequence

from homeops.adapters import kubectl as k
from homeops.adapters import talosctl as t
from homeops.errors import CommandError, ConnectionFailed
from homeops.inventory.model import CustomGate, Inventory, Node
from homeops.inventory.versions import Version
from homeops.operations.facts import (
    Check,
    ClusterFacts,
    EtcdFacts,
    EtcdMemberFacts,
    K8sNodeFacts,
    NodeFacts,
    Observer,
    Upgrader,
)
from homeops.operations.hosts import check_nas, check_proxmox
from homeops.runners import Result
from homeops.runtime import Runtime


class ClusterObserver:
    """Looks at the cluster of ``runtime`` (built by ``homeops.app.backend.open_runtime``, or a test's)."""

    def __init__(self, runtime: Runtime, *, timeout: float = 30.0) -> None:
        self.runtime = runtime
        self.inventory = inventory = runtime.inventory
        self.local = runtime.local
        self.timeout = timeout
        self.tctl = t.Talosctl(inventory.cluster.talosconfig)
        self.kctl = k.Kubectl(inventory.cluster.kubeconfig)
        self._by_ip = {ip: n for n in inventory.nodes for ip in (n.ip, *n.ips)}
        self._client: tuple[str | None] | None = None

    def talosctl_client(self) -> str | None:
        """talosctl's own version (``version --client --short``), asked once per observer, i.e. per run."""
        if self._client is None:
            try:
                self._client = (t.client_version(self.local, self.tctl, timeout=self.timeout),)
            except (CommandError, ConnectionFailed):
                self._client = (None,)  # planners then build only flags every version accepts
        return self._client[0]

    # ------------------------------------------------------------------------------------ talos

    def _run(self, argv: Sequence[str]) -> Result:
        return self.local.run(list(argv), timeout=self.timeout)

    def nodes(self, nodes: Sequence[Node], *, boot_ids: bool = False, versions: bool = True) -> dict[str, NodeFacts]:
        if not nodes:
            return {}
        ips = [n.ip for n in nodes]
        statuses = t.machine_statuses(self.local, self.tctl, ips, timeout=self.timeout)
        answering = [ip for ip in ips if ip in statuses.facts]
        tags: t.PerNode[str] = t.PerNode({})
        if versions and answering:
            tags = t.server_versions(self.local, self.tctl, answering, timeout=self.timeout)
        out: dict[str, NodeFacts] = {}
        for node in nodes:
            status = statuses.facts.get(node.ip)
            if status is None:
                reason = _first_line(statuses.errors.get(node.ip, "no answer"))
                out[node.hostname] = NodeFacts(node.hostname, node.ip, False, detail=reason)
                continue
            boot = None
            if boot_ids:
                try:
                    boot = t.boot_id(self.local, self.tctl, node.ip, timeout=self.timeout)
                except (CommandError, ConnectionFailed) as exc:
                    out[node.hostname] = NodeFacts(node.hostname, node.ip, False, detail=_first_line(str(exc)))
                    continue
            unmet = ", ".join(c.name for c in status.unmet_conditions)
            out[node.hostname] = NodeFacts(
                node.hostname,
                node.ip,
                True,
                stage=status.stage,
                ready=status.ready,
                version=tags.facts.get(node.ip),
                boot_id=boot,
                detail=f"unmet: {unmet}" if unmet else "",
            )
        return out

    def boot_ids(self, nodes: Sequence[Node]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for node in nodes:
            try:
                out[node.hostname] = t.boot_id(self.local, self.tctl, node.ip, timeout=self.timeout)
            except (CommandError, ConnectionFailed):
                out[node.hostname] = None
        return out

    def etcd(self) -> EtcdFacts:
        cps = self.inventory.control_planes
        ips = [n.ip for n in cps]
        statuses = t.etcd_statuses(self.local, self.tctl, ips, timeout=self.timeout)
        members: list[t.EtcdMember] = []
        for ip in ips:
            try:
                members = t.etcd_members(self.local, self.tctl, ip, timeout=self.timeout)
                break
            except (CommandError, ConnectionFailed):
                continue
        else:
            raise ConnectionFailed("no control plane answered `talosctl etcd members`", hint="check the control planes")
        by_id = {s.member_id: s for s in statuses.facts.values()}
        # A member can be listed and even answer `etcd status` while Talos reports its etcd service
        # unhealthy (still joining, or failing its health check): both must be green.
        services = t.services(self.local, self.tctl, ips, "etcd", timeout=self.timeout)
        ip_of = {n.hostname: n.ip for n in cps}
        leader_id = next((s.leader_id for s in by_id.values() if s.leader_id and s.leader_id != "0" * 16), None)
        facts: list[EtcdMemberFacts] = []
        leader = None
        for member in members:
            ip = ip_of.get(member.hostname, "")
            status = by_id.get(member.id)
            service = services.facts.get(ip)
            if status is None:
                why = statuses.errors.get(ip) or services.errors.get(ip) or "no status"
                facts.append(EtcdMemberFacts(member.hostname, member.id, False, f"not answering: {_first_line(why)}"))
            elif status.errors:
                facts.append(EtcdMemberFacts(member.hostname, member.id, False, "; ".join(status.errors)))
            elif service is None or not service.running or service.health != "OK":
                seen = (
                    f"service etcd {service.state}, health {service.health}"
                    if service
                    else f"service etcd unknown: {_first_line(services.errors.get(ip, 'no answer'))}"
                )
                facts.append(EtcdMemberFacts(member.hostname, member.id, False, seen))
            else:
                facts.append(EtcdMemberFacts(member.hostname, member.id, True))
            if member.id == leader_id:
                leader = member.hostname
        alarms: list[str] = []
        for ip in ips:
            try:
                found = t.etcd_alarms(self.local, self.tctl, ip, timeout=self.timeout)
            except (CommandError, ConnectionFailed):
                continue
            alarms = [f"{a.alarm} on {self._host_of(a.node)}" for a in found]
            break
        return EtcdFacts(tuple(facts), leader, tuple(alarms))

    def _host_of(self, ip: str) -> str:
        node = self._by_ip.get(ip)
        return node.hostname if node else ip

    # ------------------------------------------------------------------------------------ kubernetes

    def k8s_nodes(self) -> dict[str, K8sNodeFacts]:
        found = k.nodes(self.local, self.kctl, timeout=self.timeout)
        return {n.name: K8sNodeFacts(n.name, n.ready == "True", n.unschedulable, n.kubelet_version) for n in found}

    def upgraders(self) -> tuple[Upgrader, ...]:
        names = {n.hostname for n in self.inventory.nodes}
        found = list(self._tuppr())
        for ds in k.kured(self.local, self.kctl, timeout=self.timeout):
            holder = _lock_holder(ds.lock)
            busy = holder in names  # a node holds kured's lock: it is draining or rebooting it now
            phase = f"rebooting {holder}" if busy else (f"locked by {holder}" if ds.lock else "idle")
            found.append(
                Upgrader(
                    "kured", "DaemonSet", ds.name, "daemonset", phase, busy, None if busy else holder, ds.namespace
                )
            )
        for plan in k.suc_plans(self.local, self.kctl, timeout=self.timeout):
            phase = f"applying on {', '.join(plan.applying)}" if plan.applying else "idle"
            found.append(
                Upgrader(
                    "system-upgrade-controller",
                    "Plan",
                    plan.name,
                    "plans.upgrade.cattle.io",
                    phase,
                    bool(plan.applying),
                    namespace=plan.namespace,
                    can_suspend=False,
                )
            )
        return tuple(found)

    def _tuppr(self) -> tuple[Upgrader, ...]:
        return tuple(
            Upgrader(
                "tuppr",
                u.kind,
                u.name,
                f"{u.kind.lower()}s.tuppr.home-operations.com",
                u.phase,
                u.active,
                u.suspended_by,
            )
            for u in k.tuppr_upgrades(self.local, self.kctl, timeout=self.timeout)
        )

    def volume_attachments(self) -> dict[str, tuple[str, ...]]:
        found: dict[str, list[str]] = {}
        for va in k.volume_attachments(self.local, self.kctl, timeout=self.timeout):
            found.setdefault(va.node, []).append(va.volume)
        return {node: tuple(sorted(vols)) for node, vols in found.items()}

    def api(self) -> Check:
        result = self._run(self.kctl.readyz())
        if result.ok and k.parse_readyz(result.stdout):
            return Check(True, f"/readyz ok on {self.inventory.cluster.vip}")
        return Check(False, f"/readyz on {self.inventory.cluster.vip}: {result.last_error_line()}")

    def ceph(self) -> Check:
        health = k.ceph_health(self.local, self.kctl, timeout=self.timeout)
        return Check(health.ok, health.summary())

    def longhorn(self) -> Check:
        found = k.longhorn_volumes(self.local, self.kctl, timeout=self.timeout)
        bad = [f"{v.name} {v.robustness}" for v in found if v.robustness in ("degraded", "faulted")]
        if bad:
            return Check(False, "Longhorn volumes not healthy: " + ", ".join(sorted(bad)))
        return Check(True, f"{len(found)} Longhorn volumes healthy")

    def flux(self) -> Check:
        objects = k.flux_objects(self.local, self.kctl, timeout=self.timeout)
        bad = k.flux_unhealthy(objects)
        return Check(not bad, "; ".join(bad) if bad else f"{len(objects)} Flux objects Ready")

    def volsync(self) -> Check:
        sources = k.replication_sources(self.local, self.kctl, timeout=self.timeout)
        busy = [f"{s.namespace}/{s.name}" for s in sources if s.synchronizing]
        return Check(not busy, ("synchronizing: " + ", ".join(busy)) if busy else f"{len(sources)} sources idle")

    def custom(self, gate: CustomGate) -> Check:
        if gate.kind == "jsonpath":
            argv = self.kctl.jsonpath(gate.resource or "", gate.jsonpath or "", gate.namespace)
            result = self._run(argv)
            if result.failed:
                return Check(False, result.last_error_line())
            value = result.stdout.strip()
            return Check(value == (gate.expect or ""), f"{gate.jsonpath} = {value!r} (want {gate.expect!r})")
        result = self.local.run(list(gate.command), timeout=gate.timeout)
        return Check(result.ok, f"exit {result.exit_code}" + ("" if result.ok else f": {result.last_error_line()}"))

    # ------------------------------------------------------------------------------------ hosts

    def proxmox(self, host: str | None = None) -> Check:
        found = check_proxmox(self.runtime, host, timeout=self.timeout)
        return Check(found.ok, found.observed)

    def nas(self) -> Check:
        found = check_nas(self.runtime, timeout=self.timeout)
        return Check(found.ok, found.observed)


def _lock_holder(lock: str | None) -> str | None:
    """``{"nodeID":"k8s-3",…}`` → ``k8s-3``; kured's lock is JSON (manual locks too, by convention)."""
    if not lock:
        return None
    try:
        data = json.loads(lock)
    except ValueError:
        return lock
    found = data.get("nodeID") or data.get("nodeid") if isinstance(data, dict) else None
    return str(found) if found else lock


def cluster_facts(observer: Observer, inventory: Inventory) -> ClusterFacts:
    """What planners need: every node's status and version, the etcd leader, the lowest kubelet version."""
    nodes = observer.nodes(inventory.nodes)
    leader = None
    # Without an answer the etcd gate will say why; ordering then keeps inventory order.
    with contextlib.suppress(CommandError, ConnectionFailed):
        leader = observer.etcd().leader
    kubernetes = None
    try:
        versions = [n.kubelet_version for n in observer.k8s_nodes().values() if n.kubelet_version]
        parsed = sorted(Version.parse(v) for v in versions if _is_version(v))
        kubernetes = str(parsed[0]) if parsed else None
    except (CommandError, ConnectionFailed):
        pass
    ask_client = getattr(observer, "talosctl_client", None)  # not part of the Observer protocol: test fakes lack it
    client = ask_client() if callable(ask_client) else None
    upgraders: tuple[Upgrader, ...] = ()
    unknown = None
    try:
        upgraders = observer.upgraders()
    except (CommandError, ConnectionFailed) as exc:  # the API gate stops the run if the API is down
        unknown = " ".join(str(exc).split())[:200]
    return ClusterFacts(
        nodes=nodes,
        etcd_leader=leader,
        kubernetes_version=kubernetes,
        talosctl_client=client,
        upgraders=upgraders,
        upgraders_unknown=unknown,
    )


def _is_version(text: str) -> bool:
    try:
        Version.parse(text)
    except ValueError:
        return False
    return True


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return re.sub(r"\s+", " ", line)[:200]
