"""SshRunner pieces that need no server: the remote command line, known_hosts names, fix lines."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from homeops.inventory.model import SshHost
from homeops.ssh import SshRunner, keyscan_line, known_hosts_name, known_hosts_path, remote_command, remove_line

ARG = st.text(st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=40)


@given(st.lists(ARG, min_size=1, max_size=6))
def test_remote_command_is_the_argv_for_any_text(argv: list[str]) -> None:
    # What the remote shell will split the line into is exactly the argv: nothing is interpreted.
    assert shlex.split(remote_command(argv)) == argv


@given(st.dictionaries(st.from_regex(r"[A-Z_][A-Z0-9_]{0,8}", fullmatch=True), ARG, max_size=3), ARG)
def test_env_and_cwd_stay_literal(env: dict[str, str], cwd: str) -> None:
    line = remote_command(["printenv"], env=env, cwd=cwd)
    prefix = f"cd {shlex.quote(cwd)} && "
    assert line.startswith(prefix)
    expected = (["env", *(f"{k}={v}" for k, v in env.items())] if env else []) + ["printenv"]
    assert shlex.split(line[len(prefix) :]) == expected


def test_bad_env_name_and_empty_argv() -> None:
    with pytest.raises(ValueError, match="invalid environment variable name"):
        remote_command(["true"], env={"A;B": "x"})
    with pytest.raises(ValueError):
        remote_command([])


def test_known_hosts_names_and_fix_lines(tmp_path: Path) -> None:
    host = SshHost("pve1", "10.0.0.2", "proxmox", port=2222)
    known = tmp_path / "my known_hosts"
    assert known_hosts_name("10.0.0.2", 22) == "10.0.0.2"
    assert known_hosts_name("10.0.0.2", 2222) == "[10.0.0.2]:2222"
    assert keyscan_line(host, known) == f"ssh-keyscan -p 2222 -t ed25519 10.0.0.2 >> '{known}'"
    assert remove_line(host, known) == f"ssh-keygen -R '[10.0.0.2]:2222' -f '{known}'"


def test_default_known_hosts_is_the_users(tmp_path: Path) -> None:
    # conftest points HOME at a temporary directory, so this is never the developer's file.
    assert known_hosts_path(SshHost("h", "a", "proxmox")) == Path.home() / ".ssh" / "known_hosts"
    assert known_hosts_path(SshHost("h", "a", "proxmox", known_hosts=tmp_path / "k")) == tmp_path / "k"


def test_runner_is_lazy_and_names_its_target() -> None:
    runner = SshRunner(SshHost("pve1", "203.0.113.1", "proxmox"))
    assert runner.target == "pve1" and runner.connects == 0  # constructing never connects
    assert repr(runner) == "SshRunner(pve1: root@203.0.113.1:22)"
    runner.close()  # closing an unconnected runner is fine
