"""Where users switch rules off: the ``lint:`` section of the inventory's ``homeops.yaml`` and
inline ``# homeops: ignore[rule-name] reason`` comments.

```yaml
lint:
  disable: [sorted-resources]                  # rules off everywhere
  exceptions:                                   # rules off for some files, always with a reason
    - path: kubernetes/apps/media/jellyfin/**   # glob, relative to the linted directory
      rules: [no-loadbalancer]
      reason: DLNA needs an L2 address
```

The same two keys, at the top level, in ``.homeops-lint.yaml`` at the repository's root (or the
file ``--config`` names) keep a repository's exceptions with the repository; its paths are relative
to the repository root. Both sources apply.

An inline comment on the offending line silences that line; on a line of its own it silences the
whole YAML document it sits in. Several rules: ``ignore[rootless,drop-all]``. A comment that names
no rule, an unknown rule, or gives no reason silences nothing and is itself reported as
``bad-ignore`` (which no exception can silence): a typo never hides a finding.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from homeops.errors import ConfigError
from homeops.lint.findings import RULES, Finding

_KNOWN_KEYS = {"disable", "exceptions"}
_EXCEPTION_KEYS = {"path", "rules", "reason"}
_INLINE = re.compile(r"#\s*homeops:\s*ignore\[([^\]]*)\](.*)$")

#: Not a rule that can be switched off: an inline ignore comment that cannot be honoured.
BAD_IGNORE = "bad-ignore"
_SEPARATOR = re.compile(r"^---(\s|$)")


@dataclass(frozen=True)
class PathException:
    pattern: str
    rules: frozenset[str]
    reason: str

    def covers(self, finding: Finding, prefix: str = "") -> bool:
        if finding.rule not in self.rules:
            return False
        folder = self.pattern.rstrip("/") + "/"
        for path in {finding.path, prefix + finding.path}:
            if fnmatch.fnmatchcase(path, self.pattern) or path.startswith(folder):
                return True
        return False


@dataclass(frozen=True)
class LintConfig:
    disabled: frozenset[str] = frozenset()
    exceptions: tuple[PathException, ...] = field(default_factory=tuple)

    def allows(self, finding: Finding, prefix: str = "") -> bool:
        if finding.rule in self.disabled:
            return False
        return not any(exc.covers(finding, prefix) for exc in self.exceptions)

    def merged(self, other: LintConfig) -> LintConfig:
        return LintConfig(self.disabled | other.disabled, (*self.exceptions, *other.exceptions))


def check_rule_names(names: Iterable[str], where: str) -> frozenset[str]:
    wanted = frozenset(names)
    unknown = sorted(wanted - RULES.keys())
    if unknown:
        raise ConfigError(
            f"unknown rule {', '.join(repr(u) for u in unknown)}",
            field=where,
            hint=f"rules are: {', '.join(RULES)}",
        )
    return wanted


def load_config(manifest: Path | None) -> LintConfig:
    """The ``lint:`` section of ``homeops.yaml``; no file or no section means every rule on."""
    if manifest is None or not manifest.is_file():
        return LintConfig()
    try:
        data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read: {' '.join(str(exc).split())}", file=str(manifest)) from None
    section = data.get("lint") if isinstance(data, dict) else None
    if section is None:
        return LintConfig()
    return parse_section(section, str(manifest))


def load_repo_config(path: Path) -> LintConfig:
    """A repository's own exceptions file (``.homeops-lint.yaml`` at its root, or ``--config``): the
    same keys as the ``lint:`` section, paths relative to the repository root."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read: {' '.join(str(exc).split())}", file=str(path)) from None
    if data is None:
        return LintConfig()
    return parse_section(data, str(path))


def parse_section(section: Any, file: str) -> LintConfig:
    if not isinstance(section, dict):
        raise ConfigError("must be a mapping with 'disable' and/or 'exceptions'", file=file, field="lint")
    unknown = sorted(set(map(str, section)) - _KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown key {', '.join(repr(u) for u in unknown)}",
            file=file,
            field="lint",
            hint="lint: takes 'disable' (rule names) and 'exceptions' (path, rules, reason)",
        )
    disable = section.get("disable") or []
    if not isinstance(disable, list) or not all(isinstance(r, str) for r in disable):
        raise ConfigError("must be a list of rule names", file=file, field="lint.disable")
    disabled = check_rule_names(disable, f"{file}: lint.disable")
    raw_exceptions = section.get("exceptions") or []
    if not isinstance(raw_exceptions, list):
        raise ConfigError("must be a list of {path, rules, reason}", file=file, field="lint.exceptions")
    exceptions: list[PathException] = []
    for index, item in enumerate(raw_exceptions):
        where = f"lint.exceptions[{index}]"
        if not isinstance(item, dict):
            raise ConfigError("must be a mapping with path, rules and reason", file=file, field=where)
        extra = sorted(set(map(str, item)) - _EXCEPTION_KEYS)
        if extra:
            raise ConfigError(
                f"unknown key {', '.join(repr(e) for e in extra)}",
                file=file,
                field=where,
                hint="use path, rules, reason",
            )
        pattern, rules, reason = item.get("path"), item.get("rules"), item.get("reason")
        if not isinstance(pattern, str) or not pattern.strip():
            raise ConfigError("needs a 'path' (a glob relative to the linted directory)", file=file, field=where)
        if isinstance(rules, str):
            rules = [rules]
        if not isinstance(rules, list) or not rules or not all(isinstance(r, str) for r in rules):
            raise ConfigError("needs 'rules': a list of rule names", file=file, field=where)
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError("needs a 'reason': say why the rule does not apply here", file=file, field=where)
        names = check_rule_names(rules, f"{file}: {where}.rules")
        exceptions.append(PathException(pattern.strip().removeprefix("./"), names, reason.strip()))
    return LintConfig(disabled, tuple(exceptions))


@dataclass(frozen=True)
class InlineIgnores:
    """Inline ignore comments of one file: per line, and per document (a comment on its own line)."""

    by_line: dict[int, frozenset[str]]
    by_region: dict[int, frozenset[str]]
    separators: tuple[int, ...]
    problems: tuple[tuple[int, str], ...] = ()  # (line, why) of comments that silence nothing

    def region(self, line: int) -> int:
        return sum(1 for sep in self.separators if sep <= line)

    def silences(self, finding: Finding) -> bool:
        rules = self.by_line.get(finding.line, frozenset()) | self.by_region.get(self.region(finding.line), frozenset())
        return finding.rule in rules


def inline_ignores(text: str) -> InlineIgnores | None:
    if "homeops:" not in text:
        return None
    by_line: dict[int, frozenset[str]] = {}
    own_line: dict[int, frozenset[str]] = {}
    separators: list[int] = []
    problems: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if _SEPARATOR.match(line):
            separators.append(number)
        match = _INLINE.search(line)
        if not match:
            continue
        rules = frozenset(r.strip() for r in match.group(1).split(",") if r.strip())
        problem = _ignore_problem(match.group(1), rules, match.group(2))
        if problem:
            problems.append((number, problem))
            continue
        if line.lstrip().startswith("#"):
            own_line[number] = rules
        else:
            by_line[number] = rules
    ignores = InlineIgnores(by_line, {}, tuple(separators))
    by_region: dict[int, frozenset[str]] = {}
    for number, rules in own_line.items():
        region = ignores.region(number)
        by_region[region] = by_region.get(region, frozenset()) | rules
    return InlineIgnores(by_line, by_region, tuple(separators), tuple(problems))


def _ignore_problem(raw: str, rules: frozenset[str], reason: str) -> str | None:
    """Why ``# homeops: ignore[raw] reason`` cannot be honoured, or None."""
    comment = f"# homeops: ignore[{raw}]"
    if not rules:
        return f"{comment} names no rule; it silences nothing"
    unknown = sorted(rules - RULES.keys())
    if unknown:
        guesses = [difflib.get_close_matches(u, RULES, n=1) for u in unknown]
        hint = "; ".join(f"did you mean '{g[0]}'?" for g in guesses if g)
        return f"{comment}: unknown rule {', '.join(repr(u) for u in unknown)}; it silences nothing" + (
            f" ({hint})" if hint else ""
        )
    if not reason.strip():
        return f"{comment} gives no reason; it silences nothing until it says why the rule does not apply here"
    return None
