"""dr.rebuild's parts on the sim: snapshot choice and refusal, the nodes stage over qm, the data stage."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from invoke.context import Context

from homeops.app.runs import executor_for
from homeops.errors import PlanError
from homeops.operations.dr import RebuildRequest, choose_snapshot, plan_rebuild, preflight
from homeops.operations.observe import ClusterObserver
from homeops.operations.runbook import recovery_steps
from homeops.operations.vm import load_vm_records
from homeops.tasks import sim as sim_tasks

from .drsim import DrSim

MUTATING = {("qm", "create"), ("qm", "destroy"), ("qm", "stop"), ("qm", "start"), ("talosctl", "reset")}


def mutations(drsim: DrSim) -> list[list[str]]:
    return [e["argv"] for e in drsim.store.log() if (e["tool"], e["argv"][1]) in MUTATING]


def test_latest_is_fetched_from_the_nas_and_verified(drsim: DrSim) -> None:
    drsim.snapshot()
    (name,) = [p.name for p in drsim.snapshots.glob("*.db")]
    for path in drsim.snapshots.iterdir():
        path.unlink()  # the machine that held the local copies is gone
    with drsim.runtime() as rt:
        chosen = choose_snapshot(rt, "latest")
    assert (chosen.name, chosen.source) == (name, "nas:/mnt/tank/backups/etcd")
    assert chosen.verified.endswith("matches (201 bytes)")
    assert sorted(p.name for p in drsim.snapshots.iterdir()) == [name, name + ".sha256", name + ".vms.json"]
    assert {oct(p.stat().st_mode & 0o777) for p in drsim.snapshots.iterdir()} == {"0o600"}


@pytest.mark.parametrize("fault", ["snapshot-corrupt", "snapshot-missing-on-nas"])
def test_a_bad_snapshot_is_refused_before_anything_is_touched(drsim: DrSim, fault: str) -> None:
    drsim.snapshot()
    sim_tasks.fault(Context(), fault, inventory=str(drsim.root))
    if fault == "snapshot-missing-on-nas":
        for path in drsim.snapshots.iterdir():
            path.unlink()
    with drsim.runtime() as rt, pytest.raises(PlanError) as info:
        choose_snapshot(rt, "latest")
    assert str(info.value).startswith(
        "etcd snapshot refused:" if fault == "snapshot-corrupt" else "no etcd snapshot in"
    )
    assert mutations(drsim) == []


def test_preflight_refuses_without_the_vm_specs_a_recreate_needs(drsim: DrSim) -> None:
    drsim.edit('vmid: 203, mac: "BC:24:11:00:00:CB", disk: local-lvm:64', "vmid: 203")
    with drsim.runtime() as rt:
        assert preflight(rt, RebuildRequest(rt.clock.now()))  # a reset needs no VM spec
        with pytest.raises(PlanError, match=r"refused before touching anything: vm-spec k8s-3 \(VM 203 on pve1\)"):
            preflight(rt, RebuildRequest(rt.clock.now(), recreate_vms=True))


def test_nodes_stage_recreates_every_vm_with_its_mac_and_reaches_maintenance(drsim: DrSim) -> None:
    drsim.snapshot()
    for cp in ("k8s-1", "k8s-2"):  # the disaster: a healthy cluster is refused at the point of no return
        drsim.fault("etcd-unhealthy", cp)
    out = io.StringIO()
    with drsim.runtime() as rt:
        chosen = choose_snapshot(rt, "latest")
        request = RebuildRequest(rt.clock.now(), recreate_vms=True)
        plan = plan_rebuild(rt.inventory, chosen, request)
        nodes_only = replace(plan, steps=tuple(s for s in plan.steps if s.action == "dr-recreate-vm"))
        # the plan runs exactly the runbook's commands
        records = load_vm_records(chosen.path) if chosen.path else None
        assert records is not None and len(records.records) == 6
        book = {
            s.id: s for s in recovery_steps(rt.inventory, snapshot=chosen.name, recreate_vms=True, vm_records=records)
        }
        for step in nodes_only.steps:
            assert [c.argv for c in step.commands] == [a.argv for a in book[step.id].actions]
        assert [g.target for g in plan.preflight] == ["pve1", "pve2", "pve3"]
        outcome = executor_for(rt, ClusterObserver(rt), out=out, task="dr.rebuild").run(nodes_only, yes=True)
    assert outcome.status == "finished", out.getvalue()[-2000:]
    state = drsim.store.read(include_log=False)
    assert {n: s["stage"] for n, s in state["nodes"].items()} == {f"k8s-{i}": "maintenance" for i in range(6)}
    for i in range(6):
        vm = state["pve"]["hosts"][f"pve{i % 3 + 1}"]["vms"][str(200 + i)]
        assert vm["config"]["net0"] == f"virtio=BC:24:11:00:00:{200 + i:02X},bridge=vmbr0,tag=20"
    sent = [(argv[1], argv[2]) for argv in mutations(drsim)]
    for i in range(6):  # each VM: stop, destroy, create, start — once
        assert [w for w, vmid in sent if vmid == str(200 + i)] == ["stop", "destroy", "create", "start"]
