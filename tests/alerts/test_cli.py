"""``inv talos.reboot-node`` on the simulator with ``alertmanager:`` and ``prometheus:`` in homeops.yaml,
against the real Alertmanager and Prometheus: the composition root (``homeops.app.policies``) switches
both policies on from the inventory alone, for a SIMULATED run too (its silence says so)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from homeops.adapters.alertmanager import Alertmanager
from homeops.sim.store import SimStore
from tests.alerts.conftest import ALWAYS_FIRING, PrometheusService, Service
from tests.conftest import EXAMPLE_INVENTORY
from tests.robustness.conftest import run_inv


def sim_inventory(tmp_path: Path, alertmanager: str, prometheus: str, alert: str) -> Path:
    target = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops"))
    hm = target / "homeops.yaml"
    text = hm.read_text()
    # Fewer gates, no VM snapshot, no stability window: the same run, fewer simulated tool calls.
    for old, new in [("vmSnapshot: true", "vmSnapshot: false"), ("stabilitySeconds: 30", "stabilitySeconds: 0")]:
        text = text.replace(old, new)
    for gate in ("nas", "flux", "volsync"):
        text = text.replace(f"    {gate}: true ", f"    {gate}: false ")
    matchers = "['cluster=\"home\"', 'severity=~warning|critical']"
    text += (
        f"\nalertmanager: {{url: '{alertmanager}', matchers: {matchers}, ttl: 1m}}"
        f"\nprometheus: {{url: '{prometheus}', alerts: ['{alert}'], holdTimeout: 2m, pollInterval: 30s}}\n"
    )
    hm.write_text(text)
    up = run_inv("sim.up", "--inventory", str(target), "--virtual")
    assert up.code == 0, up
    return target


def silence_id(err: str) -> str:
    found = re.search(r"alertmanager: silence ([0-9a-f-]{36}) for alerts matching", err)
    assert found, err
    return found[1]


def reboots(inv: Path) -> list[list[str]]:
    return [e["argv"] for e in SimStore(inv / ".homeops" / "sim").read()["log"] if "reboot" in e["argv"]]


def test_a_simulated_run_is_silenced_while_it_lives(
    tmp_path: Path, alertmanager: Service, prometheus: PrometheusService
) -> None:
    """An etcd snapshot: silenced like every mutating run, not gated (it is wanted when alerts fire)."""
    inv = sim_inventory(tmp_path, alertmanager.url, prometheus.url, ALWAYS_FIRING)
    ran = run_inv("talos.etcd-snapshot", "--yes", "--inventory", str(inv))
    assert ran.crashed is None and ran.code == 0, ran
    assert "alert gate: not applied to etcd-snapshot" in ran.out
    silence = Alertmanager(alertmanager.url).get(silence_id(ran.err))
    assert silence.state == "expired" and silence.created_by == "homeops"
    assert silence.comment.startswith("homeops etcd-snapshot on cluster home, run ")
    assert silence.comment.endswith("SIMULATED: the simulator, not real machines")
    assert f"alertmanager: silence {silence.id} expired at the end of the run (finished)" in ran.err


def test_a_firing_alert_fails_the_run_before_the_node_in_virtual_time(
    tmp_path: Path, alertmanager: Service, prometheus: PrometheusService
) -> None:
    inv = sim_inventory(tmp_path, alertmanager.url, prometheus.url, ALWAYS_FIRING)
    ran = run_inv("talos.reboot-node", "--node", "k8s-4", "--yes", "--inventory", str(inv))
    assert ran.crashed is None and ran.code != 0, ran
    assert "gate 'prometheus alerts' failed on k8s-4: held 2m (holdTimeout 2m), still firing: " in ran.err, ran.err
    assert ALWAYS_FIRING in ran.err
    assert reboots(inv) == []  # nothing was sent to the node
    assert Alertmanager(alertmanager.url).get(silence_id(ran.err)).state == "expired"


def test_dry_run_lists_both_policies(tmp_path: Path, alertmanager: Service, prometheus: PrometheusService) -> None:
    inv = sim_inventory(tmp_path, alertmanager.url, prometheus.url, "NodeDown")
    ran = run_inv("talos.reboot-node", "--node", "k8s-4", "--dry-run", "--inventory", str(inv))
    assert ran.crashed is None and ran.code == 0, ran
    assert 'alertmanager: silences alerts matching cluster="home", severity=~"warning|critical"' in ran.out
    assert f"alert gate: before each batch of nodes, holds while NodeDown fires at {prometheus.url}" in ran.out
    assert "alertmanager: silence " not in ran.err  # nothing silenced by a dry run
