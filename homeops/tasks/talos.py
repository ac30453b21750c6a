"""Tasks of the ``talos`` namespace: health-gated, journaled, resumable node operations.

Every mutating task prints its plan first, asks unless ``--yes``, takes the cluster lock, journals
each step and writes a report under the inventory's state dir. ``--dry-run`` prints the plan and
changes nothing; ``--resume`` continues the last interrupted run of the same task.
"""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import IGNORE_WINDOW_HELP, task

ns = Collection("talos")

COMMON_HELP = {
    "inventory": "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)",
    "dry_run": "print the full plan (nodes in order, commands, gates, waits) and change nothing",
    "yes": "do not ask for confirmation",
    "resume": "continue the last interrupted run of this task (never repeats a finished node)",
    "break_lock": "remove a stale cluster lock (its process is gone) before starting",
    "ignore_window": IGNORE_WINDOW_HELP,
}


def _options(dry_run: bool, yes: bool, resume: bool, break_lock: bool, ignore_window: bool = False) -> Any:
    from homeops.app.runs import Options

    return Options(dry_run=dry_run, yes=yes, resume=resume, break_lock=break_lock, ignore_window=ignore_window)


def _run(c: Any, inventory: str | None, operation: str, request: Any, options: Any) -> None:
    """Observe, plan ``operation``, show, confirm and execute (``homeops.app.runs.run``)."""
    from homeops.app.runs import run

    run(inventory_dir(c, inventory), operation, options, request=request)  # the plan says "Nothing to do."


def _asking(**asked: Any) -> Any:
    """The planner request for what the user asked on the command line, stamped with the runtime's clock."""
    from homeops.operations.planners import Request

    def request(rt: Any) -> Request:
        return Request(now=rt.clock.now(), **asked)

    return request


def _nodes(node: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (node or "").split(",") if n.strip())


@task(
    help={
        **COMMON_HELP,
        "node": "the node to upgrade (hostname or IP)",
        "version": "Talos version (default: talosVersion of the talconfig)",
        "image": "full installer image with tag (default: the node's talosImageURL/schematic from the talconfig)",
    }
)
@user_errors
def upgrade_node(
    c: Any,
    node: str,
    version: str | None = None,
    image: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    ignore_window: bool = False,
    inventory: str | None = None,
) -> None:
    """Upgrade Talos on one node: etcd snapshot (control plane), upgrade, wait back on the new version, gates."""
    request = _asking(nodes=_nodes(node), version=version, image=image)
    _run(c, inventory, "upgrade-node", request, _options(dry_run, yes, resume, break_lock, ignore_window))


@task(
    help={
        **COMMON_HELP,
        "version": "Talos version (default: talosVersion of the talconfig); minors are stepped through one by one",
        "max_unavailable": "workers upgraded at once (default: upgrade.maxUnavailable, 1)",
    }
)
@user_errors
def upgrade_cluster(
    c: Any,
    version: str | None = None,
    max_unavailable: int | None = None,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    ignore_window: bool = False,
    inventory: str | None = None,
) -> None:
    """Rolling Talos upgrade: control planes one at a time (etcd leader last), then workers in batches."""
    request = _asking(version=version, max_unavailable=max_unavailable)
    _run(c, inventory, "upgrade-cluster", request, _options(dry_run, yes, resume, break_lock, ignore_window))


def _apply(
    c: Any,
    inventory: str | None,
    operation: str,
    nodes: tuple[str, ...],
    mode: str,
    max_unavailable: int | None,
    options: Any,
) -> None:
    from homeops.errors import ConfigError
    from homeops.operations.planners import Request, default_config_file

    def request(rt: Any) -> Request:
        wanted = [rt.inventory.node(n) for n in nodes] if nodes else list(rt.inventory.nodes)
        files = {n.hostname: default_config_file(rt.inventory, n) for n in wanted}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing and not options.resume:
            raise ConfigError(
                "machine config not generated",
                file=missing[0],
                hint="run `inv talos.generate-config` first"
                + (f" ({len(missing)} files missing)" if len(missing) > 1 else ""),
            )
        return Request(now=rt.clock.now(), nodes=nodes, mode=mode, config_files=files, max_unavailable=max_unavailable)

    _run(c, inventory, operation, request, options)


@task(help={**COMMON_HELP, "node": "the node (hostname or IP)", "mode": "auto | no-reboot | reboot | staged | try"})
@user_errors
def apply_node(
    c: Any,
    node: str,
    mode: str = "auto",
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    ignore_window: bool = False,
    inventory: str | None = None,
) -> None:
    """Apply the node's generated machine config (clusterconfig/<cluster>-<node>.yaml), gated."""
    _apply(
        c, inventory, "apply-node", _nodes(node), mode, None, _options(dry_run, yes, resume, break_lock, ignore_window)
    )


@task(
    help={
        **COMMON_HELP,
        "mode": "auto | no-reboot | reboot | staged | try",
        "max_unavailable": "workers changed at once (default: upgrade.maxUnavailable, 1)",
    }
)
@user_errors
def apply_cluster(
    c: Any,
    mode: str = "auto",
    max_unavailable: int | None = None,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    ignore_window: bool = False,
    inventory: str | None = None,
) -> None:
    """Apply every node's generated machine config, rolling like an upgrade."""
    _apply(
        c,
        inventory,
        "apply-cluster",
        (),
        mode,
        max_unavailable,
        _options(dry_run, yes, resume, break_lock, ignore_window),
    )


@task(help={**COMMON_HELP, "to": "Kubernetes version (default: kubernetesVersion of the talconfig); +1 minor at most"})
@user_errors
def upgrade_k8s(
    c: Any,
    to: str | None = None,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    ignore_window: bool = False,
    inventory: str | None = None,
) -> None:
    """Upgrade Kubernetes with talosctl upgrade-k8s after checking the version path and support matrix."""
    _run(c, inventory, "upgrade-k8s", _asking(kubernetes=to), _options(dry_run, yes, resume, break_lock, ignore_window))


@task(help={**COMMON_HELP, "node": "the node to reboot (hostname or IP)"})
@user_errors
def reboot_node(
    c: Any,
    node: str,
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    ignore_window: bool = False,
    inventory: str | None = None,
) -> None:
    """Reboot one node and wait until it and the cluster are healthy again."""
    _run(
        c,
        inventory,
        "reboot-node",
        _asking(nodes=_nodes(node)),
        _options(dry_run, yes, resume, break_lock, ignore_window),
    )


@task(help={"inventory": COMMON_HELP["inventory"]})
@user_errors
def health(c: Any, inventory: str | None = None) -> None:
    """Check every gate a node operation would check (read-only); exits 1 when one is red."""
    from homeops.app.backend import open_runtime
    from homeops.app.workflows import health as looked

    with open_runtime(inventory_dir(c, inventory)) as rt:
        results = looked(rt)
    width = max(len(r.gate.label) for r in results)
    for result in results:
        mark = "✓" if result.ok else "✗"
        print(f"{mark} {result.gate.label:<{width}}  {result.observed}")
    red = [r.gate.label for r in results if not r.ok]
    if red:
        raise Exit(f"red: {', '.join(red)}", code=1)


@task(
    help={
        "inventory": COMMON_HELP["inventory"],
        "node": "control plane to take it from (default: the etcd leader)",
        "to_nas": "also copy it to the NAS backup directory (default: upgrade.etcdSnapshotToNas)",
        "dry_run": COMMON_HELP["dry_run"],
        "yes": "do not ask for confirmation (a snapshot changes nothing, so it asks only on a terminal)",
        "break_lock": COMMON_HELP["break_lock"],
    }
)
@user_errors
def etcd_snapshot(
    c: Any,
    node: str | None = None,
    to_nas: bool | None = None,
    dry_run: bool = False,
    yes: bool = False,
    break_lock: bool = False,
    inventory: str | None = None,
) -> None:
    """Save an etcd snapshot under <state_dir>/etcd-snapshots (timestamped, verified non-empty), journaled."""
    import sys

    from homeops.app.backend import open_runtime
    from homeops.app.workflows import etcd_snapshot as snapshot

    # Reading a snapshot changes nothing: a script need not say --yes, a person at a terminal is asked.
    ask = not yes and sys.stdin is not None and sys.stdin.isatty()
    with open_runtime(inventory_dir(c, inventory)) as rt:
        saved = snapshot(rt, _options(dry_run, not ask, False, break_lock), node=node, to_nas=to_nas)
    if saved is not None:
        print(("[SIMULATED] " if rt.simulated else "") + saved.describe())


@task(
    help={
        "inventory": COMMON_HELP["inventory"],
        "dry_run": "show what would change (talhelper genconfig --dry-run) and write nothing",
    }
)
@user_errors
def generate_config(c: Any, dry_run: bool = False, inventory: str | None = None) -> None:
    """Generate the machine configs with talhelper genconfig; SOPS secrets reach it as a private tmpfs file only."""
    from homeops.app.backend import open_runtime
    from homeops.operations.genconfig import generate_config as generate

    with open_runtime(inventory_dir(c, inventory)) as rt:
        result = generate(rt, dry_run=dry_run)
    print(result)


for _task in (
    upgrade_node,
    upgrade_cluster,
    apply_node,
    apply_cluster,
    upgrade_k8s,
    reboot_node,
    health,
    etcd_snapshot,
    generate_config,
):
    ns.add_task(_task)
