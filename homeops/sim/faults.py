"""Faults: named things that go wrong in the simulated cluster, injected per node or host.

Each fault is a record in ``state["faults"]``: ``{"name", "target", "params", "remaining"}``.
``remaining`` counts how many more times a one-shot fault fires (``None``: until cleared). Faults
act in one of two ways:

* **checked** where they matter — the fake tools and the engine ask ``active()`` / ``consume()``
  (a node that never returns, a command that fails N times, the API unreachable for a while);
* **applied** to the documented state sections on inject and undone on clear, so that other
  readers of the state (the host shims over SSH) see them without knowing about faults
  (a Proxmox host down, a TrueNAS pool degraded, NFS stopped, Ceph HEALTH_WARN).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Literal

from homeops.errors import SimError
from homeops.sim import engine

State = dict[str, Any]
TargetKind = Literal[
    "node", "controlplane", "pve-host", "pool", "node-or-host", "vm", "release", "app", "cnpg-cluster", "none"
]


@dataclass(frozen=True)
class FaultSpec:
    name: str
    target: TargetKind
    description: str
    params: tuple[str, ...] = ()
    target_required: bool = True
    default_times: int | None = None  # one-shot faults fire once unless --times says otherwise


SPECS: dict[str, FaultSpec] = {
    s.name: s
    for s in (
        FaultSpec(
            "node-never-returns",
            "node",
            "the node's next reboot never finishes (it stays unreachable)",
            default_times=1,
        ),
        FaultSpec(
            "node-rollback",
            "node",
            "the node's next upgrade boots back into the old version (A/B rollback)",
            default_times=1,
        ),
        FaultSpec(
            "upgrade-no-reboot",
            "node",
            "the node's next upgrade installs and reports success, but the node never reboots (tuppr#575)",
            default_times=1,
        ),
        FaultSpec(
            "node-slow-ready",
            "node",
            "after its next reboot the node takes SECONDS more to be ready",
            ("seconds",),
            default_times=1,
        ),
        # installer pre-pull (talosctl image pull --namespace system)
        FaultSpec(
            "image-pull-fails",
            "node",
            "`talosctl image pull` on the node fails (the registry answers not found) until cleared",
        ),
        FaultSpec(
            "image-pull-stalls",
            "node",
            "`talosctl image pull` on the node never finishes (it hangs until the caller's deadline) until cleared",
        ),
        FaultSpec(
            "longhorn-degraded-after-reboot",
            "node",
            "after the node is back and Ready, Longhorn volumes with a replica on it stay degraded for SECONDS "
            "(default 300) while the replica rebuilds (topf#135)",
            ("seconds",),
        ),
        FaultSpec(
            "volume-detach-stuck",
            "node",
            "the node's CSI VolumeAttachments stay after a drain (the driver never confirms the detach)",
        ),
        FaultSpec("etcd-unhealthy", "controlplane", "the node's etcd member reports unhealthy"),
        FaultSpec("etcd-member-lost", "controlplane", "the node's etcd member is gone from the member list"),
        FaultSpec("etcd-alarm", "controlplane", "etcd raises a NOSPACE alarm on the node's member"),
        FaultSpec(
            "api-unreachable",
            "none",
            "the Kubernetes API (VIP) does not answer, for SECONDS or until cleared",
            ("seconds",),
            target_required=False,
        ),
        FaultSpec(
            "command-fails",
            "node-or-host",
            "TOOL [SUBCOMMAND] fails transiently TIMES times (optionally only for a node or SSH host)",
            ("tool", "subcommand"),
            target_required=False,
            default_times=1,
        ),
        FaultSpec(
            "vm-shutdown-hangs",
            "vm",
            "ACPI shutdown of a VM (vmid or node) times out unless forced",
            target_required=True,
        ),
        FaultSpec(
            "drain-blocked-by-pdb",
            "node",
            "a PodDisruptionBudget refuses the eviction of the node's first pod until cleared (kubectl drain)",
        ),
        FaultSpec("pve-host-down", "pve-host", "a Proxmox host is down (its VMs and SSH unreachable)"),
        FaultSpec("pve-not-quorate", "none", "the Proxmox cluster has lost quorum", target_required=False),
        FaultSpec("nas-pool-degraded", "pool", "a TrueNAS pool is DEGRADED", target_required=False),
        FaultSpec("nfs-stopped", "none", "the TrueNAS NFS service is stopped", target_required=False),
        FaultSpec("ceph-warn", "none", "the Rook CephCluster reports HEALTH_WARN", target_required=False),
        # data apps and backups: homeops.sim.apps_data, homeops.sim.backups
        FaultSpec(
            "volsync-stale",
            "app",
            "a VolSync ReplicationSource's mover has failed for SECONDS (default 2 days): its last sync is old",
            ("seconds",),
            target_required=False,
        ),
        FaultSpec(
            "volsync-mover-fails",
            "app",
            "a VolSync source's or destination's mover pods fail from now on: its sync never ends (SyncInProgress)",
        ),
        FaultSpec(
            "flux-patch-forbidden",
            "release",
            "the API refuses to patch a Flux Kustomization/HelmRelease: flux suspend/resume print ✗ and exit 0",
            target_required=False,
        ),
        FaultSpec("cnpg-never-healthy", "cnpg-cluster", "a CloudNativePG cluster's restore never finishes"),
        FaultSpec(
            "snapshot-missing-on-nas", "none", "the newest etcd snapshot is gone from the NAS", target_required=False
        ),
        FaultSpec("snapshot-corrupt", "none", "the newest etcd snapshot's bytes are damaged", target_required=False),
        # bootstrap (homeops.sim.bootstrap)
        FaultSpec(
            "node-stuck-in-maintenance",
            "node",
            "an insecure apply-config is accepted but the node reboots back into maintenance mode",
        ),
        FaultSpec(
            "bootstrap-already",
            "controlplane",
            "the node holds stale etcd data: talosctl bootstrap answers AlreadyExists and etcd never forms there",
        ),
        FaultSpec(
            "helm-hook-hangs",
            "release",
            "the helm release's hooks never finish: helmfile sync of it runs into its timeout",
        ),
        FaultSpec(
            "kubeconfig-wrong-cluster",
            "none",
            "talosctl kubeconfig hands out the kubeconfig of another cluster (other endpoint and CA)",
            target_required=False,
        ),
        FaultSpec(
            "flux-not-ready",
            "none",
            "the FluxInstance and flux-system Kustomization never become Ready",
            target_required=False,
        ),
    )
}


def _check_target(state: State, spec: FaultSpec, target: str | None) -> str | None:
    if target is None:
        if spec.target_required:
            raise SimError(f"fault '{spec.name}' needs a target", hint=f"pass --target <{spec.target}>")
        return None
    if spec.target in ("node", "controlplane"):
        hostname = engine.find_node(state, target)
        known = ", ".join(sorted(state["nodes"]))
        if hostname is None:
            raise SimError(f"fault '{spec.name}': no simulated node '{target}'", hint=f"known nodes: {known}")
        if spec.target == "controlplane" and not state["nodes"][hostname]["control_plane"]:
            raise SimError(f"fault '{spec.name}': {hostname} is not a control-plane node (no etcd member)")
        return hostname
    if spec.target == "pve-host":
        hosts = state.get("pve", {}).get("hosts", {})
        if hosts and target not in hosts:
            raise SimError(
                f"fault '{spec.name}': no simulated Proxmox host '{target}'", hint=f"known: {', '.join(hosts)}"
            )
        return target
    if spec.target == "node-or-host":
        hostname = engine.find_node(state, target)
        if hostname is not None:
            return hostname
        hosts = set(state.get("pve", {}).get("hosts", {})) | {str(state.get("nas", {}).get("hostname", "nas"))}
        if target not in hosts:
            raise SimError(
                f"fault '{spec.name}': no simulated node or host '{target}'",
                hint=f"nodes: {', '.join(sorted(state['nodes']))}; hosts: {', '.join(sorted(hosts))}",
            )
        return target
    if spec.target == "vm":
        hostname = engine.find_node(state, target)
        vm = state["nodes"][hostname].get("vm") if hostname else None
        return str(vm["vmid"]) if vm else target
    if spec.target == "pool":
        pools = [str(p.get("name")) for p in state.get("nas", {}).get("pools", [])]
        if target not in pools:
            raise SimError(
                f"fault '{spec.name}': no simulated pool '{target}'", hint=f"known pools: {', '.join(pools) or 'none'}"
            )
        return target
    if spec.target in ("app", "cnpg-cluster"):
        from homeops.sim import apps_data

        return apps_data.check_target(state, spec.name, target)
    if spec.target == "release":
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", target):
            raise SimError(f"fault '{spec.name}': {target!r} is not a helm release name")
        return target
    raise SimError(f"fault '{spec.name}' takes no target (got '{target}')")


def inject(
    state: State,
    name: str,
    target: str | None = None,
    *,
    params: dict[str, Any] | None = None,
    times: int | None = None,
) -> dict[str, Any]:
    """Add a fault; returns its record. Unknown names and bad targets raise ``SimError``."""
    spec = SPECS.get(name)
    if spec is None:
        raise SimError(f"unknown fault '{name}'", hint=f"known faults: {', '.join(SPECS)}")
    target = _check_target(state, spec, target)
    params = {k: v for k, v in (params or {}).items() if v is not None}
    unknown = set(params) - set(spec.params)
    if unknown:
        raise SimError(f"fault '{name}' does not take {', '.join(sorted(unknown))}", hint=_usage(spec))
    if name == "command-fails" and not params.get("tool"):
        raise SimError("fault 'command-fails' needs a tool", hint="e.g. --tool talosctl --times 2")
    times = spec.default_times if times is None else times
    if name == "api-unreachable" and params.get("seconds") is not None:
        params["until"] = engine.now(state) + float(params["seconds"])
    if times is not None and times < 1:
        raise SimError(f"fault '{name}': --times must be at least 1 (got {times})")
    record: dict[str, Any] = {"name": name, "target": target, "params": params, "remaining": times}
    clear(state, name, target)
    state.setdefault("faults", []).append(record)
    _apply(state, record, on=True)
    return record


def _usage(spec: FaultSpec) -> str:
    return f"'{spec.name}' takes: {', '.join(spec.params) or 'no parameters'}"


def clear(state: State, name: str | None = None, target: str | None = None) -> int:
    """Remove matching faults (all when ``name`` is None); returns how many were removed."""
    if name is not None and name not in SPECS:
        raise SimError(f"unknown fault '{name}'", hint=f"known faults: {', '.join(SPECS)}")
    if target is not None and engine.find_node(state, target):
        target = engine.find_node(state, target)
    keep: list[dict[str, Any]] = []
    gone: list[dict[str, Any]] = []
    for fault in state.get("faults", []):
        hit = (name is None or fault["name"] == name) and (target is None or fault["target"] == target)
        (gone if hit else keep).append(fault)
    state["faults"] = keep
    for fault in gone:
        _apply(state, fault, on=False)
    return len(gone)


def listing(state: State) -> list[dict[str, Any]]:
    return [dict(f) for f in state.get("faults", [])]


def active(state: State, name: str, target: str | None = None) -> dict[str, Any] | None:
    """The first fault of this name for this target (a target-less fault matches every target)."""
    for fault in state.get("faults", []):
        if fault["name"] == name and (fault["target"] is None or target is None or fault["target"] == target):
            return dict(fault)
    return None


def consume(state: State, name: str, target: str | None = None) -> dict[str, Any] | None:
    """Fire a fault once: return it and count ``remaining`` down (removing it at zero)."""
    for fault in state.get("faults", []):
        if fault["name"] == name and (fault["target"] is None or target is None or fault["target"] == target):
            fired = dict(fault)
            if fault.get("remaining") is not None:
                fault["remaining"] -= 1
                if fault["remaining"] <= 0:
                    state["faults"].remove(fault)
                    _apply(state, fault, on=False)
            return fired
    return None


def consume_command(state: State, tool: str, words: list[str], nodes: list[str]) -> dict[str, Any] | None:
    """Fire a ``command-fails`` fault matching this tool, subcommand word and target node."""
    for fault in list(state.get("faults", [])):
        if fault["name"] != "command-fails":
            continue
        params = fault["params"]
        if params.get("tool") != tool:
            continue
        sub = params.get("subcommand")
        if sub and not all(part in words for part in str(sub).split()):
            continue
        if fault["target"] is not None and fault["target"] not in nodes:
            continue
        return consume(state, "command-fails", fault["target"]) if fault["target"] else _consume_exact(state, fault)
    return None


def _consume_exact(state: State, fault: dict[str, Any]) -> dict[str, Any]:
    fired = dict(fault)
    if fault.get("remaining") is not None:
        fault["remaining"] -= 1
        if fault["remaining"] <= 0:
            state["faults"].remove(fault)
    return fired


# ── faults applied to the documented sections (seen by the host shims too) ───────────────────────


def _apply(state: State, fault: dict[str, Any], *, on: bool) -> None:
    name, target = fault["name"], fault["target"]
    if name in ("volsync-stale", "volsync-mover-fails"):
        from homeops.sim import apps_data

        apps_data.apply_fault(state, fault, on=on)
    elif name == "pve-host-down":
        host = state.get("pve", {}).get("hosts", {}).get(target)
        if host is not None:
            host["up"] = not on
    elif name == "pve-not-quorate":
        cluster = state.get("pve", {}).get("cluster")
        if cluster is not None:
            cluster["quorate"] = not on
    elif name == "nas-pool-degraded":
        for pool in state.get("nas", {}).get("pools", []):
            if target is None or pool.get("name") == target:
                pool["status"] = "DEGRADED" if on else "ONLINE"
                pool["healthy"] = not on
                pool["warning"] = on
                if target is None:
                    break
    elif name == "nfs-stopped":
        nfs = state.get("nas", {}).get("services", {}).get("nfs")
        if nfs is not None:
            nfs["state"] = "STOPPED" if on else "RUNNING"
            if "running" in nfs:
                nfs["running"] = not on
    elif name == "ceph-warn":
        ceph = state.get("k8s", {}).get("cephcluster")
        if ceph is not None:
            ceph["previous_health"] = ceph.get("health", "HEALTH_OK")
            ceph["health"] = "HEALTH_WARN" if on else "HEALTH_OK"
    elif name == "etcd-alarm":
        alarms = state["etcd"].setdefault("alarms", [])
        member = state["etcd"]["members"].get(target)
        entry = {"node": target, "member": member["id"] if member else None, "alarm": "NOSPACE"}
        if on and entry not in alarms:
            alarms.append(entry)
        elif not on:
            state["etcd"]["alarms"] = [a for a in alarms if a.get("node") != target]
