"""talhelper argv builders, error handling and call helpers."""

from __future__ import annotations

import pytest

from homeops.adapters import talhelper as th
from homeops.adapters._parse import UnexpectedOutput
from homeops.errors import CommandError, ConfigError, PlanError
from homeops.runners import FakeRunner


def test_genconfig_argv_is_offline_by_default() -> None:
    argv = th.genconfig(
        "talos/talconfig.yaml", out_dir="talos/clusterconfig", env_files=["talenv.yaml", "talenv.sops.yaml"]
    )
    assert argv == [
        "talhelper", "genconfig", "--config-file", "talos/talconfig.yaml", "--out-dir", "talos/clusterconfig",
        "--env-file", "talenv.yaml,talenv.sops.yaml", "--offline-mode",
    ]  # fmt: skip
    # "-n" is dry-run for genconfig: homeops must only ever write the long flag.
    argv = th.genconfig(
        "c.yaml", out_dir="o", secret_file="talsecret.sops.yaml", dry_run=True, no_gitignore=True, offline=False
    )
    assert "-n" not in argv and "--dry-run" in argv and "--no-gitignore" in argv and "--offline-mode" not in argv
    assert argv[argv.index("--secret-file") + 1] == "talsecret.sops.yaml"


def test_gencommand_argv() -> None:
    argv = th.gencommand(
        "upgrade", config_file="c.yaml", out_dir="o", node="k8s-0", extra_flags=["--preserve", "--stage"]
    )
    assert argv == [
        "talhelper", "gencommand", "upgrade", "--config-file", "c.yaml", "--out-dir", "o",
        "--node", "k8s-0", "--extra-flags", "--preserve,--stage", "--offline-mode",
    ]  # fmt: skip
    # only `gencommand upgrade` has --offline-mode
    assert "--offline-mode" not in th.gencommand("apply", config_file="c.yaml", out_dir="o")


def test_gencommand_refuses_what_it_cannot_express() -> None:
    with pytest.raises(PlanError, match="not one of"):
        th.gencommand("wipe", config_file="c", out_dir="o")  # type: ignore[arg-type]
    with pytest.raises(PlanError, match="splits on commas"):
        th.gencommand("apply", config_file="c", out_dir="o", extra_flags=["--config-patch=a,b"])


def test_talosctl_command_flag_access() -> None:
    [cmd] = th.parse_gencommand_commands(
        "talosctl upgrade --talosconfig=./clusterconfig/talosconfig --nodes=10.10.0.20 --image=f/i:v1.11.6"
        " --wait false;\n"
    )
    assert cmd.subcommand == "upgrade" and cmd.nodes == "10.10.0.20"
    assert cmd.flag("image") == "f/i:v1.11.6" and cmd.flag("wait") == "false" and cmd.flag("absent") is None


def test_run_genconfig_config_issues_become_config_error() -> None:
    """talhelper v3.1.16 pkg/config/loader.go: issues grouped under ``field: "<name>"`` lines (not issues
    themselves), each message ``  * …`` (validator.go formatError); genconfig.go then log.Fatalf's
    "failed to parse config file: please fix issues with your config file"."""
    issues = (
        "There are issues with your Talhelper config file:\n"
        'field: "clusterName"\n'
        '  * "clusterName" is required to be not empty\n'
        'field: "nodes[0].ipAddress"\n'
        "  * WARNING: no IP address set\n"
        'field: "endpoint"\n'
        '  * "endpoint" is required to be not empty\n'
    )
    fatal = "2025/09/01 10:00:00 failed to parse config file: please fix issues with your config file\n"
    assert th.config_issues(issues) == (
        '"clusterName" is required to be not empty',
        '"endpoint" is required to be not empty',
        "nodes[0].ipAddress: WARNING: no IP address set",
    )
    runner = FakeRunner().on("genconfig", (1, issues, fatal))
    with pytest.raises(ConfigError) as info:
        th.run_genconfig(runner, "talos/talconfig.yaml", out_dir="o")
    message = str(info.value)
    assert message.startswith('talos/talconfig.yaml: "clusterName" is required to be not empty (+2 more)')
    assert "\n" not in message


def test_run_genconfig_env_error_names_file_without_timestamp() -> None:
    runner = FakeRunner().on(
        "genconfig", (1, "", "2025/09/01 10:00:00 failed to substitute env: talosVersion: variable not set\n")
    )
    with pytest.raises(ConfigError) as info:
        th.run_genconfig(runner, "talos/talconfig.yaml", out_dir="o")
    assert str(info.value).startswith("talos/talconfig.yaml: failed to substitute env")
    assert "2025/09/01" not in str(info.value)


def test_run_gencommand_unknown_node_and_other_failures() -> None:
    runner = FakeRunner().on("gencommand", (1, "", "2025/09/01 10:00:00 node with IP or hostname k8s-9 not found\n"))
    with pytest.raises(ConfigError, match="k8s-9 not found"):
        th.run_gencommand(runner, "apply", config_file="c.yaml", out_dir="o", node="k8s-9")
    runner = FakeRunner().on("gencommand", (2, "", "2025/09/01 10:00:00 open c.yaml: permission denied\n"))
    with pytest.raises(
        CommandError, match=r"talhelper gencommand apply failed \(exit 2\): open c.yaml: permission denied"
    ):
        th.run_gencommand(runner, "apply", config_file="c.yaml", out_dir="o")


def test_run_gencommand_parses_and_names_garbage() -> None:
    good = "talosctl bootstrap --talosconfig=./clusterconfig/talosconfig --nodes=10.10.0.20;\n"
    runner = FakeRunner().on("gencommand bootstrap", (0, good, ""))
    [cmd] = th.run_gencommand(runner, "bootstrap", config_file="c.yaml", out_dir="o")
    assert cmd.argv == ("talosctl", "bootstrap", "--talosconfig=./clusterconfig/talosconfig", "--nodes=10.10.0.20")
    runner = FakeRunner().on("gencommand", (0, "kubectl get nodes;\n", ""))
    with pytest.raises(UnexpectedOutput, match="not a talosctl command") as info:
        th.run_gencommand(runner, "apply", config_file="c.yaml", out_dir="o")
    assert "talhelper gencommand apply" in info.value.command


def test_run_genconfig_success() -> None:
    runner = FakeRunner().on(
        "genconfig",
        (0, "generated config for k8s-0 in o/home-k8s-0.yaml\ngenerated client config in o/talosconfig\n", ""),
    )
    out = th.run_genconfig(runner, "c.yaml", out_dir="o", env={"talosVersion": "v1.11.6"})
    assert out.talosconfig == "o/talosconfig" and out.files[0].hostname == "k8s-0" and not out.dry_run
    assert runner.calls[0].env == {"talosVersion": "v1.11.6"}
