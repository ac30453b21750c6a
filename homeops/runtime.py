"""The wiring of one homeops invocation: inventory + runners + clock.

``open_runtime(inventory_dir)`` loads the inventory and builds the runners every task uses:
``local`` for talosctl/kubectl/… and ``host(name)`` for the SSH hosts (one pooled runner per host).

When a simulated cluster is up for this inventory (``inv sim.up`` wrote
``<state_dir>/sim/state.json``), the runtime puts the simulator's tool directory first on PATH and
reaches the hosts the way the simulator says (its OpenSSH containers, or the shims over a local
runner). The code paths are otherwise the same: adapters and planners do not know.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from homeops.clock import Clock, SystemClock
from homeops.inventory.model import Inventory, SshHost
from homeops.runners import LocalRunner, Runner

HostRunnerFactory = Callable[[SshHost], Runner]


@dataclass
class Runtime:
    inventory: Inventory
    local: Runner
    clock: Clock = field(default_factory=SystemClock)
    simulated: bool = False
    host_factory: HostRunnerFactory | None = None
    _hosts: dict[str, Runner] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def host(self, name: str) -> Runner:
        """The (pooled, cached) runner for the SSH host ``name``."""
        spec = self.inventory.host(name)
        with self._lock:
            runner = self._hosts.get(name)
            if runner is None:
                factory = self.host_factory or _ssh_factory
                runner = factory(spec)
                self._hosts[name] = runner
            return runner

    def close(self) -> None:
        with self._lock:
            runners = list(self._hosts.values())
            self._hosts.clear()
        for runner in runners:
            runner.close()
        self.local.close()

    def __enter__(self) -> Runtime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ssh_factory(host: SshHost) -> Runner:
    from homeops.ssh import SshRunner

    return SshRunner(host)


def sim_dir(inventory: Inventory) -> Path:
    return inventory.state_dir / "sim"


def open_runtime(inventory_dir: str | os.PathLike[str], *, clock: Clock | None = None) -> Runtime:
    from homeops.inventory.loader import load_inventory

    inventory = load_inventory(Path(inventory_dir))
    directory = sim_dir(inventory)
    if (directory / "state.json").is_file():
        from homeops.sim.attach import attach

        return attach(inventory, directory, clock=clock)
    return Runtime(inventory=inventory, local=LocalRunner(), clock=clock or SystemClock())
