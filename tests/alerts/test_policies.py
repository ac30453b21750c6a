"""SilencePolicy and AlertGate against the real Alertmanager and Prometheus (tests/alerts/conftest.py).

Alertmanager v0.25.0 semantics relied on: an update with the same id, matchers and startsAt keeps the id
(silence/silence.go canUpdate, line 585); DELETE expires (api/v2/api.go deleteSilenceHandler, line 618);
GET /api/v2/alerts computes silencedBy at read time (api/v2/api.go getAlertsHandler). Prometheus v2.42.0:
/api/v1/alerts lists pending and firing alerts (web/api/v1/api.go alerts, line 1122).
"""

from __future__ import annotations

import json
import shutil
import socket
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from homeops.adapters.alertmanager import Alertmanager
from homeops.clock import FakeClock, SystemClock
from homeops.engine.events import GO, Hold, RunInfo
from homeops.engine.plan import Plan, Step
from homeops.errors import GateFailed
from homeops.inventory.loader import load_inventory
from homeops.inventory.matchers import parse_matcher, parse_selector
from homeops.inventory.model import AlertGateSettings, SilenceSettings
from homeops.policies.alerts import AlertGate, SilencePolicy, alert_policies
from tests.alerts.conftest import ALWAYS_FIRING, ALWAYS_PENDING, PrometheusService, Service
from tests.alerts.test_config import GOOD, with_sections
from tests.conftest import EXAMPLE_INVENTORY

MATCHERS = (parse_matcher("severity=~warning|critical"), parse_matcher('cluster="home"'))
STEP = Step(id="k8s-1:upgrade", action="upgrade", summary="upgrade k8s-1", node="k8s-1")
PLAN = Plan(operation="upgrade-cluster", cluster="home", steps=(STEP,))


def run_info(run_id: str, backend: str = "real") -> RunInfo:
    return RunInfo(operation="upgrade-cluster", cluster="home", backend=backend, run_id=run_id)


def silence_policy(url: str, ttl: float = 60.0) -> tuple[SilencePolicy, list[str]]:
    said: list[str] = []
    return SilencePolicy(SilenceSettings(url=url, matchers=MATCHERS, ttl=ttl), say=said.append), said


def wait_for(condition, within: float = 8.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + within
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:g}s")
        time.sleep(0.1)


# ---------------------------------------------------------------------------------------------- silence


def test_silence_created_extended_and_expired_after_success(alertmanager: Service) -> None:
    policy, said = silence_policy(alertmanager.url, ttl=3.0)  # renewed every second
    am = Alertmanager(alertmanager.url)
    before = time.time()
    policy.begin(run_info("r-ok"), PLAN)
    after = time.time()
    sid = policy.silence_id
    assert sid is not None
    silence = am.get(sid)
    assert silence.state == "active"
    assert silence.created_by == "homeops"
    assert silence.matchers == MATCHERS
    assert silence.comment == "homeops upgrade-cluster on cluster home, run r-ok"
    assert before + 3.0 - 0.01 <= silence.ends_at <= after + 3.0 + 0.01  # the TTL from now (ms precision)

    # The keeper extends the same silence (same id) while the run lives: endsAt moves later.
    first_end = silence.ends_at
    later = wait_for(lambda: am.get(sid).ends_at > first_end + 0.5, what="endsAt moved later")
    assert later and policy.silence_id == sid
    time.sleep(3.5)  # longer than the TTL: without the keeper the silence would have lapsed
    assert am.get(sid).state == "active"

    policy.end(run_info("r-ok"), "finished")
    assert am.get(sid).state == "expired"
    assert policy._keeper is None
    lines = list(policy.report_lines())
    assert lines[0].startswith(f'silence {sid} for alerts matching severity=~"warning|critical", cluster="home"')
    assert lines[-1] == f"silence {sid} expired at the end of the run (finished)"
    assert said == [f"alertmanager: {line}" for line in lines]


@pytest.mark.parametrize("status", ["failed", "interrupted", "stopped"])
def test_silence_expired_whatever_the_end(alertmanager: Service, status: str) -> None:
    policy, _ = silence_policy(alertmanager.url)
    policy.begin(run_info(f"r-{status}"), PLAN)
    sid = policy.silence_id
    assert sid is not None and Alertmanager(alertmanager.url).get(sid).state == "active"
    policy.end(run_info(f"r-{status}"), status)  # type: ignore[arg-type]
    assert Alertmanager(alertmanager.url).get(sid).state == "expired"


def test_simulated_run_says_so_in_the_comment(alertmanager: Service) -> None:
    policy, _ = silence_policy(alertmanager.url)
    policy.begin(run_info("r-sim", backend="simulated"), PLAN)
    try:
        assert policy.silence_id is not None
        comment = Alertmanager(alertmanager.url).get(policy.silence_id).comment
        assert (
            comment
            == "homeops upgrade-cluster on cluster home, run r-sim — SIMULATED: the simulator, not real machines"
        )
    finally:
        policy.end(run_info("r-sim", backend="simulated"), "finished")


def test_the_silence_mutes_the_firing_alert(alertmanager: Service, prometheus: PrometheusService) -> None:
    """Prometheus sends HomeopsTestAlwaysFiring (severity=warning, cluster=home) to this Alertmanager."""
    policy, _ = silence_policy(alertmanager.url)
    policy.begin(run_info("r-mute"), PLAN)
    sid = policy.silence_id
    query = urllib.parse.urlencode({"filter": f'alertname="{ALWAYS_FIRING}"'})

    def silenced_by() -> list[str] | None:
        with urllib.request.urlopen(f"{alertmanager.url}/api/v2/alerts?{query}", timeout=5) as response:
            alerts = json.loads(response.read())
        return alerts[0]["status"]["silencedBy"] if alerts else None

    try:
        by = wait_for(lambda: sid in (silenced_by() or []), within=15, what="alert silenced")
        assert by
    finally:
        policy.end(run_info("r-mute"), "finished")
    assert sid not in (silenced_by() or [])


def test_alertmanager_down_leaves_the_run_unaffected(unused_port: int) -> None:
    policy, said = silence_policy(f"http://127.0.0.1:{unused_port}", ttl=3.0)
    policy.begin(run_info("r-down"), PLAN)  # no exception: never a gate
    assert policy.silence_id is None
    time.sleep(1.3)  # the keeper tries again (and fails again) without saying it twice
    policy.end(run_info("r-down"), "finished")
    assert len(said) == 1
    line = said[0]
    assert line.startswith("alertmanager: no silence for this run: alertmanager POST ")
    assert "cannot connect" in line and "the run goes on" in line and "\n" not in line


def test_alertmanager_answering_nonsense_leaves_the_run_unaffected(prometheus: PrometheusService) -> None:
    policy, said = silence_policy(prometheus.url)  # Prometheus where Alertmanager was meant
    policy.begin(run_info("r-wrong"), PLAN)
    policy.end(run_info("r-wrong"), "failed")
    assert policy.silence_id is None
    assert len(said) == 1 and "HTTP 404" in said[0]


def test_alertmanager_coming_up_late_gets_the_silence(alertmanager: Service) -> None:
    """Down at begin, up while the run lives: the keeper creates the silence on a later try."""
    policy, said = silence_policy("http://127.0.0.1:1", ttl=1.5)
    policy.begin(run_info("r-late"), PLAN)
    assert policy.silence_id is None
    policy.client = Alertmanager(alertmanager.url)  # the same service, now answering
    sid = wait_for(lambda: policy.silence_id, what="silence created later")
    policy.end(run_info("r-late"), "finished")
    assert Alertmanager(alertmanager.url).get(sid).state == "expired"
    assert any("(on a later try)" in line for line in said)


def test_a_silence_expired_by_hand_stays_expired(alertmanager: Service) -> None:
    policy, said = silence_policy(alertmanager.url, ttl=1.5)
    am = Alertmanager(alertmanager.url)
    policy.begin(run_info("r-hand"), PLAN)
    sid = policy.silence_id
    assert sid is not None
    am.expire(sid)  # a person wants the alerts back
    wait_for(lambda: any("expired in Alertmanager before the run ended" in line for line in said), what="noticed")
    time.sleep(0.6)
    policy.end(run_info("r-hand"), "finished")
    assert policy.silence_id == sid and am.get(sid).state == "expired"
    created = [s for s in _silences(alertmanager.url) if "run r-hand" in s["comment"]]
    assert [s["id"] for s in created] == [sid]  # not renewed into a new one


def test_a_silence_alertmanager_lost_is_created_again(alertmanager: Service) -> None:
    """Alertmanager restarted without its data answers 404 for the id (api/v2/api.go getSilenceHandler)."""
    policy, said = silence_policy(alertmanager.url, ttl=1.5)
    policy.begin(run_info("r-lost"), PLAN)
    first = policy.silence_id
    assert first is not None
    unknown = "00000000-0000-4000-8000-000000000000"  # an id this Alertmanager never had
    with policy._lock:
        policy.silence_id = unknown
    Alertmanager(alertmanager.url).expire(first)  # keep the first one out of the way
    again = wait_for(lambda: policy.silence_id not in (None, first, unknown) and policy.silence_id, what="new silence")
    policy.end(run_info("r-lost"), "finished")
    assert Alertmanager(alertmanager.url).get(again).state == "expired"
    assert any("is gone from Alertmanager" in line for line in said), said


def _silences(url: str) -> list[dict[str, str]]:
    with urllib.request.urlopen(f"{url}/api/v2/silences", timeout=5) as response:
        return list(json.loads(response.read()))


def test_describe_says_what_is_silenced() -> None:
    policy, _ = silence_policy("http://am.example:9093/", ttl=900)
    assert policy.describe(PLAN) == (
        'silences alerts matching severity=~"warning|critical", cluster="home" at http://am.example:9093 while the '
        "run lives (TTL 15m, renewed every 5m, expired at its end); never holds the run",
    )


# ---------------------------------------------------------------------------------------------- gate


def gate(url: str, selectors: list[str], *, clock: FakeClock | SystemClock, timeout: float = 5.0) -> AlertGate:
    alerts = tuple(parse_selector(s) for s in selectors)
    return AlertGate(AlertGateSettings(url=url, alerts=alerts, hold_timeout=timeout, poll_interval=1.0), clock=clock)


def test_gate_holds_while_the_alert_fires_and_releases_once_it_stops(
    prometheus: PrometheusService, switch_name: str
) -> None:
    policy = gate(prometheus.url, [f'alertname="{switch_name}"'], clock=SystemClock(), timeout=30)
    assert policy.before_step(PLAN, STEP, PLAN.steps) == GO
    prometheus.switch(switch_name, True)
    prometheus.wait_until(switch_name, True)
    decision = policy.before_step(PLAN, STEP, PLAN.steps)
    assert isinstance(decision, Hold)
    assert decision.why == (
        f'firing: {switch_name}{{cluster="home", severity="critical"}} '
        "(the run fails if they still fire 30s after the hold began)"
    )
    assert decision.seconds == 1.0
    prometheus.switch(switch_name, False)
    prometheus.wait_until(switch_name, False)
    assert policy.before_step(PLAN, STEP, PLAN.steps) == GO


def test_gate_fails_past_hold_timeout_naming_the_alert(prometheus: PrometheusService) -> None:
    clock = FakeClock()
    policy = gate(prometheus.url, [ALWAYS_FIRING, 'severity="nonesuch"'], clock=clock, timeout=5.0)
    first = policy.before_step(PLAN, STEP, PLAN.steps)
    assert isinstance(first, Hold) and ALWAYS_FIRING in first.why
    clock.advance(4.0)
    second = policy.before_step(PLAN, STEP, PLAN.steps)
    assert isinstance(second, Hold) and second.seconds == pytest.approx(1.0) and second.why == first.why
    clock.advance(1.0)
    with pytest.raises(GateFailed) as caught:
        policy.before_step(PLAN, STEP, PLAN.steps)
    text = str(caught.value)
    assert text.startswith("gate 'prometheus alerts' failed on k8s-1: held 5s (holdTimeout 5s), still firing: ")
    assert f'{ALWAYS_FIRING}{{cluster="home", severity="warning"}}' in text
    assert "nothing was sent to the next node" in text and "\n" not in text


def test_gate_ignores_alerts_it_was_not_told_about(prometheus: PrometheusService) -> None:
    policy = gate(
        prometheus.url, ["SomethingElse", f'{{alertname="{ALWAYS_FIRING}", severity="critical"}}'], clock=FakeClock()
    )
    assert policy.before_step(PLAN, STEP, PLAN.steps) == GO


def test_a_pending_alert_does_not_hold(prometheus: PrometheusService) -> None:
    """Pending: the rule's ``for:`` has not passed yet (rules/alerting.go) — not an alert yet."""
    policy = gate(prometheus.url, [ALWAYS_PENDING], clock=FakeClock())
    assert policy.before_step(PLAN, STEP, PLAN.steps) == GO


def test_gate_matchers_select_by_label(prometheus: PrometheusService) -> None:
    policy = gate(prometheus.url, ['{cluster="home", severity=~"warn.*"}'], clock=FakeClock())
    decision = policy.before_step(PLAN, STEP, PLAN.steps)
    assert isinstance(decision, Hold) and ALWAYS_FIRING in decision.why


def test_recovery_runs_are_not_gated(prometheus: PrometheusService) -> None:
    policy = gate(prometheus.url, [ALWAYS_FIRING], clock=FakeClock())
    dr = Plan(operation="dr-rebuild", cluster="home", steps=(STEP,))
    assert policy.before_step(dr, STEP, dr.steps) == GO
    assert policy.describe(dr) == ("not applied to dr-rebuild (it runs when alerts fire)",)


def test_gate_that_cannot_look_holds_then_fails(unused_port: int) -> None:
    clock = FakeClock()
    policy = gate(f"http://127.0.0.1:{unused_port}", [ALWAYS_FIRING], clock=clock, timeout=2.0)
    decision = policy.before_step(PLAN, STEP, PLAN.steps)
    assert isinstance(decision, Hold)
    assert decision.why.startswith(
        f"cannot read the alerts: prometheus GET http://127.0.0.1:{unused_port}/api/v1/alerts"
    )
    clock.advance(2.0)
    with pytest.raises(GateFailed, match=r"still cannot read the alerts: .*cannot connect"):
        policy.before_step(PLAN, STEP, PLAN.steps)


def test_gate_describe() -> None:
    policy = gate("http://prom:9090", ["NodeDown", 'severity="critical"'], clock=FakeClock(), timeout=600)
    assert policy.describe(PLAN) == (
        'before each batch of nodes, holds while NodeDown or {severity="critical"} fires at http://prom:9090 '
        "(asking every 1s; failing after 10m)",
    )


def test_alert_policies_from_the_inventory(tmp_path: Path) -> None:
    target = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops"))
    inv = load_inventory(with_sections(target, GOOD).parent)
    policies = alert_policies(inv, clock=FakeClock())
    assert [p.name for p in policies] == ["alertmanager", "alert gate"]
    assert alert_policies(load_inventory(EXAMPLE_INVENTORY), clock=FakeClock()) == []


def test_a_hanging_alertmanager_costs_the_run_only_its_timeouts() -> None:
    """Connected but never answered (a wedged proxy): begin and end each wait one request timeout."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # the kernel accepts the connections; nobody ever answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        said: list[str] = []
        settings = SilenceSettings(url=url, matchers=MATCHERS, ttl=60)
        policy = SilencePolicy(settings, client=Alertmanager(url, timeout=0.3), say=said.append)
        start = time.monotonic()
        policy.begin(run_info("r-hang"), PLAN)
        policy.end(run_info("r-hang"), "finished")
        assert time.monotonic() - start < 2.0
    assert len(said) == 1, said  # said once, not once per try
    assert said[0].startswith(f"alertmanager: no silence for this run: alertmanager POST {url}/api/v2/silences: ")
    assert "no answer within 0.3s" in said[0]
