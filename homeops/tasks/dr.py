"""Tasks of the ``dr`` namespace: disaster recovery."""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit
from invoke.tasks import task

from homeops.tasks._common import inventory_dir, user_errors

INVENTORY_HELP = "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)"


@task(help={"inventory": INVENTORY_HELP, "json": "print the findings as JSON instead of a table"})
@user_errors
def check(c: Any, inventory: str | None = None, json: bool = False) -> None:
    """Could this cluster be rebuilt right now? Age key, genconfig, etcd snapshots (local and NAS),
    VM specs, VolSync freshness, the backup pool.

    Read-only. Exits 1 when a recovery would fail, naming each cause.
    """
    from homeops.operations.drcheck import run_check
    from homeops.runtime import open_runtime

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
    from pathlib import Path

    from homeops.inventory.loader import load_inventory
    from homeops.operations.runbook import render_runbook

    text = render_runbook(load_inventory(inventory_dir(c, inventory)))
    if output is None:
        print(text, end="")
        return
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    print(f"wrote {target} ({len(text.splitlines())} lines)")


ns = Collection("dr")
ns.add_task(check)
ns.add_task(runbook)
