"""Tasks of the ``pve`` namespace: the Proxmox VE hosts under the Talos VMs."""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import IGNORE_WINDOW_HELP, task

INVENTORY_HELP = "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)"


@task(help={"inventory": INVENTORY_HELP, "json": "print the status as JSON instead of a table"})
@user_errors
def status(c: Any, inventory: str | None = None, json: bool = False) -> None:
    """Show Proxmox quorum as each host sees it and every VM with the Talos node it runs.

    Read-only; the hosts are asked in parallel. Exits 1 when the cluster is not quorate or a host
    cannot be reached.
    """
    import json as json_module

    from homeops.app.backend import open_runtime
    from homeops.operations.hosts import proxmox_status

    with open_runtime(inventory_dir(c, inventory)) as rt:
        result = proxmox_status(rt)
    if json:
        print(json_module.dumps(result.to_dict(), indent=2))
    else:
        print(render_status(result))
    if not result.hosts:
        return
    if not result.ok:
        raise Exit(code=1)


def render_status(result: Any) -> str:
    quorate = {True: "quorate", False: "NOT QUORATE", None: "unknown (no host answered)"}[result.quorate]
    lines = [f"Proxmox cluster: {quorate}" if result.hosts else "Proxmox: no hosts in the inventory"]
    for host in result.hosts:
        lines.append(f"  {host.host:<12} {host.describe()}")
    if result.vms:
        lines.append("")
        lines.append(f"  {'VMID':>6}  {'NAME':<20} {'HOST':<10} {'STATUS':<9} TALOS NODE")
        for vm in result.vms:
            node = vm.node or "-"
            if vm.moved:
                node += f" (inventory says {vm.expected_host})"
            lines.append(f"  {vm.vmid:>6}  {vm.name:<20} {vm.host:<10} {vm.status:<9} {node}")
    for missing in result.missing:
        lines.append(f"  ! no VM found for Talos node {missing}")
    return "\n".join(lines)


@task(
    positional=["action"],
    help={
        "action": "start | stop | shutdown | reboot | snapshot | rollback | snapshots (list)",
        "node": "the Talos node whose VM to act on (hostname or IP)",
        "snapshot": "snapshot name (snapshot: default homeops-<UTC time>; rollback: required)",
        "timeout": "seconds Proxmox waits for a clean shutdown / reboot (default: qm's 60)",
        "force_stop": "shutdown: hard-stop the VM if it has not shut down within --timeout",
        "yes": "do not ask before stop, shutdown, reboot or rollback",
        "dry_run": "show what would run, change nothing",
        "allow_quorum_loss": "take a control plane's VM down even when etcd would lose quorum (reported, not refused)",
        "break_lock": "remove a stale cluster lock (its process is gone) before starting",
        "ignore_window": IGNORE_WINDOW_HELP,
        "inventory": INVENTORY_HELP,
    },
)
@user_errors
def vm(
    c: Any,
    action: str,
    node: str | None = None,
    snapshot: str | None = None,
    timeout: str | None = None,
    force_stop: bool = False,
    yes: bool = False,
    dry_run: bool = False,
    allow_quorum_loss: bool = False,
    break_lock: bool = False,
    ignore_window: bool = False,
    inventory: str | None = None,
) -> None:
    """Power, snapshot or roll back the Proxmox VM of one Talos node.

    The VM's state is read first: starting a running VM or stopping a stopped one does nothing.
    Destructive actions (stop, shutdown, reboot, rollback) ask for confirmation unless --yes, take
    the cluster lock, and refuse to take down a control plane when etcd would lose quorum. Every
    action is journaled with a report under the inventory's state dir.
    """
    from homeops.app.backend import open_runtime
    from homeops.app.runs import Options
    from homeops.app.workflows import run_vm_action
    from homeops.errors import PlanError
    from homeops.operations.vm import list_snapshots

    if not node:
        raise PlanError("which VM? pass --node <talos node>", hint="e.g. inv pve.vm --node k8s-1 shutdown")
    if timeout is not None and not str(timeout).isdigit():
        raise PlanError(f"--timeout must be whole seconds, not '{timeout}'")
    seconds = int(timeout) if timeout is not None else None
    with open_runtime(inventory_dir(c, inventory)) as rt:
        if action == "snapshots":
            snaps = list_snapshots(rt, node)
            for snap in snaps:
                parent = f" (after {snap.parent})" if snap.parent else ""
                print(f"{snap.name:<32} {snap.taken or '':<20} {snap.description}{parent}")
            if not snaps:
                print(f"{node}: no snapshots")
            return
        options = Options(dry_run=dry_run, yes=yes, break_lock=break_lock, ignore_window=ignore_window)
        decided, outcome = run_vm_action(
            rt,
            node,
            action,
            options,
            snapshot=snapshot,
            timeout=seconds,
            force_stop=force_stop,
            allow_quorum_loss=allow_quorum_loss,
        )
    if outcome is None:
        print(decided.summary)
        return
    if outcome.status == "finished":
        print(
            ("[SIMULATED] " if rt.simulated else "")
            + f"done: {action} {decided.node} (VM {decided.vmid} on {decided.host})"
        )


ns = Collection("pve")
ns.add_task(status)
ns.add_task(vm)
