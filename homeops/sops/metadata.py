"""The ``sops:`` block: recipients with their wrapped data keys, lastmodified, MAC and the crypt rule.

Read from the plain structure a store found (a dict, already un-flattened for dotenv/INI) and
written back in Go sops' field order. Key types homeops cannot unwrap (PGP, KMS, Vault) are kept
verbatim so that editing a file keeps every recipient able to read it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from homeops.sops.errors import NotSopsFile, SopsFormatError
from homeops.sops.rules import RULE_KEYS, CryptRule

#: sops version written into files homeops encrypts: the oldest release that reads every
#: feature we write (``mac_only_encrypted`` and ``type:time``).
WRITE_VERSION = "3.10.2"
_OTHER_KEYS = ("kms", "gcp_kms", "hckms", "azure_kv", "hc_vault")


@dataclass(frozen=True, slots=True)
class AgeStanza:
    recipient: str
    enc: str


@dataclass(frozen=True, slots=True)
class KeyGroup:
    age: tuple[AgeStanza, ...] = ()
    pgp: tuple[Mapping[str, Any], ...] = ()
    others: tuple[tuple[str, tuple[Mapping[str, Any], ...]], ...] = ()

    @property
    def foreign_kinds(self) -> tuple[str, ...]:
        kinds = ["pgp"] if self.pgp else []
        return (*kinds, *(k for k, v in self.others if v))


@dataclass(frozen=True, slots=True)
class Metadata:
    lastmodified: str
    mac: str | None
    version: str
    groups: tuple[KeyGroup, ...] = ()
    flat_groups: bool = True  # top-level key lists (one group) rather than key_groups
    shamir_threshold: int = 0
    rule: CryptRule | None = None
    mac_only_encrypted: bool = False
    extra: tuple[tuple[str, Any], ...] = field(default=())

    @property
    def effective_rule(self) -> CryptRule:
        return self.rule or CryptRule()

    @property
    def mac_aad(self) -> str:
        return mac_aad(self.lastmodified)

    def with_mac(self, mac: str, lastmodified: str) -> Metadata:
        return replace(self, mac=mac, lastmodified=lastmodified)


def now_rfc3339() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def mac_aad(lastmodified: str) -> str:
    """Go re-formats lastmodified with time.RFC3339 before using it as the MAC's AAD."""
    m = re.match(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.\d+)?([Zz]|[+-]\d{2}:\d{2})$", lastmodified.strip())
    if not m:
        return lastmodified
    tz = "Z" if m.group(3) in ("Z", "z", "+00:00", "-00:00") else m.group(3)
    return f"{m.group(1)}T{m.group(2)}{tz}"


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise SopsFormatError("sops metadata key lists must be lists")


def _group(data: Mapping[str, Any]) -> KeyGroup:
    age = []
    for entry in _as_list(data.get("age")):
        if not isinstance(entry, Mapping):
            raise SopsFormatError("sops.age entries must be mappings")
        age.append(AgeStanza(str(entry.get("recipient", "")), str(entry.get("enc", ""))))
    pgp = tuple(e for e in _as_list(data.get("pgp")) if isinstance(e, Mapping))
    others = tuple((k, tuple(_as_list(data.get(k)))) for k in (*_OTHER_KEYS, "azure_keyvault") if data.get(k))
    return KeyGroup(tuple(age), pgp, others)


def _as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "t", "yes")
    return bool(value)


def parse_metadata(data: Any, *, file: str) -> Metadata:
    """Metadata from the plain ``sops`` mapping of a file."""
    if not isinstance(data, Mapping):
        raise NotSopsFile(f"{file}: sops metadata not found", hint="this file is not encrypted with sops")
    try:
        top = _group(data)
        groups: tuple[KeyGroup, ...]
        if top.age or top.pgp or top.others:
            groups, flat = (top,), True
        else:
            groups = tuple(_group(g) for g in _as_list(data.get("key_groups")) if isinstance(g, Mapping))
            flat = False
        rule = CryptRule.from_mapping(data, where=f"{file}: sops")
        known = {
            "age",
            "pgp",
            *(_OTHER_KEYS),
            "key_groups",
            "lastmodified",
            "mac",
            "version",
            "shamir_threshold",
            "mac_only_encrypted",
            *RULE_KEYS,
        }
        mac = data.get("mac")
        return Metadata(
            lastmodified=str(data.get("lastmodified") or ""),
            mac=str(mac) if mac else None,
            version=str(data.get("version") or ""),
            groups=groups,
            flat_groups=flat,
            shamir_threshold=int(data.get("shamir_threshold") or 0),
            rule=rule,
            mac_only_encrypted=_as_bool(data.get("mac_only_encrypted", False)),
            extra=tuple((k, v) for k, v in data.items() if k not in known and k != "attention"),
        )
    except SopsFormatError as exc:
        raise SopsFormatError(f"{file}: {exc}") from None
    except (TypeError, ValueError) as exc:
        raise SopsFormatError(f"{file}: malformed sops metadata ({exc})") from None


def _group_dict(group: KeyGroup) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for kind, entries in group.others:
        out[kind] = [dict(e) for e in entries]
    if group.age:
        out["age"] = [{"recipient": s.recipient, "enc": s.enc} for s in group.age]
    return out


def metadata_dict(meta: Metadata) -> dict[str, Any]:
    """The ``sops`` mapping in Go's field order (stores/stores.go ``Metadata``), omitting empties."""
    out: dict[str, Any] = {}
    if meta.shamir_threshold:
        out["shamir_threshold"] = meta.shamir_threshold
    if not meta.flat_groups:
        groups = []
        for g in meta.groups:
            d = _group_dict(g)
            if g.pgp:
                d["pgp"] = [dict(e) for e in g.pgp]
            groups.append(d)
        out["key_groups"] = groups
    else:
        group = meta.groups[0] if meta.groups else KeyGroup()
        out.update(_group_dict(group))
    out["lastmodified"] = meta.lastmodified
    out["mac"] = meta.mac or ""
    if meta.flat_groups and meta.groups and meta.groups[0].pgp:
        out["pgp"] = [dict(e) for e in meta.groups[0].pgp]
    if meta.rule is not None:
        out[meta.rule.kind] = meta.rule.value
    if meta.mac_only_encrypted:
        out["mac_only_encrypted"] = True
    out["version"] = meta.version
    return out


# --- flattening for dotenv and INI (stores/flatten.go) ----------------------------------------


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}

    def visit(value: Any, key: str) -> None:
        if isinstance(value, Mapping):
            for k, v in value.items():
                visit(v, f"{key}__map_{k}" if key else str(k))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                visit(v, f"{key}__list_{i}")
        elif isinstance(value, bool):
            out[prefix + key] = "true" if value else "false"
        else:
            out[prefix + key] = str(value)

    visit(data, "")
    return out


_PART = re.compile(r"__(map|list)_")


def unflatten(flat: Mapping[str, str]) -> dict[str, Any]:
    """Inverse of ``flatten`` (without prefix): ``age__list_0__map_enc`` → ``{"age": [{"enc": …}]}``."""
    root: dict[str, Any] = {}
    for key, value in flat.items():
        parts = _PART.split(key)
        steps: list[tuple[str, str]] = [("map", parts[0])]
        steps += [(parts[i], parts[i + 1]) for i in range(1, len(parts) - 1, 2)]
        node: Any = root
        for idx, (kind, name) in enumerate(steps):
            last = idx == len(steps) - 1
            nxt_kind = None if last else steps[idx + 1][0]
            child_default: Any = [] if nxt_kind == "list" else {}
            if kind == "map":
                if last:
                    node[name] = value
                else:
                    node = node.setdefault(name, child_default)
            else:
                pos = int(name)
                while len(node) <= pos:
                    node.append(None)
                if last:
                    node[pos] = value
                else:
                    if node[pos] is None:
                        node[pos] = child_default
                    node = node[pos]
    return root
