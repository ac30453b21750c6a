"""No parser crashes on garbage: it returns a fact or raises ``UnexpectedOutput`` (a ``CommandError``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeops.adapters import flux, helmfile, kubectl, talhelper, talosctl
from homeops.adapters._parse import UnexpectedOutput

PARSERS: list[Callable[[str], Any]] = [
    talosctl.parse_machine_status,
    talosctl.parse_version,
    talosctl.parse_client_version,
    talosctl.parse_etcd_members,
    talosctl.parse_etcd_status,
    talosctl.parse_etcd_alarms,
    talosctl.parse_snapshot,
    talosctl.parse_boot_id,
    talosctl.parse_upgrade_ack,
    talosctl.parse_action_progress,
    talosctl.parse_apply_result,
    talosctl.parse_service,
    talosctl.parse_services_json,
    talosctl.parse_health,
    talosctl.parse_upgrade_k8s,
    talhelper.parse_gencommand,
    talhelper.parse_genconfig,
    kubectl.parse_nodes,
    kubectl.parse_pods,
    kubectl.parse_ceph_health,
    kubectl.parse_replication_sources,
    kubectl.parse_kustomizations,
    kubectl.parse_wait,
    kubectl.parse_drain,
    kubectl.parse_applied,
    helmfile.parse_sync,
    helmfile.parse_template,
    flux.parse_kustomizations,
    flux.parse_helmreleases,
    flux.parse_reconcile,
]

# Text that looks like the real thing often enough to reach the deeper branches.
fragments = st.sampled_from([
    "NODE", "MEMBER", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER", "DB SIZE", "IN USE", "LEADER",
    "RAFT INDEX", "RAFT TERM", "RAFT APPLIED INDEX", "ERRORS", "ALARM", "ACK", "NAME", "READY", "SUSPENDED",
    "   ", "\t", "\n", "true", "false", "a49c021e76e707db", "{", "}", '"node": "x"', '"spec": {}', '"metadata": {}',
    '"items": [', "]", "UPDATED RELEASES:", "---", "kind: Pod", "Server:", "\tNODE:", "Tag:", "✗", "►",
    "Dry run summary:", "Applied configuration with a reboot", "waiting for x: ", "HEALTH_", ";", "talosctl ",
    "generated config for", "--- a/", "node/x cordoned", "STATE", "  ", "'", '"',
])  # fmt: skip
garbage = st.one_of(st.text(max_size=200), st.lists(fragments, max_size=30).map("".join))


@pytest.mark.parametrize("parser", PARSERS, ids=lambda p: f"{p.__module__.rsplit('.', 1)[-1]}.{p.__name__}")
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=garbage)
def test_parser_never_crashes(parser: Callable[[str], Any], text: str) -> None:
    try:
        parser(text)
    except UnexpectedOutput as exc:
        assert "\n" not in str(exc)
