"""The subset of kubectl's JSONPath templates that homeops and its users write.

Supported: literal text, ``{.a.b}``, ``{.items[0]}``, ``{.items[*].x}``, ``{..x}`` is not,
``{.list[?(@.type=="Ready")].status}``, ``{range .items[*]}…{end}``, ``{"\\n"}`` string literals.
Several results of one expression are joined by a space; maps and lists print as JSON; a missing
field prints nothing (kubectl ``--allow-missing-template-keys`` is true by default for get).
"""

from __future__ import annotations

import json
import re
from typing import Any

_TOKEN = re.compile(r"\{((?:[^{}\"]|\"(?:[^\"\\]|\\.)*\")*)\}")


class JsonPathError(ValueError):
    pass


def _segments(expr: str) -> list[str]:
    """``.items[*].status.conditions[?(@.type=="Ready")].status`` → ['items', '[*]', 'status', …]."""
    out: list[str] = []
    i = 0
    expr = expr.strip()
    if expr.startswith("$"):
        expr = expr[1:]
    while i < len(expr):
        ch = expr[i]
        if ch == ".":
            i += 1
            m = re.match(r"[A-Za-z0-9_\-/\\.]*?(?=\.|\[|$)", expr[i:])
            name = m.group(0) if m else ""
            if name:
                out.append(name.replace("\\.", "."))
            i += len(name)
        elif ch == "[":
            depth, j = 0, i
            while j < len(expr):
                if expr[j] == "[":
                    depth += 1
                elif expr[j] == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            out.append(expr[i : j + 1])
            i = j + 1
        else:
            raise JsonPathError(f"unrecognized character in action: {expr[i:]!r}")
    return out


def _filter(items: list[Any], cond: str) -> list[Any]:
    m = re.fullmatch(r"\?\(@\.([\w.\-]+)\s*(==|!=)\s*(?:\"([^\"]*)\"|'([^']*)'|(\S+))\)", cond)
    if not m:
        raise JsonPathError(f"unsupported filter: {cond}")
    path, op, *vals = m.groups()
    want = next(v for v in vals if v is not None)
    out = []
    for item in items:
        value: Any = item
        for part in path.split("."):
            value = value.get(part) if isinstance(value, dict) else None
        text = _scalar(value) if value is not None else None
        if (text == want) == (op == "=="):
            out.append(item)
    return out


def evaluate(expr: str, data: Any) -> list[Any]:
    current = [data]
    for seg in _segments(expr):
        nxt: list[Any] = []
        for value in current:
            if seg.startswith("["):
                inner = seg[1:-1]
                if not isinstance(value, list):
                    continue
                if inner == "*":
                    nxt.extend(value)
                elif inner.startswith("?"):
                    nxt.extend(_filter(value, inner))
                elif re.fullmatch(r"-?\d+", inner):
                    idx = int(inner)
                    if -len(value) <= idx < len(value):
                        nxt.append(value[idx])
                else:
                    raise JsonPathError(f"unsupported index: {seg}")
            elif isinstance(value, dict) and seg in value:
                nxt.append(value[seg])
        current = nxt
    return current


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def render(template: str, data: Any) -> str:
    """Render a kubectl JSONPath template (``{.a}``-style actions mixed with literal text)."""
    template = template.strip()
    if template.startswith("'") and template.endswith("'"):
        template = template[1:-1]
    parts: list[tuple[str, str]] = []
    pos = 0
    for m in _TOKEN.finditer(template):
        if m.start() > pos:
            parts.append(("text", template[pos : m.start()]))
        parts.append(("expr", m.group(1).strip()))
        pos = m.end()
    if pos < len(template):
        parts.append(("text", template[pos:]))
    out, _ = _render(parts, 0, data)
    return out


def _render(parts: list[tuple[str, str]], i: int, data: Any) -> tuple[str, int]:
    out: list[str] = []
    while i < len(parts):
        kind, value = parts[i]
        if kind == "text":
            out.append(value)
        elif value == "end":
            return "".join(out), i
        elif value.startswith("range "):
            items = evaluate(value[len("range ") :], data)
            body_end = i
            for item in items:
                text, body_end = _render(parts, i + 1, item)
                out.append(text)
            if not items:
                _, body_end = _render(parts, i + 1, None)
            i = body_end
        elif value.startswith('"'):
            out.append(json.loads(value))
        else:
            out.append(" ".join(_scalar(v) for v in evaluate(value, data)))
        i += 1
    return "".join(out), i
