"""Fixtures: a blank (maintenance-mode) simulated example cluster, driven through the fake tools."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sim.simkit import Sim, example_inventory

from homeops.sim.bootstrap import blank
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore


@pytest.fixture
def make_blank(tmp_path: Path) -> Callable[..., Sim]:
    def make(**config: Any) -> Sim:
        inventory = example_inventory(tmp_path / "inventory")
        directory = tmp_path / "sim"
        state = blank(initial_state(inventory, SimOptions(config=config)))
        SimStore(directory).create(state)
        return Sim(directory, inventory)

    return make


@pytest.fixture
def blank_sim(make_blank: Callable[..., Sim]) -> Sim:
    return make_blank()


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    """A running (not blank) simulated example cluster."""
    inventory = example_inventory(tmp_path / "inventory")
    directory = tmp_path / "sim"
    SimStore(directory).create(initial_state(inventory, SimOptions()))
    return Sim(directory, inventory)
