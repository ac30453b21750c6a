"""JSON (sops' JSON store) and the helpers the binary store shares: order and duplicate keys kept."""

from __future__ import annotations

import json
import math
from typing import Any

from homeops.sops.errors import SopsFormatError
from homeops.sops.stores.yaml_store import from_plain, to_plain
from homeops.sops.tree import Branch, Comment, Mapping, Timestamp


def parse_json(data: bytes, *, file: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"), object_pairs_hook=Mapping)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SopsFormatError(f"{file}: not valid JSON ({exc})") from None


def _scalar(value: Any) -> str:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise SopsFormatError("JSON cannot hold NaN or infinite numbers")
    if isinstance(value, Timestamp):
        return json.dumps(value.text)
    if isinstance(value, bytes):
        return json.dumps(value.decode("utf-8", "surrogateescape"), ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def render_json(value: Any, level: int = 0) -> str:
    """Go sops' JSON layout: tab indent, ``"key": value``."""
    tab = "\t"
    if isinstance(value, Mapping):
        items = [(k, v) for k, v in value if not isinstance(k, Comment)]
        if not items:
            return "{}"
        inner = ",\n".join(
            f"{tab * (level + 1)}{json.dumps(str(k), ensure_ascii=False)}: {render_json(v, level + 1)}"
            for k, v in items
        )
        return "{\n" + inner + "\n" + tab * level + "}"
    if isinstance(value, list):
        items = [v for v in value if not isinstance(v, Comment)]
        if not items:
            return "[]"
        inner = ",\n".join(f"{tab * (level + 1)}{render_json(v, level + 1)}" for v in items)
        return "[\n" + inner + "\n" + tab * level + "]"
    return _scalar(value)


class JsonStore:
    name = "json"

    def load(self, data: bytes, *, file: str) -> tuple[list[Branch], Any]:
        doc = parse_json(data, file=file)
        if not isinstance(doc, Mapping):
            raise SopsFormatError(f"{file}: the top level of a sops JSON file must be an object")
        metadata = None
        kept = Mapping()
        for k, v in doc:
            if k == "sops":
                metadata = to_plain(v)
            else:
                kept.append((k, v))
        return [kept], metadata

    def dump(self, branches: list[Branch], metadata: dict[str, Any] | None) -> bytes:
        doc = Mapping(branches[0] if branches else Mapping())
        if metadata is not None:
            doc.append(("sops", from_plain(metadata)))
        return (render_json(doc) + "\n").encode("utf-8", "surrogateescape")
