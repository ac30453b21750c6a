"""The go-task shim maps the classic home-ops commands onto inv tasks (tested with the real `task`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

TASK = shutil.which("task") or str(Path(sys.executable).with_name("task"))


@pytest.fixture
def recorder(tmp_path: Path) -> tuple[Path, Path]:
    """A stand-in for `inv` that records the argv it was given."""
    log = tmp_path / "argv.jsonl"
    script = tmp_path / "inv"
    script.write_text(
        f"#!{sys.executable}\nimport json, sys\nopen({str(log)!r}, 'a').write(json.dumps(sys.argv[1:]) + '\\n')\n"
    )
    script.chmod(0o755)
    return script, log


def run_task(*args: str, inv: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TASK, *args, f"INV={inv}"], cwd=REPO, capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["talos:upgrade-node", "IP=10.10.0.21"], ["talos.upgrade-node", "--node", "10.10.0.21"]),
        (
            ["talos:apply-node", "IP=10.10.0.22", "MODE=staged"],
            ["talos.apply-node", "--node", "10.10.0.22", "--mode", "staged"],
        ),
        (["talos:apply-node", "IP=10.10.0.22"], ["talos.apply-node", "--node", "10.10.0.22", "--mode", "auto"]),
        (["talos:upgrade-k8s"], ["talos.upgrade-k8s"]),
        (["talos:generate-config"], ["talos.generate-config"]),
        (["talos:reboot-node", "IP=k8s-1"], ["talos.reboot-node", "--node", "k8s-1"]),
        (["talos:upgrade-cluster"], ["talos.upgrade-cluster"]),
        (["reconcile"], ["flux.reconcile", "--with-source"]),
        (["bootstrap:talos"], ["bootstrap.talos"]),
        (["bootstrap:apps"], ["bootstrap.apps"]),
    ],
)
def test_classic_commands_map_to_inv_tasks(recorder: tuple[Path, Path], args: list[str], expected: list[str]) -> None:
    inv, log = recorder
    proc = run_task(*args, inv=inv)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(log.read_text().splitlines()[-1]) == expected


def test_extra_flags_pass_through_after_double_dash(recorder: tuple[Path, Path]) -> None:
    inv, log = recorder
    proc = subprocess.run(
        [TASK, "talos:upgrade-node", "IP=10.10.0.21", f"INV={inv}", "--", "--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(log.read_text()) == ["talos.upgrade-node", "--node", "10.10.0.21", "--dry-run"]


def test_missing_ip_is_refused_before_anything_runs(recorder: tuple[Path, Path]) -> None:
    inv, log = recorder
    proc = run_task("talos:upgrade-node", inv=inv)
    assert proc.returncode != 0
    assert "IP" in proc.stderr
    assert not log.exists()


def test_every_mapped_inv_task_exists() -> None:
    """No shim may point at a task that homeops does not have."""
    import yaml

    from homeops.tasks import ns

    names = set(ns.task_names)
    tasks = yaml.safe_load((REPO / "Taskfile.yaml").read_text())["tasks"]
    for name, spec in tasks.items():
        cmd = spec["cmd"]
        target = cmd.split("}}", 1)[1].split()[0] if "}}" in cmd else cmd.split()[1]
        if target.startswith("--"):
            continue  # `inv --list`
        assert target in names, f"Taskfile task {name} maps to missing inv task {target}"
