"""A test-only workflow on the real engine: two step kinds, an allowed-red gate, a gate a step brings up.

It is what a new workflow (bootstrap, dr) writes: register kinds, give the executor a World, plan a
Plan with a Health policy. Nothing here is Talos: the engine must carry it out with journal, lock,
dry-run, resume (never sending twice) and report, and stop on a wait's failure condition.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from homeops.clock import FakeClock
from homeops.engine.executor import Executor
from homeops.engine.gates import Check
from homeops.engine.journal import Journal
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Health, Plan, Step, Wait
from homeops.engine.waits import Observation
from homeops.errors import Aborted, GateFailed
from homeops.runners import Result


@dataclass
class Shelf:
    """The toy world: boxes with contents; a dashboard that is always red; an API that a step starts."""

    state_dir: Path
    boxes: dict[str, str] = field(default_factory=dict)
    sent: list[tuple[str, ...]] = field(default_factory=list)
    api_up: bool = False
    crash_after: int | None = None  # raise KeyboardInterrupt after this many commands (a SIGKILL stand-in)
    broken: set[str] = field(default_factory=set)  # boxes that end up with the wrong contents
    target: str = "local"

    def look(self, gate: Gate) -> Check:
        if gate.kind == "dashboard":
            return Check(False, "dashboard unreachable")
        if gate.kind == "api":
            return Check(self.api_up, "api answers" if self.api_up else "no api yet")
        return Check(True, "ok")

    def run(self, argv: Sequence[str], **_: object) -> Result:
        self.sent.append(tuple(argv))
        verb, *args = argv
        if verb == "put":
            box, content = args
            self.boxes[box] = "garbage" if box in self.broken else content
        elif verb == "start-api":
            self.api_up = True
        if self.crash_after is not None and len(self.sent) >= self.crash_after:
            self.crash_after = None
            raise KeyboardInterrupt
        return Result(tuple(argv), 0, "", "", 0.0)

    def close(self) -> None:
        return None


class Put(StepKind):
    """Put content in a box; already there → nothing sent; the wait fails at once on wrong content."""

    name = "toy-put"
    lockstep = True
    wait_order = ("content",)
    terms: Mapping[str, WaitTerms] = {
        "content": WaitTerms("the box holds the content", "the box holds something else", "empty the box by hand")
    }

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        shelf: Shelf = ctx.world
        looks = {}
        for s in steps:
            held = shelf.boxes.get(s.node or "")
            # The marker (what the box held) tells resume that this step's command may have left.
            looks[s.id] = Look(True, f"holds {held!r}", marker=repr(held), done=held == s.artifact)
        return looks

    def sent_already(self, ctx: StepContext, step: Step, record: object) -> bool:
        shelf: Shelf = ctx.world
        return shelf.boxes.get(step.node or "") == step.artifact

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        shelf: Shelf = ctx.world

        def look() -> Observation[None]:
            wrong = [s.node for s in steps if shelf.boxes.get(s.node or "") not in (None, s.artifact)]
            if wrong:
                return Observation.failed(f"{', '.join(map(str, wrong))} hold something else")
            return Observation.ok("all boxes filled")

        return look


class StartApi(StepKind):
    name = "toy-start-api"


register(Put())
register(StartApi())

API = Gate("api", "api", "the api answers", timeout=30)
DASHBOARD = Gate("dashboard", "dashboard", "the dashboard answers", timeout=30)


def toy_plan(boxes: Sequence[str] = ("a", "b", "c")) -> Plan:
    steps = [
        Step(
            id="cluster:start-api", action="toy-start-api", summary="start the api", commands=(Command(("start-api",)),)
        )
    ]
    steps += [
        Step(
            id=f"{box}:put",
            action="toy-put",
            summary=f"put apples in {box}",
            node=box,
            batch=i + 1,
            commands=(Command(("put", box, "apples")),),
            waits=(Wait("content", f"{box} holds apples", 60),),
            artifact="apples",
        )
        for i, box in enumerate(boxes)
    ]
    return Plan(
        operation="fill-shelf",
        cluster="toy",
        steps=tuple(steps),
        poll_interval=1,
        target="apples everywhere",
        health=Health(allowed_red=(DASHBOARD,), required_after=(("cluster:start-api", API),)),
    )


def executor(shelf: Shelf, out: io.StringIO, **kw: object) -> Executor:
    return Executor(
        shelf,
        local=shelf,
        host=lambda name: shelf,
        clock=FakeClock(),
        out=out,
        resume_with="inv toy.fill --resume",
        **kw,  # type: ignore[arg-type]
    )


def test_dry_run_shows_the_health_policy_and_changes_nothing(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path), io.StringIO()
    outcome = executor(shelf, out).run(toy_plan(), dry_run=True)
    text = out.getvalue()
    assert outcome.status == "dry-run" and shelf.sent == []
    assert "Reported only (may be red, never stop the run):\n  - dashboard: the dashboard answers" in text
    assert "Required once cluster:start-api is done: api: the api answers" in text
    assert "$ put a apples" in text and not (tmp_path / "runs").exists()


def test_runs_with_a_red_allowed_gate_and_requires_the_gate_a_step_brings_up(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path, boxes={"b": "apples"}), io.StringIO()
    outcome = executor(shelf, out).run(toy_plan(), yes=True)
    assert outcome.status == "finished"
    # b already held apples: the look before sending skipped it (idempotency).
    assert shelf.sent == [("start-api",), ("put", "a", "apples"), ("put", "c", "apples")]
    assert outcome.journal is not None and outcome.journal.step("b:put").data["already"] is True
    report = json.loads(outcome.report_json.read_text())  # type: ignore[union-attr]
    assert report["reported"] == ["dashboard: red — dashboard unreachable"]
    # The api gate was not required before the step that starts it, then was checked after it.
    assert any(line.startswith("api: green") for line in report["steps"][1]["gates"])
    assert "## Reported only (allowed red)" in outcome.report.read_text()  # type: ignore[union-attr]


def test_a_required_after_gate_that_stays_red_stops_the_run(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path), io.StringIO()

    class Stuck(Shelf):
        def look(self, gate: Gate) -> Check:
            return Check(False, "no api") if gate.kind == "api" else super().look(gate)

    stuck = Stuck(tmp_path)
    with pytest.raises(GateFailed, match=r"gate 'api' failed: no api"):
        executor(stuck, out).run(toy_plan(), yes=True)
    assert stuck.sent == [("start-api",)]
    assert shelf.sent == []


def test_a_wait_failure_condition_stops_at_once_with_the_kind_hint_and_resume(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path, broken={"b"}), io.StringIO()
    with pytest.raises(GateFailed) as info:
        executor(shelf, out).run(toy_plan(), yes=True)
    message = str(info.value)
    assert "b hold something else" in message and "empty the box by hand" in message
    assert "continue with: inv toy.fill --resume" in message
    assert ("put", "c", "apples") not in shelf.sent


def test_resume_after_a_crash_never_sends_twice(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path, crash_after=3), io.StringIO()
    run = executor(shelf, out)
    with pytest.raises(Aborted, match=r"inv toy.fill --resume"):
        run.run(toy_plan(), yes=True)
    journal = Journal.latest(tmp_path, "fill-shelf", FakeClock())
    assert journal is not None and journal.status == "interrupted"
    # The crash came right after b's command left, before the journal said so.
    assert journal.step("b:put").status == "running" and not journal.step("b:put").sent
    outcome = run.run(journal.plan(), yes=True, resume=journal)
    assert outcome.status == "finished"
    puts = [argv for argv in shelf.sent if argv[0] == "put"]
    assert puts == [("put", "a", "apples"), ("put", "b", "apples"), ("put", "c", "apples")]  # each once
    assert journal.step("b:put").sent and journal.step("b:put").data["command_inferred"] is True


def test_a_simulated_backend_says_so_and_a_real_journal_is_not_resumed_under_it(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path, crash_after=2), io.StringIO()
    questions: list[str] = []
    real = executor(shelf, out, confirm=lambda q: questions.append(q) or True)
    with pytest.raises(Aborted):
        real.run(toy_plan())
    journal = Journal.latest(tmp_path, "fill-shelf", FakeClock())
    assert journal is not None and journal.backend == "real"
    sim_out = io.StringIO()
    sim = executor(shelf, sim_out, backend="simulated")
    with pytest.raises(Aborted, match=r"acted on the real cluster, this one would act on the simulated one"):
        sim.run(journal.plan(), yes=True, resume=journal)
    outcome = executor(
        Shelf(tmp_path / "sim"), sim_out, backend="simulated", confirm=lambda q: questions.append(q) or True
    ).run(toy_plan())
    assert sim_out.getvalue().splitlines()[0].startswith("[SIMULATED] Plan: fill-shelf")
    assert questions[-1].startswith("[SIMULATED] Run fill-shelf") and not questions[0].startswith("[SIMULATED]")
    assert "— SIMULATED" in outcome.report.read_text().splitlines()[0]  # type: ignore[union-attr]


def test_a_journal_of_another_schema_is_refused_in_one_line(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path, crash_after=2), io.StringIO()
    with pytest.raises(Aborted):
        executor(shelf, out).run(toy_plan(), yes=True)
    path = next(tmp_path.glob("runs/*/journal.json"))
    data = json.loads(path.read_text())
    del data["schema"]
    data["version"] = 1
    path.write_text(json.dumps(data))
    from homeops.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        Journal.load(path, FakeClock())
    assert "journal of schema 1, this homeops reads schema 2" in str(info.value)
    assert "\n" not in str(info.value)
    assert Journal.latest(tmp_path, "fill-shelf", FakeClock()) is None  # never misread as resumable


def test_an_unregistered_step_kind_is_a_plan_error(tmp_path: Path) -> None:
    from homeops.errors import PlanError

    plan = Plan(operation="x", cluster="toy", steps=(Step(id="s", action="nobody-registered-this", summary="s"),))
    with pytest.raises(PlanError, match=r"no step kind 'nobody-registered-this' is registered"):
        executor(Shelf(tmp_path), io.StringIO()).run(plan, yes=True)
