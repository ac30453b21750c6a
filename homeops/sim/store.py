"""The simulated cluster's state: one JSON file, shared safely between processes.

Fake tools (``talosctl``, ``kubectl``… on this machine) and host shims (``qm``, ``zpool``… inside the
OpenSSH containers, which mount the state directory) all read and change the same file. Every
change happens inside ``SimStore.transaction()``, which holds an exclusive ``fcntl`` lock on
``state.lock`` and rewrites ``state.json`` atomically (temp file + rename), so a reader never sees
a half-written file and two writers never interleave.

This module is **stdlib only**: the shims run it with the container's Debian ``python3``.

Schema (``state.json``), top-level sections and who owns them:

``version``   1
``clock``     ``{"mode": "virtual"|"real", "now": float, "origin": float}`` — virtual time only moves
              when a sim clock sleeps; real time follows the wall clock (``now`` unused).
``config``    ``{"reboot_seconds": float, "ready_seconds": float, "upgrade_seconds": float, ...}``
``cluster``   ``{"name", "endpoint", "vip", "talos_version", "kubernetes_version"}``
``nodes``     ``{hostname: {"ip", "control_plane", "talos_version", "image", "schematic",
              "kubernetes_version", "stage", "ready", "boot_id", "maintenance", "cordoned",
              "down_until": float|null, "pending": {...}|null, "vm": {"host", "vmid"}|null, ...}}``
``etcd``      ``{"members": {hostname: {"id": "16-hex", "healthy": bool}}, "leader": hostname,
              "alarms": [...], "revision": int, "data": {...}}``
``k8s``       ``{"nodes": {...}, "pods": [...], "cephcluster": {...}|null, ...}``
``flux``      ``{"kustomizations": [...], "helmreleases": [...]}``
``pve``       ``{"cluster": {"name": str, "quorate": bool}, "hosts": {name: {"up": bool,
              "vms": {"<vmid>": {"name", "status", "snapshots": [...], "config": {...}}}}}}``
              A Talos node whose VM is not ``running`` (or whose host is not ``up``) is unreachable.
``nas``       ``{"up": bool, "pools": [...], "datasets": [...], "services": {"nfs": {...}},
              "exports": [...], "files": {...}}``
``faults``    ``[{"name": str, "target": str|null, "params": {...}, "remaining": int|null}]``
``log``       ``[{"t": float, "tool": str, "argv": [...], "exit": int}]`` — every command a fake tool
              or shim ran, in order (tests assert on it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"
LOCK_FILE = "state.lock"

State = dict[str, Any]


class SimNotRunning(RuntimeError):
    """There is no simulated cluster in this directory (``inv sim.up`` creates one)."""


class SimStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self.dir = Path(directory)

    @property
    def path(self) -> Path:
        return self.dir / STATE_FILE

    def exists(self) -> bool:
        return self.path.is_file()

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / LOCK_FILE, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _read(self) -> State:
        try:
            with open(self.path, encoding="utf-8") as fh:
                data: State = json.load(fh)
        except FileNotFoundError as exc:
            raise SimNotRunning(f"no simulated cluster in {self.dir} (run: inv sim.up)") from exc
        return data

    def _write(self, state: State) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".state.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(state, fh, indent=1, sort_keys=True)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666)  # the containers' shims run as root but may map other uids
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def read(self) -> State:
        """A consistent snapshot (shared lock)."""
        with self._locked(exclusive=False):
            return self._read()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[State]:
        """Yield the state for changing; written back atomically if the block does not raise."""
        with self._locked(exclusive=True):
            state = self._read()
            yield state
            self._write(state)

    def create(self, state: State) -> None:
        with self._locked(exclusive=True):
            self._write(state)

    def remove(self) -> None:
        with self._locked(exclusive=True), contextlib.suppress(FileNotFoundError):
            self.path.unlink()
