"""Run events and run policies on the real executor (issue 19, build item 2).

A toy world of three sheds, each prepared then painted (one batch per shed), tells what a listener
hears and when each policy hook is asked: for a happy run, a failing step, Ctrl-C, a lock held, a
declined confirmation, a red preflight, a refused start, a hold, a clean stop and its resume, and a
policy whose end fails. Time is a ``FakeClock``: holds and waits cost no real second.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from homeops.clock import FakeClock
from homeops.engine.events import (
    GO,
    Decision,
    EndStatus,
    Failed,
    Finished,
    Hold,
    Interrupted,
    NodeDone,
    Planned,
    RunEvent,
    RunInfo,
    RunPolicy,
    Started,
    StepDone,
    StepFailed,
    StepStarted,
    Stopped,
    StopRun,
    Stuck,
)
from homeops.engine.executor import Executor
from homeops.engine.gates import Check
from homeops.engine.journal import Journal
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Plan, Step, Wait
from homeops.engine.progress import PlainProgress
from homeops.engine.waits import Observation
from homeops.errors import Aborted, CommandError, GateFailed, HomeopsError, LockHeld, PolicyRefused, RunStopped
from homeops.errors import Interrupted as InterruptedError
from homeops.runners import Result

BARN = Gate("barn", "barn", "the barn stands", timeout=5)


@dataclass
class Farm:
    """Sheds to paint. ``fail``: sheds whose paint command fails; ``ctrl_c``: a command that gets Ctrl-C."""

    state_dir: Path
    clock: FakeClock
    sent: list[tuple[str, ...]] = field(default_factory=list)
    dry_at: dict[str, float] = field(default_factory=dict)
    dry_seconds: float = 3.0
    fail: set[str] = field(default_factory=set)
    ctrl_c: tuple[str, ...] | None = None
    barn_red: bool = False
    sunny_at: float = 0.0  # the weather gate is red until then

    def look(self, gate: Gate) -> Check:
        if gate.kind == "weather":
            sunny = self.clock.monotonic() >= self.sunny_at
            return Check(sunny, "sunny" if sunny else "raining")
        return Check(not self.barn_red, "fallen over" if self.barn_red else "standing")

    def run(self, argv: Sequence[str], **_: object) -> Result:
        argv = tuple(argv)
        self.sent.append(argv)
        if argv == self.ctrl_c:
            raise KeyboardInterrupt
        if argv[0] == "paint":
            if argv[1] in self.fail:
                return Result(argv, 1, "", "paint: the brush broke", 0.0)
            self.dry_at[argv[1]] = self.clock.monotonic() + self.dry_seconds
        return Result(argv, 0, "", "", 0.0)

    def close(self) -> None:
        return None


class Prep(StepKind):
    name = "events-prep"


class Paint(StepKind):
    """Lockstep: paint, then wait until the paint is dry (``dry_seconds`` after the command)."""

    name = "events-paint"
    lockstep = True
    wait_order = ("dry",)
    terms: Mapping[str, WaitTerms] = {"dry": WaitTerms("the paint is dry")}

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        # a marker, so a step caught after its look is resumed in flight (not started afresh)
        return {s.id: Look(True, "bare wood", marker="bare") for s in steps}

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        farm: Farm = ctx.world

        def look() -> Observation[None]:
            wet = [s.node for s in steps if farm.clock.monotonic() < farm.dry_at.get(s.node or "", float("inf"))]
            return Observation.waiting(f"{', '.join(map(str, wet))} wet") if wet else Observation.ok("dry")

        return look


register(Prep())
register(Paint())


def farm_plan(sheds: Sequence[str] = ("a", "b", "c")) -> Plan:
    steps: list[Step] = []
    for i, shed in enumerate(sheds, 1):
        steps.append(
            Step(
                id=f"{shed}:prep",
                action="events-prep",
                summary=f"prepare {shed}",
                node=shed,
                batch=i,
                commands=(Command(("prep", shed)),),
            )
        )
        steps.append(
            Step(
                id=f"{shed}:paint",
                action="events-paint",
                summary=f"paint {shed}",
                node=shed,
                batch=i,
                commands=(Command(("paint", shed)),),
                waits=(Wait("dry", f"{shed} dry", 60),),
            )
        )
    return Plan(operation="paint-farm", cluster="farm", steps=tuple(steps), poll_interval=1, preflight=(BARN,))


class Recorder:
    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def on_event(self, event: RunEvent) -> None:
        self.events.append(event)

    def names(self) -> list[str]:
        return [_name(e) for e in self.events]


def _name(event: RunEvent) -> str:
    kind = type(event).__name__
    if isinstance(event, (StepStarted, StepDone, StepFailed)):
        extra = " already" if isinstance(event, StepDone) and event.already else ""
        extra += " resumed" if isinstance(event, StepStarted) and event.resumed else ""
        return f"{kind} {event.step.id}{extra}"
    if isinstance(event, NodeDone):
        return f"{kind} {event.node}"
    if isinstance(event, Failed):
        return f"{kind} {event.stage}"
    return kind


@dataclass
class Policy(RunPolicy):
    """A scripted policy: records every call; ``decisions`` are answered in order by ``before_step``."""

    name: str = "scripted"
    calls: list[str] = field(default_factory=list)
    decisions: list[tuple[str, Decision]] = field(default_factory=list)  # (step id it applies to, decision)
    refuse: BaseException | None = None
    fail_begin: BaseException | None = None
    fail_end: BaseException | None = None
    lines: list[str] = field(default_factory=list)

    def describe(self, plan: Plan) -> Sequence[str]:
        return [f"{self.name} looked at {len(plan.steps)} steps"]

    def admit(self, plan: Plan, *, resumed: bool) -> None:
        self.calls.append(f"admit resumed={resumed}")
        if self.refuse is not None:
            raise self.refuse

    def begin(self, run: RunInfo, plan: Plan) -> None:
        self.calls.append(f"begin {run.run_id != ''}")
        if self.fail_begin is not None:
            raise self.fail_begin

    def before_step(self, plan: Plan, step: Step, remaining: Sequence[Step]) -> Decision:
        self.calls.append(f"before {step.id} ({len(remaining)} left)")
        if self.decisions and self.decisions[0][0] == step.id:
            return self.decisions.pop(0)[1]
        return GO

    def end(self, run: RunInfo, status: EndStatus) -> None:
        self.calls.append(f"end {status}")
        self.lines.append(f"{self.name} ended a {status} run")
        if self.fail_end is not None:
            raise self.fail_end

    def report_lines(self) -> Sequence[str]:
        return list(self.lines)


def make(
    tmp_path: Path,
    *,
    policies: Sequence[RunPolicy] = (),
    listeners: Sequence[object] = (),
    farm: Farm | None = None,
    **kw: object,
) -> tuple[Executor, Farm, Recorder, io.StringIO]:
    clock = farm.clock if farm else FakeClock()
    farm = farm or Farm(tmp_path, clock)
    out, recorder = io.StringIO(), Recorder()
    executor = Executor(
        farm,
        local=farm,
        host=lambda name: farm,
        clock=clock,
        progress=PlainProgress(out, clock=clock),
        out=out,
        resume_with="inv farm.paint --resume",
        listeners=[recorder, *listeners],  # type: ignore[list-item]
        policies=policies,
        **kw,  # type: ignore[arg-type]
    )
    return executor, farm, recorder, out


HAPPY = [
    "Planned",
    "Started",
    "StepStarted a:prep",
    "StepDone a:prep",
    "StepStarted a:paint",
    "StepDone a:paint",
    "NodeDone a",
    "StepStarted b:prep",
    "StepDone b:prep",
    "StepStarted b:paint",
    "StepDone b:paint",
    "NodeDone b",
    "StepStarted c:prep",
    "StepDone c:prep",
    "StepStarted c:paint",
    "StepDone c:paint",
    "NodeDone c",
    "Finished",
]


def test_a_happy_run_tells_each_moment_in_order_with_the_executor_clock(tmp_path: Path) -> None:
    policy = Policy()
    executor, farm, recorder, out = make(tmp_path, policies=[policy])
    outcome = executor.run(farm_plan(), yes=True)
    assert outcome.status == "finished"
    assert recorder.names() == HAPPY
    planned, started, finished = recorder.events[0], recorder.events[1], recorder.events[-1]
    assert isinstance(planned, Planned) and not planned.dry_run and planned.run.run_id == ""
    assert isinstance(started, Started) and not started.resumed and started.run.run_id == outcome.journal.run_id  # type: ignore[union-attr]
    assert started.run.resume_command == "inv farm.paint --resume" and started.run.backend == "real"
    assert isinstance(finished, Finished) and finished.report == outcome.report
    # Times are the injected clock's: the paint of each shed takes its 3 (fake) seconds to dry.
    times = [e.at for e in recorder.events]
    assert times == sorted(times) and times[-1] - times[0] >= 9 and farm.clock.sleeps
    # Each batch's first step is asked about; begin after the journal exists, end with the status.
    assert policy.calls == [
        "admit resumed=False",
        "begin True",
        "before a:prep (6 left)",
        "before b:prep (4 left)",
        "before c:prep (2 left)",
        "end finished",
    ]
    # The progress (one listener) printed what it always printed, and the plan shows the policy.
    text = out.getvalue()
    assert "Run policies:\n  scripted: scripted looked at 6 steps" in text
    assert "starting paint-farm on 'farm': 6 steps" in text and "finished: paint-farm done; report " in text
    md = outcome.report.read_text()  # type: ignore[union-attr]
    assert "## Policy: scripted\n\n- scripted ended a finished run" in md
    data = json.loads(outcome.report_json.read_text())  # type: ignore[union-attr]
    assert data["policies"] == {"scripted": ["scripted ended a finished run"]}


def test_a_dry_run_is_planned_shows_the_policies_and_asks_nothing_else(tmp_path: Path) -> None:
    policy = Policy()
    executor, farm, recorder, out = make(tmp_path, policies=[policy])
    assert executor.run(farm_plan(), dry_run=True).status == "dry-run"
    assert recorder.names() == ["Planned"] and isinstance(recorder.events[0], Planned)
    assert recorder.events[0].dry_run
    assert policy.calls == [] and farm.sent == [] and not (tmp_path / "runs").exists()
    assert "  scripted: scripted looked at 6 steps\ndry run: nothing was changed" in out.getvalue()


def test_a_failing_step_is_told_with_the_node_then_the_run_fails_at_stage_step(tmp_path: Path) -> None:
    policy = Policy()
    executor, farm, recorder, _ = make(tmp_path, policies=[policy])
    farm.fail = {"b"}
    with pytest.raises(CommandError) as info:
        executor.run(farm_plan(), yes=True)
    assert recorder.names() == [*HAPPY[:10], "StepFailed b:paint", "Failed step"]
    failed, last = recorder.events[-2], recorder.events[-1]
    assert isinstance(failed, StepFailed) and "brush broke" in failed.error and "\n" not in failed.error
    assert isinstance(last, Failed) and last.step == failed.step and last.report is not None
    assert "continue with: inv farm.paint --resume" in str(info.value) and last.error == str(info.value)
    assert policy.calls[-1] == "end failed" and ("paint", "c") not in farm.sent


def test_ctrl_c_in_a_step_is_an_interrupted_event_and_end_still_runs(tmp_path: Path) -> None:
    policy = Policy()
    executor, farm, recorder, _ = make(tmp_path, policies=[policy])
    farm.ctrl_c = ("paint", "b")
    with pytest.raises(InterruptedError, match=r"interrupted at b:paint") as info:
        executor.run(farm_plan(), yes=True)
    assert info.value.exit_code == 130
    assert recorder.names() == [*HAPPY[:10], "Interrupted"]
    last = recorder.events[-1]
    assert isinstance(last, Interrupted) and last.where == "b:paint" and last.report is not None
    assert policy.calls[-1] == "end interrupted"
    journal = Journal.latest(tmp_path, "paint-farm", FakeClock())
    assert journal is not None and journal.status == "interrupted"


class CtrlCClock(FakeClock):
    """Ctrl-C arrives during the ``n``-th sleep (the person gives up on a wait)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        if len(self.sleeps) == self.n:
            raise KeyboardInterrupt


def test_ctrl_c_from_the_clock_during_a_wait_is_interrupted_too(tmp_path: Path) -> None:
    policy = Policy()
    clock = CtrlCClock(2)
    executor, _, recorder, _ = make(tmp_path, policies=[policy], farm=Farm(tmp_path, clock))
    with pytest.raises(InterruptedError, match=r"interrupted at a:paint"):
        executor.run(farm_plan(), yes=True)
    assert recorder.names() == [*HAPPY[:5], "Interrupted"]
    assert policy.calls[-1] == "end interrupted"


def test_failures_before_the_first_step_reach_the_listeners(tmp_path: Path) -> None:
    policy = Policy()
    # the lock held by a run on another machine (which cannot be checked: never taken over)
    lock = tmp_path / "locks" / "farm.lock"
    lock.parent.mkdir(mode=0o700)
    lock.write_text(json.dumps({"pid": 4242, "host": "laptop", "user": "ann", "since": 0.0, "operation": "other"}))
    executor, farm, recorder, _ = make(tmp_path, policies=[policy])
    with pytest.raises(LockHeld, match="ann@laptop"):
        executor.run(farm_plan(), yes=True)
    assert recorder.names() == ["Planned", "Failed lock"]
    assert isinstance(recorder.events[-1], Failed) and "ann@laptop" in recorder.events[-1].error
    assert policy.calls == ["admit resumed=False"]  # no begin, so no end: the run never began
    # declined
    executor, farm, recorder, out = make(tmp_path / "declined", policies=[Policy()], confirm=lambda q: False)
    with pytest.raises(Aborted, match="not confirmed"):
        executor.run(farm_plan())
    assert recorder.names() == ["Planned", "Failed confirm"]
    assert not (tmp_path / "declined" / "runs").exists() and farm.sent == []
    assert "failed:" not in out.getvalue()  # the progress never started: the task prints the error


def test_a_red_preflight_fails_at_stage_preflight_after_begin_and_ends(tmp_path: Path) -> None:
    policy = Policy()
    executor, farm, recorder, _ = make(tmp_path, policies=[policy], preflight_retries=2)
    farm.barn_red = True
    with pytest.raises(GateFailed, match="fallen over"):
        executor.run(farm_plan(), yes=True)
    assert recorder.names() == ["Planned", "Started", "Failed preflight"]
    assert policy.calls == ["admit resumed=False", "begin True", "end failed"] and farm.sent == []


def test_a_refused_start_changes_nothing_takes_no_lock_and_asks_no_one(tmp_path: Path) -> None:
    asked: list[str] = []
    later = Policy(name="later")
    refusing = Policy(name="window", refuse=PolicyRefused("outside every maintenance window; next: sat 02:00"))
    executor, farm, recorder, _ = make(tmp_path, policies=[refusing, later], confirm=lambda q: asked.append(q) or True)
    with pytest.raises(PolicyRefused, match="next: sat 02:00") as info:
        executor.run(farm_plan())
    assert info.value.exit_code == 4
    assert recorder.names() == ["Planned", "Failed admit"]
    assert asked == [] and later.calls == [] and farm.sent == []
    assert not (tmp_path / "runs").exists() and not (tmp_path / "locks" / "farm.lock").exists()
    # A policy that cannot decide (its own bug, an unreachable API) refuses too, naming itself.
    broken = Policy(name="gate", refuse=RuntimeError("connection refused"))
    executor, _, recorder, _ = make(tmp_path, policies=[broken])
    with pytest.raises(PolicyRefused, match=r"run policy 'gate' could not decide .*connection refused"):
        executor.run(farm_plan(), yes=True)
    assert recorder.names() == ["Planned", "Failed admit"]


def test_a_failing_begin_fails_at_stage_begin_with_nothing_changed_and_ends_the_entered(tmp_path: Path) -> None:
    first, failing, never = Policy(name="silence"), Policy(name="pre-hook"), Policy(name="never")
    failing.fail_begin = RuntimeError("exit 3")
    executor, farm, recorder, _ = make(tmp_path, policies=[first, failing, never])
    with pytest.raises(HomeopsError, match=r"run policy 'pre-hook' failed in begin: exit 3"):
        executor.run(farm_plan(), yes=True)
    assert recorder.names() == ["Planned", "Started", "Failed begin"] and farm.sent == []
    # the policies whose begin was called end (the failing one too, last entered first); not the next
    assert first.calls[-1] == "end failed" and failing.calls[-1] == "end failed"
    assert never.calls == ["admit resumed=False"]
    journal = Journal.latest(tmp_path, "paint-farm", FakeClock())
    assert journal is not None and journal.status == "failed"


def test_a_hold_sleeps_on_the_clock_asks_again_says_stuck_once_then_goes(tmp_path: Path) -> None:
    alerts = Policy(name="alerts", decisions=[("b:prep", Hold("alert KubeNodeNotReady firing", 600))] * 3)
    executor, farm, recorder, out = make(tmp_path, policies=[alerts], hold_stuck_after=900)
    assert executor.run(farm_plan(), yes=True).status == "finished"
    assert recorder.names() == [*HAPPY[:7], "Stuck", *HAPPY[7:]]
    stuck = recorder.events[7]
    assert isinstance(stuck, Stuck) and stuck.elapsed == 1200 and stuck.expected == 900
    assert stuck.observed == "alert KubeNodeNotReady firing" and stuck.target == "b"
    assert alerts.calls.count("before b:prep (4 left)") == 4
    assert farm.clock.sleeps.count(600) == 3  # virtual time: no real second was slept
    assert out.getvalue().count("holding before prepare b: alerts: alert KubeNodeNotReady firing") == 1
    assert "hold over after 1800s: going on" in out.getvalue()


def test_a_stop_ends_the_run_cleanly_and_resume_finishes_the_rest(tmp_path: Path) -> None:
    window = Policy(name="window", decisions=[("c:prep", StopRun("the window closes at 06:00 before c is done"))])
    executor, farm, recorder, out = make(tmp_path, policies=[window])
    with pytest.raises(RunStopped) as info:
        executor.run(farm_plan(), yes=True)
    assert info.value.exit_code == 75
    assert "stopped before prepare c by run policy window: the window closes at 06:00" in str(info.value)
    assert "continue with: inv farm.paint --resume" in str(info.value)
    assert recorder.names() == [*HAPPY[:12], "Stopped"]
    stopped = recorder.events[-1]
    assert isinstance(stopped, Stopped) and stopped.report is not None
    assert window.calls[-1] == "end stopped"
    assert "stopped: window: the window closes" in out.getvalue()
    journal = Journal.latest(tmp_path, "paint-farm", FakeClock())
    assert journal is not None and journal.status == "stopped"
    assert json.loads(stopped.report.with_suffix(".json").read_text())["status"] == "stopped"
    # --resume continues the stopped run like an interrupted one: only c is done now.
    sent_before = list(farm.sent)
    executor2, _, recorder2, _ = make(tmp_path, policies=[Policy(name="window")], farm=farm)
    outcome = executor2.run(journal.plan(), yes=True, resume=journal)
    assert outcome.status == "finished" and outcome.journal is not None and outcome.journal.status == "finished"
    assert farm.sent[len(sent_before) :] == [("prep", "c"), ("paint", "c")]
    assert recorder2.names() == [
        "Planned",
        "Started",
        "StepDone a:prep already",
        "StepDone a:paint already",
        "StepDone b:prep already",
        "StepDone b:paint already",
        *HAPPY[12:],
    ]
    assert isinstance(recorder2.events[1], Started) and recorder2.events[1].resumed


@pytest.mark.parametrize(
    ("setup", "status", "error"),
    [
        ({}, "finished", None),
        ({"fail": {"a"}}, "failed", CommandError),
        ({"ctrl_c": ("prep", "b")}, "interrupted", InterruptedError),
        ({"stop": "b:prep"}, "stopped", RunStopped),
        ({"barn_red": True}, "failed", GateFailed),
    ],
)
def test_end_runs_once_after_every_outcome(
    tmp_path: Path, setup: dict[str, object], status: str, error: type[BaseException] | None
) -> None:
    stop = setup.pop("stop", None)
    policy = Policy(decisions=[(str(stop), StopRun("told to"))] if stop else [])
    executor, farm, _, _ = make(tmp_path, policies=[policy], preflight_retries=1)
    for name, value in setup.items():
        setattr(farm, name, value)
    if error is None:
        executor.run(farm_plan(), yes=True)
    else:
        with pytest.raises(error):
            executor.run(farm_plan(), yes=True)
    assert [c for c in policy.calls if c.startswith("end")] == [f"end {status}"]
    # the report is written after end: the policy's line about this end is in it
    md = next(tmp_path.glob("runs/*/report.md")).read_text()
    assert f"- scripted ended a {status} run" in md


class Exploding:
    name = "flaky-notifier"

    def __init__(self) -> None:
        self.calls = 0

    def on_event(self, event: RunEvent) -> None:
        self.calls += 1
        raise ConnectionError("ntfy.sh unreachable")


def test_a_raising_listener_is_reported_once_and_never_changes_the_run(tmp_path: Path) -> None:
    exploding = Exploding()
    executor, farm, recorder, out = make(tmp_path, listeners=[exploding])
    outcome = executor.run(farm_plan(), yes=True)
    quiet, quiet_farm, _, _ = make(tmp_path / "quiet")
    quiet.run(farm_plan(), yes=True)
    assert outcome.status == "finished" and farm.sent == quiet_farm.sent
    assert recorder.names() == HAPPY and exploding.calls == len(HAPPY)  # still told every event
    text = out.getvalue()
    assert text.count("listener 'flaky-notifier' failed on Planned: ntfy.sh unreachable (ignored") == 1
    assert text.count("flaky-notifier") == 1
    md = outcome.report.read_text()  # type: ignore[union-attr]
    assert "## Listeners that failed (ignored; the run went on)" in md
    # the last event (Finished, which names the report) failed too: the report was rewritten to count it
    assert f"(and {len(HAPPY) - 1} more time(s))" in md


def test_a_raising_end_fails_a_finished_run_loudly_and_every_end_still_runs(tmp_path: Path) -> None:
    silence = Policy(name="silence")
    hooks = Policy(name="hooks", fail_end=RuntimeError("post hook 'kopia snapshot' exited 2"))
    executor, farm, recorder, _ = make(tmp_path, policies=[silence, hooks])
    with pytest.raises(HomeopsError) as info:
        executor.run(farm_plan(), yes=True)
    message = str(info.value)
    assert "paint-farm finished every step, but run policy 'hooks' failed at the end of the run" in message
    assert "post hook 'kopia snapshot' exited 2" in message and "inv farm.paint --resume" in message
    # the silence ends after the hooks (last entered, first ended) although the hooks' end raised
    assert hooks.calls[-1] == "end finished" and silence.calls[-1] == "end finished"
    assert recorder.names() == [*HAPPY[:-1], "Failed end"]
    journal = Journal.latest(tmp_path, "paint-farm", FakeClock())
    assert journal is not None and journal.status == "failed" and "policy 'hooks'" in (journal.error or "")
    md = next(tmp_path.glob("runs/*/report.md")).read_text()
    assert md.startswith("# paint-farm on `farm` — failed") and "- hooks ended a finished run" in md
    # --resume repeats the policies around no step (every step is done), and now finishes
    hooks.fail_end = None
    sent = len(farm.sent)
    outcome = executor.run(journal.plan(), yes=True, resume=journal)
    assert outcome.status == "finished" and len(farm.sent) == sent
    assert hooks.calls[-2:] == ["begin True", "end finished"]


def test_a_raising_end_after_a_failure_keeps_the_first_error_and_adds_its_own(tmp_path: Path) -> None:
    hooks = Policy(name="hooks", fail_end=RuntimeError("post hook exited 2"))
    executor, farm, recorder, _ = make(tmp_path, policies=[hooks])
    farm.fail = {"a"}
    with pytest.raises(CommandError) as info:
        executor.run(farm_plan(), yes=True)
    assert "brush broke" in str(info.value) and "run policy 'hooks' failed at the end of the run" in str(info.value)
    assert recorder.names()[-1] == "Failed step"


def test_a_wait_past_half_its_timeout_is_stuck_once(tmp_path: Path) -> None:
    executor, farm, recorder, _ = make(tmp_path)
    farm.dry_seconds = 45  # the wait's timeout is 60: past 30 s it is longer than expected
    executor.run(farm_plan(("a",)), yes=True)
    assert recorder.names() == [*HAPPY[:5], "Stuck", *HAPPY[5:7], "Finished"]
    stuck = recorder.events[5]
    assert isinstance(stuck, Stuck) and stuck.what == "a dry" and stuck.target == "a"
    assert stuck.expected == 30 and 30 <= stuck.elapsed < 32 and stuck.observed == "a wet"


def test_ctrl_c_during_a_hold_is_interrupted_between_steps(tmp_path: Path) -> None:
    clock = CtrlCClock(5)  # three sleeps dry a's paint; the 2nd sleep of the hold gets Ctrl-C
    holding = Policy(name="alerts", decisions=[("b:prep", Hold("alert firing", 60))] * 9)
    executor, farm, recorder, _ = make(tmp_path, policies=[holding], farm=Farm(tmp_path, clock))
    with pytest.raises(InterruptedError, match=r"interrupted at between steps"):
        executor.run(farm_plan(), yes=True)
    assert recorder.names() == [*HAPPY[:7], "Interrupted"]
    assert farm.clock.sleeps[-2:] == [60, 60] and ("prep", "b") not in farm.sent
    assert holding.calls[-1] == "end interrupted"


def test_a_step_caught_in_flight_is_resumed_not_held_and_its_node_is_done_once(tmp_path: Path) -> None:
    executor, farm, _, _ = make(tmp_path)
    farm.ctrl_c = ("paint", "b")
    with pytest.raises(InterruptedError):
        executor.run(farm_plan(), yes=True)
    journal = Journal.latest(tmp_path, "paint-farm", FakeClock())
    assert journal is not None and journal.step("b:paint").status == "running"
    farm.ctrl_c = None
    window = Policy(name="window", decisions=[("b:paint", StopRun("never asked: b is in flight"))])
    executor2, _, recorder, _ = make(tmp_path, policies=[window], farm=farm)
    assert executor2.run(journal.plan(), yes=True, resume=journal).status == "finished"
    assert (
        recorder.names()
        == [
            "Planned",
            "Started",
            "StepDone a:prep already",
            "StepDone a:paint already",
            "StepDone b:prep already",
            "StepStarted b:paint resumed",
            "StepDone b:paint",
            "NodeDone b",  # a was done by the first process: no NodeDone a this time
            *HAPPY[12:],
        ]
    )
    assert [c for c in window.calls if c.startswith("before")] == ["before c:prep (2 left)"]


def test_policy_sections_survive_a_later_rewrite_of_the_report_and_secrets_are_masked(tmp_path: Path) -> None:
    from homeops.engine.report import write
    from homeops.secrets import MASKER

    MASKER.add("hunter2-webhook-token")
    hooks = Policy(name="hooks", lines=["pre hook: curl https://x/?t=hunter2-webhook-token → 200"])
    executor, _, _, _ = make(tmp_path, policies=[hooks])
    outcome = executor.run(farm_plan(("a",)), yes=True)
    assert outcome.journal is not None and outcome.report is not None
    # dr.rebuild rewrites the report of a finished run ("done with problems"): the sections stay
    outcome.journal.finish("finished", "done with problems: x")
    md, js = write(outcome.journal)
    text = md.read_text()
    assert "## Policy: hooks" in text and "hunter2" not in text and "t=******" in text
    assert json.loads(js.read_text())["policies"]["hooks"][1] == "hooks ended a finished run"


def test_a_raising_end_after_a_stop_fails_the_run_and_resume_still_does_the_rest(tmp_path: Path) -> None:
    hooks = Policy(
        name="hooks",
        decisions=[("c:prep", StopRun("window closes"))],
        fail_end=RuntimeError("post hook exited 2"),
    )
    executor, farm, recorder, _ = make(tmp_path, policies=[hooks])
    with pytest.raises(HomeopsError) as info:
        executor.run(farm_plan(), yes=True)
    assert not isinstance(info.value, RunStopped)  # failed, loudly: exit 1, not the resumable 75
    assert "stopped before prepare c by run policy hooks: window closes, but run policy 'hooks' failed" in str(
        info.value
    )
    assert recorder.names() == [*HAPPY[:12], "Failed end"]
    journal = Journal.latest(tmp_path, "paint-farm", FakeClock())
    assert journal is not None and journal.status == "failed"
    hooks.fail_end = None
    assert executor.run(journal.plan(), yes=True, resume=journal).status == "finished"
    assert farm.sent[-2:] == [("prep", "c"), ("paint", "c")] and farm.sent.count(("paint", "a")) == 1


def test_a_gate_red_past_half_its_timeout_before_sending_is_stuck_once(tmp_path: Path) -> None:
    from dataclasses import replace

    weather = Gate("weather", "weather", "no rain", timeout=20)
    plan = farm_plan(("a",))
    plan = replace(plan, steps=(plan.steps[0], replace(plan.steps[1], gates_before=(weather,))))
    executor, farm, recorder, out = make(tmp_path)
    farm.sunny_at = 14
    assert executor.run(plan, yes=True).status == "finished"
    assert recorder.names() == [*HAPPY[:4], "Stuck", *HAPPY[4:7], "Finished"]  # looked at before paint a
    stuck = recorder.events[4]
    assert isinstance(stuck, Stuck) and stuck.what == "gate weather to be green" and stuck.expected == 10
    assert stuck.observed == "raining" and 10 <= stuck.elapsed < 14
    assert "gate weather: red — raining" in out.getvalue()


def test_ctrl_c_at_the_confirmation_is_interrupted_before_the_run_started(tmp_path: Path) -> None:
    def ctrl_c(question: str) -> bool:
        raise KeyboardInterrupt

    policy = Policy()
    executor, farm, recorder, _ = make(tmp_path, policies=[policy], confirm=ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        executor.run(farm_plan())
    assert recorder.names() == ["Planned", "Interrupted"]
    last = recorder.events[-1]
    assert isinstance(last, Interrupted) and last.where == "before the run started (confirm)" and last.report is None
    assert policy.calls == ["admit resumed=False"] and farm.sent == [] and not (tmp_path / "runs").exists()


def test_the_progress_listener_prints_what_progress_printed_and_nothing_for_a_run_that_never_started() -> None:
    from homeops.engine.progress import ProgressListener

    plan, clock = farm_plan(("a",)), FakeClock()
    run = RunInfo("paint-farm", "farm", "real", run_id="r1", resume_command="inv farm.paint --resume")
    direct, out = io.StringIO(), io.StringIO()
    progress = PlainProgress(direct, clock=clock)
    progress.started(plan, resumed=True)
    progress.step(plan.steps[0], 1, 2, "resumed")
    progress.step(plan.steps[0], 1, 2, "skipped")
    progress.finished("failed", "boom")
    listener = ProgressListener(PlainProgress(out, clock=clock))
    listener.on_event(Failed(run, "locked", "lock", 0.0))  # before Started: the task prints the error
    listener.on_event(Started(run, plan, True, 0.0))
    listener.on_event(StepStarted(run, plan.steps[0], 1, 2, 0.0, resumed=True))
    listener.on_event(StepDone(run, plan.steps[0], 1, 2, 0.0, already=True))
    listener.on_event(Failed(run, "boom", "step", 0.0))
    assert out.getvalue() == direct.getvalue()
    listener.on_event(Planned(run, plan, False, 0.0))  # the next run of the same executor
    listener.on_event(Failed(run, "not confirmed", "confirm", 0.0))
    listener.on_event(Stopped(run, "window: closes at 06:00", 0.0))
    last = out.getvalue().splitlines()[-1]
    assert last == "[00:00] stopped: window: closes at 06:00; continue with: inv farm.paint --resume"


def test_a_listener_error_quoting_a_secret_is_masked_in_output_and_report(tmp_path: Path) -> None:
    from homeops.secrets import MASKER

    MASKER.add("tk_listener_secret_42")

    class Leaky:
        def on_event(self, event: RunEvent) -> None:
            raise ConnectionError("POST https://hooks.example/tk_listener_secret_42 refused")

    executor, _, _, out = make(tmp_path, listeners=[Leaky()])
    outcome = executor.run(farm_plan(("a",)), yes=True)
    md = outcome.report.read_text()  # type: ignore[union-attr]
    assert "listener 'Leaky' failed on Planned: POST https://hooks.example/****** refused" in md
    assert "tk_listener_secret_42" not in md + out.getvalue()


class LearnsOnTheLastEvent(Policy):
    """A notifier's shape: a policy and a listener, whose last message fails to go out on the final event."""

    def on_event(self, event: RunEvent) -> None:
        if isinstance(event, Finished):
            self.lines.append("'finished' not sent: the service did not answer")


def test_a_policy_line_learnt_on_the_last_event_reaches_the_report(tmp_path: Path) -> None:
    notifier = LearnsOnTheLastEvent(name="notify")
    executor, _, _, _ = make(tmp_path, policies=[notifier], listeners=[notifier])
    outcome = executor.run(farm_plan(("a",)), yes=True)
    assert outcome.report is not None
    text = outcome.report.read_text()
    assert "'finished' not sent: the service did not answer" in text
    assert json.loads((outcome.report.parent / "report.json").read_text())["policies"]["notify"][-1] == (
        "'finished' not sent: the service did not answer"
    )
