"""The one executor: runs any ``Plan`` — dry-run, confirmation, lock, journal, gates, waits, report.

It knows no tool: what a step does comes from its registered step kind (``homeops.engine.kinds``),
how to look at a gate from the ``World`` the workflow gives, and the health policy from the plan.

    plan ──render──▶ dry-run stops here
         ──confirm (unless --yes)──▶ lock ──▶ journal ──▶ preflight gates
         ──▶ for each batch: node gates → snapshots → commands → waits (lockstep) → gates + stability
         ──▶ report (Markdown + JSON next to the journal)

Every step is journaled before it starts and after it ends, so a run killed at any instant can be
resumed: finished steps are never repeated; a step caught mid-flight is continued from what the
journal and a fresh look at the node say (an upgrade whose node already rebooted is not re-sent).

On failure the run stops before the next node and leaves the cluster as it is; the error names the
node, the gate or wait, what was observed, and how to resume or roll back.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TextIO, TypeVar

from homeops.clock import Clock
from homeops.engine.gates import Check, GateResult, evaluate, hold_green, preflight, wait_green
from homeops.engine.journal import Journal
from homeops.engine.kinds import Look, StepContext, StepKind, kind_of
from homeops.engine.lock import ClusterLock
from homeops.engine.plan import Command, Gate, Plan, Step, unique_gates
from homeops.engine.progress import NullProgress, Progress
from homeops.engine.report import write as write_report
from homeops.engine.retry import LOOK_RETRY, UNREACHABLE_COMMAND
from homeops.engine.waits import WaitSpec, wait_for
from homeops.errors import Aborted, CommandError, ConnectionFailed, GateFailed, HomeopsError, Interrupted
from homeops.runners import Result, Runner

#: The banner of a run against the simulator: plan title, prompt, every progress line, report.
SIMULATED = "SIMULATED"

Confirm = Callable[[str], bool]
T = TypeVar("T")


class World(Protocol):
    """What a workflow's runs act on, as the engine needs it: where state lives, how to look at a gate."""

    @property
    def state_dir(self) -> Path: ...

    def look(self, gate: Gate) -> Check: ...


@dataclass
class Outcome:
    status: str  # dry-run, nothing, finished, already-finished
    plan: Plan
    journal: Journal | None = None
    report: Path | None = None
    report_json: Path | None = None
    notes: list[str] = field(default_factory=list)


class Executor:
    """Runs plans against one world. ``host(name)`` gives the runner of an SSH host.

    ``resume_with`` is the command that resumes a run (the task that starts it knows it);
    ``backend="simulated"`` makes every plan, prompt, progress line and report say SIMULATED;
    ``render(plan, banner)`` shows a plan another way than ``Plan.render`` (a one-VM action).
    """

    def __init__(
        self,
        world: World,
        *,
        local: Runner,
        host: Callable[[str], Runner],
        clock: Clock,
        progress: Progress | None = None,
        out: TextIO | None = None,
        confirm: Confirm | None = None,
        preflight_retries: int = 3,
        backend: str = "real",
        resume_with: str | Callable[[Plan], str] = "",
        render: Callable[[Plan, str], str] | None = None,
    ) -> None:
        self.world = world
        self.local = local
        self.host = host
        self.clock = _SleepCounter(clock)
        self.progress: Progress = progress or NullProgress()
        self.out = out or sys.stdout
        self.confirm = confirm
        self.preflight_retries = preflight_retries
        self.backend = backend
        self.resume_with = resume_with
        self.render = render or (lambda plan, banner: plan.render(banner=banner))
        # Gates seen green by the last look, and the sleep count then: still current only if no time
        # was slept since (a stale green must never let a command through).
        self._green: tuple[int, frozenset[tuple[str, str, str | None]]] = (-1, frozenset())

    @property
    def banner(self) -> str:
        return SIMULATED if self.backend == "simulated" else ""

    # ------------------------------------------------------------------------------------ entry

    def run(
        self,
        plan: Plan,
        *,
        dry_run: bool = False,
        yes: bool = False,
        break_lock: bool = False,
        resume: Journal | None = None,
    ) -> Outcome:
        if resume is not None and resume.status == "finished":
            self._print(f"run {resume.run_id} already finished; nothing to resume (report: {resume.directory})")
            return Outcome("already-finished", plan, resume, resume.directory / "report.md")
        if resume is not None and resume.backend != self.backend:
            raise Aborted(
                f"run {resume.run_id} acted on the {resume.backend} cluster, this one would act on the "
                f"{self.backend} one: not resuming it",
                hint="resume it where it started (sim.up/sim.down), or move its journal aside",
            )
        self._print(self.render(plan, self.banner))
        if dry_run:
            self._print(("SIMULATED " if self.banner else "") + "dry run: nothing was changed")
            return Outcome("dry-run", plan)
        if plan.empty:
            return Outcome("nothing", plan)
        if not yes:
            verb = "Resume" if resume else "Run"
            question = f"{verb} {plan.operation} on cluster '{plan.cluster}' ({len(plan.steps)} steps)?"
            if self.banner:
                question = f"[{self.banner}] {question} (the simulator, not real machines)"
            if self.confirm is None or not self.confirm(question):
                raise Aborted("not confirmed: nothing was changed", hint="answer y, or pass --yes")
        lock = ClusterLock(self.world.state_dir, plan.cluster, operation=plan.operation, clock=self.clock)
        lock.acquire(
            run_id=resume.run_id if resume else "",
            break_lock=break_lock,
            adopt_run=resume.run_id if resume else None,
        )
        try:
            journal = resume or Journal.create(
                self.world.state_dir, plan, self.clock, backend=self.backend, resume_command=self._resume_command(plan)
            )
            if resume:
                journal.resumed()
            self._rewrite_lock(lock, journal)
            return self._execute(plan, journal, resumed=resume is not None)
        finally:
            lock.release()

    def _resume_command(self, plan: Plan) -> str:
        return self.resume_with(plan) if callable(self.resume_with) else self.resume_with

    def _rewrite_lock(self, lock: ClusterLock, journal: Journal) -> None:
        # The run ID is only known once the journal exists; the lock names it so --resume can adopt it.
        info = lock.read()
        if info is not None and info.pid == os.getpid() and not info.run_id:
            from dataclasses import asdict

            from homeops.engine.journal import atomic_write_json

            data = asdict(info)
            data["run_id"] = journal.run_id
            atomic_write_json(lock.path, data)

    # ------------------------------------------------------------------------------------ the run

    def _execute(self, plan: Plan, journal: Journal, *, resumed: bool) -> Outcome:
        self.progress.started(plan, resumed=resumed)
        # A lockstep step caught after its marker was recorded may have its node mid-reboot: finish it
        # first (its waits and gates prove health); otherwise the whole preflight runs again.
        in_flight = [r.id for r in journal.steps() if r.status == "running" and r.marker]
        current: list[Step] = []
        try:
            if not in_flight:
                results = preflight(
                    plan.preflight + plan.health.required_now(journal.done),
                    self.world.look,
                    clock=self.clock,
                    retries=self.preflight_retries,
                    interval=min(plan.poll_interval, 2.0),
                    report=self._gate_report,
                )
                reported = [evaluate(g, self.world.look) for g in plan.health.allowed_red]
                for result in reported:
                    self._gate_report(result.gate, Check(result.ok, result.observed + " (reported only)"))
                journal.set_preflight([_gate_line(r) for r in results], reported=[_gate_line(r) for r in reported])
                self._green = (self.clock.sleeps, frozenset(_key(r.gate) for r in results))
            else:
                self.progress.note(f"resuming in-flight step(s): {', '.join(in_flight)}")
            total = len(plan.steps)
            index = {s.id: i for i, s in enumerate(plan.steps, 1)}
            for batch in plan.batches():
                todo = [s for s in batch if not journal.done(s.id)]
                for step in batch:
                    if journal.done(step.id):
                        self.progress.step(step, index[step.id], total, "skipped")
                if not todo:
                    continue
                current = todo
                self._run_batch(plan, journal, todo, index, total)
                current = []
        except KeyboardInterrupt:
            where = ", ".join(s.id for s in current if not journal.done(s.id)) or "between steps"
            journal.finish("interrupted", f"interrupted at {where}")
            write_report(journal)
            raise Interrupted(
                f"interrupted at {where}; the cluster was left as it is",
                hint=f"continue with: {self._resume_hint(journal)} (run {journal.run_id})",
            ) from None
        except HomeopsError as exc:
            for step in current:
                if journal.step(step.id).status == "running":
                    journal.step_failed(step.id, str(exc))
            undone = []
            for kind, _ in _by_kind(plan.steps):
                undone += kind.on_failure(self._context(journal, kind), plan.steps)
            journal.finish("failed", str(exc))
            md, _ = write_report(journal)
            exc.hint = "; ".join([self._failure_hint(journal, current, exc, md), *undone])
            self.progress.finished("failed", str(exc))
            raise
        journal.finish("finished")
        md, js = write_report(journal)
        self.progress.finished("finished", f"{plan.operation} done; report {md}")
        return Outcome("finished", plan, journal, md, js)

    def _resume_hint(self, journal: Journal) -> str:
        return journal.resume_command or "the same task with --resume"

    def _failure_hint(self, journal: Journal, current: Sequence[Step], exc: HomeopsError, md: Path) -> str:
        parts = []
        if exc.hint:
            parts.append(exc.hint)
        parts.append("stopped before the next node; nothing else was touched")
        parts.append(f"after fixing it, continue with: {self._resume_hint(journal)}")
        for kind, _ in _by_kind(journal.plan().steps):
            parts.extend(kind.hints(self._context(journal, kind), current))
        parts.append(f"report: {md}")
        return "; ".join(parts)

    def _context(self, journal: Journal, kind: StepKind) -> StepContext:
        def send(command: Command, what: str, target: str | None) -> Result:
            return self._run_command(kind, command, what=what, target=target)

        return StepContext(self.world, journal, self.clock, self.progress, send, self._retrying, self._runner)

    def _run_batch(self, plan: Plan, journal: Journal, todo: list[Step], index: dict[str, int], total: int) -> None:
        pre = [s for s in todo if not kind_of(s).lockstep]
        main = [s for s in todo if s not in pre]
        for step in pre:
            kind = kind_of(step)
            ctx = self._context(journal, kind)
            self._check_before(step)
            self.progress.step(step, index[step.id], total, "start")
            journal.step_started(step.id)
            kind.run(ctx, step)
            if step.waits:
                self._wait_all(plan, journal, [step])
            if (step.gates_after or plan.health.required_after) and not main:
                self._settle(plan, journal, [step])
            journal.step_done(step.id, after=kind.reached(step, journal.step(step.id)))
            self.progress.step(step, index[step.id], total, "done")
        # Steps caught mid-flight by a crash finish first (their nodes may be down, so the cluster
        # gates cannot be green yet); the rest of their batch then starts like a fresh batch.
        in_flight = [s for s in main if journal.step(s.id).marker and journal.step(s.id).status == "running"]
        # A step that failed after its command went out (the node never came back, then was fixed)
        # is not sent again if the node already got there: resume only re-checks it.
        in_flight += [s for s in main if s not in in_flight and self._arrived(journal, s)]
        fresh = [s for s in main if s not in in_flight]
        for group, resumed in ((in_flight, True), (fresh, False)):
            if not group:
                continue
            seen = {} if resumed else self._look_before_sending(plan, journal, group)
            for step in group:
                if not resumed and seen[step.id].done:
                    # Already where the step would take it (idempotency): nothing is sent.
                    journal.step_done(step.id, before=seen[step.id].before, already=True)
                    self.progress.step(step, index[step.id], total, "skipped")
            group = [s for s in group if resumed or not seen[s.id].done]
            if not group:
                continue
            for step in group:
                self.progress.step(step, index[step.id], total, "resumed" if resumed else "start")
                if resumed:
                    self._continue_step(journal, step)
                else:
                    look = seen[step.id]
                    journal.step_started(step.id, marker=look.marker, before=look.before or step.from_version)
                    self._send(journal, step)
            self._wait_all(plan, journal, group)
            self._settle(plan, journal, group)
            for step in group:
                journal.step_done(step.id, after=kind_of(step).reached(step, journal.step(step.id)))
                self.progress.step(step, index[step.id], total, "done")

    def _look_before_sending(self, plan: Plan, journal: Journal, steps: Sequence[Step]) -> dict[str, Look]:
        """The last look before touching targets: every gate green *and* the kinds' looks, in one instant.

        Waiting (for a blip) or retrying (for a tool error) happens before this look, never between it
        and the commands, so no command is ever sent on the strength of an older green. A gate seen
        green an instant ago (by the stability window that just ended) is not asked again.
        """
        gates = unique_gates(
            tuple(g for s in steps for g in s.gates_after)
            + tuple(g for s in steps for g in s.gates_before)
            + plan.health.required_now(journal.done)
        )
        errors = 0
        while True:
            seen_at, seen_green = self._green
            if seen_at != self.clock.sleeps:
                seen_green = frozenset()
            wait_green(
                [g for g in gates if _key(g) not in seen_green],
                self.world.look,
                clock=self.clock,
                interval=plan.poll_interval,
                report=self._gate_report,
                hint="nothing was sent to the next node",
            )
            try:
                seen: dict[str, Look] = {}
                for kind, group in _by_kind(steps):
                    seen.update(kind.look(self._context(journal, kind), group))
            except (CommandError, ConnectionFailed):
                errors += 1
                if errors >= self.preflight_retries:
                    raise
                self.clock.sleep(min(plan.poll_interval, 2.0))
                continue
            self._green = (self.clock.sleeps, frozenset(_key(g) for g in gates))
            for step in steps:
                look = seen[step.id]
                if not look.ready and not look.done:
                    raise GateFailed(
                        kind_of(step).look_gate,
                        look.observed,
                        target=step.node,
                        hint="nothing was sent to this node",
                    )
            return seen

    def _retrying(self, look: Callable[[], T]) -> T:
        return LOOK_RETRY.call(look, sleep=self.clock.sleep, attempts=self.preflight_retries)

    # ------------------------------------------------------------------------------------ pieces

    def _check_before(self, step: Step) -> None:
        if step.gates_before:
            preflight(
                step.gates_before,
                self.world.look,
                clock=self.clock,
                retries=self.preflight_retries,
                interval=1.0,
                report=self._gate_report,
            )

    def _runner(self, command: Command) -> Runner:
        return self.local if command.on == "local" else self.host(command.on)

    def _run_command(
        self, kind: StepKind, command: Command, *, what: str, target: str | None, stdin: str | None = None
    ) -> Result:
        """Run a mutating command; retry only failures that cannot have reached the target.

        Retries are immediate: the gates were green in the look just before, and sleeping here would
        send the command on a look that is no longer current (found by the property tests).
        """

        def send() -> Result:
            result = self._runner(command).run(list(command.argv), timeout=command.timeout, stdin=stdin)
            refused = None if result.ok else kind.refusal(result, what=what, target=target)
            if refused is not None:
                raise refused
            return result

        result = UNREACHABLE_COMMAND.call(
            send, sleep=self.clock.sleep, again=lambda r: r.failed and kind.unreachable(r)
        )
        return result if result.ok else result.check(what)

    def _arrived(self, journal: Journal, step: Step) -> bool:
        record = journal.step(step.id)
        if record.status != "failed" or not record.sent:
            return False
        kind = kind_of(step)
        return kind.arrived(self._context(journal, kind), step, record)

    def _continue_step(self, journal: Journal, step: Step) -> None:
        """A step a crash interrupted after its marker was recorded: send again only if provably not sent."""
        record = journal.step(step.id)
        if record.status == "failed":
            journal.step_started(step.id, resumed_after_failure=True)
        if record.sent:
            return
        kind = kind_of(step)
        if kind.sent_already(self._context(journal, kind), step, record):
            journal.mark_sent(step.id, command_inferred=True)
            return
        self._send(journal, step)

    def _send(self, journal: Journal, step: Step) -> None:
        kind = kind_of(step)
        kind.run(self._context(journal, kind), step)
        journal.mark_sent(step.id)

    def _wait_all(self, plan: Plan, journal: Journal, steps: Sequence[Step]) -> None:
        for kind, group in _by_kind(steps):
            ctx = self._context(journal, kind)
            for wait_kind in kind.wait_order:
                members = [
                    s
                    for s in group
                    if any(w.kind == wait_kind and not kind.skips(w, journal.step(s.id)) for w in s.waits)
                ]
                if not members:
                    continue
                waits = [w for s in members for w in s.waits if w.kind == wait_kind]
                probe = kind.probe(ctx, wait_kind, members)
                names = ", ".join(s.node or "cluster" for s in members)
                terms = kind.terms[wait_kind]
                spec = WaitSpec(
                    what=waits[0].describe if len(members) == 1 else f"{wait_kind} on {names}",
                    success=terms.success,
                    failure=terms.failure,
                    timeout=max(w.timeout for w in waits),
                    interval=plan.poll_interval,
                    target=names,
                    hint=_filled(terms.hint, plan, [kind.placeholders(s) for s in members]),
                )
                observation = wait_for(spec, probe, clock=self.clock, report=self.progress.waiting)
                for step in members:
                    journal.note(step.id, persist=False, **{f"wait_{wait_kind}": observation.observed[:300]})

    def _settle(self, plan: Plan, journal: Journal, steps: Sequence[Step]) -> None:
        # A gate a step of this batch brings up becomes required now (the step is not journaled done yet).
        ids = {s.id for s in steps}
        gates = unique_gates(
            tuple(g for s in steps for g in s.gates_after)
            + plan.health.required_now(lambda sid: sid in ids or journal.done(sid))
        )
        if not gates:
            return
        results = hold_green(
            gates,
            self.world.look,
            seconds=plan.stability_seconds,
            clock=self.clock,
            # Five or so looks per window: enough to catch a flap, without hammering a big cluster.
            interval=max(plan.poll_interval, plan.stability_seconds / 5),
            report=self._gate_report,
        )
        self._green = (self.clock.sleeps, frozenset(_key(r.gate) for r in results))
        lines = [_gate_line(r) for r in results]
        for step in steps:
            journal.gates_seen(step.id, lines)

    def _gate_report(self, gate: Gate, check: Check) -> None:
        self.progress.gate(gate, check.ok, check.observed)

    def _print(self, text: str) -> None:
        from homeops.secrets import mask

        print(mask(text), file=self.out, flush=True)


def _by_kind(steps: Sequence[Step]) -> list[tuple[StepKind, list[Step]]]:
    """Steps grouped by their kind, in first-seen order."""
    groups: dict[str, tuple[StepKind, list[Step]]] = {}
    for step in steps:
        groups.setdefault(step.action, (kind_of(step), []))[1].append(step)
    return list(groups.values())


class _SleepCounter:
    """The executor's clock: the injected one, counting sleeps so a look can tell it is still current."""

    def __init__(self, clock: Clock) -> None:
        self.inner = clock
        self.sleeps = 0

    def now(self) -> float:
        return self.inner.now()

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.inner.sleep(seconds)


def _key(gate: Gate) -> tuple[str, str, str | None]:
    return (gate.kind, gate.name, gate.target)


def _gate_line(result: GateResult) -> str:
    return f"{result.gate.label}: {'green' if result.ok else 'red'} — {result.observed}"


def _filled(hint: str | None, plan: Plan, per_step: Sequence[Mapping[str, str]] = ()) -> str | None:
    """A wait's hint with the ``<option>`` placeholders the plan knows (``<namespace>``, ``<app>``) filled in,
    and those its steps know (``<controller>``): the values of several steps, space-separated (kubectl
    describe takes several ``kind/name``)."""
    if hint is None:
        return None
    for name in dict.fromkeys(k for values in per_step for k in values):
        value = " ".join(dict.fromkeys(values[name] for values in per_step if values.get(name)))
        if value:
            hint = hint.replace(f"<{name}>", value)
    for name, value in plan.options:
        if value:
            hint = hint.replace(f"<{name}>", value)
    return hint
