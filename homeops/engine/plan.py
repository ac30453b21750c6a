"""The frozen description of a run, built by a workflow's planner and run by the executor.

A ``Plan`` is a list of ``Step``s. A step targets one node (or the cluster) and says which commands
it runs, which ``Wait``s must succeed after them, and which ``Gate``s must be green before and after.
Steps sharing a ``batch`` number run together (workers, ``--max-unavailable``); batches run in order.
A step's ``action`` names its step kind (``homeops.engine.kinds``): the workflow that planned it says
what that kind does. The plan's ``Health`` says which gates may be red and which a step brings up.

A step's own settings (replicas to scale to, suspend or resume, which snapshot) are its kind's typed
``StepParams`` in ``step.params``; ``from_version``/``to_version`` only ever carry versions.

Plans are values: ``render()`` is the dry-run output, ``to_dict``/``from_dict`` let the journal keep
the exact plan an interrupted run was executing, so ``--resume`` continues *that* plan rather than
re-planning from a half-upgraded cluster. Parameters are written with their class's ``tag`` and read
back into the same class; a tag this homeops does not know is a ``ParamsError``, never a guess.
"""

from __future__ import annotations

import hashlib
import json
import types
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, ClassVar, TypeVar, Union, cast, get_args, get_origin, get_type_hints

from homeops.errors import PlanError
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


class ParamsError(ValueError):
    """Saved step parameters this homeops cannot read (an unknown tag, a field of the wrong type)."""


class StepParams:
    """Base of a step kind's parameters: subclasses are frozen dataclasses with a unique ``tag``.

    Fields are JSON scalars (``str``, ``int``, ``float``, ``bool``, optional ones) or tuples of them, so
    the journal stores them as they are. ``legacy`` reads the parameters of a plan written by a homeops
    that still kept them in ``to_version``/``from_version``/``artifact``, so a resume survives the upgrade:
    a one-field class names the old Step field in ``legacy_field`` (a comma-joined list for a tuple field).
    """

    tag: ClassVar[str] = ""
    legacy_field: ClassVar[str] = ""
    #: The Step fields old-form steps kept the parameters in (cleared once read: they mean nothing else there).
    replaces: ClassVar[tuple[str, ...]] = ("to_version", "from_version", "artifact")

    def to_dict(self) -> dict[str, Any]:
        return {"tag": self.tag, **asdict(self)}  # type: ignore[call-overload]

    def before(self) -> str | None:
        """The state before the step, as planned: the report shows it for a step that has not run."""
        return None

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> StepParams | None:
        """The parameters of an old-form step dict (None: it had none)."""
        if not cls.legacy_field:
            return None
        (only,) = fields(cls)  # type: ignore[arg-type]
        value = step[cls.legacy_field]
        if get_origin(get_type_hints(cls)[only.name]) is tuple:
            value = tuple(x for x in (value or "").split(",") if x)
        made: StepParams = cast(Any, cls)(**{only.name: value})
        return made


P = TypeVar("P", bound=StepParams)
_PARAMS: dict[str, type[StepParams]] = {}
_LEGACY: dict[str, type[StepParams]] = {}


def register_params(cls: type[P], *actions: str) -> type[P]:
    """Make a params class readable from the journal by its tag; ``legacy`` reads old steps of ``actions``.

    ``homeops.engine.kinds.register`` calls it for a kind's ``params`` (with the kind's name).
    """
    if not cls.tag:
        raise ValueError(f"{cls.__name__} has no tag")
    known = _PARAMS.get(cls.tag)
    if known is not None and known.__qualname__ != cls.__qualname__:
        raise ValueError(f"step params tag {cls.tag!r} is already registered by {known.__name__}")
    _PARAMS[cls.tag] = cls
    for action in actions:
        _LEGACY[action] = cls
    return cls


def params_from_dict(data: Any) -> StepParams:
    """The ``StepParams`` ``to_dict`` wrote: the class its tag names, each field of its declared type."""
    if not isinstance(data, dict) or not isinstance(data.get("tag"), str):
        raise ParamsError(f"step parameters without a tag: {data!r}")
    cls = _PARAMS.get(data["tag"])
    if cls is None:
        raise ParamsError(f"step parameters tagged {data['tag']!r}, which this homeops does not know")
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    extra = sorted(set(data) - names - {"tag"})
    if extra:
        raise ParamsError(f"step parameters {cls.tag!r}: unknown field(s) {', '.join(extra)}")
    for name in names:
        if name not in data:
            raise ParamsError(f"step parameters {cls.tag!r}: field {name!r} is missing")
        values[name] = _typed(data[name], hints[name], f"{cls.tag}.{name}")
    return cls(**values)


def _typed(value: Any, hint: Any, where: str) -> Any:
    origin = get_origin(hint)
    if origin in (Union, types.UnionType):
        for option in get_args(hint):
            try:
                return _typed(value, option, where)
            except ParamsError:
                continue
        raise ParamsError(f"step parameters {where}: {value!r} is not {hint}")
    if origin is tuple:
        (item, *_rest) = get_args(hint)
        if not isinstance(value, list | tuple):
            raise ParamsError(f"step parameters {where}: {value!r} is not a list")
        return tuple(_typed(v, item, where) for v in value)
    if hint is type(None):
        if value is None:
            return None
    elif hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    elif isinstance(hint, type) and isinstance(value, hint) and not (hint is int and isinstance(value, bool)):
        return value
    raise ParamsError(f"step parameters {where}: {value!r} is not {getattr(hint, '__name__', hint)}")


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
    params: StepParams | None = None  # the step kind's own typed parameters

    @property
    def planned_before(self) -> str | None:
        """The version (or the parameters' state) before the step, as planned."""
        return self.from_version or (self.params.before() if self.params is not None else None)

    def param(self, cls: type[P]) -> P:
        """``params`` as the kind's class; a step planned without them is a ``PlanError``."""
        if not isinstance(self.params, cls):
            raise PlanError(
                f"step {self.id}: {self.action} needs {cls.__name__} parameters, the plan has {self.params!r}",
                hint="plan the run again (inv … without --resume)",
            )
        return self.params


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
        data = asdict(self)
        for step, raw in zip(self.steps, data["steps"], strict=True):
            raw["params"] = step.params.to_dict() if step.params is not None else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Plan:
        def gate(d: dict[str, Any]) -> Gate:
            return Gate(**d)

        def step(raw: dict[str, Any]) -> Step:
            d = dict(raw)
            d["commands"] = tuple(
                Command(argv=tuple(c["argv"]), on=c["on"], timeout=c["timeout"]) for c in d["commands"]
            )
            d["waits"] = tuple(Wait(**w) for w in d["waits"])
            d["gates_before"] = tuple(gate(g) for g in d["gates_before"])
            d["gates_after"] = tuple(gate(g) for g in d["gates_after"])
            if "params" in d:
                d["params"] = params_from_dict(d["params"]) if d["params"] is not None else None
            elif d["action"] in _LEGACY:
                # written by a homeops that kept these in to_version/from_version/artifact
                legacy = _LEGACY[d["action"]]
                d["params"] = legacy.legacy(raw)
                d.update(dict.fromkeys(legacy.replaces))
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
