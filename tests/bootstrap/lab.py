"""A blank (maintenance-mode) copy of the example inventory that the bootstrap workflows run on, the
fake tools in-process (``tests/inprocess.py``)."""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from homeops.app.workflows import run_bootstrap
from homeops.errors import HomeopsError
from homeops.sim import lifecycle
from homeops.sim.store import SimStore
from tests.conftest import EXAMPLE_INVENTORY
from tests.inprocess import fake_tools_in_process


def blank_inventory(root: Path, monkeypatch: pytest.MonkeyPatch, prepare: Callable[[Path], None] | None = None) -> Path:
    """The example inventory copied to ``root`` (``prepare`` may change it first) on a blank simulated cluster."""
    shutil.copytree(EXAMPLE_INVENTORY, root, ignore=shutil.ignore_patterns(".homeops", "kubeconfig"))
    if prepare is not None:
        prepare(root)
    lifecycle.start(root, virtual=True, blank=True, say=lambda _: None)
    fake_tools_in_process(monkeypatch)
    return root


class BootstrapLab:
    """``run_bootstrap`` on a blank inventory; the simulator's store for what the commands did."""

    def __init__(self, root: Path) -> None:
        self.inventory = root
        self.store = SimStore(root / ".homeops" / "sim")

    def run(self, which: str = "all", **kw: object) -> str:
        out = io.StringIO()
        try:
            run_bootstrap(self.inventory, which, yes=True, out=out, **kw)  # type: ignore[arg-type]
        finally:
            self.output = out.getvalue()
        return self.output

    def fail(self, which: str = "all", **kw: object) -> str:
        """The one-line message of a bootstrap that fails."""
        with pytest.raises(HomeopsError) as info:
            self.run(which, **kw)
        message = str(info.value)
        assert "\n" not in message, message
        return message
