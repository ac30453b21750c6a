"""homeops.yaml: the example inventory, overlays, the no-talconfig form, and one-line validation errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from homeops.errors import ConfigError
from homeops.inventory.loader import inventory_from_talconfig, load_inventory
from homeops.inventory.model import VmRef
from tests.conftest import EXAMPLE_INVENTORY
from tests.inventory.conftest import edit

QEMU_ID = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"


def test_example_inventory() -> None:
    inv = load_inventory(EXAMPLE_INVENTORY)
    c = inv.cluster
    assert (c.name, c.endpoint, c.vip) == ("home", "https://10.10.0.10:6443", "10.10.0.10")
    assert (c.talos_version, c.kubernetes_version) == ("v1.11.6", "v1.34.2")  # via talenv.yaml
    assert c.talconfig == EXAMPLE_INVENTORY / "talos/talconfig.yaml"
    assert c.talosconfig == EXAMPLE_INVENTORY / "talos/clusterconfig/talosconfig"
    assert c.clusterconfig_dir == EXAMPLE_INVENTORY / "talos/clusterconfig"
    assert c.age_key == EXAMPLE_INVENTORY / "age.key"
    assert c.sops_config == EXAMPLE_INVENTORY / ".sops.yaml"
    assert [n.hostname for n in inv.control_planes] == ["k8s-0", "k8s-1", "k8s-2"]
    assert [n.hostname for n in inv.workers] == ["k8s-3", "k8s-4", "k8s-5"]
    assert [n.vm for n in inv.nodes] == [
        VmRef(f"pve{i % 3 + 1}", 200 + i, mac=f"BC:24:11:00:00:{200 + i:02X}", disk="local-lvm:64") for i in range(6)
    ]
    assert (inv.dr.snapshot_max_age, inv.dr.backup_pool, inv.dr.min_free_bytes) == (26 * 3600, "tank", 10 * 1024**3)
    assert inv.node("10.10.0.23").hostname == "k8s-3"
    assert {n.install_image for n in inv.nodes} == {f"factory.talos.dev/metal-installer/{QEMU_ID}:v1.11.6"}
    assert {n.schematic_id for n in inv.nodes} == {QEMU_ID}
    assert [(h.name, h.kind) for h in inv.hosts] == [
        ("pve1", "proxmox"),
        ("pve2", "proxmox"),
        ("pve3", "proxmox"),
        ("nas", "truenas"),
    ]
    assert inv.host("pve2").address == "10.10.0.3"
    assert inv.host("nas").known_hosts == EXAMPLE_INVENTORY / "known_hosts"
    p = inv.policy
    assert (p.max_unavailable, p.stability_seconds, p.vm_snapshot, p.etcd_snapshot_to_nas) == (1, 30.0, True, True)
    gates = p.gates
    assert (gates.proxmox, gates.nas, gates.flux, gates.volsync, gates.ceph) == (True, True, True, True, False)
    (gate,) = p.gates.custom
    assert (gate.name, gate.kind, gate.expect, gate.timeout) == ("nfs-provisioner-ready", "jsonpath", "1", 120.0)
    assert inv.state_dir == EXAMPLE_INVENTORY / ".homeops"
    assert inv.warnings == ()


K0 = "k8s-0: { vm: { host: pve1, vmid: 200"
K1 = "k8s-1: { vm: { host: pve2, vmid: 201"
PVE1 = "user: root, knownHosts"
HOSTS_BLOCK = re.search(r"(?m)^hosts:\n(?:  .*\n)+", (EXAMPLE_INVENTORY / "homeops.yaml").read_text())[0]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        (PVE1, "port: ssh, " + PVE1, "hosts.pve1.port: must be an integer 1..65535, not 'ssh'"),
        (PVE1, "port: 70000, " + PVE1, "hosts.pve1.port: must be an integer 1..65535"),
        ("kind: proxmox, user", "kind: esxi, user", "hosts.pve1.kind: must be proxmox or truenas, not 'esxi'"),
        ("pve1: { address: 10.10.0.2, ", "pve1: { ", "hosts.pve1.address: is required"),
        (K0, K0.replace("pve1", "pve9"), "nodes.k8s-0.vm.host: 'pve9' is not under hosts:"),
        (K0, K0.replace("pve1", "nas"), "nodes.k8s-0.vm.host: 'nas' is a truenas host"),
        (K0, K0.replace(", vmid: 200", ""), "nodes.k8s-0.vm.vmid: is required"),
        (K0, K0.replace("200", "20"), "nodes.k8s-0.vm.vmid: must be an integer 100..999999999, not '20'"),
        (K1, K0.replace("k8s-0", "k8s-1"), "nodes.k8s-1.vm: VM 200 on pve1 is also nodes.k8s-0's"),
        ('mac: "BC:24:11:00:00:C8"', "mac: BC-24", "nodes.k8s-0.vm.mac: must be a MAC address like BC:24:11:00:02:01"),
        ("disk: local-lvm:64 } }\n  k8s-1", "disk: 64G } }\n  k8s-1", "nodes.k8s-0.vm.disk: must be <storage>:<GiB>"),
        ('"BC:24:11:00:00:C9"', '"bc:24:11:00:00:c8"', "nodes.k8s-1.vm.mac: BC:24:11:00:00:C8 is also nodes.k8s-0's"),
        ("snapshotMaxAgeHours: 26", "snapshotMaxAgeHours: 0", "dr.snapshotMaxAgeHours: must be a number of hours > 0"),
        ("minFreeGiB: 10", "minFreeGiB: lots", "dr.minFreeGiB: must be a number of GiB >= 0, not 'lots'"),
        ("maxUnavailable: 1 ", "maxUnavailable: 0 ", "upgrade.maxUnavailable: must be an integer >= 1, not '0'"),
        ("rebootTimeout: 900", "rebootTimeout: -5", "upgrade.rebootTimeout: must be a number of seconds > 0, not '-5'"),
        ("vmSnapshot: true ", "vmSnapshot: yes ", "upgrade.vmSnapshot: must be true or false, not 'yes'"),
        ("flux: true ", "flux: 1 ", "upgrade.gates.flux: must be true or false, not '1'"),
        ('expect: "1"', "expect: 1", "upgrade.gates.custom[0].expect: must be the expected output as a string"),
        ("kind: jsonpath", "kind: shell", "upgrade.gates.custom[0].kind: must be jsonpath or command, not 'shell'"),
        (HOSTS_BLOCK, "hosts: [pve1]\n", "hosts: must be a mapping, not a list"),
        ("talconfig: talos/talconfig.yaml", "talconfig: 42", "cluster.talconfig: must be a non-empty string, not '42'"),
    ],
)
def test_validation_errors_are_one_line(inv_dir: Path, old: str, new: str, expected: str) -> None:
    path = edit(inv_dir, old, new)
    with pytest.raises(ConfigError) as info:
        load_inventory(inv_dir)
    message = str(info.value)
    assert message.startswith(f"{path}: {expected}"), message
    assert "\n" not in message


def test_unknown_keys_are_refused_not_ignored(inv_dir: Path) -> None:
    # They used to be a warning nobody reads: the setting silently fell back to its default.
    path = edit(inv_dir, "user: root, knownHosts", "colour: blue, user: root, knownHosts")
    with pytest.raises(ConfigError) as info:
        load_inventory(inv_dir)
    assert str(info.value).startswith(f"{path}: hosts.pve1.colour: unknown key")


def test_overlay_for_a_node_the_talconfig_lacks(inv_dir: Path) -> None:
    path = edit(inv_dir, "k8s-5: {", "k8s-9: {")
    with pytest.raises(ConfigError) as info:
        load_inventory(inv_dir)
    message = str(info.value)
    assert message.startswith(f"{path}: nodes.k8s-9: no node 'k8s-9' in {inv_dir / 'talos/talconfig.yaml'}")
    assert "k8s-0, k8s-1" in message


def test_talconfig_errors_surface(inv_dir: Path) -> None:
    (inv_dir / "talos/talenv.yaml").write_text("kubernetesVersion: v1.34.2\n")  # talosVersion gone
    with pytest.raises(ConfigError) as info:
        load_inventory(inv_dir)
    assert str(info.value).startswith(f"{inv_dir / 'talos/talconfig.yaml'}: talosVersion: ${{talosVersion}} is not set")


def test_without_talconfig(tmp_path: Path) -> None:
    (tmp_path / "homeops.yaml").write_text(
        textwrap.dedent(
            """
            cluster:
              name: lab
              endpoint: https://10.0.0.10:6443
              talosVersion: 1.12.0-beta.1
              kubernetesVersion: v1.35.0
              kubeconfig: ~/kube/config
              stateDir: /var/tmp/homeops-state
            nodes:
              - { hostname: cp, ip: 10.0.0.11, controlPlane: true, installImage: "ghcr.io/x/installer:v1.12.0-beta.1",
                  vm: { host: pve, vmid: 100 } }
              - { hostname: w, ips: [10.0.0.12, "fd00::12"], installDisk: /dev/vda }
            hosts:
              pve: { address: 10.0.0.2, kind: proxmox, identity: keys/id_ed25519 }
            """
        )
    )
    inv = load_inventory(tmp_path)
    assert (inv.cluster.name, inv.cluster.talos_version, inv.cluster.talconfig) == ("lab", "v1.12.0-beta.1", None)
    assert inv.cluster.kubeconfig == Path.home() / "kube/config"  # ~ expanded (HOME is the test's)
    assert inv.state_dir == Path("/var/tmp/homeops-state")
    cp, w = inv.nodes
    assert (cp.control_plane, cp.vm) == (True, VmRef("pve", 100))
    assert cp.install_image == "ghcr.io/x/installer:v1.12.0-beta.1"
    assert (w.control_plane, w.ip, w.ips, w.install_disk) == (False, "10.0.0.12", ("10.0.0.12", "fd00::12"), "/dev/vda")
    assert inv.host("pve").identity == tmp_path / "keys/id_ed25519"
    assert inv.cluster.talosconfig == tmp_path / "clusterconfig/talosconfig"


@pytest.mark.parametrize(
    ("nodes", "expected"),
    [
        ("nodes: {a: {}}", "nodes: must be a list of nodes without a talconfig"),
        ("nodes:\n  - {ip: 1.2.3.4}", "nodes[0].hostname: is required"),
        ("nodes:\n  - {hostname: a}", "nodes[0].ip: is required"),
        ("nodes:\n  - {hostname: a, ip: 1.2.3.4}\n  - {hostname: a, ip: 1.2.3.5}", "nodes[1].hostname: 'a' is also"),
        ("nodes:\n  - {hostname: a, ip: 1.2.3.4, controlPlane: 'true'}", "nodes[0].controlPlane: must be true or"),
    ],
)
def test_node_list_errors(tmp_path: Path, nodes: str, expected: str) -> None:
    path = tmp_path / "homeops.yaml"
    path.write_text(f"cluster: {{name: lab, endpoint: 'https://x:6443', talosVersion: v1.11.6}}\n{nodes}\n")
    with pytest.raises(ConfigError) as info:
        load_inventory(tmp_path)
    assert str(info.value).startswith(f"{path}: {expected}")


def test_missing_homeops_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"homeops.yaml: not found — create it"):
        load_inventory(tmp_path)
    with pytest.raises(ConfigError, match=r"nope: inventory directory not found"):
        load_inventory(tmp_path / "nope")


def test_bare_talconfig_inventory(realworld: Path) -> None:
    path = realworld / "talconfig/denisbr__turingpi-homecluster/talconfig.yaml"
    inv = inventory_from_talconfig(path)
    assert (inv.cluster.name, len(inv.control_planes), len(inv.workers), inv.hosts) == ("homecluster", 1, 2, ())
    assert inv.cluster.talosconfig == path.parent / "clusterconfig/talosconfig"
    # A directory without homeops.yaml plus an explicit talconfig gives the same.
    assert load_inventory(Path("/nonexistent-inventory"), talconfig=path).nodes == inv.nodes


def test_nodes_without_vm_mapping_warn_when_proxmox_hosts_exist(inv_dir: Path) -> None:
    edit(inv_dir, '  k8s-4: { vm: { host: pve2, vmid: 204, mac: "BC:24:11:00:00:CC", disk: local-lvm:64 } }\n', "")
    edit(
        inv_dir,
        '  k8s-5: { vm: { host: pve3, vmid: 205, mac: "BC:24:11:00:00:CD", disk: local-lvm:64 } }\n',
        "  k8s-5:\n",
    )
    inv = load_inventory(inv_dir)
    assert inv.node("k8s-4").vm is None and inv.node("k8s-5").vm is None
    assert inv.warnings == (
        f"{inv_dir / 'homeops.yaml'}: nodes: no vm: {{host, vmid}} for k8s-4, k8s-5; Proxmox steps will skip them",
    )
