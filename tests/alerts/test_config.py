"""homeops.yaml ``alertmanager:`` and ``prometheus:``: the typed settings, and one line for each wrong value."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from homeops.errors import ConfigError
from homeops.inventory.loader import load_inventory
from homeops.inventory.matchers import Matcher, parse_matcher, parse_matchers
from homeops.inventory.model import AlertGateSettings, SilenceSettings
from tests.conftest import EXAMPLE_INVENTORY

GOOD = """
alertmanager:
  url: http://alertmanager.monitoring:9093
  matchers: ["severity=~warning|critical", 'cluster="home"']
  ttl: 15m
prometheus:
  url: https://user:pw@prometheus.example.net/prom/
  alerts: [NodeDown, 'severity="critical"', '{alertname=~"Ceph.*", severity!="info"}']
  holdTimeout: 1h30m
  pollInterval: 2.5s
"""

ALERTS = GOOD.splitlines()[7]


@pytest.fixture
def inv_dir(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops"))
    return target


def with_sections(inv_dir: Path, text: str) -> Path:
    path = inv_dir / "homeops.yaml"
    path.write_text(path.read_text() + text)
    return path


def test_sections_load_into_typed_settings(inv_dir: Path) -> None:
    inv = load_inventory(with_sections(inv_dir, GOOD).parent)
    assert inv.alertmanager == SilenceSettings(
        url="http://alertmanager.monitoring:9093",
        matchers=(Matcher("severity", "=~", "warning|critical"), Matcher("cluster", "=", "home")),
        ttl=900.0,
    )
    assert inv.prometheus == AlertGateSettings(
        url="https://user:pw@prometheus.example.net/prom/",
        alerts=(
            (Matcher("alertname", "=", "NodeDown"),),
            (Matcher("severity", "=", "critical"),),
            (Matcher("alertname", "=~", "Ceph.*"), Matcher("severity", "!=", "info")),
        ),
        hold_timeout=5400.0,
        poll_interval=2.5,
    )


def test_absent_sections_mean_no_silence_and_no_gate() -> None:
    inv = load_inventory(EXAMPLE_INVENTORY)
    assert inv.alertmanager is None and inv.prometheus is None


def test_defaults(inv_dir: Path) -> None:
    text = "alertmanager: {url: 'http://am:9093', matchers: [cluster=home]}\n"
    text += "prometheus: {url: 'http://p:9090', alerts: [X]}\n"
    inv = load_inventory(with_sections(inv_dir, text).parent)
    assert inv.alertmanager is not None and inv.alertmanager.ttl == 900.0
    assert inv.prometheus is not None
    assert (inv.prometheus.hold_timeout, inv.prometheus.poll_interval) == (600.0, 30.0)


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("  url: http://alertmanager.monitoring:9093", "  url: alertmanager:9093",
         "alertmanager.url: 'alertmanager:9093' is not an http:// or https:// URL with a host"),
        ("  url: http://alertmanager.monitoring:9093", "  url: http://am:99999",
         "alertmanager.url: 'http://am:99999' is not a URL"),
        ("  url: https://user:pw@prometheus.example.net/prom/", "  url: ftp://user:pw@p",
         "prometheus.url: 'ftp://***@p' is not an http:// or https:// URL with a host"),
        ("  url: https://user:pw@prometheus.example.net/prom/", "  url: http://user:pw@pw@p:99999",
         "prometheus.url: 'http://***@p:99999' is not a URL"),  # urlsplit's password is all up to the last @
        ("  url: https://user:pw@prometheus.example.net/prom/", "  url: user:pw@p:9090",
         "prometheus.url: '***@p:9090' is not an http:// or https:// URL with a host"),
        ("  url: http://alertmanager.monitoring:9093\n", "",
         "alertmanager.url: is required"),
        ("  matchers: [\"severity=~warning|critical\", 'cluster=\"home\"']", "  matchers: []",
         "alertmanager.matchers: must list at least one matcher, not an empty list"),
        ("  matchers: [\"severity=~warning|critical\", 'cluster=\"home\"']", "  matchers: [severity]",
         "alertmanager.matchers[0]: 'severity' is not a matcher"),
        ("  matchers: [\"severity=~warning|critical\", 'cluster=\"home\"']", "  matchers: ['severity=~\"(\"']",
         "alertmanager.matchers[0]: 'severity=~\"(\"': '(' is not a regular expression"),
        ("  matchers: [\"severity=~warning|critical\", 'cluster=\"home\"']", "  matchers: ['severity=~\".*\"']",
         "alertmanager.matchers: every matcher matches an alert without labels"),
        ("  matchers: [\"severity=~warning|critical\", 'cluster=\"home\"']", "  matchers: [{a: b}]",
         "alertmanager.matchers[0]: must be a matcher like severity=\"critical\", not a mapping"),
        ("  ttl: 15m", "  ttl: 15 minutes",
         "alertmanager.ttl: must be a duration like 15m, 1h30m or 90s (or a number of seconds) from 1s to 168h, "
         "not '15 minutes'"),
        ("  ttl: 15m", "  ttl: 0.5",
         "alertmanager.ttl: must be a duration like 15m"),
        ("  ttl: 15m", "  ttl: true",
         "alertmanager.ttl: must be a duration like 15m"),
        (ALERTS, "  alerts: []",
         "prometheus.alerts: must list at least one alert name or matcher, not an empty list"),
        (ALERTS, "  alerts: NodeDown",
         "prometheus.alerts: must list at least one alert name or matcher, not 'NodeDown'"),
        (ALERTS, "  alerts: [Node Down]",
         "prometheus.alerts[0]: 'Node Down' is not a matcher"),
        (ALERTS, "  alerts: [3]",
         "prometheus.alerts[0]: must be an alert name or matchers, not '3'"),
        (ALERTS, "  alerts: ['x!=\"\"', '{}']",
         "prometheus.alerts[1]: '{}' holds no matcher"),
        (ALERTS, "  alerts: ['x=~\".*\"']",
         "prometheus.alerts[0]: 'x=~\".*\"' would match every alert"),
        ("  holdTimeout: 1h30m", "  holdTimeout: -5",
         "prometheus.holdTimeout: must be a duration like 15m"),
        ("  pollInterval: 2.5s", "  pollInterval: 5d",
         "prometheus.pollInterval: must be a duration like 15m"),
        ("  ttl: 15m", "  tll: 15m",
         "alertmanager.tll: unknown key; did you mean ttl?"),
        ("  holdTimeout: 1h30m", "  holdtimeout: 1h30m",
         "prometheus.holdtimeout: unknown key; did you mean holdTimeout?"),
    ],
)  # fmt: skip
def test_wrong_values_are_one_line_config_errors(inv_dir: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD, old
    path = with_sections(inv_dir, GOOD.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_inventory(path.parent)
    text = str(caught.value)
    assert text.startswith(f"{path}: {expected}"), text
    assert "\n" not in text
    assert "pw@" not in text  # credentials in a URL are never echoed


def test_a_section_that_is_not_a_mapping(inv_dir: Path) -> None:
    path = with_sections(inv_dir, "alertmanager: http://am:9093\n")
    with pytest.raises(ConfigError, match=r"alertmanager: must be a mapping, not 'http://am:9093'$"):
        load_inventory(path.parent)


def test_matcher_syntax_follows_alertmanager() -> None:
    # prometheus/alertmanager v0.25.0 pkg/labels/parse.go: the ParseMatchers examples
    assert parse_matchers('{foo = "bar", dings != "bums", }') == (
        Matcher("foo", "=", "bar"),
        Matcher("dings", "!=", "bums"),
    )
    assert parse_matchers("foo=bar,dings!=bums") == (Matcher("foo", "=", "bar"), Matcher("dings", "!=", "bums"))
    quote = parse_matchers('{quote="She said: \\"Hi, ladies! That\'s gender-neutral…\\""}')
    assert quote == (Matcher("quote", "=", 'She said: "Hi, ladies! That\'s gender-neutral…"'),)
    assert parse_matcher('statuscode=~"5.."') == Matcher("statuscode", "=~", "5..")
    assert parse_matcher("a!~b|c") == Matcher("a", "!~", "b|c")
    assert parse_matcher(r'a=~"\d+"') == Matcher("a", "=~", "\\d+")  # a spurious escape is literal
    assert parse_matcher(r'a="x\\"') == Matcher("a", "=", "x\\")
    for bad in ('a="b', 'a="b"c"', "=b", 'a=b"', "1a=b", r'a="b\"'):
        with pytest.raises(ValueError):
            parse_matcher(bad)


@pytest.mark.parametrize(
    ("matcher", "labels", "hit"),
    [
        ('severity=~"warning|critical"', {"severity": "critical"}, True),
        ('severity=~"warning|critical"', {"severity": "critical-ish"}, False),  # anchored, as in Prometheus
        ('severity!~"info"', {}, True),
        ('cluster=""', {}, True),  # an absent label is the empty string
        ('cluster!="home"', {"cluster": "home"}, False),
    ],
)
def test_matching(matcher: str, labels: dict[str, str], hit: bool) -> None:
    assert parse_matcher(matcher).matches(labels) is hit


def test_matcher_prints_back_in_its_syntax() -> None:
    for text in ('a="b"', 'a=~"x|y"', 'a!="q\\"uote"'):
        assert str(parse_matcher(text)) == text


def test_the_commented_example_in_the_example_inventory_loads(inv_dir: Path) -> None:
    text = (EXAMPLE_INVENTORY / "homeops.yaml").read_text()
    block = text[text.index("# alertmanager:") :].split("\n\n")[0]  # up to the next section
    example = "\n".join(line.removeprefix("# ") for line in block.splitlines() if line.startswith("# ")) + "\n"
    inv = load_inventory(with_sections(inv_dir, example).parent)
    assert inv.alertmanager is not None and inv.alertmanager.ttl == 900.0
    assert inv.prometheus is not None and inv.prometheus.alerts[0] == (Matcher("alertname", "=", "NodeDown"),)
