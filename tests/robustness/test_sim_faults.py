"""Defect 8, simulator part: a pool that does not exist is refused, and with --virtual a manual
recovery is followed by time passing before the next command (so --resume can get past preflight)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE_INVENTORY
from tests.robustness.conftest import run_inv


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    target = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops"))
    hm = target / "homeops.yaml"
    text = hm.read_text().replace("vmSnapshot: true", "vmSnapshot: false")
    hm.write_text(text.replace("rebootTimeout: 900", "rebootTimeout: 60"))
    up = run_inv("sim.up", "--inventory", str(target), "--virtual")
    assert up.code == 0, up
    return target


def test_unknown_pool_is_refused(inv: Path) -> None:
    ran = run_inv("sim.fault", "nas-pool-degraded", "--target", "nopool", "--inventory", str(inv))
    assert ran.crashed is None
    assert ran.code != 0 and "nopool" in ran.err and "\n" not in ran.err.strip(), ran.err


def test_resume_after_manual_recovery_in_virtual_time(inv: Path) -> None:
    assert run_inv("sim.fault", "node-never-returns", "--target", "k8s-4", "--inventory", str(inv)).code == 0
    first = run_inv("talos.reboot-node", "--node", "k8s-4", "--yes", "--inventory", str(inv))
    assert first.crashed is None and first.code != 0, first
    # the operator power-cycles the VM by hand
    cycled = run_inv("pve.vm", "--node", "k8s-4", "reboot", "--yes", "--inventory", str(inv))
    assert cycled.code == 0, cycled
    resumed = run_inv("talos.reboot-node", "--node", "k8s-4", "--yes", "--resume", "--inventory", str(inv))
    assert resumed.crashed is None and resumed.code == 0, resumed


def test_times_and_seconds_reach_the_fault_as_numbers(inv: Path) -> None:
    """Defect 12/8: `sim.fault command-fails --times 3` raised TypeError ('<' between str and int);
    `--seconds abc` was stored and surfaced later as a ValueError inside an upgrade error."""
    ran = run_inv("sim.fault", "command-fails", "--tool", "talosctl", "--times", "3", "--inventory", str(inv))
    assert ran.crashed is None and ran.code == 0, ran
    assert "(x3)" in ran.out
    ran = run_inv("sim.fault", "node-slow-ready", "--target", "k8s-3", "--seconds", "abc", "--inventory", str(inv))
    assert ran.code == 2 and ran.err.startswith("error: --seconds:"), ran
