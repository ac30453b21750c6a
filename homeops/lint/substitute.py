"""Flux ``postBuild`` variable substitution, for the values that decide a rule.

Flux runs envsubst over a Kustomization's built YAML: ``${VAR}``, ``${VAR:=default}``,
``${VAR:-default}`` (nested defaults allowed, e.g. ``${KOPIUR_CLAIM:-${APP}}``), ``$${VAR}`` for a
literal. The linter resolves a value from the Kustomization's ``postBuild.substitute`` and the
defaults; a variable it cannot resolve (set by ``substituteFrom``, or an operator it does not know)
is left as written, and the rule that needed it treats the value as unknown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Resolved:
    """A substituted string and whether every variable in it was resolved."""

    value: str
    complete: bool


def _closing(text: str, start: int) -> int:
    """Index of the ``}`` closing the ``${`` whose body starts at ``start``; -1 if unbalanced."""
    depth = 1
    i = start
    while i < len(text):
        if text.startswith("${", i):
            depth += 1
            i += 2
            continue
        if text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def substitute(text: str, variables: Mapping[str, str]) -> Resolved:
    """Resolve Flux variables in ``text``; unresolvable ones stay as written."""
    if "${" not in text:
        return Resolved(text, True)
    out: list[str] = []
    complete = True
    i = 0
    while i < len(text):
        if text.startswith("$${", i):
            out.append("${")
            i += 3
            continue
        if not text.startswith("${", i):
            out.append(text[i])
            i += 1
            continue
        end = _closing(text, i + 2)
        if end < 0:
            out.append(text[i:])
            return Resolved("".join(out), False)
        body = text[i + 2 : end]
        raw = text[i : end + 1]
        value = _expand(body, variables)
        if value is None:
            out.append(raw)
            complete = False
        else:
            out.append(value.value)
            complete = complete and value.complete
        i = end + 1
    return Resolved("".join(out), complete)


def _expand(body: str, variables: Mapping[str, str]) -> Resolved | None:
    match = _NAME.match(body)
    if not match:
        return None
    name, rest = match.group(0), body[match.end() :]
    current = variables.get(name)
    if rest == "":
        return Resolved(current, True) if current is not None else None
    for op, empty_counts in ((":=", True), (":-", True), ("=", False), ("-", False)):
        if rest.startswith(op):
            if current is not None and (current != "" or not empty_counts):
                return Resolved(current, True)
            return substitute(rest[len(op) :], variables)
    return None


def resolve_scalar(value: object, variables: Mapping[str, str]) -> object:
    """A YAML scalar after substitution; strings that stay unresolved come back unchanged."""
    if isinstance(value, str):
        resolved = substitute(value, variables)
        return resolved.value if resolved.complete else value
    return value


def is_unresolved(value: object) -> bool:
    """True for a string that still holds a Flux variable or a Helm template."""
    return isinstance(value, str) and ("${" in value or "{{" in value)
