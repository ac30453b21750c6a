"""The alert policies on the real executor, against the real Alertmanager and Prometheus (end to end).

A toy world of two nodes, one upgrade step each (one batch per node), run by ``homeops.engine.executor``
with ``alert_policies``' two policies: the silence lives exactly as long as the run, whatever its end,
and the gate holds the run before a node while a chosen alert fires. Alertmanager v0.25.0 and Prometheus
v2.42.0 semantics as in test_policies.py.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from homeops.adapters.alertmanager import Alertmanager
from homeops.clock import Clock, FakeClock, SystemClock
from homeops.engine.events import RunEvent, StepStarted
from homeops.engine.executor import Executor
from homeops.engine.gates import Check
from homeops.engine.journal import Journal
from homeops.engine.kinds import StepKind, register
from homeops.engine.plan import Command, Gate, Plan, Step
from homeops.engine.progress import PlainProgress
from homeops.errors import GateFailed, HomeopsError
from homeops.inventory.matchers import parse_matcher, parse_selector
from homeops.inventory.model import AlertGateSettings, SilenceSettings
from homeops.policies.alerts import AlertGate, SilencePolicy
from homeops.runners import Result
from tests.alerts.conftest import ALWAYS_FIRING, PrometheusService, Service

MATCHERS = (parse_matcher("severity=~warning|critical"), parse_matcher('cluster="home"'))


class Upgrade(StepKind):
    name = "alerts-e2e-upgrade"


register(Upgrade())


@dataclass
class Nodes:
    """Two nodes; each upgrade command takes ``pause`` real seconds; nodes in ``fail`` fail theirs."""

    state_dir: Path
    pause: float = 0.0
    fail: set[str] = field(default_factory=set)
    sent: list[tuple[float, tuple[str, ...]]] = field(default_factory=list)

    def look(self, gate: Gate) -> Check:
        return Check(True, "fine")

    def run(self, argv: Sequence[str], **_: object) -> Result:
        argv = tuple(argv)
        self.sent.append((time.monotonic(), argv))
        time.sleep(self.pause)
        if argv[1] in self.fail:
            return Result(argv, 1, "", "upgrade: the node said no", 0.0)
        return Result(argv, 0, "", "", 0.0)

    def close(self) -> None:
        return None


def plan(operation: str = "upgrade-cluster") -> Plan:
    steps = tuple(
        Step(
            id=f"{node}:upgrade",
            action=Upgrade.name,
            summary=f"upgrade {node}",
            node=node,
            batch=i,
            commands=(Command(("upgrade", node)),),
        )
        for i, node in enumerate(("k8s-0", "k8s-1"), 1)
    )
    return Plan(operation=operation, cluster="home", steps=steps, poll_interval=1)


@dataclass
class Run:
    executor: Executor
    nodes: Nodes
    out: io.StringIO
    events: list[RunEvent]

    def report(self) -> str:
        (path,) = self.nodes.state_dir.glob("runs/*/report.md")  # one run per test
        return path.read_text()

    def journal(self) -> Journal:
        (path,) = self.nodes.state_dir.glob("runs/*/journal.json")
        return Journal.load(path, FakeClock())


def make(tmp_path: Path, policies: Sequence[object], *, clock: Clock, nodes: Nodes | None = None) -> Run:
    nodes = nodes or Nodes(tmp_path / "state")
    out = io.StringIO()
    events: list[RunEvent] = []

    class Listener:
        def on_event(self, event: RunEvent) -> None:
            events.append(event)

    executor = Executor(
        nodes,
        local=nodes,
        host=lambda name: nodes,
        clock=clock,
        progress=PlainProgress(out, clock=clock),
        out=out,
        resume_with="inv upgrade.cluster --resume",
        listeners=[Listener()],
        policies=policies,  # type: ignore[arg-type]
    )
    return Run(executor, nodes, out, events)


def silence(url: str, ttl: float = 60.0, said: list[str] | None = None) -> SilencePolicy:
    return SilencePolicy(
        SilenceSettings(url=url, matchers=MATCHERS, ttl=ttl), say=(said if said is not None else []).append
    )


def gate(url: str, selector: str, *, clock: Clock, timeout: float = 30.0) -> AlertGate:
    settings = AlertGateSettings(url=url, alerts=(parse_selector(selector),), hold_timeout=timeout, poll_interval=0.5)
    return AlertGate(settings, clock=clock)


def test_the_silence_lives_as_long_as_a_successful_run(tmp_path: Path, alertmanager: Service) -> None:
    am = Alertmanager(alertmanager.url)
    policy = silence(alertmanager.url, ttl=3.0)  # renewed every second
    seen: list[tuple[str, float]] = []  # the silence's state and end as each node starts

    class Watch:
        def on_event(self, event: RunEvent) -> None:
            if isinstance(event, StepStarted) and policy.silence_id:
                s = am.get(policy.silence_id)
                seen.append((s.state, s.ends_at))

    run = make(tmp_path, [policy], clock=SystemClock(), nodes=Nodes(tmp_path / "state", pause=1.6))
    run.executor.listeners += (Watch(),)
    outcome = run.executor.run(plan(), yes=True)

    assert outcome.status == "finished"
    sid = policy.silence_id
    assert sid is not None and [argv for _, argv in run.nodes.sent] == [("upgrade", "k8s-0"), ("upgrade", "k8s-1")]
    assert [state for state, _ in seen] == ["active", "active"]
    assert seen[1][1] > seen[0][1] + 0.5  # extended while the run lived
    expired = am.get(sid)
    assert expired.state == "expired" and expired.created_by == "homeops"
    assert expired.comment == f"homeops upgrade-cluster on cluster home, run {outcome.journal.run_id}"  # type: ignore[union-attr]
    report = run.report()
    assert "## Policy: alertmanager" in report
    assert f"- silence {sid} expired at the end of the run (finished)" in report


def test_the_silence_is_expired_after_a_failed_run(tmp_path: Path, alertmanager: Service) -> None:
    policy = silence(alertmanager.url)
    run = make(tmp_path, [policy], clock=FakeClock(), nodes=Nodes(tmp_path / "state", fail={"k8s-1"}))
    with pytest.raises(HomeopsError, match="the node said no"):
        run.executor.run(plan(), yes=True)
    assert policy.silence_id is not None
    assert Alertmanager(alertmanager.url).get(policy.silence_id).state == "expired"
    assert f"- silence {policy.silence_id} expired at the end of the run (failed)" in run.report()


def test_alertmanager_down_leaves_the_run_alone(tmp_path: Path, unused_port: int) -> None:
    said: list[str] = []
    run = make(tmp_path, [silence(f"http://127.0.0.1:{unused_port}", said=said)], clock=FakeClock())
    assert run.executor.run(plan(), yes=True).status == "finished"
    assert len(run.nodes.sent) == 2
    assert len(said) == 1 and "no silence for this run" in said[0] and "cannot connect" in said[0]
    assert "- no silence for this run: alertmanager POST" in run.report()


def test_the_gate_holds_the_run_until_the_alert_stops(
    tmp_path: Path, prometheus: PrometheusService, switch_name: str
) -> None:
    prometheus.switch(switch_name, True)
    prometheus.wait_until(switch_name, True)
    clock = SystemClock()
    run = make(tmp_path, [gate(prometheus.url, switch_name, clock=clock)], clock=clock)
    resolving_at: list[float] = []

    def resolve_later() -> None:
        time.sleep(1.5)
        resolving_at.append(time.monotonic())
        prometheus.switch(switch_name, False)

    resolver = threading.Thread(target=resolve_later)
    resolver.start()
    try:
        outcome = run.executor.run(plan(), yes=True)
    finally:
        resolver.join()
    assert outcome.status == "finished"
    first_sent = run.nodes.sent[0][0]
    assert first_sent >= resolving_at[0]  # nothing was sent to k8s-0 while the alert fired
    out = run.out.getvalue()
    assert f"holding before upgrade k8s-0: alert gate: firing: {switch_name}{{" in out
    assert out.count("holding before") == 1  # the same words while the same alert fires: said once
    assert "hold over after" in out
    report = run.report()
    assert "## Policy: alert gate" in report
    assert re.search(rf"- held \d+s before upgrade k8s-0: firing: {switch_name}\{{.*\}}; then none fired", report), (
        report
    )


def test_the_gate_fails_the_run_past_hold_timeout_and_the_silence_still_ends(
    tmp_path: Path, alertmanager: Service, prometheus: PrometheusService
) -> None:
    clock = FakeClock()  # the hold costs no real second; Prometheus is asked for real each time
    keeper = silence(alertmanager.url)
    run = make(tmp_path, [keeper, gate(prometheus.url, ALWAYS_FIRING, clock=clock, timeout=3.0)], clock=clock)
    with pytest.raises(GateFailed) as caught:
        run.executor.run(plan(), yes=True)
    text = str(caught.value)
    assert text.startswith("gate 'prometheus alerts' failed on k8s-0: held 3s (holdTimeout 3s), still firing: ")
    assert ALWAYS_FIRING in text and "\n" not in text
    assert run.nodes.sent == []  # nothing sent to the node the gate stood before
    assert run.journal().status == "failed"
    assert "- held 3s before upgrade k8s-0, then failed the run: still firing: " in run.report()
    assert keeper.silence_id is not None
    assert Alertmanager(alertmanager.url).get(keeper.silence_id).state == "expired"


def test_dry_run_says_what_is_silenced_and_which_alerts_gate(tmp_path: Path, alertmanager: Service) -> None:
    keeper = silence(alertmanager.url)
    run = make(tmp_path, [keeper, gate("http://prom.example:9090", "NodeDown", clock=FakeClock())], clock=FakeClock())
    assert run.executor.run(plan(), dry_run=True).status == "dry-run"
    out = run.out.getvalue()
    assert (
        f'  alertmanager: silences alerts matching severity=~"warning|critical", cluster="home" at {alertmanager.url}'
        in out
    )
    assert "  alert gate: before each batch of nodes, holds while NodeDown fires at http://prom.example:9090" in out
    assert keeper.silence_id is None  # a dry run silences nothing
