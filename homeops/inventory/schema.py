"""Every key ``homeops.yaml`` may hold, in one table, and the check that refuses any other.

A misspelt key must not be silently ignored: ``maintenanse:`` or ``dr.snapshotMaxAgeHourz`` would
leave the operator believing a setting is in force when the default is. ``check_keys`` walks the
whole file before anything reads it and raises one ``ConfigError`` naming the key by its path and the
closest known key (``dr.snapshotMaxAgeHourz: unknown key; did you mean snapshotMaxAgeHours?``).

Adding a setting: add its key to ``SCHEMA`` below (and read it where its section is read). Shapes:

- a ``dict`` — a mapping with exactly these keys; each value has the shape given;
- ``Named(shape)`` — a mapping whose keys the user chooses (host names, ``namespace/app``), each
  value of ``shape``;
- ``Items(shape)`` — a list, each item of ``shape``;
- ``ByType(mapping=…, list=…)`` — one key written either way (``nodes:``);
- ``VALUE`` — a scalar, or anything whose inside its reader checks itself.

Only keys are checked here; types and values are the section readers' job (``loader.py``,
``operations/bootstrap_inputs.py``, ``lint/config.py``), so a shape that meets a value of another type
(a string where a mapping is allowed) passes it on to the reader unchanged.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from homeops.errors import ConfigError


class _Value:
    def __repr__(self) -> str:
        return "VALUE"


VALUE: Final = _Value()


@dataclass(frozen=True)
class Named:
    value: Shape


@dataclass(frozen=True)
class Items:
    item: Shape


@dataclass(frozen=True)
class ByType:
    mapping: Shape
    list: Shape


Shape: TypeAlias = "Mapping[str, Shape] | Named | Items | ByType | _Value"

_VM: Final[Mapping[str, Shape]] = {"host": VALUE, "vmid": VALUE, "mac": VALUE, "disk": VALUE}

SCHEMA: Final[Mapping[str, Shape]] = {
    "cluster": {
        "talconfig": VALUE,
        "talosconfig": VALUE,
        "kubeconfig": VALUE,
        "ageKey": VALUE,
        "sopsConfig": VALUE,
        "stateDir": VALUE,
        "clusterconfigDir": VALUE,
        # only without a talconfig
        "name": VALUE,
        "endpoint": VALUE,
        "talosVersion": VALUE,
        "kubernetesVersion": VALUE,
    },
    "nodes": ByType(
        mapping=Named({"vm": _VM}),  # with a talconfig: an overlay per talconfig hostname
        list=Items(
            {
                "hostname": VALUE,
                "ip": VALUE,
                "ips": VALUE,
                "controlPlane": VALUE,
                "installImage": VALUE,
                "installDisk": VALUE,
                "schematicId": VALUE,
                "vm": _VM,
            }
        ),
    ),
    "hosts": Named(
        {
            "address": VALUE,
            "port": VALUE,
            "user": VALUE,
            "kind": VALUE,
            "identity": VALUE,
            "knownHosts": VALUE,
            "acceptNewHostKey": VALUE,
            "passwordFile": VALUE,
            "connectTimeout": VALUE,
        }
    ),
    "upgrade": {
        "maxUnavailable": VALUE,
        "stabilitySeconds": VALUE,
        "rebootTimeout": VALUE,
        "readyTimeout": VALUE,
        "pollInterval": VALUE,
        "vmSnapshot": VALUE,
        "etcdSnapshotToNas": VALUE,
        "nasBackupDir": VALUE,
        "nasBackupKeep": VALUE,
        "prePullTimeout": VALUE,
        "prePullParallel": VALUE,
        "volumeDetachTimeout": VALUE,
        "gates": {
            "proxmox": VALUE,
            "nas": VALUE,
            "flux": VALUE,
            "volsync": VALUE,
            "ceph": VALUE,
            "longhorn": VALUE,
            "custom": Items(
                {
                    "name": VALUE,
                    "kind": VALUE,
                    "timeout": VALUE,
                    "resource": VALUE,
                    "namespace": VALUE,
                    "jsonpath": VALUE,
                    "expect": VALUE,
                    "command": VALUE,
                }
            ),
        },
    },
    # read by homeops.operations.bootstrap_inputs
    "bootstrap": {
        "helmfile": VALUE,
        "crdsHelmfile": VALUE,
        "env": Named(VALUE),  # variable names are the user's
        "secrets": Items({"path": VALUE, "render": VALUE}),  # a path, or {path, render}
        "appsDir": VALUE,
        "namespaces": VALUE,
        "releaseTimeout": VALUE,
        "fluxTimeout": VALUE,
        "apiEndpoint": VALUE,
    },
    "dr": {
        "snapshotMaxAgeHours": VALUE,
        "volsyncMaxAgeHours": VALUE,
        "volsyncMaxAgeHoursByApp": Named(VALUE),
        "backupPool": VALUE,
        "minFreeGiB": VALUE,
        "vmBackupMaxAgeHours": VALUE,
    },
    # read by homeops.lint.config
    "lint": {
        "disable": VALUE,
        "exceptions": Items({"path": VALUE, "rules": VALUE, "reason": VALUE}),
    },
    # a silence for each mutating run, and the alerts that hold it (homeops.policies.alerts)
    "alertmanager": {"url": VALUE, "matchers": VALUE, "ttl": VALUE},
    "prometheus": {"url": VALUE, "alerts": VALUE, "holdTimeout": VALUE, "pollInterval": VALUE},
    # read by homeops.inventory.loader; used by homeops.policies.window
    "maintenance": {
        "windows": Items({"days": VALUE, "start": VALUE, "duration": VALUE, "timezone": VALUE}),
        "nodeBudget": VALUE,
    },
    # where run events are sent through Apprise (homeops.policies.notify)
    "notify": {"urls": VALUE, "urlsFile": VALUE, "events": VALUE, "timeout": VALUE},
    # run by homeops.policies.hooks
    "hooks": {
        "pre": Items({"run": VALUE, "timeout": VALUE}),
        "post": Items({"run": VALUE, "timeout": VALUE}),
    },
}


def check_keys(data: Any, *, file: str) -> None:
    """Raise a ``ConfigError`` for the first key of ``data`` (a parsed homeops.yaml) not in ``SCHEMA``."""
    _walk(data, SCHEMA, "", file)


def _walk(value: Any, shape: Shape, where: str, file: str) -> None:
    if isinstance(shape, ByType):
        shape = shape.list if isinstance(value, list) else shape.mapping
    if isinstance(shape, Items):
        if isinstance(value, list):
            for index, item in enumerate(value):
                _walk(item, shape.item, f"{where}[{index}]", file)
        return
    if not isinstance(value, dict):
        return
    if isinstance(shape, Named):
        for key, item in value.items():
            _walk(item, shape.value, _join(where, str(key)), file)
    elif isinstance(shape, Mapping):
        for key, item in value.items():
            if key not in shape:
                raise _unknown(str(key), shape, where, file)
            _walk(item, shape[key], _join(where, key), file)


def _unknown(key: str, known: Mapping[str, Shape], where: str, file: str) -> ConfigError:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    if close:
        message = f"unknown key; did you mean {close[0]}?"
        hint = None
    else:
        message = "unknown key"
        hint = f"{where or 'the top level'} takes {', '.join(known)}"
    return ConfigError(message, file=file, field=_join(where, key), hint=hint)


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key
