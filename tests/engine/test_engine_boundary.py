"""The engine knows no tool: its modules import no adapter, simulator, host or workflow code, and
its step handling names no Talos/Helm/Proxmox thing. Parsed with ``ast``, so a new module or a
late (function-level) import is covered too."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import homeops.engine

ENGINE = Path(homeops.engine.__file__).parent
FORBIDDEN_IMPORTS = (
    "homeops.adapters",
    "homeops.sim",
    "homeops.backupstore",
    "homeops.app",
    "homeops.operations",
    "homeops.tasks",
    "homeops.inventory",
    "homeops.runtime",
    "homeops.ssh",
    "homeops.sops",
)
#: Words of the tools and workflows built on the engine, as whole words in identifiers and strings.
TOOL_WORDS = re.compile(
    r"(?i)(?<![a-z])(talos\w*|helm\w*|etcd|proxmox|pve|qm|flux|kubectl|kubernetes|k8s|truenas|schematic|sops)(?![a-z])"
)
#: The modules that handle steps; ``plan`` holds the data a step carries and is checked for imports only.
STEP_HANDLING = ("executor", "kinds", "gates", "waits", "journal", "lock", "progress", "report", "text")


def modules() -> list[Path]:
    found = sorted(ENGINE.glob("*.py"))
    assert {p.stem for p in found} >= {"executor", "plan", "kinds", "journal"}
    return found


def imported(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def code_words(tree: ast.AST) -> list[str]:
    """Identifiers and string constants, without docstrings (prose may name examples)."""
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    words = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.arg)):
            words.append(node.name if not isinstance(node, ast.arg) else node.arg)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
            words.append(node.value)
    return words


def test_engine_imports_no_tool_host_simulator_or_workflow_module() -> None:
    bad = []
    for path in modules():
        for name in imported(ast.parse(path.read_text(encoding="utf-8"))):
            if name.startswith(FORBIDDEN_IMPORTS):
                bad.append(f"{path.name}: {name}")
    assert bad == []


def test_engine_step_handling_names_no_tool() -> None:
    bad = []
    for path in modules():
        if path.stem not in STEP_HANDLING:
            continue
        for word in code_words(ast.parse(path.read_text(encoding="utf-8"))):
            if TOOL_WORDS.search(word):
                bad.append(f"{path.name}: {word!r}")
    assert bad == []


def test_the_rule_would_catch_a_late_import_and_a_tool_word() -> None:
    tree = ast.parse("def f():\n    from homeops.adapters import talosctl\n    return 'talosctl upgrade'\n")
    assert any(n.startswith(FORBIDDEN_IMPORTS) for n in imported(tree))
    assert any(TOOL_WORDS.search(w) for w in code_words(tree))
