"""Imports run one way: no module imports a higher layer, and there is no import cycle outside
``homeops/sim``. The layer table is ``homeops.layers.LAYERS`` (documented there); the imports are read
with ``ast`` from the source, module-level and inside functions alike, ``if TYPE_CHECKING:`` aside.

The last tests plant violations in a copy of the package and check the scanner sees each: a test of
the test, so a scanner that quietly stopped finding imports would fail here, not pass everything.
"""

from __future__ import annotations

import ast
import shutil
from pathlib import Path

import pytest

import homeops
from homeops import layers

PACKAGE = Path(homeops.__file__).parent


@pytest.fixture(scope="module")
def found() -> list[layers.Import]:
    return layers.imports(PACKAGE)


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in layers.module_names(PACKAGE) if layers.layer_of(name) is None]
    assert unplaced == [], "add these to homeops.layers.LAYERS"


def test_no_module_imports_a_higher_layer(found: list[layers.Import]) -> None:
    bad = [
        f"{imp.describe()} (layer {layers.layer_of(imp.source)} -> {layers.layer_of(imp.target)})"
        for imp in layers.upward(found)
    ]
    assert bad == []


def test_no_import_cycle_outside_the_simulator(found: list[layers.Import]) -> None:
    assert layers.forbidden_cycles(found) == []


def test_the_scanner_sees_the_package_as_it_is(found: list[layers.Import]) -> None:
    """Facts of today's tree the scanner must find, so an empty result above means something."""
    edges = layers.graph(found)
    assert "homeops.operations.health" in edges["homeops.app.runs"]  # module level
    # a function-level import (the sim's in-process host runner, imported when a host is first reached)
    assert any(i.source == "homeops.sim.attach" and i.target == "homeops.sim.hosts" and i.in_function for i in found)
    # importing homeops.lint.rules runs homeops/lint/__init__.py: an edge to the package too
    assert "homeops.lint" in edges["homeops.tasks.repo"]
    # the simulator's own cycles are there (and allowed)
    assert any(all(m.startswith("homeops.sim.") for m in c) for c in layers.cycles(edges))


@pytest.fixture(scope="module")
def calls() -> dict[str, set[str]]:
    """Module -> the names it calls (``Executor(...)``, ``x.attach(...)``), from the source."""
    out: dict[str, set[str]] = {}
    for module, path in layers.module_names(PACKAGE).items():
        names = out.setdefault(module, set())
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                func = node.func
                names.add(func.id if isinstance(func, ast.Name) else getattr(func, "attr", ""))
    return out


def test_the_run_is_wired_in_the_composition_root_only(calls: dict[str, set[str]]) -> None:
    """Executors are built in homeops.app; a Runtime by app (real) or by the simulator's attach (SIMULATED),
    and the backend is chosen in app.backend alone."""

    def callers(name: str) -> set[str]:
        return {module for module, names in calls.items() if name in names}

    assert callers("Executor") == {"homeops.app.runs"}
    assert callers("Runtime") == {"homeops.app.backend", "homeops.sim.attach"}
    assert callers("attach") - {"homeops.sops.stores.yaml_store"} == {"homeops.app.backend"}  # its own attach()


# ----------------------------------------------------------------------------------- the test of the test


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    target = tmp_path / "homeops"
    shutil.copytree(PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "hostimage", "example"))
    return target


def plant(package: Path, module: str, code: str) -> None:
    path = package / module
    path.write_text(path.read_text(encoding="utf-8") + "\n\n" + code + "\n", encoding="utf-8")


def test_a_planted_upward_import_inside_a_function_fails(copy: Path) -> None:
    plant(copy, "engine/plan.py", "def _sneaky() -> None:\n    from homeops.app.runs import Options  # noqa\n")
    bad = layers.upward(layers.imports(copy))
    assert [(i.source, i.target, i.in_function) for i in bad] == [
        ("homeops.engine.plan", "homeops.app", True),
        ("homeops.engine.plan", "homeops.app.runs", True),
    ]
    assert bad[1].describe().startswith("homeops.engine.plan:")


def test_a_planted_upward_import_at_module_level_fails(copy: Path) -> None:
    plant(copy, "runtime.py", "import homeops.sim.attach")
    assert {(i.source, i.target) for i in layers.upward(layers.imports(copy))} == {
        ("homeops.runtime", "homeops.sim"),
        ("homeops.runtime", "homeops.sim.attach"),
    }


def test_an_upward_import_for_type_checking_only_is_allowed(copy: Path) -> None:
    plant(
        copy,
        "runtime.py",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from homeops.app.runs import Options",
    )
    assert layers.upward(layers.imports(copy)) == []


def test_a_planted_cycle_fails(copy: Path) -> None:
    plant(copy, "operations/facts.py", "def _back() -> None:\n    from homeops.operations import observe  # noqa\n")
    found = layers.imports(copy)
    assert layers.upward(found) == []  # same layer: only the cycle is wrong
    assert layers.forbidden_cycles(found) == [["homeops.operations.facts", "homeops.operations.observe"]]


def test_a_package_init_imported_back_by_its_module_is_a_cycle(copy: Path) -> None:
    # homeops/lint/__init__.py re-exports homeops.lint.findings; a name taken back from the package closes a cycle
    plant(copy, "lint/findings.py", "def _back() -> None:\n    from homeops.lint import lint_repo  # noqa\n")
    (cycle,) = layers.forbidden_cycles(layers.imports(copy))
    assert {"homeops.lint", "homeops.lint.findings"} <= set(cycle)


def test_a_cycle_inside_the_simulator_is_allowed(copy: Path) -> None:
    plant(copy, "sim/clock.py", "def _back() -> None:\n    from homeops.sim import attach  # noqa\n")
    assert layers.forbidden_cycles(layers.imports(copy)) == []


def test_a_module_missing_from_the_table_fails(copy: Path) -> None:
    (copy / "newthing.py").write_text("from homeops.errors import HomeopsError\n", encoding="utf-8")
    bad = layers.upward(layers.imports(copy))
    assert [(i.source, i.target) for i in bad] == [("homeops.newthing", "homeops.errors")]
