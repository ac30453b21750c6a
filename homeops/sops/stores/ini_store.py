"""INI as go-ini reads it: sections are top-level keys (``DEFAULT`` first), every value a string,
``;``/``#`` comments, ``\"\"\"`` multi-line values, metadata flattened in ``[sops]``."""

from __future__ import annotations

from typing import Any

from homeops.sops.errors import SopsFormatError
from homeops.sops.metadata import flatten, unflatten
from homeops.sops.tree import Branch, Comment, Mapping

DEFAULT = "DEFAULT"


def _value(raw: str, lines: list[str], index: int, file: str) -> tuple[str, int]:
    """The value of a ``key = raw`` line (go-ini ``readValue``), and the next line index."""
    raw = raw.strip()
    if raw.startswith('"""'):
        rest = raw[3:]
        if '"""' in rest:
            return rest[: rest.index('"""')], index
        parts = [rest]
        while index < len(lines):
            line = lines[index]
            index += 1
            if '"""' in line:
                parts.append(line[: line.index('"""')])
                return "\n".join(parts), index
            parts.append(line)
        raise SopsFormatError(f'{file}: unterminated """ value')
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'`":
        return raw[1:-1], index
    cut = min((p for p in (raw.find("#"), raw.find(";")) if p >= 0), default=-1)
    if cut >= 0:
        raw = raw[:cut].strip()
    return raw, index


class IniStore:
    name = "ini"

    def load(self, data: bytes, *, file: str) -> tuple[list[Branch], Any]:
        lines = data.decode("utf-8", "surrogateescape").replace("\r\n", "\n").split("\n")
        sections: list[tuple[str, Mapping]] = [(DEFAULT, Mapping())]
        current = sections[0][1]
        pending: list[str] = []
        i = 0
        while i < len(lines):
            line = lines[i].strip()
            i += 1
            if not line:
                continue
            if line[0] in ";#":
                pending.append(line.lstrip("#; "))
                continue
            if line.startswith("["):
                name = line[1 : line.index("]")] if "]" in line else line[1:]
                current = Mapping((Comment(c), None) for c in pending)
                pending = []
                existing = [s for s in sections if s[0] == name]
                if existing:
                    current = existing[0][1]
                else:
                    sections.append((name, current))
                continue
            cuts = [p for p in (line.find("="), line.find(":")) if p >= 0]
            if not cuts:
                raise SopsFormatError(f"{file}: line {i}: expected 'key = value'")
            key, raw = line[: min(cuts)].strip(), line[min(cuts) + 1 :]
            value, i = _value(raw, lines, i, file)
            current.append((key, value))
            # go-ini keeps a key's preceding comment on the key; sops writes it after the key.
            current.extend((Comment(c), None) for c in pending)
            pending = []
        metadata = None
        branch = Mapping()
        for name, items in sections:
            if name == "sops":
                flat = {str(k): v.replace("\\n", "\n") for k, v in items if not isinstance(k, Comment)}
                metadata = unflatten(flat)
                continue
            branch.append((name, items))
        return [branch], metadata

    def dump(self, branches: list[Branch], metadata: dict[str, Any] | None) -> bytes:
        blocks: list[str] = []
        sections = list(branches[0]) if branches else []
        if metadata is not None:
            flat = flatten(metadata)
            sections.append(("sops", Mapping((k, flat[k].replace("\n", "\\n")) for k in sorted(flat))))
        for name, items in sections:
            if isinstance(name, Comment):
                blocks.append(f"; {name.text}")
                continue
            if not isinstance(items, Mapping):
                raise SopsFormatError(f"INI needs sections: top-level key {name!r} is not a section")
            if name == DEFAULT and not items:
                continue
            width = max((len(str(k)) for k, _ in items if not isinstance(k, Comment)), default=0)
            # Undo the reader's placement: leading comments belong to the section header, and the
            # comments after a key were written above it.
            lead = [k.text for k, _ in _leading(items)]
            out: list[str] = [f"; {t}" for t in lead]
            if name != DEFAULT:
                out.append(f"[{name}]")
            entries = list(items)[len(lead) :]
            for i, (k, v) in enumerate(entries):
                if isinstance(k, Comment):
                    continue
                if isinstance(v, Mapping | list):
                    raise SopsFormatError(f"INI values cannot be nested (key {k!r} in [{name}])")
                for ck, _ in _leading(entries[i + 1 :]):
                    out.append(f"; {ck.text}")
                out.append(f"{str(k).ljust(width)} = {_render_value('' if v is None else str(v))}")
            blocks.append("\n".join(out))
        return ("\n\n".join(blocks) + "\n").encode("utf-8", "surrogateescape")


def _render_value(value: str) -> str:
    if "\n" in value:
        return f'"""{value}"""'
    if value != value.strip() or any(c in value for c in "#;\"'`"):
        return f'"""{value}"""'
    return value


def _leading(items: list[tuple[Any, Any]] | Mapping) -> list[tuple[Comment, Any]]:
    out: list[tuple[Comment, Any]] = []
    for k, v in items:
        if not isinstance(k, Comment):
            break
        out.append((k, v))
    return out
