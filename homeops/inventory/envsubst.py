"""``${VAR}`` substitution the way talhelper does it, and the env files it reads the values from.

talhelper strips YAML comments from talconfig.yaml, then runs ``a8m/envsubst`` in restricted mode
(an unset or empty plain ``${VAR}`` is a hard error) with the process environment overlaid by the
``talenv*.yaml`` files (file values win). We follow the same syntax, but instead of failing at the
first unset variable the caller chooses what an unresolved reference becomes (``on_missing``): the
talconfig reader puts a marker there and decides per field whether it is fatal.

Supported forms (a8m/envsubst): ``$VAR``, ``${VAR}``, ``${VAR-default}``, ``${VAR:-default}``,
``${VAR=default}``, ``${VAR:=default}``, ``${VAR+alt}``, ``${VAR:+alt}``; ``$$`` is a literal ``$``.
Defaults may themselves reference variables.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass

NAME = r"[A-Za-z_][A-Za-z0-9_]*"
_NAME_RE = re.compile(NAME)
_OPERATORS = (":-", ":=", ":+", "-", "=", "+")

# Only characters that are inert in every YAML context (plain, quoted, flow, block), so the
# document still parses with the marker in place of the value.
_MARKER_PREFIX = "__homeops_unset__"
_MARKER_SUFFIX = "__homeops_end__"
MARKER_RE = re.compile(re.escape(_MARKER_PREFIX) + f"({NAME}?)" + re.escape(_MARKER_SUFFIX))


def marker(name: str) -> str:
    """The placeholder that stands for the unresolved variable ``name``."""
    return f"{_MARKER_PREFIX}{name}{_MARKER_SUFFIX}"


def unresolved_names(text: str) -> tuple[str, ...]:
    """Names of the markers in ``text``, in order, without repeats."""
    return tuple(dict.fromkeys(MARKER_RE.findall(text)))


def restore_markers(text: str) -> str:
    """Put ``${NAME}`` back where a marker stands (for messages and kept values)."""
    return MARKER_RE.sub(lambda m: "${" + m.group(1) + "}", text)


@dataclass(frozen=True)
class Reference:
    """One ``$VAR`` / ``${VAR…}`` found in a text."""

    name: str
    start: int
    end: int


def substitute(
    text: str,
    env: Mapping[str, str],
    *,
    on_missing: Callable[[str], str] | None = None,
) -> tuple[str, tuple[str, ...]]:
    """Expand references in ``text``; returns the new text and the names that were unset or empty.

    ``on_missing(name)`` gives the replacement for an unresolved plain reference (default: the
    reference left as written). ``${VAR:=default}`` assigns into ``env`` when it is mutable, as the
    shell does.
    """
    missing: list[str] = []
    out = _expand(text, env, on_missing, missing)
    return out, tuple(dict.fromkeys(missing))


def _expand(
    text: str,
    env: Mapping[str, str],
    on_missing: Callable[[str], str] | None,
    missing: list[str],
) -> str:
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch != "$" or i + 1 >= n:
            out.append(ch)
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            out.append("$")
            i += 2
            continue
        if nxt == "{":
            close = _matching_brace(text, i + 1)
            if close < 0:
                out.append(text[i:])
                break
            out.append(_expand_braced(text[i + 2 : close], text[i : close + 1], env, on_missing, missing))
            i = close + 1
            continue
        match = _NAME_RE.match(text, i + 1)
        if match is None:
            out.append(ch)
            i += 1
            continue
        name = match.group(0)
        out.append(_plain(name, text[i : match.end()], env, on_missing, missing))
        i = match.end()
    return "".join(out)


def _matching_brace(text: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return -1


def _plain(
    name: str,
    written: str,
    env: Mapping[str, str],
    on_missing: Callable[[str], str] | None,
    missing: list[str],
) -> str:
    value = env.get(name)
    if value:
        return value
    missing.append(name)
    return on_missing(name) if on_missing else written


def _expand_braced(
    inner: str,
    written: str,
    env: Mapping[str, str],
    on_missing: Callable[[str], str] | None,
    missing: list[str],
) -> str:
    match = _NAME_RE.match(inner)
    if match is None:
        # ``${}`` or ``${1abc}``: not a variable a8m/envsubst would expand; keep it as written.
        return written
    name = match.group(0)
    rest = inner[match.end() :]
    if not rest:
        return _plain(name, written, env, on_missing, missing)
    for op in _OPERATORS:
        if rest.startswith(op):
            word = rest[len(op) :]
            return _apply_operator(name, op, word, written, env, on_missing, missing)
    # An operator we do not implement (substring, case change…): unresolvable here.
    missing.append(name)
    return on_missing(name) if on_missing else written


def _apply_operator(
    name: str,
    op: str,
    word: str,
    written: str,
    env: Mapping[str, str],
    on_missing: Callable[[str], str] | None,
    missing: list[str],
) -> str:
    is_set = name in env
    value = env.get(name, "")
    null_counts = op.startswith(":")
    unusable = (not is_set) or (null_counts and value == "")
    if op in (":-", "-"):
        return _expand(word, env, on_missing, missing) if unusable else value
    if op in (":=", "="):
        if unusable:
            value = _expand(word, env, on_missing, missing)
            if isinstance(env, MutableMapping):
                env[name] = value
        return value
    # ``+`` / ``:+``: the alternative when the variable is usable, else nothing.
    return "" if unusable else _expand(word, env, on_missing, missing)


def references(text: str) -> tuple[Reference, ...]:
    """Every variable reference in ``text`` (``$$`` escapes skipped)."""
    found: list[Reference] = []
    i = 0
    n = len(text)
    while i < n - 1:
        if text[i] != "$":
            i += 1
            continue
        nxt = text[i + 1]
        if nxt == "$":
            i += 2
            continue
        if nxt == "{":
            close = _matching_brace(text, i + 1)
            if close < 0:
                break
            match = _NAME_RE.match(text, i + 2)
            if match:
                found.append(Reference(match.group(0), i, close + 1))
            i = close + 1
            continue
        match = _NAME_RE.match(text, i + 1)
        if match:
            found.append(Reference(match.group(0), i, match.end()))
            i = match.end()
        else:
            i += 1
    return tuple(found)


def strip_comments(text: str) -> str:
    """Drop YAML comments line by line, keeping line numbers (so parse errors still point right).

    Like talhelper (it strips before substituting), so a ``${VAR}`` in a commented-out line is not
    an error. A ``#`` counts as a comment when it starts the line or follows whitespace and is not
    inside a quote opened on the same line; ``a#b`` and ``"x # y"`` are kept.
    """
    lines = text.split("\n")
    return "\n".join(_strip_line(line) for line in lines)


def _strip_line(line: str) -> str:
    quote: str | None = None
    for j, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in ("'", '"') and (j == 0 or not (line[j - 1].isalnum())):
            quote = ch
            continue
        if ch == "#" and (j == 0 or line[j - 1] in " \t"):
            return line[:j].rstrip()
    return line


def parse_env_text(text: str) -> dict[str, str]:
    """Read a talenv file: a YAML mapping of scalars, or ``KEY=value`` lines as in a ``.env`` file.

    Values are the scalar text as written (``123`` stays ``"123"``, ``true`` stays ``"true"``), the
    way godotenv hands them to talhelper. ValueError if the text is neither form.
    """
    import yaml

    try:
        data = yaml.load(text, Loader=yaml.BaseLoader)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and all(isinstance(v, str) for v in data.values()):
        return {str(k): v for k, v in data.items() if _NAME_RE.fullmatch(str(k))}
    if data is None and not text.strip():
        return {}
    return _parse_dotenv(text)


def _parse_dotenv(text: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#") or line == "---":
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            key, sep, value = line.partition(":")
        key = key.strip()
        if not sep or not _NAME_RE.fullmatch(key):
            raise ValueError(f"line {number}: expected KEY=value or KEY: value")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            quoted = value[1:-1]
            value = quoted.replace("\\n", "\n").replace('\\"', '"') if value[0] == '"' else quoted
        else:
            value = _strip_line(value)
        result[key] = value
    return result
