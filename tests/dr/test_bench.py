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
    state["config"].update(apps_seconds=4.0, populate_seconds=2.5, recover_ready_seconds=8.0)
    floor, parts = bench.floor_of(state, releases=4)
    assert parts == {
        "vms_to_maintenance": 7.0,
        "install_and_reboot": 8.5,
        "etcd_api_and_ready": 4.0,
        "helm_releases": 2.0,
        "flux_ready": 3.0,
        "apps_created": 4.0,
        "data_restores": 11.5,  # the destination's 9 s and its PVC populated 2.5 s later, over CNPG's 10.5
    }
    assert floor == 40.0
    floor, parts = bench.floor_of(state, releases=0, scenario="quorum-lost")
    assert parts == {"reset_and_reboot": 8.0, "recover_and_quorum": 8.0} and floor == 16.0


@pytest.mark.slow
def test_the_bench_runs_a_real_time_rehearsal_and_ends_with_its_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--scale", "0.1", "--no-virtual"]) == 0
    lines = capsys.readouterr().out.splitlines()
    summary = json.loads(lines[-1])
    d = bench.Durations().scaled(0.1)
    fresh = summary["all-vms-lost"]
    expected = 2 * d.reboot + d.install + max(d.ready, d.api) + 5 * d.helm + d.flux + d.apps + d.restore + d.populate
    assert fresh["releases"] == 5
    assert fresh["floor_s"] == pytest.approx(expected, abs=0.01)
    assert summary["quorum-lost"]["floor_s"] == pytest.approx(1.0 + d.reboot + max(d.recover, d.ready), abs=0.01)
    for s in summary.values():
        # Nothing can beat the simulated waits: a floor above the wall time would be a wrong floor.
        assert s["wall_s"] >= s["floor_s"]
        assert s["ratio"] == pytest.approx(s["wall_s"] / s["floor_s"], abs=0.01)
        # The phases run inside the wall time; what is outside is the look and planning (well under a second).
        assert s["wall_s"] - 1.0 <= s["steps_s"] <= s["wall_s"]
    assert [line.split(";")[0] for line in lines if line.startswith("report: ")] == [
        f"report: run {s['report_s']} s" for s in summary.values()
    ]


@pytest.mark.slow
def test_the_bench_times_dr_rehearse_on_the_virtual_clock() -> None:
    v = bench.virtual_rehearsal()
    # The sim's defaults: VMs 30 s, install 2 + 30 s, max(ready 15, API 20), 5 releases × 2 s, Flux 30 s,
    # the apps 40 s later, the slowest restore (CNPG) 90 + 30 + 60 s.
    assert v["virtual_floor_s"] == 342.0
    assert v["virtual_floor_s"] <= v["virtual_recovery_s"] <= 1.10 * v["virtual_floor_s"]
    assert v["virtual_ratio"] == pytest.approx(v["virtual_recovery_s"] / v["virtual_floor_s"], abs=0.01)
    q = bench.virtual_rehearsal("quorum-lost")
    # reset: down after 1 s, back 30 s later; recovery accepted 8 s after, quorum once the others run (15 s)
    assert q["virtual_floor_s"] == 46.0
    assert q["virtual_floor_s"] <= q["virtual_recovery_s"] <= 1.10 * q["virtual_floor_s"]
