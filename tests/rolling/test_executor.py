"""The executor against the in-memory fake cluster: order, waits, gates, failures, journal, resume."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from homeops.app.runs import resume_command
from homeops.engine.journal import Journal
from homeops.engine.lock import ClusterLock
from homeops.errors import Aborted, GateFailed, LockHeld, PlanError, WaitTimeout

from .conftest import Rig
from .fakes import Fault


def upgraded_order(rig: Rig) -> list[str]:
    return [c.node or "" for c in rig.cluster.mutations("upgrade")]


def test_happy_path_upgrades_cps_one_at_a_time_leader_last_then_workers(rig: Rig) -> None:
    plan = rig.plan()
    outcome = rig.executor.run(plan, yes=True)

    assert outcome.status == "finished"
    assert upgraded_order(rig) == ["k8s-1", "k8s-2", "k8s-0", "k8s-3", "k8s-4", "k8s-5"]
    assert {f.version for f in rig.cluster.fleet.values()} == {"v1.11.6"}
    # Each upgrade was sent while every other control plane was healthy and every gate green.
    for record in rig.cluster.mutations("upgrade"):
        assert record.cps_unavailable == ()
        assert record.red_gates == ()
    # The etcd snapshot came before the first control-plane change, from the leader.
    actions = [c.action for c in rig.cluster.commands]
    assert actions.index("etcd-snapshot") < actions.index("upgrade")
    assert "--nodes 10.10.0.20" in rig.cluster.mutations("etcd-snapshot")[0].line
    report = json.loads(outcome.report_json.read_text())  # type: ignore[union-attr]
    assert report["status"] == "finished"
    upgrades = [s for s in report["steps"] if s["action"] == "upgrade"]
    assert [(s["before"], s["after"]) for s in upgrades] == [("v1.10.9", "v1.11.6")] * 6
    assert all(s["gates"] for s in upgrades)
    assert "| k8s-0 | upgrade | done | v1.10.9 | v1.11.6 |" in outcome.report.read_text()  # type: ignore[union-attr]


def test_installer_image_comes_from_talconfig_never_the_default(rig: Rig) -> None:
    rig.executor.run(rig.plan(), yes=True)
    for record in rig.cluster.mutations("upgrade"):
        assert "--image factory.talos.dev/metal-installer/ce4c9805" in record.line
        assert record.line.endswith(":v1.11.6 --wait=false")
        assert "ghcr.io/siderolabs/installer" not in record.line


def test_stability_window_and_waits_use_the_injected_clock(rig: Rig) -> None:
    rig.executor.run(rig.plan(), yes=True)
    # 6 nodes × (5 s upgrade + 30 s reboot + 15 s ready + 10 s stability) of fake time, no real sleeping.
    assert rig.clock.monotonic() >= 6 * 60
    assert rig.clock.monotonic() < 6 * 60 + 6 * 15  # poll overhead stays under one poll interval per phase


def test_workers_batched_never_two_of_one_proxmox_host(rig_factory) -> None:
    rig = rig_factory(control_planes=3, workers=6, hosts=3, max_unavailable=3)
    plan = rig.plan()
    worker_batches = [b for b in plan.batches() if not any(s.control_plane for s in b)]
    assert [len(b) for b in worker_batches] == [3, 3]
    for batch in worker_batches:
        hosts = [s.vm_host for s in batch]
        assert len(hosts) == len(set(hosts))
    rig.executor.run(plan, yes=True)
    # Workers of one batch went down together: their upgrade commands share a timestamp.
    times = [c.t for c in rig.cluster.mutations("upgrade") if c.node in {s.node for s in worker_batches[0]}]
    assert len(set(times)) == 1


def test_dry_run_prints_the_plan_and_changes_nothing(rig: Rig) -> None:
    outcome = rig.executor.run(rig.plan(), dry_run=True)
    assert outcome.status == "dry-run"
    assert rig.cluster.commands == []
    text = rig.out.getvalue()
    assert "talosctl upgrade --talosconfig" in text and "--wait=false" in text
    assert "Preflight gates" in text and "etcd" in text
    assert not (rig.inventory.state_dir / "runs").exists()


def test_declined_confirmation_aborts_before_anything(rig: Rig) -> None:
    rig.executor.confirm = lambda question: False
    with pytest.raises(Aborted, match=r"nothing was changed"):
        rig.executor.run(rig.plan())
    assert rig.cluster.commands == []


def test_node_never_returns_stops_with_timeout_and_touches_nothing_else(rig: Rig) -> None:
    rig.cluster.faults.append(Fault("never-returns", "k8s-1"))
    with pytest.raises(WaitTimeout) as info:
        rig.executor.run(rig.plan(), yes=True)
    assert upgraded_order(rig) == ["k8s-1"]
    message = str(info.value)
    assert "k8s-1" in message and "boot ID" in message
    assert "--resume" in message and "etcd snapshot" in message
    journal = Journal.latest(rig.inventory.state_dir, "upgrade-cluster", rig.clock)
    assert journal is not None and journal.status == "failed"
    assert journal.step("k8s-1:upgrade@v1.11.6").status == "failed"


def test_rollback_to_old_version_fails_fast(rig: Rig) -> None:
    rig.cluster.faults.append(Fault("rollback", "k8s-1"))
    with pytest.raises(GateFailed) as info:
        rig.executor.run(rig.plan(), yes=True)
    assert "rolled back" in str(info.value) and "k8s-1" in str(info.value)
    assert upgraded_order(rig) == ["k8s-1"]
    # Failed as soon as the node was back, not after the ready timeout.
    assert rig.clock.monotonic() < 5 + 30 + 15 + 2 * 5 + 10


def test_etcd_unhealthy_before_start_refuses_and_sends_nothing(rig: Rig) -> None:
    rig.cluster.faults.append(Fault("etcd-unhealthy", "k8s-2"))
    with pytest.raises(GateFailed, match=r"etcd") as info:
        rig.executor.run(rig.plan(), yes=True)
    assert "nothing was changed" in str(info.value)
    assert rig.cluster.commands == []


def test_api_flapping_during_a_wait_is_tolerated(rig: Rig) -> None:
    # The API VIP disappears while k8s-1 reboots and comes back later: the run must simply wait.
    rig.cluster.faults.append(Fault("api-down", start=20, end=70))
    outcome = rig.executor.run(rig.plan(), yes=True)
    assert outcome.status == "finished"
    assert len(upgraded_order(rig)) == 6


def test_transient_command_failures_are_retried(rig: Rig) -> None:
    rig.cluster.faults.append(Fault("command-fails", times=2))
    rig.cluster.faults.append(Fault("observe-fails", times=2))
    outcome = rig.executor.run(rig.plan(), yes=True)
    assert outcome.status == "finished"
    assert len(upgraded_order(rig)) == 6


def test_proxmox_host_down_refuses_before_start(rig: Rig) -> None:
    rig.cluster.faults.append(Fault("pve-down", "pve2"))
    with pytest.raises(PlanError) as info:
        rig.executor.run(rig.plan(), yes=True)
    assert "k8s-1" in str(info.value) and "pve2" in str(info.value) and "nothing was changed" in str(info.value)
    assert rig.cluster.commands == []


def test_nas_degraded_between_nodes_stops_before_the_next(rig: Rig) -> None:
    rig.cluster.faults.append(Fault("nas-degraded", start=10))
    with pytest.raises(GateFailed, match=r"nas") as info:
        rig.executor.run(rig.plan(), yes=True)
    assert "DEGRADED" in str(info.value)
    assert upgraded_order(rig) == ["k8s-1"]


def test_resume_after_crash_finishes_without_repeating_a_node(rig: Rig, monkeypatch) -> None:
    plan = rig.plan()
    original = rig.cluster.run
    sent = []

    def crash_after_second_upgrade(argv, **kwargs):
        result = original(argv, **kwargs)
        if "upgrade" in argv:
            sent.append(argv)
            if len(sent) == 2:
                raise KeyboardInterrupt  # stands in for SIGKILL right after the command left
        return result

    monkeypatch.setattr(rig.cluster, "run", crash_after_second_upgrade)
    with pytest.raises(Aborted, match=r"--resume"):
        rig.executor.run(plan, yes=True)
    monkeypatch.setattr(rig.cluster, "run", original)
    journal = Journal.latest(rig.inventory.state_dir, "upgrade-cluster", rig.clock)
    assert journal is not None and journal.status == "interrupted"

    outcome = rig.executor.run(journal.plan(), yes=True, resume=journal)
    assert outcome.status == "finished"
    assert sorted(upgraded_order(rig)) == sorted(f"k8s-{i}" for i in range(6))  # each exactly once
    again = rig.executor.run(journal.plan(), yes=True, resume=journal)
    assert again.status == "already-finished"
    assert len(upgraded_order(rig)) == 6


def test_second_run_is_refused_while_the_lock_is_held(rig: Rig) -> None:
    other = ClusterLock(rig.inventory.state_dir, "home", operation="upgrade-node")
    holder = other.acquire()
    try:
        import os

        # A lock from another live process of this host (simulate by rewriting the pid to our parent).
        data = json.loads(other.path.read_text())
        data["pid"] = os.getppid()
        data["pid_start"] = ""
        other.path.write_text(json.dumps(data))
        with pytest.raises(LockHeld, match=r"locked by") as info:
            rig.executor.run(rig.plan(), yes=True)
        assert holder.user in str(info.value) and "upgrade-node" in str(info.value)
    finally:
        other.path.unlink()
    assert rig.cluster.commands == []


def test_already_at_target_is_skipped_and_reported(rig_factory) -> None:
    rig = rig_factory(version="v1.11.6")
    plan = rig.plan()
    assert plan.empty
    assert len(plan.skipped) == 6 and "already at v1.11.6" in plan.skipped[0][1]
    assert rig.executor.run(plan, yes=True).status == "nothing"
    assert rig.cluster.commands == []


def test_resume_after_a_node_was_fixed_does_not_upgrade_it_again(rig: Rig) -> None:
    rig.cluster.faults.append(Fault("never-returns", "k8s-1"))
    with pytest.raises(WaitTimeout):
        rig.executor.run(rig.plan(), yes=True)
    # The operator repairs the VM: the node boots the new image and is healthy again.
    rig.cluster.faults.clear()
    fake = rig.cluster.fleet["k8s-1"]
    now = rig.clock.monotonic()
    fake.back_at, fake.ready_at = now, now + 1
    rig.clock.advance(2)
    journal = Journal.latest(rig.inventory.state_dir, "upgrade-cluster", rig.clock)
    assert journal is not None and journal.status == "failed"
    outcome = rig.executor.run(journal.plan(), yes=True, resume=journal)
    assert outcome.status == "finished"
    assert sorted(upgraded_order(rig)) == sorted(f"k8s-{i}" for i in range(6))  # k8s-1 only once
    assert journal.step("k8s-1:upgrade@v1.11.6").data["resumed_after_failure"] is True


def test_resume_hint_names_a_non_default_inventory(rig: Rig) -> None:
    rig.cluster.faults.append(Fault("never-returns", "k8s-1"))
    with pytest.raises(WaitTimeout) as info:
        rig.executor.run(rig.plan(), yes=True)
    root = rig.inventory.root
    assert f"continue with: inv talos.upgrade-cluster --resume --inventory {root}" in str(info.value)


def test_resume_command_omits_the_default_inventory_and_quotes_others(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = f"talos.{rig.plan().operation}"
    monkeypatch.chdir(tmp_path)
    default = dataclasses.replace(rig.inventory, root=Path("./inventory"))
    assert resume_command(task, default.root) == "inv talos.upgrade-cluster --resume"
    absolute = dataclasses.replace(rig.inventory, root=tmp_path / "inventory")
    assert resume_command(task, absolute.root) == "inv talos.upgrade-cluster --resume"
    spaced = dataclasses.replace(rig.inventory, root=Path("my lab"))
    assert resume_command(task, spaced.root) == "inv talos.upgrade-cluster --resume --inventory 'my lab'"
