"""The one executor: runs any ``Plan`` — dry-run, confirmation, lock, journal, gates, waits, report.

It knows no tool: what a step does comes from its registered step kind (``homeops.engine.kinds``),
how to look at a gate from the ``World`` the workflow gives, and the health policy from the plan.

    plan ──render──▶ dry-run stops here
         ──confirm (unless --yes)──▶ lock ──▶ journal ──▶ preflight gates
         ──▶ for each batch: node gates → snapshots → commands → waits (lockstep) → gates + stability
         ──▶ report (Markdown + JSON next to the journal)

Run policies and listeners (``homeops.engine.events``) hang on that line: policies' ``describe``
beside the plan, ``admit`` before the confirmation, ``begin`` after the journal (before preflight),
``before_step`` before each batch, ``end`` once the run is over, whatever its end; listeners get one
event at each moment, from ``Planned`` to ``Finished``/``Failed``/``Interrupted``/``Stopped``.

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn, Protocol, TextIO, TypeVar

from homeops.clock import Clock
from homeops.engine.events import (
    GO,
    Decision,
    EndStatus,
    Failed,
    Finished,
    Go,
    Hold,
    Listener,
    NodeDone,
    Planned,
    RunEvent,
    RunInfo,
    RunPolicy,
    Stage,
    Started,
    StepDone,
    StepFailed,
    StepStarted,
    Stopped,
    StopRun,
    Stuck,
)
from homeops.engine.events import Interrupted as InterruptedEvent
from homeops.engine.gates import Check, GateResult, evaluate, hold_green, preflight, wait_green
from homeops.engine.journal import Journal
from homeops.engine.kinds import Look, StepContext, StepKind, kind_of
from homeops.engine.lock import ClusterLock
from homeops.engine.plan import Command, Gate, Plan, Step, unique_gates
from homeops.engine.progress import NullProgress, Progress, ProgressListener
from homeops.engine.report import write as write_report
from homeops.engine.retry import LOOK_RETRY, UNREACHABLE_COMMAND
from homeops.engine.text import one_line
from homeops.engine.waits import WaitSpec, wait_for
from homeops.errors import (
    Aborted,
    GateFailed,
    HomeopsError,
    Interrupted,
    PolicyRefused,
    RunStopped,
)
from homeops.runners import Result, Runner
from homeops.secrets import mask

#: A policy's hold this long (seconds) is "longer than expected": a ``Stuck`` event, once per hold.
#: Holds have no budget of their own (the policy decides when to give up); a quarter of an hour
#: between two nodes is past what anyone watching a rollout waits for without being told.
HOLD_STUCK_AFTER = 900.0

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
    ``listeners`` get the run's events after ``progress`` (itself one listener, ``ProgressListener``);
    they are called on the run's thread and must return at once (a slow one queues its work itself).
    ``policies`` are asked in order; ``hold_stuck_after`` is when a hold becomes a ``Stuck`` event.
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
        listeners: Sequence[Listener] = (),
        policies: Sequence[RunPolicy] = (),
        hold_stuck_after: float = HOLD_STUCK_AFTER,
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
        # The progress is the first listener, so its line of an event comes before anyone else's.
        self.listeners: tuple[Listener, ...] = (ProgressListener(self.progress), *listeners)
        self.policies: tuple[RunPolicy, ...] = tuple(policies)
        self.hold_stuck_after = hold_stuck_after
        # Gates seen green by the last look, and the sleep count then: still current only if no time
        # was slept since (a stale green must never let a command through).
        self._green: tuple[int, frozenset[tuple[str, str, str | None]]] = (-1, frozenset())
        self._run_info = RunInfo("", "", backend)
        # Each failing listener: its first failure (reported once) and how often it failed since.
        self._listener_failures: dict[int, tuple[str, int]] = {}
        self._nodes_left: dict[str, set[str]] = {}

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
        """Show ``plan``, then (unless a dry run) confirm, lock, journal and execute it.

        Every way this ends is told to the listeners as one event (``Finished``, ``Failed`` with the
        stage it got to, ``Interrupted``, ``Stopped``); policies' ``end`` runs for every run that got
        past its lock (``RunStopped``: a policy stopped it between steps, resumable).
        """
        self._listener_failures = {}
        self._run_info = RunInfo(
            plan.operation,
            plan.cluster,
            self.backend,
            run_id=resume.run_id if resume else "",
            resume_command=resume.resume_command if resume else "",
            state_dir=self.world.state_dir,
        )
        stage: Stage = "plan"
        try:
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
            described = self._describe(plan)
            if described:
                self._print("\n".join(["Run policies:", *described]))
            self._emit(Planned(self._run_info, plan, dry_run, self.clock.now()))
            if dry_run:
                self._print(("SIMULATED " if self.banner else "") + "dry run: nothing was changed")
                return Outcome("dry-run", plan)
            if plan.empty:
                return Outcome("nothing", plan)
            stage = "admit"
            for policy in self.policies:
                self._admit(policy, plan, resumed=resume is not None)
            stage = "confirm"
            if not yes:
                verb = "Resume" if resume else "Run"
                question = f"{verb} {plan.operation} on cluster '{plan.cluster}' ({len(plan.steps)} steps)?"
                if self.banner:
                    question = f"[{self.banner}] {question} (the simulator, not real machines)"
                if self.confirm is None or not self.confirm(question):
                    raise Aborted("not confirmed: nothing was changed", hint="answer y, or pass --yes")
            stage = "lock"
            lock = ClusterLock(self.world.state_dir, plan.cluster, operation=plan.operation, clock=self.clock)
            lock.acquire(
                run_id=resume.run_id if resume else "",
                break_lock=break_lock,
                adopt_run=resume.run_id if resume else None,
            )
        except (KeyboardInterrupt, HomeopsError) as exc:
            if isinstance(exc, KeyboardInterrupt | Interrupted):
                self._emit(InterruptedEvent(self._run_info, f"before the run started ({stage})", self.clock.now()))
            else:
                self._emit(Failed(self._run_info, str(exc), stage, self.clock.now()))
            raise
        try:
            try:
                journal = resume or Journal.create(
                    self.world.state_dir,
                    plan,
                    self.clock,
                    backend=self.backend,
                    resume_command=self._resume_command(plan),
                )
                if resume:
                    journal.resumed()
                self._rewrite_lock(lock, journal)
            except HomeopsError as exc:
                self._emit(Failed(self._run_info, str(exc), "lock", self.clock.now()))
                raise
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
        command = journal.resume_command or self._run_info.resume_command
        run = self._run_info = replace(self._run_info, run_id=journal.run_id, resume_command=command)
        self._nodes_left = {}
        for step in plan.steps:
            if step.node and not journal.done(step.id):
                self._nodes_left.setdefault(step.node, set()).add(step.id)
        self._emit(Started(run, plan, resumed, self.clock.now()))
        # Policies whose begin was called (even if it raised): each of them, and only they, get end.
        entered: list[RunPolicy] = []
        stage: Stage = "begin"
        current: list[Step] = []
        try:
            for policy in self.policies:
                entered.append(policy)
                self._call(policy, "begin", policy.begin, run, plan)
            stage = "preflight"
            # A lockstep step caught after its marker was recorded may have its node mid-reboot: finish it
            # first (its waits and gates prove health); otherwise the whole preflight runs again.
            in_flight = [r.id for r in journal.steps() if r.status == "running" and r.marker]
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
            stage = "step"
            total = len(plan.steps)
            index = {s.id: i for i, s in enumerate(plan.steps, 1)}
            for batch in plan.batches():
                todo = [s for s in batch if not journal.done(s.id)]
                for step in batch:
                    if journal.done(step.id):
                        self._emit(StepDone(run, step, index[step.id], total, self.clock.now(), already=True))
                if not todo:
                    continue
                # A step an earlier process started is finished, not held: its node may be mid-reboot.
                if not any(journal.step(s.id).status == "running" for s in todo):
                    self._before_step(plan, journal, todo[0])
                current = todo
                self._run_batch(plan, journal, todo, index, total)
                current = []
        except KeyboardInterrupt:
            where = ", ".join(s.id for s in current if not journal.done(s.id)) or "between steps"
            journal.finish("interrupted", f"interrupted at {where}")
            problems = self._end(entered, run, "interrupted")
            if problems:
                journal.finish("interrupted", "; ".join([f"interrupted at {where}", *problems]))
            md, _ = self._write_report(journal)
            self._last_event(journal, InterruptedEvent(run, where, self.clock.now(), report=md))
            raise Interrupted(
                "; ".join([f"interrupted at {where}; the cluster was left as it is", *problems]),
                hint=f"continue with: {self._resume_hint(journal)} (run {journal.run_id})",
            ) from None
        except _Stop as stop:
            why = f"{stop.policy}: {stop.why}"
            journal.finish("stopped", why)
            problems = self._end(entered, run, "stopped")
            if problems:
                self._end_failed(journal, run, f"stopped before {stop.step.summary} by run policy {why}", problems)
            md, _ = self._write_report(journal)
            self._last_event(journal, Stopped(run, why, self.clock.now(), report=md))
            raise RunStopped(
                f"stopped before {stop.step.summary} by run policy {why}; every earlier step is done and the "
                "cluster was left as it is",
                hint=f"continue with: {self._resume_hint(journal)} (run {journal.run_id}); report: {md}",
            ) from None
        except HomeopsError as exc:
            failed: list[Step] = []
            for step in current:
                if journal.step(step.id).status == "running":
                    journal.step_failed(step.id, str(exc))
                    failed.append(step)
                    self._emit(StepFailed(run, step, one_line(exc), self.clock.now()))
            undone = []
            for kind, _ in _by_kind(plan.steps):
                undone += kind.on_failure(self._context(journal, kind), plan.steps)
            journal.finish("failed", str(exc))
            problems = self._end(entered, run, "failed")
            if problems:
                journal.finish("failed", "; ".join([str(exc), *problems]))
            md, _ = self._write_report(journal)
            exc.hint = "; ".join([self._failure_hint(journal, current, exc, md), *undone, *problems])
            step_ = failed[0] if failed else None
            self._last_event(journal, Failed(run, str(exc), stage, self.clock.now(), step=step_, report=md))
            raise
        except Exception as exc:
            # Not a homeops error: a bug. The run still ends properly (journal, policies' end, report);
            # the traceback then goes up as it is.
            journal.finish("failed", f"internal error: {type(exc).__name__}: {one_line(exc)}")
            self._end(entered, run, "failed")
            md, _ = self._write_report(journal)
            error = f"internal error: {one_line(exc)}"
            self._last_event(journal, Failed(run, error, stage, self.clock.now(), report=md))
            raise
        journal.finish("finished")
        problems = self._end(entered, run, "finished")
        if problems:
            self._end_failed(journal, run, f"{plan.operation} finished every step", problems)
        md, js = self._write_report(journal)
        self._last_event(journal, Finished(run, plan, md, self.clock.now()))
        return Outcome("finished", plan, journal, md, js)

    def _end_failed(self, journal: Journal, run: RunInfo, what: str, problems: list[str]) -> NoReturn:
        """A policy's end raised after a run that finished (or stopped): the run fails, loudly.

        The journal says ``failed`` (not ``finished``): the run did not do all it was asked, and its
        ``--resume`` runs preflight and the policies' ``begin`` and ``end`` again around the steps
        left (none, after a finished run), which is how a post hook that failed for a passing cause
        is retried. Nothing already done is repeated.
        """
        message = "; ".join([f"{what}, but {problems[0]}", *problems[1:]])
        journal.finish("failed", message)
        md, _ = self._write_report(journal)
        self._last_event(journal, Failed(run, message, "end", self.clock.now(), report=md))
        raise HomeopsError(
            message,
            hint=f"every step journaled done stays done; after fixing it, continue with: {self._resume_hint(journal)} "
            f"(run {journal.run_id}), which runs the policies again; report: {md}",
        )

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
            self._emit(StepStarted(self._run_info, step, index[step.id], total, self.clock.now()))
            journal.step_started(step.id)
            kind.run(ctx, step)
            if step.waits:
                self._wait_all(plan, journal, [step])
            if (step.gates_after or plan.health.required_after) and not main:
                self._settle(plan, journal, [step])
            journal.step_done(step.id, after=kind.reached(step, journal.step(step.id)))
            self._step_done(step, index[step.id], total)
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
                    self._step_done(step, index[step.id], total, already=True)
            group = [s for s in group if resumed or not seen[s.id].done]
            if not group:
                continue
            for step in group:
                self._emit(StepStarted(self._run_info, step, index[step.id], total, self.clock.now(), resumed=resumed))
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
                self._step_done(step, index[step.id], total)

    def _step_done(self, step: Step, index: int, total: int, *, already: bool = False) -> None:
        self._emit(StepDone(self._run_info, step, index, total, self.clock.now(), already=already))
        left = self._nodes_left.get(step.node or "")
        if left is not None and step.id in left:
            left.discard(step.id)
            if not left:
                self._emit(NodeDone(self._run_info, step.node or "", self.clock.now()))

    # ------------------------------------------------------------------------------------ policies, listeners

    def _describe(self, plan: Plan) -> list[str]:
        lines = []
        for policy in self.policies:
            described = self._call(policy, "describe", policy.describe, plan)
            lines += [f"  {policy.name}: {line}" for line in described]
        return lines

    def _admit(self, policy: RunPolicy, plan: Plan, *, resumed: bool) -> None:
        try:
            policy.admit(plan, resumed=resumed)
        except HomeopsError:
            raise
        except Exception as exc:
            # A policy that cannot decide refuses: a start nobody could vouch for is not made.
            raise PolicyRefused(
                f"run policy '{policy.name}' could not decide whether the run may start: {one_line(exc)}; "
                "nothing was changed",
                hint="fix what it names, or leave the policy out of this run",
            ) from exc

    def _call(self, policy: RunPolicy, hook: str, call: Callable[..., T], *args: object) -> T:
        """A policy hook; anything but a homeops error (a bug, a library's error) names the policy."""
        try:
            return call(*args)
        except HomeopsError:
            raise
        except Exception as exc:
            raise HomeopsError(f"run policy '{policy.name}' failed in {hook}: {one_line(exc)}") from exc

    def _before_step(self, plan: Plan, journal: Journal, step: Step) -> None:
        """Ask every policy before a batch's first step: GO goes on, Hold sleeps and asks again, StopRun stops."""
        if not self.policies:
            return
        remaining = tuple(s for s in plan.steps if not journal.done(s.id))
        started = self.clock.monotonic()
        stuck = False
        told = ""
        while True:
            decision: Decision = GO
            for policy in self.policies:
                decision = self._call(policy, "before_step", policy.before_step, plan, step, remaining)
                if not isinstance(decision, Go):
                    break
            if isinstance(decision, Go):
                if told:
                    self.progress.note(f"hold over after {self.clock.monotonic() - started:.0f}s: going on")
                return
            if isinstance(decision, StopRun):
                raise _Stop(policy.name, decision.why, step)
            if not isinstance(decision, Hold):
                raise HomeopsError(f"run policy '{policy.name}' answered {decision!r} in before_step")
            elapsed = self.clock.monotonic() - started
            text = f"holding before {step.summary}: {policy.name}: {decision.why}"
            if text != told:
                self.progress.note(f"{text} (asking again every {decision.seconds:g}s)")
                told = text
            if not stuck and elapsed >= self.hold_stuck_after:
                stuck = True
                self._emit(
                    Stuck(
                        self._run_info,
                        f"hold before {step.summary} ({policy.name})",
                        step.node,
                        elapsed,
                        self.hold_stuck_after,
                        decision.why,
                        self.clock.now(),
                    )
                )
            # Never a busy loop, whatever a policy answers.
            self.clock.sleep(max(decision.seconds, 1.0))

    def _end(self, entered: Sequence[RunPolicy], run: RunInfo, status: EndStatus) -> list[str]:
        """Every entered policy's end, last entered first (like nested cleanups); returns what failed.

        One end raising does not keep the others from running; Ctrl-C inside one counts as its failure.
        """
        problems = []
        for policy in reversed(entered):
            try:
                policy.end(run, status)
            except (Exception, KeyboardInterrupt) as exc:
                why = "interrupted" if isinstance(exc, KeyboardInterrupt) else one_line(exc)
                problems.append(f"run policy '{policy.name}' failed at the end of the run: {why}")
        for problem in problems:
            self._note(problem)
        return problems

    def _write_report(self, journal: Journal) -> tuple[Path, Path]:
        sections, problems = self._report_sections()
        return write_report(journal, policies=sections, listener_problems=problems)

    def _report_sections(self) -> tuple[dict[str, list[str]], list[str]]:
        """What the run adds to its report: each policy's lines, and the listeners that failed."""
        sections: dict[str, list[str]] = {}
        for policy in self.policies:
            try:
                lines = [mask(str(line)) for line in policy.report_lines()]
            except Exception as exc:
                lines = [f"(its report lines could not be read: {one_line(exc)})"]
            name = policy.name if policy.name not in sections else f"{policy.name} ({len(sections) + 1})"
            if lines:
                sections[name] = lines
        # a listener's error may quote what it was sending to (a webhook URL with its token)
        problems = [
            mask(first + (f" (and {count - 1} more time(s))" if count > 1 else ""))
            for first, count in self._listener_failures.values()
        ]
        return sections, problems

    def _last_event(self, journal: Journal, event: RunEvent) -> None:
        # The report is written before the last event (which names it); a listener failing on that
        # event, or a policy that learnt something from it (a notifier whose last message did not
        # go out), is then in the report too.
        before = self._report_sections()
        self._emit(event)
        after = self._report_sections()
        if after != before:
            write_report(journal, policies=after[0], listener_problems=after[1])

    def failed_before_plan(self, operation: str, cluster: str, error: HomeopsError) -> None:
        """A run that failed before it had a plan to show (observing the cluster, planning, reading the
        journal to resume): told to the listeners as ``Failed(stage="plan")``, like every other failure,
        so the nightly run whose planner found a node down is not a silent one."""
        self._listener_failures = {}
        self._run_info = RunInfo(operation, cluster, self.backend, state_dir=self.world.state_dir)
        self._emit(Failed(self._run_info, str(error), "plan", self.clock.now()))

    def _emit(self, event: RunEvent) -> None:
        """Tell every listener; one that raises is reported once and never changes the run."""
        for listener in self.listeners:
            try:
                listener.on_event(event)
            except Exception as exc:
                key = id(listener)
                if key in self._listener_failures:
                    first, count = self._listener_failures[key]
                    self._listener_failures[key] = (first, count + 1)
                    continue
                name = getattr(listener, "name", type(listener).__name__)
                first = f"listener '{name}' failed on {type(event).__name__}: {one_line(exc)}"
                self._listener_failures[key] = (first, 1)
                self._note(f"{first} (ignored: the run goes on)")

    def _note(self, text: str) -> None:
        # The progress may be what failed (a closed terminal): a note never breaks the run either.
        try:
            self.progress.note(text)
        except Exception:
            return

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
        report = self._gate_waiting()

        def look() -> dict[str, Look]:
            # Green first (waiting out a blip), then the kinds' looks: a retry after a tool error waits
            # for green again, since the sleep made the earlier green stale.
            seen_at, seen_green = self._green
            if seen_at != self.clock.sleeps:
                seen_green = frozenset()
            wait_green(
                [g for g in gates if _key(g) not in seen_green],
                self.world.look,
                clock=self.clock,
                interval=plan.poll_interval,
                report=report,
                hint="nothing was sent to the next node",
            )
            seen: dict[str, Look] = {}
            for kind, group in _by_kind(steps):
                seen.update(kind.look(self._context(journal, kind), group))
            return seen

        seen = LOOK_RETRY.call(
            look, sleep=self.clock.sleep, attempts=self.preflight_retries, interval=min(plan.poll_interval, 2.0)
        )
        self._green = (self.clock.sleeps, frozenset(_key(g) for g in gates))
        for step in steps:
            seen_now = seen[step.id]
            if not seen_now.ready and not seen_now.done:
                raise GateFailed(
                    kind_of(step).look_gate,
                    seen_now.observed,
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
                observation = wait_for(spec, probe, clock=self.clock, report=self._wait_reporter())
                for step in members:
                    journal.note(step.id, persist=False, **{f"wait_{wait_kind}": observation.observed[:300]})

    def _wait_reporter(self) -> Callable[[WaitSpec, float, str], None]:
        """What one wait reports through: the progress, and once past half its timeout a ``Stuck`` event.

        Half the timeout is "longer than expected": a wait's timeout is its budget with room to spare,
        so a wait past half of it is worth telling someone while there is still time to look.
        """
        stuck = False

        def report(spec: WaitSpec, elapsed: float, observed: str) -> None:
            nonlocal stuck
            self.progress.waiting(spec, elapsed, observed)
            if not stuck and elapsed >= spec.timeout / 2:
                stuck = True
                at = self.clock.now()
                self._emit(Stuck(self._run_info, spec.what, spec.target, elapsed, spec.timeout / 2, observed, at))

        return report

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
            report=self._gate_waiting(),
        )
        self._green = (self.clock.sleeps, frozenset(_key(r.gate) for r in results))
        lines = [_gate_line(r) for r in results]
        for step in steps:
            journal.gates_seen(step.id, lines)

    def _gate_report(self, gate: Gate, check: Check) -> None:
        self.progress.gate(gate, check.ok, check.observed)

    def _gate_waiting(self) -> Callable[[Gate, Check], None]:
        """What a wait for green gates reports through: the progress, and a ``Stuck`` event once per gate
        red past half its timeout (the same rule as a wait's)."""
        start = self.clock.monotonic()
        stuck: set[tuple[str, str, str | None]] = set()

        def report(gate: Gate, check: Check) -> None:
            self._gate_report(gate, check)
            elapsed = self.clock.monotonic() - start
            if not check.ok and _key(gate) not in stuck and elapsed >= gate.timeout / 2:
                stuck.add(_key(gate))
                what = f"gate {gate.label} to be green"
                at = self.clock.now()
                self._emit(Stuck(self._run_info, what, gate.target, elapsed, gate.timeout / 2, check.observed, at))

        return report

    def _print(self, text: str) -> None:
        print(mask(text), file=self.out, flush=True)


class _Stop(Exception):
    """A policy answered ``StopRun`` before ``step``: unwinds to ``_execute``, which ends the run cleanly."""

    def __init__(self, policy: str, why: str, step: Step) -> None:
        super().__init__(why)
        self.policy = policy
        self.why = why
        self.step = step


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
