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
import re
from dataclasses import dataclass, field
from typing import Literal

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
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CommandError(f"pvesh on {target or 'host'} did not print JSON: {exc}", target=target) from exc
    if not isinstance(data, list):
        raise CommandError(f"pvesh on {target or 'host'} printed {type(data).__name__}, not a list", target=target)
    out: list[VmResource] = []
    for entry in data:
        if not isinstance(entry, dict) or entry.get("type") not in ("qemu", "lxc") or "vmid" not in entry:
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
    (re.compile(r"is locked"), "another Proxmox task holds the VM lock; wait for it or check the task log"),
    (re.compile(r"invalid format"), "snapshot names: a letter first, then letters, digits, '_' or '-'"),
)


def check(result: Result, what: str | None = None) -> Result:
    """Return the result when it succeeded, else raise a ``CommandError`` with a next step."""
    if result.ok:
        return result
    raise _error(result, what or " ".join(result.argv[:2]))


def _error(result: Result, what: str) -> CommandError:
    line = result.last_error_line()
    kind = "task failed" if result.exit_code == 255 else f"exit {result.exit_code}"
    hint = next((h for pattern, h in _HINTS if pattern.search(result.stderr)), None)
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
    "PowerAction",
    "PowerDecision",
    "Quorum",
    "Snapshot",
    "TalosVmSpec",
    "VmResource",
    "check",
    "cluster_resources",
    "parse_cluster_resources",
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
    "validate_snapshot_name",
]
