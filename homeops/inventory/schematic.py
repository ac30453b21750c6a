"""Image Factory schematic IDs and installer URLs, computed offline exactly as talhelper does.

The Image Factory ID of a schematic is the SHA-256 of its canonical YAML: the schematic decoded into
``image-factory/pkg/schematic.Schematic`` and marshalled by gopkg.in/yaml.v3 (4-space indent, struct
field order, ``omitempty`` everywhere but ``customization``). talhelper ``--offline-mode`` and
``gencommand upgrade`` use that same ID. We reproduce the marshalling for the fields the factory
knows, and only for scalars whose yaml.v3 rendering is unambiguous; anything else gives ``None``
(and the caller keeps the schematic and warns) rather than a made-up ID.

Verified against image-factory's own test vectors (``pkg/schematic/schematic_test.go``): the empty
schematic is ``376567988ad3…``; ``siderolabs/qemu-guest-agent`` alone is ``ce4c980550dd…``.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

EMPTY_SCHEMATIC_ID = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"
DEFAULT_REGISTRY = "factory.talos.dev"

_SAFE_PLAIN = re.compile(r"^[A-Za-z0-9_./=+~-][A-Za-z0-9_./=+,:~@-]*$")
# What yaml.v3 resolves to a number (ints with any Go base prefix, floats) or quotes as a YAML 1.1
# base-60 float: such a string is written quoted, so we do not claim a plain rendering for it.
_NUMBERISH = re.compile(
    r"^[-+]?(?:0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)$"
    r"|^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$"
    r"|^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$"
)
_RESERVED = {
    *("y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO"),
    *("on", "On", "ON", "off", "Off", "OFF", "true", "True", "TRUE", "false", "False", "FALSE"),
    *("~", "null", "Null", "NULL", ".inf", ".Inf", ".INF", ".nan", ".NaN", ".NAN"),
}
_FACTORY_ID_IN_URL = re.compile(r"/([0-9a-f]{64})(?::[^/]*)?$")


class SchematicError(ValueError):
    """The schematic cannot be rendered canonically offline (the message says why)."""


@dataclass(frozen=True)
class InstallerSpec:
    """What talhelper's installer URL template needs besides the ID."""

    registry: str = DEFAULT_REGISTRY
    mode: str = "metal"
    secureboot: bool = False


def schematic_id(schematic: Mapping[str, Any] | None) -> str:
    """The Image Factory ID of ``schematic`` (None or ``{}`` is the empty schematic)."""
    return hashlib.sha256(canonical_yaml(schematic or {}).encode()).hexdigest()


def installer_url(schematic_id: str, talos_version: str, spec: InstallerSpec | None = None) -> str:
    """talhelper's default installer template: ``<registry>/<mode>-installer[-secureboot]/<id>:<version>``."""
    spec = spec or InstallerSpec()
    secure = "-secureboot" if spec.secureboot else ""
    return f"{spec.registry}/{spec.mode}-installer{secure}/{schematic_id}:{talos_version}"


def id_from_image_url(url: str) -> str | None:
    """The schematic ID inside a factory installer URL (``…/installer/<64 hex>[:tag]``), if any."""
    match = _FACTORY_ID_IN_URL.search(url)
    return match.group(1) if match else None


def canonical_yaml(schematic: Mapping[str, Any]) -> str:
    """yaml.v3's rendering of the decoded schematic; SchematicError when it cannot be reproduced."""
    if not isinstance(schematic, Mapping):
        raise SchematicError("schematic is not a mapping")
    _only(schematic, ("overlay", "customization"), "schematic")
    out: list[str] = []
    overlay = schematic.get("overlay")
    if overlay is not None:
        out.extend(_overlay(overlay))
    customization = schematic.get("customization")
    body = _customization(customization) if customization is not None else []
    if body:
        out.append("customization:")
        out.extend(body)
    else:
        out.append("customization: {}")
    return "\n".join(out) + "\n"


def _only(data: Mapping[str, Any], allowed: tuple[str, ...], where: str) -> None:
    extra = [str(k) for k in data if k not in allowed]
    if extra:
        raise SchematicError(f"{where} has field(s) the Image Factory does not know: {', '.join(extra)}")


def _overlay(overlay: Any) -> list[str]:
    if not isinstance(overlay, Mapping):
        raise SchematicError("schematic.overlay is not a mapping")
    _only(overlay, ("image", "name", "options"), "schematic.overlay")
    image = _string(overlay.get("image", ""), "schematic.overlay.image", allow_empty=True)
    name = _string(overlay.get("name", ""), "schematic.overlay.name", allow_empty=True)
    options = overlay.get("options") or {}
    if not isinstance(options, Mapping):
        raise SchematicError("schematic.overlay.options is not a mapping")
    if not image and not name and not options:
        return []  # a zero Overlay is omitted (omitempty)
    lines = ["overlay:", f"    image: {_plain(image)}", f"    name: {_plain(name)}"]
    if options:
        lines.append("    options:")
        for key in sorted(options, key=str):
            name_text = _plain(_string(key, "schematic.overlay.options key"))
            lines.append(f"        {name_text}: {_any_scalar(options[key])}")
    return lines


def _customization(custom: Any) -> list[str]:
    if not isinstance(custom, Mapping):
        raise SchematicError("schematic.customization is not a mapping")
    _only(custom, ("extraKernelArgs", "meta", "systemExtensions", "secureboot"), "schematic.customization")
    lines: list[str] = []
    args = _string_list(custom.get("extraKernelArgs"), "extraKernelArgs")
    if args:
        lines.append("    extraKernelArgs:")
        lines.extend(f"        - {_plain(a)}" for a in args)
    meta = custom.get("meta") or []
    if not isinstance(meta, list):
        raise SchematicError("schematic.customization.meta is not a list")
    if meta:
        lines.append("    meta:")
        for item in meta:
            if not isinstance(item, Mapping):
                raise SchematicError("schematic.customization.meta entries must be {key, value}")
            _only(item, ("key", "value"), "schematic.customization.meta[]")
            key = item.get("key", 0)
            if isinstance(key, bool) or not isinstance(key, int) or not 0 <= key <= 255:
                raise SchematicError("schematic.customization.meta key must be an integer 0..255")
            value = _string(item.get("value", ""), "meta value", allow_empty=True)
            lines.append(f"        - key: {int(key)}")
            lines.append(f"          value: {_plain(value)}")
    extensions = custom.get("systemExtensions")
    if extensions is not None:
        if not isinstance(extensions, Mapping):
            raise SchematicError("schematic.customization.systemExtensions is not a mapping")
        _only(extensions, ("officialExtensions",), "schematic.customization.systemExtensions")
        official = _string_list(extensions.get("officialExtensions"), "officialExtensions")
        if official:
            lines.append("    systemExtensions:")
            lines.append("        officialExtensions:")
            lines.extend(f"            - {_plain(e)}" for e in official)
    secureboot = custom.get("secureboot")
    if secureboot is not None:
        if not isinstance(secureboot, Mapping):
            raise SchematicError("schematic.customization.secureboot is not a mapping")
        _only(secureboot, ("includeWellKnownCertificates",), "schematic.customization.secureboot")
        include = secureboot.get("includeWellKnownCertificates", False)
        if not isinstance(include, bool):
            raise SchematicError("includeWellKnownCertificates must be true or false")
        if include:
            lines.append("    secureboot:")
            lines.append("        includeWellKnownCertificates: true")
    return lines


def _string_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SchematicError(f"{where} is not a list")
    return [_string(v, where) for v in value]


def _string(value: Any, where: str, *, allow_empty: bool = False) -> str:
    if not isinstance(value, str):
        # yaml.v3 would refuse to decode a number into a string field only sometimes; do not guess.
        raise SchematicError(f"{where}: {value!r} is not a string")
    if not value and not allow_empty:
        raise SchematicError(f"{where}: empty string")
    return value


def _plain(text: str) -> str:
    """The string as yaml.v3 writes it, when that is a plain scalar we can be sure of."""
    if text == "":
        return '""'
    if (
        _SAFE_PLAIN.match(text)
        and text not in _RESERVED
        and not _NUMBERISH.match(text)
        and not text.startswith(("---", "..."))
        and not text.endswith(":")  # "key:" ends in an indicator, so yaml.v3 quotes it
        and (len(text) > 1 or text.isalnum())  # a lone "-" or "=" is an indicator / special scalar
    ):
        return text
    raise SchematicError(f"cannot render {text!r} canonically offline")


def _any_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, str):
        return _plain(value)
    raise SchematicError(f"overlay option value {value!r} is not a plain scalar")
