"""Step kinds: what a workflow tells the engine about each kind of step it plans.

A step's ``action`` names its kind. The workflow module (``homeops.operations.<workflow>``) defines a
``StepKind`` subclass per kind and ``register``s it; the executor looks the kind up and asks it:

* ``run``            — send the step's commands (default: each of ``step.commands`` through ``ctx.send``);
* ``look``           — the last look before sending (idempotency): ready? already done? a ``marker``
                       to compare after (e.g. an identity or boot counter);
* ``sent_already`` / ``arrived`` — on resume: did a command caught mid-flight reach its target,
                       is a step that failed after sending there by now;
* ``probe`` + ``terms`` — its waits: one probe per wait kind, with success *and* failure conditions;
* ``refusal``        — which failed results are not retried, or are retried (cannot have arrived);
* ``hints``          — what to tell the user when the run stops (rollback, where the backup is).

A kind that needs settings of its own (replicas, suspend or resume, a snapshot's name) names their
frozen dataclass in ``params``; its steps carry one in ``step.params`` and read it with
``step.param(TheParams)``. ``register`` makes the class readable from the journal by its tag.

``lockstep`` kinds change their target (take a node away): a batch of them is looked at once, sent
together, waited for together. The others prepare (a backup, a snapshot) and run one by one first.
Adding a workflow adds kinds here at import time; no engine module changes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from homeops.engine.plan import Command, Step, StepParams, Wait, register_params
from homeops.engine.waits import Observation
from homeops.errors import HomeopsError, PlanError
from homeops.runners import Result, Runner

if TYPE_CHECKING:
    from homeops.clock import Clock
    from homeops.engine.journal import Journal, StepRecord
    from homeops.engine.progress import Progress

T = TypeVar("T")
Probe = Callable[[], Observation[None]]


@dataclass(frozen=True)
class Look:
    """What the last look before sending saw of one step's target."""

    ready: bool
    observed: str = ""
    marker: str | None = None  # compared after sending (a boot ID, a generation)
    done: bool = False  # already where the step would take it: nothing is sent
    before: str | None = None  # the state before, for the report


@dataclass(frozen=True)
class WaitTerms:
    """How a wait kind is described: what success is, what fails it at once, what to do when it fails."""

    success: str
    failure: str = ""
    hint: str | None = None


class StepContext:
    """What the executor lends a step kind: the workflow's world, the journal, time, progress, a sender."""

    def __init__(
        self,
        world: Any,
        journal: Journal,
        clock: Clock,
        progress: Progress,
        send: Callable[[Command, str, str | None], Result],
        retrying: Callable[[Callable[[], Any]], Any],
        runner: Callable[[Command], Runner],
    ) -> None:
        self.world = world
        self.journal = journal
        self.clock = clock
        self.progress = progress
        self._send = send
        self._retrying = retrying
        self.runner = runner  # where a command runs (local or its host), for a kind with its own rules

    def send(self, command: Command, *, what: str, target: str | None) -> Result:
        """Run a mutating command with the kind's retry/refusal rules; a failure raises ``CommandError``."""
        return self._send(command, what, target)

    def retrying(self, look: Callable[[], T]) -> T:
        """A read that errored (tool, connection) is tried again a few times before it raises."""
        result: T = self._retrying(look)
        return result


class StepKind:
    """Base class: a kind that runs its commands and has no look, no waits and no hints."""

    name: ClassVar[str] = ""
    lockstep: ClassVar[bool] = False
    #: The order its wait kinds are waited for (each over every step of the batch at once).
    wait_order: ClassVar[tuple[str, ...]] = ()
    terms: ClassVar[Mapping[str, WaitTerms]] = {}
    #: The name a not-ready look fails under (``GateFailed``).
    look_gate: ClassVar[str] = "ready"
    #: Its steps' typed parameters (``step.params``), None when it has none.
    params: ClassVar[type[StepParams] | None] = None

    def run(self, ctx: StepContext, step: Step) -> None:
        for command in step.commands:
            ctx.send(command, what=f"{step.action} {step.node or ''}".strip(), target=step.node)

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        return {s.id: Look(True) for s in steps}

    def sent_already(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        """Crashed after the look, before ``sent`` was journaled: did the command reach the target?"""
        return False

    def arrived(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        """Failed after sending (then fixed by hand): is the target where the step takes it?"""
        return False

    def skips(self, wait: Wait, record: StepRecord) -> bool:
        """A wait the step turned out not to need (a config applied without reboot)."""
        return False

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        raise PlanError(f"step kind {self.name!r} has no probe for wait {wait_kind!r}")

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        """A failed result that must not be retried, as the error to raise (None: the usual rules)."""
        return None

    def unreachable(self, result: Result) -> bool:
        """A failed result that cannot have reached the target (safe to send again at once)."""
        return False

    def placeholders(self, step: Step) -> Mapping[str, str]:
        """The ``<name>`` placeholders of its hints that only the step knows (the plan's options fill the rest)."""
        return {}

    def reached(self, step: Step, record: StepRecord) -> str | None:
        """The state the step reached, for the report."""
        return step.to_version

    def hints(self, ctx: StepContext, steps: Sequence[Step]) -> list[str]:
        """What to tell the user when the run stopped at ``steps`` (rollback lines, backups)."""
        return []

    def on_failure(self, ctx: StepContext, plan_steps: Sequence[Step]) -> list[str]:
        """Undo what must not outlive a failed run (a suspended controller); lines for the hint.

        Called once per kind of the plan when a run fails, before the report is written. Best effort:
        it must not raise (the run's own error is what the user needs to see).
        """
        return []


_KINDS: dict[str, StepKind] = {}


def register(kind: StepKind) -> StepKind:
    """Make ``kind`` known by its name; a workflow module registers its kinds when it is imported."""
    if not kind.name:
        raise ValueError(f"{type(kind).__name__} has no name")
    known = _KINDS.get(kind.name)
    if known is not None and type(known) is not type(kind):
        raise ValueError(f"step kind {kind.name!r} is already registered by {type(known).__name__}")
    if kind.params is not None:
        register_params(kind.params, kind.name)
    _KINDS[kind.name] = kind
    return kind


def kind_of(step: Step) -> StepKind:
    kind = _KINDS.get(step.action)
    if kind is None:
        raise PlanError(
            f"step {step.id}: no step kind {step.action!r} is registered",
            hint="the workflow module that plans it registers it; import it before running the plan",
        )
    return kind


def registered() -> tuple[str, ...]:
    return tuple(sorted(_KINDS))
