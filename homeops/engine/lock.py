"""One mutating run per cluster: a lock file that says who holds it and since when.

``<state_dir>/locks/<cluster>.lock`` is created with ``O_EXCL`` and holds ``{pid, pid_start, host,
user, since, operation, run_id}``. A second run is refused with who/since. A lock whose process is
gone (same host, pid not running or reused by another process) is *stale*: it is reported, and
``--break-lock`` removes it. A lock from another host cannot be checked; ``--break-lock`` removes it
too, after the user has made sure that run is really gone.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from homeops.clock import Clock, SystemClock
from homeops.errors import LockHeld


@dataclass(frozen=True)
class LockInfo:
    pid: int
    host: str
    user: str
    since: float
    operation: str
    run_id: str = ""
    pid_start: str = ""

    def describe(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        run = f", run {self.run_id}" if self.run_id else ""
        return f"{self.user}@{self.host} pid {self.pid} ({self.operation}{run}) since {when}"


def _process_start(pid: int) -> str:
    """The kernel's start time of ``pid`` ('' when unknown): tells a live holder from a reused pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # Field 22 counts from after the parenthesised command name, which may contain spaces.
    fields = stat.rsplit(")", 1)[-1].split()
    return fields[19] if len(fields) > 19 else ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ClusterLock:
    """Acquire with ``acquire()`` (or as a context manager); ``release()`` only removes our own lock."""

    def __init__(self, state_dir: Path, cluster: str, *, operation: str, clock: Clock | None = None) -> None:
        self.path = state_dir / "locks" / f"{cluster}.lock"
        self.cluster = cluster
        self.operation = operation
        self._clock = clock or SystemClock()
        self._held: LockInfo | None = None

    def read(self) -> LockInfo | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return LockInfo(**data)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, TypeError):
            # Unreadable means a crash mid-write by a very old version or a hand edit: treat as unknown holder.
            return LockInfo(pid=0, host="?", user="?", since=0.0, operation="unknown")

    def is_stale(self, info: LockInfo) -> bool:
        """True when the holder is provably gone: same host and the pid is dead or reused."""
        if info.host != socket.gethostname() or info.pid <= 0:
            return False
        if not _alive(info.pid):
            return True
        return bool(info.pid_start) and _process_start(info.pid) not in ("", info.pid_start)

    def acquire(self, *, run_id: str = "", break_lock: bool = False, adopt_run: str | None = None) -> LockInfo:
        """Take the lock or raise ``LockHeld`` naming the holder.

        ``break_lock`` removes a stale lock or one held from another host (never a live local one).
        ``adopt_run`` takes over a stale lock left by that run (``--resume`` of a killed run).
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        pid = os.getpid()
        info = LockInfo(
            pid=pid,
            host=socket.gethostname(),
            user=_user(),
            since=self._clock.now(),
            operation=self.operation,
            run_id=run_id,
            pid_start=_process_start(pid),
        )
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            except FileExistsError:
                holder = self.read()
                if holder is None:
                    continue  # released between our open and read: try again
                if holder.pid == pid and holder.host == info.host:
                    self._held = holder
                    return holder  # re-entrant within one process (a task calling another)
                stale = self.is_stale(holder)
                local_live = holder.host == info.host and not stale
                adoptable = stale and adopt_run is not None and holder.run_id == adopt_run
                if adoptable or (break_lock and not local_live):
                    with contextlib.suppress(FileNotFoundError):
                        self.path.unlink()
                    continue
                raise _held_error(self, holder, stale=stale, local_live=local_live, break_lock=break_lock) from None
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(asdict(info), fh)
                fh.flush()
                os.fsync(fh.fileno())
            self._held = info
            return info
        raise LockHeld(f"could not take the cluster lock {self.path}: it keeps changing", hint="try again")

    def release(self) -> None:
        if self._held is None:
            return
        holder = self.read()
        if holder is not None and holder.pid == self._held.pid and holder.host == self._held.host:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self._held = None

    def __enter__(self) -> ClusterLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _held_error(lock: ClusterLock, holder: LockInfo, *, stale: bool, local_live: bool, break_lock: bool) -> LockHeld:
    if stale:
        return LockHeld(
            f"cluster '{lock.cluster}' has a stale lock from {holder.describe()}: that process is gone",
            hint=f"re-run with --break-lock (or --resume to continue its run); lock file {lock.path}",
        )
    if local_live and break_lock:
        return LockHeld(
            f"cluster '{lock.cluster}' is locked by {holder.describe()}, which is still running; not breaking it",
            hint=f"wait for it or stop pid {holder.pid} first",
        )
    return LockHeld(
        f"cluster '{lock.cluster}' is locked by {holder.describe()}",
        hint=(
            "wait for that run to finish"
            + ("" if holder.host == socket.gethostname() else ", or --break-lock if it is really gone")
        ),
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
