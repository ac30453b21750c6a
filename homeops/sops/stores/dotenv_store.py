"""dotenv: ``KEY=value`` lines (split at the first ``=``, nothing trimmed or unquoted), ``#`` comments,
metadata flattened into ``sops_…`` keys."""

from __future__ import annotations

from typing import Any

from homeops.sops.errors import SopsFormatError
from homeops.sops.metadata import flatten, unflatten
from homeops.sops.tree import Branch, Comment, Mapping, go_val_to_string

PREFIX = "sops_"


class DotenvStore:
    name = "dotenv"

    def load(self, data: bytes, *, file: str) -> tuple[list[Branch], Any]:
        text = data.decode("utf-8", "surrogateescape")
        branch = Mapping()
        meta: dict[str, str] = {}
        for number, line in enumerate(text.split("\n"), start=1):
            if line == "":
                continue
            if line.startswith("#"):
                branch.append((Comment(line[1:]), None))
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise SopsFormatError(f"{file}: line {number}: invalid dotenv input line (no '=')")
            value = value.replace("\\n", "\n")
            if key.startswith(PREFIX):
                meta[key[len(PREFIX) :]] = value
            else:
                branch.append((key, value))
        return [branch], (unflatten(meta) if meta else None)

    def dump(self, branches: list[Branch], metadata: dict[str, Any] | None) -> bytes:
        lines: list[str] = []
        for key, value in branches[0] if branches else []:
            if isinstance(key, Comment):
                lines.append(f"#{key.text}")
                continue
            if isinstance(value, Mapping | list):
                raise SopsFormatError(f"dotenv cannot hold nested values (key {key!r})")
            if str(key).startswith(PREFIX):
                raise SopsFormatError(f"dotenv keys may not start with {PREFIX!r} (key {key!r})")
            # dotenv/store.go:147-155: only a string has its newlines escaped
            text = value.replace("\n", "\\n") if isinstance(value, str) else go_val_to_string(value)
            lines.append(f"{key}={text}")
        if metadata is not None:
            flat = flatten(metadata, PREFIX)
            for k in sorted(flat):
                lines.append(f"{k}={flat[k].replace(chr(10), chr(92) + 'n')}")
        return ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape") if lines else b""
