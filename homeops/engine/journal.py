"""The run journal: what a mutating run did, written before and after every step.

One JSON file per run under ``<state_dir>/runs/<run_id>/journal.json``, rewritten atomically
(temp file, fsync, rename) so a SIGKILL leaves either the previous or the next version, never half.
It keeps the exact plan being executed, so ``--resume`` continues that plan: steps marked ``done``
are never run again, a step marked ``running`` is picked up where the observations say it is.

Step states: ``pending`` → ``running`` → ``done`` | ``failed``. Run states: ``running`` (or killed),
``failed``, ``interrupted`` (Ctrl-C), ``stopped`` (a run policy stopped it between steps), ``finished``.
Every state but ``finished`` is resumable.

The records are typed (``RunRecord``, ``StepRecord``) and the file carries ``SCHEMA``: a journal of
another schema is refused with one line rather than misread (a resume must never guess).
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from homeops.clock import Clock
from homeops.engine.plan import ParamsError, Plan
from homeops.errors import ConfigError, PlanError
from homeops.privatefs import private_dir

RunStatus = Literal["running", "failed", "interrupted", "stopped", "finished"]
StepStatus = Literal["pending", "running", "done", "failed"]

#: The journal file's schema; another one is refused (``Journal.load``).
SCHEMA = 2

JOURNAL_FILE = "journal.json"
PLAN_FILE = "plan.json"  # the plan never changes during a run: written once, beside the journal


def runs_dir(state_dir: Path) -> Path:
    return state_dir / "runs"


def atomic_write_json(path: Path, data: Any, *, indent: int | None = 1) -> None:
    """Write JSON so that readers (and a crash) only ever see a complete file."""
    private_dir(path.parent)  # created 0700 (runs/ and each run), as the state dir's rule wants
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=indent, sort_keys=True, default=str)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


#: What a step kind may note about a step beyond the typed fields (JSON scalars or lists of strings).
Note = str | int | float | bool | None | list[str]


@dataclass
class StepRecord:
    """One step of the run as the journal knows it."""

    id: str
    status: StepStatus = "pending"
    started: float | None = None
    finished: float | None = None
    error: str | None = None
    marker: str | None = None  # what the step kind's look saw before sending (compared after it)
    sent: bool = False  # its commands left (or provably reached their target)
    before: str | None = None  # the state/version before, for the report
    after: str | None = None  # the state/version reached
    gates: list[str] = field(default_factory=list)  # the gates seen green after it
    data: dict[str, Note] = field(default_factory=dict)  # step-kind notes (what a wait saw, a mode, …)

    def copy(self) -> StepRecord:
        return StepRecord(**{**asdict(self), "gates": list(self.gates), "data": dict(self.data)})


@dataclass
class RunRecord:
    """The whole journal file."""

    schema: int
    run_id: str
    operation: str
    cluster: str
    status: RunStatus
    created: float
    updated: float
    fingerprint: str
    backend: str = "real"  # "real", or "simulated" when the run acted on homeops.sim
    resume_command: str = ""  # what the task that started the run says resumes it
    resumed: list[float] = field(default_factory=list)
    error: str | None = None
    preflight: list[str] = field(default_factory=list)  # gate lines seen at preflight
    reported: list[str] = field(default_factory=list)  # allowed-red gates: seen, never enforced
    artifacts: dict[str, str] = field(default_factory=dict)  # what the run produced (snapshot paths, names)
    steps: dict[str, StepRecord] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        step_fields = {f.name for f in fields(StepRecord)}
        values["steps"] = {
            sid: StepRecord(**{k: v for k, v in raw.items() if k in step_fields}) for sid, raw in data["steps"].items()
        }
        return cls(**values)


class Journal:
    """The journal of one run. Thread-safe; every change is persisted before the call returns."""

    def __init__(self, path: Path, record: RunRecord, clock: Clock) -> None:
        self.path = path
        self._record = record
        self._clock = clock
        self._lock = threading.Lock()
        self._plan: Plan | None = None

    # -- creating and finding -------------------------------------------------------------------

    @classmethod
    def create(
        cls, state_dir: Path, plan: Plan, clock: Clock, *, backend: str = "real", resume_command: str = ""
    ) -> Journal:
        now = clock.now()
        stamp = _stamp(now)
        run_id = f"{stamp}-{plan.operation}"
        directory = runs_dir(state_dir) / run_id
        suffix = 1
        while directory.exists():
            suffix += 1
            directory = runs_dir(state_dir) / f"{run_id}-{suffix}"
        record = RunRecord(
            schema=SCHEMA,
            run_id=directory.name,
            operation=plan.operation,
            cluster=plan.cluster,
            status="running",
            created=now,
            updated=now,
            fingerprint=plan.fingerprint(),
            backend=backend,
            resume_command=resume_command,
            steps={s.id: StepRecord(s.id) for s in plan.steps},
        )
        journal = cls(directory / JOURNAL_FILE, record, clock)
        atomic_write_json(directory / PLAN_FILE, plan.to_dict(), indent=None)
        journal._plan = plan
        journal._save()
        return journal

    @classmethod
    def load(cls, path: Path, clock: Clock) -> Journal:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise PlanError(f"no journal at {path}") from exc
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"unreadable journal: {exc}", file=str(path), hint="move it aside to start fresh"
            ) from exc
        if not isinstance(data, dict) or "steps" not in data:
            raise ConfigError("not a homeops journal", file=str(path), hint="move it aside to start fresh")
        schema = data.get("schema", data.get("version"))
        if schema != SCHEMA:
            raise ConfigError(
                f"journal of schema {schema}, this homeops reads schema {SCHEMA}: not resuming from it",
                file=str(path),
                hint="finish or inspect that run with the homeops that wrote it, or move it aside to start fresh",
            )
        try:
            record = RunRecord.from_json(data)
        except (TypeError, KeyError, AttributeError) as exc:
            raise ConfigError(f"damaged journal: {exc}", file=str(path), hint="move it aside to start fresh") from exc
        return cls(path, record, clock)

    @classmethod
    def all(cls, state_dir: Path, clock: Clock) -> Iterator[Journal]:
        """Every readable journal under ``state_dir`` (unreadable or other-schema ones are skipped)."""
        base = runs_dir(state_dir)
        if not base.is_dir():
            return
        for path in base.glob(f"*/{JOURNAL_FILE}"):
            try:
                yield cls.load(path, clock)
            except (PlanError, ConfigError):
                continue

    @classmethod
    def latest(cls, state_dir: Path, operation: str, clock: Clock, *, cluster: str | None = None) -> Journal | None:
        """The most recent journal of ``operation`` (by creation time), or None."""
        best: Journal | None = None
        for journal in cls.all(state_dir, clock):
            if journal.operation != operation or (cluster and journal.cluster != cluster):
                continue
            if best is None or journal.created > best.created:
                best = journal
        return best

    # -- reading ------------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return self._record.run_id

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def operation(self) -> str:
        return self._record.operation

    @property
    def cluster(self) -> str:
        return self._record.cluster

    @property
    def status(self) -> RunStatus:
        return self._record.status

    @property
    def created(self) -> float:
        return self._record.created

    @property
    def updated(self) -> float:
        return self._record.updated

    @property
    def error(self) -> str | None:
        return self._record.error

    @property
    def backend(self) -> str:
        return self._record.backend

    @property
    def resume_command(self) -> str:
        return self._record.resume_command

    @property
    def artifacts(self) -> dict[str, str]:
        with self._lock:
            return dict(self._record.artifacts)

    def plan(self) -> Plan:
        if self._plan is None:
            path = self.directory / PLAN_FILE
            try:
                self._plan = Plan.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except ParamsError as exc:
                raise ConfigError(
                    f"cannot read the plan of run {self.run_id}: {exc}",
                    file=str(path),
                    hint="finish or inspect that run with the homeops that wrote it, "
                    f"or move {self.directory} aside and plan again",
                ) from exc
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"unreadable plan of run {self.run_id}: {exc}", file=str(path)) from exc
        return self._plan

    def step(self, step_id: str) -> StepRecord:
        with self._lock:
            return self._record.steps[step_id].copy()

    def steps(self) -> Iterator[StepRecord]:
        for step_id in list(self._record.steps):
            yield self.step(step_id)

    def done(self, step_id: str) -> bool:
        return self.step(step_id).status == "done"

    # -- writing ------------------------------------------------------------------------------------

    def step_started(self, step_id: str, *, marker: str | None = None, before: str | None = None, **data: Note) -> None:
        with self._lock:
            raw = self._record.steps[step_id]
            if raw.started is None:
                raw.started = self._clock.now()
            raw.status = "running"
            raw.error = None
            raw.marker = marker if marker is not None else raw.marker
            raw.before = before if before is not None else raw.before
            raw.data.update(data)
            self._save_locked()

    def mark_sent(self, step_id: str, **data: Note) -> None:
        """The step's commands left (or a look proved they reached the target): never send them again."""
        with self._lock:
            raw = self._record.steps[step_id]
            raw.sent = True
            raw.data.update(data)
            self._save_locked()

    def note(self, step_id: str, *, persist: bool = True, **data: Note) -> None:
        """Record a step-kind fact about a step (a mode, what a wait saw, …).

        ``persist=False`` keeps it in memory until the next write: for observations that a resume does
        not need (what a wait saw), so a 100-node run does not rewrite the file for each of them.
        """
        with self._lock:
            self._record.steps[step_id].data.update(data)
            if persist:
                self._save_locked()

    def gates_seen(self, step_id: str, lines: list[str]) -> None:
        """The gate lines seen green after the step (kept in memory until the step's next write)."""
        with self._lock:
            self._record.steps[step_id].gates = list(lines)

    def step_done(
        self, step_id: str, *, after: str | None = None, gates: list[str] | None = None, **data: Note
    ) -> None:
        with self._lock:
            raw = self._record.steps[step_id]
            raw.status = "done"
            raw.finished = self._clock.now()
            raw.after = after if after is not None else raw.after
            if gates is not None:
                raw.gates = list(gates)
            raw.data.update(data)
            self._save_locked()

    def step_failed(self, step_id: str, error: str, **data: Note) -> None:
        with self._lock:
            raw = self._record.steps[step_id]
            raw.status = "failed"
            raw.finished = self._clock.now()
            raw.error = error
            raw.data.update(data)
            self._save_locked()

    def set_preflight(self, lines: list[str], *, reported: list[str] | None = None) -> None:
        """The gate lines seen at preflight, and the allowed-red gates' lines (reported only)."""
        with self._lock:
            self._record.preflight = list(lines)
            if reported is not None:
                self._record.reported = list(reported)
            self._save_locked()

    def add_artifact(self, name: str, value: str) -> None:
        """Something the run produced (a snapshot path, a VM snapshot name): for resume, rollback and report."""
        with self._lock:
            self._record.artifacts[name] = value
            self._save_locked()

    def resumed(self) -> None:
        with self._lock:
            self._record.resumed.append(self._clock.now())
            self._record.status = "running"
            self._record.error = None
            self._save_locked()

    def finish(self, status: RunStatus, error: str | None = None) -> None:
        with self._lock:
            self._record.status = status
            self._record.error = error
            self._save_locked()

    def _save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        self._record.updated = self._clock.now()
        atomic_write_json(self.path, asdict(self._record))

    def record(self) -> RunRecord:
        """A deep copy of the journal's content (for reports and tests)."""
        with self._lock:
            return RunRecord.from_json(json.loads(json.dumps(asdict(self._record), default=str)))


def _stamp(now: float) -> str:
    import time

    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
