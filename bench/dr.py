"""Benchmark: how much time does homeops add to a disaster-recovery rebuild, beyond the simulated waits?

Two scenarios of ``dr.rehearse``, in **real** time with fake tools run in-process (``SimRunner``, as in
bench/bootstrap.py), each against the critical path of the simulated cluster's own waits, read from
the sim's configuration after it is set:

``all-vms-lost`` (the fresh model): a recreated VM reaches maintenance mode ``R`` after ``qm start`` (all
at once); ``apply-config --insecure`` installs ``I`` then reboots ``R``; a new etcd, the API ``A`` later
while the nodes need ``Y``: ``max(Y, A)``; each helm release ``H``; the FluxInstance ``F``; the apps'
objects ``P`` after it (flux-operator's Kustomizations); then the restores side by side: a VolSync
destination ``D`` and its PVC populated ``Q`` later, or a CNPG restore ``C``: ``max(D + Q, C)``.

    floor = R + I + R + max(Y, A) + n·H + F + P + max(D + Q, C)

``quorum-lost`` (the etcd-restore model): the last-chance copy (no wait), the control planes reset
(down after 1 s, back ``R`` later), etcd restored once EPHEMERAL is mounted (``E``, recover_ready_seconds)
and quorate once the others run (``Y``): ``floor = 1 + R + max(E, Y)``.

1.00 means homeops added nothing (target ≤ 1.10). The poll interval (``pollInterval``) is R / 40. Also
printed: the recovery time per phase (as dr.rehearse reports it) against the wall time — they must agree
within 5 %. Then ``dr.rehearse`` itself as users run it (``virtual_*``) on its virtual clock. Last line:
the JSON summary. Run: ``python bench/dr.py [--quick] [--scale F] [--no-virtual] [--profile FILE]``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Durations:
    """The simulated waits (seconds), written into the sim's config and its data apps' records."""

    reboot: float = 6.0
    install: float = 2.0
    ready: float = 3.0
    api: float = 3.0
    helm: float = 1.0
    flux: float = 3.0
    apps: float = 4.0  # FluxInstance Ready → the apps' objects exist
    restore: float = 6.0  # VolSync destination; CNPG: setup, activate and replica in 3:1:2 (the same total)
    populate: float = 2.0  # destination done → its PVC Bound
    recover: float = 2.0  # a reset control plane answers → EPHEMERAL mounted (recovery upload accepted)

    def scaled(self, factor: float) -> Durations:
        return Durations(*(factor * getattr(self, f) for f in self.__dataclass_fields__))


def _inventory(tmp: Path, poll: float) -> Path:
    root = tmp / "inventory"
    shutil.copytree(REPO / "inventory", root, ignore=shutil.ignore_patterns(".homeops", "kubeconfig"))
    text = (root / "homeops.yaml").read_text(encoding="utf-8")
    if "pollInterval: 5" not in text:
        raise SystemExit("bench: inventory/homeops.yaml no longer sets pollInterval: 5")
    (root / "homeops.yaml").write_text(text.replace("pollInterval: 5", f"pollInterval: {poll}"), encoding="utf-8")
    return root


def _configure(state: dict[str, Any], d: Durations) -> None:
    state["config"].update(
        reboot_seconds=d.reboot, install_seconds=d.install, ready_seconds=d.ready, api_seconds=d.api,
        helm_seconds=d.helm, flux_ready_seconds=d.flux, poll_seconds=0.05, apps_seconds=d.apps,
        populate_seconds=d.populate, recover_ready_seconds=d.recover,
    )  # fmt: skip
    apps = state.get("apps") or {}
    for dst in apps.get("destinations", []):
        dst["duration"] = d.restore
    for pg in apps.get("postgres", []):
        pg.update(setup_seconds=d.restore / 2, activate_seconds=d.restore / 6, replica_seconds=d.restore / 3)


def floor_of(state: dict[str, Any], releases: int, scenario: str = "all-vms-lost") -> tuple[float, dict[str, float]]:
    """The critical path's simulated waits, from the sim's configuration (see the module docstring)."""
    from homeops.sim import apps_data, engine
    from homeops.sim import bootstrap as sim_bootstrap

    def c(key: str, default: float = 0.0) -> float:
        if key in sim_bootstrap.DEFAULTS:
            return float(state.get("config", {}).get(key, sim_bootstrap.DEFAULTS[key]))
        return float(state.get("config", {}).get(key, engine.DEFAULT_CONFIG.get(key, default)))

    if scenario == "quorum-lost":
        parts = {
            "reset_and_reboot": 1.0 + c("reboot_seconds"),
            "recover_and_quorum": max(c("recover_ready_seconds"), c("ready_seconds")),
        }
        return sum(parts.values()), parts
    apps = state.get("apps") or {}
    populate = c("populate_seconds", apps_data.POPULATE_SECONDS)
    restores = [float(r["duration"]) + populate for r in apps.get("destinations", [])] + [
        float(p["setup_seconds"]) + float(p["activate_seconds"]) + float(p["replica_seconds"])
        for p in apps.get("postgres", [])
    ]
    parts = {
        "vms_to_maintenance": c("reboot_seconds"),
        "install_and_reboot": c("install_seconds") + c("reboot_seconds"),
        "etcd_api_and_ready": max(c("ready_seconds"), c("api_seconds")),
        "helm_releases": releases * c("helm_seconds"),
        "flux_ready": c("flux_ready_seconds"),
        "apps_created": c("apps_seconds", apps_data.APPS_SECONDS),
        "data_restores": max(restores, default=0.0),
    }
    return sum(parts.values()), parts


def rehearsal(d: Durations, *, scenario: str = "all-vms-lost", profile: Path | None = None) -> dict[str, Any]:
    """One rehearsal in real time; the figures of the JSON summary (raises SystemExit when it failed)."""
    import homeops.app.backend
    import homeops.runtime
    from homeops.app import workflows as dr
    from homeops.sim.runner import SimRunner

    real = homeops.app.backend.open_runtime

    def in_process(directory: Any, **kw: Any) -> homeops.runtime.Runtime:
        rt = real(directory, **kw)
        if rt.simulated:
            rt.local = SimRunner(rt.inventory.state_dir / "sim")  # type: ignore[assignment]
        return rt

    with tempfile.TemporaryDirectory(prefix="homeops-bench-") as tmp:
        root = _inventory(Path(tmp), round(d.reboot / 40, 3))
        from homeops.sim import lifecycle

        store = lifecycle.start(root, say=lambda _: None)  # configured before dr.rehearse copies it
        with store.transaction() as state:
            _configure(state, d)
        homeops.app.backend.open_runtime = in_process  # type: ignore[assignment]
        profiler = None
        try:
            if profile is not None:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            with contextlib.redirect_stdout(io.StringIO()):
                done = dr.rehearse(root, scenario=scenario, out=io.StringIO(), clock="real", configure=_durations(d))
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(profile))
        finally:
            homeops.app.backend.open_runtime = real  # type: ignore[assignment]
        outcome = done.outcome
        if outcome is None or outcome.journal is None or not done.passed:
            raise SystemExit(f"bench: the {scenario} rehearsal failed: {done.failures}")
        from homeops.sim.store import SimStore

        state = SimStore(done.inventory / ".homeops" / "sim").read(include_log=False)
        releases = sum(1 for s in outcome.plan.steps if s.action == "bootstrap-release")
        floor, parts = floor_of(state, releases, scenario)
        wall = done.wall_seconds
        phases = sum(p.seconds for p in done.phases)
        return {
            "scenario": scenario,
            "wall_s": round(wall, 2),
            "floor_s": round(floor, 2),
            "ratio": round(wall / floor, 3),
            "overhead_s": round(wall - floor, 2),
            "report_s": round(done.recovery_seconds, 2),
            "steps_s": round(phases, 2),
            "steps_vs_wall": round(phases / wall, 3),
            "steps_within_5pct": abs(phases - wall) <= 0.05 * wall,
            "phases": {p.name: round(p.seconds, 2) for p in done.phases},
            "steps": len(outcome.plan.steps),
            "floor_parts": {k: round(v, 2) for k, v in parts.items()},
            "releases": releases,
        }


def _durations(d: Durations) -> Any:
    def configure(state: dict[str, Any]) -> None:
        _configure(state, d)

    return configure


def virtual_rehearsal(scenario: str = "all-vms-lost") -> dict[str, Any]:
    """``dr.rehearse`` itself, as users run it: the sim's default durations on its virtual clock (time moves
    only when homeops sleeps, so all that is added to the floor is poll granularity) — seconds of wall."""
    from homeops.app import workflows as dr
    from homeops.sim.store import SimStore

    with tempfile.TemporaryDirectory(prefix="homeops-bench-") as tmp:
        root = Path(tmp) / "inventory"
        shutil.copytree(REPO / "inventory", root, ignore=shutil.ignore_patterns(".homeops", "kubeconfig"))
        start = time.monotonic()
        with contextlib.redirect_stdout(io.StringIO()):  # the snapshot it takes first prints its run
            done = dr.rehearse(root, scenario=scenario, out=io.StringIO())
        wall = time.monotonic() - start
        if done.outcome is None or not done.passed:
            raise SystemExit(f"bench: dr.rehearse --scenario {scenario} failed: {done.failures}")
        state = SimStore(done.inventory / ".homeops" / "sim").read(include_log=False)
        releases = sum(1 for s in done.outcome.plan.steps if s.action == "bootstrap-release")
        floor, _ = floor_of(state, releases, scenario)
    return {
        "virtual_recovery_s": round(done.recovery_seconds, 1),
        "virtual_floor_s": round(floor, 1),
        "virtual_ratio": round(done.recovery_seconds / floor, 3),
        "virtual_wall_s": round(wall, 2),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="half the durations (noisier ratio)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the durations (tests: 0.1)")
    parser.add_argument("--no-virtual", action="store_true", help="skip the dr.rehearse run on the virtual clock")
    parser.add_argument("--profile", type=Path, help="write a cProfile of the real-time rebuild to this file")
    args = parser.parse_args(argv)
    d = Durations().scaled(args.scale * (0.5 if args.quick else 1.0))
    summary: dict[str, Any] = {}
    for scenario in ("all-vms-lost", "quorum-lost"):
        s = rehearsal(d, scenario=scenario, profile=args.profile if scenario == "all-vms-lost" else None)
        parts = ", ".join(f"{k} {v}" for k, v in s["floor_parts"].items())
        print(f"dr.rehearse --scenario {scenario} in real time ({dict(s['phases'])}): wall {s['wall_s']} s, "
              f"floor {s['floor_s']} s ({parts}) → ratio {s['ratio']} ({s['overhead_s']} s homeops, "
              f"{s['steps']} steps)")  # fmt: skip
        within = "yes" if s["steps_within_5pct"] else "NO"
        print(f"report: run {s['report_s']} s; phases add up to {s['steps_s']} s = "
              f"{s['steps_vs_wall']:.1%} of the wall time → within 5 %: {within}")  # fmt: skip
        summary[scenario] = {k: v for k, v in s.items() if k not in ("floor_parts", "scenario")}
        if not args.no_virtual:
            v = virtual_rehearsal(scenario)
            print(f"dr.rehearse --scenario {scenario}, sim default durations, virtual clock: recovery "
                  f"{v['virtual_recovery_s']} s, floor {v['virtual_floor_s']} s → ratio {v['virtual_ratio']} "
                  f"(cost {v['virtual_wall_s']} s of wall)")  # fmt: skip
            summary[scenario].update(v)
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
