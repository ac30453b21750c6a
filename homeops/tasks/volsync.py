"""Tasks of the ``volsync`` namespace: back up or restore an app's volume now, check every app's backups."""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import IGNORE_WINDOW_HELP, task

INVENTORY_HELP = "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)"


@task(
    help={
        "namespace": "the app's namespace",
        "app": "the ReplicationSource's name (home-ops names it after the app)",
        "timeout": "seconds to wait for the sync (default 7200; with --resume: replaces the saved run's)",
        "dry_run": "show the plan, change nothing",
        "yes": "do not ask for confirmation",
        "resume": "continue the last volsync.backup run after a failure or a kill",
        "break_lock": "remove a stale cluster lock (its process is gone) before starting",
        "ignore_window": IGNORE_WINDOW_HELP,
        "inventory": INVENTORY_HELP,
    }
)
@user_errors
def backup(
    c: Any,
    namespace: str | None = None,
    app: str | None = None,
    timeout: int | None = None,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    ignore_window: bool = False,
    inventory: str | None = None,
) -> None:
    """Back up one app's volume now: trigger its ReplicationSource by hand and wait for the sync.

    Sets spec.trigger.manual to a new token, waits until status.lastManualSync equals it (failing at
    once when the mover reports Failed), then removes the trigger so the schedule runs again.
    Planned, confirmed, locked and journaled like every mutating task; --resume never triggers twice.
    """
    from homeops.app.runs import Options
    from homeops.app.workflows import run_backup

    options = Options(dry_run=dry_run, yes=yes, resume=resume, break_lock=break_lock, ignore_window=ignore_window)
    seconds = float(timeout) if timeout is not None else None
    run_backup(inventory_dir(c, inventory), namespace, app, timeout=seconds, options=options)


@task(
    help={
        "namespace": "the app's namespace",
        "app": "the app's PVC (home-ops names it after the app; its ReplicationDestination is <app>-dst)",
        "timestamp": "restore the newest backup at or before this RFC3339 UTC time (2025-10-09T06:00:00Z)",
        "previous": "skip this many backups: 1 restores the one before the newest (before --timestamp if given)",
        "timeout": "seconds to wait for the restore, and again for the PVC to be populated "
        "(default 7200; with --resume: replaces the saved run's)",
        "dry_run": "show the plan, change nothing",
        "yes": "do not ask for confirmation",
        "resume": "continue the last volsync.restore run after a failure or a kill",
        "break_lock": "remove a stale cluster lock (its process is gone) before starting",
        "ignore_window": IGNORE_WINDOW_HELP,
        "inventory": INVENTORY_HELP,
    }
)
@user_errors
def restore(
    c: Any,
    namespace: str | None = None,
    app: str | None = None,
    timestamp: str | None = None,
    previous: int | None = None,
    timeout: int | None = None,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    ignore_window: bool = False,
    inventory: str | None = None,
) -> None:
    """Restore one app's volume from its VolSync ReplicationDestination through the volume populator.

    Suspends the app's Flux Kustomization/HelmRelease (and pauses its KEDA ScaledObjects), scales its
    controllers to 0, re-runs the ReplicationDestination (restoreAsOf --timestamp, previous --previous)
    and waits for its new image, keeps a VolumeSnapshot of the old PVC where its class can snapshot,
    deletes the PVC and creates it again with dataSourceRef to the RD, waits until it is Bound (with a
    WaitForFirstConsumer class: until the scaled-up app is ready), scales back, resumes Flux.
    Refused before anything changes when the PVC has no ReplicationDestination or the RD copies Direct.
    Controllers an unfinished earlier restore left at 0 are scaled back to their recorded count.
    Planned, confirmed, locked and journaled; --resume sends nothing twice (a --timeout given with it
    replaces the saved one); a failure says how to bring the app back.
    """
    from homeops.app.runs import Options
    from homeops.app.workflows import run_restore

    options = Options(dry_run=dry_run, yes=yes, resume=resume, break_lock=break_lock, ignore_window=ignore_window)
    seconds = float(timeout) if timeout is not None else None
    run_restore(
        inventory_dir(c, inventory),
        namespace,
        app,
        timestamp=timestamp,
        previous=previous,
        timeout=seconds,
        options=options,
    )


@task(help={"inventory": INVENTORY_HELP, "json": "print the result as JSON"})
@user_errors
def verify(c: Any, inventory: str | None = None, json: bool = False) -> None:
    """Check every app's VolSync backups: each ReplicationSource synced successfully within its limit
    (homeops.yaml dr.volsyncMaxAgeHours, per app dr.volsyncMaxAgeHoursByApp). Read-only; exits 1 when one is stale.
    """
    import json as json_module

    from homeops.app.backend import open_runtime
    from homeops.operations.drcheck import volsync_findings

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
ns.add_task(restore)
ns.add_task(verify)
