"""Issue 10 defects whose fix lives in engine-owned files (executor, lock, conditions, planners, tasks):
each test failed before its fix."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeops.engine.lock import ClusterLock, LockInfo
from homeops.errors import ConfigError, LockHeld
from homeops.sim.store import SimStore
from tests.conftest import EXAMPLE_INVENTORY
from tests.robustness.conftest import run_inv

SID = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"


def _copy(tmp_path: Path, **replace: str) -> Path:
    target = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops"))
    hm = target / "homeops.yaml"
    text = hm.read_text().replace("stabilitySeconds: 30", "stabilitySeconds: 1")
    for old, new in replace.items():
        text = text.replace(old, new)
    hm.write_text(text)
    return target


@pytest.fixture
def sim_inv(tmp_path: Path) -> Path:
    inv = _copy(tmp_path)
    up = run_inv("sim.up", "--inventory", str(inv), "--virtual", "--talos-version", "v1.10.9")
    assert up.code == 0, up
    return inv


def _sent(inv: Path, sub: str) -> list[list[str]]:
    return [e["argv"] for e in SimStore(inv / ".homeops" / "sim").read()["log"] if e["argv"][1:2] == [sub]]


# -- defect 4 ------------------------------------------------------------------------------------


def test_explicit_image_must_match_the_planned_target(sim_inv: Path) -> None:
    """--image …:v1.12.0 on a v1.10.9 → v1.11.6 upgrade installed v1.12.0 and failed only after the reboot."""
    image = f"factory.talos.dev/metal-installer/{SID}:v1.12.0"
    ran = run_inv("talos.upgrade-node", "--node", "k8s-4", "--image", image, "--yes", "--inventory", str(sim_inv))
    assert ran.crashed is None and ran.code != 0
    assert "v1.12.0" in ran.err and "v1.11.6" in ran.err and "\n" not in ran.err.strip(), ran.err
    assert _sent(sim_inv, "upgrade") == []


# -- defect 10 -----------------------------------------------------------------------------------


def test_state_dir_and_etcd_snapshots_are_private(sim_inv: Path) -> None:
    state = sim_inv / ".homeops"
    state.chmod(0o755)  # as an older homeops (or sim.up) left it
    ran = run_inv("talos.etcd-snapshot", "--inventory", str(sim_inv), "--to-nas", "no")
    assert ran.code == 0, ran
    snaps = list((state / "etcd-snapshots").iterdir())
    assert snaps
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert stat.S_IMODE((state / "etcd-snapshots").stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in snaps} == {0o600}


def test_rolling_upgrade_snapshot_is_private(sim_inv: Path) -> None:
    ran = run_inv("talos.upgrade-node", "--node", "k8s-0", "--yes", "--inventory", str(sim_inv))
    assert ran.code == 0, ran.err
    snaps = list((sim_inv / ".homeops" / "etcd-snapshots").iterdir())
    assert snaps and {stat.S_IMODE(p.stat().st_mode) for p in snaps} == {0o600}
    assert stat.S_IMODE((sim_inv / ".homeops").stat().st_mode) == 0o700


# -- defect 15 (state dir part) ------------------------------------------------------------------


def test_unwritable_state_dir_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    state.mkdir()
    real_open = os.open

    def deny(path: object, flags: int, *args: int, **kwargs: object) -> int:
        if str(path).startswith(str(state)):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(ConfigError, match="Permission denied"):
        ClusterLock(state, "home", operation="upgrade-cluster").acquire()


# -- defect 17 and the lock cosmetics ------------------------------------------------------------


def test_lock_file_that_is_a_directory(tmp_path: Path) -> None:
    lock = ClusterLock(tmp_path, "home", operation="upgrade-cluster")
    lock.path.mkdir(parents=True)
    with pytest.raises(LockHeld) as held:
        lock.acquire()
    assert "directory" in str(held.value)
    with pytest.raises((LockHeld, ConfigError)) as again:
        lock.acquire(break_lock=True)
    assert "directory" in str(again.value)


def test_unreadable_lock_does_not_claim_1970(tmp_path: Path) -> None:
    lock = ClusterLock(tmp_path, "home", operation="upgrade-cluster")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text("{not json")
    with pytest.raises(LockHeld) as held:
        lock.acquire()
    text = str(held.value)
    assert "1970" not in text and "?@?" not in text and "pid 0" not in text
    assert "unreadable" in text and str(lock.path) in text


def test_zombie_holder_is_stale(tmp_path: Path) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    for _ in range(200):  # exited, not reaped: a zombie
        if Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
            break
        time.sleep(0.01)
    try:
        lock = ClusterLock(tmp_path, "home", operation="upgrade-cluster")
        info = LockInfo(pid=child.pid, host=socket.gethostname(), user="me", since=time.time(), operation="x")
        assert lock.is_stale(info)
    finally:
        child.wait()


# -- cosmetic: exit codes, messages --------------------------------------------------------------


def test_confirmation_needed_is_not_sigint_code(sim_inv: Path) -> None:
    ran = run_inv("talos.reboot-node", "--node", "k8s-4", "--inventory", str(sim_inv))
    assert ran.crashed is None and "confirmation needed" in ran.err
    assert ran.code not in (0, 130), ran.code


def test_nothing_to_do_is_said_once(tmp_path: Path) -> None:
    inv = _copy(tmp_path)
    assert run_inv("sim.up", "--inventory", str(inv), "--virtual").code == 0  # already at v1.11.6
    ran = run_inv("talos.upgrade-cluster", "--yes", "--inventory", str(inv))
    assert ran.code == 0, ran
    assert (ran.out + ran.err).lower().count("nothing to do") == 1, ran.out


def test_interrupt_names_only_the_step_that_was_not_done(sim_inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C after a node's vm-snapshot finished named vm-snapshot as interrupted."""
    from homeops.engine import executor

    real = executor.Executor._look_before_sending

    def interrupt(self: object, *args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(executor.Executor, "_look_before_sending", interrupt)
    ran = run_inv("talos.upgrade-node", "--node", "k8s-4", "--yes", "--inventory", str(sim_inv))
    monkeypatch.setattr(executor.Executor, "_look_before_sending", real)
    assert ran.code == 130, ran
    assert "interrupted at" in ran.err
    assert "vm-snapshot" not in ran.err.split("interrupted at", 1)[1].split(";", 1)[0], ran.err


# -- resume after homeops.yaml changed -----------------------------------------------------------


def test_resume_says_which_saved_settings_it_keeps(sim_inv: Path) -> None:
    assert run_inv("sim.fault", "node-never-returns", "--target", "k8s-4", "--inventory", str(sim_inv)).code == 0
    hm = sim_inv / "homeops.yaml"
    hm.write_text(hm.read_text().replace("rebootTimeout: 900", "rebootTimeout: 60"))
    first = run_inv("talos.reboot-node", "--node", "k8s-4", "--yes", "--inventory", str(sim_inv))
    assert first.code != 0
    hm.write_text(
        hm.read_text().replace("rebootTimeout: 60", "rebootTimeout: 120").replace("pollInterval: 5", "pollInterval: 7")
    )
    assert run_inv("pve.vm", "--node", "k8s-4", "reboot", "--yes", "--inventory", str(sim_inv)).code == 0
    resumed = run_inv("talos.reboot-node", "--node", "k8s-4", "--yes", "--resume", "--inventory", str(sim_inv))
    text = resumed.out + resumed.err
    assert "rebootTimeout" in text and "60" in text and "120" in text, text
    assert "pollInterval" in text, text


# -- defect 3, second part: success is judged on the node that was targeted ----------------------


def test_running_wait_fails_when_another_node_answers_at_the_ip() -> None:
    """k8s-4 given k8s-3's IP: the upgrade of k8s-4 rebooted k8s-3 again and reported k8s-4 done."""
    from homeops.engine.plan import Step
    from homeops.inventory.model import Cluster, Inventory, Node
    from homeops.operations.conditions import probe_for
    from homeops.operations.facts import NodeFacts

    k3 = Node("k8s-3", "10.10.0.23", False)
    k4 = Node("k8s-4", "10.10.0.23", False)  # the duplicate the loader now refuses; built by hand here
    cluster = Cluster("home", "https://10.10.0.10:6443", "v1.11.6", None, None, Path("tc"), Path("kc"), Path("cc"))
    inv = Inventory(root=Path("."), cluster=cluster, nodes=(k3, k4))

    class Seen:
        def nodes(self, nodes: object, **kwargs: object) -> dict[str, NodeFacts]:
            return {n.hostname: NodeFacts(n.hostname, n.ip, True, "running", True, "v1.11.6") for n in nodes}  # type: ignore[attr-defined]

        def hostnames(self, nodes: object) -> dict[str, str | None]:
            return {n.hostname: "k8s-3" for n in nodes}  # type: ignore[attr-defined]

    step = Step(id="k8s-4:upgrade@v1.11.6", action="upgrade", summary="", node="k8s-4", to_version="v1.11.6")
    seen = probe_for("running", [step], inventory=inv, observer=Seen(), boot_ids={})()  # type: ignore[arg-type]
    assert seen.failure and "k8s-3" in seen.failure and "10.10.0.23" in seen.failure
    own = Step(id="k8s-3:upgrade@v1.11.6", action="upgrade", summary="", node="k8s-3", to_version="v1.11.6")
    assert probe_for("running", [own], inventory=inv, observer=Seen(), boot_ids={})().done  # type: ignore[arg-type]
