"""Tasks of the ``dr`` namespace: disaster recovery."""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import each, task

INVENTORY_HELP = "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)"


@task(help={"inventory": INVENTORY_HELP, "json": "print the findings as JSON instead of a table"})
@user_errors
def check(c: Any, inventory: str | None = None, json: bool = False) -> None:
    """Could this cluster be rebuilt right now? Age key, genconfig, etcd snapshots (local and NAS),
    VM specs, VolSync freshness, the backup pool.

    Read-only. Exits 1 when a recovery would fail, naming each cause.
    """
    from homeops.app.backend import open_runtime
    from homeops.operations.drcheck import run_check

    with open_runtime(inventory_dir(c, inventory)) as rt:
        report = run_check(rt)
    print(report.to_json() if json else report.render())
    if not report.ok:
        raise Exit(code=1)


@task(
    help={
        "inventory": INVENTORY_HELP,
        "output": "write the runbook here (default: print it)",
    }
)
@user_errors
def runbook(c: Any, inventory: str | None = None, output: str | None = None) -> None:
    """The recovery plan for this inventory as a Markdown runbook a person can follow by hand."""
    import sys
    from pathlib import Path

    from homeops.app.backend import open_runtime
    from homeops.errors import HomeopsError
    from homeops.operations.dr import runbook_plans
    from homeops.operations.runbook import render_runbook, render_scenarios, runbook_facts

    with open_runtime(inventory_dir(c, inventory).resolve()) as rt:
        try:
            plans = runbook_plans(rt)
        except HomeopsError as exc:  # no bootstrap inputs: the Talos and apps steps come from the inventory alone
            print(f"note: the runbook is not dr.rebuild's plan: {exc}", file=sys.stderr)
            plans = None
        if plans is not None and "etcd-restore" in plans:
            text = render_scenarios(rt.inventory, plans, runbook_facts(rt.inventory, rt.clock.now()))
        else:
            text = render_runbook(rt.inventory, plans)
    if output is None:
        print(text, end="")
        return
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(text.splitlines())} lines)")


@task(
    help={
        "from_snapshot": "etcd snapshot to restore: a file, a snapshot name, latest (default; local or on the NAS) "
        "or none (a fresh cluster)",
        "recreate_vms": "destroy and recreate each Talos VM with its vmid, disk and MAC (default: reset the nodes)",
        "nodes": "only these nodes (comma-separated; all control planes, or only workers)",
        "fresh": "a new etcd and the data restored by VolSync and CloudNativePG, even where etcd could be restored",
        "even_if_healthy": "rebuild although etcd has quorum and the API answers (refused otherwise)",
        "dry_run": "print the whole chain with every command, change nothing",
        "yes": "do not ask for confirmation",
        "resume": "continue the last dr.rebuild after a failure or a kill",
        "break_lock": "remove a stale cluster lock (its process is gone) before starting",
        "skip_validate": "rebuild even when repo.validate finds the repository broken",
        "inventory": INVENTORY_HELP,
    }
)
@user_errors
def rebuild(
    c: Any,
    from_snapshot: str = "latest",
    recreate_vms: bool = False,
    nodes: str | None = None,
    fresh: bool = False,
    even_if_healthy: bool = False,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    skip_validate: bool = False,
    inventory: str | None = None,
) -> None:
    """Rebuild the cluster after a disaster: look first, then restore etcd or rebuild fresh.

    It looks at which nodes answer, etcd on each control plane, the API and where the volumes live, and
    names the model: etcd-restore (quorum lost, disks kept: EPHEMERAL wiped on the control planes only,
    etcd from a last-chance snapshot) or fresh (everything lost, node-local data, or --fresh: new etcd,
    apps, restores proven). A healthy cluster, or one lost control plane, is refused. Journaled; --resume
    continues after a failure or a kill. Exits 1 when a restore could not be proven (done with problems).
    """
    from homeops.app.workflows import run_rebuild

    outcome = run_rebuild(
        inventory_dir(c, inventory),
        from_snapshot=from_snapshot,
        recreate_vms=recreate_vms,
        nodes=tuple(n.strip() for n in (nodes or "").split(",") if n.strip()),
        fresh=fresh,
        even_if_healthy=even_if_healthy,
        dry_run=dry_run,
        yes=yes,
        resume=resume,
        break_lock=break_lock,
        skip_validate=skip_validate,
    )
    if outcome.status == "finished-with-problems":
        raise Exit(f"dr.rebuild done with problems: {'; '.join(outcome.notes)}", code=1)


@task(
    iterable=["fault"],
    help={
        "scenario": "the disaster: all-vms-lost (default), quorum-lost, nas-lost or one-node-lost",
        "fault": "a simulator fault to add to the disaster: NAME or NAME:TARGET (repeatable; inv sim.fault list)",
        "hosts": "run the Proxmox and TrueNAS hosts as OpenSSH containers (Docker) instead of in-process shims",
        "yes": "do not ask before the (simulated) rebuild",
        "inventory": INVENTORY_HELP,
    },
)
@user_errors
def rehearse(
    c: Any,
    scenario: str | None = None,
    fault: list[str] | None = None,
    hosts: bool = False,
    yes: bool = False,
    inventory: str | None = None,
) -> None:
    """Practise the recovery on a simulator built from this inventory (a copy; the real state dir is not
    touched): known data written into every volume and database, the disaster, dr.rebuild, the data
    checked by sha256. Prints the recovery time per phase; exits 1 when data differ or a phase is over budget.
    """
    from homeops.app.workflows import rehearse as run

    result = run(
        inventory_dir(c, inventory),
        scenario=scenario or "all-vms-lost",
        faults=tuple(each("fault", fault)),
        hosts=hosts,
        yes=yes,
    )
    minutes, seconds = divmod(round(result.recovery_seconds), 60)
    print(f"[SIMULATED] rehearsal of {result.scenario} on {result.inventory}: {result.model}")
    for line in result.data:
        print(f"  {line}")
    for phase in result.phases:
        mark = "OVER BUDGET" if phase.over else "ok"
        print(f"  phase {phase.name}: {phase.seconds:.0f}s (budget {phase.budget:.0f}s) {mark}")
    for key, before, after in result.checks:
        print(f"  data {key}: sha256 {before} before, {after} after" + (" ok" if before == after else " DIFFERENT"))
    report = result.outcome.report if result.outcome else None
    print(
        f"[SIMULATED] recovered in {minutes}m{seconds:02d}s of simulated time "
        f"(its stages add up to {result.step_seconds:.0f}s); homeops itself ran for {result.wall_seconds:.1f}s; "
        f"report: {report}"
    )
    if not result.passed:
        raise Exit("drill FAILED: " + "; ".join(result.failures), code=1)


ns = Collection("dr")
ns.add_task(check)
ns.add_task(runbook)
ns.add_task(rebuild)
ns.add_task(rehearse)
