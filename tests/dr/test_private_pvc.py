"""Issue 22 §3 (cosmetic): the PVC manifest volsync.restore saves in the state dir was 0644 in a 0755 dir."""

from __future__ import annotations

import os
import stat

import pytest
from invoke.context import Context

from homeops.tasks import volsync as volsync_tasks
from tests.inprocess import fake_tools_in_process

from .drsim import DrSim


def test_the_saved_pvc_manifest_is_private(drsim: DrSim, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_tools_in_process(monkeypatch)  # the files are the point, not the process boundary
    old = os.umask(0o022)
    try:
        volsync_tasks.restore(Context(), inventory=str(drsim.root), namespace="default", app="immich-data", yes=True)
    finally:
        os.umask(old)
    saved = drsim.root / ".homeops" / "volsync" / "default-immich-data.pvc.json"
    assert (
        '"kind": "PersistentVolumeClaim"' in saved.read_text() or '"kind":"PersistentVolumeClaim"' in saved.read_text()
    )
    assert (stat.S_IMODE(saved.stat().st_mode), stat.S_IMODE(saved.parent.stat().st_mode)) == (0o600, 0o700)
