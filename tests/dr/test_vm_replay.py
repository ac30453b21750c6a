"""Issue 17 §5 on the sim: VMs recorded with each etcd snapshot, replayed by --recreate-vms, drift in dr.check.

The HA semantics the sim follows are in tests/hosts/test_proxmox_ha.py (qemu-server API2/Qemu.pm:3751-3756,
pve-ha-manager); here: the whole nodes stage of dr.rebuild and the finishing step after the install.
"""

from __future__ import annotations

import io
import json
import stat
from dataclasses import replace
from typing import Any

from homeops.adapters import proxmox as pve
from homeops.app.runs import executor_for
from homeops.operations.dr import RebuildRequest, choose_snapshot, plan_rebuild
from homeops.operations.observe import ClusterObserver
from homeops.sim.backups import lose_the_vms
from homeops.sim.hosts import HA_SETTLE

from .drsim import DrSim

HOSTS = {200 + i: f"pve{i % 3 + 1}" for i in range(6)}


def ha_add(drsim: DrSim, vmid: int, *options: str) -> None:
    with drsim.runtime() as rt:
        pve.check(rt.host(HOSTS[vmid]).run(["ha-manager", "add", f"vm:{vmid}", *options]))


def tune(state: dict[str, Any]) -> None:
    """Someone's VMs are not the defaults: a rebuild from defaults or homeops.yaml would differ."""
    vms = state["pve"]["hosts"]["pve1"]["vms"]
    vms["203"]["config"].update(memory="24576", balloon="8192", cpu="x86-64-v2-AES", cores="6")
    vms["203"]["config"]["net1"] = "virtio=BC:24:11:00:10:03,bridge=vmbr1,tag=30"
    vms["200"]["config"]["machine"] = "pc-q35-8.1"


def rebuild_nodes(drsim: DrSim) -> tuple[Any, str]:
    """The nodes stage and the finishing steps of `dr.rebuild --recreate-vms` (Talos stages skipped), on a
    cluster that lost etcd quorum: a healthy one is refused at the point of no return."""
    for cp in ("k8s-1", "k8s-2"):
        drsim.fault("etcd-unhealthy", cp)
    out = io.StringIO()
    with drsim.runtime() as rt:
        chosen = choose_snapshot(rt, "latest")
        plan = plan_rebuild(rt.inventory, chosen, RebuildRequest(rt.clock.now(), recreate_vms=True))
        vm_steps = replace(plan, steps=tuple(s for s in plan.steps if s.action in ("dr-recreate-vm", "vm-finish")))
        assert [s.action for s in vm_steps.steps] == ["dr-recreate-vm"] * 6 + ["vm-finish"] * 6
        outcome = executor_for(rt, ClusterObserver(rt), out=out, task="dr.rebuild").run(vm_steps, yes=True)
    return outcome, out.getvalue()


def live_configs(drsim: DrSim) -> dict[int, dict[str, str]]:
    state = drsim.store.read(include_log=False)
    return {vmid: dict(state["pve"]["hosts"][host]["vms"][str(vmid)]["config"]) for vmid, host in HOSTS.items()}


def sent(drsim: DrSim, since: int = 0) -> list[list[str]]:
    mutating = {"create", "destroy", "stop", "start", "set", "add"}
    log = drsim.store.log()[since:]
    return [e["argv"] for e in log if e["tool"] in ("qm", "ha-manager") and e["argv"][1] in mutating]


def test_the_record_is_taken_with_each_snapshot_private_and_on_the_nas(drsim: DrSim) -> None:
    ha_add(drsim, 201, "--max_restart", "2")
    drsim.snapshot()
    (db,) = drsim.snapshots.glob("*.db")
    record = db.with_name(db.name + ".vms.json")
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    data = json.loads(record.read_text())
    assert [vm["node"] for vm in data["vms"]] == [f"k8s-{i}" for i in range(6)] and data["errors"] == []
    k8s1 = data["vms"][1]
    assert k8s1["config"]["net0"] == "virtio=BC:24:11:00:00:C9,bridge=vmbr0,tag=20"
    assert k8s1["ha"] == {"sid": "vm:201", "state": "started", "max_restart": "2"}
    (on_nas,) = drsim.root.joinpath(".homeops").rglob(f"hostfs/nas/**/{record.name}")
    assert stat.S_IMODE(on_nas.stat().st_mode) == 0o600 and on_nas.read_bytes() == record.read_bytes()


def test_recreate_replays_every_vm_exactly_and_stops_ha_vms_through_ha_manager(drsim: DrSim) -> None:
    with drsim.store.transaction() as state:
        tune(state)
    ha_add(drsim, 201, "--max_restart", "2")
    drsim.snapshot()
    recorded = live_configs(drsim)
    before = len(drsim.store.log())
    outcome, out = rebuild_nodes(drsim)
    assert outcome.status == "finished", out[-3000:]
    live = live_configs(drsim)
    for vmid in HOSTS:
        assert pve.vm_drift(recorded[vmid], live[vmid]) == [], vmid
        for key in ("memory", "cores", "balloon", "cpu", "machine", "bios", "net0", "boot", "smbios1"):
            assert live[vmid].get(key) == recorded[vmid].get(key), (vmid, key)
        for key in ("scsi0", "scsi1", "efidisk0"):
            if key in recorded[vmid]:
                assert pve.disk_allocation(key, live[vmid][key]) == pve.disk_allocation(key, recorded[vmid][key])
        assert live[vmid]["ide2"] == "none,media=cdrom"  # the install ISO is detached after the install
    assert live[203]["net1"] == "virtio=BC:24:11:00:10:03,bridge=vmbr1,tag=30" and live[203]["memory"] == "24576"
    commands = sent(drsim, before)
    # the HA-managed VM: stopped with ha-manager (qm stop --overrule-shutdown is refused for it), put back under HA
    assert ["ha-manager", "set", "vm:201", "--state", "stopped"] in commands
    assert not [c for c in commands if c[:3] == ["qm", "stop", "201"]]
    assert ["ha-manager", "add", "vm:201", "--state", "started", "--max_restart", "2"] in commands
    with drsim.runtime() as rt:
        ha = pve.parse_ha_resources(rt.host("pve2").run(pve.ha_resources()).stdout)
    assert {sid: (r.state, r.options) for sid, r in ha.items()} == {"vm:201": ("started", (("max_restart", "2"),))}
    for vmid in HOSTS:  # each mutating command once
        mine = [c[1] for c in commands if str(vmid) in c[2]]
        assert mine == ["set" if vmid == 201 else "stop", "destroy", "create", "start", "set"] + (
            ["add"] if vmid == 201 else []
        ), (vmid, mine)


def test_lost_vms_with_a_lingering_ha_resource_are_rebuilt_and_put_back(drsim: DrSim) -> None:
    """The VMs vanished without `qm destroy --purge`: their HA resource stays, and the HA stack starts the
    recreated VM on its own; `ha-manager add` then says "already defined" and homeops sets it instead."""
    ha_add(drsim, 202, "--max_relocate", "0")
    drsim.snapshot()
    recorded = live_configs(drsim)
    with drsim.store.transaction() as state:
        lose_the_vms(state)
    with drsim.runtime() as rt:
        pve.check(rt.host("pve3").run(pve.ha_set_state(202, "stopped")))  # someone fiddled meanwhile
    drsim.advance(HA_SETTLE)
    before = len(drsim.store.log())
    outcome, out = rebuild_nodes(drsim)
    assert outcome.status == "finished", out[-3000:]
    live = live_configs(drsim)
    assert all(pve.vm_drift(recorded[v], live[v]) == [] for v in HOSTS)
    commands = sent(drsim, before)
    assert not [c for c in commands if c[1] in ("stop", "destroy")]  # nothing left to stop or destroy
    assert ["ha-manager", "set", "vm:202", "--state", "started", "--max_relocate", "0"] in commands
    state = drsim.store.read(include_log=False)
    assert state["pve"]["ha"]["resources"]["vm:202"]["state"] == "started"


def test_dr_check_reports_drift_backup_age_and_bare_metal(drsim: DrSim) -> None:
    drsim.snapshot()
    with drsim.store.transaction() as state:
        state["pve"]["hosts"]["pve3"]["vms"]["202"]["config"]["memory"] = "12288"
    report = drsim.check()
    drift = [f for f in report.findings if f.check == "vm-record" and f.status == "warn"]
    assert [(f.subject, f.detail) for f in drift] == [
        (
            "k8s-2 (VM 202)",
            "drifted from the record of "
            + next(drsim.snapshots.glob("*.db")).name
            + ": memory: recorded 8192, now 12288",
        )
    ]
    backups = {f.subject: (f.status, f.detail) for f in report.findings if f.check == "vm-backup"}
    assert backups["k8s-0 (VM 200)"][0] == "ok" and "pbs:backup/vm/200/" in backups["k8s-0 (VM 200)"][1]
    assert backups["k8s-0 (VM 200)"][1].endswith(", taken 24.0h ago")
    drsim.advance(8 * 86400)
    old = [f for f in drsim.check().findings if f.check == "vm-backup"]
    assert {f.status for f in old} == {"warn"} and all("dr.vmBackupMaxAgeHours" in f.detail for f in old)


def test_bare_metal_nodes_keep_dr_check_green(drsim: DrSim) -> None:
    """Issue 22 §3.9: a node without `vm:` was a dr.check failure forever, though a reset rebuilds it."""
    drsim.edit('  k8s-5: { vm: { host: pve3, vmid: 205, mac: "BC:24:11:00:00:CD", disk: local-lvm:64 } }\n', "")
    drsim.snapshot()
    report = drsim.check()
    assert report.ok, report.render()
    (metal,) = [f for f in report.findings if f.check == "vm-spec" and f.subject == "k8s-5"]
    assert metal.status == "ok" and "bare metal" in metal.detail


def test_pve_vm_stop_of_an_ha_vm_waits_for_the_ha_stack(drsim: DrSim, capsys: Any) -> None:
    """Before: `qm stop` of an HA-managed VM printed "Requesting HA stop" and the step said done while the
    VM still ran (the HA stack stops it in its next rounds). Now: `ha-manager set`, then wait until stopped."""
    from invoke.context import Context

    from homeops.tasks import pve as pve_tasks

    ha_add(drsim, 204)
    began = drsim.store.read(include_log=False)["clock"]["now"]
    pve_tasks.vm(Context(), "stop", node="k8s-4", yes=True, inventory=str(drsim.root))
    state = drsim.store.read(include_log=False)
    assert state["pve"]["hosts"]["pve2"]["vms"]["204"]["status"] == "stopped"
    assert state["clock"]["now"] - began >= HA_SETTLE  # it waited for the HA stack, on the sim's clock
    assert ["ha-manager", "set", "vm:204", "--state", "stopped"] in sent(drsim)
    assert state["pve"]["ha"]["resources"]["vm:204"]["state"] == "stopped"  # HA will not start it again
