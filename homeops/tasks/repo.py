"""Tasks of the `repo` namespace: the repository's written rules and its pre-commit validation.

``repo.lint`` checks the Critical Rules (Recreate for RWO Deployments, no metadata.namespace, pinned
images, no raw Secrets/ConfigMaps, …) as the cluster will run them; ``repo.validate`` parses every
file, builds every Flux Kustomization with the real ``kubectl kustomize`` and checks chart sources.
Exit 0 clean, 1 findings/problems, 2 bad input.
"""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import each, task

ns = Collection("repo")

_PATH_HELP = "directory to check (default: ./kubernetes if present, else .)"


_FORMAT_HELP = "text (default), json, sarif (SARIF 2.1.0) or github (::error file=…,line=… annotations)"


@task(
    iterable=["rule", "skip", "file"],
    help={
        "path": _PATH_HELP,
        "rule": "only this rule (repeat for several): " + "rwo-recreate, statefulset-strategy, no-namespace, …",
        "skip": "every rule but this one (repeatable)",
        "format": _FORMAT_HELP + "; paths relative to the repository root",
        "config": "the repository's exceptions file (default: .homeops-lint.yaml at the repository root)",
        "json": "same as --format json: a sorted list of {path, line, rule, severity, message}",
        "fix_order": "sort kustomization.yaml resources: in place (comments kept), then report what is left",
        "file": "report only this file (repeatable; what the pre-commit hook passes)",
        "inventory": "inventory directory whose homeops.yaml has the lint: section (default: ./inventory)",
    },
)
@user_errors
def lint(
    c: Any,
    path: str | None = None,
    rule: list[str] | None = None,
    skip: list[str] | None = None,
    format: str = "text",
    config: str | None = None,
    json: bool = False,
    fix_order: bool = False,
    file: list[str] | None = None,
    inventory: str | None = None,
) -> None:
    """Lint what Flux deploys against the repository's Critical Rules; `path:line: rule message`."""
    from homeops.lint.cli import run_lint

    code = run_lint(
        path=path,
        rules=each("rule", rule),
        skip=each("skip", skip),
        fmt=format,
        config_file=config,
        as_json=json,
        fix_order=fix_order,
        files=each("file", file) or None,
        inventory=inventory_dir(c, inventory),
        inventory_explicit=bool(inventory),
    )
    if code:
        raise Exit(code=code)


@task(
    help={
        "path": _PATH_HELP,
        "format": _FORMAT_HELP,
        "json": "same as --format json: a sorted list of {path, line, check, severity, message}",
    }
)
@user_errors
def validate(c: Any, path: str | None = None, format: str = "text", json: bool = False) -> None:
    """Build what Flux would build (every YAML parses, every Flux Kustomization builds, chart sources
    exist); exit 1 only on errors in what Flux deploys, notes for what cannot be checked."""
    from homeops.lint.cli import run_validate

    code = run_validate(path=path, as_json=json, fmt=format)
    if code:
        raise Exit(code=code)


for _t in (lint, validate):
    ns.add_task(_t)
