"""Hermetic tests: never read the developer's kubeconfig, talosconfig, SSH config or age keys.

Real-world data (``shared/realworld``: talconfigs, Go sops files, home-ops trees) lives beside the
clone, not in it. Without it the tests that read it skip, each with the path it looked for, and the
session header and summary say so: a clone elsewhere runs the rest instead of failing to collect.
A test reads it through the ``realworld`` fixture, the ``realworld`` marker, a fixture listed in
``REALWORLD_FIXTURES``, or (when the module reads it at import) ``require_realworld()`` at the top.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest
from hypothesis import settings

# Hypothesis' per-example deadline (200 ms) measures the machine, not the code: on two cores shared
# with a pytest-xdist sibling and a docker build, a correct property failed on time alone.
settings.register_profile("homeops", deadline=None)
settings.load_profile("homeops")

REPO = Path(__file__).resolve().parent.parent


def _find_shared() -> Path:
    """``shared/`` beside the clone, or beside one of its parents (a git worktree under ``wt/``)."""
    for folder in REPO.parents:
        if (folder / "shared" / "realworld").is_dir():
            return folder / "shared"
    return REPO.parent / "shared"


SHARED = _find_shared()
REALWORLD = SHARED / "realworld"
EXAMPLE_INVENTORY = REPO / "inventory"
REALWORLD_MISSING = f"real-world data not found at {REALWORLD} (clone homeops beside shared/realworld to run this)"
REALWORLD_FIXTURES = frozenset({"realworld", "bjws_copy"})


def in_ci() -> bool:
    """CI lays shared/ beside the clone and installs every tool: there, a skip would hide a test."""
    return bool(os.environ.get("CI"))


def cannot_run(reason: str, *, module: bool = False) -> NoReturn:
    """Skip loudly on a clone elsewhere; fail in CI, where nothing the suite needs may be missing."""
    if in_ci():
        pytest.fail(f"{reason} (in CI this is a failure, not a skip)", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


def require_realworld() -> None:
    """Skip the calling test module, loudly, when the real-world data is absent (for import-time reads)."""
    if not REALWORLD.is_dir():
        caller = sys._getframe(1).f_globals.get("__name__", "this module")
        cannot_run(f"{caller}: {REALWORLD_MISSING}", module=True)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "realworld: reads shared/realworld; skips with the path it looked for")


def pytest_report_header(config: pytest.Config) -> str:
    if REALWORLD.is_dir():
        return f"real-world data: {REALWORLD}"
    return f"real-world data: MISSING at {REALWORLD}: the tests that read it will skip"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):  # a pytest-xdist worker
        # Parallel workers: the tests marked slow go first, so that none of them is the run's last,
        # lone minute (a stable sort: every worker still collects the same order).
        items.sort(key=lambda item: item.get_closest_marker("slow") is None)
    if not REALWORLD.is_dir():
        if in_ci():
            raise pytest.UsageError(f"{REALWORLD_MISSING} (CI must run every test that reads it)")
        skip = pytest.mark.skip(reason=REALWORLD_MISSING)
        for item in items:
            if _reads_realworld(item):
                item.add_marker(skip, append=False)  # before pytest's "got empty parameter set"


def _reads_realworld(item: pytest.Item) -> bool:
    """Marked, using a fixture that reads it, parametrized with a path in it, or naming a global path in it."""
    if item.get_closest_marker("realworld") or REALWORLD_FIXTURES & set(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    if callspec is not None and any(_in_shared(v) for v in callspec.params.values()):
        return True
    function, module = getattr(item, "function", None), getattr(item, "module", None)
    if function is None or module is None:
        return False
    names: set[str] = set()
    codes = [function.__code__]
    while codes:  # the test's own code and the functions/lambdas defined in it
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if hasattr(c, "co_names"))
    return any(_in_shared(module.__dict__.get(name)) for name in names)


def _in_shared(value: Any) -> bool:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return any(_in_shared(v) for v in value)
    return isinstance(value, Path) and value.is_relative_to(SHARED)


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    if not REALWORLD.is_dir():
        skipped = [r for r in terminalreporter.stats.get("skipped", []) if REALWORLD_MISSING in str(r.longrepr)]
        terminalreporter.write_line(f"{len(skipped)} skipped: {REALWORLD_MISSING}", yellow=True, bold=True)


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for var in (
        "KUBECONFIG",
        "TALOSCONFIG",
        "SOPS_AGE_KEY",
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY_CMD",
        "SOPS_AGE_RECIPIENTS",
        "SSH_AUTH_SOCK",
        "HOMEOPS_INVENTORY",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _fresh_masker() -> Iterator[None]:
    """The masker is process-wide; one test's secrets must not mask another test's output."""
    from homeops.secrets import MASKER

    MASKER.clear()
    yield
    MASKER.clear()


@pytest.fixture
def realworld() -> Path:
    if not REALWORLD.is_dir():
        cannot_run(REALWORLD_MISSING)
    return REALWORLD
