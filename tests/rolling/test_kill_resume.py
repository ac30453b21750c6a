"""SIGKILL the real `inv talos.upgrade-cluster` in the middle of a control-plane upgrade, then
`--resume`: the run finishes and every node was sent `talosctl upgrade` exactly once (sim log)."""

from __future__ import annotations

import collections
import io
from pathlib import Path

import pytest

from homeops.app.runs import Options, run_operation
from homeops.errors import LockHeld
from homeops.operations.planners import Request
from homeops.runtime import Runtime
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

from .simrig import fast_example, in_process_runtime, no_replan, plan_upgrade_cluster, sigkill_upgrade_cluster


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

    def second_control_plane_away() -> bool:
        # Kill once the second control plane's upgrade was sent and that node is still away.
        state = store.read()
        sent = upgrade_targets(store)
        return len(sent) >= 2 and sent[1] in cps and state["nodes"][sent[1]]["pending"]

    sigkill_upgrade_cluster(tmp_path, root, second_control_plane_away, never="the control-plane upgrade never started")
    killed_at = upgrade_targets(store)
    assert len(killed_at) == 2 and killed_at[1] in cps

    # Resume in-process on the same simulated cluster (in-process tools: same outputs, faster).
    runtime = in_process_runtime(inventory)

    def fresh(rt: Runtime) -> Request:
        return Request(now=rt.clock.now())

    # A fresh run is refused: the killed run's lock is stale and names its process.
    with pytest.raises(LockHeld, match=r"stale lock"):
        run_operation(
            root, "upgrade-cluster", plan_upgrade_cluster, fresh, Options(yes=True), runtime=runtime, out=io.StringIO()
        )

    resume = Options(yes=True, resume=True)
    outcome = run_operation(
        root, "upgrade-cluster", plan_upgrade_cluster, no_replan, resume, runtime=runtime, out=io.StringIO()
    )
    assert outcome.status == "finished"
    counts = collections.Counter(upgrade_targets(store))
    assert counts == {n.hostname: 1 for n in inventory.nodes}, counts
    assert {n["talos_version"] for n in store.read()["nodes"].values()} == {"v1.11.6"}
    # A second --resume reports the finished run instead of redoing it.
    again = run_operation(
        root, "upgrade-cluster", plan_upgrade_cluster, no_replan, resume, runtime=runtime, out=io.StringIO()
    )
    assert again.status == "already-finished"
    assert collections.Counter(upgrade_targets(store)) == counts
