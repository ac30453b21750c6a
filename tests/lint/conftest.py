from __future__ import annotations

from pathlib import Path

import pytest

from tests.lint.lint_helpers import BJWS, writable_copy


@pytest.fixture
def bjws_copy(tmp_path: Path) -> Path:
    """A writable copy of the bjw-s tree (the shared one is read-only)."""
    return writable_copy(BJWS, tmp_path / "bjw-s")
