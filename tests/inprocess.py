"""Simulated workflows with the fake tools run in-process: the same outputs, without a Python process
per command (a bootstrap or a rebuild is hundreds of commands)."""

from __future__ import annotations

import pytest

import homeops.app.backend
import homeops.runtime
from homeops.sim.runner import SimRunner


def fake_tools_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runtime a workflow opens on a simulated inventory runs its local tools through ``SimRunner``.

    Every workflow looks ``open_runtime`` up in ``homeops.app.backend`` when it runs: one swap reaches them all.
    """
    real = homeops.app.backend.open_runtime

    def open_runtime(directory: object, **kw: object) -> homeops.runtime.Runtime:
        rt = real(directory, **kw)  # type: ignore[arg-type]
        if rt.simulated:
            rt.local = SimRunner(rt.inventory.state_dir / "sim")
        return rt

    monkeypatch.setattr(homeops.app.backend, "open_runtime", open_runtime)
