"""Waits (success, fail-fast, timeout, transient errors) and gates (preflight, wait_green, stability)."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeops.clock import FakeClock
from homeops.engine.gates import hold_green, preflight, wait_green
from homeops.engine.waits import Observation, WaitSpec, wait_for
from homeops.errors import CommandError, GateFailed, WaitTimeout
from homeops.operations.health import ClusterWorld, cluster_gates

from .fakes import FakeCluster, Fault, make_inventory

SPEC = WaitSpec("k8s-1 back", "a new boot ID", "old version", timeout=60, interval=5, target="k8s-1")


def test_wait_returns_when_done_and_sleeps_on_the_injected_clock() -> None:
    clock = FakeClock()
    answers = iter([Observation.waiting("down"), Observation.waiting("booting"), Observation.ok("up")])
    seen = []
    result = wait_for(SPEC, lambda: next(answers), clock=clock, report=lambda s, e, o: seen.append((e, o)))
    assert result.done and result.observed == "up"
    assert clock.sleeps == [5, 5]
    assert seen == [(0.0, "down"), (5.0, "booting")]


def test_wait_fails_fast_on_a_failure_condition() -> None:
    clock = FakeClock()
    answers = iter([Observation.waiting("down"), Observation.failed("came back on v1.10.9")])
    with pytest.raises(GateFailed, match=r"k8s-1 back.*on k8s-1: came back on v1.10.9"):
        wait_for(SPEC, lambda: next(answers), clock=clock)
    assert clock.monotonic() == 5


def test_wait_times_out_with_what_it_waited_for_and_last_saw() -> None:
    clock = FakeClock()
    with pytest.raises(WaitTimeout) as info:
        wait_for(SPEC, lambda: Observation.waiting("stage booting"), clock=clock)
    message = str(info.value)
    assert "60s waiting for k8s-1 back (wanted: a new boot ID); last saw: stage booting" in message
    assert clock.monotonic() == 60  # never sleeps past the deadline


def test_wait_treats_command_errors_as_not_yet() -> None:
    clock = FakeClock()
    calls = {"n": 0}

    def probe() -> Observation[None]:
        calls["n"] += 1
        if calls["n"] < 3:
            raise CommandError("talosctl get failed: connection refused")
        return Observation.ok("up")

    assert wait_for(SPEC, probe, clock=clock).done
    with pytest.raises(WaitTimeout, match=r"last saw: talosctl get failed: connection refused"):
        wait_for(
            SPEC, lambda: (_ for _ in ()).throw(CommandError("talosctl get failed: connection refused")), clock=clock
        )


def rig(tmp_path: Path, **kw):
    inv = make_inventory(tmp_path, **kw)
    clock = FakeClock()
    return inv, clock, FakeCluster(inv, clock)


def test_preflight_green_and_red(tmp_path: Path) -> None:
    inv, clock, cluster = rig(tmp_path)
    results = preflight(cluster_gates(inv), ClusterWorld(inv, cluster).look, clock=clock)
    assert all(r.ok for r in results)
    cluster.faults.append(Fault("etcd-unhealthy", "k8s-1"))
    with pytest.raises(GateFailed, match=r"gate 'etcd' failed: 2/3 members healthy, k8s-1: unhealthy"):
        preflight(cluster_gates(inv), ClusterWorld(inv, cluster).look, clock=clock)


def test_preflight_retries_only_errored_looks(tmp_path: Path) -> None:
    inv, clock, cluster = rig(tmp_path)
    cluster.faults.append(Fault("observe-fails", times=2))
    assert all(r.ok for r in preflight(cluster_gates(inv), ClusterWorld(inv, cluster).look, clock=clock, retries=3))
    cluster.faults.append(Fault("nas-degraded"))
    sleeps = len(clock.sleeps)
    with pytest.raises(GateFailed, match=r"nas.*DEGRADED"):
        preflight(cluster_gates(inv), ClusterWorld(inv, cluster).look, clock=clock)
    assert len(clock.sleeps) == sleeps  # a red answer is not retried


def test_wait_green_waits_out_a_blip_and_fails_past_the_gate_timeout(tmp_path: Path) -> None:
    inv, clock, cluster = rig(tmp_path)
    cluster.faults.append(Fault("api-down", start=0, end=30))
    wait_green(cluster_gates(inv), ClusterWorld(inv, cluster).look, clock=clock, interval=5)
    assert 30 <= clock.monotonic() <= 35
    cluster.faults.append(Fault("nas-degraded"))
    with pytest.raises(GateFailed, match=r"nas"):
        wait_green(cluster_gates(inv), ClusterWorld(inv, cluster).look, clock=clock, interval=5)


def test_stability_window_restarts_on_red(tmp_path: Path) -> None:
    inv, clock, cluster = rig(tmp_path)
    hold_green(cluster_gates(inv), ClusterWorld(inv, cluster).look, seconds=20, clock=clock, interval=5)
    assert clock.monotonic() == 20
    start = clock.monotonic()
    cluster.faults.append(Fault("api-down", start=start + 10, end=start + 15))
    reds = []
    hold_green(
        cluster_gates(inv),
        ClusterWorld(inv, cluster).look,
        seconds=20,
        clock=clock,
        interval=5,
        report=lambda g, c: reds.append((g.name, c.observed)),
    )
    assert clock.monotonic() - start >= 15 + 20  # green again at +15, then a full window
    assert {name for name, _ in reds} == {"k8s-nodes", "api"}
    assert "stability window restarts" in reds[0][1]
