"""What a running operation tells the person watching it.

``Progress`` is the seam the executor reports through: which node (i/N), which step, what a wait is
waiting for and for how long, gate results, and the end. ``LiveProgress`` redraws one status line
with rich on a terminal and prints finished steps above it; ``PlainProgress`` prints one line per
event (waits only when what they see changes, or every ``heartbeat`` seconds) for logs and CI;
``NullProgress`` is for tests and benchmarks. ``for_stream`` picks live or plain by ``isatty``.
A ``banner`` (``SIMULATED``) prefixes every line, so no line of a simulated run reads as a real one.

To the executor a ``Progress`` is one run listener among others (``ProgressListener``): the run's
events (started, step started/done, finished, failed, stopped) become its lines. Gate looks, wait
observations and step-kind notes are finer grained than run events and still reach it directly.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Protocol, TextIO

from homeops.clock import Clock, SystemClock
from homeops.engine.events import Failed, Finished, Planned, RunEvent, Started, StepDone, StepStarted, Stopped
from homeops.secrets import mask

if TYPE_CHECKING:
    from rich.live import Live

    from homeops.engine.plan import Gate, Plan, Step
    from homeops.engine.waits import WaitSpec


class Progress(Protocol):
    def started(self, plan: Plan, *, resumed: bool) -> None: ...

    def step(self, step: Step, index: int, total: int, status: str) -> None:
        """status: start, done, failed, skipped, resumed."""
        ...

    def waiting(self, spec: WaitSpec, elapsed: float, observed: str) -> None: ...

    def gate(self, gate: Gate, ok: bool, observed: str) -> None: ...

    def note(self, text: str) -> None: ...

    def finished(self, status: str, summary: str) -> None: ...


class NullProgress:
    def started(self, plan: Plan, *, resumed: bool) -> None:
        return None

    def step(self, step: Step, index: int, total: int, status: str) -> None:
        return None

    def waiting(self, spec: WaitSpec, elapsed: float, observed: str) -> None:
        return None

    def gate(self, gate: Gate, ok: bool, observed: str) -> None:
        return None

    def note(self, text: str) -> None:
        return None

    def finished(self, status: str, summary: str) -> None:
        return None


class ProgressListener:
    """A ``Progress`` as a run listener: the same lines it always printed, now driven by run events.

    A failure before the run started (lock held, not confirmed, refused) prints nothing here: the task
    prints the error, and there is no progress to close. Ctrl-C prints nothing either (the task says it).
    """

    name = "progress"

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self._started = False

    def on_event(self, event: RunEvent) -> None:
        if isinstance(event, Planned):
            self._started = False  # one executor may run several plans (a resume after a stop)
        elif isinstance(event, Started):
            self._started = True
            self.progress.started(event.plan, resumed=event.resumed)
        elif isinstance(event, StepStarted):
            self.progress.step(event.step, event.index, event.total, "resumed" if event.resumed else "start")
        elif isinstance(event, StepDone):
            self.progress.step(event.step, event.index, event.total, "skipped" if event.already else "done")
        elif isinstance(event, Finished):
            self.progress.finished("finished", f"{event.plan.operation} done; report {event.report}")
        elif isinstance(event, Failed) and self._started:
            self.progress.finished("failed", event.error)
        elif isinstance(event, Stopped):
            resume = f"; continue with: {event.run.resume_command}" if event.run.resume_command else ""
            self.progress.finished("stopped", f"{event.why}{resume}")


_ICON = {"start": "→", "done": "✓", "failed": "✗", "skipped": "·", "resumed": "↻"}


class PlainProgress:
    """One line per event, prefixed with the elapsed time of the run."""

    def __init__(
        self, stream: TextIO | None = None, *, clock: Clock | None = None, heartbeat: float = 30.0, banner: str = ""
    ) -> None:
        self._out = stream or sys.stdout
        self._prefix = f"[{banner}] " if banner else ""
        self._clock = clock or SystemClock()
        self._start = self._clock.monotonic()
        self._heartbeat = heartbeat
        self._last_wait: tuple[str, str] | None = None
        self._last_wait_at = 0.0

    def _print(self, text: str) -> None:
        elapsed = self._clock.monotonic() - self._start
        print(f"{self._prefix}[{_clock_text(elapsed)}] {mask(text)}", file=self._out, flush=True)

    def started(self, plan: Plan, *, resumed: bool) -> None:
        verb = "resuming" if resumed else "starting"
        nodes = len(plan.nodes())
        self._print(f"{verb} {plan.operation} on '{plan.cluster}': {len(plan.steps)} steps, {nodes} nodes")

    def step(self, step: Step, index: int, total: int, status: str) -> None:
        self._last_wait = None
        self._print(
            f"{_ICON.get(status, status)} [{index}/{total}] {step.summary}"
            + ("" if status == "start" else f" — {status}")
        )

    def waiting(self, spec: WaitSpec, elapsed: float, observed: str) -> None:
        key = (spec.what, observed)
        now = self._clock.monotonic()
        if key == self._last_wait and now - self._last_wait_at < self._heartbeat:
            return
        self._last_wait = key
        self._last_wait_at = now
        self._print(f"  … waiting for {spec.what} ({_clock_text(elapsed)}/{_clock_text(spec.timeout)}): {observed}")

    def gate(self, gate: Gate, ok: bool, observed: str) -> None:
        self._print(f"  gate {gate.label}: {'green' if ok else 'red'} — {observed}")

    def note(self, text: str) -> None:
        self._print(text)

    def finished(self, status: str, summary: str) -> None:
        self._print(f"{status}: {summary}")


class LiveProgress(PlainProgress):
    """Rich on a terminal: finished events scroll, one status line shows node i/N, step, wait, elapsed."""

    def __init__(self, stream: TextIO | None = None, *, clock: Clock | None = None, banner: str = "") -> None:
        super().__init__(stream, clock=clock, banner=banner)
        from rich.console import Console

        self._console = Console(file=self._out, highlight=False)
        self._live: Live | None = None
        self._current = ""

    def _print(self, text: str) -> None:
        elapsed = self._clock.monotonic() - self._start
        prefix = f"[bold magenta]{self._prefix.replace('[', chr(92) + '[')}[/bold magenta]" if self._prefix else ""
        self._console.print(f"{prefix}[dim]{_clock_text(elapsed)}[/dim] {mask(text)}", markup=True, soft_wrap=True)

    def _status(self, text: str) -> None:
        from rich.live import Live
        from rich.text import Text

        line = Text(self._prefix + mask(text), style="bold cyan", overflow="ellipsis", no_wrap=True)
        if self._live is None:
            self._live = Live(line, console=self._console, refresh_per_second=8, transient=True)
            self._live.start()
        else:
            self._live.update(line)

    def step(self, step: Step, index: int, total: int, status: str) -> None:
        if status == "start":
            self._current = f"[{index}/{total}] {step.node or 'cluster'} · {step.action}"
            self._status(self._current)
        super().step(step, index, total, status)

    def waiting(self, spec: WaitSpec, elapsed: float, observed: str) -> None:
        self._status(f"{self._current} · waiting for {spec.what} · {_clock_text(elapsed)} · {observed}")

    def finished(self, status: str, summary: str) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        super().finished(status, summary)


def for_stream(stream: TextIO | None = None, *, clock: Clock | None = None, banner: str = "") -> Progress:
    out = stream or sys.stdout
    if hasattr(out, "isatty") and out.isatty():
        return LiveProgress(out, clock=clock, banner=banner)
    return PlainProgress(out, clock=clock, banner=banner)


def _clock_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
