"""Issue 22 §3, the hostile user's CLI findings: `--hosts` without the docker package (item 14), a reader
that stops reading (`| head -1`, item 15), `sim.log` on the real clock, and files the state dir's own
0600/0700 rule missed (reports, saved PVC manifests, the sim state, cluster-ca). Each failed before."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeops.inventory.loader import load_inventory
from homeops.operations import bootstrap_inputs
from homeops.privatefs import write_private
from homeops.sim.store import SimStore
from tests.conftest import EXAMPLE_INVENTORY, REPO
from tests.robustness.conftest import run_inv

INV = str(Path(sys.executable).with_name("inv"))


@pytest.fixture(autouse=True)
def _usual_umask() -> Iterator[None]:
    old = os.umask(0o022)  # what users have: without the fix files come out 0644 (not the test's luck)
    yield
    os.umask(old)


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    target = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops"))
    return target


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- item 14 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["sim.up", "dr.rehearse"])
def test_hosts_without_the_docker_package_is_refused_before_anything(
    task: str, inv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A plain install: `import docker` fails. It said "host containers did not start (No module named
    # 'docker')" (dr.rehearse: nothing at all) and exited 0 with the hosts simulated locally.
    monkeypatch.setitem(sys.modules, "docker", None)
    ran = run_inv(task, "--hosts", "--inventory", str(inv), *(["--virtual"] if task == "sim.up" else ["--yes"]))
    assert ran.crashed is None and ran.code != 0, ran
    assert ran.err.strip().count("\n") == 0, ran.err
    assert "--hosts needs the Python package 'docker'" in ran.err and "pip install 'homeops[hosts]'" in ran.err
    assert not (inv / ".homeops").exists()  # no sim, no rehearsal copy


@pytest.mark.parametrize("task", ["sim.up", "dr.rehearse"])
def test_hosts_without_a_docker_engine_is_refused_before_anything(
    task: str, inv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The package is there but no engine answers: sim.up said "Docker is not available …; hosts are
    # simulated locally" and exited 0, dr.rehearse said nothing at all (its say= swallowed it).
    import homeops.sim.containers as containers

    def no_engine() -> None:
        raise containers.DockerUnavailable("no Docker engine reachable (Cannot connect to the Docker daemon)")

    monkeypatch.setattr(containers, "_docker_client", no_engine)
    ran = run_inv(task, "--hosts", "--inventory", str(inv), *(["--virtual"] if task == "sim.up" else ["--yes"]))
    assert ran.crashed is None and ran.code != 0, ran
    assert ran.err.strip().count("\n") == 0, ran.err
    assert "--hosts needs a running Docker engine for the OpenSSH host containers, and none answers: " in ran.err
    assert "Cannot connect to the Docker daemon" in ran.err and "start dockerd" in ran.err
    assert not (inv / ".homeops").exists()  # no sim, no rehearsal copy


def test_a_rehearsal_whose_host_containers_fail_to_start_stops_and_says_why(
    inv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from homeops.errors import SimError
    from homeops.sim import containers

    monkeypatch.setattr(containers, "check_docker_engine", lambda: None)

    def clash(*args: object, **kwargs: object) -> None:
        raise SimError("simulated host pve2 did not start (500 Server Error: Bind for 127.0.0.1:37831 failed)")

    monkeypatch.setattr(containers.SimHosts, "start", clash)
    ran = run_inv("dr.rehearse", "--hosts", "--inventory", str(inv), "--yes")
    assert ran.crashed is None and ran.code != 0, ran
    assert "--hosts: host containers did not start (simulated host pve2 did not start (500 Server Error" in ran.err
    assert "the rehearsal stopped" in ran.err


# -- item 15 -------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", ["sim.status", "sim.log"])
def test_a_reader_that_left_is_no_traceback(task: str, inv: Path, tmp_path: Path) -> None:
    assert run_inv("sim.up", "--inventory", str(inv), "--virtual").code == 0
    assert run_inv("talos.etcd-snapshot", "--inventory", str(inv), "--to-nas", "no").code == 0  # log entries
    shutil.copy(REPO / "tasks.py", tmp_path / "tasks.py")
    read, write = os.pipe()
    os.close(read)  # `| head -1` that has already exited: every write fails with EPIPE
    try:
        proc = subprocess.run(
            [INV, task, "--inventory", str(inv)],
            stdout=write, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120, check=False,
        )  # fmt: skip
    finally:
        os.close(write)
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert proc.stderr == ""
    assert proc.returncode == 141  # as a command SIGPIPE ended: the shell's `yes | head -1`


def test_a_broken_pipe_other_than_stdout_is_not_hidden() -> None:
    # Only a reader of stdout that left is "quiet, 141"; a tool's stdin closing early stays an error.
    from homeops.tasks._common import user_errors

    @user_errors
    def task() -> None:
        raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(BrokenPipeError):
        task()


# -- cosmetics -----------------------------------------------------------------------------------


def test_sim_log_on_the_real_clock_counts_from_the_first_command(inv: Path) -> None:
    assert run_inv("sim.up", "--inventory", str(inv)).code == 0  # the real clock
    store = SimStore(inv / ".homeops" / "sim")
    with store.transaction() as state:
        for offset in (0.0, 2.5):
            state["log"].append(
                {"t": time.time() + offset, "tool": "talosctl", "argv": ["talosctl", "version"], "exit": 0}
            )
    ran = run_inv("sim.log", "--inventory", str(inv))
    assert ran.code == 0, ran
    # It printed offsets from the fixed virtual epoch: +36438489.0s.
    assert [line.split("s  exit")[0].replace(" ", "") for line in ran.out.splitlines()] == ["+0.0", "+2.5"]


def test_sim_state_reports_and_run_dirs_are_private(inv: Path) -> None:
    assert run_inv("sim.up", "--inventory", str(inv), "--virtual").code == 0
    sim = inv / ".homeops" / "sim"
    assert (mode(inv / ".homeops"), mode(sim)) == (0o700, 0o700)
    files = [sim / "state.json", sim / "log.jsonl", sim / "state.lock"]
    assert [mode(p) for p in files] == [0o600] * 3  # state.json and log.jsonl were 0666, the lock 0644
    for path in files[:2]:
        path.chmod(0o666)  # as an older homeops left them
    sim.chmod(0o755)
    ran = run_inv("talos.etcd-snapshot", "--inventory", str(inv), "--to-nas", "no")
    assert ran.code == 0, ran
    assert [mode(p) for p in files] == [0o600] * 3 and mode(sim) == 0o700  # tightened on the next write
    (run,) = (inv / ".homeops" / "runs").iterdir()
    assert mode(inv / ".homeops" / "runs") == 0o700  # was 0755
    assert {p.name: mode(p) for p in run.iterdir()} == {
        "journal.json": 0o600,
        "plan.json": 0o600,
        "report.json": 0o600,
        "report.md": 0o600,  # was 0644
        "sections.json": 0o600,  # the run policies' report sections (hook output may name private things)
    }


def test_cluster_ca_is_private(inv: Path) -> None:
    inventory = load_inventory(inv)
    bootstrap_inputs.remember_ca(inventory, "0" * 64)
    path = inventory.state_dir / "bootstrap" / "cluster-ca"
    assert (mode(path), mode(path.parent), mode(inventory.state_dir)) == (0o600, 0o700, 0o700)  # was 0644, 0755
    assert bootstrap_inputs.recorded_ca(inventory) == "0" * 64


def test_write_private_is_private_from_the_first_byte(tmp_path: Path) -> None:
    os.umask(0)  # not the umask's doing
    target = tmp_path / "state" / "deep" / "file"
    target.parent.parent.mkdir()
    target.parent.parent.chmod(0o755)
    write_private(target, "one", root=tmp_path / "state")
    assert (target.read_text(), mode(target), mode(target.parent), mode(tmp_path / "state")) == (
        "one",
        0o600,
        0o700,
        0o700,
    )
    target.chmod(0o644)
    write_private(target, b"two")
    assert (target.read_bytes(), mode(target)) == (b"two", 0o600)
    assert sorted(p.name for p in target.parent.iterdir()) == ["file"]  # no temp file left
