"""The journal (atomic, resumable) and the cluster lock (who/since, stale detection, --break-lock)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from homeops.clock import FakeClock
from homeops.engine.journal import Journal, atomic_write_json
from homeops.engine.lock import ClusterLock
from homeops.engine.plan import Command, Plan, Step
from homeops.errors import ConfigError, LockHeld


def small_plan() -> Plan:
    steps = tuple(
        Step(
            id=f"k8s-{i}:upgrade@v1.11.6",
            action="upgrade",
            summary=f"upgrade k8s-{i}",
            node=f"k8s-{i}",
            batch=i,
            commands=(Command(("talosctl", "upgrade", "--nodes", f"10.0.0.{i}")),),
            reboots=True,
        )
        for i in range(3)
    )
    return Plan(operation="upgrade-cluster", cluster="home", steps=steps)


def test_journal_records_steps_and_survives_reload(tmp_path: Path) -> None:
    clock = FakeClock()
    journal = Journal.create(tmp_path, small_plan(), clock)
    journal.step_started("k8s-0:upgrade@v1.11.6", marker="b1")
    clock.advance(5)
    journal.step_done("k8s-0:upgrade@v1.11.6", after="v1.11.6")
    journal.step_started("k8s-1:upgrade@v1.11.6", marker="b2")

    again = Journal.load(journal.path, clock)
    assert again.plan() == small_plan()
    assert again.done("k8s-0:upgrade@v1.11.6") and not again.done("k8s-1:upgrade@v1.11.6")
    record = again.step("k8s-0:upgrade@v1.11.6")
    assert record.finished - record.started == 5 and (record.marker, record.after) == ("b1", "v1.11.6")
    assert again.step("k8s-1:upgrade@v1.11.6").status == "running"
    assert again.step("k8s-2:upgrade@v1.11.6").status == "pending"
    assert Journal.latest(tmp_path, "upgrade-cluster", clock).run_id == journal.run_id
    assert Journal.latest(tmp_path, "upgrade-node", clock) is None


def test_latest_picks_the_newest_run(tmp_path: Path) -> None:
    clock = FakeClock()
    first = Journal.create(tmp_path, small_plan(), clock)
    clock.advance(60)
    second = Journal.create(tmp_path, small_plan(), clock)
    assert first.run_id != second.run_id
    assert Journal.latest(tmp_path, "upgrade-cluster", clock).run_id == second.run_id


def test_atomic_write_leaves_no_partial_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "j.json"
    atomic_write_json(target, {"a": 1})

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["j.json"]


def test_garbled_journal_is_a_config_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError, match=r"journal.json"):
        Journal.load(path, FakeClock())


def test_second_lock_is_refused_with_who_and_since(tmp_path: Path) -> None:
    first = ClusterLock(tmp_path, "home", operation="upgrade-cluster")
    info = first.acquire(run_id="r1")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        data = json.loads(first.path.read_text())
        data["pid"], data["pid_start"] = child.pid, ""
        first.path.write_text(json.dumps(data))
        second = ClusterLock(tmp_path, "home", operation="upgrade-node")
        with pytest.raises(LockHeld) as caught:
            second.acquire()
        message = str(caught.value)
        assert f"{info.user}@{socket.gethostname()} pid {child.pid}" in message
        assert "upgrade-cluster" in message and "since" in message
        with pytest.raises(LockHeld, match=r"still running; not breaking it"):
            second.acquire(break_lock=True)
    finally:
        child.kill()
        child.wait()


def test_stale_lock_is_detected_and_broken_only_on_request(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = ClusterLock(tmp_path, "home", operation="upgrade-cluster")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(
        json.dumps(
            {
                "pid": dead.pid,
                "host": socket.gethostname(),
                "user": "bob",
                "since": 0.0,
                "operation": "upgrade-cluster",
                "run_id": "r-old",
                "pid_start": "",
            }
        )
    )
    assert lock.is_stale(lock.read())
    with pytest.raises(LockHeld, match=r"stale lock .*--break-lock"):
        lock.acquire()
    taken = lock.acquire(break_lock=True)
    assert taken.pid == os.getpid()
    lock.release()
    assert not lock.path.exists()


def test_resume_adopts_the_stale_lock_of_its_own_run_only(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lock = ClusterLock(tmp_path, "home", operation="upgrade-cluster")
    lock.path.parent.mkdir(parents=True)
    record = {
        "pid": dead.pid,
        "host": socket.gethostname(),
        "user": "bob",
        "since": 0.0,
        "operation": "upgrade-cluster",
        "run_id": "r-old",
        "pid_start": "",
    }
    lock.path.write_text(json.dumps(record))
    with pytest.raises(LockHeld):
        lock.acquire(adopt_run="r-other")
    assert lock.acquire(adopt_run="r-old").pid == os.getpid()


def test_reused_pid_counts_as_stale(tmp_path: Path) -> None:
    lock = ClusterLock(tmp_path, "home", operation="x")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(
        json.dumps(
            {
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "user": "u",
                "since": 0.0,
                "operation": "x",
                "run_id": "",
                "pid_start": "1",
            }
        )
    )
    assert lock.is_stale(lock.read())


def test_lock_from_another_host_is_not_stale_but_breakable(tmp_path: Path) -> None:
    lock = ClusterLock(tmp_path, "home", operation="x")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(json.dumps({"pid": 1, "host": "laptop", "user": "ann", "since": 0.0, "operation": "x"}))
    assert not lock.is_stale(lock.read())
    with pytest.raises(LockHeld, match=r"ann@laptop.*--break-lock if it is really gone"):
        lock.acquire()
    assert lock.acquire(break_lock=True).host == socket.gethostname()
