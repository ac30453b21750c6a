from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from homeops.errors import CommandError, CommandTimeout, ToolNotFound
from homeops.runners import FakeRunner, LocalRunner, Result
from homeops.secrets import MASKER, Secret, mask

PY = sys.executable


def test_local_runner_captures_streams_separately_and_exit_code() -> None:
    r = LocalRunner().run([PY, "-c", "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"])
    assert r.stdout == "out\n"
    assert r.stderr == "err\n"
    assert r.exit_code == 3
    assert not r.ok and r.failed
    assert r.duration > 0


def test_local_runner_env_is_added_and_cwd_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOMEOPS_INHERITED", "0")
    runner = LocalRunner(env={"HOMEOPS_A": "1"})
    code = "import os; e = os.environ; print(e['HOMEOPS_INHERITED'], e['HOMEOPS_A'], e['HOMEOPS_B'], os.getcwd())"
    r = runner.run([PY, "-c", code], env={"HOMEOPS_B": "2"}, cwd=tmp_path)
    assert r.stdout.split() == ["0", "1", "2", str(tmp_path)]


def test_local_runner_stdin() -> None:
    r = LocalRunner().run([PY, "-c", "import sys; print(sys.stdin.read().upper())"], stdin="hello")
    assert r.stdout.strip() == "HELLO"


def test_local_runner_timeout_kills_and_raises_quickly() -> None:
    start = time.monotonic()
    with pytest.raises(CommandTimeout) as exc:
        LocalRunner().run([PY, "-c", "import time; time.sleep(30)"], timeout=0.5)
    assert time.monotonic() - start < 10
    assert "did not finish within 0.5s" in str(exc.value)
    assert isinstance(exc.value, TimeoutError)


def test_local_runner_timeout_keeps_what_the_command_said_before_it_hung() -> None:
    code = "import sys, time; print('waiting for the lock', file=sys.stderr, flush=True); time.sleep(30)"
    with pytest.raises(CommandTimeout) as exc:
        LocalRunner().run([PY, "-c", code], timeout=0.5)
    assert exc.value.stderr == "waiting for the lock\n"


def test_local_runner_timeout_does_not_wait_for_a_child_that_left_its_group(tmp_path: Path) -> None:
    # A daemon (setsid) holding the output pipes: reading them to EOF after the kill turned a 0.3s
    # timeout into a wait as long as the daemon lives (a hook starting a port-forward, issue 19).
    script = "setsid sh -c 'echo $$ > daemon.pid; exec sleep 5' & sleep 30"
    start = time.monotonic()
    try:
        with pytest.raises(CommandTimeout):
            LocalRunner().run(["sh", "-c", script], timeout=0.3, cwd=tmp_path)
        assert time.monotonic() - start < 3
    finally:
        if (tmp_path / "daemon.pid").exists():
            _kill(int((tmp_path / "daemon.pid").read_text()))


def test_local_runner_ctrl_c_kills_the_group_and_reaps_it(tmp_path: Path) -> None:
    # The command sends this process the SIGINT a Ctrl-C would (once the runner waits for it, not while it
    # is being spawned); the runner kills it and leaves no zombie.
    with pytest.raises(KeyboardInterrupt):
        LocalRunner().run(["sh", "-c", "echo $$ > sh.pid; sleep 0.2; kill -INT $PPID; sleep 30"], cwd=tmp_path)
    pid = int((tmp_path / "sh.pid").read_text())
    assert not Path(f"/proc/{pid}").exists(), Path(f"/proc/{pid}/status").read_text().splitlines()[:3]


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_local_runner_missing_tool_is_a_clear_error() -> None:
    with pytest.raises(ToolNotFound) as exc:
        LocalRunner().run(["homeops-no-such-tool-xyz", "--version"])
    assert "'homeops-no-such-tool-xyz' was not found on PATH" in str(exc.value)


def test_check_raises_with_target_exit_code_and_last_error_line() -> None:
    r = Result(
        ("talosctl", "-n", "10.0.0.1", "version"), 1, "", "line one\nrpc error: code = Unavailable\n", 0.1, "local"
    )
    with pytest.raises(CommandError) as exc:
        r.check("talosctl version")
    assert str(exc.value) == "talosctl version failed (exit 1): rpc error: code = Unavailable"
    assert exc.value.returncode == 1
    ok = Result(("true",), 0, "", "", 0.0)
    assert ok.check() is ok


def test_secrets_passed_to_run_are_masked_in_errors_and_repr() -> None:
    token = "s3cr3t-token-value-123"
    r = LocalRunner().run(
        [PY, "-c", "import sys; print('auth failed for', sys.argv[1], file=sys.stderr); sys.exit(1)", token],
        secrets=[token],
    )
    assert token in r.stderr  # raw output stays exact for parsers …
    assert token not in repr(r)  # … but nothing printable shows it
    assert token not in r.command
    with pytest.raises(CommandError) as exc:
        r.check()
    assert token not in str(exc.value)
    assert "******" in str(exc.value)
    MASKER.clear()


def test_secret_value_never_prints() -> None:
    s = Secret("hunter2-long")
    assert str(s) == "******" and repr(s) == "Secret(******)" and f"{s}" == "******"
    assert s.reveal() == "hunter2-long"
    assert s == Secret("hunter2-long") and s != Secret("other")
    MASKER.add(s)
    assert mask("pw=hunter2-long;") == "pw=******;"
    MASKER.clear()
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(s)


def test_masker_masks_multiline_secret_line_by_line() -> None:
    key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\n-----END KEY-----"
    MASKER.add(key)
    assert "AAAABBBBCCCCDDDD" not in mask("oops: AAAABBBBCCCCDDDD")
    MASKER.clear()


def test_fake_runner_matches_newest_rule_first_and_records() -> None:
    fake = FakeRunner()
    fake.on(r"^talosctl .* version", (0, "Tag: v1.10.0\n", ""))
    fake.on(r"^talosctl .* version", (0, "Tag: v1.11.6\n", ""))
    fake.on(r"kubectl", lambda argv, stdin: (0, stdin or "", ""))
    assert fake.run(["talosctl", "-n", "x", "version"]).stdout == "Tag: v1.11.6\n"
    assert fake.run(["kubectl", "apply"], stdin="doc").stdout == "doc"
    assert fake.commands() == ["talosctl -n x version", "kubectl apply"]
    with pytest.raises(AssertionError, match="no response for: helm"):
        fake.run(["helm", "list"])


def test_masker_leaves_versions_numbers_and_booleans_alone() -> None:
    MASKER.add("v1.11.6", "1.34.2", "true", "8080", "v1.12.0-beta.1", "realsecretvalue")
    assert mask("upgrade to v1.11.6 / k8s 1.34.2 / port 8080 / true / v1.12.0-beta.1") == (
        "upgrade to v1.11.6 / k8s 1.34.2 / port 8080 / true / v1.12.0-beta.1"
    )
    assert mask("token realsecretvalue") == "token ******"
    MASKER.clear()


def test_masker_still_masks_long_numbers() -> None:
    MASKER.add("8492031766")
    assert mask("pin 8492031766") == "pin ******"
    MASKER.clear()
