"""The backend of a run, chosen in this one place: the real cluster or the simulator.

The rule: an inventory whose state dir holds a simulated cluster (``inv sim.up`` wrote
``<state_dir>/sim/state.json``) is run against that simulator — the fake tools first on PATH, the
hosts reached the way the simulator says (``homeops.sim.attach``, which refuses a simulator made for
other nodes or hosts). Any other inventory is run against the real cluster: the tools on PATH, the
hosts over SSH. ``Runtime.backend`` then says which, and every line of a simulated run says
SIMULATED (``banner``).

Tests and benches that run the simulator's tools in-process swap ``open_runtime`` here; every
orchestrator looks it up through this module when it is called, so one swap reaches them all.
"""

from __future__ import annotations

import os
from pathlib import Path

from homeops.clock import Clock, SystemClock
from homeops.engine.executor import SIMULATED
from homeops.inventory.loader import load_inventory
from homeops.inventory.model import Inventory
from homeops.runners import LocalRunner
from homeops.runtime import Runtime
from homeops.sim.lifecycle import sim_dir


def simulated(inventory: Inventory) -> bool:
    """True when a simulated cluster is up for ``inventory``: the rule that picks the backend."""
    return (sim_dir(inventory) / "state.json").is_file()


def open_runtime(inventory_dir: str | os.PathLike[str], *, clock: Clock | None = None) -> Runtime:
    """The inventory at ``inventory_dir`` and the runners of its backend (close it, or use ``with``)."""
    inventory = load_inventory(Path(inventory_dir))
    if simulated(inventory):
        from homeops.sim.attach import attach

        return attach(inventory, sim_dir(inventory), clock=clock)
    return Runtime(inventory=inventory, local=LocalRunner(), clock=clock or SystemClock())


def banner(runtime: Runtime) -> str:
    """What every line of a run on ``runtime`` starts with: SIMULATED on the simulator, nothing on the real one."""
    return SIMULATED if runtime.simulated else ""
