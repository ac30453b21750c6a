"""Reading operator YAML: one safe loader with the scalar rules talhelper's Go YAML uses.

PyYAML speaks YAML 1.1, where ``on``/``yes``/``no`` are booleans, ``1:20`` is a base-60 integer and
``0644`` is octal; talhelper (gopkg.in/yaml.v3) reads those as strings or decimals. ``load_yaml``
resolves plain scalars by the YAML 1.2 core schema instead, keeps anchors, aliases and ``<<`` merge
keys, refuses duplicate keys (yaml.v3 does too), and turns every parse problem into a one-line
``ConfigError`` naming the file and line. Numbers remember how they were written (``.text``) so a
version typed as ``1.10`` is not silently read as ``1.1``.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode

from homeops.errors import ConfigError


class YamlInt(int):
    """An int that remembers its source text."""

    text: str


class YamlFloat(float):
    """A float that remembers its source text."""

    text: str


class _Loader(yaml.SafeLoader):
    pass


# Replace, not extend, the YAML 1.1 implicit resolvers.
_Loader.yaml_implicit_resolvers = {}
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:null", re.compile(r"^(?:~|null|Null|NULL|)$"), ["~", "n", "N", ""])
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int",
    re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$"),
    list("-+0123456789"),
)
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
    ),
    list("-+.0123456789"),
)
_Loader.add_implicit_resolver("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), ["<"])


def _construct_bool(loader: _Loader, node: ScalarNode) -> bool:
    return str(loader.construct_scalar(node)).lower() == "true"


def _construct_int(loader: _Loader, node: ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    if text.startswith("0o"):
        value = YamlInt(int(text[2:], 8))
    elif text.startswith("0x"):
        value = YamlInt(int(text[2:], 16))
    else:
        value = YamlInt(int(text, 10))
    value.text = text
    return value


def _construct_float(loader: _Loader, node: ScalarNode) -> float:
    text = str(loader.construct_scalar(node))
    lowered = text.lower()
    if lowered.endswith(".inf"):
        number = float("-inf") if lowered.startswith("-") else float("inf")
    elif lowered == ".nan":
        number = float("nan")
    else:
        number = float(text)
    value = YamlFloat(number)
    value.text = text
    return value


_Loader.add_constructor("tag:yaml.org,2002:bool", _construct_bool)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _construct_mapping_no_duplicates(loader: _Loader, node: MappingNode) -> dict[Any, Any]:
    seen: dict[Any, Any] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        if isinstance(key_node, ScalarNode):
            key = key_node.value
            if key in seen:
                raise ConstructorError(
                    None, None, f"key '{key}' appears twice in one mapping (which one is meant?)", key_node.start_mark
                )
            seen[key] = True
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_mapping_no_duplicates)


def load_yaml_documents(text: str, *, file: str) -> list[Any]:
    """All documents of ``text`` (empty ones dropped); ConfigError with the line on a syntax error."""
    try:
        docs = list(yaml.load_all(text, Loader=_Loader))
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_describe(exc), file=file, hint="fix the YAML syntax there") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {' '.join(str(exc).split())}", file=file) from None
    return [doc for doc in docs if doc is not None]


def load_yaml(text: str, *, file: str) -> Any:
    """The single document of ``text`` (None when empty)."""
    docs = load_yaml_documents(text, file=file)
    if len(docs) > 1:
        raise ConfigError(f"holds {len(docs)} YAML documents; expected one", file=file)
    return docs[0] if docs else None


def _describe(exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or exc.context or "invalid YAML"
    where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return f"{where}not valid YAML: {problem}"


def scalar_text(value: Any) -> str | None:
    """A scalar as the text it was written as; None for mappings, lists and null."""
    if value is None or isinstance(value, dict | list):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    text = getattr(value, "text", None)
    if isinstance(text, str):
        return text
    return str(value)
