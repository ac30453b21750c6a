"""INI as sops reads and writes it: gopkg.in/ini.v1 (v1.67.0 in go.mod, v1.67.1 in the released binary) with
``AllowNonUniqueSections``.

Reading (go-ini parser.go ``parse``/``readValue``; sops stores/ini/store.go:87-132): sections are
top-level keys (``DEFAULT`` first), a repeated ``[section]`` stays a separate section, a repeated key
keeps its first place and takes the last value, every value is a string. Comment lines (and an
inline ``;``/``#`` comment, which go-ini cuts from an unquoted value) gather into the next key's
comment, which sops stores *after* the key, with the first comment character stripped; comments
before ``[section]`` are its comment; comments after the last key are dropped.

Writing (sops ``encodeTree`` store.go:28-72; go-ini file.go ``writeToBuffer``): a section's first
comment is its comment, a later one replaces the comment of the key before it; keys are aligned on
`` = `` by byte length; values with a newline or backtick are written in ``\"\"\"``, with ``#``/``;``
in backticks, with outer blanks in double quotes; a blank line between sections.
"""

from __future__ import annotations

from typing import Any

from homeops.sops.errors import SopsFormatError
from homeops.sops.metadata import flatten, unflatten
from homeops.sops.tree import Branch, Comment, Mapping, go_val_to_string

DEFAULT = "DEFAULT"


class _Section:
    def __init__(self, name: str, comment: str) -> None:
        self.name = name
        self.comment = comment
        self.keys: dict[str, tuple[str, str]] = {}  # name -> (value, comment), in first-seen order


class _Parser:
    """go-ini's line parser (only the options sops uses: the defaults plus non-unique sections)."""

    def __init__(self, text: str, file: str) -> None:
        self.lines = text.splitlines(keepends=True)
        self.pos = 0
        self.comment = ""
        self.file = file

    def next_line(self) -> str | None:
        if self.pos >= len(self.lines):
            return None
        line = self.lines[self.pos]
        self.pos += 1
        return line

    def error(self, what: str) -> SopsFormatError:
        return SopsFormatError(f"{self.file}: line {self.pos}: {what}")

    def parse(self) -> list[_Section]:
        sections = [_Section(DEFAULT, "")]
        while (raw := self.next_line()) is not None:
            line = raw.lstrip()
            if not line:
                continue
            if line[0] in "#;":
                self.comment += line
                continue
            if line[0] == "[":
                close = line.rfind("]")
                if close < 0:
                    raise self.error(f"unclosed section: {line.strip()}")
                name = line[1:close]
                if not name:
                    raise self.error("empty section name")
                rest = line[close + 1 :]
                cut = min((i for i in (rest.find("#"), rest.find(";")) if i >= 0), default=-1)
                if cut >= 0:
                    self.comment += rest[cut:]
                sections.append(_Section(name, self.comment.strip()))
                self.comment = ""
                continue
            name, offset = self.key_name(line)
            value = self.value(line[offset:])
            section = sections[-1]
            section.keys[name] = (value, self.comment.strip())
            self.comment = ""
        return sections

    def key_name(self, line: str) -> tuple[str, int]:
        """parser.go ``readKeyName`` with the delimiters ``=`` and ``:``."""
        quote = ""
        if line[0] == '"':
            quote = '"""' if len(line) > 6 and line.startswith('"""') else '"'
        elif line[0] == "`":
            quote = "`"
        if quote:
            pos = line.find(quote, len(quote))
            if pos < 0:
                raise self.error(f"missing closing key quote: {line.strip()}")
            delim = min((i for i in (line.find("=", pos), line.find(":", pos)) if i >= 0), default=-1)
            if delim < 0:
                raise self.error(f"key-value delimiter not found: {line.strip()}")
            return line[len(quote) : pos].strip(), delim + 1
        end = min((i for i in (line.find("="), line.find(":")) if i >= 0), default=-1)
        if end < 0:
            raise self.error(f"key-value delimiter not found: {line.strip()}")
        if end == 0:
            raise self.error(f"empty key name: {line.strip()}")
        return line[:end].strip(), end + 1

    def value(self, rest: str) -> str:
        """parser.go ``readValue``."""
        line = rest.lstrip()
        if not line:
            return ""
        quote = '"""' if len(line) > 3 and line.startswith('"""') else "`" if line[0] == "`" else ""
        if quote:
            body = line[len(quote) :]
            pos = body.rfind(quote)
            if pos >= 0:
                return body[:pos]
            return self.multiline(body, quote)
        line = line.strip()
        if line.endswith("\\"):
            return self.continuation(line[:-1])
        cut = min((i for i in (line.find("#"), line.find(";")) if i >= 0), default=-1)
        if cut >= 0:
            self.comment += line[cut:]
            line = line[:cut].strip()
        for q in "'\"":
            if len(line) >= 2 and line[0] == q and line[-1] == q and line.find(q, 1) == len(line) - 1:
                return line[1:-1]
        return line

    def multiline(self, value: str, quote: str) -> str:
        while (raw := self.next_line()) is not None:
            pos = raw.rfind(quote)
            # go-ini 1.67.1 (the one in sops 3.11's binary, go-ini PR #373): a line ending in a
            # backslash continues the value even after a closing quote
            if pos >= 0 and not raw.strip().endswith("\\"):
                rest = raw[pos:]
                cut = min((i for i in (rest.find("#"), rest.find(";")) if i >= 0), default=-1)
                if cut >= 0:
                    self.comment += rest[cut:].strip()
                return value + raw[:pos]
            value += raw
        raise self.error(f"missing closing quote {quote} of a multi-line value")

    def continuation(self, value: str) -> str:
        while (raw := self.next_line()) is not None:
            nxt = raw.strip()
            if not nxt:
                break
            value += nxt
            if not value.endswith("\\"):
                break
            value = value[:-1]
        return value


def _strip_comment_char(comment: str) -> str:
    # sops stores/ini/store.go:74-81 stripCommentChar: only the first line loses its marker.
    if comment.startswith(";"):
        return comment.lstrip("; ")
    if comment.startswith("#"):
        return comment.lstrip("# ")
    return comment


def _comment_lines(comment: str, *, key: bool) -> list[str]:
    out = []
    for line in comment.split("\n"):
        if not line or line[0] not in "#;":
            out.append("; " + (line.strip() if key else line))
        else:
            out.append(line[0] + " " + line[1:].strip())
    return out


def _quote_key(name: str) -> str:
    if '"' in name or "=" in name or ":" in name:
        return f"`{name}`"
    if "`" in name:
        return f'"""{name}"""'
    return name


def _quote_value(value: str) -> str:
    if "\n" in value or "`" in value:
        return f'"""{value}"""'
    if "#" in value or ";" in value:
        return f"`{value}`"
    if value.strip() != value:
        return f'"{value}"'
    return value


class IniStore:
    name = "ini"

    def load(self, data: bytes, *, file: str) -> tuple[list[Branch], Any]:
        text = data.decode("utf-8", "surrogateescape")
        if text.startswith("\ufeff"):
            text = text[1:]
        sections = _Parser(text, file).parse()
        metadata = None
        branch = Mapping()
        for section in sections:
            if section.name == "sops":
                if metadata is None:
                    metadata = unflatten({k: v.replace("\\n", "\n") for k, (v, _) in section.keys.items()})
                continue
            items = Mapping()
            if section.comment:
                items.append((Comment(_strip_comment_char(section.comment)), None))
            for key, (value, comment) in section.keys.items():
                items.append((key, value))
                if comment:
                    items.append((Comment(_strip_comment_char(comment)), None))
            branch.append((section.name, items))
        return [branch], metadata

    def dump(self, branches: list[Branch], metadata: dict[str, Any] | None) -> bytes:
        sections: list[_Section] = []
        entries = [(k, v) for b in branches for k, v in b if not isinstance(k, Comment)]
        if metadata is not None:
            flat = flatten(metadata)
            entries.append(("sops", Mapping((k, flat[k].replace("\n", "\\n")) for k in sorted(flat))))
        for name, items in entries:
            if not isinstance(items, Mapping):
                raise SopsFormatError(f"INI needs sections: top-level key {name!r} is not a section")
            listed = list(items)
            section = _Section(str(name), "")
            if listed and isinstance(listed[0][0], Comment):
                section.comment = listed.pop(0)[0].text
            last: str | None = None
            for k, v in listed:
                if isinstance(k, Comment):
                    if last is not None:
                        section.keys[last] = (section.keys[last][0], k.text)
                    continue
                if isinstance(v, Mapping | list):
                    raise SopsFormatError(f"INI values cannot be nested (key {k!r} in [{name}])")
                last = str(k)
                text = go_val_to_string(v)
                kept = section.keys.get(last, ("", ""))[1]
                section.keys[last] = (text, kept)
            sections.append(section)
        out: list[str] = []
        for i, section in enumerate(sections):
            if section.comment:
                out.extend(line + "\n" for line in _comment_lines(section.comment, key=False))
            if i > 0 or section.name.upper() != DEFAULT:
                out.append(f"[{section.name}]\n")
            elif not section.keys:
                continue
            quoted = {k: _quote_key(k) for k in section.keys}
            width = max((len(q.encode("utf-8", "surrogateescape")) for q in quoted.values()), default=0)
            for key, (value, comment) in section.keys.items():
                if comment:
                    out.extend(line + "\n" for line in _comment_lines(comment, key=True))
                name = quoted[key]
                pad = " " * (width - len(name.encode("utf-8", "surrogateescape")))
                out.append(f"{name}{pad} = {_quote_value(value)}\n")
            if i < len(sections) - 1:
                out.append("\n")
        return "".join(out).encode("utf-8", "surrogateescape")
