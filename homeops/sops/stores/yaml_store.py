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
import re
from dataclasses import dataclass
from typing import Any

import yaml

from homeops.sops.errors import SopsFormatError
from homeops.sops.stores.yaml_emit import Emitter
from homeops.sops.stores.yaml_emit import scalar_text as scalar_text  # re-exported: the one-scalar writer
from homeops.sops.stores.yaml_resolve import BOOLS, SPECIAL_FLOATS, go_parse_int
from homeops.sops.stores.yaml_resolve import resolve_plain as resolve_plain  # re-exported: yaml.v3 typing
from homeops.sops.tree import Branch, Comment, Mapping, key_text, parse_yaml_time

INDENT = 4
_STR = "tag:yaml.org,2002:str"


def _explicit(node: yaml.ScalarNode) -> Any:
    tag, value = node.tag, node.value
    try:
        if tag.endswith(":int"):
            return (
                go_parse_int(value.replace("_", "")) if go_parse_int(value.replace("_", "")) is not None else int(value)
            )
        if tag.endswith(":float"):
            return SPECIAL_FLOATS.get(value) or float(value.replace("_", ""))
        if tag.endswith(":bool"):
            return BOOLS[value]
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
            start = (node.start_mark.line, node.start_mark.column)
            if node.style in ("|", ">"):
                # a block scalar's content starts on the next line: a comment after the indicator
                # ("key: | # note") is a real comment
                start = (node.start_mark.line + 1, 0)
            spans.append((start, (node.end_mark.line, node.end_mark.column)))
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                stack.extend((k, v))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
    spans.sort()
    return spans


_YAML_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def yaml_lines(text: str) -> list[str]:
    """The lines as the YAML reader counts them (its marks' line numbers): CR LF, CR, LF, NEL and the
    Unicode line/paragraph separators all end a line (a single-quoted scalar from yaml.v3 may hold one)."""
    return _YAML_BREAK.split(text)


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
    for number, line in enumerate(yaml_lines(text)):
        if "#" not in line:
            continue
        for m in _COMMENT_START.finditer(line):
            pos = (number, m.start())
            i = bisect.bisect_right(starts, pos) - 1
            if i >= 0 and spans[i][0] <= pos < spans[i][1]:
                continue
            found.append(_Comment(number, m.start(), line[m.start() + 1 :]))
            break
    return found


# Where yaml.v3 hangs a group of comment lines: on the content before it, as the head of the content
# after it, or (a later or dedented foot, "unrelated to the prior token") at its own column.
_PREV, _NEXT, _OWN, _EXACT, _ROOT = "prev", "next", "own", "exact", "root"


def _split_comment_run(
    lines: list[str], prev: int, prev_text: str, nxt: int | None, indent: int
) -> list[tuple[list[int], str, int]]:
    """The comment lines between content line ``prev`` and ``nxt`` (None: end of document) in
    groups, each with where it hangs (scannerc.go:2921-3030) and the column of the line that closed
    it; ``indent`` is the column of the block holding ``prev``."""
    out: list[tuple[list[int], str, int]] = []
    related = True  # only the first foot hangs on prev; later ones are "unrelated to the prior token"
    group: list[int] = []
    group_col = -1
    first_empty = True
    recent_empty = False
    stop = nxt if nxt is not None else len(lines)
    next_col = len(lines[nxt]) - len(lines[nxt].lstrip()) if nxt is not None else 0
    for i in range(prev + 1, stop + 1):
        if i < stop and not lines[i].strip():
            if group and not recent_empty and first_empty:
                under_prev = group[0] == prev + 1 and not prev_text.endswith(":")
                if under_prev or group_col < indent:
                    out.append((group, _PREV if related and group_col >= indent else _OWN, next_col))
                    group, related = [], False
            first_empty = False
            recent_empty = True
            continue
        col = len(lines[i]) - len(lines[i].lstrip()) if i < len(lines) else 0
        if group and col < indent and col != group_col and (i < stop or nxt is not None):
            # a line at another, dedented column: what came before is a foot (scannerc.go:2973)
            out.append((group, _PREV if related else _OWN, col))
            group, related = [], False
        if i >= stop:
            break
        if not group:
            group_col = col
        group.append(i)
        recent_empty = False
    if group:
        if nxt is not None:
            out.append((group, _NEXT, next_col))
        else:
            # the end of the document (scannerc.go:2932-2956 at the terminator): right under prev, or
            # dedented, it is a foot — of prev, or when dedented of the block at exactly its column;
            # otherwise the document's own comment
            under_prev = group[0] == prev + 1 and not prev_text.endswith(":")
            if first_empty and (under_prev or group_col < indent):
                out.append((group, _PREV if related and group_col >= indent else _EXACT, 0))
            else:
                out.append((group, _ROOT, 0))
    return out


@dataclass(slots=True)
class _Container:
    node: yaml.Node
    depth: int
    in_sops: bool
    # Where the collection's region begins: for a block value, the line after its key, so a
    # comment between ``key:`` and the first nested key belongs inside (yaml.v3 head comment).
    start: tuple[int, int]
    # a block sequence at its key's own column ("key:\n- item"): no indentation level of its own
    indentless: bool = False


class _Builder:
    def __init__(self, loader: Any, file: str) -> None:
        self.loader = loader
        self.file = file
        self.by_node: dict[int, list[_Comment]] = {}
        self.unrelated: set[int] = set()  # comment lines hung at their own column
        self.exact: set[int] = set()  # … only in a block that starts exactly there

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

        def visit(
            node: yaml.Node, depth: int, in_sops: bool, after_key: tuple[int, int] | None, key_col: int = -1
        ) -> None:
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
                    visit(v, depth + 1, in_sops or is_meta, (k.end_mark.line, k.end_mark.column), k.start_mark.column)
            elif isinstance(node, yaml.SequenceNode):
                indentless = not node.flow_style and node.start_mark.column <= key_col
                found.append(_Container(node, depth, in_sops, start, indentless))
                for v in node.value:
                    visit(v, depth + 1, in_sops, None)

        visit(root, 0, False, None)
        return found

    @staticmethod
    def _innermost(
        boxes: list[_Container], pos: tuple[int, int], *, levels_only: bool = False, exact: bool = False
    ) -> _Container | None:
        best: _Container | None = None
        for box in boxes:
            if levels_only and box.indentless:
                continue
            if exact and box.node.start_mark.column != pos[1]:
                continue
            n = box.node
            s, e = n.start_mark, n.end_mark
            if box.start > pos or pos >= (e.line, e.column):
                continue
            if not getattr(n, "flow_style", False) and pos[1] < s.column and pos[0] != s.line:
                continue
            if best is None or box.depth > best.depth:
                best = box
        return best

    def _go_probes(
        self, boxes: list[_Container], comments: list[_Comment], lines: list[str]
    ) -> dict[int, tuple[int, int] | None]:
        """Where yaml.v3 hangs each own-line comment: a position whose innermost collection gets it.

        scannerc.go:2887-3030 ``yaml_parser_scan_comments``: after some content P, comment lines
        are a foot of P (so they go into P's innermost collection, even when dedented) when the
        next line is dedented below P's block and starts at another column, or when a blank line
        follows a comment right under P; a later foot, and the comments left when the next content
        N arrives, belong with N (its head comment).
        """
        own = {c.line: c for c in comments if not lines[c.line][: c.column].strip()}
        trailing = {c.line: c.column for c in comments if c.line not in own}

        def content(i: int) -> bool:
            return bool(lines[i].strip()) and i not in own

        probes: dict[int, tuple[int, int] | None] = {}
        done: set[int] = set()
        for start in sorted(own):
            if start in done:
                continue
            prev = next((i for i in range(start - 1, -1, -1) if content(i)), None)
            nxt = next((i for i in range(start + 1, len(lines)) if content(i)), None)
            end = nxt if nxt is not None else len(lines)
            if nxt is not None and (lines[nxt].strip() in ("---", "...") or lines[nxt].lstrip().startswith("--- ")):
                nxt = None  # the document ends here
            run = [i for i in range(start, end) if i in own]
            done.update(run)
            next_probe: tuple[int, int] | None = None
            if nxt is not None:
                next_probe = (nxt, len(lines[nxt]) - len(lines[nxt].lstrip()))
            if prev is None:
                probes.update(dict.fromkeys(run, next_probe))
                continue
            prev_text = lines[prev][: trailing.get(prev, len(lines[prev]))].rstrip()
            prev_probe = (prev, max(len(prev_text) - 1, 0))
            box = self._innermost(boxes, prev_probe)
            indent = box.node.start_mark.column if box is not None else 0
            scope = lines[: end + 1] if nxt is not None else lines[:end]
            if nxt is None and end == len(lines) and lines[-1] == "":
                scope = scope[:-1]  # the "line" after the final newline is no blank line
            for group, where, closed_by in _split_comment_run(scope, prev, prev_text, nxt, indent):
                for line in group:
                    # an unrelated foot stays in the deepest open block its column, or the column
                    # of the line that ended it, still reaches
                    own_probe = (line, max(own[line].column, closed_by))
                    exact = (line, own[line].column)
                    probes[line] = {_PREV: prev_probe, _NEXT: next_probe, _OWN: own_probe, _EXACT: exact, _ROOT: None}[
                        where
                    ]
                    if where in (_OWN, _EXACT):
                        self.unrelated.add(line)
                    if where == _EXACT:
                        self.exact.add(line)
        return probes

    def attach(self, root: yaml.Node, comments: list[_Comment], lines: list[str]) -> None:
        boxes = self.containers(root)
        probes = self._go_probes(boxes, comments, lines)
        for c in comments:
            probe = probes.get(c.line, (c.line, c.column))
            own = c.line in self.unrelated
            best = (
                self._innermost(boxes, probe, levels_only=own, exact=c.line in self.exact)
                if probe is not None
                else None
            )
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
                # yaml.v3 gives an item its head and line comments, which sops puts before it.
                while comments and comments[0].line <= item.start_mark.line:
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


def _document_end(roots: list[yaml.Node], i: int, lines: list[str]) -> int:
    """The line of the ``---`` that starts document ``i + 1`` (the line count for the last one)."""
    if i + 1 >= len(roots):
        return len(lines)
    start = roots[i + 1].start_mark.line
    return next((j for j in range(start, -1, -1) if lines[j].startswith("---")), start)


def _take(comments: list[_Comment], before: tuple[int, int] | None) -> tuple[list[_Comment], list[_Comment]]:
    """(the comments before ``(line, column)``, all of them for None; the rest), in one pass."""
    taken: list[_Comment] = []
    rest: list[_Comment] = []
    for c in comments:
        (taken if before is None or (c.line, c.column) < before else rest).append(c)
    return taken, rest


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
    lines = yaml_lines(text)
    docs: list[Branch] = []
    for i, root in enumerate(roots):
        if not isinstance(root, yaml.MappingNode):
            if isinstance(root, yaml.ScalarNode) and root.value == "" and not root.style:
                # stores/yaml/store.go:139-143: an empty document (a bare "---") is an empty branch,
                # holding the comments written in it
                end_line = _document_end(roots, i, lines)
                mine, comments = _take(comments, (end_line, 0))
                docs.append(Mapping((Comment(c.text), None) for c in mine))
                continue
            raise SopsFormatError(
                f"{file}: document {i + 1} is not a mapping; sops supports only YAML documents that are mappings"
            )
        end = (root.end_mark.line, root.end_mark.column)
        mine, comments = _take(comments, None if i == len(roots) - 1 else end)
        builder.attach(root, mine, lines)
        docs.append(builder.build(root))
    return docs  # none for an empty or comment-only stream, which sops will not encrypt


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
            doc = Mapping(branch)
            if meta is not None:
                doc.append(("sops", meta))
            text = Emitter(self.indent).document(doc)
            out.append(("---\n" if i else "") + (text if text.endswith("\n") else text + "\n"))
        return "".join(out).encode("utf-8", "surrogateescape") if out else b"{}\n"
