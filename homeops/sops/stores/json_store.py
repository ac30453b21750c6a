"""JSON (sops' JSON store) and the helpers the binary store shares: order and duplicate keys kept."""

from __future__ import annotations

import json
import math
from typing import Any

from homeops.sops.errors import SopsFormatError
from homeops.sops.stores.yaml_store import from_plain, to_plain
from homeops.sops.tree import Branch, Comment, Mapping, Timestamp, go_format_float


def _go_number(text: str) -> float:
    # Go sops (3.11, and so Flux's kustomize-controller) reads JSON with ``dec.Token()`` and no
    # ``UseNumber``: every number is a float64, 1 and 1.0 alike, and 12345678901234567890 loses its
    # last digits (stores/json/store.go:104-168). Encrypted, it is ``type:float`` — never an int
    # beyond int64, which Go's ``strconv.Atoi`` cannot decrypt (aes/cipher.go:106-107).
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text} is out of range of a float64")
    return value


def _no_constant(text: str) -> Any:
    raise ValueError(f"invalid JSON literal {text}")


def parse_json(data: bytes, *, file: str) -> Any:
    try:
        return json.loads(
            data.decode("utf-8"),
            object_pairs_hook=Mapping,
            parse_int=_go_number,
            parse_float=_go_number,
            parse_constant=_no_constant,
        )
    except (UnicodeDecodeError, ValueError) as exc:
        raise SopsFormatError(f"{file}: not valid JSON ({exc})") from None


# encoding/json escapes these even with ensure_ascii off: HTML-safe output and JavaScript's line separators.
# A byte that is not UTF-8 (held as a surrogate escape) is written as the escape ``\\ufffd``.
_GO_ESCAPES = str.maketrans(
    {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
    | {chr(c): "\\ufffd" for c in range(0xDC80, 0xDD00)}
)


def go_json_string(text: str) -> str:
    """Go ``json.Marshal`` of a string: ``\\n``-style escapes, ``<>&`` and U+2028/9 as ``\\u…``, invalid
    UTF-8 as U+FFFD."""
    return json.dumps(text, ensure_ascii=False).translate(_GO_ESCAPES)


def go_json_float(value: float) -> str:
    """Go ``json.Marshal`` of a float64 (encoding/json floatEncoder): ES6 style, %e outside
    [1e-6, 1e21) with ``e-07`` shortened to ``e-7``."""
    if math.isnan(value) or math.isinf(value):
        raise SopsFormatError("JSON cannot hold NaN or infinite numbers")
    magnitude = abs(value)
    if magnitude != 0 and (magnitude < 1e-6 or magnitude >= 1e21):
        text = go_format_float(value, "e")
        if len(text) >= 4 and text[-4] == "e" and text[-3] == "-" and text[-2] == "0":
            text = text[:-2] + text[-1]
        return text
    return go_format_float(value, "f")


def _scalar(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_json_float(value)
    if isinstance(value, Timestamp):
        return go_json_string(value.text)
    if isinstance(value, bytes):
        # Go marshals a []byte as base64; sops' stores never hold one outside the binary store.
        return go_json_string(value.decode("utf-8", "surrogateescape"))
    return go_json_string(str(value))


def render_json(value: Any, level: int = 0) -> str:
    """Go sops' JSON layout: ``json.Indent`` with a tab, ``"key": value``."""
    tab = "\t"
    if isinstance(value, Mapping):
        items = [(k, v) for k, v in value if not isinstance(k, Comment)]
        if not items:
            return "{}"
        inner = ",\n".join(
            f"{tab * (level + 1)}{go_json_string(str(k))}: {render_json(v, level + 1)}" for k, v in items
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
