"""The adapters against the simulator's fake tools: the argv we build is accepted, the output parses.

Both sides were written from cli-interfaces.md; this is the contract test between them. It runs the
fakes in-process (``SimRunner``) on a virtual clock, so it is fast and sends no traffic anywhere.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from homeops.adapters import flux, kubectl, talosctl
from homeops.inventory.model import Cluster, Inventory, Node, SshHost, VmRef
from homeops.sim.runner import SimRunner
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

SCHEMATIC = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
CPS = ["10.10.0.20", "10.10.0.21", "10.10.0.22"]
WORKERS = ["10.10.0.23", "10.10.0.24", "10.10.0.25"]


def _inventory(root: Path) -> Inventory:
    hosts = ("pve1", "pve2", "pve3")
    nodes = tuple(
        Node(
            hostname=f"k8s-{i}",
            ip=f"10.10.0.{20 + i}",
            control_plane=i < 3,
            ips=(f"10.10.0.{20 + i}",),
            talos_image_url=f"factory.talos.dev/metal-installer/{SCHEMATIC}",
            schematic_id=SCHEMATIC,
            install_disk="/dev/sda",
            vm=VmRef(hosts[i % 3], 200 + i),
        )
        for i in range(6)
    )
    cluster = Cluster(
        name="home",
        endpoint="https://10.10.0.10:6443",
        talos_version="v1.11.6",
        kubernetes_version="v1.34.2",
        talconfig=root / "talos" / "talconfig.yaml",
        talosconfig=root / "talos" / "clusterconfig" / "talosconfig",
        kubeconfig=root / "kubeconfig",
        clusterconfig_dir=root / "talos" / "clusterconfig",
    )
    ssh = tuple(SshHost(h, f"10.10.0.{2 + i}", "proxmox") for i, h in enumerate(hosts))
    return Inventory(root=root, cluster=cluster, nodes=nodes, hosts=ssh, state_dir=root / ".homeops")


@pytest.fixture
def sim(tmp_path: Path) -> tuple[SimRunner, Inventory]:
    inventory = _inventory(tmp_path / "inventory")
    SimStore(tmp_path / "sim").create(initial_state(inventory, SimOptions(ceph=True)))
    return SimRunner(tmp_path / "sim"), inventory


def test_talosctl_reads(sim: tuple[SimRunner, Inventory]) -> None:
    runner, inventory = sim
    tctl = talosctl.Talosctl(inventory.cluster.talosconfig, client_version="v1.11.6")
    status = talosctl.machine_status(runner, tctl, "10.10.0.20")
    assert status.running_ready
    assert talosctl.server_version(runner, tctl, "10.10.0.21") == "v1.11.6"
    assert talosctl.client_version(runner, tctl) == "v1.11.6"
    members = talosctl.etcd_members(runner, tctl, "10.10.0.20")
    assert sorted(m.hostname for m in members) == ["k8s-0", "k8s-1", "k8s-2"]
    statuses = talosctl.etcd_status(runner, tctl, CPS)
    assert {s.node for s in statuses} == set(CPS)
    assert len({s.leader_id for s in statuses}) == 1 and sum(s.is_leader for s in statuses) == 1
    assert talosctl.etcd_alarms(runner, tctl, "10.10.0.20") == []
    assert talosctl.service(runner, tctl, "10.10.0.20", "etcd").running
    report = talosctl.parse_health(runner.run(tctl.health("10.10.0.20", control_planes=CPS, workers=WORKERS)).stderr)
    assert report.ok and report.checks[0][0] == "etcd to be healthy"


def test_talosctl_upgrade_changes_boot_id_and_stage(sim: tuple[SimRunner, Inventory], tmp_path: Path) -> None:
    runner, inventory = sim
    tctl = talosctl.Talosctl(inventory.cluster.talosconfig, client_version="v1.11.6")
    before = talosctl.boot_id(runner, tctl, "10.10.0.23")
    ack = talosctl.upgrade(runner, tctl, "10.10.0.23", f"factory.talos.dev/metal-installer/{SCHEMATIC}:v1.12.0")
    assert ack.node == "10.10.0.23" and ack.ack == "Upgrade request received"
    assert not talosctl.machine_status(runner, tctl, "10.10.0.23").running_ready
    # the node reboots: eventually its boot id differs (virtual time moves when the fake waits)
    runner.run(["kubectl", "--kubeconfig", str(inventory.cluster.kubeconfig), "wait", "--for=condition=Ready",
                "node/k8s-3", "--timeout=30m"])  # fmt: skip
    assert talosctl.boot_id(runner, tctl, "10.10.0.23") != before
    snap = talosctl.etcd_snapshot(runner, tctl, "10.10.0.20", tmp_path / "db.snapshot")
    assert snap.path.endswith("db.snapshot") and snap.revision > 0
    assert talosctl.bootstrap(runner, tctl, "10.10.0.20") == "already-bootstrapped"


def test_kubectl_and_flux(sim: tuple[SimRunner, Inventory]) -> None:
    runner, inventory = sim
    kctl = kubectl.Kubectl(inventory.cluster.kubeconfig)
    nodes = kubectl.nodes(runner, kctl)
    assert sorted(n.name for n in nodes) == [f"k8s-{i}" for i in range(6)]
    assert all(n.ready == "True" for n in nodes)
    assert kubectl.ceph_health(runner, kctl).ok
    assert kubectl.readyz(runner, kctl)
    assert kubectl.wait(runner, kctl, "node/k8s-0", "condition=Ready", 30).ok
    drained = kubectl.drain(runner, kctl, "k8s-4", timeout=120)
    assert drained.cordoned and drained.drained
    assert kubectl.node(runner, kctl, "k8s-4").unschedulable
    runner.run(kctl.uncordon("k8s-4")).check()
    assert not kubectl.node(runner, kctl, "k8s-4").unschedulable
    via_kubectl = {(k.namespace, k.name) for k in kubectl.kustomizations(runner, kctl)}
    via_flux = {(k.namespace, k.name) for k in flux.kustomizations(runner, kubeconfig=inventory.cluster.kubeconfig)}
    assert via_kubectl == via_flux and ("flux-system", "flux-system") in via_flux
    assert flux.helmreleases(runner, kubeconfig=inventory.cluster.kubeconfig)
    done = flux.run_reconcile(runner, "kustomization", "flux-system", with_source=True,
                              kubeconfig=inventory.cluster.kubeconfig)  # fmt: skip
    assert not done.failed and done.revision
