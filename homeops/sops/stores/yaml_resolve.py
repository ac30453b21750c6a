"""yaml.v3's typing of a plain scalar (``resolve.go``), shared by the YAML reader and writer.

The writer asks it too: a string that would read back as another type must be quoted.
"""

from __future__ import annotations

import math
import re
from typing import Any

from homeops.sops.tree import parse_yaml_time

NULLS = {"", "~", "null", "Null", "NULL"}
BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
SPECIAL_FLOATS = {
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
}  # fmt: skip
YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
INT64 = (-(2**63), 2**64 - 1)


def go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(s, 0, 64) (then ParseUint): sign, 0x/0o/0b prefixes, a leading 0 means octal."""
    if not text:
        return None
    sign = -1 if text[0] == "-" else 1
    body = text[1:] if text[0] in "+-" else text
    base = 10
    if body[:2] in ("0x", "0X"):
        base, body = 16, body[2:]
    elif body[:2] in ("0o", "0O"):
        base, body = 8, body[2:]
    elif body[:2] in ("0b", "0B"):
        base, body = 2, body[2:]
    elif len(body) > 1 and body[0] == "0":
        base, body = 8, body[1:]
    if not body or not all(c in "0123456789abcdefABCDEF"[: base if base <= 10 else 22] for c in body):
        return None
    value = sign * int(body, base)
    return value if INT64[0] <= value <= INT64[1] else None


def resolve_plain(text: str) -> Any:
    """A plain (unquoted, untagged) scalar typed as yaml.v3 ``resolve`` does."""
    if text in NULLS:
        return None
    if text in BOOLS:
        return BOOLS[text]
    if text in SPECIAL_FLOATS:
        return SPECIAL_FLOATS[text]
    first = text[0]
    if first.isdigit() or first in "+-.":
        if first.isdigit():
            ts = parse_yaml_time(text)
            if ts is not None:
                return ts
        plain = text.replace("_", "")
        as_int = go_parse_int(plain)
        if as_int is not None:
            return as_int
        if YAML_FLOAT.match(plain):
            value = float(plain)
            # strconv.ParseFloat fails with a range error where Python gives inf (7E5553), and
            # yaml.v3 then keeps the text as a string (resolve.go:204-209).
            if not math.isinf(value):
                return value
    return text
