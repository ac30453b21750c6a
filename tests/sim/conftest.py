"""Fixtures for the simulator tests: a virtual-time simulated example cluster in a temp dir."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

from .simkit import Sim, example_inventory


@pytest.fixture
def make_sim(tmp_path: Path) -> Callable[..., Sim]:
    def make(**options: Any) -> Sim:
        inventory = example_inventory(tmp_path / "inventory")
        directory = tmp_path / "sim"
        state = initial_state(inventory, SimOptions(**options))
        SimStore(directory).create(state)
        return Sim(directory, inventory)

    return make


@pytest.fixture
def sim(make_sim: Callable[..., Sim]) -> Iterator[Sim]:
    yield make_sim()
