"""Health gates: how to tell green from red, once, until green, and for a stability window.

What a gate *is* (its kind, name, timeout) comes from the workflow that planned it; how to look at it
is a ``GateLook`` the workflow gives: ``look(gate) -> Check``. A look that raises a
``CommandError``/``ConnectionFailed`` is a red, *errored* look (the tool could not answer).

``preflight`` looks once (retrying only a look that *errored*, never a red answer) and refuses to
start; ``wait_green`` waits between nodes until all gates are green together; ``hold_green`` is the
stability window: green must last ``seconds``, a red look restarts the window, and each gate's own
timeout bounds the whole thing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from homeops.clock import Clock
from homeops.engine.plan import Gate
from homeops.engine.text import one_line
from homeops.errors import CommandError, ConnectionFailed, GateFailed


@dataclass(frozen=True)
class Check:
    """The outcome of one look at a gate: green or red, and what was seen."""

    ok: bool
    observed: str


GateLook = Callable[[Gate], Check]
GateReporter = Callable[[Gate, Check], None]


@dataclass(frozen=True)
class GateResult:
    gate: Gate
    ok: bool
    observed: str
    errored: bool = False  # the look itself failed (tool error, timeout) rather than seeing red


def evaluate(gate: Gate, look: GateLook) -> GateResult:
    """One look at ``gate``. Never raises for a tool or connection error: that is a red, errored look."""
    try:
        check = look(gate)
    except (CommandError, ConnectionFailed) as exc:
        return GateResult(gate, False, one_line(str(exc)), errored=True)
    return GateResult(gate, check.ok, check.observed)


def _fail(result: GateResult, *, hint: str | None = None) -> GateFailed:
    return GateFailed(result.gate.name, result.observed, target=result.gate.target, hint=hint)


def preflight(
    gates: Sequence[Gate],
    look: GateLook,
    *,
    clock: Clock,
    retries: int = 3,
    interval: float = 2.0,
    report: GateReporter | None = None,
) -> tuple[GateResult, ...]:
    """Check every gate once; a look that errored is retried; any red gate raises ``GateFailed``."""
    results: list[GateResult] = []
    for gate in gates:
        result = evaluate(gate, look)
        for _ in range(retries - 1):
            if not result.errored:
                break
            clock.sleep(interval)
            result = evaluate(gate, look)
        if report:
            report(gate, Check(result.ok, result.observed))
        results.append(result)
        if not result.ok:
            raise _fail(result, hint="nothing was changed; fix this and run again")
    return tuple(results)


def wait_green(
    gates: Sequence[Gate],
    look: GateLook,
    *,
    clock: Clock,
    interval: float,
    report: GateReporter | None = None,
    hint: str | None = None,
) -> tuple[GateResult, ...]:
    """Wait until every gate is green in the same look; a gate red past its own timeout raises ``GateFailed``."""
    return _green_look(gates, look, clock=clock, interval=interval, report=report, hint=hint)[0]


def _green_look(
    gates: Sequence[Gate],
    look: GateLook,
    *,
    clock: Clock,
    interval: float,
    report: GateReporter | None,
    hint: str | None,
) -> tuple[tuple[GateResult, ...], float]:
    """Like ``wait_green``; also returns when the all-green look *began* (its evidence dates from then)."""
    start = clock.monotonic()
    while True:
        began = clock.monotonic()
        results = tuple(evaluate(g, look) for g in gates)
        red = [r for r in results if not r.ok]
        if not red:
            return results, began
        elapsed = clock.monotonic() - start
        for result in red:
            if elapsed >= result.gate.timeout:
                raise _fail(result, hint=hint)
            if report:
                report(result.gate, Check(False, result.observed))
        remaining = min(r.gate.timeout for r in red) - elapsed
        clock.sleep(max(0.0, min(interval, remaining)))


def hold_green(
    gates: Sequence[Gate],
    look: GateLook,
    *,
    seconds: float,
    clock: Clock,
    interval: float,
    report: GateReporter | None = None,
    hint: str | None = None,
) -> tuple[GateResult, ...]:
    """The stability window: every gate green, continuously, for ``seconds``; red restarts the window.

    The window opens when the first all-green look began and closes with a look that begins at least
    ``seconds`` later; looks in between are ``interval`` apart.
    """
    kw = {"clock": clock, "interval": interval, "report": report, "hint": hint}
    results, window_start = _green_look(gates, look, **kw)  # type: ignore[arg-type]
    if seconds <= 0 or not gates:
        return results
    budget_end = clock.monotonic() + max(g.timeout for g in gates) + seconds
    while True:
        left = seconds - (clock.monotonic() - window_start)
        if left <= 0:
            return results
        clock.sleep(min(interval, left))
        results = tuple(evaluate(g, look) for g in gates)
        red = [r for r in results if not r.ok]
        if not red:
            continue
        if clock.monotonic() >= budget_end:
            raise _fail(red[0], hint=hint)
        if report:
            for result in red:
                report(result.gate, Check(False, result.observed + " (stability window restarts)"))
        results, window_start = _green_look(gates, look, **kw)  # type: ignore[arg-type]


__all__ = [
    "Check",
    "GateLook",
    "GateResult",
    "evaluate",
    "hold_green",
    "preflight",
    "wait_green",
]
