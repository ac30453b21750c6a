"""Prometheus's HTTP API v1: the alerts its rules hold now (``GET /api/v1/alerts``).

Modelled on prometheus/prometheus v2.42.0 (Debian bookworm's ``prometheus`` 2.42.0+ds-5, which the tests
run for real): web/api/v1/api.go ``alerts`` (line 1122) answers ``{"status": "success", "data": {"alerts":
[{labels, annotations, state, activeAt, value}]}}`` with every alert of every alerting rule that is not
resolved (rules/alerting.go ``ActiveAlerts``, line 486): ``state`` is ``pending`` while the rule's ``for:``
has not yet passed, then ``firing``. Errors answer ``{"status": "error", "errorType", "error"}``.

Prometheus, not Alertmanager, is asked whether an alert fires: a run silences its own noise in
Alertmanager, and a silenced alert must still hold the run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeops.adapters._http import Service
from homeops.errors import ApiError

SERVICE = "prometheus"


@dataclass(frozen=True)
class Alert:
    labels: tuple[tuple[str, str], ...]  # sorted (name, value)
    state: str  # pending or firing
    active_at: str = ""

    @property
    def name(self) -> str:
        return dict(self.labels).get("alertname", "")

    @property
    def firing(self) -> bool:
        return self.state == "firing"

    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    def __str__(self) -> str:
        rest = ", ".join(f'{k}="{v}"' for k, v in self.labels if k != "alertname")
        return f"{self.name}{{{rest}}}" if rest else self.name


class Prometheus(Service):
    service = SERVICE

    def alerts(self) -> tuple[Alert, ...]:
        """Every active alert (pending and firing)."""
        return parse_alerts(self._call("GET", "/api/v1/alerts"))


def parse_alerts(data: Any) -> tuple[Alert, ...]:
    if not isinstance(data, dict) or data.get("status") != "success":
        error = data.get("error") if isinstance(data, dict) else None
        raise ApiError(f"{SERVICE}: /api/v1/alerts did not succeed: {error or str(data)[:200]}")
    try:
        raw = data["data"]["alerts"]
        alerts = []
        for item in raw:
            labels = item["labels"]
            if not isinstance(labels, dict):
                raise TypeError(f"labels {labels!r}")
            alerts.append(
                Alert(
                    labels=tuple(sorted((str(k), str(v)) for k, v in labels.items())),
                    state=str(item["state"]),
                    active_at=str(item.get("activeAt", "")),
                )
            )
        return tuple(alerts)
    except (KeyError, TypeError) as exc:
        raise ApiError(f"{SERVICE}: unexpected /api/v1/alerts answer: {type(exc).__name__} {exc}") from None
