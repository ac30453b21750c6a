"""Fixtures for the rolling-operations tests: an inventory, a fake cluster on a fake clock, an executor."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeops.app.runs import node_executor
from homeops.clock import FakeClock
from homeops.engine.executor import Executor
from homeops.engine.plan import Plan
from homeops.inventory.model import Inventory
from homeops.operations.planners import Request, plan_upgrade

from .fakes import FakeCluster, make_inventory


@dataclass
class Rig:
    inventory: Inventory
    clock: FakeClock
    cluster: FakeCluster
    executor: Executor
    out: io.StringIO

    def plan(self, **request: object) -> Plan:
        return plan_upgrade(
            self.inventory,
            self.cluster.facts(),
            Request(now=self.clock.now(), **request),  # type: ignore[arg-type]
            operation="upgrade-cluster",
        )


@pytest.fixture
def rig_factory(tmp_path: Path) -> Callable[..., Rig]:
    def build(**kwargs: object) -> Rig:
        fake_kwargs = {k: kwargs.pop(k) for k in ("version", "reboot_seconds", "ready_seconds") if k in kwargs}
        inventory = make_inventory(tmp_path, **kwargs)  # type: ignore[arg-type]
        clock = FakeClock()
        cluster = FakeCluster(inventory, clock, **fake_kwargs)  # type: ignore[arg-type]
        out = io.StringIO()
        executor = node_executor(
            inventory, cluster, local=cluster, host=lambda name: cluster, clock=clock, out=out, confirm=lambda q: True
        )
        return Rig(inventory, clock, cluster, executor, out)

    return build


@pytest.fixture
def rig(rig_factory: Callable[..., Rig]) -> Rig:
    return rig_factory()
