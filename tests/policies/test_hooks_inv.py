"""Hooks through the real ``inv`` (a subprocess) against a simulated cluster.

A failed pre hook refuses ``talos.upgrade-cluster`` in one line with nothing sent; a dry run lists the
hooks. The real Ctrl-C: SIGINT once the first node's upgrade went out; the post hook still runs
(HOMEOPS_STATUS=interrupted), a second SIGINT while it runs does not cut it short, and the pre hook ran on
the simulator's tools (HOMEOPS_SIMULATED=1, the fake talosctl first on PATH).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from homeops.inventory.loader import load_inventory
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore
from tests.rolling.simrig import fast_example

REPO = Path(__file__).resolve().parents[2]


def simulated_example(tmp_path: Path, hooks: dict[str, object]) -> tuple[Path, SimStore]:
    root = fast_example(tmp_path)
    config = yaml.safe_load((root / "homeops.yaml").read_text())
    config["hooks"] = hooks
    (root / "homeops.yaml").write_text(yaml.safe_dump(config))
    inventory = load_inventory(root)
    store = SimStore(inventory.state_dir / "sim")
    store.create(initial_state(inventory, SimOptions(talos_version="v1.10.9")))
    return root, store


def inv_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args]


def inv(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    argv = inv_argv(*args, "--inventory", str(root))
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=root.parent, timeout=300)


def test_a_failed_pre_hook_refuses_the_task_with_nothing_changed(tmp_path: Path) -> None:
    pre = "echo 'last backup: 3 days ago' >&2; exit 2"
    root, store = simulated_example(tmp_path, {"pre": [{"run": pre}], "post": [{"run": "echo $HOMEOPS_STATUS > post"}]})
    done = inv(root, "talos.upgrade-cluster", "--yes")
    assert done.returncode == 4, done.stdout + done.stderr  # PolicyRefused
    assert "Traceback" not in done.stderr
    (line,) = [ln for ln in done.stderr.splitlines() if ln.strip()]
    assert line.startswith(
        "error: pre hook hooks.pre[0] `echo 'last backup: 3 days ago' >&2; exit 2` failed (exit 2: last backup: "
        "3 days ago): the run was not started, nothing was changed"
    )
    # not one step ran: no installer pull, no etcd snapshot, no upgrade, no drain (only looks: gates, plan)
    mutating = {"upgrade", "reboot", "apply-config", "image pull", "etcd snapshot", "etcd forfeit-leadership", "drain"}
    sent = [" ".join(e["argv"][1:3]) for e in store.read()["log"]]
    assert not [c for c in sent if c in mutating or c.split()[0] in mutating], sent
    assert (root / "post").read_text() == "failed\n"
    # A dry run lists the hooks and runs none.
    (root / "post").unlink()
    dry = inv(root, "talos.upgrade-cluster", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "  hooks: pre hooks, before anything changes: `echo 'last backup: 3 days ago' >&2; exit 2`" in dry.stdout
    assert not (root / "post").exists()


def upgrades_sent(store: SimStore) -> int:
    return sum(1 for e in store.read()["log"] if e["tool"] == "talosctl" and e["argv"][1] == "upgrade")


def upgrade_in_background(root: Path, tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``inv talos.upgrade-cluster --yes`` as a process, its output in a file."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    output = tmp_path / "inv.log"
    with output.open("w") as sink:
        argv = inv_argv("talos.upgrade-cluster", "--yes", "--inventory", str(root))
        return subprocess.Popen(argv, cwd=tmp_path, env=env, stdout=sink, stderr=sink), output


def until_the_first_upgrade_went_out(proc: subprocess.Popen[bytes], store: SimStore, output: Path) -> float:
    """Wait (at most 240 s) until the run sent its first upgrade; the deadline, for the caller's next waits."""
    deadline = time.monotonic() + 240
    while upgrades_sent(store) < 1:
        if proc.poll() is not None:
            pytest.fail(f"inv exited early ({proc.returncode}): {output.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no upgrade was sent: {output.read_text()}")
        time.sleep(0.05)
    return deadline


@pytest.mark.slow
def test_sigint_mid_run_still_runs_the_post_hook(tmp_path: Path) -> None:
    pre = 'echo "$HOMEOPS_SIMULATED $(command -v talosctl)" > pre.marker'
    post = 'touch post.started; sleep 1; echo "$HOMEOPS_STATUS $HOMEOPS_RUN_ID" > post.marker'
    root, store = simulated_example(tmp_path, {"pre": [{"run": pre, "timeout": "30s"}], "post": [{"run": post}]})
    inventory = load_inventory(root)

    proc, output = upgrade_in_background(root, tmp_path)
    try:
        deadline = until_the_first_upgrade_went_out(proc, store, output)
        proc.send_signal(signal.SIGINT)
        # A second Ctrl-C while the post hook runs: acknowledged, and the hook still finishes.
        while not (root / "post.started").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the post hook never started: {output.read_text()}")
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = output.read_text()
    assert code == 130, log  # Interrupted: the shell's code for SIGINT
    status, run_id = (root / "post.marker").read_text().split()
    assert status == "interrupted", log
    assert (inventory.state_dir / "runs" / run_id / "journal.json").is_file()
    simulated, talosctl = (root / "pre.marker").read_text().split()
    assert simulated == "1" and Path(talosctl).parent.resolve() == (inventory.state_dir / "sim" / "bin").resolve()
    # the run's progress lines: its SIMULATED banner and time prefix
    said = re.findall(r"^\[SIMULATED\] \[\d\d:\d\d\] (.*(?:hook|Ctrl-C).*)$", log, re.M)
    assert said[0].startswith('pre hook hooks.pre[0] `echo "$HOMEOPS_SIMULATED $(command -v talosctl)"')
    assert said[1] == "Ctrl-C: the post hooks are the run's cleanup and still finish (each within its timeout)"
    assert said[2].startswith("post hook hooks.post[0] `touch post.started; sleep 1; echo") and ": ok in " in said[2]
    assert "Traceback" not in log
    report = (inventory.state_dir / "runs" / run_id / "report.md").read_text()
    assert "## Policy: hooks" in report and "post hook hooks.post[0]" in report


@pytest.mark.slow
def test_sigterm_mid_run_cleans_up_like_ctrl_c(tmp_path: Path) -> None:
    """systemd stopping a unit or CI cancelling a job sends SIGTERM: the journal must not stay "running"
    with no post hook run (it did: Python's default SIGTERM ends the process without any cleanup)."""
    post = 'echo "$HOMEOPS_STATUS $HOMEOPS_RUN_ID" > post.marker'
    root, store = simulated_example(tmp_path, {"post": [{"run": post}]})
    inventory = load_inventory(root)
    proc, output = upgrade_in_background(root, tmp_path)
    try:
        until_the_first_upgrade_went_out(proc, store, output)
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = output.read_text()
    assert code == 143, log  # the shell's code for SIGTERM, after the cleanup
    assert "terminated (SIGTERM): interrupted at" in log and "--resume" in log, log
    assert "Traceback" not in log
    status, run_id = (root / "post.marker").read_text().split()
    assert status == "interrupted", log
    journal = (inventory.state_dir / "runs" / run_id / "journal.json").read_text()
    assert '"status": "interrupted"' in journal
