"""Property: over random fault schedules, homeops never has two control planes out at once and
never sends a command past a red gate; when it stops, it stops before the next node."""

from __future__ import annotations

import io
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeops.app.runs import node_executor
from homeops.clock import FakeClock
from homeops.errors import HomeopsError
from homeops.operations.planners import Request, plan_upgrade

from .fakes import FakeCluster, Fault, make_inventory

NODES = [f"k8s-{i}" for i in range(6)]
CPS = NODES[:3]

fault = st.one_of(
    st.builds(Fault, st.just("never-returns"), st.sampled_from(NODES)),
    st.builds(Fault, st.just("rollback"), st.sampled_from(NODES)),
    st.builds(Fault, st.just("slow-ready"), st.sampled_from(NODES), seconds=st.floats(1, 120)),
    st.builds(
        lambda target, start, length: Fault("etcd-unhealthy", target, start, start + length),
        st.sampled_from(CPS),
        st.floats(0, 600),
        st.floats(1, 400),
    ),
    st.builds(
        lambda start, length: Fault("api-down", None, start, start + length), st.floats(0, 600), st.floats(1, 300)
    ),
    st.builds(
        lambda start, length: Fault("nas-degraded", None, start, start + length), st.floats(0, 600), st.floats(1, 300)
    ),
    st.builds(lambda t: Fault("command-fails", times=t), st.integers(1, 4)),
    st.builds(lambda t: Fault("observe-fails", times=t), st.integers(1, 4)),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(faults=st.lists(fault, max_size=4), max_unavailable=st.integers(1, 3))
def test_never_two_control_planes_out_and_never_past_a_red_gate(
    tmp_path_factory: pytest.TempPathFactory, faults: list[Fault], max_unavailable: int
) -> None:
    tmp = tmp_path_factory.mktemp("prop")
    inventory = make_inventory(tmp, max_unavailable=max_unavailable)
    clock = FakeClock()
    cluster = FakeCluster(inventory, clock)
    executor = node_executor(inventory, cluster, local=cluster, host=lambda n: cluster, clock=clock, out=io.StringIO())
    plan = plan_upgrade(inventory, cluster.facts(), Request(now=clock.now()), operation="upgrade-cluster")
    cluster.faults.extend(faults)

    failed: HomeopsError | None = None
    try:
        executor.run(plan, yes=True)
    except HomeopsError as exc:
        failed = exc

    upgrades = cluster.mutations("upgrade")
    first_of_batch = {}
    for record in upgrades:
        first_of_batch.setdefault(record.t, record)  # a batch's commands leave in the same instant
    for record in upgrades:
        # No control plane was out when any node was touched.
        assert record.cps_unavailable == (), record
    for record in first_of_batch.values():
        # Every gate was green right before a batch started (later members see the first one go down).
        assert record.red_gates == (), record
    # Control planes went one at a time: each one was back before the next command.
    cp_times = [r.t for r in upgrades if r.node in CPS]
    assert cp_times == sorted(cp_times) and len(set(cp_times)) == len(cp_times)
    if failed is None:
        assert sorted(r.node for r in upgrades) == NODES
        assert {f.version for f in cluster.fleet.values()} == {"v1.11.6"}
    else:
        # Stopped: the failing batch is the last one touched, nothing after it.
        batches = {s.node: s.batch for s in plan.steps if s.action == "upgrade"}
        touched = [batches[r.node] for r in upgrades]
        assert touched == sorted(touched)
        assert len(upgrades) == len({r.node for r in upgrades})  # no node upgraded twice
    assert math.isfinite(clock.monotonic())
