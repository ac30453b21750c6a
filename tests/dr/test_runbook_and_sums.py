"""dr.runbook from the example inventory, and the sha256 sidecars the runbook and dr.check rely on."""

from __future__ import annotations

import calendar
import shutil
import subprocess
from pathlib import Path

import pytest
from invoke.context import Context

from homeops import snapshotsum
from homeops.inventory.loader import load_inventory
from homeops.operations.runbook import command_line, recovery_steps, render_runbook
from homeops.sim.backups import flip
from homeops.tasks import dr as dr_tasks

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def inventory_copy(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory", target, ignore=shutil.ignore_patterns(".homeops"))
    return target


def test_runbook_names_every_node_ip_vmid_and_mac(inventory_copy: Path) -> None:
    inventory = load_inventory(inventory_copy)
    text = render_runbook(inventory)
    for node in inventory.nodes:
        assert node.vm is not None and node.vm.mac is not None
        assert (
            f"| {node.hostname} | {node.role} | {node.ip} | {node.vm.vmid} | {node.vm.host} | {node.vm.mac} |" in text
        )
        assert f"qm create {node.vm.vmid} --name {node.hostname}" in text
        assert f"macaddr={node.vm.mac}" in text
    assert str(inventory_copy) not in text  # paths are relative: the runbook works from any checkout


@pytest.mark.parametrize("recreate", [False, True])
def test_runbook_holds_every_command_of_the_rebuild_in_order(inventory_copy: Path, recreate: bool) -> None:
    inventory = load_inventory(inventory_copy)
    text = render_runbook(inventory)
    position = 0
    for step in recovery_steps(inventory, recreate_vms=recreate):
        for action in (*step.actions, *step.checks):
            line = command_line(inventory, action)
            found = text.find(line, position if action in step.actions and step.stage != "nodes" else 0)
            assert found >= 0, f"{step.id}: {line}"
            if step.stage != "nodes":  # both node variants are printed one after the other
                position = found
    ids = [s.id for s in recovery_steps(inventory, recreate_vms=recreate)]
    assert ids[:4] == ["preflight:age-key", "preflight:proxmox", "preflight:snapshot", "preflight:genconfig"]
    assert ids.index("talos:bootstrap") > max(i for i, s in enumerate(ids) if s.startswith("node:"))
    assert ids[-3:] == ["apps:flux", "data:volsync", "data:cnpg"]


def test_recreate_keeps_vmid_mac_and_disk_and_reset_wipes_state(inventory_copy: Path) -> None:
    inventory = load_inventory(inventory_copy)
    steps = {s.id: s for s in recovery_steps(inventory, recreate_vms=True)}
    create = [a for a in steps["node:k8s-4:recreate-vm"].actions if a.argv[:2] == ("qm", "create")]
    (argv,) = [a.argv for a in create]
    assert argv[2] == "204" and "virtio,bridge=vmbr0,macaddr=BC:24:11:00:00:CC" in argv and "local-lvm:64" in argv
    assert {a.on for a in steps["node:k8s-4:recreate-vm"].actions} == {"pve2"}
    (reset,) = {s.id: s for s in recovery_steps(inventory)}["node:k8s-4:reset"].actions
    assert reset.on is None and "--system-labels-to-wipe" in reset.argv and "STATE,EPHEMERAL" in reset.argv


def test_a_fresh_cluster_bootstraps_without_a_snapshot(inventory_copy: Path) -> None:
    inventory = load_inventory(inventory_copy)
    steps = {s.id: s for s in recovery_steps(inventory, snapshot=None)}
    assert "preflight:snapshot" not in steps
    (bootstrap,) = steps["talos:bootstrap"].actions
    assert "--recover-from" not in bootstrap.argv
    recover = {s.id: s for s in recovery_steps(inventory, snapshot="etcd-home-20251009T085320Z.db")}
    (action,) = recover["talos:bootstrap"].actions
    assert action.argv[-2:] == (
        "--recover-from",
        str(inventory.state_dir / "etcd-snapshots/etcd-home-20251009T085320Z.db"),
    )


def test_dr_runbook_task_writes_the_file(inventory_copy: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = inventory_copy / "docs" / "EMERGENCY_RESTORE_RUNBOOK.md"
    dr_tasks.runbook(Context(), inventory=str(inventory_copy), output=str(target))
    assert capsys.readouterr().out.startswith(f"wrote {target} (")
    assert target.read_text().startswith("# Emergency restore runbook: cluster `home`\n")


def test_sidecar_verifies_and_catches_damage(tmp_path: Path) -> None:
    snap = tmp_path / "etcd-home-20251009T085320Z.db"
    snap.write_bytes(b'{"revision": 4193}\nabc\n')
    assert snapshotsum.verify(snap).ok is None  # no sidecar yet: cannot tell
    side = snapshotsum.write_sidecar(snap)
    assert side.name == "etcd-home-20251009T085320Z.db.sha256"
    assert side.read_text() == f"{snapshotsum.file_sha256(snap)}  {snap.name}\n"
    assert snapshotsum.verify(snap).ok is True
    snap.write_bytes(flip(snap.read_bytes()))
    check = snapshotsum.verify(snap)
    assert check.ok is False and "does not match its sidecar" in check.detail
    snap.write_bytes(b"")
    assert snapshotsum.verify(snap).detail == f"{snap.name} is empty"


def test_sidecar_is_what_sha256sum_checks(tmp_path: Path) -> None:
    # the runbook tells a person to run `sha256sum --check` on it
    snap = tmp_path / "etcd-home-20251009T085320Z.db"
    snap.write_bytes(b"snapshot bytes")
    snapshotsum.write_sidecar(snap)
    assert shutil.which("sha256sum"), "coreutils sha256sum is part of the test environment"
    done = subprocess.run(
        ["sha256sum", "--check", snap.name + ".sha256"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, f"{snap.name}: OK\n")


def test_snapshot_time_comes_from_its_name() -> None:
    assert snapshotsum.taken_at("etcd-home-20251009T085320Z.db") == calendar.timegm((2025, 10, 9, 8, 53, 20))
    assert snapshotsum.taken_at("etcd-my-cluster-20251009T085320Z.db") is not None
    assert snapshotsum.taken_at("db.snapshot") is None
