"""The maintenance-window policy on the real executor: a toy world of fields, each mown in one batch
that really takes 20 minutes of a ``FakeClock`` (its wait allows an hour), so the budget the policy
uses is the one it measured in the run, not the plan's worst case. Nothing sleeps.

The window closes mid-run: the run stops between batches (journal "stopped", nothing half-done),
the resume in the closed window is refused, and the resume in the next window finishes the rest
without repeating a field.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from homeops.clock import FakeClock
from homeops.engine.executor import Executor
from homeops.engine.gates import Check
from homeops.engine.journal import Journal
from homeops.engine.kinds import Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Plan, Step, Wait
from homeops.engine.progress import PlainProgress
from homeops.engine.waits import Observation
from homeops.errors import PolicyRefused, RunStopped
from homeops.inventory.model import Maintenance, MaintenanceWindow
from homeops.policies.window import WindowPolicy
from homeops.runners import Result

WEEKEND = Maintenance((MaintenanceWindow(days=(5, 6), start=120, duration=240, timezone="Europe/Amsterdam"),))
MOW_SECONDS = 20 * 60


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()


@dataclass
class Meadow:
    state_dir: Path
    clock: FakeClock
    mow_seconds: float = MOW_SECONDS
    mown: list[str] = field(default_factory=list)
    done_at: dict[str, float] = field(default_factory=dict)

    def look(self, gate: Gate) -> Check:
        return Check(True, "fine")

    def run(self, argv: Sequence[str], **_: object) -> Result:
        self.mown.append(argv[1])
        self.done_at[argv[1]] = self.clock.now() + self.mow_seconds
        return Result(tuple(argv), 0, "", "", 0.0)

    def close(self) -> None:
        return None


class Mow(StepKind):
    name = "window-mow"
    lockstep = True
    wait_order = ("cut",)
    terms: Mapping[str, WaitTerms] = {"cut": WaitTerms("the grass is cut")}

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        meadow: Meadow = ctx.world

        def look() -> Observation[None]:
            left = [s.node for s in steps if meadow.clock.now() < meadow.done_at.get(s.node or "", float("inf"))]
            return Observation.waiting(f"{left} still long") if left else Observation.ok("cut")

        return look


register(Mow())


def meadow_plan(fields: int = 12) -> Plan:
    steps = tuple(
        Step(
            id=f"f{i}:mow",
            action="window-mow",
            summary=f"mow f{i}",
            node=f"f{i}",
            batch=i,
            commands=(Command(("mow", f"f{i}")),),
            waits=(Wait("cut", f"f{i} cut", 3600.0),),
        )
        for i in range(fields)
    )
    return Plan(operation="mow", cluster="farm", steps=steps, poll_interval=60)


def executor(meadow: Meadow, out: io.StringIO) -> Executor:
    return Executor(
        meadow,
        local=meadow,
        host=lambda name: meadow,
        clock=meadow.clock,
        progress=PlainProgress(out, clock=meadow.clock),
        out=out,
        resume_with="inv farm.mow --resume",
        policies=[WindowPolicy(maintenance=WEEKEND, clock=meadow.clock)],
    )


def test_the_window_closing_mid_run_stops_between_batches_and_the_next_window_finishes(tmp_path: Path) -> None:
    clock = FakeClock(at("2026-12-12 02:00"))  # Saturday, the window just opened (until 06:00)
    meadow, out = Meadow(tmp_path, clock), io.StringIO()
    with pytest.raises(RunStopped) as stopped:
        executor(meadow, out).run(meadow_plan(13), yes=True)
    # 02:00 is judged on the worst case (1h fits); then on the 20 minutes each field really took:
    # f0 02:00 … f11 05:40 (ends 06:00, in time); at 06:00 the window has closed
    assert meadow.mown == [f"f{i}" for i in range(12)]
    message = str(stopped.value)
    assert message.startswith("stopped before mow f12 by run policy maintenance window: ")
    assert (
        "the maintenance window has closed; the next opens Sun 13 Dec 02:00 CET (Europe/Amsterdam), in 20h" in message
    )
    assert "continue with: inv farm.mow --resume" in message
    journal = Journal.latest(tmp_path, "mow", clock)
    assert journal is not None and journal.status == "stopped"
    assert {s.id: s.status for s in journal.steps()} == {
        f"f{i}:mow": "done" if i < 12 else "pending" for i in range(13)
    }

    # Still Saturday: the resume is refused before anything
    with pytest.raises(PolicyRefused, match="the next opens Sun 13 Dec 02:00 CET"):
        executor(meadow, out).run(journal.plan(), yes=True, resume=journal)
    clock.advance(at("2026-12-13 02:00") - clock.now())
    outcome = executor(meadow, out).run(journal.plan(), yes=True, resume=journal)
    assert outcome.status == "finished"
    assert meadow.mown == [f"f{i}" for i in range(13)]  # f12 once, nothing repeated


def test_a_batch_whose_measured_time_would_overrun_is_not_started_and_a_resume_starts_on_the_worst_case(
    tmp_path: Path,
) -> None:
    clock = FakeClock(at("2026-12-12 05:00"))  # an hour before the close: f0's worst case (1h) just fits
    meadow, out = Meadow(tmp_path, clock, mow_seconds=25 * 60), io.StringIO()
    with pytest.raises(RunStopped) as stopped:
        executor(meadow, out).run(meadow_plan(4), yes=True)
    # f0 05:00, f1 05:25 (ends 05:50); f2 at 05:50 would end 06:15
    assert meadow.mown == ["f0", "f1"]
    assert str(stopped.value).startswith(
        "stopped before mow f2 by run policy maintenance window: the window closes at 06:00 CET "
        "(Europe/Amsterdam), in 10m, and this batch may take 25m (the longest batch so far in this run); "
        "the next window opens Sun 13 Dec 02:00 CET (Europe/Amsterdam), in 20h 10m: resume then"
    )
    journal = Journal.latest(tmp_path, "mow", clock)
    assert journal is not None
    # Sunday 05:30: open, so the resume is admitted; but nothing is measured in this run yet, and
    # f2's worst case (1h) would end after 06:00: stopped again, nothing sent
    clock.advance(at("2026-12-13 05:30") - clock.now())
    with pytest.raises(RunStopped) as again:
        executor(meadow, out).run(journal.plan(), yes=True, resume=journal)
    assert meadow.mown == ["f0", "f1"]
    assert "this batch may take 1h (the worst case its timeouts allow)" in str(again.value)
    assert Journal.latest(tmp_path, "mow", clock).status == "stopped"  # type: ignore[union-attr]


def test_a_fresh_run_whose_first_batch_cannot_fit_is_refused_before_the_lock_and_journal(tmp_path: Path) -> None:
    clock = FakeClock(at("2026-12-12 05:20"))
    meadow, out = Meadow(tmp_path, clock), io.StringIO()
    with pytest.raises(PolicyRefused, match=r"the first batch may take 1h \(the worst case its timeouts allow\)"):
        executor(meadow, out).run(meadow_plan(), yes=True)
    assert meadow.mown == []
    assert not (tmp_path / "runs").exists()


def test_the_dry_run_prints_the_decision_under_run_policies(tmp_path: Path) -> None:
    clock = FakeClock(at("2026-12-08 14:00"))
    meadow, out = Meadow(tmp_path, clock), io.StringIO()
    executor(meadow, out).run(meadow_plan(2), dry_run=True)
    assert (
        "Run policies:\n  maintenance window: closed; the next opens Sat 12 Dec 02:00 CET (Europe/Amsterdam), "
        "in 3d 12h — this run would be refused (--ignore-window runs it now)"
    ) in out.getvalue()


def test_the_report_has_one_line_per_batch_decision(tmp_path: Path) -> None:
    clock = FakeClock(at("2026-12-12 05:00"))
    meadow, out = Meadow(tmp_path, clock, mow_seconds=25 * 60), io.StringIO()
    with pytest.raises(RunStopped):
        executor(meadow, out).run(meadow_plan(4), yes=True)
    journal = Journal.latest(tmp_path, "mow", clock)
    assert journal is not None
    report = (journal.directory / "report.md").read_text()
    window = "window open until 06:00 CET (Europe/Amsterdam)"
    for line in (
        f"Sat 12 Dec 05:00 CET before f0: go — budget 1h (the worst case its timeouts allow); {window}",
        f"Sat 12 Dec 05:25 CET before f1: go — budget 25m (the longest batch so far in this run); {window}",
        f"Sat 12 Dec 05:50 CET before f2: stop — budget 25m (the longest batch so far in this run); {window}",
    ):
        assert line in report, report
