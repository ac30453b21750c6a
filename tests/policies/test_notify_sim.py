"""End to end against the simulator: an upgrade whose first node boots back into the old version (the A/B
rollback fault, ``homeops.sim.faults`` ``node-rollback``) sends, through Apprise's ``json://`` to a local
receiver, a start message and a failure naming that node — every message marked SIMULATED, no URL in any
output — and a receiver that never answers costs the run its bounded wait, nothing more."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from homeops.engine.executor import Executor
from homeops.engine.progress import PlainProgress
from homeops.errors import GateFailed
from homeops.hostops import nas_store_backup
from homeops.operations.talos import node_executor
from homeops.policies.notify import Notifier
from homeops.secrets import add_url
from tests.policies.conftest import Receiver
from tests.rolling.simrig import SimRig, make_sim_rig


def simulated_executor(rig: SimRig, notifier: Notifier) -> Executor:
    return node_executor(
        rig.inventory,
        rig.observer,
        local=rig.runtime.local,
        host=rig.runtime.host,
        clock=rig.runtime.clock,
        progress=PlainProgress(rig.out, clock=rig.runtime.clock, banner="SIMULATED"),
        out=rig.out,
        uploader=lambda path: nas_store_backup(rig.runtime, path).path,
        simulated=True,
        listeners=[notifier],
        policies=[notifier],
    )


def test_a_rolled_back_node_is_named_in_a_simulated_notification(
    tmp_path: Path, receiver: Receiver, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_sim_rig(tmp_path)
    plan = rig.plan()
    first = next(s.node for s in plan.steps if s.action == "upgrade")
    assert first is not None
    rig.fault("node-rollback", first)
    url = receiver.url("/homeops/S1mRunTok3n")
    lines: list[str] = []
    notifier = Notifier([add_url(url)], ["started", "node-failed", "failed"], timeout=2.0, report=lines.append)

    with pytest.raises(GateFailed, match="rolled back"):
        simulated_executor(rig, notifier).run(plan, yes=True)

    got = receiver.wait_for(3)
    assert [m["type"] for m in got] == ["info", "failure", "failure"], [m["title"] for m in got]
    start, node_failed, failed = got
    assert start["title"] == "[SIMULATED] homeops upgrade-cluster on home: started"
    assert node_failed["title"] == f"[SIMULATED] homeops upgrade-cluster on home: {first} failed"
    body = node_failed["message"].splitlines()
    assert body[0] == "SIMULATED run: no real machine was touched."
    assert f"node: {first}" in body and "cluster: home" in body
    run_line = next(line for line in body if line.startswith("run: "))
    journal = next((rig.inventory.state_dir / "runs").iterdir())
    assert run_line == f"run: {journal.name}"
    assert any(line.startswith(f"step: {first}:upgrade") for line in body)
    observed = next(line for line in body if line.startswith("observed: "))
    assert first in observed and "rolled back" in observed
    resume = next(line for line in body if line.startswith("resume: "))
    assert "--resume" in resume
    assert failed["title"] == "[SIMULATED] homeops upgrade-cluster on home: failed (step)"
    assert "report: " in failed["message"]

    assert lines == [] and notifier.report_lines() == ()
    report = (journal / "report.md").read_text() + (journal / "report.json").read_text()
    outputs = [
        rig.out.getvalue(),
        *capsys.readouterr(),
        report,
        *(p.read_bytes().decode(errors="replace") for p in journal.rglob("*") if p.is_file()),
    ]
    assert not any("S1mRunTok3n" in text or url in text for text in outputs)
    assert "notify: started, node-failed, failed → url 1 (json)" in rig.out.getvalue()  # the plan says where


def test_a_hung_receiver_does_not_stall_a_simulated_upgrade(tmp_path: Path, receiver: Receiver) -> None:
    receiver.hang = True
    rig = make_sim_rig(tmp_path)
    plan = rig.plan(nodes=("k8s-3",))
    lines: list[str] = []
    notifier = Notifier(
        [add_url(receiver.url())], ["started", "node-done", "finished"], timeout=0.5, report=lines.append
    )
    began = time.monotonic()
    outcome = simulated_executor(rig, notifier).run(plan, yes=True)
    elapsed = time.monotonic() - began
    assert outcome.status == "finished"
    assert elapsed < 2.0 + 1.0, elapsed  # the run's own (virtual-time) work plus one bounded wait of 0.5 s
    report = json.loads((outcome.report_json or Path()).read_text())
    assert report["policies"]["notify"] == [
        "url 1 (json): 'started', 'node-done' not sent within 0.5s; gave up waiting; the run goes on"
    ]
    markdown = outcome.report.read_text() if outcome.report else ""
    assert "## Policy: notify\n\n- url 1 (json): 'started', 'node-done' not sent within 0.5s" in markdown
    assert (
        lines[-1] == "notify: url 1 (json): 'finished' not sent: an earlier one still hangs; gave up waiting;"
        " the run goes on"
    )
    receiver.release.set()
