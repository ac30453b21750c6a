"""``talos.etcd-snapshot``: a timestamped etcd snapshot, verified non-empty, optionally kept on the NAS."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from homeops.adapters import talosctl as t
from homeops.errors import CommandError, ConnectionFailed, GateFailed, PlanError
from homeops.operations.facts import Observer
from homeops.operations.snapshotsum import write_sidecar
from homeops.runtime import Runtime


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


def snapshot_path(state_dir: Path, cluster: str, now: float) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    return state_dir / "etcd-snapshots" / f"etcd-{cluster}-{stamp}.db"


def take_etcd_snapshot(
    runtime: Runtime, observer: Observer, *, node: str | None = None, to_nas: bool | None = None
) -> SavedSnapshot:
    inventory = runtime.inventory
    if node:
        source = inventory.node(node)
        if not source.control_plane:
            raise PlanError(f"{source.hostname} is a worker; etcd runs on the control planes")
    else:
        leader = None
        try:
            leader = observer.etcd().leader
        except (CommandError, ConnectionFailed):
            leader = None
        cps = inventory.control_planes
        if not cps:
            raise PlanError("the inventory has no control-plane node")
        source = next((n for n in cps if n.hostname == leader), cps[0])
    path = snapshot_path(inventory.state_dir, inventory.cluster.name, runtime.clock.now())
    path.parent.mkdir(parents=True, exist_ok=True)
    info = t.etcd_snapshot(runtime.local, t.Talosctl(inventory.cluster.talosconfig), source.ip, path)
    size = path.stat().st_size if path.is_file() else 0
    if size <= 0:
        raise GateFailed(
            "etcd-snapshot", f"{path} is missing or empty after talosctl reported success", target=source.hostname
        )
    sidecar = write_sidecar(path)  # dr.check and dr.rebuild verify the copies against it
    nas = None
    if inventory.policy.etcd_snapshot_to_nas if to_nas is None else to_nas:
        from homeops.hostops import nas_store_backup

        stored = nas_store_backup(runtime, path)
        nas_store_backup(runtime, sidecar, suffix=".db.sha256")
        nas = f"{stored.host}:{stored.path}"
    return SavedSnapshot(path, size, source.hostname, info.revision, nas)
