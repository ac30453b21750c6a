"""Waiting for the cluster, the tenacity way: a wait states what success and what failure look like.

``wait_for(spec, probe, clock=...)`` polls ``probe()`` until it reports success, raises
``GateFailed`` as soon as it reports a *failure condition* (a node back on its old version is an A/B
rollback, not "not yet"), and raises ``WaitTimeout`` naming what it waited for and what it saw last
when the deadline passes. Command and connection errors while polling are "not yet": a node that is
rebooting does not answer, and an API VIP that flaps must not end a rollout.

Time comes from an injected ``Clock``: tenacity sleeps with ``clock.sleep`` and the deadline is read
from ``clock.monotonic()``, so unit tests run instantly with ``FakeClock`` and the simulator's clock
moves simulated time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tenacity import RetryCallState, RetryError, Retrying, retry_if_exception_type, retry_if_result

from homeops.clock import Clock
from homeops.engine.text import one_line
from homeops.errors import CommandError, ConnectionFailed, GateFailed, WaitTimeout

T = TypeVar("T")

#: Errors that mean "cannot tell yet" while polling (the thing we wait for is probably mid-reboot).
TRANSIENT: tuple[type[BaseException], ...] = (CommandError, ConnectionFailed)


@dataclass(frozen=True)
class Observation(Generic[T]):
    """One look at the world: done, still waiting, or a failure condition (``failure`` set)."""

    done: bool
    observed: str
    failure: str | None = None
    value: T | None = None

    @classmethod
    def ok(cls, observed: str, value: T | None = None) -> Observation[T]:
        return cls(True, observed, None, value)

    @classmethod
    def waiting(cls, observed: str) -> Observation[T]:
        return cls(False, observed)

    @classmethod
    def failed(cls, failure: str, observed: str = "") -> Observation[T]:
        return cls(False, observed or failure, failure)


@dataclass(frozen=True)
class WaitSpec:
    what: str  # "k8s-1 back with a new boot ID"
    success: str  # what counts as done
    failure: str  # what ends the wait at once ("" when only the timeout does)
    timeout: float
    interval: float
    target: str | None = None  # node or host the wait is about, for the error
    hint: str | None = None  # what to do when it fails

    def describe(self) -> str:
        text = f"{self.what}: until {self.success}"
        if self.failure:
            text += f"; fails at once if {self.failure}"
        return text + f" (≤{self.timeout:g}s)"


Reporter = Callable[[WaitSpec, float, str], None]  # (spec, elapsed, last observed)


class _FailureCondition(Exception):
    def __init__(self, observation: Observation[object]) -> None:
        super().__init__(observation.failure)
        self.observation = observation


def wait_for(
    spec: WaitSpec,
    probe: Callable[[], Observation[T]],
    *,
    clock: Clock,
    report: Reporter | None = None,
    transient: Sequence[type[BaseException]] = TRANSIENT,
) -> Observation[T]:
    """Poll ``probe`` until done; fail fast on a failure condition; time out with the last observation."""
    start = clock.monotonic()
    deadline = start + spec.timeout
    last: list[str] = ["nothing yet"]

    def attempt() -> Observation[T]:
        try:
            observation = probe()
        except tuple(transient) as exc:
            last[0] = one_line(str(exc))
            raise
        last[0] = observation.observed
        if observation.failure:
            raise _FailureCondition(observation)  # type: ignore[arg-type]
        return observation

    def stop(state: RetryCallState) -> bool:
        return clock.monotonic() >= deadline

    def pause(state: RetryCallState) -> float:
        # Never sleep past the deadline, so the last look happens right at it.
        return max(0.0, min(spec.interval, deadline - clock.monotonic()))

    def before_sleep(state: RetryCallState) -> None:
        if report is not None:
            report(spec, clock.monotonic() - start, last[0])

    retrying: Retrying = Retrying(
        sleep=clock.sleep,
        stop=stop,
        wait=pause,
        retry=retry_if_result(lambda o: not o.done) | retry_if_exception_type(tuple(transient)),
        before_sleep=before_sleep,
        reraise=False,
    )
    try:
        return retrying(attempt)
    except _FailureCondition as exc:
        observation = exc.observation
        failure = observation.failure or observation.observed
        what, target = spec.what, spec.target
        if target and ", " in target:
            # a wait over a batch of nodes failed for some of them: name those, not the whole batch
            named = [t for t in target.split(", ") if re.search(rf"(?<![\w-]){re.escape(t)}(?![\w-])", failure)]
            if named:
                what, target = what.replace(target, ", ".join(named)), ", ".join(named)
        raise GateFailed(what, failure, target=target, hint=spec.hint) from None
    except RetryError:
        waited = clock.monotonic() - start
        raise WaitTimeout(
            f"gave up after {waited:.0f}s waiting for {spec.what} (wanted: {spec.success}); last saw: {last[0]}",
            hint=spec.hint,
        ) from None


def check_once(
    probe: Callable[[], Observation[T]], transient: Sequence[type[BaseException]] = TRANSIENT
) -> Observation[T]:
    """One look, with transient errors turned into a not-done observation."""
    try:
        return probe()
    except tuple(transient) as exc:
        return Observation.waiting(one_line(str(exc)))
