"""Fixtures for the inventory tests: a copy of the example inventory to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_INVENTORY


@pytest.fixture
def inv_dir(tmp_path: Path) -> Path:
    """A copy of the example inventory to edit (no state directory, no age key)."""
    target = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops", "age.key"))
    return target


def edit(inv_dir: Path, old: str, new: str) -> Path:
    """Replace the first ``old`` in the copy's homeops.yaml (which must hold it) by ``new``."""
    path = inv_dir / "homeops.yaml"
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))
    return path
