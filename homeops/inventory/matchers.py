"""Label matchers as Alertmanager and Prometheus write them: ``severity=~"warning|critical"``.

``homeops.yaml`` names the alerts a run silences (``alertmanager.matchers``) and the alerts that hold it
(``prometheus.alerts``) in the syntax operators already type into amtool and the Alertmanager UI, so the
parser follows Alertmanager's (prometheus/alertmanager v0.25.0, pkg/labels/parse.go ``ParseMatchers`` and
``ParseMatcher``): ``name op value`` with op one of ``=``, ``!=``, ``=~``, ``!~``; the value may be
double-quoted (with backslash escapes) or bare; a list may be written ``{a="b", c=~"d"}``.

Regular expressions are anchored at both ends, as Prometheus and Alertmanager anchor them
(``^(?:value)$``); Python's ``re`` stands in for Go's RE2, which accepts a subset of it. A label an
alert does not carry matches as the empty string (``foo=""`` matches an alert without ``foo``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

MatchOp = Literal["=", "!=", "=~", "!~"]

# '=~' before '=' and '!~' before '!=', so that the longer operator wins (as parse.go's regexp does).
_MATCHER = re.compile(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|!~|!=|=)\s*(.*?)\s*", re.DOTALL)
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


@dataclass(frozen=True)
class Matcher:
    name: str
    op: MatchOp
    value: str

    @property
    def is_regex(self) -> bool:
        return self.op in ("=~", "!~")

    @property
    def is_equal(self) -> bool:
        return self.op in ("=", "=~")

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        hit = re.fullmatch(self.value, actual, re.DOTALL) is not None if self.is_regex else actual == self.value
        return hit if self.is_equal else not hit

    def __str__(self) -> str:
        quoted = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{quoted}"'


def parse_matcher(text: str) -> Matcher:
    """One matcher (``name op value``); a ``ValueError`` says what is wrong with it, in one line."""
    match = _MATCHER.fullmatch(text)
    if match is None:
        raise ValueError(f'\'{text}\' is not a matcher like severity="critical" or alertname=~"Ceph.*"')
    name, op, raw = match.groups()
    value = _unquote(raw, text)
    if op in ("=~", "!~"):
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"'{text}': {value!r} is not a regular expression ({exc})") from None
    return Matcher(name, cast(MatchOp, op), value)


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """A comma-separated list, optionally in braces: ``{severity="critical", cluster="home"}``."""
    inner = text.strip()
    if inner.startswith("{"):
        inner = inner[1:]
    if inner.endswith("}"):
        inner = inner[:-1]
    parts = _split_outside_quotes(inner)
    if parts and not parts[-1].strip():
        parts.pop()  # a trailing comma, as Alertmanager allows
    if not parts:
        raise ValueError(f"'{text}' holds no matcher")
    return tuple(parse_matcher(part) for part in parts)


def parse_selector(text: str) -> tuple[Matcher, ...]:
    """An alert selector: a bare alert name (``NodeDown``, short for ``alertname="NodeDown"``) or matchers."""
    text = text.strip()
    if _NAME.fullmatch(text):
        return (Matcher("alertname", "=", text),)
    return parse_matchers(text)


def matches_empty(matchers: tuple[Matcher, ...]) -> bool:
    """True when every matcher matches an alert with no labels: Alertmanager refuses such a silence
    (silence/silence.go ``validateSilence``: "at least one matcher must not match the empty string")."""
    return all(m.matches({}) for m in matchers)


def _unquote(raw: str, text: str) -> str:
    """OpenMetrics escapes as ParseMatcher reads them: a backslash before a double quote, ``n`` or a
    backslash; any other backslash is literal (a regex keeps its ``\\d``). A double quote may only open
    and close the value."""
    quoted = raw.startswith('"')
    body = raw[1:] if quoted else raw
    if quoted:
        inner = body[:-1]
        trailing = len(inner) - len(inner.rstrip("\\"))
        if not body.endswith('"') or _unescaped_quotes(inner) or trailing % 2:
            raise ValueError(f"'{text}': the value has an unescaped or unclosed double quote")
        body = body[:-1]
    elif _unescaped_quotes(body):
        raise ValueError(f"'{text}': the value has an unescaped double quote")
    out: list[str] = []
    index = 0
    while index < len(body):
        char = body[index]
        nxt = body[index + 1] if index + 1 < len(body) else ""
        if char == "\\" and nxt in ('"', "\\", "n"):
            out.append("\n" if nxt == "n" else nxt)
            index += 2
            continue
        out.append(char)
        index += 1
    return "".join(out)


def _unescaped_quotes(body: str) -> bool:
    escaped = False
    for char in body:
        if char == '"' and not escaped:
            return True
        escaped = char == "\\" and not escaped
    return False


def _split_outside_quotes(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for char in text:
        if char == "," and not quoted:
            parts.append("".join(current))
            current = []
            continue
        if char == '"' and not escaped:
            quoted = not quoted
        escaped = char == "\\" and not escaped
        current.append(char)
    if current or parts:
        parts.append("".join(current))
    return parts
