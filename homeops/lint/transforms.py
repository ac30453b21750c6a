"""The kustomize transforms that change a Flux Kustomization object before Flux reads it.

A child Flux Kustomization (an app's ``ks.yaml``) is itself built by its parent: the namespace-level
``kustomization.yaml`` (with its components) and the parent Flux Kustomization's ``spec.patches``.
What Flux then acts on is that build, so ``spec.targetNamespace`` may come from a ``replacements``
entry, ``postBuild.substitute`` from a parent's patch, and ``spec.path`` from the parent's
substitution. This module applies those transforms to a plain copy of the object: strategic-merge
patches (as a deep merge), JSON 6902 ``add``/``replace``/``remove``, and ``replacements`` whose
source is an object of the same build (kustomize's namespace transformer renames a ``Namespace``
object and sets ``metadata.namespace``, so those two source fields read the ``namespace:`` value).
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml


@dataclass(frozen=True)
class Transforms:
    """One kustomization's transforms as written (``folder`` is where its ``path:`` patches live)."""

    where: str  # the kustomization file (relative), for messages
    namespace: str | None
    patches: tuple[Any, ...]
    replacements: tuple[Any, ...]


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a mapping, else an empty one (YAML gives anything anywhere)."""
    return dict(value) if isinstance(value, Mapping) else {}


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def plain_copy(value: Any) -> Any:
    """A deep copy made of plain dicts and lists (line-number containers dropped)."""
    return _plain(value)


def _selects(target: Any, obj: Mapping[str, Any]) -> bool:
    """A kustomize selector (kind, group, version, name, namespace, labelSelector) against an object."""
    if not isinstance(target, Mapping):
        return True
    api = str(obj.get("apiVersion", ""))
    group, _, version = api.rpartition("/")
    metadata = as_dict(obj.get("metadata"))
    checks = {
        "kind": obj.get("kind"),
        "group": group,
        "version": version,
        "name": metadata.get("name"),
        "namespace": metadata.get("namespace"),
    }
    for key, actual in checks.items():
        wanted = target.get(key)
        if wanted is None or wanted == "":
            continue
        try:
            if not re.fullmatch(str(wanted), str(actual or "")):
                return False
        except re.error:
            if str(wanted) != str(actual):
                return False
    labels = as_dict(metadata.get("labels"))
    selector = target.get("labelSelector")
    if isinstance(selector, str) and selector.strip():
        for term in selector.split(","):
            key, _, value = term.partition("=")
            if str(labels.get(key.strip(), "\0")) != value.strip().lstrip("="):
                return False
    return True


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> None:
    for key, value in top.items():
        if value is None:
            base.pop(key, None)  # strategic merge: null deletes
        elif isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = _plain(value)


def _pointer(path: str) -> list[str]:
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")] if path else []


def _json_patch(obj: dict[str, Any], ops: list[Any]) -> None:
    for op in ops:
        if not isinstance(op, Mapping) or not isinstance(op.get("path"), str):
            continue
        parts = _pointer(op["path"])
        if not parts:
            continue
        node: Any = obj
        for part in parts[:-1]:
            if isinstance(node, dict):
                node = node.setdefault(part, {}) if op.get("op") == "add" else node.get(part)
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                node = None
            if node is None:
                break
        last = parts[-1]
        if isinstance(node, dict):
            if op.get("op") in ("add", "replace"):
                node[last] = _plain(op.get("value"))
            elif op.get("op") == "remove":
                node.pop(last, None)
        elif isinstance(node, list) and op.get("op") in ("add", "replace"):
            if last == "-":
                node.append(_plain(op.get("value")))
            elif last.isdigit() and int(last) <= len(node):
                if op.get("op") == "add":
                    node.insert(int(last), _plain(op.get("value")))
                elif int(last) < len(node):
                    node[int(last)] = _plain(op.get("value"))


def _patch_documents(patch: Mapping[str, Any], read: Callable[[str], str | None]) -> list[Any]:
    text: str | None = None
    if isinstance(patch.get("patch"), str):
        text = patch["patch"]
    elif isinstance(patch.get("path"), str):
        text = read(patch["path"])
    if text is None:
        return []
    return list(_parse(text))


_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@functools.lru_cache(maxsize=1024)
def _parse(text: str) -> tuple[Any, ...]:
    """A patch's documents; the same patch text (a parent's patch, applied to every child) is read once."""
    try:
        return tuple(d for d in yaml.load_all(text, Loader=_Loader) if d is not None)
    except yaml.YAMLError:
        return ()


def apply_patch(obj: dict[str, Any], patch: Any, read: Callable[[str], str | None]) -> bool:
    """Apply one ``patches:`` entry (inline or ``path:``) if it targets ``obj``; True when it did."""
    if not isinstance(patch, Mapping):
        return False
    target = patch.get("target")
    applied = False
    for doc in _patch_documents(patch, read):
        if isinstance(doc, list):
            if target is not None and _selects(target, obj):
                _json_patch(obj, doc)
                applied = True
        elif isinstance(doc, Mapping):
            if target is not None:
                if _selects(target, obj):
                    body = {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")}
                    _deep_merge(obj, body)
                    applied = True
                continue
            # no target: a strategic-merge patch selects by its own kind and name
            metadata = as_dict(doc.get("metadata"))
            own = as_dict(obj.get("metadata"))
            if doc.get("kind") == obj.get("kind") and metadata.get("name") == own.get("name"):
                _deep_merge(obj, {k: v for k, v in doc.items() if k not in ("apiVersion", "kind", "metadata")})
                applied = True
    return applied


def _get_field(obj: Any, path: str) -> Any:
    node = obj
    for part in _field_parts(path):
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    return node


def _field_parts(path: str) -> list[str]:
    # kustomize field paths: dots, with [name=value] list selectors we do not follow (kept as a part)
    return [p for p in re.split(r"\.(?![^\[]*\])", path) if p]


def _set_field(obj: dict[str, Any], path: str, value: Any, create: bool) -> bool:
    parts = _field_parts(path)
    node: Any = obj
    for part in parts[:-1]:
        if not isinstance(node, dict):
            return False
        if part not in node:
            if not create:
                return False
            node[part] = {}
        node = node[part]
    if not isinstance(node, dict) or not parts:
        return False
    if parts[-1] not in node and not create:
        return False
    node[parts[-1]] = value
    return True


UNKNOWN = object()


def replacement_source(source: Any, objects: Iterable[Mapping[str, Any]], namespace: str | None) -> Any:
    """The value a ``replacements`` source names among ``objects`` (UNKNOWN when it cannot be read)."""
    if not isinstance(source, Mapping):
        return UNKNOWN
    field_path = str(source.get("fieldPath", "metadata.name"))
    for obj in objects:
        if not _selects({k: source.get(k) for k in ("kind", "group", "version", "name")}, obj):
            continue
        if namespace and field_path == "metadata.namespace":
            return namespace
        if namespace and obj.get("kind") == "Namespace" and field_path == "metadata.name":
            return namespace
        value = _get_field(obj, field_path)
        return UNKNOWN if value is None else value
    return UNKNOWN


def apply_replacement(obj: dict[str, Any], replacement: Any, value: Any) -> list[str]:
    """Apply one replacement to ``obj``; the field paths it wrote (a value we could not read is
    written as UNKNOWN, so a caller still knows the field is set)."""
    if not isinstance(replacement, Mapping):
        return []
    written: list[str] = []
    targets = replacement.get("targets")
    for target in targets if isinstance(targets, list) else []:
        if not isinstance(target, Mapping) or not _selects(target.get("select"), obj):
            continue
        rejects = target.get("reject")
        if isinstance(rejects, list) and any(_selects(r, obj) for r in rejects if isinstance(r, Mapping)):
            continue
        options = as_dict(target.get("options"))
        create = bool(options.get("create"))
        paths = target.get("fieldPaths")
        for path in paths if isinstance(paths, list) else []:
            if _set_field(obj, str(path), value, create):
                written.append(str(path))
    return written


def copy_object(obj: Any) -> dict[str, Any]:
    data = copy.deepcopy(_plain(obj))
    return data if isinstance(data, dict) else {}
