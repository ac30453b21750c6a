"""The example inventory on a simulated cluster, driven in-process (SimRunner, in-process host shims).

Production code runs unchanged: the planners, the ``ClusterObserver`` with the real adapters, the
executor. Only the runners and the clock come from ``homeops.sim``.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from homeops.app.runs import node_executor
from homeops.clock import Clock
from homeops.engine.executor import Executor
from homeops.engine.plan import Plan
from homeops.engine.progress import PlainProgress
from homeops.inventory.loader import load_inventory
from homeops.inventory.model import Gates, Inventory
from homeops.operations.observe import ClusterObserver, cluster_facts
from homeops.operations.planners import Request, plan_upgrade
from homeops.runners import Result, Runner
from homeops.runtime import Runtime
from homeops.sim import faults
from homeops.sim.clock import SimClock
from homeops.sim.hosts import local_host_runner
from homeops.sim.runner import SimRunner
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventory"

#: Core gates plus the host gates the faults exercise; Flux/VolSync/custom stay off for speed.
FAST_GATES = Gates(proxmox=True, nas=True, flux=False, volsync=False, ceph=False, custom=())


def example_copy(tmp: Path) -> Path:
    target = tmp / "inventory"
    shutil.copytree(EXAMPLE, target, ignore=shutil.ignore_patterns(".homeops"))
    return target


class HookedRunner:
    """SimRunner plus hooks run after a matching command: inject a fault at a precise moment."""

    def __init__(self, inner: SimRunner) -> None:
        self.inner = inner
        self.target = inner.target
        self.hooks: list[tuple[str, Callable[[], None]]] = []
        self.watchers: list[Callable[[Sequence[str]], None]] = []
        self.calls = 0

    def after(self, words: str, hook: Callable[[], None]) -> None:
        self.hooks.append((words, hook))

    def run(self, argv: Sequence[str], **kwargs: Any) -> Result:
        self.calls += 1
        for watch in list(self.watchers):
            watch(argv)
        result = self.inner.run(argv, **kwargs)
        for words, hook in list(self.hooks):
            if all(w in argv for w in words.split()):
                self.hooks.remove((words, hook))
                hook()
        return result

    def close(self) -> None:
        self.inner.close()


def fast_example(tmp: Path) -> Path:
    """The example inventory with only the core and Proxmox gates and short windows (fewer tool calls)."""
    import yaml

    root = example_copy(tmp)
    config = yaml.safe_load((root / "homeops.yaml").read_text())
    config["upgrade"].update(
        stabilitySeconds=10,
        pollInterval=5,
        vmSnapshot=False,
        etcdSnapshotToNas=False,
        gates={"proxmox": True, "nas": False, "flux": False, "volsync": False, "ceph": False, "custom": []},
    )
    (root / "homeops.yaml").write_text(yaml.safe_dump(config))
    return root


@dataclass
class SimRig:
    inventory: Inventory
    store: SimStore
    runtime: Runtime
    observer: ClusterObserver
    out: io.StringIO

    @property
    def state(self) -> dict[str, Any]:
        return self.store.read()

    def log(self, tool: str = "talosctl", sub: str | None = None) -> list[list[str]]:
        return [e["argv"] for e in self.state["log"] if e["tool"] == tool and (sub is None or e["argv"][1] == sub)]

    def upgraded(self) -> list[str]:
        """Hostnames that were sent ``talosctl upgrade``, in order (from the sim's own command log)."""
        by_ip = {n.ip: n.hostname for n in self.inventory.nodes}
        return [by_ip[argv[argv.index("--nodes") + 1]] for argv in self.log("talosctl", "upgrade")]

    def after(self, words: str, hook: Callable[[], None]) -> None:
        """Run ``hook`` right after the first command containing all of ``words`` (once)."""
        local = self.runtime.local
        assert isinstance(local, HookedRunner)
        local.after(words, hook)

    def fault(self, name: str, target: str | None = None, *, times: int | None = None, **params: Any) -> None:
        with self.store.transaction() as state:
            faults.inject(state, name, target, params=params or None, times=times)

    def facts(self) -> Any:
        return cluster_facts(self.observer, self.inventory)

    def plan(self, **request: Any) -> Plan:
        return plan_upgrade(
            self.inventory, self.facts(), Request(now=self.runtime.clock.now(), **request), operation="upgrade-cluster"
        )

    def executor(self, clock: Clock | None = None) -> Executor:
        from homeops.backupstore import nas_store_backup

        return node_executor(
            self.inventory,
            self.observer,
            local=self.runtime.local,
            host=self.runtime.host,
            clock=clock or self.runtime.clock,
            progress=PlainProgress(self.out, clock=self.runtime.clock),
            out=self.out,
            uploader=lambda path: nas_store_backup(self.runtime, path).path,
        )


def make_sim_rig(
    tmp: Path,
    *,
    talos: str = "v1.10.9",
    client: str | None = None,
    clock_mode: str = "virtual",
    gates: Gates = FAST_GATES,
    config: dict[str, float] | None = None,
    **policy: Any,
) -> SimRig:
    root = example_copy(tmp)
    inventory = load_inventory(root)
    defaults: dict[str, Any] = {
        "stability_seconds": 10.0,
        "poll_interval": 5.0,
        "reboot_timeout": 180.0,
        "ready_timeout": 120.0,
        "gates": gates,
    }
    inventory = replace(inventory, policy=replace(inventory.policy, **{**defaults, **policy}))
    sim_dir = inventory.state_dir / "sim"
    store = SimStore(sim_dir)
    options = SimOptions(talos_version=talos, client_version=client, clock_mode=clock_mode, config=config or {})
    store.create(initial_state(inventory, options))
    runtime = in_process_runtime(inventory, HookedRunner(SimRunner(sim_dir)))
    return SimRig(inventory, store, runtime, ClusterObserver(runtime), io.StringIO())


def in_process_runtime(inventory: Inventory, local: Runner | None = None) -> Runtime:
    """The inventory's simulated cluster through the in-process tools and host shims (same outputs, faster)."""
    sim_dir = inventory.state_dir / "sim"
    return Runtime(
        inventory=inventory,
        local=local if local is not None else SimRunner(sim_dir),
        clock=SimClock(SimStore(sim_dir)),
        simulated=True,
        host_factory=lambda spec: local_host_runner(spec.name, sim_dir, in_process=True),
    )


def plan_upgrade_cluster(inv: Inventory, facts: Any, req: Request) -> Plan:
    return plan_upgrade(inv, facts, req, operation="upgrade-cluster")


def no_replan(rt: Runtime) -> Request:
    """The request of a ``--resume``: the journaled plan is executed, so asking for a new one is a bug."""
    raise AssertionError("resume must not re-plan")


def sigkill_upgrade_cluster(tmp: Path, root: Path, ready: Callable[[], bool], *, never: str) -> None:
    """Run the real ``inv talos.upgrade-cluster --yes`` as a child process and SIGKILL it once ``ready()``.

    Fails the test when inv exits on its own first, or when ``ready()`` is not true within 240 s (``never``).
    """
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    output = tmp / "inv.log"
    argv = [sys.executable, "-m", "invoke", "--search-root", str(REPO), "talos.upgrade-cluster", "--yes"]
    with output.open("w") as sink:
        proc = subprocess.Popen([*argv, "--inventory", str(root)], cwd=tmp, env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            if ready():
                break
            if proc.poll() is not None:
                pytest.fail(f"inv exited early ({proc.returncode}): {output.read_text()}")
            time.sleep(0.05)
        else:
            pytest.fail(never)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
