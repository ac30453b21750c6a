"""The frozen description of a run, built by a workflow's planner and run by the executor.

A ``Plan`` is a list of ``Step``s. A step targets one node (or the cluster) and says which commands
it runs, which ``Wait``s must succeed after them, and which ``Gate``s must be green before and after.
Steps sharing a ``batch`` number run together (workers, ``--max-unavailable``); batches run in order.
A step's ``action`` names its step kind (``homeops.engine.kinds``): the workflow that planned it says
what that kind does. The plan's ``Health`` says which gates may be red and which a step brings up.

Plans are values: ``render()`` is the dry-run output, ``to_dict``/``from_dict`` let the journal keep
the exact plan an interrupted run was executing, so ``--resume`` continues *that* plan rather than
re-planning from a half-upgraded cluster.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from homeops.runners import render as render_argv

#: Gate kinds, wait kinds and step kinds are names a workflow registers; the engine only matches them.
GateKind = str
WaitKind = str
Action = str


@dataclass(frozen=True)
class Command:
    """One argv to run, locally or on an SSH host (``on`` is a host name)."""

    argv: tuple[str, ...]
    on: str = "local"
    timeout: float | None = None

    def render(self) -> str:
        line = render_argv(self.argv)
        return line if self.on == "local" else f"[{self.on}] {line}"


@dataclass(frozen=True)
class Gate:
    """A health condition; ``target`` narrows it to one node or host."""

    kind: GateKind
    name: str
    describe: str
    target: str | None = None
    timeout: float = 300.0

    @property
    def label(self) -> str:
        return f"{self.name} ({self.target})" if self.target else self.name


@dataclass(frozen=True)
class Wait:
    """Something to observe after a step's commands: what success is, and how long to try."""

    kind: WaitKind
    describe: str
    timeout: float


@dataclass(frozen=True)
class Step:
    id: str  # stable across resume: "<node>:<action>[@<version>]"
    action: Action
    summary: str
    node: str | None = None  # hostname; None for cluster-wide steps
    node_ip: str | None = None
    control_plane: bool = False
    batch: int = 0
    commands: tuple[Command, ...] = ()
    waits: tuple[Wait, ...] = ()
    gates_before: tuple[Gate, ...] = ()
    gates_after: tuple[Gate, ...] = ()
    from_version: str | None = None
    to_version: str | None = None
    image: str | None = None
    schematic: str | None = None
    reboots: bool = False  # the node goes away: read the boot ID before, count it unavailable
    vm_host: str | None = None  # the machine the node runs on (never two of one host at once)
    artifact: str | None = None  # what the step produces (a file, a snapshot name)
    batch_note: str = ""  # a step that prepares its batch says so in the batch title, e.g. "backup first"


@dataclass(frozen=True)
class Health:
    """The plan's health policy beyond ``preflight`` and the steps' own gates (which must be green).

    ``allowed_red`` gates are looked at and reported (plan, progress, report) but never stop a run:
    disaster recovery runs exactly when they are red. ``required_after`` pairs a step ID with a gate
    that step brings up (the API after a bootstrap): from then on it must be green like the others.
    """

    allowed_red: tuple[Gate, ...] = ()
    required_after: tuple[tuple[str, Gate], ...] = ()

    def required_now(self, done: Callable[[str], bool]) -> tuple[Gate, ...]:
        return tuple(gate for step_id, gate in self.required_after if done(step_id))


@dataclass(frozen=True)
class Plan:
    operation: str  # "upgrade-cluster", "upgrade-node", ...
    cluster: str
    steps: tuple[Step, ...]
    preflight: tuple[Gate, ...] = ()
    stability_seconds: float = 0.0
    poll_interval: float = 5.0
    warnings: tuple[str, ...] = ()
    skipped: tuple[tuple[str, str], ...] = ()  # (node, why) left out of the plan
    target: str = ""  # human summary of where the plan goes, e.g. "Talos v1.11.6"
    options: tuple[tuple[str, str], ...] = field(default=())  # what the user asked, for the journal
    health: Health = field(default_factory=Health)

    @property
    def empty(self) -> bool:
        return not self.steps

    def batches(self) -> Iterator[tuple[Step, ...]]:
        """Steps grouped by batch number, in plan order."""
        current: list[Step] = []
        for step in self.steps:
            if current and step.batch != current[0].batch:
                yield tuple(current)
                current = []
            current.append(step)
        if current:
            yield tuple(current)

    def nodes(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for step in self.steps:
            if step.node and step.reboots:
                seen.setdefault(step.node)
        return tuple(seen)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        def gate(d: dict[str, Any]) -> Gate:
            return Gate(**d)

        def step(d: dict[str, Any]) -> Step:
            d = dict(d)
            d["commands"] = tuple(
                Command(argv=tuple(c["argv"]), on=c["on"], timeout=c["timeout"]) for c in d["commands"]
            )
            d["waits"] = tuple(Wait(**w) for w in d["waits"])
            d["gates_before"] = tuple(gate(g) for g in d["gates_before"])
            d["gates_after"] = tuple(gate(g) for g in d["gates_after"])
            return Step(**d)

        data = dict(data)
        health = data.get("health") or {}
        data["health"] = Health(
            allowed_red=tuple(gate(g) for g in health.get("allowed_red", ())),
            required_after=tuple((sid, gate(g)) for sid, g in health.get("required_after", ())),
        )
        data["steps"] = tuple(step(s) for s in data["steps"])
        data["preflight"] = tuple(gate(g) for g in data["preflight"])
        data["warnings"] = tuple(data["warnings"])
        data["skipped"] = tuple((a, b) for a, b in data["skipped"])
        data["options"] = tuple((a, b) for a, b in data["options"])
        return cls(**data)

    def fingerprint(self) -> str:
        """Identifies the plan's content (not when it was made): same steps, same fingerprint."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def render(self, *, banner: str = "") -> str:
        """The full plan as text: every gate, every step's commands and waits, in order.

        ``banner`` (e.g. ``SIMULATED``) names the world the plan acts on, in its title line.
        """
        out: list[str] = []
        title = f"Plan: {self.operation} on cluster '{self.cluster}'"
        if self.target:
            title += f" → {self.target}"
        if banner:
            title = f"[{banner}] {title}"
        out.append(title)
        out.extend(f"  ! {w}" for w in self.warnings)
        if self.preflight:
            out.append("Preflight gates (all must be green before anything changes):")
            out.extend(f"  - {g.label}: {g.describe}" for g in self.preflight)
        if self.health.allowed_red:
            out.append("Reported only (may be red, never stop the run):")
            out.extend(f"  - {g.label}: {g.describe}" for g in self.health.allowed_red)
        for step_id, gate in self.health.required_after:
            out.append(f"Required once {step_id} is done: {gate.label}: {gate.describe}")
        for node, why in self.skipped:
            out.append(f"Skip {node}: {why}")
        if not self.steps:
            out.append("Nothing to do.")
            return "\n".join(out)
        batches = list(self.batches())
        for number, batch in enumerate(batches, 1):
            out.append(f"[{number}/{len(batches)}] {_batch_title(batch)}")
            for step in batch:
                out.append(f"  • {step.summary}")
                for gate in step.gates_before:
                    out.append(f"      before: {gate.label}: {gate.describe}")
                for command in step.commands:
                    out.append(f"      $ {command.render()}")
                for wait in step.waits:
                    out.append(f"      wait ≤{wait.timeout:g}s: {wait.describe}")
            after = _unique_gates(g for s in batch for g in s.gates_after)
            for gate in after:
                out.append(f"    after: {gate.label}: {gate.describe}")
            if after and self.stability_seconds > 0:
                out.append(f"    stable: the gates above stay green for {self.stability_seconds:g}s")
        return "\n".join(out)


def _batch_title(batch: tuple[Step, ...]) -> str:
    """The nodes a batch changes, each once and in order; a step that prepares the batch says so."""
    # A preparing step's node is only where it reads from, not a node the batch changes.
    changed = [s for s in batch if not s.batch_note]
    names = ", ".join(dict.fromkeys(s.node or "cluster" for s in changed)) or "cluster"
    for step in batch:
        if step.batch_note:
            names += f" ({step.batch_note})"
    return names


def _unique_gates(gates: Iterator[Gate]) -> tuple[Gate, ...]:
    seen: dict[tuple[str, str, str | None], Gate] = {}
    for gate in gates:
        seen.setdefault((gate.kind, gate.name, gate.target), gate)
    return tuple(seen.values())


def unique_gates(gates: Iterator[Gate] | tuple[Gate, ...]) -> tuple[Gate, ...]:
    """Gates with duplicates (same kind, name, target) removed, first occurrence kept."""
    return _unique_gates(iter(gates))
