"""``inventory.show`` says what watches and gates the inventory's runs (windows, notifications, hooks,
silences, alert gates) — and never prints a notification or monitoring URL (they carry tokens)."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeops.inventory.loader import load_inventory
from homeops.tasks.inventory import inventory_as_dict, render_table

SECTIONS = """
maintenance:
  windows:
    - {days: [sat, sun], start: "02:00", duration: 4h, timezone: Europe/Amsterdam}
    - {days: [wed], start: "22:30", duration: 90m, timezone: UTC}
  nodeBudget: 45m
notify:
  urls: ["ntfys://ntfy.sh/homeops-S3cretTopic"]
  events: [started, failed]
hooks:
  pre: [{run: "echo pre"}]
  post: [{run: "echo post"}, {run: "echo again"}]
alertmanager:
  url: http://admin:hunter2@alertmanager.monitoring:9093
  matchers: ['severity=~"warning|critical"', 'cluster="home"']
  ttl: 15m
prometheus:
  url: http://prometheus.monitoring:9090
  alerts: [NodeDown]
  holdTimeout: 10m
"""


def test_show_names_each_run_policy_without_a_url(inv_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOMEOPS_NOTIFY_URLS", raising=False)
    (inv_dir / "homeops.yaml").write_text((inv_dir / "homeops.yaml").read_text() + SECTIONS)
    inv = load_inventory(inv_dir)
    expected = [
        "maintenance windows: sat,sun 02:00 for 4h (Europe/Amsterdam); wed 22:30 for 1h30m (UTC); node budget 45m",
        "notify: 1 url(s); events started, failed",
        "hooks: 1 pre, 2 post",
        "alertmanager: a silence of 2 matcher(s) while a run lives (ttl 15m)",
        "prometheus: holds before each node while any of 1 alert selector(s) fires (at most 10m)",
    ]
    assert inventory_as_dict(inv)["runPolicies"] == expected
    table = render_table(inv)
    shown = [line.removeprefix("run policy  ") for line in table.splitlines() if line.startswith("run policy")]
    assert shown == expected
    for secret in ("S3cretTopic", "ntfy.sh", "hunter2", "alertmanager.monitoring", "prometheus.monitoring"):
        assert secret not in table and secret not in str(inventory_as_dict(inv))
    monkeypatch.setenv("HOMEOPS_NOTIFY_URLS", "json://127.0.0.1:9/x")
    assert "notify: 1 url(s), $HOMEOPS_NOTIFY_URLS; events started, failed" in inventory_as_dict(inv)["runPolicies"]


def test_an_inventory_without_run_policies_shows_none(inv_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HOMEOPS_NOTIFY_URLS", raising=False)
    inv = load_inventory(inv_dir)
    assert inventory_as_dict(inv)["runPolicies"] == []
    assert "run policy" not in render_table(inv)
