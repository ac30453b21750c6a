"""SIGKILL the real `inv talos.upgrade-cluster` after it suspended tuppr and sent its first upgrade, then
`--resume`: tuppr stays suspended while the run is dead and is restored by the resumed run's last step.

tuppr 0.5.0: ``internal/constants/constants.go:12`` (the suspend annotation), ``api/v1alpha1/shared_types.go:155``
(the active phases; Pending is idle).
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from homeops.app.runs import Options, run_operation
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

from .simrig import fast_example, in_process_runtime, no_replan, plan_upgrade_cluster, sigkill_upgrade_cluster

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

    def upgrade_sent() -> bool:
        return any(e["tool"] == "talosctl" and e["argv"][1] == "upgrade" for e in store.read()["log"])

    sigkill_upgrade_cluster(tmp_path, root, upgrade_sent, never="the upgrade never started")
    assert suspended(store) == {"talos": "homeops"}  # the dead run leaves it suspended, never half-restored

    runtime = in_process_runtime(inventory)
    resume = Options(yes=True, resume=True)
    outcome = run_operation(
        root, "upgrade-cluster", plan_upgrade_cluster, no_replan, resume, runtime=runtime, out=io.StringIO()
    )
    assert outcome.status == "finished"
    assert suspended(store) == {"talos": None}
    assert annotations(store) == [f"{SUSPEND}=homeops", f"{SUSPEND}-"]
