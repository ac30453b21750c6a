"""The `talos.*` tasks end to end: `inv` in a subprocess against a simulated example cluster."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from homeops.inventory.loader import load_inventory
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

from .simrig import example_copy, fast_example

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def inventory_dir(tmp_path: Path) -> Path:
    return simulated(example_copy(tmp_path))


@pytest.fixture
def fast_dir(tmp_path: Path) -> Path:
    return simulated(fast_example(tmp_path))


def simulated(root: Path) -> Path:
    inventory = load_inventory(root)
    SimStore(inventory.state_dir / "sim").create(initial_state(inventory, SimOptions(talos_version="v1.10.9")))
    return root


def inv(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args, "--inventory", str(root)],
        capture_output=True,
        text=True,
        env=env,
        cwd=root.parent,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def sim_log(root: Path) -> list[list[str]]:
    return [e["argv"] for e in SimStore(root / ".homeops" / "sim").read()["log"]]


def test_dry_run_prints_the_whole_plan_and_changes_nothing(inventory_dir: Path) -> None:
    done = inv(inventory_dir, "talos.upgrade-cluster", "--dry-run")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "Plan: upgrade-cluster on cluster 'home' → Talos v1.11.6" in out
    assert out.count("$ talosctl upgrade --talosconfig") == 6 and "--wait=false" in out
    assert "[pve2] qm snapshot 201 homeops-" in out and "talosctl etcd snapshot" in out
    assert "nfs-provisioner-ready" in out and "dry run: nothing was changed" in out
    assert not any(a[1] in ("upgrade", "reboot", "apply-config") for a in sim_log(inventory_dir))
    assert not (inventory_dir / ".homeops" / "runs").exists()


def test_mutating_task_without_a_terminal_needs_yes(inventory_dir: Path) -> None:
    done = inv(inventory_dir, "talos.reboot-node", "--node", "k8s-4")
    assert done.returncode == 1  # not 130: that is SIGINT's code (issue 10)
    assert done.stderr.strip().splitlines()[-1].startswith("error: confirmation needed but stdin is not a terminal")
    assert not any(a[1] == "reboot" for a in sim_log(inventory_dir))


def test_user_errors_are_one_line(inventory_dir: Path) -> None:
    done = inv(inventory_dir, "talos.upgrade-node", "--node", "k8s-9", "--dry-run")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    (line,) = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert "no node named or addressed 'k8s-9'" in line and "k8s-0=10.10.0.20" in line
    done = inv(inventory_dir, "talos.upgrade-cluster", "--resume", "--yes")
    assert done.returncode == 1 and "no earlier upgrade-cluster run to resume" in done.stderr


def test_health_lists_every_gate(inventory_dir: Path) -> None:
    done = inv(inventory_dir, "talos.health")
    assert done.returncode == 0, done.stdout + done.stderr
    for gate in (
        "talos-nodes",
        "etcd",
        "k8s-nodes",
        "api",
        "proxmox",
        "nas",
        "flux",
        "volsync",
        "nfs-provisioner-ready",
    ):
        assert gate in done.stdout
    assert "✗" not in done.stdout


def test_reboot_node_with_yes_reboots_it_and_writes_a_report(fast_dir: Path) -> None:
    inventory_dir = fast_dir
    done = inv(inventory_dir, "talos.reboot-node", "--node", "k8s-4", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert [a for a in sim_log(inventory_dir) if a[1] == "reboot"] == [
        [
            "talosctl",
            "reboot",
            "--talosconfig",
            str(inventory_dir / "talos/clusterconfig/talosconfig"),
            "--nodes",
            "10.10.0.24",
            "--wait=false",
        ]
    ]
    reports = list((inventory_dir / ".homeops" / "runs").glob("*-reboot-node/report.md"))
    assert len(reports) == 1 and "| k8s-4 | reboot | done |" in reports[0].read_text()
    assert "finished: reboot-node done" in done.stdout
