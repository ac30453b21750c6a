"""SIGKILL the real `inv talos.upgrade-cluster` after it suspended tuppr and sent its first upgrade, then
`--resume`: tuppr stays suspended while the run is dead and is restored by the resumed run's last step.

tuppr 0.5.0: ``internal/constants/constants.go:12`` (the suspend annotation), ``api/v1alpha1/shared_types.go:155``
(the active phases; Pending is idle).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeops.app.runs import Options, run_operation
from homeops.operations.planners import Request, plan_upgrade
from homeops.runtime import Runtime
from homeops.sim.clock import SimClock
from homeops.sim.hosts import local_host_runner
from homeops.sim.runner import SimRunner
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

from .simrig import fast_example

REPO = Path(__file__).resolve().parents[2]
SUSPEND = "tuppr.home-operations.com/suspend"


def suspended(store: SimStore) -> dict[str, str | None]:
    return {r["name"]: (r.get("annotations") or {}).get(SUSPEND) for r in store.read()["k8s"]["tuppr"]}


def annotations(store: SimStore) -> list[str]:
    log = store.read()["log"]
    return [
        e["argv"][e["argv"].index("annotate") + 3] for e in log if e["tool"] == "kubectl" and "annotate" in e["argv"]
    ]


@pytest.mark.slow
def test_sigkill_after_tuppr_was_suspended_then_resume_restores_it(tmp_path: Path) -> None:
    from homeops.inventory.loader import load_inventory

    root = fast_example(tmp_path)
    inventory = load_inventory(root)
    store = SimStore(inventory.state_dir / "sim")
    store.create(initial_state(inventory, SimOptions(talos_version="v1.10.9")))
    with store.transaction() as state:
        state["k8s"]["tuppr"] = [{"kind": "TalosUpgrade", "name": "talos", "phase": "Pending"}]

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    output = tmp_path / "inv.log"
    argv = [sys.executable, "-m", "invoke", "--search-root", str(REPO), "talos.upgrade-cluster", "--yes"]
    with output.open("w") as sink:
        proc = subprocess.Popen([*argv, "--inventory", str(root)], cwd=tmp_path, env=env, stdout=sink, stderr=sink)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            log = store.read()["log"]
            if any(e["tool"] == "talosctl" and e["argv"][1] == "upgrade" for e in log):
                break
            if proc.poll() is not None:
                pytest.fail(f"inv exited early ({proc.returncode}): {output.read_text()}")
            time.sleep(0.05)
        else:
            pytest.fail("the upgrade never started")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert suspended(store) == {"talos": "homeops"}  # the dead run leaves it suspended, never half-restored

    sim_dir = inventory.state_dir / "sim"
    runtime = Runtime(
        inventory=inventory,
        local=SimRunner(sim_dir),
        clock=SimClock(store),
        simulated=True,
        host_factory=lambda spec: local_host_runner(spec.name, sim_dir, in_process=True),
    )

    def request(rt: Runtime) -> Request:
        raise AssertionError("resume must not re-plan")

    def planner(inv, facts, req):  # type: ignore[no-untyped-def]
        return plan_upgrade(inv, facts, req, operation="upgrade-cluster")

    resume = Options(yes=True, resume=True)
    outcome = run_operation(root, "upgrade-cluster", planner, request, resume, runtime=runtime, out=io.StringIO())
    assert outcome.status == "finished"
    assert suspended(store) == {"talos": None}
    assert annotations(store) == [f"{SUSPEND}=homeops", f"{SUSPEND}-"]
