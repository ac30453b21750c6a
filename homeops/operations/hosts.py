"""Facts on the Proxmox and TrueNAS hosts, as values: what status tasks and gates call.

* ``proxmox_status(runtime)`` / ``nas_status(runtime)`` — fan out over the hosts (one pooled
  connection each); a host that cannot be reached is *that host's* error in the result, never an
  exception for the whole status.
* ``check_proxmox(runtime, host)`` / ``check_nas(runtime)`` — one look for the rolling gates:
  ``HostCheck(ok, observed)``; a host or tool failure is a red look with the reason, never a raise.

VM actions (``inv pve.vm``) are decided and run in ``homeops.operations.vm``; the NAS backup
directory (SFTP, retention) is ``homeops.backupstore``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from homeops.adapters import proxmox as pve
from homeops.adapters import truenas as nas
from homeops.backupstore import nas_host
from homeops.engine.text import one_line
from homeops.errors import ConnectionFailed, GateFailed, HomeopsError
from homeops.fanout import fanout
from homeops.inventory.model import Node
from homeops.runners import Result, Runner
from homeops.runtime import Runtime

#: Per-command timeout for status reads: a hung host must not hang `inv cluster.status`.
STATUS_TIMEOUT = 30.0


# -- Proxmox ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PveHostStatus:
    host: str
    reachable: bool
    quorum: pve.Quorum | None = None
    error: str | None = None

    def describe(self) -> str:
        if not self.reachable or self.quorum is None:
            return f"unreachable: {self.error}" if self.error else "unreachable"
        return self.quorum.describe()


@dataclass(frozen=True)
class VmView:
    vmid: int
    name: str
    host: str  # the Proxmox node it is on now
    status: str
    node: str | None = None  # the Talos node it runs, per the inventory
    expected_host: str | None = None  # where the inventory says it should be

    @property
    def moved(self) -> bool:
        return self.expected_host is not None and self.expected_host != self.host


@dataclass(frozen=True)
class ProxmoxStatus:
    hosts: tuple[PveHostStatus, ...]
    vms: tuple[VmView, ...] = ()
    missing: tuple[str, ...] = ()  # Talos nodes whose VM no host lists

    @property
    def quorate(self) -> bool | None:
        """The cluster's quorum as the reachable hosts report it (None when none answered)."""
        seen = [h.quorum.quorate for h in self.hosts if h.quorum is not None]
        if not seen:
            return None
        return all(seen)

    @property
    def ok(self) -> bool:
        return bool(self.quorate) and all(h.reachable for h in self.hosts)

    def host(self, name: str) -> PveHostStatus | None:
        return next((h for h in self.hosts if h.host == name), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quorate": self.quorate,
            "hosts": [
                {
                    "host": h.host,
                    "reachable": h.reachable,
                    "quorate": h.quorum.quorate if h.quorum else None,
                    "votes": h.quorum.total_votes if h.quorum else None,
                    "expectedVotes": h.quorum.expected_votes if h.quorum else None,
                    "error": h.error,
                }
                for h in self.hosts
            ],
            "vms": [
                {"vmid": v.vmid, "name": v.name, "host": v.host, "status": v.status, "node": v.node}
                | ({"expectedHost": v.expected_host} if v.moved else {})
                for v in self.vms
            ],
            "missing": list(self.missing),
        }


def proxmox_status(runtime: Runtime, *, timeout: float = STATUS_TIMEOUT) -> ProxmoxStatus:
    """Quorum as each Proxmox host sees it, and every VM with the Talos node it runs."""
    names = [h.name for h in runtime.inventory.hosts_of_kind("proxmox")]

    def look(name: str) -> tuple[pve.Quorum, tuple[pve.VmResource, ...]]:
        runner = runtime.host(name)
        quorum = pve.parse_pvecm_status(runner.run(pve.pvecm_status(), timeout=timeout))
        listing = pve.check(runner.run(pve.cluster_resources(), timeout=timeout), "pvesh get /cluster/resources")
        return quorum, pve.parse_cluster_resources(listing.stdout, target=name)

    outcomes = fanout(look, names)
    hosts: list[PveHostStatus] = []
    listings: list[tuple[bool, tuple[pve.VmResource, ...]]] = []
    for name in names:
        outcome = outcomes[name]
        if outcome.error is not None:
            hosts.append(PveHostStatus(name, False, error=one_line(outcome.error, None)))
            continue
        quorum, listing = outcome.unwrap()
        hosts.append(PveHostStatus(name, True, quorum))
        listings.append((quorum.quorate, listing))
    # /cluster/resources is cluster-wide; a quorate member's view is the one to trust.
    listings.sort(key=lambda item: not item[0])
    return _merge_vms(runtime.inventory.nodes, tuple(hosts), listings[0][1] if listings else ())


def _merge_vms(
    nodes: Sequence[Node], hosts: tuple[PveHostStatus, ...], resources: Sequence[pve.VmResource]
) -> ProxmoxStatus:
    by_vmid = {n.vm.vmid: n for n in nodes if n.vm is not None}
    vms = []
    for res in resources:
        if res.kind != "qemu" or res.template:
            continue
        node = by_vmid.get(res.vmid)
        expected = node.vm.host if node is not None and node.vm is not None else None
        vms.append(VmView(res.vmid, res.name, res.node, res.status, node.hostname if node else None, expected))
    seen = {v.vmid for v in vms}
    missing = tuple(n.hostname for n in nodes if n.vm is not None and n.vm.vmid not in seen) if resources else ()
    return ProxmoxStatus(hosts, tuple(vms), missing)


# -- TrueNAS ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NasStatus:
    host: str
    reachable: bool
    error: str | None = None
    pools: tuple[nas.Pool, ...] = ()
    zpool: nas.ZpoolHealth | None = None
    nfs: nas.Service | None = None
    exports: tuple[nas.Export, ...] = ()
    exports_error: str | None = None
    backup_dataset: nas.Dataset | None = None

    @property
    def pools_healthy(self) -> bool:
        return bool(self.pools) and all(p.ok for p in self.pools) and (self.zpool is None or self.zpool.healthy)

    @property
    def ok(self) -> bool:
        healthy = self.pools_healthy and self.nfs is not None and self.nfs.running
        return self.reachable and self.error is None and healthy

    def describe(self) -> str:
        if not self.reachable:
            return f"{self.host} unreachable: {self.error}"
        if self.error:
            return f"{self.host}: {self.error}"
        pools = ", ".join(p.describe() for p in self.pools) or "no pools"
        if self.zpool is not None and not self.zpool.healthy:
            pools += f" (zpool: {self.zpool.describe()})"
        nfs_state = self.nfs.state if self.nfs else "unknown"
        return f"pools: {pools}; NFS {nfs_state}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "reachable": self.reachable,
            "error": self.error,
            "ok": self.ok,
            "pools": [
                {"name": p.name, "status": p.status, "healthy": p.healthy, "free": p.free, "size": p.size}
                for p in self.pools
            ],
            "zpoolHealthy": self.zpool.healthy if self.zpool else None,
            "nfs": {"state": self.nfs.state, "enabled": self.nfs.enabled} if self.nfs else None,
            "exports": [{"path": e.path, "clients": list(e.clients)} for e in self.exports],
            "exportsError": self.exports_error,
            "backupDataset": (
                {"name": d.name, "available": d.available, "used": d.used}
                if (d := self.backup_dataset) is not None
                else None
            ),
        }


def dataset_candidates(directory: str) -> list[str]:
    """``/mnt/tank/backups/etcd`` → ``tank/backups/etcd``, ``tank/backups``, ``tank`` (longest first)."""
    parts = PurePosixPath(directory).parts
    if len(parts) < 3 or parts[:2] != ("/", "mnt"):
        return []
    names = list(parts[2:])
    return ["/".join(names[:i]) for i in range(len(names), 0, -1)]


def nas_status(runtime: Runtime, *, timeout: float = STATUS_TIMEOUT) -> NasStatus | None:
    """Pools (midclt and zpool), NFS service, exports and the backup dataset's free space; None without a NAS."""
    name = nas_host(runtime)
    if name is None:
        return None
    try:
        runner = runtime.host(name)
        pools = nas.parse_pools(_checked(runner.run(nas.pool_query(), timeout=timeout), "midclt call pool.query"))
        zpool = nas.parse_zpool_status_x(runner.run(nas.zpool_status_x(), timeout=timeout))
        nfs = nas.parse_service(_checked(runner.run(nas.service_query("nfs"), timeout=timeout), "service.query"))
        dataset = _backup_dataset(runtime, runner, timeout)
    except ConnectionFailed as exc:
        return NasStatus(name, False, error=one_line(exc, None))
    except HomeopsError as exc:  # reachable, but the middleware or a tool failed
        return NasStatus(name, True, error=one_line(exc, None))
    shown = runner.run(nas.showmount_exports(), timeout=timeout)
    exports = nas.parse_showmount(shown.stdout) if shown.ok else ()
    exports_error = None if shown.ok else shown.last_error_line()
    return NasStatus(name, True, None, pools, zpool, nfs, exports, exports_error, dataset)


def _backup_dataset(runtime: Runtime, runner: Runner, timeout: float) -> nas.Dataset | None:
    candidates = dataset_candidates(runtime.inventory.policy.nas_backup_dir)
    if not candidates:
        return None
    result = runner.run(nas.midclt("pool.dataset.query", [["id", "in", candidates]]), timeout=timeout)
    if not result.ok:
        return None
    rows = nas.parse_midclt(result.stdout)
    if not isinstance(rows, list) or not rows:
        return None
    best = max(rows, key=lambda row: len(str(row.get("id", ""))) if isinstance(row, dict) else -1)
    return nas.parse_dataset(json.dumps(best))


def _checked(result: Result, what: str) -> str:
    return result.check(what).stdout


# -- gates -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HostCheck:
    """One gate look: ``ok`` and what was seen (the shape of ``operations.facts.Check``)."""

    gate: str
    ok: bool
    observed: str
    target: str | None = None

    def raise_if_failed(self, hint: str | None = None) -> None:
        if not self.ok:
            raise GateFailed(self.gate, self.observed, target=self.target, hint=hint)


def check_proxmox(runtime: Runtime, host_name: str | None = None, *, timeout: float = STATUS_TIMEOUT) -> HostCheck:
    """Proxmox quorate — asked of ``host_name`` when given (so that host must be up), else of any host."""
    names = [host_name] if host_name else [h.name for h in runtime.inventory.hosts_of_kind("proxmox")]
    if not names:
        return HostCheck("proxmox", True, "no Proxmox hosts in the inventory", host_name)
    errors = []
    for name in names:
        try:
            quorum = pve.parse_pvecm_status(runtime.host(name).run(pve.pvecm_status(), timeout=timeout))
        except HomeopsError as exc:
            errors.append(f"{name}: {one_line(exc, None)}")
            continue
        where = f"host {name} up, cluster " if host_name else f"cluster (asked {name}) "
        return HostCheck("proxmox", quorum.quorate, where + quorum.describe(), host_name)
    observed = "; ".join(errors) if host_name else "no Proxmox host answered: " + "; ".join(errors)
    return HostCheck("proxmox", False, observed, host_name)


def check_nas(runtime: Runtime, *, timeout: float = STATUS_TIMEOUT) -> HostCheck:
    """TrueNAS pools healthy (midclt and ``zpool status -x``) and the NFS service running."""
    name = nas_host(runtime)
    if name is None:
        return HostCheck("nas", True, "no TrueNAS host in the inventory")
    try:
        runner = runtime.host(name)
        pools = nas.parse_pools(_checked(runner.run(nas.pool_query(), timeout=timeout), "midclt call pool.query"))
        zpool = nas.parse_zpool_status_x(runner.run(nas.zpool_status_x(), timeout=timeout))
        nfs = nas.parse_service(_checked(runner.run(nas.service_query("nfs"), timeout=timeout), "service.query"))
    except HomeopsError as exc:
        return HostCheck("nas", False, f"{name}: {one_line(exc, None)}", name)
    status = NasStatus(name, True, pools=pools, zpool=zpool, nfs=nfs)
    return HostCheck("nas", status.ok, status.describe(), name)


__all__ = [
    "STATUS_TIMEOUT",
    "HostCheck",
    "NasStatus",
    "ProxmoxStatus",
    "PveHostStatus",
    "VmView",
    "check_nas",
    "check_proxmox",
    "dataset_candidates",
    "nas_status",
    "proxmox_status",
]
