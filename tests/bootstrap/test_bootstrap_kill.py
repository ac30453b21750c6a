"""SIGKILL during the helm stage, then --resume: releases already synced are not synced again.

Real processes and the simulator's real clock: `inv bootstrap.all` runs until it is syncing coredns
(whose hooks hang, fault helm-hook-hangs), is killed with SIGKILL (its whole process group, the fake
helmfile included), the fault is cleared, and `inv bootstrap.all --resume` finishes the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from homeops.sim.store import SimStore

REPO = Path(__file__).resolve().parents[2]
INV = str(Path(sys.executable).with_name("inv"))


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "TALOSCONFIG")}


def _syncs(inventory: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for line in (inventory / ".homeops" / "sim" / "log.jsonl").read_text().splitlines():
        entry = json.loads(line)
        argv = entry["argv"]
        if entry["tool"] == "helmfile" and "sync" in argv and entry["exit"] == 0:
            name = argv[argv.index("--selector") + 1].split("=", 1)[1]
            counts[name] = counts.get(name, 0) + 1
    return counts


def _step_status(inventory: Path, step: str) -> str | None:
    for path in (inventory / ".homeops" / "runs").glob("*/journal.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        record = data.get("steps", {}).get(step)
        if record:
            return str(record.get("status"))
    return None


def _survivors(inventory: Path) -> list[int]:
    """Fake-tool processes still running for this test's inventory (found by their command lines)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if str(inventory) in cmdline and "helmfile" in cmdline and int(entry.name) != os.getpid():
            pids.append(int(entry.name))
    return pids


def _pending(inventory: Path, key: str) -> tuple[str, float] | None:
    """(status, when helm wrote it) of a release helm holds locked in the sim, else None."""
    store = SimStore(inventory / ".homeops" / "sim")
    if not store.exists():
        return None
    record = store.read(include_log=False)["k8s"].get("helm_releases", {}).get(key)
    if record is None or not str(record.get("status", "")).startswith("pending-"):
        return None
    return str(record["status"]), float(record["at"])


def _kill_survivors(inventory: Path) -> None:
    """SIGKILL the fake helmfile(s) that outlived homeops, until none is left.

    One pass is not enough: a child homeops had forked but not yet exec'd when it was killed is already in its
    own session (setsid comes before exec) yet still shows homeops' command line; it becomes a helmfile a
    moment later.
    """
    quiet = 0
    deadline = time.monotonic() + 30
    while quiet < 3:
        assert time.monotonic() < deadline, f"helmfile processes keep appearing: {_survivors(inventory)}"
        pids = _survivors(inventory)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        quiet = 0 if pids else quiet + 1
        time.sleep(0.2)


@pytest.mark.slow
def test_sigkill_in_the_helm_stage_then_resume_does_not_sync_again(tmp_path: Path):
    inventory = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory", inventory, ignore=shutil.ignore_patterns(".homeops", "kubeconfig"))
    shutil.copy(REPO / "tasks.py", tmp_path / "tasks.py")
    config = inventory / "homeops.yaml"  # look every second, not every 5 (the demo's pace): the same run, sooner
    config.write_text(config.read_text().replace("pollInterval: 5", "pollInterval: 1"))
    run = lambda *a: subprocess.run([INV, *a, "--inventory", str(inventory)], cwd=tmp_path, env=_env(),  # noqa: E731
                                    capture_output=True, text=True, timeout=300)  # fmt: skip
    # the real clock: reboots and waits take real time, here the shortest the simulator models
    assert run("sim.up", "--blank", "--reboot-seconds", "1", "--ready-seconds", "0.5").returncode == 0
    assert run("sim.fault", "helm-hook-hangs", "--target", "coredns").returncode == 0
    output = (tmp_path / "first-run.log").open("w")
    proc = subprocess.Popen(
        [INV, "bootstrap.all", "--yes", "--inventory", str(inventory)],
        cwd=tmp_path, env=_env(), stdout=output, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 240
        # Kill once helmfile has written coredns' pending revision (helm is then waiting for the hooks), not a
        # fixed time after the step started: on a loaded machine helmfile may not even have started by then.
        while _pending(inventory, "kube-system/coredns") is None:
            assert proc.poll() is None, (tmp_path / "first-run.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the run never reached the coredns release"
            time.sleep(0.2)
        assert _step_status(inventory, "release:coredns") == "running"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        output.close()
    assert proc.returncode == -signal.SIGKILL
    # helmfile runs in its own session (homeops' LocalRunner), so it outlives a kill of homeops; kill it
    # too — by the pids of the processes this test started — so that helm dies mid-install.
    _kill_survivors(inventory)
    assert _syncs(inventory) == {"cilium": 1}
    store = SimStore(inventory / ".homeops" / "sim")
    pending = _pending(inventory, "kube-system/coredns")
    assert pending is not None and pending[0] == "pending-install"
    # How long homeops waits out a pending revision before recovering it (helm's --timeout plus the hooks'
    # margin): the sync's own timeout, which the first run printed.
    limit = re.search(r"syncing release kube-system/coredns: waiting for it \(up to (\d+)s\)",
                      (tmp_path / "first-run.log").read_text())  # fmt: skip
    assert limit is not None
    with store.transaction() as state:  # virtual time: the resume waits a few polls, not the deadline in real time
        state["clock"].update(mode="virtual", now=pending[1] + int(limit.group(1)) - 30)
    assert run("sim.fault", "helm-hook-hangs", "--clear").returncode == 0
    resumed = run("bootstrap.all", "--resume", "--yes")
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "finished: bootstrap-all done" in resumed.stdout
    # a helm may still hold the lock until its deadline: waited out, then recovered
    assert "release kube-system/coredns is pending-install since" in resumed.stdout
    # the killed helm left coredns pending-install (helm pkg/action errPending): recovered as helm advises
    assert "release kube-system/coredns was left pending-install by an interrupted helm: helm uninstall it" in (
        resumed.stdout
    )
    assert _syncs(inventory) == {n: 1 for n in ("cilium", "coredns", "cert-manager", "flux-operator", "flux-instance")}
