"""VolSync and CloudNativePG adapters: argv builders and parsers on the API's own shapes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeops.adapters import cnpg, volsync
from homeops.adapters._parse import UnexpectedOutput
from homeops.adapters.kubectl import Kubectl
from homeops.errors import PlanError

KCTL = Kubectl(Path("/inv/kubeconfig"))
NOW = volsync.parse_time("2025-10-09T12:00:00Z") or 0.0


def rs(status: dict[str, object], spec: dict[str, object] | None = None) -> str:
    obj = {
        "apiVersion": "volsync.backube/v1alpha1",
        "kind": "ReplicationSource",
        "metadata": {"name": "app", "namespace": "media"},
        "spec": spec or {"sourcePVC": "app", "trigger": {"schedule": "0 * * * *"}},
        "status": status,
    }
    return json.dumps({"apiVersion": "v1", "items": [obj], "kind": "List"})


def synchronizing(reason: str) -> list[dict[str, str]]:
    status = "True" if reason == "SyncInProgress" else "False"
    return [{"type": "Synchronizing", "reason": reason, "status": status, "message": f"m-{reason}"}]


def test_argv_builders() -> None:
    assert volsync.get_sources(KCTL) == [
        "kubectl", "--kubeconfig", "/inv/kubeconfig", "get", "replicationsources.volsync.backube",
        "--all-namespaces", "--output", "json",
    ]  # fmt: skip
    assert volsync.trigger_manual(KCTL, "media", "app", "homeops-20251009T120000Z") == [
        "kubectl", "--kubeconfig", "/inv/kubeconfig", "--namespace", "media", "patch",
        "replicationsources.volsync.backube", "app", "--type", "merge", "--patch",
        '{"spec":{"trigger":{"manual":"homeops-20251009T120000Z"}}}',
    ]  # fmt: skip
    argv = volsync.trigger_restore(KCTL, "media", "app-dst", "restore-2", restore_as_of="2025-10-09T06:00:00Z")
    assert argv[-1] == '{"spec":{"restic":{"restoreAsOf":"2025-10-09T06:00:00Z"},"trigger":{"manual":"restore-2"}}}'
    assert cnpg.get_cluster(KCTL, "db", "pg") == [
        "kubectl", "--kubeconfig", "/inv/kubeconfig", "--namespace", "db", "get", "clusters.postgresql.cnpg.io",
        "pg", "--output", "json",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: volsync.trigger_manual(KCTL, "media", "app", "has space"), "must be a short token"),
        (lambda: volsync.trigger_manual(KCTL, "media", "a b", "x"), "is not a Kubernetes object name"),
        (
            lambda: volsync.trigger_restore(KCTL, "m", "d", "x", restore_as_of="2025-10-09T06:00:00+02:00"),
            "is not an RFC3339 UTC time",
        ),
    ],
)
def test_builders_refuse_bad_input(call: object, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        call()  # type: ignore[operator]


def test_a_healthy_source() -> None:
    (source,) = volsync.parse_sources(
        rs(
            {
                "conditions": synchronizing("WaitingForSchedule"),
                "lastSyncTime": "2025-10-09T11:00:00Z",
                "lastSyncDuration": "41.2s",
                "nextSyncTime": "2025-10-09T13:00:00Z",
                "latestMoverStatus": {"result": "Successful", "logs": "ok"},
            }
        )
    )
    assert (source.key, source.source_pvc, source.schedule, source.synchronizing) == (
        "media/app",
        "app",
        "0 * * * *",
        False,
    )
    assert source.last_sync_time == NOW - 3600 and source.problems(NOW, 2 * 3600) == []


def test_a_stale_failing_source_names_every_problem() -> None:
    (source,) = volsync.parse_sources(
        rs(
            {
                "conditions": synchronizing("Error"),
                "lastSyncTime": "2025-10-07T12:00:00Z",
                "latestMoverStatus": {"result": "Failed", "logs": "Fatal: wrong password"},
            },
            {"paused": True, "trigger": {"manual": "x"}},
        )
    )
    assert source.problems(NOW, 26 * 3600) == [
        "last sync 2.0d ago (limit 26.0h)",
        "the last mover run failed",
        "error: m-Error",
        "paused",
    ]
    assert not source.manual_done


def test_a_new_source_never_synced() -> None:
    (source,) = volsync.parse_sources(rs({}))
    assert source.last_sync_time is None and source.problems(NOW, 3600) == ["never synced successfully"]


def test_destinations_restored_empty_and_pending() -> None:
    def rd(name: str, status: dict[str, object]) -> dict[str, object]:
        spec = {"trigger": {"manual": "restore-once"}, "restic": {"copyMethod": "Snapshot", "previous": 2}}
        return {"metadata": {"name": name, "namespace": "media"}, "spec": spec, "status": status}

    image = {"apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "volsync-app-dst-dest-1"}
    done = {"lastManualSync": "restore-once", "latestImage": image, "latestMoverStatus": {"result": "Successful"}}
    empty = {**done, "latestMoverStatus": {"result": "Successful", "logs": "No eligible snapshots found"}}
    running = {"conditions": synchronizing("SyncInProgress"), "lastSyncStartTime": "2025-10-09T11:59:00Z"}
    text = json.dumps({"kind": "List", "items": [rd("a", done), rd("b", empty), rd("c", running)]})
    a, b, c = volsync.parse_destinations(text)
    assert (a.restored, a.latest_image, a.previous, a.copy_method) == (
        True,
        ("VolumeSnapshot", "volsync-app-dst-dest-1"),
        2,
        "Snapshot",
    )
    assert (b.restored, b.empty) == (False, True)
    assert (c.restored, c.synchronizing, c.last_sync_start_time) == (False, True, NOW - 60)


def test_claims_populated_through_the_volume_populator() -> None:
    ref = {"apiGroup": "volsync.backube", "kind": "ReplicationDestination", "name": "app-dst"}
    bound = {
        "metadata": {"name": "app", "namespace": "media", "annotations": {volsync.POPULATED_FROM: "media/vs-prime-x"}},
        "spec": {"dataSourceRef": ref},
        "status": {"phase": "Bound"},
    }
    pending = {"metadata": {"name": "db", "namespace": "media"}, "spec": {}, "status": {"phase": "Pending"}}
    a, b = volsync.parse_claims(json.dumps({"kind": "List", "items": [bound, pending]}))
    assert (a.from_volsync, a.populated, a.populated_from) == (True, True, "media/vs-prime-x")
    assert (b.from_volsync, b.populated) == (False, False)


def test_garbage_is_one_unexpected_output_error() -> None:
    with pytest.raises(UnexpectedOutput):
        volsync.parse_sources("error: the server doesn't have a resource type")
    with pytest.raises(UnexpectedOutput, match=r"without metadata\.name"):
        volsync.parse_sources('{"kind": "List", "items": [{"metadata": {}}]}')


@pytest.mark.parametrize(
    ("phase", "ready", "healthy", "hopeless"),
    [
        ("Cluster in healthy state", "True", True, False),
        ("Setting up primary", "False", False, False),
        ("Cluster is unrecoverable and needs manual intervention", "False", False, True),
    ],
)
def test_cnpg_cluster_phases(phase: str, ready: str, healthy: bool, hopeless: bool) -> None:
    obj = {
        "metadata": {"name": "pg", "namespace": "db"},
        "spec": {
            "instances": 3,
            "bootstrap": {"recovery": {"source": "origin"}},
            "externalClusters": [{"name": "origin", "barmanObjectStore": {"destinationPath": "s3://b"}}],
        },
        "status": {
            "phase": phase,
            "readyInstances": 3 if healthy else 0,
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }
    (cluster,) = cnpg.parse_clusters(json.dumps(obj))
    assert (cluster.healthy, cluster.hopeless, cluster.restoring) == (healthy, hopeless, not healthy)
    assert cluster.server_name == "origin"  # in-tree store without serverName: the external cluster's name
    assert cluster.describe().endswith(f"{3 if healthy else 0}/3 instances ready")


def test_cnpg_plugin_server_name_defaults_to_the_new_cluster() -> None:
    spec = {
        "bootstrap": {"recovery": {"source": "origin"}},
        "externalClusters": [
            {"name": "origin", "plugin": {"name": "barman-cloud.cloudnative-pg.io", "parameters": {}}}
        ],
    }
    (cluster,) = cnpg.parse_clusters(json.dumps({"metadata": {"name": "pg2", "namespace": "db"}, "spec": spec}))
    assert (cluster.server_name, cluster.phase, cluster.ready) == ("pg2", "", False)
