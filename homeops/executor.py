"""The one executor: runs any ``Plan`` — dry-run, confirmation, lock, journal, gates, waits, report.

    plan ──render──▶ dry-run stops here
         ──confirm (unless --yes)──▶ lock ──▶ journal ──▶ preflight gates
         ──▶ for each batch: node gates → snapshots → commands → waits (lockstep) → gates + stability
         ──▶ report (Markdown + JSON next to the journal)

Every step is journaled before it starts and after it ends, so a run killed at any instant can be
resumed: finished steps are never repeated; a step caught mid-flight is continued from what the
journal and a fresh look at the node say (an upgrade whose node already rebooted is not re-sent).

On failure the run stops before the next node and leaves the cluster as it is; the error names the
node, the gate or wait, what was observed, and how to resume or roll back.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO, TypeVar

from homeops.clock import Clock
from homeops.errors import Aborted, CommandError, ConnectionFailed, GateFailed, HomeopsError, Interrupted
from homeops.gates import GateResult, hold_green, preflight, wait_green
from homeops.inventory.model import Inventory
from homeops.journal import Journal
from homeops.lock import ClusterLock
from homeops.operations.conditions import probe_for
from homeops.operations.facts import Check, NodeFacts, Observer
from homeops.plan import Command, Gate, Plan, Step, WaitKind, unique_gates
from homeops.privatefs import make_private, private_dir
from homeops.progress import NullProgress, Progress
from homeops.report import write as write_report
from homeops.runners import Result, Runner
from homeops.waits import WaitSpec, wait_for

WAIT_ORDER: tuple[WaitKind, ...] = ("rebooted", "running", "k8s-ready", "etcd-member", "k8s-version")

#: How often a mutating command is retried when it failed before reaching the node (unreachable).
COMMAND_ATTEMPTS = 3

Confirm = Callable[[str], bool]
T = TypeVar("T")


@dataclass
class Outcome:
    status: str  # dry-run, nothing, finished, already-finished
    plan: Plan
    journal: Journal | None = None
    report: Path | None = None
    report_json: Path | None = None
    notes: list[str] = field(default_factory=list)


#: Where ``inv`` looks when no --inventory is given (``homeops.tasks._common.inventory_dir``).
DEFAULT_INVENTORY = Path("inventory")


def resume_command(plan: Plan, inventory: Inventory) -> str:
    """The command that resumes ``plan``, naming the inventory unless it is the default one."""
    command = f"inv talos.{plan.operation} --resume"
    if inventory.root.resolve() != DEFAULT_INVENTORY.resolve():
        # The user found this inventory with --inventory (or an env/config setting that may be gone
        # in the next shell): the resume must point at the same journal, so name it explicitly.
        command += f" --inventory {shlex.quote(str(inventory.root))}"
    return command


class Executor:
    """Runs plans against one cluster. ``host(name)`` gives the runner of an SSH host."""

    def __init__(
        self,
        inventory: Inventory,
        observer: Observer,
        *,
        local: Runner,
        host: Callable[[str], Runner],
        clock: Clock,
        progress: Progress | None = None,
        out: TextIO | None = None,
        confirm: Confirm | None = None,
        preflight_retries: int = 3,
        uploader: Callable[[Path], str] | None = None,
    ) -> None:
        self.inventory = inventory
        self.observer = observer
        self.local = local
        self.host = host
        self.clock = _SleepCounter(clock)
        self.progress: Progress = progress or NullProgress()
        self.out = out or sys.stdout
        self.confirm = confirm
        self.preflight_retries = preflight_retries
        self.uploader = uploader
        # Gates seen green by the last look, and the sleep count then: still current only if no time
        # was slept since (a stale green must never let a command through).
        self._green: tuple[int, frozenset[tuple[str, str, str | None]]] = (-1, frozenset())

    # ------------------------------------------------------------------------------------ entry

    def run(
        self,
        plan: Plan,
        *,
        dry_run: bool = False,
        yes: bool = False,
        break_lock: bool = False,
        resume: Journal | None = None,
    ) -> Outcome:
        if resume is not None and resume.status == "finished":
            self._print(f"run {resume.run_id} already finished; nothing to resume (report: {resume.directory})")
            return Outcome("already-finished", plan, resume, resume.directory / "report.md")
        self._print(plan.render())
        if dry_run:
            self._print("dry run: nothing was changed")
            return Outcome("dry-run", plan)
        if plan.empty:
            return Outcome("nothing", plan)
        if not yes:
            verb = "Resume" if resume else "Run"
            question = f"{verb} {plan.operation} on cluster '{plan.cluster}' ({len(plan.steps)} steps)?"
            if self.confirm is None or not self.confirm(question):
                raise Aborted("not confirmed: nothing was changed", hint="answer y, or pass --yes")
        lock = ClusterLock(self.inventory.state_dir, plan.cluster, operation=plan.operation, clock=self.clock)
        lock.acquire(
            run_id=resume.run_id if resume else "",
            break_lock=break_lock,
            adopt_run=resume.run_id if resume else None,
        )
        try:
            journal = resume or Journal.create(self.inventory.state_dir, plan, self.clock)
            if resume:
                journal.resumed()
            self._rewrite_lock(lock, journal)
            return self._execute(plan, journal, resumed=resume is not None)
        finally:
            lock.release()

    def _rewrite_lock(self, lock: ClusterLock, journal: Journal) -> None:
        # The run ID is only known once the journal exists; the lock names it so --resume can adopt it.
        info = lock.read()
        if info is not None and info.pid == os.getpid() and info.run_id != journal.run_id:
            from dataclasses import asdict

            from homeops.journal import atomic_write_json

            data = asdict(info)
            data["run_id"] = journal.run_id
            atomic_write_json(lock.path, data)

    # ------------------------------------------------------------------------------------ the run

    def _execute(self, plan: Plan, journal: Journal, *, resumed: bool) -> Outcome:
        self.progress.started(plan, resumed=resumed)
        # A node step caught after its boot ID was recorded may have its node mid-reboot: finish it
        # first (its waits and gates prove health); otherwise the whole preflight runs again.
        in_flight = [r.id for r in journal.steps() if r.status == "running" and r.data.get("boot_id_before")]
        current: list[Step] = []
        try:
            if not in_flight:
                results = preflight(
                    plan.preflight,
                    self.observer,
                    self.inventory,
                    clock=self.clock,
                    retries=self.preflight_retries,
                    interval=min(plan.poll_interval, 2.0),
                    report=self._gate_report,
                )
                journal.set_context(preflight=[_gate_line(r) for r in results])
                self._green = (self.clock.sleeps, frozenset(_key(r.gate) for r in results))
            else:
                self.progress.note(f"resuming in-flight step(s): {', '.join(in_flight)}")
            total = len(plan.steps)
            index = {s.id: i for i, s in enumerate(plan.steps, 1)}
            for batch in plan.batches():
                todo = [s for s in batch if not journal.done(s.id)]
                for step in batch:
                    if journal.done(step.id):
                        self.progress.step(step, index[step.id], total, "skipped")
                if not todo:
                    continue
                current = todo
                self._run_batch(plan, journal, todo, index, total)
                current = []
        except KeyboardInterrupt:
            where = ", ".join(s.id for s in current if not journal.done(s.id)) or "between steps"
            journal.finish("interrupted", f"interrupted at {where}")
            write_report(journal)
            raise Interrupted(
                f"interrupted at {where}; the cluster was left as it is",
                hint=f"continue with: {resume_command(plan, self.inventory)} (run {journal.run_id})",
            ) from None
        except HomeopsError as exc:
            for step in current:
                if journal.step(step.id).status == "running":
                    journal.step_failed(step.id, str(exc))
            journal.finish("failed", str(exc))
            md, _ = write_report(journal)
            exc.hint = self._failure_hint(plan, journal, current, exc, md)
            self.progress.finished("failed", str(exc))
            raise
        journal.finish("finished")
        md, js = write_report(journal)
        self.progress.finished("finished", f"{plan.operation} done; report {md}")
        return Outcome("finished", plan, journal, md, js)

    def _failure_hint(self, plan: Plan, journal: Journal, current: Sequence[Step], exc: HomeopsError, md: Path) -> str:
        parts = []
        if exc.hint:
            parts.append(exc.hint)
        parts.append("stopped before the next node; nothing else was touched")
        parts.append(f"after fixing it, continue with: {resume_command(plan, self.inventory)}")
        context = journal.context
        vm = context.get("vm_snapshots") or {}
        for hostname in dict.fromkeys(s.node for s in current if s.reboots and s.node):
            name = vm.get(hostname)
            node = self.inventory.node(hostname)
            if name and node.vm is not None:
                parts.append(f"roll back {hostname}: on {node.vm.host} run `qm rollback {node.vm.vmid} {name}`")
        if context.get("etcd_snapshot"):
            parts.append(f"etcd snapshot: {context['etcd_snapshot']}")
        parts.append(f"report: {md}")
        return "; ".join(parts)

    def _run_batch(self, plan: Plan, journal: Journal, todo: list[Step], index: dict[str, int], total: int) -> None:
        pre = [s for s in todo if not s.reboots and s.action != "apply"]
        main = [s for s in todo if s not in pre]
        for step in pre:
            self._check_before(step)
            self.progress.step(step, index[step.id], total, "start")
            journal.step_started(step.id)
            self._run_side_step(plan, journal, step)
            if step.waits:
                self._wait_all(plan, journal, [step])
            if step.gates_after and not main:
                self._settle(plan, journal, [step])
            journal.step_done(step.id)
            self.progress.step(step, index[step.id], total, "done")
        # Steps caught mid-flight by a crash finish first (their nodes may be down, so the cluster
        # gates cannot be green yet); the rest of their batch then starts like a fresh batch.
        in_flight = [
            s for s in main if journal.step(s.id).data.get("boot_id_before") and journal.step(s.id).status == "running"
        ]
        # A step that failed after its command went out (the node never came back, then was fixed)
        # is not sent again if the node already got there: resume only re-checks it.
        in_flight += [s for s in main if s not in in_flight and self._arrived(journal, s)]
        fresh = [s for s in main if s not in in_flight]
        for group, resumed in ((in_flight, True), (fresh, False)):
            if not group:
                continue
            seen = {} if resumed else self._look_before_sending(plan, group)
            for step in group:
                self.progress.step(step, index[step.id], total, "resumed" if resumed else "start")
                if resumed:
                    self._continue_node_step(plan, journal, step)
                else:
                    self._start_node_step(journal, step, seen[step.node or ""])
            self._wait_all(plan, journal, group)
            self._settle(plan, journal, group)
            for step in group:
                # The `running` wait verified the version: the target for an upgrade, unchanged otherwise.
                before = journal.step(step.id).data.get("version_before", step.from_version)
                after = step.to_version if step.action == "upgrade" else before
                journal.step_done(step.id, version_after=after)
                self.progress.step(step, index[step.id], total, "done")

    def _look_before_sending(self, plan: Plan, steps: Sequence[Step]) -> dict[str, NodeFacts]:
        """The last look before touching nodes: every gate green *and* the nodes' boot IDs, in one instant.

        Waiting (for a blip) or retrying (for a tool error) happens before this look, never between it
        and the commands, so no command is ever sent on the strength of an older green. A gate seen
        green an instant ago (by the stability window that just ended) is not asked again.
        """
        gates = unique_gates(
            tuple(g for s in steps for g in s.gates_after) + tuple(g for s in steps for g in s.gates_before)
        )
        nodes = [self.inventory.node(s.node or "") for s in steps]
        errors = 0
        while True:
            seen_at, seen_green = self._green
            if seen_at != self.clock.sleeps:
                seen_green = frozenset()
            wait_green(
                [g for g in gates if _key(g) not in seen_green],
                self.observer,
                self.inventory,
                clock=self.clock,
                interval=plan.poll_interval,
                report=self._gate_report,
                hint="nothing was sent to the next node",
            )
            try:
                seen = self.observer.nodes(nodes, boot_ids=True, versions=False)
            except (CommandError, ConnectionFailed):
                errors += 1
                if errors >= self.preflight_retries:
                    raise
                self.clock.sleep(min(plan.poll_interval, 2.0))
                continue
            self._green = (self.clock.sleeps, frozenset(_key(g) for g in gates))
            for node in nodes:
                if not seen[node.hostname].running_ready or not seen[node.hostname].boot_id:
                    raise GateFailed(
                        "node-ready",
                        seen[node.hostname].describe(),
                        target=node.hostname,
                        hint="nothing was sent to this node",
                    )
            return seen

    def _retrying(self, look: Callable[[], T]) -> T:
        for attempt in range(self.preflight_retries):
            try:
                return look()
            except (CommandError, ConnectionFailed):
                if attempt == self.preflight_retries - 1:
                    raise
                self.clock.sleep(1.0)
        raise AssertionError("unreachable")

    # ------------------------------------------------------------------------------------ pieces

    def _check_before(self, step: Step) -> None:
        if step.gates_before:
            preflight(
                step.gates_before,
                self.observer,
                self.inventory,
                clock=self.clock,
                retries=self.preflight_retries,
                interval=1.0,
                report=self._gate_report,
            )

    def _runner(self, command: Command) -> Runner:
        return self.local if command.on == "local" else self.host(command.on)

    def _run_command(self, command: Command, *, what: str, target: str | None, stdin: str | None = None) -> Result:
        """Run a mutating command; retry only failures that cannot have reached the target.

        Retries are immediate: the gates were green in the look just before, and sleeping here would
        send the command on a look that is no longer current (found by the property tests).
        """
        from homeops.adapters import talosctl

        result: Result | None = None
        for attempt in range(COMMAND_ATTEMPTS):
            try:
                result = self._runner(command).run(list(command.argv), timeout=command.timeout, stdin=stdin)
            except ConnectionFailed:
                if attempt == COMMAND_ATTEMPTS - 1:
                    raise
                continue
            if result.ok:
                return result
            if command.argv and command.argv[0].endswith("talosctl"):
                if talosctl.is_quorum_refusal(result):
                    raise CommandError(
                        f"{what} on {target} refused by Talos to protect etcd quorum: {result.last_error_line()}",
                        command=result.command,
                        exit_code=result.exit_code,
                        target=target,
                        hint="wait until every etcd member is healthy and no other node is upgrading",
                    )
                if talosctl.is_unreachable(result) and attempt < COMMAND_ATTEMPTS - 1:
                    continue
            break
        assert result is not None
        return result.check(what)

    def _run_side_step(self, plan: Plan, journal: Journal, step: Step) -> None:
        if step.action == "etcd-snapshot":
            self._etcd_snapshot(journal, step)
        elif step.action == "vm-snapshot":
            command = step.commands[0]
            result = self._runner(command).run(list(command.argv), timeout=command.timeout)
            if result.failed and "already exists" not in (result.stderr + result.stdout):
                result.check(
                    f"Proxmox snapshot of {step.node}", hint="fix the VM's snapshot storage or set vmSnapshot: false"
                )
            snapshots = dict(journal.context.get("vm_snapshots") or {})
            snapshots[step.node or ""] = step.artifact
            journal.set_context(vm_snapshots=snapshots)
        elif step.action == "upgrade-k8s":
            for command in step.commands:
                self._run_command(command, what="talosctl upgrade-k8s", target=step.node_ip)
        else:
            for command in step.commands:
                self._run_command(command, what=step.action, target=step.node)

    def _etcd_snapshot(self, journal: Journal, step: Step) -> None:
        path = Path(step.artifact or "")
        private_dir(path.parent, root=self.inventory.state_dir)
        take, *copies = step.commands
        self._run_command(take, what="etcd snapshot", target=step.node)
        make_private(path)  # talosctl writes it 0644; it holds every Kubernetes secret
        size = path.stat().st_size if path.is_file() else 0
        if size <= 0:
            raise GateFailed(
                "etcd-snapshot",
                f"the snapshot {path} is missing or empty",
                target=step.node,
                hint="check `talosctl etcd status`; nothing else was changed",
            )
        journal.set_context(etcd_snapshot=str(path), etcd_snapshot_bytes=size)
        for copy in copies:
            if self.uploader is None:
                raise GateFailed("etcd-snapshot-copy", "no uploader configured", target=copy.on)
            remote = self.uploader(path)
            journal.set_context(etcd_snapshot_nas=f"{copy.on}:{remote}")
        self.progress.note(f"etcd snapshot {path} ({size} bytes)")

    def _arrived(self, journal: Journal, step: Step) -> bool:
        record = journal.step(step.id)
        if record.status != "failed" or not record.data.get("command_sent") or not step.node:
            return False
        node = self.inventory.node(step.node)
        seen = self._retrying(lambda: self.observer.nodes([node], boot_ids=True))[node.hostname]
        if not seen.running_ready or seen.boot_id == record.data.get("boot_id_before"):
            return False
        return step.action != "upgrade" or (seen.version or "").lstrip("v") == (step.to_version or "").lstrip("v")

    def _continue_node_step(self, plan: Plan, journal: Journal, step: Step) -> None:
        """A step a crash interrupted after its boot ID was recorded: send again only if provably not sent."""
        record = journal.step(step.id)
        if record.status == "failed":
            journal.step_started(step.id, resumed_after_failure=True)
        if record.data.get("command_sent"):
            return
        node = self.inventory.node(step.node or "")
        seen = self._retrying(lambda: self.observer.nodes([node], boot_ids=True))[node.hostname]
        before = record.data.get("boot_id_before")
        if not seen.running_ready or (seen.boot_id and seen.boot_id != before):
            # Down, rebooting or already back with a new boot: the command reached the node.
            journal.note(step.id, command_sent=True, command_inferred=True)
            return
        if step.action == "upgrade" and seen.version == step.to_version:
            journal.note(step.id, command_sent=True, command_inferred=True)
            return
        self._send(journal, step)

    def _start_node_step(self, journal: Journal, step: Step, seen: NodeFacts) -> None:
        """Record the boot ID and version before, then send the command."""
        journal.step_started(step.id, boot_id_before=seen.boot_id, version_before=step.from_version)
        self._send(journal, step)

    def _send(self, journal: Journal, step: Step) -> None:
        for command in step.commands:
            result = self._run_command(command, what=f"talosctl {step.action}", target=step.node)
            if step.action == "apply":
                from homeops.adapters.talosctl import parse_apply_result

                with contextlib.suppress(CommandError):
                    applied = parse_apply_result(result.stderr)
                    journal.note(step.id, applied_mode=applied.mode, no_reboot=not applied.reboot)
        journal.note(step.id, command_sent=True)

    def _wait_all(self, plan: Plan, journal: Journal, steps: Sequence[Step]) -> None:
        for kind in WAIT_ORDER:
            members = [
                s
                for s in steps
                if any(w.kind == kind for w in s.waits)
                and not (kind == "rebooted" and journal.step(s.id).data.get("no_reboot"))
            ]
            if not members:
                continue
            waits = [w for s in members for w in s.waits if w.kind == kind]
            boot_ids = {s.node or "": journal.step(s.id).data.get("boot_id_before") for s in members}
            probe = probe_for(kind, members, inventory=self.inventory, observer=self.observer, boot_ids=boot_ids)
            names = ", ".join(s.node or "cluster" for s in members)
            spec = WaitSpec(
                what=waits[0].describe if len(members) == 1 else f"{kind} on {names}",
                success=_SUCCESS[kind],
                failure=_FAILURE.get(kind, ""),
                timeout=max(w.timeout for w in waits),
                interval=plan.poll_interval,
                target=names,
                hint=_HINT.get(kind),
            )
            observation = wait_for(spec, probe, clock=self.clock, report=self.progress.waiting)
            for step in members:
                journal.note(step.id, persist=False, **{f"wait_{kind}": observation.observed[:300]})

    def _settle(self, plan: Plan, journal: Journal, steps: Sequence[Step]) -> None:
        gates = unique_gates(g for s in steps for g in s.gates_after)
        if not gates:
            return
        results = hold_green(
            gates,
            self.observer,
            self.inventory,
            seconds=plan.stability_seconds,
            clock=self.clock,
            # Five or so looks per window: enough to catch a flap, without hammering a big cluster.
            interval=max(plan.poll_interval, plan.stability_seconds / 5),
            report=self._gate_report,
        )
        self._green = (self.clock.sleeps, frozenset(_key(r.gate) for r in results))
        lines = [_gate_line(r) for r in results]
        for step in steps:
            journal.note(step.id, persist=False, gates=lines)

    def _gate_report(self, gate: Gate, check: Check) -> None:
        self.progress.gate(gate, check.ok, check.observed)

    def _print(self, text: str) -> None:
        from homeops.secrets import mask

        print(mask(text), file=self.out, flush=True)


class _SleepCounter:
    """The executor's clock: the injected one, counting sleeps so a look can tell it is still current."""

    def __init__(self, clock: Clock) -> None:
        self.inner = clock
        self.sleeps = 0

    def now(self) -> float:
        return self.inner.now()

    def monotonic(self) -> float:
        return self.inner.monotonic()

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        self.inner.sleep(seconds)


_SUCCESS: dict[str, str] = {
    "rebooted": "a new boot ID",
    "running": "stage running, ready, on the expected version",
    "k8s-ready": "the Kubernetes node Ready and schedulable",
    "etcd-member": "its etcd member healthy and every control plane's member healthy",
    "k8s-version": "every kubelet on the target version",
}
_FAILURE: dict[str, str] = {
    "running": "it comes back on the old version (A/B rollback) or another version",
    "etcd-member": "an etcd alarm is raised",
}
_HINT: dict[str, str] = {
    "rebooted": "the node did not come back: check its console (Proxmox) and `talosctl dmesg`",
    "running": "see `talosctl -n <ip> dmesg` and `talosctl -n <ip> get machinestatus`",
    "k8s-ready": "check `kubectl describe node`; uncordon with `kubectl uncordon <node>` once healthy",
    "etcd-member": "check `talosctl -n <ip> etcd status` and `talosctl -n <ip> service etcd`",
    "k8s-version": "re-run `inv talos.upgrade-k8s`; talosctl upgrade-k8s is safe to restart",
}


def _key(gate: Gate) -> tuple[str, str, str | None]:
    return (gate.kind, gate.name, gate.target)


def _gate_line(result: GateResult) -> str:
    return f"{result.gate.label}: {'green' if result.ok else 'red'} — {result.observed}"
