"""The host service layer over the Docker-less simulator: status fan-out, gates, VM plans, backups."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from homeops.backupstore import nas_fetch_backup, nas_list_backups, nas_store_backup
from homeops.clock import FakeClock
from homeops.engine.executor import Outcome
from homeops.errors import CommandError, ConfigError, GateFailed, PlanError
from homeops.operations.hosts import check_nas, check_proxmox, dataset_candidates, nas_status, proxmox_status
from homeops.operations.vm import VmActionPlan, list_snapshots, plan_vm_action
from homeops.runtime import Runtime
from homeops.sim.hosts import local_host_runner
from homeops.sim.store import SimStore
from tests.hosts.simkit import add_fault, make_inventory, new_sim, runtime_with


@pytest.fixture
def sim(tmp_path: Path) -> tuple[Runtime, SimStore]:
    inventory = make_inventory(tmp_path, nas_backup_keep=2)
    store = new_sim(tmp_path / "sim", inventory)
    rt = runtime_with(inventory, lambda host: local_host_runner(host.name, tmp_path / "sim", in_process=True))
    rt.clock = FakeClock(1_760_000_000.0)
    return rt, store


def run_vm(rt: Runtime, decided: VmActionPlan) -> Outcome:
    """What ``inv pve.vm --yes`` does with a decision: a one-step engine plan (lock, journal, gates)."""
    import io

    from homeops.app.runs import executor_for
    from homeops.operations.observe import ClusterObserver
    from homeops.operations.vm import plan_vm

    return executor_for(rt, ClusterObserver(rt), out=io.StringIO()).run(plan_vm(rt.inventory, decided), yes=True)


def test_proxmox_status_maps_vms_to_nodes(sim: tuple[Runtime, SimStore]) -> None:
    rt, _ = sim
    status = proxmox_status(rt)
    assert status.quorate is True and status.ok
    assert [h.host for h in status.hosts] == ["pve1", "pve2", "pve3"]
    nodes = {v.vmid: (v.node, v.host, v.status) for v in status.vms}
    assert nodes[201] == ("k8s-1", "pve2", "running")
    assert nodes[100] == (None, "pve1", "running")  # not a Talos VM
    assert status.missing == ()
    as_dict = status.to_dict()
    assert as_dict["quorate"] is True and len(as_dict["vms"]) == 7


def test_proxmox_status_one_host_down_is_that_hosts_error(sim: tuple[Runtime, SimStore]) -> None:
    rt, store = sim
    add_fault(store, "pve-host-down", "pve2")
    status = proxmox_status(rt)
    down = status.host("pve2")
    assert down is not None and not down.reachable and "cannot reach SSH host pve2" in (down.error or "")
    assert status.quorate is True  # pve1 and pve3 still form a quorum
    assert not status.ok
    assert {v.vmid: v.status for v in status.vms}[201] == "unknown"


def test_proxmox_vm_moved_and_missing(sim: tuple[Runtime, SimStore]) -> None:
    rt, store = sim
    with store.transaction() as state:
        hosts = state["pve"]["hosts"]
        hosts["pve3"]["vms"]["204"] = hosts["pve2"]["vms"].pop("204")  # migrated
        del hosts["pve3"]["vms"]["205"]
    status = proxmox_status(rt)
    moved = next(v for v in status.vms if v.vmid == 204)
    assert moved.moved and moved.host == "pve3" and moved.expected_host == "pve2"
    assert status.missing == ("k8s-5",)


def test_check_proxmox(sim: tuple[Runtime, SimStore]) -> None:
    rt, store = sim
    ok = check_proxmox(rt, "pve2")
    assert ok.ok and ok.observed == "host pve2 up, cluster quorate (3/3 votes)"
    add_fault(store, "pve-host-down", "pve2")
    down = check_proxmox(rt, "pve2")
    assert not down.ok and "pve2" in down.observed and "cannot reach" in down.observed
    with pytest.raises(GateFailed, match="gate 'proxmox' failed on pve2"):
        down.raise_if_failed()
    assert check_proxmox(rt).ok  # the cluster as a whole is still quorate
    add_fault(store, "pve-not-quorate")
    red = check_proxmox(rt)
    assert not red.ok and "NOT quorate" in red.observed


def test_check_nas(sim: tuple[Runtime, SimStore]) -> None:
    rt, store = sim
    assert check_nas(rt).ok
    add_fault(store, "nfs-stopped")
    stopped = check_nas(rt)
    assert not stopped.ok and stopped.observed.endswith("NFS STOPPED")
    add_fault(store, "nas-pool-degraded")
    assert "tank DEGRADED" in check_nas(rt).observed
    with store.transaction() as state:
        state["nas"]["up"] = False
    gone = check_nas(rt)
    assert not gone.ok and "cannot reach SSH host nas" in gone.observed


def test_nas_status(sim: tuple[Runtime, SimStore]) -> None:
    rt, store = sim
    status = nas_status(rt)
    assert status is not None and status.ok
    assert status.exports[0].path == "/mnt/tank/k8s"
    assert status.backup_dataset is not None and status.backup_dataset.name == "tank/backups/etcd"
    add_fault(store, "nfs-stopped")
    stopped = nas_status(rt)
    assert stopped is not None and not stopped.ok and stopped.exports == ()
    assert stopped.exports_error == "clnt_create: RPC: Program not registered"


def test_nas_status_middleware_down_is_reachable_but_red(sim: tuple[Runtime, SimStore]) -> None:
    rt, store = sim
    add_fault(store, "command-fails", "nas", tool="midclt", remaining=1)
    status = nas_status(rt)
    assert status is not None and status.reachable and not status.ok
    assert status.describe() == (
        "nas: midclt call pool.query on nas failed (exit 1): Failed to run middleware call. Daemon not running?"
    )


def test_dataset_candidates() -> None:
    assert dataset_candidates("/mnt/tank/backups/etcd") == ["tank/backups/etcd", "tank/backups", "tank"]
    assert dataset_candidates("/srv/backups") == []


def test_plan_vm_action_is_idempotent_and_changes_nothing(sim: tuple[Runtime, SimStore]) -> None:
    rt, store = sim
    start = plan_vm_action(rt, "k8s-1", "start")
    assert start.noop and start.summary == "k8s-1: VM 201 is already running — nothing to do"
    shutdown = plan_vm_action(rt, "10.10.0.11", "shutdown", timeout=120, force_stop=True)
    assert shutdown.destructive
    assert shutdown.render() == ["[pve2] qm shutdown 201 --timeout 120 --forceStop 1"]
    assert [e["argv"][1] for e in store.read()["log"]] == ["status", "status", "get"]  # planning only read
    assert run_vm(rt, shutdown).status == "finished"
    assert [e["argv"][1] for e in store.read()["log"]].count("shutdown") == 1
    assert plan_vm_action(rt, "k8s-1", "shutdown").noop
    with pytest.raises(PlanError, match="cannot be rebooted"):
        plan_vm_action(rt, "k8s-1", "reboot")


def test_snapshot_and_rollback(sim: tuple[Runtime, SimStore]) -> None:
    rt, store = sim
    snap = plan_vm_action(rt, "k8s-0", "snapshot")
    assert snap.snapshot == "homeops-20251009T085320Z" and not snap.destructive
    assert run_vm(rt, snap).status == "finished"
    assert [s.name for s in list_snapshots(rt, "k8s-0")] == ["homeops-20251009T085320Z"]
    with pytest.raises(PlanError, match=r"has no snapshot 'nope'.*its snapshots: homeops-20251009T085320Z"):
        plan_vm_action(rt, "k8s-0", "rollback", snapshot="nope")
    with pytest.raises(PlanError, match="needs --snapshot"):
        plan_vm_action(rt, "k8s-0", "rollback")
    rollback = plan_vm_action(rt, "k8s-0", "rollback", snapshot="homeops-20251009T085320Z")
    assert rollback.destructive and rollback.commands == (
        ("qm", "rollback", "200", "homeops-20251009T085320Z", "--start", "1"),
    )
    before = len(store.read()["log"])
    outcome = run_vm(rt, rollback)
    assert outcome.status == "finished"
    sent = [e["argv"] for e in store.read()["log"][before:] if e["argv"][1] == "rollback"]
    assert sent == [["qm", "rollback", "200", "homeops-20251009T085320Z", "--start", "1"]]


def test_vm_action_errors(sim: tuple[Runtime, SimStore], tmp_path: Path) -> None:
    rt, store = sim
    with pytest.raises(PlanError, match="unknown VM action 'explode'"):
        plan_vm_action(rt, "k8s-0", "explode")
    with pytest.raises(ConfigError, match="no node named or addressed 'k8s-9'"):
        plan_vm_action(rt, "k8s-9", "start")
    stop = plan_vm_action(rt, "k8s-0", "stop")
    add_fault(store, "pve-not-quorate")
    with pytest.raises(
        CommandError, match=r"qm stop 200 on pve1: task failed: cluster not ready - no quorum\? — .*quorum"
    ):
        run_vm(rt, stop)


def test_nas_backup_upload_verify_and_retention(sim: tuple[Runtime, SimStore], tmp_path: Path) -> None:
    rt, _ = sim
    for index in range(4):
        local = tmp_path / f"etcd-home-2025090{index}.db"
        local.write_bytes(b"s" * (100 + index))
        os.utime(local, (1_000 + index, 1_000 + index))
        stored = nas_store_backup(rt, local)
        assert stored.path == f"/mnt/tank/backups/etcd/{local.name}" and stored.size == 100 + index
    names = [f.name for f in nas_list_backups(rt)]
    assert names == ["etcd-home-20250903.db", "etcd-home-20250902.db"]  # keep=2, newest first
    fetched = nas_fetch_backup(rt, "etcd-home-20250903.db", tmp_path / "restore")
    assert fetched.read_bytes() == b"s" * 103
    with pytest.raises(PlanError):
        nas_fetch_backup(rt, "../etc/passwd", tmp_path)
