"""Plaintext for tools that insist on a file: 0600 in a private 0700 directory, on tmpfs when there is one,
gone when the block ends — normally, on an exception, on Ctrl-C, and on SIGTERM."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

PREFIX = "homeops-sops-"


def private_base() -> str | None:
    """$HOMEOPS_SOPS_TMP, else /dev/shm when usable (never touches a disk), else the system temp dir."""
    chosen = os.environ.get("HOMEOPS_SOPS_TMP")
    if chosen:
        return chosen
    shm = "/dev/shm"
    if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK):
        return shm
    return None


def _shred(path: Path) -> None:
    # On tmpfs this is belt and braces; on a disk-backed /tmp it keeps the blocks from holding plaintext.
    with contextlib.suppress(OSError):
        size = path.stat().st_size
        with open(path, "r+b", buffering=0) as fh:
            fh.write(b"\0" * size)
            os.fsync(fh.fileno())
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while plaintext is on disk so cleanup still runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _pid_is_gone(pid: int) -> bool:
    """True when no process ``pid`` runs (a zombie counts as gone: it will never clean up)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] == ["Z"]


def sweep_stale(base: str | None = None) -> int:
    """Remove private dirs left by runs that died without cleaning up (kill -9, power loss).

    Only our own directories (same owner, named ``homeops-sops-<pid>-…``) whose process is gone;
    returns how many were removed.
    """
    root = Path(base if base is not None else (private_base() or tempfile.gettempdir()))
    removed = 0
    try:
        entries = list(root.iterdir())
    except OSError:
        return 0
    for entry in entries:
        pid_text = entry.name[len(PREFIX) :].split("-", 1)[0]
        if not entry.name.startswith(PREFIX) or not pid_text.isdigit():
            continue
        try:
            info = entry.lstat()
        except OSError:
            continue
        if info.st_uid != os.getuid() or not entry.is_dir() or entry.is_symlink():
            continue
        if not _pid_is_gone(int(pid_text)):
            continue
        for child in entry.iterdir():
            if child.is_file() and not child.is_symlink():
                _shred(child)
        shutil.rmtree(entry, ignore_errors=True)
        removed += 1
    return removed


@contextlib.contextmanager
def private_file(content: bytes, *, name: str = "plaintext", base: str | None = None) -> Iterator[Path]:
    """Write ``content`` to a 0600 file in a fresh 0700 directory; remove both when the block exits."""
    base = base if base is not None else private_base()
    sweep_stale(base)
    # the pid in the name lets a later run tell a dead run's leftovers from a live run's files
    directory = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=base))
    path = directory / os.path.basename(name)
    try:
        with _sigterm_as_interrupt():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(content)
            yield path
    finally:
        for child in directory.iterdir() if directory.exists() else ():
            if child.is_file():
                _shred(child)
        shutil.rmtree(directory, ignore_errors=True)
