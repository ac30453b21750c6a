"""Rebuilding a control plane: blank VM → maintenance mode → install → stale etcd member → rejoin."""

from __future__ import annotations

import re

from homeops.sim.hosts import local_host_runner

from .simkit import Sim


def test_rebuilt_control_plane_rejoins_etcd_after_its_stale_member_is_removed(sim: Sim):
    pve2 = local_host_runner("pve2", sim.dir)
    assert pve2.run(["qm", "destroy", "201", "--purge"]).stderr == "VM 201 is running - destroy failed\n"
    assert pve2.run(["qm", "stop", "201"]).exit_code == 0
    destroyed = pve2.run(["qm", "destroy", "201", "--purge"])
    assert destroyed.exit_code == 0, destroyed.stderr
    assert "201" not in sim.state["pve"]["hosts"]["pve2"]["vms"]
    sim.advance(1)
    assert "no route to host" in sim.talosctl("version", "-n", "10.10.0.21")[2]
    create = [
        "qm",
        "create",
        "201",
        "--name",
        "k8s-1",
        "--memory",
        "8192",
        "--cores",
        "4",
        "--net0",
        "virtio,bridge=vmbr0",
        "--scsi0",
        "local-lvm:64",
    ]
    assert pve2.run(create).exit_code == 0, pve2.run(create).stderr
    assert pve2.run(["qm", "start", "201"]).exit_code == 0
    sim.advance(60)
    node = sim.node("k8s-1")
    assert (node["stage"], node["maintenance"]) == ("maintenance", True)  # a blank disk boots the ISO
    assert "x509: certificate signed by unknown authority" in sim.talosctl("get", "ms", "-n", "10.10.0.21")[2]

    cfg = sim.dir / "home-k8s-1.yaml"
    cfg.write_text("version: v1alpha1\nmachine:\n    type: controlplane\n")
    assert sim.talosctl("apply-config", "--insecure", "-n", "10.10.0.21", "-f", str(cfg)) == (0, "", "")
    sim.advance(60)
    assert sim.node("k8s-1")["stage"] == "running"
    # its old member is still listed (stale, unhealthy): etcd refuses the new one with the same name
    _, out, _ = sim.talosctl("etcd", "members", "-n", "10.10.0.20")
    stale = re.search(r"^10\.10\.0\.20\s+([0-9a-f]{16})\s+k8s-1\s", out, re.M)
    assert stale is not None
    _, out, err = sim.talosctl("service", "etcd", "-n", "10.10.0.21")
    assert re.search(r"^STATE\s+Preparing$", out, re.M), err
    assert sim.talosctl("etcd", "remove-member", stale.group(1), "-n", "10.10.0.20")[0] == 0
    sim.advance(1)
    members = sim.state["etcd"]["members"]
    assert sorted(members) == ["k8s-0", "k8s-1", "k8s-2"] and members["k8s-1"]["id"] != stale.group(1)
    assert sim.talosctl("health", "-n", "10.10.0.20", "--wait-timeout", "5m")[0] == 0


def test_full_etcd_loss_takes_the_api_down_until_bootstrap_recovers(sim: Sim):
    assert sim.talosctl("etcd", "snapshot", "db.snapshot", "-n", "10.10.0.20")[0] == 0
    for ip in ("10.10.0.20", "10.10.0.21", "10.10.0.22"):
        sim.talosctl(
            "reset", "-n", ip, "--graceful=false", "--reboot", "--system-labels-to-wipe=EPHEMERAL", "--wait=false"
        )
    sim.advance(60)
    assert sim.kubectl("get", "--raw", "/readyz")[0] == 1  # no etcd quorum: no API
    code, _, err = sim.talosctl("etcd", "snapshot", "again.snapshot", "-n", "10.10.0.20")
    assert code == 1 and "etcd service is not running" in err
    assert sim.talosctl("bootstrap", "-n", "10.10.0.20", "--recover-from", "db.snapshot")[0] == 0
    assert sim.kubectl("get", "--raw", "/readyz") == (0, "ok", "")
    assert sorted(sim.state["etcd"]["members"]) == ["k8s-0", "k8s-1", "k8s-2"]


def test_recover_from_a_corrupt_snapshot_fails_the_hash_check(sim: Sim):
    sim.talosctl("etcd", "snapshot", "db.snapshot", "-n", "10.10.0.20")
    path = sim.dir / "db.snapshot"
    path.write_text(path.read_text().replace("4193", "4194"))
    for ip in ("10.10.0.20", "10.10.0.21", "10.10.0.22"):
        sim.talosctl(
            "reset", "-n", ip, "--graceful=false", "--reboot", "--system-labels-to-wipe=EPHEMERAL", "--wait=false"
        )
    sim.advance(60)
    code, _, err = sim.talosctl("bootstrap", "-n", "10.10.0.20", "--recover-from", "db.snapshot")
    assert code == 1 and err.startswith("sha256 checksum not found")
    code, out, _ = sim.talosctl(
        "bootstrap", "-n", "10.10.0.20", "--recover-from", "db.snapshot", "--recover-skip-hash-check"
    )
    assert code == 0 and "revision 4194" in out
