"""Time as a seam: everything that waits or timestamps takes a ``Clock``.

Production uses ``SystemClock``; unit tests use ``FakeClock`` (sleep advances time instantly);
the simulator provides a clock whose sleep advances the simulated cluster's time.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch (wall time, for journals and reports)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going backwards (for deadlines)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that only moves when slept on or advanced; records every sleep."""

    def __init__(self, start: float = 1_760_000_000.0) -> None:
        self._now = start
        self._origin = start
        self._lock = threading.Lock()
        self.sleeps: list[float] = []

    def now(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._now - self._origin

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._now += max(0.0, seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
