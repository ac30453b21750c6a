"""dr.rebuild's parts on the sim: snapshot choice and refusal, the nodes stage over qm, the data stage."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from invoke.context import Context

from homeops.errors import PlanError
from homeops.operations.dr import RebuildRequest, choose_snapshot, plan_rebuild, preflight
from homeops.operations.observe import ClusterObserver
from homeops.operations.runbook import recovery_steps
from homeops.operations.session import executor_for
from homeops.sim import apps_data
from homeops.sim.runner import SimRunner
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
    assert sorted(p.name for p in drsim.snapshots.iterdir()) == [name, name + ".sha256"]


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
    out = io.StringIO()
    with drsim.runtime() as rt:
        chosen = choose_snapshot(rt, "latest")
        request = RebuildRequest(rt.clock.now(), recreate_vms=True)
        plan = plan_rebuild(rt.inventory, chosen, request)
        nodes_only = replace(plan, steps=tuple(s for s in plan.steps if s.action == "dr-recreate-vm"))
        # the plan runs exactly the runbook's commands
        book = {s.id: s for s in recovery_steps(rt.inventory, snapshot=chosen.name, recreate_vms=True)}
        for step in nodes_only.steps:
            assert [c.argv for c in step.commands] == [a.argv for a in book[step.id].actions]
        assert [g.target for g in plan.preflight] == ["pve1", "pve2", "pve3"]
        outcome = executor_for(rt, ClusterObserver(rt), out=out, task="dr.rebuild").run(nodes_only, yes=True)
    assert outcome.status == "finished", out.getvalue()[-2000:]
    state = drsim.store.read(include_log=False)
    assert {n: s["stage"] for n, s in state["nodes"].items()} == {f"k8s-{i}": "maintenance" for i in range(6)}
    for i in range(6):
        vm = state["pve"]["hosts"][f"pve{i % 3 + 1}"]["vms"][str(200 + i)]
        assert vm["config"]["net0"] == f"virtio=BC:24:11:00:00:{200 + i:02X},bridge=vmbr0"
    sent = [(argv[1], argv[2]) for argv in mutations(drsim)]
    for i in range(6):  # each VM: stop, destroy, create, start — once
        assert [w for w, vmid in sent if vmid == str(200 + i)] == ["stop", "destroy", "create", "start"]


def test_data_stage_reports_what_restored_and_finishes_when_a_database_never_does(drsim: DrSim) -> None:
    drsim.fault("cnpg-never-healthy", "immich-postgres")
    with drsim.store.transaction() as state:
        apps_data.begin_restores(state)
    out = io.StringIO()
    with drsim.runtime() as rt:
        rt.local = SimRunner(rt.inventory.state_dir / "sim")  # in-process: 120 looks until the 600-s deadline
        chosen = choose_snapshot(rt, "none")
        plan = plan_rebuild(rt.inventory, chosen, RebuildRequest(rt.clock.now(), data_timeout=600))
        data = replace(plan, steps=tuple(s for s in plan.steps if s.action == "dr-data"))
        outcome = executor_for(rt, ClusterObserver(rt), out=out, task="dr.rebuild").run(data, yes=True)
    assert outcome.status == "finished"
    journal = outcome.journal
    assert journal is not None
    volsync_step = journal.step("data:volsync").data
    assert volsync_step["restored"] == ["default/immich-data-dst", "default/paperless-data-dst"]
    assert volsync_step["not_restored"] == []
    pg = journal.step("data:cnpg").data
    assert (pg["restored"], pg["not_restored"]) == ([], ["default/immich-postgres"])
    assert any("NOT healthy default/immich-postgres: Setting up primary" in line for line in pg["detail"])
    assert "restored default/immich-data-dst at 2025-10-09T08:55:20Z" in out.getvalue()


def test_data_stage_looks_again_at_the_inventorys_poll_interval(drsim: DrSim) -> None:
    """A restore ending just after a look must not cost a fixed 5-s period more (bench/dr.py measured it)."""
    drsim.edit("pollInterval: 5", "pollInterval: 0.5")
    with drsim.store.transaction() as state:
        for dst in state["apps"]["destinations"]:
            dst["duration"] = 6.2
        apps_data.begin_restores(state)
    with drsim.runtime() as rt:
        plan = plan_rebuild(rt.inventory, choose_snapshot(rt, "none"), RebuildRequest(rt.clock.now()))
        data = replace(plan, steps=tuple(s for s in plan.steps if s.id == "data:volsync"))
        outcome = executor_for(rt, ClusterObserver(rt), out=io.StringIO(), task="dr.rebuild").run(data, yes=True)
    assert outcome.journal is not None
    record = outcome.journal.step("data:volsync")
    assert record.data["not_restored"] == []
    assert record.started is not None and record.finished is not None
    assert 6.2 <= float(record.finished) - float(record.started) <= 6.2 + 0.5
