"""Load YAML the way Flux (go-yaml) does, keeping line numbers.

PyYAML's safe loader refuses four things that go-yaml accepts and that real home-ops repositories
contain: an anchor defined twice (the later one wins), a custom tag such as ``!env_var`` (kept as
the plain value), a bare ``=`` (go-yaml reads the string ``"="``; PyYAML's YAML 1.1 ``value`` tag
fails) — and it must not crash on any of them. The fast path is libyaml; only a file with a
duplicate anchor falls back to the pure-Python composer, which lets the later anchor win.

Mappings and sequences come back as :class:`Map` / :class:`Seq`, which remember the 1-based line of
the node and of each key / item, so a finding can name the line of the offending key.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

_FastParser: Any
try:  # libyaml is an optional extension of PyYAML; without it the pure-Python parser does the same job
    import yaml.cyaml as _cyaml

    _FastParser = getattr(_cyaml, "CParser", None)
except ImportError:  # pragma: no cover - depends on how PyYAML was built
    _FastParser = None


class Map(dict[Any, Any]):
    """A mapping that knows its own line and the line of each key."""

    __slots__ = ("key_lines", "line")

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.key_lines: dict[Any, int] = {}

    def line_of(self, key: Any) -> int:
        return self.key_lines.get(key, self.line)


class Seq(list[Any]):
    """A sequence that knows its own line and the line of each item."""

    __slots__ = ("item_lines", "line")

    def __init__(self) -> None:
        super().__init__()
        self.line = 0
        self.item_lines: list[int] = []

    def line_of(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


def line_of(node: Any, default: int = 0) -> int:
    """The line of a loaded mapping or sequence, else ``default``."""
    return int(getattr(node, "line", default) or default)


class _GoResolver(Resolver):
    """YAML 1.1 resolution minus the ``value`` tag (go-yaml reads a bare ``=`` as a string)."""


_GoResolver.yaml_implicit_resolvers = {
    first: [entry for entry in entries if entry[0] != "tag:yaml.org,2002:value"]
    for first, entries in Resolver.yaml_implicit_resolvers.items()
}


class _GoConstructor(SafeConstructor):
    """Safe construction into :class:`Map`/:class:`Seq`; unknown tags are read as their plain value."""

    def construct_go_map(self, node: yaml.MappingNode) -> Iterator[Map]:
        data = Map()
        data.line = node.start_mark.line + 1
        yield data
        own = [k for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"]
        seen: dict[object, int] = {}
        for key_node in own:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    # go-yaml v3 (kustomize's kyaml) rejects this; PyYAML would silently keep the last one
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        f"mapping key {key_node.value!r} already defined at line {seen[key_node.value]}",
                        key_node.start_mark,
                    )
                seen[key_node.value] = key_node.start_mark.line + 1
        self.flatten_mapping(node)
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                # go-yaml allows a complex key; JSON (what Kubernetes sees) cannot hold one
                key = str(key)
            data[key] = self.construct_object(value_node, deep=True)
            data.key_lines[key] = key_node.start_mark.line + 1

    def construct_go_seq(self, node: yaml.SequenceNode) -> Iterator[Seq]:
        data = Seq()
        data.line = node.start_mark.line + 1
        yield data
        for item in node.value:
            data.append(self.construct_object(item, deep=True))
            data.item_lines.append(item.start_mark.line + 1)

    def construct_unknown_tag(self, tag_suffix: str, node: yaml.Node) -> Any:
        generator: Iterator[Any]
        if isinstance(node, yaml.MappingNode):
            generator = self.construct_go_map(node)
        elif isinstance(node, yaml.SequenceNode):
            generator = self.construct_go_seq(node)
        else:
            return self.construct_scalar(node)  # type: ignore[arg-type]
        data = next(generator)
        for _ in generator:  # fills the container
            pass
        return data

    def construct_unknown_tag_full(self, node: yaml.Node) -> Any:
        return self.construct_unknown_tag("", node)


_GoConstructor.add_constructor("tag:yaml.org,2002:map", _GoConstructor.construct_go_map)  # type: ignore[type-var]
_GoConstructor.add_constructor("tag:yaml.org,2002:omap", _GoConstructor.construct_go_map)  # type: ignore[type-var]
_GoConstructor.add_constructor("tag:yaml.org,2002:seq", _GoConstructor.construct_go_seq)  # type: ignore[type-var]
_GoConstructor.add_multi_constructor("!", _GoConstructor.construct_unknown_tag)
_GoConstructor.add_multi_constructor("tag:", _GoConstructor.construct_unknown_tag)
_GoConstructor.add_constructor(None, _GoConstructor.construct_unknown_tag_full)  # type: ignore[type-var]


class _PyGoLoader(
    yaml.reader.Reader,
    yaml.scanner.Scanner,
    yaml.parser.Parser,
    yaml.composer.Composer,
    _GoConstructor,
    _GoResolver,
):
    """Pure-Python loader whose composer lets a re-defined anchor replace the earlier one."""

    def __init__(self, stream: str) -> None:
        yaml.reader.Reader.__init__(self, stream)
        yaml.scanner.Scanner.__init__(self)
        yaml.parser.Parser.__init__(self)
        yaml.composer.Composer.__init__(self)
        _GoConstructor.__init__(self)
        _GoResolver.__init__(self)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if not self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            anchor = getattr(event, "anchor", None)
            if anchor is not None:
                self.anchors.pop(anchor, None)  # go-yaml: the later definition wins
        return super().compose_node(parent, index)


if _FastParser is not None:

    class _FastGoLoader(_FastParser, _GoConstructor, _GoResolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            _FastParser.__init__(self, stream)
            _GoConstructor.__init__(self)
            _GoResolver.__init__(self)


@dataclass(frozen=True)
class Document:
    """One YAML document of a file: its data and the 1-based lines it spans."""

    data: Any
    start_line: int
    end_line: int


@dataclass(frozen=True)
class ParseError:
    """Why a file does not parse (go-yaml rejects it too): line and the parser's own words."""

    line: int
    message: str


class AliasBomb(yaml.YAMLError):
    """go-yaml's refusal of a document that is mostly alias expansion (a "billion laughs")."""


# go-yaml v3.0.1 decode.go:455-491: past 100 alias-expanded nodes and 1,000 decoded ones, at most 99 %
# of the nodes decoded may come from alias expansion (scaled down to 10 % between 400,000 and 4,000,000).
_ALIAS_LOW, _ALIAS_HIGH = 400_000, 4_000_000


def _allowed_alias_ratio(decoded: int) -> float:
    if decoded <= _ALIAS_LOW:
        return 0.99
    if decoded >= _ALIAS_HIGH:
        return 0.10
    return 0.99 - 0.89 * (decoded - _ALIAS_LOW) / (_ALIAS_HIGH - _ALIAS_LOW)


def _check_aliasing(root: yaml.Node) -> None:
    """Count what go-yaml would decode, expanding every alias, without expanding anything: an alias is
    the same composed node reached again, so each node's expanded size is computed once."""
    size: dict[int, int] = {}

    def expanded(node: yaml.Node) -> int:
        key = id(node)
        if key not in size:
            size[key] = 0  # an anchor containing itself: counted once, as go-yaml refuses it elsewhere
            children: list[yaml.Node] = []
            if isinstance(node, yaml.SequenceNode):
                children = list(node.value)
            elif isinstance(node, yaml.MappingNode):
                children = [n for pair in node.value for n in pair]
            size[key] = 1 + sum(expanded(c) for c in children)
        return size[key]

    seen: set[int] = set()
    decoded = aliased = 0
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            grown = expanded(node)
            decoded += grown + 1
            aliased += grown
            if aliased > 100 and decoded > 1000 and aliased / decoded > _allowed_alias_ratio(decoded):
                raise AliasBomb("document contains excessive aliasing")
            continue
        seen.add(id(node))
        decoded += 1
        if isinstance(node, yaml.SequenceNode):
            stack.extend(reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            stack.extend(n for pair in reversed(node.value) for n in reversed(pair))


def _documents(loader: Any) -> list[Document]:
    docs: list[Document] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node said there is one
                break
            _check_aliasing(node)
            data = loader.construct_document(node)
            docs.append(Document(data, node.start_mark.line + 1, node.end_mark.line + 1))
    finally:
        loader.dispose()
    return docs


def load_documents(text: str) -> list[Document] | ParseError:
    """Every document of ``text``; empty documents are dropped. A YAML error comes back as a value."""
    try:
        if _FastParser is not None:
            try:
                return [d for d in _documents(_FastGoLoader(text)) if d.data is not None]
            except yaml.composer.ComposerError as exc:
                if "duplicate anchor" not in f"{exc.context} {exc.problem}":
                    raise
        return [d for d in _documents(_PyGoLoader(text)) if d.data is not None]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        what = " ".join(str(exc.problem or exc.context or "invalid YAML").split())
        return ParseError(line, what)
    except AliasBomb as exc:
        return ParseError(1, str(exc))
    except yaml.YAMLError as exc:  # reader errors (bad bytes) carry no mark
        return ParseError(1, " ".join(str(exc).split()))
    except RecursionError:
        return ParseError(1, "nesting too deep")
