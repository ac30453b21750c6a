"""What a run tells the world, and what may hold it: typed run events, listeners and run policies.

The executor emits one ``RunEvent`` at each moment a watcher cares about — including failures before
the first step (lock held, not confirmed, preflight red), which used to reach nobody. A ``Listener``
receives them (progress on the terminal, notifications, a silence's keeper); a listener that raises is
reported and ignored, because telling someone about a run must never change the run.

A ``RunPolicy`` is asked before anything happens and between steps, and may refuse a start (a closed
maintenance window), hold (an alert firing) or stop the run cleanly, resumable (the window closes
before the next node would be done). Policies have no-op defaults: a policy implements what it needs.

    admit(plan)            before confirmation; raise ``PolicyRefused`` to refuse (nothing changed)
    begin(run)             after the lock and journal, before preflight (pre hooks); raise to fail
    before_step(...)       returns ``GO``, ``Hold(...)`` or ``Stop(...)``
    end(run, status)       always, after success, failure, Ctrl-C or stop (post hooks); raise to fail
    describe(plan)         lines shown with the plan (a dry run shows each policy's decision)
    report_lines()         lines for the run's report (hook output), asked after ``end``

Listeners are called on the run's own thread, between its steps: a listener must return at once. One
that talks to the network (a notifier) hands the event to its own worker thread or queue and never
waits for the answer inside ``on_event``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol, TypeAlias

if TYPE_CHECKING:
    from homeops.engine.plan import Plan, Step


@dataclass(frozen=True)
class RunInfo:
    """Which run an event is about: enough for a message a person can act on."""

    operation: str
    cluster: str
    backend: str  # "real" or "simulated"
    run_id: str = ""  # empty until the journal exists (failures before it have none)
    resume_command: str = ""
    state_dir: Path | None = None

    @property
    def simulated(self) -> bool:
        return self.backend == "simulated"


@dataclass(frozen=True)
class Planned:
    run: RunInfo
    plan: Plan
    dry_run: bool
    at: float


@dataclass(frozen=True)
class Started:
    run: RunInfo
    plan: Plan
    resumed: bool
    at: float


@dataclass(frozen=True)
class StepStarted:
    run: RunInfo
    step: Step
    index: int
    total: int
    at: float
    resumed: bool = False  # continued after a crash or failure caught it in flight (not started afresh)


@dataclass(frozen=True)
class StepDone:
    run: RunInfo
    step: Step
    index: int
    total: int
    at: float
    already: bool = False  # nothing was sent: the target was already there (or an earlier run did it)


@dataclass(frozen=True)
class NodeDone:
    """Every step of one node is done (emitted once per node, after its last step)."""

    run: RunInfo
    node: str
    at: float


@dataclass(frozen=True)
class StepFailed:
    run: RunInfo
    step: Step
    error: str  # one line: what failed and what was observed
    at: float


@dataclass(frozen=True)
class Stuck:
    """A wait or hold has gone on longer than expected (its budget); the run is still waiting."""

    run: RunInfo
    what: str
    target: str | None
    elapsed: float
    expected: float
    observed: str
    at: float


@dataclass(frozen=True)
class Finished:
    run: RunInfo
    plan: Plan
    report: Path | None
    at: float


Stage = Literal["plan", "admit", "confirm", "lock", "begin", "preflight", "step", "end"]


@dataclass(frozen=True)
class Failed:
    """The run failed; ``stage`` says how far it got (``plan``…``preflight`` mean nothing was changed)."""

    run: RunInfo
    error: str
    stage: Stage
    at: float
    step: Step | None = None
    report: Path | None = None


@dataclass(frozen=True)
class Interrupted:
    run: RunInfo
    where: str
    at: float
    report: Path | None = None


@dataclass(frozen=True)
class Stopped:
    """A policy stopped the run cleanly between steps (resumable); ``why`` names the policy's reason."""

    run: RunInfo
    why: str
    at: float
    report: Path | None = None


RunEvent: TypeAlias = (
    Planned
    | Started
    | StepStarted
    | StepDone
    | NodeDone
    | StepFailed
    | Stuck
    | Finished
    | Failed
    | Interrupted
    | Stopped
)

EndStatus = Literal["finished", "failed", "interrupted", "stopped"]


class Listener(Protocol):
    """Receives every event of a run, on the run's thread: must return at once (queue slow work)."""

    def on_event(self, event: RunEvent) -> None: ...


@dataclass(frozen=True)
class Go:
    pass


@dataclass(frozen=True)
class Hold:
    """Do not start the next step yet; ask again after ``seconds`` (the policy decides when to give up)."""

    why: str
    seconds: float


@dataclass(frozen=True)
class StopRun:
    """Do not start the next step; end the run cleanly, resumable (``why`` is shown and journaled)."""

    why: str


GO = Go()
Decision: TypeAlias = Go | Hold | StopRun


@dataclass
class RunPolicy:
    """Base of every run policy: each hook does nothing unless a policy overrides it."""

    name: str = field(default="policy")

    def describe(self, plan: Plan) -> Sequence[str]:
        return ()

    def admit(self, plan: Plan, *, resumed: bool) -> None:
        return None

    def begin(self, run: RunInfo, plan: Plan) -> None:
        return None

    def before_step(self, plan: Plan, step: Step, remaining: Sequence[Step]) -> Decision:
        return GO

    def end(self, run: RunInfo, status: EndStatus) -> None:
        return None

    def report_lines(self) -> Sequence[str]:
        """Lines for this policy's section of the run's report (asked after ``end``; none: no section)."""
        return ()
