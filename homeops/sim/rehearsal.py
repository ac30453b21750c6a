"""The DR drill: the rebuild practised on a copy of the inventory on a fresh simulator, with a verdict.

Known data is written into every app volume and database, an etcd snapshot copied to the simulated
NAS, then the scenario's disaster is made and ``dr.rebuild --yes`` runs; the drill checks the data
(sha256), each phase's time against its budget, and that the rebuild chose the scenario's model.

Layer 4 (``homeops.layers``): it drives the simulator and reads the workflows' results, and the run
itself comes through ``Wiring`` (``homeops.app.workflows.rehearse`` hands it the runtime, the etcd
snapshot and the rebuild it builds), so the composition root and the simulator do not import each
other in a circle.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from homeops.engine.executor import Outcome
from homeops.engine.plan import Step
from homeops.engine.report import build
from homeops.errors import PlanError, SimError
from homeops.inventory.loader import load_inventory
from homeops.operations import drcheck, drmodel
from homeops.runtime import Runtime
from homeops.sim import apps_data
from homeops.sim import engine as sim_engine
from homeops.sim import faults as sim_faults
from homeops.sim.backups import FILE_FAULTS, damage, lose_the_vms
from homeops.sim.lifecycle import require_docker, start


@dataclass(frozen=True)
class Wiring:
    """What the drill runs, built by the composition root."""

    open_runtime: Callable[[Path], Runtime]  # the copy's runtime (on the simulator ``start`` made)
    snapshot: Callable[[Runtime], object]  # an etcd snapshot now, copied to the NAS
    rebuild: Callable[[Path, bool, bool, TextIO | None], Outcome]  # dr.rebuild (path, recreate_vms, yes, out)


SCENARIOS = ("all-vms-lost", "quorum-lost", "nas-lost", "one-node-lost")
#: What each scenario should end in: a model that rebuilt, or a refusal (nothing to rebuild).
EXPECTED = {
    "all-vms-lost": "fresh",
    "quorum-lost": "etcd-restore",
    "nas-lost": "refused",
    "one-node-lost": "refused",
}
PHASES = ("backup", "nodes", "talos", "apps", "data")


@dataclass(frozen=True)
class Phase:
    name: str
    seconds: float
    budget: float

    @property
    def over(self) -> bool:
        return self.seconds > self.budget


@dataclass(frozen=True)
class Rehearsal:
    outcome: Outcome | None  # None: the rebuild was refused (nothing to rebuild)
    inventory: Path  # the copy it ran on
    recovery_seconds: float  # simulated time from the run's start to its end: the measured recovery time
    step_seconds: float  # the report's steps, batch by batch, summed (see stage_seconds)
    wall_seconds: float  # what the rehearsal cost on this machine (homeops' own work)
    data: tuple[str, ...] = ()  # what the data stage said was restored, and what was not
    scenario: str = "all-vms-lost"
    model: str = ""  # etcd-restore, fresh, or "refused: <why>"
    phases: tuple[Phase, ...] = ()  # recovery time per phase (RTO) against its budget
    checks: tuple[tuple[str, str, str], ...] = ()  # (volume or database, sha256 before, sha256 after)
    failures: tuple[str, ...] = ()  # why the drill failed; empty: it passed

    @property
    def passed(self) -> bool:
        return not self.failures


def _digest(value: str | None) -> str:
    return "empty" if value is None else hashlib.sha256(value.encode()).hexdigest()[:16]


def phase_of(step: Step) -> str:
    if step.action in ("dr-etcd-backup", "dr-last-backups"):
        return "backup"
    if step.action in ("dr-reset", "dr-recreate-vm", "dr-reset-ephemeral"):
        return "nodes"
    if step.action == "dr-recover" or step.action in ("bootstrap-genconfig", "bootstrap-apply", "bootstrap-etcd",
                                                      "bootstrap-kubeconfig", "bootstrap-api"):  # fmt: skip
        return "talos"
    if step.action.startswith("dr-") or step.id.startswith("data:"):
        return "data"
    return "apps"


def phases(outcome: Outcome, budgets: Mapping[str, float] | None = None) -> tuple[Phase, ...]:
    """Each phase's batches, first start to last end, summed; its budget is the plan's own (the longest
    wait of each of its batches, summed) unless ``budgets`` says otherwise."""
    assert outcome.journal is not None
    spans: dict[int, tuple[str, float, float]] = {}
    budget: dict[str, float] = {}
    seen_batches: dict[tuple[str, int], float] = {}
    for step in outcome.plan.steps:
        name = phase_of(step)
        longest = max([w.timeout for w in step.waits] + [c.timeout or 0.0 for c in step.commands] + [60.0])
        key = (name, step.batch)
        seen_batches[key] = max(seen_batches.get(key, 0.0), longest)
        record = outcome.journal.step(step.id)
        if record.started is None or record.finished is None:
            continue
        start, end = float(record.started), float(record.finished)
        _, first, last = spans.get(step.batch, (name, start, end))
        spans[step.batch] = (name, min(first, start), max(last, end))
    for (name, _), longest in seen_batches.items():
        budget[name] = budget.get(name, 0.0) + longest
    total: dict[str, float] = {}
    for name, start, end in spans.values():
        total[name] = total.get(name, 0.0) + end - start
    return tuple(
        Phase(name, total.get(name, 0.0), (budgets or {}).get(name, budget.get(name, 0.0)))
        for name in PHASES
        if name in budget
    )


def rehearse(
    inventory_dir: Path,
    wiring: Wiring,
    *,
    scenario: str = "all-vms-lost",
    faults: Sequence[str] = (),
    hosts: bool = False,
    yes: bool = True,
    out: TextIO | None = None,
    budgets: Mapping[str, float] | None = None,
    clock: str = "virtual",
    configure: Callable[[dict[str, Any]], None] | None = None,
) -> Rehearsal:
    """The rebuild, practised on a copy of the inventory on a fresh simulator (never the real state dir).

    Known data is written into every app volume and database and backed up on schedule, an etcd
    snapshot copied to the simulated NAS; then the disaster of ``scenario`` (and ``faults``: ``name`` or
    ``name:target``), then ``dr.rebuild --yes`` (``--recreate-vms`` when the VMs are gone). The drill
    fails when a volume or database does not hold what was written (sha256), when a phase takes longer
    than its budget, or when the rebuild's answer is not the scenario's (a refusal for a cluster that
    needs no rebuild).
    """
    if scenario not in SCENARIOS:
        raise PlanError(f"unknown scenario {scenario!r}", hint=f"one of: {', '.join(SCENARIOS)}")
    source = load_inventory(Path(inventory_dir))
    if hosts:
        require_docker()  # before the last rehearsal's copy is replaced
    if not source.hosts_of_kind("truenas"):
        raise PlanError("a rehearsal restores from the NAS copy of a snapshot, and this inventory has no TrueNAS host")
    work = source.state_dir.resolve() / "rehearsal" / "inventory"
    if work.parent.exists():
        shutil.rmtree(work.parent)  # the last rehearsal's copy (its containers went with `sim.up`'s replace)
    shutil.copytree(source.root, work, ignore=shutil.ignore_patterns(".homeops", source.state_dir.name))
    notes: list[str] = []  # sim.up's chatter: not the rehearsal's to print, but a failed --hosts is
    store = start(work, virtual=clock == "virtual", hosts=hosts, say=notes.append)
    if hosts and "hosts_transport" not in store.read(include_log=False):
        why = notes[-1].split("; ")[0] if notes else "host containers did not start"
        raise SimError(f"--hosts: {why}; the rehearsal stopped", hint="fix Docker, or rehearse without --hosts")
    written: dict[str, str] = {}
    with store.transaction() as state:
        if configure is not None:
            configure(state)  # the bench's durations
        for key in apps_data.read_data(state):
            written[key] = f"drill:{scenario}:{key}:{state['clock']['now']:.0f}"
            apps_data.write_data(state, key, written[key])
        apps_data.backup_now(state)  # the next scheduled backup took the written data
    with wiring.open_runtime(work) as rt:
        drmodel.observe(rt.inventory, rt.local, now=rt.clock.now())  # what dr.check / a look records
        wiring.snapshot(rt)
        if scenario == "all-vms-lost":
            for path in drcheck.snapshot_dir(rt.inventory).iterdir():
                path.unlink()  # the machine that held the local copies is gone too
        with store.transaction() as state:
            if scenario == "all-vms-lost":
                lose_the_vms(state)
            elif scenario == "quorum-lost":
                for cp in sorted(n for n, node in state["nodes"].items() if node["control_plane"])[1:3]:
                    sim_faults.inject(state, "etcd-unhealthy", cp)
            elif scenario == "nas-lost":
                apps_data.nas_lost(state)
            else:  # one-node-lost: one control plane's VM is gone
                lost = sorted(n for n, node in state["nodes"].items() if node["control_plane"])[-1]
                vm = state["nodes"][lost].get("vm") or {}
                state["pve"]["hosts"].get(vm.get("host"), {}).get("vms", {}).pop(str(vm.get("vmid")), None)
            for spec in faults:
                name, _, target = spec.partition(":")
                if name not in FILE_FAULTS:
                    sim_faults.inject(state, name, target or None)
        for spec in faults:
            if spec.partition(":")[0] in FILE_FAULTS:
                damage(rt, spec.partition(":")[0])
    began = time.monotonic()
    outcome: Outcome | None = None
    model = ""
    failures: list[str] = []
    try:
        outcome = wiring.rebuild(work, scenario == "all-vms-lost", yes, out)
        model = dict(outcome.plan.options).get("model", "")
    except PlanError as exc:
        if EXPECTED[scenario] != "refused":
            raise
        model = f"refused: {exc}"
    wall = time.monotonic() - began
    if not model.startswith(EXPECTED[scenario]):
        failures.append(f"the rebuild chose {model or 'nothing'}; a {scenario} drill expects {EXPECTED[scenario]}")
    with store.transaction() as state:
        sim_engine.advance(state)
        now = apps_data.read_data(state)
    checks = tuple((key, _digest(written[key]), _digest(now.get(key))) for key in sorted(written))
    if scenario != "nas-lost":  # with the NAS, its NFS volumes went: nothing rebuilds them
        failures += [
            f"{key}: sha256 {after} after, {before} before" for key, before, after in checks if before != after
        ]
    said: list[str] = []
    recovery = steps = 0.0
    ran: tuple[Phase, ...] = ()
    if outcome is not None and outcome.journal is not None:
        report = build(outcome.journal)
        recovery, steps = report.seconds, stage_seconds(outcome)
        ran = phases(outcome, budgets)
        failures += [f"phase {p.name} took {p.seconds:.0f}s, over its budget of {p.budget:.0f}s" for p in ran if p.over]
        failures += [f"done with problems: {n}" for n in outcome.notes]
        for step_id in ("data:volsync", "data:cnpg", "data:in-place"):
            if any(s.id == step_id for s in outcome.plan.steps):
                detail = outcome.journal.step(step_id).data.get("detail")
                said += [str(line) for line in detail] if isinstance(detail, list) else []
    return Rehearsal(outcome, work, recovery, steps, wall, tuple(said), scenario, model, ran, checks, tuple(failures))


def stage_seconds(outcome: Outcome) -> float:
    """The run's batches' durations, summed: steps of one batch run side by side (every VM at once),
    so it is each batch's first start to its last end that adds up to the recovery time."""
    assert outcome.journal is not None
    spans: dict[int, tuple[float, float]] = {}
    for step in outcome.plan.steps:
        record = outcome.journal.step(step.id)
        if record.started is None or record.finished is None:
            continue
        start, end = float(record.started), float(record.finished)
        first, last = spans.get(step.batch, (start, end))
        spans[step.batch] = (min(first, start), max(last, end))
    return sum(end - start for start, end in spans.values())
