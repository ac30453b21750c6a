"""Helpers for the linter tests: the two real home-ops trees (read-only) and writable copies."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

from tests.conftest import REALWORLD

APPS = REALWORLD / "apps"
BJWS = APPS / "bjw-s-labs__home-ops"
BUROA = APPS / "buroa__k8s-gitops"


def writable_copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    dest.chmod(dest.stat().st_mode | stat.S_IWUSR)
    for path in dest.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return dest


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path
