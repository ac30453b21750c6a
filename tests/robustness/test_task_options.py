"""Every option of every task, walked from invoke's own view of the task signatures.

A wrong-typed and an out-of-range value for each value-taking option must give a one-line
``error: --flag …`` and exit 2 while parsing — before anything runs — never a traceback. A new
option is covered the moment it exists: it must have a kind in ``homeops.tasks._options.OPTIONS``.
"""

from __future__ import annotations

from typing import Any

import pytest

from homeops.tasks import ns
from homeops.tasks._options import OPTIONS, SHORT_FLAGS, Task, iter_tasks
from tests.robustness.conftest import run_inv

TASKS = sorted(iter_tasks(ns), key=lambda item: item[0])


def _value_options() -> list[tuple[str, str, str, str]]:
    cases = []
    for dotted, found in TASKS:
        for arg in found.get_arguments():
            if arg.kind is bool:
                continue
            kind = OPTIONS.get(arg.attr_name or arg.name)
            samples = kind.samples if kind else ("abc", "-1")
            for which, sample in zip(("wrong-typed", "out-of-range"), samples, strict=True):
                cases.append((dotted, arg.name, which, sample))
    return cases


CASES = _value_options()


def test_every_task_is_a_homeops_task() -> None:
    assert TASKS, "no tasks found"
    plain = [name for name, found in TASKS if not isinstance(found, Task)]
    assert not plain, f"tasks built with invoke's own @task (no option checking): {plain}"


def test_the_walk_covers_every_value_option() -> None:
    # a sanity floor so a broken walk cannot pass by walking nothing
    assert len(CASES) >= 2 * 40
    assert {c[1] for c in CASES} >= {"max_unavailable", "times", "seconds", "node", "inventory", "image"}


@pytest.mark.parametrize(("task", "option", "which", "value"), CASES, ids=[f"{c[0]}--{c[1]}-{c[2]}" for c in CASES])
def test_bad_option_value_is_one_line_exit_2(task: str, option: str, which: str, value: str) -> None:
    flag = "--" + option.replace("_", "-")
    ran = run_inv(task, f"{flag}={value}")
    assert ran.crashed is None, f"{task} {flag}={value!r} crashed: {ran.crashed!r}"
    assert "Traceback" not in ran.err
    assert ran.code == 2, (ran.code, ran.err)
    lines = ran.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag}:"), ran.err


@pytest.mark.parametrize(("task", "found"), TASKS, ids=[t[0] for t in TASKS])
def test_bool_flag_given_a_value_is_one_line_not_a_traceback(task: str, found: Any) -> None:
    flags = [a for a in found.get_arguments() if a.kind is bool]
    for arg in flags:
        ran = run_inv(task, f"--{arg.name}=maybe")
        assert ran.crashed is None and "Traceback" not in ran.err
        assert ran.code != 0 and len(ran.err.strip().splitlines()) == 1, ran.err


@pytest.mark.parametrize(("task", "found"), TASKS, ids=[t[0] for t in TASKS])
def test_short_flags_mean_one_thing_everywhere(task: str, found: Any) -> None:
    """Defect 6: -i was --image, --ignore-mac, --in-place or --inventory depending on the task."""
    for arg in found.get_arguments():
        shorts = [n for n in arg.names if len(n) == 1]
        expected = [SHORT_FLAGS[arg.attr_name or arg.name]] if (arg.attr_name or arg.name) in SHORT_FLAGS else []
        assert shorts == expected, f"{task} --{arg.name} has short flags {shorts}"


def test_minus_i_is_inventory_in_upgrade_node(tmp_path: Any) -> None:
    ran = run_inv("talos.upgrade-node", "--node", "k8s-0", "-i", str(tmp_path / "nope"))
    assert ran.crashed is None
    assert ran.code == 2 and "--inventory" in ran.err, ran.err


def test_numeric_options_reach_the_task_as_numbers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 12: --max-unavailable 2 reached the planner as '2' (TypeError: '<' between str and int)."""
    seen: dict[str, Any] = {}
    from homeops.tasks import talos

    monkeypatch.setattr(talos, "_run", lambda c, inventory, operation, request, options: seen.update(r=request))
    monkeypatch.setattr(talos, "_asking", lambda **asked: asked)
    ran = run_inv("talos.upgrade-cluster", "--max-unavailable", "2")
    assert ran.crashed is None and ran.code == 0, ran
    assert seen["r"]["max_unavailable"] == 2 and isinstance(seen["r"]["max_unavailable"], int)


@pytest.mark.parametrize("blank", ["", " , ", ","])
@pytest.mark.parametrize("task", ["talos.upgrade-node", "talos.apply-node", "talos.reboot-node"])
def test_blank_node_selection_is_refused(task: str, blank: str) -> None:
    """Defect 2: --node '' planned and upgraded every node."""
    ran = run_inv(task, f"--node={blank}", "--dry-run")
    assert ran.crashed is None
    assert ran.code == 2 and ran.err.startswith("error: --node:"), ran.err


@pytest.mark.parametrize("task", ["pve.vm", "sim.fault", "talos.upgrade-node", "sops.edit"])
def test_help_after_a_task_shows_help_and_runs_nothing(task: str) -> None:
    """Cosmetic: `inv pve.vm --help` ran the task ("which VM?"): the positional ate --help."""
    ran = run_inv(task, "--help")
    assert ran.crashed is None and ran.code == 0, ran
    assert "--inventory" in ran.out + ran.err
    assert "error" not in (ran.out + ran.err).lower().split("options:")[0]
