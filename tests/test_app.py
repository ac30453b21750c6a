"""The composition root: the backend rule in one place, and the run's watchers reaching the executor."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from homeops.app import backend, policies, runs, workflows
from homeops.app.options import Options
from homeops.app.runs import executor_for
from homeops.engine.events import Failed, RunEvent
from homeops.engine.executor import Executor
from homeops.errors import PlanError
from homeops.operations.observe import ClusterObserver
from homeops.sim import lifecycle
from tests.rolling.simrig import example_copy


class Heard:
    name = "heard"

    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def on_event(self, event: RunEvent) -> None:
        self.events.append(event)


def test_the_backend_is_the_simulator_only_when_its_state_is_there(tmp_path: Path) -> None:
    inventory = example_copy(tmp_path)
    with backend.open_runtime(inventory) as rt:
        assert (rt.simulated, rt.backend, backend.banner(rt)) == (False, "real", "")
    # a sim directory without its state (the fake tools' bin/ left behind) does not make a simulator
    (inventory / ".homeops" / "sim" / "bin").mkdir(parents=True)
    with backend.open_runtime(inventory) as rt:
        assert rt.backend == "real"
    lifecycle.start(inventory, virtual=True, say=lambda _: None)
    assert (lifecycle.sim_dir(rt.inventory) / "state.json").is_file()
    with backend.open_runtime(inventory) as rt:
        assert (rt.simulated, rt.backend) == (True, "simulated")
        assert backend.banner(rt) == "SIMULATED"  # the progress and the plan print it as [SIMULATED]


def test_the_callers_listeners_come_after_the_inventorys_and_reach_the_executor(tmp_path: Path) -> None:
    inventory = example_copy(tmp_path)
    lifecycle.start(inventory, virtual=True, say=lambda _: None)
    heard = Heard()
    with backend.open_runtime(inventory) as rt:
        watching = policies.watchers(rt, Options(), out=io.StringIO(), listeners=[heard])
        assert watching.listeners[-1] is heard
        executor = executor_for(rt, ClusterObserver(rt), out=io.StringIO(), listeners=[heard])
        assert executor.backend == "simulated"
        assert executor.listeners[0].name == "progress" and executor.listeners[-1] is heard


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_a_resume_with_nothing_to_resume_is_told_to_the_listeners_with_or_without_a_new_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, timeout: float | None
) -> None:
    # volsync's --resume --timeout once read the journal itself, past plan_or_resume: with no earlier
    # run it raised without the Failed(stage="plan") every other refused resume tells (notify: etc.)
    inventory = example_copy(tmp_path)
    lifecycle.start(inventory, virtual=True, say=lambda _: None)
    heard = Heard()

    def hearing(*args: Any, **kwargs: Any) -> Executor:
        return runs.executor_for(*args, listeners=[heard], **kwargs)

    monkeypatch.setattr(workflows, "executor_for", hearing)
    with pytest.raises(PlanError, match=r"no earlier volsync\.backup run to resume"):
        workflows.run_backup(
            inventory,
            "default",
            "immich-data",
            timeout=timeout,
            options=Options(resume=True, yes=True),
            out=io.StringIO(),
        )
    failed = [e for e in heard.events if isinstance(e, Failed)]
    assert [(e.stage, e.run.operation) for e in failed] == [("plan", "volsync-backup")]
    assert "no earlier volsync.backup run" in failed[0].error
