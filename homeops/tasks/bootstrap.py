"""Tasks of the ``bootstrap`` namespace: from Talos VMs in maintenance mode to Flux reconciling the repo.

``bootstrap.talos`` (configs, etcd, kubeconfig, API), ``bootstrap.apps`` (nodes, namespaces, SOPS
Secrets, CRDs, one helmfile release at a time, Flux Ready) and ``bootstrap.all`` (both). Each prints
its plan first, asks unless ``--yes``, takes the cluster lock and journals each step; a stage that
is already done is not planned, so a second run on a bootstrapped cluster plans nothing and says so.
``--resume`` continues the last interrupted or failed run at the step where it stopped.
"""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.tasks import task

from homeops.tasks._common import inventory_dir, user_errors

ns = Collection("bootstrap")

HELP = {
    "inventory": "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)",
    "dry_run": "print every command of every stage and change nothing",
    "yes": "do not ask for confirmation",
    "resume": "continue the last interrupted or failed run of this task at the step where it stopped",
    "break_lock": "remove a stale cluster lock (its process is gone) before starting",
}
STAGES = {"talos": ("talos",), "apps": ("apps",), "all": ("talos", "apps")}


def run_bootstrap(
    inventory: Any,
    which: str,
    *,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    out: Any = None,
    recover_from: Any = None,
) -> Any:
    """Observe → plan → show → confirm → execute one bootstrap task (``which``: talos, apps or all)."""
    import sys

    from homeops.engine.executor import SIMULATED, Executor
    from homeops.engine.journal import Journal
    from homeops.engine.progress import for_stream
    from homeops.errors import PlanError
    from homeops.operations import bootstrap as ops
    from homeops.operations.session import ask, resume_command
    from homeops.runtime import open_runtime

    stages = STAGES[which]
    operation = f"bootstrap-{which}"
    stream = out or sys.stdout
    from pathlib import Path

    # Absolute: talhelper runs in the talconfig's directory, and the journal must name the same files on resume.
    with open_runtime(Path(inventory).resolve()) as rt:
        world = ops.prepare(rt, stages, recover_from=recover_from)
        executor = Executor(
            world,
            local=rt.local,
            host=rt.host,
            clock=rt.clock,
            progress=for_stream(stream, clock=rt.clock, banner=SIMULATED if rt.simulated else ""),
            out=stream,
            confirm=ask,
            backend="simulated" if rt.simulated else "real",
            resume_with=resume_command(f"bootstrap.{which}", rt.inventory.root),
        )
        if resume:
            journal = Journal.latest(rt.inventory.state_dir, operation, rt.clock, cluster=rt.inventory.cluster.name)
            if journal is None:
                raise PlanError(
                    f"there is no earlier {operation} run to resume in {rt.inventory.state_dir / 'runs'}",
                    hint="run it without --resume",
                )
            return executor.run(journal.plan(), dry_run=dry_run, yes=yes, break_lock=break_lock, resume=journal)
        plan = ops.plan_bootstrap(world, ops.observe(world, stages), stages, operation)
        outcome = executor.run(plan, dry_run=dry_run, yes=yes, break_lock=break_lock)
        if outcome.status == "nothing":
            banner = "[SIMULATED] " if rt.simulated else ""
            print(f"{banner}nothing to do: the cluster is already bootstrapped ({', '.join(stages)})", file=stream)
        return outcome


def _task(which: str, doc: str) -> Any:
    def body(
        c: Any,
        inventory: str | None = None,
        dry_run: bool = False,
        yes: bool = False,
        resume: bool = False,
        break_lock: bool = False,
    ) -> None:
        run_bootstrap(
            inventory_dir(c, inventory), which, dry_run=dry_run, yes=yes, resume=resume, break_lock=break_lock
        )

    body.__name__ = which
    body.__doc__ = doc
    return task(help=HELP, name=which)(user_errors(body))


talos = _task(
    "talos",
    "Bootstrap Talos: configs to nodes in maintenance mode, etcd once, kubeconfig, the Kubernetes API.",
)
apps = _task(
    "apps",
    "Bootstrap the apps: namespaces, SOPS Secrets, CRDs, the bootstrap helmfile release by release, Flux Ready.",
)
all_ = _task("all", "bootstrap.talos then bootstrap.apps, as one resumable run.")

ns.add_task(talos)
ns.add_task(apps)
ns.add_task(all_, name="all")
