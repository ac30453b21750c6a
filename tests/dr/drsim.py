"""The example inventory on a simulated cluster, as `inv sim.up` leaves it, for the DR tests."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from invoke.context import Context

from homeops.app.backend import open_runtime
from homeops.operations.drcheck import DrReport, run_check
from homeops.runtime import Runtime
from homeops.sim import faults, lifecycle
from homeops.sim.clock import advance_virtual
from homeops.sim.store import SimStore
from homeops.tasks import talos as talos_tasks

REPO = Path(__file__).resolve().parents[2]


class DrSim:
    def __init__(self, root: Path, *, hosts: bool = False) -> None:
        shutil.copytree(REPO / "inventory", root, ignore=shutil.ignore_patterns(".homeops"))
        self.root = root
        self.store: SimStore = lifecycle.start(root, virtual=True, hosts=hosts, say=lambda _: None)

    def edit(self, old: str, new: str) -> None:
        """Change homeops.yaml, then start the sim again (a sim older than its homeops.yaml is refused)."""
        config = self.root / "homeops.yaml"
        text = config.read_text()
        assert old in text, old
        config.write_text(text.replace(old, new))
        self.store = lifecycle.start(self.root, virtual=True, say=lambda _: None)

    def runtime(self) -> Runtime:
        return open_runtime(self.root)

    def snapshot(self) -> None:
        """`inv talos.etcd-snapshot`: taken, checksummed, copied to the NAS (etcdSnapshotToNas is on)."""
        talos_tasks.etcd_snapshot(Context(), inventory=str(self.root))

    def check(self) -> DrReport:
        with self.runtime() as rt:
            return run_check(rt)

    def advance(self, seconds: float) -> None:
        advance_virtual(self.store, seconds)

    def fault(self, name: str, target: str | None = None, **params: Any) -> None:
        with self.store.transaction() as state:
            faults.inject(state, name, target, params=params or None)

    @property
    def snapshots(self) -> Path:
        return self.root / ".homeops" / "etcd-snapshots"
