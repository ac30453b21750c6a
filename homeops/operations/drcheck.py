"""``dr.check``: could this cluster be rebuilt from what exists right now?

Read-only. Each look gives findings (``ok``, ``warn`` or ``fail``) and never raises: a host or tool
that cannot be reached is a failed finding naming it, so one look's trouble never hides the others.

* ``age-key``        the SOPS age key decrypts the talsecret (``talos/talsecret.sops.yaml``)
* ``genconfig``      ``talhelper genconfig --dry-run`` works (secrets decrypted to a private tmpfs file)
* ``etcd-snapshot``  the newest snapshot in ``<stateDir>/etcd-snapshots`` is non-empty, younger than
                     ``dr.snapshotMaxAgeHours`` and matches its sha256 sidecar
* ``nas-snapshot``   the newest snapshot is also on the NAS (``upgrade.nasBackupDir``), same size,
                     same sidecar, and the NAS's newest copy is young enough
* ``vm-spec``        each Talos VM's vmid, host, disk and net0 MAC are in ``homeops.yaml`` (or in the VM
                     record) and agree with ``qm config`` on its Proxmox host; a bare-metal node is
                     rebuilt by a reset and needs none of it
* ``vm-record``      the newest snapshot's VM record (``<snapshot>.vms.json``, here and on the NAS) has
                     each Talos VM, and the running VM has not drifted from it (a warning: the rebuild
                     would build the VM as recorded)
* ``vm-backup``      the age of each Talos VM's newest vzdump backup (a warning past
                     ``dr.vmBackupMaxAgeHours``: the etcd snapshot, not the VM backup, is what a rebuild needs)
* ``volsync``        each ReplicationSource synced successfully within its limit
* ``nas-pool``       the pool holding the backups is ONLINE and healthy with ``dr.minFreeGiB`` free
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from homeops import snapshotsum
from homeops.adapters import kubectl as k
from homeops.adapters import proxmox as pve
from homeops.adapters import truenas as nas
from homeops.adapters import volsync
from homeops.backupstore import nas_host, nas_list_backups
from homeops.errors import HomeopsError
from homeops.inventory.model import Inventory, Node
from homeops.operations.genconfig import SECRET_NAMES, generate_config
from homeops.operations.vm import RECORD_SUFFIX, load_vm_records, vm_records_for
from homeops.runtime import Runtime

Status = Literal["ok", "warn", "fail"]
TIMEOUT = 30.0
TAKE_ONE = "take a new one: inv talos.etcd-snapshot"


@dataclass(frozen=True)
class Finding:
    check: str
    subject: str
    status: Status
    detail: str
    hint: str | None = None


@dataclass(frozen=True)
class DrReport:
    cluster: str
    checked_at: float
    simulated: bool
    findings: tuple[Finding, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return all(f.status != "fail" for f in self.findings)

    @property
    def failures(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.status == "fail")

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "checkedAt": volsync.format_time(self.checked_at),
            "simulated": self.simulated,
            "recoverable": self.ok,
            "findings": [{k: v for k, v in asdict(f).items() if v is not None} for f in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def render(self) -> str:
        world = " [SIMULATED]" if self.simulated else ""
        lines = [f"DR check for cluster {self.cluster}{world} at {volsync.format_time(self.checked_at)}"]
        rows = [("CHECK", "SUBJECT", "STATUS", "DETAIL")] + [
            (f.check, f.subject, f.status.upper() if f.status != "ok" else "ok", f.detail) for f in self.findings
        ]
        widths = [max(len(r[i]) for r in rows) for i in range(3)]
        for row in rows:
            lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])
        if self.ok:
            warned = sum(1 for f in self.findings if f.status == "warn")
            lines.append("recoverable" + (f" ({warned} warning(s))" if warned else ""))
        else:
            lines.append(f"NOT RECOVERABLE: {len(self.failures)} problem(s)")
            for f in self.failures:
                lines.append(f"  - {f.check} {f.subject}: {f.detail}" + (f" — {f.hint}" if f.hint else ""))
        return "\n".join(lines)


def run_check(runtime: Runtime) -> DrReport:
    """Every look, in the order a rebuild needs them."""
    now = runtime.clock.now()
    looks: tuple[Callable[[], list[Finding]], ...] = (
        lambda: age_key_findings(runtime.inventory),
        lambda: genconfig_findings(runtime),
        lambda: snapshot_findings(runtime, now),
        lambda: vm_spec_findings(runtime),
        lambda: vm_record_findings(runtime),
        lambda: vm_backup_findings(runtime, now),
        lambda: volsync_findings(runtime, now),
        lambda: nas_pool_findings(runtime),
    )
    findings: list[Finding] = []
    for look in looks:
        findings.extend(look())
    return DrReport(runtime.inventory.cluster.name, now, runtime.simulated, tuple(findings))


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


def _rel(inventory: Inventory, path: Path) -> str:
    try:
        return str(path.relative_to(inventory.root))
    except ValueError:
        return str(path)


# -- secrets and config --------------------------------------------------------------------------


def talsecret(inventory: Inventory) -> Path | None:
    if inventory.cluster.talconfig is None:
        return None
    folder = inventory.cluster.talconfig.parent
    return next((folder / n for n in SECRET_NAMES if (folder / n).is_file()), None)


def age_key_findings(inventory: Inventory) -> list[Finding]:
    from homeops import sops

    key = inventory.cluster.age_key
    secret = talsecret(inventory)
    if key is not None and not key.is_file():
        return [
            Finding(
                "age-key",
                _rel(inventory, key),
                "fail",
                "the age key file is missing: no secret in this repository can be decrypted",
                "restore it from your password manager or offline copy (cluster.ageKey in homeops.yaml)",
            )
        ]
    if secret is None:
        return [Finding("age-key", "talsecret", "warn", "no talsecret.sops.yaml beside the talconfig to test with")]
    if not sops.is_sops_file(secret):
        return [Finding("age-key", _rel(inventory, secret), "warn", "the talsecret is not SOPS-encrypted")]
    try:
        sops.decrypt_file(secret, age_key_file=key)
    except HomeopsError as exc:
        return [Finding("age-key", _rel(inventory, secret), "fail", f"cannot decrypt: {_one_line(exc)}")]
    where = _rel(inventory, key) if key else "the default SOPS key location"
    return [Finding("age-key", _rel(inventory, secret), "ok", f"decrypts with {where}")]


def genconfig_findings(runtime: Runtime) -> list[Finding]:
    inventory = runtime.inventory
    subject = _rel(inventory, inventory.cluster.talconfig) if inventory.cluster.talconfig else "talconfig"
    try:
        generate_config(runtime, dry_run=True)
    except HomeopsError as exc:
        return [Finding("genconfig", subject, "fail", f"talhelper genconfig --dry-run: {_one_line(exc)}")]
    return [Finding("genconfig", subject, "ok", "talhelper genconfig --dry-run works")]


# -- etcd snapshots ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SnapshotFile:
    name: str
    size: int
    taken_at: float  # from the name; the file's mtime for other names


def snapshot_dir(inventory: Inventory) -> Path:
    return inventory.state_dir / "etcd-snapshots"


def newest(files: Iterable[SnapshotFile]) -> SnapshotFile | None:
    return max(files, key=lambda f: (f.taken_at, f.name), default=None)


def local_snapshots(inventory: Inventory) -> list[SnapshotFile]:
    folder = snapshot_dir(inventory)
    if not folder.is_dir():
        return []
    out = []
    for path in folder.glob("*.db"):
        st = path.stat()
        out.append(SnapshotFile(path.name, st.st_size, snapshotsum.taken_at(path.name) or st.st_mtime))
    return out


def nas_snapshots(runtime: Runtime) -> tuple[list[SnapshotFile], set[str]]:
    """(the .db files, every file name) in the NAS backup directory."""
    files = nas_list_backups(runtime)
    dbs = [
        SnapshotFile(f.name, f.size, snapshotsum.taken_at(f.name) or f.mtime)
        for f in files
        if f.name.endswith(snapshotsum.SUFFIX)
    ]
    return dbs, {f.name for f in files}


def nas_host_name(runtime: Runtime) -> str | None:
    return nas_host(runtime)


def snapshot_findings(runtime: Runtime, now: float) -> list[Finding]:
    inventory = runtime.inventory
    limit = inventory.dr.snapshot_max_age
    findings: list[Finding] = []
    local = newest(local_snapshots(inventory))
    folder = _rel(inventory, snapshot_dir(inventory))
    if local is None:
        findings.append(
            Finding(
                "etcd-snapshot",
                folder,
                "fail",
                "no etcd snapshot here",
                "take one: inv talos.etcd-snapshot",
            )
        )
    else:
        findings.append(_snapshot_finding("etcd-snapshot", local, now, limit))
        if local.size > 0:
            check = snapshotsum.verify(snapshot_dir(inventory) / local.name)
            status: Status = "ok" if check.ok else ("warn" if check.ok is None else "fail")
            hint = None if check.ok is not False else "the file is damaged: do not restore from it"
            findings.append(Finding("etcd-snapshot-hash", local.name, status, check.detail, hint))
    findings.extend(_nas_snapshot_findings(runtime, local, now, limit))
    return findings


def _snapshot_finding(check: str, snap: SnapshotFile, now: float, limit: float) -> Finding:
    age = now - snap.taken_at
    if snap.size <= 0:
        return Finding(check, snap.name, "fail", "the newest snapshot is empty", TAKE_ONE)
    text = f"{snap.size} bytes, taken {volsync.format_age(age)} ago"
    if age > limit:
        return Finding(
            check,
            snap.name,
            "fail",
            f"too old: {text} (limit {volsync.format_age(limit)}, dr.snapshotMaxAgeHours)",
            TAKE_ONE,
        )
    return Finding(check, snap.name, "ok", text)


def _nas_snapshot_findings(runtime: Runtime, local: SnapshotFile | None, now: float, limit: float) -> list[Finding]:
    inventory = runtime.inventory
    host = nas_host(runtime)
    directory = inventory.policy.nas_backup_dir
    if host is None:
        return [Finding("nas-snapshot", "nas", "warn", "no TrueNAS host: the snapshots exist only on this machine")]
    where = f"{host}:{directory}"
    try:
        on_nas, names = nas_snapshots(runtime)
    except HomeopsError as exc:
        return [Finding("nas-snapshot", where, "fail", f"cannot list the backups: {_one_line(exc)}")]
    findings = []
    if local is not None:
        copy = next((f for f in on_nas if f.name == local.name), None)
        if copy is None:
            findings.append(
                Finding(
                    "nas-snapshot",
                    local.name,
                    "fail",
                    f"the newest snapshot is missing on the NAS ({where})",
                    "copy it: inv talos.etcd-snapshot with upgrade.etcdSnapshotToNas: true",
                )
            )
        elif copy.size != local.size:
            findings.append(
                Finding("nas-snapshot", local.name, "fail", f"the NAS copy has {copy.size} bytes, not {local.size}")
            )
        elif local.name + snapshotsum.SIDECAR not in names:
            findings.append(
                Finding("nas-snapshot", local.name, "warn", f"on {where} without its {snapshotsum.SIDECAR} sidecar")
            )
        else:
            findings.append(Finding("nas-snapshot", local.name, "ok", f"on {where}, same size, with its sidecar"))
    best = newest(on_nas)
    if best is None:
        if local is None:
            findings.append(Finding("nas-snapshot", where, "fail", "no etcd snapshot on the NAS either"))
        return findings
    if local is None or best.name != local.name:
        findings.append(_snapshot_finding("nas-snapshot", best, now, limit))
    return findings


# -- Proxmox VM specs ----------------------------------------------------------------------------

_MAC = re.compile(r"(?:^|[=,])((?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2})(?:,|$)")
_DISK_KEYS = ("scsi0", "virtio0", "sata0", "ide0")


@dataclass(frozen=True)
class VmSpec:
    """What ``qm config`` says about a VM that a rebuild must reproduce."""

    mac: str | None
    disk: str | None  # "<storage>:<GiB>"


def parse_vm_spec(config: dict[str, str]) -> VmSpec:
    m = _MAC.search(config.get("net0", ""))
    disk = None
    for key in _DISK_KEYS:
        value = config.get(key, "")
        volume = re.match(r"^([\w.-]+):[^,]+", value)
        size = re.search(r"(?:^|,)size=(\d+)G(?:,|$)", value)
        if volume and size and "media=cdrom" not in value:
            disk = f"{volume.group(1)}:{size.group(1)}"
            break
    return VmSpec(m.group(1).upper() if m else None, disk)


def vm_spec_findings(runtime: Runtime) -> list[Finding]:
    records = _newest_records(runtime.inventory)
    return [_vm_finding(runtime, node, records) for node in runtime.inventory.nodes]


def _newest_records(inventory: Inventory) -> Any:
    local = newest(local_snapshots(inventory))
    try:
        found = load_vm_records(snapshot_dir(inventory) / local.name) if local is not None else None
        return found if found is not None else vm_records_for(inventory, None)
    except HomeopsError:
        return None


def _vm_finding(runtime: Runtime, node: Node, records: Any = None) -> Finding:
    vm = node.vm
    if vm is None:
        # issue 22 §3.9: bare metal is rebuilt with `talosctl reset`, which needs no VM spec
        return Finding("vm-spec", node.hostname, "ok", "bare metal (no vm:): rebuilt by a reset, no VM to recreate")
    subject = f"{node.hostname} (VM {vm.vmid} on {vm.host})"
    recorded = records.of(node.hostname) if records is not None else None
    try:
        result = runtime.host(vm.host).run(pve.qm_config(vm.vmid), timeout=TIMEOUT)
        live: VmSpec | None = parse_vm_spec(pve.parse_qm_config(pve.check(result, f"qm config {vm.vmid}").stdout))
        error = None
    except HomeopsError as exc:
        live, error = None, _one_line(exc)
    missing = [name for name, value in (("mac", vm.mac), ("disk", vm.disk)) if value is None]
    if missing and recorded is not None:
        return Finding("vm-spec", subject, "ok", "mac and disk come from the VM record of the newest snapshot")
    if missing:
        seen = ""
        if live is not None:
            seen = f" — Proxmox says: mac: {live.mac}, disk: {live.disk}"
        return Finding(
            "vm-spec",
            subject,
            "fail",
            f"homeops.yaml does not record its {' and '.join(missing)}",
            f"add them under nodes.{node.hostname}.vm{seen}",
        )
    if live is None:
        return Finding("vm-spec", subject, "warn", f"known from homeops.yaml; Proxmox not asked: {error}")
    diffs = [
        f"{name} {want} in homeops.yaml, {have} on Proxmox"
        for name, want, have in (("mac", vm.mac, live.mac), ("disk", vm.disk, live.disk))
        if want != have
    ]
    if diffs:
        return Finding("vm-spec", subject, "fail", "; ".join(diffs), f"make nodes.{node.hostname}.vm agree with the VM")
    return Finding("vm-spec", subject, "ok", f"mac {vm.mac}, disk {vm.disk}")


def vm_record_findings(runtime: Runtime) -> list[Finding]:
    """The newest snapshot's VM record against the VMs as they run now (drift is a warning)."""
    inventory = runtime.inventory
    vm_nodes = [n for n in inventory.nodes if n.vm is not None]
    local = newest(local_snapshots(inventory))
    if not vm_nodes or local is None:
        return []  # no VMs to record; no snapshot: the etcd-snapshot finding already fails
    name = local.name + RECORD_SUFFIX
    try:
        records = load_vm_records(snapshot_dir(inventory) / local.name)
    except HomeopsError as exc:
        return [Finding("vm-record", name, "fail", _one_line(exc), TAKE_ONE)]
    if records is None:
        return [
            Finding(
                "vm-record",
                local.name,
                "warn",
                "no VM record with the newest snapshot: --recreate-vms would build each VM from homeops.yaml "
                "(mac, disk) alone, not as it was",
                TAKE_ONE,
            )
        ]
    findings = []
    if nas_host_name(runtime) is not None:
        try:
            names = nas_snapshots(runtime)[1]
        except HomeopsError:
            names = set()  # the nas-snapshot finding says why
        if name not in names:
            findings.append(
                Finding("vm-record", name, "warn", "not on the NAS: it is lost with this machine", TAKE_ONE)
            )
    live_ha = _live_ha(runtime)
    for node in vm_nodes:
        assert node.vm is not None
        subject = f"{node.hostname} (VM {node.vm.vmid})"
        recorded = records.of(node.hostname)
        if recorded is None:
            why = next((e for e in records.errors if e.startswith(node.hostname)), "not in the record")
            findings.append(Finding("vm-record", subject, "warn", f"not recorded with {local.name}: {why}", TAKE_ONE))
            continue
        try:
            known = {h.name for h in runtime.inventory.hosts}
            where = recorded.host if recorded.host in known else node.vm.host
            result = runtime.host(where).run(pve.qm_config(node.vm.vmid), timeout=TIMEOUT)
            live = pve.parse_qm_config(pve.check(result, f"qm config {node.vm.vmid}").stdout)
        except HomeopsError as exc:
            findings.append(Finding("vm-record", subject, "warn", f"recorded; the VM not read: {_one_line(exc)}"))
            continue
        drift = pve.vm_drift(recorded.settings, live)
        if live_ha is not None:
            was = recorded.ha.state if recorded.ha else "not HA-managed"
            now_ha = live_ha.get(pve.ha_sid(node.vm.vmid))
            if (now_ha.state if now_ha else "not HA-managed") != was:
                drift.append(f"HA: recorded {was}, now {now_ha.state if now_ha else 'not HA-managed'}")
        if drift:
            shown = "; ".join(drift[:4]) + (f"; and {len(drift) - 4} more" if len(drift) > 4 else "")
            findings.append(
                Finding(
                    "vm-record",
                    subject,
                    "warn",
                    f"drifted from the record of {local.name}: {shown}",
                    "a rebuild builds the VM as recorded: take a new snapshot (inv talos.etcd-snapshot) to record it "
                    "as it is now, or change the VM back",
                )
            )
        else:
            ha = f", HA {recorded.ha.state}" if recorded.ha else ""
            findings.append(
                Finding(
                    "vm-record", subject, "ok", f"as recorded with {local.name} ({len(recorded.config)} settings{ha})"
                )
            )
    return findings


def _live_ha(runtime: Runtime) -> dict[str, pve.HaResource] | None:
    for host in runtime.inventory.hosts_of_kind("proxmox"):
        try:
            result = runtime.host(host.name).run(pve.ha_resources(), timeout=TIMEOUT)
            return pve.parse_ha_resources(pve.check(result, "pvesh get /cluster/ha/resources").stdout)
        except HomeopsError:
            continue
    return None


def vm_backup_findings(runtime: Runtime, now: float) -> list[Finding]:
    """The newest vzdump backup of each Talos VM, in every backup storage its Proxmox hosts see."""
    inventory = runtime.inventory
    vm_nodes = [n for n in inventory.nodes if n.vm is not None]
    if not vm_nodes:
        return []
    limit = inventory.dr.vm_backup_max_age
    newest_of: dict[int, pve.VmBackup] = {}
    errors: list[str] = []
    for host in sorted({n.vm.host for n in vm_nodes if n.vm is not None}):
        try:
            runner = runtime.host(host)
            listing = pve.check(runner.run(pve.backup_storages(host), timeout=TIMEOUT), "pvesh get storage")
            for storage in pve.parse_backup_storages(listing.stdout, target=host):
                content = runner.run(pve.backup_content(host, storage), timeout=TIMEOUT)
                for backup in pve.parse_backups(pve.check(content, "pvesh get content").stdout, storage=storage):
                    best = newest_of.get(backup.vmid)
                    if best is None or backup.ctime > best.ctime:
                        newest_of[backup.vmid] = backup
        except HomeopsError as exc:
            errors.append(f"{host}: {_one_line(exc)}")
    findings = []
    for node in vm_nodes:
        assert node.vm is not None
        subject = f"{node.hostname} (VM {node.vm.vmid})"
        found = newest_of.get(node.vm.vmid)
        if found is None:
            where = f" (could not ask {'; '.join(errors)})" if errors else ""
            findings.append(Finding("vm-backup", subject, "warn", f"no vzdump backup found{where}"))
            continue
        age = now - found.ctime
        text = f"{found.volid}, taken {volsync.format_age(age)} ago"
        if age > limit:
            findings.append(
                Finding(
                    "vm-backup",
                    subject,
                    "warn",
                    f"old: {text} (limit {volsync.format_age(limit)}, dr.vmBackupMaxAgeHours)",
                    "check the backup job in Datacenter → Backup",
                )
            )
        else:
            findings.append(Finding("vm-backup", subject, "ok", text))
    return findings


# -- VolSync ----------------------------------------------------------------------------------------


def volsync_findings(runtime: Runtime, now: float) -> list[Finding]:
    inventory = runtime.inventory
    kctl = k.Kubectl(inventory.cluster.kubeconfig)
    result = runtime.local.run(volsync.get_sources(kctl), timeout=TIMEOUT)
    if k.is_not_found(result):
        return [Finding("volsync", "cluster", "ok", "VolSync is not installed: no volumes to check")]
    if not result.ok:
        return [Finding("volsync", "cluster", "fail", f"cannot list ReplicationSources: {result.last_error_line()}")]
    try:
        sources = volsync.parse_sources(result.stdout)
    except HomeopsError as exc:
        return [Finding("volsync", "cluster", "fail", _one_line(exc))]
    if not sources:
        return [Finding("volsync", "cluster", "ok", "no ReplicationSources")]
    findings = []
    for source in sorted(sources, key=lambda s: s.key):
        limit = inventory.dr.volsync_limit(source.namespace, source.name)
        problems = source.problems(now, limit)
        if problems:
            findings.append(
                Finding(
                    "volsync",
                    source.key,
                    "fail",
                    "stale: " + "; ".join(problems + source.warnings()),
                    f"look at the mover: kubectl -n {source.namespace} get replicationsource {source.name} -o yaml",
                )
            )
        else:
            age = now - (source.last_sync_time or now)
            warnings = source.warnings()
            detail = "; ".join([f"last sync {volsync.format_age(age)} ago", *warnings])
            findings.append(Finding("volsync", source.key, "warn" if warnings else "ok", detail))
    return findings


# -- the NAS pool ---------------------------------------------------------------------------------


def backup_pool(inventory: Inventory) -> str | None:
    if inventory.dr.backup_pool:
        return inventory.dr.backup_pool
    parts = PurePosixPath(inventory.policy.nas_backup_dir).parts
    return parts[2] if len(parts) > 2 and parts[:2] == ("/", "mnt") else None


def nas_pool_findings(runtime: Runtime) -> list[Finding]:
    inventory = runtime.inventory
    host = nas_host(runtime)
    pool_name = backup_pool(inventory)
    if host is None:
        return [Finding("nas-pool", "nas", "warn", "no TrueNAS host in the inventory")]
    if pool_name is None:
        return [Finding("nas-pool", host, "fail", "no backup pool", "set dr.backupPool in homeops.yaml")]
    subject = f"{host}:{pool_name}"
    try:
        runner = runtime.host(host)
        pools = nas.parse_pools(runner.run(nas.pool_query(), timeout=TIMEOUT).check("midclt call pool.query").stdout)
        zpool = nas.parse_zpool_status_x(runner.run(nas.zpool_status_x(pool_name), timeout=TIMEOUT))
    except HomeopsError as exc:
        return [Finding("nas-pool", subject, "fail", f"cannot ask the NAS: {_one_line(exc)}")]
    pool = next((p for p in pools if p.name == pool_name), None)
    if pool is None:
        known = ", ".join(p.name for p in pools) or "none"
        return [Finding("nas-pool", subject, "fail", f"no pool named {pool_name} (pools: {known})")]
    if not pool.ok or not zpool.healthy:
        detail = pool.describe() if not pool.ok else f"zpool status -x: {zpool.describe()}"
        return [Finding("nas-pool", subject, "fail", detail, "replace the failed disk before relying on the backups")]
    free = pool.free or 0
    need = inventory.dr.min_free_bytes
    text = f"ONLINE, {_gib(free)} free"
    if free < need:
        return [Finding("nas-pool", subject, "fail", f"{text}, below dr.minFreeGiB ({_gib(need)})")]
    return [Finding("nas-pool", subject, "ok", text)]


def _gib(value: int) -> str:
    return f"{value / 1024**3:.0f} GiB" if value < 1024**4 else f"{value / 1024**4:.1f} TiB"


__all__ = ["DrReport", "Finding", "VmSpec", "parse_vm_spec", "run_check"]
