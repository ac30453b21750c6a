"""Benchmark: how much time does homeops add to a rolling upgrade, beyond the cluster's own?

A simulated cluster in **real** time (``homeops.sim``, fake tools run in-process by ``SimRunner``)
where every node needs R seconds to go down, reboot and be ready again, and every round is followed
by a stability window of S seconds. The ideal wall time is one (R + S) per round — a round is one
control plane, or one batch of workers — so

    ratio = wall / Σ over rounds (R + S)

1.00 means homeops added nothing. Poll intervals scale with R (R / 40). Printed figures:

* ``ratio_sequential``: 3 control planes + 3 workers, one node at a time (target ≤ 1.05);
* ``ratio_batched``: 3 control planes + 6 workers over 3 Proxmox hosts, ``--max-unavailable 3``
  (2 worker rounds; target ≤ 1.10);
* ``plan_100_nodes_s``: planning 100 nodes (pure planner, facts given; target < 0.2 s);
* ``ratio_100_nodes``: 3 + 97 nodes over 10 hosts, R = 0.2 s, k = 10 (target ≤ 1.2);
* ``ratio_prepull``: the sequential run again, but pulling the installer takes P = R / 2 on every node
  (``pull_seconds``: uncached, the upgrade pays it before the reboot). The plan's pre-pull step pulls on
  all nodes in parallel first, so each round only reboots: ``(wall − pre-pull step) / Σ(R + S)``
  (target ≤ 1.05); ``prepull_s`` is that step's own time (⌈6 / prePullParallel 4⌉ × P = 2P, not 6 × P).

The first three runs model no pull time (P = 0), as before pre-pull existed, so their ratios compare
with the earlier ones; their wall time includes the (instant) pre-pull step.

R = 10 s and S = 5 s for the 6- and 9-node runs; S = 20 s for the 100-node run, because every
simulated command costs tens of milliseconds of simulator bookkeeping (locked state-file rewrites)
and a round of ten nodes needs about forty commands (ten upgrades, boot IDs before and after, looks).

The last line is the JSON summary. Run: ``python bench/rolling.py [--quick]``.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeops.app.runs import node_executor
from homeops.inventory.model import Cluster, Gates, Inventory, Node, SshHost, UpgradePolicy, VmRef
from homeops.operations.observe import ClusterObserver, cluster_facts
from homeops.operations.planners import Request, plan_upgrade
from homeops.runtime import Runtime
from homeops.sim.clock import SimClock
from homeops.sim.hosts import local_host_runner
from homeops.sim.runner import SimRunner
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

SCHEMATIC = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"


def inventory(root: Path, *, control_planes: int, workers: int, hosts: int, policy: UpgradePolicy) -> Inventory:
    nodes = tuple(
        Node(
            hostname=f"n{i:03d}",
            ip=f"10.20.{i // 250}.{i % 250 + 2}",
            control_plane=i < control_planes,
            talos_image_url=f"factory.talos.dev/metal-installer/{SCHEMATIC}",
            vm=VmRef(f"pve{i % hosts + 1}", 1000 + i),
        )
        for i in range(control_planes + workers)
    )
    cluster = Cluster(
        name="bench",
        endpoint="https://10.20.255.10:6443",
        talos_version="v1.11.6",
        kubernetes_version="v1.34.2",
        talconfig=None,
        talosconfig=root / "talosconfig",
        kubeconfig=root / "kubeconfig",
        clusterconfig_dir=root / "clusterconfig",
    )
    ssh = tuple(SshHost(f"pve{i + 1}", f"10.20.254.{i + 2}", "proxmox") for i in range(hosts))
    return Inventory(root=root, cluster=cluster, nodes=nodes, hosts=ssh, policy=policy, state_dir=root / "state")


@dataclass(frozen=True)
class Result:
    wall: float
    ideal: float
    rounds: int
    plan_seconds: float
    prepull: float = 0.0  # the pre-pull step's own wall time

    @property
    def ratio_after_prepull(self) -> float:
        return (self.wall - self.prepull) / self.ideal

    @property
    def ratio(self) -> float:
        return self.wall / self.ideal


def run(
    *, control_planes: int, workers: int, hosts: int, k: int, r: float, s: float, pull: float = 0.0, keep: bool = False
) -> Result:
    root = Path(tempfile.mkdtemp(prefix="homeops-bench-"))
    try:
        policy = UpgradePolicy(
            max_unavailable=k,
            stability_seconds=s,
            reboot_timeout=max(60.0, 20 * r),
            ready_timeout=max(60.0, 20 * r),
            poll_interval=r / 40,
            # Only the core gates: the benchmark measures the orchestration, not the host shims.
            gates=Gates(proxmox=False, nas=False, flux=False, volsync=False, ceph=False),
        )
        inv = inventory(root, control_planes=control_planes, workers=workers, hosts=hosts, policy=policy)
        sim_dir = root / "sim"
        store = SimStore(sim_dir)
        config = {
            "upgrade_seconds": 0.1 * r,
            "reboot_seconds": 0.6 * r,
            "ready_seconds": 0.3 * r,
            "poll_seconds": r / 20,
            "pull_seconds": pull,
        }
        store.create(initial_state(inv, SimOptions(talos_version="v1.10.9", clock_mode="real", config=config)))
        runtime = Runtime(
            inventory=inv,
            local=SimRunner(sim_dir),
            clock=SimClock(store),
            simulated=True,
            host_factory=lambda spec: local_host_runner(spec.name, sim_dir, in_process=True),
        )
        observer = ClusterObserver(runtime)
        facts = cluster_facts(observer, inv)
        start = time.perf_counter()
        plan = plan_upgrade(inv, facts, Request(now=runtime.clock.now()), operation="upgrade-cluster")
        plan_seconds = time.perf_counter() - start
        rounds = sum(1 for batch in plan.batches() if any(step.reboots for step in batch))
        executor = node_executor(
            inv, observer, local=runtime.local, host=runtime.host, clock=runtime.clock, out=io.StringIO()
        )
        start = time.time()
        outcome = executor.run(plan, yes=True)
        wall = time.time() - start
        prepull = 0.0
        if outcome.journal is not None:
            record = outcome.journal.step("cluster:pre-pull")
            if record.started is not None and record.finished is not None:
                prepull = record.finished - record.started
        versions = {n["talos_version"] for n in store.read()["nodes"].values()}
        if versions != {"v1.11.6"}:
            raise SystemExit(f"bench: the upgrade did not finish: versions {versions}")
        return Result(wall, rounds * (r + s), rounds, plan_seconds, prepull)
    finally:
        if not keep:
            shutil.rmtree(root, ignore_errors=True)


def plan_only(n: int = 100, k: int = 10) -> float:
    """Planning time for n nodes from given facts (the planner is pure: no tool call is timed)."""
    from homeops.operations.facts import ClusterFacts, NodeFacts

    root = Path(tempfile.mkdtemp(prefix="homeops-bench-"))
    try:
        inv = inventory(root, control_planes=3, workers=n - 3, hosts=10, policy=UpgradePolicy(max_unavailable=k))
        facts = ClusterFacts(
            nodes={
                x.hostname: NodeFacts(x.hostname, x.ip, True, "running", True, "v1.10.9", SCHEMATIC, "boot")
                for x in inv.nodes
            },
            etcd_leader="n000",
            kubernetes_version="v1.34.2",
        )
        best = math.inf
        for _ in range(5):
            start = time.perf_counter()
            plan_upgrade(inv, facts, Request(now=time.time()), operation="upgrade-cluster")
            best = min(best, time.perf_counter() - start)
        return best
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter R and S (noisier ratios)")
    args = parser.parse_args(argv)
    scale = 0.5 if args.quick else 1.0
    out: dict[str, Any] = {}

    seq = run(control_planes=3, workers=3, hosts=3, k=1, r=10.0 * scale, s=5.0 * scale)
    print(f"sequential 6 nodes: wall {seq.wall:.1f}s, ideal {seq.ideal:.1f}s ({seq.rounds} rounds) → {seq.ratio:.3f}")
    out["ratio_sequential"] = round(seq.ratio, 3)

    batched = run(control_planes=3, workers=6, hosts=3, k=3, r=10.0 * scale, s=5.0 * scale)
    print(
        f"batched 3+6 nodes, k=3: wall {batched.wall:.1f}s, ideal {batched.ideal:.1f}s "
        f"({batched.rounds} rounds) → {batched.ratio:.3f}"
    )
    out["ratio_batched"] = round(batched.ratio, 3)

    r = 10.0 * scale
    pre = run(control_planes=3, workers=3, hosts=3, k=1, r=r, s=5.0 * scale, pull=r / 2)
    print(
        f"sequential 6 nodes, pull {r / 2:g}s each: pre-pull step {pre.prepull:.1f}s, then "
        f"{pre.wall - pre.prepull:.1f}s for ideal {pre.ideal:.1f}s → {pre.ratio_after_prepull:.3f}"
    )
    out["ratio_prepull"] = round(pre.ratio_after_prepull, 3)
    out["prepull_s"] = round(pre.prepull, 2)

    out["plan_100_nodes_s"] = round(plan_only(), 4)
    print(f"plan 100 nodes: {out['plan_100_nodes_s'] * 1000:.1f} ms")

    big = run(control_planes=3, workers=97, hosts=10, k=10, r=0.2, s=20.0 * scale)
    print(
        f"100 nodes, R=0.2s, k=10: wall {big.wall:.1f}s, ideal {big.ideal:.1f}s ({big.rounds} rounds) → {big.ratio:.3f}"
    )
    out["ratio_100_nodes"] = round(big.ratio, 3)

    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
