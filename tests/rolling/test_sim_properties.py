"""The safety property against the simulator: random fault schedules, injected at random (simulated)
times of a real rolling upgrade. Before every `talosctl upgrade` homeops sends, the simulated cluster
itself is checked: no other control plane is away and every core gate is green; a failed run stops.

Faults appear when simulated time passes (in a sleep), as in life: a fault that lands between a look
and the command it allows, with no time in between, is beyond what any orchestrator can see."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from homeops.engine.gates import evaluate
from homeops.errors import HomeopsError
from homeops.inventory.model import Gates
from homeops.operations.health import ClusterWorld, cluster_gates
from homeops.operations.observe import ClusterObserver
from homeops.runtime import Runtime
from homeops.sim.runner import SimRunner

from .simrig import make_sim_rig

NODES = [f"k8s-{i}" for i in range(6)]
CPS = NODES[:3]

fault = st.one_of(
    st.tuples(st.just("node-never-returns"), st.sampled_from(NODES), st.just({})),
    st.tuples(st.just("node-rollback"), st.sampled_from(NODES), st.just({})),
    st.tuples(
        st.just("node-slow-ready"), st.sampled_from(NODES), st.builds(lambda s: {"seconds": s}, st.integers(5, 90))
    ),
    st.tuples(st.just("etcd-unhealthy"), st.sampled_from(CPS), st.just({})),
    st.tuples(st.just("api-unreachable"), st.none(), st.builds(lambda s: {"seconds": s}, st.integers(5, 120))),
    st.tuples(
        st.just("command-fails"), st.none(), st.builds(lambda t: {"tool": "talosctl", "times": t}, st.integers(1, 3))
    ),
    st.tuples(st.just("pve-host-down"), st.sampled_from(["pve1", "pve2", "pve3"]), st.just({})),
)
schedule = st.lists(st.tuples(st.floats(0, 600), fault), max_size=3)


class FaultClock:
    """The sim's clock; each sleep first lets simulated time pass, then injects the faults now due."""

    def __init__(self, rig: Any, events: list[tuple[float, tuple[str, Any, dict[str, Any]]]]) -> None:
        self.rig, self.inner = rig, rig.runtime.clock
        self.start = self.inner.monotonic()
        self.pending = sorted(events, key=lambda e: e[0])

    def now(self) -> float:
        return float(self.inner.now())

    def monotonic(self) -> float:
        return float(self.inner.monotonic())

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)
        while self.pending and self.monotonic() - self.start >= self.pending[0][0]:
            _, (name, target, params) = self.pending.pop(0)
            params = dict(params)
            times = params.pop("times", None)
            self.rig.fault(name, target, times=times, **params)


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=schedule)
@example(events=[(70.0, ("pve-host-down", "pve1", {}))])  # a host lost mid-run (regression)
def test_sim_never_two_control_planes_out_never_past_a_red_gate(
    tmp_path_factory: pytest.TempPathFactory, events: list[tuple[float, tuple[str, Any, dict[str, Any]]]]
) -> None:
    rig = make_sim_rig(
        tmp_path_factory.mktemp("simprop"), gates=Gates(proxmox=True, nas=False, flux=False, volsync=False, ceph=False)
    )
    plan = rig.plan()
    checker_runtime = Runtime(
        inventory=rig.inventory,
        local=SimRunner(rig.store.dir),
        clock=rig.runtime.clock,
        host_factory=rig.runtime.host_factory,
    )
    checker = ClusterObserver(checker_runtime)
    core = [g for g in cluster_gates(rig.inventory) if g.kind in ("talos-nodes", "etcd", "k8s-nodes", "api")]
    violations: list[str] = []
    sent: list[str] = []
    by_ip = {n.ip: n.hostname for n in rig.inventory.nodes}
    local = rig.runtime.local

    def watch(argv: Any) -> None:
        if len(argv) > 1 and argv[0] == "talosctl" and argv[1] == "upgrade":
            node = by_ip[argv[argv.index("--nodes") + 1]]
            state = rig.store.read()
            away = [h for h in CPS if h != node and (state["nodes"][h]["pending"] or not state["nodes"][h]["ready"])]
            if away:
                violations.append(f"{node} sent while {away} away")
            batch_started = not sent or sent[-1] not in [s.node for s in plan.steps if s.batch == _batch(plan, node)]
            if batch_started:
                red = [g.name for g in core if not evaluate(g, ClusterWorld(rig.inventory, checker).look).ok]
                if red:
                    violations.append(f"{node} sent with red gates {red}")
            sent.append(node)

    local.watchers.append(watch)  # type: ignore[attr-defined]
    try:
        rig.executor(clock=FaultClock(rig, events)).run(plan, yes=True)
        failed = False
    except HomeopsError:
        failed = True
    assert violations == []
    assert len(sent) == len(set(sent))  # nobody upgraded twice
    if not failed:
        assert {n["talos_version"] for n in rig.state["nodes"].values()} == {"v1.11.6"}


def _batch(plan: Any, node: str) -> int:
    return next(s.batch for s in plan.steps if s.node == node and s.action == "upgrade")
