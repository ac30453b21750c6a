"""A run against the simulator says so everywhere, and never runs a host command gate for real."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

import homeops.app.runs as session
from homeops.app.runs import Options, run_operation
from homeops.engine.gates import Check
from homeops.errors import Aborted
from homeops.inventory.model import CustomGate
from homeops.operations.health import SIMULATED_COMMAND_GATE, ClusterWorld, cluster_gates
from homeops.operations.planners import Request, plan_upgrade
from tests.rolling.simrig import FAST_GATES, make_sim_rig


def planner(inv, facts, req):  # type: ignore[no-untyped-def]
    return plan_upgrade(inv, facts, req, operation="upgrade-cluster")


def request(rt):  # type: ignore[no-untyped-def]
    return Request(now=rt.clock.now())


def upgrade(rig, options: Options, out: io.StringIO):  # type: ignore[no-untyped-def]
    return run_operation(
        rig.inventory.root,
        "upgrade-cluster",
        planner,
        request,
        options,
        runtime=rig.runtime,
        out=out,
        task="talos.upgrade-cluster",
    )


def test_dry_run_prompt_progress_and_report_of_upgrade_cluster_say_simulated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rig = make_sim_rig(tmp_path)
    out = io.StringIO()
    upgrade(rig, Options(dry_run=True), out)
    assert out.getvalue().startswith("[SIMULATED] Plan: upgrade-cluster on cluster 'home'")
    assert "SIMULATED dry run: nothing was changed" in out.getvalue()

    asked: list[str] = []
    monkeypatch.setattr(session, "ask", lambda q: asked.append(q) or False)
    with pytest.raises(Aborted, match="not confirmed"):
        upgrade(rig, Options(), io.StringIO())
    assert asked and asked[0].startswith("[SIMULATED] Run upgrade-cluster") and "not real machines" in asked[0]

    out = io.StringIO()
    outcome = upgrade(rig, Options(yes=True), out)
    assert outcome.status == "finished"
    progress = [line for line in out.getvalue().splitlines() if line.startswith("[SIMULATED] [")]
    assert len(progress) > 10 and not [line for line in out.getvalue().splitlines() if line.startswith("[00:")]
    report = outcome.report.read_text()  # type: ignore[union-attr]
    assert report.splitlines()[0] == "# upgrade-cluster on `home` — finished — SIMULATED"
    assert outcome.journal is not None and outcome.journal.backend == "simulated"


def test_a_custom_command_gate_is_not_run_under_the_sim(tmp_path: Path) -> None:
    marker = tmp_path / "the-gate-ran"
    gate = CustomGate("backup-done", "command", timeout=30, command=("sh", "-c", f"touch {marker}"))
    rig = make_sim_rig(tmp_path, gates=replace(FAST_GATES, custom=(gate,)))
    out = io.StringIO()
    outcome = upgrade(rig, Options(yes=True), out)
    assert outcome.status == "finished"
    assert not marker.exists()
    assert any(SIMULATED_COMMAND_GATE in line for line in outcome.journal.record().preflight)  # type: ignore[union-attr]
    # The same gate in a real world runs (so the assertion above can fail).
    custom = next(g for g in cluster_gates(rig.inventory) if g.kind == "custom")
    real = ClusterWorld(rig.inventory, rig.observer, simulated=False)
    assert real.look(custom) == Check(True, "exit 0") and marker.exists()
