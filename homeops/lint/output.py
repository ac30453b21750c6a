"""How findings are printed: ``text`` (``path:line: rule message``), ``json``, ``sarif`` (SARIF 2.1.0,
what GitHub code scanning uploads) and ``github`` (workflow commands: an annotation per finding).

Every path is relative to the repository root (the folder with ``.git`` above ``--path``, else
``--path`` itself), so an annotation or a SARIF location lands on the right file in CI.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

FORMATS = ("text", "json", "sarif", "github")
_SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note", "note": "note"}
_GITHUB_COMMAND = {"error": "error", "warning": "warning", "info": "notice", "note": "notice"}
_INFO_URI = "https://github.com/homeops/homeops#repo-lint"


@dataclass(frozen=True)
class Item:
    """One finding or validation problem, ready to print."""

    path: str
    line: int
    rule: str
    severity: str
    message: str


def render(
    items: Sequence[Item],
    fmt: str,
    *,
    tool: str,
    rules: Mapping[str, str],
    severities: Mapping[str, str],
) -> str:
    if fmt == "json":
        return json.dumps([_as_dict(i) for i in items], indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(sarif(items, tool=tool, rules=rules, severities=severities), indent=2) + "\n"
    if fmt == "github":
        return "".join(github_line(i) + "\n" for i in items)
    return "".join(f"{i.path}:{i.line}: {i.rule} {i.message}\n" for i in items)


def _as_dict(item: Item) -> dict[str, object]:
    return {
        "path": item.path,
        "line": item.line,
        "rule": item.rule,
        "severity": item.severity,
        "message": item.message,
    }


def sarif(
    items: Sequence[Item], *, tool: str, rules: Mapping[str, str], severities: Mapping[str, str]
) -> dict[str, object]:
    """A SARIF 2.1.0 log: one run, every rule described (id, description, default level), every
    result pointing at ``path`` (relative to ``%SRCROOT%``) and ``line``."""
    ids = sorted(set(rules) | {i.rule for i in items})
    index = {rule: n for n, rule in enumerate(ids)}
    descriptors = [
        {
            "id": rule,
            "name": "".join(part.capitalize() for part in rule.split("-")),
            "shortDescription": {"text": rules.get(rule, rule)},
            "fullDescription": {"text": rules.get(rule, rule)},
            "defaultConfiguration": {"level": _SARIF_LEVEL.get(severities.get(rule, "error"), "error")},
            "helpUri": f"{_INFO_URI}-{rule}",
        }
        for rule in ids
    ]
    results = [
        {
            "ruleId": item.rule,
            "ruleIndex": index[item.rule],
            "level": _SARIF_LEVEL.get(item.severity, "error"),
            "message": {"text": item.message},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": item.path, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": max(1, item.line)},
                    }
                }
            ],
        }
        for item in items
    ]
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": {"name": tool, "informationUri": _INFO_URI, "rules": descriptors}},
                "originalUriBaseIds": {"%SRCROOT%": {"description": {"text": "the repository root"}}},
                "results": results,
            }
        ],
    }


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_line(item: Item) -> str:
    """``::error file=…,line=…,title=…::message`` (GitHub Actions workflow command, escaped as the
    runner expects: ``%``, CR and LF everywhere, ``:`` and ``,`` in properties)."""
    command = _GITHUB_COMMAND.get(item.severity, "error")
    props = f"file={_escape_property(item.path)},line={max(1, item.line)},title={_escape_property(item.rule)}"
    return f"::{command} {props}::{_escape_data(item.message)}"
