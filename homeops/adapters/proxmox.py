"""Proxmox VE over SSH: argv builders and pure parsers for ``qm``, ``pvecm`` and ``pvesh``.

Formats and exit codes per ``cli-interfaces.md`` §3. Every builder returns an argv list (never a
shell string); ``homeops.ssh.SshRunner`` quotes it. Facts:

* ``pvecm status`` exits 0 when quorate, 2 when not, 1 on error — the gate wants ``Quorate: Yes``
  *and* exit 0;
* ``pvesh get /cluster/resources --type vm --output-format json`` is one JSON array;
* ``qm`` task commands (start/stop/shutdown/reboot/snapshot/create…) exit 255 when the task failed,
  with a Perl ``die`` message on stderr: ``check`` maps the known ones to errors with a next step.

Power operations have idempotency rules (``power_decision``): starting a running VM and stopping a
stopped one are no-ops here, not errors as ``qm start`` would make them; rebooting a stopped VM is
refused (``qm reboot`` fails with ``VM <id> not running``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import unquote

from homeops.errors import CommandError, PlanError
from homeops.runners import Result

PowerAction = Literal["start", "stop", "shutdown", "reboot"]
POWER_ACTIONS: tuple[PowerAction, ...] = ("start", "stop", "shutdown", "reboot")

#: ``qm shutdown``'s own default; we always pass it so the wait is explicit in every plan.
DEFAULT_SHUTDOWN_TIMEOUT = 60

# pve-configid: a letter, then letters, digits, '_' or '-'; snapshot names at most 40 characters.
_SNAPNAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{1,39}$")


# -- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quorum:
    quorate: bool
    cluster_name: str | None
    nodes: int | None  # members seen now
    expected_votes: int | None
    total_votes: int | None
    quorum: int | None = field(default=None, compare=False)  # votes needed ("Quorum:" line)

    def describe(self) -> str:
        votes = f"{self.total_votes}/{self.expected_votes} votes" if self.expected_votes else "votes ?"
        if self.quorate:
            return f"quorate ({votes})"
        if self.total_votes is not None and self.quorum is not None and self.total_votes < self.quorum:
            return f"NOT quorate ({votes}, quorum needs {self.quorum})"
        # every vote present and still not quorate: say what pvecm said rather than contradict it
        return f"NOT quorate (pvecm status says Quorate: No, with {votes})"


@dataclass(frozen=True)
class VmResource:
    """One guest from ``/cluster/resources``."""

    vmid: int
    name: str
    node: str  # the Proxmox node it runs on
    status: str  # running | stopped | paused | unknown (node offline) | …
    kind: str = "qemu"
    template: bool = False
    uptime: int = 0
    maxmem: int = 0
    lock: str | None = None

    @property
    def running(self) -> bool:
        return self.status == "running"


@dataclass(frozen=True)
class Snapshot:
    name: str
    taken: str | None  # "YYYY-MM-DD HH:MM:SS" as qm prints it (host local time)
    description: str = ""
    parent: str | None = None


@dataclass(frozen=True)
class PowerDecision:
    """What a power action would do to a VM in a given state (idempotency, decided before running)."""

    action: PowerAction
    vmid: int
    run: bool
    reason: str
    argv: tuple[str, ...] = ()


@dataclass(frozen=True)
class TalosVmSpec:
    """A Talos VM to (re)create from an ISO; keep ``mac`` to keep the node's DHCP lease."""

    vmid: int
    name: str
    iso: str  # a Proxmox volume, e.g. local:iso/talos-<schematic>-v1.11.6-metal-amd64.iso
    memory_mb: int = 8192
    cores: int = 4
    disk_gb: int = 64
    storage: str = "local-lvm"
    bridge: str = "vmbr0"
    mac: str | None = None
    cpu: str = "host"
    uefi: bool = False
    extra: tuple[tuple[str, str], ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class HaResource:
    """A guest under Proxmox HA (``/cluster/ha/resources``): ``qm stop``/``start`` become HA requests."""

    sid: str  # "vm:201"
    state: str = "started"  # started | stopped | disabled | ignored
    options: tuple[tuple[str, str], ...] = ()  # group, max_restart, max_relocate, failback, comment

    @property
    def managed(self) -> bool:
        # pve-ha-manager Config.pm service_check_ha_state: an ignored resource behaves as unmanaged
        return self.state != "ignored"

    def to_dict(self) -> dict[str, str]:
        return {"sid": self.sid, "state": self.state, **dict(self.options)}


@dataclass(frozen=True)
class VmRecord:
    """A Talos VM as ``qm config`` showed it when an etcd snapshot was taken: what a rebuild replays."""

    node: str  # the Talos node's hostname
    host: str  # the Proxmox node it was found on
    vmid: int
    config: tuple[tuple[str, str], ...]
    ha: HaResource | None = None

    @property
    def settings(self) -> dict[str, str]:
        return dict(self.config)

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "host": self.host,
            "vmid": self.vmid,
            "config": dict(self.config),
            "ha": self.ha.to_dict() if self.ha else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VmRecord:
        ha = data.get("ha")
        resource = None
        if isinstance(ha, Mapping):
            rest = tuple(sorted((str(k), str(v)) for k, v in ha.items() if k not in ("sid", "state")))
            resource = HaResource(str(ha["sid"]), str(ha.get("state", "started")), rest)
        config = data.get("config") or {}
        return cls(
            node=str(data["node"]),
            host=str(data["host"]),
            vmid=int(data["vmid"]),
            config=tuple(sorted((str(k), str(v)) for k, v in config.items())),
            ha=resource,
        )


@dataclass(frozen=True)
class VmBackup:
    """One vzdump backup of a guest in a backup storage (``/nodes/<node>/storage/<id>/content``)."""

    volid: str
    vmid: int
    ctime: float
    size: int = 0
    storage: str = ""


# -- argv builders ----------------------------------------------------------------------------------


def pvecm_status() -> list[str]:
    return ["pvecm", "status"]


def cluster_resources() -> list[str]:
    return ["pvesh", "get", "/cluster/resources", "--type", "vm", "--output-format", "json"]


def qm_status(vmid: int) -> list[str]:
    return ["qm", "status", str(vmid)]


def qm_config(vmid: int, *, current: bool = False) -> list[str]:
    return ["qm", "config", str(vmid), *(["--current"] if current else [])]


def qm_start(vmid: int, *, timeout: int | None = None) -> list[str]:
    return ["qm", "start", str(vmid), *_timeout(timeout)]


def qm_shutdown(vmid: int, *, timeout: int = DEFAULT_SHUTDOWN_TIMEOUT, force_stop: bool = False) -> list[str]:
    return ["qm", "shutdown", str(vmid), *_timeout(timeout), *(["--forceStop", "1"] if force_stop else [])]


def qm_stop(vmid: int, *, timeout: int | None = None, overrule_shutdown: bool = False) -> list[str]:
    return ["qm", "stop", str(vmid), *_timeout(timeout), *(["--overrule-shutdown", "1"] if overrule_shutdown else [])]


def qm_reboot(vmid: int, *, timeout: int | None = None) -> list[str]:
    return ["qm", "reboot", str(vmid), *_timeout(timeout)]


def qm_snapshot(vmid: int, name: str, *, description: str | None = None, vmstate: bool = False) -> list[str]:
    validate_snapshot_name(name)
    argv = ["qm", "snapshot", str(vmid), name]
    if description:
        argv += ["--description", description]
    if vmstate:
        argv += ["--vmstate", "1"]
    return argv


def qm_listsnapshot(vmid: int) -> list[str]:
    return ["qm", "listsnapshot", str(vmid)]


def qm_rollback(vmid: int, name: str, *, start: bool = False) -> list[str]:
    validate_snapshot_name(name)
    return ["qm", "rollback", str(vmid), name, *(["--start", "1"] if start else [])]


def qm_delsnapshot(vmid: int, name: str) -> list[str]:
    validate_snapshot_name(name)
    return ["qm", "delsnapshot", str(vmid), name]


def qm_create_talos(spec: TalosVmSpec) -> list[list[str]]:
    """The commands that create a stopped Talos VM booting the ISO once (disk first, then cdrom)."""
    net = f"virtio,bridge={spec.bridge}" + (f",macaddr={spec.mac}" if spec.mac else "")
    create = [
        "qm",
        "create",
        str(spec.vmid),
        "--name",
        spec.name,
        "--memory",
        str(spec.memory_mb),
        "--cores",
        str(spec.cores),
        "--cpu",
        spec.cpu,
        "--ostype",
        "l26",
        "--net0",
        net,
        "--scsihw",
        "virtio-scsi-single",
        "--scsi0",
        f"{spec.storage}:{spec.disk_gb}",
        "--cdrom",
        spec.iso,
        "--boot",
        "order=scsi0;ide2",
        "--agent",
        "enabled=1",
        "--serial0",
        "socket",
    ]
    if spec.uefi:
        create += ["--bios", "ovmf", "--efidisk0", f"{spec.storage}:1,efitype=4m,pre-enrolled-keys=0"]
    commands = [create]
    if spec.extra:
        commands.append(["qm", "set", str(spec.vmid), *[part for k, v in spec.extra for part in (f"--{k}", v)]])
    return commands


def qm_detach_iso(vmid: int) -> list[str]:
    return ["qm", "set", str(vmid), "--delete", "ide2"]


# -- HA (pve-ha-manager src/PVE/CLI/ha_manager.pm) --------------------------------------------------


def ha_sid(vmid: int) -> str:
    return f"vm:{vmid}"


def ha_resources() -> list[str]:
    """Every HA resource with its configured state, as JSON (``ha-manager config`` prints text)."""
    return ["pvesh", "get", "/cluster/ha/resources", "--output-format", "json"]


def ha_set_state(vmid: int, state: str) -> list[str]:
    """How an HA-managed VM is stopped or started: ``qm stop --overrule-shutdown`` is refused for it
    (qemu-server ``API2/Qemu.pm:3751-3756``), and the HA stack would start it again after a plain stop."""
    return ["ha-manager", "set", ha_sid(vmid), "--state", state]


def ha_add(resource: HaResource) -> list[str]:
    argv = ["ha-manager", "add", resource.sid, "--state", resource.state]
    for key, value in resource.options:
        argv += [f"--{key}", value]
    return argv


# -- a VM as it was: record and replay ------------------------------------------------------------------

#: Keys a replay does not set: computed by Proxmox (digest, meta: creation time and QEMU version), a new
#: VM generation id is right for a new VM (vmgenid), locks and snapshot pointers, and detached volumes.
_NOT_REPLAYED = re.compile(
    r"^(digest|meta|vmgenid|lock|parent|pending|unused\d+|snaptime|vmstate|runningmachine|runningcpu)$"
)
_DISK = re.compile(r"^(scsi|virtio|sata|ide|efidisk|tpmstate)\d+$")
_SIZE = re.compile(r"^(?P<n>\d+(?:\.\d+)?)(?P<unit>[KMGT]?)$")
_UNIT = {"K": 1 / 1024**2, "M": 1 / 1024, "G": 1.0, "T": 1024.0, "": 1 / 1024**3}


def replayed_keys(config: Mapping[str, str]) -> list[str]:
    return sorted(k for k in config if not _NOT_REPLAYED.match(k))


def is_cdrom(value: str) -> bool:
    return "media=cdrom" in value.split(",")


def _drive(value: str) -> tuple[str, dict[str, str]]:
    volume, *rest = value.split(",")
    options: dict[str, str] = {}
    for part in rest:
        key, _, value = part.partition("=")
        options[key] = value
    return volume, options


def disk_allocation(key: str, value: str) -> str:
    """A recorded drive as ``qm create`` allocates it anew: ``local-lvm:vm-201-disk-0,iothread=1,size=64G``
    → ``local-lvm:64,iothread=1`` (same storage, size and options; EFI/TPM state: size is fixed)."""
    volume, options = _drive(value)
    storage = volume.split(":", 1)[0]
    size = options.pop("size", "")
    if key.startswith(("efidisk", "tpmstate")):
        gib = "1"  # "SIZE_IN_GiB is ignored here" (qm.1 efidisk0/tpmstate0)
    else:
        match = _SIZE.match(size)
        if match is None:
            raise PlanError(f"{key}: '{value}' records no size=; cannot allocate the disk again")
        amount = float(match["n"]) * _UNIT[match["unit"]]
        gib = str(int(amount)) if amount == int(amount) else f"{math.ceil(amount * 1024) / 1024:g}"
    extra = [f"{k}={v}" if v else k for k, v in sorted(options.items())]
    return ",".join([f"{storage}:{gib}", *extra])


def _boot_disk(config: Mapping[str, str]) -> str | None:
    order = config.get("boot", "")
    if order.startswith("order="):
        for device in order[len("order=") :].split(";"):
            if _DISK.match(device) and not is_cdrom(config.get(device, "")):
                return device
    disks = [k for k in sorted(config) if _DISK.match(k) and not k.startswith(("efidisk", "tpmstate"))]
    return next((k for k in disks if not is_cdrom(config[k])), None)


def replay_create(record: VmRecord, iso: str) -> list[str]:
    """``qm create`` of the recorded VM: every recorded setting (memory, cores, balloon, CPU, machine, BIOS,
    EFI disk, every disk with its storage, size and options, every NIC with its MAC, bridge and VLAN tag),
    with the Talos ISO in ide2 and the boot order disk-then-ISO until the install is done."""
    config = record.settings
    argv = ["qm", "create", str(record.vmid)]
    for key in replayed_keys(config):
        value = config[key]
        if key in ("boot", "ide2"):
            continue  # set below for the install, back to the record after it (replay_finish)
        if _DISK.match(key):
            value = value if is_cdrom(value) else disk_allocation(key, value)
        elif key == "description":
            value = unquote(value)  # qm config percent-encodes it
        argv += [f"--{key}", value]
    disk = _boot_disk(config)
    argv += ["--ide2", f"{iso},media=cdrom", "--boot", f"order={disk};ide2" if disk else "order=ide2"]
    return argv


def replay_finish(record: VmRecord) -> list[list[str]]:
    """After the install: the ISO detached, the recorded boot order back, and the VM under HA again
    (``qm destroy --purge`` removed it from the HA resources)."""
    config = record.settings
    argv = ["qm", "set", str(record.vmid)]
    delete = []
    if "boot" in config:
        argv += ["--boot", config["boot"]]
    else:
        delete.append("boot")
    if "ide2" in config and is_cdrom(config["ide2"]):
        argv += ["--ide2", "none,media=cdrom"]  # the drive stays, empty, as recorded; the ISO is detached
    elif "ide2" in config:
        argv += ["--ide2", disk_allocation("ide2", config["ide2"])]
    else:
        delete.append("ide2")
    if delete:
        argv += ["--delete", ",".join(delete)]
    commands = [argv]
    if record.ha is not None:
        commands.append(ha_add(record.ha))
    return commands


def _normal(key: str, value: str) -> str:
    if _DISK.match(key):
        if is_cdrom(value):
            return "cdrom"  # which ISO is inserted is not part of the VM
        try:
            return disk_allocation(key, value)  # the volume's name changes with every allocation
        except PlanError:
            return value
    return value


def vm_drift(recorded: Mapping[str, str], live: Mapping[str, str]) -> list[str]:
    """Where the VM now differs from its record (volume names, generation id and ISO contents aside)."""
    out = []
    for key in sorted(set(replayed_keys(recorded)) | set(replayed_keys(live))):
        want, have = recorded.get(key), live.get(key)
        if want is not None and have is not None and _normal(key, want) == _normal(key, have):
            continue
        if want is None:
            out.append(f"{key}: {have} (not in the record)")
        elif have is None:
            out.append(f"{key}: recorded {want}, now unset")
        else:
            out.append(f"{key}: recorded {want}, now {have}")
    return out


# -- vzdump backups (pve-storage API2/Storage/Content.pm) ----------------------------------------------


def backup_storages(node: str) -> list[str]:
    """The storages of a Proxmox node that hold backups."""
    return ["pvesh", "get", f"/nodes/{node}/storage", "--content", "backup", "--output-format", "json"]


def backup_content(node: str, storage: str) -> list[str]:
    return [
        "pvesh",
        "get",
        f"/nodes/{node}/storage/{storage}/content",
        "--content",
        "backup",
        "--output-format",
        "json",
    ]


def _timeout(seconds: int | None) -> list[str]:
    return [] if seconds is None else ["--timeout", str(int(seconds))]


def validate_snapshot_name(name: str) -> str:
    if not _SNAPNAME.match(name) or name == "current":
        raise PlanError(
            f"'{name}' is not a valid Proxmox snapshot name",
            hint="use 2–40 characters: a letter first, then letters, digits, '_' or '-' ('current' is reserved)",
        )
    return name


# -- idempotency --------------------------------------------------------------------------------------


def power_decision(
    action: PowerAction,
    vmid: int,
    status: str,
    *,
    timeout: int | None = None,
    force_stop: bool = False,
) -> PowerDecision:
    """Decide from the VM's current status whether (and how) to run ``action``."""
    if action == "start":
        if status == "running":
            return PowerDecision(action, vmid, False, f"VM {vmid} is already running")
        return PowerDecision(action, vmid, True, f"VM {vmid} is {status}: start it", tuple(qm_start(vmid)))
    if action in ("stop", "shutdown"):
        if status == "stopped":
            return PowerDecision(action, vmid, False, f"VM {vmid} is already stopped")
        if action == "stop":
            return PowerDecision(action, vmid, True, f"VM {vmid} is {status}: hard stop", tuple(qm_stop(vmid)))
        wait = DEFAULT_SHUTDOWN_TIMEOUT if timeout is None else timeout
        if status == "paused" and not force_stop:
            raise PlanError(
                f"VM {vmid} is paused: Proxmox cannot shut a paused VM down",
                hint="resume it first, or use --force-stop to stop it after the timeout",
            )
        how = f"clean shutdown (up to {wait}s" + (", then force stop)" if force_stop else ")")
        return PowerDecision(
            action,
            vmid,
            True,
            f"VM {vmid} is {status}: {how}",
            tuple(qm_shutdown(vmid, timeout=wait, force_stop=force_stop)),
        )
    if status != "running":
        raise PlanError(f"VM {vmid} is {status}, not running: it cannot be rebooted", hint="start it instead")
    return PowerDecision(
        action, vmid, True, f"VM {vmid} is running: reboot it", tuple(qm_reboot(vmid, timeout=timeout))
    )


# -- parsers ------------------------------------------------------------------------------------------


def parse_pvecm_status(result: Result) -> Quorum:
    """Exit 0 = quorate, 2 = not quorate; anything else is an error (1, or 255 from pvecm itself)."""
    if result.exit_code not in (0, 2):
        raise _error(result, "pvecm status")
    fields: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep and key and not key.startswith(" ") and key.strip() not in fields:
            fields[key.strip()] = value.strip()
    if "Quorate" not in fields:
        raise CommandError(
            f"pvecm status on {result.target} printed no 'Quorate:' line",
            command=result.command,
            exit_code=result.exit_code,
            target=result.target,
            hint="is this a Proxmox cluster member? a standalone node has no quorum to report",
        )
    quorate = fields["Quorate"].split()[0] == "Yes" and result.exit_code == 0
    return Quorum(
        quorate=quorate,
        cluster_name=fields.get("Name"),
        nodes=_int(fields.get("Nodes")),
        expected_votes=_int(fields.get("Expected votes")),
        total_votes=_int(fields.get("Total votes")),
        quorum=_int(fields.get("Quorum")),
    )


def parse_cluster_resources(text: str, *, target: str = "") -> tuple[VmResource, ...]:
    out: list[VmResource] = []
    for entry in _json_list(text, "pvesh", target):
        if entry.get("type") not in ("qemu", "lxc") or "vmid" not in entry:
            continue
        out.append(
            VmResource(
                vmid=int(entry["vmid"]),
                name=str(entry.get("name", "")),
                node=str(entry.get("node", "")),
                status=str(entry.get("status", "unknown")),
                kind=str(entry["type"]),
                template=bool(entry.get("template", 0)),
                uptime=int(entry.get("uptime") or 0),
                maxmem=int(entry.get("maxmem") or 0),
                lock=entry.get("lock") or None,
            )
        )
    return tuple(sorted(out, key=lambda vm: vm.vmid))


def parse_qm_status(text: str) -> str:
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() == "status":
            return value.strip()
    raise CommandError(f"qm status printed no 'status:' line: {text.strip()[:80]!r}")


def parse_qm_config(text: str) -> dict[str, str]:
    config: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(": ")
        if sep and key and " " not in key:
            config[key] = value
    return config


def _json_list(text: str, what: str, target: str = "") -> list[dict[str, Any]]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"{what} on {target or 'host'} did not print JSON: {exc}", target=target) from exc
    if not isinstance(data, list):
        raise CommandError(f"{what} on {target or 'host'} printed {type(data).__name__}, not a list", target=target)
    return [entry for entry in data if isinstance(entry, dict)]


def parse_ha_resources(text: str, *, target: str = "") -> dict[str, HaResource]:
    """``/cluster/ha/resources`` by sid; a resource without ``state`` is ``started`` (its default)."""
    out = {}
    for entry in _json_list(text, "pvesh get /cluster/ha/resources", target):
        sid = str(entry.get("sid", ""))
        if not sid:
            continue
        skip = ("sid", "state", "type", "digest", "errors")
        rest = tuple(sorted((str(k), str(v)) for k, v in entry.items() if k not in skip and v is not None))
        out[sid] = HaResource(sid, str(entry.get("state") or "started"), rest)
    return out


def parse_backup_storages(text: str, *, target: str = "") -> list[str]:
    entries = _json_list(text, "pvesh get /nodes/…/storage", target)
    return [str(e["storage"]) for e in entries if e.get("storage") and e.get("active", 1) and e.get("enabled", 1)]


def parse_backups(text: str, *, storage: str = "", target: str = "") -> list[VmBackup]:
    out = []
    for entry in _json_list(text, "pvesh get /nodes/…/content", target):
        if entry.get("vmid") is None or entry.get("ctime") is None:
            continue
        out.append(
            VmBackup(
                str(entry.get("volid", "")),
                int(entry["vmid"]),
                float(entry["ctime"]),
                int(entry.get("size") or 0),
                storage,
            )
        )
    return out


_SNAP_LINE = re.compile(
    r"^(?P<indent>\s*)`->\s+(?P<name>\S+)\s*(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)?\s*(?P<desc>.*)$"
)


def parse_listsnapshot(text: str) -> tuple[Snapshot, ...]:
    """``qm listsnapshot``'s tree (indentation is the parent chain); ``current`` is not a snapshot."""
    out: list[Snapshot] = []
    stack: list[tuple[int, str]] = []
    for line in text.splitlines():
        match = _SNAP_LINE.match(line)
        if not match:
            continue
        depth = len(match["indent"])
        while stack and stack[-1][0] >= depth:
            stack.pop()
        name = match["name"]
        if name != "current":
            parent = stack[-1][1] if stack else None
            out.append(Snapshot(name, match["time"], match["desc"].strip(), parent))
        stack.append((depth, name))
    return tuple(out)


# -- errors ---------------------------------------------------------------------------------------------

_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"no quorum"), "the Proxmox cluster has lost quorum; check `pvecm status` before touching VMs"),
    (re.compile(r"got timeout"), "the guest ignored the shutdown; retry with --force-stop, or check the guest agent"),
    (re.compile(r"does not exist"), "check the vmid in inventory nodes.<node>.vm and on which host the VM lives"),
    (re.compile(r"already running"), "the VM is already running; nothing to start"),
    (re.compile(r"not running"), "the VM is stopped; start it instead"),
    (re.compile(r"already used"), "choose another snapshot name, or delete the old snapshot first"),
    (
        re.compile(r"Not applicable for HA resources"),
        "the VM is HA-managed: stop it with `ha-manager set vm:{vmid} --state stopped`",
    ),
    (re.compile(r"used in HA resources"), "the VM is HA-managed: destroy it with --purge (removes it from HA)"),
    (re.compile(r"is locked"), "another Proxmox task holds the VM lock; wait for it or check the task log"),
    (re.compile(r"invalid format"), "snapshot names: a letter first, then letters, digits, '_' or '-'"),
)


def check(result: Result, what: str | None = None) -> Result:
    """Return the result when it succeeded, else raise a ``CommandError`` with a next step."""
    if result.ok:
        return result
    raise _error(result, what or " ".join(result.argv[:2]))


def refusal(result: Result, what: str) -> CommandError | None:
    """The error a failed ``qm``/``pvesh`` result is (None when it succeeded): Proxmox's own reason and a
    next step. Step kinds refuse to send such a command again blindly."""
    return None if result.ok else _error(result, what or " ".join(result.argv[:2]))


def _error(result: Result, what: str) -> CommandError:
    line = result.last_error_line()
    kind = "task failed" if result.exit_code == 255 else f"exit {result.exit_code}"
    hint = next((h for pattern, h in _HINTS if pattern.search(result.stderr)), None)
    if hint is not None and "{vmid}" in hint:
        vmid = result.argv[2] if len(result.argv) > 2 and result.argv[2].isdigit() else "VMID"
        hint = hint.replace("{vmid}", vmid)
    on = f" on {result.target}" if result.target != "local" else ""
    return CommandError(
        f"{what}{on}: {kind}: {line}",
        command=result.command,
        exit_code=result.exit_code,
        stderr=result.stderr,
        target=result.target,
        hint=hint,
    )


def _int(text: str | None) -> int | None:
    if not text:
        return None
    match = re.match(r"\d+", text)
    return int(match.group()) if match else None


__all__ = [
    "POWER_ACTIONS",
    "HaResource",
    "PowerAction",
    "PowerDecision",
    "Quorum",
    "Snapshot",
    "TalosVmSpec",
    "VmBackup",
    "VmRecord",
    "VmResource",
    "backup_content",
    "backup_storages",
    "check",
    "cluster_resources",
    "disk_allocation",
    "ha_add",
    "ha_resources",
    "ha_set_state",
    "ha_sid",
    "is_cdrom",
    "parse_backup_storages",
    "parse_backups",
    "parse_cluster_resources",
    "parse_ha_resources",
    "parse_listsnapshot",
    "parse_pvecm_status",
    "parse_qm_config",
    "parse_qm_status",
    "power_decision",
    "pvecm_status",
    "qm_config",
    "qm_create_talos",
    "qm_delsnapshot",
    "qm_detach_iso",
    "qm_listsnapshot",
    "qm_reboot",
    "qm_rollback",
    "qm_shutdown",
    "qm_snapshot",
    "qm_start",
    "qm_status",
    "qm_stop",
    "replay_create",
    "replay_finish",
    "replayed_keys",
    "validate_snapshot_name",
    "vm_drift",
]
