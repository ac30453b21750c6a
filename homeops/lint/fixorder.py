"""``--fix-order``: sort a kustomization's ``resources:`` in place, keeping every comment.

Works on the text, not on re-dumped YAML, so nothing else in the file changes: the block list under
``resources:`` is cut into items, each carrying the comment (and blank) lines just above it, and
the items are put in order. A list it cannot handle safely (flow style, an item spanning several
lines) is left alone and named. The file is replaced atomically (a temporary file in the same
folder, then rename), so an interrupted run never leaves it half written.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from homeops.lint.rules import sort_key

_KEY = re.compile(r"^(\s*)resources:\s*(#.*)?$")
_ITEM = re.compile(r"^(\s*)-\s+(.*?)\s*$")
_SEPARATOR = re.compile(r"^---(\s|$)")


@dataclass(frozen=True)
class FixResult:
    changed: bool
    skipped_reason: str = ""


def _item_value(text: str) -> str:
    value = text.split(" #", 1)[0].strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return value


def sort_resources_text(text: str) -> tuple[str, str]:
    """``(new_text, reason)``: reason is non-empty when a ``resources:`` list was left alone."""
    lines = text.splitlines(keepends=True)
    out: list[str] = []
    i = 0
    reason = ""
    while i < len(lines):
        line = lines[i]
        match = _KEY.match(line.rstrip("\n"))
        if not match or match.group(1):  # only the top-level key of a document
            out.append(line)
            i += 1
            continue
        out.append(line)
        i += 1
        block_start = i
        items: list[tuple[str, list[str]]] = []
        pending: list[str] = []
        indent: str | None = None
        while i < len(lines):
            raw = lines[i].rstrip("\n")
            stripped = raw.strip()
            if _SEPARATOR.match(raw):
                break
            if not stripped or stripped.startswith("#"):
                pending.append(lines[i])
                i += 1
                continue
            item = _ITEM.match(raw)
            if item and (indent is None or item.group(1) == indent):
                indent = item.group(1)
                items.append((_item_value(item.group(2)), [*pending, lines[i]]))
                pending = []
                i += 1
                continue
            if indent is not None and len(raw) - len(raw.lstrip()) > len(indent):
                reason = "an item spans several lines"
            break
        if reason or not items:
            out.extend(lines[block_start:i])
            if reason:
                return text, reason
            continue
        if any(not value or value.startswith(("{", "[")) for value, _ in items):
            return text, "an item is not a plain path"
        ordered = sorted(items, key=lambda it: sort_key(it[0]))
        for _, chunk in ordered:
            if not chunk[-1].endswith("\n"):
                chunk = [*chunk[:-1], chunk[-1] + "\n"]
            out.extend(chunk)
        out.extend(pending)  # comments after the last item stay after the list
        if not text.endswith("\n") and out and out[-1].endswith("\n") and i >= len(lines):
            out[-1] = out[-1][:-1]
    return "".join(out), reason


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: temp file in the same folder, fsync, rename; mode kept. A
    symlink stays a symlink: the file it points to is the one rewritten."""
    path = Path(os.path.realpath(path))
    mode = path.stat().st_mode & 0o7777
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fix_file(path: Path) -> FixResult:
    text = path.read_text(encoding="utf-8")
    new_text, reason = sort_resources_text(text)
    if reason:
        return FixResult(False, reason)
    if new_text == text:
        return FixResult(False)
    write_atomic(path, new_text)
    return FixResult(True)
