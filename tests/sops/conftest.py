"""Fixtures for the SOPS tests (helpers live in sops_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sops_helpers import AgeKey, make_key


@pytest.fixture
def age_key(tmp_path: Path) -> AgeKey:
    keys = tmp_path / "keys"
    keys.mkdir()
    return make_key(keys)


@pytest.fixture
def other_key(tmp_path: Path) -> AgeKey:
    keys = tmp_path / "otherkeys"
    keys.mkdir()
    return make_key(keys)
