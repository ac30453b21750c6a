"""The bootstrap as users run it: `inv sim.up --blank`, then `task bootstrap:talos`, `task bootstrap:apps`,
`task reconcile` through the real `task` binary (and `inv bootstrap.all` through `inv`), in subprocesses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INV = str(Path(sys.executable).with_name("inv"))
TASK = shutil.which("task") or str(Path(sys.executable).with_name("task"))
MUTATING = {
    "talosctl": ("apply-config", "bootstrap", "kubeconfig"),
    "kubectl": ("apply",),
    "helmfile": ("sync",),
    "talhelper": ("genconfig",),
}


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "TALOSCONFIG")}
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=600, env=env)


def _mutations(inventory: Path) -> list[list[str]]:
    entries = [json.loads(line) for line in (inventory / ".homeops" / "sim" / "log.jsonl").read_text().splitlines()]
    return [e["argv"] for e in entries if any(w in e["argv"] for w in MUTATING.get(e["tool"], ()))]


@pytest.fixture
def blank(tmp_path: Path) -> Path:
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory", inventory, ignore=shutil.ignore_patterns(".homeops", "kubeconfig"))
    shutil.copy(REPO / "tasks.py", tmp_path / "tasks.py")
    proc = _run([INV, "sim.up", "--blank", "--virtual", "--inventory", str(inventory)], tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "maintenance" in proc.stdout and "API: DOWN" in proc.stdout
    return inventory


@pytest.mark.slow
def test_task_bootstrap_talos_apps_and_reconcile_through_the_real_task(blank: Path):
    args = ["--", "--inventory", str(blank), "--yes"]
    for name in ("bootstrap:talos", "bootstrap:apps"):
        proc = _run([TASK, name, f"INV={INV}", *args], REPO)
        assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
        assert f"finished: bootstrap-{name.split(':')[1]} done" in proc.stdout
    proc = _run([TASK, "reconcile", f"INV={INV}", "--", "--inventory", str(blank)], REPO)
    assert proc.returncode == 0, proc.stderr[-1500:]
    assert "[SIMULATED] flux-system/flux-system: applied revision" in proc.stdout
    status = _run([INV, "cluster.status", "--inventory", str(blank)], blank.parent)
    assert status.returncode == 0, status.stdout[-2000:]


@pytest.mark.slow
def test_inv_bootstrap_all_then_again_changes_nothing(blank: Path):
    proc = _run([INV, "bootstrap.all", "--inventory", str(blank), "--yes"], blank.parent)
    assert proc.returncode == 0, proc.stdout[-1500:] + proc.stderr[-1500:]
    assert "[SIMULATED] [" in proc.stdout and "finished: bootstrap-all done" in proc.stdout
    status = _run([INV, "cluster.status", "--inventory", str(blank)], blank.parent)
    assert status.returncode == 0 and "healthy" in status.stdout
    flux = _run([INV, "flux.status", "--inventory", str(blank)], blank.parent)
    assert flux.returncode == 0 and "Flux objects Ready" in flux.stdout
    before = len(_mutations(blank))
    again = _run([INV, "bootstrap.all", "--inventory", str(blank), "--yes"], blank.parent)
    assert again.returncode == 0 and "nothing to do: the cluster is already bootstrapped" in again.stdout
    assert len(_mutations(blank)) == before
