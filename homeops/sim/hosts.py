"""Simulated Proxmox VE and TrueNAS hosts: their initial state and the behaviour of their shims.

**Stdlib only** — the shims (``homeops/sim/hostbin/qm`` …) import this module with the OpenSSH
container's Debian ``python3``, where the rest of homeops is not installed.

``initial_host_state(inventory)`` builds the ``pve`` and ``nas`` sections of the sim state (schema
in ``homeops.sim.store``). ``run_tool(tool, args, host, state)`` is what every shim does: it reads
and changes ``state`` and returns ``(exit_code, stdout, stderr)`` shaped like the real tool's
(``../shared/reference/cli-interfaces.md`` §3, §4). ``execute`` runs it on a ``SimStore`` (a
transaction, or a read-only snapshot for calls that only look) and logs the call; ``shim_main`` is
what each shim executable calls.

Per-VM fields beyond the documented schema: ``boots`` (how many times the VM was started or
rebooted) and ``started_at`` (sim time of the last start) — the fake ``talosctl`` can use them to
notice a VM power-cycle. Host faults honoured here:

``pve-host-down`` (target: host)  the host is unreachable (its shims answer like a failed ssh).
``pve-not-quorate``               ``pvecm status`` says ``Quorate: No`` (exit 2); VM operations refuse.
``nas-pool-degraded`` (target: pool or null = first pool)  ``zpool status -x`` and ``pool.query`` show it.
``nfs-stopped``                   the NFS service is STOPPED and ``showmount`` fails.
``vm-shutdown-hangs`` (target: vmid or node)  ACPI shutdown times out (exit 255) unless ``--forceStop 1``.
``command-fails`` (params ``tool``, ``subcommand``, ``times``; target: host or null)  the next N calls fail.

Proxmox HA (``pve.ha.resources``, ``{"vm:<id>": {"state": …}}``): ``qm start/stop/shutdown`` of an
HA-managed VM only *request* the state from the HA stack ("Requesting HA stop for VM <id>"), which acts
``HA_SETTLE`` seconds later; ``qm stop --overrule-shutdown 1`` is refused for it, ``qm destroy`` needs
``--purge`` (which removes the resource); ``ha-manager set/add/remove/config/status/crm-command stop``.
vzdump backups (``pve.backups``) live in the shared storage ``pbs``.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

# typing.TYPE_CHECKING without importing typing or pathlib: each shim call is a new Python process
# in a host container, and those imports cost more than the call's own work.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from typing import Any

State = dict[str, "Any"]
Outcome = tuple[int, str, str]

SIM_DIR_ENV = "HOMEOPS_SIM_DIR"
SIM_HOST_ENV = "HOMEOPS_SIM_HOST"
HOST_FILE = "/etc/homeops/sim-host"
STATE_MOUNT = "/var/lib/homeops-sim"

TOOLS = ("qm", "pvecm", "pvesh", "ha-manager", "zpool", "midclt", "showmount")

GIB = 1024**3
TIB = 1024**4

#: The shared backup storage of the sim's Proxmox cluster and how old its newest backups are at the start.
BACKUP_STORAGE = "pbs"
BACKUP_AGE = 86400.0
#: How long the HA stack takes to act on a requested state (CRM and LRM each work in ~10 s rounds).
HA_SETTLE = 20.0

# Proxmox "Perl die" exit status for a failed task or a refused command.
PVE_FAIL = 255

# Patterns as text, compiled (and cached by re) on first use: most shim calls never need them.
_CONFIGID = r"(?i)^[a-z][a-z0-9_-]{1,39}$"


# -- initial state ------------------------------------------------------------------------------


def _mac(vmid: int) -> str:
    return f"BC:24:11:00:{(vmid >> 8) & 0xFF:02X}:{vmid & 0xFF:02X}"


def _vm_config(name: str, vmid: int, *, memory: int, cores: int, disk_gb: int, talos: bool) -> dict[str, str]:
    """A VM as Proxmox 8/9 prints it: UEFI (OVMF + efidisk0), q35, balloon off, the NIC on a VLAN."""
    config = {
        "name": name,
        "memory": str(memory),
        "cores": str(cores),
        "sockets": "1",
        "cpu": "host",
        "ostype": "l26",
        "machine": "q35",
        "bios": "ovmf",
        "balloon": "0",
        "numa": "0",
        "scsihw": "virtio-scsi-single",
        "scsi0": f"local-lvm:vm-{vmid}-disk-0,discard=on,iothread=1,size={disk_gb}G,ssd=1",
        "efidisk0": f"local-lvm:vm-{vmid}-disk-1,efitype=4m,pre-enrolled-keys=0,size=4M",
        "net0": f"virtio={_mac(vmid)},bridge=vmbr0,tag={VLAN}",
        "boot": "order=scsi0;ide2;net0",
        "ide2": "none,media=cdrom",
        "serial0": "socket",
        "onboot": "1",
        "smbios1": f"uuid=00000000-0000-4000-8000-{vmid:012d}",
        "vmgenid": f"00000000-0000-4000-9000-{vmid:012d}",
        "meta": "creation-qemu=9.0.2,ctime=1733000000",
    }
    if talos:
        config["agent"] = "enabled=1"
    return config


#: The sim's VMs sit on this VLAN of vmbr0: a rebuild that forgets the tag puts the node on the wrong network.
VLAN = 20


def _vm(name: str, vmid: int, *, talos: bool, control_plane: bool = False, ref: Any = None) -> dict[str, Any]:
    memory = 8192 if control_plane or not talos else 16384
    disk = getattr(ref, "disk", None)  # "<storage>:<GiB>" and the MAC come from the inventory when it says
    storage, size = disk.split(":") if disk else ("local-lvm", "64" if talos else "32")
    config = _vm_config(name, vmid, memory=memory, cores=4, disk_gb=int(size), talos=talos)
    config["scsi0"] = config["scsi0"].replace("local-lvm:", f"{storage}:", 1)
    if talos and not control_plane:  # a worker's second disk: its Talos user volume / Rook OSD
        config["scsi1"] = f"{storage}:vm-{vmid}-disk-2,discard=on,iothread=1,size=200G,ssd=1"
    mac = getattr(ref, "mac", None)
    if mac:
        config["net0"] = f"virtio={mac},bridge=vmbr0,tag={VLAN}"
    return {
        "name": name,
        "status": "running",
        "snapshots": [],
        "config": config,
        "boots": 1,
        "started_at": None,
    }


def initial_host_state(inventory: Any) -> State:
    """``{"pve": ..., "nas": ...}`` for an ``Inventory`` (or anything shaped like one).

    Every Proxmox host gets the VMs of the Talos nodes mapped to it, plus one unrelated VM on the
    first host (real clusters have them; status must not confuse them with nodes).
    """
    hosts = list(getattr(inventory, "hosts", ()) or ())
    nodes = list(getattr(inventory, "nodes", ()) or ())
    pve_hosts = [h for h in hosts if getattr(h, "kind", None) == "proxmox"]
    for node in nodes:  # a VM mapped to a host the inventory does not list still needs a home
        vm = getattr(node, "vm", None)
        if vm is not None and all(h.name != vm.host for h in pve_hosts):
            pve_hosts.append(_Named(vm.host, "proxmox", ""))
    pve: State = {
        "cluster": {"name": "homeops-pve", "quorate": True, "config_version": 3},
        "hosts": {},
        "ha": {"resources": {}},
        "backups": [],  # vzdump backups in the shared storage BACKUP_STORAGE (Proxmox Backup Server)
    }
    for index, host in enumerate(pve_hosts, start=1):
        pve["hosts"][host.name] = {"up": True, "node_id": index, "address": getattr(host, "address", ""), "vms": {}}
    for node in nodes:
        vm = getattr(node, "vm", None)
        if vm is None:
            continue
        vms = pve["hosts"][vm.host]["vms"]
        vms[str(vm.vmid)] = _vm(node.hostname, int(vm.vmid), talos=True, control_plane=bool(node.control_plane), ref=vm)
        # last night's vzdump: ctime is this many seconds before the sim's clock origin
        pve["backups"].append({"vmid": int(vm.vmid), "age": BACKUP_AGE, "size": 2 * GIB})
    if pve_hosts:
        first = pve["hosts"][pve_hosts[0].name]["vms"]
        taken = {int(v) for h in pve["hosts"].values() for v in h["vms"]}
        vmid = next(i for i in range(100, 200) if i not in taken)
        first[str(vmid)] = _vm("home-assistant", vmid, talos=False)
    nas_host = next((h for h in hosts if getattr(h, "kind", None) == "truenas"), None)
    return {"pve": pve, "nas": _nas_state(getattr(nas_host, "name", "nas"), nodes)}


class _Named:
    def __init__(self, name: str, kind: str, address: str) -> None:
        self.name, self.kind, self.address = name, kind, address


def _nas_state(hostname: str, nodes: Sequence[Any]) -> State:
    import ipaddress  # only needed here; shims start faster without it

    network = "10.0.0.0/24"
    for node in nodes:
        try:
            network = str(ipaddress.ip_network(f"{node.ip}/24", strict=False))
            break
        except (ValueError, AttributeError):
            continue
    size, allocated = 8 * TIB, 3 * TIB

    def dataset(name: str, used: int) -> State:
        return {
            "id": name,
            "name": name,
            "pool": "tank",
            "type": "FILESYSTEM",
            "mountpoint": f"/mnt/{name}",
            "used": used,
        }

    return {
        "up": True,
        "hostname": hostname,
        "pools": [
            {
                "id": 1,
                "name": "tank",
                "guid": "4419373154937516423",
                "path": "/mnt/tank",
                "status": "ONLINE",
                "healthy": True,
                "warning": False,
                "status_code": "HEALTHY",
                "status_detail": None,
                "size": size,
                "allocated": allocated,
                "free": size - allocated,
                "disks": ["sda", "sdb"],
                "autotrim": {"value": "off"},
            }
        ],
        "datasets": [
            dataset("tank", allocated),
            dataset("tank/k8s", 2 * TIB),
            dataset("tank/backups", 512 * GIB),
            dataset("tank/backups/etcd", 2 * GIB),
        ],
        "services": {"nfs": {"id": 11, "service": "nfs", "enable": True, "state": "RUNNING", "pids": [2413, 2414]}},
        "exports": [{"id": 1, "path": "/mnt/tank/k8s", "networks": [network], "hosts": [], "enabled": True}],
        "files": {},
    }


# -- state helpers ------------------------------------------------------------------------------


def sim_now(state: State) -> float:
    clock = state.get("clock") or {}
    if clock.get("mode") == "virtual":
        return float(clock.get("now") or 0.0)
    return time.time()


def _faults(state: State, name: str) -> list[State]:
    return [f for f in state.get("faults") or [] if f.get("name") == name]


def host_is_down(state: State, host: str) -> bool:
    if any(f.get("target") in (None, host) for f in _faults(state, "pve-host-down")):
        return True
    pve_host = (state.get("pve") or {}).get("hosts", {}).get(host)
    if pve_host is not None:
        return not pve_host.get("up", True)
    nas = state.get("nas") or {}
    if nas.get("hostname") == host:
        return not nas.get("up", True)
    return False


def _quorate(state: State) -> bool:
    pve = state.get("pve") or {}
    if _faults(state, "pve-not-quorate") or not pve.get("cluster", {}).get("quorate", True):
        return False
    hosts = pve.get("hosts", {})
    up = sum(1 for name in hosts if not host_is_down(state, name))
    return up * 2 > len(hosts)


def _take_command_failure(state: State, tool: str, args: Sequence[str], host: str) -> bool:
    """Consume one ``command-fails`` fault matching this call (tool, subcommand, host), if any."""
    faults = state.get("faults") or []
    for fault in list(faults):
        if fault.get("name") != "command-fails":
            continue
        params = fault.get("params") or {}
        if params.get("tool") not in (None, tool) or fault.get("target") not in (None, host):
            continue
        if params.get("subcommand") not in (None, args[0] if args else None):
            continue
        remaining = fault.get("remaining")
        if remaining is None and params.get("times") is not None:
            remaining = int(params["times"])
        if remaining is not None:
            remaining -= 1
            fault["remaining"] = remaining
            if remaining <= 0:
                faults.remove(fault)
        return True
    return False


# -- option parsing like PVE's Getopt::Long -----------------------------------------------------------


class _Usage(Exception):
    pass


def _parse(args: Sequence[str], spec: dict[str, str], usage: str) -> tuple[list[str], dict[str, str]]:
    """Split args into positionals and options; ``spec`` maps option name → "bool" | "str"."""
    positionals: list[str] = []
    options: dict[str, str] = {}
    items = list(args)
    while items:
        item = items.pop(0)
        if item.startswith("-") and len(item) > 1 and not item.lstrip("-").isdigit():
            name, eq, value = item.lstrip("-").partition("=")
            if name not in spec:
                raise _Usage(f"Unknown option: {name}\n400 unable to parse option\n{usage}\n")
            if not eq:
                if spec[name] == "bool" and (not items or items[0].startswith("-") or items[0] not in ("0", "1")):
                    value = "1"
                elif items:
                    value = items.pop(0)
                else:
                    raise _Usage(f"Option {name} requires an argument\n400 unable to parse option\n{usage}\n")
            options[name] = value
        else:
            positionals.append(item)
    return positionals, options


# -- qm -------------------------------------------------------------------------------------------

_QM_COMMANDS = {
    "status": ("qm status <vmid> [OPTIONS]", {"verbose": "bool"}),
    "config": ("qm config <vmid> [OPTIONS]", {"current": "bool", "snapshot": "str"}),
    "start": ("qm start <vmid> [OPTIONS]", {"timeout": "str", "skiplock": "bool", "machine": "str"}),
    "stop": (
        "qm stop <vmid> [OPTIONS]",
        {"timeout": "str", "keepActive": "bool", "overrule-shutdown": "bool", "skiplock": "bool"},
    ),
    "shutdown": (
        "qm shutdown <vmid> [OPTIONS]",
        {"timeout": "str", "forceStop": "bool", "keepActive": "bool", "skiplock": "bool"},
    ),
    "reboot": ("qm reboot <vmid> [OPTIONS]", {"timeout": "str"}),
    "snapshot": ("qm snapshot <vmid> <snapname> [OPTIONS]", {"description": "str", "vmstate": "bool"}),
    "listsnapshot": ("qm listsnapshot <vmid>", {}),
    "rollback": ("qm rollback <vmid> <snapname> [OPTIONS]", {"start": "bool"}),
    "delsnapshot": ("qm delsnapshot <vmid> <snapname> [OPTIONS]", {"force": "bool"}),
    "list": ("qm list [OPTIONS]", {"full": "bool"}),
    "destroy": (
        "qm destroy <vmid> [OPTIONS]",
        {"purge": "bool", "skiplock": "bool", "destroy-unreferenced-disks": "bool"},
    ),
}

# Options qm create / qm set accept: the VM config keys (an unknown one fails like qm's option parser).
_VM_KEY = (
    r"^(name|memory|balloon|shares|cores|sockets|vcpus|cpu|cpulimit|cpuunits|affinity|numa|ostype|machine|bios"
    r"|scsihw|boot|bootdisk|agent|onboot|startup|tags|description|protection|smbios1|vga|tablet|kvm|acpi|hotplug"
    r"|localtime|keyboard|args|hookscript|watchdog|rng0|audio0|cdrom|efidisk0|tpmstate0|vmgenid|meta|ciuser"
    r"|cipassword|citype|ipconfig\d+|nameserver|searchdomain|sshkeys|template|freeze|migrate_downtime"
    r"|(scsi|virtio|sata|ide|net|serial|usb|hostpci|numa|unused|parallel|virtiofs)\d+)$"
)


def _vm_lookup(state: State, host: str, vmid_text: str) -> tuple[State | None, str]:
    vms = state["pve"]["hosts"][host]["vms"]
    vm = vms.get(vmid_text)
    if vm is None:
        return None, f"Configuration file 'nodes/{host}/qemu-server/{vmid_text}.conf' does not exist\n"
    return vm, ""


def _find_vm_anywhere(state: State, vmid_text: str) -> str | None:
    for name, host in state["pve"]["hosts"].items():
        if vmid_text in host["vms"]:
            return str(name)
    return None


def _vm_fault(state: State, name: str, vmid: str, vm: State) -> bool:
    return any(f.get("target") in (None, vmid, vm.get("name")) for f in _faults(state, name))


def _start(vm: State, state: State) -> None:
    vm["status"] = "running"
    vm["boots"] = int(vm.get("boots") or 0) + 1
    vm["started_at"] = sim_now(state)


def _qm(args: Sequence[str], host: str, state: State) -> Outcome:
    if not args:
        return PVE_FAIL, "", "ERROR: no command specified\nUSAGE: qm <COMMAND> [ARGS] [OPTIONS]\n"
    command, rest = args[0], args[1:]
    if command in ("create", "set"):
        return _qm_create_set(command, rest, host, state)
    if command not in _QM_COMMANDS:
        return PVE_FAIL, "", f"ERROR: unknown command 'qm {command}'\nUSAGE: qm <COMMAND> [ARGS] [OPTIONS]\n"
    usage, spec = _QM_COMMANDS[command]
    try:
        positionals, options = _parse(rest, spec, usage)
    except _Usage as exc:
        return PVE_FAIL, "", str(exc)
    if command == "list":
        return 0, _qm_list(state["pve"]["hosts"][host]["vms"]), ""
    needed = usage.count("<")
    if len(positionals) != needed:
        return PVE_FAIL, "", f"400 wrong number of arguments\n{usage}\n"
    vmid = positionals[0]
    if not vmid.isdigit():
        return PVE_FAIL, "", f"400 Parameter verification failed.\nvmid: type check ('integer') failed - got '{vmid}'\n"
    vm, missing = _vm_lookup(state, host, vmid)
    if vm is None:
        return PVE_FAIL, "", missing
    mutating = command not in ("status", "config", "listsnapshot")
    if mutating and not _quorate(state):
        return PVE_FAIL, "", "cluster not ready - no quorum?\n"
    status = vm["status"]
    resource = _ha_resource(state, vmid)
    if resource is not None and command in ("start", "stop", "shutdown") and resource.get("state") != "ignored":
        return _qm_ha(command, vmid, options, state)
    if command == "status":
        return 0, f"status: {status}\n", ""
    if command == "config":
        config = vm["config"]
        if "snapshot" in options:
            snap = next((s for s in vm["snapshots"] if s["name"] == options["snapshot"]), None)
            if snap is None:
                return PVE_FAIL, "", f"snapshot '{options['snapshot']}' does not exist\n"
            config = snap.get("config") or config
        return (
            0,
            "".join(f"{k}: {_encode_text(v) if k == 'description' else v}\n" for k, v in sorted(config.items())),
            "",
        )
    if command == "start":
        if status == "running":
            return PVE_FAIL, "", f"VM {vmid} already running\n"
        _start(vm, state)
        return 0, "", ""
    if command == "stop":
        vm["status"] = "stopped"
        return 0, "", ""
    if command == "shutdown":
        if status == "stopped":
            return 0, "", ""
        force = options.get("forceStop") == "1"
        if status == "paused" and not force:
            return PVE_FAIL, "", "VM is paused - cannot shutdown\n"
        if _vm_fault(state, "vm-shutdown-hangs", vmid, vm) and not force:
            return PVE_FAIL, "", "VM quit/powerdown failed - got timeout\n"
        vm["status"] = "stopped"
        return 0, "", ""
    if command == "reboot":
        if status != "running":
            return PVE_FAIL, "", f"VM {vmid} not running\n"
        _start(vm, state)
        return 0, "", ""
    if command == "listsnapshot":
        return 0, _listsnapshot(vm), ""
    if command == "destroy":
        if resource is not None and options.get("purge") != "1":
            # qemu-server API2/Qemu.pm destroy_vm's early checks (service_is_configured: ignored ones too)
            return PVE_FAIL, "", f"unable to remove VM {vmid} - used in HA resources and purge parameter not set.\n"
        return _qm_destroy(vmid, vm, options, host, state)
    if command == "snapshot":
        name = positionals[1]
        if not re.match(_CONFIGID, name) or name == "current":
            return (
                PVE_FAIL,
                "",
                f"400 Parameter verification failed.\nsnapname: invalid format - invalid configuration ID '{name}'\n",
            )
        if any(s["name"] == name for s in vm["snapshots"]):
            return PVE_FAIL, "", f"snapshot name '{name}' already used\n"
        parent = vm.get("parent")
        vm["snapshots"].append(
            {
                "name": name,
                "description": options.get("description", ""),
                "snaptime": int(sim_now(state)),
                "vmstate": 1 if options.get("vmstate") == "1" else 0,
                "parent": parent,
                "config": dict(vm["config"]),
            }
        )
        vm["parent"] = name
        return 0, "", ""
    name = positionals[1]
    snap = next((s for s in vm["snapshots"] if s["name"] == name), None)
    if snap is None:
        return PVE_FAIL, "", f"snapshot '{name}' does not exist\n"
    if command == "rollback":
        vm["config"] = dict(snap.get("config") or vm["config"])
        vm["parent"] = name
        if snap.get("vmstate") or options.get("start") == "1":
            _start(vm, state)
        else:
            vm["status"] = "stopped"
        return 0, "", ""
    # delsnapshot
    vm["snapshots"] = [s for s in vm["snapshots"] if s["name"] != name]
    for other in vm["snapshots"]:
        if other.get("parent") == name:
            other["parent"] = snap.get("parent")
    if vm.get("parent") == name:
        vm["parent"] = snap.get("parent")
    return 0, "", ""


_DISK_KEY = r"^(scsi|virtio|sata|ide|efidisk|tpmstate|unused)\d+$"


# -- Proxmox HA (pve-ha-manager) ----------------------------------------------------------------------
# Source: proxmox/pve-ha-manager src/PVE/CLI/ha_manager.pm, API2/HA/Resources.pm, HA/Config.pm, HA/Manager.pm;
# qemu-server src/PVE/API2/Qemu.pm (vm_start 3631-3642, vm_stop 3747-3768, vm_shutdown 3932-3945).

_HA_STATES = ("started", "stopped", "enabled", "disabled", "ignored")
_HA_OPTIONS = {"state": "str", "group": "str", "max_restart": "str", "max_relocate": "str", "comment": "str"}
_HA_OPTIONS.update({"failback": "str", "type": "str", "digest": "str", "delete": "str"})


def _ha(state: State) -> State:
    ha: State = state["pve"].setdefault("ha", {})
    ha.setdefault("resources", {})
    return ha


def _ha_resource(state: State, vmid: str) -> State | None:
    resources = (state.get("pve") or {}).get("ha", {}).get("resources", {})
    found: State | None = resources.get(f"vm:{vmid}")
    return found


def _ha_request(state: State, sid: str, wanted: str) -> None:
    resource = _ha(state)["resources"][sid]
    resource["state"] = wanted
    resource["_since"] = sim_now(state)


def settle_ha(state: State) -> None:
    """What the HA stack has done by now: HA_SETTLE seconds after a state was requested, the VM of a
    ``started`` resource runs and that of a ``stopped``/``disabled`` one is stopped (CRM + LRM rounds)."""
    resources = (state.get("pve") or {}).get("ha", {}).get("resources", {})
    now = sim_now(state)
    for sid, resource in resources.items():
        wanted = {"started": "running", "enabled": "running", "stopped": "stopped", "disabled": "stopped"}
        target = wanted.get(str(resource.get("state", "started")))
        host = _find_vm_anywhere(state, sid.split(":", 1)[1])
        if target is None or host is None or host_is_down(state, host):
            continue
        vm = state["pve"]["hosts"][host]["vms"][sid.split(":", 1)[1]]
        if vm["status"] == target or now - float(resource.get("_since") or 0.0) < HA_SETTLE:
            continue
        if target == "running":
            _start(vm, state)
            vm["started_at"] = float(resource.get("_since") or now) + HA_SETTLE  # when the LRM started it
        else:
            vm["status"] = "stopped"


def _ha_state_text(state: State, sid: str, resource: State) -> str:
    """The CRM's service state (``hastate`` in /cluster/resources): request_stop until the VM stopped."""
    wanted = str(resource.get("state", "started"))
    host = _find_vm_anywhere(state, sid.split(":", 1)[1])
    status = state["pve"]["hosts"][host]["vms"][sid.split(":", 1)[1]]["status"] if host else "stopped"
    if wanted in ("stopped", "disabled") and status == "running":
        return "request_stop"
    if wanted in ("started", "enabled") and status != "running":
        return "starting"
    return {"enabled": "started"}.get(wanted, wanted)


def _qm_ha(command: str, vmid: str, options: dict[str, str], state: State) -> Outcome:
    """qm start/stop/shutdown of an HA-managed VM: a request to the HA stack, never the act itself."""
    if command == "stop" and options.get("overrule-shutdown") == "1":
        why = "overrule-shutdown: Not applicable for HA resources."
        return PVE_FAIL, "", f"400 Parameter verification failed.\n{why}\nqm stop <vmid> [OPTIONS]\n"
    sid = f"vm:{vmid}"
    if command == "start":
        _ha_request(state, sid, "started")  # `ha-manager set vm:<id> --state started`
        return 0, f"Requesting HA start for VM {vmid}\n", ""
    # `ha-manager crm-command stop vm:<id> <timeout>`: the CRM sets the resource's state to stopped
    _ha_request(state, sid, "stopped")
    return 0, f"Requesting HA stop for VM {vmid}\n", ""


def _ha_sid(text: str, state: State) -> tuple[str | None, str]:
    if text.isdigit():
        if _find_vm_anywhere(state, text) is None:
            return None, f"unable to detect SID from VMID - VM/CT {text} does not exist\n"
        return f"vm:{text}", ""
    if re.match(r"^\S+:\S+$", text):
        return text, ""
    return None, f"unable to parse service id '{text}'\n"


def _ha_manager(args: Sequence[str], host: str, state: State) -> Outcome:
    usage = "USAGE: ha-manager <COMMAND> [ARGS] [OPTIONS]"
    if not args:
        return PVE_FAIL, "", f"ERROR: no command specified\n{usage}\n"
    command, rest = args[0], list(args[1:])
    resources: State = _ha(state)["resources"]
    if command == "status":
        lines = ["quorum OK" if _quorate(state) else f"quorum No quorum on node '{host}'!"]
        for sid in sorted(resources):
            where = _find_vm_anywhere(state, sid.split(":", 1)[1]) or host
            lines.append(f"service {sid} ({where}, {_ha_state_text(state, sid, resources[sid])})")
        return 0, "\n".join(lines) + "\n", ""
    if command == "config":
        out = []
        for sid in sorted(resources):
            kind, name = sid.split(":", 1)
            out.append(f"{kind}:{name}")
            out += [f"\t{k} {v}" for k, v in sorted(resources[sid].items()) if not k.startswith("_")]
            out.append("")
        return 0, "".join(line + "\n" for line in out), ""
    if command == "crm-command":
        if rest[:1] != ["stop"] or len(rest) != 3:
            return PVE_FAIL, "", "400 wrong number of arguments\nha-manager crm-command stop <sid> <timeout>\n"
        found, error = _ha_sid(rest[1], state)
        if found is None:
            return PVE_FAIL, "", error
        sid = found
        resource = resources.get(sid)
        if resource is None or resource.get("state") == "ignored":
            return PVE_FAIL, "", f"resource '{sid}' is not HA managed\n"
        _ha_request(state, sid, "stopped")
        return 0, "", ""
    if command not in ("add", "set", "remove"):
        return PVE_FAIL, "", f"ERROR: unknown command 'ha-manager {command}'\n{usage}\n"
    syntax = f"ha-manager {command} <sid> [OPTIONS]"
    try:
        positionals, options = _parse(rest, _HA_OPTIONS if command != "remove" else {"purge": "bool"}, syntax)
    except _Usage as exc:
        return PVE_FAIL, "", str(exc)
    if len(positionals) != 1:
        return PVE_FAIL, "", f"400 wrong number of arguments\n{syntax}\n"
    wanted = options.get("state")
    if wanted is not None and wanted not in _HA_STATES:
        return PVE_FAIL, "", _enum_error("state", wanted, ", ".join(_HA_STATES)) + syntax + "\n"
    if not _quorate(state):
        return PVE_FAIL, "", "cluster not ready - no quorum?\n"
    found, error = _ha_sid(positionals[0], state)
    if found is None:
        return PVE_FAIL, "", error
    sid = found
    settings = {k: v for k, v in options.items() if k not in ("type", "digest", "delete")}
    if command == "remove":
        if sid not in resources:
            return PVE_FAIL, "", f"cannot delete service '{sid}', not HA managed!\n"
        del resources[sid]
        return 0, "", ""
    if command == "add":
        if _find_vm_anywhere(state, sid.split(":", 1)[1]) is None:
            return PVE_FAIL, "", f"resource '{sid}' does not exist in cluster\n"
        if sid in resources:
            return PVE_FAIL, "", f"create resource failed: resource ID '{sid}' already defined\n"
        resources[sid] = {"state": "started", **settings, "_since": sim_now(state)}
        return 0, "", ""
    if sid not in resources:
        return PVE_FAIL, "", f"update resources config failed: no such resource '{sid}'\n"
    resource = resources[sid]
    for key in [k for k in options.get("delete", "").split(",") if k]:
        resource.pop(key, None)
    resource.update({k: v for k, v in settings.items() if k != "state"})
    if wanted is not None and wanted != resource.get("state"):
        _ha_request(state, sid, wanted)
    return 0, "", ""


def _encode_text(text: str) -> str:
    """pve-common Tools.pm encode_text, as qm config prints a description: control, non-ASCII and ':' as %XX."""
    out = []
    for byte in text.encode("utf-8"):
        out.append(chr(byte) if 0x20 <= byte <= 0x7E and byte != 0x3A else f"%{byte:02X}")
    return "".join(out)


def _drive_order(key: str) -> tuple[int, int, str]:
    """qemu-server's valid_drive_names order: ide, sata, scsi, virtio, then efidisk0 and tpmstate0."""
    match = re.match(r"^(ide|sata|scsi|virtio|efidisk|tpmstate|unused)(\d+)$", key)
    if match is None:
        return (99, 0, key)
    families = ("ide", "sata", "scsi", "virtio", "efidisk", "tpmstate", "unused")
    return (families.index(match.group(1)), int(match.group(2)), key)


def _qm_destroy(vmid: str, vm: State, options: dict[str, str], host: str, state: State) -> Outcome:
    """``qm destroy`` as qemu-server's ``destroy_vm``: refused while the VM runs (or is paused, which
    is a running QEMU too) or is protected; removes the VM, its disks and snapshots; ``--purge``
    also drops it from backup/replication/HA configuration and says so.
    """
    if vm["status"] != "stopped":
        return PVE_FAIL, "", f"VM {vmid} is running - destroy failed\n"
    if vm["config"].get("protection") == "1":
        return PVE_FAIL, "", f"can't remove VM {vmid} - protection mode enabled\n"
    out = []
    for key, value in sorted(vm["config"].items(), key=lambda kv: _drive_order(kv[0])):
        volume = re.match(r"^[\w-]+:(vm-\d+-disk-\d+)", value)
        if re.match(_DISK_KEY, key) and volume and "media=cdrom" not in value:
            out.append(f'  Logical volume "{volume.group(1)}" successfully removed.')
    if options.get("purge") == "1":
        out.append(f"purging VM {vmid} from related configurations..")
        state["pve"].setdefault("ha", {}).setdefault("resources", {}).pop(f"vm:{vmid}", None)
    del state["pve"]["hosts"][host]["vms"][vmid]
    for node in (state.get("nodes") or {}).values():
        ref = node.get("vm") or {}
        if ref.get("host") == host and str(ref.get("vmid")) == vmid:
            # Its disk is gone: the next VM with this vmid boots blank, and the sim engine sees the
            # power cycle even when destroy, create and start all happen between two of its looks.
            node["disk_blank"] = True
            node["vm_boots"] = -1
    return 0, "".join(line + "\n" for line in out), ""


def _qm_create_set(command: str, rest: Sequence[str], host: str, state: State) -> Outcome:
    usage = f"qm {command} <vmid> [OPTIONS]"
    keys = {item.lstrip("-").partition("=")[0] for item in rest if item.startswith("-")}
    spec = {key: "str" for key in keys if re.match(_VM_KEY, key)}
    spec.update({"delete": "str", "start": "bool"})
    try:
        positionals, options = _parse(rest, spec, usage)
    except _Usage as exc:
        return PVE_FAIL, "", str(exc)
    if len(positionals) != 1 or not positionals[0].isdigit():
        return PVE_FAIL, "", f"400 wrong number of arguments\n{usage}\n"
    vmid = positionals[0]
    if not _quorate(state):
        return PVE_FAIL, "", "cluster not ready - no quorum?\n"
    if "cdrom" in options:
        options["ide2"] = f"{options.pop('cdrom')},media=cdrom"
    vms = state["pve"]["hosts"][host]["vms"]
    if command == "create":
        where = _find_vm_anywhere(state, vmid)
        if where is not None:
            return PVE_FAIL, "", f"unable to create VM {vmid} - VM {vmid} already exists on node '{where}'\n"
        start = options.pop("start", "0") == "1"
        options.pop("delete", None)
        config: State = {}
        for key, value in options.items():
            config[key] = _net(key, _allocate_disk(key, value, vmid, config), vmid)
        # qemu-server create_vm: a new VM gets a generated vmgenid and creation meta unless given
        created = int(sim_now(state))
        config.setdefault("vmgenid", f"00000000-0000-4000-9000-{created % 10**12:012d}")
        config.setdefault("meta", f"creation-qemu=9.0.2,ctime={created}")
        vms[vmid] = {"name": config.get("name", f"VM{vmid}"), "status": "stopped", "snapshots": [], "config": config}
        vms[vmid]["boots"] = 0
        vms[vmid]["started_at"] = None
        if start:
            _start(vms[vmid], state)
        return 0, "", ""
    vm, missing = _vm_lookup(state, host, vmid)
    if vm is None:
        return PVE_FAIL, "", missing
    for key in [k for k in options.pop("delete", "").replace(";", ",").split(",") if k]:
        vm["config"].pop(key, None)
    options.pop("start", None)
    for key, value in options.items():
        vm["config"][key] = _net(key, _allocate_disk(key, value, vmid, vm["config"]), vmid)
    vm["name"] = vm["config"].get("name", vm["name"])
    return 0, "", ""


def _net(key: str, value: str, vmid: str) -> str:
    """``virtio,bridge=vmbr0,macaddr=X`` is stored as Proxmox prints it: ``virtio=X,bridge=vmbr0``
    (without a macaddr Proxmox generates one; the sim's is derived from the vmid)."""
    if not re.match(r"^net\d+$", key):
        return value
    parts = value.split(",")
    model, _, mac = parts[0].partition("=")
    rest = [p for p in parts[1:] if not p.startswith("macaddr=")]
    given = [p.split("=", 1)[1] for p in parts[1:] if p.startswith("macaddr=")]
    mac = (given[0] if given else mac or _mac(int(vmid))).upper()
    return ",".join([f"{model}={mac}", *rest])


def _allocate_disk(key: str, value: str, vmid: str, config: State | None = None) -> str:
    """``local-lvm:64,iothread=1`` (allocate 64 GiB) becomes a volume reference, as qm create does: the next
    free ``vm-<id>-disk-<n>``, options printed sorted (pve-common print_property_string); EFI vars 4M/528K."""
    match = re.match(r"^([\w-]+):(\d+(?:\.\d+)?)(,.*)?$", value)
    if not (re.match(r"^(scsi|virtio|sata|ide|efidisk|tpmstate)\d+$", key) and match):
        return value
    storage, size, extra = match.groups()
    options: dict[str, str] = {}
    for part in (extra or "").split(","):
        if part:
            name, _, setting = part.partition("=")
            options[name] = setting
    if key.startswith("efidisk"):
        options["size"] = "528K" if options.get("efitype") == "2m" else "4M"
    elif key.startswith("tpmstate"):
        options["size"] = "4M"
    else:
        gib = float(size)
        options["size"] = f"{int(gib)}G" if gib == int(gib) else f"{int(gib * 1024)}M"
    used = {int(n) for n in re.findall(rf"vm-{vmid}-disk-(\d+)", " ".join((config or {}).values()))}
    number = next(i for i in range(len(used) + 1) if i not in used)
    rendered = [f"{k}={v}" if v else k for k, v in sorted(options.items())]
    return ",".join([f"{storage}:vm-{vmid}-disk-{number}", *rendered])


def _qm_list(vms: State) -> str:
    if not vms:
        return ""
    lines = [f"{'VMID':>10} {'NAME':<20} {'STATUS':<10} {'MEM(MB)':<10} {'BOOTDISK(GB)':>12} {'PID':<10}"]
    for vmid in sorted(vms, key=int):
        vm = vms[vmid]
        size = re.search(r"size=(\d+)G", vm["config"].get("scsi0", ""))
        pid = str(1000 + int(vmid)) if vm["status"] == "running" else "0"
        mem = vm["config"].get("memory", "512")
        disk = float(size.group(1)) if size else 0.0
        lines.append(f"{vmid:>10} {vm['name']:<20} {vm['status']:<10} {mem:<10} {disk:>12.2f} {pid:<10}")
    return "\n".join(lines) + "\n"


def _listsnapshot(vm: State) -> str:
    """The tree ``qm listsnapshot`` prints: each snapshot under its parent, ``current`` last."""
    snaps = vm["snapshots"]
    children: dict[str | None, list[State]] = {}
    for snap in snaps:
        children.setdefault(snap.get("parent"), []).append(snap)
    lines: list[str] = []

    def walk(parent: str | None, indent: int) -> None:
        for snap in children.get(parent, []):
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(snap["snaptime"]))
            description = (snap.get("description") or "").split("\n")[0]
            lines.append(f"{' ' * indent}`-> {snap['name']:<20} {stamp:<23} {description}".rstrip())
            walk(snap["name"], indent + 1)
        if parent == vm.get("parent"):
            lines.append(f"{' ' * indent}`-> {'current':<20} {'':<23} You are here!")

    walk(None, 0)
    return "\n".join(lines) + "\n"


# -- pvecm / pvesh -----------------------------------------------------------------------------------


def _pvecm(args: Sequence[str], host: str, state: State) -> Outcome:
    if list(args) != ["status"]:
        return (
            PVE_FAIL,
            "",
            f"ERROR: unknown command 'pvecm {' '.join(args)}'\nUSAGE: pvecm <COMMAND> [ARGS] [OPTIONS]\n",
        )
    pve = state["pve"]
    hosts = pve["hosts"]
    up = [name for name in hosts if not host_is_down(state, name)]
    quorate = _quorate(state)
    expected = len(hosts)
    quorum = expected // 2 + 1
    local_id = hosts[host].get("node_id", 1)
    stamp = time.strftime("%a %b %e %H:%M:%S %Y", time.gmtime(sim_now(state)))
    out = [
        "Cluster information",
        "-------------------",
        f"{'Name:':<17} {pve['cluster'].get('name', 'pve-cluster')}",
        f"{'Config Version:':<17} {pve['cluster'].get('config_version', 3)}",
        f"{'Transport:':<17} knet",
        f"{'Secure auth:':<17} on",
        "",
        "Quorum information",
        "------------------",
        f"{'Date:':<17} {stamp}",
        f"{'Quorum provider:':<17} corosync_votequorum",
        f"{'Nodes:':<17} {len(up)}",
        f"{'Node ID:':<17} 0x{local_id:08x}",
        f"{'Ring ID:':<17} 1.5c",
        f"{'Quorate:':<17} {'Yes' if quorate else 'No'}",
        "",
        "Votequorum information",
        "----------------------",
        f"{'Expected votes:':<17} {expected}",
        f"{'Highest expected:':<17} {expected}",
        f"{'Total votes:':<17} {len(up)}",
        f"{'Quorum:':<17} {quorum} {'' if quorate else 'Activity blocked'}",
        f"{'Flags:':<17} {'Quorate' if quorate else ''} ",
        "",
        "Membership information",
        "----------------------",
        "    Nodeid      Votes Name",
    ]
    for name in up:
        local = " (local)" if name == host else ""
        address = hosts[name].get("address") or name
        out.append(f"0x{hosts[name].get('node_id', 1):08x}          1 {address}{local}")
    return (0 if quorate else 2), "\n".join(out) + "\n", ""


def _pvesh(args: Sequence[str], host: str, state: State) -> Outcome:
    usage = "pvesh get <api_path> [OPTIONS] [FORMAT_OPTIONS]"
    if not args or args[0] != "get":
        return PVE_FAIL, "", f"ERROR: unknown command 'pvesh {' '.join(args[:1])}'\nUSAGE: {usage}\n"
    spec = {"type": "str", "output-format": "str", "noborder": "bool", "noheader": "bool", "human-readable": "bool"}
    spec["content"] = "str"
    try:
        positionals, options = _parse(args[1:], spec, usage)
    except _Usage as exc:
        return PVE_FAIL, "", str(exc)
    fmt = options.get("output-format", "text")
    if len(positionals) == 1 and positionals[0] != "/cluster/resources":
        rows = _pvesh_path(positionals[0].rstrip("/"), options, host, state)
        if isinstance(rows, tuple):
            return rows
        if fmt in ("json", "json-pretty"):
            return 0, json.dumps(rows, indent=3 if fmt == "json-pretty" else None, sort_keys=True) + "\n", ""
        return 0, "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows), ""
    if positionals != ["/cluster/resources"]:
        return PVE_FAIL, "", f"No '{'get'}' handler defined for '{' '.join(positionals)}'\n"
    kind = options.get("type")
    if kind not in (None, "vm", "storage", "node", "sdn"):
        return PVE_FAIL, "", _enum_error("type", str(kind), "vm, storage, node, sdn")
    fmt = options.get("output-format", "text")
    if fmt not in ("json", "json-pretty", "text", "yaml"):
        return PVE_FAIL, "", _enum_error("output-format", fmt, "text, json, json-pretty, yaml")
    entries: list[State] = []
    if kind in (None, "vm"):
        for node, pve_host in state["pve"]["hosts"].items():
            down = host_is_down(state, node)
            for vmid, vm in sorted(pve_host["vms"].items(), key=lambda kv: int(kv[0])):
                entries.append(_resource(node, int(vmid), vm, down, state))
    if fmt == "json":
        return 0, json.dumps(entries, separators=(",", ":"), sort_keys=True) + "\n", ""
    if fmt == "json-pretty":
        return 0, json.dumps(entries, indent=3, sort_keys=True) + "\n", ""
    lines = [f"{e['id']:<12} {e['type']:<6} {e['node']:<8} {e['name']:<20} {e['status']}" for e in entries]
    return 0, "\n".join(lines) + ("\n" if lines else ""), ""


def _pvesh_path(path: str, options: dict[str, str], host: str, state: State) -> list[State] | Outcome:
    """The other API paths homeops reads: HA resources (pve-ha-manager API2/HA/Resources.pm ``index``), the
    backup storages of a node and their vzdump backups (pve-storage API2/Storage/Status.pm, Content.pm)."""
    pve = state["pve"]
    if path == "/cluster/ha/resources":
        rows = []
        for sid, resource in sorted(_ha(state)["resources"].items()):
            row = {k: v for k, v in resource.items() if not k.startswith("_")}
            rows.append({"sid": sid, "type": sid.split(":", 1)[0], "digest": "0" * 40, **row})
        return rows
    match = re.match(r"^/nodes/([^/]+)/storage(?:/([^/]+)/content)?$", path)
    if match is None:
        return PVE_FAIL, "", f"No 'get' handler defined for '{path}'\n"
    node, storage = match.groups()
    if node not in pve["hosts"]:
        return PVE_FAIL, "", f"hostname lookup '{node}' failed - failed to get address info for: {node}\n"
    content = options.get("content")
    if storage is None:
        rows = [{"storage": "local", "type": "dir", "content": "iso,vztmpl", "active": 1, "enabled": 1, "shared": 0}]
        rows.append({"storage": "local-lvm", "type": "lvmthin", "content": "images,rootdir", "active": 1})
        rows[-1].update(enabled=1, shared=0)
        rows.append({"storage": BACKUP_STORAGE, "type": "pbs", "content": "backup", "active": 1, "enabled": 1})
        rows[-1]["shared"] = 1
        return [r for r in rows if content is None or content in str(r["content"]).split(",")]
    if storage not in ("local", "local-lvm", BACKUP_STORAGE):
        return PVE_FAIL, "", f"storage '{storage}' does not exist\n"
    if storage != BACKUP_STORAGE or content not in (None, "backup"):
        return []
    origin = float((state.get("clock") or {}).get("origin") or sim_now(state))
    rows = []
    for backup in pve.get("backups") or []:
        ctime = int(backup["ctime"]) if backup.get("ctime") is not None else int(origin - float(backup["age"]))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ctime))
        volid = f"{BACKUP_STORAGE}:backup/vm/{backup['vmid']}/{stamp}"
        row = {"volid": volid, "vmid": int(backup["vmid"]), "ctime": ctime, "size": int(backup.get("size") or 0)}
        row.update(content="backup", format="pbs-vm", subtype="qemu", protected=0, notes="")
        rows.append(row)
    return rows


def _enum_error(option: str, value: str, allowed: str) -> str:
    why = f"value '{value}' does not have a value in the enumeration '{allowed}'"
    return f"400 Parameter verification failed.\n{option}: {why}\n"


def _resource(node: str, vmid: int, vm: State, down: bool, state: State) -> State:
    memory = int(vm["config"].get("memory", "512")) * 1024 * 1024
    size = re.search(r"size=(\d+)G", vm["config"].get("scsi0", ""))
    status = "unknown" if down else vm["status"]
    running = status == "running"
    started = vm.get("started_at")
    uptime = int(max(0.0, sim_now(state) - started)) if running and started is not None else (3600 if running else 0)
    entry = {
        "id": f"qemu/{vmid}",
        "type": "qemu",
        "vmid": vmid,
        "node": node,
        "name": vm["name"],
        "status": status,
        "template": 0,
        "cpu": 0.012 if running else 0,
        "maxcpu": int(vm["config"].get("cores", "1")),
        "mem": memory // 2 if running else 0,
        "maxmem": memory,
        "disk": 0,
        "maxdisk": int(size.group(1)) * GIB if size else 0,
        "netin": 0,
        "netout": 0,
        "diskread": 0,
        "diskwrite": 0,
        "uptime": uptime,
    }
    resource = _ha_resource(state, str(vmid))
    if resource is not None:
        entry["hastate"] = _ha_state_text(state, f"vm:{vmid}", resource)
    return entry


# -- TrueNAS ---------------------------------------------------------------------------------------


def _pools(state: State) -> list[State]:
    nas = state["nas"]
    pools: list[State] = [dict(p) for p in nas.get("pools", [])]
    for fault in _faults(state, "nas-pool-degraded"):
        target = fault.get("target")
        for pool in pools:
            if target in (None, pool["name"]) and (target is not None or pool is pools[0]):
                pool.update(status="DEGRADED", healthy=False, warning=True, status_code="DEGRADED")
                pool["status_detail"] = "One or more devices could not be used because the label is missing or invalid."
    return pools


def _zpool(args: Sequence[str], host: str, state: State) -> Outcome:
    if not args or args[0] != "status":
        return 2, "", f"unrecognized command '{args[0] if args else ''}'\nusage: zpool command args ...\n"
    rest = list(args[1:])
    flags = [a for a in rest if a.startswith("-")]
    names = [a for a in rest if not a.startswith("-")]
    if any(f not in ("-x", "-v", "-p", "-P") for f in flags):
        return 2, "", f"invalid option '{flags[0].lstrip('-')[:1]}'\nusage:\n\tstatus [-x] [pool] ...\n"
    pools = _pools(state)
    for name in names:
        if all(p["name"] != name for p in pools):
            return 1, "", f"cannot open '{name}': no such pool\n"
    chosen = [p for p in pools if not names or p["name"] in names]
    if not chosen:
        return 1, "", "no pools available\n"
    if "-x" in flags:
        sick = [p for p in chosen if not p["healthy"]]
        if not sick:
            text = f"pool '{names[0]}' is healthy\n" if len(names) == 1 else "all pools are healthy\n"
            return 0, text, ""
        chosen = sick
    return 0, "\n".join(_zpool_status(p) for p in chosen), ""


def _zpool_status(pool: State) -> str:
    disks = pool.get("disks") or ["sda", "sdb"]
    healthy = pool["healthy"]
    lines = [f"  pool: {pool['name']}", f" state: {pool['status']}"]
    if not healthy:
        lines += [
            "status: One or more devices could not be used because the label is missing or",
            "\tinvalid.  Sufficient replicas exist for the pool to continue",
            "\tfunctioning in a degraded state.",
            "action: Replace the device using 'zpool replace'.",
            "   see: https://openzfs.github.io/openzfs-docs/msg/ZFS-8000-4J",
        ]
    lines += [
        "  scan: scrub repaired 0B in 00:10:02 with 0 errors on Sun Sep  1 00:10:03 2025",
        "config:",
        "",
        "\tNAME        STATE     READ WRITE CKSUM",
        f"\t{pool['name']:<11} {pool['status']:<8}     0     0     0",
        f"\t  mirror-0  {pool['status']:<8}     0     0     0",
    ]
    for index, disk in enumerate(disks):
        state = "UNAVAIL" if not healthy and index == len(disks) - 1 else "ONLINE"
        lines.append(f"\t    {disk:<7} {state:<8}     0     0     0")
    lines += ["", "errors: No known data errors", ""]
    return "\n".join(lines)


def _midclt_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _filter(rows: list[State], filters: Any, options: Any, what: str) -> Outcome | Any:
    if not isinstance(filters, list):
        filters = []
    ops: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: bool(a == b),
        "!=": lambda a, b: bool(a != b),
        "^": lambda a, b: isinstance(a, str) and a.startswith(b),
        "in": lambda a, b: a in b,
    }
    out = []
    for row in rows:
        if all(ops.get(op, ops["="])(row.get(field), value) for field, op, value in filters):
            out.append(row)
    if isinstance(options, dict) and options.get("get"):
        if not out:
            trace = "Traceback (most recent call last):\n  ...\nmiddlewared.service_exception.MatchNotFound\n"
            return 1, "", f"[ENOENT] {what} not found\n{trace}"
        return out[0]
    return out


def _midclt_print(value: Any) -> str:
    # midclt prints str/int results raw — so a bool, an int subclass, prints as True/False — and
    # everything else as one line of JSON.
    if isinstance(value, str | int):
        return f"{value}\n"
    return json.dumps(value) + "\n"


def _midclt(args: Sequence[str], host: str, state: State) -> Outcome:
    items = [a for a in args if a not in ("-q", "-j")]
    if not items or items[0] != "call" or len(items) < 2:
        return 2, "", "usage: midclt [-h] [-q] [-u URI] ... {call,ping,subscribe,waitready,sql} ...\n"
    method, params = items[1], [_midclt_arg(a) for a in items[2:]]
    filters = params[0] if params else []
    options = params[1] if len(params) > 1 else {}
    nas = state["nas"]
    nfs = dict(nas["services"]["nfs"])
    if _faults(state, "nfs-stopped"):
        nfs.update(state="STOPPED", pids=[])
    value: Any
    if method == "pool.query":
        value = _filter(_pools(state), filters, options, "pool")
    elif method == "pool.dataset.query":
        rows = [_dataset_entry(d, _pools(state)) for d in nas.get("datasets", [])]
        value = _filter(rows, filters, options, "dataset")
    elif method == "service.query":
        rows = [dict(nfs)]
        value = _filter(rows, filters, options, "service")
    elif method == "service.started":
        if params != ["nfs"]:
            return 1, "", f"[ENOENT] service {params[0] if params else ''!s} not found\n"
        value = nfs["state"] == "RUNNING"
    elif method == "sharing.nfs.query":
        value = _filter([dict(e) for e in nas.get("exports", [])], filters, options, "share")
    elif method == "system.info":
        value = {"hostname": nas.get("hostname", "nas"), "version": "TrueNAS-SCALE-24.10.2"}
    else:
        return 1, "", f"[ENOMETHOD] Method {method!r} not found\n"
    if isinstance(value, tuple):
        code, out, err = value
        return int(code), str(out), str(err)
    return 0, _midclt_print(value), ""


def _dataset_entry(dataset: State, pools: list[State]) -> State:
    pool = next((p for p in pools if p["name"] == dataset["pool"]), None)
    free = int(pool["free"]) if pool else 0
    used = int(dataset.get("used", 0))

    def prop(value: int) -> State:
        return {"parsed": value, "rawvalue": str(value), "value": _human(value), "source": "NONE"}

    return {
        "id": dataset["id"],
        "name": dataset["name"],
        "pool": dataset["pool"],
        "type": dataset.get("type", "FILESYSTEM"),
        "mountpoint": dataset.get("mountpoint"),
        "available": prop(free),
        "used": prop(used),
    }


def _human(value: int) -> str:
    size = float(value)
    for unit in ("B", "K", "M", "G", "T", "P"):
        if size < 1024 or unit == "P":
            return f"{size:.3g}{unit}" if unit != "B" else f"{int(size)}B"
        size /= 1024
    return f"{value}B"


def _showmount(args: Sequence[str], host: str, state: State) -> Outcome:
    rest = list(args)
    if not rest or rest[0] not in ("-e", "--exports"):
        usage = "Usage: showmount [-adehv]\n       [--all] [--directories] [--exports]\n"
        return 1, "", usage + "       [--no-headers] [--help] [--version] [host]\n"
    target = rest[1] if len(rest) > 1 else "localhost"
    if _faults(state, "nfs-stopped") or state["nas"]["services"]["nfs"]["state"] != "RUNNING":
        return 1, "", "clnt_create: RPC: Program not registered\n"
    exports = [e for e in state["nas"].get("exports", []) if e.get("enabled", True)]
    width = max((len(e["path"]) for e in exports), default=0)
    lines = [f"Export list for {target}:"]
    for export in exports:
        clients = ",".join([*export.get("networks", []), *export.get("hosts", [])]) or "(everyone)"
        lines.append(f"{export['path']:<{width}} {clients}")
    return 0, "\n".join(lines) + "\n", ""


# -- dispatch ---------------------------------------------------------------------------------------

_TOOLS: dict[str, Callable[[Sequence[str], str, State], Outcome]] = {
    "qm": _qm,
    "pvecm": _pvecm,
    "pvesh": _pvesh,
    "ha-manager": _ha_manager,
    "zpool": _zpool,
    "midclt": _midclt,
    "showmount": _showmount,
}

_FAIL_CODES = {
    "qm": PVE_FAIL,
    "pvesh": PVE_FAIL,
    "ha-manager": PVE_FAIL,
    "pvecm": 1,
    "zpool": 1,
    "midclt": 1,
    "showmount": 1,
}


def run_tool(tool: str, args: Sequence[str], host: str, state: State) -> Outcome:
    """One shim call on ``host``: changes ``state`` in place, returns ``(exit, stdout, stderr)``."""
    if tool not in _TOOLS:
        return 127, "", f"sh: 1: {tool}: not found\n"
    pve_tool = tool in ("qm", "pvecm", "pvesh", "ha-manager")
    if host_is_down(state, host):
        # Only reachable in a container whose host the sim marked down: answer like a dead ssh.
        return 255, "", f"ssh: connect to host {host} port 22: No route to host\n"
    if pve_tool and host not in (state.get("pve") or {}).get("hosts", {}):
        return 127, "", f"sh: 1: {tool}: not found\n"
    if not pve_tool and tool != "showmount" and state.get("nas", {}).get("hostname") not in (None, host):
        return 127, "", f"sh: 1: {tool}: not found\n"
    if _take_command_failure(state, tool, args, host):
        if tool == "midclt":
            return 1, "", "Failed to run middleware call. Daemon not running?\n"
        return _FAIL_CODES[tool], "", f"{tool}: simulated failure (fault command-fails)\n"
    if pve_tool and state.get("pve"):
        settle_ha(state)
    return _TOOLS[tool](list(args), host, state)


def shim_host() -> str:
    name = os.environ.get(SIM_HOST_ENV)
    if name:
        return name
    try:
        with open(HOST_FILE, encoding="utf-8") as fh:
            return fh.read().strip()
    except OSError:
        return "localhost"


def shim_sim_dir() -> str:
    return os.environ.get(SIM_DIR_ENV) or STATE_MOUNT


# qm subcommands that only look; every pvecm/pvesh/zpool/midclt/showmount call only looks.
_QM_LOOKS = frozenset({"status", "config", "listsnapshot", "list"})
_HA_LOOKS = frozenset({"status", "config"})


def only_looks(tool: str, argv: Sequence[str]) -> bool:
    """True when the call cannot change the state (unless a ``command-fails`` fault fires)."""
    if tool == "qm":
        return bool(argv) and argv[0] in _QM_LOOKS
    if tool == "ha-manager":
        return bool(argv) and argv[0] in _HA_LOOKS
    return tool in TOOLS


def execute(tool: str, argv: Sequence[str], host: str, store: Any) -> Outcome:
    """One shim call on ``store`` (a ``SimStore``), logged to its command log.

    A call that only looks runs on a shared-lock snapshot and writes nothing but its log line, so
    status looks on several hosts run side by side; anything else is a transaction.
    """
    if only_looks(tool, argv):
        with store.snapshot() as state:
            if not _faults(state, "command-fails"):
                code, out, err = run_tool(tool, argv, host, state)
                state["log"].append(_log_entry(state, tool, argv, code, host))
                return code, out, err
    with store.transaction() as state:
        code, out, err = run_tool(tool, argv, host, state)
        state["log"].append(_log_entry(state, tool, argv, code, host))
    return code, out, err


def _log_entry(state: State, tool: str, argv: Sequence[str], code: int, host: str) -> State:
    return {"t": sim_now(state), "tool": tool, "argv": [tool, *argv], "exit": code, "host": host}


def shim_main(tool: str, argv: Sequence[str]) -> int:
    """Entry point of ``hostbin/<tool>``."""
    store_mod = _store_module()
    try:
        code, out, err = execute(tool, argv, shim_host(), store_mod.SimStore(shim_sim_dir()))
    except store_mod.SimNotRunning as exc:
        sys.stderr.write(f"{tool}: {exc}\n")
        return 1
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code


def _store_module() -> Any:
    if __package__:  # imported as homeops.sim.hosts (tests, in-process runners)
        from homeops.sim import store

        return store
    # A shim: hostbin/<tool> put this directory on sys.path (appended, so a sim module never shadows
    # a stdlib one); in a container only this directory is mounted, not the homeops package.
    return __import__("store")


def local_host_runner(host_name: str, sim_dir: str | os.PathLike[str], *, in_process: bool = False) -> Any:
    """A ``Runner`` that runs the shims locally, as if over SSH to ``host_name`` (no Docker needed).

    By default each command runs the shim executable (the same argv, streams and exit codes as over
    SSH); ``in_process=True`` runs the same shim logic without a new Python process (much faster).
    """
    from pathlib import Path

    from homeops.sim.hostrunner import ShimRunner

    return ShimRunner(host_name, Path(sim_dir), in_process=in_process)
