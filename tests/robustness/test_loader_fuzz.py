"""Malformed homeops.yaml / talconfig.yaml documents: the loader returns a valid inventory or raises
``ConfigError`` (the one user-error type for inputs) — never anything else."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homeops.errors import ConfigError
from homeops.inventory.loader import load_inventory
from homeops.inventory.model import Inventory

TALCONFIG: dict[str, Any] = {
    "clusterName": "home",
    "talosVersion": "v1.11.6",
    "kubernetesVersion": "v1.34.2",
    "endpoint": "https://10.10.0.10:6443",
    "nodes": [
        {"hostname": "k8s-0", "ipAddress": "10.10.0.20", "controlPlane": True, "installDisk": "/dev/sda"},
        {"hostname": "k8s-1", "ipAddress": "10.10.0.21", "controlPlane": False, "installDisk": "/dev/sda"},
    ],
    "controlPlane": {"talosImageURL": "factory.talos.dev/metal-installer/abc"},
}
HOMEOPS: dict[str, Any] = {
    "cluster": {"talconfig": "talconfig.yaml", "stateDir": ".homeops"},
    "nodes": {"k8s-0": {"vm": {"host": "pve1", "vmid": 200}}, "k8s-1": {"vm": {"host": "pve1", "vmid": 201}}},
    "hosts": {"pve1": {"address": "10.10.0.2", "kind": "proxmox", "user": "root", "port": 22}},
    "upgrade": {"maxUnavailable": 1, "rebootTimeout": 900, "gates": {"proxmox": True, "custom": []}},
}

ODD_STRINGS = st.sampled_from(
    ["", " ", "-x", "a;b", "$(reboot)", "${UNSET}", "10.10.0.299", "::1", "k8s-0", "10.10.0.20", "v1.11",
     "https://", "ééé", "\x00", "a\nb", "0x10", "1e400", "~", "yes", "null", "*anchor", "&a", "{", "[", "'"]
)  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True), ODD_STRINGS, st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ODD_STRINGS, inner, max_size=3), max_leaves=6
)


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            found += _paths(value, (*prefix, index))
    return found


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any]) -> Any:
    doc: Any = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "delete", "duplicate", "borrow"]))
        if not path:
            doc = draw(VALUES) if action == "replace" else doc
            continue
        parent = doc
        for step in path[:-1]:
            parent = parent[step]
        key = path[-1]
        if action == "replace":
            parent[key] = draw(VALUES)
        elif action == "borrow":  # another field's value: a second node's IP, hostname or vmid
            source: Any = doc
            for step in draw(st.sampled_from(paths)):
                source = source[step]
            parent[key] = copy.deepcopy(source)
        elif action == "delete":
            del parent[key]
        elif isinstance(parent, list):
            parent.append(copy.deepcopy(parent[key]))
        elif isinstance(parent, dict):
            parent[f"{key}"] = copy.deepcopy(parent[key])
    return doc


def _load(homeops: Any, talconfig: Any, raw: str | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "homeops.yaml").write_text(yaml.safe_dump(homeops, allow_unicode=True))
        (root / "talconfig.yaml").write_text(raw if raw is not None else yaml.safe_dump(talconfig, allow_unicode=True))
        try:
            inv = load_inventory(root)
        except ConfigError as exc:
            assert "\n" not in str(exc)
            return
        assert isinstance(inv, Inventory)
        ips = [ip for n in inv.nodes for ip in n.ips]
        assert len(ips) == len(set(ips)), "duplicate IPs loaded"
        assert len({n.hostname for n in inv.nodes}) == len(inv.nodes)
        vmids = [n.vm.vmid for n in inv.nodes if n.vm]
        assert len(vmids) == len(set(vmids))


FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def test_base_documents_load() -> None:
    _load(HOMEOPS, TALCONFIG)


@FUZZ
@given(mutated(HOMEOPS))
def test_malformed_homeops_yaml(doc: Any) -> None:
    _load(doc, TALCONFIG)


@FUZZ
@given(mutated(TALCONFIG))
def test_malformed_talconfig_yaml(doc: Any) -> None:
    _load(HOMEOPS, doc)


TOKENS = [*"ab:-[]{}&*!|>'\"#%@` \n\t,?0.", "nodes", "hostname", "${x}", "\n  - "]


@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_garbage_talconfig_text(tokens: list[str]) -> None:
    _load(HOMEOPS, None, raw="".join(tokens))
