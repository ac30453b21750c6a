"""``lint_repo``: every rule over every YAML file, with exceptions applied and each file accounted for."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from homeops.lint.config import BAD_IGNORE, InlineIgnores, LintConfig, inline_ignores
from homeops.lint.findings import PARSE_ERROR, RULES, Finding
from homeops.lint.repo import Repo, YamlFile, load_repo
from homeops.lint.repo_rules import backup_coverage, shared_database
from homeops.lint.rules import FileLinter


@dataclass(frozen=True)
class FileAccount:
    path: str
    status: str  # linted | skipped | parse-error
    reason: str


@dataclass(frozen=True)
class LintResult:
    root: Path
    findings: tuple[Finding, ...]
    files: tuple[FileAccount, ...]
    suppressed: int

    @property
    def failing(self) -> bool:
        """An error or warning finding (info findings are for the record)."""
        return any(f.severity != "info" for f in self.findings)

    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.rule for f in self.findings).items()))

    def summary(self) -> str:
        """One line: how many files were linted / skipped / unparsable, and the findings per rule."""
        status = Counter(f.status for f in self.files)
        reasons = Counter(f.reason.split(" (")[0] for f in self.files if f.status == "skipped")
        skipped = ", ".join(f"{n} {r}" for r, n in sorted(reasons.items()))
        per_rule = ", ".join(f"{rule} {n}" for rule, n in self.counts().items()) or "none"
        return (
            f"repo.lint: {len(self.files)} YAML files: {status['linted']} linted, {status['skipped']} skipped"
            f"{f' ({skipped})' if skipped else ''}, {status['parse-error']} parse errors; "
            f"{len(self.findings)} findings ({per_rule}); {self.suppressed} silenced by exceptions"
        )


_UNREFERENCED = (
    "no Flux Kustomization deploys this file (is it commented out of its kustomization.yaml, or applied "
    "by hand?); the other rules do not judge it"
)


def lint_repo(
    path: str | Path,
    *,
    rules: Iterable[str] | None = None,
    config: LintConfig | None = None,
    only: Iterable[str] | None = None,
    repo: Repo | None = None,
    prefix: str = "",
) -> LintResult:
    """Lint the YAML files under ``path``. ``only``: report just these files (relative paths); the
    whole tree is still read, because a rule may need another file (the PVC a Deployment mounts).
    ``prefix``: the linted folder relative to the repository root, so exceptions written from the
    repository root match too."""
    repo = repo or load_repo(path)
    config = config or LintConfig()
    wanted = frozenset(rules) if rules is not None else frozenset(RULES)
    keep = frozenset(only) if only is not None else None
    findings: set[Finding] = set()
    candidates: set[Finding] = set()
    judged: list[YamlFile] = []
    for rel, file in sorted(repo.files.items()):
        if keep is not None and rel not in keep:
            continue
        if file.status == "parse-error":
            line = file.error.line if file.error else 1
            if repo.is_deployed(rel) or rel in repo.generator_inputs or rel in repo.patch_files:
                findings.add(Finding(rel, line, PARSE_ERROR, f"YAML does not parse: {file.reason}"))
            elif "unreferenced" in wanted:
                findings.add(Finding(rel, line, "unreferenced", f"{_UNREFERENCED}; it does not parse: {file.reason}"))
            continue
        if file.status != "linted":
            continue
        if not repo.is_deployed(rel):
            # judged by nothing else: its findings would be about something the cluster never runs
            finding = Finding(rel, 1, "unreferenced", _UNREFERENCED)
            if "unreferenced" in wanted and config.allows(finding, prefix):
                findings.add(finding)
            continue
        judged.append(file)
        ignores = inline_ignores(file.text)
        # Reported whatever --rule or homeops.yaml say: a broken ignore comment must never pass unseen.
        for line, why in ignores.problems if ignores else ():
            findings.add(Finding(rel, line, BAD_IGNORE, why))
        candidates.update(FileLinter(repo, file).run())
    if "shared-database" in wanted:
        candidates.update(shared_database(repo, judged))
    if "backup-coverage" in wanted:
        candidates.update(backup_coverage(repo, judged))
    suppressed = 0
    ignores_of: dict[str, InlineIgnores | None] = {}
    for finding in candidates:
        if finding.rule not in wanted or (keep is not None and finding.path not in keep):
            continue
        if finding.path not in ignores_of:
            source = repo.files.get(finding.path)
            ignores_of[finding.path] = inline_ignores(source.text) if source is not None else None
        ignores = ignores_of[finding.path]
        if not config.allows(finding, prefix) or (ignores is not None and ignores.silences(finding)):
            suppressed += 1
            continue
        findings.add(finding)
    accounts = tuple(
        FileAccount(rel, f.status, f.reason) for rel, f in sorted(repo.files.items()) if keep is None or rel in keep
    )
    return LintResult(repo.root, tuple(sorted(findings)), accounts, suppressed)
