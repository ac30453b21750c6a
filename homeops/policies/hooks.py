"""Pre and post hooks (homeops.yaml ``hooks:``): the operator's own commands around every mutating run.

    hooks:
      pre:  [{run: ./scripts/backup-check.sh, timeout: 5m}]
      post: [{run: 'curl -fsS -d "$HOMEOPS_STATUS" http://ntfy.lan/homelab', timeout: 2m}]

Pre hooks run in ``begin`` (after the lock and the journal, before preflight), one after another. The
first that fails or times out refuses the run before anything changed (``PolicyRefused`` naming the
hook, its exit code and its last output line); the pre hooks after it do not run.

Post hooks run in ``end`` after every run that began — finished, failed (a failed pre hook included: a
post hook is the cleanup of what a pre hook may have half done), interrupted by Ctrl-C, stopped by a
policy. A run that never got the lock never began: its post hooks do not run (they could undo what the
run holding the lock set up). Every post hook runs even when an earlier one failed; then a failed one
fails the run loudly (``CommandError`` naming it), a run that had finished included — a hook that
"never once worked" must not go unnoticed (axeII/home-ops#3870).

A resumed run is a run of its own for the hooks: its pre hooks run again before it continues, its post
hooks after it (``--resume`` after a failed post hook runs both around no step: that is the retry).
Hooks are per run, not per node: a node's own before/after work belongs in the plan's steps, whose
failure the journal can resume from; a hook is the operator's wrapper around the whole run.

Each hook is ``sh -c <run>`` through the ``Runner`` seam, in the inventory directory, in a process group
of its own (``LocalRunner``): a timeout kills the whole group, children included. Its environment:

    HOMEOPS_HOOK                   pre | post
    HOMEOPS_STATUS                 starting (pre) | finished | failed | interrupted | stopped (post)
    HOMEOPS_RUN_ID, HOMEOPS_OPERATION, HOMEOPS_CLUSTER, HOMEOPS_RESUME (the command that resumes it)
    HOMEOPS_REPORT_DIR             the run's directory: journal.json (with the run's final status by the
                                   time post hooks run); report.md is written after them (it holds their output)
    HOMEOPS_SIMULATED              1 on the simulator, 0 on real machines (set either way, never inherited)
    KUBECONFIG, TALOSCONFIG        the inventory's: a hook's kubectl/talosctl reaches this cluster

A hook's output is read until its end: one that leaves something running in the background must
redirect its output (``kubectl port-forward … >/dev/null 2>&1 &``), or the hook lasts until its timeout.

On the simulator the runner is the simulator's local runner, whose fake tools come first on ``PATH``: a
hook's ``kubectl`` reaches the simulated cluster, not the one the operator's shell points at.

A second Ctrl-C while post hooks run does not stop them — they are the cleanup the first Ctrl-C asked
for. It is acknowledged on the terminal, and each hook still ends within its own timeout. Hooks run in
their own session, so the terminal's Ctrl-C never reaches them. homeops does not catch SIGTERM: like
SIGKILL it ends homeops at once, with no post hooks (one already running finishes alone); the journal
still says where the run was, for ``--resume``.

Output (stdout and stderr tails, masked) goes into the run's report (``report_lines``); the terminal
gets one line per hook.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Literal, TextIO

from homeops.engine.events import EndStatus, RunInfo, RunPolicy
from homeops.engine.journal import runs_dir
from homeops.errors import CommandError, CommandTimeout, HomeopsError, PolicyRefused
from homeops.inventory.model import Hook, Hooks, Inventory
from homeops.policies import span_text
from homeops.runners import Runner
from homeops.secrets import mask

if TYPE_CHECKING:
    from homeops.engine.plan import Plan

Phase = Literal["pre", "post"]
Outcome = Literal["ok", "failed", "timed out", "interrupted"]

#: Lines of each stream kept for the report; a chatty hook must not bury the run's own report.
TAIL_LINES = 20
#: Characters kept of one output line.
LINE_CHARS = 300


@dataclass(frozen=True)
class HookRun:
    """What one hook did: its outcome, exit code, time and the tail of its output (masked)."""

    hook: Hook
    phase: Phase
    outcome: Outcome
    exit_code: int | None
    seconds: float
    stdout: tuple[str, ...] = ()
    stderr: tuple[str, ...] = ()
    last_line: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"

    @property
    def why(self) -> str:
        """One line: how it ended and what it said last."""
        if self.outcome == "timed out":
            said = f"; it last said: {self.last_line}" if self.last_line else ""
            return f"did not finish within {span_text(self.hook.timeout)}; its process group was killed{said}"
        if self.outcome == "interrupted":
            return "interrupted by Ctrl-C; its process group was killed"
        said = f": {self.last_line}" if self.last_line else ""
        return f"exit {self.exit_code}{said}"

    @property
    def title(self) -> str:
        return f"{self.phase} hook {self.hook.where} `{command_text(self.hook.run)}`"

    def summary(self) -> str:
        if self.ok:
            return f"{self.title}: ok in {self.seconds:.1f}s"
        return f"{self.title}: {self.outcome} after {self.seconds:.1f}s ({self.why})"


def hook_policies(
    inventory: Inventory, *, runner: Runner, report: Callable[[str], None] | None = None
) -> tuple[RunPolicy, ...]:
    """The hooks of ``inventory`` as run policies (none when it has no ``hooks:``).

    ``runner`` is the run's local runner: on the simulator, the one whose PATH has the fake tools first.
    ``report`` takes the terminal lines (the run's progress: its time prefix, its SIMULATED banner, and a
    live display on a terminal that a bare print would tear).
    """
    if not inventory.hooks.pre and not inventory.hooks.post:
        return ()
    return (HookPolicy.for_inventory(inventory, runner=runner, report=report),)


class HookPolicy(RunPolicy):
    """Runs the inventory's pre hooks in ``begin`` and its post hooks in ``end``.

    ``runner`` is the local runner of the run (the simulator's on the simulator); ``env`` is added to
    every hook's environment (``for_inventory`` gives KUBECONFIG and TALOSCONFIG). Terminal lines go to
    ``report`` when given, else to ``out`` (stdout) with the SIMULATED banner of a simulated run.
    """

    def __init__(
        self,
        hooks: Hooks,
        *,
        directory: Path,
        runner: Runner,
        env: Mapping[str, str] | None = None,
        out: TextIO | None = None,
        report: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(name="hooks")
        self.hooks = hooks
        self.directory = directory
        self.runner = runner
        self.env = dict(env or {})
        self.out = out
        self.report = report
        self.runs: list[HookRun] = []
        self._begun: RunInfo | None = None

    @classmethod
    def for_inventory(
        cls, inventory: Inventory, *, runner: Runner, report: Callable[[str], None] | None = None
    ) -> HookPolicy:
        env = {"KUBECONFIG": str(inventory.cluster.kubeconfig), "TALOSCONFIG": str(inventory.cluster.talosconfig)}
        return cls(inventory.hooks, directory=inventory.root, runner=runner, env=env, report=report)

    # ------------------------------------------------------------------------------ RunPolicy

    def describe(self, plan: Plan) -> Sequence[str]:
        lines = []
        if self.hooks.pre:
            lines.append("pre hooks, before anything changes: " + _listing(self.hooks.pre))
        if self.hooks.post:
            lines.append("post hooks, after the run however it ends: " + _listing(self.hooks.post))
        return lines

    def begin(self, run: RunInfo, plan: Plan) -> None:
        self._begun = run
        self.runs = []
        for hook in self.hooks.pre:
            done = self._run(hook, "pre", run, "starting")
            if not done.ok:
                raise PolicyRefused(
                    f"{done.title} {done.outcome} ({done.why}): the run was not started, nothing was changed",
                    hint=f"fix what it checks (or the hook, in {self.directory / 'homeops.yaml'}); its output is in "
                    "the run's report",
                )

    def end(self, run: RunInfo, status: EndStatus) -> None:
        if self._begun is None or not self.hooks.post:
            return
        with _second_ctrl_c_waits(self._say):
            done = [self._run(hook, "post", run, status) for hook in self.hooks.post]
        failed = [d for d in done if not d.ok]
        if failed:
            first = failed[0]
            more = f" (and {len(failed) - 1} more post hook(s) failed)" if len(failed) > 1 else ""
            raise CommandError(
                f"{first.title} {first.outcome} ({first.why}){more}",
                command=mask(first.hook.run),
                exit_code=first.exit_code,
                hint="its output is in the run's report",
            )

    def report_lines(self) -> Sequence[str]:
        """The run report's section (one bullet each): every hook that ran, then the tail of its output."""
        lines: list[str] = []
        for done in self.runs:
            lines.append(done.summary())
            for name, tail in (("stdout", done.stdout), ("stderr", done.stderr)):
                lines += [f"{done.hook.where} {name}: {text}" for text in tail]
        return lines

    # ------------------------------------------------------------------------------ running one hook

    def _run(self, hook: Hook, phase: Phase, run: RunInfo, status: str) -> HookRun:
        env = {**self.env, **hook_env(run, phase, status)}
        start = time.monotonic()
        try:
            result = self.runner.run(["sh", "-c", hook.run], timeout=hook.timeout, env=env, cwd=self.directory)
        except CommandTimeout as exc:  # its stderr so far comes with it (stdout is lost with the process)
            said = _tail(exc.stderr)
            last = said[-1] if said else ""
            done = HookRun(hook, phase, "timed out", None, time.monotonic() - start, stderr=said, last_line=last)
        except KeyboardInterrupt:  # a pre hook (post hooks shield Ctrl-C): the runner killed its group
            self._record(HookRun(hook, phase, "interrupted", None, time.monotonic() - start))
            raise
        except HomeopsError as exc:  # sh itself missing or not runnable
            done = HookRun(hook, phase, "failed", None, time.monotonic() - start, last_line=str(exc))
        else:
            done = HookRun(
                hook,
                phase,
                "ok" if result.ok else "failed",
                result.exit_code,
                result.duration,
                stdout=_tail(result.stdout),
                stderr=_tail(result.stderr),
                last_line=result.last_error_line() if result.failed else "",
            )
        self._record(done)
        return done

    def _record(self, done: HookRun) -> None:
        self.runs.append(done)
        self._say(done.summary())

    def _say(self, text: str) -> None:
        if self.report is not None:
            self.report(mask(text))
            return
        banner = "[SIMULATED] " if self._begun is not None and self._begun.simulated else ""
        print(mask(banner + text), file=self.out or sys.stdout, flush=True)


def hook_env(run: RunInfo, phase: Phase, status: str) -> dict[str, str]:
    """What a hook is told about the run (module docstring)."""
    report_dir = runs_dir(run.state_dir) / run.run_id if run.state_dir is not None and run.run_id else None
    return {
        "HOMEOPS_HOOK": phase,
        "HOMEOPS_STATUS": status,
        "HOMEOPS_RUN_ID": run.run_id,
        "HOMEOPS_OPERATION": run.operation,
        "HOMEOPS_CLUSTER": run.cluster,
        "HOMEOPS_SIMULATED": "1" if run.simulated else "0",
        "HOMEOPS_REPORT_DIR": str(report_dir) if report_dir else "",
        "HOMEOPS_RESUME": run.resume_command,
    }


def command_text(run: str, width: int = 60) -> str:
    """A hook's command as one short, masked line (a multi-line script shows its first line)."""
    lines = [ln.strip() for ln in run.strip().splitlines() if ln.strip()]
    text = lines[0] if lines else ""
    if len(lines) > 1 or len(text) > width:
        text = text[: width - 1].rstrip() + "…"
    return mask(text)


@contextmanager
def _second_ctrl_c_waits(say: Callable[[str], None]) -> Iterator[None]:
    """While post hooks run, Ctrl-C is acknowledged instead of raised (signals reach only the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def acknowledge(signum: int, frame: FrameType | None) -> None:
        # A handler runs between two bytecodes of the main thread: if that was mid-print, printing again
        # raises (a reentrant call); the hooks going on matters more than the line.
        with suppress(Exception):
            say("Ctrl-C: the post hooks are the run's cleanup and still finish (each within its timeout)")

    previous = signal.signal(signal.SIGINT, acknowledge)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)


def _tail(text: str) -> tuple[str, ...]:
    lines = text.rstrip().splitlines()[-TAIL_LINES:]
    return tuple(mask(ln if len(ln) <= LINE_CHARS else ln[: LINE_CHARS - 1] + "…") for ln in lines)


def _listing(hooks: Sequence[Hook]) -> str:
    return "; ".join(f"`{command_text(h.run)}` (timeout {span_text(h.timeout)})" for h in hooks)
