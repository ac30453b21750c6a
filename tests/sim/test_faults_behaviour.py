"""Every fault, injected the way users do, makes the fake tools behave as the real ones would."""

from __future__ import annotations

import json
import re

import pytest

from homeops.errors import ConnectionFailed
from homeops.sim import faults
from homeops.sim.hosts import local_host_runner

from .simkit import Sim

IMG = "factory.talos.dev/metal-installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"


def inject(sim: Sim, name: str, target: str | None = None, **params: object) -> None:
    times = params.pop("times", None)
    with sim.mutate() as state:
        faults.inject(state, name, target, params=dict(params), times=times)  # type: ignore[arg-type]


def test_node_never_returns_upgrade_wait_times_out(sim: Sim):
    inject(sim, "node-never-returns", "k8s-4")
    code, _, err = sim.talosctl("upgrade", "-n", "10.10.0.24", "-i", f"{IMG}:v1.12.0", "--timeout", "10m")
    assert code == 1
    assert err.splitlines()[-2:] == [
        '"10.10.0.24": unavailable, retrying...',
        '"10.10.0.24": context deadline exceeded',
    ]
    assert "no route to host" in sim.talosctl("version", "-n", "10.10.0.24")[2]


def test_node_rollback_wait_still_succeeds_but_the_version_is_the_old_one(sim: Sim):
    inject(sim, "node-rollback", "k8s-4")
    boot = sim.node("k8s-4")["boot_id"]
    code, _, err = sim.talosctl("upgrade", "-n", "10.10.0.24", "-i", f"{IMG}:v1.12.0")
    assert code == 0 and err.endswith("post check passed\n")  # talosctl does not check the version
    _, out, _ = sim.talosctl("version", "-n", "10.10.0.24")
    assert re.findall(r"Tag:\s+(\S+)", out)[1] == "v1.11.6"
    assert sim.node("k8s-4")["boot_id"] != boot
    assert sim.node("k8s-4")["image"].endswith(":v1.11.6")


def test_node_slow_ready_stays_booting_past_the_usual_time(sim: Sim):
    inject(sim, "node-slow-ready", "k8s-4", seconds=600)
    sim.talosctl("upgrade", "-n", "10.10.0.24", "-i", f"{IMG}:v1.12.0", "--wait=false")
    sim.advance(120)
    _, out, _ = sim.talosctl("get", "machinestatus", "-n", "10.10.0.24", "-o", "json")
    spec = json.loads(out)["spec"]
    assert spec["stage"] == "booting" and spec["status"]["ready"] is False
    assert spec["status"]["unmetConditions"][-1]["name"] == "nodeReady"
    assert sim.kubectl("wait", "--for=condition=Ready", "node/k8s-4", "--timeout=60s")[0] == 1
    assert sim.kubectl("wait", "--for=condition=Ready", "node/k8s-4", "--timeout=15m")[0] == 0


def test_etcd_unhealthy_blocks_control_plane_upgrades_and_health(sim: Sim):
    inject(sim, "etcd-unhealthy", "k8s-2")
    code, _, err = sim.talosctl("upgrade", "-n", "10.10.0.20", "-i", f"{IMG}:v1.12.0", "--wait=false")
    assert code == 1 and "error validating etcd for upgrade" in err
    code, _, err = sim.talosctl("health", "-n", "10.10.0.20", "--wait-timeout", "2m")
    assert code == 1 and "waiting for etcd to be healthy: 1 error occurred:" in err
    _, out, _ = sim.talosctl("get", "service", "etcd", "-n", "10.10.0.22", "-o", "json")
    assert json.loads(out)["spec"]["healthy"] is False


def test_etcd_member_lost_disappears_from_the_member_list(sim: Sim):
    inject(sim, "etcd-member-lost", "k8s-1")
    _, out, _ = sim.talosctl("etcd", "members", "-n", "10.10.0.20")
    assert "k8s-1" not in out and out.count("\n") == 3
    code, _, err = sim.talosctl("etcd", "status", "-n", "10.10.0.21")
    assert code == 1 and "etcd service is not running" in err
    code, _, err = sim.talosctl("health", "-n", "10.10.0.20", "--wait-timeout", "1m")
    assert code == 1 and "etcd members are not consistent" in err


def test_etcd_alarm_shows_in_alarm_list_and_disarm_clears_it(sim: Sim):
    inject(sim, "etcd-alarm", "k8s-0")
    member = sim.state["etcd"]["members"]["k8s-0"]["id"]
    _, out, _ = sim.talosctl("etcd", "alarm", "list", "-n", "10.10.0.20")
    assert out.splitlines()[1].split() == ["10.10.0.20", member, "NOSPACE"]
    _, out, _ = sim.talosctl("etcd", "status", "-n", "10.10.0.20")
    assert f"memberID:{int(member, 16)} alarm:NOSPACE" in out
    assert sim.talosctl("etcd", "alarm", "disarm", "-n", "10.10.0.20")[0] == 0
    assert sim.talosctl("etcd", "alarm", "list", "-n", "10.10.0.20")[1] == ""
    assert sim.state["faults"] == []


def test_api_unreachable_fails_upgrade_k8s_and_health(sim: Sim):
    inject(sim, "api-unreachable", seconds=3600)
    code, _, err = sim.talosctl("upgrade-k8s", "-n", "10.10.0.20", "--to", "1.34.3")
    assert code == 1 and "connect: no route to host" in err
    # talosctl (Talos API, not the VIP) still answers
    assert sim.talosctl("version", "-n", "10.10.0.20")[0] == 0


@pytest.mark.parametrize(
    ("tool", "argv", "error"),
    [
        ("talosctl", ["version", "-n", "10.10.0.21"], "connection reset by peer"),
        ("kubectl", ["get", "nodes", "-o", "json"], "TLS handshake timeout"),
        ("flux", ["get", "kustomizations", "-A"], "✗ context deadline exceeded"),
    ],
)
def test_command_fails_transiently_n_times_then_works(sim: Sim, tool, argv, error):
    inject(sim, "command-fails", tool=tool, times=2)
    for _ in range(2):
        code, out, err = sim.run(tool, *argv)
        assert (code, out) == (1, "") and error in err
    assert sim.run(tool, *argv)[0] == 0
    assert [e["exit"] for e in sim.state["log"]] == [1, 1, 0]


def test_command_fails_only_for_its_subcommand_and_node(sim: Sim):
    inject(sim, "command-fails", "k8s-1", tool="talosctl", subcommand="upgrade", times=1)
    assert sim.talosctl("version", "-n", "10.10.0.21")[0] == 0  # other subcommand
    assert sim.talosctl("upgrade", "-n", "10.10.0.22", "-i", f"{IMG}:v1.12.0", "--wait=false")[0] == 0  # other node
    sim.advance(120)
    code, _, err = sim.talosctl("upgrade", "-n", "10.10.0.21", "-i", f"{IMG}:v1.12.0", "--wait=false")
    assert code == 1 and "10.10.0.21:50000: read: connection reset by peer" in err


def test_pve_host_down_makes_its_nodes_and_its_ssh_unreachable(sim: Sim):
    inject(sim, "pve-host-down", "pve1")
    assert "dial tcp 10.10.0.20:50000: connect: no route to host" in sim.talosctl("version", "-n", "10.10.0.20")[2]
    assert sim.kubectl("get", "node", "k8s-0", "-o", "jsonpath={.status.conditions[0].status}") == (0, "Unknown", "")
    with pytest.raises(ConnectionFailed, match="pve1"):
        local_host_runner("pve1", sim.dir).run(["qm", "status", "200"])
    assert local_host_runner("pve2", sim.dir).run(["qm", "status", "201"]).stdout == "status: running\n"


def test_pve_not_quorate(sim: Sim):
    inject(sim, "pve-not-quorate")
    result = local_host_runner("pve2", sim.dir).run(["pvecm", "status"])
    assert result.exit_code == 2 and re.search(r"^Quorate:\s+No$", result.stdout, re.M)
    assert sim.state["pve"]["cluster"]["quorate"] is False
    with sim.mutate() as state:
        faults.clear(state, "pve-not-quorate")
    assert local_host_runner("pve2", sim.dir).run(["pvecm", "status"]).exit_code == 0


def test_nas_pool_degraded(sim: Sim):
    nas = local_host_runner("nas", sim.dir)
    assert nas.run(["zpool", "status", "-x"]).stdout == "all pools are healthy\n"
    inject(sim, "nas-pool-degraded", "tank")
    result = nas.run(["zpool", "status", "-x"])
    assert result.exit_code == 0 and "DEGRADED" in result.stdout  # zpool exits 0 either way
    pools = json.loads(nas.run(["midclt", "call", "pool.query"]).stdout)
    assert (pools[0]["status"], pools[0]["healthy"]) == ("DEGRADED", False)


def test_nfs_stopped(sim: Sim):
    nas = local_host_runner("nas", sim.dir)
    inject(sim, "nfs-stopped")
    service = json.loads(
        nas.run(["midclt", "call", "service.query", '[["service","=","nfs"]]', '{"get": true}']).stdout
    )
    assert service["state"] == "STOPPED"
    assert nas.run(["midclt", "call", "service.started", "nfs"]).stdout.strip() == "False"


def test_ceph_warn(make_sim):
    sim = make_sim(ceph=True)
    inject(sim, "ceph-warn")
    args = ["-n", "rook-ceph", "get", "cephcluster", "rook-ceph", "-o", "jsonpath={.status.ceph.health}"]
    assert sim.kubectl(*args) == (0, "HEALTH_WARN", "")
    assert sim.kubectl("-n", "rook-ceph", "exec", "deploy/rook-ceph-tools", "--", "ceph", "health")[1].startswith(
        "HEALTH_WARN"
    )
    with sim.mutate() as state:
        faults.clear(state, "ceph-warn")
    assert sim.kubectl(*args) == (0, "HEALTH_OK", "")


def test_vm_shutdown_hangs_is_accepted_by_name_and_node(sim: Sim):
    inject(sim, "vm-shutdown-hangs", "k8s-1")
    assert sim.state["faults"][0]["target"] == "201"  # the node's VM
    result = local_host_runner("pve2", sim.dir).run(["qm", "shutdown", "201"])
    assert result.exit_code == 255
