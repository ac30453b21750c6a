"""``SimClock``: the ``homeops.clock.Clock`` of a simulated cluster.

In **virtual** mode time is ``state["clock"]["now"]`` and ``sleep(s)`` moves it forward (applying
every transition that falls due), so a rolling upgrade with 30-second polls runs in milliseconds.
In **real** mode it is the wall clock and ``sleep`` really sleeps (the demo, the benchmarks).
"""

from __future__ import annotations

import time

from homeops.sim import engine
from homeops.sim.store import SimStore


class SimClock:
    def __init__(self, store: SimStore) -> None:
        self.store = store

    @classmethod
    def for_command(cls, store: SimStore) -> SimClock:
        """The clock of a new command: in virtual time, the time between commands passes first."""
        with store.transaction() as state:
            engine.advance(state)
            engine.settle(state)
        return cls(store)

    @property
    def virtual(self) -> bool:
        return bool(self.store.read(include_log=False)["clock"].get("mode") == "virtual")

    def now(self) -> float:
        return engine.now(self.store.read(include_log=False))

    def monotonic(self) -> float:
        state = self.store.read(include_log=False)
        if state["clock"].get("mode") == "virtual":
            return float(state["clock"]["now"]) - float(state["clock"]["origin"])
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self.store.transaction() as state:
            if state["clock"].get("mode") == "virtual":
                state["clock"]["now"] = float(state["clock"]["now"]) + seconds
                engine.advance(state)
                return
        time.sleep(seconds)


def advance_virtual(store: SimStore, seconds: float) -> None:
    """Move virtual time forward (tests); in real mode this does nothing."""
    with store.transaction() as state:
        if state["clock"].get("mode") == "virtual":
            state["clock"]["now"] = float(state["clock"]["now"]) + seconds
            engine.advance(state)
