from __future__ import annotations

from pathlib import Path

import pytest

from tests.inprocess import fake_tools_in_process

from .drsim import DrSim


@pytest.fixture
def drsim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> DrSim:
    # The workflows' CLI paths are under test here, the fake tools' own argv parsing is not (tests/sim
    # runs them as processes): in-process tools give the same outputs without a Python start per command.
    fake_tools_in_process(monkeypatch)
    return DrSim(tmp_path / "inventory")
