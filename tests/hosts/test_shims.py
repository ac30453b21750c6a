"""The host shims: real formats, streams and exit codes; idempotency; faults; the call log.

Most tests call ``run_tool`` on a state dict (pure, fast); the ``local_host_runner`` tests run the
actual shim executables as processes, as the Docker-less simulator does.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from homeops.adapters import proxmox as pve
from homeops.adapters import truenas as nas
from homeops.errors import ConnectionFailed
from homeops.runners import Result
from homeops.sim.hosts import initial_host_state, local_host_runner, only_looks, run_tool
from homeops.sim.store import SimStore
from tests.hosts.simkit import add_fault, make_inventory, make_state, new_sim


@pytest.fixture
def state(tmp_path: Path) -> dict[str, Any]:
    return make_state(make_inventory(tmp_path), now=1_760_000_000.0)


def call(state: dict[str, Any], host: str, *argv: str) -> Result:
    code, out, err = run_tool(argv[0], argv[1:], host, state)
    return Result(tuple(argv), code, out, err, 0.0, host)


def fault(
    state: dict[str, Any], name: str, target: str | None = None, remaining: int | None = None, **params: Any
) -> None:
    state["faults"].append({"name": name, "target": target, "params": params, "remaining": remaining})


def test_initial_state_follows_inventory(tmp_path: Path) -> None:
    hosts = initial_host_state(make_inventory(tmp_path))
    assert set(hosts["pve"]["hosts"]) == {"pve1", "pve2", "pve3"}
    pve1 = hosts["pve"]["hosts"]["pve1"]
    assert pve1["up"] is True
    assert {k: v["name"] for k, v in pve1["vms"].items()} == {"100": "home-assistant", "200": "k8s-0", "203": "k8s-3"}
    assert pve1["vms"]["200"]["status"] == "running" and pve1["vms"]["200"]["snapshots"] == []
    assert hosts["nas"]["hostname"] == "nas" and hosts["nas"]["pools"][0]["healthy"] is True
    assert hosts["nas"]["exports"][0]["networks"] == ["10.10.0.0/24"]
    json.dumps(hosts)  # the state file is JSON


def test_pvecm_and_pvesh_formats(state: dict[str, Any]) -> None:
    status = call(state, "pve2", "pvecm", "status")
    assert status.exit_code == 0 and "Quorate:          Yes" in status.stdout
    assert "0x00000002          1 10.10.0.3 (local)" in status.stdout
    assert pve.parse_pvecm_status(status).quorate
    listing = call(state, "pve1", *pve.cluster_resources())
    assert listing.stdout.count("\n") == 1  # one line of JSON, like pvesh
    vms = pve.parse_cluster_resources(listing.stdout)
    assert {(v.vmid, v.node) for v in vms} >= {(200, "pve1"), (201, "pve2"), (205, "pve3")}


def test_qm_power_rules(state: dict[str, Any]) -> None:
    assert call(state, "pve2", "qm", "status", "201").stdout == "status: running\n"
    again = call(state, "pve2", "qm", "start", "201")
    assert (again.exit_code, again.stderr) == (255, "VM 201 already running\n")
    assert call(state, "pve2", *pve.qm_shutdown(201)).exit_code == 0
    assert call(state, "pve2", "qm", "status", "201").stdout == "status: stopped\n"
    assert call(state, "pve2", "qm", "shutdown", "201").exit_code == 0  # already stopped: a no-op
    assert call(state, "pve2", "qm", "stop", "201").exit_code == 0
    reboot = call(state, "pve2", "qm", "reboot", "201")
    assert (reboot.exit_code, reboot.stderr) == (255, "VM 201 not running\n")
    boots = state["pve"]["hosts"]["pve2"]["vms"]["201"]["boots"]
    assert call(state, "pve2", "qm", "start", "201").exit_code == 0
    assert state["pve"]["hosts"]["pve2"]["vms"]["201"]["boots"] == boots + 1
    assert call(state, "pve2", "qm", "reboot", "201", "--timeout", "30").exit_code == 0


def test_qm_unknown_vm_command_and_option(state: dict[str, Any]) -> None:
    missing = call(state, "pve1", "qm", "status", "201")  # 201 lives on pve2
    assert missing.exit_code == 255 and "qemu-server/201.conf' does not exist" in missing.stderr
    assert call(state, "pve1", "qm", "frobnicate").stderr.startswith("ERROR: unknown command 'qm frobnicate'")
    bad = call(state, "pve1", "qm", "shutdown", "200", "--force")
    assert bad.exit_code == 255 and bad.stderr.startswith("Unknown option: force")


def test_snapshots_roundtrip(state: dict[str, Any]) -> None:
    assert call(state, "pve1", *pve.qm_snapshot(200, "before", description="pre upgrade")).exit_code == 0
    assert call(state, "pve1", *pve.qm_snapshot(200, "after")).exit_code == 0
    dup = call(state, "pve1", "qm", "snapshot", "200", "before")
    assert (dup.exit_code, dup.stderr) == (255, "snapshot name 'before' already used\n")
    snaps = pve.parse_listsnapshot(call(state, "pve1", *pve.qm_listsnapshot(200)).stdout)
    assert [(s.name, s.parent, s.description) for s in snaps] == [
        ("before", None, "pre upgrade"),
        ("after", "before", ""),
    ]
    assert snaps[0].taken == "2025-10-09 08:53:20"  # the sim clock's time
    call(state, "pve1", "qm", "set", "200", "--memory", "4096")
    assert call(state, "pve1", *pve.qm_rollback(200, "before")).exit_code == 0
    assert call(state, "pve1", "qm", "status", "200").stdout == "status: stopped\n"  # rollback without --start
    assert pve.parse_qm_config(call(state, "pve1", "qm", "config", "200").stdout)["memory"] == "8192"
    assert call(state, "pve1", *pve.qm_delsnapshot(200, "after")).exit_code == 0
    gone = call(state, "pve1", "qm", "rollback", "200", "after")
    assert (gone.exit_code, gone.stderr) == (255, "snapshot 'after' does not exist\n")


def test_qm_create_talos_vm(state: dict[str, Any]) -> None:
    spec = pve.TalosVmSpec(vmid=210, name="k8s-9", iso="local:iso/talos.iso", mac="BC:24:11:00:02:10")
    for argv in pve.qm_create_talos(spec):
        assert call(state, "pve3", *argv).exit_code == 0
    config = pve.parse_qm_config(call(state, "pve3", "qm", "config", "210").stdout)
    assert config["scsi0"] == "local-lvm:vm-210-disk-0,size=64G"
    assert config["ide2"] == "local:iso/talos.iso,media=cdrom"
    assert config["boot"] == "order=scsi0;ide2"
    assert call(state, "pve3", "qm", "status", "210").stdout == "status: stopped\n"
    clash = call(state, "pve1", "qm", "create", "210")
    assert "VM 210 already exists on node 'pve3'" in clash.stderr and clash.exit_code == 255
    assert call(state, "pve3", *pve.qm_detach_iso(210)).exit_code == 0
    assert "ide2" not in pve.parse_qm_config(call(state, "pve3", "qm", "config", "210").stdout)


def test_qm_destroy_like_qemu_server(state: dict[str, Any]) -> None:
    vms = state["pve"]["hosts"]["pve2"]["vms"]
    running = call(state, "pve2", "qm", "destroy", "201", "--purge")
    assert (running.exit_code, running.stdout, running.stderr) == (255, "", "VM 201 is running - destroy failed\n")
    assert call(state, "pve2", "qm", "snapshot", "201", "before").exit_code == 0
    call(state, "pve2", "qm", "stop", "201")
    call(state, "pve2", "qm", "set", "201", "--protection", "1")
    protected = call(state, "pve2", "qm", "destroy", "201")
    assert (protected.exit_code, protected.stderr) == (255, "can't remove VM 201 - protection mode enabled\n")
    call(state, "pve2", "qm", "set", "201", "--delete", "protection")
    purged = call(state, "pve2", "qm", "destroy", "201", "--purge")
    assert (purged.exit_code, purged.stderr) == (0, "")
    assert purged.stdout == (
        '  Logical volume "vm-201-disk-0" successfully removed.\n'
        '  Logical volume "vm-201-disk-1" successfully removed.\n'  # efidisk0, after the scsi disks
        "purging VM 201 from related configurations..\n"
    )
    assert "201" not in vms  # its disks and snapshots went with it
    gone = call(state, "pve2", "qm", "destroy", "201")
    assert (gone.exit_code, gone.stderr) == (
        255,
        "Configuration file 'nodes/pve2/qemu-server/201.conf' does not exist\n",
    )
    assert call(state, "pve2", "qm", "destroy").exit_code == 255  # no vmid: usage, not a crash


def test_qm_destroy_without_purge_and_of_a_paused_vm(state: dict[str, Any]) -> None:
    state["pve"]["hosts"]["pve1"]["vms"]["203"]["status"] = "paused"  # a paused VM is a running QEMU
    assert call(state, "pve1", "qm", "destroy", "203").stderr == "VM 203 is running - destroy failed\n"
    call(state, "pve1", "qm", "stop", "203")
    plain = call(state, "pve1", "qm", "destroy", "203", "--purge", "0")
    assert plain.ok and "purging" not in plain.stdout and "vm-203-disk-0" in plain.stdout
    assert sorted(state["pve"]["hosts"]["pve1"]["vms"]) == ["100", "200"]
    recreated = call(state, "pve1", "qm", "create", "203", "--name", "k8s-3", "--scsi0", "local-lvm:64")
    assert recreated.ok and state["pve"]["hosts"]["pve1"]["vms"]["203"]["status"] == "stopped"


LOOKS = [
    ("pve1", "qm", "status", "200"),
    ("pve1", "qm", "config", "200"),
    ("pve1", "qm", "listsnapshot", "200"),
    ("pve1", "qm", "list"),
    ("pve1", "qm", "status", "999"),
    ("pve2", "pvecm", "status"),
    ("pve2", "pvesh", "get", "/cluster/resources", "--type", "vm", "--output-format", "json"),
    ("pve2", "pvesh", "get", "/nope"),
    ("nas", "zpool", "status", "-x"),
    ("nas", "zpool", "status", "tank"),
    ("nas", "midclt", "call", "pool.query"),
    ("nas", "midclt", "call", "pool.dataset.query", '[["id","=","tank"]]', '{"get": true}'),
    ("nas", "midclt", "call", "service.query"),
    ("nas", "midclt", "call", "service.started", "nfs"),
    ("nas", "midclt", "call", "sharing.nfs.query"),
    ("nas", "midclt", "call", "system.info"),
    ("nas", "showmount", "-e", "localhost"),
]


@pytest.mark.parametrize("faults", [(), ("nas-pool-degraded", "nfs-stopped", "pve-not-quorate", "pve-host-down")])
def test_calls_that_only_look_change_nothing(state: dict[str, Any], faults: tuple[str, ...]) -> None:
    for name in faults:
        fault(state, name, "pve3" if name == "pve-host-down" else None)
    before = copy.deepcopy(state)
    for host, *argv in LOOKS:
        assert only_looks(argv[0], argv[1:]), argv
        call(state, host, *argv)
        assert state == before, f"{argv} changed the state"


def test_calls_that_change_something_are_not_taken_for_looks() -> None:
    for sub in (
        "start",
        "stop",
        "shutdown",
        "reboot",
        "snapshot",
        "rollback",
        "delsnapshot",
        "destroy",
        "create",
        "set",
    ):
        assert not only_looks("qm", [sub, "200"])
    assert not only_looks("qm", [])
    assert not only_looks("uptime", [])


def test_a_look_through_the_shim_logs_without_rewriting_the_state(tmp_path: Path) -> None:
    store = new_sim(tmp_path / "sim", make_inventory(tmp_path))
    runner = local_host_runner("nas", tmp_path / "sim", in_process=True)
    before = store.path.stat()
    assert runner.run(["zpool", "status", "-x"]).stdout == "all pools are healthy\n"
    assert runner.run(["midclt", "call", "service.started", "nfs"]).stdout == "True\n"
    after = store.path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert [(e["argv"][0], e["host"], e["exit"]) for e in store.log()] == [("zpool", "nas", 0), ("midclt", "nas", 0)]
    pve1 = local_host_runner("pve1", tmp_path / "sim", in_process=True)
    assert pve1.run(["qm", "stop", "100"]).ok
    assert store.path.stat().st_ino != after.st_ino  # a change is a transaction: state.json rewritten
    assert store.read()["pve"]["hosts"]["pve1"]["vms"]["100"]["status"] == "stopped"


def test_a_look_still_consumes_a_command_fails_fault(tmp_path: Path) -> None:
    store = new_sim(tmp_path / "sim", make_inventory(tmp_path))
    add_fault(store, "command-fails", None, remaining=1, tool="zpool")
    runner = local_host_runner("nas", tmp_path / "sim", in_process=True)
    assert runner.run(["zpool", "status", "-x"]).exit_code == 1
    assert runner.run(["zpool", "status", "-x"]).exit_code == 0
    assert store.read()["faults"] == []
    assert [e["exit"] for e in store.log()] == [1, 0]


def test_qm_list_table(state: dict[str, Any]) -> None:
    lines = call(state, "pve1", "qm", "list").stdout.splitlines()
    assert lines[0] == "      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID       "
    assert lines[2].split()[:3] == ["200", "k8s-0", "running"]


def test_fault_not_quorate(state: dict[str, Any]) -> None:
    fault(state, "pve-not-quorate")
    status = call(state, "pve1", "pvecm", "status")
    assert status.exit_code == 2 and "Quorate:          No" in status.stdout and "Activity blocked" in status.stdout
    refused = call(state, "pve1", "qm", "stop", "200")
    assert (refused.exit_code, refused.stderr) == (255, "cluster not ready - no quorum?\n")
    assert call(state, "pve1", "qm", "status", "200").exit_code == 0  # reads still work


def test_fault_host_down(state: dict[str, Any]) -> None:
    fault(state, "pve-host-down", "pve3")
    status = call(state, "pve1", "pvecm", "status")
    assert status.exit_code == 0 and "Nodes:            2" in status.stdout  # 2 of 3 still quorate
    vms = {v.vmid: v for v in pve.parse_cluster_resources(call(state, "pve1", *pve.cluster_resources()).stdout)}
    assert vms[202].status == "unknown" and vms[200].status == "running"
    assert call(state, "pve3", "qm", "status", "202").exit_code == 255
    fault(state, "pve-host-down", "pve2")
    assert call(state, "pve1", "pvecm", "status").exit_code == 2  # 1 of 3: quorum lost


def test_fault_pool_degraded_and_nfs_stopped(state: dict[str, Any]) -> None:
    fault(state, "nas-pool-degraded")
    health = nas.parse_zpool_status_x(call(state, "nas", *nas.zpool_status_x()))
    assert health.unhealthy == (("tank", "DEGRADED"),)
    (pool,) = nas.parse_pools(call(state, "nas", *nas.pool_query()).stdout)
    assert not pool.ok and pool.status == "DEGRADED"
    fault(state, "nfs-stopped")
    assert nas.parse_service(call(state, "nas", *nas.service_query()).stdout).state == "STOPPED"
    assert call(state, "nas", *nas.service_started()).stdout == "False\n"
    shown = call(state, "nas", *nas.showmount_exports())
    assert (shown.exit_code, shown.stderr) == (1, "clnt_create: RPC: Program not registered\n")


def test_sim_engineer_style_faults_on_sections(state: dict[str, Any]) -> None:
    # homeops.sim.faults flips the documented fields instead of listing a fault; both must work.
    state["pve"]["cluster"]["quorate"] = False
    assert call(state, "pve1", "pvecm", "status").exit_code == 2
    state["pve"]["hosts"]["pve2"]["up"] = False
    assert call(state, "pve2", "qm", "status", "201").exit_code == 255


def test_fault_command_fails_n_times(state: dict[str, Any]) -> None:
    fault(state, "command-fails", "pve1", remaining=2, tool="qm")
    assert call(state, "pve2", "qm", "status", "201").exit_code == 0  # other host unaffected
    assert call(state, "pve1", "pvecm", "status").exit_code == 0  # other tool unaffected
    assert call(state, "pve1", "qm", "status", "200").exit_code == 255
    assert call(state, "pve1", "qm", "status", "200").exit_code == 255
    assert call(state, "pve1", "qm", "status", "200").exit_code == 0
    assert state["faults"] == []


def test_fault_command_fails_only_for_its_subcommand(state: dict[str, Any]) -> None:
    fault(state, "command-fails", remaining=1, tool="qm", subcommand="snapshot")
    assert call(state, "pve1", "qm", "status", "200").exit_code == 0
    assert call(state, "pve1", *pve.qm_snapshot(200, "s1")).exit_code == 255
    assert call(state, "pve1", *pve.qm_snapshot(200, "s1")).exit_code == 0


def test_fault_command_fails_with_times_param(state: dict[str, Any]) -> None:
    fault(state, "command-fails", tool="midclt", times=1)
    failed = call(state, "nas", *nas.pool_query())
    assert (failed.exit_code, failed.stderr) == (1, "Failed to run middleware call. Daemon not running?\n")
    assert call(state, "nas", *nas.pool_query()).exit_code == 0


def test_shutdown_hang_needs_force_stop(state: dict[str, Any]) -> None:
    fault(state, "vm-shutdown-hangs", "201")
    hung = call(state, "pve2", *pve.qm_shutdown(201))
    assert (hung.exit_code, hung.stderr) == (255, "VM quit/powerdown failed - got timeout\n")
    assert call(state, "pve2", *pve.qm_shutdown(201, force_stop=True)).exit_code == 0


def test_midclt_query_filters_and_get(state: dict[str, Any]) -> None:
    got = call(state, "nas", "midclt", "call", "pool.query", '[["name","=","tank"]]', '{"get": true}')
    assert json.loads(got.stdout)["name"] == "tank"
    missing = call(state, "nas", "midclt", "call", "pool.query", '[["name","=","nope"]]', '{"get": true}')
    assert missing.exit_code == 1 and "MatchNotFound" in missing.stderr
    assert call(state, "nas", "midclt", "call", "no.such").exit_code == 1
    rows = json.loads(call(state, "nas", *nas.midclt("pool.dataset.query", [["id", "in", ["tank", "x"]]])).stdout)
    assert [r["id"] for r in rows] == ["tank"]


def test_tools_are_per_host_kind(state: dict[str, Any]) -> None:
    assert call(state, "nas", "qm", "list").exit_code == 127
    assert call(state, "pve1", "midclt", "call", "pool.query").exit_code == 127


def test_local_host_runner_runs_the_shim_executables(tmp_path: Path) -> None:
    store = new_sim(tmp_path / "sim", make_inventory(tmp_path))
    runner = local_host_runner("pve1", tmp_path / "sim")
    result = runner.run(["qm", "status", "200"])
    assert (result.exit_code, result.stdout, result.target) == (0, "status: running\n", "pve1")
    failed = runner.run(["qm", "start", "200"])
    assert (failed.exit_code, failed.stderr) == (255, "VM 200 already running\n")
    assert runner.run(["uptime"]).exit_code == 127
    log = store.read()["log"]
    assert [(e["tool"], e["argv"], e["exit"], e["host"]) for e in log] == [
        ("qm", ["qm", "status", "200"], 0, "pve1"),
        ("qm", ["qm", "start", "200"], 255, "pve1"),
    ]


def test_local_host_runner_host_down_raises_like_ssh(tmp_path: Path) -> None:
    store = new_sim(tmp_path / "sim", make_inventory(tmp_path))
    add_fault(store, "pve-host-down", "pve2")
    with pytest.raises(ConnectionFailed, match="cannot reach SSH host pve2"):
        local_host_runner("pve2", tmp_path / "sim").run(["qm", "status", "201"])
    assert local_host_runner("pve1", tmp_path / "sim").run(["qm", "status", "200"]).ok


def test_local_host_runner_files(tmp_path: Path) -> None:
    new_sim(tmp_path / "sim", make_inventory(tmp_path))
    runner = local_host_runner("nas", tmp_path / "sim")
    source = tmp_path / "etcd-1.db"
    source.write_bytes(b"x" * 10)
    runner.upload(source, "/mnt/tank/backups/etcd/etcd-1.db")
    assert [(f.name, f.size) for f in runner.listdir("/mnt/tank/backups/etcd")] == [("etcd-1.db", 10)]
    runner.download("/mnt/tank/backups/etcd/etcd-1.db", tmp_path / "back.db")
    assert (tmp_path / "back.db").read_bytes() == b"x" * 10
    with pytest.raises(ValueError):
        runner.upload(source, "/mnt/../../etc/passwd")
    runner.remove("/mnt/tank/backups/etcd/etcd-1.db")
    assert runner.listdir("/mnt/tank/backups/etcd") == []


def test_shim_without_sim_fails_cleanly(tmp_path: Path) -> None:
    assert not SimStore(tmp_path / "none").exists()
    result = local_host_runner("pve1", tmp_path / "none")
    with pytest.raises(ConnectionFailed, match="no simulated cluster"):
        result.run(["qm", "list"])
