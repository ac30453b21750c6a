"""Pre and post hooks (homeops.yaml ``hooks:``): the section's one-line errors, and the policy with real
``sh`` processes (LocalRunner): env, cwd, failures named, timeouts killing the process group, output
masked into the report, post hooks all running, a second Ctrl-C not cutting them short."""

from __future__ import annotations

import io
import shutil
import signal
import textwrap
import time
from pathlib import Path

import pytest

from homeops.engine.events import RunInfo
from homeops.errors import CommandError, ConfigError, PolicyRefused
from homeops.inventory.loader import load_inventory
from homeops.inventory.model import Hook, Hooks
from homeops.policies.hooks import HookPolicy, hook_policies
from homeops.runners import LocalRunner
from homeops.secrets import MASKER
from tests.conftest import EXAMPLE_INVENTORY

# --------------------------------------------------------------------------- homeops.yaml hooks:


@pytest.fixture
def inv_dir(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(EXAMPLE_INVENTORY, target, ignore=shutil.ignore_patterns(".homeops"))
    return target


def with_hooks(inv_dir: Path, section: str) -> Path:
    path = inv_dir / "homeops.yaml"
    path.write_text(path.read_text() + "\n" + textwrap.dedent(section))
    return inv_dir


def test_hooks_section_is_read_with_durations(inv_dir: Path) -> None:
    assert load_inventory(inv_dir).hooks == Hooks()  # none by default
    with_hooks(
        inv_dir,
        """\
        hooks:
          pre:
            - { run: ./scripts/backup-check.sh, timeout: 5m }
            - run: |
                kubectl -n flux-system suspend kustomization --all
              timeout: 90
          post:
            - { run: "  curl -fsS http://ntfy.lan  ", timeout: 1h30m }
            - { run: "true" }
        """,
    )
    hooks = load_inventory(inv_dir).hooks
    assert hooks.pre == (
        Hook("./scripts/backup-check.sh", 300.0, "hooks.pre[0]"),
        Hook("kubectl -n flux-system suspend kustomization --all", 90.0, "hooks.pre[1]"),
    )
    assert hooks.post == (
        Hook("curl -fsS http://ntfy.lan", 5400.0, "hooks.post[0]"),
        Hook("true", 300.0, "hooks.post[1]"),
    )


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("hooks:\n  pre:\n    - { run: '' }\n", "pre[0].run: must be a non-empty shell command, not ''"),
        ("hooks:\n  pre:\n    - { run: '   ' }\n", "hooks.pre[0].run: must be a non-empty shell command"),
        ("hooks:\n  post:\n    - { timeout: 5m }\n", "post[0].run: must be a non-empty shell command, not nothing"),
        ("hooks:\n  post:\n    - { run: [a, b] }\n", "post[0].run: must be a non-empty shell command, not a list"),
        ("hooks:\n  pre:\n    - { run: x, timeout: soon }\n", "[0].timeout: must be a duration like 15m, 1h30m or 90s"),
        ("hooks:\n  pre:\n    - { run: x, timeout: 0 }\n", "from 1s to 168h, not '0'"),
        ("hooks:\n  pre:\n    - { run: x, timeout: -5 }\n", "not '-5'"),
        ("hooks:\n  pre:\n    - { run: x, timeout: 0s }\n", "not '0s'"),
        ("hooks:\n  pre:\n    - { run: x, timeout: 5 minutes }\n", "not '5 minutes'"),
        ("hooks:\n  pre:\n    - { run: x, timeout: true }\n", "not 'true'"),
        ("hooks:\n  pre:\n    - { run: x, timeout: .inf }\n", "hooks.pre[0].timeout: must be a duration"),
        ("hooks:\n  pre:\n    - { run: x, timeout: 169h }\n", "not '169h'"),
        ("hooks:\n  pre:\n    - ./backup.sh\n", "hooks.pre[0]: must be a mapping {run, timeout}, not './backup.sh'"),
        ("hooks:\n  pre: ./backup.sh\n", "hooks.pre: must be a list of {run, timeout} entries, not './backup.sh'"),
        ("hooks: ./backup.sh\n", "hooks: must be a mapping, not './backup.sh'"),
        ("hooks:\n  pree: []\n", "hooks.pree: unknown key; did you mean pre?"),
        ("hooks:\n  post:\n    - { run: x, timout: 5m }\n", "hooks.post[0].timout: unknown key; did you mean timeout?"),
    ],
)  # fmt: skip
def test_bad_hooks_are_one_line_config_errors(inv_dir: Path, section: str, expected: str) -> None:
    with_hooks(inv_dir, section)
    with pytest.raises(ConfigError) as info:
        load_inventory(inv_dir)
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(inv_dir / "homeops.yaml") + ": ")
    assert expected in message


# --------------------------------------------------------------------------- the policy, real sh


def run_info(tmp_path: Path, *, simulated: bool = False) -> RunInfo:
    return RunInfo(
        operation="upgrade-cluster",
        cluster="home",
        backend="simulated" if simulated else "real",
        run_id="20261205-0700-upgrade-cluster",
        resume_command="inv talos.upgrade-cluster --resume",
        state_dir=tmp_path / ".homeops",
    )


def policy(tmp_path: Path, pre: list[str] = [], post: list[str] = [], timeout: float = 10.0) -> HookPolicy:  # noqa: B006
    hooks = Hooks(
        pre=tuple(Hook(run, timeout, f"hooks.pre[{i}]") for i, run in enumerate(pre)),
        post=tuple(Hook(run, timeout, f"hooks.post[{i}]") for i, run in enumerate(post)),
    )
    directory = tmp_path / "inv"
    directory.mkdir(exist_ok=True)
    return HookPolicy(hooks, directory=directory, runner=LocalRunner(), env={"KUBECONFIG": "/k"}, out=io.StringIO())


def said(p: HookPolicy) -> str:
    assert isinstance(p.out, io.StringIO)
    return p.out.getvalue()


ENV_DUMP = "env | grep -E '^(HOMEOPS_[A-Z_]+|KUBECONFIG)=' | sort > {0}; pwd >> {0}"


def test_hooks_get_the_run_in_their_environment_and_run_in_the_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOMEOPS_SIMULATED", "1")  # left over in the operator's shell: must not leak into a real run
    monkeypatch.setenv("HOMEOPS_STATUS", "finished")  # nor a parent run's status into a pre hook
    p = policy(tmp_path, pre=[ENV_DUMP.format("pre.env")], post=[ENV_DUMP.format("post.env")])
    run = run_info(tmp_path)
    p.begin(run, None)  # type: ignore[arg-type]  # the hooks never look at the plan
    p.end(run, "interrupted")
    run_env = [
        "HOMEOPS_CLUSTER=home",
        "HOMEOPS_HOOK={}",
        "HOMEOPS_OPERATION=upgrade-cluster",
        f"HOMEOPS_REPORT_DIR={tmp_path}/.homeops/runs/20261205-0700-upgrade-cluster",
        "HOMEOPS_RESUME=inv talos.upgrade-cluster --resume",
        "HOMEOPS_RUN_ID=20261205-0700-upgrade-cluster",
        "HOMEOPS_SIMULATED=0",
        "HOMEOPS_STATUS={}",
        "KUBECONFIG=/k",
        str(tmp_path / "inv"),  # pwd
    ]
    expected = "\n".join(run_env) + "\n"
    assert (tmp_path / "inv" / "pre.env").read_text() == expected.format("pre", "starting")
    assert (tmp_path / "inv" / "post.env").read_text() == expected.format("post", "interrupted")
    lines = said(p).splitlines()
    assert len(lines) == 2
    shown = "`env | grep -E '^(HOMEOPS_[A-Z_]+|KUBECONFIG)=' | sort > pre…`"  # one line, 60 characters
    assert lines[0].startswith(f"pre hook hooks.pre[0] {shown}: ok in ")
    assert lines[1].startswith("post hook hooks.post[0] `env | grep") and ": ok in " in lines[1]


def test_simulated_runs_tell_hooks_and_the_terminal(tmp_path: Path) -> None:
    p = policy(tmp_path, pre=["echo $HOMEOPS_SIMULATED > sim"])
    p.begin(run_info(tmp_path, simulated=True), None)  # type: ignore[arg-type]
    assert (tmp_path / "inv" / "sim").read_text() == "1\n"
    assert said(p).startswith("[SIMULATED] pre hook hooks.pre[0]")


def test_failed_pre_hook_refuses_naming_hook_exit_code_and_last_line_and_stops_the_rest(tmp_path: Path) -> None:
    script = "echo checking backups; echo 'newest etcd snapshot is 31h old' >&2; exit 3"
    p = policy(tmp_path, pre=[script, "touch second-ran"])
    with pytest.raises(PolicyRefused) as info:
        p.begin(run_info(tmp_path), None)  # type: ignore[arg-type]
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(
        "pre hook hooks.pre[0] `echo checking backups; echo 'newest etcd snapshot is 31h ol…` failed "
        "(exit 3: newest etcd snapshot is 31h old): the run was not started, nothing was changed"
    )
    assert not (tmp_path / "inv" / "second-ran").exists()
    assert [r.outcome for r in p.runs] == ["failed"]
    report = "\n".join(p.report_lines())
    assert "checking backups" in report and "newest etcd snapshot is 31h old" in report


def test_a_timed_out_hook_has_its_whole_process_group_killed(tmp_path: Path) -> None:
    # The hook's shell starts a child that would outlive it; the timeout must take both.
    p = policy(tmp_path, pre=["sleep 30 & echo $! > child.pid; echo 'waiting for the NAS lock' >&2; wait"], timeout=0.5)
    started = time.monotonic()
    with pytest.raises(PolicyRefused) as info:
        p.begin(run_info(tmp_path), None)  # type: ignore[arg-type]
    assert time.monotonic() - started < 10
    message = str(info.value)
    shown = "`sleep 30 & echo $! > child.pid; echo 'waiting for the NAS l…`"
    assert message.startswith(f"pre hook hooks.pre[0] {shown} timed out (did not finish within 0.5s; its process ")
    assert "group was killed; it last said: waiting for the NAS lock): the run was not started" in message
    assert p.report_lines()[1:] == ["hooks.pre[0] stderr: waiting for the NAS lock"]
    child = int((tmp_path / "inv" / "child.pid").read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), f"the hook's child {child} survived its timeout"
    assert p.runs[0].outcome == "timed out" and p.runs[0].exit_code is None


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")  # a killed child nobody reaped yet is dead


def test_every_post_hook_runs_and_the_first_failure_fails_the_run(tmp_path: Path) -> None:
    p = policy(tmp_path, post=["echo cleaning; exit 7", "echo $HOMEOPS_STATUS > second", "exit 1"])
    p.begin(run_info(tmp_path), None)  # type: ignore[arg-type]
    with pytest.raises(CommandError) as info:
        p.end(run_info(tmp_path), "finished")
    message = str(info.value)
    assert message.startswith("post hook hooks.post[0] `echo cleaning; exit 7` failed (exit 7: cleaning)")
    assert "(and 1 more post hook(s) failed)" in message
    assert (tmp_path / "inv" / "second").read_text() == "finished\n"
    assert [r.outcome for r in p.runs] == ["failed", "ok", "failed"]


def test_post_hooks_do_not_run_for_a_run_that_never_began(tmp_path: Path) -> None:
    # e.g. the lock was held by another run: its post hooks would undo what that run's pre hooks set up
    p = policy(tmp_path, post=["touch ran"])
    p.end(run_info(tmp_path), "failed")
    assert not (tmp_path / "inv" / "ran").exists() and p.runs == []


def test_post_hooks_run_after_a_failed_pre_hook(tmp_path: Path) -> None:
    p = policy(tmp_path, pre=["touch half-done; exit 1"], post=["rm half-done; echo $HOMEOPS_STATUS > status"])
    with pytest.raises(PolicyRefused):
        p.begin(run_info(tmp_path), None)  # type: ignore[arg-type]
    p.end(run_info(tmp_path), "failed")
    assert not (tmp_path / "inv" / "half-done").exists()
    assert (tmp_path / "inv" / "status").read_text() == "failed\n"


def test_output_goes_to_the_report_masked_and_tail_limited(tmp_path: Path) -> None:
    MASKER.add("hunter2-token-value")
    p = policy(tmp_path, post=["seq 1 50; echo token=hunter2-token-value; echo warn >&2"])
    p.begin(run_info(tmp_path), None)  # type: ignore[arg-type]
    p.end(run_info(tmp_path), "finished")
    lines = p.report_lines()
    text = "\n".join(lines)
    assert "hunter2-token-value" not in text and "token=******" in text
    assert lines[0].startswith("post hook hooks.post[0] `seq 1 50; echo token=******; echo warn >&2`: ok in ")
    assert lines[1:] == [f"hooks.post[0] stdout: {n}" for n in range(32, 51)] + [
        "hooks.post[0] stdout: token=******",
        "hooks.post[0] stderr: warn",
    ]  # the last 20 lines of stdout


def test_a_failing_hook_with_a_secret_in_its_command_and_output_never_shows_it(tmp_path: Path) -> None:
    MASKER.add("hunter3-token-value")
    p = policy(tmp_path, post=["test -z 'Token: hunter3-token-value' || (echo bad hunter3-token-value; exit 6)"])
    p.begin(run_info(tmp_path), None)  # type: ignore[arg-type]
    with pytest.raises(CommandError) as info:
        p.end(run_info(tmp_path), "finished")
    shown = [str(info.value), info.value.command, said(p), *p.report_lines()]
    assert not [text for text in shown if "hunter3-token-value" in text]
    assert "exit 6: bad ******" in str(info.value) and "Token: ******" in info.value.command


def test_a_second_ctrl_c_during_post_hooks_lets_them_finish(tmp_path: Path) -> None:
    # The hook itself sends SIGINT to homeops (its parent), as a second Ctrl-C would, then goes on.
    previous = signal.getsignal(signal.SIGINT)
    p = policy(tmp_path, post=["kill -INT $PPID; sleep 0.3; echo $HOMEOPS_STATUS > done"])
    p.begin(run_info(tmp_path), None)  # type: ignore[arg-type]
    p.end(run_info(tmp_path), "interrupted")  # no KeyboardInterrupt
    assert (tmp_path / "inv" / "done").read_text() == "interrupted\n"
    assert "Ctrl-C: the post hooks are the run's cleanup and still finish (each within its timeout)" in said(p)
    assert signal.getsignal(signal.SIGINT) is previous  # Ctrl-C interrupts again afterwards


def test_describe_shows_the_hooks_with_the_plan(tmp_path: Path) -> None:
    p = policy(tmp_path, pre=["./check.sh"], post=["./notify.sh\n# more"], timeout=90)
    assert list(p.describe(None)) == [  # type: ignore[arg-type]
        "pre hooks, before anything changes: `./check.sh` (timeout 1m30s)",
        "post hooks, after the run however it ends: `./notify.sh…` (timeout 1m30s)",
    ]
    assert list(policy(tmp_path).describe(None)) == []  # type: ignore[arg-type]


def test_hook_policies_from_the_inventory(inv_dir: Path) -> None:
    runner = LocalRunner()
    assert hook_policies(load_inventory(inv_dir), runner=runner) == ()  # no hooks: no policy
    inventory = load_inventory(with_hooks(inv_dir, "hooks:\n  post:\n    - { run: 'echo $KUBECONFIG > kc' }\n"))
    lines: list[str] = []
    (p,) = hook_policies(inventory, runner=runner, report=lines.append)
    assert isinstance(p, HookPolicy) and p.name == "hooks" and p.directory == inv_dir and p.runner is runner
    p.begin(run_info(inv_dir, simulated=True), None)  # type: ignore[arg-type]
    p.end(run_info(inv_dir, simulated=True), "finished")
    # a hook's kubectl/talosctl reach the inventory's cluster, not whatever the operator's shell points at
    assert (inv_dir / "kc").read_text() == f"{inventory.cluster.kubeconfig}\n"
    assert p.env["TALOSCONFIG"] == str(inventory.cluster.talosconfig)
    # the terminal line goes to the run's progress, which adds its own banner and time
    (line,) = lines
    assert line.startswith("post hook hooks.post[0] `echo $KUBECONFIG > kc`: ok in ")
