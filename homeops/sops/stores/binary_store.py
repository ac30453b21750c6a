"""Any other file: the whole content is one string value ``data`` in a JSON envelope."""

from __future__ import annotations

from typing import Any

from homeops.sops.errors import SopsFormatError
from homeops.sops.stores.json_store import parse_json, render_json
from homeops.sops.stores.yaml_store import from_plain, to_plain
from homeops.sops.tree import Branch, Mapping


class BinaryStore:
    name = "binary"

    def load(self, data: bytes, *, file: str) -> tuple[list[Branch], Any]:
        stripped = data.lstrip()
        if stripped.startswith(b"{") and b'"sops"' in data:
            doc = parse_json(data, file=file)
            if isinstance(doc, Mapping) and any(k == "sops" for k, _ in doc):
                meta = next(v for k, v in doc if k == "sops")
                kept = Mapping((k, v) for k, v in doc if k != "sops")
                return [kept], to_plain(meta)
        return [Mapping([("data", data.decode("utf-8", "surrogateescape"))])], None

    def dump(self, branches: list[Branch], metadata: dict[str, Any] | None) -> bytes:
        branch = branches[0] if branches else Mapping()
        if metadata is None:
            values = [v for k, v in branch if k == "data"]
            if not values or not isinstance(values[0], str | bytes):
                raise SopsFormatError("a binary sops file must hold one string value 'data'")
            value = values[0]
            return value if isinstance(value, bytes) else value.encode("utf-8", "surrogateescape")
        doc = Mapping(branch)
        doc.append(("sops", from_plain(metadata)))
        return (render_json(doc) + "\n").encode("utf-8", "surrogateescape")
