"""The workflows with their own orchestration: bootstrap, dr.rebuild, VolSync, etcd snapshots, the DR rehearsal.

Each opens the runtime (``backend.open_runtime``: real or simulated), builds its world and its
executor (``runs``), and plans or resumes. What is planned and how each step runs stays in
``homeops.operations``; only the wiring is here. A new workflow is one function here, its task in
``homeops.tasks``, its planner and step kinds in ``homeops.operations``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TextIO

from homeops.adapters import kubectl
from homeops.adapters import volsync as vsa
from homeops.app import backend
from homeops.app.runs import Options, executor_for, latest_journal, plan_or_resume, world_executor
from homeops.engine.executor import Executor, Outcome
from homeops.engine.plan import Plan, Step, Wait
from homeops.errors import PlanError
from homeops.operations import bootstrap, dr, drmodel, drsteps, snapshot, volsync
from homeops.operations.facts import Observer
from homeops.operations.health import ClusterWorld
from homeops.operations.observe import ClusterObserver
from homeops.operations.saved_settings import resume_notice
from homeops.runtime import Runtime
from homeops.sim import rehearsal
from homeops.sim.rehearsal import Rehearsal

# ----------------------------------------------------------------------------------- etcd snapshots


def take_etcd_snapshot(
    runtime: Runtime, observer: Observer, *, node: str | None = None, to_nas: bool | None = None
) -> snapshot.SavedSnapshot:
    """A snapshot now (no question: it changes nothing in the cluster), through the engine."""
    leader = None if node else snapshot.etcd_leader(observer)
    plan = snapshot.plan_etcd_snapshot(runtime.inventory, leader, runtime.clock.now(), node=node, to_nas=to_nas)
    saved = run_etcd_snapshot(runtime, observer, plan, Options(yes=True))
    assert saved is not None, "only a dry run saves nothing"
    return saved


def run_etcd_snapshot(
    runtime: Runtime, observer: Observer, plan: Plan, options: Options
) -> snapshot.SavedSnapshot | None:
    """``talos.etcd-snapshot``: the one-step plan, run by the engine (lock, journal, report); None on a dry run."""
    executor = executor_for(runtime, observer, task="talos.etcd-snapshot", options=options)
    outcome = executor.run(plan, dry_run=options.dry_run, yes=options.yes, break_lock=options.break_lock)
    if outcome.journal is None:
        return None
    (step,) = plan.steps
    record = outcome.journal.step(step.id)
    revision, size = record.data.get("revision"), record.data.get("bytes")
    return snapshot.SavedSnapshot(
        path=Path(step.artifact or ""),
        size=size if isinstance(size, int) else 0,
        source=step.node or "",
        revision=revision if isinstance(revision, int) else None,
        nas=outcome.journal.artifacts.get("etcd_snapshot_nas"),
    )


# ----------------------------------------------------------------------------------- bootstrap


def run_bootstrap(
    inventory: Path,
    which: str,
    *,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    out: TextIO | None = None,
    recover_from: Path | None = None,
    skip_validate: bool = False,
    ignore_window: bool = False,
) -> Outcome:
    """Observe → plan → show → confirm → execute one bootstrap task (``which``: talos, apps or all)."""
    stages = bootstrap.TASK_STAGES[which]
    operation = f"bootstrap-{which}"
    stream = out or sys.stdout
    # Absolute: talhelper runs in the talconfig's directory, and the journal must name the same files on resume.
    with backend.open_runtime(Path(inventory).resolve()) as rt:
        world = bootstrap.prepare(rt, stages, recover_from=recover_from, skip_validate=skip_validate)
        options = Options(dry_run=dry_run, yes=yes, resume=resume, break_lock=break_lock, ignore_window=ignore_window)
        executor = world_executor(rt, world, task=f"bootstrap.{which}", out=stream, options=options)
        outcome = plan_or_resume(
            executor,
            rt,
            operation,
            lambda: bootstrap.plan_bootstrap(world, bootstrap.observe(world, stages), stages, operation),
            options,
            task=f"bootstrap.{which}",
            out=stream,
        )
        if outcome.status == "nothing" and not resume:
            banner = "[SIMULATED] " if rt.simulated else ""
            print(f"{banner}nothing to do: the cluster is already bootstrapped ({', '.join(stages)})", file=stream)
        return outcome


# ----------------------------------------------------------------------------------- dr


def run_rebuild(
    inventory_dir: Path,
    *,
    from_snapshot: str = "latest",
    recreate_vms: bool = False,
    nodes: Sequence[str] = (),
    fresh: bool = False,
    even_if_healthy: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    skip_validate: bool = False,
    out: TextIO | None = None,
    task: str = "dr.rebuild",
    runtime: Runtime | None = None,
) -> Outcome:
    """Preflight → look → choose the model (or refuse) → plan → show → confirm → execute, journaled."""
    rt = runtime or backend.open_runtime(Path(inventory_dir).resolve())
    stream = out or sys.stdout
    try:
        journal = None
        model = ""
        if resume:  # the journaled run's choices; its plan is continued, not made again
            journal = latest_journal(rt, "dr-rebuild", task=task)
            options = dict(journal.plan().options)
            nodes = tuple(n for n in options.get("nodes", "").split(",") if n)
            recreate_vms = options.get("recreate_vms") == "yes"
            model = options.get("model", "fresh")
        request = dr.RebuildRequest(
            rt.clock.now(),
            recreate_vms=recreate_vms,
            nodes=tuple(nodes),
            fresh=fresh,
            even_if_healthy=even_if_healthy,
        )
        if request.recreate_vms and not (request.fresh or resume):
            request = replace(request, fresh=True)  # new VMs have no STATE: only the fresh model fits them
        dr.preflight(rt, request)
        seen: drmodel.Observation | None = None
        if not resume:
            seen = drmodel.observe(rt.inventory, rt.local, now=rt.clock.now())
            choice = drmodel.choose(
                rt.inventory, seen, fresh=request.fresh, even_if_healthy=request.even_if_healthy, nodes=request.nodes
            )
            choice.refuse()
            model = choice.model
            if model == "fresh":
                problems = drmodel.cnpg_problems(seen)
                if problems:
                    raise PlanError(f"dr.rebuild refused before touching anything: {problems[0]}",
                                    hint="; ".join(problems[1:]) or None)  # fmt: skip
        cluster_world = ClusterWorld(rt.inventory, ClusterObserver(rt), simulated=rt.simulated, host=rt.host)
        if model == "etcd-restore":
            fallback = None
            try:
                fallback = dr.choose_snapshot(rt, from_snapshot)
            except PlanError:
                if from_snapshot != "latest":
                    raise
            world: dr.DrWorld | dr.RestoreWorld = dr.RestoreWorld(
                rt.inventory, cluster_world, even_if_healthy=request.even_if_healthy
            )

            def plan() -> Plan:
                assert seen is not None
                made = dr.plan_etcd_restore(rt.inventory, seen, request, fallback=fallback)
                return replace(
                    made,
                    options=(*made.options, ("model", model), ("nodes", "")),
                    warnings=(*made.warnings, *dr._model_lines(choice, seen, made)),
                )

        else:
            snapshot = dr.ChosenSnapshot(None, "none")
            world = dr.rebuild_world(rt, snapshot, dr.chain_stages(rt.inventory, request), skip_validate=skip_validate)
            world.even_if_healthy = request.even_if_healthy  # the destructive steps look again before wiping

            def plan() -> Plan:
                assert isinstance(world, dr.DrWorld)
                made = dr.plan_chain(world, snapshot, request, seen)
                return replace(
                    made,
                    options=(*made.options, ("model", model), ("nodes", ",".join(request.nodes))),
                    warnings=(*made.warnings, *dr._model_lines(choice, seen, made)),
                )

        options_ = Options(dry_run=dry_run, yes=yes, resume=resume, break_lock=break_lock)
        executor = world_executor(rt, world, task=task, out=out, options=options_)
        if break_lock and not dry_run:
            from homeops.engine.lock import ClusterLock

            holder = ClusterLock(rt.inventory.state_dir, rt.inventory.cluster.name, operation="dr-rebuild").read()
            if holder is not None and holder.operation != "dr-rebuild":
                print(
                    f"--break-lock: the lock is held by {holder.describe()}; that run is unfinished and this "
                    "rebuild supersedes it (its --resume would act on the lost cluster)",
                    file=stream,
                )
        try:
            outcome = plan_or_resume(executor, rt, "dr-rebuild", plan, options_, task=task, journal=journal, out=out)
        finally:
            from homeops.engine.journal import Journal

            # only once this run has a journal (a refusal or "not confirmed" changed nothing, superseded nothing)
            ours = journal or Journal.latest(
                rt.inventory.state_dir, "dr-rebuild", rt.clock, cluster=rt.inventory.cluster.name
            )
            if not dry_run and model != "nodes" and ours is not None and ours.created >= request.now - 1.0:
                for line in dr.supersede(rt, ours.run_id):
                    print(
                        f"{line}: superseded by this rebuild (its --resume would act on the lost cluster)", file=stream
                    )
        if outcome.status == "finished" and outcome.journal is not None:
            found = drsteps.problems(outcome.journal, outcome.plan)
            if found:
                from homeops.engine.report import write as write_report

                outcome.journal.finish("finished", "done with problems: " + "; ".join(found))
                outcome.report, outcome.report_json = write_report(outcome.journal)
                outcome.status = "finished-with-problems"
                outcome.notes = found
                print("done with problems:", file=stream)
                for line in found:
                    print(f"  - {line}", file=stream)
        return outcome
    finally:
        if runtime is None:
            rt.close()


def rehearse(
    inventory_dir: Path,
    *,
    scenario: str = "all-vms-lost",
    faults: Sequence[str] = (),
    hosts: bool = False,
    yes: bool = True,
    out: TextIO | None = None,
    budgets: Mapping[str, float] | None = None,
    clock: str = "virtual",
    configure: Callable[[dict[str, Any]], None] | None = None,
) -> Rehearsal:
    """``inv dr.rehearse``: ``homeops.sim.rehearsal.rehearse`` with this root's runtime, snapshot and rebuild."""
    wiring = rehearsal.Wiring(
        open_runtime=lambda path: backend.open_runtime(path),
        snapshot=lambda rt: take_etcd_snapshot(rt, ClusterObserver(rt), to_nas=True),
        rebuild=lambda path, recreate_vms, yes, out: run_rebuild(path, recreate_vms=recreate_vms, yes=yes, out=out),
    )
    return rehearsal.rehearse(
        inventory_dir,
        wiring,
        scenario=scenario,
        faults=faults,
        hosts=hosts,
        yes=yes,
        out=out,
        budgets=budgets,
        clock=clock,
        configure=configure,
    )


# ----------------------------------------------------------------------------------- volsync


_RUN = Options()


def _volsync_run(
    executor: Executor,
    rt: Runtime,
    operation: str,
    task: str,
    plan: Callable[[], Plan],
    options: Options,
    timeout: float | None,
    which: Callable[[Plan], volsync.WaitFilter],
    out: TextIO | None,
) -> Outcome:
    """Plan or resume; a --timeout given with --resume replaces the saved run's (and says so)."""
    if not options.resume or timeout is None:
        return plan_or_resume(executor, rt, operation, plan, options, task=task, out=out)
    journal = latest_journal(rt, operation, task=task)
    saved, old = volsync.retimed(journal.plan(), which(journal.plan()), timeout)
    if old and set(old) != {timeout}:
        shown = ", ".join(f"{v:g}s" for v in sorted(set(old)))
        say = f"--resume: waiting up to {timeout:g}s (--timeout) where the saved run said {shown}"
        print(say, file=out or sys.stdout)
    notice = resume_notice(saved, rt.inventory.policy)
    if notice:
        print(notice, file=out or sys.stdout)
    return executor.run(saved, dry_run=options.dry_run, yes=options.yes, break_lock=options.break_lock, resume=journal)


def run_backup(
    inventory_dir: Path,
    namespace: str | None,
    app: str | None,
    *,
    timeout: float | None = None,
    options: Options = _RUN,
    out: TextIO | None = None,
) -> Outcome:
    """``inv volsync.backup``: read the ReplicationSource, plan, run (or resume the last run)."""
    with backend.open_runtime(inventory_dir) as rt:
        executor = executor_for(rt, ClusterObserver(rt), out=out, task="volsync.backup", options=options)

        def plan() -> Plan:
            namespace_, app_ = volsync.which_app(namespace, app)
            source = volsync.read_source(rt.local, kubectl.Kubectl(rt.inventory.cluster.kubeconfig), namespace_, app_)
            seconds = volsync.DEFAULT_TIMEOUT if timeout is None else timeout
            return volsync.plan_backup(
                rt.inventory, source, volsync.BackupRequest(namespace_, app_, rt.clock.now(), seconds)
            )

        def which(saved: Plan) -> volsync.WaitFilter:
            return lambda step, wait: wait.kind == volsync.SYNCED

        return _volsync_run(executor, rt, "volsync-backup", "volsync.backup", plan, options, timeout, which, out)


def run_restore(
    inventory_dir: Path,
    namespace: str | None,
    app: str | None,
    *,
    timestamp: str | None = None,
    previous: int | None = None,
    timeout: float | None = None,
    options: Options = _RUN,
    out: TextIO | None = None,
) -> Outcome:
    """``inv volsync.restore``: look at the PVC, its RD, its controllers and Flux owners; plan; run (or resume)."""
    with backend.open_runtime(inventory_dir) as rt:
        executor = executor_for(rt, ClusterObserver(rt), out=out, task="volsync.restore", options=options)

        def plan() -> Plan:
            namespace_, app_ = volsync.which_app(namespace, app)
            if timestamp is not None:
                vsa.check_restore_time(timestamp)
            target = volsync.observe_restore(
                rt.local, kubectl.Kubectl(rt.inventory.cluster.kubeconfig), namespace_, app_
            )
            target = volsync.with_recorded_replicas(target, volsync.left_down(rt, namespace_, app_))
            seconds = volsync.DEFAULT_TIMEOUT if timeout is None else timeout
            request = volsync.RestoreRequest(
                namespace_, app_, rt.clock.now(), timestamp=timestamp, previous=previous, timeout=seconds
            )
            return volsync.plan_restore(rt.inventory, target, request)

        def which(saved: Plan) -> volsync.WaitFilter:
            # a WaitForFirstConsumer restore waits for the population in its scale-up (no Bound wait)
            wffc = not any(w.kind == volsync.BOUND for s in saved.steps for w in s.waits)

            def pick(step: Step, wait: Wait) -> bool:
                return wait.kind in (volsync.RESTORED, volsync.BOUND) or (
                    wffc and wait.kind == volsync.SCALED and ":scale-up:" in step.id
                )

            return pick

        return _volsync_run(executor, rt, "volsync-restore", "volsync.restore", plan, options, timeout, which, out)
