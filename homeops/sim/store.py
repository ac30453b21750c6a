"""The simulated cluster's state: one JSON file, shared safely between processes.

Fake tools (``talosctl``, ``kubectl``… on this machine) and host shims (``qm``, ``zpool``… inside the
OpenSSH containers, which mount the state directory) all read and change the same file. Every
change happens inside ``SimStore.transaction()``, which holds an exclusive ``fcntl`` lock on
``state.lock`` and rewrites ``state.json`` atomically (temp file + rename), so a reader never sees
a half-written file and two writers never interleave. ``SimStore.snapshot()`` is the read-only
counterpart (shared lock, nothing rewritten) for calls that only look.

The command log is not in ``state.json`` but in the append-only ``log.jsonl`` beside it (one JSON
object a line): it grows with every command, and rewriting it on every call made each simulated
command slower than the one before. ``read()`` still returns it as ``state["log"]``; inside
``transaction()``/``snapshot()``, ``state["log"]`` collects only the entries the block appends
(they are added to the file, under the same lock, when the block ends), and ``log()`` reads it.

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
``log``       ``[{"t": float, "tool": str, "argv": [...], "exit": int, "host"?: str}]`` — every command a
              fake tool or shim ran, in order (tests assert on it); stored in ``log.jsonl``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os

# typing.TYPE_CHECKING without importing typing (or pathlib, tempfile): every shim call starts a
# Python process in a host container, and those imports were a third of its CPU time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any, NoReturn

STATE_FILE = "state.json"
LOCK_FILE = "state.lock"
LOG_FILE = "log.jsonl"
# Private like the rest of the state dir (homeops.privatefs, not imported: see above). The host containers'
# shims run as root, so 0600 does not lock them out.
_FILE_MODE = 0o600
_DIR_MODE = 0o700
_TEMP_FILE = ".state.json.tmp"  # one name is enough: it is only written under the exclusive lock

State = dict[str, "Any"]
LogEntry = dict[str, "Any"]


class SimNotRunning(RuntimeError):
    """There is no simulated cluster in this directory (``inv sim.up`` creates one)."""


class NewLogEntries(list[LogEntry]):
    """``state["log"]`` inside ``transaction()``/``snapshot()``: holds only what the block appends.

    Reading it would silently miss every older entry, so reading raises; ``SimStore.log()`` reads
    the whole log. (``del log[:n]``, which an old log trimmer did, stays a harmless no-op.)
    """

    def _refuse(self, *_: object) -> NoReturn:
        raise TypeError(
            'state["log"] inside a SimStore transaction/snapshot only collects new entries; '
            "read the command log with SimStore.log() or SimStore.read()"
        )

    __iter__ = __len__ = __getitem__ = __contains__ = __reversed__ = _refuse

    def appended(self) -> list[LogEntry]:
        return list.copy(self)


class SimStore:
    def __init__(self, directory: str | os.PathLike[str]) -> None:
        self._dir = os.fspath(directory)
        self._state_file = os.path.join(self._dir, STATE_FILE)
        self._log_file = os.path.join(self._dir, LOG_FILE)

    @property
    def dir(self) -> Path:
        from pathlib import Path

        return Path(self._dir)

    @property
    def path(self) -> Path:
        return self.dir / STATE_FILE

    @property
    def log_path(self) -> Path:
        return self.dir / LOG_FILE

    def exists(self) -> bool:
        return os.path.isfile(self._state_file)

    @contextlib.contextmanager
    def _locked(self, exclusive: bool) -> Iterator[None]:
        if not os.path.isdir(self._dir):
            _private_dirs(self._dir)
        lock = os.open(os.path.join(self._dir, LOCK_FILE), os.O_RDWR | os.O_CREAT, _FILE_MODE)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
        finally:
            os.close(lock)

    def _read(self) -> State:
        """``state.json`` as stored; a state written before the log moved out still has ``"log"``."""
        try:
            with open(self._state_file, "rb") as fh:
                data: State = json.loads(fh.read())
        except FileNotFoundError as exc:
            raise SimNotRunning(f"no simulated cluster in {self._dir} (run: inv sim.up)") from exc
        return data

    def _write(self, state: State) -> None:
        # Compact json.dumps, not json.dump(indent=…): only the one-shot form uses the C encoder.
        # No fsync: the temp file + rename already protects against a process dying mid-write, which
        # is what a simulator needs; surviving a power cut is not worth a disk flush per command.
        data = json.dumps({k: v for k, v in state.items() if k != "log"}, separators=(",", ":"), sort_keys=True)
        tmp = os.path.join(self._dir, _TEMP_FILE)
        try:
            with open(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _FILE_MODE), "w", encoding="utf-8") as fh:
                os.fchmod(fh.fileno(), _FILE_MODE)  # a temp file a crash left keeps its mode through O_CREAT
                fh.write(data)
            os.replace(tmp, self._state_file)
            _tighten(self._dir, _DIR_MODE)  # a sim dir an older version made 0755
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _read_log(self) -> list[LogEntry]:
        try:
            with open(self._log_file, "rb") as fh:
                data = fh.read()
        except FileNotFoundError:
            return []
        entries = []
        # A line without its newline is still being appended (appenders hold only a shared lock).
        for line in data.split(b"\n")[:-1]:
            try:
                entries.append(json.loads(line))
            except ValueError:
                continue  # torn by a crash mid-append: the entry is lost, the rest of the log is not
        return entries

    def _append_log(self, entries: list[LogEntry], *, truncate: bool = False) -> None:
        if not entries and not truncate:
            return
        data = "".join(json.dumps(e, separators=(",", ":"), sort_keys=True) + "\n" for e in entries).encode()
        # O_APPEND makes each write land whole at the end, so appenders sharing the lock never interleave.
        flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if truncate else os.O_APPEND)
        fd = os.open(self._log_file, flags, _FILE_MODE)
        try:
            with contextlib.suppress(PermissionError):
                os.fchmod(fd, _FILE_MODE)  # an older version wrote it 0666; another uid's file stays as it is
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def read(self, *, include_log: bool = True) -> State:
        """A consistent snapshot (shared lock); ``include_log=False`` skips reading the command log."""
        with self._locked(exclusive=False):
            state = self._read()
            legacy = state.pop("log", None) or []
            if include_log:
                state["log"] = [*legacy, *self._read_log()]
            return state

    def log(self) -> list[LogEntry]:
        """Every command the fake tools and shims ran, in order."""
        with self._locked(exclusive=False):
            legacy = (self._read().get("log") or []) if self.exists() else []
            return [*legacy, *self._read_log()]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[State]:
        """Yield the state for changing; written back atomically if the block does not raise.

        ``state["log"]`` is a ``NewLogEntries``: append to it; the entries go to ``log.jsonl``.
        """
        with self._locked(exclusive=True):
            state = self._read()
            legacy = state.pop("log", None)
            if legacy:  # a state from before log.jsonl: move its log out, oldest entries first
                self._append_log([*legacy, *self._read_log()], truncate=True)
            new = state["log"] = NewLogEntries()
            yield state
            self._write(state)
            self._append_log(new.appended())

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[State]:
        """Yield the state for looking only (shared lock held for the block; nothing is written back).

        What the block appends to ``state["log"]`` is added to ``log.jsonl`` — a call that only
        looks still leaves its line in the command log without rewriting ``state.json``.
        """
        with self._locked(exclusive=False):
            state = self._read()
            state.pop("log", None)
            new = state["log"] = NewLogEntries()
            yield state
            self._append_log(new.appended())

    def create(self, state: State) -> None:
        """Write a new state (and its ``"log"``, usually empty, as the whole command log)."""
        entries = state.get("log")
        entries = entries.appended() if isinstance(entries, NewLogEntries) else list(entries or [])
        with self._locked(exclusive=True):
            self._write(state)
            self._append_log(entries, truncate=True)

    def remove(self) -> None:
        with self._locked(exclusive=True):
            for path in (self._state_file, self._log_file):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)


def _private_dirs(directory: str) -> None:
    """``mkdir -p`` where every directory created is 0700 (``os.makedirs`` gives only the last one its mode)."""
    parent = os.path.dirname(os.path.abspath(directory))
    if not os.path.isdir(parent):
        _private_dirs(parent)
    with contextlib.suppress(FileExistsError):
        os.mkdir(directory, _DIR_MODE)


def _tighten(path: str, mode: int) -> None:
    with contextlib.suppress(OSError):
        info = os.stat(path)
        if info.st_uid == os.getuid() and info.st_mode & 0o777 != mode:
            os.chmod(path, mode)
