"""The workflows with their own orchestration: bootstrap, dr.rebuild, VolSync, etcd snapshots, the DR rehearsal.

Each opens the runtime (``backend.open_runtime``: real or simulated), builds its world and its
executor (``runs``), and plans or resumes. What is planned and how each step runs stays in
``homeops.operations``; only the wiring is here. A new workflow is one function here, its task in
``homeops.tasks``, its planner and step kinds in ``homeops.operations``.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from homeops.adapters import kubectl
from homeops.adapters import volsync as vsa
from homeops.app import backend
from homeops.app.runs import Options, executor_for, latest_journal, plan_or_resume, world_executor
from homeops.engine import gates as engine_gates
from homeops.engine.executor import Executor, Outcome
from homeops.engine.gates import GateResult
from homeops.engine.journal import Journal
from homeops.engine.lock import ClusterLock
from homeops.engine.plan import Plan, Step, Wait, unique_gates
from homeops.engine.report import write as write_report
from homeops.errors import Aborted, PlanError
from homeops.operations import bootstrap, dr, drmodel, drsteps, snapshot, vm, volsync
from homeops.operations.facts import Observer
from homeops.operations.health import ClusterWorld, cluster_gates, node_gates
from homeops.operations.observe import ClusterObserver
from homeops.runtime import Runtime
from homeops.sim import rehearsal

# ----------------------------------------------------------------------------------- health


def cluster_world(runtime: Runtime, observer: Observer | None = None) -> ClusterWorld:
    """The cluster workflows' world on ``runtime``: its gates looked at with its backend's rules."""
    return ClusterWorld(
        runtime.inventory, observer or ClusterObserver(runtime), simulated=runtime.simulated, host=runtime.host
    )


def health(runtime: Runtime) -> tuple[GateResult, ...]:
    """``inv talos.health``: one look at every gate a node operation would check (read-only)."""
    inventory = runtime.inventory
    gates = unique_gates(cluster_gates(inventory) + tuple(g for n in inventory.nodes for g in node_gates(inventory, n)))
    world = cluster_world(runtime)
    return tuple(engine_gates.evaluate(gate, world.look) for gate in gates)


# ----------------------------------------------------------------------------------- Proxmox VMs


def run_vm_action(
    runtime: Runtime,
    node: str,
    action: str,
    options: Options,
    *,
    snapshot: str | None = None,
    timeout: int | None = None,
    force_stop: bool = False,
    allow_quorum_loss: bool = False,
    out: TextIO | None = None,
) -> tuple[vm.VmActionPlan, Outcome | None]:
    """``inv pve.vm``: read the VM, decide, and run the one-step plan (None: nothing to do)."""
    decided = vm.plan_vm_action(runtime, node, action, snapshot=snapshot, timeout=timeout, force_stop=force_stop)
    if decided.noop:
        return decided, None

    def confirm(question: str) -> bool:
        if not decided.destructive:
            return True  # start and snapshot change no running workload: no question
        if not sys.stdin or not sys.stdin.isatty():
            raise Aborted(f"{action} of {decided.node}'s VM needs confirmation", hint="re-run with --yes")
        # The engine's question names the world (SIMULATED); the VM's own words say what happens.
        world = "[SIMULATED] " if question.startswith("[") else ""
        where = f"{world}{action} VM {decided.vmid} ({decided.node}) on {decided.host}?"
        return input(f"{where} [y/N] ").strip().lower() in ("y", "yes")

    plan = vm.plan_vm(runtime.inventory, decided, allow_quorum_loss=allow_quorum_loss)
    again = f"inv pve.vm --node {decided.node} {action}" + (f" --snapshot {decided.snapshot}" if snapshot else "")
    executor = executor_for(
        runtime,
        ClusterObserver(runtime),
        out=out,
        confirm=confirm,
        resume_with=again + " (it looks again first)",
        render=vm.render_vm_plan,
        options=options,
    )
    return decided, executor.run(plan, dry_run=options.dry_run, yes=options.yes, break_lock=options.break_lock)


# ----------------------------------------------------------------------------------- etcd snapshots


def take_etcd_snapshot(
    runtime: Runtime, observer: Observer, *, node: str | None = None, to_nas: bool | None = None
) -> snapshot.SavedSnapshot:
    """A snapshot now (no question: it changes nothing in the cluster), through the engine."""
    saved = etcd_snapshot(runtime, Options(yes=True), observer=observer, node=node, to_nas=to_nas)
    assert saved is not None, "only a dry run saves nothing"
    return saved


def etcd_snapshot(
    runtime: Runtime,
    options: Options,
    *,
    observer: Observer | None = None,
    node: str | None = None,
    to_nas: bool | None = None,
) -> snapshot.SavedSnapshot | None:
    """``inv talos.etcd-snapshot``: from ``node``, else the etcd leader, a one-step plan run by the engine
    (lock, journal, report); None on a dry run."""
    observer = observer or ClusterObserver(runtime)
    leader = None if node else snapshot.etcd_leader(observer)
    plan = snapshot.plan_etcd_snapshot(runtime.inventory, leader, runtime.clock.now(), node=node, to_nas=to_nas)
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
    options = Options(dry_run=dry_run, yes=yes, resume=resume, break_lock=break_lock)
    try:
        journal = None
        model = ""
        if resume:  # the journaled run's choices; its plan is continued, not made again
            journal = latest_journal(rt, "dr-rebuild", task=task)
            saved = dict(journal.plan().options)
            nodes = tuple(n for n in saved.get("nodes", "").split(",") if n)
            recreate_vms = saved.get("recreate_vms") == "yes"
            model = saved.get("model", "fresh")
        request = dr.RebuildRequest(
            rt.clock.now(), recreate_vms=recreate_vms, nodes=tuple(nodes), fresh=fresh, even_if_healthy=even_if_healthy
        )
        if request.recreate_vms and not (request.fresh or resume):
            request = replace(request, fresh=True)  # new VMs have no STATE: only the fresh model fits them
        dr.preflight(rt, request)
        choice = None if resume else _rebuild_model(rt, request)
        model = choice[0].model if choice else model
        world, plan = _rebuild_plan(rt, request, model, choice, from_snapshot, skip_validate)
        executor = world_executor(rt, world, task=task, out=out, options=options)
        if break_lock and not dry_run:
            _say_lock_superseded(rt, stream)
        try:
            outcome = plan_or_resume(executor, rt, "dr-rebuild", plan, options, task=task, journal=journal, out=out)
        finally:
            # only once this run has a journal (a refusal or "not confirmed" changed nothing, superseded nothing)
            ours = journal or Journal.latest(
                rt.inventory.state_dir, "dr-rebuild", rt.clock, cluster=rt.inventory.cluster.name
            )
            if not dry_run and model != "nodes" and ours is not None and ours.created >= request.now - 1.0:
                for line in dr.supersede(rt, ours.run_id):
                    print(
                        f"{line}: superseded by this rebuild (its --resume would act on the lost cluster)", file=stream
                    )
        _finished_with_problems(outcome, stream)
        return outcome
    finally:
        if runtime is None:
            rt.close()


def _rebuild_model(rt: Runtime, request: dr.RebuildRequest) -> tuple[drmodel.Choice, drmodel.Observation]:
    """Look at what is left, choose the model (etcd-restore, fresh, nodes) or refuse in one line."""
    seen = drmodel.observe(rt.inventory, rt.local, now=rt.clock.now())
    choice = drmodel.choose(
        rt.inventory, seen, fresh=request.fresh, even_if_healthy=request.even_if_healthy, nodes=request.nodes
    )
    choice.refuse()
    if choice.model == "fresh":
        problems = drmodel.cnpg_problems(seen)
        if problems:
            raise PlanError(f"dr.rebuild refused before touching anything: {problems[0]}",
                            hint="; ".join(problems[1:]) or None)  # fmt: skip
    return choice, seen


def _rebuild_plan(
    rt: Runtime,
    request: dr.RebuildRequest,
    model: str,
    chosen: tuple[drmodel.Choice, drmodel.Observation] | None,
    from_snapshot: str,
    skip_validate: bool,
) -> tuple[dr.DrWorld | dr.RestoreWorld, Callable[[], Plan]]:
    """The world the rebuild runs in and how its plan is made (``chosen`` is None on a resume: not planned)."""
    nodes = "" if model == "etcd-restore" else ",".join(request.nodes)  # a restore keeps every node

    def labelled(made: Plan) -> Plan:
        assert chosen is not None
        return replace(
            made,
            options=(*made.options, ("model", model), ("nodes", nodes)),
            warnings=(*made.warnings, *dr.model_lines(chosen[0], chosen[1], made)),
        )

    if model == "etcd-restore":
        fallback = None
        try:
            fallback = dr.choose_snapshot(rt, from_snapshot)
        except PlanError:
            if from_snapshot != "latest":
                raise
        restore = dr.RestoreWorld(rt.inventory, cluster_world(rt), even_if_healthy=request.even_if_healthy)

        def plan_restore() -> Plan:
            assert chosen is not None
            return labelled(dr.plan_etcd_restore(rt.inventory, chosen[1], request, fallback=fallback))

        return restore, plan_restore
    none = dr.ChosenSnapshot(None, "none")
    world = dr.rebuild_world(rt, none, dr.chain_stages(rt.inventory, request), skip_validate=skip_validate)
    world.even_if_healthy = request.even_if_healthy  # the destructive steps look again before wiping
    return world, lambda: labelled(dr.plan_chain(world, none, request, chosen[1] if chosen else None))


def _say_lock_superseded(rt: Runtime, stream: TextIO) -> None:
    holder = ClusterLock(rt.inventory.state_dir, rt.inventory.cluster.name, operation="dr-rebuild").read()
    if holder is not None and holder.operation != "dr-rebuild":
        print(
            f"--break-lock: the lock is held by {holder.describe()}; that run is unfinished and this "
            "rebuild supersedes it (its --resume would act on the lost cluster)",
            file=stream,
        )


def _finished_with_problems(outcome: Outcome, stream: TextIO) -> None:
    """A rebuild whose steps all finished but whose data stage found problems says so, in the journal too."""
    if outcome.status != "finished" or outcome.journal is None:
        return
    found = drsteps.problems(outcome.journal, outcome.plan)
    if not found:
        return
    outcome.journal.finish("finished", "done with problems: " + "; ".join(found))
    outcome.report, outcome.report_json = write_report(outcome.journal)
    outcome.status = "finished-with-problems"
    outcome.notes = found
    print("done with problems:", file=stream)
    for line in found:
        print(f"  - {line}", file=stream)


#: What the DR drill runs here: this root's runtime (looked up when called, so a swapped
#: ``backend.open_runtime`` reaches it), etcd snapshot and rebuild.
REHEARSAL_WIRING = rehearsal.Wiring(
    open_runtime=lambda path: backend.open_runtime(path),
    snapshot=lambda rt: take_etcd_snapshot(rt, ClusterObserver(rt), to_nas=True),
    rebuild=lambda path, recreate_vms, yes, out: run_rebuild(path, recreate_vms=recreate_vms, yes=yes, out=out),
)

#: ``inv dr.rehearse``: ``homeops.sim.rehearsal.rehearse`` with ``REHEARSAL_WIRING`` (its options, its defaults).
rehearse = functools.partial(rehearsal.rehearse, wiring=REHEARSAL_WIRING)


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

    def retimed(saved: Plan) -> Plan:
        assert timeout is not None
        saved, old = volsync.retimed(saved, which(saved), timeout)
        if old and set(old) != {timeout}:
            shown = ", ".join(f"{v:g}s" for v in sorted(set(old)))
            say = f"--resume: waiting up to {timeout:g}s (--timeout) where the saved run said {shown}"
            print(say, file=out or sys.stdout)
        return saved

    resumed = None if timeout is None else retimed
    return plan_or_resume(executor, rt, operation, plan, options, task=task, out=out, resumed=resumed)


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
