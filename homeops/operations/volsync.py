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
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from homeops.adapters import flux
from homeops.adapters import kubectl as k
from homeops.adapters import volsync as vs
from homeops.engine.journal import Journal
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Plan, Step, StepParams, Wait
from homeops.engine.waits import Observation
from homeops.errors import CommandError, HomeopsError, PlanError
from homeops.inventory.model import Inventory
from homeops.operations.snapshot import stamp
from homeops.privatefs import write_private
from homeops.runners import Result, Runner
from homeops.runtime import Runtime

TRIGGER = "volsync-trigger"
RELEASE = "volsync-release"
SYNCED = "volsync-synced"
API = Gate("api", "api", "the Kubernetes API answers", timeout=120.0)
T = TypeVar("T")


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


def mover_failing(runner: Runner, kctl: k.Kubectl, state: vs.SyncState, *, source: bool) -> str | None:
    """Why the sync running now keeps failing, or None while it may still succeed.

    VolSync never ends a failing sync: at the mover job's backoffLimit it writes ``latestMoverStatus
    {result: Failed, logs}``, deletes the job and starts it again, and ``Synchronizing`` stays
    ``SyncInProgress`` (restic ``mover.go:610-617``, volsync v0.16.0). A sync only ends on success,
    which resets the result, so ``Failed`` while it runs is this sync's. Before VolSync says so (20-odd
    minutes of back-off), the job's own ``status.failed`` tells: ``JOB_FAILURES`` failed pods in a row.
    """
    if not state.synchronizing:
        return None
    job = vs.mover_job(state.name, source=source)
    if state.result == "Failed":
        log = state.logs.strip().splitlines()[-1:] or ["no log"]
        return f"{log[0]} (VolSync retries it forever; kubectl -n {state.namespace} logs job/{job})"
    result = runner.run(vs.get_job(kctl, state.namespace, job), timeout=60)
    if k.is_not_found(result) or not result.ok:
        return None  # between two jobs, or not readable now: the next look sees it
    failed, limit = vs.parse_job_failures(result.stdout)
    if failed >= min(vs.JOB_FAILURES, limit):
        return (
            f"its job {job} has failed {failed} times (backoffLimit {limit}): "
            f"kubectl -n {state.namespace} logs job/{job}"
        )
    return None


# ----------------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class TriggerParams(StepParams):
    """The token a backup (or restore) sets in ``spec.trigger.manual`` and waits for in ``lastManualSync``."""

    tag = "volsync-trigger"
    legacy_field = "artifact"
    token: str


@dataclass(frozen=True)
class ReleaseParams(StepParams):
    """The schedule a source follows again once its manual trigger is removed (named in the hints)."""

    tag = "volsync-release"
    legacy_field = "to_version"
    schedule: str


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
            params=TriggerParams(mark),
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
                params=ReleaseParams(source.schedule),
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
    def there(self, ctx: StepContext, step: Step) -> bool:
        """The object is where the step takes it. A VolSync kind answers both resume questions with it:
        a command caught mid-flight reached the cluster, and a step that failed after sending got there."""
        return False

    def sent_already(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self.there(ctx, step)

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        return self.there(ctx, step)

    def _source(self, ctx: StepContext, step: Step) -> vs.Source:
        runner, kctl = _runner_of(ctx, step)  # where the step's own kubectl runs, with its kubeconfig
        namespace, name = _key(step)
        return ctx.retrying(lambda: read_source(runner, kctl, namespace, name))

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        if result.failed and not k.is_unreachable(result):
            return CommandError(
                f"{what}: {result.last_error_line()}",
                command=" ".join(result.command),
                exit_code=result.exit_code,
                stderr=result.stderr,
            )
        return None

    def unreachable(self, result: Result) -> bool:
        return k.is_unreachable(result)


class VolsyncTrigger(_Kubectl):
    name = TRIGGER
    params = TriggerParams
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

    def _failing(self, ctx: StepContext, step: Step, source: vs.Source) -> str | None:
        runner, kctl = _runner_of(ctx, step)
        return ctx.retrying(lambda: mover_failing(runner, kctl, source, source=True))

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            source = self._source(ctx, step)
            seen = f"{source.key}: {source.reason or 'no sync yet'}, last sync {_when(source.last_sync_time)}"
            if source.manual == _token(step) and source.last_manual_sync == _token(step):
                looks[step.id] = Look(True, seen, done=True)
            elif source.synchronizing and source.manual != _token(step):
                why = self._failing(ctx, step, source)
                if why is not None:
                    looks[step.id] = Look(False, seen + f": its mover is failing: {why}; fix that first")
                else:
                    looks[step.id] = Look(False, seen + ": a sync is running; back up when it has finished")
            else:
                looks[step.id] = Look(True, seen, marker=source.last_manual_sync, before=_when(source.last_sync_time))
        return looks

    def there(self, ctx: StepContext, step: Step) -> bool:
        # The sync failed after the trigger went out: the trigger is still set, so once the mover
        # works again VolSync runs it. Resume waits for it instead of triggering a second sync.
        return self._source(ctx, step).manual == _token(step)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            waiting = []
            for step in steps:
                source = self._source(ctx, step)
                started = token_time(_token(step))
                if source.last_manual_sync == _token(step) and source.result != "Failed":
                    continue
                why = self._failing(ctx, step, source) if source.manual == _token(step) else None
                if why is not None:
                    return Observation.failed(f"{source.key}: the mover failed: {why}")
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
        return f"lastManualSync={_token(step)}"

    def hints(self, ctx: StepContext, steps: Sequence[Step]) -> list[str]:
        # A trigger that went out stays set when the wait fails: while spec.trigger.manual is set VolSync
        # ignores the schedule (cli-interfaces.md §11.2), so the app gets no more backups until it goes.
        plan = ctx.journal.plan()
        lines = []
        for step in steps:
            if not ctx.journal.step(step.id).sent:
                continue
            namespace, name = _key(step)
            release = next(
                (s for s in plan.steps if s.action == RELEASE and s.id.startswith(f"{namespace}/{name}:")), None
            )
            if release is None:
                continue  # a manual-only source: the trigger is how it is run anyway
            lines.append(
                f"spec.trigger.manual={_token(step)} is still set on ReplicationSource {namespace}/{name}, "
                f"so VolSync skips its schedule '{release.param(ReleaseParams).schedule}' until it is removed: "
                "--resume waits for this backup "
                f"and removes it; to give it up: {release.commands[0].render()}"
            )
        return lines


class VolsyncRelease(_Kubectl):
    name = RELEASE
    params = ReleaseParams
    lockstep = True

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            source = self._source(ctx, step)
            looks[step.id] = Look(True, f"manual trigger {source.manual or 'none'}", done=source.manual is None)
        return looks

    def there(self, ctx: StepContext, step: Step) -> bool:
        return self._source(ctx, step).manual is None

    def reached(self, step: Step, record: object) -> str | None:
        return step.param(ReleaseParams).schedule


def _token(step: Step) -> str:
    return step.param(TriggerParams).token


def _when(t: float | None) -> str:
    return vs.format_time(t) if t is not None else "never"


for _kind in (VolsyncTrigger(), VolsyncRelease()):
    register(_kind)


# =================================================================================== restore
#
# ``inv volsync.restore``: the app's volume back from its ReplicationDestination through the volume
# populator. Order (each a step whose look skips it when already done, so --resume sends nothing twice):
#
#   suspend Flux (Kustomization, HelmRelease), pause KEDA → scale the app's controllers to 0 → trigger
#   the RD (restoreAsOf for --timestamp, previous for --previous) and wait for its new latestImage →
#   VolumeSnapshot of the old PVC (where its CSI driver has a class) → delete the PVC → create it with
#   dataSourceRef → wait Bound (not with WaitForFirstConsumer: the scale-up's ready pods cover it) →
#   unpause KEDA → scale back → resume Flux.
#
# The RD restores *before* the PVC is recreated: the populator fills a PVC from whatever
# latestImage the RD names when it sees the PVC, so a PVC created first would get the old image.
# It also means a restore that fails (no snapshot at that time, mover error) stops before the data
# is touched. Every failure names the commands that bring the app back (``restore_hints``).

FLUX = "volsync-flux"
KEDA = "volsync-keda"
SNAPSHOT = "volsync-safety-snapshot"
SNAPPED = "volsync-snapshot-ready"
SCALE = "volsync-scale"
RESTORE = "volsync-restore"
DELETE = "volsync-delete-pvc"
CREATE = "volsync-create-pvc"
SCALED = "volsync-scaled"
RESTORED = "volsync-restored"
GONE = "volsync-pvc-gone"
BOUND = "volsync-bound"


def _legacy_target(step: Mapping[str, Any]) -> tuple[str, str, str]:
    kind, namespace, name = str(step["artifact"]).split("/", 2)
    return kind, namespace, name


@dataclass(frozen=True)
class FluxParams(StepParams):
    """A Flux Kustomization or HelmRelease to suspend (or resume)."""

    tag = "volsync-flux"
    kind: str  # Kustomization | HelmRelease
    namespace: str
    name: str
    suspend: bool

    @property
    def state(self) -> str:
        return "suspended" if self.suspend else "resumed"

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> FluxParams:
        return cls(*_legacy_target(step), suspend=step["to_version"] == "suspended")


@dataclass(frozen=True)
class KedaParams(StepParams):
    """A KEDA ScaledObject to pause (paused-replicas "0") or unpause."""

    tag = "volsync-keda"
    namespace: str
    name: str
    pause: bool

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> KedaParams:
        namespace, name = str(step["artifact"]).split("/", 1)
        return cls(namespace, name, pause=step["to_version"] == "paused")


@dataclass(frozen=True)
class ScaleParams(StepParams):
    """A controller (Deployment/StatefulSet) and the replicas to scale it to."""

    tag = "volsync-scale"
    kind: str
    namespace: str
    name: str
    replicas: int

    @property
    def target(self) -> str:
        return f"{self.kind}/{self.namespace}/{self.name}"

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> ScaleParams:
        return cls(*_legacy_target(step), replicas=int(step["to_version"] or 0))


@dataclass(frozen=True)
class RestoreParams(StepParams):
    """Which backup a ReplicationDestination restores: the newest, at or before ``timestamp``, ``previous`` back."""

    tag = "volsync-restore"
    token: str  # its spec.trigger.manual, waited for in lastManualSync
    timestamp: str | None = None  # restoreAsOf (RFC3339 UTC)
    previous: int | None = None  # snapshots skipped

    def when(self) -> str:
        if self.timestamp:
            return f"at or before {self.timestamp}"
        return "that far back (--previous)" if self.previous else "at or before now"

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> RestoreParams:
        said = step["to_version"] or "latest"
        previous = None
        for argv in (c["argv"] for c in step["commands"]):  # the merge patch keeps the count
            for arg in argv:
                if arg.startswith("{") and '"previous"' in arg:
                    spec = json.loads(arg)["spec"]
                    previous = next(
                        (m["previous"] for m in spec.values() if isinstance(m, dict) and "previous" in m), None
                    )
        if said == "previous" and not previous:
            previous = 1
        return cls(step["artifact"], None if said in ("latest", "previous") else said, previous)


@dataclass(frozen=True)
class SnapshotParams(StepParams):
    """The safety VolumeSnapshot's name and its manifest (written when the step runs)."""

    tag = "volsync-safety-snapshot"
    name: str
    manifest: str

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> SnapshotParams:
        return cls(step["to_version"] or "", step["artifact"] or "")


@dataclass(frozen=True)
class DeleteClaimParams(StepParams):
    """The UID of the PVC to delete (a PVC of that name with another UID is the recreated one)."""

    tag = "volsync-delete-pvc"
    legacy_field = "artifact"
    uid: str | None


@dataclass(frozen=True)
class CreateClaimParams(StepParams):
    """The recreated PVC's manifest, and the old PVC's UID (the PVC of that name is new once it differs)."""

    tag = "volsync-create-pvc"
    old_uid: str | None
    manifest: str

    def before(self) -> str | None:
        return self.old_uid

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> CreateClaimParams:
        return cls(step["from_version"], step["artifact"] or "")


@dataclass(frozen=True)
class RestoreRequest:
    namespace: str
    app: str  # the PVC's name (home-ops: the app; its RD is <app>-dst)
    now: float
    timestamp: str | None = None  # RFC3339 UTC: restoreAsOf
    previous: int | None = None  # skip this many snapshots (before restoreAsOf when given)
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
    # its StorageClass is WaitForFirstConsumer: the populator binds it only once a pod using it is
    # scheduled (volumepopulator_controller.go:305-314, volsync v0.16.0), so the app comes up first
    wait_for_consumer: bool = False
    recovered: tuple[vs.Workload, ...] = ()  # left at 0 by an unfinished earlier restore: scaled back
    scalers: tuple[vs.ScaledObject, ...] = ()  # KEDA ScaledObjects of those controllers: paused meanwhile
    # the VolumeSnapshotClass for the PVC's CSI driver: a copy of the old data is kept before it is
    # deleted; None when the class cannot snapshot (``no_snapshot`` says why)
    snapshot_class: str | None = None
    no_snapshot: str = ""


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
            hint="home-ops' volsync component gives it dataSourceRef "
            f"{{kind: ReplicationDestination, name: {app}-dst}}",
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
    scalers: list[vs.ScaledObject] = []
    listed = runner.run(vs.get_scaled_objects(kctl, namespace), timeout=60)
    if not (listed.failed and "doesn't have a resource type" in listed.stderr):  # no KEDA: nothing scales from 0
        listed.check(f"kubectl get scaledobjects -n {namespace}")
        targets = {(w.kind, w.name) for w in users}
        scalers = [so for so in vs.parse_scaled_objects(listed.stdout) if (so.target_kind, so.target_name) in targets]
    wait_for_consumer = False
    snapshot_class, no_snapshot = None, "its StorageClass is unknown"
    storage_class = dict(claim.spec).get("storageClassName")
    if isinstance(storage_class, str) and storage_class:
        sc = runner.run(vs.get_storage_class(kctl, storage_class), timeout=60)
        if not k.is_not_found(sc):  # a missing class: the populator waits for it like anything else
            sc.check(f"kubectl get storageclass {storage_class}")
            wait_for_consumer = vs.parse_binding_mode(sc.stdout) == vs.WAIT_FOR_CONSUMER
            driver = vs.parse_provisioner(sc.stdout)
            classes = runner.run(vs.get_snapshot_classes(kctl), timeout=60)
            no_snapshot = f"no VolumeSnapshotClass for {driver} (StorageClass {storage_class})"
            if not (classes.failed and "doesn't have a resource type" in classes.stderr):
                classes.check("kubectl get volumesnapshotclasses")
                snapshot_class = vs.snapshot_class_for(classes.stdout, driver)
    return RestoreTarget(
        claim=claim,
        destination=destination,
        workloads=tuple(w for w in users if w.replicas > 0),
        flux=tuple(dict.fromkeys(owners)),
        idle=tuple(w for w in users if w.replicas == 0),
        wait_for_consumer=wait_for_consumer,
        scalers=tuple(scalers),
        snapshot_class=snapshot_class,
        no_snapshot="" if snapshot_class else no_snapshot,
    )


def safety_snapshot_name(pvc: str, now: float) -> str:
    """``<pvc>-pre-restore-<utc stamp>``, lower case (a DNS subdomain), at most 63 characters."""
    suffix = f"-pre-restore-{stamp(now).lower()}"
    return pvc[: 63 - len(suffix)].rstrip("-.") + suffix


def snapshot_file(inventory: Inventory, claim: vs.Claim) -> str:
    return str(inventory.state_dir / "volsync" / f"{claim.namespace}-{claim.name}.snapshot.json")


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
    if rd.copy_method in ("Direct", "None"):  # None: the deprecated name of Direct (common_types.go:44-51)
        raise PlanError(
            f"ReplicationDestination {rd.key} has copyMethod {rd.copy_method}: "
            "the volume populator needs a VolumeSnapshot",
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
            params=FluxParams(kind, namespace, name, suspend=not resume),
        )

    def scale_step(w: vs.Workload, replicas: int, batch: int) -> Step:
        down = replicas == 0
        up = " and wait until it is ready"
        if target.wait_for_consumer:
            up += f" (its pod lets the populator bind PVC {key}: WaitForFirstConsumer)"
        return Step(
            id=f"{key}:scale-{'down' if down else 'up'}:{w.key}",
            action=SCALE,
            summary=f"scale {w.key} to {replicas}"
            + (f" (from {w.replicas}) and wait until its pods are gone" if down else up),
            commands=(Command(tuple(vs.scale(kctl, w.kind, w.namespace, w.name, replicas)), timeout=60),),
            # with WaitForFirstConsumer the pods are ready only once the populator has copied the data
            waits=(
                Wait(
                    SCALED,
                    f"{w.key} at {replicas} replicas",
                    request.timeout if target.wait_for_consumer and not down else request.scale_timeout,
                ),
            ),
            batch=batch,
            params=ScaleParams(w.kind, w.namespace, w.name, replicas),
        )

    def keda_step(so: vs.ScaledObject, pause: bool, batch: int) -> Step:
        verb = "pause" if pause else "unpause"
        return Step(
            id=f"{key}:{verb}:{so.key}",
            action=KEDA,
            summary=f"{verb} KEDA ScaledObject {so.namespace}/{so.name}"
            + (
                f" (paused-replicas 0) so it does not scale {so.target_kind.lower()}/{so.target_name} back up"
                if pause
                else ""
            ),
            commands=(Command(tuple(vs.pause_scaling(kctl, so.namespace, so.name, pause=pause)), timeout=60),),
            batch=batch,
            params=KedaParams(so.namespace, so.name, pause=pause),
        )

    for kind, namespace, name in target.flux:
        steps.append(flux_step(kind, namespace, name, False, 0))
    for so in target.scalers:
        steps.append(keda_step(so, True, 0))
    for w in target.workloads:
        steps.append(scale_step(w, 0, 1))
    when = f" as of {request.timestamp}" if request.timestamp else " from the newest backup"
    if request.previous:
        when = f" from the backup {request.previous} before the newest" + (
            f" at or before {request.timestamp}" if request.timestamp else ""
        )
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
                            kctl,
                            rd.namespace,
                            rd.name,
                            mark,
                            restore_as_of=request.timestamp,
                            mover=rd.mover,
                            pin=True,
                            previous=request.previous or None,
                        )
                    ),
                    timeout=60,
                ),
            ),
            waits=(Wait(RESTORED, f"{rd.key} restored for {mark}", request.timeout),),
            batch=2,
            params=RestoreParams(mark, request.timestamp, request.previous or None),
        )
    )
    if target.snapshot_class:
        snap = safety_snapshot_name(claim.name, request.now)
        steps.append(
            Step(
                id=f"{key}:safety-snapshot",
                action=SNAPSHOT,
                summary=f"keep the old data: VolumeSnapshot {claim.namespace}/{snap} of PVC {key} "
                f"(class {target.snapshot_class}; delete it once the restored app is fine)",
                commands=(Command(tuple(vs.create_from(kctl, snapshot_file(inventory, claim))), timeout=60),),
                waits=(Wait(SNAPPED, f"VolumeSnapshot {claim.namespace}/{snap} readyToUse", 1800.0),),
                batch=3,
                params=SnapshotParams(
                    snap, vs.snapshot_manifest(claim.namespace, snap, claim.name, target.snapshot_class)
                ),
            )
        )
    steps.append(
        Step(
            id=f"{key}:delete-pvc",
            action=DELETE,
            summary=f"delete PVC {key} (uid {claim.uid or 'unknown'}); its data comes back from {rd.key}",
            commands=(Command(tuple(vs.delete_claim(kctl, claim.namespace, claim.name, timeout=300)), timeout=330),),
            waits=(Wait(GONE, f"PVC {key} gone", 600.0),),
            batch=4,
            params=DeleteClaimParams(claim.uid),
        )
    )
    steps.append(
        Step(
            id=f"{key}:create-pvc",
            action=CREATE,
            summary=f"create PVC {key} with dataSourceRef ReplicationDestination/{rd.name}, "
            + (
                "which the populator binds once a pod using it is scheduled (WaitForFirstConsumer)"
                if target.wait_for_consumer
                else "then wait until the populator has bound it"
            ),
            commands=(Command(tuple(vs.create_from(kctl, claim_file(inventory, claim))), timeout=60),),
            waits=() if target.wait_for_consumer else (Wait(BOUND, f"PVC {key} Bound", request.timeout),),
            batch=5,
            params=CreateClaimParams(claim.uid, claim.manifest(rd.name)),
        )
    )
    for so in target.scalers:  # before the scale-up: a paused-replicas 0 would take it straight back down
        steps.append(keda_step(so, False, 6))
    for w in target.workloads:
        steps.append(scale_step(w, w.replicas, 7))
    for kind, namespace, name in reversed(target.flux):
        steps.append(flux_step(kind, namespace, name, True, 8))
    warnings = []
    if not target.snapshot_class:
        warnings.append(
            f"{target.no_snapshot or 'no VolumeSnapshotClass'}: PVC {key}'s current data is deleted without a copy"
        )
    if not target.flux:
        warnings.append(f"no Flux Kustomization or HelmRelease owns {key} or its controllers: nothing is suspended")
    if not target.workloads:
        warnings.append(f"no running Deployment or StatefulSet mounts {key}: nothing is scaled")
    for w in target.idle:
        warnings.append(f"{w.key} mounts {key} and is already at 0 replicas: left at 0")
    for w in target.recovered:
        warnings.append(
            f"{w.key} is at 0 replicas since an earlier volsync.restore of {key} that did not finish: "
            f"this restore scales it back to the {w.replicas} it had"
        )
    if (request.timestamp or request.previous) and rd.mover == "restic" and not rd.file_deletion:
        # restic restores into the RD's own volume, which still holds the last restore's files: without
        # --delete (enableFileDeletion, replicationdestination_types.go:258-262) newer files stay
        warnings.append(
            f"ReplicationDestination {rd.key} has no restic.enableFileDeletion: files that are in its volume now "
            "but not in the older backup stay in the restored data (set enableFileDeletion: true for an exact copy)"
        )
    if target.wait_for_consumer and not target.workloads:
        warnings.append(
            f"PVC {key}'s StorageClass is WaitForFirstConsumer and no running controller mounts it: "
            "it stays Pending (not restored yet) until a pod uses it"
        )
    return Plan(
        operation="volsync-restore",
        cluster=inventory.cluster.name,
        steps=tuple(steps),
        preflight=(API,),
        poll_interval=inventory.policy.poll_interval,
        target=f"{key} restored from {rd.key}{when}",
        warnings=tuple(warnings),
        options=(
            ("namespace", claim.namespace),
            ("app", claim.name),
            ("timestamp", request.timestamp or ""),
            ("previous", str(request.previous or "")),
            ("destination", rd.name),
        ),
    )


def _runner_of(ctx: StepContext, step: Step) -> tuple[Runner, k.Kubectl]:
    command = step.commands[0]
    argv = command.argv
    kubeconfig = argv[argv.index("--kubeconfig") + 1]
    return ctx.runner(command), k.Kubectl(kubeconfig)


def _one(found: list[T]) -> T:
    (one,) = found
    return one


def _get(
    ctx: StepContext,
    step: Step,
    argv: Callable[[k.Kubectl], list[str]],
    what: str,
    parse: Callable[[str], T],
    *,
    absent: Callable[[], T] | None = None,
) -> T:
    """``kubectl get`` with the step's own kubectl (its runner, its --kubeconfig), retried like every look;
    a missing object is ``absent()`` (without ``absent``: an error, like any failed read)."""
    runner, kctl = _runner_of(ctx, step)

    def read() -> T:
        result = runner.run(argv(kctl), timeout=60)
        if absent is not None and k.is_not_found(result):
            return absent()
        result.check(f"kubectl get {what}")
        return parse(result.stdout)

    return ctx.retrying(read)


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
    unpause: list[str] = []
    by_id = {s.id: s for s in plan.steps}
    for step in plan.steps:
        if step.action == KEDA and step.param(KedaParams).pause and touched(step):
            again = by_id.get(step.id.replace(":pause:", ":unpause:"))
            if again is not None and not finished(again):
                unpause.append(" ".join(again.commands[0].argv))
        if step.action == SCALE and step.param(ScaleParams).replicas == 0 and touched(step):
            up = by_id.get(step.id.replace(":scale-down:", ":scale-up:"))
            if up is not None and not finished(up):
                back.append(" ".join(up.commands[0].argv))
        if step.action == FLUX and step.param(FluxParams).suspend and touched(step):
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
    if back or unpause:
        # undo in reverse: KEDA unpaused (else it holds the controllers at 0), controllers up, the
        # Kustomization (which re-applies the rest) last
        lines.append(
            "the app is down; to bring it back without the restore: " + " && ".join([*unpause, *reversed(back)])
        )
    return lines


class VolsyncFlux(_RestoreKind):
    """``flux suspend|resume``, judged by ``.spec.suspend`` read back rather than by the exit code.

    ``flux suspend`` exits 0 when the object is missing or the patch failed, printing ``✗ failed
    suspending …`` (fluxcd/flux2 v2.6.4 ``cmd/flux/suspend.go:105-114``); ``flux resume`` patches, then
    waits, and a failed wait is exit 0 before flux 2.9 and exit 1 from 2.9 on (v2.9.4
    ``cmd/flux/resume.go:129-138``): the object is resumed either way.
    """

    name = FLUX
    params = FluxParams

    def run(self, ctx: StepContext, step: Step) -> None:
        p = step.param(FluxParams)
        kind, namespace, name = p.kind, p.namespace, p.name
        verb = "suspend" if p.suspend else "resume"
        command = step.commands[0]
        failure: CommandError | None = None
        try:
            result = ctx.send(command, what=f"flux {verb} {kind.lower()} {namespace}/{name}", target=None)
            said = flux.failures(result.stderr)
        except CommandError as exc:
            failure, said = exc, flux.failures(exc.stderr or "") or [str(exc)]
        if not self.there(ctx, step):
            raise CommandError(
                f"flux {verb} {kind.lower()} {namespace}/{name} did not take: .spec.suspend is "
                f"{str(self._suspended(ctx, step)).lower()}" + (f" (flux said: {said[0]})" if said else ""),
                command=" ".join(command.argv),
                exit_code=failure.exit_code if failure is not None else 0,
                hint="nothing after it was sent; fix it and resume",
            )
        if said:  # resumed, but its reconciliation failed: Flux keeps retrying it; say so and go on
            ctx.progress.note(f"{kind} {namespace}/{name} is {p.state}; flux said: {said[0]}")

    def _suspended(self, ctx: StepContext, step: Step) -> bool | None:
        p = step.param(FluxParams)
        return _get(
            ctx,
            step,
            lambda kctl: vs.get_flux(kctl, p.kind, p.namespace, p.name),
            f"{p.kind.lower()} {p.namespace}/{p.name}",
            lambda out: vs.parse_flux(out).suspended,
            absent=lambda: None,
        )

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            p = step.param(FluxParams)
            kind, namespace, name = p.kind, p.namespace, p.name
            suspended = self._suspended(ctx, step)
            if suspended is None:  # flux would say ✗ and exit 0: do not let that pass as done
                looks[step.id] = Look(False, f"{kind} {namespace}/{name} does not exist")
                continue
            want = p.suspend
            seen = "suspended" if suspended else "active"
            looks[step.id] = Look(
                True, f"{kind} {namespace}/{name} {seen}", marker=seen, done=suspended == want, before=seen
            )
        return looks

    def there(self, ctx: StepContext, step: Step) -> bool:
        return self._suspended(ctx, step) == step.param(FluxParams).suspend

    def reached(self, step: Step, record: object) -> str | None:
        return step.param(FluxParams).state


class VolsyncScale(_RestoreKind):
    name = SCALE
    params = ScaleParams
    wait_order = (SCALED,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        SCALED: WaitTerms(
            "the controller has exactly the replicas asked for, all ready",
            "",
            "kubectl -n <namespace> describe <controller>: a pod that does not stop or start",
        )
    }

    def placeholders(self, step: Step) -> Mapping[str, str]:
        p = step.param(ScaleParams)
        return {"controller": f"{p.kind.lower()}/{p.name}"}

    def _workload(self, ctx: StepContext, step: Step) -> vs.Workload:
        p = step.param(ScaleParams)

        def parse(out: str) -> vs.Workload:
            found = [w for w in vs.parse_workloads(out) if w.name == p.name]
            if not found:
                raise PlanError(f"{p.kind} {p.namespace}/{p.name} no longer exists", hint="check the app's HelmRelease")
            return found[0]

        argv = lambda kctl: vs.get_workloads(kctl, p.kind, p.namespace)  # noqa: E731
        return _get(ctx, step, argv, f"{vs.WORKLOADS[p.kind]} -n {p.namespace}", parse)

    @staticmethod
    def _settled(w: vs.Workload, replicas: int) -> bool:
        return w.replicas == replicas and w.current == replicas and w.ready >= replicas

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            w = self._workload(ctx, step)
            want = step.param(ScaleParams).replicas
            seen = f"{w.key}: {w.replicas} replicas ({w.ready} ready)"
            looks[step.id] = Look(
                True, seen, marker=f"replicas={w.replicas}", done=self._settled(w, want), before=str(w.replicas)
            )
        return looks

    def there(self, ctx: StepContext, step: Step) -> bool:
        return self._workload(ctx, step).replicas == step.param(ScaleParams).replicas

    def reached(self, step: Step, record: object) -> str | None:
        return str(step.param(ScaleParams).replicas)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            waiting = []
            for step in steps:
                w = self._workload(ctx, step)
                want = step.param(ScaleParams).replicas
                if not self._settled(w, want):
                    waiting.append(f"{w.key}: {w.current} pods, {w.ready} ready, want {want}")
            return Observation.waiting("; ".join(waiting)) if waiting else Observation.ok("scaled")

        return look


class VolsyncRestore(_RestoreKind):
    name = RESTORE
    params = RestoreParams
    look_gate = "volsync-idle"
    wait_order = (RESTORED,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        RESTORED: WaitTerms(
            "lastManualSync equals the trigger and latestImage names the restored snapshot",
            "the mover failed, or found no backup to restore",
            "read the mover's log: kubectl -n <namespace> describe replicationdestination <destination>",
        )
    }

    def _rd(self, ctx: StepContext, step: Step) -> vs.Destination:
        namespace = step.id.split("/", 1)[0]
        name = step.id.rsplit(":", 1)[1]
        return _get(
            ctx,
            step,
            lambda kctl: vs.get_destination(kctl, namespace, name),
            f"replicationdestination {namespace}/{name}",
            lambda out: _one(vs.parse_destinations(out)),
        )

    def _failing(self, ctx: StepContext, step: Step, rd: vs.Destination) -> str | None:
        runner, kctl = _runner_of(ctx, step)
        return ctx.retrying(lambda: mover_failing(runner, kctl, rd, source=False))

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            rd = self._rd(ctx, step)
            seen = f"{rd.key}: {rd.reason or 'idle'}, latest image {rd.latest_image[1] if rd.latest_image else 'none'}"
            if rd.manual == _restore_token(step) and rd.restored:
                looks[step.id] = Look(True, seen, done=True)
            elif rd.synchronizing and rd.manual != _restore_token(step):
                why = self._failing(ctx, step, rd)
                if why is not None:
                    looks[step.id] = Look(False, seen + f": its mover is failing: {why}; fix that first")
                else:
                    looks[step.id] = Look(False, seen + ": a restore is running; try again when it has finished")
            else:
                looks[step.id] = Look(True, seen, marker=rd.last_manual_sync or "none", before=rd.last_manual_sync)
        return looks

    def there(self, ctx: StepContext, step: Step) -> bool:
        return self._rd(ctx, step).manual == _restore_token(step)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            for step in steps:
                rd = self._rd(ctx, step)
                if rd.last_manual_sync != _restore_token(step):
                    why = self._failing(ctx, step, rd) if rd.manual == _restore_token(step) else None
                    if why is not None:
                        return Observation.failed(f"{rd.key}: the mover failed: {why}: the volume was not touched")
                    return Observation.waiting(f"{rd.key}: {rd.reason or 'not started'}")
                if rd.empty:
                    when = step.param(RestoreParams).when()
                    return Observation.failed(
                        f"{rd.key}: no backup {when} (the mover said '{vs.NO_SNAPSHOT}'): the volume was not touched"
                    )
                if rd.result == "Failed" or rd.latest_image is None:
                    return Observation.failed(f"{rd.key}: the restore finished without an image")
            return Observation.ok("restored")

        return look

    def reached(self, step: Step, record: object) -> str | None:
        return f"lastManualSync={_restore_token(step)}"


def _write_manifest(step: Step, manifest: str) -> None:
    """The manifest the step's ``kubectl create --filename`` reads, written (privately, whole) when the
    step runs, not at planning: a dry run leaves nothing, and a resume always has it."""
    write_private(Path(step.commands[0].argv[-1]), manifest + "\n")


def _restore_token(step: Step) -> str:
    return step.param(RestoreParams).token


class _ClaimKind(_RestoreKind):
    def _claim(self, ctx: StepContext, step: Step) -> vs.Claim | None:
        namespace, name = step.id.split(":", 1)[0].split("/", 1)
        return _get(
            ctx,
            step,
            lambda kctl: vs.get_claim(kctl, namespace, name),
            f"pvc {namespace}/{name}",
            lambda out: _one(vs.parse_claims(out)),
            absent=lambda: None,
        )


class VolsyncDeleteClaim(_ClaimKind):
    name = DELETE
    params = DeleteClaimParams
    wait_order = (GONE,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        GONE: WaitTerms("the old PVC is gone", "", "a pod still mounts it: kubectl -n <namespace> describe pvc <app>")
    }

    def _gone(self, ctx: StepContext, step: Step) -> bool:
        claim = self._claim(ctx, step)
        return claim is None or claim.uid != step.param(DeleteClaimParams).uid  # absent, or already the recreated one

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            claim = self._claim(ctx, step)
            if claim is None or claim.uid != step.param(DeleteClaimParams).uid:
                looks[step.id] = Look(True, "PVC already deleted", done=True)
            else:
                seen = f"PVC {claim.namespace}/{claim.name} {claim.phase}" + (
                    " (being deleted)" if claim.deleting else ""
                )
                looks[step.id] = Look(True, seen, marker=claim.uid, before=claim.phase)
        return looks

    def there(self, ctx: StepContext, step: Step) -> bool:
        claim = self._claim(ctx, step)
        return claim is None or claim.deleting or claim.uid != step.param(DeleteClaimParams).uid

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            waiting = [s.id.split(":", 1)[0] for s in steps if not self._gone(ctx, s)]
            return Observation.waiting(f"PVC {', '.join(waiting)} still there") if waiting else Observation.ok("gone")

        return look

    def reached(self, step: Step, record: object) -> str | None:
        return "deleted"


class VolsyncCreateClaim(_ClaimKind):
    name = CREATE
    params = CreateClaimParams
    wait_order = (BOUND,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        BOUND: WaitTerms(
            "the PVC is Bound (the populator copied the restored snapshot into it)",
            "",
            "kubectl -n <namespace> describe pvc <app>: VolSyncPopulator* events say why",
        )
    }

    def run(self, ctx: StepContext, step: Step) -> None:
        _write_manifest(step, step.param(CreateClaimParams).manifest)
        super().run(ctx, step)

    def _new(self, claim: vs.Claim | None, step: Step) -> bool:
        return claim is not None and claim.uid != step.param(CreateClaimParams).old_uid and not claim.deleting

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

    def there(self, ctx: StepContext, step: Step) -> bool:
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


class VolsyncKeda(_RestoreKind):
    """Pause (paused-replicas "0") or unpause a KEDA ScaledObject: KEDA scales a target at 0 back up."""

    name = KEDA
    params = KedaParams

    def _paused(self, ctx: StepContext, step: Step) -> str | bool | None:
        p = step.param(KedaParams)

        def parse(out: str) -> str | bool | None:
            found = vs.parse_scaled_objects(out)
            return found[0].paused if found else False

        return _get(
            ctx,
            step,
            lambda kctl: kctl.get_json(vs.SCALED_OBJECTS, p.name, namespace=p.namespace),
            f"scaledobject {p.namespace}/{p.name}",
            parse,
            absent=lambda: False,  # gone: nothing to pause
        )

    @staticmethod
    def _at(paused: str | bool | None, step: Step) -> bool:
        return paused is False or (paused == "0") == step.param(KedaParams).pause

    def there(self, ctx: StepContext, step: Step) -> bool:
        return self._at(self._paused(ctx, step), step)

    def reached(self, step: Step, record: object) -> str | None:
        return "paused" if step.param(KedaParams).pause else "resumed"

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            paused = self._paused(ctx, step)  # read once: the look and its done come from the same object
            seen = "absent" if paused is False else ("paused" if paused is not None else "active")
            p = step.param(KedaParams)
            looks[step.id] = Look(
                True, f"ScaledObject {p.namespace}/{p.name} {seen}", done=self._at(paused, step), before=seen
            )
        return looks


class VolsyncSnapshot(_RestoreKind):
    """A VolumeSnapshot of the PVC about to be deleted: the old data, should the restored one be wrong."""

    name = SNAPSHOT
    params = SnapshotParams
    wait_order = (SNAPPED,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        SNAPPED: WaitTerms(
            "the VolumeSnapshot is readyToUse",
            "the snapshot controller reports an error",
            "kubectl -n <namespace> describe volumesnapshot: its events say why",
        )
    }

    def run(self, ctx: StepContext, step: Step) -> None:
        _write_manifest(step, step.param(SnapshotParams).manifest)
        if self._state(ctx, step) is not None:
            return  # taken by an earlier attempt of this run (its name carries the run's time): not twice
        super().run(ctx, step)

    def _state(self, ctx: StepContext, step: Step) -> tuple[bool, str | None] | None:
        namespace = step.id.split("/", 1)[0]
        name = step.param(SnapshotParams).name
        return _get(
            ctx,
            step,
            lambda kctl: vs.get_snapshot(kctl, namespace, name),
            f"volumesnapshot {namespace}/{name}",
            vs.parse_snapshot,
            absent=lambda: None,
        )

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            found = self._state(ctx, step)
            name = step.param(SnapshotParams).name
            if found is not None and found[0]:
                looks[step.id] = Look(True, f"VolumeSnapshot {name} ready", done=True)
            else:
                seen = "absent" if found is None else "taken"
                looks[step.id] = Look(True, f"VolumeSnapshot {name} {seen}", marker=seen, before=seen)
        return looks

    def there(self, ctx: StepContext, step: Step) -> bool:
        return self._state(ctx, step) is not None

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        def look() -> Observation[None]:
            for step in steps:
                found = self._state(ctx, step)
                name = step.param(SnapshotParams).name
                if found is None:
                    return Observation.failed(f"VolumeSnapshot {name} disappeared after it was created")
                ready, error = found
                if error:
                    return Observation.failed(f"VolumeSnapshot {name}: {error}: the PVC was not deleted")
                if not ready:
                    return Observation.waiting(f"VolumeSnapshot {name} not readyToUse yet")
            return Observation.ok("snapshot ready")

        return look

    def reached(self, step: Step, record: object) -> str | None:
        return step.param(SnapshotParams).name


_RESTORE_KINDS = (FLUX, KEDA, SCALE, RESTORE, SNAPSHOT, DELETE, CREATE)
for _restore_kind in (
    VolsyncFlux(),
    VolsyncKeda(),
    VolsyncScale(),
    VolsyncRestore(),
    VolsyncSnapshot(),
    VolsyncDeleteClaim(),
    VolsyncCreateClaim(),
):
    register(_restore_kind)


# ----------------------------------------------------------------------------------- from a task


DEFAULT_TIMEOUT = 7200.0


WaitFilter = Callable[[Step, Wait], bool]


def retimed(plan: Plan, which: WaitFilter, timeout: float) -> tuple[Plan, list[float]]:
    """``plan`` with the waits ``which`` picks given ``timeout``, and the timeouts they had."""
    old: list[float] = []
    steps = []
    for step in plan.steps:
        waits = []
        for wait in step.waits:
            if which(step, wait):
                old.append(wait.timeout)
                wait = replace(wait, timeout=timeout)
            waits.append(wait)
        steps.append(replace(step, waits=tuple(waits)))
    return replace(plan, steps=tuple(steps)), old


def left_down(rt: Runtime, namespace: str, app: str) -> dict[str, int]:
    """``Kind/ns/name`` → replicas, for the controllers that unfinished earlier restores of this PVC
    scaled to 0 and never scaled back (a new restore would otherwise see them at 0, leave them there
    and call the app restored)."""
    recorded: dict[str, int] = {}
    runs = [
        j
        for j in Journal.all(rt.inventory.state_dir, rt.clock)
        if j.operation == "volsync-restore" and j.cluster == rt.inventory.cluster.name and j.status != "finished"
    ]
    for journal in sorted(runs, key=lambda j: j.created):
        plan = journal.plan()
        if dict(plan.options).get("namespace") != namespace or dict(plan.options).get("app") != app:
            continue
        by_id = {step.id: step for step in plan.steps}
        for step in plan.steps:
            if step.action != SCALE or step.param(ScaleParams).replicas != 0:
                continue
            record = journal.step(step.id)
            up = by_id.get(step.id.replace(":scale-down:", ":scale-up:"))
            if up is None or not (record.sent or record.status in ("done", "running", "failed")):
                continue
            if journal.step(up.id).status != "done":
                back = up.param(ScaleParams)
                recorded.setdefault(back.target, back.replicas)  # the oldest run knows the count
    return recorded


def with_recorded_replicas(target: RestoreTarget, recorded: Mapping[str, int]) -> RestoreTarget:
    """Controllers found at 0 that an unfinished restore scaled down: this restore brings them back."""
    back = tuple(
        replace(w, replicas=recorded[f"{w.kind}/{w.namespace}/{w.name}"])
        for w in target.idle
        if recorded.get(f"{w.kind}/{w.namespace}/{w.name}", 0) > 0
    )
    if not back:
        return target
    keys = {w.key for w in back}
    return replace(
        target,
        workloads=target.workloads + back,
        idle=tuple(w for w in target.idle if w.key not in keys),
        recovered=back,
    )


def which_app(namespace: str | None, app: str | None) -> tuple[str, str]:
    if not namespace or not app:
        raise PlanError("which app? pass --namespace NS --app APP", hint="inv volsync.verify lists them")
    return namespace, app
