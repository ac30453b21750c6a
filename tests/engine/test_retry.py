"""The named retry/poll policies: attempt counts, spacing, what is raised or returned at the end, and
that time is only the injected clock's (FakeClock records every sleep; nothing really waits)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pytest

from homeops.clock import FakeClock
from homeops.engine.executor import Executor
from homeops.engine.gates import Check, hold_green, wait_green
from homeops.engine.kinds import StepKind
from homeops.engine.plan import Command, Gate
from homeops.engine.retry import LOOK_RETRY, UNREACHABLE_COMMAND, first_then, poll
from homeops.errors import CommandError, ConnectionFailed, GateFailed, HomeopsError, PlanError
from homeops.runners import Result


class Script:
    """Answers (or raises) the scripted values in order, counting the calls."""

    def __init__(self, *values: object) -> None:
        self.values = list(values)
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        value = self.values.pop(0)
        if isinstance(value, BaseException):
            raise value
        return value


def test_look_retry_tries_three_times_a_second_apart_and_raises_the_last_error() -> None:
    clock = FakeClock()
    look = Script(CommandError("one"), ConnectionFailed("two"), CommandError("three"))
    with pytest.raises(CommandError, match="three"):
        LOOK_RETRY.call(look, sleep=clock.sleep)
    assert look.calls == 3 and clock.sleeps == [1.0, 1.0]


def test_look_retry_stops_at_the_first_answer_and_never_retries_other_errors() -> None:
    clock = FakeClock()
    assert LOOK_RETRY.call(Script(CommandError("x"), "seen"), sleep=clock.sleep) == "seen"
    assert clock.sleeps == [1.0]
    other = Script(PlanError("not a read error"), "never")
    with pytest.raises(PlanError):
        LOOK_RETRY.call(other, sleep=clock.sleep)
    assert other.calls == 1


def test_look_retry_attempts_come_from_the_caller_and_at_least_one() -> None:
    clock = FakeClock()
    look = Script(*[CommandError(str(i)) for i in range(5)])
    with pytest.raises(CommandError, match="4"):
        LOOK_RETRY.call(look, sleep=clock.sleep, attempts=5)
    assert look.calls == 5
    assert LOOK_RETRY.call(Script("once"), sleep=clock.sleep, attempts=0) == "once"


def test_unreachable_command_is_sent_again_at_once_without_sleeping() -> None:
    clock = FakeClock()
    send = Script(ConnectionFailed("a"), "unreachable", "unreachable")
    assert UNREACHABLE_COMMAND.call(send, sleep=clock.sleep, again=lambda r: r == "unreachable") == "unreachable"
    assert send.calls == 3 and clock.sleeps == []  # not even sleep(0): the executor counts sleeps
    gone = Script(ConnectionFailed("a"), ConnectionFailed("b"), ConnectionFailed("c"))
    with pytest.raises(ConnectionFailed, match="c"):
        UNREACHABLE_COMMAND.call(gone, sleep=clock.sleep)
    refused = Script(CommandError("refused"), "never")  # a refusal is raised at once
    with pytest.raises(CommandError):
        UNREACHABLE_COMMAND.call(refused, sleep=clock.sleep)
    assert refused.calls == 1


def test_poll_returns_the_first_final_result_noting_each_not_yet_before_its_sleep() -> None:
    clock = FakeClock()
    heard: list[object] = []
    look = Script("starting", CommandError("no answer"), "done")
    result = poll(
        look,
        clock=clock,
        interval=5.0,
        again=lambda r: r != "done",
        not_yet=lambda exc: isinstance(exc, CommandError),
        deadline=60.0,
        note=heard.append,
    )
    assert result == "done" and clock.sleeps == [5.0, 5.0]
    assert heard[0] == "starting" and isinstance(heard[1], CommandError)


def test_poll_at_the_deadline_returns_the_last_result_or_raises_the_last_error() -> None:
    clock = FakeClock()
    never = Script(*["busy"] * 10)
    assert poll(never, clock=clock, interval=5.0, again=lambda r: True, deadline=clock.monotonic() + 12) == "busy"
    assert never.calls == 4 and clock.sleeps == [5.0, 5.0, 5.0]  # at 0, 5, 10, 15 (past 12: no more)
    clock = FakeClock()
    failing = Script(*[CommandError(f"e{i}") for i in range(10)])
    with pytest.raises(CommandError, match="e2"):
        poll(failing, clock=clock, interval=5.0, not_yet=lambda exc: True, deadline=clock.monotonic() + 10)
    other = Script(PlanError("at once"))
    with pytest.raises(PlanError):
        poll(other, clock=clock, interval=5.0, not_yet=lambda exc: isinstance(exc, CommandError), deadline=1e9)


def test_poll_on_the_wall_clock_and_without_a_deadline() -> None:
    clock = FakeClock()
    look = Script(3, 2, 1, 0)
    assert poll(look, clock=clock, interval=1.0, again=lambda n: n > 0) == 0 and look.calls == 4
    late = Script("x", "y")
    poll(late, clock=clock, interval=1.0, again=lambda r: True, deadline=clock.now() + 1, now=clock.now)
    assert late.calls == 2


def test_first_then_uses_what_was_already_seen_before_reading_again() -> None:
    read = Script("second", "third")
    attempt = first_then("first", read)
    assert [attempt(), attempt(), attempt()] == ["first", "second", "third"] and read.calls == 2


# --------------------------------------------------------------------------- the executor's two retries


class Flaky:
    """A runner answering the scripted results (or raising the scripted errors), counting the calls."""

    def __init__(self, *outcomes: object) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def run(self, argv: Sequence[str], **_: object) -> Result:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        code, stderr = outcome  # type: ignore[misc]
        return Result(tuple(argv), code, "", stderr, 0.0)

    def close(self) -> None:
        return None


class Picky(StepKind):
    """Not registered: a kind whose failures are "unreachable" or "refused" by their stderr."""

    name = "test-picky"

    def unreachable(self, result: Result) -> bool:
        return "unreachable" in result.stderr

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        return CommandError(f"{what}: refused") if "refused" in result.stderr else None


def _executor(runner: Flaky) -> tuple[Executor, FakeClock]:
    clock = FakeClock()
    return Executor(None, local=runner, host=lambda _: runner, clock=clock, out=io.StringIO()), clock


SEND = Command(("poke",))


@pytest.mark.parametrize(
    ("outcomes", "calls", "raised"),
    [
        ([(1, "unreachable"), (1, "unreachable"), (1, "unreachable")], 3, "poke failed (exit 1): unreachable"),
        ([(1, "unreachable"), (0, "")], 2, None),
        ([ConnectionFailed("no route"), (0, "")], 2, None),
        ([ConnectionFailed("a"), ConnectionFailed("b"), ConnectionFailed("c")], 3, "c"),
        ([(1, "refused")], 1, "poke: refused"),  # a refusal is never sent again
        ([(1, "it broke")], 1, "poke failed (exit 1): it broke"),  # may have reached the target: never sent again
    ],
)
def test_a_mutating_command_is_sent_again_only_when_it_cannot_have_arrived(
    outcomes: list[object], calls: int, raised: str | None
) -> None:
    runner = Flaky(*outcomes)
    executor, clock = _executor(runner)
    if raised is None:
        assert executor._run_command(Picky(), SEND, what="poke", target=None).ok
    else:
        with pytest.raises((CommandError, ConnectionFailed)) as info:
            executor._run_command(Picky(), SEND, what="poke", target=None)
        assert raised in str(info.value)
    assert runner.calls == calls
    assert clock.sleeps == [] and executor.clock.sleeps == 0  # at once: the look just before is still current


def test_a_step_kinds_read_is_retried_a_second_apart_up_to_the_preflight_retries() -> None:
    executor, clock = _executor(Flaky())
    read = Script(CommandError("x"), ConnectionFailed("y"), "answer")
    assert executor._retrying(read) == "answer" and clock.sleeps == [1.0, 1.0]
    failing = Script(CommandError("1"), CommandError("2"), CommandError("3"), "never")
    with pytest.raises(CommandError, match="3"):
        executor._retrying(failing)
    assert failing.calls == 3


def test_wait_green_sleeps_its_interval_but_never_past_a_red_gates_own_timeout() -> None:
    clock = FakeClock()
    gate = Gate("g", "g", "the thing answers", timeout=12.0)
    reported: list[float] = []
    with pytest.raises(GateFailed, match="gate 'g' failed: red"):
        wait_green((gate,), lambda g: Check(False, "red"), clock=clock, interval=5.0,
                   report=lambda g, c: reported.append(clock.monotonic()))  # fmt: skip
    assert clock.sleeps == [5.0, 5.0, 2.0] and reported == [0.0, 5.0, 10.0]  # red at 12: past its timeout
    answers = iter([False, False, True])
    results = wait_green((gate,), lambda g: Check(next(answers), "x"), clock=clock, interval=5.0)
    assert [r.ok for r in results] == [True] and clock.sleeps[3:] == [5.0, 5.0]


def test_the_stability_window_looks_an_interval_apart_and_restarts_on_red() -> None:
    clock = FakeClock()
    gate = Gate("g", "g", "the thing answers", timeout=60.0)
    answers = iter([True, True, False, True, True, True, True])  # looks at 0, 5, 10 (red), 10, 15, 20, 22
    reported: list[tuple[float, str]] = []
    results = hold_green((gate,), lambda g: Check(next(answers), "seen"), seconds=12, clock=clock, interval=5.0,
                         report=lambda g, c: reported.append((clock.monotonic(), c.observed)))  # fmt: skip
    assert [r.ok for r in results] == [True]
    assert clock.sleeps == [5.0, 5.0, 5.0, 5.0, 2.0] and clock.monotonic() == 22.0
    assert reported == [(10.0, "seen (stability window restarts)")]
    assert next(answers, None) is None  # exactly the seven looks
