"""Defects 3 and 7 (load part) and the inventory cosmetics: bad or clashing values are refused at
load, with the file and field named, as one ``ConfigError``."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from homeops.errors import ConfigError
from homeops.inventory.loader import load_inventory
from tests.conftest import EXAMPLE_INVENTORY


@pytest.fixture
def inv(tmp_path: Path) -> Path:
    target = tmp_path / "inv"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def talconfig(inv: Path) -> Path:
    return inv / "talos" / "talconfig.yaml"


def refused(inv: Path, *needles: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_inventory(inv)
    text = str(caught.value)
    assert "\n" not in text
    for needle in needles:
        assert needle in text, text
    return text


def test_example_still_loads(inv: Path) -> None:
    assert len(load_inventory(inv).nodes) == 6


def test_duplicate_ip_in_talconfig(inv: Path) -> None:
    """Defect 3: k8s-4 given k8s-3's IP was accepted, then 'upgraded' k8s-3 twice."""
    edit(talconfig(inv), "ipAddress: 10.10.0.24", "ipAddress: 10.10.0.23")
    refused(inv, "talconfig.yaml", "nodes[4].ipAddress", "10.10.0.23", "k8s-3")


def test_duplicate_vm_on_same_host(inv: Path) -> None:
    edit(inv / "homeops.yaml", "vmid: 204", "vmid: 201")
    refused(inv, "homeops.yaml", "201")


def test_same_vmid_on_two_hosts(inv: Path) -> None:
    """Defect 7: a Proxmox cluster's vmids are cluster-wide; the same vmid on pve1 and pve2 was accepted."""
    edit(inv / "homeops.yaml", "vmid: 204", "vmid: 200")
    refused(inv, "nodes.k8s-4.vm", "200")


def test_duplicate_ip_in_homeops_node_list(tmp_path: Path) -> None:
    (tmp_path / "homeops.yaml").write_text(
        "cluster: {name: c, endpoint: 'https://10.0.0.10:6443', talosVersion: v1.11.6, kubernetesVersion: v1.34.2}\n"
        "nodes:\n"
        "  - {hostname: a, ip: 10.0.0.1, controlPlane: true}\n"
        "  - {hostname: b, ip: 10.0.0.1}\n"
    )
    refused(tmp_path, "nodes[1].ip", "10.0.0.1")


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("ipAddress: 10.10.0.24", "ipAddress: 10.10.0.299", "nodes[4].ipAddress"),
        ("hostname: k8s-4", "hostname: 'k8s-4;reboot'", "nodes[4].hostname"),
        ("hostname: k8s-4", "hostname: '$(reboot)'", "nodes[4].hostname"),
        ("endpoint: https://10.10.0.10:6443", "endpoint: not-a-url", "endpoint"),
        (
            "talosImageURL: factory.talos.dev/metal-installer/ce4c",
            "talosImageURL: 'factory.talos.dev/x;reboot/ce4c",
            "talosImageURL",
        ),
    ],
)
def test_invalid_talconfig_values(inv: Path, old: str, new: str, field: str) -> None:
    """Defect 7: an IP 10.10.0.299, hostnames with ; or $(...), a non-URL endpoint, an image with ;."""
    if new.startswith("talosImageURL: 'factory"):
        edit(talconfig(inv), old, new)
        schematic = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
        text = talconfig(inv).read_text().replace(f"{schematic}\n", f"{schematic}'\n", 1)
        talconfig(inv).write_text(text)
    else:
        edit(talconfig(inv), old, new)
    refused(inv, "talconfig.yaml", field)


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ("address: 10.10.0.2,", "address: '10.10.0.2;reboot',", "hosts.pve1.address"),
        ("kind: proxmox, user: root", "kind: proxmox, user: -oProxyCommand=x", "hosts.pve1.user"),
    ],
)
def test_invalid_host_values(inv: Path, old: str, new: str, field: str) -> None:
    """Defect 7: an SSH address with ';' and a user starting with '-' (ssh would read an option)."""
    edit(inv / "homeops.yaml", old, new)
    refused(inv, "homeops.yaml", field)


def test_homeops_yaml_is_a_directory(inv: Path) -> None:
    """Cosmetic: said 'not found'."""
    (inv / "homeops.yaml").unlink()
    (inv / "homeops.yaml").mkdir()
    text = refused(inv, "homeops.yaml")
    assert "not found" not in text and "directory" in text


def test_unreadable_talenv_does_not_ask_for_the_age_key(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cosmetic: an unreadable (plain) talenv.yaml hinted 'give the age key'."""
    talenv = inv / "talos" / "talenv.yaml"
    real = Path.read_text

    def read_text(self: Path, *args: object, **kwargs: object) -> str:
        if self == talenv:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", read_text)
    text = refused(inv, "talenv.yaml")
    assert "age key" not in text and "Permission denied" in text


def test_unreadable_inventory_dir_is_a_config_error(inv: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 15: an unreadable inventory dir raised PermissionError (tests run as root: simulate EACCES)."""
    real_stat = os.stat

    def stat(path: object, *args: object, **kwargs: object) -> os.stat_result:
        if str(path).startswith(str(inv) + os.sep):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "stat", stat)
    refused(inv, "Permission denied")
