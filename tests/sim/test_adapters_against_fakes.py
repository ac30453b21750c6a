"""The production adapters run against the fake tools and parse what they print.

Each test runs twice: through ``LocalRunner`` with the generated executables first on PATH (what
``attach`` wires for real use) and through the in-process ``SimRunner``; the results must agree.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from homeops.adapters import flux as flux_adapter
from homeops.adapters import helmfile as helmfile_adapter
from homeops.adapters import kubectl as kubectl_adapter
from homeops.adapters import talhelper as talhelper_adapter
from homeops.adapters import talosctl as talosctl_adapter
from homeops.errors import CommandError, ConnectionFailed
from homeops.runners import LocalRunner, Runner
from homeops.sim import faults
from homeops.sim.runner import SimRunner
from homeops.sim.tools import write_bin_dir

from .simkit import Sim

REPO = Path(__file__).resolve().parents[2]
IMG = "factory.talos.dev/metal-installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"


@pytest.fixture(params=["bin-dir", "in-process"])
def runner(request: pytest.FixtureRequest, sim: Sim) -> Runner:
    if request.param == "in-process":
        return SimRunner(sim.dir)
    bin_dir = write_bin_dir(sim.dir / "bin")
    return LocalRunner(
        env={"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "HOMEOPS_SIM_DIR": str(sim.dir)}, cwd=sim.dir
    )


@pytest.fixture
def tctl(sim: Sim) -> talosctl_adapter.Talosctl:
    return talosctl_adapter.Talosctl(sim.dir / "talosconfig", client_version="v1.11.6")


@pytest.fixture
def kctl(sim: Sim) -> kubectl_adapter.Kubectl:
    return kubectl_adapter.Kubectl(sim.dir / "kubeconfig")


def test_machine_status_boot_id_versions(runner, tctl, sim: Sim):
    status = talosctl_adapter.machine_status(runner, tctl, "10.10.0.21")
    assert status.running_ready and status.stage == "running"
    assert talosctl_adapter.boot_id(runner, tctl, "10.10.0.21") == sim.node("k8s-1")["boot_id"]
    assert talosctl_adapter.server_version(runner, tctl, "10.10.0.21") == "v1.11.6"
    assert talosctl_adapter.client_version(runner, tctl) == "v1.11.6"


def test_etcd_members_status_alarms_snapshot(runner, tctl, sim: Sim):
    members = talosctl_adapter.etcd_members(runner, tctl, "10.10.0.20")
    assert sorted(m.hostname for m in members) == ["k8s-0", "k8s-1", "k8s-2"]
    assert {m.id for m in members} == {m["id"] for m in sim.state["etcd"]["members"].values()}
    statuses = talosctl_adapter.etcd_status(runner, tctl, "10.10.0.20")
    leader = sim.state["etcd"]["members"][sim.state["etcd"]["leader"]]["id"]
    assert [s.leader_id for s in statuses] == [leader] and statuses[0].protocol == "3.5.21"
    assert talosctl_adapter.etcd_alarms(runner, tctl, "10.10.0.20") == []
    with sim.mutate() as state:
        faults.inject(state, "etcd-alarm", "k8s-1")
    alarms = talosctl_adapter.etcd_alarms(runner, tctl, "10.10.0.20")
    assert [(a.member_id, a.alarm) for a in alarms] == [(sim.state["etcd"]["members"]["k8s-1"]["id"], "NOSPACE")]
    assert talosctl_adapter.etcd_status(runner, tctl, "10.10.0.20")[0].errors  # ERRORS column filled
    info = talosctl_adapter.etcd_snapshot(runner, tctl, "10.10.0.20", sim.dir / "db.snapshot")
    assert (info.revision, info.keys, info.bytes) == (4193, 1287, (sim.dir / "db.snapshot").stat().st_size)


def test_upgrade_ack_then_watch_like_a_planner(runner, tctl, sim: Sim):
    before = talosctl_adapter.boot_id(runner, tctl, "10.10.0.23")
    ack = talosctl_adapter.upgrade(runner, tctl, "10.10.0.23", f"{IMG}:v1.12.0")
    assert (ack.node, ack.ack) == ("10.10.0.23", "Upgrade request received")
    sim.advance(6)
    with pytest.raises(ConnectionFailed):
        talosctl_adapter.machine_status(runner, tctl, "10.10.0.23")
    sim.advance(60)
    assert talosctl_adapter.boot_id(runner, tctl, "10.10.0.23") != before
    assert talosctl_adapter.server_version(runner, tctl, "10.10.0.23") == "v1.12.0"


def test_upgrade_quorum_refusal_is_classified(runner, tctl, sim: Sim):
    with sim.mutate() as state:
        faults.inject(state, "etcd-unhealthy", "k8s-2")
    with pytest.raises(CommandError, match="refused by Talos to protect etcd quorum"):
        talosctl_adapter.upgrade(runner, tctl, "10.10.0.21", f"{IMG}:v1.12.0")


def test_upgrade_wait_progress_parses(runner, tctl):
    result = runner.run(tctl.upgrade("10.10.0.24", f"{IMG}:v1.12.0", wait=True))
    report = talosctl_adapter.parse_action_progress(result.stderr)
    assert result.ok and report.completed == frozenset({"10.10.0.24"}) and not report.errors


def test_apply_config_and_health_and_bootstrap(runner, tctl, sim: Sim):
    cfg = sim.dir / "home-k8s-4.yaml"
    cfg.write_text("version: v1alpha1\nmachine:\n    type: worker\n")
    applied = talosctl_adapter.apply_config(runner, tctl, "10.10.0.24", cfg)
    assert (applied.mode, applied.reboot) == ("no-reboot", False)
    dry = talosctl_adapter.apply_config(runner, tctl, "10.10.0.24", cfg, dry_run=True)
    assert dry.dry_run
    result = runner.run(
        tctl.health(
            "10.10.0.20",
            control_planes=["10.10.0.20", "10.10.0.21", "10.10.0.22"],
            workers=["10.10.0.23", "10.10.0.24", "10.10.0.25"],
            wait_timeout=600,
        )
    )
    report = talosctl_adapter.parse_health(result.stderr)
    assert result.ok and report.ok and len(report.checks) == 16
    assert talosctl_adapter.bootstrap(runner, tctl, "10.10.0.20") == "already-bootstrapped"


def test_unreachable_node_raises_connection_failed(runner, tctl, sim: Sim):
    with sim.mutate() as state:
        faults.inject(state, "pve-host-down", "pve2")
    with pytest.raises(ConnectionFailed, match=r"10\.10\.0\.21"):
        talosctl_adapter.machine_status(runner, tctl, "10.10.0.21")


def test_kubectl_reads(runner, kctl, sim: Sim):
    nodes = kubectl_adapter.nodes(runner, kctl)
    assert [n.name for n in nodes] == [f"k8s-{i}" for i in range(6)]
    assert all(n.ready == "True" and not n.unschedulable for n in nodes)
    assert nodes[1].boot_id == sim.node("k8s-1")["boot_id"] and nodes[0].control_plane
    assert kubectl_adapter.readyz(runner, kctl)
    sources = kubectl_adapter.replication_sources(runner, kctl)
    assert {s.name for s in sources} == {"immich-data", "paperless-data"} and not any(s.synchronizing for s in sources)
    ks = kubectl_adapter.kustomizations(runner, kctl)
    assert {k.name for k in ks} == {"flux-system", "cluster-meta", "cluster-apps"} and all(
        k.ready == "True" for k in ks
    )


def test_kubelet_reports_the_boot_id_of_the_current_boot(runner, kctl, tctl, sim: Sim):
    from homeops.sim.hosts import local_host_runner

    nodes = {n.name: n for n in kubectl_adapter.nodes(runner, kctl)}
    assert len({n.boot_id for n in nodes.values()}) == 6 and all(n.boot_id for n in nodes.values())
    for n in nodes.values():  # what the kubelet reports is the kernel's boot id, as talosctl reads it
        assert n.boot_id == talosctl_adapter.boot_id(runner, tctl, n.internal_ip or "")
    first = nodes["k8s-3"].boot_id
    assert runner.run(tctl.reboot("10.10.0.23", wait=False)).ok
    sim.advance(1)  # down: the API server still holds what the kubelet last posted
    assert kubectl_adapter.node(runner, kctl, "k8s-3").boot_id == first
    sim.advance(120)
    second = kubectl_adapter.node(runner, kctl, "k8s-3").boot_id
    assert second not in ("", first) and second == talosctl_adapter.boot_id(runner, tctl, "10.10.0.23")
    pve1 = local_host_runner("pve1", sim.dir, in_process=True)  # a power cycle is a new boot too
    assert pve1.run(["qm", "stop", "203"]).ok and pve1.run(["qm", "start", "203"]).ok
    sim.advance(120)
    third = kubectl_adapter.node(runner, kctl, "k8s-3")
    assert third.ready == "True" and third.boot_id not in ("", first, second)
    assert pve1.run(["qm", "reboot", "203"]).ok  # the hypervisor resets the guest: it boots again
    sim.advance(1)
    assert not sim.node("k8s-3")["ready"]
    sim.advance(120)
    assert kubectl_adapter.node(runner, kctl, "k8s-3").boot_id not in (first, second, third.boot_id)
    assert kubectl_adapter.node(runner, kctl, "k8s-4").boot_id == nodes["k8s-4"].boot_id  # others did not reboot


def test_kubectl_changes_and_waits(runner, kctl, sim: Sim):
    assert runner.run(kctl.cordon("k8s-3")).ok
    report = kubectl_adapter.drain(runner, kctl, "k8s-3", timeout=300)
    assert report.drained and report.evicted
    assert kubectl_adapter.node(runner, kctl, "k8s-3").unschedulable
    assert runner.run(kctl.uncordon("k8s-3")).ok
    waited = kubectl_adapter.wait(runner, kctl, "node/k8s-3", "condition=Ready", 60)
    assert waited.ok
    with sim.mutate() as state:
        faults.inject(state, "node-never-returns", "k8s-5")
    sim.talosctl("reboot", "-n", "10.10.0.25", "--wait=false")
    assert not kubectl_adapter.wait(runner, kctl, "node/k8s-5", "condition=Ready", 60).ok


def test_kubectl_api_down_is_connection_failed(runner, kctl, sim: Sim):
    with sim.mutate() as state:
        faults.inject(state, "api-unreachable")
    with pytest.raises(ConnectionFailed):
        kubectl_adapter.nodes(runner, kctl)
    assert not kubectl_adapter.readyz(runner, kctl)


def test_ceph_health_ok_then_warn_under_the_fault(make_sim, kctl):
    sim = make_sim(ceph=True)
    runner = SimRunner(sim.dir)
    assert kubectl_adapter.ceph_health(runner, kctl).ok
    with sim.mutate() as state:
        faults.inject(state, "ceph-warn")
    health = kubectl_adapter.ceph_health(runner, kctl)
    assert health.health == "HEALTH_WARN" and not health.ok and health.checks


def test_flux_adapter(runner, sim: Sim):
    result = runner.run(flux_adapter.get_kustomizations())
    assert result.ok
    objects = flux_adapter.parse_kustomizations(result.stdout)
    assert {o.name for o in objects} == {"flux-system", "cluster-meta", "cluster-apps"}
    result = runner.run(flux_adapter.reconcile("kustomization", "cluster-apps", with_source=True))
    parsed = flux_adapter.parse_reconcile(result.stderr, kind="kustomization", name="cluster-apps")
    assert result.ok and not parsed.failed and parsed.revision and parsed.revision.startswith("main@sha1:")


def test_helmfile_adapter(runner, sim: Sim):
    (sim.dir / "helmfile.yaml").write_text(
        "releases:\n  - name: cilium\n    namespace: kube-system\n    chart: cilium/cilium\n    version: 1.18.2\n"
    )
    result = runner.run(helmfile_adapter.sync(sim.dir / "helmfile.yaml"))
    synced = helmfile_adapter.parse_sync(result.stderr)  # the summary is on stderr, as helmfile logs it
    assert result.ok and [(r.name, r.namespace, r.version) for r in synced.updated] == [
        ("cilium", "kube-system", "1.18.2")
    ]
    result = runner.run(helmfile_adapter.template(sim.dir / "helmfile.yaml"))
    assert result.ok and [m.kind for m in helmfile_adapter.parse_template(result.stdout)] == ["ServiceAccount"]


def test_talhelper_adapter_on_the_example_inventory(runner, sim: Sim, tmp_path):
    import shutil

    talos = tmp_path / "talos"
    shutil.copytree(REPO / "inventory" / "talos", talos)
    argv = talhelper_adapter.genconfig(
        talos / "talconfig.yaml", out_dir=talos / "clusterconfig", env_files=[talos / "talenv.yaml"]
    )
    result = runner.run(argv)
    generated = talhelper_adapter.parse_genconfig(result.stdout)
    assert result.ok, result.stderr
    assert [f.hostname for f in generated.files] == [f"k8s-{i}" for i in range(6)]
    assert generated.talosconfig == f"{talos / 'clusterconfig'}/talosconfig"
    assert (talos / "clusterconfig" / "home-k8s-0.yaml").read_text().count(f"image: {IMG}:v1.11.6") == 1
    again = talhelper_adapter.parse_genconfig(runner.run([*argv, "--dry-run"]).stdout)
    assert again.dry_run and not again.changed and len(again.unchanged) == 7
    argv = talhelper_adapter.gencommand(
        "upgrade",
        config_file=talos / "talconfig.yaml",
        out_dir=talos / "clusterconfig",
        env_files=[talos / "talenv.yaml"],
    )
    commands = talhelper_adapter.parse_gencommand_commands(runner.run(argv).stdout)
    assert [c.nodes for c in commands] == [f"10.10.0.{20 + i}" for i in range(6)]
    assert {c.flag("image") for c in commands} == {f"{IMG}:v1.11.6"}
    argv = talhelper_adapter.genurl_installer(talos / "talconfig.yaml", env_files=[talos / "talenv.yaml"])
    lines = runner.run(argv).stdout.splitlines()
    assert lines[0] == f"k8s-0: {IMG}:v1.11.6" and len(lines) == 6
