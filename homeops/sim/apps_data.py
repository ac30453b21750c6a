"""The simulated cluster's data apps: VolSync sources, destinations, populated PVCs, CloudNativePG clusters.

State section ``apps`` (added by ``seed``; a state without it simply has no data apps)::

    {"sources": [{namespace, name, pvc, period, duration, manual, last_manual_sync, manual_started,
                  stale_since}],
     "destinations": [{namespace, name, pvc, manual, copy_method, duration, restore_started}],
     "claims": [{namespace, name, destination}],
     "postgres": [{namespace, name, instances, source, server_name, restore_started,
                   setup_seconds, activate_seconds, replica_seconds}]}

Status is *derived* from these records and the simulated time, the way the controllers would have
left it (cli-interfaces.md §11, §12): a scheduled source has synced at its last tick; a manual
trigger (``kubectl patch … spec.trigger.manual``) runs one sync of ``duration`` seconds, and while
it is set the schedule is ignored, as in VolSync; a destination restores for ``duration`` seconds
after ``begin_restores`` (or after Flux comes up in a rebuilt cluster) and then names its
``latestImage``, which binds its PVC; a CNPG cluster restoring on deploy walks ``Setting up primary``
→ ``Waiting for the instances to become active`` → ``Creating a new replica`` → ``Cluster in healthy state``.

Faults (registered in ``homeops.sim.faults``, applied here):

``volsync-stale`` (target: app ``ns/name`` or ``name``; ``seconds``, default two days)  the source's
    mover has failed for that long: ``lastSyncTime`` stays at the last success before, and
    ``latestMoverStatus.result`` is ``Failed``.
``cnpg-never-healthy`` (target: cluster ``ns/name`` or ``name``)  its restore job fails: the phase
    stays ``Setting up primary`` (a failing restore does not change it) and ``Ready`` is False.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

from homeops.errors import SimError
from homeops.sim import engine
from homeops.sim.tools._base import Fail, Flag

State = dict[str, Any]
Obj = dict[str, Any]

FAULTS = ("volsync-stale", "cnpg-never-healthy")

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
        ("clusters.postgresql.cnpg.io", "cluster.postgresql.cnpg.io", "clusters.postgresql.cnpg.io/v1"),
        ("clusters.postgresql.cnpg.io", "Cluster", True, "postgresql.cnpg.io/v1"),
    ),
):
    for _alias in _aliases:
        TYPES[_alias] = _info
PLURALS = frozenset(info[0] for info in TYPES.values())

HEALTHY = "Cluster in healthy state"

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
        "claims": [{"namespace": ns, "name": name, "destination": f"{name}-dst"} for ns, name in _APPS],
        "postgres": [
            {
                "namespace": ns,
                "name": name,
                "instances": 3,
                "source": "origin",
                "server_name": f"{name}-v2",
                "restore_started": None,
                "setup_seconds": 90.0,
                "activate_seconds": 30.0,
                "replica_seconds": 60.0,
            }
            for ns, name in _POSTGRES
        ],
    }


def begin_restores(state: State, at: float | None = None) -> None:
    """Every destination and every CNPG cluster restores from now on (a rebuilt cluster's apps came up)."""
    t = engine.now(state) if at is None else at
    apps = state.get("apps") or {}
    for record in [*apps.get("destinations", []), *apps.get("postgres", [])]:
        record["restore_started"] = t


def _rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _faulted(state: State, name: str, record: State) -> bool:
    full = f"{record['namespace']}/{record['name']}"
    return any(
        f.get("name") == name and f.get("target") in (None, full, record["name"]) for f in state.get("faults") or []
    )


# ── derived status ───────────────────────────────────────────────────────────────────────────────


def _source_status(record: State, t: float) -> tuple[Obj, float | None]:
    """(status, lastSyncTime) of a ReplicationSource at time ``t``."""
    period = float(record["period"])
    stale = record.get("stale_since")
    manual, started = record.get("manual"), record.get("manual_started")
    # the schedule runs until a manual trigger takes over (VolSync: manual wins over schedule)
    horizon = min(x for x in (t, started, stale) if x is not None)
    last = max(math.floor(horizon / period) * period, float(record.get("last_success") or 0.0))
    last_manual = record.get("last_manual_sync")
    running = bool(manual) and manual != last_manual
    if running and started is not None and stale is None and t >= started + float(record["duration"]):
        last, last_manual, running = started + float(record["duration"]), manual, False
    status: Obj = {}
    if running:
        reason, message, cond = "SyncInProgress", "Synchronization in-progress", "True"
        status["lastSyncStartTime"] = _rfc3339(started if started is not None else t)
    elif manual:
        reason, message, cond = "WaitingForManual", "Synchronization skipped, waiting for manual trigger", "False"
    else:
        reason, message, cond = "WaitingForSchedule", "Waiting for next scheduled synchronization", "False"
        status["nextSyncTime"] = _rfc3339((math.floor(t / period) + 1) * period)
    status["conditions"] = [
        {
            "lastTransitionTime": _rfc3339(last),
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
    if stale is not None:
        logs = "Fatal: unable to open repository at s3:http://nas.home:9000/volsync: connection refused"
        status["latestMoverStatus"] = {"logs": logs, "result": "Failed"}
    else:
        status["latestMoverStatus"] = {"logs": "processed 1423 files, 2.104 GiB in 0:41", "result": "Successful"}
    return status, last


def _restore_start(state: State, record: State) -> float | None:
    """When this restore began: ``begin_restores``, or Flux coming up in a (re)built cluster (its apps are
    deployed then, and a destination with ``trigger.manual: restore-once`` restores on creation)."""
    instance = (state.get("flux") or {}).get("instance") or {}
    times = [float(x) for x in (record.get("restore_started"), instance.get("ready_at")) if x is not None]
    return max(times) if times else None


def _destination_status(state: State, record: State, t: float) -> tuple[Obj, bool]:
    started = _restore_start(state, record)
    done = started is None or t >= started + float(record["duration"])
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
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(finished or 1_760_000_000))
        status.update(
            lastManualSync=record["manual"],
            latestImage={
                "apiGroup": "snapshot.storage.k8s.io",
                "kind": "VolumeSnapshot",
                "name": f"volsync-{record['name']}-dest-{stamp}",
            },
            latestMoverStatus={"logs": "restoring snapshot 4a1f0c2e of [/data]\nrestore done", "result": "Successful"},
        )
        if finished is not None:
            status["lastSyncTime"] = _rfc3339(finished)
    else:
        status["lastSyncStartTime"] = _rfc3339(float(started or t))
    return status, done


def _postgres_phase(state: State, record: State, t: float) -> tuple[str, str]:
    started = _restore_start(state, record)
    name = record["name"]
    if _faulted(state, "cnpg-never-healthy", record):
        return "Setting up primary", f"Creating primary instance {name}-1"
    if started is None:
        return HEALTHY, ""
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
    meta: Obj = {
        "creationTimestamp": _rfc3339(float(state["clock"]["origin"]) - 86400),
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
    if plural == "replicationsources":
        for r in apps.get("sources", []):
            trigger = {"manual": r["manual"]} if r.get("manual") else {"schedule": "0 * * * *"}
            status, _ = _source_status(r, t)
            spec = {
                "restic": {"copyMethod": "Snapshot", "repository": f"{r['name']}-volsync-secret"},
                "sourcePVC": r["pvc"],
                "trigger": trigger,
            }
            out.append(_obj(state, r, "ReplicationSource", "volsync.backube/v1alpha1", spec, status))
    elif plural == "replicationdestinations":
        for r in apps.get("destinations", []):
            status, _ = _destination_status(state, r, t)
            spec = {
                "restic": {"copyMethod": r["copy_method"], "repository": f"{r['pvc']}-volsync-secret"},
                "trigger": {"manual": r["manual"]},
            }
            labels = {"kustomize.toolkit.fluxcd.io/ssa": "IfNotPresent"}
            out.append(_obj(state, r, "ReplicationDestination", "volsync.backube/v1alpha1", spec, status, labels))
    elif plural == "persistentvolumeclaims":
        by_name = {(d["namespace"], d["name"]): d for d in apps.get("destinations", [])}
        for c in apps.get("claims", []):
            dst = by_name.get((c["namespace"], c["destination"]))
            bound = dst is not None and _destination_status(state, dst, t)[1]
            ref = {"apiGroup": "volsync.backube", "kind": "ReplicationDestination", "name": c["destination"]}
            spec = {"accessModes": ["ReadWriteOnce"], "dataSource": ref, "dataSourceRef": ref}
            status = {"phase": "Bound" if bound else "Pending"}
            extra = {"annotations": {"volsync.backube/populated-from": f"{c['namespace']}/vs-prime-{c['name']}"}}
            if bound:
                status.update(accessModes=["ReadWriteOnce"], capacity={"storage": "10Gi"})
            out.append(_obj(state, c, "PersistentVolumeClaim", "v1", spec, status, None, extra if bound else None))
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
            }
            out.append(_obj(state, p, "Cluster", "postgresql.cnpg.io/v1", spec, status))
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
        section = {"replicationsources": "sources", "replicationdestinations": "destinations"}.get(plural)
        records = (state.get("apps") or {}).get(section or "", [])
        record = next((r for r in records if r["namespace"] == namespace and r["name"] == name), None)
        if record is None:
            raise Fail(f'Error from server (NotFound): {plural}.{group} "{name}" not found')
        changed = _apply_trigger(state, plural, record, body)
    inv.print(f"{label}/{name} patched" + ("" if changed else " (no change)"))


def _apply_trigger(state: State, plural: str, record: State, body: Any) -> bool:
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
    if manual == record.get("manual"):
        return False
    record["manual"] = manual
    record["restore_started"] = t
    return True


# ── faults ───────────────────────────────────────────────────────────────────────────────────────


def check_target(state: State, fault: str, target: str | None) -> str | None:
    apps = state.get("apps") or {}
    records = apps.get("sources", []) if fault == "volsync-stale" else apps.get("postgres", [])
    if target is None:
        return None
    for r in records:
        if target in (r["name"], f"{r['namespace']}/{r['name']}"):
            return f"{r['namespace']}/{r['name']}"
    what = "VolSync ReplicationSource" if fault == "volsync-stale" else "CloudNativePG cluster"
    known = ", ".join(f"{r['namespace']}/{r['name']}" for r in records) or "none"
    raise SimError(f"fault '{fault}': no simulated {what} '{target}'", hint=f"known: {known}")


def apply_fault(state: State, fault: State, *, on: bool) -> None:
    if fault["name"] != "volsync-stale":
        return  # cnpg-never-healthy is checked where the phase is derived
    # failing for a while already (default two days): dr.check must see an old lastSyncTime at once
    since = engine.now(state) - float((fault.get("params") or {}).get("seconds") or 2 * 86400)
    for r in (state.get("apps") or {}).get("sources", []):
        if fault["target"] in (None, f"{r['namespace']}/{r['name']}"):
            r["stale_since"] = since if on else None
