"""End to end against the simulator, through the composition root (``homeops.app``): homeops.yaml's ``notify:``
and ``$HOMEOPS_NOTIFY_URLS`` switch notifications on for a run, and an upgrade whose first node boots back into
the old version (the A/B rollback fault, ``homeops.sim.faults`` ``node-rollback``) sends, through Apprise's
``json://`` to a local receiver, a start message and a failure naming that node — every message marked
SIMULATED, no URL in any output, journal or report. A receiver that never answers costs the run one bounded
wait, and the report says what was not sent."""

from __future__ import annotations

import io
import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from homeops.app.runs import Options, run_operation
from homeops.errors import GateFailed
from homeops.inventory.loader import load_inventory
from homeops.operations.planners import Request, plan_upgrade
from homeops.runtime import Runtime
from tests.policies.conftest import Receiver
from tests.rolling.simrig import SimRig, make_sim_rig


def with_notify(rig: SimRig, section: str) -> None:
    """Add ``section`` to the rig's homeops.yaml and give its runtime the inventory's ``notify`` as loaded."""
    path = rig.inventory.root / "homeops.yaml"
    path.write_text(path.read_text() + section)
    rig.runtime.inventory = replace(rig.runtime.inventory, notify=load_inventory(rig.inventory.root).notify)


def upgrade(runtime: Runtime, out: io.StringIO, **asked: object) -> object:
    return run_operation(
        runtime.inventory.root,
        "upgrade-cluster",
        lambda inv, facts, req: plan_upgrade(inv, facts, req, operation="upgrade-cluster"),
        lambda rt: Request(now=rt.clock.now(), **asked),  # type: ignore[arg-type]
        Options(yes=True),
        runtime=runtime,
        out=out,
        task="talos.upgrade-cluster",
    )


def test_a_rolled_back_node_is_named_in_a_simulated_notification(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_sim_rig(tmp_path)
    first = next(s.node for s in rig.plan().steps if s.action == "upgrade")
    assert first is not None
    rig.fault("node-rollback", first)
    url = receiver.url("/homeops/S1mRunTok3n")
    monkeypatch.setenv("HOMEOPS_NOTIFY_URLS", url)
    with_notify(rig, "notify:\n  events: [started, node-failed, failed]\n  timeout: 10\n")
    out = io.StringIO()

    with pytest.raises(GateFailed, match="rolled back"):
        upgrade(rig.runtime, out)

    got = receiver.wait_for(3)
    assert [m["type"] for m in got] == ["info", "failure", "failure"], [m["title"] for m in got]
    start, node_failed, failed = got
    assert start["title"] == "[SIMULATED] homeops upgrade-cluster on home: started"
    assert node_failed["title"] == f"[SIMULATED] homeops upgrade-cluster on home: {first} failed"
    body = node_failed["message"].splitlines()
    assert body[0] == "SIMULATED run: no real machine was touched."
    assert f"node: {first}" in body and "cluster: home" in body
    journal = next((rig.inventory.state_dir / "runs").iterdir())
    assert f"run: {journal.name}" in body
    assert any(line.startswith(f"step: {first}:upgrade") for line in body)
    observed = next(line for line in body if line.startswith("observed: "))
    assert first in observed and "rolled back" in observed
    resume = next(line for line in body if line.startswith("resume: "))
    assert "talos.upgrade-cluster" in resume and "--resume" in resume
    assert failed["title"] == "[SIMULATED] homeops upgrade-cluster on home: failed (step)"
    assert "report: " in failed["message"]

    printed = out.getvalue()
    assert "notify: started, node-failed, failed → url 1 (json)" in printed  # the plan says where, not the URL
    assert "not sent" not in printed and "no answer" not in printed  # every message went out
    files = [p.read_bytes().decode(errors="replace") for p in journal.rglob("*") if p.is_file()]
    for text in [printed, *capsys.readouterr(), *files]:
        assert "S1mRunTok3n" not in text and url not in text


def test_a_hung_receiver_does_not_stall_a_simulated_upgrade(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiver.hang = True
    rig = make_sim_rig(tmp_path)
    monkeypatch.setenv("HOMEOPS_NOTIFY_URLS", receiver.url())
    with_notify(rig, "notify:\n  events: [started, node-done, finished]\n  timeout: 0.5\n")
    out = io.StringIO()
    began = time.monotonic()
    outcome = upgrade(rig.runtime, out, nodes=("k8s-3",))
    elapsed = time.monotonic() - began
    assert getattr(outcome, "status", None) == "finished"
    assert elapsed < 3.0, elapsed  # the run's own work (virtual time) plus one bounded wait of 0.5 s
    journal = next((rig.inventory.state_dir / "runs").iterdir())
    report = json.loads((journal / "report.json").read_text())
    lines = report["policies"]["notify"]
    # the last message's fate is in the report too (learnt on the final event, after the report was first written)
    assert lines[-2:] == [
        "url 1 (json): 'started', 'node-done' not sent within 0.5s; gave up waiting; the run goes on",
        "url 1 (json): 'finished' not sent: an earlier one still hangs; gave up waiting; the run goes on",
    ]
    # On a slow machine the run may outlast the timeout before its end: then the hang is reported as it happens too.
    assert lines[:-2] in (
        [],
        ["url 1 (json): no answer to 'started' in 0.5s; still trying in the background; the run goes on"],
    )
    assert "- url 1 (json): 'started', 'node-done' not sent within 0.5s" in (journal / "report.md").read_text()
    printed = out.getvalue()  # each problem is one progress line
    assert "] notify: url 1 (json): 'started', 'node-done' not sent within 0.5s; gave up waiting" in printed
    assert "notify: url 1 (json): 'finished' not sent: an earlier one still hangs; gave up waiting" in printed
    assert receiver.url() not in printed
    receiver.release.set()


def test_a_run_whose_planning_fails_is_told_too(
    tmp_path: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A nightly upgrade that cannot even be planned (a node name the inventory does not know, a node down
    while observing) used to fail before the executor had a plan, so no listener heard of it."""
    from homeops.errors import ConfigError

    rig = make_sim_rig(tmp_path)
    monkeypatch.setenv("HOMEOPS_NOTIFY_URLS", receiver.url("/homeops/PlanTok3n"))
    with_notify(rig, "notify:\n  events: [failed]\n  timeout: 10\n")

    with pytest.raises(ConfigError, match="no node named or addressed 'k8s-99'"):
        upgrade(rig.runtime, io.StringIO(), nodes=("k8s-99",))

    (told,) = receiver.wait_for(1)
    assert told["title"] == "[SIMULATED] homeops upgrade-cluster on home: failed (plan)"
    assert "k8s-99" in told["message"] and "nothing was changed" in told["message"]
    assert not (rig.inventory.state_dir / "runs").exists() or not any((rig.inventory.state_dir / "runs").iterdir())
