"""The run journal: what a mutating run did, written before and after every step.

One JSON file per run under ``<state_dir>/runs/<run_id>/journal.json``, rewritten atomically
(temp file, fsync, rename) so a SIGKILL leaves either the previous or the next version, never half.
It keeps the exact plan being executed, so ``--resume`` continues that plan: steps marked ``done``
are never run again, a step marked ``running`` is picked up where the observations say it is.

Step states: ``pending`` → ``running`` → ``done`` | ``failed``. Run states: ``running`` (or killed),
``failed``, ``interrupted`` (Ctrl-C), ``finished``.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from homeops.clock import Clock
from homeops.errors import ConfigError, PlanError
from homeops.plan import Plan

RunStatus = Literal["running", "failed", "interrupted", "finished"]
StepStatus = Literal["pending", "running", "done", "failed"]

JOURNAL_FILE = "journal.json"
PLAN_FILE = "plan.json"  # the plan never changes during a run: written once, beside the journal


def runs_dir(state_dir: Path) -> Path:
    return state_dir / "runs"


def atomic_write_json(path: Path, data: Any, *, indent: int | None = 1) -> None:
    """Write JSON so that readers (and a crash) only ever see a complete file."""
    path.parent.mkdir(parents=True, exist_ok=True)
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


@dataclass(frozen=True)
class StepRecord:
    id: str
    status: StepStatus
    started: float | None
    finished: float | None
    data: dict[str, Any]
    error: str | None


class Journal:
    """The journal of one run. Thread-safe; every change is persisted before the call returns."""

    def __init__(self, path: Path, data: dict[str, Any], clock: Clock) -> None:
        self.path = path
        self._data = data
        self._clock = clock
        self._lock = threading.Lock()
        self._plan: Plan | None = None

    # -- creating and finding -------------------------------------------------------------------

    @classmethod
    def create(cls, state_dir: Path, plan: Plan, clock: Clock) -> Journal:
        now = clock.now()
        stamp = _stamp(now)
        run_id = f"{stamp}-{plan.operation}"
        directory = runs_dir(state_dir) / run_id
        suffix = 1
        while directory.exists():
            suffix += 1
            directory = runs_dir(state_dir) / f"{run_id}-{suffix}"
        data: dict[str, Any] = {
            "version": 1,
            "run_id": directory.name,
            "operation": plan.operation,
            "cluster": plan.cluster,
            "status": "running",
            "created": now,
            "updated": now,
            "resumed": [],
            "error": None,
            "fingerprint": plan.fingerprint(),
            "context": {},
            "steps": {
                s.id: {"status": "pending", "started": None, "finished": None, "data": {}, "error": None}
                for s in plan.steps
            },
        }
        journal = cls(directory / JOURNAL_FILE, data, clock)
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
        if not isinstance(data, dict) or data.get("version") != 1 or "steps" not in data:
            raise ConfigError("not a homeops journal (version 1)", file=str(path), hint="move it aside to start fresh")
        return cls(path, data, clock)

    @classmethod
    def latest(cls, state_dir: Path, operation: str, clock: Clock, *, cluster: str | None = None) -> Journal | None:
        """The most recent journal of ``operation`` (by creation time), or None."""
        base = runs_dir(state_dir)
        if not base.is_dir():
            return None
        best: Journal | None = None
        for path in base.glob(f"*/{JOURNAL_FILE}"):
            try:
                journal = cls.load(path, clock)
            except (PlanError, ConfigError):
                continue
            if journal.operation != operation or (cluster and journal.cluster != cluster):
                continue
            if best is None or journal.created > best.created:
                best = journal
        return best

    # -- reading ------------------------------------------------------------------------------------

    @property
    def run_id(self) -> str:
        return str(self._data["run_id"])

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def operation(self) -> str:
        return str(self._data["operation"])

    @property
    def cluster(self) -> str:
        return str(self._data["cluster"])

    @property
    def status(self) -> RunStatus:
        status: RunStatus = self._data["status"]
        return status

    @property
    def created(self) -> float:
        return float(self._data["created"])

    @property
    def updated(self) -> float:
        return float(self._data["updated"])

    @property
    def error(self) -> str | None:
        error: str | None = self._data.get("error")
        return error

    @property
    def context(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._data["context"])

    def plan(self) -> Plan:
        if self._plan is None:
            path = self.directory / PLAN_FILE
            try:
                self._plan = Plan.from_dict(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError, TypeError, KeyError) as exc:
                raise ConfigError(f"unreadable plan of run {self.run_id}: {exc}", file=str(path)) from exc
        return self._plan

    def step(self, step_id: str) -> StepRecord:
        with self._lock:
            raw = self._data["steps"][step_id]
            return StepRecord(step_id, raw["status"], raw["started"], raw["finished"], dict(raw["data"]), raw["error"])

    def steps(self) -> Iterator[StepRecord]:
        for step_id in list(self._data["steps"]):
            yield self.step(step_id)

    def done(self, step_id: str) -> bool:
        return self.step(step_id).status == "done"

    # -- writing ------------------------------------------------------------------------------------

    def step_started(self, step_id: str, **data: Any) -> None:
        with self._lock:
            raw = self._data["steps"][step_id]
            if raw["started"] is None:
                raw["started"] = self._clock.now()
            raw["status"] = "running"
            raw["error"] = None
            raw["data"].update(data)
            self._save_locked()

    def note(self, step_id: str, *, persist: bool = True, **data: Any) -> None:
        """Record a fact about a step (boot ID before, command sent, …).

        ``persist=False`` keeps it in memory until the next write: for observations that a resume does
        not need (what a wait saw), so a 100-node run does not rewrite the file for each of them.
        """
        with self._lock:
            self._data["steps"][step_id]["data"].update(data)
            if persist:
                self._save_locked()

    def step_done(self, step_id: str, **data: Any) -> None:
        with self._lock:
            raw = self._data["steps"][step_id]
            raw["status"] = "done"
            raw["finished"] = self._clock.now()
            raw["data"].update(data)
            self._save_locked()

    def step_failed(self, step_id: str, error: str, **data: Any) -> None:
        with self._lock:
            raw = self._data["steps"][step_id]
            raw["status"] = "failed"
            raw["finished"] = self._clock.now()
            raw["error"] = error
            raw["data"].update(data)
            self._save_locked()

    def set_context(self, **data: Any) -> None:
        """Run-wide facts (etcd snapshot path, VM snapshot names, gate results) for resume and report."""
        with self._lock:
            self._data["context"].update(data)
            self._save_locked()

    def resumed(self) -> None:
        with self._lock:
            self._data["resumed"].append(self._clock.now())
            self._data["status"] = "running"
            self._data["error"] = None
            self._save_locked()

    def finish(self, status: RunStatus, error: str | None = None) -> None:
        with self._lock:
            self._data["status"] = status
            self._data["error"] = error
            self._save_locked()

    def _save(self) -> None:
        with self._lock:
            self._save_locked()

    def _save_locked(self) -> None:
        self._data["updated"] = self._clock.now()
        atomic_write_json(self.path, self._data)

    def raw(self) -> dict[str, Any]:
        """A deep copy of the journal's content (for reports and tests)."""
        with self._lock:
            copied: dict[str, Any] = json.loads(json.dumps(self._data, default=str))
            return copied


def _stamp(now: float) -> str:
    import time

    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
