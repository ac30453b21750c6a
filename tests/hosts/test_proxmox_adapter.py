"""Proxmox adapter: argv builders, parsers against recorded output, idempotency, error mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeops.adapters import proxmox as pve
from homeops.errors import CommandError, PlanError
from homeops.runners import Result

DATA = Path(__file__).parent / "data"


def result(argv: list[str], code: int, out: str = "", err: str = "", target: str = "pve1") -> Result:
    return Result(tuple(argv), code, out, err, 0.0, target)


def test_pvecm_quorate_needs_yes_and_exit_0() -> None:
    quorum = pve.parse_pvecm_status(result(pve.pvecm_status(), 0, (DATA / "pvecm_status_quorate.txt").read_text()))
    assert quorum == pve.Quorum(True, "pve-cluster", 3, 3, 3)
    assert quorum.describe() == "quorate (3/3 votes)"


def test_pvecm_not_quorate_exit_2() -> None:
    quorum = pve.parse_pvecm_status(result(pve.pvecm_status(), 2, (DATA / "pvecm_status_not_quorate.txt").read_text()))
    assert not quorum.quorate
    assert (quorum.nodes, quorum.total_votes, quorum.expected_votes) == (1, 1, 3)


def test_pvecm_says_yes_but_exit_2_is_not_quorate() -> None:
    # The gate wants both signals; a disagreement is treated as the unsafe answer.
    text = (DATA / "pvecm_status_quorate.txt").read_text()
    assert not pve.parse_pvecm_status(result(pve.pvecm_status(), 2, text)).quorate


@pytest.mark.parametrize("code", [1, 255])
def test_pvecm_error_exit_raises(code: int) -> None:
    with pytest.raises(CommandError, match=r"pvecm status on pve1: .*Cannot initialize CMAP service"):
        pve.parse_pvecm_status(result(pve.pvecm_status(), code, "", "Cannot initialize CMAP service\n"))


def test_pvecm_without_quorate_line_is_an_error() -> None:
    with pytest.raises(CommandError, match="no 'Quorate:' line"):
        pve.parse_pvecm_status(result(pve.pvecm_status(), 0, "Cluster information\n"))


def test_cluster_resources_argv_and_parse() -> None:
    assert pve.cluster_resources() == [
        "pvesh", "get", "/cluster/resources", "--type", "vm", "--output-format", "json",
    ]  # fmt: skip
    vms = pve.parse_cluster_resources((DATA / "pvesh_resources.json").read_text())
    assert [(v.vmid, v.name, v.node, v.status, v.kind, v.template) for v in vms] == [
        (105, "pihole", "pve3", "running", "lxc", False),
        (201, "talos-cp-1", "pve1", "running", "qemu", False),
        (202, "talos-cp-2", "pve2", "unknown", "qemu", False),
        (9000, "talos-template", "pve2", "stopped", "qemu", True),
    ]
    assert vms[1].running and vms[1].maxmem == 8589934592 and vms[2].lock == "backup"


@pytest.mark.parametrize("text", ["not json", '{"data": []}'])
def test_cluster_resources_rejects_non_list(text: str) -> None:
    with pytest.raises(CommandError, match="pvesh on pve1"):
        pve.parse_cluster_resources(text, target="pve1")


def test_qm_status_and_config() -> None:
    assert pve.qm_status(201) == ["qm", "status", "201"]
    assert pve.parse_qm_status("status: running\n") == "running"
    with pytest.raises(CommandError):
        pve.parse_qm_status("garbage")
    config = pve.parse_qm_config((DATA / "qm_config.txt").read_text())
    assert config["boot"] == "order=scsi0;ide2"
    assert config["net0"] == "virtio=BC:24:11:00:02:01,bridge=vmbr0"
    assert pve.qm_config(201, current=True) == ["qm", "config", "201", "--current"]


def test_power_argv() -> None:
    assert pve.qm_start(201) == ["qm", "start", "201"]
    assert pve.qm_shutdown(201) == ["qm", "shutdown", "201", "--timeout", "60"]
    assert pve.qm_shutdown(201, timeout=120, force_stop=True) == [
        "qm", "shutdown", "201", "--timeout", "120", "--forceStop", "1",
    ]  # fmt: skip
    assert pve.qm_stop(201, overrule_shutdown=True) == ["qm", "stop", "201", "--overrule-shutdown", "1"]
    assert pve.qm_reboot(201, timeout=90) == ["qm", "reboot", "201", "--timeout", "90"]


@pytest.mark.parametrize(
    ("action", "status", "runs", "argv"),
    [
        ("start", "running", False, ()),
        ("start", "stopped", True, ("qm", "start", "201")),
        ("stop", "stopped", False, ()),
        ("stop", "running", True, ("qm", "stop", "201")),
        ("shutdown", "stopped", False, ()),
        ("shutdown", "running", True, ("qm", "shutdown", "201", "--timeout", "60")),
        ("shutdown", "paused", True, None),  # only with force_stop, below
        ("reboot", "running", True, ("qm", "reboot", "201")),
    ],
)
def test_power_decision_idempotency(
    action: pve.PowerAction, status: str, runs: bool, argv: tuple[str, ...] | None
) -> None:
    if argv is None:
        with pytest.raises(PlanError, match="paused"):
            pve.power_decision(action, 201, status)
        decision = pve.power_decision(action, 201, status, force_stop=True)
        assert decision.argv[-2:] == ("--forceStop", "1")
        return
    decision = pve.power_decision(action, 201, status)
    assert decision.run is runs
    assert decision.argv == argv


def test_reboot_of_stopped_vm_is_refused() -> None:
    with pytest.raises(PlanError, match="VM 201 is stopped, not running"):
        pve.power_decision("reboot", 201, "stopped")


@pytest.mark.parametrize("name", ["pre-upgrade", "homeops_20250901", "a1"])
def test_valid_snapshot_names(name: str) -> None:
    assert pve.qm_snapshot(201, name, description="x y") == ["qm", "snapshot", "201", name, "--description", "x y"]


@pytest.mark.parametrize("name", ["1abc", "a", "current", "has space", "x;rm", "a" * 41, "$(id)"])
def test_invalid_snapshot_names(name: str) -> None:
    with pytest.raises(PlanError, match="not a valid Proxmox snapshot name"):
        pve.qm_snapshot(201, name)


def test_snapshot_family_argv() -> None:
    assert pve.qm_snapshot(201, "s1", vmstate=True) == ["qm", "snapshot", "201", "s1", "--vmstate", "1"]
    assert pve.qm_listsnapshot(201) == ["qm", "listsnapshot", "201"]
    assert pve.qm_rollback(201, "s1", start=True) == ["qm", "rollback", "201", "s1", "--start", "1"]
    assert pve.qm_delsnapshot(201, "s1") == ["qm", "delsnapshot", "201", "s1"]


def test_parse_listsnapshot_tree() -> None:
    snaps = pve.parse_listsnapshot((DATA / "qm_listsnapshot.txt").read_text())
    assert snaps == (
        pve.Snapshot("before-upgrade", "2025-09-01 10:00:00", "homeops before v1.11.6", None),
        pve.Snapshot("second_one", "2025-09-02 11:30:00", "", "before-upgrade"),
        pve.Snapshot("other-branch", "2025-08-01 09:00:00", "old", None),
    )
    assert pve.parse_listsnapshot("`-> current                                 You are here!\n") == ()


def test_create_talos_vm_argv() -> None:
    spec = pve.TalosVmSpec(
        vmid=201, name="k8s-1", iso="local:iso/talos-v1.11.6-metal-amd64.iso", mac="BC:24:11:00:02:01", uefi=True,
        extra=(("onboot", "1"),),
    )  # fmt: skip
    create, extra = pve.qm_create_talos(spec)
    assert create[:3] == ["qm", "create", "201"]
    flags = dict(zip(create[3::2], create[4::2], strict=True))
    assert flags["--net0"] == "virtio,bridge=vmbr0,macaddr=BC:24:11:00:02:01"
    assert flags["--scsi0"] == "local-lvm:64"
    assert flags["--cdrom"] == "local:iso/talos-v1.11.6-metal-amd64.iso"
    assert flags["--boot"] == "order=scsi0;ide2"
    assert flags["--bios"] == "ovmf" and flags["--efidisk0"].startswith("local-lvm:1,efitype=4m")
    assert extra == ["qm", "set", "201", "--onboot", "1"]
    assert pve.qm_detach_iso(201) == ["qm", "set", "201", "--delete", "ide2"]


@pytest.mark.parametrize(
    ("stderr", "hint"),
    [
        ("cluster not ready - no quorum?\n", "lost quorum"),
        ("VM quit/powerdown failed - got timeout\n", "--force-stop"),
        ("Configuration file 'nodes/pve1/qemu-server/999.conf' does not exist\n", "check the vmid"),
        ("VM 201 already running\n", "already running"),
    ],
)
def test_task_failure_exit_255_maps_to_clear_error(stderr: str, hint: str) -> None:
    failed = result(["qm", "start", "201"], 255, "", stderr)
    with pytest.raises(CommandError) as info:
        pve.check(failed)
    message = str(info.value)
    assert message.startswith("qm start on pve1: task failed: ")
    assert stderr.strip() in message and hint in message
    assert "\n" not in message and info.value.returncode == 255


def test_check_passes_success_through() -> None:
    ok = result(["qm", "start", "201"], 0)
    assert pve.check(ok) is ok
