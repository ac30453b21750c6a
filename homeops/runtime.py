"""What one homeops invocation acts through: the inventory, its runners and the clock.

``local`` runs talosctl/kubectl/… and ``host(name)`` is the runner of an SSH host (one pooled runner
per host). ``homeops.app.backend.open_runtime`` builds one for the real cluster, and
``homeops.sim.attach`` one for the simulator (``backend`` says which); adapters and planners do not
know the difference.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from homeops.clock import Clock, SystemClock
from homeops.inventory.model import Inventory, SshHost
from homeops.runners import Runner

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

    @property
    def backend(self) -> str:
        """``"simulated"`` or ``"real"``: what the journal, the events and every line of a run say."""
        return "simulated" if self.simulated else "real"

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
