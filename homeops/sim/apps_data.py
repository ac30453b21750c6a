"""The simulated cluster's data apps: VolSync sources, destinations, populated PVCs, CloudNativePG clusters.

State section ``apps`` (added by ``seed``; a state without it simply has no data apps)::

    {"sources": [{namespace, name, pvc, period, duration, manual, last_manual_sync, manual_started,
                  stale_since}],
     "destinations": [{namespace, name, pvc, manual, copy_method, duration, restore_started}],
     "claims": [{namespace, name, destination, labels, uid?, created_at?, deleting?}],
     "postgres": [{namespace, name, instances, source, server_name, restore_started,
                   setup_seconds, activate_seconds, replica_seconds}]}

Status is *derived* from these records and the simulated time, the way the controllers would have
left it (cli-interfaces.md §11, §12): a scheduled source has synced at its last tick; a manual
trigger (``kubectl patch … spec.trigger.manual``) runs one sync of ``duration`` seconds, and while
it is set the schedule is ignored, as in VolSync; a destination restores for ``duration`` seconds
after ``begin_restores`` (or after Flux comes up in a rebuilt cluster) and then names its
``latestImage``, which binds its PVC; a CNPG cluster restoring on deploy walks ``Setting up primary``
→ ``Waiting for the instances to become active`` → ``Creating a new replica`` → ``Cluster in healthy state``.

The app workloads mounting those PVCs are ``k8s.deployments`` (``immich-server``, with pods) and
``k8s.statefulsets`` (``paperless``, whose pods are not simulated), with ``claims`` (the pod
template's ``persistentVolumeClaim`` volumes) and Flux's ownership labels. ``kubectl scale`` sets
``replicas``; the status follows after ``SETTLE_SECONDS`` (pods terminating / starting).
``kubectl delete pvc`` waits while a workload still runs that mounts it (the
``kubernetes.io/pvc-protection`` finalizer); ``kubectl create -f`` makes a PVC, and one whose
``dataSourceRef`` is a ReplicationDestination is Bound ``POPULATE_SECONDS`` after both it exists and
its destination has a ``latestImage`` (the volume populator). A destination patched with a new
``trigger.manual`` restores again, honouring ``restoreAsOf``/``previous`` in its mover's spec; a
``restoreAsOf`` older than ``KEPT_SECONDS`` finds no snapshot and "succeeds" empty, as restic does.

Faults (registered in ``homeops.sim.faults``, applied here):

``volsync-stale`` (target: app ``ns/name`` or ``name``; ``seconds``, default two days)  the source's
    mover has failed for that long: ``lastSyncTime`` stays at the last success before, and
    ``latestMoverStatus.result`` is ``Failed``.
``volsync-mover-fails`` (target: a source or destination ``ns/name`` or ``name``)  from now on its mover's
    pods fail: the sync running (or the next one) never ends. As in VolSync (restic ``mover.go:355``,
    ``:610-617``, v0.16.0) the job ``volsync-src-<name>``/``volsync-dst-<name>`` counts ``status.failed``
    up to its ``backoffLimit`` of 8 (one pod failure every ``POD_FAIL_SECONDS``); then VolSync writes
    ``latestMoverStatus {result: Failed, logs}``, deletes the job and creates it again, and the
    ``Synchronizing`` condition stays ``SyncInProgress``. ``volsync-stale`` is the same failure, begun
    ``seconds`` ago.
``cnpg-never-healthy`` (target: cluster ``ns/name`` or ``name``)  its restore job fails: the phase
    stays ``Setting up primary`` (a failing restore does not change it) and ``Ready`` is False.
"""

from __future__ import annotations

import calendar
import json
import math
import time
from typing import Any

from homeops.errors import SimError
from homeops.sim import engine
from homeops.sim.tools._base import Fail, Flag

State = dict[str, Any]
Obj = dict[str, Any]

FAULTS = ("volsync-stale", "volsync-mover-fails", "cnpg-never-healthy")

# kubectl resource aliases → (plural, kind, namespaced, apiVersion), merged into the fake kubectl's TYPES
TYPES: dict[str, tuple[str, str, bool, str]] = {}
for _aliases, _info in (
    (
        ("replicationsources", "replicationsource", "replicationsources.volsync.backube"),
        ("replicationsources", "ReplicationSource", True, "volsync.backube/v1alpha1"),
    ),
    (
        ("replicationdestinations", "replicationdestination", "replicationdestinations.volsync.backube"),
        ("replicationdestinations", "ReplicationDestination", True, "volsync.backube/v1alpha1"),
    ),
    (
        ("persistentvolumeclaims", "persistentvolumeclaim", "pvc"),
        ("persistentvolumeclaims", "PersistentVolumeClaim", True, "v1"),
    ),
    (
        ("storageclasses", "storageclass", "sc", "storageclasses.storage.k8s.io"),
        ("storageclasses", "StorageClass", False, "storage.k8s.io/v1"),
    ),
    (
        ("persistentvolumes", "persistentvolume", "pv"),
        ("persistentvolumes", "PersistentVolume", False, "v1"),
    ),
    (
        ("backups.postgresql.cnpg.io", "backup.postgresql.cnpg.io"),
        ("backups.postgresql.cnpg.io", "Backup", True, "postgresql.cnpg.io/v1"),
    ),
    (("jobs", "job", "jobs.batch"), ("jobs", "Job", True, "batch/v1")),
    (
        ("volumesnapshotclasses", "volumesnapshotclass", "vsclass", "volumesnapshotclasses.snapshot.storage.k8s.io"),
        ("volumesnapshotclasses", "VolumeSnapshotClass", False, "snapshot.storage.k8s.io/v1"),
    ),
    (
        ("volumesnapshots", "volumesnapshot", "vs", "volumesnapshots.snapshot.storage.k8s.io"),
        ("volumesnapshots", "VolumeSnapshot", True, "snapshot.storage.k8s.io/v1"),
    ),
    (
        ("scaledobjects", "scaledobject", "so", "scaledobjects.keda.sh"),
        ("scaledobjects", "ScaledObject", True, "keda.sh/v1alpha1"),
    ),
    (
        ("clusters.postgresql.cnpg.io", "cluster.postgresql.cnpg.io", "clusters.postgresql.cnpg.io/v1"),
        ("clusters.postgresql.cnpg.io", "Cluster", True, "postgresql.cnpg.io/v1"),
    ),
):
    for _alias in _aliases:
        TYPES[_alias] = _info
PLURALS = frozenset(info[0] for info in TYPES.values())

HEALTHY = "Cluster in healthy state"
#: FluxInstance Ready → the apps' objects exist: flux-operator's generated Kustomizations carry no wait or
#: health checks (flux-operator ``templates.go:413-466``), the apps Kustomization applies a while later.
APPS_SECONDS = 40.0
#: StorageClass → (provisioner, volumeBindingMode). Where its volumes live decides what a wipe or an etcd
#: restore leaves; a WaitForFirstConsumer class binds only once a pod using the claim is scheduled
#: (volsync volumepopulator_controller.go:305-314 then waits for the selected-node annotation).
STORAGE_CLASSES = {
    # OSDs on the nodes' data disks: survive a reset, not lost VMs
    "ceph-block": ("rook-ceph.rbd.csi.ceph.com", "Immediate"),
    # /var/openebs/local: EPHEMERAL, gone with a reset of its node
    "openebs-hostpath": ("openebs.io/local", "WaitForFirstConsumer"),
    "local-path": ("rancher.io/local-path", "WaitForFirstConsumer"),
    "nfs-client": ("cluster.local/nfs-subdir-external-provisioner", "Immediate"),  # on the NAS
}
LOCAL_PROVISIONERS = ("openebs.io/local", "rancher.io/local-path", "kubernetes.io/no-provisioner")
NAS_PROVISIONERS = ("cluster.local/nfs-subdir-external-provisioner", "nfs.csi.k8s.io")
POPULATED_FROM = "volsync.backube/populated-from"
SETTLE_SECONDS = 15.0
POPULATE_SECONDS = 20.0
POD_FAIL_SECONDS = 60.0  # a failing mover pod: start, fail, back off
BACKOFF_LIMIT = 8  # restic mover.go:355 (v0.16.0): the mover job's spec.backoffLimit
SELECTED_NODE = "volume.kubernetes.io/selected-node"
# CSI snapshot classes by driver: rook-ceph's RBD driver can snapshot, the host-path provisioner cannot
SNAPSHOT_CLASSES = {"csi-ceph-blockpool": "rook-ceph.rbd.csi.ceph.com"}
SNAPSHOT_SECONDS = 10.0  # a VolumeSnapshot's readyToUse after creation
# KEDA (``apps.scaled_objects``: {namespace, name, target_kind, target_name, min_replicas, annotations}):
# every POLL_SECONDS it scales a target at 0 replicas back to minReplicaCount (a plain HPA does not: it
# is disabled at 0, kubernetes pkg/controller/podautoscaler/horizontal.go "ScalingDisabled"), unless the
# annotation PAUSED_REPLICAS holds it at that count (keda.sh "Pausing autoscaling").
KEDA_POLL_SECONDS = 30.0
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
KEPT_SECONDS = 30 * 86400.0  # how far back the simulated restic repository has snapshots
MOVERS = ("restic", "kopia", "rclone", "rsync", "rsyncTLS")
_KS_LABELS = {
    "kustomize.toolkit.fluxcd.io/name": "cluster-apps",
    "kustomize.toolkit.fluxcd.io/namespace": "flux-system",
}

# The example's data apps (home-ops style: source <app>, destination <app>-dst restoring once on creation).
_APPS = (("default", "immich-data"), ("default", "paperless-data"))
_POSTGRES = (("default", "immich-postgres"),)


def seed(state: State) -> None:
    state["apps"] = {
        "sources": [
            {
                "namespace": ns,
                "name": name,
                "pvc": name,
                "period": 3600.0,  # schedule "0 * * * *"
                "duration": 45.0,
                "manual": None,
                "last_manual_sync": None,
                "manual_started": None,
                "last_success": None,  # a manual sync's end, kept when the trigger is removed
                "stale_since": None,
            }
            for ns, name in _APPS
        ],
        "destinations": [
            {
                "namespace": ns,
                "name": f"{name}-dst",
                "pvc": name,
                "manual": "restore-once",
                "copy_method": "Snapshot",
                "duration": 120.0,
                "restore_started": None,
            }
            for ns, name in _APPS
        ],
        "claims": [
            {"namespace": ns, "name": name, "destination": f"{name}-dst", "labels": dict(_KS_LABELS)}
            for ns, name in _APPS
        ],
        "postgres": [
            {
                "namespace": ns,
                "name": name,
                "instances": 3,
                "source": "origin",
                "server_name": f"{name}-v2",
                "backup_server_name": f"{name}-v3",  # where it archives now; a rebuild recovers from -v2
                "restore_started": None,
                "setup_seconds": 90.0,
                "activate_seconds": 30.0,
                "replica_seconds": 60.0,
            }
            for ns, name in _POSTGRES
        ],
    }
    apps = state["apps"]
    t0 = float(state["clock"]["origin"])
    apps["volumes"] = {f"{ns}/{name}": {"data": f"seed:{ns}/{name}"} for ns, name in _APPS}
    # the backup repositories (on the NAS), as an hourly schedule with a restic retain policy leaves them:
    # the oldest kept snapshot and the last 24 hourly ones (what `--previous N` counts back through)
    last_hour = math.floor(t0 / 3600.0) * 3600.0
    apps["repos"] = {
        f"{ns}/{name}": [[t0 - KEPT_SECONDS, f"seed:{ns}/{name}"]]
        + [[last_hour - 3600.0 * h, f"seed:{ns}/{name}"] for h in range(23, -1, -1)]
        for ns, name in _APPS
    }
    apps["databases"] = {f"{ns}/{name}": f"seed:{ns}/{name}" for ns, name in _POSTGRES}
    apps["archives"] = {f"{ns}/{name}-v2": f"seed:{ns}/{name}" for ns, name in _POSTGRES}  # barman, by serverName
    for claim in apps["claims"]:
        claim["populated"] = t0 - 86400.0
    for source in apps["sources"]:
        source["tick_seen"] = t0  # the schedule's ticks from here on back up what the volume holds
    k8s = state.setdefault("k8s", {})
    for d in k8s.get("deployments", []):
        if (d["namespace"], d["name"]) == ("default", "immich-server"):  # the immich chart's server
            d["claims"] = ["immich-data"]
            d["labels"] = {
                "app.kubernetes.io/name": "immich",
                "helm.toolkit.fluxcd.io/name": "immich",
                "helm.toolkit.fluxcd.io/namespace": "default",
            }
    k8s.setdefault("statefulsets", []).append(
        {
            "namespace": "default",
            "name": "paperless",
            "replicas": 1,
            "ready_replicas": 1,
            "claims": ["paperless-data"],
            "labels": {"app.kubernetes.io/name": "paperless", **_KS_LABELS},
        }
    )


def begin_restores(state: State, at: float | None = None) -> None:
    """Every destination and every CNPG cluster restores from now on (a rebuilt cluster's apps came up)."""
    t = engine.now(state) if at is None else at
    apps = state.get("apps") or {}
    for record in [*apps.get("destinations", []), *apps.get("postgres", [])]:
        record["restore_started"] = t


def parse_time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return float(calendar.timegm(time.strptime(value.split(".")[0].rstrip("Z"), "%Y-%m-%dT%H:%M:%S")))
    except ValueError:
        return None


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _faulted(state: State, name: str, record: State) -> bool:
    full = f"{record['namespace']}/{record['name']}"
    return any(
        f.get("name") == name and f.get("target") in (None, full, record["name"]) for f in state.get("faults") or []
    )


# ── derived status ───────────────────────────────────────────────────────────────────────────────


def _failing_since(record: State) -> float | None:
    """Since when the mover's pods fail (``volsync-stale``/``volsync-mover-fails``), or None."""
    times = [float(x) for x in (record.get("stale_since"), record.get("failing_since")) if x is not None]
    return min(times) if times else None


def _job_failures(start: float, failing: float | None, t: float) -> tuple[int, bool]:
    """(the current job's ``status.failed``, whether VolSync has reported the mover ``Failed`` yet)."""
    if failing is None:
        return 0, False
    failed = max(0, math.floor((t - max(start, failing)) / POD_FAIL_SECONDS))
    return failed % BACKOFF_LIMIT, failed >= BACKOFF_LIMIT  # at the limit: status Failed, job recreated


FAILED_LOG = "Fatal: unable to open repository at s3:http://nas.home:9000/volsync: connection refused"


def _source_sync(record: State, t: float) -> tuple[float, str | None, float | None]:
    """(lastSyncTime, lastManualSync, start of the sync running now or None) at time ``t``."""
    period, duration = float(record["period"]), float(record["duration"])
    failing = _failing_since(record)
    manual, started = record.get("manual"), record.get("manual_started")
    # the schedule runs until a manual trigger takes over (VolSync: manual wins over schedule)
    horizon = min(x for x in (t, started, failing) if x is not None)
    last = max(math.floor(horizon / period) * period, float(record.get("last_success") or 0.0))
    last_manual = record.get("last_manual_sync")
    running: float | None = None
    if failing is not None:  # the first scheduled sync after the mover broke never ends
        tick = math.floor(failing / period) * period + period
        if tick <= t and (started is None or tick <= started):
            running = tick
    if manual and manual != last_manual and started is not None:
        if failing is not None and failing < started + duration:
            running = started if running is None else running  # joins a failing sync, or is one
        elif running is None and t >= started + duration:
            last, last_manual = started + duration, manual
        elif running is None:
            running = started
    return last, last_manual, running


def _source_status(record: State, t: float) -> tuple[Obj, float | None]:
    """(status, lastSyncTime) of a ReplicationSource at time ``t``."""
    period = float(record["period"])
    manual = record.get("manual")
    last, last_manual, running = _source_sync(record, t)
    status: Obj = {}
    failed = False
    if running is not None:
        reason, message, cond = "SyncInProgress", "Synchronization in-progress", "True"
        status["lastSyncStartTime"] = _rfc3339(running)
        failed = _job_failures(running, _failing_since(record), t)[1]
    elif manual:
        reason, message, cond = "WaitingForManual", "Synchronization skipped, waiting for manual trigger", "False"
    else:
        reason, message, cond = "WaitingForSchedule", "Waiting for next scheduled synchronization", "False"
        status["nextSyncTime"] = _rfc3339((math.floor(t / period) + 1) * period)
    status["conditions"] = [
        {
            "lastTransitionTime": _rfc3339(running if running is not None else last),
            "message": message,
            "reason": reason,
            "status": cond,
            "type": "Synchronizing",
        }
    ]
    status["lastSyncTime"] = _rfc3339(last)
    status["lastSyncDuration"] = f"{float(record['duration']):g}s"
    if last_manual:
        status["lastManualSync"] = last_manual
    if failed:
        status["latestMoverStatus"] = {"logs": FAILED_LOG, "result": "Failed"}
    else:
        status["latestMoverStatus"] = {"logs": "processed 1423 files, 2.104 GiB in 0:41", "result": "Successful"}
    return status, last


def created_at(state: State) -> float | None:
    """When the apps' objects appear in a (re)built cluster: ``APPS_SECONDS`` after its FluxInstance is
    Ready (never while it is not). ``None``: a cluster that was running all along (they exist)."""
    if "bootstrap" not in state:
        return None
    instance = (state.get("flux") or {}).get("instance") or {}
    if instance.get("ready_at") is None or any(f.get("name") == "flux-not-ready" for f in state.get("faults") or []):
        return math.inf
    return float(instance["ready_at"]) + float(state.get("config", {}).get("apps_seconds", APPS_SECONDS))


def visible(state: State, t: float | None = None) -> bool:
    at = created_at(state)
    return at is None or (engine.now(state) if t is None else t) >= at


def _restore_start(state: State, record: State) -> float | None:
    """When this restore began: ``begin_restores``, or the apps' objects being created in a (re)built
    cluster (a destination with ``trigger.manual: restore-once`` restores on creation)."""
    at = created_at(state)
    times = [float(x) for x in (record.get("restore_started"), at) if x is not None and x != math.inf]
    if at == math.inf:
        return None if record.get("restore_started") is None else float(record["restore_started"])
    return max(times) if times else None


def _destination_status(state: State, record: State, t: float) -> tuple[Obj, bool]:
    started = _restore_start(state, record)
    failing = _failing_since(record)
    fails = started is not None and failing is not None and failing < started + float(record["duration"])
    done = started is None or (not fails and t >= started + float(record["duration"]))
    finished = (started or 0.0) + float(record["duration"]) if started is not None else None
    status: Obj = {
        "conditions": [
            {
                "lastTransitionTime": _rfc3339(finished or t),
                "message": "Synchronization skipped, waiting for manual trigger"
                if done
                else "Synchronization in-progress",
                "reason": "WaitingForManual" if done else "SyncInProgress",
                "status": "False" if done else "True",
                "type": "Synchronizing",
            }
        ]
    }
    if done:
        status.update(
            lastManualSync=record["manual"],
            latestImage=_image(record, finished),
            latestMoverStatus={"logs": _restore_log(state, record), "result": "Successful"},
        )
        if finished is not None:
            status["lastSyncTime"] = _rfc3339(finished)
    else:
        status["lastSyncStartTime"] = _rfc3339(float(started or t))
        earlier = record.get("earlier")
        if earlier:  # VolSync keeps the last result until the new one replaces it
            status.update(lastManualSync=earlier["manual"], latestImage=_image(record, earlier["finished"]))
            if earlier["finished"] is not None:
                status["lastSyncTime"] = _rfc3339(earlier["finished"])
        if fails and _job_failures(float(started or t), failing, t)[1]:
            status["latestMoverStatus"] = {"logs": FAILED_LOG, "result": "Failed"}
    return status, done


def _direct(record: State) -> bool:
    """copyMethod Direct, or None, its deprecated name (volsync v0.16.0 common_types.go:44-51)."""
    return record.get("copy_method") in ("Direct", "None")


def _image(record: State, finished: float | None) -> Obj:
    if _direct(record):  # the destination PVC itself, not a snapshot
        return {"apiGroup": "", "kind": "PersistentVolumeClaim", "name": f"volsync-{record['name']}-dest"}
    stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(finished or 1_760_000_000))
    name = f"volsync-{record['name']}-dest-{stamp}"
    return {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": name}


def _source_of(state: State, record: State) -> State | None:
    """The ReplicationSource backing up the destination's PVC (its restic repository)."""
    apps = state.get("apps") or {}
    return next(
        (s for s in apps.get("sources", []) if s["namespace"] == record["namespace"] and s["pvc"] == record["pvc"]),
        None,
    )


def picked_snapshot(state: State, record: State) -> list[Any] | None:
    """The repository snapshot a restore of ``record`` picks: the newest at or before ``restoreAsOf`` (or its
    start), ``previous`` more back; ``None`` when there is none (restic: "No eligible snapshots")."""
    source = _source_of(state, record)
    repo = ((state.get("apps") or {}).get("repos") or {}).get(
        f"{record['namespace']}/{source['name'] if source else record['pvc']}", []
    )
    started = _restore_start(state, record)
    limit = parse_time(record.get("restore_as_of"))
    if limit is None:
        limit = started if started is not None else engine.now(state)
    eligible = sorted((s for s in repo if float(s[0]) <= limit), key=lambda s: float(s[0]))
    skip = int(record.get("previous") or 0)
    if len(eligible) <= skip:
        return None
    return list(eligible[-1 - skip])


def _restore_log(state: State, record: State) -> str:
    previous = int(record.get("previous") or 0)
    if picked_snapshot(state, record) is None:
        # restic exits 0 and the RD "succeeds" with an empty volume (cli-interfaces.md §11.4)
        return "No eligible snapshots found\n=== No data will be restored ==="
    picked = "4a1f0c2e"
    if record.get("restore_as_of"):
        picked = f"4a1f0c2e (newest at or before {record['restore_as_of']})"
    if previous:
        picked += f" ({previous} before the newest)"
    return f"restoring snapshot {picked} of [/data]\nrestore done"


def _claim_bound(state: State, claim: State, t: float) -> bool:
    if not claim.get("destination"):
        return True
    by_name = {(d["namespace"], d["name"]): d for d in (state.get("apps") or {}).get("destinations", [])}
    dst = by_name.get((claim["namespace"], claim["destination"]))
    if dst is None:
        return False  # VolSyncPopulatorReplicationDestinationMissing
    if _direct(dst) and claim.get("created_at") is not None:
        return False  # "latestImage is not a volumesnapshot" (volumepopulator_controller.go:353-361): never
    if not _destination_status(state, dst, t)[1]:
        return False
    created = claim.get("created_at")
    if created is None:
        created = created_at(state)  # a rebuilt cluster's app PVC is created with its destination
    if created is None:
        return True  # populated long ago
    finished = _restore_start(state, dst)
    populate = float(state.get("config", {}).get("populate_seconds", POPULATE_SECONDS))
    ready_at = max(float(created), float(finished or 0.0) + float(dst["duration"]))
    if waits_for_consumer(claim):
        scheduled = consumer_scheduled(state, claim)
        if scheduled is None:
            return False  # the populator waits for the selected-node annotation (no pod uses it yet)
        ready_at = max(ready_at, scheduled)
    return t >= ready_at + populate


def waits_for_consumer(claim: State) -> bool:
    """Its StorageClass binds only once a pod using it is scheduled (``WaitForFirstConsumer``)."""
    return STORAGE_CLASSES.get(str(claim.get("storage_class", "ceph-block")), ("", ""))[1] == "WaitForFirstConsumer"


def consumer_scheduled(state: State, claim: State) -> float | None:
    """When a pod mounting ``claim`` was scheduled (its workload scaled up), or None while none is."""
    times = [
        float(d.get("settles_at") or SETTLE_SECONDS) - SETTLE_SECONDS
        for _, d in _workloads(state)
        if d["namespace"] == claim["namespace"] and claim["name"] in d.get("claims", []) and int(d["replicas"]) > 0
    ]
    return min(times) if times else None


def claims_pending(state: State, d: State) -> bool:
    """A claim the workload mounts was recreated by ``kubectl create`` and is not Bound yet: its pods
    cannot start (they stay ContainerCreating), so none is ready."""
    t = engine.now(state)
    for claim in (state.get("apps") or {}).get("claims", []):
        if claim["namespace"] != d["namespace"] or claim["name"] not in d.get("claims", []):
            continue
        if claim.get("created_at") is not None and not claim.get("deleting") and not _claim_bound(state, claim, t):
            return True
    return False


def _postgres_phase(state: State, record: State, t: float) -> tuple[str, str]:
    started = _restore_start(state, record)
    name = record["name"]
    if _faulted(state, "cnpg-never-healthy", record):
        return "Setting up primary", f"Creating primary instance {name}-1"
    if started is None:
        return HEALTHY, ""
    if record.get("backup_server_name", name) == record["server_name"]:
        # it would archive into the backup it recovers from (cli-interfaces.md §12.1, cloudnative-pg#6470)
        return "Setting up primary", f"Creating primary instance {name}-1"
    archive = ((state.get("apps") or {}).get("archives") or {}).get(f"{record['namespace']}/{record['server_name']}")
    if archive is None:
        return "Setting up primary", f"Creating primary instance {name}-1"  # "no target backup found"
    elapsed = t - float(started)
    setup, activate = float(record["setup_seconds"]), float(record["activate_seconds"])
    if elapsed < setup:
        return "Setting up primary", f"Creating primary instance {name}-1"
    if elapsed < setup + activate:
        return "Waiting for the instances to become active", "Some instances are not yet active. Please wait."
    if elapsed < setup + activate + float(record["replica_seconds"]):
        return "Creating a new replica", f"Creating replica {name}-{record['instances']}-join"
    return HEALTHY, ""


# ── objects, in the API's shapes ──────────────────────────────────────────────────────────────────


def _meta(state: State, record: State, **extra: Any) -> Obj:
    at = created_at(state)
    born = record.get("created_at") or (at if at is not None else float(state["clock"]["origin"]) - 86400)
    meta: Obj = {
        "creationTimestamp": _rfc3339(float(born)),
        "generation": 1,
        "name": record["name"],
        "namespace": record["namespace"],
        "resourceVersion": str(state["etcd"]["revision"]),
        "uid": engine.new_id({"seed": f"{record['namespace']}/{record['name']}"}, "uid", 32),
    }
    meta.update(extra)
    return meta


def objects(state: State, plural: str) -> list[Obj]:
    apps = state.get("apps") or {}
    t = engine.now(state)
    out: list[Obj] = []
    if not visible(state, t):
        return out  # Flux has not applied the apps yet
    if plural == "backups.postgresql.cnpg.io":
        seconds = float(state.get("config", {}).get("pg_backup_seconds", 10.0))
        for b in apps.get("pg_backups", []):
            done = t >= float(b["started"]) + seconds
            progress: Obj = {"phase": "completed" if done else "running", "method": "plugin"}
            wanted: Obj = {"cluster": {"name": b["cluster"]}, "method": "plugin"}
            out.append(
                _obj(state, {**b, "created_at": b["started"]}, "Backup", "postgresql.cnpg.io/v1", wanted, progress)
            )
        return out
    if plural == "persistentvolumes":
        for c in apps.get("claims", []):
            if not _claim_bound(state, c, t):
                continue
            out.append(_volume(state, c))
        return out
    if plural == "replicationsources":
        for r in apps.get("sources", []):
            # both fields, as the app's manifest has them: a non-empty manual wins (cli-interfaces.md §11.2)
            trigger = {"schedule": "0 * * * *", **({"manual": r["manual"]} if r.get("manual") else {})}
            status, _ = _source_status(r, t)
            spec = {
                "restic": {"copyMethod": "Snapshot", "repository": f"{r['name']}-volsync-secret"},
                "sourcePVC": r["pvc"],
                "trigger": trigger,
            }
            if r.get("paused"):
                spec["paused"] = True
            out.append(_obj(state, r, "ReplicationSource", "volsync.backube/v1alpha1", spec, status))
    elif plural == "replicationdestinations":
        for r in apps.get("destinations", []):
            status, _ = _destination_status(state, r, t)
            mover: Obj = {"copyMethod": r["copy_method"], "repository": f"{r['pvc']}-volsync-secret"}
            if r.get("restore_as_of"):
                mover["restoreAsOf"] = r["restore_as_of"]
            if r.get("previous") is not None:
                mover["previous"] = r["previous"]
            if r.get("enable_file_deletion"):
                mover["enableFileDeletion"] = True
            spec = {"restic": mover, "trigger": {"manual": r["manual"]}}
            labels = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
            out.append(_obj(state, r, "ReplicationDestination", "volsync.backube/v1alpha1", spec, status, labels))
    elif plural == "persistentvolumeclaims":
        for c in apps.get("claims", []):
            if c.get("deleting") and not in_use(state, c["namespace"], c["name"]):
                continue  # the pvc-protection finalizer is gone: so is the claim
            bound = _claim_bound(state, c, t)
            claim_spec: Obj = {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": c.get("storage", "10Gi")}},
                "storageClassName": c.get("storage_class", "ceph-block"),
                "volumeMode": "Filesystem",
            }
            if c.get("destination"):
                ref = {"apiGroup": "volsync.backube", "kind": "ReplicationDestination", "name": c["destination"]}
                claim_spec.update(dataSource=ref, dataSourceRef=ref)
            status = {"phase": "Bound" if bound else "Pending"}
            extra: Obj = {"finalizers": ["kubernetes.io/pvc-protection"]}
            if c.get("labels"):
                extra["labels"] = c["labels"]
            if c.get("uid"):
                extra["uid"] = c["uid"]
            if c.get("deleting"):
                extra["deletionTimestamp"] = _rfc3339(float(c["deleting"]))
            annotations: Obj = {}
            if waits_for_consumer(c) and consumer_scheduled(state, c) is not None:
                annotations[SELECTED_NODE] = _consumer_node(state, c)
            if annotations:
                extra["annotations"] = annotations
            if bound:
                status.update(accessModes=["ReadWriteOnce"], capacity={"storage": c.get("storage", "10Gi")})
            out.append(_obj(state, c, "PersistentVolumeClaim", "v1", claim_spec, status, None, extra))
    elif plural == "storageclasses":
        for name, (provisioner, binding) in STORAGE_CLASSES.items():
            meta = {"name": name, "resourceVersion": "1", "uid": engine.new_id({"seed": name}, "uid", 32)}
            out.append(
                {
                    "apiVersion": "storage.k8s.io/v1",
                    "kind": "StorageClass",
                    "metadata": meta,
                    "provisioner": provisioner,
                    "reclaimPolicy": "Delete",
                    "volumeBindingMode": binding,
                }
            )
    elif plural == "jobs":
        out.extend(_mover_jobs(state, t))
    elif plural == "volumesnapshotclasses":
        for name, driver in SNAPSHOT_CLASSES.items():
            class_meta: Obj = {
                "annotations": {"snapshot.storage.kubernetes.io/is-default-class": "true"},
                "name": name,
                "uid": engine.new_id({"seed": name}, "uid", 32),
            }
            out.append(
                {
                    "apiVersion": "snapshot.storage.k8s.io/v1",
                    "deletionPolicy": "Delete",
                    "driver": driver,
                    "kind": "VolumeSnapshotClass",
                    "metadata": class_meta,
                }
            )
    elif plural == "volumesnapshots":
        for snap in apps.get("snapshots", []):
            spec = {
                "source": {"persistentVolumeClaimName": snap["pvc"]},
                "volumeSnapshotClassName": snap["class"],
            }
            ready = t >= float(snap["created_at"]) + SNAPSHOT_SECONDS
            snap_status: Obj = {"readyToUse": ready}
            if ready:
                snap_status.update(creationTime=_rfc3339(float(snap["created_at"])), restoreSize=snap["size"])
            out.append(_obj(state, snap, "VolumeSnapshot", "snapshot.storage.k8s.io/v1", spec, snap_status))
    elif plural == "scaledobjects":
        for so in apps.get("scaled_objects", []):
            spec = {
                "minReplicaCount": int(so.get("min_replicas") or 1),
                "scaleTargetRef": {"kind": so["target_kind"], "name": so["target_name"]},
            }
            paused = PAUSED_REPLICAS in (so.get("annotations") or {})
            status = {
                "conditions": [
                    {"status": "True", "type": "Ready"},
                    {"status": "True" if paused else "False", "type": "Paused"},
                ],
                "scaleTargetKind": f"apps/v1.{so['target_kind']}",
            }
            notes = {"annotations": dict(so["annotations"])} if so.get("annotations") else None
            out.append(_obj(state, so, "ScaledObject", "keda.sh/v1alpha1", spec, status, None, notes))
    elif plural == "clusters.postgresql.cnpg.io":
        for p in apps.get("postgres", []):
            phase, reason = _postgres_phase(state, p, t)
            healthy = phase == HEALTHY
            status = {
                "conditions": [
                    {
                        "lastTransitionTime": _rfc3339(t),
                        "message": "Cluster is Ready" if healthy else "Cluster Is Not Ready",
                        "reason": "ClusterIsReady" if healthy else "ClusterIsNotReady",
                        "status": "True" if healthy else "False",
                        "type": "Ready",
                    }
                ],
                "instances": p["instances"],
                "phase": phase,
                "readyInstances": p["instances"] if healthy else 0,
            }
            if reason:
                status["phaseReason"] = reason
            if healthy:
                status["currentPrimary"] = f"{p['name']}-1"
            status["targetPrimary"] = f"{p['name']}-1"
            spec = {
                "bootstrap": {"recovery": {"source": p["source"]}},
                "externalClusters": [
                    {
                        "name": p["source"],
                        "plugin": {
                            "name": "barman-cloud.cloudnative-pg.io",
                            "parameters": {"barmanObjectName": "garage", "serverName": p["server_name"]},
                        },
                    }
                ],
                "instances": p["instances"],
                "plugins": [
                    {
                        "isWALArchiver": True,
                        "name": "barman-cloud.cloudnative-pg.io",
                        "parameters": {
                            "barmanObjectName": "garage",
                            "serverName": p.get("archive_to") or p.get("backup_server_name") or p["name"],
                        },
                    }
                ],
            }
            out.append(_obj(state, p, "Cluster", "postgresql.cnpg.io/v1", spec, status))
    return out


def claim_key(claim: State) -> str:
    return f"{claim['namespace']}/{claim['name']}"


def _volume(state: State, claim: State) -> Obj:
    """The PV bound to ``claim``: its class, where it lives, and (populated by VolSync) ``populated-from``."""
    uid = claim.get("uid") or engine.new_id({"seed": claim_key(claim)}, "uid", 32)
    name = f"pvc-{uid[:8]}-{uid[8:12]}-{uid[12:16]}-{uid[16:20]}-{uid[20:32]}"
    cls = claim.get("storage_class", "ceph-block")
    provisioner = STORAGE_CLASSES.get(cls, (cls, ""))[0]
    spec: Obj = {
        "accessModes": ["ReadWriteOnce"],
        "capacity": {"storage": claim.get("storage", "10Gi")},
        "claimRef": {"kind": "PersistentVolumeClaim", "namespace": claim["namespace"], "name": claim["name"]},
        "persistentVolumeReclaimPolicy": "Delete",
        "storageClassName": cls,
        "volumeMode": "Filesystem",
    }
    if provisioner in LOCAL_PROVISIONERS:
        node = claim.get("node") or "k8s-3"
        spec["local"] = {"path": f"/var/openebs/local/{name}"}
        term = {"matchExpressions": [{"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}]}
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [term]}}
    else:
        spec["csi"] = {"driver": provisioner, "volumeHandle": f"0001-{uid[:12]}"}
    annotations = {"pv.kubernetes.io/provisioned-by": provisioner}
    if claim.get("destination"):
        # VolSync's populator writes it on the PV it hands over (not on the PVC)
        annotations[POPULATED_FROM] = f"{claim['namespace']}/vs-prime-{uid[:8]}"
    meta = {
        "annotations": annotations,
        "creationTimestamp": _rfc3339(float(claim.get("populated") or engine.now(state))),
        "name": name,
        "resourceVersion": str(state["etcd"]["revision"]),
    }
    pv: Obj = _sorted({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": meta, "spec": spec,
                       "status": {"phase": "Bound"}})  # fmt: skip
    return pv


def _consumer_node(state: State, claim: State) -> str:
    pods = [
        p
        for p in (state.get("k8s") or {}).get("pods", [])
        if p["namespace"] == claim["namespace"]
        and any(
            p["owner"] == f"Deployment/{d['name']}" and claim["name"] in d.get("claims", [])
            for k, d in _workloads(state)
            if k == "Deployment"
        )
    ]
    return str(pods[0]["node"]) if pods else sorted((state.get("k8s") or {}).get("nodes") or {"": 0})[0]


def _mover_jobs(state: State, t: float) -> list[Obj]:
    """The mover Job of each sync running now (``volsync-src-<rs>``, ``volsync-dst-<rd>``; mover.go:339)."""
    apps = state.get("apps") or {}
    running: list[tuple[State, str, float]] = []
    for r in apps.get("sources", []):
        start = _source_sync(r, t)[2]
        if start is not None:
            running.append((r, "src", start))
    for r in apps.get("destinations", []):
        if not _destination_status(state, r, t)[1]:
            running.append((r, "dst", float(_restore_start(state, r) or t)))
    out = []
    for record, way, start in running:
        failed, _ = _job_failures(start, _failing_since(record), t)
        job = {"namespace": record["namespace"], "name": f"volsync-{way}-{record['name']}"}
        spec = {"backoffLimit": BACKOFF_LIMIT, "completions": 1, "parallelism": 1}
        job_status: Obj = {"active": 1, "startTime": _rfc3339(start)}
        if failed:
            job_status["failed"] = failed
        labels = {"app.kubernetes.io/created-by": "volsync"}
        out.append(_obj(state, job, "Job", "batch/v1", spec, job_status, labels))
    return out


def _obj(
    state: State,
    record: State,
    kind: str,
    api: str,
    spec: Obj,
    status: Obj,
    labels: dict[str, str] | None = None,
    extra: Obj | None = None,
) -> Obj:
    meta = _meta(state, record, **({"labels": labels} if labels else {}), **(extra or {}))
    # custom resources reach kubectl as unstructured JSON maps, which Go encodes with sorted keys
    obj: Obj = _sorted({"apiVersion": api, "kind": kind, "metadata": meta, "spec": spec, "status": status})
    return obj


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


# ── kubectl patch (merge) ────────────────────────────────────────────────────────────────────────

PATCH_FLAGS = [
    Flag("type", None, "str", "strategic"),
    Flag("patch", "p", "str", ""),
    Flag("dry-run", None, "str", "none"),
    Flag("output", "o", "str", ""),
]


def cmd_patch(inv: Any, o: dict[str, Any], args: list[str]) -> None:
    """``kubectl patch TYPE NAME -n NS --type merge -p JSON``: the trigger fields of VolSync objects."""
    if "/" in (args[0] if args else ""):
        args = [*args[0].split("/", 1), *args[1:]]
    if len(args) != 2:
        raise Fail("error: resource(s) were provided, but no name was specified" if len(args) == 1 else "error: ")
    rtype, name = args
    info = TYPES.get(rtype.lower())
    if info is None:
        raise Fail(f'error: the server doesn\'t have a resource type "{rtype}"')
    plural, kind, _, api = info
    group = api.split("/")[0] if "/" in api else ""
    label = f"{kind.lower()}.{group}" if group else kind.lower()
    if not o["patch"]:
        raise Fail("error: must specify --patch or --patch-file containing the contents of the patch")
    if o["type"] not in ("json", "merge", "strategic"):
        raise Fail(f'error: --type must be one of [json merge strategic], not "{o["type"]}"')
    if o["type"] == "strategic" and group:
        raise Fail(
            "Error from server (UnsupportedMediaType): the body of the request was in an unknown format - "
            "accepted media types include: application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml"
        )
    try:
        body = json.loads(o["patch"])
    except ValueError as exc:
        raise Fail(f'error: unable to parse "{o["patch"]}": {exc}') from None
    namespace = o["namespace"] or "default"
    with inv.store.transaction() as state:
        engine.advance(state)
        if not engine.api_up(state):
            vip = state["cluster"]["vip"]
            raise Fail(f"Unable to connect to the server: dial tcp {vip}:6443: connect: no route to host")
        section = {
            "replicationsources": "sources",
            "replicationdestinations": "destinations",
            "scaledobjects": "scaled_objects",
        }.get(plural)
        records = (state.get("apps") or {}).get(section or "", []) if visible(state) else []
        record = next((r for r in records if r["namespace"] == namespace and r["name"] == name), None)
        if record is None:
            raise Fail(f'Error from server (NotFound): {plural}.{group} "{name}" not found')
        if plural == "scaledobjects":
            changed = _apply_annotations(record, body)
            if changed:
                record["changed_at"] = engine.now(state)
            autoscale(state)
        else:
            changed = _apply_trigger(state, plural, record, body)
    inv.print(f"{label}/{name} patched" + ("" if changed else " (no change)"))


def _apply_annotations(record: State, body: Any) -> bool:
    """A merge patch of ``metadata.annotations`` (``null`` removes one)."""
    wanted = ((body or {}).get("metadata") or {}).get("annotations") if isinstance(body, dict) else None
    if not isinstance(wanted, dict):
        return False
    annotations = dict(record.get("annotations") or {})
    for key, value in wanted.items():
        if value is None:
            annotations.pop(key, None)
        else:
            annotations[key] = str(value)
    changed = annotations != (record.get("annotations") or {})
    record["annotations"] = annotations
    return changed


def _apply_trigger(state: State, plural: str, record: State, body: Any) -> bool:
    spec = ((body or {}).get("spec") or {}) if isinstance(body, dict) else {}
    paused = spec.get("paused") if isinstance(spec, dict) else None
    if plural == "replicationsources" and isinstance(paused, bool) and "trigger" not in spec:
        changed = bool(record.get("paused")) != paused  # VolSync spec.paused: no sync starts while set
        record["paused"] = paused
        return changed
    trigger = ((body or {}).get("spec") or {}).get("trigger") if isinstance(body, dict) else None
    if not isinstance(trigger, dict) or "manual" not in trigger:
        return False  # other fields are accepted and not simulated
    manual = trigger["manual"]
    t = engine.now(state)
    if plural == "replicationsources":
        if (manual or None) == record.get("manual"):
            return False
        if record.get("manual"):  # settle the current trigger: its sync may have finished
            status, last = _source_status(record, t)
            record["last_manual_sync"] = status.get("lastManualSync")
            record["last_success"] = last
        record["manual"] = manual or None
        record["manual_started"] = t if manual else None  # no trigger: back on the schedule
        return True
    changed = False
    mover: Obj = next((body["spec"][m] for m in MOVERS if isinstance(body["spec"].get(m), dict)), {})
    for field, key in (("restoreAsOf", "restore_as_of"), ("previous", "previous")):
        if field in mover and mover[field] != record.get(key):
            record[key] = mover[field]
            changed = True
    if manual == record.get("manual"):
        return changed
    status, done = _destination_status(state, record, t)
    if done:
        finished = parse_time(status.get("lastSyncTime"))
        record["earlier"] = {"manual": record.get("manual"), "finished": finished}
    record["manual"] = manual
    record["restore_started"] = t
    return True


# ── kubectl scale / delete / create ──────────────────────────────────────────────────────────────


def autoscale(state: State) -> None:
    """What KEDA has done by now to the targets of the ScaledObjects (see ``KEDA_POLL_SECONDS``)."""
    objects = (state.get("apps") or {}).get("scaled_objects") or []
    if not objects:
        return
    k8s = state.get("k8s") or {}
    t = engine.now(state)
    for so in objects:
        section = {"Deployment": "deployments", "StatefulSet": "statefulsets"}.get(so.get("target_kind", ""), "")
        target = next(
            (d for d in k8s.get(section, []) if d["namespace"] == so["namespace"] and d["name"] == so["target_name"]),
            None,
        )
        if target is None:
            continue
        paused = (so.get("annotations") or {}).get(PAUSED_REPLICAS)
        if paused is not None:
            if int(target["replicas"]) != int(paused):
                _scale(state, so["target_kind"], target, int(paused))
            continue
        since = float(target.get("settles_at") or 0.0) - SETTLE_SECONDS
        # KEDA's next poll after the target reached 0, or after it was unpaused
        at = max(since, float(so.get("changed_at") or 0.0)) + KEDA_POLL_SECONDS
        if int(target["replicas"]) == 0 and t >= at:
            _scale(state, so["target_kind"], target, int(so.get("min_replicas") or 1))
            target["settles_at"] = at + SETTLE_SECONDS  # it happened then, whenever the sim looks


def _workloads(state: State) -> list[tuple[str, State]]:
    autoscale(state)
    k8s = state.get("k8s") or {}
    return [("Deployment", d) for d in k8s.get("deployments", [])] + [
        ("StatefulSet", d) for d in k8s.get("statefulsets", [])
    ]


def current_replicas(state: State, d: State) -> int:
    """Pods that exist: the old count while scaling settles."""
    if d.get("settles_at") is not None and engine.now(state) < float(d["settles_at"]):
        return int(d.get("replicas_before") or 0)
    return int(d["replicas"])


def ready_replicas(state: State, d: State) -> int:
    if int(d["replicas"]) > 0 and claims_pending(state, d):
        return 0
    if d.get("settles_at") is not None and engine.now(state) < float(d["settles_at"]):
        before = int(d.get("ready_before") or 0)
        return min(before, int(d["replicas"])) if d["replicas"] else before
    return int(d["ready_replicas"])


def in_use(state: State, namespace: str, claim: str) -> bool:
    """A pod of some workload still mounts the claim (scaling to 0 frees it once the pods are gone)."""
    return any(
        d["namespace"] == namespace and claim in d.get("claims", []) and current_replicas(state, d) > 0
        for _, d in _workloads(state)
    )


def _api_or_fail(state: State) -> None:
    if not engine.api_up(state):
        vip = state["cluster"]["vip"]
        raise Fail(f"Unable to connect to the server: dial tcp {vip}:6443: connect: no route to host")


def _one_target(args: list[str], verb: str) -> tuple[str, str]:
    if args and "/" in args[0]:
        args = [*args[0].split("/", 1), *args[1:]]
    if len(args) != 2:
        raise Fail(
            "error: resource(s) were provided, but no name was specified"
            if len(args) == 1
            else f"error: the homeops simulator takes one TYPE NAME for kubectl {verb}"
        )
    return args[0], args[1]


def cmd_scale(inv: Any, o: dict[str, Any], args: list[str], types: dict[str, tuple[str, str, bool, str]]) -> None:
    """``kubectl scale deployment/NAME --replicas=N``: ``deployment.apps/NAME scaled`` (also when unchanged)."""
    if o["replicas"] < 0:
        raise Fail('error: required flag(s) "replicas" not set')
    rtype, name = _one_target(args, "scale")
    info = types.get(rtype.lower())
    if info is None or info[0] not in ("deployments", "statefulsets"):
        raise Fail(f'error: the server doesn\'t have a resource type "{rtype}"')
    plural, kind = info[0], info[1]
    namespace = o["namespace"] or "default"
    with inv.store.transaction() as state:
        engine.advance(state)
        _api_or_fail(state)
        record = next(
            (d for k, d in _workloads(state) if k == kind and d["namespace"] == namespace and d["name"] == name), None
        )
        if record is None:
            raise Fail(f'Error from server (NotFound): {plural}.apps "{name}" not found')
        if o["current-replicas"] >= 0 and o["current-replicas"] != record["replicas"]:
            raise Fail(f"error: Expected replicas to be {o['current-replicas']}, was {record['replicas']}")
        if o["dry-run"] in ("none", ""):
            _scale(state, kind, record, int(o["replicas"]))
    inv.print(f"{kind.lower()}.apps/{name} scaled" + (" (dry run)" if o["dry-run"] not in ("none", "") else ""))


def _scale(state: State, kind: str, record: State, replicas: int) -> None:
    from homeops.sim.state import new_pod_name

    t = engine.now(state)
    if replicas == record["replicas"]:
        return
    record["replicas_before"] = current_replicas(state, record)
    record["ready_before"] = ready_replicas(state, record)
    record["settles_at"] = t + SETTLE_SECONDS
    record["replicas"] = replicas
    record["ready_replicas"] = replicas
    record["generation"] = int(record.get("generation", 1)) + 1
    if kind != "Deployment":
        return  # StatefulSet pods are not simulated
    owner = f"Deployment/{record['name']}"
    pods = state["k8s"]["pods"]
    mine = [p for p in pods if p["owner"] == owner and p["namespace"] == record["namespace"]]
    for pod in mine[replicas:]:
        pods.remove(pod)
    nodes = sorted(h for h, k in state["k8s"]["nodes"].items() if not k.get("unschedulable"))
    for i in range(len(mine), replicas):
        pods.append(
            {
                "namespace": record["namespace"],
                "name": new_pod_name(state, owner),
                "node": nodes[i % len(nodes)] if nodes else "",
                "owner": owner,
                "ready": True,
            }
        )


def cmd_delete(inv: Any, o: dict[str, Any], args: list[str], types: dict[str, tuple[str, str, bool, str]]) -> None:
    """``kubectl delete pvc NAME``: waits (``--wait``, up to ``--timeout``) while a pod still mounts it."""
    rtype, name = _one_target(args, "delete")
    info = types.get(rtype.lower())
    if info is None:
        raise Fail(f'error: the server doesn\'t have a resource type "{rtype}"')
    if info[0] != "persistentvolumeclaims":
        raise Fail(f"error: the homeops simulator deletes only persistentvolumeclaims, not {info[0]}")
    namespace = o["namespace"] or "default"
    with inv.store.transaction() as state:
        engine.advance(state)
        _api_or_fail(state)
        claims = (state.get("apps") or {}).get("claims", [])
        record = next((c for c in claims if c["namespace"] == namespace and c["name"] == name), None)
        if record is not None and record.get("deleting") and not in_use(state, namespace, name):
            claims.remove(record)
            record = None
        if record is None:
            if o["ignore-not-found"]:
                return
            raise Fail(f'Error from server (NotFound): persistentvolumeclaims "{name}" not found')
        if o["dry-run"] not in ("none", ""):
            inv.print(f'persistentvolumeclaim "{name}" deleted from {namespace} namespace (dry run)')
            return
        record["deleting"] = engine.now(state)
    # kubectl ≥ 1.34 names the namespace (kubernetes/kubectl v0.34.0 pkg/cmd/delete/delete.go:509-511)
    inv.print(f'persistentvolumeclaim "{name}" deleted from {namespace} namespace')
    if not o["wait"]:
        return

    def gone(state: State) -> bool:
        if in_use(state, namespace, name):
            return False
        claims = (state.get("apps") or {}).get("claims", [])
        for c in [c for c in claims if c["namespace"] == namespace and c["name"] == name and c.get("deleting")]:
            claims.remove(c)
        return True

    timeout = float(o["timeout"]) if o["timeout"] else 3600.0
    if not inv.wait_until(gone, timeout):
        raise Fail(f"error: timed out waiting for the condition on persistentvolumeclaims/{name}")


def cmd_create(inv: Any, o: dict[str, Any], args: list[str], docs: list[Obj]) -> None:
    """``kubectl create -f FILE``: PersistentVolumeClaims (a ``dataSourceRef`` to a ReplicationDestination
    is populated by VolSync); ``AlreadyExists`` for a name that is taken, as the API server says."""
    where = o["filename"][0] if o["filename"] else "-"
    with inv.store.transaction() as state:
        engine.advance(state)
        _api_or_fail(state)
        claims = state.setdefault("apps", {}).setdefault("claims", [])
        for doc in docs:
            if doc.get("kind") == "Backup":
                _create_backup(inv, state, o, doc, where)
                continue
            if doc.get("kind") == "VolumeSnapshot":
                _create_snapshot(inv, state, o, doc, where)
                continue
            if doc.get("kind") != "PersistentVolumeClaim":
                raise Fail(
                    "error: the homeops simulator creates only PersistentVolumeClaims, Backups and VolumeSnapshots, "
                    f"not {doc.get('kind')}"
                )
            meta = doc.get("metadata") or {}
            name = str(meta.get("name", ""))
            namespace = str(meta.get("namespace") or o["namespace"] or "default")
            existing = next((c for c in claims if c["namespace"] == namespace and c["name"] == name), None)
            if existing is not None and existing.get("deleting") and not in_use(state, namespace, name):
                claims.remove(existing)
                existing = None
            if existing is not None:
                raise Fail(
                    f'Error from server (AlreadyExists): error when creating "{where}": '
                    f'persistentvolumeclaims "{name}" already exists'
                )
            spec = doc.get("spec") or {}
            ref = spec.get("dataSourceRef") or {}
            record: State = {
                "namespace": namespace,
                "name": name,
                "destination": ref.get("name") if ref.get("kind") == "ReplicationDestination" else None,
                "labels": dict(meta.get("labels") or {}),
                "uid": engine.new_id(state, "uid", 32),
                "created_at": engine.now(state),
                "storage": ((spec.get("resources") or {}).get("requests") or {}).get("storage", "10Gi"),
                "storage_class": spec.get("storageClassName") or "ceph-block",
            }
            if o["dry-run"] in ("none", ""):
                claims.append(record)
            inv.print(f"persistentvolumeclaim/{name} created")


def _create_backup(inv: Any, state: State, o: dict[str, Any], doc: Obj, where: str) -> None:
    """A CNPG on-demand Backup: the cluster's data to its object store (the archive) ``pg_backup_seconds`` later."""
    meta = doc.get("metadata") or {}
    name, namespace = str(meta.get("name", "")), str(meta.get("namespace") or o["namespace"] or "default")
    cluster = str(((doc.get("spec") or {}).get("cluster") or {}).get("name", ""))
    backups = state["apps"].setdefault("pg_backups", [])
    if any(b["namespace"] == namespace and b["name"] == name for b in backups):
        raise Fail(
            f'Error from server (AlreadyExists): error when creating "{where}": backups.postgresql.cnpg.io "{name}" '
            "already exists"
        )
    if o["dry-run"] in ("none", ""):
        backups.append({"namespace": namespace, "name": name, "cluster": cluster, "started": engine.now(state)})
        _archive(state)
    inv.print(f"backup.postgresql.cnpg.io/{name} created")


def _create_snapshot(inv: Any, state: State, o: dict[str, Any], doc: Obj, where: str) -> None:
    meta = doc.get("metadata") or {}
    name = str(meta.get("name", ""))
    namespace = str(meta.get("namespace") or o["namespace"] or "default")
    snapshots = state["apps"].setdefault("snapshots", [])
    if any(x["namespace"] == namespace and x["name"] == name for x in snapshots):
        raise Fail(
            f'Error from server (AlreadyExists): error when creating "{where}": '
            f'volumesnapshots.snapshot.storage.k8s.io "{name}" already exists'
        )
    spec = doc.get("spec") or {}
    pvc = str((spec.get("source") or {}).get("persistentVolumeClaimName", ""))
    claim = next((c for c in state["apps"]["claims"] if c["namespace"] == namespace and c["name"] == pvc), None)
    record = {
        "namespace": namespace,
        "name": name,
        "pvc": pvc,
        "class": spec.get("volumeSnapshotClassName") or "",
        "created_at": engine.now(state),
        "size": (claim or {}).get("storage", "10Gi"),
        "uid": engine.new_id(state, "uid", 32),
    }
    if o["dry-run"] in ("none", ""):
        snapshots.append(record)
    inv.print(f"volumesnapshot.snapshot.storage.k8s.io/{name} created")


# ── faults ───────────────────────────────────────────────────────────────────────────────────────


def check_target(state: State, fault: str, target: str | None) -> str | None:
    apps = state.get("apps") or {}
    records = {
        "volsync-stale": apps.get("sources", []),
        "volsync-mover-fails": [*apps.get("sources", []), *apps.get("destinations", [])],
    }.get(fault, apps.get("postgres", []))
    if target is None:
        return None
    for r in records:
        if target in (r["name"], f"{r['namespace']}/{r['name']}"):
            return f"{r['namespace']}/{r['name']}"
    what = {
        "volsync-stale": "VolSync ReplicationSource",
        "volsync-mover-fails": "VolSync ReplicationSource or ReplicationDestination",
    }.get(fault, "CloudNativePG cluster")
    known = ", ".join(f"{r['namespace']}/{r['name']}" for r in records) or "none"
    raise SimError(f"fault '{fault}': no simulated {what} '{target}'", hint=f"known: {known}")


def apply_fault(state: State, fault: State, *, on: bool) -> None:
    if fault["name"] == "volsync-mover-fails":
        apps = state.get("apps") or {}
        for r in [*apps.get("sources", []), *apps.get("destinations", [])]:
            if fault["target"] in (None, f"{r['namespace']}/{r['name']}"):
                r["failing_since"] = engine.now(state) if on else None
        return
    if fault["name"] != "volsync-stale":
        return  # cnpg-never-healthy is checked where the phase is derived
    # failing for a while already (default two days): dr.check must see an old lastSyncTime at once
    since = engine.now(state) - float((fault.get("params") or {}).get("seconds") or 2 * 86400)
    for r in (state.get("apps") or {}).get("sources", []):
        if fault["target"] in (None, f"{r['namespace']}/{r['name']}"):
            r["stale_since"] = since if on else None


# ── what lives where: volume contents, backup repositories, wipes, etcd ──────────────────────────
#
# Objects (sources, destinations, claims, clusters) live in etcd. What the volumes hold lives on their
# storage (``apps.volumes``: node-local disks, Ceph OSDs on the nodes' data disks, or the NAS), the
# restic repositories and the CNPG archives on the NAS (``apps.repos``, ``apps.archives``). An etcd restore
# brings back the objects with their old status and re-populates nothing; a wipe empties what lived on it.


def _provisioner(claim: State) -> str:
    cls = str(claim.get("storage_class", "ceph-block"))
    return STORAGE_CLASSES.get(cls, (cls, ""))[0]


def write_data(state: State, key: str, data: str) -> None:
    """A drill writes known data into a volume (``ns/claim``) or a database (``ns/cluster``)."""
    apps = state["apps"]
    if key in apps.get("volumes", {}):
        apps["volumes"][key]["data"] = data
    elif key in apps.get("databases", {}):
        apps["databases"][key] = data
        _archive(state)
    else:
        raise SimError(f"no simulated volume or database '{key}'")


def backup_now(state: State) -> None:
    """Every ReplicationSource's next scheduled run, now: its repository takes what the volume holds."""
    apps = state["apps"]
    t = engine.now(state)
    claims = {(c["namespace"], c["name"]): c for c in apps.get("claims", [])}
    for s in apps.get("sources", []):
        claim = claims.get((s["namespace"], s["pvc"]))
        if claim is not None:
            data = (apps["volumes"].get(claim_key(claim)) or {}).get("data")
            apps.setdefault("repos", {}).setdefault(f"{s['namespace']}/{s['name']}", []).append([t, data])
    _archive(state)


def read_data(state: State) -> dict[str, str | None]:
    """What each volume and database holds now (``None``: empty)."""
    apps = state.get("apps") or {}
    out: dict[str, str | None] = {k: v.get("data") for k, v in apps.get("volumes", {}).items()}
    out.update(apps.get("databases", {}))
    return out


def _archive(state: State) -> None:
    """CloudNativePG archives WAL continuously while it runs: the archive follows the database."""
    apps = state.get("apps") or {}
    if not engine.api_up(state) or not visible(state):
        return
    for p in apps.get("postgres", []):
        key = f"{p['namespace']}/{p['name']}"
        if p.get("restore_started") is not None and p.get("restored") is None and created_at(state) is not None:
            continue  # restoring: nothing to archive yet
        if key in apps.get("databases", {}):
            apps.setdefault("archives", {})[f"{p['namespace']}/{p.get('archive_to') or p['server_name']}"] = apps[
                "databases"
            ][key]


def cluster_gone(state: State) -> None:
    """Every node lost or wiped: the next cluster's apps are new objects, created by Flux, restoring once."""
    apps = state.get("apps")
    if not apps:
        return
    for record in apps.get("claims", []):
        record["incarnation"] = int(record.get("incarnation", 0)) + 1
        record["uid"] = engine.new_id({"seed": f"{claim_key(record)}#{record['incarnation']}"}, "uid", 32)
        for key in ("created_at", "populated", "deleting"):
            record.pop(key, None)
    for record in apps.get("destinations", []):
        record["manual"] = "restore-once"
        for key in ("restore_started", "earlier", "restore_as_of", "previous"):
            record.pop(key, None)
    for record in apps.get("sources", []):
        record.update(manual=None, last_manual_sync=None, manual_started=None, last_success=None, paused=False)
        for key in ("first_synced", "tick_seen", "repo_manual"):
            record.pop(key, None)
    for record in apps.get("postgres", []):
        record["restore_started"] = None
        record.pop("restored", None)
        record["archive_to"] = record.get("backup_server_name") or record["name"]


def wiped(state: State, hostname: str, labels: list[str]) -> None:
    """``talosctl reset``: node-local volumes go with the partition they live on — EPHEMERAL (hostpath in
    /var), or on a node with Talos user volumes the user volume (/var/mnt/<name>, partition u-<name>), which
    only a reset naming that label (or no label at all) wipes."""
    volumes = (state.get("nodes", {}).get(hostname) or {}).get("user_volumes") or []
    for claim in (state.get("apps") or {}).get("claims", []):
        if _provisioner(claim) in LOCAL_PROVISIONERS and (claim.get("node") or "k8s-3") == hostname:
            home = f"u-{_user_volume_of(claim, volumes)}" if volumes else "EPHEMERAL"
            if not labels or home in labels:
                state["apps"]["volumes"].setdefault(claim_key(claim), {})["data"] = None


def _user_volume_of(claim: State, volumes: list[str]) -> str:
    """The user volume a node-local claim lives on: the one its StorageClass names (local-hostpath for
    ``local-hostpath``/``openebs-hostpath`` with basePath /var/mnt/local-hostpath), else the node's first."""
    cls = str(claim.get("storage_class", ""))
    return next((v for v in volumes if v in cls), volumes[0])


def disk_lost(state: State, hostname: str) -> None:
    """A VM destroyed (its disks with it): node-local volumes on it, and Ceph's once every node is gone."""
    apps = state.get("apps")
    if not apps:
        return
    wiped(state, hostname, [])
    lost = apps.setdefault("lost_disks", [])
    if hostname not in lost:
        lost.append(hostname)
    if set(lost) >= set(state["nodes"]):
        for claim in apps.get("claims", []):
            if _provisioner(claim) not in NAS_PROVISIONERS:
                apps["volumes"].setdefault(claim_key(claim), {})["data"] = None
        for key in apps.get("databases", {}):
            apps["databases"][key] = None  # its instances' PVCs were on the nodes too


def nas_lost(state: State) -> None:
    """The NAS is gone: the restic repositories, the CNPG archives and every NFS volume with it."""
    apps = state.get("apps") or {}
    apps["repos"] = {k: [] for k in apps.get("repos", {})}
    apps["archives"] = {}
    for claim in apps.get("claims", []):
        if _provisioner(claim) in NAS_PROVISIONERS:
            apps["volumes"].setdefault(claim_key(claim), {})["data"] = None


ETCD_SECTIONS = ("sources", "destinations", "claims", "postgres")


def etcd_objects(state: State) -> dict[str, Any]:
    """The apps' objects as etcd holds them (what a snapshot carries): no volume contents."""
    apps = state.get("apps") or {}
    if not visible(state):
        return {}
    return {k: json.loads(json.dumps(apps.get(k, []))) for k in ETCD_SECTIONS}


def restore_from_etcd(state: State, objects: dict[str, Any]) -> None:
    """``bootstrap --recover-from``: the objects come back as they were, status included; nothing
    re-populates (the populator and the CNPG restore ran long ago), the volumes hold what their storage kept."""
    apps = state.get("apps")
    if apps is None or not objects:
        return
    for key in ETCD_SECTIONS:
        if key in objects:
            apps[key] = objects[key]


def derive(state: State, t: float) -> None:
    """What the controllers do as time passes: the populator fills a new PVC from its destination's
    snapshot, a CNPG restore brings back its archive, ReplicationSources back up (a new one at once,
    then on schedule) what the volume holds now — empty included."""
    apps = state.get("apps")
    if not apps or "volumes" not in apps or not visible(state, t):
        return
    volumes, repos = apps["volumes"], apps.setdefault("repos", {})
    destinations = {(d["namespace"], d["name"]): d for d in apps.get("destinations", [])}
    for claim in apps.get("claims", []):
        if claim.get("populated") is not None or not claim.get("destination"):
            continue
        dst = destinations.get((claim["namespace"], claim["destination"]))
        if dst is None or not _claim_bound(state, claim, t):
            continue
        snapshot = picked_snapshot(state, dst)
        volumes[claim_key(claim)] = {"data": snapshot[1] if snapshot else None}
        claim["populated"] = t
    for p in apps.get("postgres", []):
        key = f"{p['namespace']}/{p['name']}"
        if (
            p.get("restored") is None
            and _restore_start(state, p) is not None
            and _postgres_phase(state, p, t)[0] == HEALTHY
        ):
            apps.setdefault("databases", {})[key] = (apps.get("archives") or {}).get(
                f"{p['namespace']}/{p['server_name']}"
            )
            p["restored"] = t
    up = engine.api_up(state)
    claims = {(c["namespace"], c["name"]): c for c in apps.get("claims", [])}
    for s in apps.get("sources", []):
        claim = claims.get((s["namespace"], s["pvc"]))
        key = f"{s['namespace']}/{s['name']}"
        repo = repos.setdefault(key, [])
        last = float(s.get("tick_seen", t))
        s["tick_seen"] = t
        if not up or s.get("paused") or s.get("stale_since") is not None or claim is None:
            continue
        if claim.get("populated") is None and claim.get("destination"):
            continue  # a Pending PVC cannot be snapshotted: the mover waits
        data = (volumes.get(claim_key(claim)) or {}).get("data")
        if created_at(state) is not None and s.get("first_synced") is None:
            repo.append([t, data])  # a new object without lastSyncTime syncs at once (cli-interfaces.md §11.2)
            s["first_synced"] = t
        period = float(s["period"])
        if s.get("manual"):
            started = s.get("manual_started")
            if (
                started is not None
                and t >= float(started) + float(s["duration"])
                and s.get("repo_manual") != s["manual"]
            ):
                repo.append([float(started) + float(s["duration"]), data])
                s["repo_manual"] = s["manual"]
        else:
            first, end = math.floor(last / period) + 1, math.floor(t / period)
            for n in range(max(first, end - 47), end + 1):
                repo.append([n * period, data])
        if len(repo) > 200:
            del repo[1:-199]
    _archive(state)


def remember(state: State) -> None:
    """etcd at this revision holds these objects (the sim's snapshot files carry only the revision)."""
    history = state["etcd"].setdefault("history", {})
    history[str(state["etcd"]["revision"])] = etcd_objects(state)
    for old in sorted(history, key=int)[:-8]:
        del history[old]


def recalled(state: State, revision: int) -> dict[str, Any]:
    return dict((state["etcd"].get("history") or {}).get(str(revision)) or {})
