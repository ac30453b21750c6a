"""Private places on disk for what homeops keeps: the state dir is 0700, what is in it 0600.

Journals, locks and reports name hosts and runs; etcd snapshots hold every Kubernetes secret.
Files written by another tool (``talosctl etcd snapshot`` creates 0644) are tightened after the
fact, and a state dir an older version left 0755 is tightened on the next write.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path, *, root: Path | None = None) -> Path:
    """``mkdir -p path`` where every directory created is 0700; ``root`` and ``path`` are tightened to 0700."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        with contextlib.suppress(FileExistsError):
            os.mkdir(directory, DIR_MODE)
    for directory in {p for p in (root, path) if p is not None}:
        _tighten(directory, DIR_MODE)
    return path


def write_private(path: Path, data: str | bytes, *, root: Path | None = None) -> Path:
    """Write ``path`` whole (temp file + rename), 0600 from its first byte, its directory made 0700.

    Readers never see half a file, and no other user ever sees any of it, not even between the
    write and a later chmod. ``root`` (the state dir) is tightened too.
    """
    private_dir(path.parent, root=root)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        try:
            os.fchmod(fd, FILE_MODE)  # an old temp file left by a crash keeps its mode through O_CREAT
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def make_private(path: Path) -> None:
    """Tighten a file (written by us or by a tool) to 0600."""
    _tighten(path, FILE_MODE)


def _tighten(path: Path, mode: int) -> None:
    with contextlib.suppress(OSError):
        info = path.stat()
        if info.st_uid == os.getuid() and info.st_mode & 0o777 != mode:
            path.chmod(mode)
