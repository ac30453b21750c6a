"""talosctl argv builders, version gates, error classifiers and call helpers (against FakeRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeops.adapters import talosctl as t
from homeops.adapters._parse import UnexpectedOutput
from homeops.errors import CommandError, ConnectionFailed, PlanError
from homeops.runners import FakeRunner, Result

CFG = Path("/inv/talos/clusterconfig/talosconfig")
IMAGE = "factory.talos.dev/metal-installer/ce4c98:v1.11.6"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "talosctl"


def fixture(parser: str, name: str) -> dict[str, str]:
    return json.loads((FIXTURES / parser / f"{name}.json").read_text())  # type: ignore[no-any-return]


def tc(version: str | None = "v1.11.6") -> t.Talosctl:
    return t.Talosctl(CFG, client_version=version)


def result(code: int, stdout: str = "", stderr: str = "") -> Result:
    return Result(("talosctl",), code, stdout, stderr, 0.0)


# ----------------------------------------------------------------------------- argv shape


@pytest.mark.parametrize(
    "argv",
    [
        tc().get("machinestatus", "10.0.0.11"),
        tc().version("10.0.0.11"),
        tc().boot_id("10.0.0.11"),
        tc().etcd_members("10.0.0.11"),
        tc().etcd_status("10.0.0.11"),
        tc().etcd_snapshot("10.0.0.11", "db.snapshot"),
        tc().upgrade("10.0.0.11", IMAGE),
        tc().apply_config("10.0.0.11", "n.yaml"),
        tc().reboot("10.0.0.11"),
        tc().bootstrap("10.0.0.11"),
        tc().kubeconfig("10.0.0.11", "kubeconfig"),
        tc().reset("10.0.0.11"),
        tc().upgrade_k8s("10.0.0.11", "1.34.1"),
        tc().health("10.0.0.11", control_planes=["10.0.0.11"]),
        tc().service("10.0.0.11", "etcd"),
        tc().etcd_remove_member("10.0.0.11", "a49c021e76e707db"),
        tc().etcd_alarm_list("10.0.0.11"),
    ],
)
def test_every_command_names_talosconfig_and_node_after_the_subcommand(argv: list[str]) -> None:
    assert argv[0] == "talosctl"
    i = argv.index("--talosconfig")
    assert argv[i + 1] == str(CFG)
    j = argv.index("--nodes")
    assert argv[j + 1] == "10.0.0.11"
    # v1.11+ only accepts the global flags on the API subcommands, so the subcommand comes first.
    assert i > 1 and not argv[1].startswith("-")


def test_get_builds_exact_argv() -> None:
    assert tc().get("members", ["10.0.0.11", "10.0.0.12"], namespace="cluster") == [
        "talosctl", "get", "members", "--talosconfig", str(CFG), "--nodes", "10.0.0.11,10.0.0.12",
        "--output", "json", "--namespace", "cluster",
    ]  # fmt: skip
    assert tc().get("service", "10.0.0.11", id="etcd", output="yaml", insecure=True)[1:3] == ["get", "service"]
    assert tc().get("service", "10.0.0.11", id="etcd", insecure=True)[3] == "etcd"
    assert tc().get("service", "10.0.0.11", insecure=True)[-1] == "--insecure"


@pytest.mark.parametrize("node", ["", " ", "10.0.0.1,10.0.0.2", "a b"])
def test_bad_node_is_refused(node: str) -> None:
    with pytest.raises(PlanError):
        tc().upgrade(node, IMAGE)


def test_single_node_commands_refuse_several_nodes() -> None:
    with pytest.raises(PlanError, match="exactly one node"):
        tc()._cmd(["bootstrap"], ["10.0.0.1", "10.0.0.2"])


def test_upgrade_defaults_to_no_wait_and_always_writes_it() -> None:
    argv = tc().upgrade("10.0.0.11", IMAGE)
    assert argv[-3:] == ["--image", IMAGE, "--wait=false"]


def test_upgrade_wait_with_timeout_as_go_duration() -> None:
    argv = tc().upgrade("10.0.0.11", IMAGE, wait=True, timeout=1200, stage=True, force=True, reboot_mode="powercycle")
    assert "--wait=true" in argv
    assert argv[argv.index("--timeout") + 1] == "20m"
    assert argv[argv.index("--reboot-mode") + 1] == "powercycle"
    assert "--stage" in argv and "--force" in argv


def test_wait_and_insecure_cannot_combine() -> None:
    with pytest.raises(PlanError, match="--wait cannot be combined with --insecure"):
        tc().upgrade("10.0.0.11", IMAGE, wait=True, insecure=True)
    with pytest.raises(PlanError, match="--insecure"):
        tc().reset("10.0.0.11", wait=True, insecure=True)
    argv = tc().upgrade("10.0.0.11", IMAGE, insecure=True)
    assert "--wait=false" in argv and "--insecure" in argv


def test_timeout_without_wait_is_refused() -> None:
    with pytest.raises(PlanError, match="timeout only applies with wait"):
        tc().upgrade("10.0.0.11", IMAGE, timeout=60)


def test_upgrade_needs_a_tagged_image() -> None:
    with pytest.raises(PlanError, match="has no tag"):
        tc().upgrade("10.0.0.11", "factory.talos.dev/metal-installer/ce4c98")
    # a registry port is not a tag
    with pytest.raises(PlanError, match="has no tag"):
        tc().upgrade("10.0.0.11", "registry:5000/installer")


def test_drain_needs_1_13() -> None:
    with pytest.raises(PlanError, match=r"≥ 1\.13"):
        tc("v1.12.11").upgrade("10.0.0.11", IMAGE, drain=False)
    with pytest.raises(PlanError, match="client version is unknown"):
        tc(None).upgrade("10.0.0.11", IMAGE, drain=False)
    assert tc("v1.13.9").upgrade("10.0.0.11", IMAGE, drain=False)[-1] == "--drain=false"
    assert tc("v1.13.0-alpha.2").reboot("10.0.0.11", drain=True)[-1] == "--drain=true"


def test_upgrade_without_wait_passes_drain_false_to_a_1_13_client() -> None:
    """talos v1.13.9 cmd/talosctl/cmd/talos/upgrade.go RunE: ``--drain`` defaults to true and sets
    ``wait = true``, so ``--wait=false`` alone would block until the node is back (and drain it)."""
    argv = tc("v1.13.9").upgrade("10.0.0.11", IMAGE)
    assert argv[-2:] == ["--wait=false", "--drain=false"]
    assert not any(a.startswith("--drain") for a in tc("v1.12.11").upgrade("10.0.0.11", IMAGE))
    assert not any(a.startswith("--drain") for a in tc("v1.13.9").upgrade("10.0.0.11", IMAGE, wait=True))
    with pytest.raises(PlanError, match="turns --wait on"):
        tc("v1.13.9").upgrade("10.0.0.11", IMAGE, drain=True)
    # --drain is parsed in RunE before the --legacy branch: the legacy flow needs it too
    assert tc("v1.13.9").upgrade("10.0.0.11", IMAGE, legacy=True)[-1] == "--drain=false"


def test_upgrade_reboot_mode_force_only_in_the_1_13_flow() -> None:
    """talos v1.12.11/v1.11.6 upgrade.go: the mode is looked up in UpgradeRequest_RebootMode (DEFAULT,
    POWERCYCLE) — "invalid reboot mode: force"; v1.13.9 takes RebootRequest modes (with FORCE) except
    in upgradeLegacy, which still uses UpgradeRequest_RebootMode."""
    with pytest.raises(PlanError, match=r"≥ 1\.13"):
        tc("v1.12.11").upgrade("10.0.0.11", IMAGE, reboot_mode="force")
    with pytest.raises(PlanError, match="client version is unknown"):
        tc(None).upgrade("10.0.0.11", IMAGE, reboot_mode="force")
    with pytest.raises(PlanError, match="legacy upgrade flow"):
        tc("v1.13.9").upgrade("10.0.0.11", IMAGE, reboot_mode="force", legacy=True)
    argv = tc("v1.13.9").upgrade("10.0.0.11", IMAGE, reboot_mode="force")
    assert argv[argv.index("--reboot-mode") + 1] == "force"
    assert "powercycle" in tc("v1.12.11").upgrade("10.0.0.11", IMAGE, reboot_mode="powercycle")


def test_legacy_flags_in_1_13_need_legacy_flow() -> None:
    with pytest.raises(PlanError, match="legacy"):
        tc("v1.13.9").upgrade("10.0.0.11", IMAGE, force=True)
    argv = tc("v1.13.9").upgrade("10.0.0.11", IMAGE, force=True, stage=True, legacy=True)
    assert {"--legacy", "--force", "--stage"} <= set(argv)
    with pytest.raises(PlanError, match=r"1\.13"):
        tc("v1.11.6").upgrade("10.0.0.11", IMAGE, legacy=True)


def test_reboot_mode_force_needs_1_12() -> None:
    with pytest.raises(PlanError, match=r"≥ 1\.12"):
        tc("v1.11.6").reboot("10.0.0.11", mode="force")
    assert tc("v1.12.0").reboot("10.0.0.11", mode="force")[-2:] == ["--mode", "force"]
    with pytest.raises(PlanError, match="not one of"):
        tc().reboot("10.0.0.11", mode="hard")  # type: ignore[arg-type]


def test_apply_config_modes() -> None:
    argv = tc().apply_config("10.0.0.11", "n.yaml", mode="staged", dry_run=True, config_patches=["@p.yaml", "@q.yaml"])
    assert argv[argv.index("--mode") + 1] == "staged"
    assert argv.count("--config-patch") == 2 and "--dry-run" in argv
    with pytest.raises(PlanError, match=r"removed in talosctl 1\.13"):
        tc("v1.13.9").apply_config("10.0.0.11", "n.yaml", mode="interactive")
    with pytest.raises(PlanError, match="terminal"):
        tc("v1.11.6").apply_config("10.0.0.11", "n.yaml", mode="interactive")
    with pytest.raises(PlanError, match="try_timeout"):
        tc().apply_config("10.0.0.11", "n.yaml", try_timeout=60)
    assert tc().apply_config("10.0.0.11", "n.yaml", mode="try", try_timeout=90)[-2:] == ["--timeout", "1m30s"]


def test_bootstrap_recover() -> None:
    argv = tc().bootstrap("10.0.0.11", recover_from="db.snapshot", skip_hash_check=True)
    assert argv[-3:] == ["--recover-from", "db.snapshot", "--recover-skip-hash-check"]
    with pytest.raises(PlanError):
        tc().bootstrap("10.0.0.11", skip_hash_check=True)


def test_kubeconfig_to_stdout_needs_1_10_and_no_merge() -> None:
    assert tc("v1.10.9").kubeconfig("10.0.0.11", "-")[-2:] == ["--force", "--merge=false"]
    with pytest.raises(PlanError):
        tc("v1.9.6").kubeconfig("10.0.0.11", "-")
    with pytest.raises(PlanError):
        tc().kubeconfig("10.0.0.11", "-", merge=True)


def test_reset_and_wipe_labels() -> None:
    argv = tc().reset("10.0.0.11", graceful=False, reboot=True, wipe=["EPHEMERAL", "STATE"])
    assert argv[6:] == ["--graceful=false", "--reboot", "--system-labels-to-wipe", "EPHEMERAL,STATE", "--wait=false"]
    with pytest.raises(PlanError, match="partition labels"):
        tc().reset("10.0.0.11", wipe=["ephemeral; rm"])


def test_health_lists_nodes() -> None:
    argv = tc().health("10.0.0.11", control_planes=["10.0.0.11", "10.0.0.12"], workers=["10.0.0.21"], wait_timeout=600)
    assert argv[6:] == [
        "--wait-timeout", "10m", "--control-plane-nodes", "10.0.0.11,10.0.0.12", "--worker-nodes", "10.0.0.21",
    ]  # fmt: skip
    with pytest.raises(PlanError):
        tc().health("10.0.0.11", control_planes=[])


def test_etcd_remove_member_needs_hex_id() -> None:
    with pytest.raises(PlanError, match="16 hex"):
        tc().etcd_remove_member("10.0.0.11", "12345")


def test_upgrade_k8s_version_check() -> None:
    assert tc().upgrade_k8s("10.0.0.11", "v1.34.1", dry_run=True)[-3:] == ["--to", "v1.34.1", "--dry-run"]
    with pytest.raises(PlanError):
        tc().upgrade_k8s("10.0.0.11", "latest")


def test_context_and_endpoints_are_passed() -> None:
    argv = t.Talosctl(CFG, context="home", endpoints=["10.0.0.10"]).version("10.0.0.11")
    assert argv[-4:] == ["--context", "home", "--endpoints", "10.0.0.10"]


def test_bad_client_version_is_a_plan_error() -> None:
    with pytest.raises(PlanError):
        t.Talosctl(CFG, client_version="latest")


# ----------------------------------------------------------------------------- classifiers

UNAVAILABLE = (
    'error getting resources: rpc error: code = Unavailable desc = connection error: desc = "transport: '
    'Error while dialing: dial tcp 10.0.0.11:50000: connect: connection refused"'
)


@pytest.mark.parametrize(
    "stderr",
    [
        UNAVAILABLE,
        "dial tcp 10.0.0.11:50000: i/o timeout",
        "dial tcp 10.0.0.11:50000: connect: no route to host",
    ],
)
def test_is_unreachable(stderr: str) -> None:
    assert t.is_unreachable(result(1, stderr=stderr))
    assert not t.is_unreachable(result(0, stderr=stderr))  # a success is never "unreachable"


def test_classifiers_are_distinct() -> None:
    already = result(1, stderr="rpc error: code = AlreadyExists desc = etcd data directory is not empty")
    quorum = result(
        1, stderr="rpc error: code = FailedPrecondition desc = error validating etcd for upgrade: etcd member 2 is down"
    )
    mutex = result(1, stderr="failed to acquire upgrade mutex: locked")
    assert t.is_already_bootstrapped(already) and not t.is_quorum_refusal(already) and not t.is_unreachable(already)
    assert t.is_quorum_refusal(quorum) and t.is_quorum_refusal(mutex) and not t.is_already_bootstrapped(quorum)
    assert t.is_bootstrap_not_ready(result(1, stderr="bootstrap is not available yet"))
    assert t.is_auth_failure(result(1, stderr="x509: certificate signed by unknown authority"))


# ----------------------------------------------------------------------------- call helpers


def test_machine_status_helper() -> None:
    fx = fixture("machine_status", "v1.13_three_nodes_one_booting")
    runner = FakeRunner().on(r"get machinestatus .*--nodes 10\.10\.0\.21", (0, fx["stdout"], ""))
    status = t.machine_status(runner, tc(), "10.10.0.21")
    assert status.stage == "booting" and not status.ready and not status.running_ready
    assert [c.name for c in status.unmet_conditions] == ["services", "nodeReady"]
    assert "unmet: services" in status.describe()
    assert runner.calls[0].timeout == 30


def test_helper_unreachable_raises_connection_failed_naming_node() -> None:
    runner = FakeRunner().on("read /proc/sys/kernel/random/boot_id", (1, "", UNAVAILABLE))
    with pytest.raises(ConnectionFailed) as info:
        t.boot_id(runner, tc(), "10.0.0.11")
    assert "on 10.0.0.11" in str(info.value) and "not reachable" in str(info.value)
    assert "port 50000" in str(info.value)


def test_helper_other_failure_is_command_error_with_last_line() -> None:
    runner = FakeRunner().on(
        "etcd members", (1, "", "error getting members: rpc error: code = Unknown desc = etcdserver: no leader")
    )
    with pytest.raises(CommandError) as info:
        t.etcd_members(runner, tc(), "10.0.0.11")
    assert not isinstance(info.value, ConnectionFailed)
    assert "talosctl etcd members on 10.0.0.11 failed (exit 1)" in str(info.value)
    assert "no leader" in str(info.value)


def test_helper_garbled_output_names_command_and_node() -> None:
    runner = FakeRunner().on("etcd status", (0, "<html>proxy error</html>\n", ""))
    with pytest.raises(UnexpectedOutput) as info:
        t.etcd_status(runner, tc(), "10.0.0.11")
    message = str(info.value)
    assert message.startswith("talosctl etcd status on 10.0.0.11: unexpected output")
    assert "etcd status" in info.value.command and "--nodes 10.0.0.11" in info.value.command
    assert info.value.target == "10.0.0.11"


def test_snapshot_helper_and_version_helpers() -> None:
    snap = fixture("snapshot", "dr_doc_verbatim")
    ver = fixture("version", "v1.11_two_nodes_mixed")
    runner = (
        FakeRunner()
        .on("etcd snapshot", (0, snap["stdout"], ""))
        .on(r"^talosctl version --talosconfig", (0, ver["stdout"], ""))
        .on("version --client", (0, "Client:\nTalos v1.11.6\n", ""))
    )
    info = t.etcd_snapshot(runner, tc(), "10.10.0.20", "/backups/db.snapshot")
    assert (info.bytes, info.revision, info.keys) == (2015264, 4193, 1287)
    assert t.server_version(runner, tc(), "10.10.0.21") == "v1.10.9"
    assert t.client_version(runner, tc()) == "v1.11.6"
    with pytest.raises(UnexpectedOutput, match=r"no server tag for 10\.10\.0\.99"):
        t.server_version(runner, tc(), "10.10.0.99")


def test_upgrade_helper_quorum_refusal_is_explained() -> None:
    runner = FakeRunner().on(
        "upgrade", (1, "", "error validating etcd for upgrade: etcd member a49c021e76e707db is not healthy")
    )
    with pytest.raises(CommandError) as info:
        t.upgrade(runner, tc(), "10.0.0.11", IMAGE)
    assert "refused by Talos to protect etcd quorum" in str(info.value)
    assert "wait until every etcd member is healthy" in str(info.value)


def test_upgrade_helper_returns_ack() -> None:
    fx = fixture("upgrade_ack", "v1.11_no_wait")
    runner = FakeRunner().on("upgrade", (0, fx["stdout"], ""))
    ack = t.upgrade(runner, tc(), "10.10.0.20", IMAGE)
    assert ack.ack == "Upgrade request received"
    assert runner.calls[0].argv[-1] == "--wait=false"


def test_bootstrap_helper_is_idempotent() -> None:
    runner = FakeRunner().on(
        "bootstrap", (1, "", "rpc error: code = AlreadyExists desc = etcd data directory is not empty")
    )
    assert t.bootstrap(runner, tc(), "10.0.0.11") == "already-bootstrapped"
    # during a recovery an existing data directory is a real problem, not "done"
    with pytest.raises(CommandError):
        t.bootstrap(runner, tc(), "10.0.0.11", recover_from="db.snapshot")
    ok = FakeRunner().on("bootstrap", (0, "", ""))
    assert t.bootstrap(ok, tc(), "10.0.0.11") == "bootstrapped"
    early = FakeRunner().on(
        "bootstrap", (1, "", "rpc error: code = FailedPrecondition desc = bootstrap is not available yet")
    )
    with pytest.raises(CommandError, match="retry in a minute"):
        t.bootstrap(early, tc(), "10.0.0.11")


def test_apply_config_helper_parses_stderr() -> None:
    fx = fixture("apply_result", "reboot_with_reason_and_warning")
    runner = FakeRunner().on("apply-config", (0, "", fx["stderr"]))
    applied = t.apply_config(runner, tc(), "10.10.0.20", "n.yaml")
    assert applied.reboot and applied.mode == "reboot" and applied.warnings


def test_parse_recovery_line() -> None:
    info = t.parse_recovery(
        'recovering from snapshot "./db.snapshot": hash c25fd181, revision 4193, total keys 1287, total size 3035136\n'
    )
    assert info is not None and info.path == "./db.snapshot" and info.revision == 4193
    assert t.parse_recovery("") is None


def test_service_json_and_version_tuple() -> None:
    obj = {
        "metadata": {"id": "etcd"},
        "node": "10.0.0.11",
        "spec": {"running": True, "healthy": False, "unknown": False},
    }
    services = t.parse_services_json(json.dumps(obj, indent=4))
    assert services[("10.0.0.11", "etcd")].health == "Fail" and services[("10.0.0.11", "etcd")].running
    assert t.version_tuple("v1.13.0-alpha.2") == (1, 13) and t.version_tuple("1.9.6") == (1, 9)


def _dial_error(ip: str) -> str:
    """What apid answers for a node it cannot reach (a gRPC Unavailable with the dial error)."""
    return (
        'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: '
        f'dial tcp {ip}:50000: connect: no route to host"'
    )


def _statuses_without(*missing: str) -> str:
    fx = fixture("machine_status", "v1.13_three_nodes_one_booting")
    objs = fx["stdout"].split("}\n{")
    kept = [o for o in objs if not any(f'"node": "{ip}"' in o for ip in missing)]
    return "}\n{".join(kept) if kept and len(kept) < len(objs) else fx["stdout"]


def _one_status(ip: str) -> str:
    fx = fixture("machine_status", "v1.13_three_nodes_one_booting")
    obj = next(o for o in t.parse_json_stream(fx["stdout"], what="x") if o["node"] == ip)
    return json.dumps(obj, indent=4, sort_keys=True) + "\n"


def test_get_with_the_first_node_down_asks_each_node_on_its_own() -> None:
    """talos v1.11.6 cmd/talosctl/pkg/talos/helpers/resources.go ForEachResource: the resource type is
    resolved on nodes[0] first; when it is down, nothing is printed for any node, the error carries
    no node prefix, and talosctl exits 1. Only a call per node tells which one is down."""
    nodes = ["10.10.0.20", "10.10.0.21", "10.10.0.22"]
    runner = (
        FakeRunner()
        .on(r"get machinestatus .*--nodes 10\.10\.0\.20,", (1, "", _dial_error("10.10.0.20") + "\n"))
        .on(r"get machinestatus .*--nodes 10\.10\.0\.20 ", (1, "", _dial_error("10.10.0.20") + "\n"))
        .on(r"get machinestatus .*--nodes 10\.10\.0\.21 ", (0, _one_status("10.10.0.21"), ""))
        .on(r"get machinestatus .*--nodes 10\.10\.0\.22 ", (0, _one_status("10.10.0.22"), ""))
    )
    out = t.machine_statuses(runner, tc(), nodes)
    assert sorted(out.facts) == ["10.10.0.21", "10.10.0.22"]
    assert out.unreachable == ("10.10.0.20",)
    assert "dial tcp 10.10.0.20:50000: connect: no route to host" in out.errors["10.10.0.20"]
    assert len(runner.calls) == 4  # the multi-node call, then one per node


def test_get_with_a_later_node_down_keeps_the_answers_and_asks_only_that_node() -> None:
    """ForEachResource (v1.11.6) + get.go: answered nodes print; the later node's error is collected in a
    multierror of bare gRPC errors (no node name) and talosctl exits 1."""
    stderr = "1 error occurred:\n\t* " + _dial_error("10.10.0.21") + "\n\n"
    runner = (
        FakeRunner()
        .on(r"get machinestatus .*--nodes 10\.10\.0\.20,", (1, _statuses_without("10.10.0.21"), stderr))
        .on(r"get machinestatus .*--nodes 10\.10\.0\.21 ", (1, "", _dial_error("10.10.0.21") + "\n"))
    )
    out = t.machine_statuses(runner, tc(), ["10.10.0.20", "10.10.0.21", "10.10.0.22"])
    assert sorted(out.facts) == ["10.10.0.20", "10.10.0.22"] and out.facts["10.10.0.22"].stage == "upgrading"
    assert out.unreachable == ("10.10.0.21",) and "10.10.0.21:50000" in out.errors["10.10.0.21"]
    assert len(runner.calls) == 2


def test_filtered_commands_exit_0_with_a_warning_for_the_node_that_did_not_answer() -> None:
    """talos v1.11.6 pkg/machinery/client/reply.go FilterMessages + cmd/talosctl/cmd/talos/etcd.go and
    version.go: with one node answering, the others become ``WARNING: <multierror>`` on stderr (pkg/cli
    output.go Warning) and the command exits 0. The node absent from stdout is unreachable, with the
    WARNING text as its reason — not "no answer", and whatever the exit code."""
    status = fixture("etcd_status", "v1.11_code_three_nodes_one_error")
    rows = [ln for ln in status["stdout"].splitlines(keepends=True) if "10.10.0.21" not in ln]
    warning = "WARNING: 1 error occurred:\n\t* 10.10.0.21: " + _dial_error("10.10.0.21") + "\n\n\n"
    version = fixture("version", "v1.11_two_nodes_mixed")["stdout"].split("\tNODE:        10.10.0.21")[0]
    runner = FakeRunner().on("etcd status", (0, "".join(rows), warning)).on("version", (0, version, warning))
    nodes = ["10.10.0.20", "10.10.0.21", "10.10.0.22"]
    out = t.etcd_statuses(runner, tc(), nodes)
    assert sorted(out.facts) == ["10.10.0.20", "10.10.0.22"]
    assert out.unreachable == ("10.10.0.21",) and out.errors["10.10.0.21"] == _dial_error("10.10.0.21")
    tags = t.server_versions(runner, tc(), ["10.10.0.20", "10.10.0.21"])
    assert tags.facts == {"10.10.0.20": "v1.11.6"} and tags.unreachable == ("10.10.0.21",)
    assert len(runner.calls) == 2


def test_version_with_every_node_down_reports_each_instead_of_raising() -> None:
    """version.go (v1.11.6) prints ``Client:`` and ``Server:`` before it connects; when no node answers
    FilterMessages returns nil and the command fails with "error getting version: <multierror>"."""
    client = fixture("version", "v1.11_two_nodes_mixed")["stdout"].split("Server:")[0]
    stderr = (
        "error getting version: 2 errors occurred:\n"
        f"\t* 10.10.0.20: {_dial_error('10.10.0.20')}\n\t* 10.10.0.21: {_dial_error('10.10.0.21')}\n\n\n"
    )
    runner = FakeRunner().on("version", (1, client + "Server:\n", stderr))
    assert t.parse_version(client + "Server:\n") == {}
    out = t.server_versions(runner, tc(), ["10.10.0.20", "10.10.0.21"])
    assert out.facts == {} and out.unreachable == ("10.10.0.20", "10.10.0.21")
    assert "10.10.0.21:50000" in out.errors["10.10.0.21"]


def test_fan_out_whole_call_failure_raises() -> None:
    runner = FakeRunner().on("etcd status", (1, "", "failed to determine endpoints"))
    with pytest.raises(CommandError, match=r"on 10\.10\.0\.20,10\.10\.0\.21 failed"):
        t.etcd_statuses(runner, tc(), ["10.10.0.20", "10.10.0.21"])


def test_fan_out_all_ok() -> None:
    fx = fixture("etcd_status", "v1.11_code_three_nodes_one_error")
    versions = fixture("version", "v1.11_two_nodes_mixed")
    runner = FakeRunner().on("etcd status", (0, fx["stdout"], "")).on("version", (0, versions["stdout"], ""))
    out = t.etcd_statuses(runner, tc(), ["10.10.0.20", "10.10.0.21", "10.10.0.22"])
    assert out.ok and out.facts["10.10.0.22"].errors and not out.facts["10.10.0.21"].errors
    assert t.server_versions(runner, tc(), ["10.10.0.20", "10.10.0.21"]).facts == {
        "10.10.0.20": "v1.11.6",
        "10.10.0.21": "v1.10.9",
    }


def test_action_progress_tty_form_and_noise() -> None:
    text = (
        "watching nodes: [10.0.0.11]\n"
        "    * 10.0.0.11: task: stopAllServices action: START\n"
        "WARNING: 10.0.0.11: server version 1.10.9 is older than client version 1.11.6\n"
        "    * 10.0.0.11: post check passed\n"
    )
    report = t.parse_action_progress(text)
    assert [e.node for e in report.events] == ["10.0.0.11", "10.0.0.11"]
    assert report.completed == frozenset({"10.0.0.11"}) and report.last_for("10.0.0.11") == "post check passed"
    assert report.last_for("10.0.0.99") is None


def test_upgrade_helper_trusts_exit_0_when_the_ack_layout_is_new() -> None:
    runner = FakeRunner().on("upgrade", (0, "10.10.0.23: upgrade request accepted\n", ""))
    assert t.upgrade(runner, tc("v1.13.9"), "10.10.0.23", IMAGE) == t.UpgradeAck("10.10.0.23", "accepted", "")
