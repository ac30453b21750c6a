"""The maintenance-window policy's decisions, hook by hook, on a virtual clock (nothing sleeps).

admit refuses outside every window (one line, naming the next window and --ignore-window); before_step
stops the run before a batch whose budget would end after the window closes; describe is what a dry
run shows. The end-to-end runs through the executor are in test_window_runs.py.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from homeops.clock import FakeClock
from homeops.engine.events import GO, RunInfo, StopRun
from homeops.engine.plan import Command, Gate, Plan, Step, Wait
from homeops.errors import PolicyRefused
from homeops.inventory.model import Maintenance, MaintenanceWindow
from homeops.policies.window import WindowPolicy, batch_worst_case

WEEKEND = Maintenance((MaintenanceWindow(days=(5, 6), start=120, duration=240, timezone="Europe/Amsterdam"),))
GATE = Gate("nodes-ready", "nodes ready", "every node Ready")


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo("Europe/Amsterdam")).timestamp()


def node_steps(node: str, batch: int) -> tuple[Step, ...]:
    return (
        Step(
            id=f"{node}:upgrade",
            action="talos-upgrade",
            summary=f"upgrade {node}",
            node=node,
            batch=batch,
            reboots=True,
            waits=(Wait("back", "back on the new boot ID", 900.0), Wait("ready", "Ready", 600.0)),
            gates_after=(GATE,),
        ),
    )


def plan(operation: str = "upgrade-cluster", nodes: int = 4) -> Plan:
    steps = tuple(s for i in range(nodes) for s in node_steps(f"k8s-{i}", i))
    return Plan(operation=operation, cluster="home", steps=steps, stability_seconds=30.0)


def policy(clock: FakeClock, maintenance: Maintenance | None = WEEKEND, ignore: bool = False) -> WindowPolicy:
    made = WindowPolicy(maintenance=maintenance, clock=clock, ignore=ignore)
    made.begin(RunInfo("upgrade-cluster", "home", "real", "r1", "inv talos.upgrade-cluster --resume"), plan())
    return made


def test_without_maintenance_it_does_nothing() -> None:
    clock = FakeClock(at("2026-12-08 14:00"))  # a Tuesday afternoon
    quiet = policy(clock, maintenance=None)
    assert quiet.describe(plan()) == ()
    quiet.admit(plan(), resumed=False)
    assert quiet.before_step(plan(), plan().steps[0], plan().steps) == GO


def test_outside_every_window_the_start_is_refused_naming_the_next_window() -> None:
    clock = FakeClock(at("2026-12-08 14:00"))
    with pytest.raises(PolicyRefused) as refused:
        policy(clock).admit(plan(), resumed=False)
    text = str(refused.value)
    assert text == (
        "outside every maintenance window: the next opens Sat 12 Dec 02:00 CET (Europe/Amsterdam), in 3d 12h; "
        "nothing was changed — run it then, or now with --ignore-window"
    )
    with pytest.raises(PolicyRefused):  # a resume is a start too
        policy(clock).admit(plan(), resumed=True)


def test_ignore_window_admits_and_the_dry_run_says_it_is_ignored() -> None:
    clock = FakeClock(at("2026-12-08 14:00"))
    ignoring = policy(clock, ignore=True)
    ignoring.admit(plan(), resumed=False)
    assert ignoring.before_step(plan(), plan().steps[0], plan().steps) == GO
    assert ignoring.describe(plan()) == (
        "ignored (--ignore-window); it is closed; the next opens Sat 12 Dec 02:00 CET (Europe/Amsterdam), in 3d 12h",
    )


def test_disaster_recovery_and_a_snapshot_are_not_held_to_windows() -> None:
    clock = FakeClock(at("2026-12-08 14:00"))
    for operation in ("dr-rebuild", "etcd-snapshot"):
        held = policy(clock)
        held.admit(plan(operation), resumed=False)
        assert held.describe(plan(operation)) == (f"not applied to {operation} (it runs whenever it must)",)


def test_the_dry_run_shows_the_decision() -> None:
    clock = FakeClock(at("2026-12-12 02:00"))
    assert policy(clock).describe(plan()) == (
        "open until 06:00 CET (Europe/Amsterdam), 4h left; a batch of nodes starts only if its budget ends before "
        "the close (the first: 25m 30s, the worst case its timeouts allow; it fits)",
    )
    clock.advance(3 * 3600 + 50 * 60)  # 05:50
    (line,) = policy(clock).describe(plan())
    assert line.endswith(
        "(the first: 25m 30s, the worst case its timeouts allow; it does NOT fit: the run would be refused)"
    )
    closed = FakeClock(at("2026-12-08 14:00"))
    assert policy(closed).describe(plan()) == (
        "closed; the next opens Sat 12 Dec 02:00 CET (Europe/Amsterdam), in 3d 12h — this run would be refused "
        "(--ignore-window runs it now)",
    )


def test_a_fresh_run_whose_first_batch_cannot_end_in_the_window_is_refused_before_anything() -> None:
    clock = FakeClock(at("2026-12-12 05:50"))
    with pytest.raises(PolicyRefused) as refused:
        policy(clock).admit(plan(), resumed=False)
    assert str(refused.value) == (
        "the maintenance window closes at 06:00 CET (Europe/Amsterdam), in 10m, and the first batch may take "
        "25m 30s (the worst case its timeouts allow); the next window opens Sun 13 Dec 02:00 CET (Europe/Amsterdam); "
        "nothing was changed — run it then, or now with --ignore-window"
    )
    # resumed: the next batch is before_step's to judge (the journal knows which one it is)
    policy(clock).admit(plan(), resumed=True)


def test_a_batch_is_not_started_when_its_measured_budget_would_end_after_the_close() -> None:
    clock = FakeClock(at("2026-12-12 02:00"))
    held = policy(clock)
    whole = plan(nodes=6)
    steps = whole.steps
    held.admit(whole, resumed=False)
    decisions = []
    # the first batch (k8s-0) is judged on the worst case; each later one on the longest measured so far
    for minutes, step in zip((0, 40, 55, 50, 45), steps, strict=False):
        clock.advance(minutes * 60)
        decisions.append(held.before_step(whole, step, steps[steps.index(step) :]))
    assert decisions[:4] == [GO, GO, GO, GO]  # 02:00, 02:40, 03:35, 04:25
    # 05:10: the longest batch so far took 55m; 05:10 + 55m = 06:05 is after the 06:00 close
    stop = decisions[4]
    assert isinstance(stop, StopRun)
    assert stop.why == (
        "the window closes at 06:00 CET (Europe/Amsterdam), in 50m, and this batch may take 55m "
        "(the longest batch so far in this run); the next window opens Sun 13 Dec 02:00 CET (Europe/Amsterdam), "
        "in 20h 50m: resume then"
    )


def test_the_window_closing_during_another_policys_hold_stops_the_run() -> None:
    clock = FakeClock(at("2026-12-12 05:00"))
    held = policy(clock)
    assert held.before_step(plan(), plan().steps[0], plan().steps) == GO
    clock.advance(3600)  # asked again at 06:00 after a hold, same batch
    stop = held.before_step(plan(), plan().steps[0], plan().steps)
    assert isinstance(stop, StopRun) and stop.why.startswith("the maintenance window has closed; the next opens Sun")
    # the report keeps the batch's latest answer, not one line per time it was asked
    (line,) = held.report_lines()
    assert line.startswith("Sat 12 Dec 06:00 CET before k8s-0: stop — budget 25m 30s")


def test_node_budget_overrides_measured_and_worst_case() -> None:
    maintenance = Maintenance(WEEKEND.windows, node_budget=10)
    clock = FakeClock(at("2026-12-12 05:45"))
    held = policy(clock, maintenance)
    held.admit(plan(), resumed=False)  # the worst case (25m 30s) would not fit; the operator's 10m does
    assert held.before_step(plan(), plan().steps[0], plan().steps) == GO
    clock.advance(6 * 60)  # 05:51, next batch: 10m would end 06:01
    stop = held.before_step(plan(), plan().steps[1], plan().steps[1:])
    assert isinstance(stop, StopRun) and "may take 10m (maintenance.nodeBudget)" in stop.why


def test_a_batchs_worst_case_is_its_longest_node_plus_cluster_steps_plus_stability() -> None:
    workers = node_steps("k8s-3", 7) + node_steps("k8s-4", 7)
    slow = Step(
        "k8s-4:pull", "pre-pull", "pull", node="k8s-4", batch=7, commands=(Command(("talosctl", "x"), timeout=120.0),)
    )
    snapshot = Step("etcd:snapshot", "etcd-snapshot", "snapshot", batch=7, waits=(Wait("saved", "saved", 60.0),))
    whole = Plan("upgrade-cluster", "home", (*workers, slow, snapshot), stability_seconds=30.0)
    assert batch_worst_case(whole, whole.steps) == 1500 + 120 + 60 + 30
    # no gates after: no stability hold
    assert batch_worst_case(whole, (snapshot,)) == 60
    # a step's commands may run side by side (the pre-pull's, one per node): the longest counts
    pull = Step("cluster:pre-pull", "pre-pull", "pull", batch=0, commands=(Command(("a",), timeout=600.0),) * 6)
    assert batch_worst_case(whole, (pull,)) == 600
