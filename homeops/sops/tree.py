"""The in-memory tree every store reads into and writes from, and Go-exact value encoding.

A document is a ``Branch``: an ordered list of ``(key, value)`` pairs where ``key`` may be a
``Comment`` (with value ``None``). Sequences are Python lists and may hold ``Comment`` items.
Order and duplicates are kept because the MAC walks the file in order, exactly as Go sops does.

Leaf values: ``str``, ``int``, ``float``, ``bool``, ``Timestamp``, ``bytes`` and ``None``.
``to_bytes`` renders a leaf the way Go's ``sops.ToBytes`` does; getting this exact is what makes
MACs of plaintext leaves verify.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeAlias


class Mapping(list[tuple[Any, Any]]):
    """A branch (ordered key/value pairs), told apart from a sequence, which is a plain list."""


Branch: TypeAlias = Mapping


@dataclass(frozen=True, slots=True)
class Comment:
    """A comment line; ``text`` is what follows the comment marker (leading spaces kept)."""

    text: str


@dataclass(frozen=True, slots=True)
class Timestamp:
    """A YAML timestamp, held as Go's RFC3339Nano text so it round-trips to the nanosecond."""

    text: str

    def to_datetime(self) -> dt.datetime:
        # Python keeps microseconds only; the text stays authoritative for the MAC.
        m = _RFC3339.match(self.text)
        if not m:
            raise ValueError(f"not an RFC3339 time: {self.text!r}")
        frac = (m["frac"] or "")[1:7].ljust(6, "0")
        base = f"{m['date']}T{m['time']}.{frac}{'+00:00' if m['tz'] in ('Z', 'z') else m['tz']}"
        return dt.datetime.fromisoformat(base)


_RFC3339 = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<time>\d{2}:\d{2}:\d{2})(?P<frac>\.\d+)?(?P<tz>[Zz]|[+-]\d{2}:\d{2})$"
)

# yaml.v3 allowedTimestampFormats: "2006-1-2T15:4:5.999999999Z07:00" (also lower-case t),
# "2006-1-2 15:4:5.999999999" and "2006-1-2".
_YAML_TIME = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2})"
    r"(?:(?P<sep>[Tt ])(?P<h>\d{1,2}):(?P<mi>\d{1,2}):(?P<s>\d{1,2})(?P<frac>\.\d+)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?$"
)


def parse_yaml_time(text: str) -> Timestamp | None:
    """Resolve a plain YAML scalar as yaml.v3 does for timestamps; None when it is not one."""
    m = _YAML_TIME.match(text)
    if not m:
        return None
    has_time = m["h"] is not None
    if has_time and (m["sep"] == " ") == (m["tz"] is not None):
        # Go's space-separated layout has no zone; the T layouts require one.
        return None
    try:
        y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
        dt.date(y, mo, d)
        h, mi, s = (int(m["h"]), int(m["mi"]), int(m["s"])) if has_time else (0, 0, 0)
        if h > 23 or mi > 59 or s > 59:
            return None
    except ValueError:
        return None
    frac = (m["frac"] or "")[1:10].rstrip("0")
    tz = m["tz"] or "Z"
    if tz in ("+00:00", "-00:00"):
        tz = "Z"
    return Timestamp(f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{'.' + frac if frac else ''}{tz}")


def parse_rfc3339(text: str) -> Timestamp:
    """Decode a ``type:time`` plaintext (Go ``time.UnmarshalText``) into its canonical text."""
    m = _RFC3339.match(text)
    ts = parse_yaml_time(text) if m else None
    if ts is None:
        raise ValueError(f"not an RFC3339 time: {text!r}")
    return ts


def _shortest_digits(value: float) -> tuple[str, int]:
    """Go's shortest round-trip decimal digits of ``abs(value)`` (no trailing zeros) and the
    decimal point position, value = 0.DIGITS × 10^dp; Python's ``repr`` finds the same digits."""
    _, digits, exponent = Decimal(repr(abs(value))).as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    dp = len(text) + exponent
    stripped = text.lstrip("0")
    dp -= len(text) - len(stripped)
    return stripped.rstrip("0") or "0", dp


def go_format_float(value: float, fmt: str) -> str:
    """Go ``strconv.FormatFloat(value, fmt, -1, 64)`` for ``fmt`` in ``f``, ``e``, ``g``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    neg = "-" if math.copysign(1.0, value) < 0 else ""
    digits, dp = _shortest_digits(value)
    if value == 0:
        digits, dp = "0", 1
    if fmt == "g":
        # strconv/ftoa.go formatDigits: with the shortest precision the %e/%f decision uses
        # eprec = 6, and %e then keeps every digit (so 1e10 → "1e+10", 123456 → "123456").
        exp = dp - 1
        fmt = "e" if value != 0 and (exp < -4 or exp >= 6) else "f"
    if fmt == "e":
        exp = dp - 1 if value != 0 else 0
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{neg}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if dp <= 0:
        return f"{neg}0.{'0' * -dp}{digits}"
    if dp >= len(digits):
        return f"{neg}{digits}{'0' * (dp - len(digits))}"
    return f"{neg}{digits[:dp]}.{digits[dp:]}"


def format_go_float(value: float) -> str:
    """Go ``strconv.FormatFloat(v, 'f', -1, 64)``: shortest round-trip digits, never an exponent."""
    return go_format_float(value, "f")


def go_val_to_string(value: Any) -> str:
    """sops ``stores.ValToString`` (stores/stores.go:551-569): how dotenv and INI write a non-string."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = go_format_float(value, "g").replace("e", "E")
        if math.isfinite(value) and "." not in text and "E" not in text:
            text = f"{value:.1f}"
        return text
    if isinstance(value, Timestamp):
        # time.RFC3339: whole seconds
        m = _RFC3339.match(value.text)
        return f"{m['date']}T{m['time']}{m['tz']}" if m else value.text
    if value is None:
        return "<nil>"
    if isinstance(value, Comment):
        return f"{{{value.text}}}"
    return str(value)


def format_go_bool(value: bool) -> str:
    return "True" if value else "False"


def type_name(value: Any) -> str:
    """The sops ``type:`` of a leaf."""
    if isinstance(value, Comment):
        return "comment"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, Timestamp):
        return "time"
    if isinstance(value, bytes | str):
        return "str"
    raise TypeError(f"cannot encrypt a value of type {type(value).__name__}")


def to_bytes(value: Any) -> bytes:
    """Go ``sops.ToBytes``: what goes into the MAC and into the cipher for each leaf."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, Comment):
        return value.text.encode("utf-8", "surrogateescape")
    if isinstance(value, bool):
        return format_go_bool(value).encode()
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return format_go_float(value).encode()
    if isinstance(value, Timestamp):
        return value.text.encode()
    raise TypeError(f"cannot encode a value of type {type(value).__name__}")


_GO_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_GO_FALSE = {"0", "f", "F", "FALSE", "false", "False"}


def from_text(text: bytes, kind: str) -> Any:
    """Decode a decrypted plaintext into the typed leaf for ``type:kind`` (Go ``Decrypt``)."""
    if kind == "bytes":
        return text
    s = text.decode("utf-8", "surrogateescape")
    if kind == "str":
        return s
    if kind == "comment":
        return Comment(s)
    if kind == "int":
        return int(s, 10)
    if kind == "float":
        return float(s)
    if kind == "bool":
        if s in _GO_TRUE:
            return True
        if s in _GO_FALSE:
            return False
        raise ValueError(f"invalid bool {s!r}")
    if kind == "time":
        return parse_rfc3339(s)
    raise ValueError(f"unknown datatype {kind!r}")


# --- walking the tree ---------------------------------------------------------------------


def walk_leaves(branches: list[Branch]) -> Iterator[tuple[Any, tuple[str, ...], tuple[str, ...]]]:
    """Every leaf and comment in MAC order as ``(value, path, comments_before)``.

    ``comments_before`` is the text of the comments met since the previous value at each level
    (the stack the comment regexes look at).
    """
    for branch in branches:
        yield from _walk_branch(branch, (), ())


def _walk_branch(
    branch: Branch, path: tuple[str, ...], stack: tuple[str, ...]
) -> Iterator[tuple[Any, tuple[str, ...], tuple[str, ...]]]:
    pending: list[str] = []
    for key, value in branch:
        if isinstance(key, Comment):
            yield key, path, stack
            pending.append(key.text)
            continue
        yield from _walk_value(value, (*path, key_text(key)), (*stack, *pending))
        pending = []


def _walk_value(
    value: Any, path: tuple[str, ...], stack: tuple[str, ...]
) -> Iterator[tuple[Any, tuple[str, ...], tuple[str, ...]]]:
    if isinstance(value, Mapping):
        yield from _walk_branch(value, path, stack)
    elif isinstance(value, list):
        pending: list[str] = []
        for item in value:
            if isinstance(item, Comment):
                yield item, path, stack
                pending.append(item.text)
                continue
            yield from _walk_value(item, path, (*stack, *pending))
            pending = []
    elif value is None:
        return
    else:
        yield value, path, stack


def key_text(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bool):
        return "true" if key else "false"
    return str(key)


def transform(branches: list[Branch], fn: Callable[[Any, tuple[str, ...], tuple[str, ...]], Any]) -> list[Branch]:
    """A copy of the tree with every leaf and comment replaced by ``fn(value, path, stack)``."""
    return [_map_branch(b, (), (), fn) for b in branches]


def _map_branch(branch: Branch, path: tuple[str, ...], stack: tuple[str, ...], fn: Callable[..., Any]) -> Branch:
    out = Mapping()
    pending: list[str] = []
    for key, value in branch:
        if isinstance(key, Comment):
            out.append((fn(key, path, stack), None))
            pending.append(key.text)
            continue
        out.append((key, _map_value(value, (*path, key_text(key)), (*stack, *pending), fn)))
        pending = []
    return out


def _map_value(value: Any, path: tuple[str, ...], stack: tuple[str, ...], fn: Callable[..., Any]) -> Any:
    if isinstance(value, Mapping):
        return _map_branch(value, path, stack, fn)
    if isinstance(value, list):
        items: list[Any] = []
        pending: list[str] = []
        for item in value:
            if isinstance(item, Comment):
                items.append(fn(item, path, stack))
                pending.append(item.text)
                continue
            items.append(_map_value(item, path, (*stack, *pending), fn))
            pending = []
        return items
    if value is None:
        return None
    return fn(value, path, stack)
