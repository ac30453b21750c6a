"""The end-of-run report: per node before/after versions, durations and gates, as Markdown and JSON.

Built from the run's directory only (never from memory), so a resumed run's report covers the steps
its earlier, interrupted process did too. Written next to the journal:
``<state_dir>/runs/<run_id>/report.md`` and ``report.json``.

Run policies add a section each (a hook's output, a silence's ID) and listeners that failed are named:
the executor hands those lines to ``write``, which keeps them beside the journal (``sections.json``)
so a later rewrite of the report (dr.rebuild's "done with problems") keeps them too. They are the
lines of the run's latest process: a resumed run asks its policies again.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from homeops.engine.journal import Journal, atomic_write_json
from homeops.privatefs import write_private


@dataclass(frozen=True)
class StepLine:
    step: str
    node: str
    action: str
    status: str
    before: str | None
    after: str | None
    seconds: float | None
    gates: tuple[str, ...]
    error: str | None


@dataclass(frozen=True)
class Report:
    run_id: str
    operation: str
    cluster: str
    status: str
    target: str
    started: float
    updated: float
    error: str | None
    steps: tuple[StepLine, ...]
    preflight: tuple[str, ...]
    artifacts: dict[str, str]
    backend: str = "real"
    reported: tuple[str, ...] = ()  # allowed-red gates, as seen at preflight
    policies: dict[str, list[str]] = field(default_factory=dict)  # each run policy's lines, by its name
    listener_problems: tuple[str, ...] = ()  # listeners that raised (ignored by the run)

    @property
    def seconds(self) -> float:
        return self.updated - self.started


SECTIONS_FILE = "sections.json"


def _sections(journal: Journal) -> tuple[dict[str, list[str]], tuple[str, ...]]:
    try:
        data = json.loads((journal.directory / SECTIONS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}, ()
    if not isinstance(data, dict):
        return {}, ()
    policies = data.get("policies") or {}
    return (
        {str(k): [str(x) for x in v] for k, v in policies.items() if isinstance(v, list)},
        tuple(str(x) for x in data.get("listener_problems") or ()),
    )


def build(journal: Journal) -> Report:
    record = journal.record()
    plan = journal.plan()
    lines = []
    for step in plan.steps:
        done = record.steps[step.id]
        seconds = None
        if done.started is not None and done.finished is not None:
            seconds = float(done.finished) - float(done.started)
        before = done.before or step.planned_before
        line = (step.id, step.node or "cluster", step.action, done.status, before, done.after, seconds)
        lines.append(StepLine(*line, gates=tuple(done.gates), error=done.error))
    same = {name: getattr(record, name) for name in ("run_id", "operation", "cluster", "status", "error", "backend")}
    policies, problems = _sections(journal)
    return Report(
        **same,
        target=plan.target,
        started=record.created,
        updated=record.updated,
        steps=tuple(lines),
        preflight=tuple(record.preflight),
        artifacts=dict(record.artifacts),
        reported=tuple(record.reported),
        policies=policies,
        listener_problems=problems,
    )


def _status(report: Report) -> str:
    # a run that went to its end but could not prove everything (dr.rebuild's reported steps)
    if report.status == "finished" and (report.error or "").startswith("done with problems"):
        return "finished with problems"
    return report.status


def to_markdown(report: Report) -> str:
    when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(report.started))
    simulated = report.backend == "simulated"
    out: list[str | None] = [
        f"# {report.operation} on `{report.cluster}` — {_status(report)}" + (" — SIMULATED" if simulated else ""),
        "",
        "- SIMULATED: this run acted on the homeops simulator, not on real machines" if simulated else None,
        f"- run: `{report.run_id}` started {when}, {report.seconds:.0f}s",
        f"- target: {report.target}" if report.target else "",
    ]
    if report.error:
        out.append(f"- error: {report.error}")
    for name, value in report.artifacts.items():
        out.append(f"- {name.replace('_', ' ')}: `{value}`")
    if report.preflight:
        out += ["", "## Preflight", ""] + [f"- {line}" for line in report.preflight]
    if report.reported:
        out += ["", "## Reported only (allowed red)", ""] + [f"- {line}" for line in report.reported]
    out += [
        "",
        "## Steps",
        "",
        "| node | action | status | before | after | time | gates |",
        "|---|---|---|---|---|---|---|",
    ]
    for line in report.steps:
        seconds = f"{line.seconds:.0f}s" if line.seconds is not None else ""
        gates = "<br>".join(line.gates) if line.gates else ""
        status = line.status + (f": {line.error}" if line.error else "")
        cells = [line.node, line.action, status, line.before or "", line.after or "", seconds, gates]
        out.append("| " + " | ".join(cells) + " |")
    for name, lines in report.policies.items():
        out += ["", f"## Policy: {name}", ""] + [f"- {line}" for line in lines]
    if report.listener_problems:
        out += ["", "## Listeners that failed (ignored; the run went on)", ""]
        out += [f"- {line}" for line in report.listener_problems]
    return "\n".join(x for x in out if x is not None) + "\n"


def write(
    journal: Journal,
    *,
    policies: Mapping[str, Sequence[str]] | None = None,
    listener_problems: Sequence[str] | None = None,
) -> tuple[Path, Path]:
    """Write report.md and report.json next to the journal; returns their paths.

    ``policies`` (name → lines) and ``listener_problems``, when given, replace the sections kept from
    an earlier write; when not given, those are kept.
    """
    if policies is not None or listener_problems is not None:
        kept, problems = _sections(journal)
        atomic_write_json(
            journal.directory / SECTIONS_FILE,
            {
                "policies": {k: list(v) for k, v in policies.items()} if policies is not None else kept,
                "listener_problems": list(listener_problems) if listener_problems is not None else list(problems),
            },
        )
    report = build(journal)
    md = journal.directory / "report.md"
    js = journal.directory / "report.json"
    data: dict[str, Any] = asdict(report)
    data["seconds"] = report.seconds
    atomic_write_json(js, data)
    write_private(md, to_markdown(report))
    return md, js
