"""``inv cluster.status``: the cluster as it is right now — Talos nodes, etcd, Kubernetes, SSH hosts.

Read-only by construction, and built from the same observers the rolling operations gate on
(``operations.observe.ClusterObserver`` for Talos/etcd/Kubernetes, ``operations.hosts`` for Proxmox
and TrueNAS), so what status shows is what a gate would see. Each part that cannot be observed carries
its own error instead of failing the whole: a status command is most needed when something is down.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any

from homeops.engine.text import one_line
from homeops.errors import HomeopsError
from homeops.operations import hosts
from homeops.operations.facts import Check, EtcdFacts, K8sNodeFacts, NodeFacts
from homeops.operations.observe import ClusterObserver
from homeops.runtime import Runtime


@dataclass(frozen=True)
class NodeRow:
    hostname: str
    ip: str
    role: str
    vm: str | None
    talos: NodeFacts
    k8s: K8sNodeFacts | None


@dataclass(frozen=True)
class ClusterStatus:
    cluster: str
    endpoint: str
    simulated: bool
    nodes: tuple[NodeRow, ...]
    api: Check
    etcd: EtcdFacts | None
    etcd_error: str | None
    k8s_error: str | None
    proxmox: dict[str, Any] | None
    nas: dict[str, Any] | None

    @property
    def healthy(self) -> bool:
        return (
            all(r.talos.running_ready and (r.k8s is None or r.k8s.ready) for r in self.nodes)
            and self.api.ok
            and self.etcd is not None
            and len(self.etcd.healthy_members) == len(self.etcd.members)
            and not self.etcd.alarms
            and (self.proxmox is None or bool(self.proxmox.get("quorate")))
            and (self.nas is None or bool(self.nas.get("ok")))
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "endpoint": self.endpoint,
            "simulated": self.simulated,
            "healthy": self.healthy,
            "api": asdict(self.api),
            "nodes": [
                {
                    "hostname": r.hostname,
                    "ip": r.ip,
                    "role": r.role,
                    "vm": r.vm,
                    "reachable": r.talos.reachable,
                    "version": r.talos.version,
                    "stage": r.talos.stage,
                    "ready": r.talos.ready,
                    "detail": r.talos.detail,
                    "k8sReady": r.k8s.ready if r.k8s else None,
                    "cordoned": r.k8s.unschedulable if r.k8s else None,
                    "kubelet": r.k8s.kubelet_version if r.k8s else None,
                }
                for r in self.nodes
            ],
            "etcd": (
                {
                    "leader": self.etcd.leader,
                    "alarms": list(self.etcd.alarms),
                    "members": [asdict(m) for m in self.etcd.members],
                }
                if self.etcd
                else None
            ),
            "etcdError": self.etcd_error,
            "kubernetesError": self.k8s_error,
            "proxmox": self.proxmox,
            "nas": self.nas,
        }


def gather(rt: Runtime) -> ClusterStatus:
    inv = rt.inventory
    observer = ClusterObserver(rt)

    def etcd() -> tuple[EtcdFacts | None, str | None]:
        try:
            return observer.etcd(), None
        except HomeopsError as exc:
            return None, one_line(exc, None)

    def k8s() -> tuple[dict[str, K8sNodeFacts], str | None]:
        try:
            return observer.k8s_nodes(), None
        except HomeopsError as exc:
            return {}, one_line(exc, None)

    def proxmox() -> dict[str, Any] | None:
        return hosts.proxmox_status(rt).to_dict() if inv.hosts_of_kind("proxmox") else None

    def nas() -> dict[str, Any] | None:
        status = hosts.nas_status(rt)
        return status.to_dict() if status else None

    # The parts are independent; asking them at once keeps status fast when one host hangs.
    with ThreadPoolExecutor(max_workers=6, thread_name_prefix="homeops-status") as pool:
        f_nodes = pool.submit(observer.nodes, inv.nodes)
        f_api = pool.submit(observer.api)
        f_etcd = pool.submit(etcd)
        f_k8s = pool.submit(k8s)
        f_pve = pool.submit(proxmox)
        f_nas = pool.submit(nas)
        talos = f_nodes.result()
        api = f_api.result()
        etcd_facts, etcd_error = f_etcd.result()
        k8s_nodes, k8s_error = f_k8s.result()
        pve_status = f_pve.result()
        nas_status = f_nas.result()

    rows = tuple(
        NodeRow(
            n.hostname,
            n.ip,
            n.role,
            f"{n.vm.host}/{n.vm.vmid}" if n.vm else None,
            talos.get(n.hostname, NodeFacts(n.hostname, n.ip, False, detail="not observed")),
            k8s_nodes.get(n.hostname),
        )
        for n in inv.nodes
    )
    return ClusterStatus(
        inv.cluster.name,
        inv.cluster.endpoint,
        rt.simulated,
        rows,
        api,
        etcd_facts,
        etcd_error,
        k8s_error,
        pve_status,
        nas_status,
    )


def render(status: ClusterStatus) -> str:
    """The human view: one table of nodes, then one line each for the API, etcd and the hosts."""
    lines = [
        f"cluster {status.cluster} ({status.endpoint})" + ("  [SIMULATED]" if status.simulated else ""),
        "",
    ]
    header = ("NODE", "IP", "ROLE", "VM", "TALOS", "STAGE", "READY", "K8S", "NOTE")
    table = [header]
    for r in status.nodes:
        t = r.talos
        if r.k8s is None:
            k8s = "-"
        else:
            k8s = ("Ready" if r.k8s.ready else "NotReady") + (",cordoned" if r.k8s.unschedulable else "")
        table.append(
            (
                r.hostname,
                r.ip,
                r.role,
                r.vm or "-",
                t.version or "-",
                t.stage or ("unreachable" if not t.reachable else "-"),
                "yes" if t.ready else "no",
                k8s,
                t.detail,
            )
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    lines.append("")
    lines.append(f"api:      {'ok' if status.api.ok else 'DOWN'} — {status.api.observed}")
    if status.etcd is not None:
        leader = f", leader {status.etcd.leader}" if status.etcd.leader else ""
        lines.append(f"etcd:     {status.etcd.describe()}{leader}")
    else:
        lines.append(f"etcd:     unknown — {status.etcd_error}")
    if status.k8s_error:
        lines.append(f"k8s:      unknown — {status.k8s_error}")
    if status.proxmox is not None:
        quorate = status.proxmox.get("quorate")
        seen = ", ".join(
            f"{h['host']} {'up' if h['reachable'] else 'DOWN'}" + (f" ({h['error']})" if h.get("error") else "")
            for h in status.proxmox["hosts"]
        )
        lines.append(f"proxmox:  {'quorate' if quorate else 'NOT QUORATE' if quorate is False else 'unknown'}; {seen}")
    if status.nas is not None:
        nas = status.nas
        if not nas["reachable"]:
            lines.append(f"nas:      {nas['host']} DOWN ({nas['error']})")
        else:
            pools = ", ".join(f"{p['name']} {p['status']}" for p in nas["pools"]) or "no pools"
            nfs = nas["nfs"]["state"] if nas.get("nfs") else "unknown"
            lines.append(f"nas:      {nas['host']} {'ok' if nas['ok'] else 'NOT OK'}; pools {pools}; NFS {nfs}")
    lines.append("")
    lines.append("healthy" if status.healthy else "NOT healthy: see above")
    return "\n".join(lines)
