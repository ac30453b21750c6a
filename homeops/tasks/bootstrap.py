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

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import IGNORE_WINDOW_HELP, task

ns = Collection("bootstrap")

HELP = {
    "inventory": "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)",
    "dry_run": "print every command of every stage and change nothing",
    "yes": "do not ask for confirmation",
    "resume": "continue the last interrupted or failed run of this task at the step where it stopped",
    "break_lock": "remove a stale cluster lock (its process is gone) before starting",
    "skip_validate": "bootstrap the apps even when repo.validate finds the repository broken",
    "ignore_window": IGNORE_WINDOW_HELP,
}


def _task(which: str, doc: str) -> Any:
    def body(
        c: Any,
        inventory: str | None = None,
        dry_run: bool = False,
        yes: bool = False,
        resume: bool = False,
        break_lock: bool = False,
        skip_validate: bool = False,
        ignore_window: bool = False,
    ) -> None:
        from homeops.app.workflows import run_bootstrap

        run_bootstrap(
            inventory_dir(c, inventory),
            which,
            dry_run=dry_run,
            yes=yes,
            resume=resume,
            break_lock=break_lock,
            skip_validate=skip_validate,
            ignore_window=ignore_window,
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
