"""Maintenance windows end to end: ``inv`` against a simulated example cluster whose virtual clock is
set to the moment each test needs (nothing sleeps; the simulator's clock only moves when a run waits).

The refusal runs ``inv`` in a subprocess, as a user would; the runs that upgrade nodes run the same
command line in-process with the simulator's tools in-process too (as tests/dr does): everything from
the task to the executor is the real path, only the fake tools' transport is swapped.

The simulator's epoch (homeops.sim.state.START) is Thursday 2025-10-09 10:53:20 CEST; the window is
the issue's: Saturday and Sunday 02:00, 4h, Europe/Amsterdam.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from homeops.inventory.loader import load_inventory
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore
from homeops.tasks import ns
from homeops.tasks._options import iter_tasks
from tests.robustness.conftest import Ran, run_inv
from tests.rolling.simrig import fast_example

REPO = Path(__file__).resolve().parents[2]
WINDOW = {"days": ["sat", "sun"], "start": "02:00", "duration": "4h", "timezone": "Europe/Amsterdam"}
NEXT = "Sat 11 Oct 02:00 CEST (Europe/Amsterdam), in 1d 15h 6m"  # seen from START


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()


def simulated(tmp_path: Path, **maintenance: object) -> Path:
    root = fast_example(tmp_path)
    config = yaml.safe_load((root / "homeops.yaml").read_text())
    config["maintenance"] = {"windows": [WINDOW], **maintenance}
    (root / "homeops.yaml").write_text(yaml.safe_dump(config))
    inventory = load_inventory(root)
    SimStore(inventory.state_dir / "sim").create(initial_state(inventory, SimOptions(talos_version="v1.10.9")))
    return root


def set_clock(root: Path, when: float) -> None:
    with SimStore(root / ".homeops" / "sim").transaction() as state:
        state["clock"]["now"] = when


def inv(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args, "--inventory", str(root)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        cwd=root.parent,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    import homeops.app.backend
    import homeops.runtime
    from homeops.sim.runner import SimRunner

    real = homeops.app.backend.open_runtime

    def open_runtime(directory: object, **kw: object) -> homeops.runtime.Runtime:
        rt = real(directory, **kw)  # type: ignore[arg-type]
        if rt.simulated:
            rt.local = SimRunner(rt.inventory.state_dir / "sim")  # type: ignore[assignment]
        return rt

    monkeypatch.setattr(homeops.app.backend, "open_runtime", open_runtime)


def run(root: Path, *args: str) -> Ran:
    ran = run_inv(*args, "--inventory", str(root))
    assert ran.crashed is None, ran.crashed
    return ran


def upgraded(root: Path) -> list[str]:
    """Nodes sent ``talosctl upgrade``, in order, from the simulator's own command log."""
    by_ip = {n.ip: n.hostname for n in load_inventory(root).nodes}
    log = SimStore(root / ".homeops" / "sim").read()["log"]
    return [by_ip[e["argv"][e["argv"].index("--nodes") + 1]] for e in log if e["argv"][1:2] == ["upgrade"]]


def test_every_mutating_task_takes_ignore_window() -> None:
    """Every task that plans, confirms and journals a run (it has --dry-run and --yes) takes --ignore-window,
    except those no window holds: dr.rebuild (a cluster that is down) and talos.etcd-snapshot (reads only)."""
    exempt = {"dr.rebuild", "talos.etcd-snapshot"}
    mutating = {
        name
        for name, found in iter_tasks(ns)
        if {"dry_run", "yes"} <= {a.attr_name or a.name for a in found.get_arguments()}
    }
    assert mutating >= {"talos.upgrade-cluster", "pve.vm", "volsync.restore", "bootstrap.all", "dr.rebuild"}
    for name, found in iter_tasks(ns):
        names = {a.attr_name or a.name for a in found.get_arguments()}
        if name in mutating - exempt:
            assert "ignore_window" in names, f"{name} has no --ignore-window"
        else:
            assert "ignore_window" not in names, f"{name} is not held to windows but takes --ignore-window"


@pytest.fixture
def closed(tmp_path: Path) -> Path:
    return simulated(tmp_path)  # the simulator starts on a Thursday: every window is closed


def test_outside_every_window_a_mutating_task_is_refused_in_one_line(closed: Path) -> None:
    done = inv(closed, "talos.upgrade-cluster", "--yes")
    assert done.returncode == 4, (done.stdout, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    assert line == (
        f"error: outside every maintenance window: the next opens {NEXT}; nothing was changed "
        "— run it then, or now with --ignore-window"
    )
    assert upgraded(closed) == []
    assert not (closed / ".homeops" / "runs").exists()  # refused before the lock and the journal


def test_the_dry_run_shows_the_window_decision(closed: Path, in_process: None) -> None:
    done = run(closed, "talos.upgrade-cluster", "--dry-run")
    assert done.code == 0, done.err
    assert (
        f"Run policies:\n  maintenance window: closed; the next opens {NEXT} — this run would be refused "
        "(--ignore-window runs it now)" in done.out
    )
    done = run(closed, "talos.upgrade-cluster", "--dry-run", "--ignore-window")
    assert f"maintenance window: ignored (--ignore-window); it is closed; the next opens {NEXT}" in done.out
    set_clock(closed, at("2025-10-11 02:00"))
    done = run(closed, "talos.upgrade-cluster", "--dry-run")
    assert "maintenance window: open until 06:00 CEST (Europe/Amsterdam), 4h left; a batch of nodes" in done.out
    assert "it fits)" in done.out
    assert upgraded(closed) == []


def test_ignore_window_runs_now(closed: Path, in_process: None) -> None:
    done = run(closed, "talos.upgrade-node", "--node", "k8s-4", "--yes")
    assert done.code == 4 and upgraded(closed) == [], done.err
    done = run(closed, "talos.upgrade-node", "--node", "k8s-4", "--yes", "--ignore-window")
    assert done.code == 0, done.err
    assert upgraded(closed) == ["k8s-4"]


def test_a_window_closing_mid_run_stops_between_nodes_and_resume_in_the_next_window_finishes(
    tmp_path: Path, in_process: None
) -> None:
    root = simulated(tmp_path, nodeBudget="2m")
    set_clock(root, at("2025-10-11 05:55:30"))  # 4.5 minutes before Saturday's window closes
    done = run(root, "talos.upgrade-cluster", "--yes")
    assert done.code == 75, (done.out, done.err)
    (line,) = done.err.strip().splitlines()
    assert line.startswith("error: stopped before upgrade k8s-")
    assert "by run policy maintenance window: the window closes at 06:00 CEST (Europe/Amsterdam)" in line
    assert "may take 2m (maintenance.nodeBudget)" in line
    assert "the next window opens Sun 12 Oct 02:00 CEST (Europe/Amsterdam)" in line
    assert f"continue with: inv talos.upgrade-cluster --resume --inventory {root} (run " in line
    first = upgraded(root)
    assert 1 <= len(first) < 6, first
    (run_dir,) = (root / ".homeops" / "runs").iterdir()
    journal = json.loads((run_dir / "journal.json").read_text())
    assert journal["status"] == "stopped"
    # stopped between nodes: every step is done or not begun, and each upgraded node's upgrade is done
    steps = {sid: s["status"] for sid, s in journal["steps"].items()}
    assert set(steps.values()) == {"done", "pending"}, steps
    assert {sid.split(":")[0] for sid, s in steps.items() if s == "done" and ":upgrade@" in sid} == set(first)

    set_clock(root, at("2025-10-11 06:30"))  # Saturday's window has closed: the resume is refused
    done = run(root, "talos.upgrade-cluster", "--resume", "--yes")
    assert done.code == 4 and "the next opens Sun 12 Oct 02:00 CEST" in done.err, done.err
    assert upgraded(root) == first

    set_clock(root, at("2025-10-12 02:00"))
    done = run(root, "talos.upgrade-cluster", "--resume", "--yes")
    assert done.code == 0, (done.out, done.err)
    assert sorted(upgraded(root)) == sorted(n.hostname for n in load_inventory(root).nodes)  # each once
    assert upgraded(root)[: len(first)] == first
    assert json.loads((run_dir / "journal.json").read_text())["status"] == "finished"


def test_without_maintenance_nothing_changes(tmp_path: Path, in_process: None) -> None:
    root = fast_example(tmp_path)
    inventory = load_inventory(root)
    SimStore(inventory.state_dir / "sim").create(initial_state(inventory, SimOptions(talos_version="v1.10.9")))
    done = run(root, "talos.upgrade-node", "--node", "k8s-4", "--yes")  # the simulator's Thursday
    assert done.code == 0, done.err
    assert "maintenance window" not in done.out + done.err and "Run policies" not in done.out


@pytest.mark.parametrize(
    "command",
    [
        ("pve.vm", "--node", "k8s-4", "reboot"),
        ("volsync.backup", "--namespace", "default", "--app", "immich-data"),
        ("bootstrap.apps",),
        ("talos.upgrade-k8s",),
    ],
    ids=lambda c: c[0],
)
def test_each_workflow_reaches_the_window_and_its_ignore_flag(
    closed: Path, in_process: None, command: tuple[str, ...]
) -> None:
    """--ignore-window is not only in the signature: each task hands it to the run's policy."""
    done = run(closed, *command, "--dry-run")
    assert done.code == 0, done.err
    assert f"maintenance window: closed; the next opens {NEXT} — this run would be refused" in done.out
    done = run(closed, *command, "--dry-run", "--ignore-window")
    assert done.code == 0, done.err
    assert f"maintenance window: ignored (--ignore-window); it is closed; the next opens {NEXT}" in done.out
