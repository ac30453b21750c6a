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


@task(
    iterable=["rule", "file"],
    help={
        "path": _PATH_HELP,
        "rule": "only this rule (repeat for several): " + "rwo-recreate, statefulset-strategy, no-namespace, …",
        "json": "findings as one sorted JSON list of {path, line, rule, message} (paths relative to --path)",
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
    json: bool = False,
    fix_order: bool = False,
    file: list[str] | None = None,
    inventory: str | None = None,
) -> None:
    """Lint Kubernetes YAML against the repository's Critical Rules; `path:line: rule message`."""
    from homeops.lint.cli import run_lint

    code = run_lint(
        path=path,
        rules=each("rule", rule),
        as_json=json,
        fix_order=fix_order,
        files=each("file", file) or None,
        inventory=inventory_dir(c, inventory),
        inventory_explicit=bool(inventory),
    )
    if code:
        raise Exit(code=code)


@task(help={"path": _PATH_HELP, "json": "problems as one sorted JSON list of {path, line, check, message}"})
@user_errors
def validate(c: Any, path: str | None = None, json: bool = False) -> None:
    """Every YAML parses, `kubectl kustomize` builds every Flux Kustomization, chart sources exist."""
    from homeops.lint.cli import run_validate

    code = run_validate(path=path, as_json=json)
    if code:
        raise Exit(code=code)


for _t in (lint, validate):
    ns.add_task(_t)
