"""Tasks of the ``cluster`` namespace: a read-only look at the whole cluster."""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import task


@task(
    help={
        "inventory": "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)",
        "json": "print the status as JSON instead of a table",
    }
)
@user_errors
def status(c: Any, inventory: str | None = None, json: bool = False) -> None:
    """Show every node (Talos version, stage, ready, Kubernetes), etcd members, the API and the SSH hosts.

    Read-only. Exits 1 when anything is not healthy, so it can gate scripts.
    """
    import json as json_module

    from homeops.app.backend import open_runtime
    from homeops.status import gather, render

    with open_runtime(inventory_dir(c, inventory)) as rt:
        result = gather(rt)
    if json:
        print(json_module.dumps(result.to_json(), indent=2))
    else:
        print(render(result))
    if not result.healthy:
        raise Exit(code=1)


ns = Collection("cluster")
ns.add_task(status)
