"""Simulated CSI volume attachments (``storage.k8s.io/v1`` VolumeAttachment), for the rolling upgrade.

``state["k8s"]["volume_attachments"]``: ``[{"name", "node", "pv", "attacher", "pod": "ns/name" | None}]``
(none unless a scenario adds them). Like the real attach/detach controller, an attachment is gone
once no pod on its node uses the volume: its pod left the node (a drain evicted it), or, for one with
no pod named, once the node is cordoned and drained. The fault ``volume-detach-stuck`` keeps every
attachment of its node (a CSI driver that never confirms the detach: Longhorn's or Ceph's stuck
``ControllerUnpublishVolume``).
"""

from __future__ import annotations

from typing import Any

from homeops.sim import faults

State = dict[str, Any]
Obj = dict[str, Any]

TYPES: dict[str, tuple[str, str, bool, str]] = {
    alias: ("volumeattachments", "VolumeAttachment", False, "storage.k8s.io/v1")
    for alias in ("volumeattachments", "volumeattachment", "volumeattachments.storage.k8s.io")
}
# Longhorn volumes (longhorn-manager k8s/pkg/apis/longhorn/v1beta2/volume.go: VolumeRobustness healthy,
# degraded, faulted, unknown): ``state["k8s"]["longhorn"]`` = ``[{"name", "replicas": [node, …]}]``.
TYPES.update(
    {
        alias: ("longhornvolumes", "Volume", True, "longhorn.io/v1beta2")
        for alias in ("volumes.longhorn.io", "lhv", "volumes.v1beta2.longhorn.io")
    }
)


def _attached(state: State, va: Obj) -> bool:
    node = va["node"]
    if faults.active(state, "volume-detach-stuck", node):
        return True
    pod = va.get("pod")
    if pod:
        namespace, _, name = pod.partition("/")
        return any(
            p["namespace"] == namespace and p["name"] == name and p.get("node") == node for p in state["k8s"]["pods"]
        )
    return not bool(state["k8s"]["nodes"].get(node, {}).get("unschedulable"))


def objects(state: State, meta: Any) -> list[Obj]:
    """The attachments still present, as ``kubectl get volumeattachments -o json`` items."""
    return [
        {
            "apiVersion": "storage.k8s.io/v1",
            "kind": "VolumeAttachment",
            "metadata": meta(state, va["name"]),
            "spec": {
                "attacher": va.get("attacher", "driver.longhorn.io"),
                "nodeName": va["node"],
                "source": {"persistentVolumeName": va["pv"]},
            },
            "status": {"attached": True},
        }
        for va in state["k8s"].get("volume_attachments", [])
        if _attached(state, va)
    ]


def _robustness(state: State, volume: Obj) -> str:
    """Degraded while a replica's node is away, and while that replica rebuilds after it is back.

    topf#135: a node back and Ready is not its Longhorn replicas back; the fault
    ``longhorn-degraded-after-reboot`` makes that rebuild take SECONDS (default 300).
    """
    from homeops.sim import engine

    t = engine.now(state)
    for name in volume.get("replicas", []):
        node = state["nodes"].get(name)
        if node is None or not node.get("ready") or engine.is_down(state, node):
            return "degraded"
        slow = faults.active(state, "longhorn-degraded-after-reboot", name)
        rebuild = float((slow.get("params") or {}).get("seconds", 300)) if slow else 0.0
        if node.get("ready_since") is not None and t < float(node["ready_since"]) + rebuild:
            return "degraded"
    return "healthy"


def longhorn_objects(state: State, meta: Any) -> list[Obj]:
    return [
        {
            "apiVersion": "longhorn.io/v1beta2",
            "kind": "Volume",
            "metadata": meta(state, v["name"], "longhorn-system"),
            "spec": {"numberOfReplicas": len(v.get("replicas", []))},
            "status": {"state": "attached", "robustness": _robustness(state, v)},
        }
        for v in state["k8s"].get("longhorn") or []
    ]
