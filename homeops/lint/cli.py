"""What ``inv repo.lint`` / ``inv repo.validate`` and ``python -m homeops.lint`` (the pre-commit hook)
share: resolve the options, run, print, and return the exit code (0 clean, 1 findings).

Bad input raises ``ConfigError`` (exit 2, one line). Findings go to stdout in the chosen format
(``text``: ``path:line: rule message``; ``json``; ``sarif``; ``github``); the accounting summary
goes to stderr. Exit 1 when an error or warning finding is left (info findings are for the record).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from homeops.errors import ConfigError
from homeops.lint.config import check_rule_names, load_config, load_repo_config
from homeops.lint.engine import LintResult, lint_repo
from homeops.lint.findings import RULES, SEVERITY
from homeops.lint.fixorder import fix_file
from homeops.lint.output import FORMATS, Item, render
from homeops.lint.repo import YAML_SUFFIXES, load_repo
from homeops.lint.validate import validate_all


def default_path() -> Path:
    """``kubernetes/`` when run from a home-ops repository's root, else the current directory."""
    return Path("kubernetes") if Path("kubernetes").is_dir() else Path(".")


def _root(path: str | None) -> Path:
    if path is not None and not str(path).strip():
        raise ConfigError("--path is empty", hint="pass the directory to check, e.g. --path kubernetes")
    root = Path(path) if path else default_path()
    if not root.exists():
        raise ConfigError("no such directory", field="--path", hint=f"{root} does not exist")
    if not root.is_dir():
        raise ConfigError("is not a directory", field="--path", hint=f"{root} is a file; pass its folder")
    return root


def _only(root: Path, files: Sequence[str]) -> tuple[set[str], list[str]]:
    """Relative paths (to ``root``) of the YAML files among ``files``; the others are listed as ignored."""
    base = root.resolve()
    keep: set[str] = set()
    ignored: list[str] = []
    for name in files:
        target = Path(name)
        if not target.exists():
            raise ConfigError("no such file", field=f"--file {name}", hint="pass files that exist")
        if not name.endswith(YAML_SUFFIXES):
            ignored.append(name)
            continue
        try:
            keep.add(target.resolve().relative_to(base).as_posix())
        except ValueError:
            ignored.append(name)
    return keep, ignored


REPO_CONFIG = ".homeops-lint.yaml"


def _check_format(fmt: str, as_json: bool) -> str:
    fmt = "json" if as_json and fmt == "text" else fmt
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}", field="--format", hint=f"use one of {', '.join(FORMATS)}")
    return fmt


def _display_prefix(root: Path) -> str:
    """``root`` relative to the repository root (``kubernetes/`` when --path is kubernetes), or ''."""
    base = root.resolve()
    for folder in (base, *base.parents):
        if (folder / ".git").exists():
            rel = base.relative_to(folder).as_posix()
            return "" if rel == "." else rel + "/"
    return ""


def _repo_config(root: Path, explicit: str | None) -> Path | None:
    """The per-repository exceptions file: --config, else ``.homeops-lint.yaml`` in --path or in the
    repository root above it."""
    if explicit is not None:
        target = Path(explicit)
        if not target.is_file():
            raise ConfigError("no such file", field="--config", hint=f"{explicit} does not exist")
        return target
    base = root.resolve()
    for folder in (base, *base.parents):
        if (folder / REPO_CONFIG).is_file():
            return folder / REPO_CONFIG
        if (folder / ".git").exists():
            break
    return None


def run_lint(
    *,
    path: str | None = None,
    rules: Sequence[str] = (),
    skip: Sequence[str] = (),
    as_json: bool = False,
    fmt: str = "text",
    fix_order: bool = False,
    files: Sequence[str] | None = None,
    inventory: Path | None = None,
    inventory_explicit: bool = False,
    config_file: str | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Lint and print; ``inventory`` is the folder whose ``homeops.yaml`` holds the ``lint:`` section
    (it must exist when the user named it). Exit 1 when an error or warning finding is left."""
    out = out or sys.stdout
    err = err or sys.stderr
    fmt = _check_format(fmt, as_json)
    root = _root(path)
    for rule in (*rules, *skip):
        if not rule.strip():
            raise ConfigError("--rule/--skip is empty", hint="name a rule, e.g. --rule rwo-recreate")
    wanted = set(check_rule_names(rules, "--rule")) if rules else set(RULES)
    wanted -= check_rule_names(skip, "--skip")
    if inventory is not None and inventory_explicit and not inventory.is_dir():
        raise ConfigError("no such directory", field="--inventory", hint=f"{inventory} does not exist")
    config = load_config(inventory / "homeops.yaml" if inventory is not None else None)
    repo_file = _repo_config(root, config_file)
    if repo_file is not None:
        config = config.merged(load_repo_config(repo_file))
    prefix = _display_prefix(root)
    only: set[str] | None = None
    if files is not None:
        only, ignored = _only(root, files)
        if ignored:
            print(f"repo.lint: not linted (not YAML under {root}): {', '.join(ignored)}", file=err)
    repo = load_repo(root)
    if fix_order:
        fixed = _fix_order(repo.root, lint_repo(root, rules=["sorted-resources"], config=config, only=only, repo=repo))
        for line in fixed:
            print(line, file=err)
        repo = load_repo(root)
    result = lint_repo(root, rules=sorted(wanted), config=config, only=only, repo=repo, prefix=prefix)
    items = [Item(prefix + f.path, f.line, f.rule, f.severity, f.message) for f in result.findings]
    out.write(render(items, fmt, tool="homeops repo.lint", rules=RULES, severities=SEVERITY))
    if only is None:  # the accounting: what was not linted as Kubernetes, and why
        for account in result.files:
            if account.status == "skipped":
                print(f"{prefix}{account.path}: skipped: {account.reason}", file=err)
    print(result.summary(), file=err)
    return 1 if result.failing else 0


def _writable(path: Path) -> bool:
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def _fix_order(base: Path, result: LintResult) -> list[str]:
    messages: list[str] = []
    targets = sorted({f.path for f in result.findings if f.rule == "sorted-resources"})
    # Refuse before touching anything, so a read-only tree is not left half sorted.
    blocked = [
        rel for rel in targets if not (os.access(base / rel, os.W_OK) and os.access((base / rel).parent, os.W_OK))
    ]
    if blocked:
        raise ConfigError(
            f"cannot write {blocked[0]}" + (f" and {len(blocked) - 1} more" if len(blocked) > 1 else ""),
            field="--fix-order",
            hint="nothing was changed; make the files writable or run without --fix-order",
        )
    for rel in targets:
        try:
            outcome = fix_file(base / rel)
        except OSError as exc:
            raise ConfigError(
                f"cannot rewrite {rel}: {exc.strerror or exc}",
                field="--fix-order",
                hint=f"{len(messages)} file(s) were sorted before this one; the file itself is unchanged",
            ) from None
        if outcome.changed:
            messages.append(f"{rel}: resources sorted")
        elif outcome.skipped_reason:
            messages.append(f"{rel}: resources left as they are ({outcome.skipped_reason}); sort them by hand")
    return messages


VALIDATE_CHECKS = {
    "yaml": "every YAML file parses as go-yaml (Flux) reads it",
    "kustomize": "every Flux Kustomization builds as kustomize-controller builds it",
    "chart-source": "every HelmRelease's chart source exists",
}


def run_validate(
    *,
    path: str | None = None,
    as_json: bool = False,
    fmt: str = "text",
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Validate and print; exit 1 only on errors (what Flux would fail on among what it deploys)."""
    out = out or sys.stdout
    err = err or sys.stderr
    fmt = _check_format(fmt, as_json)
    root = _root(path)
    prefix = _display_prefix(root)
    repo = load_repo(root)
    problems = validate_all(root, repo=repo)
    items = [Item(prefix + p.path, p.line, p.check, p.severity, p.message) for p in problems]
    out.write(
        render(
            items,
            fmt,
            tool="homeops repo.validate",
            rules=VALIDATE_CHECKS,
            severities=dict.fromkeys(VALIDATE_CHECKS, "error"),
        )
        if fmt != "text"
        else "".join(f"{prefix}{p}\n" for p in problems)
    )
    errors = sum(1 for p in problems if p.severity == "error")
    builds = sum(1 for ks in repo.flux if ks.path_dir is not None)
    print(
        f"repo.validate: {len(repo.files)} YAML files parsed, {builds} Flux Kustomizations built as Flux builds "
        f"them, {sum(1 for _ in repo.objects_of_kind('HelmRelease'))} HelmRelease chart sources checked; "
        f"{errors} errors, {len(problems) - errors} notes",
        file=err,
    )
    return 1 if errors else 0
