"""VolSync through kubectl: ReplicationSource/Destination status, the manual trigger, populated PVCs.

Behaviour relied on (cli-interfaces.md §11; backube/volsync ``api/v1alpha1``, checked at HEAD):

* ``spec.trigger.manual`` wins over ``schedule`` when non-empty; a sync starts when it differs
  from ``status.lastManualSync``, and on success ``lastManualSync := manual``.
* ``status.lastSyncTime`` is set on **success only**; ``lastSyncStartTime`` while a sync runs;
  ``latestMoverStatus.result`` is ``Successful`` or ``Failed``; condition ``Synchronizing`` with
  reasons ``SyncInProgress``, ``WaitingForSchedule``, ``WaitingForManual``, ``CleaningUp``, ``Error``.
* A ReplicationDestination's result is ``status.latestImage`` (a VolumeSnapshot, or the PVC with
  ``copyMethod: Direct``). Both movers exit 0 when no snapshot matches: restic's log then says
  ``No eligible snapshots found`` and the "restored" volume is empty.
* An app PVC restored by the volume populator has ``spec.dataSourceRef`` of kind
  ``ReplicationDestination`` and stays Pending until it is populated; the populator's events on it
  are ``VolSyncPopulator*``, and the PV it hands over is annotated ``volsync.backube/populated-from``
  (on the PV, not the PVC: ``operations/drsteps.py`` reads it there).

* A restore through the populator (``volumepopulator_controller.go``): the controller populates a
  PVC from whatever ``latestImage`` the RD names *when it sees the PVC*, so a restore triggers the RD
  and waits for its new image before it recreates the PVC, never the other way round.
* The controllers using a PVC are the Deployments/StatefulSets whose pod template mounts it; Flux
  labels them (``helm.toolkit.fluxcd.io/name``) and the PVC (``kustomize.toolkit.fluxcd.io/name``)
  with the objects that would put them back while a restore runs.

Argv builders take a ``Kubectl`` (for ``--kubeconfig``/``--context``) and never run anything.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from homeops.adapters._parse import UnexpectedOutput, parse_json_object
from homeops.adapters._parse import parse_time as parse_time  # callers read it as vs.parse_time
from homeops.adapters.kubectl import Kubectl, _condition, _items, _objects
from homeops.errors import PlanError

SOURCES = "replicationsources.volsync.backube"
DESTINATIONS = "replicationdestinations.volsync.backube"
PVCS = "persistentvolumeclaims"
JOBS = "jobs.batch"
STORAGE_CLASSES = "storageclasses.storage.k8s.io"
WAIT_FOR_CONSUMER = "WaitForFirstConsumer"
#: a mover job's pod failures before homeops calls the mover failed: VolSync itself reports Failed only
#: at the job's backoffLimit (8 for restic), after 20-odd minutes of back-off, then starts the job again
#: and stays SyncInProgress (restic ``mover.go:355,610-617``, v0.16.0), so the wait never ends on its own
JOB_FAILURES = 3
WORKLOADS = {"Deployment": "deployments.apps", "StatefulSet": "statefulsets.apps"}
FLUX_KINDS = {
    "Kustomization": "kustomizations.kustomize.toolkit.fluxcd.io",
    "HelmRelease": "helmreleases.helm.toolkit.fluxcd.io",
}
KS_LABEL = "kustomize.toolkit.fluxcd.io"
HR_LABEL = "helm.toolkit.fluxcd.io"
POPULATED_FROM = "volsync.backube/populated-from"
NO_SNAPSHOT = "No eligible snapshots"

# An RFC3339 time for restic's restoreAsOf; kopia compares it as a string, so only UTC "…Z".
_RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def format_time(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- argv builders


def get_sources(kctl: Kubectl, namespace: str | None = None) -> list[str]:
    return kctl.get_json(SOURCES, namespace=namespace, all_namespaces=namespace is None)


def get_source(kctl: Kubectl, namespace: str, name: str) -> list[str]:
    return kctl.get_json(SOURCES, name, namespace=namespace)


def get_destinations(kctl: Kubectl, namespace: str | None = None) -> list[str]:
    return kctl.get_json(DESTINATIONS, namespace=namespace, all_namespaces=namespace is None)


def get_destination(kctl: Kubectl, namespace: str, name: str) -> list[str]:
    return kctl.get_json(DESTINATIONS, name, namespace=namespace)


def get_pvcs(kctl: Kubectl, namespace: str | None = None) -> list[str]:
    return kctl.get_json(PVCS, namespace=namespace, all_namespaces=namespace is None)


def trigger_manual(kctl: Kubectl, namespace: str, name: str, value: str) -> list[str]:
    """``kubectl patch`` setting ``spec.trigger.manual`` (a new value starts one sync)."""
    return _merge_patch(kctl, SOURCES, namespace, name, {"spec": {"trigger": {"manual": _token(value)}}})


def release_manual(kctl: Kubectl, namespace: str, name: str) -> list[str]:
    """Remove ``spec.trigger.manual`` (merge patch ``null``): a source with a schedule follows it again."""
    return _merge_patch(kctl, SOURCES, namespace, name, {"spec": {"trigger": {"manual": None}}})


def check_restore_time(value: str) -> str:
    if not _RFC3339_Z.match(value) or parse_time(value) is None:
        raise PlanError(
            f"restore time {value!r} is not an RFC3339 UTC time like 2025-10-09T06:00:00Z",
            hint="kopia compares it as a string, so give it in UTC with a trailing Z",
        )
    return value


def trigger_restore(
    kctl: Kubectl,
    namespace: str,
    name: str,
    value: str,
    *,
    restore_as_of: str | None = None,
    mover: str | None = "restic",
    pin: bool = False,
    previous: int | None = None,
) -> list[str]:
    """Re-run a ReplicationDestination (new ``spec.trigger.manual``), optionally as of a point in time.

    With ``pin`` the mover's ``restoreAsOf`` is set to ``restore_as_of`` (``None``: removed, the
    newest backup) and ``previous`` to ``previous`` (``None``: removed), so an earlier point-in-time
    restore left on the RD (home-ops applies it ``IfNotPresent``, Git never resets it) cannot pick the
    snapshot. ``previous`` N skips the N newest snapshots (at or before ``restoreAsOf`` when given;
    volsync v0.16.0 ``replicationdestination_types.go:251-257``).
    """
    if previous is not None and previous < 0:
        raise PlanError(f"previous must be 0 or more, not {previous}")
    spec: dict[str, Any] = {"trigger": {"manual": _token(value)}}
    if restore_as_of is not None:
        check_restore_time(restore_as_of)
    if mover is not None and (pin or restore_as_of is not None):
        fields: dict[str, Any] = {"restoreAsOf": restore_as_of}
        if pin or previous is not None:
            fields["previous"] = previous
        spec[mover] = fields
    return _merge_patch(kctl, DESTINATIONS, namespace, name, {"spec": spec})


def mover_job(name: str, *, source: bool) -> str:
    """The mover Job's name: ``volsync-src-<rs>``/``volsync-dst-<rd>``, the crc32 of the name when the
    whole would pass 63 characters (volsync v0.16.0 ``utils.go:371-400``, restic ``mover.go:333-341``)."""
    prefix = "volsync-src-" if source else "volsync-dst-"
    full = prefix + name
    return full if len(full) <= 63 else f"{prefix}{zlib.crc32(name.encode()):08x}"


def get_job(kctl: Kubectl, namespace: str, name: str) -> list[str]:
    return kctl.get_json(JOBS, name, namespace=namespace)


def parse_job_failures(text: str) -> tuple[int, int]:
    """(``status.failed``, ``spec.backoffLimit``) of one Job."""
    what = "kubectl get job"
    (item,) = _items(parse_json_object(text, what=what), what)
    failed = (item.get("status") or {}).get("failed") or 0
    limit = (item.get("spec") or {}).get("backoffLimit")
    return int(failed), int(limit) if isinstance(limit, int) else 6  # 6: the Job API's default


SNAPSHOT_CLASSES = "volumesnapshotclasses.snapshot.storage.k8s.io"
SNAPSHOTS = "volumesnapshots.snapshot.storage.k8s.io"
_DEFAULT_CLASS = "snapshot.storage.kubernetes.io/is-default-class"


def get_snapshot_classes(kctl: Kubectl) -> list[str]:
    return kctl.get_json(SNAPSHOT_CLASSES)


def snapshot_class_for(text: str, driver: str) -> str | None:
    """The VolumeSnapshotClass for CSI ``driver`` (its default one first), or None: the class cannot snapshot."""
    what = "kubectl get volumesnapshotclasses"
    found = []
    for item, meta in _objects(text, what):
        if item.get("driver") == driver and meta.get("name"):
            default = (meta.get("annotations") or {}).get(_DEFAULT_CLASS) == "true"
            found.append((not default, str(meta["name"])))
    return min(found)[1] if found else None


def snapshot_manifest(namespace: str, name: str, pvc: str, snapshot_class: str) -> str:
    doc = {
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/created-by": "homeops"}},
        "spec": {"source": {"persistentVolumeClaimName": pvc}, "volumeSnapshotClassName": snapshot_class},
    }
    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def get_snapshot(kctl: Kubectl, namespace: str, name: str) -> list[str]:
    return kctl.get_json(SNAPSHOTS, name, namespace=namespace)


def parse_snapshot(text: str) -> tuple[bool, str | None]:
    """(``status.readyToUse``, ``status.error.message``) of one VolumeSnapshot."""
    what = "kubectl get volumesnapshot"
    (item,) = _items(parse_json_object(text, what=what), what)
    status = item.get("status") or {}
    error = (status.get("error") or {}).get("message")
    return bool(status.get("readyToUse")), str(error) if error else None


def get_storage_class(kctl: Kubectl, name: str) -> list[str]:
    return kctl.get_json(STORAGE_CLASSES, name)


def parse_provisioner(text: str) -> str:
    what = "kubectl get storageclass"
    (item,) = _items(parse_json_object(text, what=what), what)
    return str(item.get("provisioner") or "")


def parse_binding_mode(text: str) -> str:
    """A StorageClass's ``volumeBindingMode`` (``Immediate`` when unset, the API's default)."""
    what = "kubectl get storageclass"
    (item,) = _items(parse_json_object(text, what=what), what)
    return str(item.get("volumeBindingMode") or "Immediate")


SCALED_OBJECTS = "scaledobjects.keda.sh"
#: KEDA holds the target at this many replicas and stops autoscaling while the annotation is there
#: (keda.sh docs "Pausing autoscaling"); a plain HPA needs nothing: it is disabled while its target
#: has 0 replicas (kubernetes pkg/controller/podautoscaler/horizontal.go, "ScalingDisabled")
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"


@dataclass(frozen=True)
class ScaledObject:
    namespace: str
    name: str
    target_kind: str  # spec.scaleTargetRef.kind (Deployment when unset, as KEDA defaults it)
    target_name: str
    paused: str | None  # the paused-replicas annotation

    @property
    def key(self) -> str:
        return f"scaledobject/{self.name}"


def get_scaled_objects(kctl: Kubectl, namespace: str) -> list[str]:
    return kctl.get_json(SCALED_OBJECTS, namespace=namespace)


def parse_scaled_objects(text: str) -> list[ScaledObject]:
    what = "kubectl get scaledobjects"
    out = []
    for item, meta in _objects(text, what):
        ref = (item.get("spec") or {}).get("scaleTargetRef") or {}
        paused = (meta.get("annotations") or {}).get(PAUSED_REPLICAS)
        out.append(
            ScaledObject(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                target_kind=str(ref.get("kind") or "Deployment"),
                target_name=str(ref.get("name", "")),
                paused=str(paused) if paused is not None else None,
            )
        )
    return out


def pause_scaling(kctl: Kubectl, namespace: str, name: str, *, pause: bool) -> list[str]:
    """Merge-patch the ScaledObject's paused-replicas annotation: "0" (KEDA scales to 0 and stops), or none."""
    patch = {"metadata": {"annotations": {PAUSED_REPLICAS: "0" if pause else None}}}
    return _merge_patch(kctl, SCALED_OBJECTS, namespace, name, patch)


def get_workloads(kctl: Kubectl, kind: str, namespace: str) -> list[str]:
    """``kubectl get deployments|statefulsets -n NS -o json``."""
    return kctl.get_json(WORKLOADS[kind], namespace=namespace)


def get_claim(kctl: Kubectl, namespace: str, name: str) -> list[str]:
    return kctl.get_json(PVCS, name, namespace=namespace)


def get_flux(kctl: Kubectl, kind: str, namespace: str, name: str) -> list[str]:
    return kctl.get_json(FLUX_KINDS[kind], name, namespace=namespace)


def scale(kctl: Kubectl, kind: str, namespace: str, name: str, replicas: int) -> list[str]:
    """``kubectl scale deployment/NAME --replicas=N`` (says "scaled" also when nothing changed)."""
    if replicas < 0:
        raise PlanError(f"kubectl scale {kind}/{name}: replicas must be 0 or more, not {replicas}")
    target = f"{kind.lower()}/{Kubectl._name(name, 'scale')}"
    return kctl._cmd("scale", target, f"--replicas={replicas}", namespace=namespace)


def delete_claim(kctl: Kubectl, namespace: str, name: str, *, timeout: float) -> list[str]:
    """``kubectl delete pvc NAME --wait --timeout=…s``: returns once the pvc-protection finalizer let it go."""
    name = Kubectl._name(name, "delete")
    return kctl._cmd("delete", PVCS, name, "--wait=true", f"--timeout={int(timeout)}s", namespace=namespace)


def create_from(kctl: Kubectl, path: str) -> list[str]:
    """``kubectl create -f PATH``: ``AlreadyExists`` rather than changing an object that is there."""
    return kctl._cmd("create", "--filename", path)


def _token(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,62}", value):
        raise PlanError(f"manual trigger {value!r} must be a short token of letters, digits and ._:-")
    return value


def _merge_patch(kctl: Kubectl, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> list[str]:
    name = Kubectl._name(name, "patch")
    body = json.dumps(patch, separators=(",", ":"), sort_keys=True)
    return kctl._cmd("patch", kind, name, "--type", "merge", "--patch", body, namespace=namespace)


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class SyncState:
    """What a ReplicationSource or ReplicationDestination reports about its last sync."""

    namespace: str
    name: str
    manual: str | None  # spec.trigger.manual
    schedule: str | None
    last_manual_sync: str | None
    last_sync_time: float | None  # success only
    last_sync_start_time: float | None  # set while a sync runs
    last_sync_duration: str | None
    next_sync_time: float | None
    result: str | None  # latestMoverStatus.result: Successful | Failed
    reason: str  # the Synchronizing condition's reason
    message: str
    logs: str
    paused: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def synchronizing(self) -> bool:
        return self.reason == "SyncInProgress"

    @property
    def manual_done(self) -> bool:
        """The manual trigger (if any) has been served: ``lastManualSync == spec.trigger.manual``."""
        return not self.manual or self.manual == self.last_manual_sync


@dataclass(frozen=True)
class Source(SyncState):
    source_pvc: str | None = None

    def problems(self, now: float, max_age: float) -> list[str]:
        """What makes this source unfit to restore from (cli-interfaces.md §11.5); empty when fine."""
        out = []
        if self.last_sync_time is None:
            out.append("never synced successfully")
        elif now - self.last_sync_time > max_age:
            out.append(f"last sync {format_age(now - self.last_sync_time)} ago (limit {format_age(max_age)})")
        if self.result == "Failed":
            out.append("the last mover run failed")
        if self.reason == "Error":
            out.append(f"error: {self.message or 'no message'}")
        if self.paused:
            out.append("paused")
        return out

    def warnings(self) -> list[str]:
        """What is wrong with this source that does not (yet) make its backups stale."""
        if self.manual and self.schedule:
            # manual wins over schedule while set (cli-interfaces.md §11.2): a backup by hand that failed
            # or was killed leaves it, and the scheduled backups stop
            return [
                f"schedule '{self.schedule}' is off: spec.trigger.manual={self.manual} is set "
                f"(remove it: kubectl -n {self.namespace} patch {SOURCES} {self.name} --type merge "
                """-p '{"spec":{"trigger":{"manual":null}}}')"""
            ]
        return []


@dataclass(frozen=True)
class Destination(SyncState):
    copy_method: str | None = None
    mover: str | None = None  # restic | kopia | rclone | rsync | rsyncTLS: where restoreAsOf lives
    latest_image: tuple[str, str] | None = None  # (kind, name)
    restore_as_of: str | None = None
    previous: int | None = None
    file_deletion: bool = False  # enableFileDeletion: restic restore --delete

    @property
    def restored(self) -> bool:
        """The restore asked for has finished with an image to populate from."""
        return self.manual_done and self.latest_image is not None and self.result != "Failed" and not self.empty

    @property
    def empty(self) -> bool:
        """restic found no snapshot: the RD "succeeded" with an empty volume."""
        return NO_SNAPSHOT in self.logs


@dataclass(frozen=True)
class Claim:
    """A PersistentVolumeClaim, as far as the volume populator is concerned."""

    namespace: str
    name: str
    phase: str  # Pending | Bound | Lost
    source_kind: str | None  # spec.dataSourceRef.kind
    source_name: str | None
    populated_from: str | None  # the annotation if the PVC carries it (VolSync writes it on the PV)
    uid: str = ""
    deleting: bool = False
    kustomization: tuple[str, str] | None = None  # the Flux Kustomization that applied it (namespace, name)
    spec: tuple[tuple[str, Any], ...] = ()  # what recreating it keeps: accessModes, resources, class, mode

    def manifest(self, destination: str) -> str:
        """The claim again, empty, to be populated from ReplicationDestination ``destination`` (JSON)."""
        ref = {"apiGroup": "volsync.backube", "kind": "ReplicationDestination", "name": destination}
        meta: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if self.kustomization:  # Flux keeps owning it (and prunes it with the app)
            meta["labels"] = {f"{KS_LABEL}/name": self.kustomization[1], f"{KS_LABEL}/namespace": self.kustomization[0]}
        doc = {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": meta,
            "spec": {**dict(self.spec), "dataSourceRef": ref},
        }
        return json.dumps(doc, separators=(",", ":"), sort_keys=True)

    @property
    def from_volsync(self) -> bool:
        return self.source_kind == "ReplicationDestination"

    @property
    def populated(self) -> bool:
        return self.phase == "Bound"


def format_age(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


# --------------------------------------------------------------------------- parsers


def _common(item: dict[str, Any], what: str) -> dict[str, Any]:
    meta = item.get("metadata") or {}
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        raise UnexpectedOutput(what, "an object without metadata.name")
    spec = item.get("spec") or {}
    status = item.get("status") or {}
    trigger = spec.get("trigger") or {}
    mover = status.get("latestMoverStatus") or {}
    sync = _condition(item, "Synchronizing") or {}
    return {
        "namespace": str(meta.get("namespace", "")),
        "name": name,
        "manual": trigger.get("manual") or None,
        "schedule": trigger.get("schedule") or None,
        "last_manual_sync": status.get("lastManualSync") or None,
        "last_sync_time": parse_time(status.get("lastSyncTime")),
        "last_sync_start_time": parse_time(status.get("lastSyncStartTime")),
        "last_sync_duration": status.get("lastSyncDuration"),
        "next_sync_time": parse_time(status.get("nextSyncTime")),
        "result": mover.get("result") or None,
        "reason": str(sync.get("reason", "")),
        "message": str(sync.get("message", "")),
        "logs": str(mover.get("logs", "")),
        "paused": bool(spec.get("paused", False)),
    }


def parse_sources(text: str) -> list[Source]:
    """``kubectl get replicationsources -o json`` (a List, or one object)."""
    what = "kubectl get replicationsources"
    out = []
    for item in _items(parse_json_object(text, what=what), what):
        out.append(Source(**_common(item, what), source_pvc=(item.get("spec") or {}).get("sourcePVC")))
    return out


def parse_destinations(text: str) -> list[Destination]:
    what = "kubectl get replicationdestinations"
    out = []
    for item in _items(parse_json_object(text, what=what), what):
        spec = item.get("spec") or {}
        mover: dict[str, Any] = (
            next((spec[m] for m in ("restic", "kopia", "rclone", "rsync", "rsyncTLS") if m in spec), {}) or {}
        )
        image = (item.get("status") or {}).get("latestImage") or {}
        previous = mover.get("previous")
        out.append(
            Destination(
                **_common(item, what),
                copy_method=mover.get("copyMethod"),
                mover=next((m for m in ("restic", "kopia", "rclone", "rsync", "rsyncTLS") if m in spec), None),
                latest_image=(str(image.get("kind", "")), str(image["name"])) if image.get("name") else None,
                restore_as_of=mover.get("restoreAsOf"),
                previous=int(previous) if isinstance(previous, int) else None,
                file_deletion=bool(mover.get("enableFileDeletion", False)),
            )
        )
    return out


def parse_claims(text: str) -> list[Claim]:
    what = "kubectl get persistentvolumeclaims"
    out = []
    for item, meta in _objects(text, what):
        spec = item.get("spec") or {}
        ref = spec.get("dataSourceRef") or {}
        keep = ("accessModes", "resources", "storageClassName", "volumeMode")
        out.append(
            Claim(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                phase=str((item.get("status") or {}).get("phase", "Pending")),
                source_kind=ref.get("kind"),
                source_name=ref.get("name"),
                populated_from=(meta.get("annotations") or {}).get(POPULATED_FROM),
                uid=str(meta.get("uid", "")),
                deleting=bool(meta.get("deletionTimestamp")),
                kustomization=_owner(meta, KS_LABEL),
                spec=tuple((k, _resources(spec[k]) if k == "resources" else spec[k]) for k in keep if k in spec),
            )
        )
    return out


def _resources(value: Any) -> Any:
    """Only the request survives a recreate (limits are rare and the populator sizes from it)."""
    requests = (value or {}).get("requests") if isinstance(value, dict) else None
    return {"requests": requests} if requests else value


def _owner(meta: dict[str, Any], prefix: str) -> tuple[str, str] | None:
    labels = meta.get("labels") or {}
    name = labels.get(f"{prefix}/name")
    return (str(labels.get(f"{prefix}/namespace") or meta.get("namespace", "")), str(name)) if name else None


@dataclass(frozen=True)
class Workload:
    """A Deployment or StatefulSet, as far as a restore is concerned."""

    kind: str  # Deployment | StatefulSet
    namespace: str
    name: str
    replicas: int  # spec.replicas
    current: int  # status.replicas: pods that still exist
    ready: int
    claims: tuple[str, ...]  # PVCs its pod template mounts
    helm_release: tuple[str, str] | None  # (namespace, name) from Flux's labels
    kustomization: tuple[str, str] | None

    @property
    def key(self) -> str:
        return f"{self.kind.lower()}/{self.name}"


def parse_workloads(text: str) -> list[Workload]:
    """``kubectl get deployments|statefulsets -o json``."""
    what = "kubectl get deployments/statefulsets"
    out = []
    for item, meta in _objects(text, what):
        spec = item.get("spec") or {}
        status = item.get("status") or {}
        volumes = ((spec.get("template") or {}).get("spec") or {}).get("volumes") or []
        claims = tuple(
            str(v["persistentVolumeClaim"]["claimName"])
            for v in volumes
            if isinstance(v, dict) and (v.get("persistentVolumeClaim") or {}).get("claimName")
        )
        replicas = spec.get("replicas")
        out.append(
            Workload(
                kind=str(item.get("kind", "Deployment")),
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                replicas=int(replicas) if isinstance(replicas, int) else 1,  # the API's default
                current=int(status.get("replicas") or 0),
                ready=int(status.get("readyReplicas") or 0),
                claims=claims,
                helm_release=_owner(meta, HR_LABEL),
                kustomization=_owner(meta, KS_LABEL),
            )
        )
    return out


@dataclass(frozen=True)
class FluxState:
    kind: str
    namespace: str
    name: str
    suspended: bool
    kustomization: tuple[str, str] | None  # the Kustomization that applied this one (a HelmRelease's)


def parse_flux(text: str) -> FluxState:
    """One Kustomization or HelmRelease (``kubectl get … NAME -o json``)."""
    what = "kubectl get kustomization/helmrelease"
    (item,) = _items(parse_json_object(text, what=what), what)
    meta = item.get("metadata") or {}
    return FluxState(
        kind=str(item.get("kind", "")),
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        suspended=bool((item.get("spec") or {}).get("suspend", False)),
        kustomization=_owner(meta, KS_LABEL),
    )
