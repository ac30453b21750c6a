"""TrueNAS adapter: midclt/zpool/showmount argv and parsers, Python-style booleans, retention."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeops.adapters import truenas as nas
from homeops.errors import CommandError
from homeops.runners import Result

DATA = Path(__file__).parent / "data"


def zpool(code: int, out: str = "", err: str = "") -> Result:
    return Result(tuple(nas.zpool_status_x()), code, out, err, 0.0, "nas")


def test_argv() -> None:
    assert nas.zpool_status_x() == ["zpool", "status", "-x"]
    assert nas.zpool_status_x("tank") == ["zpool", "status", "-x", "tank"]
    assert nas.pool_query() == ["midclt", "call", "pool.query"]
    assert nas.pool_query("tank") == ["midclt", "call", "pool.query", '[["name", "=", "tank"]]', '{"get": true}']
    assert nas.service_query() == ["midclt", "call", "service.query", '[["service", "=", "nfs"]]', '{"get": true}']
    assert nas.service_started() == ["midclt", "call", "service.started", "nfs"]
    assert nas.dataset_query("tank/backups")[3] == '[["id", "=", "tank/backups"]]'
    assert nas.showmount_exports() == ["showmount", "-e", "localhost"]


def test_pool_query_json() -> None:
    (pool,) = nas.parse_pools((DATA / "midclt_pool_query.json").read_text())
    assert pool == nas.Pool("tank", "ONLINE", True, False, 8796093022208, 3298534883328, 5497558138880, None)
    assert pool.ok


def test_pool_query_python_style_booleans() -> None:
    tank, fast = nas.parse_pools((DATA / "midclt_pool_query_pythonic.txt").read_text())
    assert tank.ok and tank.healthy is True
    assert not fast.ok and fast.healthy is False and fast.warning is True
    assert fast.describe() == "fast DEGRADED (unhealthy): One or more devices are faulted."


def test_healthy_flag_alone_is_not_enough() -> None:
    (pool,) = nas.parse_pools(json.dumps([{"name": "tank", "status": "DEGRADED", "healthy": True}]))
    assert not pool.ok


@pytest.mark.parametrize(("text", "value"), [("True\n", True), ("False\n", False), ("true", True)])
def test_service_started_bool(text: str, value: bool) -> None:
    assert nas.parse_started(text) is value


def test_service_started_rejects_non_bool() -> None:
    with pytest.raises(CommandError):
        nas.parse_started("RUNNING")


def test_service_query() -> None:
    service = nas.parse_service((DATA / "midclt_service_nfs.json").read_text())
    assert service == nas.Service("nfs", "RUNNING", True, (2413, 2414))
    assert service.running
    stopped = nas.parse_service("{'service': 'nfs', 'enable': False, 'state': 'STOPPED', 'pids': []}")
    assert not stopped.running and not stopped.enabled


def test_zpool_healthy_sentences() -> None:
    assert nas.parse_zpool_status_x(zpool(0, "all pools are healthy\n")).healthy
    assert nas.parse_zpool_status_x(zpool(0, "pool 'tank' is healthy\n")).healthy


def test_zpool_degraded_exit_0_is_read_from_text() -> None:
    health = nas.parse_zpool_status_x(zpool(0, (DATA / "zpool_status_degraded.txt").read_text()))
    assert not health.healthy
    assert health.unhealthy == (("tank", "DEGRADED"),)
    assert health.describe() == "tank DEGRADED"


def test_zpool_no_pools_and_errors() -> None:
    assert not nas.parse_zpool_status_x(zpool(1, "", "no pools available\n")).healthy
    with pytest.raises(CommandError, match="zpool status -x on nas failed"):
        nas.parse_zpool_status_x(zpool(2, "", "internal error\n"))


def test_dataset_free_space_from_property_dict() -> None:
    ds = nas.parse_dataset((DATA / "midclt_dataset.json").read_text())
    assert ds == nas.Dataset("tank/backups", 5497558138880, 549755813888, "/mnt/tank/backups")
    assert nas.parse_dataset('[{"id": "tank", "available": 12, "used": "34"}]').available == 12
    with pytest.raises(CommandError):
        nas.parse_dataset("[]")


def test_showmount() -> None:
    exports = nas.parse_showmount((DATA / "showmount_e.txt").read_text())
    assert exports == (
        nas.Export("/mnt/tank/k8s", ("10.0.0.0/24",)),
        nas.Export("/mnt/tank/media", ("10.0.0.5", "10.0.0.6")),
        nas.Export("/mnt/tank/public", ("(everyone)",)),
    )


@dataclass(frozen=True)
class F:
    name: str
    mtime: float


def test_retention_keeps_newest() -> None:
    files = [F("etcd-a.db", 1), F("etcd-b.db", 3), F("etcd-c.db", 2), F("notes.txt", 0), F("etcd-d.db", 4)]
    assert nas.retention(files, 2, prefix="etcd-", suffix=".db") == ["etcd-c.db", "etcd-a.db"]
    assert nas.retention(files, 10, prefix="etcd-") == []
    with pytest.raises(ValueError):
        nas.retention(files, 0)


def test_retention_same_mtime_breaks_ties_by_name() -> None:
    files = [F("etcd-20250101.db", 5), F("etcd-20250102.db", 5), F("etcd-20250103.db", 5)]
    assert nas.retention(files, 1) == ["etcd-20250102.db", "etcd-20250101.db"]
