"""The simulator follows the real semantics of a disaster, the inconvenient ones included (issue 17 §8).

Sources: Talos v1.11.6 ``internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:1939-1943``
(recovery upload refused until EPHEMERAL is mounted, cli-interfaces.md §10.3); the Talos disaster-recovery
guide (an etcd restore brings every object back as it was, recovery.md §1 E); flux-operator
``templates.go:413-466`` (Kustomizations without health checks: the apps come after FluxInstance Ready);
restic ``mover-restic/entry.sh`` (no eligible snapshot: exit 0, empty volume; cli-interfaces.md §11.4).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeops.adapters import volsync
from homeops.sim import apps_data
from homeops.sim.backups import lose_the_vms
from homeops.sim.state import initial_state
from homeops.sim.store import SimStore
from tests.sim.simkit import Sim, example_inventory

RD = "replicationdestinations.volsync.backube"
CPS = ("10.10.0.20", "10.10.0.21", "10.10.0.22")


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    inventory = example_inventory(tmp_path / "inventory")
    SimStore(tmp_path / "sim").create(initial_state(inventory))
    return Sim(tmp_path / "sim", inventory)


def reset_ephemeral(sim: Sim) -> None:
    for ip in CPS:
        sim.talosctl(
            "reset", "-n", ip, "--graceful=false", "--reboot", "--system-labels-to-wipe=EPHEMERAL", "--wait=false"
        )


def test_recovery_upload_is_refused_until_ephemeral_is_mounted(sim: Sim) -> None:
    assert sim.talosctl("etcd", "snapshot", "db.snapshot", "-n", CPS[0])[0] == 0
    reset_ephemeral(sim)
    sim.advance(1 + 30)  # down after 1 s, apid answers 30 s later: EPHEMERAL is not mounted yet
    code, _, err = sim.talosctl("bootstrap", "-n", CPS[0], "--recover-from", "db.snapshot")
    assert code == 1 and err.strip().endswith("etcd service is not ready for recovery yet")
    sim.advance(8)
    assert sim.talosctl("bootstrap", "-n", CPS[0], "--recover-from", "db.snapshot")[0] == 0


def test_a_raw_db_copy_needs_the_skip_hash_check(sim: Sim, tmp_path: Path) -> None:
    with sim.mutate() as state:
        for cp in ("k8s-1", "k8s-2"):
            state["faults"].append({"name": "etcd-unhealthy", "target": cp, "params": {}})
    code, _, err = sim.talosctl("etcd", "snapshot", "db.snapshot", "-n", CPS[0])
    assert code == 1  # no quorum: the snapshot API times out
    raw = tmp_path / "raw"
    raw.mkdir()
    assert sim.talosctl("cp", "/var/lib/etcd/member/snap/db", str(raw), "-n", CPS[0])[0] == 0
    reset_ephemeral(sim)
    sim.advance(60)
    code, _, err = sim.talosctl("bootstrap", "-n", CPS[0], "--recover-from", str(raw / "db"))
    assert code == 1 and "sha256 checksum not found" in err
    assert (
        sim.talosctl("bootstrap", "-n", CPS[0], "--recover-from", str(raw / "db"), "--recover-skip-hash-check")[0] == 0
    )
    sim.advance(30)
    assert sorted(sim.state["etcd"]["members"]) == ["k8s-0", "k8s-1", "k8s-2"]  # the wipe took the broken data


def test_an_etcd_restore_brings_back_old_status_and_repopulates_nothing(sim: Sim) -> None:
    with sim.mutate() as state:
        for claim in state["apps"]["claims"]:
            if claim["name"] == "immich-data":
                claim.update(storage_class="openebs-hostpath", node="k8s-1")
    before = {d.name: d for d in volsync.parse_destinations(sim.kubectl("get", RD, "-A", "-o", "json")[1])}
    assert sim.talosctl("etcd", "snapshot", "db.snapshot", "-n", CPS[0])[0] == 0
    reset_ephemeral(sim)
    sim.advance(60)
    assert sim.talosctl("bootstrap", "-n", CPS[0], "--recover-from", "db.snapshot")[0] == 0
    sim.advance(60)
    after = {d.name: d for d in volsync.parse_destinations(sim.kubectl("get", RD, "-A", "-o", "json")[1])}
    # the same status as before the disaster: nothing ran again
    assert {k: (d.last_sync_time, d.latest_image) for k, d in after.items()} == {
        k: (d.last_sync_time, d.latest_image) for k, d in before.items()
    }
    _, out, _ = sim.kubectl("get", "pvc", "-A", "-o", "json")
    assert {c.name: c.phase for c in volsync.parse_claims(out)} == {"immich-data": "Bound", "paperless-data": "Bound"}
    data = apps_data.read_data(sim.state)
    assert data["default/immich-data"] is None  # a Bound PVC on a wiped hostpath: empty
    assert data["default/paperless-data"] == "seed:default/paperless-data"  # on Ceph's disks: kept in place


def test_a_rebuilt_clusters_apps_appear_after_flux_and_an_empty_restore_succeeds_empty(sim: Sim) -> None:
    with sim.mutate() as state:
        lose_the_vms(state)
        apps_data.nas_lost(state)  # no snapshot in any repository
        now = state["clock"]["now"]
        state["flux"]["instance"] = {"namespace": "flux-system", "name": "flux", "ready": True, "ready_at": now}

    def at(seconds: float, plural: str) -> list[dict[str, object]]:
        with sim.mutate() as state:
            state["clock"]["now"] = now + seconds
            apps_data.derive(state, now + seconds)
            return apps_data.objects(state, plural)

    assert at(apps_data.APPS_SECONDS - 1, "replicationdestinations") == []  # Flux has not applied them yet
    found = volsync.parse_destinations(json.dumps({"items": at(apps_data.APPS_SECONDS, "replicationdestinations")}))
    assert [(d.name, d.synchronizing) for d in found] == [("immich-data-dst", True), ("paperless-data-dst", True)]
    later = apps_data.APPS_SECONDS + 120 + apps_data.POPULATE_SECONDS
    done = volsync.parse_destinations(json.dumps({"items": at(later, "replicationdestinations")}))
    assert all(d.result == "Successful" and d.empty and d.latest_image for d in done)  # "succeeded"...
    pvs = at(later, "persistentvolumes")
    assert len(pvs) == 2 and all(volsync.POPULATED_FROM in pv["metadata"]["annotations"] for pv in pvs)  # type: ignore[index, operator]
    assert apps_data.read_data(sim.state)["default/immich-data"] is None  # ...with an empty volume
