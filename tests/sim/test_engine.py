"""Simulated time: operations schedule transitions that apply lazily as time passes."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from homeops.errors import SimError
from homeops.sim import engine, faults
from homeops.sim.clock import SimClock
from homeops.sim.state import SimOptions, initial_state, one_minor_behind

from .simkit import Sim, example_inventory


def test_initial_state_mirrors_the_inventory(tmp_path):
    inventory = example_inventory(tmp_path)
    state = initial_state(inventory, SimOptions(talos_version="v1.10.9"))
    assert sorted(state["nodes"]) == [f"k8s-{i}" for i in range(6)]
    k1 = state["nodes"]["k8s-1"]
    assert (k1["ip"], k1["control_plane"], k1["talos_version"]) == ("10.10.0.21", True, "v1.10.9")
    assert k1["image"].endswith(":v1.10.9") and k1["vm"] == {"host": "pve2", "vmid": 201}
    members = state["etcd"]["members"]
    assert sorted(members) == ["k8s-0", "k8s-1", "k8s-2"]
    assert all(len(m["id"]) == 16 and int(m["id"], 16) for m in members.values())
    assert state["etcd"]["leader"] in members
    assert state["config"]["client_version"] == "v1.11.6"  # the talconfig's talosVersion
    nfs = [d for d in state["k8s"]["deployments"] if d["name"] == "nfs-subdir-external-provisioner"]
    assert nfs == [
        {"namespace": "kube-system", "name": "nfs-subdir-external-provisioner", "replicas": 1, "ready_replicas": 1}
    ]
    assert state["k8s"]["cephcluster"] is None
    assert initial_state(inventory, SimOptions(ceph=True))["k8s"]["cephcluster"]["health"] == "HEALTH_OK"
    assert state["pve"]["hosts"]["pve2"]["vms"]["201"]["status"] == "running"  # from homeops.sim.hosts
    assert state["nas"]["pools"][0]["status"] == "ONLINE"


def test_initial_state_is_deterministic(tmp_path):
    inventory = example_inventory(tmp_path)
    assert initial_state(inventory) == initial_state(inventory)
    assert initial_state(inventory) != initial_state(inventory, SimOptions(seed="other"))


def test_one_minor_behind():
    assert one_minor_behind("v1.11.6") == "v1.10.9"
    assert one_minor_behind("v1.20.1") == "v1.19.0"


def test_upgrade_lifecycle_goes_down_boots_new_version_and_becomes_ready(sim: Sim):
    with sim.mutate() as state:
        old_boot = state["nodes"]["k8s-1"]["boot_id"]
        engine.begin_reboot(state, "k8s-1", kind="upgrade", to_version="v1.11.6", to_image="img:v1.11.6")
        assert state["nodes"]["k8s-1"]["stage"] == "upgrading"
        assert not engine.is_down(state, state["nodes"]["k8s-1"])  # installer still running
    sim.advance(5)  # upgrade_seconds
    state = sim.state
    assert engine.is_down(state, state["nodes"]["k8s-1"])
    assert state["k8s"]["nodes"]["k8s-1"]["ready"] == "Unknown"
    assert not engine.etcd_members(state)["k8s-1"]["healthy"]
    assert engine.etcd_quorate(state) and engine.api_up(state)  # 2 of 3 members
    sim.advance(30)  # reboot_seconds
    node = sim.node("k8s-1")
    assert (node["talos_version"], node["stage"], node["ready"]) == ("v1.11.6", "booting", False)
    assert node["boot_id"] != old_boot
    sim.advance(15)  # ready_seconds
    node = sim.node("k8s-1")
    assert (node["stage"], node["ready"], node["pending"], node["image"]) == ("running", True, None, "img:v1.11.6")
    assert sim.state["k8s"]["nodes"]["k8s-1"]["ready"] == "True"
    assert engine.etcd_members(sim.state)["k8s-1"]["healthy"]


def test_leader_moves_off_a_rebooting_node(sim: Sim):
    with sim.mutate() as state:
        leader = state["etcd"]["leader"]
        engine.begin_reboot(state, leader, kind="reboot", delay=0)
    sim.advance(0.1)
    state = sim.state
    assert state["etcd"]["leader"] not in (None, leader)


def test_losing_two_control_planes_loses_quorum_and_the_api(sim: Sim):
    with sim.mutate() as state:
        engine.begin_reboot(state, "k8s-0", kind="reboot", delay=0)
        engine.begin_reboot(state, "k8s-1", kind="reboot", delay=0)
    sim.advance(1)
    assert not engine.etcd_quorate(sim.state)
    assert not engine.api_up(sim.state)


@pytest.mark.parametrize(
    ("fault", "params", "check"),
    [
        ("node-never-returns", {}, lambda n: n["pending"]["back_at"] is None and n["stage"] == "rebooting"),
        ("node-rollback", {}, lambda n: n["talos_version"] == "v1.11.6" and n["ready"]),
        ("node-slow-ready", {"seconds": 100}, lambda n: n["stage"] == "booting" and not n["ready"]),
    ],
)
def test_node_faults_shape_the_next_reboot(make_sim: Callable[..., Sim], fault, params, check):
    sim = make_sim(talos_version="v1.11.6")
    with sim.mutate() as state:
        faults.inject(state, fault, "k8s-4", params=params)
        engine.begin_reboot(state, "k8s-4", kind="upgrade", to_version="v1.12.0")
    sim.advance(5 + 30 + 15 + 1)
    assert check(sim.node("k8s-4"))
    assert sim.state["faults"] == []  # one-shot: consumed by that reboot


def test_vm_stopped_then_started_is_a_cold_boot(sim: Sim):
    boot = sim.node("k8s-3")["boot_id"]
    with sim.mutate() as state:
        state["pve"]["hosts"]["pve1"]["vms"]["203"]["status"] = "stopped"
        engine.advance(state)
        assert engine.is_down(state, state["nodes"]["k8s-3"])
    with sim.mutate() as state:
        state["pve"]["hosts"]["pve1"]["vms"]["203"]["status"] = "running"
    sim.advance(0.1)
    assert engine.is_down(sim.state, sim.node("k8s-3"))
    sim.advance(50)
    node = sim.node("k8s-3")
    assert node["ready"] and node["boot_id"] != boot


def test_pve_host_down_takes_its_vms_down(sim: Sim):
    with sim.mutate() as state:
        faults.inject(state, "pve-host-down", "pve3")
        engine.advance(state)
        down = sorted(h for h, n in state["nodes"].items() if engine.is_down(state, n))
    assert down == ["k8s-2", "k8s-5"]  # the VMs on pve3


def test_sim_clock_virtual_sleep_advances_state_time_without_waiting(sim: Sim):
    clock = SimClock(sim.store)
    start_wall = time.monotonic()
    t0, m0 = clock.now(), clock.monotonic()
    clock.sleep(3600)
    assert clock.now() - t0 == pytest.approx(3600)
    assert clock.monotonic() - m0 == pytest.approx(3600)
    assert time.monotonic() - start_wall < 2


def test_sim_clock_virtual_sleep_applies_transitions(sim: Sim):
    with sim.mutate() as state:
        engine.begin_reboot(state, "k8s-3", kind="reboot", delay=0)
    SimClock(sim.store).sleep(100)
    assert sim.node("k8s-3")["ready"]


def test_sim_clock_real_mode_follows_the_wall_clock(make_sim: Callable[..., Sim]):
    sim = make_sim(clock_mode="real")
    clock = SimClock(sim.store)
    assert abs(clock.now() - time.time()) < 1
    clock.sleep(0)  # a zero sleep returns at once in either mode


def test_unknown_fault_and_bad_target_are_one_line_sim_errors(sim: Sim):
    with sim.mutate() as state:
        with pytest.raises(SimError, match=r"unknown fault 'node-explodes'.*known faults: node-never-returns"):
            faults.inject(state, "node-explodes", "k8s-1")
        with pytest.raises(SimError, match=r"no simulated node 'k8s-9'.*known nodes: k8s-0"):
            faults.inject(state, "node-rollback", "k8s-9")
        with pytest.raises(SimError, match="k8s-4 is not a control-plane node"):
            faults.inject(state, "etcd-unhealthy", "k8s-4")
        with pytest.raises(SimError, match="needs a target"):
            faults.inject(state, "pve-host-down")
        with pytest.raises(SimError, match="does not take seconds"):
            faults.inject(state, "etcd-alarm", "k8s-0", params={"seconds": 3})


def test_faults_are_listed_and_cleared_by_name_target_or_all(sim: Sim):
    with sim.mutate() as state:
        faults.inject(state, "etcd-unhealthy", "10.10.0.21")  # an IP names the node too
        faults.inject(state, "nfs-stopped")
        faults.inject(state, "command-fails", params={"tool": "kubectl"}, times=2)
        assert [(f["name"], f["target"], f["remaining"]) for f in faults.listing(state)] == [
            ("etcd-unhealthy", "k8s-1", None),
            ("nfs-stopped", None, None),
            ("command-fails", None, 2),
        ]
        assert state["nas"]["services"]["nfs"]["state"] == "STOPPED"
        assert faults.clear(state, "nfs-stopped") == 1
        assert state["nas"]["services"]["nfs"]["state"] == "RUNNING"
        assert faults.clear(state) == 2
        assert state["faults"] == []


def test_api_unreachable_for_seconds_expires(sim: Sim):
    with sim.mutate() as state:
        faults.inject(state, "api-unreachable", params={"seconds": 40})
        assert not engine.api_up(state)
    sim.advance(39)
    assert not engine.api_up(sim.state)
    sim.advance(2)
    assert engine.api_up(sim.state)
