"""`inv cluster.status` end to end against the simulated example cluster, as a user runs it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_INVENTORY, REPO


def inv(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=REPO, capture_output=True, text=True, timeout=180
    )


@pytest.fixture
def simulated(tmp_path: Path) -> Path:
    inventory = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, inventory, ignore=shutil.ignore_patterns(".homeops"))
    up = inv("sim.up", "--inventory", str(inventory))
    assert up.returncode == 0, up.stderr
    yield inventory
    inv("sim.down", "--inventory", str(inventory))


def test_status_of_a_healthy_cluster(simulated: Path) -> None:
    proc = inv("cluster.status", "--inventory", str(simulated), "--json")
    assert proc.returncode == 0, proc.stderr
    status = json.loads(proc.stdout)
    assert status["healthy"] is True and status["simulated"] is True
    assert [n["hostname"] for n in status["nodes"]] == [f"k8s-{i}" for i in range(6)]
    assert all(n["stage"] == "running" and n["ready"] and n["k8sReady"] for n in status["nodes"])
    assert {n["version"] for n in status["nodes"]} == {"v1.11.6"}
    assert len(status["etcd"]["members"]) == 3 and status["etcd"]["leader"] in {"k8s-0", "k8s-1", "k8s-2"}
    assert status["proxmox"]["quorate"] is True
    assert [h["host"] for h in status["proxmox"]["hosts"]] == ["pve1", "pve2", "pve3"]
    assert status["nas"]["ok"] is True


def test_status_shows_a_down_proxmox_host_and_its_nodes_and_exits_1(simulated: Path) -> None:
    fault = inv("sim.fault", "pve-host-down", "--target", "pve2", "--inventory", str(simulated))
    assert fault.returncode == 0, fault.stderr
    proc = inv("cluster.status", "--inventory", str(simulated), "--json")
    assert proc.returncode == 1
    status = json.loads(proc.stdout)
    assert status["healthy"] is False
    down = {n["hostname"] for n in status["nodes"] if not n["reachable"]}
    assert down == {"k8s-1", "k8s-4"}  # the two VMs on pve2
    pve2 = next(h for h in status["proxmox"]["hosts"] if h["host"] == "pve2")
    assert pve2["reachable"] is False and pve2["error"]
    unhealthy = [m for m in status["etcd"]["members"] if not m["healthy"]]
    assert [m["hostname"] for m in unhealthy] == ["k8s-1"]
    # the human view says the same, without a traceback
    text = inv("cluster.status", "--inventory", str(simulated))
    assert text.returncode == 1
    assert "NOT healthy" in text.stdout and "pve2 DOWN" in text.stdout
    assert "Traceback" not in text.stderr


def test_status_without_an_inventory_is_a_one_line_error(tmp_path: Path) -> None:
    proc = inv("cluster.status", "--inventory", str(tmp_path / "nope"))
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "nope" in proc.stderr
