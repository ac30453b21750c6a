"""Attach homeops to a running simulated cluster: the ``Runtime`` that production code gets.

``homeops.app.backend.open_runtime`` calls ``attach`` when ``<state_dir>/sim/state.json`` exists. The
local runner finds the fake tools first on ``PATH``; hosts are reached over real SSH when the sim
started OpenSSH containers (``state["hosts_transport"]``), else through the host shims' logic run
in-process (no SSH, no process per command).

The simulator is a backend the user must know they are on. A sim state records a fingerprint of
the inventory files it was made for (``sim.state.inventory_fingerprint``); ``attach`` refuses one
whose inventory changed since (its hosts may be real now), and says so when a state has none.
``sim.up`` refuses an inventory with an unfinished journal of a real run
(``refuse_unfinished_real_run``): the sim would hide the cluster that run left half-changed.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from homeops.clock import Clock
from homeops.errors import SimError
from homeops.inventory.model import Inventory, SshHost
from homeops.runners import LocalRunner, Runner
from homeops.runtime import HostRunnerFactory, Runtime
from homeops.sim.clock import SimClock
from homeops.sim.state import inventory_fingerprint
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


def check_fingerprint(inventory: Inventory, state: dict[str, Any], sim_dir: Path) -> None:
    """Refuse a sim whose inventory changed since ``sim.up``; say so when the state does not tell."""
    seen = state.get("inventory_fingerprint")
    down = f"`inv sim.down --inventory {inventory.root}`"
    if seen is None:
        print(
            f"warning: SIMULATED: {sim_dir} holds a simulated cluster with no record of the inventory it was "
            f"started for; every command goes to the simulator (remove it with {down})",
            file=sys.stderr,
        )
    elif seen != inventory_fingerprint(inventory):
        raise SimError(
            f"the simulated cluster in {sim_dir} was started for other nodes or hosts than "
            f"{inventory.root / 'homeops.yaml'} names now: "
            "its hosts may be real now, so nothing is sent to the simulator or to them",
            hint=f"remove it with {down}, or start it again with `inv sim.up`",
        )


def refuse_unfinished_real_run(inventory: Inventory) -> None:
    """``sim.up`` must not hide a real cluster that a real run left half-changed."""
    base = inventory.state_dir / "runs"
    for path in sorted(base.glob("*/journal.json")) if base.is_dir() else ():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get("status") == "finished":
            continue
        # A journal from before the backend was recorded cannot be told apart: it counts as real.
        if data.get("backend", "real") == "real":
            resume = data.get("resume_command") or "the task that started it with --resume"
            raise SimError(
                f"{inventory.root} has an unfinished run on the real cluster ({data.get('run_id')}, "
                f"{data.get('operation')}, {data.get('status')}): a simulated cluster here would hide it",
                hint=f"finish it with `{resume}`, or move {path.parent} aside first",
            )


def attach(inventory: Inventory, sim_dir: str | os.PathLike[str], *, clock: Clock | None = None) -> Runtime:
    directory = Path(sim_dir).resolve()
    store = SimStore(directory)
    state = store.read(include_log=False)
    check_fingerprint(inventory, state, directory)
    return Runtime(
        inventory=inventory,
        local=LocalRunner(env=sim_env(directory)),
        clock=clock or SimClock.for_command(store),
        simulated=True,
        host_factory=host_factory(state, directory),
    )
