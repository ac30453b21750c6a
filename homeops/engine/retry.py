"""Named retry and poll policies, on tenacity: the step kinds' and the executor's retries and polls.

* ``LOOK_RETRY`` — a read (the look before sending, a step kind's read of its target) that failed with a
  tool or connection error is tried again, 1 s apart, 3 attempts (the executor's ``preflight_retries``);
  the last error is raised.
* ``UNREACHABLE_COMMAND`` — a mutating command whose failure cannot have reached its target (the connection
  failed, or the kind says ``unreachable``) is sent again *at once*, 3 attempts: sleeping would send it on
  a look that is no longer current. The last result (or error) is the caller's.
* ``poll(...)`` — a step kind's own polling: try ``attempt`` until its result is final, or an error that
  means "not yet" stops coming, or the deadline passes, ``interval`` apart, with a note before each sleep.
  At the deadline the last result is returned (the caller says what a timeout means) and the last
  error is raised.

Time is the injected ``Clock``'s: tenacity sleeps with ``clock.sleep`` (``FakeClock`` and the simulator's
clock never really wait) and deadlines are read from the clock. A policy that does not wait never calls
``sleep`` at all (the executor counts sleeps to know whether a look is still current).
``homeops.engine.waits`` is the other half: waits with success and failure conditions. The gate waits
(``homeops.engine.gates``) stay plain loops: each sleep depends on the red gates' own timeouts and the
stability window's start, which a tenacity policy could only carry in closures over mutable cells.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, retry_if_result, stop_after_attempt, wait_fixed

from homeops.clock import Clock
from homeops.errors import CommandError, ConnectionFailed

T = TypeVar("T")

#: Errors that mean "the read did not get an answer" (a tool or the connection), never "the answer is no".
TRANSIENT: tuple[type[BaseException], ...] = (CommandError, ConnectionFailed)


def _never(_: Any) -> bool:
    return False


def _last(state: RetryCallState) -> Any:
    """Out of attempts (or time): the last result, or the last error raised."""
    assert state.outcome is not None
    return state.outcome.result()


def _no_sleep(_: float) -> None:
    return None


@dataclass(frozen=True)
class Attempts:
    """Up to ``attempts`` tries, ``interval`` seconds apart (0: at once, without sleeping), while the
    try raises one of ``on`` or its result is ``again``."""

    name: str
    attempts: int
    interval: float
    on: tuple[type[BaseException], ...] = ()

    def call(
        self,
        attempt: Callable[[], T],
        *,
        sleep: Callable[[float], None],
        attempts: int | None = None,
        interval: float | None = None,
        again: Callable[[T], bool] = _never,
    ) -> T:
        pause = self.interval if interval is None else interval
        on = self.on
        retrying = Retrying(
            sleep=(lambda seconds: sleep(float(seconds))) if pause > 0 else _no_sleep,
            stop=stop_after_attempt(max(1, self.attempts if attempts is None else attempts)),
            wait=wait_fixed(pause),
            retry=retry_if_exception(lambda exc: isinstance(exc, on)) | retry_if_result(again),
            retry_error_callback=_last,
            reraise=True,
        )
        result: T = retrying(attempt)
        return result


LOOK_RETRY = Attempts("look", attempts=3, interval=1.0, on=TRANSIENT)
UNREACHABLE_COMMAND = Attempts("unreachable command", attempts=3, interval=0.0, on=(ConnectionFailed,))


def poll(
    attempt: Callable[[], T],
    *,
    clock: Clock,
    interval: float,
    again: Callable[[T], bool] = _never,
    not_yet: Callable[[BaseException], bool] = _never,
    deadline: float | None = None,
    now: Callable[[], float] | None = None,
    note: Callable[[T | BaseException], None] | None = None,
) -> T:
    """``attempt()`` until its result is not ``again`` and it raised nothing ``not_yet``; ``interval`` apart.

    ``deadline`` is on ``now`` (default ``clock.monotonic``; None: no deadline, ``again`` decides); once
    it has passed, the last result is returned, the last error raised. ``note`` hears the last result
    (or error) before each sleep.
    """
    read = now or clock.monotonic

    def stop(state: RetryCallState) -> bool:
        return deadline is not None and read() >= deadline

    def before_sleep(state: RetryCallState) -> None:
        if note is not None and state.outcome is not None:
            failed = state.outcome.exception()
            note(failed if failed is not None else state.outcome.result())

    retrying = Retrying(
        sleep=lambda seconds: clock.sleep(float(seconds)),
        stop=stop,
        wait=wait_fixed(interval),
        retry=retry_if_exception(not_yet) | retry_if_result(again),
        before_sleep=before_sleep,
        retry_error_callback=_last,
        reraise=True,
    )
    result: T = retrying(attempt)
    return result


def first_then(seen: T, read: Callable[[], T]) -> Callable[[], T]:
    """An attempt whose first result is ``seen`` (already looked at) and each later one ``read()``."""
    pending = [seen]

    def attempt() -> T:
        return pending.pop() if pending else read()

    return attempt
