"""Every Proxmox/TrueNAS adapter call through SshRunner against OpenSSH containers running the shims."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest

from homeops.adapters import proxmox as pve
from homeops.adapters import truenas as nas
from homeops.backupstore import nas_list_backups, nas_store_backup
from homeops.errors import CommandError
from homeops.operations.hosts import check_nas, check_proxmox, nas_status, proxmox_status
from homeops.operations.vm import plan_vm_action
from tests.hosts.simkit import add_fault
from tests.ssh.conftest import SimEnv

pytestmark = pytest.mark.docker


def test_quorum_and_resources(env: SimEnv) -> None:
    with env.runner("pve2") as runner:
        status = runner.run(pve.pvecm_status())
        quorum = pve.parse_pvecm_status(status)
        assert quorum.quorate and quorum.nodes == 3 and quorum.expected_votes == 3
        vms = pve.parse_cluster_resources(pve.check(runner.run(pve.cluster_resources())).stdout, target="pve2")
    assert {(v.vmid, v.name, v.node) for v in vms if v.vmid >= 200} == {
        (200, "k8s-0", "pve1"), (201, "k8s-1", "pve2"), (202, "k8s-2", "pve3"),
        (203, "k8s-3", "pve1"), (204, "k8s-4", "pve2"), (205, "k8s-5", "pve3"),
    }  # fmt: skip
    assert [e["host"] for e in env.store.read()["log"]] == ["pve2", "pve2"]


def test_vm_status_config_and_power_cycle(env: SimEnv) -> None:
    with env.runner("pve2") as runner:
        assert pve.parse_qm_status(runner.run(pve.qm_status(201)).stdout) == "running"
        assert pve.parse_qm_config(runner.run(pve.qm_config(201)).stdout)["name"] == "k8s-1"
        again = runner.run(pve.qm_start(201))
        with pytest.raises(CommandError, match="qm start on pve2: task failed: VM 201 already running"):
            pve.check(again)
        pve.check(runner.run(pve.qm_shutdown(201, timeout=30)))
        assert runner.run(pve.qm_status(201)).stdout == "status: stopped\n"
        pve.check(runner.run(pve.qm_stop(201)))  # stopping a stopped VM is fine
        assert runner.run(pve.qm_reboot(201)).exit_code == 255  # a stopped VM cannot reboot
        pve.check(runner.run(pve.qm_start(201)))
        pve.check(runner.run(pve.qm_reboot(201)))
        pve.check(runner.run(pve.qm_stop(201, overrule_shutdown=True)))
        assert runner.run(pve.qm_status(201)).stdout == "status: stopped\n"


def test_snapshots_over_ssh(env: SimEnv) -> None:
    with env.runner("pve1") as runner:
        pve.check(runner.run(pve.qm_snapshot(200, "pre-upgrade", description="before v1.11.6")))
        snaps = pve.parse_listsnapshot(runner.run(pve.qm_listsnapshot(200)).stdout)
        assert [(s.name, s.description) for s in snaps] == [("pre-upgrade", "before v1.11.6")]
        pve.check(runner.run(pve.qm_rollback(200, "pre-upgrade", start=True)))
        assert runner.run(pve.qm_status(200)).stdout == "status: running\n"
        pve.check(runner.run(pve.qm_delsnapshot(200, "pre-upgrade")))
        assert pve.parse_listsnapshot(runner.run(pve.qm_listsnapshot(200)).stdout) == ()
        with pytest.raises(CommandError, match="snapshot 'pre-upgrade' does not exist"):
            pve.check(runner.run(pve.qm_delsnapshot(200, "pre-upgrade")))


def test_create_talos_vm_over_ssh(env: SimEnv) -> None:
    spec = pve.TalosVmSpec(vmid=206, name="k8s-6", iso="local:iso/talos-v1.11.6-metal-amd64.iso")
    with env.runner("pve3") as runner:
        for argv in pve.qm_create_talos(spec):
            pve.check(runner.run(argv))
        config = pve.parse_qm_config(runner.run(pve.qm_config(206)).stdout)
        pve.check(runner.run(pve.qm_start(206)))
    assert config["boot"] == "order=scsi0;ide2" and config["agent"] == "enabled=1"
    assert config["ide2"] == "local:iso/talos-v1.11.6-metal-amd64.iso,media=cdrom"


def test_truenas_calls(env: SimEnv) -> None:
    with env.runner("nas") as runner:
        (pool,) = nas.parse_pools(runner.run(nas.pool_query()).stdout)
        assert pool.ok and pool.name == "tank"
        assert nas.parse_pools(runner.run(nas.pool_query("tank")).stdout)[0].name == "tank"
        assert nas.parse_zpool_status_x(runner.run(nas.zpool_status_x())).healthy
        assert nas.parse_dataset(runner.run(nas.dataset_query("tank/backups")).stdout).available > 0
        assert nas.parse_service(runner.run(nas.service_query()).stdout).running
        assert nas.parse_started(runner.run(nas.service_started()).stdout) is True
        exports = nas.parse_showmount(runner.run(nas.showmount_exports()).stdout)
    assert exports == (nas.Export("/mnt/tank/k8s", ("10.10.0.0/24",)),)


def test_not_quorate_over_ssh(env: SimEnv) -> None:
    add_fault(env.store, "pve-not-quorate")
    with env.runner("pve1") as runner:
        status = runner.run(pve.pvecm_status())
        assert status.exit_code == 2  # corosync-quorumtool's EXIT_NOT_QUORATE survives SSH
        assert not pve.parse_pvecm_status(status).quorate
        with pytest.raises(CommandError, match=r"task failed: cluster not ready - no quorum\? — .*lost quorum"):
            pve.check(runner.run(pve.qm_shutdown(200)))
    rt = env.runtime()
    gate = check_proxmox(rt, "pve1")
    assert not gate.ok and "NOT quorate" in gate.observed
    rt.close()


def test_command_fails_over_ssh(env: SimEnv) -> None:
    add_fault(env.store, "command-fails", "pve3", tool="qm", remaining=1)
    with env.runner("pve3") as runner:
        failed = runner.run(pve.qm_status(202))
        assert failed.exit_code == 255 and "simulated failure" in failed.stderr
        assert runner.run(pve.qm_status(202)).ok


def test_nas_faults_over_ssh(env: SimEnv) -> None:
    add_fault(env.store, "nas-pool-degraded")
    add_fault(env.store, "nfs-stopped")
    rt = env.runtime()
    gate = check_nas(rt)
    assert not gate.ok
    assert gate.observed.startswith("pools: tank DEGRADED (unhealthy): One or more devices could not be used")
    assert gate.observed.endswith("(zpool: tank DEGRADED); NFS STOPPED")
    status = nas_status(rt)
    assert status is not None and status.exports_error == "clnt_create: RPC: Program not registered"
    rt.close()


def test_status_fanout_over_all_hosts(env: SimEnv) -> None:
    rt = env.runtime()
    start = time.monotonic()
    status = proxmox_status(rt)
    elapsed = time.monotonic() - start
    assert status.ok and [h.host for h in status.hosts] == ["pve1", "pve2", "pve3"]
    assert {v.node for v in status.vms} == {None, "k8s-0", "k8s-1", "k8s-2", "k8s-3", "k8s-4", "k8s-5"}
    # one pooled connection per host, reused by the second look
    proxmox_status(rt)
    assert all(rt.host(h).connects == 1 for h in ("pve1", "pve2", "pve3"))  # type: ignore[attr-defined]
    assert elapsed < 20
    rt.close()


def test_vm_action_plan_and_execute_over_ssh(env: SimEnv) -> None:
    rt = env.runtime()
    plan = plan_vm_action(rt, "k8s-4", "shutdown", timeout=30)
    assert plan.render() == ["[pve2] qm shutdown 204 --timeout 30"]
    from homeops.app.runs import executor_for
    from homeops.operations.observe import ClusterObserver
    from homeops.operations.vm import plan_vm

    # The pve.vm path: a one-step engine plan whose qm command goes over SSH to pve2.
    outcome = executor_for(rt, ClusterObserver(rt), out=io.StringIO()).run(plan_vm(rt.inventory, plan), yes=True)
    assert outcome.status == "finished"
    assert plan_vm_action(rt, "k8s-4", "stop").noop
    rt.close()


def test_nas_backup_over_sftp_with_retention(env: SimEnv, tmp_path: Path) -> None:
    rt = env.runtime()
    directory = f"/mnt/tank/backups/etcd-{os.getpid()}-{time.monotonic_ns()}"
    for index in range(3):
        local = tmp_path / f"etcd-home-{index}.db"
        local.write_bytes(b"e" * (1000 + index))
        stored = nas_store_backup(rt, local, directory=directory, keep=2)
        assert stored.size == 1000 + index
        time.sleep(1.1)  # SFTP mtimes have one-second resolution
    assert stored.deleted == ("etcd-home-0.db",)
    assert [f.name for f in nas_list_backups(rt, directory)] == ["etcd-home-2.db", "etcd-home-1.db"]
    rt.close()


def test_ha_over_ssh_and_private_uploads(env: SimEnv, tmp_path: Path) -> None:
    """The ha-manager shim reaches containers of an image built before it (hostimage.install_shims_script),
    qm answers an HA-managed VM as qemu-server does, and an SFTP upload keeps the local file's 0600."""
    with env.runner("pve1") as runner:
        pve.check(runner.run(["ha-manager", "add", "vm:200"]))
        refused = runner.run(pve.qm_stop(200, overrule_shutdown=True))
        assert refused.exit_code == 255 and "Not applicable for HA resources." in refused.stderr
        assert pve.check(runner.run(pve.qm_stop(200))).stdout == "Requesting HA stop for VM 200\n"
        assert pve.parse_ha_resources(runner.run(pve.ha_resources()).stdout)["vm:200"].state == "stopped"
    env.reset()
    rt = env.runtime()
    local = tmp_path / "etcd-home-20251009T085320Z.db.vms.json"
    local.write_text("{}")
    local.chmod(0o600)
    stored = nas_store_backup(rt, local, directory=f"/mnt/tank/backups/etcd-{os.getpid()}", suffix=".vms.json")
    code, out = env.hosts._container("nas").exec(["stat", "-c", "%a", stored.path])
    assert (code, out.decode().strip()) == (0, "600")
    rt.close()
