"""`dr.check` against the OpenSSH host containers: qm, midclt, zpool and SFTP over real SSH."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from invoke.context import Context

from homeops.tasks import sim as sim_tasks

from .drsim import DrSim

pytestmark = pytest.mark.docker


@pytest.fixture
def hosted(tmp_path: Path) -> Iterator[DrSim]:
    from homeops.sim import hostimage

    hostimage.ensure()
    sim = DrSim(tmp_path / "inventory", hosts=True)
    try:
        yield sim
    finally:
        sim_tasks.down(Context(), inventory=str(sim.root))


def test_green_then_red_for_the_nas_over_ssh(hosted: DrSim, capsys: pytest.CaptureFixture[str]) -> None:
    with hosted.runtime() as rt:
        assert type(rt.host("nas")).__name__ == "SshRunner"
    hosted.snapshot()
    assert hosted.check().ok
    # the snapshot lives in the NAS container's filesystem: the fault removes it there, over SFTP
    sim_tasks.fault(Context(), "snapshot-missing-on-nas", inventory=str(hosted.root))
    hosted.fault("nas-pool-degraded", "tank")
    report = hosted.check()
    failed = {f.check: f.detail for f in report.failures}
    assert set(failed) == {"nas-snapshot", "nas-pool"}
    assert failed["nas-snapshot"] == "the newest snapshot is missing on the NAS (nas:/mnt/tank/backups/etcd)"
    assert failed["nas-pool"].startswith("tank DEGRADED")
    hosts = {e.get("host") for e in hosted.store.log() if e["tool"] in ("qm", "midclt", "zpool")}
    assert hosts == {"pve1", "pve2", "pve3", "nas"}
