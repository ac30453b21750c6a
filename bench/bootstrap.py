"""Benchmark: how much time does homeops add to ``bootstrap.all``, beyond the simulated cluster's own waits?

A blank simulated example cluster (6 VMs in Talos maintenance mode) in **real** time, fake tools run
in-process (``SimRunner``), where a node takes ``2 + R + Y`` seconds from the insecure apply to
running (the fake's install delay, reboot, ready), the API server ``A`` seconds after etcd formed,
each of the 5 releases ``H`` seconds (helm --wait), and the FluxInstance ``F`` seconds to be Ready.
The nodes install in parallel; etcd can be bootstrapped as soon as the first control plane has booted
(its CRI is up, before it is ready), so the API and the nodes' readiness overlap; the rest is a chain:

    floor = 2 + R + max(Y, A) + 5·H + F    ratio = wall / floor   (1.00: homeops added nothing)

The poll interval is R / 40 (as in bench/rolling.py). ``--cli`` also times ``inv bootstrap.all``
as users run it (a Python process per fake-tool command, virtual clock: all of that wall time is
process start-up and bookkeeping, none of it simulated waiting). Last line: the JSON summary.
Run: ``python bench/bootstrap.py [--quick] [--cli]``.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _inventory(tmp: Path, poll: float) -> Path:
    root = tmp / "inventory"
    shutil.copytree(REPO / "inventory", root, ignore=shutil.ignore_patterns(".homeops", "kubeconfig"))
    text = (root / "homeops.yaml").read_text(encoding="utf-8").replace("pollInterval: 5", f"pollInterval: {poll}")
    (root / "homeops.yaml").write_text(text, encoding="utf-8")
    return root


def in_process(reboot: float, ready: float, api: float, helm: float, flux: float) -> dict[str, float]:
    import homeops.app.backend
    import homeops.runtime
    from homeops.app.workflows import run_bootstrap
    from homeops.sim import lifecycle
    from homeops.sim.runner import SimRunner
    from homeops.sim.store import SimStore

    with tempfile.TemporaryDirectory() as tmp:
        root = _inventory(Path(tmp), round(reboot / 40, 3))
        store = lifecycle.start(root, blank=True, say=lambda _: None)
        with store.transaction() as state:
            state["config"].update(
                reboot_seconds=reboot, ready_seconds=ready, api_seconds=api, helm_seconds=helm,
                flux_ready_seconds=flux, poll_seconds=0.05,
            )  # fmt: skip
        real_open = homeops.app.backend.open_runtime

        def open_runtime(directory: object, **kw: object) -> homeops.runtime.Runtime:
            rt = real_open(directory, **kw)  # type: ignore[arg-type]
            rt.local = SimRunner(root / ".homeops" / "sim")
            return rt

        homeops.app.backend.open_runtime = open_runtime  # type: ignore[assignment]
        try:
            start = time.monotonic()
            run_bootstrap(root, "all", yes=True, out=io.StringIO())
            wall = time.monotonic() - start
        finally:
            homeops.app.backend.open_runtime = real_open
        commands = len(SimStore(root / ".homeops" / "sim").log())
        report = next((root / ".homeops" / "runs").glob("*-bootstrap-all/report.md")).read_text(encoding="utf-8")
        journal = json.loads(next((root / ".homeops" / "runs").glob("*-bootstrap-all/journal.json")).read_text())
    print(report if "--report" in sys.argv else "", end="")
    if "--journal" in sys.argv:
        print(json.dumps(journal, indent=1)[:20000])
    floor = 2.0 + reboot + max(ready, api) + 5 * helm + flux
    return {"wall_s": round(wall, 2), "floor_s": floor, "ratio": round(wall / floor, 3), "commands": commands}


def cli() -> dict[str, float]:
    inv = str(Path(sys.executable).with_name("inv"))
    with tempfile.TemporaryDirectory() as tmp:
        root = _inventory(Path(tmp), 5)
        shutil.copy(REPO / "tasks.py", Path(tmp) / "tasks.py")
        subprocess.run(
            [inv, "sim.up", "--blank", "--virtual", "-i", str(root)], cwd=tmp, check=True, capture_output=True
        )
        start = time.monotonic()
        subprocess.run([inv, "bootstrap.all", "--yes", "-i", str(root)], cwd=tmp, check=True, capture_output=True)
        wall = time.monotonic() - start
        log = (root / ".homeops" / "sim" / "log.jsonl").read_text().splitlines()
    return {
        "cli_virtual_wall_s": round(wall, 2),
        "cli_commands": len(log),
        "cli_s_per_command": round(wall / len(log), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="R=4 s instead of 10 s")
    parser.add_argument("--cli", action="store_true", help="also time `inv bootstrap.all` in subprocesses")
    parser.add_argument("--report", action="store_true", help="print the run report (step durations)")
    parser.add_argument("--journal", action="store_true", help="print the journal")
    args = parser.parse_args()
    r = 4.0 if args.quick else 10.0
    summary = in_process(reboot=r, ready=r / 2, api=r / 2, helm=r / 5, flux=r / 2)
    print(f"bootstrap.all, 6 nodes, 5 releases: wall {summary['wall_s']} s, floor {summary['floor_s']} s, "
          f"ratio {summary['ratio']} ({summary['commands']} commands)")  # fmt: skip
    if args.cli:
        summary.update(cli())
        print(f"inv bootstrap.all in subprocesses, virtual clock: {summary['cli_virtual_wall_s']} s for "
              f"{summary['cli_commands']} commands ({summary['cli_s_per_command']} s each)")  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
