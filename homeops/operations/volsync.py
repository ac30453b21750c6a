"""The VolSync workflow: ``inv volsync.backup`` as a plan the engine runs, and ``volsync.verify``.

A backup sets ``spec.trigger.manual`` on the app's ReplicationSource to a fresh token
(``homeops-<UTC stamp>``) and waits until ``status.lastManualSync`` equals it. While ``manual`` is
set VolSync ignores the schedule (cli-interfaces.md §11.2), so for a source that has a schedule a
second step removes the trigger again; a source that was manual-only keeps its new token.

Step kinds: ``volsync-trigger`` (its look says "already done" when the token was served, so a
resumed run never triggers twice; its wait fails at once when the mover reports ``Failed`` for this
trigger) and ``volsync-release``.
"""

from __future__ import annotations

import calendar
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from homeops.adapters import kubectl as k
from homeops.adapters import volsync as vs
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Plan, Step, Wait
from homeops.engine.waits import Observation
from homeops.errors import CommandError, HomeopsError, PlanError
from homeops.inventory.model import Inventory
from homeops.operations.snapshot import stamp
from homeops.runners import Result, Runner

TRIGGER = "volsync-trigger"
RELEASE = "volsync-release"
SYNCED = "volsync-synced"
API = Gate("api", "api", "the Kubernetes API answers", timeout=120.0)


def token(now: float) -> str:
    return f"homeops-{stamp(now)}"


def token_time(value: str) -> float | None:
    try:
        return float(calendar.timegm(time.strptime(value.removeprefix("homeops-"), "%Y%m%dT%H%M%SZ")))
    except ValueError:
        return None


def read_source(runner: Runner, kctl: k.Kubectl, namespace: str, name: str) -> vs.Source:
    """The ReplicationSource ``namespace/name``; a missing one is a ``PlanError`` naming the ones there are."""
    result = runner.run(vs.get_source(kctl, namespace, name), timeout=60)
    if k.is_not_found(result):
        listed = runner.run(vs.get_sources(kctl), timeout=60)
        known = sorted(s.key for s in vs.parse_sources(listed.stdout)) if listed.ok else []
        raise PlanError(
            f"no VolSync ReplicationSource {namespace}/{name}",
            hint=f"sources: {', '.join(known) or 'none'}",
        )
    result.check(f"kubectl get replicationsource {namespace}/{name}")
    (source,) = vs.parse_sources(result.stdout)
    return source


# ----------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class BackupRequest:
    namespace: str
    app: str
    now: float
    timeout: float = 2 * 3600.0


def plan_backup(inventory: Inventory, source: vs.Source, request: BackupRequest) -> Plan:
    kctl = k.Kubectl(inventory.cluster.kubeconfig)
    key = source.key
    mark = token(request.now)
    steps = [
        Step(
            id=f"{key}:volsync-backup",
            action=TRIGGER,
            summary=f"back up {key}: spec.trigger.manual={mark}, then wait for the sync",
            commands=(Command(tuple(vs.trigger_manual(kctl, source.namespace, source.name, mark)), timeout=60),),
            waits=(Wait(SYNCED, f"{key} synced for {mark}", request.timeout),),
            artifact=mark,
            to_version=mark,
        )
    ]
    if source.schedule:
        steps.append(
            Step(
                id=f"{key}:volsync-release",
                action=RELEASE,
                summary=f"remove the manual trigger so {key} follows its schedule '{source.schedule}' again",
                commands=(Command(tuple(vs.release_manual(kctl, source.namespace, source.name)), timeout=60),),
                batch=1,
            )
        )
    return Plan(
        operation="volsync-backup",
        cluster=inventory.cluster.name,
        steps=tuple(steps),
        preflight=(API,),
        poll_interval=inventory.policy.poll_interval,
        target=f"{key} backed up ({mark})",
        options=(("namespace", source.namespace), ("app", source.name)),
    )


# ----------------------------------------------------------------------------------- step kinds


def _key(step: Step) -> tuple[str, str]:
    namespace, name = step.id.split(":", 1)[0].split("/", 1)
    return namespace, name


class _Kubectl(StepKind):
    def _source(self, ctx: StepContext, step: Step) -> vs.Source:
        command = step.commands[0]
        runner = ctx.runner(command)  # where the step's own kubectl runs
        kubeconfig = command.argv[command.argv.index("--kubeconfig") + 1]
        namespace, name = _key(step)
        return ctx.retrying(lambda: read_source(runner, k.Kubectl(kubeconfig), namespace, name))

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        if result.failed and not k.is_unreachable(result):
            return CommandError(
                f"{what}: {result.last_error_line()}", command=" ".join(result.command), exit_code=result.exit_code
            )
        return None

    def unreachable(self, result: Result) -> bool:
        return k.is_unreachable(result)


class VolsyncTrigger(_Kubectl):
    name = TRIGGER
    lockstep = True
    look_gate = "volsync-idle"
    wait_order = (SYNCED,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        SYNCED: WaitTerms(
            "lastManualSync equals the trigger and the mover succeeded",
            "the mover failed for this trigger",
            "read the mover's log: kubectl -n <namespace> describe replicationsource <app>",
        )
    }

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            source = self._source(ctx, step)
            seen = f"{source.key}: {source.reason or 'no sync yet'}, last sync {_when(source.last_sync_time)}"
            if source.manual == step.artifact and source.last_manual_sync == step.artifact:
                looks[step.id] = Look(True, seen, done=True)
            elif source.synchronizing and source.manual != step.artifact:
                looks[step.id] = Look(False, seen + ": a sync is running; back up when it has finished")
            else:
                looks[step.id] = Look(True, seen, marker=source.last_manual_sync, before=_when(source.last_sync_time))
        return looks

    def sent_already(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._source(ctx, step).manual == step.artifact

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        # The sync failed after the trigger went out: the trigger is still set, so once the mover
        # works again VolSync runs it. Resume waits for it instead of triggering a second sync.
        return self._source(ctx, step).manual == step.artifact

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            waiting = []
            for step in steps:
                source = self._source(ctx, step)
                started = token_time(step.artifact or "")
                if source.last_manual_sync == step.artifact and source.result != "Failed":
                    continue
                mine = started is not None and (source.last_sync_start_time or 0.0) >= started
                if source.result == "Failed" and mine:
                    log = source.logs.strip().splitlines()[-1:] or ["no log"]
                    return Observation.failed(f"{source.key}: the mover failed: {log[0]}")
                waiting.append(f"{source.key}: {source.reason or 'not started'}")
            if waiting:
                return Observation.waiting("; ".join(waiting))
            return Observation.ok("synced")

        return look

    def reached(self, step: Step, record: object) -> str | None:
        return f"lastManualSync={step.artifact}"


class VolsyncRelease(_Kubectl):
    name = RELEASE
    lockstep = True

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            source = self._source(ctx, step)
            looks[step.id] = Look(True, f"manual trigger {source.manual or 'none'}", done=source.manual is None)
        return looks

    def sent_already(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._source(ctx, step).manual is None

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._source(ctx, step).manual is None


def _when(t: float | None) -> str:
    return vs.format_time(t) if t is not None else "never"


for _kind in (VolsyncTrigger(), VolsyncRelease()):
    register(_kind)
