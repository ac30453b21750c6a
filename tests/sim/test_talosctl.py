"""The fake talosctl: real flags, output shapes, streams and exit codes (cli-interfaces.md §1)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest

from homeops.sim import faults

from .simkit import Sim

IMG = "factory.talos.dev/metal-installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
UNREACHABLE = (
    'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: '
    'dial tcp 10.10.0.21:50000: connect: no route to host"'
)


def json_stream(text: str) -> list[dict]:
    decoder, pos, out = json.JSONDecoder(), 0, []
    while pos < len(text.rstrip()):
        obj, end = decoder.raw_decode(text, pos)
        out.append(obj)
        pos = end + 1
    return out


def test_get_json_is_a_stream_of_4_space_objects_with_sorted_keys(sim: Sim):
    code, out, err = sim.talosctl("get", "machinestatus", "--nodes", "10.10.0.20,10.10.0.21", "-o", "json")
    assert (code, err) == (0, "")
    objects = json_stream(out)
    assert [o["node"] for o in objects] == ["10.10.0.20", "10.10.0.21"]
    assert objects[0]["spec"] == {"stage": "running", "status": {"ready": True, "unmetConditions": []}}
    assert out.startswith('{\n    "metadata": {\n        "created": ')
    assert list(objects[0]) == sorted(objects[0]) and isinstance(objects[0]["metadata"]["version"], int)
    assert not out.lstrip().startswith("[")


def test_get_yaml_and_table(sim: Sim):
    _, out, _ = sim.talosctl("get", "ms", "-n", "10.10.0.20", "-o", "yaml")
    assert out.startswith("node: 10.10.0.20\nmetadata:\n    namespace: runtime\n    type: MachineStatuses.runtime")
    _, out, _ = sim.talosctl("get", "machinestatus", "-n", "10.10.0.20")
    assert out.splitlines()[0].split() == ["NODE", "NAMESPACE", "TYPE", "ID", "VERSION", "STAGE", "READY"]
    assert out.splitlines()[1].split() == ["10.10.0.20", "runtime", "MachineStatus", "machine", "6", "running", "true"]


@pytest.mark.parametrize(
    ("rtype", "spec_keys"),
    [
        ("members", {"addresses", "hostname", "machineType", "nodeId", "operatingSystem"}),
        ("nodename", {"nodename", "hostnameVersion", "skipNodeRegistration"}),
        ("service", {"running", "healthy", "unknown"}),
        ("etcdmember", {"memberID"}),
    ],
)
def test_get_resource_specs(sim: Sim, rtype, spec_keys):
    code, out, _ = sim.talosctl("get", rtype, "-n", "10.10.0.20", "-o", "json")
    assert code == 0
    objects = json_stream(out)
    assert objects and all(spec_keys <= set(o["spec"]) for o in objects)


def test_get_machinetype_spec_is_the_bare_string(sim: Sim):
    _, out, _ = sim.talosctl("get", "machinetype", "-n", "10.10.0.20,10.10.0.23", "-o", "json")
    assert [o["spec"] for o in json_stream(out)] == ["controlplane", "worker"]


def test_unknown_flag_and_command_fail_like_cobra(sim: Sim):
    assert sim.talosctl("upgrade", "-n", "10.10.0.21", "--foo") == (
        1,
        "",
        "Error: unknown flag: --foo\nRun 'talosctl upgrade --help' for usage.\n",
    )
    code, _, err = sim.talosctl("frobnicate")
    assert code == 1 and err.startswith('unknown command "frobnicate" for "talosctl"')


def test_global_flags_may_come_before_the_subcommand(sim: Sim):
    code, out, _ = sim.talosctl(
        "--talosconfig", "/nonexistent", "-n", "10.10.0.21", "read", "/proc/sys/kernel/random/boot_id"
    )
    assert code == 0 and out.strip() == sim.node("k8s-1")["boot_id"]


def test_no_nodes_anywhere_is_the_real_error(sim: Sim):
    code, _, err = sim.talosctl("version")
    assert code == 1 and err.startswith("nodes are not set for the command: please use `--nodes` flag")


def test_nodes_come_from_the_talosconfig_context_when_not_given(sim: Sim):
    cfg = sim.dir / "talosconfig"
    cfg.write_text(
        "context: home\ncontexts:\n    home:\n        endpoints: [10.10.0.20]\n"
        "        nodes: [10.10.0.20, 10.10.0.24]\n"
    )
    code, out, _ = sim.talosctl("version", "--talosconfig", str(cfg))
    assert code == 0 and re.findall(r"NODE:\s+(\S+)", out) == ["10.10.0.20", "10.10.0.24"]


def test_version_client_and_server_blocks(make_sim: Callable[..., Sim]):
    sim = make_sim(talos_version="v1.10.9")
    code, out, _ = sim.talosctl("version", "-n", "10.10.0.20")
    assert code == 0
    assert out.startswith("Client:\n\tTag:         v1.11.6\n")
    assert "Server:\n\tNODE:        10.10.0.20\n\tTag:         v1.10.9\n" in out and "\tEnabled:     RBAC" in out
    assert sim.talosctl("version", "--client", "--short")[1] == "Client:\nTalos v1.11.6\n"


def test_down_node_answers_like_the_real_client(sim: Sim):
    with sim.mutate() as state:
        state["pve"]["hosts"]["pve2"]["vms"]["201"]["status"] = "stopped"
    code, out, err = sim.talosctl("read", "/proc/sys/kernel/random/boot_id", "-n", "10.10.0.21")
    assert (code, out) == (1, "")
    assert UNREACHABLE in err
    # get, a later node down (talos v1.11.6 helpers/resources.go ForEachResource + get.go): the answering
    # node prints, the bare gRPC error (no node prefix) is collected in a multierror, exit 1
    code, out, err = sim.talosctl("get", "ms", "-n", "10.10.0.20,10.10.0.21", "-o", "json")
    assert code == 1 and [o["node"] for o in json_stream(out)] == ["10.10.0.20"]
    assert err == f"1 error occurred:\n\t* {UNREACHABLE}\n"
    # get, the FIRST node down: the type is resolved there first, so nothing is printed for any node
    assert sim.talosctl("get", "ms", "-n", "10.10.0.21,10.10.0.20", "-o", "json") == (1, "", UNREACHABLE + "\n")


def test_one_node_down_is_a_warning_and_exit_0_where_talosctl_filters_messages(sim: Sim):
    """talos v1.11.6 pkg/machinery/client/reply.go FilterMessages; version.go, etcd.go, service.go call
    cli.Warning (pkg/cli/output.go) when some node answered: the command exits 0."""
    with sim.mutate() as state:
        state["pve"]["hosts"]["pve2"]["vms"]["201"]["status"] = "stopped"
    warning = f"WARNING: 1 error occurred:\n\t* 10.10.0.21: {UNREACHABLE}\n\n\n"
    for argv in (
        ["version", "-n", "10.10.0.20,10.10.0.21"],
        ["etcd", "status", "-n", "10.10.0.20,10.10.0.21"],
        ["etcd", "members", "-n", "10.10.0.20,10.10.0.21"],
        ["etcd", "alarm", "list", "-n", "10.10.0.21,10.10.0.20"],
        ["service", "etcd", "-n", "10.10.0.20,10.10.0.21"],
        ["service", "-n", "10.10.0.21,10.10.0.20"],
    ):
        code, out, err = sim.talosctl(*argv)
        assert (code, err) == (0, warning), argv
        nodes = set(re.findall(r"^\s*(?:NODE:?\s+)?(10\.10\.0\.\d+)\s", out, re.M))  # who answered
        assert "10.10.0.21" not in nodes and ("10.10.0.20" in nodes or argv[1] == "alarm"), argv
    # every node failed: an error, exit 1 — and version has printed "Server:" before it connected
    code, out, err = sim.talosctl("version", "-n", "10.10.0.21")
    assert code == 1 and out.endswith("\nServer:\n")
    assert err == f"error getting version: 1 error occurred:\n\t* 10.10.0.21: {UNREACHABLE}\n"


def test_service_health_is_fail_when_running_and_unhealthy(sim: Sim):
    """pkg/machinery/formatters/formatters.go HealthStatus (v1.11.6): "?" only while unknown, else OK/Fail."""
    with sim.mutate() as state:
        faults.inject(state, "etcd-unhealthy", "k8s-2")
    _, out, _ = sim.talosctl("service", "etcd", "-n", "10.10.0.22")
    assert re.search(r"^HEALTH {3}Fail$", out, re.M)
    _, out, _ = sim.talosctl("service", "-n", "10.10.0.22")
    assert re.search(r"^10\.10\.0\.22 {3}etcd {3,}Running {3}Fail ", out, re.M)


def test_upgrade_wait_false_prints_the_ack_table_and_starts_the_upgrade(sim: Sim):
    code, out, err = sim.talosctl("upgrade", "--nodes", "10.10.0.24", "--image", f"{IMG}:v1.12.0", "--wait=false")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["NODE", "ACK", "STARTED"]
    # upgrade.go runUpgradeNoWait (v1.11.6): "%s\t%s\t%s\t\n" with time.Now() — Go's default format
    assert re.fullmatch(
        r"10\.10\.0\.24   Upgrade request received   "
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC m=\+\d+\.\d{9}   ",
        lines[1],
    )
    assert sim.node("k8s-4")["stage"] == "upgrading"
    sim.advance(60)
    assert sim.node("k8s-4")["talos_version"] == "v1.12.0" and sim.node("k8s-4")["image"] == f"{IMG}:v1.12.0"


def test_upgrade_wait_reports_on_stderr_until_ready_with_a_new_boot_id(sim: Sim):
    boot = sim.node("k8s-1")["boot_id"]
    code, out, err = sim.talosctl("upgrade", "-n", "10.10.0.21", "-i", f"{IMG}:v1.12.0", "--timeout", "20m")
    assert (code, out) == (0, "")
    lines = err.splitlines()
    assert lines[0] == '"10.10.0.21": waiting for actor ID'
    assert re.match(r'^"10\.10\.0\.21": actor ID: [0-9a-f-]{36}$', lines[1])
    assert '"10.10.0.21": unavailable, retrying...' in lines
    assert any(re.match(r'^"10\.10\.0\.21": stage: booting ready: false unmetCond: ', ln) for ln in lines)
    assert lines[-2:] == ['"10.10.0.21": events check condition met', '"10.10.0.21": post check passed']
    node = sim.node("k8s-1")
    assert node["ready"] and node["boot_id"] != boot and node["talos_version"] == "v1.12.0"


def test_upgrade_wait_and_insecure_are_refused(sim: Sim):
    assert sim.talosctl("upgrade", "-n", "10.10.0.21", "-i", f"{IMG}:v1.12.0", "--insecure") == (
        1,
        "",
        "cannot use --wait and --insecure together\n",
    )


def test_upgrade_refused_when_etcd_quorum_would_be_lost_unless_forced(sim: Sim):
    sim.talosctl("upgrade", "-n", "10.10.0.20", "-i", f"{IMG}:v1.12.0", "--wait=false")
    code, _, err = sim.talosctl("upgrade", "-n", "10.10.0.21", "-i", f"{IMG}:v1.12.0", "--wait=false")
    assert code == 1 and "failed to acquire upgrade mutex" in err
    sim.advance(6)  # k8s-0 is now rebooting: its member is unhealthy
    code, _, err = sim.talosctl("upgrade", "-n", "10.10.0.21", "-i", f"{IMG}:v1.12.0", "--wait=false")
    assert code == 1
    assert re.match(
        r"^error performing upgrade: rpc error: code = Unknown desc = error validating etcd for upgrade: "
        r"etcd member \d+ is not healthy; all members must be healthy to perform an upgrade",
        err,
    )
    assert sim.node("k8s-1")["stage"] == "running"  # nothing happened
    code, _, _ = sim.talosctl("upgrade", "-n", "10.10.0.21", "-i", f"{IMG}:v1.12.0", "--wait=false", "--force")
    assert code == 0 and sim.node("k8s-1")["stage"] == "upgrading"


def test_worker_upgrade_is_not_gated_on_etcd(sim: Sim):
    sim.talosctl("upgrade", "-n", "10.10.0.20", "-i", f"{IMG}:v1.12.0", "--wait=false")
    sim.advance(6)
    assert sim.talosctl("upgrade", "-n", "10.10.0.23", "-i", f"{IMG}:v1.12.0", "--wait=false")[0] == 0


def test_v113_flags_exist_only_for_a_v113_client(make_sim: Callable[..., Sim]):
    old = make_sim()
    code, _, err = old.talosctl("upgrade", "-n", "10.10.0.23", "-i", f"{IMG}:v1.11.6", "--drain=false")
    assert code == 1 and "unknown flag: --drain" in err
    assert old.talosctl("reboot", "-n", "10.10.0.23", "--mode", "force", "--wait=false")[2] == (
        "invalid reboot mode: force\n"
    )
    new = make_sim(client_version="v1.13.9")
    code, _, err = new.talosctl("upgrade", "-n", "10.10.0.23", "-i", f"{IMG}:v1.13.9", "--drain=false")
    assert code == 0 and "New upgrade API is not available, falling back to legacy" in err


def test_v113_flow_on_a_v113_node_drains_waits_and_uncordons(make_sim: Callable[..., Sim]):
    """talos v1.13.9 upgrade.go: --drain (default true) forces --wait; the reporter writes to stderr
    (pkg/reporter); image pull, "<node>: upgrade completed", drain (nodedrain.go), reboot, uncordon."""
    sim = make_sim(client_version="v1.13.9", talos_version="v1.13.0")
    boot = sim.node("k8s-3")["boot_id"]
    code, out, err = sim.talosctl("upgrade", "-n", "10.10.0.23", "-i", f"{IMG}:v1.13.9")
    assert (code, out) == (0, "")
    lines = err.splitlines()
    assert lines[:6] == [
        f"10.10.0.23: pulled image {IMG}:v1.13.9",
        "10.10.0.23: upgrade completed",
        "k8s-3: cordoning node",
        "k8s-3: node cordoned",
        "k8s-3: draining node",
        "k8s-3: node drained",
    ]
    assert lines[-2:] == ["k8s-3: uncordoning node", "k8s-3: node uncordoned"]
    assert sim.node("k8s-3")["boot_id"] != boot and sim.node("k8s-3")["talos_version"] == "v1.13.9"
    assert not sim.state["k8s"]["nodes"]["k8s-3"]["unschedulable"]  # uncordoned again


def test_v113_flow_with_drain_false_and_wait_false_returns_after_requesting_the_reboot(make_sim: Callable[..., Sim]):
    """talos v1.13.9 upgrade.go upgradeViaLifecycleService → rebootInternal(wait=false): talosctl sends the
    reboot and returns; nothing is cordoned; the node comes back on its own."""
    sim = make_sim(client_version="v1.13.9", talos_version="v1.13.0")
    t0 = sim.state["clock"]["now"]
    code, out, err = sim.talosctl(
        "upgrade", "-n", "10.10.0.23", "-i", f"{IMG}:v1.13.9", "--wait=false", "--drain=false"
    )
    assert (code, out) == (0, "")
    assert err == f"10.10.0.23: pulled image {IMG}:v1.13.9\n10.10.0.23: upgrade completed\n"
    assert sim.state["clock"]["now"] == t0  # no simulated time spent waiting
    assert sim.node("k8s-3")["stage"] == "upgrading" and not sim.state["k8s"]["nodes"]["k8s-3"]["unschedulable"]
    sim.advance(120)
    assert sim.node("k8s-3")["talos_version"] == "v1.13.9" and sim.node("k8s-3")["ready"]


def test_upgrade_reboot_mode_force_exists_only_in_the_v113_flow(make_sim: Callable[..., Sim]):
    """talos v1.12.11 upgrade.go: UpgradeRequest_RebootMode has DEFAULT and POWERCYCLE only ("invalid
    reboot mode: force"); v1.13.9 accepts RebootRequest modes, but upgradeLegacy still refuses force."""
    v112 = make_sim(client_version="v1.12.11", talos_version="v1.12.0")
    argv = ["upgrade", "-n", "10.10.0.23", "-i", f"{IMG}:v1.12.11", "--wait=false", "--reboot-mode", "force"]
    assert v112.talosctl(*argv) == (1, "", "invalid reboot mode: force\n")
    assert v112.node("k8s-3")["stage"] == "running"
    assert v112.talosctl("reboot", "-n", "10.10.0.23", "--mode", "force", "--wait=false")[0] == 0  # reboot: fine
    v113 = make_sim(client_version="v1.13.9", talos_version="v1.13.0")
    argv = ["upgrade", "-n", "10.10.0.23", "-i", f"{IMG}:v1.13.9", "--wait=false", "--drain=false", "-m", "force"]
    assert v113.talosctl(*argv)[0] == 0
    code, _, err = v113.talosctl(
        *argv[:4], "-n", "10.10.0.24", "--wait=false", "--drain=false", "-m", "force", "--legacy"
    )
    assert code == 1 and err.endswith("invalid reboot mode: force\n")


def test_reboot_wait_and_no_wait(sim: Sim):
    boot = sim.node("k8s-3")["boot_id"]
    assert sim.talosctl("reboot", "-n", "10.10.0.23", "--wait=false") == (0, "", "")
    sim.advance(60)
    assert sim.node("k8s-3")["boot_id"] != boot
    code, _, err = sim.talosctl("reboot", "-n", "10.10.0.23")
    assert code == 0 and err.endswith('"10.10.0.23": post check passed\n')


def test_etcd_members_and_status_tables(sim: Sim):
    code, out, _ = sim.talosctl("etcd", "members", "-n", "10.10.0.20")
    rows = [re.split(r"\s{3,}", ln.strip()) for ln in out.splitlines()]
    assert rows[0] == ["NODE", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"]
    assert sorted(r[2] for r in rows[1:]) == ["k8s-0", "k8s-1", "k8s-2"]
    assert all(re.fullmatch(r"[0-9a-f]{16}", r[1]) and r[3].startswith("https://10.10.0.") for r in rows[1:])
    _, out, _ = sim.talosctl("etcd", "status", "-n", "10.10.0.20,10.10.0.21")
    header = re.split(r"\s{3,}", out.splitlines()[0].strip())
    assert header == [
        "NODE",
        "MEMBER",
        "DB SIZE",
        "IN USE",
        "LEADER",
        "RAFT INDEX",
        "RAFT TERM",
        "RAFT APPLIED INDEX",
        "LEARNER",
        "PROTOCOL",
        "STORAGE",
        "ERRORS",
    ]  # v1.11 columns
    code, _, err = sim.talosctl("etcd", "members", "-n", "10.10.0.23")
    assert code == 1 and "etcd is not running on worker nodes" in err


def test_etcd_status_has_no_protocol_columns_for_a_v110_client(make_sim: Callable[..., Sim]):
    sim = make_sim(client_version="v1.10.9")
    _, out, _ = sim.talosctl("etcd", "status", "-n", "10.10.0.20")
    assert "PROTOCOL" not in out and "LEARNER   ERRORS" in out


def test_etcd_snapshot_remove_member_and_one_node_rule(sim: Sim):
    code, out, _ = sim.talosctl("etcd", "snapshot", "db.snapshot", "-n", "10.10.0.20")
    assert code == 0
    saved, info = out.splitlines()
    size = (sim.dir / "db.snapshot").stat().st_size
    assert saved == f'etcd snapshot saved to "db.snapshot" ({size} bytes)'
    assert re.fullmatch(r"snapshot info: hash [0-9a-f]{8}, revision 4193, total keys 1287, total size 3035136", info)
    assert not (sim.dir / "db.snapshot.part").exists()
    assert sim.talosctl("etcd", "snapshot", "x", "-n", "10.10.0.20,10.10.0.21")[2] == (
        'command "etcd snapshot" is not supported with multiple nodes\n'
    )
    member = sim.state["etcd"]["members"]["k8s-2"]["id"]
    assert sim.talosctl("etcd", "remove-member", member, "-n", "10.10.0.20") == (0, "", "")
    assert "k8s-2" not in sim.state["etcd"]["members"]
    code, _, err = sim.talosctl("etcd", "remove-member", member, "-n", "10.10.0.20")
    assert code == 1 and "member not found" in err


def test_bootstrap_already_done_then_disaster_recovery(sim: Sim):
    # --nodes: apid proxies one-to-many and the node's error comes back inside the reply, which
    # client.Bootstrap turns into a multierror naming the node (talos v1.11.6 client.go:373-380,
    # reply.go:18-31; siderolabs/grpc-proxy v0.5.2 handler_one2many.go:103-160)
    code, _, err = sim.talosctl("bootstrap", "-n", "10.10.0.20")
    assert code == 1
    assert err == (
        "error executing bootstrap: 1 error occurred:\n"
        "\t* 10.10.0.20: rpc error: code = AlreadyExists desc = etcd data directory is not empty\n"
    )
    assert sim.talosctl("etcd", "snapshot", "db.snapshot", "-n", "10.10.0.21")[0] == 0
    for ip in ("10.10.0.20", "10.10.0.21", "10.10.0.22"):
        code, _, err = sim.talosctl(
            "reset", "-n", ip, "--graceful=false", "--reboot", "--system-labels-to-wipe=EPHEMERAL", "--wait=false"
        )
        assert code == 0, err
    sim.advance(60)
    _, out, _ = sim.talosctl("service", "etcd", "-n", "10.10.0.20")
    assert re.search(r"^STATE\s{3,}Preparing$", out, re.M)
    code, out, err = sim.talosctl("bootstrap", "-n", "10.10.0.20", "--recover-from", "db.snapshot")
    assert (code, err) == (0, "")
    assert re.fullmatch(
        r'recovering from snapshot "db.snapshot": hash [0-9a-f]{8}, revision 4193, total keys 1287, '
        r"total size 3035136\n",
        out,
    )
    sim.advance(10)  # the other control planes join by themselves
    assert sorted(sim.state["etcd"]["members"]) == ["k8s-0", "k8s-1", "k8s-2"]
    assert sim.talosctl("bootstrap", "-n", "10.10.0.21")[0] == 1  # now already bootstrapped


def test_bootstrap_on_a_worker_and_on_many_nodes(sim: Sim):
    assert "bootstrap can only be performed on a control plane node" in sim.talosctl("bootstrap", "-n", "10.10.0.23")[2]
    assert sim.talosctl("bootstrap", "-n", "10.10.0.20,10.10.0.21")[2] == (
        'command "bootstrap" is not supported with multiple nodes\n'
    )


def test_apply_config_modes_and_dry_run(sim: Sim):
    cfg = sim.dir / "home-k8s-3.yaml"
    cfg.write_text("version: v1alpha1\nmachine:\n    type: worker\n    install:\n        disk: /dev/sda\n")
    assert sim.talosctl("apply-config", "-n", "10.10.0.23", "-f", str(cfg)) == (
        0,
        "",
        "Applied configuration without a reboot\n",
    )
    assert sim.talosctl("apply", "-n", "10.10.0.23", "-f", str(cfg), "--mode=staged")[2] == (
        "Staged configuration to be applied after the next reboot\n"
    )
    code, _, err = sim.talosctl("apply-config", "-n", "10.10.0.23", "-f", str(cfg), "--mode", "try")
    assert err.endswith("automatically reverted back in 1m0s\n")
    code, _, err = sim.talosctl("apply-config", "-n", "10.10.0.23", "-f", str(cfg), "--mode", "reboot")
    assert err == "Applied configuration with a reboot\n" and sim.node("k8s-3")["pending"]
    sim.advance(60)
    changed = cfg.read_text().replace("/dev/sda", "/dev/vda")
    cfg.write_text(changed)
    code, _, err = sim.talosctl("apply-config", "-n", "10.10.0.23", "-f", str(cfg), "--dry-run")
    assert code == 0 and err.startswith("Dry run summary:\nApplied configuration with a reboot (skipped in dry-run).")
    assert "-        disk: /dev/sda\n+        disk: /dev/vda" in err
    # talos v1.11.6 v1alpha1_server.go (NO_REBOOT and TRY) / v1alpha1_runtime.go CanApplyImmediate
    code, _, err = sim.talosctl("apply-config", "-n", "10.10.0.23", "-f", str(cfg), "--mode=no-reboot")
    assert code == 1 and err.startswith(
        "error applying new configuration: rpc error: code = InvalidArgument desc = "
        "this config change can't be applied in immediate mode\ndiff:\n"
    )
    code, _, err = sim.talosctl("apply-config", "-n", "10.10.0.23", "-f", str(cfg), "--mode=try")
    assert code == 1 and "this config change can't be applied in immediate mode" in err
    # auto mode: a reboot, with the same reason appended to the mode details
    code, _, err = sim.talosctl("apply-config", "-n", "10.10.0.23", "-f", str(cfg))
    assert code == 0 and err.startswith(
        "Applied configuration with a reboot: this config change can't be applied in immediate mode\ndiff:\n"
    )
    assert sim.talosctl("apply-config", "-n", "10.10.0.23")[2] == "no filename supplied for configuration\n"
    code, _, err = sim.talosctl("apply-config", "-n", "10.10.0.20", "-f", str(cfg))
    assert code == 1 and "machine type can't be changed from controlplane to worker" in err


def test_apply_config_insecure_only_in_maintenance_mode(sim: Sim):
    cfg = sim.dir / "w.yaml"
    cfg.write_text("machine:\n    type: worker\n")
    code, _, err = sim.talosctl("apply-config", "-n", "10.10.0.23", "-f", str(cfg), "--insecure")
    assert code == 1 and "tls: certificate required" in err
    assert sim.talosctl("reset", "-n", "10.10.0.23", "--reboot", "--wait=false")[0] == 0  # wipes STATE too
    sim.advance(60)
    assert sim.node("k8s-3")["stage"] == "maintenance"
    code, _, err = sim.talosctl("get", "ms", "-n", "10.10.0.23")
    assert code == 1 and "x509: certificate signed by unknown authority" in err
    assert sim.talosctl("get", "ms", "-n", "10.10.0.23", "--insecure")[0] == 0
    assert sim.talosctl("apply-config", "-n", "10.10.0.23", "-f", str(cfg), "--insecure")[0] == 0
    sim.advance(60)
    assert sim.node("k8s-3")["stage"] == "running" and not sim.node("k8s-3")["maintenance"]


def test_health_ok_prints_every_check_on_stderr(sim: Sim):
    code, out, err = sim.talosctl("health", "-n", "10.10.0.20", "--wait-timeout", "1m")
    assert (code, out) == (0, "")
    lines = err.splitlines()
    assert lines[0] == (
        'discovered nodes: ["10.10.0.20" "10.10.0.21" "10.10.0.22" "10.10.0.23" "10.10.0.24" "10.10.0.25"]'
    )
    assert "waiting for etcd to be healthy: OK" in lines
    assert "waiting for kube-proxy to report ready: SKIP" in lines
    assert lines[-1] == "waiting for all k8s nodes to report schedulable: OK"


def test_health_waits_for_a_rebooting_node_then_passes(sim: Sim):
    sim.talosctl("reboot", "-n", "10.10.0.24", "--wait=false")
    sim.advance(2)
    code, _, err = sim.talosctl(
        "health", "-n", "10.10.0.20", "--control-plane-nodes", "10.10.0.20", "--worker-nodes", "10.10.0.24"
    )
    assert code == 0
    assert "waiting for apid to be ready: 1 error occurred:" in err and "discovered" not in err


def test_health_times_out_on_a_node_that_never_returns(sim: Sim):
    with sim.mutate() as state:
        from homeops.sim import faults

        faults.inject(state, "node-never-returns", "k8s-5")
    sim.talosctl("reboot", "-n", "10.10.0.25", "--wait=false")
    sim.advance(2)
    code, _, err = sim.talosctl("health", "-n", "10.10.0.20", "--wait-timeout", "5m")
    assert code == 1
    assert err.endswith("healthcheck error: rpc error: code = DeadlineExceeded desc = context deadline exceeded\n")
    assert "10.10.0.25: rpc error: code = Unavailable" in err


def test_kubeconfig_to_stdout_and_file(sim: Sim):
    code, out, _ = sim.talosctl("kubeconfig", "-", "--merge=false", "-n", "10.10.0.20")
    assert code == 0 and "server: https://10.10.0.10:6443" in out and "current-context: admin@home" in out
    target = sim.dir / "kc"
    assert sim.talosctl("kubeconfig", str(target), "--merge=false", "-n", "10.10.0.20") == (0, "", "")
    code, _, err = sim.talosctl("kubeconfig", str(target), "--merge=false", "-n", "10.10.0.20")
    assert code == 1 and err == f'kubeconfig file already exists, use --force to overwrite: "{target}"\n'
    assert sim.talosctl("kubeconfig", str(target), "--merge=false", "--force", "-n", "10.10.0.20")[0] == 0


def test_upgrade_k8s_rolls_every_kubelet(sim: Sim):
    with sim.mutate() as state:
        for node in state["nodes"].values():
            node["kubernetes_version"] = "v1.33.6"
        for node in state["k8s"]["nodes"].values():
            node["kubelet_version"] = "v1.33.6"
    code, out, _ = sim.talosctl("upgrade-k8s", "-n", "10.10.0.20", "--to", "1.34.2")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "automatically detected the lowest Kubernetes version 1.33.6"
    assert 'discovered controlplane nodes ["10.10.0.20" "10.10.0.21" "10.10.0.22"]' in lines
    assert " > update kube-apiserver: v1.33.6 -> 1.34.2" in lines
    assert lines.count('updating kubelet to version "1.34.2"') == 1
    assert sum(ln.startswith(' < "') for ln in lines) == 3 * 3 + 6
    assert {n["kubelet_version"] for n in sim.state["k8s"]["nodes"].values()} == {"v1.34.2"}
    code, _, err = sim.talosctl("upgrade-k8s", "-n", "10.10.0.23", "--to", "1.34.2")
    assert code == 1 and "not a controlplane node" in err


def test_upgrade_k8s_dry_run_changes_nothing(sim: Sim):
    code, out, _ = sim.talosctl("upgrade-k8s", "-n", "10.10.0.20", "--to", "1.35.0", "--dry-run")
    assert code == 0 and " > skipped in dry-run" in out
    assert {n["kubelet_version"] for n in sim.state["k8s"]["nodes"].values()} == {"v1.34.2"}


def test_every_invocation_is_logged(sim: Sim):
    sim.talosctl("version", "-n", "10.10.0.20")
    sim.talosctl("upgrade", "-n", "10.10.0.21", "--bogus")
    log = sim.state["log"]
    assert [(e["tool"], e["argv"][1], e["exit"]) for e in log] == [
        ("talosctl", "version", 0),
        ("talosctl", "upgrade", 1),
    ]
    assert all(isinstance(e["t"], float) for e in log)


def test_get_insecure_names_no_node_like_the_maintenance_service(sim: Sim):
    # talos v1.11.6 get.go:55-56 (WithClientMaintenance: no --nodes metadata, node ""), output/yaml.go:58
    assert sim.talosctl("reset", "-n", "10.10.0.23", "--reboot", "--wait=false")[0] == 0
    sim.advance(60)
    code, out, _ = sim.talosctl("get", "ms", "-n", "10.10.0.23", "--insecure", "-o", "yaml")
    assert code == 0 and out.startswith("node: \nmetadata:\n")
    code, out, _ = sim.talosctl("get", "ms", "-n", "10.10.0.23", "--insecure", "-o", "json")
    assert json.loads(out)["node"] == ""
    code, out, _ = sim.talosctl("get", "ms", "-n", "10.10.0.23", "--insecure")
    row = out.splitlines()[1]
    assert row.startswith(" " * 7) and row.split()[0] == "runtime"  # the NODE cell is empty


def test_recovering_from_snapshot_is_printed_before_the_bootstrap_even_when_it_fails(sim: Sim):
    # talos v1.11.6 bootstrap.go:47-56: snapshot.Status and the Printf come before any RPC
    assert sim.talosctl("etcd", "snapshot", "db.snapshot", "-n", "10.10.0.21")[0] == 0
    code, out, err = sim.talosctl("bootstrap", "-n", "10.10.0.20", "--recover-from", "db.snapshot")
    assert code == 1 and out.startswith('recovering from snapshot "db.snapshot": hash ')
    assert "etcd data directory is not empty" in err


def test_etcd_snapshot_without_quorum_fails_while_reading_the_stream(sim: Sim):
    # talos v1.11.6 client.go:906-940 (ReadStream): the server's error arrives on io.Copy: "error reading: …"
    with sim.mutate() as state:
        faults.inject(state, "etcd-unhealthy", "k8s-1")
        faults.inject(state, "etcd-unhealthy", "k8s-2")
    code, _, err = sim.talosctl("etcd", "snapshot", "db.snapshot", "-n", "10.10.0.20")
    assert code == 1 and err.startswith("error reading: rpc error: code = Unknown desc = failed to create etcd client")


def test_kubeconfig_merge_keeps_the_other_entries_and_renames_a_conflict(sim: Sim):
    # talos v1.11.6 kubeconfig.go:87-158: --merge (the default) merges into an existing file; without
    # --force and without a terminal a conflicting name is renamed; the new context becomes current
    import yaml

    target = sim.dir / "config"
    target.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: other\n"
        "clusters:\n- name: other\n  cluster: {server: 'https://192.0.2.1:6443'}\n"
        "- name: home\n  cluster: {server: 'https://192.0.2.2:6443'}\n"
        "users:\n- name: other\n  user: {}\n"
        "contexts:\n- name: other\n  context: {cluster: other, user: other}\n"
    )
    assert sim.talosctl("kubeconfig", str(target), "-n", "10.10.0.20")[0] == 0
    doc = yaml.safe_load(target.read_text())
    clusters = {c["name"]: c["cluster"]["server"] for c in doc["clusters"]}
    assert clusters["other"] == "https://192.0.2.1:6443" and clusters["home"] == "https://192.0.2.2:6443"
    assert clusters["home-1"] == "https://10.10.0.10:6443"
    assert doc["current-context"] == "admin@home"
    context = next(c for c in doc["contexts"] if c["name"] == "admin@home")["context"]
    assert context["cluster"] == "home-1"
    assert sim.talosctl("kubeconfig", str(target), "--force", "-n", "10.10.0.20")[0] == 0
    doc = yaml.safe_load(target.read_text())
    assert {c["name"] for c in doc["clusters"]} >= {"other", "home"}
