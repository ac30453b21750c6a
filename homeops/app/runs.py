"""A run from the command line: observe → plan → show → (confirm) → execute, or ``--resume``.

``run`` (a named node operation of ``OPERATIONS``, over ``run_operation`` with its planner) is what
every mutating ``talos.*`` task calls; it keeps the tasks thin and the flow identical for all of them
(and for ``--resume``, which executes the journaled plan instead of planning anew).

The engine's executors are built here and nowhere else: ``node_executor`` / ``executor_for`` for the
cluster workflows (a ``ClusterWorld``), ``world_executor`` for a workflow with its own world
(bootstrap, dr). Each gets the runtime's backend, its SIMULATED banner and the run's listeners and
policies (``homeops.app.policies``).
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from homeops.app import backend
from homeops.app.options import Options as Options  # re-exported: the runs' options
from homeops.app.policies import Watchers, watchers
from homeops.backupstore import nas_store_backup
from homeops.engine.events import Listener, RunPolicy
from homeops.engine.executor import Executor, Outcome, World
from homeops.engine.journal import Journal
from homeops.engine.plan import Plan
from homeops.errors import Aborted, HomeopsError, PlanError
from homeops.inventory.model import Inventory
from homeops.operations import planners, talos  # noqa: F401  (importing it registers the cluster workflows' step kinds)
from homeops.operations.facts import ClusterFacts, Observer
from homeops.operations.health import ClusterWorld
from homeops.operations.observe import ClusterObserver, cluster_facts
from homeops.operations.planners import Request as Request  # re-exported: what run() is asked
from homeops.operations.saved_settings import resume_notice
from homeops.runners import Runner
from homeops.runtime import Runtime

Planner = Callable[[Inventory, ClusterFacts, Request], Plan]


#: Where ``inv`` looks when no --inventory is given (``homeops.tasks._common.inventory_dir``).
DEFAULT_INVENTORY = Path("inventory")


def resume_command(task: str, inventory_root: Path) -> str:
    """The command that resumes a run of ``task`` (``talos.upgrade-cluster``), naming a non-default inventory."""
    command = f"inv {task} --resume"
    if inventory_root.resolve() != DEFAULT_INVENTORY.resolve():
        # The user found this inventory with --inventory (or an env/config setting that may be gone
        # in the next shell): the resume must point at the same journal, so name it explicitly.
        command += f" --inventory {shlex.quote(str(inventory_root))}"
    return command


def ask(question: str) -> bool:
    """Ask on the terminal; without one, refuse (a script must say --yes)."""
    if not sys.stdin or not sys.stdin.isatty():
        raise Aborted("confirmation needed but stdin is not a terminal: nothing was changed", hint="pass --yes")
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def node_executor(
    inventory: Inventory,
    observer: Observer,
    *,
    host: Callable[[str], Runner],
    uploader: Callable[[Path], str] | None = None,
    simulated: bool = False,
    task: str | None = None,
    resume_with: str | None = None,
    **engine: Any,
) -> Executor:
    """The engine's ``Executor`` for the cluster workflows' plans (``engine``: its other keyword arguments).

    ``task`` names the task whose ``--resume`` continues a run (``resume_with``: the whole command,
    for a task without --resume); ``simulated`` makes the run say SIMULATED everywhere.
    """
    world = ClusterWorld(inventory, observer, simulated=simulated, uploader=uploader, host=host)

    def resume(plan: Plan) -> str:
        if resume_with is not None:
            return resume_with
        return resume_command(task or f"talos.{plan.operation}", inventory.root)

    return Executor(world, host=host, backend="simulated" if simulated else "real", resume_with=resume, **engine)


def executor_for(
    runtime: Runtime,
    observer: Observer,
    *,
    out: TextIO | None = None,
    task: str | None = None,
    confirm: Callable[[str], bool] | None = None,
    resume_with: str | None = None,
    render: Callable[[Plan, str], str] | None = None,
    options: Options | None = None,
    listeners: Sequence[Listener] = (),
    policies: Sequence[RunPolicy] = (),
) -> Executor:
    """The engine's executor for the cluster workflows, wired to ``runtime`` (real or SIMULATED).

    ``listeners``/``policies``: the caller's own (a user's tasks.py), after the inventory's."""
    stream = out or sys.stdout

    def upload(path: Path) -> str:
        # sha256 sidecars get their own retention, so they go when their snapshot goes
        suffix = ".db.sha256" if path.name.endswith(".sha256") else ".db"
        suffix = ".db.vms.json" if path.name.endswith(".vms.json") else suffix
        return nas_store_backup(runtime, path, suffix=suffix).path

    watching = watchers(runtime, options or Options(), out=stream, listeners=listeners, policies=policies)
    return node_executor(
        runtime.inventory,
        observer,
        local=runtime.local,
        host=runtime.host,
        clock=runtime.clock,
        out=stream,
        confirm=confirm or ask,
        uploader=upload,
        simulated=runtime.simulated,
        task=task,
        resume_with=resume_with,
        render=render,
        **_engine(watching),
    )


def _engine(watching: Watchers) -> dict[str, Any]:
    """The executor's keyword arguments for the run's watchers (the executor makes the progress its first listener)."""
    return {"progress": watching.progress, "listeners": watching.listeners, "policies": watching.policies}


def run_operation(
    inventory_dir: Path,
    operation: str,
    planner: Planner,
    request: Callable[[Runtime], Request],
    options: Options,
    *,
    runtime: Runtime | None = None,
    out: TextIO | None = None,
    task: str | None = None,
    listeners: Sequence[Listener] = (),
    policies: Sequence[RunPolicy] = (),
) -> Outcome:
    """Observe, plan with ``planner``, show, confirm and execute; or with ``options.resume`` continue the last run."""
    rt = runtime or backend.open_runtime(inventory_dir)
    try:
        observer = ClusterObserver(rt)
        executor = executor_for(
            rt, observer, out=out, task=task, options=options, listeners=listeners, policies=policies
        )
        return plan_or_resume(
            executor,
            rt,
            operation,
            lambda: planner(rt.inventory, cluster_facts(observer, rt.inventory), request(rt)),
            options,
            out=out,
        )
    finally:
        if runtime is None:
            rt.close()


#: The node operations ``run`` knows, and the planner behind each (in ``homeops.operations.planners``).
OPERATIONS = {
    "upgrade-node": planners.plan_upgrade,
    "upgrade-cluster": planners.plan_upgrade,
    "apply-node": planners.plan_apply,
    "apply-cluster": planners.plan_apply,
    "upgrade-k8s": planners.plan_upgrade_k8s,
    "reboot-node": planners.plan_reboot,
}


def run(
    inventory_dir: str | os.PathLike[str],
    operation: str,
    options: Options | None = None,
    *,
    out: TextIO | None = None,
    runtime: Runtime | None = None,
    request: Callable[[Runtime], Request] | None = None,
    listeners: Sequence[Listener] = (),
    policies: Sequence[RunPolicy] = (),
    **asked: Any,
) -> Outcome:
    """Run the node operation ``operation`` (``OPERATIONS``) on an inventory, as ``inv talos.<operation>`` does.

    ``asked`` is what the task's options say (``planners.Request``'s fields: ``nodes``, ``version``,
    ``image``, ``max_unavailable``, ``mode``, ``config_files``, ``kubernetes``); ``now`` comes from the
    runtime's clock. ``request`` instead builds the whole request from the runtime (the apply tasks
    name each node's generated machine config). Without ``options.yes`` a mutating plan asks on the
    terminal (or refuses without one). ``listeners`` hear the run's events and ``policies`` may refuse
    or hold it (``homeops.engine.events``), next to the ones the inventory switches on.
    """
    planner = OPERATIONS.get(operation)
    if planner is None:
        raise PlanError(f"unknown operation {operation!r}", hint=f"one of: {', '.join(OPERATIONS)}")
    unknown = sorted(set(asked) - ({f.name for f in dataclasses.fields(Request)} - {"now"}))
    if unknown:
        raise PlanError(f"{operation} takes no {', '.join(unknown)}", hint="see homeops.operations.planners.Request")
    return run_operation(
        Path(inventory_dir),
        operation,
        functools.partial(planner, operation=operation),
        request or (lambda rt: Request(now=rt.clock.now(), **asked)),
        options or Options(),
        runtime=runtime,
        out=out,
        task=f"talos.{operation}",
        listeners=listeners,
        policies=policies,
    )


def world_executor(
    runtime: Runtime, world: World, *, task: str, out: TextIO | None = None, options: Options | None = None
) -> Executor:
    """The engine's executor for a workflow with its own ``World`` (bootstrap, dr), wired to ``runtime``."""
    stream = out or sys.stdout
    watching = watchers(runtime, options or Options(), out=stream)
    return Executor(
        world,
        local=runtime.local,
        host=runtime.host,
        clock=runtime.clock,
        out=stream,
        confirm=ask,
        backend=runtime.backend,
        resume_with=resume_command(task, runtime.inventory.root),
        **_engine(watching),
    )


def latest_journal(runtime: Runtime, operation: str, *, task: str | None = None) -> Journal:
    """The run ``--resume`` continues: the latest journal of ``operation`` on this cluster."""
    journal = Journal.latest(
        runtime.inventory.state_dir, operation, runtime.clock, cluster=runtime.inventory.cluster.name
    )
    if journal is None:
        raise PlanError(
            f"there is no earlier {task or operation} run to resume in {runtime.inventory.state_dir / 'runs'}",
            hint="run it without --resume",
        )
    return journal


def plan_or_resume(
    executor: Executor,
    runtime: Runtime,
    operation: str,
    plan: Callable[[], Plan],
    options: Options,
    *,
    task: str | None = None,
    journal: Journal | None = None,
    out: TextIO | None = None,
    resumed: Callable[[Plan], Plan] | None = None,
) -> Outcome:
    """Run ``plan()``, or with ``options.resume`` the journaled plan of the latest ``operation`` run
    (``journal`` when the caller already read it; ``resumed`` changes what the resume asks anew, e.g.
    a --timeout), saying which homeops.yaml settings it keeps."""
    try:
        if options.resume:
            journal = journal or latest_journal(runtime, operation, task=task)
            made = journal.plan() if resumed is None else resumed(journal.plan())
        else:
            journal, made = None, plan()
    except HomeopsError as exc:
        executor.failed_before_plan(operation, runtime.inventory.cluster.name, exc)
        raise
    notice = resume_notice(made, runtime.inventory.policy) if journal is not None else ""
    if notice:
        print(notice, file=out or sys.stdout)
    return executor.run(made, dry_run=options.dry_run, yes=options.yes, break_lock=options.break_lock, resume=journal)
