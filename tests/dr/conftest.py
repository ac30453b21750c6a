from __future__ import annotations

from pathlib import Path

import pytest

from .drsim import DrSim


@pytest.fixture
def drsim(tmp_path: Path) -> DrSim:
    return DrSim(tmp_path / "inventory")
