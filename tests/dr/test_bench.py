"""bench/dr.py cannot rot: its real-time rehearsal at a tenth of the durations, its floor, its JSON line."""

from __future__ import annotations

import json

import pytest

from bench import dr as bench


def test_the_floor_is_read_from_the_sims_configuration() -> None:
    state = {
        "config": {"reboot_seconds": 7.0, "install_seconds": 1.5, "ready_seconds": 2.0, "api_seconds": 4.0,
                   "helm_seconds": 0.5, "flux_ready_seconds": 3.0},
        "apps": {
            "destinations": [{"duration": 9.0}, {"duration": 2.0}],
            "postgres": [{"setup_seconds": 5.0, "activate_seconds": 3.0, "replica_seconds": 2.5}],
        },
    }  # fmt: skip
    floor, parts = bench.floor_of(state, releases=4)
    assert parts == {
        "vms_to_maintenance": 7.0,
        "install_and_reboot": 8.5,
        "etcd_api_and_ready": 4.0,
        "helm_releases": 2.0,
        "flux_ready": 3.0,
        "data_restores": 10.5,
    }
    assert floor == 35.0


@pytest.mark.slow
def test_the_bench_runs_a_real_time_rehearsal_and_ends_with_its_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--scale", "0.1", "--no-virtual"]) == 0
    lines = capsys.readouterr().out.splitlines()
    summary = json.loads(lines[-1])
    d = bench.Durations().scaled(0.1)
    expected = 2 * d.reboot + d.install + max(d.ready, d.api) + 5 * d.helm + d.flux + d.restore
    assert summary["releases"] == 5
    assert summary["floor_s"] == pytest.approx(expected, abs=0.01)
    # Nothing can beat the simulated waits: a floor above the wall time would be a wrong floor.
    assert summary["wall_s"] >= summary["floor_s"]
    assert summary["ratio"] == pytest.approx(summary["wall_s"] / summary["floor_s"], abs=0.01)
    # The steps run inside the wall time; what is outside is preflight and planning (well under a second).
    assert summary["wall_s"] - 1.0 <= summary["steps_s"] <= summary["wall_s"]
    assert any(line.startswith("report: ") and "within 5 %" in line for line in lines)


@pytest.mark.slow
def test_the_bench_times_dr_rehearse_on_the_virtual_clock() -> None:
    v = bench.virtual_rehearsal()
    # The sim's defaults: VMs 30 s, install 2 + 30 s, max(ready 15, API 20), 5 releases × 2 s, Flux 30 s,
    # the slowest restore (CNPG) 90 + 30 + 60 s.
    assert v["virtual_floor_s"] == 302.0
    assert v["virtual_floor_s"] <= v["virtual_recovery_s"] <= 1.10 * v["virtual_floor_s"]
    assert v["virtual_ratio"] == pytest.approx(v["virtual_recovery_s"] / v["virtual_floor_s"], abs=0.01)
