"""Simulated time and the transitions it drives.

Operations (an upgrade, a reboot, a VM power-on) do not change a node at once: they *schedule* a
``pending`` transition with absolute times. ``advance(state, t)`` applies every transition due by
``t``; every reader calls it first, so the state is always current without a background process.

A node under a pending transition goes through these phases::

    started ── down_at ──────────── back_at ───────────── ready_at
     │ stage upgrading/rebooting │ unreachable        │ booting, not ready  │ running, ready

``back_at`` is ``None`` when the node never comes back (fault ``node-never-returns``).
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

State = dict[str, Any]

DEFAULT_CONFIG: dict[str, float] = {
    "upgrade_seconds": 5.0,  # installer runs before the reboot; node still answers
    "reboot_seconds": 30.0,  # node unreachable
    "install_seconds": 2.0,  # apply-config in maintenance mode: the installer runs before the first reboot
    "ready_seconds": 15.0,  # booted, services starting, not ready yet
    "kubelet_restart_seconds": 2.0,  # upgrade-k8s: per kubelet
    "recover_ready_seconds": 8.0,  # apid answers, EPHEMERAL not mounted yet: recovery upload refused
    "poll_seconds": 0.2,  # how often blocking fake tools re-read the state in real mode
}


def config(state: State, key: str) -> float:
    value = state.get("config", {}).get(key, DEFAULT_CONFIG.get(key, 0.0))
    return float(value)


def now(state: State) -> float:
    """The simulated wall time: the virtual clock, or the real one."""
    clock = state["clock"]
    if clock.get("mode") == "virtual":
        return float(clock["now"])
    return time.time()


def new_id(state: State, kind: str, length: int = 32) -> str:
    """A deterministic pseudo-random hex id (same seed + same history = same ids, for golden files)."""
    counter = int(state.get("id_counter", 0)) + 1
    state["id_counter"] = counter
    digest = hashlib.sha256(f"{state.get('seed', 'homeops')}:{kind}:{counter}".encode()).hexdigest()
    return digest[:length]


def new_boot_id(state: State) -> str:
    h = new_id(state, "boot")
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


# ── reachability ─────────────────────────────────────────────────────────────────────────────────


def vm_status(state: State, node: dict[str, Any]) -> str:
    """``running`` unless the Proxmox simulation says the node's VM (or its host) is not."""
    vm = node.get("vm")
    if not vm:
        return "running"
    hosts = state.get("pve", {}).get("hosts", {})
    host = hosts.get(vm["host"])
    if host is None:
        return "running"
    if not host.get("up", True):
        return "host-down"
    record = host.get("vms", {}).get(str(vm["vmid"]))
    if record is None:
        return "absent"  # destroyed (qm destroy): when a VM with this id runs again, its disk is blank
    return str(record.get("status", "running"))


def is_down(state: State, node: dict[str, Any], t: float | None = None) -> bool:
    t = now(state) if t is None else t
    if node.get("powered_off"):
        return True
    pending = node.get("pending")
    if not pending:
        return False
    if t < pending["down_at"]:
        return False
    back_at = pending.get("back_at")
    return back_at is None or t < back_at


def find_node(state: State, name_or_ip: str) -> str | None:
    """The hostname of the node with this hostname or address."""
    nodes = state.get("nodes", {})
    if name_or_ip in nodes:
        return name_or_ip
    for hostname, node in nodes.items():
        if name_or_ip == node["ip"] or name_or_ip in node.get("ips", []):
            return str(hostname)
    return None


def api_up(state: State) -> bool:
    """The Kubernetes API behind the VIP answers: no ``api-unreachable`` fault, a control plane up, etcd quorate."""
    if any(f["name"] == "api-unreachable" for f in state.get("faults", [])):
        return False
    from homeops.sim import bootstrap  # a blank cluster has no API server until bootstrapped

    if not bootstrap.api_serving(state, now(state)):
        return False
    if not any(n["control_plane"] and not is_down(state, n) for n in state["nodes"].values()):
        return False
    return etcd_quorate(state)


def _faulted(state: State, name: str, target: str) -> bool:
    return any(f["name"] == name and f["target"] in (None, target) for f in state.get("faults", []))


def etcd_members(state: State) -> dict[str, dict[str, Any]]:
    """The etcd member list as the cluster reports it: lost members gone, faults and down nodes unhealthy."""
    view: dict[str, dict[str, Any]] = {}
    for hostname, member in state["etcd"]["members"].items():
        if _faulted(state, "etcd-member-lost", hostname):
            continue
        node = state["nodes"][hostname]
        healthy = (
            bool(member.get("healthy")) and not is_down(state, node) and not _faulted(state, "etcd-unhealthy", hostname)
        )
        view[hostname] = {**member, "healthy": healthy}
    return view


def etcd_quorate(state: State) -> bool:
    members = etcd_members(state)
    healthy = sum(1 for m in members.values() if m["healthy"])
    return bool(state["etcd"]["members"]) and healthy * 2 > len(state["etcd"]["members"])


# ── scheduling ───────────────────────────────────────────────────────────────────────────────────


def begin_reboot(
    state: State,
    hostname: str,
    *,
    kind: str,
    to_version: str | None = None,
    to_image: str | None = None,
    delay: float | None = None,
) -> dict[str, Any]:
    """Schedule a reboot of ``hostname`` (optionally into a new version), applying node faults."""
    from homeops.sim import faults

    t = now(state)
    node = state["nodes"][hostname]
    down_after = config(state, "upgrade_seconds") if delay is None else delay
    down_at = t + down_after
    back_at: float | None = down_at + config(state, "reboot_seconds")
    ready_extra = 0.0
    version = to_version or node["talos_version"]
    image = to_image or node.get("image")
    rolled_back = False
    if faults.consume(state, "node-never-returns", hostname) is not None:
        back_at = None
    if faults.consume(state, "node-rollback", hostname) is not None and to_version:
        # A/B: the new image fails to boot and the bootloader falls back to the previous one.
        version, image, rolled_back = node["talos_version"], node.get("image"), True
    slow = faults.consume(state, "node-slow-ready", hostname)
    if slow is not None:
        ready_extra = float(slow["params"].get("seconds", 300))
    pending = {
        "kind": kind,
        "started": t,
        "down_at": down_at,
        "back_at": back_at,
        "ready_at": None if back_at is None else back_at + config(state, "ready_seconds") + ready_extra,
        "to_version": version,
        "to_image": image,
        "rolled_back": rolled_back,
        "went_down": False,
        "booted": False,
    }
    node["pending"] = pending
    node["stage"] = "upgrading" if kind == "upgrade" else "rebooting"
    node["ready"] = False
    _k8s_node(state, hostname)["ready"] = "False"
    return pending


def _k8s_node(state: State, hostname: str) -> dict[str, Any]:
    nodes: dict[str, dict[str, Any]] = state["k8s"]["nodes"]
    return nodes.setdefault(hostname, {"ready": "False", "unschedulable": False, "kubelet_version": None})


def _go_down(state: State, hostname: str) -> None:
    node = state["nodes"][hostname]
    node["stage"] = "rebooting"
    node["ready"] = False
    _k8s_node(state, hostname)["ready"] = "Unknown"
    member = state["etcd"]["members"].get(hostname)
    if member is not None:
        member["healthy"] = False
        if state["etcd"].get("leader") == hostname:
            _elect_leader(state)


def _elect_leader(state: State) -> None:
    members = state["etcd"]["members"]
    candidates = sorted(h for h, m in members.items() if m.get("healthy") and not is_down(state, state["nodes"][h]))
    state["etcd"]["leader"] = candidates[0] if candidates else None


def _boot(state: State, hostname: str, pending: dict[str, Any]) -> None:
    node = state["nodes"][hostname]
    node["talos_version"] = pending["to_version"]
    if pending.get("to_image"):
        node["image"] = pending["to_image"]
    node["boot_id"] = new_boot_id(state)
    node["booted_at"] = float(pending.get("back_at") or now(state))  # when it booted, not when we noticed
    node["stage"] = "maintenance" if node.get("maintenance") else "booting"
    node["ready"] = False
    _k8s_node(state, hostname)["ready"] = "False"


def _become_ready(state: State, hostname: str) -> None:
    node = state["nodes"][hostname]
    if node.get("maintenance"):
        node["stage"] = "maintenance"
        return
    node["stage"] = "running"
    node["ready"] = True
    node["ready_since"] = now(state)  # storage rebuilds (Longhorn replicas) count from here
    k8s = _k8s_node(state, hostname)
    k8s["ready"] = "True"
    k8s["kubelet_version"] = node["kubernetes_version"]
    member = state["etcd"]["members"].get(hostname)
    if member is not None and node.get("etcd_data"):  # a stale member (wiped node) stays unhealthy
        member["healthy"] = True
        if not state["etcd"].get("leader"):
            state["etcd"]["leader"] = hostname


def next_event(state: State) -> float | None:
    """The earliest future time at which something changes on its own (for virtual-time waits)."""
    t = now(state)
    times: list[float] = []
    for node in state["nodes"].values():
        pending = node.get("pending")
        if pending:
            for key in ("down_at", "back_at", "ready_at"):
                value = pending.get(key)
                if value is not None and value > t:
                    times.append(float(value))
    for fault in state.get("faults", []):
        until = fault.get("params", {}).get("until")
        if until is not None and until > t:
            times.append(float(until))
    for job in state.get("jobs", []):
        if job["at"] > t:
            times.append(float(job["at"]))
    from homeops.sim import bootstrap

    times += bootstrap.next_times(state, t)
    return min(times) if times else None


def settle(state: State) -> float:
    """Virtual time only: jump to when every node transition that will finish has finished.

    Between two commands an operator takes minutes (power-cycles a VM, waits for a slow node);
    virtual time only moves when a command sleeps, so without this a node recovered by hand stays
    "booting" forever. A node that never comes back stays down. Returns the seconds skipped.
    """
    if state["clock"].get("mode") != "virtual":
        return 0.0
    t = now(state)
    due = [
        float(value)
        for node in state["nodes"].values()
        if node.get("pending")
        for value in (node["pending"].get("ready_at"), node["pending"].get("back_at"))
        if value is not None
    ]
    target = max(due, default=t)
    if target <= t:
        return 0.0
    state["clock"]["now"] = target
    advance(state)
    return target - t


def advance(state: State, t: float | None = None) -> None:
    """Apply every transition due by ``t`` (default: the state's own now)."""
    t = now(state) if t is None else t
    state["faults"] = [
        f for f in state.get("faults", []) if f.get("params", {}).get("until") is None or f["params"]["until"] > t
    ]
    if state.get("pve"):
        from homeops.sim.hosts import settle_ha

        settle_ha(state)  # what the Proxmox HA stack did meanwhile (it starts and stops VMs on its own)
    for hostname, node in state["nodes"].items():
        _power(state, hostname, node, t)
        pending = node.get("pending")
        if not pending:
            continue
        if t >= pending["down_at"] and not pending["went_down"]:
            pending["went_down"] = True
            _go_down(state, hostname)
        back_at = pending.get("back_at")
        if back_at is not None and t >= back_at and not pending["booted"]:
            pending["booted"] = True
            _boot(state, hostname, pending)
        ready_at = pending.get("ready_at")
        if ready_at is not None and t >= ready_at:
            node["pending"] = None
            _become_ready(state, hostname)
    _run_jobs(state, t)
    _join_etcd(state)
    from homeops.sim import apps_data, bootstrap

    _cluster_gone(state)
    bootstrap.derive(state, t)
    apps_data.derive(state, t)
    _derive_workloads(state)


def _cluster_gone(state: State) -> None:
    """Every control plane's STATE wiped (a rebuild's reset): the cluster is gone, its next incarnation
    comes up the way a blank one does (``homeops.sim.bootstrap``: API after etcd, Flux, then the apps)."""
    if "bootstrap" in state:
        return
    cps = [n for n in state["nodes"].values() if n["control_plane"]]
    if not cps or not all(n.get("maintenance") for n in cps):
        return
    from homeops.sim import apps_data

    state["etcd"].update(members={}, leader=None, bootstrapped=False, alarms=[])
    state["k8s"].update(nodes={}, pods=[], deployments=[], replicationsources=[], helm_releases={}, applied={})
    state["flux"] = {"kustomizations": [], "helmreleases": [], "instance": None}
    state["bootstrap"] = {"api_at": None, "cni": False}
    apps_data.cluster_gone(state)


def _power(state: State, hostname: str, node: dict[str, Any], t: float) -> None:
    """Follow the Proxmox VM: stopped means down; started again means a cold boot."""
    status = vm_status(state, node)
    running = status == "running"
    if status == "absent":
        node["disk_blank"] = True
    boots = _vm_record(state, node).get("boots")
    if running and boots is not None and node.get("vm_boots") not in (None, boots) and not node.get("powered_off"):
        # The VM started again without us seeing it stopped (`qm reboot`, or a stop and start between
        # two looks): the guest went down all the same.
        node["powered_off"] = True
        node["pending"] = None
        _go_down(state, hostname)
    if boots is not None:
        node["vm_boots"] = boots
    if not running and not node.get("powered_off"):
        node["powered_off"] = True
        node["pending"] = None
        _go_down(state, hostname)
    elif running and node.get("powered_off"):
        node["powered_off"] = False
        if node.pop("disk_blank", False):
            _wipe(state, hostname, everything=True)
            from homeops.sim import apps_data

            apps_data.disk_lost(state, hostname)
        # The boot began when the VM started (the host shims record it), not when we noticed.
        started = _vm_started_at(state, node)
        start = started if started is not None and started <= t else t
        pending = begin_reboot(state, hostname, kind="boot", delay=0.0)
        shift = start - pending["down_at"]
        for key in ("down_at", "back_at", "ready_at"):
            if pending[key] is not None:
                pending[key] += shift
        pending["went_down"] = True
        if pending["back_at"] is not None and t >= pending["back_at"]:
            pending["booted"] = True
            _boot(state, hostname, pending)
        if pending["ready_at"] is not None and t >= pending["ready_at"]:
            node["pending"] = None
            _become_ready(state, hostname)


def _vm_record(state: State, node: dict[str, Any]) -> dict[str, Any]:
    vm = node.get("vm") or {}
    record = state.get("pve", {}).get("hosts", {}).get(vm.get("host"), {}).get("vms", {}).get(str(vm.get("vmid")))
    return record or {}


def _vm_started_at(state: State, node: dict[str, Any]) -> float | None:
    value = _vm_record(state, node).get("started_at")
    return float(value) if value is not None else None


def _run_jobs(state: State, t: float) -> None:
    """One-shot scheduled changes (e.g. a kubelet restart during upgrade-k8s)."""
    jobs = state.setdefault("jobs", [])
    due = [j for j in jobs if j["at"] <= t]
    if not due:
        return
    state["jobs"] = [j for j in jobs if j["at"] > t]
    for job in due:
        if job["kind"] == "kubelet":
            k8s = _k8s_node(state, job["node"])
            k8s["kubelet_version"] = job["version"]
            state["nodes"][job["node"]]["kubernetes_version"] = job["version"]


def wiped(state: State, hostname: str, labels: list[str]) -> None:
    """``talosctl reset``: what goes with the wiped partitions besides etcd's data directory — node-local
    volumes, and a member's broken data (fault ``etcd-unhealthy`` lives in EPHEMERAL)."""
    from homeops.sim import apps_data

    if not labels or "EPHEMERAL" in labels:
        state["faults"] = [
            f for f in state.get("faults", []) if not (f["name"] == "etcd-unhealthy" and f.get("target") == hostname)
        ]
    apps_data.wiped(state, hostname, labels)


def _wipe(state: State, hostname: str, *, everything: bool) -> None:
    """EPHEMERAL wiped: no etcd data (the member stays listed, stale). STATE too: maintenance mode."""
    node = state["nodes"][hostname]
    node["etcd_data"] = False
    member = state["etcd"]["members"].get(hostname)
    if member is not None:
        member["healthy"] = False
        member["stale"] = True
    if everything:
        node["maintenance"] = True


def _join_etcd(state: State) -> None:
    """A running control plane without etcd data joins by itself once etcd has quorum.

    A stale member under its name (the node was wiped but not removed) blocks the join, as etcd
    refuses a second member with the same name: ``talosctl etcd remove-member`` unblocks it.
    """
    etcd = state["etcd"]
    if not etcd.get("bootstrapped") or not etcd_quorate(state):
        return
    for hostname, node in sorted(state["nodes"].items()):
        if not node["control_plane"] or node.get("etcd_data") or node.get("maintenance"):
            continue
        if node.get("pending") or node["stage"] != "running" or is_down(state, node):
            continue
        if hostname in etcd["members"]:
            continue
        etcd["members"][hostname] = {"id": new_id(state, "member", 16), "healthy": True}
        node["etcd_data"] = True


def _derive_workloads(state: State) -> None:
    """Pods on a node that is not Ready are not ready; a Deployment counts its ready pods."""
    k8s = state["k8s"]
    node_ready = {h: n.get("ready") == "True" for h, n in k8s["nodes"].items()}
    for pod in k8s.get("pods", []):
        pod["ready"] = bool(node_ready.get(pod.get("node", ""), False))
    for deploy in k8s.get("deployments", []):
        owned = [p for p in k8s.get("pods", []) if p.get("owner") == f"Deployment/{deploy['name']}"]
        deploy["ready_replicas"] = sum(1 for p in owned if p["ready"] and p["namespace"] == deploy["namespace"])
