"""`inv pve.vm` through the engine: journal and report, the cluster lock, and the etcd-quorum gate."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

import homeops.app.backend
import homeops.clock
import homeops.runtime
from homeops.engine.journal import Journal
from homeops.engine.lock import ClusterLock
from homeops.runtime import Runtime
from homeops.sim.hosts import local_host_runner
from homeops.sim.store import SimStore
from homeops.tasks import pve as pve_tasks
from tests.hosts.simkit import make_inventory, new_sim, runtime_with


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[SimStore, Path]:
    inventory = make_inventory(tmp_path)
    store = new_sim(tmp_path / "sim", inventory)

    def open_runtime(directory: object, **_: object) -> Runtime:
        return runtime_with(inventory, lambda host: local_host_runner(host.name, tmp_path / "sim", in_process=True))

    monkeypatch.setattr(homeops.app.backend, "open_runtime", open_runtime)
    return store, inventory.state_dir


def vm_status(store: SimStore, host: str, vmid: int) -> str:
    return str(store.read()["pve"]["hosts"][host]["vms"][str(vmid)]["status"])


def test_snapshot_with_yes_writes_a_journal_and_a_report(lab: tuple[SimStore, Path], capsys) -> None:
    store, state_dir = lab
    pve_tasks.vm(Context(), "snapshot", node="k8s-1", yes=True)
    journal = Journal.latest(state_dir, "pve-vm-snapshot", homeops.clock.SystemClock())
    assert journal is not None and journal.status == "finished"
    report = json.loads((journal.directory / "report.json").read_text())
    (step,) = report["steps"]
    assert (step["node"], step["action"], step["status"]) == ("k8s-1", "vm-snapshot", "done")
    name = journal.artifacts["vm_snapshot k8s-1"]
    assert name.startswith("homeops-") and name.endswith("Z")  # the one snapshot namer's stamp
    assert name in [s["name"] for s in store.read()["pve"]["hosts"]["pve2"]["vms"]["201"]["snapshots"]]
    assert capsys.readouterr().out.endswith("done: snapshot k8s-1 (VM 201 on pve2)\n")


def test_two_at_once_are_locked(lab: tuple[SimStore, Path]) -> None:
    store, state_dir = lab
    # Another live run (our parent process stands in for it) holds the cluster lock, e.g. upgrade-cluster.
    other = ClusterLock(state_dir, "home", operation="upgrade-cluster")
    other.acquire()
    data = json.loads(other.path.read_text())
    data["pid"], data["pid_start"] = os.getppid(), ""
    other.path.write_text(json.dumps(data))
    try:
        for action in ("stop", "snapshot"):
            with pytest.raises(Exit) as info:
                pve_tasks.vm(Context(), action, node="k8s-5", yes=True)
            assert "locked by" in str(info.value.message) and "upgrade-cluster" in str(info.value.message)
    finally:
        other.path.unlink()
    assert vm_status(store, "pve3", 205) == "running"
    assert all(e["argv"][1] in ("status", "get") for e in store.read()["log"])  # qm status, pvesh get: reads


def test_stopping_a_second_of_three_control_planes_is_refused(lab: tuple[SimStore, Path]) -> None:
    store, _ = lab
    pve_tasks.vm(Context(), "stop", node="k8s-0", yes=True)  # 2 of 3 left: etcd keeps quorum
    assert vm_status(store, "pve1", 200) == "stopped"
    with pytest.raises(Exit) as info:
        pve_tasks.vm(Context(), "stop", node="k8s-1", yes=True)
    message = str(info.value.message)
    assert "gate 'etcd-quorum' failed" in message and "1 of 3 control planes running" in message
    assert "etcd would lose quorum" in message and "--allow-quorum-loss" in message
    assert "\n" not in message
    assert vm_status(store, "pve2", 201) == "running"
    # A worker is not an etcd member: no quorum question.
    pve_tasks.vm(Context(), "shutdown", node="k8s-4", yes=True)
    assert vm_status(store, "pve2", 204) == "stopped"


def test_allow_quorum_loss_overrides_and_the_report_says_what_was_red(lab: tuple[SimStore, Path], capsys) -> None:
    store, state_dir = lab
    pve_tasks.vm(Context(), "stop", node="k8s-0", yes=True)
    capsys.readouterr()
    pve_tasks.vm(Context(), "stop", node="k8s-1", dry_run=True, allow_quorum_loss=True)
    assert "--allow-quorum-loss: etcd-quorum (k8s-1) is only reported" in capsys.readouterr().out
    assert vm_status(store, "pve2", 201) == "running"
    pve_tasks.vm(Context(), "stop", node="k8s-1", yes=True, allow_quorum_loss=True)
    assert vm_status(store, "pve2", 201) == "stopped"
    journal = Journal.latest(state_dir, "pve-vm-stop", homeops.clock.SystemClock())
    assert journal is not None
    report = (journal.directory / "report.md").read_text()
    assert "## Reported only (allowed red)" in report and "etcd would lose quorum" in report


def test_the_look_before_sending_skips_a_vm_already_as_wanted(lab: tuple[SimStore, Path]) -> None:
    from homeops.app.runs import executor_for
    from homeops.operations.observe import ClusterObserver
    from homeops.operations.vm import plan_vm, plan_vm_action

    store, _ = lab
    with homeops.app.backend.open_runtime("x") as rt:
        decided = plan_vm_action(rt, "k8s-3", "shutdown")  # planned while running
        pve_tasks.vm(Context(), "stop", node="k8s-3", yes=True)  # someone else stopped it meanwhile
        before = len(store.read()["log"])
        outcome = executor_for(rt, ClusterObserver(rt), out=io.StringIO()).run(plan_vm(rt.inventory, decided), yes=True)
    assert outcome.status == "finished" and outcome.journal is not None
    assert outcome.journal.step("k8s-3:vm-shutdown").data["already"] is True
    assert [e["argv"][1] for e in store.read()["log"][before:]] == ["status"]  # looked, sent nothing
