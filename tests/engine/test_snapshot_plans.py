"""`talos.etcd-snapshot` is a one-step plan of the rolling plans' own etcd-snapshot kind: journaled,
locked, reported, and — a backup is wanted most when things are red — the cluster gates only reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeops.app.workflows import take_etcd_snapshot
from homeops.engine.journal import Journal
from homeops.operations.planners import vm_snapshot_name
from homeops.operations.snapshot import etcd_snapshot_path
from tests.rolling.simrig import make_sim_rig


def test_etcd_snapshot_runs_through_the_engine_even_with_a_red_api(tmp_path: Path) -> None:
    rig = make_sim_rig(tmp_path)
    rig.fault("api-unreachable")
    saved = take_etcd_snapshot(rig.runtime, rig.observer)
    assert saved.path.is_file() and saved.size > 0 and saved.revision is not None
    journal = Journal.latest(rig.inventory.state_dir, "etcd-snapshot", rig.runtime.clock)
    assert journal is not None and journal.status == "finished" and journal.backend == "simulated"
    report = json.loads((journal.directory / "report.json").read_text())
    assert report["artifacts"]["etcd_snapshot"] == str(saved.path)
    assert any(line.startswith("api: red") for line in report["reported"])
    assert journal.resume_command.startswith("inv talos.etcd-snapshot --resume")


def test_a_worker_is_refused_as_the_source(tmp_path: Path) -> None:
    from homeops.errors import PlanError

    rig = make_sim_rig(tmp_path)
    with pytest.raises(PlanError, match=r"k8s-4 is a worker"):
        take_etcd_snapshot(rig.runtime, rig.observer, node="k8s-4")


def test_one_function_names_every_snapshot() -> None:
    now = 1_760_000_000.0
    assert vm_snapshot_name(now) == "homeops-20251009T085320Z"
    assert etcd_snapshot_path(Path("/s"), "home", now) == Path("/s/etcd-snapshots/etcd-home-20251009T085320Z.db")
