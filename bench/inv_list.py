"""`inv --list` wall time and what its imports cost (target ≤ 0.25 s; Apprise must not be imported).

Run: python bench/inv_list.py [--runs N] [--top K]. Each run is a fresh process in this repository (after
one warm-up run for the bytecode cache); its CPU time is shown beside the wall time, and invoke alone on an
empty tasks.py beside both, because on a shared, loaded machine the wall time measures the load (on an idle
one the two agree). Then one `python -X importtime` run of the same command lists the top offenders: the
slowest modules by their own time, and the slowest top-level imports by cumulative time. Prints the figures,
then one JSON line; exits 1 when the median CPU time is over the target (``ok_wall`` says the same of the
wall time) or Apprise was imported (a notifier must import it only when a message is sent).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 0.25
# `inv --list` as invoke's own entry point runs it, in one process we can give -X importtime to.
INV_LIST = "import sys; sys.argv = ['inv', '--list']; from invoke.main import program; program.run()"


def wall_times(runs: int, env: dict[str, str], cwd: Path = REPO) -> tuple[list[float], list[float]]:
    """Wall and CPU (user + system) seconds of each run; CPU time barely moves with the machine's load."""
    inv = shutil.which("inv") or str(Path(sys.executable).with_name("inv"))
    subprocess.run([inv, "--list"], cwd=cwd, check=True, capture_output=True, env=env)  # warm the caches
    times, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run([inv, "--list"], cwd=cwd, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return times, cpu


def import_times(env: dict[str, str]) -> list[tuple[str, int, int, int]]:
    """(module, self µs, cumulative µs, nesting depth) for every module `inv --list` imports."""
    command = [sys.executable, "-X", "importtime", "-c", INV_LIST]
    done = subprocess.run(command, cwd=REPO, check=True, capture_output=True, text=True, env=env)
    rows = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "| imported package" in line:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        depth = (len(name) - len(name.lstrip()) - 1) // 2  # importtime indents a module under its importer
        rows.append((name.strip(), int(own), int(cumulative), depth))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    # A user's Python keeps its bytecode cache; a sandbox's PYTHONDONTWRITEBYTECODE would make every run
    # recompile every module and measure the sandbox instead of homeops.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    times, cpu = wall_times(args.runs, env)
    median = statistics.median(times)
    spread = f"min {min(times):.3f}, max {max(times):.3f}"
    print(f"inv --list: median {median:.3f} s over {args.runs} fresh processes ({spread}); target ≤ {TARGET_S} s")
    # What invoke alone costs on this machine right now (a shared machine's load moves both alike).
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "tasks.py").write_text("from invoke import task\n\n@task\ndef noop(c):\n    pass\n")
        base_times, base_cpu = wall_times(args.runs, env, Path(tmp))
    base = statistics.median(base_times)
    print(f"invoke alone (one empty task): median {base:.3f} s; homeops adds {median - base:.3f} s")
    print(
        f"CPU time (user+sys): inv --list median {statistics.median(cpu):.3f} s, invoke alone"
        f" {statistics.median(base_cpu):.3f} s"
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else -1.0
    print(f"load average (1 min): {load:.2f} on {os.cpu_count()} CPUs (a busy machine slows invoke alone as much)")

    rows = import_times(env)
    total = sum(own for _, own, _, _ in rows)
    print(f"\nimports: {len(rows)} modules, {total / 1e6:.3f} s in all (-X importtime, one run)")
    print(f"slowest modules by own time (top {args.top}):")
    for name, own, _, _ in sorted(rows, key=lambda r: r[1], reverse=True)[: args.top]:
        print(f"  {own / 1000:7.1f} ms  {name}")
    # A module imported at the top (depth 0) carries everything it pulled in: the real offenders.
    packages = {name: cumulative for name, _, cumulative, depth in rows if depth == 0}
    top = sorted(packages.items(), key=lambda kv: kv[1], reverse=True)[: args.top]
    print(f"slowest top-level imports by cumulative time (top {args.top}):")
    for name, cumulative in top:
        print(f"  {cumulative / 1000:7.1f} ms  {name}")
    names = {name for name, _, _, _ in rows}
    apprise = sorted(n for n in names if n == "apprise" or n.startswith("apprise."))
    print(f"\napprise imported: {'YES (' + str(len(apprise)) + ' modules)' if apprise else 'no'}")
    ok = statistics.median(cpu) <= TARGET_S and not apprise
    print(
        json.dumps(
            {
                "inv_list_median_s": round(median, 4),
                "inv_list_min_s": round(min(times), 4),
                "runs": args.runs,
                "target_s": TARGET_S,
                "modules_imported": len(rows),
                "import_total_s": round(total / 1e6, 4),
                "invoke_alone_median_s": round(base, 4),
                "homeops_adds_s": round(median - base, 4),
                "inv_list_cpu_median_s": round(statistics.median(cpu), 4),
                "invoke_alone_cpu_median_s": round(statistics.median(base_cpu), 4),
                "load_1min": round(load, 2),
                "top_imports_ms": {name: round(cumulative / 1000, 1) for name, cumulative in top[:5]},
                "apprise_imported": bool(apprise),
                "ok_wall": median <= TARGET_S,
                "ok": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
