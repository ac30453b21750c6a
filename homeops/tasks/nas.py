"""Tasks of the ``nas`` namespace: the TrueNAS host holding NFS volumes and backups."""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import task

INVENTORY_HELP = "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)"


@task(help={"inventory": INVENTORY_HELP, "json": "print the status as JSON instead of text"})
@user_errors
def status(c: Any, inventory: str | None = None, json: bool = False) -> None:
    """Show TrueNAS pool health, the NFS service, NFS exports and free space for backups.

    Read-only. Exits 1 when the NAS cannot be reached, a pool is not healthy or NFS is not running.
    """
    import json as json_module

    from homeops.app.backend import open_runtime
    from homeops.operations.hosts import nas_status

    with open_runtime(inventory_dir(c, inventory)) as rt:
        result = nas_status(rt)
        backup_dir = rt.inventory.policy.nas_backup_dir
    if result is None:
        print("TrueNAS: no host of kind truenas in the inventory")
        return
    if json:
        print(json_module.dumps(result.to_dict(), indent=2))
    else:
        print(render_status(result, backup_dir))
    if not result.ok:
        raise Exit(code=1)


def _size(value: int | None) -> str:
    if value is None:
        return "?"
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{value} B"


def render_status(result: Any, backup_dir: str) -> str:
    if not result.reachable:
        return f"TrueNAS {result.host}: UNREACHABLE: {result.error}"
    lines = [f"TrueNAS {result.host}: {'healthy' if result.ok else 'NOT HEALTHY'}"]
    if result.error:
        lines.append(f"  error: {result.error}")
    for pool in result.pools:
        lines.append(f"  pool {pool.name:<12} {pool.status:<9} free {_size(pool.free)} of {_size(pool.size)}")
    if result.zpool is not None:
        lines.append(f"  zpool status -x: {result.zpool.describe()}")
    if result.nfs is not None:
        enabled = "enabled" if result.nfs.enabled else "disabled at boot"
        lines.append(f"  NFS service: {result.nfs.state} ({enabled})")
    if result.exports:
        for export in result.exports:
            lines.append(f"  export {export.path} → {', '.join(export.clients)}")
    elif result.exports_error:
        lines.append(f"  exports: showmount failed: {result.exports_error}")
    if result.backup_dataset is not None:
        ds = result.backup_dataset
        lines.append(f"  backups {backup_dir}: dataset {ds.name}, {_size(ds.available)} available")
    return "\n".join(lines)


ns = Collection("nas")
ns.add_task(status)
