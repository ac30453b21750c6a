"""`inv dr.check` on the simulated example cluster: green when recoverable, red naming each cause."""

from __future__ import annotations

import json

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from homeops.operations.drcheck import DrReport
from homeops.tasks import dr as dr_tasks
from homeops.tasks import sim as sim_tasks

from .drsim import DrSim

ALL_CHECKS = {
    "vm-record",
    "vm-backup",
    "age-key",
    "genconfig",
    "etcd-snapshot",
    "etcd-snapshot-hash",
    "nas-snapshot",
    "vm-spec",
    "volsync",
    "nas-pool",
}


def failures(report: DrReport) -> dict[str, str]:
    return {f"{f.check} {f.subject}": f.detail for f in report.failures}


def test_green_on_a_healthy_sim_with_a_fresh_snapshot(drsim: DrSim, capsys: pytest.CaptureFixture[str]) -> None:
    drsim.snapshot()
    capsys.readouterr()
    dr_tasks.check(Context(), inventory=str(drsim.root))  # no Exit: recoverable
    out = capsys.readouterr().out
    assert out.startswith("DR check for cluster home [SIMULATED] at 2025-10-09T08:53:20Z\n")
    assert out.rstrip().endswith("\nrecoverable")
    report = drsim.check()
    assert report.ok and {f.status for f in report.findings} == {"ok"}
    assert {f.check for f in report.findings} == ALL_CHECKS
    assert [f.subject for f in report.findings if f.check == "vm-spec"] == [
        f"k8s-{i} (VM {200 + i} on pve{i % 3 + 1})" for i in range(6)
    ]
    assert {f.subject for f in report.findings if f.check == "volsync"} == {
        "default/immich-data",
        "default/paperless-data",
    }


def test_read_only_nothing_mutating_reaches_the_sim(drsim: DrSim) -> None:
    drsim.snapshot()
    before = len(drsim.store.log())
    drsim.check()
    ran = drsim.store.log()[before:]
    assert ran, "the check asked nothing"
    words = {" ".join(e["argv"][:2]) for e in ran}
    allowed = {"kubectl --kubeconfig", "qm config", "pvesh get", "midclt call", "zpool status", "talhelper genconfig"}
    assert words <= allowed, words
    genconfig = [e["argv"] for e in ran if e["tool"] == "talhelper"]
    assert genconfig and all("--dry-run" in argv for argv in genconfig)
    assert all("get" in e["argv"] for e in ran if e["tool"] == "kubectl")


def test_red_without_any_snapshot(drsim: DrSim) -> None:
    report = drsim.check()
    assert failures(report) == {
        "etcd-snapshot .homeops/etcd-snapshots": "no etcd snapshot here",
        "nas-snapshot nas:/mnt/tank/backups/etcd": "no etcd snapshot on the NAS either",
    }


def test_red_when_the_snapshot_is_too_old(drsim: DrSim, capsys: pytest.CaptureFixture[str]) -> None:
    drsim.snapshot()
    drsim.advance(27 * 3600)  # the limit is 26 h; VolSync keeps syncing hourly meanwhile
    with pytest.raises(Exit) as info:
        dr_tasks.check(Context(), inventory=str(drsim.root))
    assert info.value.code == 1
    out = capsys.readouterr().out
    assert "NOT RECOVERABLE: 1 problem(s)" in out
    (name,) = [p.name for p in drsim.snapshots.glob("*.db")]
    assert failures(drsim.check()) == {
        f"etcd-snapshot {name}": "too old: 201 bytes, taken 27.0h ago (limit 26.0h, dr.snapshotMaxAgeHours)"
    }


def test_red_when_the_snapshot_is_missing_on_the_nas(drsim: DrSim, capsys: pytest.CaptureFixture[str]) -> None:
    drsim.snapshot()
    sim_tasks.fault(Context(), "snapshot-missing-on-nas", inventory=str(drsim.root))
    assert "removed nas:/mnt/tank/backups/etcd/etcd-home-" in capsys.readouterr().out
    (name,) = [p.name for p in drsim.snapshots.glob("*.db")]
    assert failures(drsim.check()) == {
        f"nas-snapshot {name}": "the newest snapshot is missing on the NAS (nas:/mnt/tank/backups/etcd)"
    }


def test_red_when_the_age_key_is_missing(drsim: DrSim) -> None:
    drsim.snapshot()
    (drsim.root / "age.key").unlink()
    report = drsim.check()
    assert set(failures(report)) == {"age-key age.key", "genconfig talos/talconfig.yaml"}
    (age,) = [f for f in report.failures if f.check == "age-key"]
    assert age.detail == "the age key file is missing: no secret in this repository can be decrypted"


def test_red_when_a_volsync_source_is_stale(drsim: DrSim) -> None:
    drsim.snapshot()
    drsim.fault("volsync-stale", "immich-data")
    assert failures(drsim.check()) == {
        "volsync default/immich-data": "stale: last sync 2.0d ago (limit 26.0h); the last mover run failed"
    }


def test_per_app_volsync_limit_from_homeops_yaml(drsim: DrSim) -> None:
    drsim.edit("  backupPool: tank", "  volsyncMaxAgeHoursByApp: { default/immich-data: 0.5 }\n  backupPool: tank")
    drsim.snapshot()
    assert failures(drsim.check()) == {"volsync default/immich-data": "stale: last sync 53m ago (limit 30m)"}


def test_red_when_the_nas_pool_is_degraded(drsim: DrSim) -> None:
    drsim.snapshot()
    drsim.fault("nas-pool-degraded", "tank")
    (detail,) = failures(drsim.check()).values()
    assert detail.startswith("tank DEGRADED (unhealthy): One or more devices could not be used")


def test_red_when_the_snapshot_is_corrupt(drsim: DrSim, capsys: pytest.CaptureFixture[str]) -> None:
    drsim.snapshot()
    sim_tasks.fault(Context(), "snapshot-corrupt", inventory=str(drsim.root))
    report = drsim.check()
    (name,) = [p.name for p in drsim.snapshots.glob("*.db")]
    assert list(failures(report)) == [f"etcd-snapshot-hash {name}"]
    assert "does not match its sidecar" in report.failures[0].detail


def test_vm_specs_must_be_recorded_and_agree_with_proxmox(drsim: DrSim) -> None:
    drsim.edit('vmid: 202, mac: "BC:24:11:00:00:CA", disk: local-lvm:64', "vmid: 202")
    with drsim.store.transaction() as state:  # someone changed VM 201's NIC in Proxmox
        state["pve"]["hosts"]["pve2"]["vms"]["201"]["config"]["net0"] = "virtio=BC:24:11:00:00:99,bridge=vmbr0"
    drsim.snapshot()
    (record,) = drsim.snapshots.glob("*.vms.json")
    record.unlink()  # a snapshot from before VM records: homeops.yaml is all a rebuild has
    report = drsim.check()
    assert failures(report) == {
        "vm-spec k8s-1 (VM 201 on pve2)": "mac BC:24:11:00:00:C9 in homeops.yaml, BC:24:11:00:00:99 on Proxmox",
        "vm-spec k8s-2 (VM 202 on pve3)": "homeops.yaml does not record its mac and disk",
    }
    (missing,) = [f for f in report.failures if f.subject.startswith("k8s-2")]
    assert missing.hint == "add them under nodes.k8s-2.vm — Proxmox says: mac: BC:24:11:00:00:CA, disk: local-lvm:64"
    drsim.snapshot()  # now with its VM record: that is where a rebuild finds k8s-2's mac and disk
    assert list(failures(drsim.check())) == ["vm-spec k8s-1 (VM 201 on pve2)"]


def test_an_unreachable_proxmox_host_leaves_known_specs_as_a_warning(drsim: DrSim) -> None:
    drsim.snapshot()
    drsim.fault("pve-host-down", "pve3")
    report = drsim.check()
    assert report.ok
    warned = [f for f in report.findings if f.status == "warn" and f.check == "vm-spec"]
    assert [f.subject for f in warned] == ["k8s-2 (VM 202 on pve3)", "k8s-5 (VM 205 on pve3)"]
    seen = "known from homeops.yaml; Proxmox not asked: cannot reach SSH host pve3"
    assert all(f.detail.startswith(seen) for f in warned)


def test_json_names_every_cause(drsim: DrSim, capsys: pytest.CaptureFixture[str]) -> None:
    drsim.snapshot()
    drsim.fault("nas-pool-degraded", "tank")
    drsim.fault("volsync-stale", "default/paperless-data")
    capsys.readouterr()
    with pytest.raises(Exit) as info:
        dr_tasks.check(Context(), inventory=str(drsim.root), json=True)
    assert info.value.code == 1
    data = json.loads(capsys.readouterr().out)
    assert (data["cluster"], data["simulated"], data["recoverable"]) == ("home", True, False)
    failed = [(f["check"], f["subject"]) for f in data["findings"] if f["status"] == "fail"]
    assert failed == [("volsync", "default/paperless-data"), ("nas-pool", "nas:tank")]
    assert all(set(f) <= {"check", "subject", "status", "detail", "hint"} for f in data["findings"])
