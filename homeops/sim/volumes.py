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
