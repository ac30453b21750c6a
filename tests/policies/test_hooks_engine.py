"""Hooks on the real executor (a toy shelf workflow of its own), with real ``sh``:
a failed pre hook changes nothing and the journal and report say why; post hooks run after success, a
failing step, Ctrl-C and a policy's StopRun; a failing post hook fails a run whose steps all finished."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from homeops.clock import FakeClock
from homeops.engine.events import GO, Decision, RunPolicy, StopRun
from homeops.engine.executor import Executor
from homeops.engine.gates import Check
from homeops.engine.journal import Journal
from homeops.engine.kinds import StepKind, register
from homeops.engine.plan import Command, Gate, Plan, Step
from homeops.errors import CommandError, HomeopsError, Interrupted, PolicyRefused, RunStopped
from homeops.inventory.model import Hook, Hooks
from homeops.policies.hooks import HookPolicy
from homeops.runners import LocalRunner, Result


@dataclass
class Shelf:
    """The toy world: boxes to fill; a jammed box fails its step; ``crash_after`` commands, a Ctrl-C."""

    state_dir: Path
    boxes: dict[str, str] = field(default_factory=dict)
    sent: list[tuple[str, ...]] = field(default_factory=list)
    jammed: set[str] = field(default_factory=set)
    crash_after: int | None = None
    target: str = "local"

    def look(self, gate: Gate) -> Check:
        return Check(True, "ok")

    def run(self, argv: Sequence[str], **_: object) -> Result:
        self.sent.append(tuple(argv))
        if self.crash_after is not None and len(self.sent) >= self.crash_after:
            raise KeyboardInterrupt
        box = argv[1]
        if box in self.jammed:
            return Result(tuple(argv), 1, "", f"{box} is jammed", 0.0)
        self.boxes[box] = "apples"
        return Result(tuple(argv), 0, "", "", 0.0)

    def close(self) -> None:
        return None


class Fill(StepKind):
    name = "hooks-toy-fill"


register(Fill())


def toy_plan() -> Plan:
    steps = tuple(
        Step(id=f"{box}:fill", action="hooks-toy-fill", summary=f"fill {box}", node=box, batch=i + 1,
             commands=(Command(("put", box)),))
        for i, box in enumerate("abc")
    )  # fmt: skip
    return Plan(operation="fill-shelf", cluster="toy", steps=steps, poll_interval=1, target="apples everywhere")


def executor(shelf: Shelf, out: io.StringIO, *, policies: Sequence[RunPolicy]) -> Executor:
    return Executor(
        shelf,
        local=shelf,
        host=lambda name: shelf,
        clock=FakeClock(),
        out=out,
        resume_with="inv toy.fill --resume",
        policies=policies,
    )


STATUS = "echo $HOMEOPS_STATUS > post.status; echo $HOMEOPS_RUN_ID > post.run"


def hooks(tmp_path: Path, pre: Sequence[str] = (), post: Sequence[str] = (STATUS,)) -> HookPolicy:
    inv = tmp_path / "inventory"
    inv.mkdir(exist_ok=True)
    return HookPolicy(
        Hooks(
            pre=tuple(Hook(run, 10.0, f"hooks.pre[{i}]") for i, run in enumerate(pre)),
            post=tuple(Hook(run, 10.0, f"hooks.post[{i}]") for i, run in enumerate(post)),
        ),
        directory=inv,
        runner=LocalRunner(),
        out=io.StringIO(),
    )


def post_status(tmp_path: Path) -> str:
    return (tmp_path / "inventory" / "post.status").read_text().strip()


def latest(tmp_path: Path) -> Journal:
    journal = Journal.latest(tmp_path, "fill-shelf", FakeClock())
    assert journal is not None
    return journal


def test_a_failed_pre_hook_changes_nothing_and_the_journal_and_report_say_why(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path), io.StringIO()
    policy = hooks(tmp_path, pre=["echo 'no backup since Tuesday' >&2; exit 4", "touch second-pre"])
    with pytest.raises(PolicyRefused) as info:
        executor(shelf, out, policies=[policy]).run(toy_plan(), yes=True)
    assert "pre hook hooks.pre[0]" in str(info.value) and "exit 4: no backup since Tuesday" in str(info.value)
    assert shelf.sent == []  # not one command: nothing changed
    assert not (tmp_path / "inventory" / "second-pre").exists()
    journal = latest(tmp_path)
    assert journal.status == "failed" and "pre hook hooks.pre[0]" in (journal.error or "")
    assert {r.status for r in journal.steps()} == {"pending"}
    report = (journal.directory / "report.md").read_text()
    assert "exit 4: no backup since Tuesday" in report
    assert "## Policy: hooks" in report and "- hooks.pre[0] stderr: no backup since Tuesday" in report
    # the post hooks are the cleanup of what a pre hook may have half done: they ran
    assert post_status(tmp_path) == "failed"


def test_post_hook_after_success_with_the_run_and_its_output_in_the_report(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path), io.StringIO()
    # The journal has its final status when post hooks run (report.md comes after them: it holds their output).
    final = 'grep -o \'"status": "[a-z]*"\' "$HOMEOPS_REPORT_DIR/journal.json" | head -1'
    policy = hooks(tmp_path, post=[STATUS + "; " + final + "; echo cleaned up"])
    outcome = executor(shelf, out, policies=[policy]).run(toy_plan(), yes=True)
    assert outcome.status == "finished" and post_status(tmp_path) == "finished"
    assert outcome.journal is not None
    assert (tmp_path / "inventory" / "post.run").read_text().strip() == outcome.journal.run_id
    report = json.loads(outcome.report_json.read_text())  # type: ignore[union-attr]
    lines = report["policies"]["hooks"]
    assert (
        lines[0].startswith("post hook hooks.post[0] `echo $HOMEOPS_STATUS > post.status;") and ": ok in " in lines[0]
    )
    assert lines[1:] == ['hooks.post[0] stdout: "status": "finished"', "hooks.post[0] stdout: cleaned up"]


def test_post_hook_after_a_failing_step(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path, jammed={"b"}), io.StringIO()
    with pytest.raises(CommandError, match="b is jammed"):  # the step's error, not the hook's
        executor(shelf, out, policies=[hooks(tmp_path)]).run(toy_plan(), yes=True)
    assert post_status(tmp_path) == "failed"
    assert ("put", "c") not in shelf.sent
    assert latest(tmp_path).status == "failed"


def test_post_hook_after_ctrl_c(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path, crash_after=2), io.StringIO()  # KeyboardInterrupt inside a step
    with pytest.raises(Interrupted):
        executor(shelf, out, policies=[hooks(tmp_path)]).run(toy_plan(), yes=True)
    assert post_status(tmp_path) == "interrupted"
    assert latest(tmp_path).status == "interrupted"


class StopBeforeC(RunPolicy):
    def before_step(self, plan: Plan, step: Step, remaining: Sequence[Step]) -> Decision:
        return StopRun("the maintenance window closes") if step.node == "c" else GO


def test_post_hook_after_a_policy_stops_the_run(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path), io.StringIO()
    with pytest.raises(RunStopped):
        executor(shelf, out, policies=[hooks(tmp_path), StopBeforeC(name="window")]).run(toy_plan(), yes=True)
    assert post_status(tmp_path) == "stopped"
    assert shelf.sent == [("put", "a"), ("put", "b")]


def test_a_failing_post_hook_fails_a_run_whose_steps_all_finished(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path), io.StringIO()
    policy = hooks(tmp_path, post=[STATUS, "echo 'ntfy: 401 Unauthorized' >&2; exit 22"])
    with pytest.raises(HomeopsError) as info:
        executor(shelf, out, policies=[policy]).run(toy_plan(), yes=True)
    message = str(info.value)
    assert "post hook hooks.post[1]" in message and "exit 22: ntfy: 401 Unauthorized" in message
    assert shelf.sent == [("put", "a"), ("put", "b"), ("put", "c")]  # every step done
    assert post_status(tmp_path) == "finished"  # the hook before it ran, and was told the steps finished
    journal = latest(tmp_path)
    assert journal.status == "failed" and "post hook hooks.post[1]" in (journal.error or "")


def test_a_dry_run_shows_the_hooks_and_runs_none(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path), io.StringIO()
    policy = hooks(tmp_path, pre=["touch pre-ran"])
    executor(shelf, out, policies=[policy]).run(toy_plan(), dry_run=True)
    assert "hooks: pre hooks, before anything changes: `touch pre-ran` (timeout 10s)" in out.getvalue()
    assert "hooks: post hooks, after the run however it ends: `echo $HOMEOPS_STATUS" in out.getvalue()
    assert not (tmp_path / "inventory" / "pre-ran").exists() and policy.runs == []


def test_ctrl_c_during_a_pre_hook_kills_it_and_the_post_hooks_still_run(tmp_path: Path) -> None:
    # The hook sends homeops (its parent) the SIGINT a Ctrl-C would, then would go on for 30s. (The sleep
    # first: a SIGINT while the process is still being spawned is not the runner's to catch.)
    shelf, out = Shelf(tmp_path), io.StringIO()
    policy = hooks(tmp_path, pre=["sleep 0.2; kill -INT $PPID; sleep 30; touch pre-finished"])
    with pytest.raises(Interrupted):
        executor(shelf, out, policies=[policy]).run(toy_plan(), yes=True)
    assert shelf.sent == [] and post_status(tmp_path) == "interrupted"
    assert [(r.phase, r.outcome) for r in policy.runs] == [("pre", "interrupted"), ("post", "ok")]
    assert policy.runs[0].seconds < 20 and not (tmp_path / "inventory" / "pre-finished").exists()
    assert latest(tmp_path).status == "interrupted"


def test_resume_after_a_failed_post_hook_runs_the_hooks_again_and_no_step(tmp_path: Path) -> None:
    shelf, out = Shelf(tmp_path), io.StringIO()
    policy = hooks(tmp_path, pre=["echo pre >> pre.count"], post=["test -f fixed || exit 9"])
    run = executor(shelf, out, policies=[policy])
    with pytest.raises(HomeopsError, match=r"post hook hooks.post\[0\] `test -f fixed \|\| exit 9` failed \(exit 9"):
        run.run(toy_plan(), yes=True)
    journal = latest(tmp_path)
    assert journal.status == "failed"
    (tmp_path / "inventory" / "fixed").touch()
    outcome = run.run(journal.plan(), yes=True, resume=journal)
    assert outcome.status == "finished" and latest(tmp_path).status == "finished"
    assert shelf.sent == [("put", "a"), ("put", "b"), ("put", "c")]  # no step sent again
    assert (tmp_path / "inventory" / "pre.count").read_text() == "pre\npre\n"  # a resumed run runs its hooks
