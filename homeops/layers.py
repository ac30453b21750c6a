"""The layers of homeops, and the import graph that must respect them.

Imports run one way, from a higher layer to a lower or equal one::

    6  tasks                                  the Invoke tasks: parse options, call app
    5  app                                    the composition root: inventory + options -> a run
    4  operations, policies, lint, status,    workflows (observe, plan), run policies, checks
       sim.rehearsal
    3  engine, adapters, sim, fanout,         the executor, one module per tool, the simulator,
       backupstore                            the NAS backup directory
    2  inventory, sops, runtime, upgradepath, the model of the user's files, the runtime value,
       snapshotsum                            the etcd snapshot file format
    1  runners, ssh                           the one seam that runs commands
    0  errors, clock, secrets, privatefs,     leaves
       layers

No module imports a higher layer, not even inside a function (``if TYPE_CHECKING:`` blocks aside:
they never run). Outside ``homeops/sim`` there is no import cycle. Importing ``homeops.lint.rules``
runs ``homeops/lint/__init__.py`` first, so it counts as an import of the package ``homeops.lint``
too (for a module outside that package; inside it, the package is already running).

``sim.rehearsal`` sits at 4: a DR rehearsal runs the real workflows against the simulator, with the
run's wiring handed to it by ``homeops.app``, so app -> sim.rehearsal -> operations holds no cycle.
``import homeops`` (the public API, ``homeops.__all__``, resolved lazily) is above everything.

``tests/test_layers.py`` enforces this table; ``scripts/structure`` prints the numbers.
Stdlib only: both read source files, nothing of homeops is imported.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

#: The layer of each module, by the longest dotted prefix that names it (``homeops.`` left off).
LAYERS: Mapping[str, int] = {
    "tasks": 6,
    "app": 5,
    "operations": 4,
    "policies": 4,
    "lint": 4,
    "status": 4,
    "sim.rehearsal": 4,
    "engine": 3,
    "adapters": 3,
    "sim": 3,
    "fanout": 3,
    "backupstore": 3,
    "inventory": 2,
    "sops": 2,
    "runtime": 2,
    "upgradepath": 2,
    "snapshotsum": 2,
    "runners": 1,
    "ssh": 1,
    "errors": 0,
    "clock": 0,
    "secrets": 0,
    "privatefs": 0,
    "layers": 0,
}

#: The layer of ``homeops`` itself (``homeops/__init__.py``).
TOP = 7

#: Where import cycles are allowed (the simulator's state and its tools call each other).
CYCLES_ALLOWED = ("homeops.sim",)


def layer_of(module: str) -> int | None:
    """The layer of ``homeops.x.y``; None for a module the table does not place."""
    if module == "homeops":
        return TOP
    name = module.removeprefix("homeops.")
    while name:
        if name in LAYERS:
            return LAYERS[name]
        name = name.rpartition(".")[0]
    return None


@dataclass(frozen=True)
class Import:
    """One import of a homeops module by another: where it is written and whether inside a function."""

    source: str
    target: str
    line: int
    in_function: bool

    def describe(self) -> str:
        where = "function-level " if self.in_function else ""
        return f"{self.source}:{self.line} {where}import of {self.target}"


def module_names(package_dir: Path) -> dict[str, Path]:
    """``homeops.x.y`` -> its file, for every module under ``package_dir`` (the ``homeops`` directory)."""
    names = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement with whether it sits in a function; ``if TYPE_CHECKING:`` bodies left out."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append((node, in_function))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for stmt in node.orelse:
                visit(stmt, in_function)
            return
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inside)

    visit(tree, False)
    return found


def _resolve(name: str, modules: Mapping[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _packages_of(module: str) -> list[str]:
    """``homeops.lint.rules`` -> [``homeops.lint``]: importing a module runs its packages' ``__init__``."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def _imported_names(
    node: ast.Import | ast.ImportFrom, source: str, is_package: bool, modules: Mapping[str, Path]
) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        base = source.split(".") if is_package else source.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        module = ".".join([*base, *([node.module] if node.module else [])])
    else:
        module = node.module or ""
    # ``from homeops.x import y``: y is the module homeops.x.y, or a name defined in homeops.x
    return [f"{module}.{a.name}" if f"{module}.{a.name}" in modules else module for a in node.names]


def imports(package_dir: Path) -> list[Import]:
    """Every import of one homeops module by another under ``package_dir``, ``TYPE_CHECKING`` aside."""
    modules = module_names(package_dir)
    found: list[Import] = []
    for source, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node, in_function in _import_nodes(tree):
            targets: set[str] = set()
            for name in _imported_names(node, source, path.name == "__init__.py", modules):
                if name != "homeops" and not name.startswith("homeops."):
                    continue
                target = _resolve(name, modules)
                if target is None or target == source:
                    continue
                targets.add(target)
                targets.update(p for p in _packages_of(target) if p in modules and not source.startswith(p + "."))
            found += [Import(source, t, node.lineno, in_function) for t in sorted(targets)]
    return found


def graph(found: Iterable[Import]) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = defaultdict(set)
    for imp in found:
        edges[imp.source].add(imp.target)
    return edges


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)

    for root in sorted(set(edges) | {t for ts in edges.values() for t in ts}):
        if root in index:
            continue
        visit(root)
        work = [(root, iter(sorted(edges.get(root, ()))))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    visit(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component: list[str] = []
                while not component or component[-1] != node:
                    component.append(stack.pop())
                    on_stack.discard(component[-1])
                if len(component) > 1:
                    out.append(sorted(component))
    return sorted(out)


def upward(found: Iterable[Import]) -> list[Import]:
    """Imports of a higher layer, and of or by a module the table does not place (add it to ``LAYERS``)."""
    bad = []
    for imp in found:
        source, target = layer_of(imp.source), layer_of(imp.target)
        if source is None or target is None or target > source:
            bad.append(imp)
    return bad


def forbidden_cycles(found: Iterable[Import]) -> list[list[str]]:
    """Import cycles with a module outside ``CYCLES_ALLOWED``."""

    def allowed(module: str) -> bool:
        return any(module == p or module.startswith(p + ".") for p in CYCLES_ALLOWED)

    return [c for c in cycles(graph(found)) if not all(allowed(m) for m in c)]
