"""The simulated data apps through the fake kubectl: VolSync triggers and restores, CNPG phases, faults."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeops.adapters import cnpg, volsync
from homeops.errors import SimError
from homeops.sim import apps_data, faults
from homeops.sim.state import START, initial_state
from homeops.sim.store import SimStore
from tests.sim.simkit import Sim, example_inventory

RS = "replicationsources.volsync.backube"
RD = "replicationdestinations.volsync.backube"


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    inventory = example_inventory(tmp_path / "inventory")
    SimStore(tmp_path / "sim").create(initial_state(inventory))
    return Sim(tmp_path / "sim", inventory)


def sources(sim: Sim) -> dict[str, volsync.Source]:
    code, out, err = sim.kubectl("get", RS, "-A", "-o", "json")
    assert code == 0, err
    return {s.name: s for s in volsync.parse_sources(out)}


def test_scheduled_sources_sync_every_hour_as_time_passes(sim: Sim) -> None:
    first = sources(sim)["immich-data"]
    assert (first.last_sync_time, first.reason, first.result) == (START - 3200, "WaitingForSchedule", "Successful")
    sim.advance(3 * 3600)
    later = sources(sim)["immich-data"]
    assert later.last_sync_time == START - 3200 + 3 * 3600 and later.problems(START + 3 * 3600, 3600) == []


def test_a_manual_trigger_runs_one_sync_then_waits_for_the_next_trigger(sim: Sim) -> None:
    code, out, err = sim.kubectl(
        "patch", RS, "immich-data", "-n", "default", "--type", "merge", "-p", '{"spec":{"trigger":{"manual":"t1"}}}'
    )
    assert (code, out, err) == (0, "replicationsource.volsync.backube/immich-data patched\n", "")
    running = sources(sim)["immich-data"]
    assert (running.synchronizing, running.manual, running.last_manual_sync) == (True, "t1", None)
    assert running.last_sync_start_time == START
    sim.advance(60)  # the simulated sync takes 45 s
    done = sources(sim)["immich-data"]
    assert (done.reason, done.last_manual_sync, done.last_sync_time) == ("WaitingForManual", "t1", START + 45)
    assert done.manual_done and done.next_sync_time is None  # a manual trigger turns the schedule off
    again = sim.kubectl("patch", RS, "immich-data", "--type", "merge", "-p", '{"spec":{"trigger":{"manual":"t1"}}}')
    assert again == (0, "replicationsource.volsync.backube/immich-data patched (no change)\n", "")
    # removing the trigger puts the source back on its schedule, keeping the manual sync as the last one
    sim.kubectl("patch", RS, "immich-data", "--type", "merge", "-p", '{"spec":{"trigger":{"manual":null}}}')
    back = sources(sim)["immich-data"]
    assert (back.reason, back.schedule, back.last_sync_time) == ("WaitingForSchedule", "0 * * * *", START + 45)


def test_patch_refuses_like_kubectl(sim: Sim) -> None:
    code, _, err = sim.kubectl("patch", RS, "immich-data", "-p", '{"spec":{"trigger":{"manual":"x"}}}')
    assert code == 1 and "UnsupportedMediaType" in err  # a CRD takes no strategic merge patch
    code, _, err = sim.kubectl("patch", RS, "nope", "--type", "merge", "-p", "{}")
    assert (code, err) == (1, 'Error from server (NotFound): replicationsources.volsync.backube "nope" not found\n')


def test_volsync_stale_fault_freezes_the_last_sync_and_fails_the_mover(sim: Sim) -> None:
    with sim.mutate() as state:
        faults.inject(state, "volsync-stale", "immich-data")
    sim.advance(7200)
    stale, fresh = sources(sim)["immich-data"], sources(sim)["paperless-data"]
    # the last hourly success before it started failing two days ago (the default)
    assert (stale.last_sync_time, stale.result) == (START - 2 * 86400 - 3200, "Failed")
    assert fresh.result == "Successful" and fresh.last_sync_time == START - 3200 + 7200
    with sim.mutate() as state:
        faults.clear(state, "volsync-stale")
    assert sources(sim)["immich-data"].result == "Successful"


def test_fault_targets_are_checked(sim: Sim) -> None:
    with sim.mutate() as state, pytest.raises(SimError, match="known: default/immich-data, default/paperless-data"):
        faults.inject(state, "volsync-stale", "nope")
    with sim.mutate() as state, pytest.raises(SimError, match="no simulated CloudNativePG cluster"):
        faults.inject(state, "cnpg-never-healthy", "immich-data")


def test_restores_populate_the_pvcs_and_walk_the_cnpg_phases(sim: Sim) -> None:
    with sim.mutate() as state:
        apps_data.begin_restores(state)

    def look() -> tuple[list[bool], list[str], str]:
        _, rds, _ = sim.kubectl("get", RD, "-A", "-o", "json")
        _, pvcs, _ = sim.kubectl("get", "pvc", "-A", "-o", "json")
        _, pgs, _ = sim.kubectl("get", "clusters.postgresql.cnpg.io", "-A", "-o", "json")
        (pg,) = cnpg.parse_clusters(pgs)
        return (
            [d.restored for d in volsync.parse_destinations(rds)],
            [c.phase for c in volsync.parse_claims(pvcs)],
            pg.phase,
        )

    assert look() == ([False, False], ["Pending", "Pending"], "Setting up primary")
    sim.advance(100)
    assert look() == ([False, False], ["Pending", "Pending"], "Waiting for the instances to become active")
    sim.advance(30)
    assert look() == ([True, True], ["Bound", "Bound"], "Creating a new replica")
    sim.advance(60)
    assert look()[2] == cnpg.HEALTHY
    code, out, _ = sim.kubectl(
        "wait", "clusters.postgresql.cnpg.io/immich-postgres", "--for=condition=Ready", "--timeout=1s"
    )
    assert (code, out) == (0, "cluster/immich-postgres condition met\n")


def test_cnpg_never_healthy_keeps_setting_up_the_primary(sim: Sim) -> None:
    with sim.mutate() as state:
        faults.inject(state, "cnpg-never-healthy", "immich-postgres")
        apps_data.begin_restores(state)
    sim.advance(3600)
    _, out, _ = sim.kubectl("get", "clusters.postgresql.cnpg.io", "immich-postgres", "-o", "json")
    (pg,) = cnpg.parse_clusters(out)
    assert (pg.phase, pg.phase_reason, pg.ready, pg.healthy) == (
        "Setting up primary",
        "Creating primary instance immich-postgres-1",
        False,
        False,
    )
    obj = json.loads(out)
    assert list(obj) == sorted(obj) and list(obj["status"]) == sorted(obj["status"])  # unstructured: sorted keys


def test_qm_config_gives_the_inventory_mac_and_disk(tmp_path: Path) -> None:
    from dataclasses import replace

    from homeops.sim.hosts import local_host_runner

    inventory = example_inventory(tmp_path / "inventory")
    nodes = tuple(
        replace(n, vm=replace(n.vm, mac=f"02:00:00:00:00:{i:02X}", disk="fast:32")) if n.vm else n
        for i, n in enumerate(inventory.nodes)
    )
    SimStore(tmp_path / "sim").create(initial_state(replace(inventory, nodes=nodes)))
    config = local_host_runner("pve2", tmp_path / "sim", in_process=True).run(["qm", "config", "201"]).stdout
    assert "net0: virtio=02:00:00:00:00:01,bridge=vmbr0,tag=20\n" in config
    assert "scsi0: fast:vm-201-disk-0,discard=on,iothread=1,size=32G,ssd=1\n" in config
