"""The Alertmanager and Prometheus adapters against the real services (tests/alerts/conftest.py).

Alertmanager semantics from prometheus/alertmanager v0.25.0: api/v2/api.go postSilencesHandler (629),
getSilenceHandler (595), deleteSilenceHandler (618); silence/silence.go Set (548), canUpdate (585).
Prometheus: prometheus/prometheus v2.42.0 web/api/v1/api.go alerts (1122), rules/alerting.go ActiveAlerts (486).
"""

from __future__ import annotations

import time

import pytest

from homeops.adapters.alertmanager import Alertmanager, parse_time, timestamp
from homeops.adapters.prometheus import Prometheus
from homeops.errors import ApiError, ConnectionFailed
from homeops.inventory.matchers import parse_matcher
from tests.alerts.conftest import ALWAYS_FIRING, ALWAYS_PENDING, PrometheusService, Service

MATCHERS = (parse_matcher("severity=~warning|critical"), parse_matcher('cluster="home"'))


def test_silence_create_get_extend_expire(alertmanager: Service) -> None:
    am = Alertmanager(alertmanager.url)
    now = time.time()
    sid = am.create(MATCHERS, starts_at=now, ends_at=now + 60, created_by="homeops", comment="test run r1")
    silence = am.get(sid)
    assert silence.state == "active"
    assert silence.created_by == "homeops"
    assert silence.comment == "test run r1"
    assert silence.matchers == MATCHERS
    assert abs(silence.ends_at - (now + 60)) < 1

    # Extending keeps the id (same matchers, same startsAt) and moves endsAt later.
    assert am.extend(silence, ends_at=now + 120) == sid
    extended = am.get(sid)
    assert extended.state == "active"
    assert extended.ends_at - silence.ends_at == pytest.approx(60, abs=1)

    am.expire(sid)
    assert am.get(sid).state == "expired"
    am.expire(sid)  # idempotent on an expired silence (silence.go expire)


def test_extending_an_expired_silence_answers_a_new_id(alertmanager: Service) -> None:
    """Why the policy reads the silence before extending: Alertmanager replaces what it cannot update."""
    am = Alertmanager(alertmanager.url)
    now = time.time()
    sid = am.create(MATCHERS, starts_at=now, ends_at=now + 60, created_by="homeops", comment="x")
    silence = am.get(sid)
    am.expire(sid)
    new = am.extend(silence, ends_at=now + 120)
    assert new != sid
    am.expire(new)


def test_unknown_silence_is_one_line_api_error(alertmanager: Service) -> None:
    am = Alertmanager(alertmanager.url)
    with pytest.raises(ApiError) as caught:
        am.get("00000000-0000-0000-0000-000000000000")
    assert caught.value.status == 404
    assert "\n" not in str(caught.value)


def test_refused_silence_says_why(alertmanager: Service) -> None:
    am = Alertmanager(alertmanager.url)
    now = time.time()
    with pytest.raises(ApiError) as caught:
        am.create((parse_matcher('foo=~".*"'),), starts_at=now, ends_at=now + 60, created_by="homeops", comment="")
    assert caught.value.status == 400
    assert "empty string" in str(caught.value)


def test_alertmanager_down_is_connection_failed() -> None:
    am = Alertmanager("http://127.0.0.1:1", timeout=2)
    with pytest.raises(ConnectionFailed) as caught:
        am.get("x")
    text = str(caught.value)
    assert "\n" not in text and "http://127.0.0.1:1/api/v2/silence/x" in text and "cannot connect" in text


def test_credentials_in_the_url_never_show() -> None:
    am = Alertmanager("http://homeops:s3cret@127.0.0.1:1/am/", timeout=2)
    assert am.url == "http://127.0.0.1:1/am"
    with pytest.raises(ConnectionFailed) as caught:
        am.expire("x")
    assert "s3cret" not in str(caught.value)
    with pytest.raises(ValueError) as bad:
        Alertmanager("ftp://homeops:s3cret@host")
    assert "s3cret" not in str(bad.value)


@pytest.mark.parametrize("url", ["", "alertmanager:9093", "http://", "http://host:notaport", "http://h/?x=1"])
def test_bad_url_is_one_line_value_error(url: str) -> None:
    with pytest.raises(ValueError) as caught:
        Alertmanager(url)
    assert "\n" not in str(caught.value)


def test_timestamps_round_trip() -> None:
    assert timestamp(0.5) == "1970-01-01T00:00:00.500Z"
    assert parse_time("2026-12-05T07:45:00.123456789Z") == pytest.approx(1796456700.123456)


def test_prometheus_alerts_with_labels(prometheus: PrometheusService) -> None:
    alerts = Prometheus(prometheus.url).alerts()
    always = [a for a in alerts if a.name == ALWAYS_FIRING]
    assert len(always) == 1 and always[0].firing
    assert always[0].label_map() == {"alertname": ALWAYS_FIRING, "severity": "warning", "cluster": "home"}
    assert str(always[0]) == f'{ALWAYS_FIRING}{{cluster="home", severity="warning"}}'
    pending = [a for a in alerts if a.name == ALWAYS_PENDING]
    assert len(pending) == 1 and pending[0].state == "pending" and not pending[0].firing


def test_prometheus_switch_turns_an_alert_on_and_off(prometheus: PrometheusService, switch_name: str) -> None:
    prom = Prometheus(prometheus.url)
    assert switch_name not in {a.name for a in prom.alerts()}
    prometheus.switch(switch_name, True)
    prometheus.wait_until(switch_name, True)
    assert any(a.name == switch_name and a.firing for a in prom.alerts())
    prometheus.switch(switch_name, False)
    prometheus.wait_until(switch_name, False)


def test_prometheus_wrong_service_is_api_error(alertmanager: Service) -> None:
    # An Alertmanager where Prometheus was meant: answered, but not the v1 alerts API.
    with pytest.raises(ApiError) as caught:
        Prometheus(alertmanager.url).alerts()
    assert "\n" not in str(caught.value)
