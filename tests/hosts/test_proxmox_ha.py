"""Proxmox HA in the simulated hosts, and the record/replay of a VM, against the real tools' source.

Sources (read with the fetch tool):
- proxmox/qemu-server 9.2.6 ``src/PVE/API2/Qemu.pm``: vm_start 3631-3642 (an HA-managed VM: "Requesting HA start",
  ``ha-manager set vm:<id> --state started``), vm_stop 3747-3768 (``--overrule-shutdown``: ``raise_param_exc``
  "Not applicable for HA resources."; else "Requesting HA stop", ``ha-manager crm-command stop vm:<id> 0``),
  destroy_vm 2827-2845 ("used in HA resources and purge parameter not set"; ``--purge`` drops the resource).
- proxmox/pve-common 9.2.1 ``src/PVE/Exception.pm`` stringify 98-129 (code, message, ``key: error`` lines, usage).
- proxmox/pve-ha-manager ``src/PVE/API2/HA/Resources.pm`` create 218 ("resource ID '<sid>' already defined",
  wrapped "create resource failed: " by ``Config.pm`` lock_ha_domain 311-320), ``Config.pm``
  update_single_resource_config_inplace 144-145 ("no such resource"), delete 313-315 ("not HA managed!"),
  ``HA/Manager.pm`` 1422-1435 (a crm stop command sets the resource's state to stopped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homeops.adapters import proxmox as pve
from homeops.errors import CommandError
from homeops.runners import Result
from homeops.sim.hosts import HA_SETTLE, run_tool

from .simkit import make_inventory, make_state

NOW = 1_760_000_000.0


@pytest.fixture
def state(tmp_path: Path) -> dict[str, Any]:
    return make_state(make_inventory(tmp_path), now=NOW)


def call(state: dict[str, Any], host: str, *argv: str) -> Result:
    code, out, err = run_tool(argv[0], argv[1:], host, state)
    return Result(tuple(argv), code, out, err, 0.0, host)


def later(state: dict[str, Any], seconds: float) -> None:
    state["clock"]["now"] += seconds


def status(state: dict[str, Any], host: str, vmid: int) -> str:
    return pve.parse_qm_status(call(state, host, *pve.qm_status(vmid)).stdout)


def test_qm_power_of_an_ha_vm_is_a_request_to_the_ha_stack(state: dict[str, Any]) -> None:
    added = call(state, "pve2", "ha-manager", "add", "vm:201", "--state", "started", "--max_restart", "2")
    assert (added.exit_code, added.stdout, added.stderr) == (0, "", "")
    refused = call(state, "pve2", *pve.qm_stop(201, overrule_shutdown=True))
    assert (refused.exit_code, refused.stdout) == (255, "")
    assert refused.stderr == (
        "400 Parameter verification failed.\noverrule-shutdown: Not applicable for HA resources.\n"
        "qm stop <vmid> [OPTIONS]\n"
    )
    with pytest.raises(CommandError) as error:
        pve.check(refused)
    assert "ha-manager set vm:201 --state stopped" in str(error.value.hint)
    stop = call(state, "pve2", *pve.qm_stop(201))
    assert (stop.exit_code, stop.stdout) == (0, "Requesting HA stop for VM 201\n")
    assert status(state, "pve2", 201) == "running"  # a request: the LRM acts in its next rounds
    later(state, HA_SETTLE)
    assert status(state, "pve2", 201) == "stopped"
    assert "\tstate stopped\n" in call(state, "pve2", "ha-manager", "config").stdout  # crm stop → state stopped
    start = call(state, "pve2", *pve.qm_start(201))
    assert (start.exit_code, start.stdout) == (0, "Requesting HA start for VM 201\n")
    later(state, HA_SETTLE)
    assert status(state, "pve2", 201) == "running"


def test_ha_manager_set_stopped_then_destroy_needs_purge(state: dict[str, Any]) -> None:
    call(state, "pve1", "ha-manager", "add", "vm:200")
    assert call(state, "pve1", *pve.ha_set_state(200, "stopped")).exit_code == 0
    running = call(state, "pve1", "qm", "destroy", "200", "--purge")
    assert (running.exit_code, running.stderr) == (255, "VM 200 is running - destroy failed\n")
    later(state, HA_SETTLE)
    resources = pve.parse_ha_resources(call(state, "pve1", *pve.ha_resources()).stdout)
    assert resources["vm:200"].state == "stopped"
    kept = call(state, "pve1", "qm", "destroy", "200")
    assert (kept.exit_code, kept.stderr) == (
        255,
        "unable to remove VM 200 - used in HA resources and purge parameter not set.\n",
    )
    assert call(state, "pve1", "qm", "destroy", "200", "--purge").exit_code == 0
    assert pve.parse_ha_resources(call(state, "pve1", *pve.ha_resources()).stdout) == {}


def test_ha_manager_errors_as_pve_ha_manager_prints_them(state: dict[str, Any]) -> None:
    call(state, "pve1", "ha-manager", "add", "vm:200")
    again = call(state, "pve1", "ha-manager", "add", "vm:200")
    assert (again.exit_code, again.stderr) == (255, "create resource failed: resource ID 'vm:200' already defined\n")
    unknown = call(state, "pve1", "ha-manager", "set", "vm:203", "--state", "stopped")
    assert (unknown.exit_code, unknown.stderr) == (255, "update resources config failed: no such resource 'vm:203'\n")
    missing = call(state, "pve1", "ha-manager", "remove", "vm:203")
    assert (missing.exit_code, missing.stderr) == (255, "cannot delete service 'vm:203', not HA managed!\n")
    absent = call(state, "pve1", "ha-manager", "add", "vm:999")
    assert (absent.exit_code, absent.stderr) == (255, "resource 'vm:999' does not exist in cluster\n")
    by_vmid = call(state, "pve1", "ha-manager", "add", "999")
    assert (by_vmid.exit_code, by_vmid.stderr) == (255, "unable to detect SID from VMID - VM/CT 999 does not exist\n")
    bad = call(state, "pve1", "ha-manager", "set", "vm:200", "--state", "off")
    assert bad.exit_code == 255 and "state: value 'off' does not have a value in the enumeration" in bad.stderr
    listing = pve.parse_cluster_resources(call(state, "pve1", *pve.cluster_resources()).stdout)
    assert [vm.vmid for vm in listing]  # hastate does not confuse the parser
    raw = call(state, "pve1", *pve.cluster_resources()).stdout
    assert '"hastate":"started"' in raw and raw.count("hastate") == 1


def test_replay_of_a_record_builds_the_same_vm(state: dict[str, Any]) -> None:
    """Record → destroy → replay_create + start + replay_finish: every setting back (volume names aside)."""
    vms = state["pve"]["hosts"]["pve1"]["vms"]
    config = vms["203"]["config"]  # a worker: two disks, UEFI, a VLAN, and someone's tuning
    config.update(
        memory="20480", balloon="4096", cpu="x86-64-v2-AES", net1="virtio=BC:24:11:00:10:03,bridge=vmbr1,tag=30"
    )
    config["description"] = "talos worker\nsecond line: ünïcode"  # qm config prints it percent-encoded
    call(state, "pve1", "ha-manager", "add", "vm:203", "--max_relocate", "0")
    recorded = pve.parse_qm_config(call(state, "pve1", *pve.qm_config(203)).stdout)
    ha = pve.parse_ha_resources(call(state, "pve1", *pve.ha_resources()).stdout)["vm:203"]
    record = pve.VmRecord("k8s-3", "pve1", 203, tuple(sorted(recorded.items())), ha)
    assert pve.VmRecord.from_dict(record.to_dict()) == record

    assert call(state, "pve1", *pve.ha_set_state(203, "stopped")).exit_code == 0
    later(state, HA_SETTLE)
    assert call(state, "pve1", "qm", "destroy", "203", "--purge").exit_code == 0
    iso = "local:iso/talos-abc-v1.11.6-metal-amd64.iso"
    create = pve.replay_create(record, iso)
    assert "--overrule-shutdown" not in create and create[:3] == ["qm", "create", "203"]
    done = call(state, "pve1", *create)
    assert done.exit_code == 0, done.stderr
    during = pve.parse_qm_config(call(state, "pve1", *pve.qm_config(203)).stdout)
    assert during["ide2"] == f"{iso},media=cdrom" and during["boot"] == "order=scsi0;ide2"
    assert call(state, "pve1", *pve.qm_start(203)).exit_code == 0
    for argv in pve.replay_finish(record):
        assert call(state, "pve1", *argv).exit_code == 0, argv
    live = pve.parse_qm_config(call(state, "pve1", *pve.qm_config(203)).stdout)
    assert pve.vm_drift(recorded, live) == []
    for key in ("memory", "cores", "balloon", "cpu", "machine", "bios", "net0", "net1", "boot", "smbios1", "ide2"):
        assert live[key] == recorded[key], key
    for key in ("scsi0", "scsi1", "efidisk0"):  # same storage, size and options; a newly allocated volume
        assert pve.disk_allocation(key, live[key]) == pve.disk_allocation(key, recorded[key]), key
    assert live["description"] == recorded["description"] == "talos worker%0Asecond line%3A %C3%BCn%C3%AFcode"
    assert live["vmgenid"] != recorded["vmgenid"]  # a new VM: Proxmox gives it a new generation id
    again = pve.parse_ha_resources(call(state, "pve1", *pve.ha_resources()).stdout)["vm:203"]
    assert (again.state, again.options) == (ha.state, ha.options)


def test_drift_names_each_changed_setting() -> None:
    recorded = {
        "memory": "8192",
        "scsi0": "local-lvm:vm-200-disk-0,iothread=1,size=64G",
        "net0": "virtio=BC:24:11:00:00:C8,bridge=vmbr0,tag=20",
        "ide2": "local:iso/talos.iso,media=cdrom",
        "vmgenid": "a",
    }
    live = dict(recorded, memory="16384", vmgenid="b", ide2="none,media=cdrom")
    live["scsi0"] = "local-lvm:vm-200-disk-3,iothread=1,size=64G"  # another volume name: not drift
    live["net0"] = "virtio=BC:24:11:00:00:C8,bridge=vmbr0"
    live["scsi1"] = "local-lvm:vm-200-disk-4,size=200G"
    assert pve.vm_drift(recorded, live) == [
        "memory: recorded 8192, now 16384",
        "net0: recorded virtio=BC:24:11:00:00:C8,bridge=vmbr0,tag=20, now virtio=BC:24:11:00:00:C8,bridge=vmbr0",
        "scsi1: local-lvm:vm-200-disk-4,size=200G (not in the record)",
    ]
    assert pve.disk_allocation("scsi0", "ceph:vm-1-disk-0,size=1T") == "ceph:1024"
    assert pve.disk_allocation("efidisk0", "local-lvm:vm-1-disk-1,efitype=4m,pre-enrolled-keys=1,size=4M") == (
        "local-lvm:1,efitype=4m,pre-enrolled-keys=1"
    )


def test_vzdump_backups_through_pvesh(state: dict[str, Any]) -> None:
    storages = pve.parse_backup_storages(call(state, "pve2", *pve.backup_storages("pve2")).stdout)
    assert storages == ["pbs"]
    backups = pve.parse_backups(call(state, "pve2", *pve.backup_content("pve2", "pbs")).stdout, storage="pbs")
    mine = [b for b in backups if b.vmid == 201]
    assert len(mine) == 1 and mine[0].ctime == NOW - 86400 and mine[0].volid.startswith("pbs:backup/vm/201/")
    nope = call(state, "pve2", *pve.backup_content("pve2", "nfs-backups"))
    assert (nope.exit_code, nope.stderr) == (255, "storage 'nfs-backups' does not exist\n")


def test_pve_vm_stop_of_an_ha_vm_asks_ha_manager_and_waits_until_it_stopped(tmp_path: Path) -> None:
    """`inv pve.vm stop` on an HA-managed VM: before, `qm stop` returned at once ("Requesting HA stop") and the
    step said done while the VM still ran; now the request is `ha-manager set` and the step waits for it."""
    from homeops.operations.vm import VmParams, plan_vm, plan_vm_action
    from homeops.sim.hosts import local_host_runner
    from homeops.sim.store import SimStore

    from .simkit import runtime_with

    inventory = make_inventory(tmp_path)
    store = SimStore(tmp_path / "sim")
    store.create(make_state(inventory, now=NOW))
    rt = runtime_with(inventory, lambda h: local_host_runner(h.name, tmp_path / "sim", in_process=True))
    with store.transaction() as s:
        assert run_tool("ha-manager", ["add", "vm:204"], "pve2", s)[0] == 0
    action = plan_vm_action(rt, "k8s-4", "stop")
    assert action.commands == (("ha-manager", "set", "vm:204", "--state", "stopped"),)
    plan = plan_vm(inventory, action)
    (step,) = plan.steps
    assert [w.kind for w in step.waits] == ["vm-status"] and step.param(VmParams).wanted == "stopped"
    start = plan_vm_action(rt, "k8s-3", "stop")  # not under HA: qm stop as before, no waiting needed
    assert start.commands == (("qm", "stop", "203"),)
