"""YAML output byte-for-byte as Go sops writes it (go.yaml.in/yaml/v3 v3.0.4, the libyaml emitter port).

sops turns every value into a node with ``yaml.Node.Encode`` (stores/yaml/store.go:187-204,242-246):
the value is marshalled (encode.go ``stringv``/``floatv``/``intv``), emitted once and parsed back,
so the style the emitter picked survives into the final emit, where it is checked again in its
real context (a mapping key is a "simple key"). What follows models those steps:

* requested style (encode.go:324-363): a string with a newline asks for a literal block; one that
  yaml.v3 would read back as another type, or that YAML 1.1 readers would (``yes``/``no``/``y``/
  ``n``/``on``/``off``, base-60 ``1:20``), asks for double quotes; anything else asks for plain.
* the emitter's analysis (emitterc.go:1289-1441 ``yaml_emitter_analyze_scalar``) downgrades it:
  plain → single quoted → double quoted, literal → double quoted (emitterc.go:1031-1078).
* writers (emitterc.go:1643-1960): plain and quoted scalars would fold past ``best_width``, which
  yaml.v3 leaves unlimited, so long lines stay whole; double quotes escape the non-printable
  (``\\a``, ``\\x7F``, ``\\U0001F642``: libyaml counts nothing beyond the BMP as printable),
  a literal block gets an indentation indicator when it starts with a space or a break, and
  ``-``/``+`` chomping.
* floats are ``strconv.FormatFloat(f, 'g', -1, 64)`` (encode.go:391-408): ``1``, ``1e+10``.
* indentation (emitterc.go:228-255): a value inside a sequence item is indented by 2, everything
  else to the next multiple of the indent (4 by default).
"""

from __future__ import annotations

import base64
import math
import re
from typing import Any

from homeops.sops.stores.yaml_resolve import resolve_plain
from homeops.sops.tree import Comment, Mapping, Timestamp, go_format_float

# yaml.v3 initialises best_width to -1 (apic.go:111), which the emitter turns into "no limit"
# (emitterc.go:340-342): sops never folds a long line.
BEST_WIDTH = (1 << 31) - 1

_PLAIN, _SINGLE, _DOUBLE, _LITERAL, _NULL = "plain", "single", "double", "literal", "null"
_BREAKS = "\r\n\x85\u2028\u2029"
_BASE60 = re.compile(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$")
_OLD_BOOLS = {"y", "Y", "yes", "Yes", "YES", "on", "On", "ON", "n", "N", "no", "No", "NO", "off", "Off", "OFF"}


def _printable(c: str) -> bool:
    """yamlprivateh.go ``is_printable``: nothing outside the BMP, no C1 controls, no BOM."""
    o = ord(c)
    return o == 0x0A or 0x20 <= o <= 0x7E or 0xA0 <= o <= 0xD7FF or (0xE000 <= o <= 0xFFFD and o != 0xFEFF)


class _Analysis:
    __slots__ = ("block", "block_plain", "multiline", "single")

    def __init__(self, value: str) -> None:
        """emitterc.go ``yaml_emitter_analyze_scalar`` (block context only: flow is never used)."""
        if not value:
            self.multiline, self.block_plain, self.single, self.block = False, True, True, False
            return
        block_ind = value.startswith(("---", "..."))
        line_breaks = special = tabs = False
        leading_space = leading_break = trailing_space = trailing_break = False
        break_space = space_break = previous_space = previous_break = False
        preceded_by_ws = True
        n = len(value)
        for i, c in enumerate(value):
            followed_by_ws = i + 1 >= n or value[i + 1] in " \t"
            if i == 0:
                if c in "#,[]{}&*!|>'\"%@`" or (c in "?:-" and followed_by_ws):
                    block_ind = True
            elif (c == ":" and followed_by_ws) or (c == "#" and preceded_by_ws):
                block_ind = True
            if c == "\t":
                tabs = True
            elif not _printable(c):
                special = True
            if c == " ":
                leading_space = leading_space or i == 0
                trailing_space = trailing_space or i == n - 1
                break_space = break_space or previous_break
                previous_space, previous_break = True, False
            elif c in _BREAKS:
                line_breaks = True
                leading_break = leading_break or i == 0
                trailing_break = trailing_break or i == n - 1
                space_break = space_break or previous_space
                previous_space, previous_break = False, True
            else:
                previous_space = previous_break = False
            preceded_by_ws = c in " \t\0" or c in _BREAKS
        self.multiline = line_breaks
        self.block_plain = self.single = self.block = True
        if leading_space or leading_break or trailing_space or trailing_break or line_breaks or block_ind:
            self.block_plain = False
        if trailing_space:
            self.block = False
        if break_space or space_break or tabs or special:
            self.block_plain = self.single = False
        if space_break or special:
            self.block = False


def _select(style: str, value: str, a: _Analysis, simple_key: bool) -> str:
    """emitterc.go ``yaml_emitter_select_scalar_style`` (block context, implicit tags)."""
    if simple_key and a.multiline:
        style = _DOUBLE
    if style == _PLAIN and (not a.block_plain or (not value and simple_key)):
        style = _SINGLE
    if style == _SINGLE and not a.single:
        style = _DOUBLE
    if style == _LITERAL and (not a.block or simple_key):
        style = _DOUBLE
    return style


def _resolves_to_str(text: str) -> bool:
    # resolve.go: "<<" is the merge tag, not a string
    return text != "<<" and resolve_plain(text) == text and isinstance(resolve_plain(text), str)


def _is_base60(text: str) -> bool:
    return bool(text) and (text[0] in "+-" or text[0].isdigit()) and ":" in text and bool(_BASE60.match(text))


def scalar_style(value: str, *, simple_key: bool) -> str:
    """The style Go sops ends up writing a string in (requested by encode.go, then the emitter's
    choice at ``Node.Encode`` time, then again in the final context); ``null`` when that first
    round trip fails."""
    if "\n" in value:
        requested = _LITERAL
    elif _resolves_to_str(value) and not _is_base60(value) and value not in _OLD_BOOLS:
        requested = _PLAIN
    else:
        requested = _DOUBLE
    analysis = _Analysis(value)
    first = _select(requested, value, analysis, simple_key=False)
    if first == _LITERAL and value.startswith("\t"):
        # Node.Encode re-parses the literal block it emitted; with no indentation indicator a
        # leading tab is "a tab character where an indentation space is expected"
        # (scannerc.go yaml_parser_scan_block_scalar_breaks), the error is ignored by sops
        # (stores/yaml/store.go:199-202) and the empty node prints as null, as Flux also sees it.
        return _NULL
    return _select(first, value, analysis, simple_key=simple_key)


def _plain_text(value: Any) -> str | None:
    """The plain text of a non-string leaf (encode.go boolv/intv/floatv/nilv, time as RFC3339Nano)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return go_format_float(value, "g")
    if isinstance(value, Timestamp):
        return value.text
    return None


_ESCAPES = {
    "\0": "0", "\x07": "a", "\b": "b", "\t": "t", "\n": "n", "\x0b": "v", "\x0c": "f", "\r": "r",
    "\x1b": "e", '"': '"', "\\": "\\", "\x85": "N", "\xa0": "_", "\u2028": "L", "\u2029": "P",
}  # fmt: skip


class Writer:
    """The emitter's output state: column, ``whitespace`` and ``indention`` flags (emitterc.go put/write)."""

    def __init__(self, indent: int = 4) -> None:
        self.best_indent = indent
        self.parts: list[str] = []
        self.column = 0
        self.whitespace = True
        self.indention = True

    def text(self) -> str:
        return "".join(self.parts)

    def put(self, s: str) -> None:
        self.parts.append(s)
        self.column += len(s)

    def put_break(self) -> None:
        self.parts.append("\n")
        self.column = 0
        self.indention = True

    def write_break(self, c: str) -> None:
        # emitterc.go write_break: "\n" is put_break; another break character (NEL, LS, PS, CR) is
        # written as itself and starts a new line too.
        if c == "\n":
            self.put_break()
        else:
            self.parts.append(c)
            self.column = 0
            self.indention = True

    def write_indent(self, indent: int) -> None:
        indent = max(indent, 0)
        if not self.indention or self.column > indent or (self.column == indent and not self.whitespace):
            self.put_break()
        if self.column < indent:
            self.put(" " * (indent - self.column))
        self.whitespace = True

    def indicator(self, ind: str, need_ws: bool, is_ws: bool, is_indention: bool) -> None:
        if need_ws and not self.whitespace:
            self.put(" ")
        self.put(ind)
        self.whitespace = is_ws
        self.indention = self.indention and is_indention

    def comment(self, text: str, indent: int) -> None:
        self.write_indent(indent)
        self.put("#" + text)
        self.put_break()
        self.whitespace = True

    # --- scalars (emitterc.go:1643-1960) ---

    def scalar(self, value: Any, indent: int, *, simple_key: bool) -> None:
        plain = _plain_text(value)
        if plain is not None:
            self._plain(plain, indent, allow_breaks=not simple_key)
            return
        if isinstance(value, bytes):
            self._plain("!!binary", indent, allow_breaks=False)
            self._plain(base64.b64encode(value).decode(), indent, allow_breaks=False)
            return
        text = str(value)
        if text == "<<":
            # What yaml.v3 v3.0.4 writes for the string "<<" (its merge-key spelling), as sops shows it.
            self._plain("!!merge <<", indent, allow_breaks=False)
            return
        style = scalar_style(text, simple_key=simple_key)
        if style == _NULL:
            self._plain("null", indent, allow_breaks=False)
        elif style == _PLAIN:
            self._plain(text, indent, allow_breaks=not simple_key)
        elif style == _SINGLE:
            self._single(text, indent, allow_breaks=not simple_key)
        elif style == _DOUBLE:
            self._double(text, indent, allow_breaks=not simple_key)
        else:
            self._literal(text, indent)

    def _plain(self, value: str, indent: int, *, allow_breaks: bool) -> None:
        if value and not self.whitespace:
            self.put(" ")
        spaces = False
        n = len(value)
        for i, c in enumerate(value):
            if c == " ":
                if allow_breaks and not spaces and self.column > BEST_WIDTH and not (i + 1 < n and value[i + 1] == " "):
                    self.write_indent(indent)
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                self.indention = False
                spaces = False
        if value:
            self.whitespace = False
        self.indention = False

    def _single(self, value: str, indent: int, *, allow_breaks: bool) -> None:
        self.indicator("'", True, False, False)
        spaces = breaks = False
        n = len(value)
        for i, c in enumerate(value):
            if c == " ":
                if (
                    allow_breaks
                    and not spaces
                    and self.column > BEST_WIDTH
                    and 0 < i < n - 1
                    and not (i + 1 < n and value[i + 1] == " ")
                ):
                    self.write_indent(indent)
                else:
                    self.put(c)
                spaces = True
            elif c in _BREAKS:
                if not breaks and c == "\n":
                    self.put_break()
                self.write_break(c)
                breaks = True
            else:
                if breaks:
                    self.write_indent(indent)
                self.put("''" if c == "'" else c)
                self.indention = False
                spaces = breaks = False
        self.indicator("'", False, False, False)
        self.whitespace = False
        self.indention = False

    def _double(self, value: str, indent: int, *, allow_breaks: bool) -> None:
        self.indicator('"', True, False, False)
        spaces = False
        bom = value.startswith("\ufeff")  # is_bom looks at the scalar's start, whatever i is
        n = len(value)
        for i, c in enumerate(value):
            if not _printable(c) or bom or c in _BREAKS or c in '"\\':
                o = ord(c)
                if c in _ESCAPES:
                    self.put("\\" + _ESCAPES[c])
                elif o <= 0xFF:
                    self.put(f"\\x{o:02X}")
                elif o <= 0xFFFF:
                    self.put(f"\\u{o:04X}")
                else:
                    self.put(f"\\U{o:08X}")
                spaces = False
            elif c == " ":
                if allow_breaks and not spaces and self.column > BEST_WIDTH and 0 < i < n - 1:
                    self.write_indent(indent)
                    if value[i + 1] == " ":
                        self.put("\\")
                else:
                    self.put(c)
                spaces = True
            else:
                self.put(c)
                spaces = False
        self.indicator('"', False, False, False)
        self.whitespace = False
        self.indention = False

    def _literal(self, value: str, indent: int) -> None:
        self.indicator("|", True, False, False)
        if value[0] == " " or value[0] in _BREAKS:
            self.indicator(str(self.best_indent), False, False, False)
        last = value[-1]
        if last not in _BREAKS:
            self.indicator("-", False, False, False)
        elif len(value) == 1 or value[-2] in _BREAKS:
            self.indicator("+", False, False, False)
        self.put_break()
        self.whitespace = True
        breaks = True
        for c in value:
            if c in _BREAKS:
                self.write_break(c)
                breaks = True
            else:
                if breaks:
                    self.write_indent(indent)
                self.put(c)
                self.indention = False
                breaks = False


class Emitter:
    """Block mappings and sequences as yaml.v3 lays them out; comments as sops attaches them."""

    def __init__(self, indent: int) -> None:
        self.step = indent

    def _next(self, indent: int, in_sequence: bool) -> int:
        # emitterc.go:228-255 yaml_emitter_increase_indent_compact
        if indent < 0:
            return 0
        if in_sequence:
            return indent + 2
        return self.step * ((indent + self.step) // self.step)

    def document(self, branch: Mapping) -> str:
        w = Writer(self.step)
        self.mapping(w, branch, 0)
        if not any(not isinstance(k, Comment) for k, _ in branch):
            # an empty mapping node, its comments above it (stores/yaml/store.go:231-256)
            w.write_indent(0)
            w.indicator("{", True, True, False)
            w.indicator("}", False, False, False)
        return w.text()

    def sequence_document(self, seq: list[Any]) -> str:
        w = Writer(self.step)
        self.sequence(w, seq, 0)
        return w.text()

    def value(self, w: Writer, value: Any, parent: int, *, in_sequence: bool) -> None:
        """A value after ``key:`` or ``-`` (``parent`` is the indent of that key or dash)."""
        if isinstance(value, Mapping):
            if any(not isinstance(k, Comment) for k, _ in value):
                self.mapping(w, value, self._next(parent, in_sequence))
            else:
                w.indicator("{", True, True, False)
                w.indicator("}", False, False, False)
        elif isinstance(value, list):
            if any(not isinstance(v, Comment) for v in value):
                self.sequence(w, value, self._next(parent, in_sequence))
            else:
                w.indicator("[", True, True, False)
                w.indicator("]", False, False, False)
        else:
            w.scalar(value, self._next(parent, in_sequence), simple_key=False)

    def mapping(self, w: Writer, branch: Mapping, indent: int) -> None:
        for key, value in branch:
            if isinstance(key, Comment):
                w.comment(key.text, indent)
                continue
            w.write_indent(indent)
            if _simple_key(key):
                w.scalar(key, indent, simple_key=True)
                w.indicator(":", False, False, False)
            else:
                # emitterc.go:997-1029 check_simple_key: a multi-line key or one over 128 bytes is
                # written as "? key" then ": value" (emitterc.go:812-817, 836-842).
                w.indicator("?", True, False, True)
                w.scalar(key, self._next(indent, False), simple_key=False)
                w.write_indent(indent)
                w.indicator(":", True, False, True)
            self.value(w, value, indent, in_sequence=False)

    def sequence(self, w: Writer, seq: list[Any], indent: int) -> None:
        for item in seq:
            if isinstance(item, Comment):
                w.comment(item.text, indent)
                continue
            w.write_indent(indent)
            w.indicator("-", True, False, True)
            self.value(w, item, indent, in_sequence=True)


def _simple_key(key: Any) -> bool:
    text = _plain_text(key)
    if text is None:
        text = "!!merge <<" if key == "<<" else str(key)
        if any(c in _BREAKS for c in text):
            return False
    return len(text.encode("utf-8", "surrogateescape")) <= 128


def scalar_text(value: Any) -> str:
    """One scalar as Go sops writes it on its own (``--extract`` of a non-string value)."""
    w = Writer()
    w.scalar(value, 0, simple_key=False)
    return w.text().lstrip(" ")
