"""Snapshots: the one place they are named, the etcd snapshot step, and ``talos.etcd-snapshot``.

Every snapshot homeops takes is stamped by ``stamp(now)`` (UTC, ``%Y%m%dT%H%M%SZ``): etcd snapshot
files ``etcd-<cluster>-<stamp>.db`` and Proxmox VM snapshots ``homeops-<stamp>``, whether a rolling
plan or ``inv pve.vm snapshot`` takes them. ``talos.etcd-snapshot`` is a one-step plan of the same
``etcd-snapshot`` step kind a rolling upgrade uses (``homeops.operations.talos``), run by the engine.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from homeops.adapters import talosctl as t
from homeops.engine.plan import Command, Health, Plan, Step
from homeops.errors import CommandError, ConnectionFailed, PlanError
from homeops.inventory.model import Inventory, Node
from homeops.operations.facts import Observer
from homeops.operations.health import cluster_gates

if TYPE_CHECKING:
    pass

#: Not a program: the etcd-snapshot step kind hands a Command starting with this to its uploader (SFTP to the NAS).
UPLOAD = "sftp-upload"


def stamp(now: float) -> str:
    """The UTC time stamp in every snapshot name."""
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))


def vm_snapshot_name(now: float) -> str:
    # Proxmox snapshot names: a letter first, [A-Za-z0-9_-], at most 40 characters.
    return f"homeops-{stamp(now)}"


def etcd_snapshot_path(state_dir: Path, cluster: str, now: float) -> Path:
    return state_dir / "etcd-snapshots" / f"etcd-{cluster}-{stamp(now)}.db"


def snapshot_path(state_dir: Path, cluster: str, now: float) -> Path:
    """Where an etcd snapshot taken at ``now`` is saved (the name ``etcd_snapshot_path`` gives)."""
    return etcd_snapshot_path(state_dir, cluster, now)


def nas_copy_command(host: str, local: Path, directory: str, keep: int) -> Command:
    """Upload the snapshot over SFTP, verify its size there, keep the newest ``keep`` (``backupstore``)."""
    remote = f"{directory.rstrip('/')}/{local.name}"
    return Command((UPLOAD, str(local), remote, f"--keep={keep}"), on=host, timeout=600)


def etcd_snapshot_step(
    inventory: Inventory, source: Node, now: float, batch: int, *, to_nas: bool | None = None
) -> Step:
    path = etcd_snapshot_path(inventory.state_dir, inventory.cluster.name, now)
    commands = [Command(tuple(t.Talosctl(inventory.cluster.talosconfig).etcd_snapshot(source.ip, path)), timeout=600)]
    nas = inventory.hosts_of_kind("truenas")
    copy = inventory.policy.etcd_snapshot_to_nas if to_nas is None else to_nas
    if copy and nas:
        policy = inventory.policy
        commands.append(nas_copy_command(nas[0].name, path, policy.nas_backup_dir, policy.nas_backup_keep))
    return Step(
        id="cluster:etcd-snapshot",
        action="etcd-snapshot",
        summary=f"etcd snapshot from {source.hostname} to {path} (verified non-empty)"
        + (f", copied to {nas[0].name}:{inventory.policy.nas_backup_dir}" if len(commands) > 1 else ""),
        node=source.hostname,
        node_ip=source.ip,
        control_plane=True,
        batch=batch,
        commands=tuple(commands),
        artifact=str(path),
        batch_note=f"etcd snapshot from {source.hostname} first",
    )


@dataclass(frozen=True)
class SavedSnapshot:
    path: Path
    size: int
    source: str
    revision: int | None = None
    nas: str | None = None

    def describe(self) -> str:
        text = f"etcd snapshot from {self.source}: {self.path} ({self.size} bytes"
        text += f", revision {self.revision})" if self.revision is not None else ")"
        return text + (f"; copied to {self.nas}" if self.nas else "")


def plan_etcd_snapshot(
    inventory: Inventory, leader: str | None, now: float, *, node: str | None = None, to_nas: bool | None = None
) -> Plan:
    """One step: a snapshot from ``node`` (default: the etcd leader). The cluster gates are reported, not required:
    a backup is wanted most when the cluster is not all green."""
    if node:
        source = inventory.node(node)
        if not source.control_plane:
            raise PlanError(f"{source.hostname} is a worker; etcd runs on the control planes")
    else:
        cps = inventory.control_planes
        if not cps:
            raise PlanError("the inventory has no control-plane node")
        source = next((n for n in cps if n.hostname == leader), cps[0])
    step = etcd_snapshot_step(inventory, source, now, 0, to_nas=to_nas)
    return Plan(
        operation="etcd-snapshot",
        cluster=inventory.cluster.name,
        steps=(step,),
        poll_interval=inventory.policy.poll_interval,
        target=f"etcd snapshot {Path(step.artifact or '').name}",
        health=Health(allowed_red=cluster_gates(inventory)),
    )


def etcd_leader(observer: Observer) -> str | None:
    """The etcd leader to snapshot from, when etcd answers (else the first control plane is used)."""
    try:
        return observer.etcd().leader
    except (CommandError, ConnectionFailed):
        return None
