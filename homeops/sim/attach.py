"""Attach homeops to a running simulated cluster: the ``Runtime`` that production code gets.

``homeops.runtime.open_runtime`` calls ``attach`` when ``<state_dir>/sim/state.json`` exists. The
local runner finds the fake tools first on ``PATH``; hosts are reached over real SSH when the sim
started OpenSSH containers (``state["hosts_transport"]``), else through the host shims' logic run
in-process (no SSH, no process per command).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from homeops.clock import Clock
from homeops.inventory.model import Inventory, SshHost
from homeops.runners import LocalRunner, Runner
from homeops.runtime import HostRunnerFactory, Runtime
from homeops.sim.clock import SimClock
from homeops.sim.store import SimStore
from homeops.sim.tools import write_bin_dir


def sim_env(sim_dir: Path) -> dict[str, str]:
    """The environment the fake tools need: their directory first on PATH, and where the state is."""
    bin_dir = sim_dir / "bin"
    if not (bin_dir / "talosctl").is_file():
        write_bin_dir(bin_dir)
    return {"PATH": str(bin_dir) + os.pathsep + os.environ.get("PATH", ""), "HOMEOPS_SIM_DIR": str(sim_dir)}


def host_factory(state: dict[str, Any], sim_dir: Path) -> HostRunnerFactory:
    transport: dict[str, dict[str, Any]] = state.get("hosts_transport") or {}

    def factory(spec: SshHost) -> Runner:
        via = transport.get(spec.name)
        if via:
            from homeops.ssh import SshRunner

            return SshRunner(
                SshHost(
                    name=spec.name,
                    address=str(via["address"]),
                    kind=spec.kind,
                    port=int(via["port"]),
                    user="root",
                    identity=Path(via["identity"]),
                    known_hosts=Path(via["known_hosts"]),
                    connect_timeout=5.0,
                )
            )
        from homeops.sim.hosts import local_host_runner

        # In-process: the same shim logic and log as over SSH, without a Python start per command.
        runner: Runner = local_host_runner(spec.name, sim_dir, in_process=True)
        return runner

    return factory


def attach(inventory: Inventory, sim_dir: str | os.PathLike[str], *, clock: Clock | None = None) -> Runtime:
    directory = Path(sim_dir).resolve()
    store = SimStore(directory)
    state = store.read(include_log=False)
    return Runtime(
        inventory=inventory,
        local=LocalRunner(env=sim_env(directory)),
        clock=clock or SimClock.for_command(store),
        simulated=True,
        host_factory=host_factory(state, directory),
    )
