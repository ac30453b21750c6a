"""Fan-out: really parallel, one host's failure is its value, one error names all failures."""

from __future__ import annotations

import threading

import pytest

from homeops.errors import ConnectionFailed, HomeopsError
from homeops.fanout import fanout


def test_runs_hosts_concurrently() -> None:
    # A barrier only opens when all four calls are in flight at once: a serial fan-out would time out.
    barrier = threading.Barrier(4, timeout=5)

    def look(host: str) -> str:
        barrier.wait()
        return host.upper()

    result = fanout(look, ["pve1", "pve2", "pve3", "nas"])
    assert list(result) == ["pve1", "pve2", "pve3", "nas"]
    assert result.succeeded == {"pve1": "PVE1", "pve2": "PVE2", "pve3": "PVE3", "nas": "NAS"}
    assert result.failed == {}
    result.raise_for_failures()


def test_one_failure_is_that_hosts_value() -> None:
    def look(host: str) -> int:
        if host == "pve2":
            raise ConnectionFailed("cannot reach SSH host pve2")
        return len(host)

    result = fanout(look, ["pve1", "pve2", "pve3"])
    assert result.succeeded == {"pve1": 4, "pve3": 4}
    assert isinstance(result.failed["pve2"], ConnectionFailed)
    assert not result["pve2"].ok and result["pve1"].unwrap() == 4
    with pytest.raises(ConnectionFailed):
        result["pve2"].unwrap()
    with pytest.raises(HomeopsError, match=r"^status failed on 1 of 3 host\(s\): pve2: cannot reach SSH host pve2$"):
        result.raise_for_failures("status")


def test_keyboard_interrupt_is_not_swallowed() -> None:
    def look(host: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fanout(look, ["only"])


def test_empty_and_duplicates() -> None:
    assert len(fanout(str.upper, [])) == 0
    assert list(fanout(str.upper, ["a", "a", "b"])) == ["a", "b"]
