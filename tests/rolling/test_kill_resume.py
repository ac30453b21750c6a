"""SIGKILL the real `inv talos.upgrade-cluster` in the middle of a control-plane upgrade, then
`--resume`: the run finishes and every node was sent `talosctl upgrade` exactly once (sim log)."""

from __future__ import annotations

import collections
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeops.app.runs import Options, run_operation
from homeops.errors import LockHeld
from homeops.operations.planners import Request, plan_upgrade
from homeops.runtime import Runtime
from homeops.sim.clock import SimClock
from homeops.sim.hosts import local_host_runner
from homeops.sim.runner import SimRunner
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

from .simrig import fast_example

REPO = Path(__file__).resolve().parents[2]


def upgrade_targets(store: SimStore) -> list[str]:
    state = store.read()
    by_ip = {n["ip"]: name for name, n in state["nodes"].items()}
    return [
        by_ip[e["argv"][e["argv"].index("--nodes") + 1]]
        for e in state["log"]
        if e["tool"] == "talosctl" and e["argv"][1] == "upgrade"
    ]


@pytest.mark.slow
def test_sigkill_mid_control_plane_upgrade_then_resume(tmp_path: Path) -> None:
    from homeops.inventory.loader import load_inventory

    root = fast_example(tmp_path)
    inventory = load_inventory(root)
    store = SimStore(inventory.state_dir / "sim")
    store.create(initial_state(inventory, SimOptions(talos_version="v1.10.9")))
    cps = {n.hostname for n in inventory.control_planes}

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    output = tmp_path / "inv.log"
    argv = [sys.executable, "-m", "invoke", "--search-root", str(REPO), "talos.upgrade-cluster", "--yes"]
    with output.open("w") as sink:
        proc = subprocess.Popen([*argv, "--inventory", str(root)], cwd=tmp_path, env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            state = store.read()
            sent = upgrade_targets(store)
            # Kill once the second control plane's upgrade was sent and that node is still away.
            if len(sent) >= 2 and sent[1] in cps and state["nodes"][sent[1]]["pending"]:
                break
            if proc.poll() is not None:
                pytest.fail(f"inv exited early ({proc.returncode}): {output.read_text()}")
            time.sleep(0.05)
        else:
            pytest.fail("the control-plane upgrade never started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    killed_at = upgrade_targets(store)
    assert len(killed_at) == 2 and killed_at[1] in cps

    def request(rt):  # not used by --resume (the journaled plan is executed), required by the API
        raise AssertionError("resume must not re-plan")

    def planner(inv, facts, req):
        return plan_upgrade(inv, facts, req, operation="upgrade-cluster")

    # Resume in-process on the same simulated cluster (in-process tools: same outputs, faster).
    sim_dir = inventory.state_dir / "sim"
    runtime = Runtime(
        inventory=inventory,
        local=SimRunner(sim_dir),
        clock=SimClock(store),
        simulated=True,
        host_factory=lambda spec: local_host_runner(spec.name, sim_dir, in_process=True),
    )

    def fresh(rt: Runtime) -> Request:
        return Request(now=rt.clock.now())

    # A fresh run is refused: the killed run's lock is stale and names its process.
    with pytest.raises(LockHeld, match=r"stale lock"):
        run_operation(root, "upgrade-cluster", planner, fresh, Options(yes=True), runtime=runtime, out=io.StringIO())

    resume = Options(yes=True, resume=True)
    outcome = run_operation(root, "upgrade-cluster", planner, request, resume, runtime=runtime, out=io.StringIO())
    assert outcome.status == "finished"
    counts = collections.Counter(upgrade_targets(store))
    assert counts == {n.hostname: 1 for n in inventory.nodes}, counts
    assert {n["talos_version"] for n in store.read()["nodes"].values()} == {"v1.11.6"}
    # A second --resume reports the finished run instead of redoing it.
    again = run_operation(root, "upgrade-cluster", planner, request, resume, runtime=runtime, out=io.StringIO())
    assert again.status == "already-finished"
    assert collections.Counter(upgrade_targets(store)) == counts
