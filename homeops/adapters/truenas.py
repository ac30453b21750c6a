"""TrueNAS SCALE over SSH: argv builders and pure parsers for ``zpool``, ``midclt`` and ``showmount``.

Formats per ``cli-interfaces.md`` §4. Pitfalls handled here:

* ``zpool status -x`` exits 0 whether or not a pool is healthy — the text decides;
* ``midclt call`` prints a bare boolean result as Python's ``True``/``False`` (and older clients
  printed whole results with ``repr``), so ``parse_midclt`` reads JSON and falls back to Python
  literals;
* ``showmount -e`` fails (exit 1, ``RPC: …``) when mountd does not answer, e.g. NFSv4-only — prefer
  ``service.query`` for the gate and treat exports as information.

``retention`` decides which backup files to delete (keep the N newest); transferring files is the
runner's business (SFTP on ``SshRunner``).
"""

from __future__ import annotations

import ast
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from homeops.errors import CommandError
from homeops.runners import Result


@dataclass(frozen=True)
class Pool:
    name: str
    status: str  # ZFS state: ONLINE, DEGRADED, FAULTED, …
    healthy: bool
    warning: bool = False
    size: int | None = None
    allocated: int | None = None
    free: int | None = None
    status_detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.healthy and self.status == "ONLINE"

    def describe(self) -> str:
        text = f"{self.name} {self.status}" + ("" if self.healthy else " (unhealthy)")
        return text + (f": {self.status_detail}" if self.status_detail and not self.ok else "")


@dataclass(frozen=True)
class ZpoolHealth:
    """``zpool status -x``: all healthy, or the names and states of the pools that are not."""

    healthy: bool
    unhealthy: tuple[tuple[str, str], ...] = ()  # (pool, state)

    def describe(self) -> str:
        if self.healthy:
            return "all pools are healthy"
        return ", ".join(f"{name} {state}" for name, state in self.unhealthy) or "a pool is unhealthy"


@dataclass(frozen=True)
class Dataset:
    name: str
    available: int  # bytes
    used: int  # bytes
    mountpoint: str | None = None


@dataclass(frozen=True)
class Service:
    name: str
    state: str  # RUNNING | STOPPED | UNKNOWN
    enabled: bool
    pids: tuple[int, ...] = ()

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"


@dataclass(frozen=True)
class Export:
    path: str
    clients: tuple[str, ...]  # networks/hosts, or ("(everyone)",)


class NamedFile(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def mtime(self) -> float: ...


# -- argv builders ---------------------------------------------------------------------------------


def zpool_status_x(pool: str | None = None) -> list[str]:
    return ["zpool", "status", "-x", *([pool] if pool else [])]


def midclt(method: str, *args: Any) -> list[str]:
    """``midclt call METHOD ARG…``; each non-string argument is passed as JSON, as midclt parses it."""
    return ["midclt", "call", method, *(a if isinstance(a, str) else json.dumps(a) for a in args)]


def pool_query(name: str | None = None) -> list[str]:
    if name is None:
        return midclt("pool.query")
    return midclt("pool.query", [["name", "=", name]], {"get": True})


def dataset_query(dataset: str) -> list[str]:
    return midclt("pool.dataset.query", [["id", "=", dataset]], {"get": True})


def service_query(service: str = "nfs") -> list[str]:
    return midclt("service.query", [["service", "=", service]], {"get": True})


def service_started(service: str = "nfs") -> list[str]:
    return midclt("service.started", service)


def showmount_exports(host: str = "localhost") -> list[str]:
    return ["showmount", "-e", host]


# -- parsers ------------------------------------------------------------------------------------------


def parse_midclt(text: str, *, what: str = "midclt") -> Any:
    """One midclt result: JSON, or a Python literal (``True``/``False``/``None``, ``repr`` of dicts)."""
    stripped = text.strip()
    if not stripped:
        raise CommandError(f"{what} printed nothing")
    try:
        return json.loads(stripped)
    except ValueError:
        pass
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError):
        # int/str results are printed raw, so an unquoted word is a string result.
        return stripped


def parse_pools(text: str) -> tuple[Pool, ...]:
    data = parse_midclt(text, what="pool.query")
    rows = data if isinstance(data, list) else [data]
    pools = []
    for row in rows:
        if not isinstance(row, dict) or "name" not in row:
            raise CommandError(f"pool.query returned an entry without a name: {str(row)[:80]}")
        pools.append(
            Pool(
                name=str(row["name"]),
                status=str(row.get("status", "UNKNOWN")),
                healthy=_bool(row.get("healthy")),
                warning=_bool(row.get("warning")),
                size=_bytes(row.get("size")),
                allocated=_bytes(row.get("allocated")),
                free=_bytes(row.get("free")),
                status_detail=row.get("status_detail") or None,
            )
        )
    return tuple(pools)


def parse_zpool_status_x(result: Result) -> ZpoolHealth:
    """Healthy only on the exact healthy sentences; otherwise collect ``pool:``/``state:`` pairs."""
    if result.exit_code != 0:
        if "no pools available" in result.stderr:
            return ZpoolHealth(False, (("(none)", "no pools available"),))
        raise CommandError(
            f"zpool status -x on {result.target} failed (exit {result.exit_code}): {result.last_error_line()}",
            command=result.command,
            exit_code=result.exit_code,
            target=result.target,
        )
    text = result.stdout.strip()
    if text == "all pools are healthy" or (text.startswith("pool '") and text.endswith("' is healthy")):
        return ZpoolHealth(True)
    unhealthy: list[tuple[str, str]] = []
    pool: str | None = None
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if not sep:
            continue
        if key == "pool":
            pool = value.strip()
        elif key == "state" and pool is not None:
            unhealthy.append((pool, value.strip()))
            pool = None
    return ZpoolHealth(False, tuple(unhealthy))


def parse_dataset(text: str) -> Dataset:
    data = parse_midclt(text, what="pool.dataset.query")
    if isinstance(data, list):
        if not data:
            raise CommandError("pool.dataset.query found no such dataset")
        data = data[0]
    if not isinstance(data, dict):
        raise CommandError(f"pool.dataset.query returned {type(data).__name__}, not an object")
    return Dataset(
        name=str(data.get("id") or data.get("name")),
        available=_bytes(data.get("available")) or 0,
        used=_bytes(data.get("used")) or 0,
        mountpoint=data.get("mountpoint"),
    )


def parse_service(text: str) -> Service:
    data = parse_midclt(text, what="service.query")
    if isinstance(data, list):
        if not data:
            raise CommandError("service.query found no such service")
        data = data[0]
    if not isinstance(data, dict):
        raise CommandError(f"service.query returned {type(data).__name__}, not an object")
    return Service(
        name=str(data.get("service", "?")),
        state=str(data.get("state", "UNKNOWN")),
        enabled=_bool(data.get("enable")),
        pids=tuple(int(p) for p in data.get("pids") or ()),
    )


def parse_started(text: str) -> bool:
    value = parse_midclt(text, what="service.started")
    if not isinstance(value, bool):
        raise CommandError(f"service.started printed {text.strip()[:40]!r}, not True/False")
    return value


def parse_showmount(text: str) -> tuple[Export, ...]:
    exports = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("Export list for"):
            continue
        path, _, clients = line.strip().partition(" ")
        exports.append(Export(path, tuple(c for c in clients.strip().split(",") if c)))
    return tuple(exports)


# -- retention ------------------------------------------------------------------------------------------


def retention(files: Sequence[NamedFile], keep: int, *, prefix: str = "", suffix: str = "") -> list[str]:
    """Names to delete so only the ``keep`` newest matching files remain (newest by mtime, then name)."""
    if keep < 1:
        raise ValueError("keep must be at least 1: deleting every backup is never what retention means")
    matching = [f for f in files if f.name.startswith(prefix) and f.name.endswith(suffix)]
    ordered = sorted(matching, key=lambda f: (f.mtime, f.name), reverse=True)
    return [f.name for f in ordered[keep:]]


# -- helpers ----------------------------------------------------------------------------------------------


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _bytes(value: Any) -> int | None:
    """A size as an int, a numeric string, or a ZFS property dict (``parsed``/``rawvalue``)."""
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("parsed", value.get("rawvalue"))
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


__all__ = [
    "Dataset",
    "Export",
    "Pool",
    "Service",
    "ZpoolHealth",
    "dataset_query",
    "midclt",
    "parse_dataset",
    "parse_midclt",
    "parse_pools",
    "parse_service",
    "parse_showmount",
    "parse_started",
    "parse_zpool_status_x",
    "pool_query",
    "retention",
    "service_query",
    "service_started",
    "showmount_exports",
    "zpool_status_x",
]
