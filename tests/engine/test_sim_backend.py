"""The simulator is a backend the user must know about: sim.up and attach refuse to blur the worlds."""

from __future__ import annotations

from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from homeops.app.backend import open_runtime
from homeops.clock import FakeClock
from homeops.engine.journal import Journal
from homeops.engine.plan import Plan, Step
from homeops.errors import SimError
from homeops.inventory.loader import load_inventory
from homeops.sim import lifecycle
from homeops.sim.store import SimStore
from homeops.tasks import sim as sim_tasks
from homeops.tasks import talos as talos_tasks
from tests.rolling.simrig import example_copy


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    return example_copy(tmp_path)


def journal_of(inventory: Path, *, backend: str) -> Journal:
    inv = load_inventory(inventory)
    plan = Plan(
        operation="upgrade-cluster",
        cluster=inv.cluster.name,
        steps=(Step(id="k8s-1:upgrade", action="upgrade", summary="x"),),
    )
    return Journal.create(
        inv.state_dir, plan, FakeClock(), backend=backend, resume_command="inv talos.upgrade-cluster --resume"
    )


def test_sim_up_refuses_an_inventory_with_an_unfinished_real_run(inventory: Path) -> None:
    journal = journal_of(inventory, backend="real")
    journal.finish("failed", "k8s-1 did not come back")
    with pytest.raises(Exit) as info:
        sim_tasks.up(Context(), inventory=str(inventory), virtual=True)
    message = str(info.value.message)
    assert "unfinished run on the real cluster" in message and journal.run_id in message
    assert "inv talos.upgrade-cluster --resume" in message and "\n" not in message
    assert not SimStore(inventory / ".homeops" / "sim").exists()
    # Finished, it no longer stands in the way; an unfinished *simulated* run never did.
    journal.finish("finished")
    journal_of(inventory, backend="simulated")
    lifecycle.start(inventory, virtual=True, say=lambda _: None)
    assert SimStore(inventory / ".homeops" / "sim").exists()


def test_a_sim_left_behind_after_the_inventory_changed_is_reported_not_used(inventory: Path) -> None:
    lifecycle.start(inventory, talos_version="v1.10.9", virtual=True, say=lambda _: None)
    with open_runtime(inventory) as rt:
        assert rt.simulated
    homeops_yaml = inventory / "homeops.yaml"
    # Tuning policy between runs is ordinary: the same world, the same sim.
    homeops_yaml.write_text(homeops_yaml.read_text() + "\n# a comment changes no address\n")
    with open_runtime(inventory) as rt:
        assert rt.simulated
    # A host that now has another address may be the real one.
    homeops_yaml.write_text(homeops_yaml.read_text().replace("address: 10.10.0.2,", "address: 10.10.0.12,"))
    with pytest.raises(SimError, match=r"was started for other nodes or hosts than .*homeops.yaml"):
        open_runtime(inventory)
    store = SimStore(inventory / ".homeops" / "sim")
    before = len(store.read()["log"])
    with pytest.raises(Exit) as info:
        talos_tasks.upgrade_cluster(Context(), yes=True, inventory=str(inventory))
    assert "sim.down" in str(info.value.message)
    assert len(store.read()["log"]) == before  # nothing went to the simulator (nor anywhere else)
    sim_tasks.down(Context(), inventory=str(inventory))
    assert not store.exists()


def test_a_sim_state_without_a_fingerprint_is_said_out_loud(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = lifecycle.start(inventory, talos_version="v1.10.9", virtual=True, say=lambda _: None)
    with store.transaction() as state:
        del state["inventory_fingerprint"]  # a state made by hand, or by a homeops before fingerprints
    with open_runtime(inventory) as rt:
        assert rt.simulated
    assert "warning: SIMULATED:" in capsys.readouterr().err
