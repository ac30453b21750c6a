"""Every recorded output under tests/fixtures/<tool>/<parser>/*.json, through its parser.

A fixture is ``{command, exit_code, stdout, stderr, fact}`` (pyinfra style). ``fact`` is the
expected parse as plain JSON (dataclasses as dicts, tuples as lists), or ``{"error": "<substring>"}``
when the parser must refuse the output with an ``UnexpectedOutput`` naming the tool.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from homeops.adapters import flux, helmfile, kubectl, talhelper, talosctl
from homeops.adapters._parse import UnexpectedOutput
from homeops.errors import CommandError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
TOOLS = ("talosctl", "talhelper", "kubectl", "helmfile", "flux")

Fixture = dict[str, Any]


def _with(obj: Any, **props: Any) -> dict[str, Any]:
    return {**dataclasses.asdict(obj), **props}


def _reconcile(fx: Fixture) -> Any:
    argv = shlex.split(fx["command"])
    return flux.parse_reconcile(fx["stderr"], kind=argv[2], name=argv[3])


PARSERS: dict[str, dict[str, Callable[[Fixture], Any]]] = {
    "talosctl": {
        "machine_status": lambda fx: talosctl.parse_machine_status(fx["stdout"]),
        "version": lambda fx: talosctl.parse_version(fx["stdout"]),
        "client_version": lambda fx: talosctl.parse_client_version(fx["stdout"]),
        "etcd_members": lambda fx: talosctl.parse_etcd_members(fx["stdout"]),
        "etcd_status": lambda fx: talosctl.parse_etcd_status(fx["stdout"]),
        "etcd_alarms": lambda fx: talosctl.parse_etcd_alarms(fx["stdout"]),
        "snapshot": lambda fx: talosctl.parse_snapshot(fx["stdout"]),
        "boot_id": lambda fx: talosctl.parse_boot_id(fx["stdout"]),
        "upgrade_ack": lambda fx: talosctl.parse_upgrade_ack(fx["stdout"]),
        "action_progress": lambda fx: talosctl.parse_action_progress(fx["stdout"] + fx["stderr"]),
        "apply_result": lambda fx: talosctl.parse_apply_result(fx["stderr"]),
        "health": lambda fx: _with(talosctl.parse_health(fx["stderr"]), ok=talosctl.parse_health(fx["stderr"]).ok),
        "service": lambda fx: talosctl.parse_service(fx["stdout"]),
        "upgrade_k8s": lambda fx: talosctl.parse_upgrade_k8s(fx["stdout"]),
        "node_errors": lambda fx: talosctl.parse_node_errors(fx["stderr"]),
    },
    "talhelper": {
        "gencommand": lambda fx: talhelper.parse_gencommand(fx["stdout"]),
        "genconfig": lambda fx: talhelper.parse_genconfig(fx["stdout"]),
        "fatal": lambda fx: talhelper.fatal_message(fx["stderr"]),
    },
    "kubectl": {
        "nodes": lambda fx: kubectl.parse_nodes(fx["stdout"]),
        "ceph_health": lambda fx: _with(h := kubectl.parse_ceph_health(fx["stdout"]), ok=h.ok),
        "replication_sources": lambda fx: kubectl.parse_replication_sources(fx["stdout"]),
        "kustomizations": lambda fx: kubectl.parse_kustomizations(fx["stdout"]),
        "wait": lambda fx: _with(w := kubectl.parse_wait(fx["stdout"], fx["stderr"]), ok=w.ok),
        "drain": lambda fx: kubectl.parse_drain(fx["stdout"], fx["stderr"]),
    },
    "helmfile": {
        "sync": lambda fx: _with(s := helmfile.parse_sync(fx["stderr"]), ok=s.ok),
        "template": lambda fx: helmfile.parse_template(fx["stdout"]),
    },
    "flux": {
        "kustomizations": lambda fx: flux.parse_kustomizations(fx["stdout"]),
        "helmreleases": lambda fx: flux.parse_helmreleases(fx["stdout"]),
        "reconcile": _reconcile,
    },
}


def _plain(value: Any) -> Any:
    """Facts as plain JSON values, so they compare with the recorded ``fact``."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _fixture_files() -> list[Any]:
    params = []
    for tool in TOOLS:
        for path in sorted((FIXTURES / tool).glob("*/*.json")):
            params.append(pytest.param(tool, path, id=f"{tool}/{path.parent.name}/{path.stem}"))
    return params


def test_every_fixture_directory_has_a_parser() -> None:
    dirs = {(p.parent.parent.name, p.parent.name) for tool in TOOLS for p in (FIXTURES / tool).glob("*/*.json")}
    assert dirs, "no fixtures found"
    unknown = sorted(d for d in dirs if d[1] not in PARSERS.get(d[0], {}))
    assert not unknown, f"fixture directories without a parser: {unknown}"
    untested = sorted((t, p) for t, ps in PARSERS.items() for p in ps if (t, p) not in dirs)
    assert not untested, f"parsers without fixtures: {untested}"


@pytest.mark.parametrize(("tool", "path"), _fixture_files())
def test_fixture(tool: str, path: Path) -> None:
    fx = json.loads(path.read_text())
    assert set(fx) >= {"command", "exit_code", "stdout", "stderr", "fact"}, path
    parse = PARSERS[tool][path.parent.name]
    expected = fx["fact"]
    if isinstance(expected, dict) and set(expected) == {"error"}:
        with pytest.raises(UnexpectedOutput) as info:
            parse(fx)
        assert isinstance(info.value, CommandError)
        assert expected["error"] in str(info.value)
        assert str(info.value).startswith(tool), "the error must name the tool"
        assert "\n" not in str(info.value)
    else:
        assert _plain(parse(fx)) == expected
