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
from pathlib import Path
from typing import ClassVar, TextIO

from homeops.adapters import flux
from homeops.adapters import kubectl as k
from homeops.adapters import volsync as vs
from homeops.engine.executor import Outcome
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Plan, Step, Wait
from homeops.engine.waits import Observation
from homeops.errors import CommandError, HomeopsError, PlanError
from homeops.inventory.model import Inventory
from homeops.operations.observe import ClusterObserver
from homeops.operations.session import Options, executor_for, plan_or_resume
from homeops.operations.snapshot import stamp
from homeops.privatefs import write_private
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


# =================================================================================== restore
#
# ``inv volsync.restore``: the app's volume back from its ReplicationDestination through the volume
# populator. Order (each a step whose look skips it when already done, so --resume sends nothing twice):
#
#   suspend Flux (Kustomization, HelmRelease) → scale the app's controllers to 0 → trigger the RD
#   (restoreAsOf for --timestamp) and wait for its new latestImage → delete the PVC → create it
#   with dataSourceRef → wait Bound → scale back → resume Flux.
#
# The RD restores *before* the PVC is recreated: the populator fills a PVC from whatever
# latestImage the RD names when it sees the PVC, so a PVC created first would get the old image.
# It also means a restore that fails (no snapshot at that time, mover error) stops before the data
# is touched. Every failure names the commands that bring the app back (``restore_hints``).

FLUX = "volsync-flux"
SCALE = "volsync-scale"
RESTORE = "volsync-restore"
DELETE = "volsync-delete-pvc"
CREATE = "volsync-create-pvc"
SCALED = "volsync-scaled"
RESTORED = "volsync-restored"
GONE = "volsync-pvc-gone"
BOUND = "volsync-bound"


@dataclass(frozen=True)
class RestoreRequest:
    namespace: str
    app: str  # the PVC's name (home-ops: the app; its RD is <app>-dst)
    now: float
    timestamp: str | None = None  # RFC3339 UTC: restoreAsOf
    timeout: float = 2 * 3600.0  # the restore itself
    scale_timeout: float = 600.0


@dataclass(frozen=True)
class RestoreTarget:
    """What a restore touches, read before planning (and refused when it cannot restore)."""

    claim: vs.Claim
    destination: vs.Destination
    workloads: tuple[vs.Workload, ...]  # the running controllers that mount the claim
    flux: tuple[tuple[str, str, str], ...]  # (Kustomization|HelmRelease, namespace, name), suspend order
    idle: tuple[vs.Workload, ...] = ()  # mounting it, already at 0 replicas: left alone


def observe_restore(runner: Runner, kctl: k.Kubectl, namespace: str, app: str) -> RestoreTarget:
    """Read the PVC, its ReplicationDestination, the controllers mounting it and their Flux owners.

    Refuses (``PlanError``, nothing changed) a PVC that is missing or not populated from a
    ReplicationDestination, or an RD that is missing.
    """
    result = runner.run(vs.get_claim(kctl, namespace, app), timeout=60)
    if k.is_not_found(result):
        listed = runner.run(vs.get_pvcs(kctl, namespace), timeout=60)
        known = sorted(c.name for c in vs.parse_claims(listed.stdout) if c.from_volsync) if listed.ok else []
        raise PlanError(
            f"no PVC {namespace}/{app} to restore",
            hint=f"PVCs populated by VolSync in {namespace}: {', '.join(known) or 'none'}; "
            "if an interrupted restore deleted it, continue that one: inv volsync.restore --resume",
        )
    result.check(f"kubectl get pvc {namespace}/{app}")
    (claim,) = vs.parse_claims(result.stdout)
    if not claim.from_volsync or not claim.source_name:
        raise PlanError(
            f"PVC {namespace}/{app} is not restored by VolSync: it has no dataSourceRef to a ReplicationDestination",
            hint="home-ops' volsync component gives it dataSourceRef {kind: ReplicationDestination, name: <app>-dst}",
        )
    found = runner.run(vs.get_destination(kctl, namespace, claim.source_name), timeout=60)
    if k.is_not_found(found):
        raise PlanError(
            f"PVC {namespace}/{app} names ReplicationDestination {namespace}/{claim.source_name}, which does not exist",
            hint="nothing was changed; check the app's volsync component (kubectl get replicationdestinations -A)",
        )
    found.check(f"kubectl get replicationdestination {namespace}/{claim.source_name}")
    (destination,) = vs.parse_destinations(found.stdout)
    users: list[vs.Workload] = []
    for kind in vs.WORKLOADS:
        listed = runner.run(vs.get_workloads(kctl, kind, namespace), timeout=60)
        listed.check(f"kubectl get {vs.WORKLOADS[kind]} -n {namespace}")
        users += [w for w in vs.parse_workloads(listed.stdout) if claim.name in w.claims]
    owners: list[tuple[str, str, str]] = []
    kustomizations = [claim.kustomization, *(w.kustomization for w in users)]
    for w in users:
        if w.helm_release is None:
            continue
        hr = ("HelmRelease", *w.helm_release)
        state = runner.run(vs.get_flux(kctl, "HelmRelease", hr[1], hr[2]), timeout=60)
        if k.is_not_found(state):
            continue  # a stale label: nothing would put the controller back
        state.check(f"kubectl get helmrelease {hr[1]}/{hr[2]}")
        kustomizations.append(vs.parse_flux(state.stdout).kustomization)
        owners.append(hr)
    for ks in kustomizations:
        if ks is None:
            continue
        state = runner.run(vs.get_flux(kctl, "Kustomization", *ks), timeout=60)
        if k.is_not_found(state):
            continue
        state.check(f"kubectl get kustomization {ks[0]}/{ks[1]}")
        owners.insert(0, ("Kustomization", *ks))  # the Kustomization first: it would re-apply the rest
    return RestoreTarget(
        claim=claim,
        destination=destination,
        workloads=tuple(w for w in users if w.replicas > 0),
        flux=tuple(dict.fromkeys(owners)),
        idle=tuple(w for w in users if w.replicas == 0),
    )


def claim_file(inventory: Inventory, claim: vs.Claim) -> str:
    """Where the recreated PVC's manifest is written before ``kubectl create -f`` (kept for the record)."""
    return str(inventory.state_dir / "volsync" / f"{claim.namespace}-{claim.name}.pvc.json")


def plan_restore(inventory: Inventory, target: RestoreTarget, request: RestoreRequest) -> Plan:
    kctl = k.Kubectl(inventory.cluster.kubeconfig)
    claim, rd = target.claim, target.destination
    key = f"{claim.namespace}/{claim.name}"
    mark = token(request.now)
    if request.timestamp is not None:
        vs.check_restore_time(request.timestamp)
    if rd.mover is None:
        raise PlanError(f"ReplicationDestination {rd.key} has no mover section (restic, kopia, …) to restore with")
    if rd.copy_method == "Direct":
        raise PlanError(
            f"ReplicationDestination {rd.key} has copyMethod Direct: the volume populator needs a VolumeSnapshot",
            hint="VolSyncPopulatorError 'latestImage is not a volumesnapshot'; use copyMethod: Snapshot",
        )
    kubeconfig = inventory.cluster.kubeconfig
    steps: list[Step] = []

    def flux_step(kind: str, namespace: str, name: str, resume: bool, batch: int) -> Step:
        verb = "resume" if resume else "suspend"
        return Step(
            id=f"{key}:{verb}:{kind}/{namespace}/{name}",
            action=FLUX,
            summary=f"{verb} Flux {kind} {namespace}/{name}"
            + ("" if resume else " so it does not put the app back while its volume is restored"),
            commands=(
                Command(
                    tuple(flux.suspend(kind.lower(), name, namespace=namespace, resume=resume, kubeconfig=kubeconfig)),
                    timeout=360,
                ),
            ),
            batch=batch,
            artifact=f"{kind}/{namespace}/{name}",
            to_version="resumed" if resume else "suspended",
        )

    def scale_step(w: vs.Workload, replicas: int, batch: int) -> Step:
        down = replicas == 0
        return Step(
            id=f"{key}:scale-{'down' if down else 'up'}:{w.key}",
            action=SCALE,
            summary=f"scale {w.key} to {replicas}"
            + (f" (from {w.replicas}) and wait until its pods are gone" if down else " and wait until it is ready"),
            commands=(Command(tuple(vs.scale(kctl, w.kind, w.namespace, w.name, replicas)), timeout=60),),
            waits=(Wait(SCALED, f"{w.key} at {replicas} replicas", request.scale_timeout),),
            batch=batch,
            artifact=f"{w.kind}/{w.namespace}/{w.name}",
            to_version=str(replicas),
        )

    for kind, namespace, name in target.flux:
        steps.append(flux_step(kind, namespace, name, False, 0))
    for w in target.workloads:
        steps.append(scale_step(w, 0, 1))
    when = f" as of {request.timestamp}" if request.timestamp else " from the newest backup"
    steps.append(
        Step(
            id=f"{key}:restore:{rd.name}",
            action=RESTORE,
            summary=f"restore ReplicationDestination {rd.key}{when}: spec.trigger.manual={mark}, "
            "then wait for its new latestImage",
            commands=(
                Command(
                    tuple(
                        vs.trigger_restore(
                            kctl, rd.namespace, rd.name, mark, restore_as_of=request.timestamp, mover=rd.mover, pin=True
                        )
                    ),
                    timeout=60,
                ),
            ),
            waits=(Wait(RESTORED, f"{rd.key} restored for {mark}", request.timeout),),
            batch=2,
            artifact=mark,
            to_version=request.timestamp or "latest",
        )
    )
    steps.append(
        Step(
            id=f"{key}:delete-pvc",
            action=DELETE,
            summary=f"delete PVC {key} (uid {claim.uid or 'unknown'}); its data comes back from {rd.key}",
            commands=(Command(tuple(vs.delete_claim(kctl, claim.namespace, claim.name, timeout=300)), timeout=330),),
            waits=(Wait(GONE, f"PVC {key} gone", 600.0),),
            batch=3,
            artifact=claim.uid,
        )
    )
    steps.append(
        Step(
            id=f"{key}:create-pvc",
            action=CREATE,
            summary=f"create PVC {key} with dataSourceRef ReplicationDestination/{rd.name}, "
            "then wait until the populator has bound it",
            commands=(Command(tuple(vs.create_from(kctl, claim_file(inventory, claim))), timeout=60),),
            waits=(Wait(BOUND, f"PVC {key} Bound", request.timeout),),
            batch=4,
            artifact=claim.manifest(rd.name),
            from_version=claim.uid,
        )
    )
    for w in target.workloads:
        steps.append(scale_step(w, w.replicas, 5))
    for kind, namespace, name in reversed(target.flux):
        steps.append(flux_step(kind, namespace, name, True, 6))
    warnings = []
    if not target.flux:
        warnings.append(f"no Flux Kustomization or HelmRelease owns {key} or its controllers: nothing is suspended")
    if not target.workloads:
        warnings.append(f"no running Deployment or StatefulSet mounts {key}: nothing is scaled")
    for w in target.idle:
        warnings.append(f"{w.key} mounts {key} and is already at 0 replicas: left at 0")
    return Plan(
        operation="volsync-restore",
        cluster=inventory.cluster.name,
        steps=tuple(steps),
        preflight=(API,),
        poll_interval=inventory.policy.poll_interval,
        target=f"{key} restored from {rd.key}{when}",
        warnings=tuple(warnings),
        options=(("namespace", claim.namespace), ("app", claim.name), ("timestamp", request.timestamp or "")),
    )


def _parts(step: Step) -> tuple[str, str, str]:
    kind, namespace, name = (step.artifact or "").split("/", 2)
    return kind, namespace, name


def _runner_of(ctx: StepContext, step: Step) -> tuple[Runner, k.Kubectl]:
    command = step.commands[0]
    argv = command.argv
    kubeconfig = argv[argv.index("--kubeconfig") + 1]
    return ctx.runner(command), k.Kubectl(kubeconfig)


class _RestoreKind(_Kubectl):
    lockstep = True

    def hints(self, ctx: StepContext, steps: Sequence[Step]) -> list[str]:
        plan = ctx.journal.plan()
        first = next((s.action for s in plan.steps if s.action in _RESTORE_KINDS), None)
        return restore_hints(ctx, plan) if first == self.name else []


def restore_hints(ctx: StepContext, plan: Plan) -> list[str]:
    """After a failure: the commands that bring the app back without finishing the restore."""

    def touched(step: Step) -> bool:
        record = ctx.journal.step(step.id)
        return record.sent or record.status in ("done", "running", "failed")

    def finished(step: Step) -> bool:
        return ctx.journal.step(step.id).status == "done"

    back: list[str] = []
    by_id = {s.id: s for s in plan.steps}
    for step in plan.steps:
        if step.action == SCALE and step.to_version == "0" and touched(step):
            up = by_id.get(step.id.replace(":scale-down:", ":scale-up:"))
            if up is not None and not finished(up):
                back.append(" ".join(up.commands[0].argv))
        if step.action == FLUX and step.to_version == "suspended" and touched(step):
            again = by_id.get(step.id.replace(":suspend:", ":resume:"))
            if again is not None and not finished(again):
                back.append(" ".join(again.commands[0].argv))
    deleted = next((s for s in plan.steps if s.action == DELETE and touched(s)), None)
    created = next((s for s in plan.steps if s.action == CREATE and finished(s)), None)
    lines = []
    if deleted is not None and created is None:
        lines.append(
            "the PVC was deleted and is not restored yet: resume (it recreates it from the ReplicationDestination) "
            "rather than bringing the app back without its data"
        )
    if back:
        # undo in reverse: controllers up first, the Kustomization (which re-applies the rest) last
        lines.append("the app is down; to bring it back without the restore: " + " && ".join(reversed(back)))
    return lines


class VolsyncFlux(_RestoreKind):
    name = FLUX

    def _suspended(self, ctx: StepContext, step: Step) -> bool | None:
        kind, namespace, name = _parts(step)
        runner, kctl = _runner_of(ctx, step)

        def read() -> bool | None:
            result = runner.run(vs.get_flux(kctl, kind, namespace, name), timeout=60)
            if k.is_not_found(result):
                return None
            result.check(f"kubectl get {kind.lower()} {namespace}/{name}")
            return vs.parse_flux(result.stdout).suspended

        return ctx.retrying(read)

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            kind, namespace, name = _parts(step)
            suspended = self._suspended(ctx, step)
            if suspended is None:  # flux would say ✗ and exit 0: do not let that pass as done
                looks[step.id] = Look(False, f"{kind} {namespace}/{name} does not exist")
                continue
            want = step.to_version == "suspended"
            seen = "suspended" if suspended else "active"
            looks[step.id] = Look(
                True, f"{kind} {namespace}/{name} {seen}", marker=seen, done=suspended == want, before=seen
            )
        return looks

    def _there(self, ctx: StepContext, step: Step) -> bool:
        return self._suspended(ctx, step) == (step.to_version == "suspended")

    def sent_already(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._there(ctx, step)

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._there(ctx, step)


class VolsyncScale(_RestoreKind):
    name = SCALE
    wait_order = (SCALED,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        SCALED: WaitTerms(
            "the controller has exactly the replicas asked for, all ready",
            "",
            "kubectl -n <namespace> describe <controller>: a pod that does not stop or start",
        )
    }

    def _workload(self, ctx: StepContext, step: Step) -> vs.Workload:
        kind, namespace, name = _parts(step)
        runner, kctl = _runner_of(ctx, step)

        def read() -> vs.Workload:
            result = runner.run(vs.get_workloads(kctl, kind, namespace), timeout=60)
            result.check(f"kubectl get {vs.WORKLOADS[kind]} -n {namespace}")
            found = [w for w in vs.parse_workloads(result.stdout) if w.name == name]
            if not found:
                raise PlanError(f"{kind} {namespace}/{name} no longer exists", hint="check the app's HelmRelease")
            return found[0]

        return ctx.retrying(read)

    @staticmethod
    def _settled(w: vs.Workload, replicas: int) -> bool:
        return w.replicas == replicas and w.current == replicas and w.ready >= replicas

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            w = self._workload(ctx, step)
            want = int(step.to_version or 0)
            seen = f"{w.key}: {w.replicas} replicas ({w.ready} ready)"
            looks[step.id] = Look(
                True, seen, marker=f"replicas={w.replicas}", done=self._settled(w, want), before=str(w.replicas)
            )
        return looks

    def sent_already(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._workload(ctx, step).replicas == int(step.to_version or 0)

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._workload(ctx, step).replicas == int(step.to_version or 0)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            waiting = []
            for step in steps:
                w = self._workload(ctx, step)
                want = int(step.to_version or 0)
                if not self._settled(w, want):
                    waiting.append(f"{w.key}: {w.current} pods, {w.ready} ready, want {want}")
            return Observation.waiting("; ".join(waiting)) if waiting else Observation.ok("scaled")

        return look


class VolsyncRestore(_RestoreKind):
    name = RESTORE
    look_gate = "volsync-idle"
    wait_order = (RESTORED,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        RESTORED: WaitTerms(
            "lastManualSync equals the trigger and latestImage names the restored snapshot",
            "the mover failed, or found no backup to restore",
            "read the mover's log: kubectl -n <namespace> describe replicationdestination <name>",
        )
    }

    def _rd(self, ctx: StepContext, step: Step) -> vs.Destination:
        runner, kctl = _runner_of(ctx, step)
        namespace = step.id.split("/", 1)[0]
        name = step.id.rsplit(":", 1)[1]

        def read() -> vs.Destination:
            result = runner.run(vs.get_destination(kctl, namespace, name), timeout=60)
            result.check(f"kubectl get replicationdestination {namespace}/{name}")
            (rd,) = vs.parse_destinations(result.stdout)
            return rd

        return ctx.retrying(read)

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            rd = self._rd(ctx, step)
            seen = f"{rd.key}: {rd.reason or 'idle'}, latest image {rd.latest_image[1] if rd.latest_image else 'none'}"
            if rd.manual == step.artifact and rd.restored:
                looks[step.id] = Look(True, seen, done=True)
            elif rd.synchronizing and rd.manual != step.artifact:
                looks[step.id] = Look(False, seen + ": a restore is running; try again when it has finished")
            else:
                looks[step.id] = Look(True, seen, marker=rd.last_manual_sync or "none", before=rd.last_manual_sync)
        return looks

    def sent_already(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._rd(ctx, step).manual == step.artifact

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._rd(ctx, step).manual == step.artifact

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            for step in steps:
                rd = self._rd(ctx, step)
                if rd.last_manual_sync != step.artifact:
                    if rd.result == "Failed" and rd.manual == step.artifact and not rd.synchronizing:
                        log = rd.logs.strip().splitlines()[-1:] or ["no log"]
                        return Observation.failed(f"{rd.key}: the mover failed: {log[0]}")
                    return Observation.waiting(f"{rd.key}: {rd.reason or 'not started'}")
                if rd.empty:
                    when = step.to_version if step.to_version != "latest" else "now"
                    return Observation.failed(
                        f"{rd.key}: no backup at or before {when} (the mover said '{vs.NO_SNAPSHOT}'): "
                        "the volume was not touched"
                    )
                if rd.result == "Failed" or rd.latest_image is None:
                    return Observation.failed(f"{rd.key}: the restore finished without an image")
            return Observation.ok("restored")

        return look

    def reached(self, step: Step, record: object) -> str | None:
        return f"lastManualSync={step.artifact}"


class _ClaimKind(_RestoreKind):
    def _claim(self, ctx: StepContext, step: Step) -> vs.Claim | None:
        runner, kctl = _runner_of(ctx, step)
        namespace, name = step.id.split(":", 1)[0].split("/", 1)

        def read() -> vs.Claim | None:
            result = runner.run(vs.get_claim(kctl, namespace, name), timeout=60)
            if k.is_not_found(result):
                return None
            result.check(f"kubectl get pvc {namespace}/{name}")
            (claim,) = vs.parse_claims(result.stdout)
            return claim

        return ctx.retrying(read)


class VolsyncDeleteClaim(_ClaimKind):
    name = DELETE
    wait_order = (GONE,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        GONE: WaitTerms("the old PVC is gone", "", "a pod still mounts it: kubectl -n <namespace> describe pvc <app>")
    }

    def _gone(self, ctx: StepContext, step: Step) -> bool:
        claim = self._claim(ctx, step)
        return claim is None or claim.uid != step.artifact  # absent, or already the recreated one

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            claim = self._claim(ctx, step)
            if claim is None or claim.uid != step.artifact:
                looks[step.id] = Look(True, "PVC already deleted", done=True)
            else:
                seen = f"PVC {claim.namespace}/{claim.name} {claim.phase}" + (
                    " (being deleted)" if claim.deleting else ""
                )
                looks[step.id] = Look(True, seen, marker=claim.uid, before=claim.phase)
        return looks

    def sent_already(self, ctx: StepContext, step: Step, record: object) -> bool:
        claim = self._claim(ctx, step)
        return claim is None or claim.deleting or claim.uid != step.artifact

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self.sent_already(ctx, step, record)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            waiting = [s.id.split(":", 1)[0] for s in steps if not self._gone(ctx, s)]
            return Observation.waiting(f"PVC {', '.join(waiting)} still there") if waiting else Observation.ok("gone")

        return look

    def reached(self, step: Step, record: object) -> str | None:
        return "deleted"


class VolsyncCreateClaim(_ClaimKind):
    name = CREATE
    wait_order = (BOUND,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        BOUND: WaitTerms(
            "the PVC is Bound (the populator copied the restored snapshot into it)",
            "",
            "kubectl -n <namespace> describe pvc <app>: VolSyncPopulator* events say why",
        )
    }

    def run(self, ctx: StepContext, step: Step) -> None:
        # written here, not at planning, so a dry run leaves nothing and a resume always has it
        write_private(Path(step.commands[0].argv[-1]), (step.artifact or "") + "\n")
        super().run(ctx, step)

    def _new(self, claim: vs.Claim | None, step: Step) -> bool:
        return claim is not None and claim.uid != step.from_version and not claim.deleting

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            claim = self._claim(ctx, step)
            if self._new(claim, step):
                # Already created (never create twice); if it is not Bound yet, the scale-up's
                # wait for ready pods covers it: they start once it is.
                assert claim is not None
                looks[step.id] = Look(True, f"PVC recreated, {claim.phase}", done=True)
            elif claim is not None:
                looks[step.id] = Look(False, "the old PVC is still there")
            else:
                looks[step.id] = Look(True, "PVC absent", marker="absent", before="absent")
        return looks

    def sent_already(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._new(self._claim(ctx, step), step)

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self._new(self._claim(ctx, step), step)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            for step in steps:
                claim = self._claim(ctx, step)
                if claim is None:
                    return Observation.failed(f"PVC {step.id.split(':', 1)[0]} disappeared after it was created")
                if not claim.populated:
                    return Observation.waiting(f"PVC {claim.namespace}/{claim.name} {claim.phase}")
            return Observation.ok("bound")

        return look

    def reached(self, step: Step, record: object) -> str | None:
        return "Bound"


_RESTORE_KINDS = (FLUX, SCALE, RESTORE, DELETE, CREATE)
for _restore_kind in (VolsyncFlux(), VolsyncScale(), VolsyncRestore(), VolsyncDeleteClaim(), VolsyncCreateClaim()):
    register(_restore_kind)


# ----------------------------------------------------------------------------------- from a task


_RUN = Options()


def run_backup(
    inventory_dir: Path,
    namespace: str | None,
    app: str | None,
    *,
    timeout: float = 7200.0,
    options: Options = _RUN,
    out: TextIO | None = None,
) -> Outcome:
    """``inv volsync.backup``: read the ReplicationSource, plan, run (or resume the last run)."""
    from homeops.runtime import open_runtime

    with open_runtime(inventory_dir) as rt:
        executor = executor_for(rt, ClusterObserver(rt), out=out, task="volsync.backup")

        def plan() -> Plan:
            namespace_, app_ = _which(namespace, app)
            source = read_source(rt.local, k.Kubectl(rt.inventory.cluster.kubeconfig), namespace_, app_)
            return plan_backup(rt.inventory, source, BackupRequest(namespace_, app_, rt.clock.now(), timeout))

        return plan_or_resume(executor, rt, "volsync-backup", plan, options, task="volsync.backup", out=out)


def run_restore(
    inventory_dir: Path,
    namespace: str | None,
    app: str | None,
    *,
    timestamp: str | None = None,
    timeout: float = 7200.0,
    options: Options = _RUN,
    out: TextIO | None = None,
) -> Outcome:
    """``inv volsync.restore``: look at the PVC, its RD, its controllers and Flux owners; plan; run (or resume)."""
    from homeops.runtime import open_runtime

    with open_runtime(inventory_dir) as rt:
        executor = executor_for(rt, ClusterObserver(rt), out=out, task="volsync.restore")

        def plan() -> Plan:
            namespace_, app_ = _which(namespace, app)
            if timestamp is not None:
                vs.check_restore_time(timestamp)
            target = observe_restore(rt.local, k.Kubectl(rt.inventory.cluster.kubeconfig), namespace_, app_)
            request = RestoreRequest(namespace_, app_, rt.clock.now(), timestamp=timestamp, timeout=timeout)
            return plan_restore(rt.inventory, target, request)

        return plan_or_resume(executor, rt, "volsync-restore", plan, options, task="volsync.restore", out=out)


def _which(namespace: str | None, app: str | None) -> tuple[str, str]:
    if not namespace or not app:
        raise PlanError("which app? pass --namespace NS --app APP", hint="inv volsync.verify lists them")
    return namespace, app
