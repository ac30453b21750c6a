"""The initial state of a simulated cluster, built from an ``Inventory``.

Everything is deterministic for a given inventory, options and ``seed`` (ids are hashes of a
counter), so golden files of the fake tools' output stay stable.

Fields beyond the schema in ``homeops.sim.store`` (all additive):

* top level: ``seed`` and ``id_counter`` (deterministic ids), ``jobs`` (one-shot scheduled changes,
  e.g. kubelet restarts), ``hosts_transport`` (written by ``inv sim.up --hosts``: per host
  ``{address, port, identity, known_hosts, container_id}``);
* ``config.client_version``: the version the fake talosctl reports and whose flags it accepts;
* per node: ``hostname``, ``ips``, ``install_disk``, ``etcd_data`` (EPHEMERAL holds etcd data),
  ``config_version``/``config_text``/``staged_config`` (apply-config), ``powered_off``/``disk_blank``
  (following the Proxmox VM);
* ``etcd``: ``bootstrapped``; a member may be ``stale`` (its node was wiped but not removed);
* ``k8s``: ``deployments``, ``helm_releases``, ``applied`` (kubectl apply);
* ``apps``: the data apps (VolSync, CloudNativePG), see ``homeops.sim.apps_data``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from homeops.inventory.model import Inventory, Node
from homeops.sim import apps_data, engine

State = dict[str, Any]

START = 1_760_000_000.0  # 2025-10-09T08:53:20Z: a fixed virtual epoch for reproducible output
DEFAULT_KUBERNETES = "v1.34.2"
DEFAULT_TALOS = "v1.11.6"

# The newest patch of each minor the reference was read at; "one minor behind" picks from here.
LATEST_PATCH = {
    "1.8": "v1.8.4",
    "1.9": "v1.9.6",
    "1.10": "v1.10.9",
    "1.11": "v1.11.6",
    "1.12": "v1.12.11",
    "1.13": "v1.13.9",
}


@dataclass(frozen=True)
class SimOptions:
    talos_version: str | None = None  # what the nodes run (default: the talconfig's)
    kubernetes_version: str | None = None
    client_version: str | None = None  # what the fake talosctl reports (default: the talconfig's)
    clock_mode: str = "virtual"  # "virtual": time moves only when slept on; "real": wall clock
    ceph: bool = False
    seed: str = "homeops"
    config: dict[str, float] = field(default_factory=dict)


def one_minor_behind(version: str) -> str:
    """``v1.11.6`` → ``v1.10.9``: the newest patch of the previous minor."""
    m = re.match(r"v?(\d+)\.(\d+)", version)
    if not m:
        raise ValueError(f"not a version: {version}")
    major, minor = int(m.group(1)), int(m.group(2)) - 1
    return LATEST_PATCH.get(f"{major}.{minor}", f"v{major}.{minor}.0")


def installer_image(node: Node, version: str) -> str:
    if node.install_image:
        return re.sub(r":v[^:/]+$", f":{version}", node.install_image)
    if node.talos_image_url:
        return f"{node.talos_image_url}:{version}"
    if node.schematic_id:
        return f"factory.talos.dev/metal-installer/{node.schematic_id}:{version}"
    return f"ghcr.io/siderolabs/installer:{version}"


def _schematic(node: Node) -> str | None:
    if node.schematic_id:
        return node.schematic_id
    url = node.talos_image_url or node.install_image or ""
    m = re.search(r"/([0-9a-f]{64})(?::|$)", url)
    return m.group(1) if m else None


def inventory_fingerprint(inventory: Inventory) -> str:
    """What a sim was started for: which cluster, nodes and hosts exist and where they are reached.

    ``homeops.sim.attach`` refuses a sim whose world changed since (its hosts may be real now). Policy
    (timeouts, gates, snapshots) is left out: tuning it between runs is ordinary and changes no address.
    """
    import hashlib

    world = {
        "cluster": [inventory.cluster.name, inventory.cluster.endpoint],
        "nodes": sorted(
            [n.hostname, n.ip, n.control_plane, list(n.ips), n.vm.host if n.vm else None, n.vm.vmid if n.vm else None]
            for n in inventory.nodes
        ),
        "hosts": sorted([h.name, h.address, h.port, h.user, h.kind] for h in inventory.hosts),
    }
    return hashlib.sha256(json.dumps(world, sort_keys=True).encode()).hexdigest()[:16]


def initial_state(inventory: Inventory, options: SimOptions | None = None) -> State:
    opts = options or SimOptions()
    talos = opts.talos_version or inventory.cluster.talos_version or DEFAULT_TALOS
    kube = opts.kubernetes_version or inventory.cluster.kubernetes_version or DEFAULT_KUBERNETES
    client = opts.client_version or inventory.cluster.talos_version or talos
    state: State = {
        "version": 1,
        "inventory_fingerprint": inventory_fingerprint(inventory),
        "seed": opts.seed,
        "id_counter": 0,
        "clock": {"mode": opts.clock_mode, "now": START, "origin": START},
        "config": {**engine.DEFAULT_CONFIG, **opts.config, "client_version": client},
        "cluster": {
            "name": inventory.cluster.name,
            "endpoint": inventory.cluster.endpoint,
            "vip": inventory.cluster.vip,
            "talos_version": talos,
            "kubernetes_version": kube,
            "target_talos_version": inventory.cluster.talos_version,
        },
        "nodes": {},
        "etcd": {
            "members": {},
            "leader": None,
            "alarms": [],
            "revision": 4193,
            "bootstrapped": True,
            "data": {"total_keys": 1287, "total_size": 3035136},
        },
        "k8s": {"nodes": {}, "pods": [], "deployments": [], "cephcluster": None},
        "flux": {"kustomizations": [], "helmreleases": []},
        "pve": {},
        "nas": {},
        "faults": [],
        "jobs": [],
        "log": [],
    }
    for node in inventory.nodes:
        state["nodes"][node.hostname] = {
            "hostname": node.hostname,
            "ip": node.ip,
            "ips": list(node.ips or (node.ip,)),
            "control_plane": node.control_plane,
            "talos_version": talos,
            "image": installer_image(node, talos),
            "schematic": _schematic(node),
            "install_disk": node.install_disk or "/dev/sda",
            "kubernetes_version": kube,
            "stage": "running",
            "ready": True,
            "boot_id": engine.new_boot_id(state),
            "maintenance": False,
            "cordoned": False,
            "down_until": None,
            "pending": None,
            "powered_off": False,
            "etcd_data": node.control_plane,
            "config_version": 1,
            "staged_config": False,
            "vm": {"host": node.vm.host, "vmid": node.vm.vmid} if node.vm else None,
            "user_volumes": list(node.user_volumes),  # partitions u-<name>, from UserVolumeConfig documents
        }
        if node.control_plane:
            state["etcd"]["members"][node.hostname] = {"id": engine.new_id(state, "member", 16), "healthy": True}
        state["k8s"]["nodes"][node.hostname] = {
            "ready": "True",
            "unschedulable": False,
            "kubelet_version": kube,
            "role": node.role,
        }
    cps = sorted(state["etcd"]["members"])
    state["etcd"]["leader"] = cps[0] if cps else None
    _workloads(state, inventory)
    _flux(state)
    if opts.ceph:
        state["k8s"]["cephcluster"] = {
            "namespace": "rook-ceph",
            "name": "rook-ceph",
            "health": "HEALTH_OK",
            "phase": "Ready",
            "previous_health": "HEALTH_OK",
        }
    state["pve"], state["nas"] = _hosts(inventory)
    return state


def _hosts(inventory: Inventory) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        from homeops.sim.hosts import initial_host_state
    except ImportError:  # the host simulation is optional: without it, VMs count as running
        return {}, {}
    hosts = initial_host_state(inventory)
    return dict(hosts.get("pve", {})), dict(hosts.get("nas", {}))


def _suffix(state: State, length: int = 5) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = engine.new_id(state, "pod", 16)
    return "".join(alphabet[int(digest[i : i + 2], 16) % len(alphabet)] for i in range(0, 2 * length, 2))


def new_pod_name(state: State, owner: str) -> str:
    kind, name = owner.split("/", 1)
    if kind == "Deployment":
        # Pods of one Deployment share its ReplicaSet's pod-template hash.
        template_hash = engine.new_id({"seed": name}, "rs", 10)[:9]
        return f"{name}-{template_hash}-{_suffix(state)}"
    return f"{name}-{_suffix(state)}"


def _workloads(state: State, inventory: Inventory) -> None:
    k8s = state["k8s"]
    for node in inventory.nodes:
        k8s["pods"].append(
            {
                "namespace": "kube-system",
                "name": new_pod_name(state, "DaemonSet/cilium"),
                "node": node.hostname,
                "owner": "DaemonSet/cilium",
                "ready": True,
            }
        )
        if node.control_plane:
            for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
                k8s["pods"].append(
                    {
                        "namespace": "kube-system",
                        "name": f"{component}-{node.hostname}",
                        "node": node.hostname,
                        "owner": f"Node/{node.hostname}",
                        "ready": True,
                    }
                )
    schedulable = [n.hostname for n in inventory.workers] or [n.hostname for n in inventory.nodes]
    deployments = [
        ("kube-system", "coredns", 2),
        ("kube-system", "nfs-subdir-external-provisioner", 1),
        ("flux-system", "source-controller", 1),
        ("default", "immich-server", 1),
    ]
    slot = 0
    for namespace, name, replicas in deployments:
        k8s["deployments"].append(
            {"namespace": namespace, "name": name, "replicas": replicas, "ready_replicas": replicas}
        )
        for _ in range(replicas):
            owner = f"Deployment/{name}"
            k8s["pods"].append(
                {
                    "namespace": namespace,
                    "name": new_pod_name(state, owner),
                    "node": schedulable[slot % len(schedulable)],
                    "owner": owner,
                    "ready": True,
                }
            )
            slot += 1
    apps_data.seed(state)  # VolSync sources/destinations, populated PVCs, CloudNativePG clusters


def _flux(state: State) -> None:
    revision = f"refs/heads/main@sha1:{engine.new_id(state, 'git', 40)}"
    state["flux"]["kustomizations"] = [
        {"namespace": "flux-system", "name": name, "ready": True, "suspended": False, "revision": revision}
        for name in ("flux-system", "cluster-meta", "cluster-apps")
    ]
    state["flux"]["helmreleases"] = [
        {"namespace": ns, "name": name, "ready": True, "suspended": False, "chart": chart, "version": version}
        for ns, name, chart, version in (
            ("kube-system", "cilium", "cilium", "1.18.2"),
            ("kube-system", "coredns", "coredns", "1.44.3"),
            ("kube-system", "nfs-subdir-external-provisioner", "nfs-subdir-external-provisioner", "4.0.18"),
            ("default", "immich", "immich", "0.9.3"),
        )
    ]
