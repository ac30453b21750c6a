"""Startup cost: median wall time of `inv --list` in this repository (target ≤ 0.30 s).

Run: python bench/startup.py [--runs N]. Prints each figure, then one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    inv = shutil.which("inv") or str(Path(sys.executable).with_name("inv"))
    # A user's Python keeps its bytecode cache; some sandboxes set PYTHONDONTWRITEBYTECODE, which would
    # make every run recompile every module and measure the sandbox instead of homeops.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def measure(cwd: Path) -> list[float]:
        subprocess.run([inv, "--list"], cwd=cwd, check=True, capture_output=True, env=env)  # warm caches
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([inv, "--list"], cwd=cwd, check=True, capture_output=True, env=env)
            times.append(time.perf_counter() - start)
        return times

    times = measure(REPO)
    # What invoke itself costs on this machine: the same command on a tasks.py with one empty task.
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "tasks.py").write_text("from invoke import task\n\n@task\ndef noop(c):\n    pass\n")
        baseline = measure(Path(tmp))
    median, base = statistics.median(times), statistics.median(baseline)
    print(f"inv --list: median {median:.3f} s over {args.runs} runs (min {min(times):.3f}, max {max(times):.3f})")
    print(f"invoke alone (one empty task): median {base:.3f} s; homeops adds {median - base:.3f} s")
    print(json.dumps({"inv_list_median_s": round(median, 4), "invoke_baseline_s": round(base, 4)}))


if __name__ == "__main__":
    main()
