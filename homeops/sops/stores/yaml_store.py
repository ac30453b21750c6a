"""YAML the way sops (go-yaml v3) sees it: ordered, multi-document, comments kept, v3 typing.

PyYAML builds the node graph; a scanner hook records every comment with its position, and each
comment is attached to the innermost mapping or sequence that encloses it, which is where yaml.v3
and sops put it (AAD = that collection's key path). Scalars are typed by yaml.v3's rules, not
PyYAML's YAML 1.1 ones (``yes`` stays a string, ``0755`` is octal, dates are times), because
plaintext leaves are part of the MAC. ``<<`` merge keys stay literal keys, as in sops.
"""

from __future__ import annotations

import base64
import bisect
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from homeops.sops.errors import SopsFormatError
from homeops.sops.tree import Branch, Comment, Mapping, Timestamp, key_text, parse_yaml_time

INDENT = 4
_STR = "tag:yaml.org,2002:str"
_NULLS = {"", "~", "null", "Null", "NULL"}
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_SPECIAL_FLOATS = {
    ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf,
    "+.inf": math.inf, "+.Inf": math.inf, "+.INF": math.inf,
    "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf,
    ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
}  # fmt: skip
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_INT64 = (-(2**63), 2**64 - 1)


def _go_parse_int(text: str) -> int | None:
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
    return value if _INT64[0] <= value <= _INT64[1] else None


def resolve_plain(text: str) -> Any:
    """A plain (unquoted, untagged) scalar typed as yaml.v3 ``resolve`` does."""
    if text in _NULLS:
        return None
    if text in _BOOLS:
        return _BOOLS[text]
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    first = text[0]
    if first.isdigit() or first in "+-.":
        if first.isdigit():
            ts = parse_yaml_time(text)
            if ts is not None:
                return ts
        plain = text.replace("_", "")
        as_int = _go_parse_int(plain)
        if as_int is not None:
            return as_int
        if _YAML_FLOAT.match(plain):
            try:
                return float(plain)
            except ValueError:
                pass
    return text


def _explicit(node: yaml.ScalarNode) -> Any:
    tag, value = node.tag, node.value
    try:
        if tag.endswith(":int"):
            return (
                _go_parse_int(value.replace("_", ""))
                if _go_parse_int(value.replace("_", "")) is not None
                else int(value)
            )
        if tag.endswith(":float"):
            return _SPECIAL_FLOATS.get(value) or float(value.replace("_", ""))
        if tag.endswith(":bool"):
            return _BOOLS[value]
        if tag.endswith(":null"):
            return None
        if tag.endswith(":timestamp"):
            return parse_yaml_time(value) or value
        if tag.endswith(":binary"):
            return base64.b64decode(value)
    except (ValueError, KeyError):
        raise SopsFormatError(f"cannot decode {value!r} as {tag}") from None
    return value


@dataclass(slots=True)
class _Comment:
    line: int
    column: int
    text: str


_COMMENT_START = re.compile(r"(?:^|(?<=[ \t]))#")
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _scalar_spans(roots: list[yaml.Node]) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    spans: list[tuple[tuple[int, int], tuple[int, int]]] = []
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            spans.append(((node.start_mark.line, node.start_mark.column), (node.end_mark.line, node.end_mark.column)))
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    spans.sort()
    return spans


def find_comments(text: str, roots: list[yaml.Node]) -> list[_Comment]:
    """Every comment: a ``#`` at a line start or after a blank that lies outside every scalar.

    libyaml (fast) drops comments, so they are found in the text; the parsed scalars' spans say
    which ``#`` characters are content (quoted strings, block scalars) rather than comments.
    """
    if "#" not in text:
        return []
    spans = _scalar_spans(roots)
    starts = [s for s, _ in spans]
    found: list[_Comment] = []
    for number, line in enumerate(text.split("\n")):
        if "#" not in line:
            continue
        for m in _COMMENT_START.finditer(line):
            pos = (number, m.start())
            i = bisect.bisect_right(starts, pos) - 1
            if i >= 0 and spans[i][0] <= pos < spans[i][1]:
                continue
            found.append(_Comment(number, m.start(), line[m.start() + 1 :].rstrip("\r")))
            break
    return found


@dataclass(slots=True)
class _Container:
    node: yaml.Node
    depth: int
    in_sops: bool
    # Where the collection's region begins: for a block value, the line after its key, so a
    # comment between ``key:`` and the first nested key belongs inside (yaml.v3 head comment).
    start: tuple[int, int]


class _Builder:
    def __init__(self, loader: Any, file: str) -> None:
        self.loader = loader
        self.file = file
        self.by_node: dict[int, list[_Comment]] = {}

    def scalar(self, node: yaml.ScalarNode) -> Any:
        if node.style in (None, ""):
            implicit = self.loader.resolve(yaml.ScalarNode, node.value, (True, False))
            if node.tag == implicit or node.tag == "!":
                return resolve_plain(node.value)
            return _explicit(node)
        if node.tag != _STR:
            return _explicit(node)
        return node.value

    def containers(self, root: yaml.Node) -> list[_Container]:
        found: list[_Container] = []
        seen: set[int] = set()

        def visit(node: yaml.Node, depth: int, in_sops: bool, after_key: tuple[int, int] | None) -> None:
            if id(node) in seen:
                return
            seen.add(id(node))
            start = (node.start_mark.line, node.start_mark.column)
            if after_key is not None and after_key[0] < start[0]:
                start = (after_key[0] + 1, 0)
            if isinstance(node, yaml.MappingNode):
                found.append(_Container(node, depth, in_sops, start))
                for k, v in node.value:
                    is_meta = depth == 0 and isinstance(k, yaml.ScalarNode) and k.value == "sops"
                    visit(v, depth + 1, in_sops or is_meta, (k.end_mark.line, k.end_mark.column))
            elif isinstance(node, yaml.SequenceNode):
                found.append(_Container(node, depth, in_sops, start))
                for v in node.value:
                    visit(v, depth + 1, in_sops, None)

        visit(root, 0, False, None)
        return found

    def attach(self, root: yaml.Node, comments: list[_Comment]) -> None:
        boxes = self.containers(root)
        for c in comments:
            best: _Container | None = None
            for box in boxes:
                n = box.node
                s, e = n.start_mark, n.end_mark
                if box.start > (c.line, c.column) or (c.line, c.column) >= (e.line, e.column):
                    continue
                if not getattr(n, "flow_style", False) and c.column < s.column and c.line != s.line:
                    continue
                if best is None or box.depth > best.depth:
                    best = box
            target = best or boxes[0] if boxes else None
            if target is None or target.in_sops:
                continue
            self.by_node.setdefault(id(target.node), []).append(c)

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return self.scalar(node)
        comments = sorted(self.by_node.get(id(node), []), key=lambda c: (c.line, c.column))
        if isinstance(node, yaml.SequenceNode):
            seq: list[Any] = []
            for item in node.value:
                while comments and comments[0].line < item.start_mark.line + 1 and (
                    comments[0].line, comments[0].column) < (item.end_mark.line, item.end_mark.column):  # fmt: skip
                    seq.append(Comment(comments.pop(0).text))
                seq.append(self.build(item))
            seq.extend(Comment(c.text) for c in comments)
            return seq
        if isinstance(node, yaml.MappingNode):
            branch = Mapping()
            seen: set[Any] = set()
            for k, v in node.value:
                while comments and comments[0].line <= k.start_mark.line:
                    branch.append((Comment(comments.pop(0).text), None))
                key = self.build(k)
                if isinstance(key, list | dict):
                    raise SopsFormatError(
                        f"{self.file}: line {k.start_mark.line + 1}: complex mapping keys are not supported"
                    )
                marker = (type(key).__name__, key_text(key))
                if marker in seen:
                    raise SopsFormatError(
                        f"{self.file}: line {k.start_mark.line + 1}: mapping key {key_text(key)!r} already defined",
                        hint="remove the duplicate key",
                    )
                seen.add(marker)
                branch.append((key, self.build(v)))
            branch.extend((Comment(c.text), None) for c in comments)
            return branch
        raise SopsFormatError(f"{self.file}: unsupported YAML node")


def parse_documents(text: str, *, file: str) -> list[Branch]:
    """Every YAML document as a branch (comments included)."""
    loader: Any = _Loader(text)
    try:
        roots: list[yaml.Node] = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                roots.append(node)
    except yaml.YAMLError as exc:
        raise SopsFormatError(f"{file}: not valid YAML ({' '.join(str(exc).split())[:160]})") from None
    finally:
        loader.dispose()
    builder = _Builder(loader, file)
    comments = find_comments(text, roots)
    docs: list[Branch] = []
    for i, root in enumerate(roots):
        if not isinstance(root, yaml.MappingNode):
            if isinstance(root, yaml.ScalarNode) and root.value == "" and len(roots) == 1:
                continue
            raise SopsFormatError(
                f"{file}: document {i + 1} is not a mapping; sops supports only YAML documents that are mappings"
            )
        end = (root.end_mark.line, root.end_mark.column)
        mine = [c for c in comments if (c.line, c.column) < end or i == len(roots) - 1]
        comments = [c for c in comments if c not in mine]
        builder.attach(root, mine)
        docs.append(builder.build(root))
    if not docs:
        docs.append(Mapping())
    return docs


def to_plain(value: Any) -> Any:
    """Branches to dicts and lists without comments (the last duplicate key wins)."""
    if isinstance(value, Mapping):
        return {
            key_text(k) if not isinstance(k, str) else k: to_plain(v) for k, v in value if not isinstance(k, Comment)
        }
    if isinstance(value, list):
        return [to_plain(v) for v in value if not isinstance(v, Comment)]
    return value


def from_plain(value: Any) -> Any:
    if isinstance(value, dict):
        return Mapping((k, from_plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    return value


class YamlStore:
    name = "yaml"

    def __init__(self, indent: int = INDENT) -> None:
        self.indent = indent

    def load(self, data: bytes, *, file: str) -> tuple[list[Branch], Any]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SopsFormatError(f"{file}: not UTF-8 text, so not a YAML file") from None
        docs = parse_documents(text, file=file)
        metadata = None
        branches: list[Branch] = []
        for i, doc in enumerate(docs):
            kept = Mapping()
            for k, v in doc:
                if k == "sops" and not isinstance(k, Comment):
                    if i == 0:
                        metadata = to_plain(v)
                    continue
                kept.append((k, v))
            branches.append(kept)
        return branches, metadata

    def dump(self, branches: list[Branch], metadata: dict[str, Any] | None) -> bytes:
        out: list[str] = []
        meta = from_plain(metadata) if metadata is not None else None
        for i, branch in enumerate(branches):
            if i:
                out.append("---")
            doc = Mapping(branch)
            if meta is not None:
                doc.append(("sops", meta))
            Emitter(self.indent).mapping(doc, 0, out)
        return ("\n".join(out) + "\n").encode("utf-8", "surrogateescape") if out else b"{}\n"


# --- emitting -----------------------------------------------------------------------------------

_RESOLVER = yaml.resolver.Resolver()
_NONPRINT = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]")
_LITERAL_BAD = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff]")
_PLAIN_OK = re.compile(r"^[^\s\-?:,\[\]{}#&*!|>'\"%@`][^\n]*$")


def _double_quoted(text: str) -> str:
    quoted = json.dumps(text, ensure_ascii=False)
    return _NONPRINT.sub(lambda m: f"\\u{ord(m.group(0)):04x}", quoted)


def _plain_ok(text: str) -> bool:
    if not text or text != text.strip() or not _PLAIN_OK.match(text):
        return False
    if ": " in text or " #" in text or text.endswith(":") or "\t" in text or _NONPRINT.search(text):
        return False
    # Both yaml.v3 and YAML 1.1 readers (PyYAML, older tools) must read it back as a string.
    implicit: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
    return resolve_plain(text) == text and implicit == _STR


def scalar_text(value: Any) -> str:
    """A one-line YAML scalar (keys and short values)."""
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
        return repr(value)
    if isinstance(value, Timestamp):
        return value.text
    if isinstance(value, bytes):
        return "!!binary " + base64.b64encode(value).decode()
    text = str(value)
    return text if _plain_ok(text) else _double_quoted(text)


class Emitter:
    def __init__(self, indent: int) -> None:
        self.step = indent

    def value_lines(self, value: Any, content_indent: int) -> tuple[str, list[str]]:
        """``(inline, following_lines)`` for a scalar; literal blocks put the text on following lines."""
        if isinstance(value, str) and "\n" in value and not _LITERAL_BAD.search(value) and "\r" not in value:
            first = value.split("\n", 1)[0]
            if first == first.lstrip(" \t") and value.strip("\n"):
                body = value[:-1] if value.endswith("\n") else value
                # Literal block chomping: "-" strips the final newline, "+" keeps extra ones.
                chomp = "-" if not value.endswith("\n") else ("+" if value.endswith("\n\n") else "")
                pad = " " * content_indent
                return f"|{chomp}", [pad + line if line else "" for line in body.split("\n")]
        return scalar_text(value), []

    def mapping(self, branch: Branch, indent: int, out: list[str]) -> None:
        pad = " " * indent
        for key, value in branch:
            if isinstance(key, Comment):
                out.append(f"{pad}#{key.text}")
                continue
            k = scalar_text(key)
            if isinstance(value, Mapping):
                if any(not isinstance(kk, Comment) for kk, _ in value):
                    out.append(f"{pad}{k}:")
                    self.mapping(value, indent + self.step, out)
                else:
                    out.append(f"{pad}{k}: {{}}")
            elif isinstance(value, list):
                if any(not isinstance(v, Comment) for v in value):
                    out.append(f"{pad}{k}:")
                    self.sequence(value, indent + self.step, out)
                else:
                    out.append(f"{pad}{k}: []")
            else:
                inline, rest = self.value_lines(value, indent + self.step)
                out.append(f"{pad}{k}: {inline}")
                out.extend(rest)

    def sequence(self, seq: list[Any], indent: int, out: list[str]) -> None:
        pad = " " * indent
        for item in seq:
            if isinstance(item, Comment):
                out.append(f"{pad}#{item.text}")
                continue
            nested: list[str] = []
            if isinstance(item, Mapping) and any(not isinstance(k, Comment) for k, _ in item):
                self.mapping(item, indent + 2, nested)
            elif isinstance(item, list) and any(not isinstance(v, Comment) for v in item):
                self.sequence(item, indent + 2, nested)
            elif isinstance(item, Mapping):
                out.append(f"{pad}- {{}}")
                continue
            elif isinstance(item, list):
                out.append(f"{pad}- []")
                continue
            else:
                inline, rest = self.value_lines(item, indent + 2)
                out.append(f"{pad}- {inline}")
                out.extend(rest)
                continue
            if nested[0].lstrip().startswith("#"):
                out.append(f"{pad}-")
                out.extend(nested)
            else:
                out.append(f"{pad}- {nested[0][indent + 2 :]}")
                out.extend(nested[1:])
