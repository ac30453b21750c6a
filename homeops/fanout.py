"""Run one function per host in parallel threads; each host's outcome is a value.

``fanout(fn, hosts)`` returns a ``FanoutResult`` (a mapping host → ``HostOutcome``) in the order the
hosts were given. One host failing is *that host's* error value, never an exception for the whole:
callers look at ``.succeeded`` / ``.failed``, or call ``.raise_for_failures()`` to get one
``HomeopsError`` naming every host that failed (like fabric's ``GroupResult``/``GroupException``).

Only ``Exception`` is captured: ``KeyboardInterrupt`` still stops the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, TypeVar

from homeops.engine.text import one_line
from homeops.errors import HomeopsError

T = TypeVar("T")


@dataclass(frozen=True)
class HostOutcome(Generic[T]):
    host: str
    value: T | None = None
    error: Exception | None = None
    duration: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None

    def unwrap(self) -> T:
        """The value, or the host's error raised."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]  # ok → fn returned it (possibly None by design)


class FanoutResult(Mapping[str, HostOutcome[T]]):
    def __init__(self, outcomes: Iterable[HostOutcome[T]]) -> None:
        self._outcomes = {o.host: o for o in outcomes}

    def __getitem__(self, host: str) -> HostOutcome[T]:
        return self._outcomes[host]

    def __iter__(self) -> Iterator[str]:
        return iter(self._outcomes)

    def __len__(self) -> int:
        return len(self._outcomes)

    @property
    def succeeded(self) -> dict[str, T]:
        return {h: o.value for h, o in self._outcomes.items() if o.ok}  # type: ignore[misc]

    @property
    def failed(self) -> dict[str, Exception]:
        return {h: o.error for h, o in self._outcomes.items() if o.error is not None}

    def raise_for_failures(self, what: str = "operation") -> None:
        if not self.failed:
            return
        parts = "; ".join(f"{host}: {one_line(err, None)}" for host, err in self.failed.items())
        raise HomeopsError(f"{what} failed on {len(self.failed)} of {len(self)} host(s): {parts}")


def fanout(
    fn: Callable[[str], T],
    hosts: Iterable[str],
    *,
    max_workers: int | None = None,
) -> FanoutResult[T]:
    """Call ``fn(host)`` for every host concurrently (one thread each by default)."""
    names = list(dict.fromkeys(hosts))
    if not names:
        return FanoutResult(())

    def one(host: str) -> HostOutcome[T]:
        start = time.monotonic()
        try:
            value = fn(host)
        except Exception as exc:  # one host's failure is its value, by design
            return HostOutcome(host, error=exc, duration=time.monotonic() - start)
        return HostOutcome(host, value=value, duration=time.monotonic() - start)

    if len(names) == 1:
        return FanoutResult([one(names[0])])
    with ThreadPoolExecutor(max_workers=max_workers or len(names), thread_name_prefix="homeops-fanout") as pool:
        outcomes = list(pool.map(one, names))
    return FanoutResult(outcomes)


__all__ = ["FanoutResult", "HostOutcome", "fanout"]
