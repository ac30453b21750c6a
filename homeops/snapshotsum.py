"""etcd snapshot files: names, times and their sha256 sidecar.

Every snapshot ``etcd-<cluster>-<YYYYmmddTHHMMSSZ>.db`` gets ``<name>.sha256`` beside it, in the
format ``sha256sum`` writes (``<hex>  <name>``), so that a person can check a copy by hand with
``sha256sum -c`` on the day homeops itself is not available. The NAS keeps both files.

The time a snapshot was taken is read from its name (written with the run's clock, so it is
simulated time under the simulator), not from the file's mtime, which a copy may change.
"""

from __future__ import annotations

import calendar
import hashlib
import re
import time
from dataclasses import dataclass
from pathlib import Path

SUFFIX = ".db"
SIDECAR = ".sha256"
_NAME = re.compile(r"^etcd-(?P<cluster>.+)-(?P<stamp>\d{8}T\d{6}Z)\.db$")
_LINE = re.compile(r"^(?P<hex>[0-9a-f]{64}) [ *](?P<name>\S.*)$")


def sidecar_path(snapshot: Path) -> Path:
    return snapshot.with_name(snapshot.name + SIDECAR)


def is_snapshot_name(name: str) -> bool:
    return _NAME.match(name) is not None


def taken_at(name: str) -> float | None:
    """Seconds since the epoch from ``etcd-<cluster>-20251009T085320Z.db``; None for other names."""
    m = _NAME.match(name)
    if m is None:
        return None
    return float(calendar.timegm(time.strptime(m["stamp"], "%Y%m%dT%H%M%SZ")))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sidecar_text(digest: str, name: str) -> str:
    return f"{digest}  {name}\n"


def write_sidecar(snapshot: Path) -> Path:
    """Write ``<snapshot>.sha256`` (atomically: a half-written sidecar would fail every later check)."""
    target = sidecar_path(snapshot)
    partial = target.with_name(target.name + ".part")
    partial.write_text(sidecar_text(file_sha256(snapshot), snapshot.name), encoding="utf-8")
    partial.replace(target)
    return target


def parse_sidecar(text: str, name: str) -> str | None:
    """The digest the sidecar records for ``name``; None when it has no line for it."""
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if m and m["name"] == name:
            return m["hex"]
    return None


@dataclass(frozen=True)
class Verification:
    """Whether a snapshot file matches its sidecar. ``ok is None``: no sidecar, so not verifiable."""

    path: Path
    ok: bool | None
    detail: str


def verify(snapshot: Path, sidecar_text_: str | None = None) -> Verification:
    """Check ``snapshot`` against its sidecar (read beside it unless its text is given)."""
    if not snapshot.is_file():
        return Verification(snapshot, False, f"{snapshot} does not exist")
    size = snapshot.stat().st_size
    if size == 0:
        return Verification(snapshot, False, f"{snapshot.name} is empty")
    if sidecar_text_ is None:
        side = sidecar_path(snapshot)
        if not side.is_file():
            return Verification(snapshot, None, f"{snapshot.name}: no {side.name}, the hash cannot be checked")
        sidecar_text_ = side.read_text(encoding="utf-8", errors="replace")
    expected = parse_sidecar(sidecar_text_, snapshot.name)
    if expected is None:
        return Verification(snapshot, False, f"{snapshot.name}{SIDECAR} has no sha256 line for {snapshot.name}")
    actual = file_sha256(snapshot)
    if actual != expected:
        return Verification(
            snapshot, False, f"{snapshot.name}: sha256 {actual[:12]}… does not match its sidecar's {expected[:12]}…"
        )
    return Verification(snapshot, True, f"{snapshot.name}: sha256 {actual[:12]}… matches ({size} bytes)")
