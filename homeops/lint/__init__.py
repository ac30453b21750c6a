"""The repository's Critical Rules as software: ``lint_repo`` and ``validate_repo``.

    from homeops.lint import lint_repo, validate_repo
    result = lint_repo("kubernetes")          # LintResult: findings (sorted) and the per-file accounting
    problems = validate_repo("kubernetes")    # [] when YAML parses, kustomize builds, chart sources exist

Modules: ``yamlload`` (go-yaml-compatible loading with line numbers), ``substitute`` (Flux
variables), ``repo`` (files, Flux Kustomizations and what each deploys), ``workloads`` (what will run:
manifests and app-template), ``rules``, ``config`` (homeops.yaml ``lint:`` and inline ignores),
``engine``, ``fixorder``, ``validate``, ``cli`` (shared by the tasks and the pre-commit entry).
"""

from __future__ import annotations

from homeops.lint.engine import FileAccount, LintResult, lint_repo
from homeops.lint.findings import RULES, Finding
from homeops.lint.validate import Problem, validate_repo

__all__ = ["RULES", "FileAccount", "Finding", "LintResult", "Problem", "lint_repo", "validate_repo"]
