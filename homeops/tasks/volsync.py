"""Tasks of the ``volsync`` namespace: back up an app's volume now, check every app's backups."""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import task

INVENTORY_HELP = "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)"


@task(
    help={
        "namespace": "the app's namespace",
        "app": "the ReplicationSource's name (home-ops names it after the app)",
        "timeout": "seconds to wait for the sync (default 7200)",
        "dry_run": "show the plan, change nothing",
        "yes": "do not ask for confirmation",
        "resume": "continue the last volsync.backup run after a failure or a kill",
        "break_lock": "remove a stale cluster lock (its process is gone) before starting",
        "inventory": INVENTORY_HELP,
    }
)
@user_errors
def backup(
    c: Any,
    namespace: str | None = None,
    app: str | None = None,
    timeout: int = 7200,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    inventory: str | None = None,
) -> None:
    """Back up one app's volume now: trigger its ReplicationSource by hand and wait for the sync.

    Sets spec.trigger.manual to a new token, waits until status.lastManualSync equals it (failing at
    once when the mover reports Failed), then removes the trigger so the schedule runs again.
    Planned, confirmed, locked and journaled like every mutating task; --resume never triggers twice.
    """
    from homeops.adapters.kubectl import Kubectl
    from homeops.engine.journal import Journal
    from homeops.errors import PlanError
    from homeops.operations.observe import ClusterObserver
    from homeops.operations.session import executor_for
    from homeops.operations.volsync import BackupRequest, plan_backup, read_source
    from homeops.runtime import open_runtime

    with open_runtime(inventory_dir(c, inventory)) as rt:
        executor = executor_for(rt, ClusterObserver(rt), task="volsync.backup")
        if resume:
            journal = Journal.latest(
                rt.inventory.state_dir, "volsync-backup", rt.clock, cluster=rt.inventory.cluster.name
            )
            if journal is None:
                raise PlanError("there is no earlier volsync.backup run to resume", hint="run it without --resume")
            executor.run(journal.plan(), dry_run=dry_run, yes=yes, break_lock=break_lock, resume=journal)
            return
        if not namespace or not app:
            raise PlanError("which app? pass --namespace NS --app APP", hint="inv volsync.verify lists them")
        source = read_source(rt.local, Kubectl(rt.inventory.cluster.kubeconfig), namespace, app)
        plan = plan_backup(rt.inventory, source, BackupRequest(namespace, app, rt.clock.now(), float(timeout)))
        executor.run(plan, dry_run=dry_run, yes=yes, break_lock=break_lock)


@task(help={"inventory": INVENTORY_HELP, "json": "print the result as JSON"})
@user_errors
def verify(c: Any, inventory: str | None = None, json: bool = False) -> None:
    """Check every app's VolSync backups: each ReplicationSource synced successfully within its limit
    (homeops.yaml dr.volsyncMaxAgeHours, per app dr.volsyncMaxAgeHoursByApp). Read-only; exits 1 when one is stale.
    """
    import json as json_module

    from homeops.operations.drcheck import volsync_findings
    from homeops.runtime import open_runtime

    with open_runtime(inventory_dir(c, inventory)) as rt:
        findings = volsync_findings(rt, rt.clock.now())
        world = "[SIMULATED] " if rt.simulated else ""
    if json:
        rows = [{"source": f.subject, "status": f.status, "detail": f.detail} for f in findings]
        print(json_module.dumps(rows, indent=2))
    else:
        width = max(len(f.subject) for f in findings)
        print(f"{world}VolSync backups")
        for f in findings:
            print(f"  {f.subject:<{width}}  {'ok' if f.status == 'ok' else f.status.upper():<5} {f.detail}")
    if any(f.status == "fail" for f in findings):
        raise Exit(code=1)


ns = Collection("volsync")
ns.add_task(backup)
ns.add_task(verify)
