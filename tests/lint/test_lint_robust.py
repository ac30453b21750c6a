"""Never a crash: every real document with one subtree swapped for a value of the wrong shape."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from homeops.lint.engine import lint_repo
from tests.lint.lint_helpers import BJWS, write

ODD_VALUES: list[Any] = [None, "", "${UNSET}", "{{ .Values.x }}", 0, -1, True, [], {}, [None], {"x": None}, 1.5]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*prefix, index))
    return found


def _replace(node: Any, path: tuple[Any, ...], value: Any) -> None:
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


def test_lint_survives_wrongly_shaped_values(tmp_path: Path) -> None:
    rng = random.Random(14)
    sources = sorted((BJWS / "kubernetes/apps/media").rglob("*.yaml"))
    assert sources
    for number in range(300):
        source = rng.choice(sources)
        docs = [d for d in yaml.safe_load_all(source.read_text()) if d is not None]
        doc = rng.choice(docs)
        paths = _paths(doc)
        if not paths:
            continue
        _replace(doc, rng.choice(paths), rng.choice(ODD_VALUES))
        rel = source.relative_to(BJWS).as_posix()
        write(tmp_path, f"case{number % 20}/{rel}", "---\n" + yaml.safe_dump(doc))
    result = lint_repo(tmp_path)
    assert len(result.files) > 0
    assert all(f.status in ("linted", "skipped") for f in result.files)
