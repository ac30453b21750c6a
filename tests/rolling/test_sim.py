"""Done-when tests against homeops.sim: the production observer, adapters and executor drive the
simulated cluster through its fake talosctl/kubectl and host shims; assertions read the sim's log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeops.errors import GateFailed, HomeopsError, PlanError, WaitTimeout

from .simrig import SimRig, make_sim_rig

CPS = ["k8s-0", "k8s-1", "k8s-2"]


@pytest.fixture
def rig(tmp_path: Path) -> SimRig:
    return make_sim_rig(tmp_path)


def versions(rig: SimRig) -> dict[str, str]:
    return {name: node["talos_version"] for name, node in rig.state["nodes"].items()}


def test_happy_path_three_cps_three_workers(rig: SimRig) -> None:
    leader = rig.state["etcd"]["leader"]
    outcome = rig.executor().run(rig.plan(), yes=True)

    assert outcome.status == "finished"
    order = rig.upgraded()
    assert order[:3] == [n for n in CPS if n != leader] + [leader]  # control planes first, leader last
    assert sorted(order[3:]) == ["k8s-3", "k8s-4", "k8s-5"] and len(order) == 6
    assert set(versions(rig).values()) == {"v1.11.6"}
    for argv in rig.log("talosctl", "upgrade"):
        image = argv[argv.index("--image") + 1]
        assert image.startswith("factory.talos.dev/metal-installer/ce4c9805") and image.endswith(":v1.11.6")
        assert "--wait=false" in argv
    # The etcd snapshot (and the VM snapshot of every node) happened before the first upgrade.
    talos_subs = [a[1] for a in rig.log("talosctl")]
    assert talos_subs.index("etcd") < talos_subs.index("upgrade")
    snapshot = Path(json.loads(outcome.report_json.read_text())["artifacts"]["etcd_snapshot"])  # type: ignore[union-attr]
    assert snapshot.stat().st_size > 0
    vms = rig.state["pve"]["hosts"]
    assert all(
        any(s["name"].startswith("homeops-") for s in vm.get("snapshots", []))
        for host in vms.values()
        for vm in host["vms"].values()
        if vm.get("talos", True) and vm["name"].startswith("k8s")
    )
    report = json.loads(outcome.report_json.read_text())  # type: ignore[union-attr]
    upgrades = [s for s in report["steps"] if s["action"] == "upgrade"]
    assert [(s["before"], s["after"]) for s in upgrades] == [("v1.10.9", "v1.11.6")] * 6
    assert (outcome.report.parent / "report.md").read_text().count("| upgrade | done |") == 6  # type: ignore[union-attr]


def test_node_never_returns(rig: SimRig) -> None:
    plan = rig.plan()
    first = next(s.node for s in plan.steps if s.action == "upgrade")
    rig.fault("node-never-returns", first)
    with pytest.raises(WaitTimeout) as info:
        rig.executor().run(plan, yes=True)
    assert first in str(info.value) and "--resume" in str(info.value) and "qm rollback" in str(info.value)
    assert rig.upgraded() == [first]
    assert versions(rig)[first] == "v1.10.9" and {v for n, v in versions(rig).items() if n != first} == {"v1.10.9"}


def test_node_rollback_fails_fast(rig: SimRig) -> None:
    plan = rig.plan()
    first = next(s.node for s in plan.steps if s.action == "upgrade")
    rig.fault("node-rollback", first)
    with pytest.raises(GateFailed, match=r"rolled back") as info:
        rig.executor().run(plan, yes=True)
    assert first in str(info.value)
    assert rig.upgraded() == [first]


def test_etcd_member_unhealthy_before_start(rig: SimRig) -> None:
    plan = rig.plan()
    rig.fault("etcd-unhealthy", "k8s-2")
    before = len(rig.state["log"])
    with pytest.raises(GateFailed, match=r"etcd") as info:
        rig.executor().run(plan, yes=True)
    assert "nothing was changed" in str(info.value)
    mutating = [e for e in rig.state["log"][before:] if e["argv"][1] in ("upgrade", "reboot", "apply-config")]
    assert mutating == [] and rig.upgraded() == []


def test_api_flapping_during_a_wait(rig: SimRig) -> None:
    plan = rig.plan()
    rig.after("upgrade", lambda: rig.fault("api-unreachable", seconds=60))  # while the first node reboots
    outcome = rig.executor().run(plan, yes=True)
    assert outcome.status == "finished" and len(rig.upgraded()) == 6
    assert "api" in rig.out.getvalue()  # the red look was reported while waiting


def test_transient_command_failures(rig: SimRig) -> None:
    plan = rig.plan()
    rig.fault("command-fails", tool="talosctl", times=3)
    rig.fault("command-fails", tool="kubectl", times=2)
    outcome = rig.executor().run(plan, yes=True)
    assert outcome.status == "finished"
    assert sorted(rig.upgraded()) == [f"k8s-{i}" for i in range(6)]  # each exactly once


def test_proxmox_host_down(rig: SimRig) -> None:
    rig.fault("pve-host-down", "pve2")
    with pytest.raises((GateFailed, PlanError)) as info:
        rig.executor().run(rig.plan(), yes=True)
    assert "pve2" in str(info.value)
    assert rig.upgraded() == []


def test_nas_degraded_before_start(rig: SimRig) -> None:
    plan = rig.plan()
    rig.fault("nas-pool-degraded")
    with pytest.raises(GateFailed, match=r"nas") as info:
        rig.executor().run(plan, yes=True)
    assert "DEGRADED" in str(info.value) and "nothing was changed" in str(info.value)
    assert rig.upgraded() == []


def test_nas_degraded_during_the_run_stops_before_the_next_node(rig: SimRig) -> None:
    plan = rig.plan()
    first = next(s.node for s in plan.steps if s.action == "upgrade")
    rig.after("upgrade", lambda: rig.fault("nas-pool-degraded"))
    with pytest.raises(GateFailed, match=r"nas") as info:
        rig.executor().run(plan, yes=True)
    assert "DEGRADED" in str(info.value) and "stopped before the next node" in str(info.value)
    assert rig.upgraded() == [first]
    assert versions(rig)[first] == "v1.11.6"  # the node itself finished; nothing else was touched


def test_errors_are_one_line_homeops_errors(rig: SimRig) -> None:
    rig.fault("etcd-alarm", "k8s-1")
    with pytest.raises(HomeopsError) as info:
        rig.executor().run(rig.plan(), yes=True)
    assert "\n" not in str(info.value) and "NOSPACE" in str(info.value)


def test_generate_config_then_apply_node_auto(rig: SimRig) -> None:
    from homeops.operations.genconfig import generate_config
    from homeops.operations.planners import Request, plan_apply

    text = generate_config(rig.runtime)
    assert "home-k8s-4.yaml (k8s-4)" in text
    request = Request(now=rig.runtime.clock.now(), nodes=("k8s-4",), mode="auto")
    plan = plan_apply(rig.inventory, rig.facts(), request, operation="apply-node")
    outcome = rig.executor().run(plan, yes=True)
    assert outcome.status == "finished"
    applied = [a for a in rig.log("talosctl", "apply-config")]
    assert len(applied) == 1 and applied[0][applied[0].index("--nodes") + 1] == "10.10.0.24"
    assert applied[0][-2:] == ["--mode", "auto"]
    assert rig.upgraded() == []


def test_upgrade_k8s_one_minor(tmp_path: Path) -> None:
    from homeops.operations.planners import Request, plan_upgrade_k8s

    rig = make_sim_rig(tmp_path, talos="v1.11.6")
    with rig.store.transaction() as state:  # the cluster runs Kubernetes one minor behind the talconfig
        for node in state["k8s"]["nodes"].values():
            node["kubelet_version"] = "v1.33.6"
        for node in state["nodes"].values():
            node["kubernetes_version"] = "v1.33.6"
        state["cluster"]["kubernetes_version"] = "v1.33.6"
    plan = plan_upgrade_k8s(rig.inventory, rig.facts(), Request(now=0), operation="upgrade-k8s")
    assert [s.action for s in plan.steps] == ["upgrade-k8s"]
    outcome = rig.executor().run(plan, yes=True)
    assert outcome.status == "finished"
    (call,) = rig.log("talosctl", "upgrade-k8s")
    assert call[call.index("--to") + 1] == "v1.34.2"
    assert {n["kubelet_version"].lstrip("v") for n in rig.state["k8s"]["nodes"].values()} == {"1.34.2"}


def test_etcd_snapshot_task_saves_verifies_and_copies_to_the_nas(rig: SimRig) -> None:
    from homeops.app.workflows import take_etcd_snapshot

    saved = take_etcd_snapshot(rig.runtime, rig.observer, to_nas=True)
    assert saved.path.is_file() and saved.size == saved.path.stat().st_size > 0
    assert saved.path.name.startswith("etcd-home-") and saved.source == rig.state["etcd"]["leader"]
    host, remote = (saved.nas or "").split(":", 1)
    copied = rig.store.dir / "hostfs" / host / remote.lstrip("/")
    assert host == "nas" and copied.read_bytes() == saved.path.read_bytes()
    assert f"{saved.size} bytes" in saved.describe()
