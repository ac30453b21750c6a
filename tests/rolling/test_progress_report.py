"""Progress output (plain lines off a terminal, rich live on one) and the Markdown/JSON report."""

from __future__ import annotations

import io
import json
from pathlib import Path

from homeops.clock import FakeClock
from homeops.engine.journal import Journal
from homeops.engine.plan import Command, Gate, Plan, Step
from homeops.engine.progress import LiveProgress, PlainProgress, for_stream
from homeops.engine.report import write
from homeops.engine.waits import WaitSpec
from homeops.secrets import MASKER

STEP = Step(
    id="k8s-1:upgrade@v1.11.6",
    action="upgrade",
    summary="upgrade k8s-1 v1.10.9 → v1.11.6",
    node="k8s-1",
    commands=(Command(("talosctl", "upgrade")),),
    reboots=True,
    from_version="v1.10.9",
    to_version="v1.11.6",
)
PLAN = Plan(
    operation="upgrade-cluster",
    cluster="home",
    steps=(STEP,),
    target="Talos v1.11.6",
    preflight=(Gate("etcd", "etcd", "3 healthy members"),),
)
SPEC = WaitSpec("k8s-1 rebooted", "new boot ID", "", timeout=900, interval=5)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_plain_progress_prints_node_step_wait_and_elapsed() -> None:
    out, clock = io.StringIO(), FakeClock()
    progress = PlainProgress(out, clock=clock)
    progress.started(PLAN, resumed=False)
    progress.step(STEP, 1, 1, "start")
    clock.advance(65)
    progress.waiting(SPEC, 60, "unreachable (rebooting)")
    progress.waiting(SPEC, 61, "unreachable (rebooting)")  # same observation: not repeated
    progress.gate(PLAN.preflight[0], False, "2/3 members healthy")
    progress.step(STEP, 1, 1, "done")
    lines = out.getvalue().splitlines()
    assert lines[0] == "[00:00] starting upgrade-cluster on 'home': 1 steps, 1 nodes"
    assert lines[1] == "[00:00] → [1/1] upgrade k8s-1 v1.10.9 → v1.11.6"
    assert lines[2] == "[01:05]   … waiting for k8s-1 rebooted (01:00/15:00): unreachable (rebooting)"
    assert lines[3] == "[01:05]   gate etcd: red — 2/3 members healthy"
    assert lines[4].endswith("✓ [1/1] upgrade k8s-1 v1.10.9 → v1.11.6 — done")
    assert len(lines) == 5


def test_progress_masks_secrets() -> None:
    MASKER.add("s3cr3t-token-value")
    out = io.StringIO()
    PlainProgress(out, clock=FakeClock()).note("using s3cr3t-token-value")
    assert "s3cr3t" not in out.getvalue() and "******" in out.getvalue()


def test_for_stream_picks_live_on_a_terminal() -> None:
    assert type(for_stream(io.StringIO(), clock=FakeClock())) is PlainProgress
    tty = Tty()
    live = for_stream(tty, clock=FakeClock())
    assert isinstance(live, LiveProgress)
    live.started(PLAN, resumed=True)
    live.step(STEP, 1, 1, "start")
    live.waiting(SPEC, 3, "booting")
    live.finished("finished", "done")
    text = tty.getvalue()
    assert "resuming upgrade-cluster" in text and "finished: done" in text


def test_report_markdown_and_json(tmp_path: Path) -> None:
    clock = FakeClock()
    journal = Journal.create(tmp_path, PLAN, clock)
    journal.set_preflight(["etcd: green — 3/3 members healthy"])
    journal.add_artifact("etcd_snapshot", "/x/etcd.db")
    journal.step_started(STEP.id, marker="b1", before="v1.10.9")
    clock.advance(83)
    journal.step_done(STEP.id, after="v1.11.6", gates=["etcd: green — 3/3 members healthy"])
    journal.finish("finished")
    md, js = write(journal)
    data = json.loads(js.read_text())
    assert data["status"] == "finished" and data["artifacts"] == {"etcd_snapshot": "/x/etcd.db"}
    (step,) = data["steps"]
    assert (step["node"], step["before"], step["after"], step["seconds"]) == ("k8s-1", "v1.10.9", "v1.11.6", 83.0)
    text = md.read_text()
    assert text.startswith("# upgrade-cluster on `home` — finished")
    assert "| k8s-1 | upgrade | done | v1.10.9 | v1.11.6 | 83s | etcd: green — 3/3 members healthy |" in text
    assert "- etcd snapshot: `/x/etcd.db`" in text and "## Preflight" in text
