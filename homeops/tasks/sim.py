"""Tasks of the `sim` namespace, and the top-level `demo`.

``inv sim.up`` creates a simulated cluster from an inventory (fake talosctl/kubectl/… first on PATH
for every later ``inv`` command on that inventory); ``sim.status``, ``sim.fault``, ``sim.log`` look
at and change it; ``sim.down`` removes it. Heavy imports stay inside the task bodies.
"""

from __future__ import annotations

from typing import Any

from invoke.collection import Collection

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import task

ns = Collection("sim")


def mask(text: str) -> str:
    """Values from an encrypted talenv.sops.yaml reach the sim state (endpoint, IPs): mask them here too."""
    from homeops.secrets import mask as mask_secrets

    return mask_secrets(text)


def _load(ctx: Any, inventory: str | None) -> Any:
    from homeops.inventory.loader import load_inventory

    return load_inventory(inventory_dir(ctx, inventory))


def _sim_dir(inv: Any) -> Any:
    from homeops.sim.lifecycle import sim_dir

    return sim_dir(inv).resolve()


def _store(ctx: Any, inventory: str | None) -> Any:
    from homeops.errors import SimError
    from homeops.sim.store import SimStore

    inv = _load(ctx, inventory)
    store = SimStore(_sim_dir(inv))
    if not store.exists():
        raise SimError(f"no simulated cluster for {inv.root} (looked in {store.dir})", hint="start one: inv sim.up")
    return store


@task(
    help={
        "inventory": "inventory directory (default: $HOMEOPS_INVENTORY or ./inventory)",
        "hosts": "run the Proxmox/TrueNAS hosts as OpenSSH containers (needs Docker)",
        "talos_version": "Talos version the nodes run (default: the talconfig's)",
        "kubernetes_version": "Kubernetes version the nodes run (default: the talconfig's)",
        "reboot_seconds": "how long a rebooting node is unreachable",
        "ready_seconds": "how long a booted node takes to become ready",
        "virtual": "virtual time: nothing takes wall-clock time (for tests and rehearsals in a hurry)",
        "ceph": "add a Rook CephCluster (HEALTH_OK)",
        "blank": "VMs in Talos maintenance mode: nothing configured, no etcd, no Kubernetes (for bootstrap.*)",
    }
)
@user_errors
def up(
    ctx: Any,
    inventory: str | None = None,
    hosts: bool = False,
    talos_version: str | None = None,
    kubernetes_version: str | None = None,
    reboot_seconds: float | None = None,
    ready_seconds: float | None = None,
    virtual: bool = False,
    ceph: bool = False,
    blank: bool = False,
) -> None:
    """Start a simulated cluster for an inventory; later `inv` commands on it use the fake tools."""
    from homeops.sim.lifecycle import start

    store = start(
        inventory_dir(ctx, inventory),
        hosts=hosts,
        talos_version=talos_version,
        kubernetes_version=kubernetes_version,
        reboot_seconds=reboot_seconds,
        ready_seconds=ready_seconds,
        virtual=virtual,
        ceph=ceph,
        blank=blank,
    )
    print(mask(render_status(store.read(include_log=False))))
    print(f"\nsimulated cluster up in {store.dir}; `inv sim.down` removes it")


@task(help={"inventory": "inventory directory"})
@user_errors
def down(ctx: Any, inventory: str | None = None) -> None:
    """Remove the simulated cluster (state, fake tools, host containers)."""
    import shutil

    from homeops.sim.lifecycle import stop_containers

    inv = _load(ctx, inventory)
    directory = _sim_dir(inv)
    if not directory.exists():
        print(f"no simulated cluster in {directory}")
        return
    removed = stop_containers(directory)
    shutil.rmtree(directory)
    extra = f" and {removed} host container(s)" if removed else ""
    print(f"removed the simulated cluster in {directory}{extra}")


def _age(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds < 120 else f"{seconds / 60:.0f}m"


def render_status(state: dict[str, Any]) -> str:
    """Nodes, etcd, hosts and faults of a sim state as plain text."""
    from homeops.sim import engine
    from homeops.sim.tools._base import tabwrite

    engine.advance(state)
    t = engine.now(state)
    members = engine.etcd_members(state)
    leader = state["etcd"].get("leader")
    rows = [["NODE", "IP", "ROLE", "TALOS", "K8S", "STAGE", "READY", "K8S NODE", "ETCD", "VM"]]
    for hostname, node in sorted(state["nodes"].items()):
        member = members.get(hostname)
        etcd = (
            "-"
            if not node["control_plane"]
            else (
                "missing"
                if member is None
                else ("healthy" if member["healthy"] else "unhealthy") + (" leader" if leader == hostname else "")
            )
        )
        k8s = state["k8s"]["nodes"].get(hostname, {})
        k8s_text = {"True": "Ready", "False": "NotReady", "Unknown": "Unknown"}.get(k8s.get("ready"), "?")
        if k8s.get("unschedulable"):
            k8s_text += ",cordoned"
        stage = node["stage"]
        if node.get("pending") and node["pending"].get("back_at") is None and engine.is_down(state, node):
            stage = "down (not coming back)"
        elif node.get("pending") and engine.is_down(state, node):
            stage = f"down ({_age(node['pending']['back_at'] - t)} left)"
        vm = node.get("vm")
        rows.append(
            [
                hostname,
                node["ip"],
                "controlplane" if node["control_plane"] else "worker",
                node["talos_version"],
                k8s.get("kubelet_version") or node["kubernetes_version"],
                stage,
                "yes" if node["ready"] else "no",
                k8s_text,
                etcd,
                f"{vm['host']}/{vm['vmid']} {engine.vm_status(state, node)}" if vm else "-",
            ]
        )
    out = [
        f"[SIMULATED] cluster {state['cluster']['name']} ({state['cluster']['endpoint']}), "
        f"clock: {state['clock']['mode']}, API: {'up' if engine.api_up(state) else 'DOWN'}",
        "",
        tabwrite(rows).rstrip(),
    ]
    pve = state.get("pve") or {}
    if pve.get("hosts"):
        hosts = ", ".join(f"{n} {'up' if h.get('up', True) else 'DOWN'}" for n, h in sorted(pve["hosts"].items()))
        quorate = "quorate" if pve.get("cluster", {}).get("quorate", True) else "NOT QUORATE"
        out.append(f"\nproxmox: {hosts}; cluster {quorate}")
    nas = state.get("nas") or {}
    if nas:
        pools = ", ".join(f"{p['name']} {p.get('status')}" for p in nas.get("pools", []))
        nfs = (nas.get("services", {}).get("nfs") or {}).get("state", "?")
        out.append(f"truenas: {'up' if nas.get('up', True) else 'DOWN'}; pools {pools or 'none'}; nfs {nfs}")
    if state.get("hosts_transport"):
        out.append(
            "hosts reached over SSH: "
            + ", ".join(f"{n}={v['address']}:{v['port']}" for n, v in sorted(state["hosts_transport"].items()))
        )
    faults = state.get("faults") or []
    out.append("\nfaults: " + ("none" if not faults else "; ".join(_fault_text(f) for f in faults)))
    return "\n".join(out)


def _fault_text(fault: dict[str, Any]) -> str:
    params = {k: v for k, v in fault.get("params", {}).items() if k != "until"}
    text = str(fault["name"]) + (f" on {fault['target']}" if fault.get("target") else "")
    if params:
        text += " " + " ".join(f"{k}={v}" for k, v in params.items())
    if fault.get("remaining") is not None:
        text += f" (x{fault['remaining']})"
    return text


@task(help={"inventory": "inventory directory", "json": "print the raw state as JSON"})
@user_errors
def status(ctx: Any, inventory: str | None = None, json: bool = False) -> None:
    """Show the simulated nodes, versions, stages, etcd, hosts and active faults."""
    store = _store(ctx, inventory)
    with store.transaction() as state:
        from homeops.sim import engine

        engine.advance(state)
    if json:
        import json as json_module

        print(mask(json_module.dumps({k: v for k, v in state.items() if k != "log"}, indent=2, sort_keys=True)))
        return
    print(mask(render_status(state)))


@task(
    positional=["name"],
    help={
        "name": "fault name; `list` shows them all; `all` with --clear clears every fault",
        "target": "node (hostname or IP), Proxmox host or pool the fault applies to",
        "times": "how many times it fires (default: until cleared; command-fails: 1)",
        "seconds": "duration (api-unreachable) or extra seconds (node-slow-ready)",
        "tool": "command-fails: which tool (talosctl, kubectl, qm, …)",
        "subcommand": "command-fails: only this subcommand (e.g. upgrade)",
        "clear": "remove the fault instead of injecting it",
        "inventory": "inventory directory",
    },
)
@user_errors
def fault(
    ctx: Any,
    name: str,
    target: str | None = None,
    times: int | None = None,
    seconds: float | None = None,
    tool: str | None = None,
    subcommand: str | None = None,
    clear: bool = False,
    inventory: str | None = None,
) -> None:
    """Inject (or --clear) a fault in the simulated cluster: `inv sim.fault list` names them."""
    from homeops.sim import engine, faults

    if name == "list":
        for spec in faults.SPECS.values():
            takes = f" [{', '.join('--' + p for p in spec.params)}]" if spec.params else ""
            target_text = f" --target <{spec.target}>" if spec.target != "none" else ""
            print(f"{spec.name}{target_text}{takes}: {spec.description}")
        return
    store = _store(ctx, inventory)
    with store.transaction() as state:
        engine.advance(state)
        if clear:
            count = faults.clear(state, None if name == "all" else name, target)
            print(f"cleared {count} fault(s)")
            return
        params: dict[str, Any] = {"seconds": seconds, "tool": tool, "subcommand": subcommand}
        record = faults.inject(state, name, target, params=params, times=times)
    print(f"injected {_fault_text(record)}")
    if name in ("snapshot-missing-on-nas", "snapshot-corrupt"):
        from homeops.app.backend import open_runtime
        from homeops.sim.backups import damage

        with open_runtime(_load(ctx, inventory).root) as rt:
            print(damage(rt, name))


@task(help={"inventory": "inventory directory", "tail": "only the last N commands", "tool": "only this tool"})
@user_errors
def log(ctx: Any, inventory: str | None = None, tail: int = 0, tool: str | None = None) -> None:
    """Every command the fake tools and host shims ran, in order, with exit codes.

    Times are seconds since the simulator's start in virtual time, since the first command on the real clock.
    """
    import shlex

    store = _store(ctx, inventory)
    clock = store.read(include_log=False)["clock"]
    everything = store.log()
    # On the real clock the entries carry wall time and "origin" is the fixed virtual epoch (2025):
    # offsets from it were years long (+36438489s).
    origin = float(clock["origin"]) if clock.get("mode") == "virtual" or not everything else float(everything[0]["t"])
    entries = [e for e in everything if tool is None or e.get("tool") == tool]
    if tail:
        entries = entries[-tail:]
    for entry in entries:
        offset = float(entry["t"]) - origin
        print(f"+{offset:9.1f}s  exit {entry['exit']:<3} {shlex.join(entry['argv'])}")


ns.add_task(up)
ns.add_task(down)
ns.add_task(status)
ns.add_task(fault)
ns.add_task(log)


def _demo_inventory(ctx: Any, explicit: str | None) -> Any:
    """--inventory as given, else a fresh copy of the example cluster bundled with homeops.

    The copy is paced for watching: the example's 30-second stability window and 5-second polls
    become 3 and 1 seconds (reboots take 3 s in the demo, not minutes).
    """
    import re
    import shutil
    from pathlib import Path

    from homeops.sim.lifecycle import stop_containers

    if explicit:
        return inventory_dir(ctx, explicit)
    bundled = Path(__file__).resolve().parent.parent / "sim" / "example"
    target = Path(".homeops-demo") / "inventory"
    if target.exists():
        stop_containers(target / ".homeops" / "sim", quiet=True)
        shutil.rmtree(target)
    shutil.copytree(bundled, target)
    config = target / "homeops.yaml"
    text = config.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^(\s*stabilitySeconds:\s*)\d+", r"\g<1>3", text)
    text = re.sub(r"(?m)^(\s*pollInterval:\s*)\d+", r"\g<1>1", text)
    config.write_text(text, encoding="utf-8")
    return target


@task(
    help={
        "inventory": "inventory to rehearse on (default: the example cluster)",
        "reboot_seconds": "how long each node is down (default 3)",
        "virtual": "virtual time (instant)",
    }
)
@user_errors
def demo(ctx: Any, inventory: str | None = None, reboot_seconds: float = 3.0, virtual: bool = False) -> None:
    """Rehearse a rolling Talos upgrade on a simulated copy of the example cluster, with live progress."""
    from homeops.inventory.loader import load_inventory
    from homeops.sim.lifecycle import start
    from homeops.sim.state import one_minor_behind

    path = _demo_inventory(ctx, inventory)
    inv = load_inventory(path)
    target = inv.cluster.talos_version or "v1.11.6"
    running = one_minor_behind(target)
    print(
        f"homeops demo: a simulated {len(inv.nodes)}-node cluster '{inv.cluster.name}' on Talos {running}; "
        f"talconfig wants {target}\n"
    )
    store = start(path, talos_version=running, reboot_seconds=reboot_seconds, virtual=virtual)
    print(mask(render_status(store.read(include_log=False))))
    print()
    _run_main_job(ctx, path, inv, target)
    print("\n" + mask(render_status(store.read(include_log=False))))
    print(
        f"\nthe simulated cluster stays up: try `inv sim.status --inventory {path}`, `inv sim.fault list`, "
        f"`inv sim.log --inventory {path}`; `inv sim.down --inventory {path}` removes it"
    )


def _run_main_job(ctx: Any, path: Any, inv: Any, target: str) -> None:
    """The rolling upgrade, once ``inv talos.upgrade-cluster`` exists; until then, what it would do."""
    import homeops.tasks.talos as talos

    job = talos.ns.tasks.get("upgrade-cluster")
    if job is not None:
        job(ctx, inventory=str(path), yes=True)
        return
    cps = [n.hostname for n in inv.control_planes]
    workers = [n.hostname for n in inv.workers]
    print(
        f"the rolling upgrade to {target} would now: snapshot etcd, then upgrade the control planes one at a time "
        f"({', '.join(cps)}), then the workers ({', '.join(workers)}), gating each node on etcd, Kubernetes, "
        "Proxmox, TrueNAS and Flux health."
    )
    print(f"(`inv talos.upgrade-cluster --inventory {path}` runs it against this simulated cluster.)")


top_level = [demo]
