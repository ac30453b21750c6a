"""Property tests: any sequence of operations and time steps keeps the simulated cluster coherent."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeops.sim import engine, faults
from homeops.sim.runner import SimRunner
from homeops.sim.state import initial_state
from homeops.sim.store import SimStore

from .simkit import example_inventory

IMG = "factory.talos.dev/metal-installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
IPS = [f"10.10.0.{20 + i}" for i in range(6)]

operation = st.one_of(
    st.tuples(st.just("upgrade"), st.sampled_from(IPS), st.booleans()),
    st.tuples(st.just("reboot"), st.sampled_from(IPS), st.just(False)),
    st.tuples(st.just("advance"), st.floats(min_value=0, max_value=120), st.just(False)),
    st.tuples(
        st.just("fault"),
        st.sampled_from(["node-rollback", "node-slow-ready", "etcd-unhealthy"]),
        st.sampled_from(["k8s-0", "k8s-1", "k8s-2"]),
    ),
)


def check_coherent(state: dict) -> None:
    members = state["etcd"]["members"]
    assert set(members) <= {h for h, n in state["nodes"].items() if n["control_plane"]}
    assert state["etcd"]["leader"] is None or state["etcd"]["leader"] in members
    for hostname, node in state["nodes"].items():
        k8s_ready = state["k8s"]["nodes"][hostname]["ready"]
        if node["ready"]:
            assert node["stage"] == "running" and not engine.is_down(state, node) and k8s_ready == "True"
        if engine.is_down(state, node):
            assert k8s_ready == "Unknown" and not node["ready"]
    for deploy in state["k8s"]["deployments"]:
        assert 0 <= deploy["ready_replicas"] <= deploy["replicas"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(operation, max_size=12))
def test_any_history_stays_coherent_and_settles(tmp_path_factory, ops):
    root: Path = tmp_path_factory.mktemp("prop")
    store = SimStore(root / "sim")
    store.create(initial_state(example_inventory(root / "inv")))
    runner = SimRunner(store.dir)
    for kind, a, b in ops:
        if kind == "upgrade":
            argv = ["talosctl", "upgrade", "-n", a, "-i", f"{IMG}:v1.12.0", "--wait=false"] + (["--force"] if b else [])
            result = runner.run(argv)
            assert result.exit_code in (0, 1)
            if result.failed:  # refusals are the documented ones, never a crash
                assert any(m in result.stderr for m in ("etcd", "mutex", "no route to host")), result.stderr
        elif kind == "reboot":
            assert runner.run(["talosctl", "reboot", "-n", a, "--wait=false"]).exit_code in (0, 1)
        elif kind == "advance":
            with store.transaction() as state:
                state["clock"]["now"] += a
                engine.advance(state)
        else:
            with store.transaction() as state:
                faults.inject(state, a, b)
        check_coherent(store.read())
    with store.transaction() as state:
        faults.clear(state)
        state["clock"]["now"] += 3600  # long enough for every pending transition (slow-ready adds 300 s)
        engine.advance(state)
    final = store.read()
    check_coherent(final)
    assert all(n["ready"] and n["pending"] is None for n in final["nodes"].values())
    assert engine.etcd_quorate(final) and engine.api_up(final)
