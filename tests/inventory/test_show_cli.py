"""``inv inventory.show`` end to end, as a subprocess: every real-world talconfig, the example inventory.

Expected node counts and versions come from the realworld MANIFEST itself, so a talconfig added
there without a matching result here fails instead of being silently skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from homeops.inventory.versions import normalise_version
from tests.conftest import REALWORLD, REPO

TALCONFIGS = REALWORLD / "talconfig"
LATEST_TALOS = "v1.13.9"  # talhelper's default when talosVersion is absent


def run_show(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "inventory.show", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def manifest_rows() -> dict[str, dict[str, Any]]:
    """``saved as`` → {cp, workers, talos, kubernetes, unresolvable} parsed from MANIFEST.md's table."""
    rows: dict[str, dict[str, Any]] = {}
    for line in (TALCONFIGS / "MANIFEST.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 9 or not cells[0].isdigit():
            continue
        saved = cells[1].strip("`")
        cp, workers = re.sub(r"[*`]", "", cells[6]).split("/")
        rows[saved] = {
            "cp": int(cp),
            "workers": int(workers),
            "talos": _manifest_version(cells[4]),
            "kubernetes": _manifest_version(cells[5]),
            "unresolvable": "unresolvable" in cells[8],
        }
    return rows


def _manifest_version(cell: str) -> str | None:
    if "absent" in cell:
        return None
    found = re.findall(r"v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?", cell)
    return normalise_version(found[-1])  # "`${TALOS_VERSION}` → v1.9.4": the resolved value is last


# Without the real-world data these are empty and the tests below that read it skip (tests/conftest.py).
MANIFEST = manifest_rows() if REALWORLD.is_dir() else {}
ALL_TALCONFIGS = sorted(str(p.relative_to(TALCONFIGS)) for p in TALCONFIGS.rglob("talconfig.yaml"))


@pytest.mark.realworld
def test_manifest_covers_every_talconfig() -> None:
    assert ALL_TALCONFIGS, f"no talconfigs under {TALCONFIGS}"
    assert sorted(MANIFEST) == ALL_TALCONFIGS


@pytest.mark.realworld
@pytest.mark.parametrize("saved", ALL_TALCONFIGS)
def test_realworld_talconfig(saved: str) -> None:
    expected = MANIFEST[saved]
    path = TALCONFIGS / saved
    result = run_show("--talconfig", str(path), "--json")
    if expected["unresolvable"]:
        assert result.returncode == 2, result.stdout
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"error: {path}: nodes[0].hostname: ${{")
        assert "is not set" in lines[0]
        assert "Traceback" not in result.stderr
        return
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    nodes = data["nodes"]
    assert sum(n["controlPlane"] for n in nodes) == expected["cp"]
    assert sum(not n["controlPlane"] for n in nodes) == expected["workers"]
    assert data["talosVersion"] == (expected["talos"] or LATEST_TALOS)
    assert data["kubernetesVersion"] == expected["kubernetes"]
    assert data["cluster"] and data["endpoint"].startswith("https://")
    for node in nodes:
        assert node["hostname"] and node["ip"]
        assert node["installImage"] is None or node["installImage"].endswith(":" + data["talosVersion"])
        assert "${" not in json.dumps(node)


@pytest.mark.realworld
def test_unresolvable_talconfig_reads_once_the_variable_is_set() -> None:
    path = TALCONFIGS / "truxnell__home-cluster/talconfig.yaml"
    result = run_show("--talconfig", str(path), "--json", env={"DOMAINNAME": "truxnell.net"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    hostnames = [n["hostname"] for n in data["nodes"]]
    assert hostnames == ["xerxes.truxnell.net", "shodan.truxnell.net", "icarus.truxnell.net"]
    assert data["kubernetesVersion"] == "v1.29.2"  # written without the v
    # ${CLUSTERENDPOINTIP} is only in certSANs: a warning, not a refusal.
    assert any("additionalApiServerCertSans[0]: ${CLUSTERENDPOINTIP} not set" in w for w in data["warnings"])


def show_json(saved: str) -> dict[str, Any]:
    result = run_show("--talconfig", str(TALCONFIGS / saved), "--json")
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@pytest.mark.realworld
def test_image_details_of_realworld_nodes() -> None:
    data = show_json("joryirving__home-ops/main/talconfig.yaml")
    sid = "9a68df256a5d62389388b3c7b6e274eaefa3b735a8233518bc7883b7640ab327"
    assert {n["installImage"] for n in data["nodes"]} == {f"factory.talos.dev/installer/{sid}:v1.10.0"}
    assert {n["schematicId"] for n in data["nodes"]} == {sid}
    data = show_json("qjoly__talos-ipv6/talconfig.yaml")
    assert {n["installImage"] for n in data["nodes"]} == {"docker.io/qjoly/talos:v1.13.9"}
    data = show_json("Diaoul__home-ops/talconfig.yaml")
    assert all("/metal-installer-secureboot/" in n["installImage"] for n in data["nodes"])


def test_example_inventory_json() -> None:
    result = run_show("--json")  # ./inventory from the repo root
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["cluster"], data["endpoint"]) == ("home", "https://10.10.0.10:6443")
    assert (data["talosVersion"], data["kubernetesVersion"]) == ("v1.11.6", "v1.34.2")
    assert [(n["hostname"], n["controlPlane"], n["vm"]["host"]) for n in data["nodes"]] == [
        ("k8s-0", True, "pve1"),
        ("k8s-1", True, "pve2"),
        ("k8s-2", True, "pve3"),
        ("k8s-3", False, "pve1"),
        ("k8s-4", False, "pve2"),
        ("k8s-5", False, "pve3"),
    ]
    assert [h["name"] for h in data["hosts"]] == ["pve1", "pve2", "pve3", "nas"]
    assert data["warnings"] == []


def test_example_inventory_table() -> None:
    result = run_show("--inventory", "inventory")
    assert result.returncode == 0, result.stderr
    assert "k8s-5     worker        10.10.0.25  pve3/205" in result.stdout
    assert "6 nodes: 3 control plane, 3 worker; 0 warning(s)" in result.stdout


def test_refusal_of_a_jinja_template(tmp_path: Path) -> None:
    template = tmp_path / "talconfig.yaml"
    template.write_text("---\nclusterName: #{ cluster_name }#\nnodes:\n  #% for n in nodes %#\n  - hostname: x\n")
    result = run_show("--talconfig", str(template), "--json")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"error: {template}: is a Jinja template, not a talconfig (line 2: clusterName: #{{ cluster_name }}#)"
        " — render it first (e.g. `task configure` in cluster-template) and point homeops at the result"
    )


def test_bad_inventory_exits_with_one_line(tmp_path: Path) -> None:
    text = "cluster: {name: x, endpoint: 'https://x:6443'}\nhosts: {a: {kind: truenas}}\n"
    (tmp_path / "homeops.yaml").write_text(text)
    result = run_show("--inventory", str(tmp_path))
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'homeops.yaml'}: hosts.a.address: is required"
