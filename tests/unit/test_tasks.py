"""The task surface: namespaces exist, every option is documented, user errors never show tracebacks."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from tests.conftest import REPO

NAMESPACES = ("talos", "bootstrap", "dr", "volsync", "pve", "nas", "sops", "cluster", "inventory", "sim")


def inv(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def test_namespaces_are_collected() -> None:
    from homeops.tasks import ns

    assert set(NAMESPACES) <= set(ns.collections)


def test_inv_list_lists_the_populated_namespaces() -> None:
    proc = inv("--list")
    assert proc.returncode == 0, proc.stderr
    for name in ("talos.", "inventory.", "sim.", "sops.", "cluster.", "pve.", "nas."):
        assert name in proc.stdout, f"{name} missing from inv --list"


def _all_tasks() -> list[tuple[str, object]]:
    from homeops.tasks import ns

    return [(name, ns[name]) for name in ns.task_names]


@pytest.mark.parametrize("name", [n for n, _ in _all_tasks()])
def test_every_task_documents_every_option(name: str) -> None:
    from homeops.tasks import ns

    task = ns[name]
    assert task.__doc__ and task.__doc__.strip(), f"{name} has no docstring"
    params = [p for p in inspect.signature(task.body).parameters if p not in ("c", "ctx")]
    missing = [p for p in params if p.replace("_", "-") not in task.help and p not in task.help]
    assert not missing, f"inv --help {name}: undocumented options {missing}"


def test_help_for_a_task_prints_its_options() -> None:
    proc = inv("--help", "inventory.show")
    assert proc.returncode == 0, proc.stderr
    assert "--json" in proc.stdout and "--talconfig" in proc.stdout
