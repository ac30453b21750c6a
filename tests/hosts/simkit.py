"""Shared test builders: an example-shaped inventory and a fresh sim state for the host shims."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from homeops.inventory.model import Cluster, Inventory, Node, SshHost, UpgradePolicy, VmRef
from homeops.runners import LocalRunner, Runner
from homeops.runtime import Runtime
from homeops.sim.hosts import initial_host_state
from homeops.sim.store import SimStore

PVE_HOSTS = ("pve1", "pve2", "pve3")


def make_inventory(root: Path, hosts: tuple[SshHost, ...] | None = None, **policy: Any) -> Inventory:
    """The example cluster's shape: k8s-0..2 control planes, k8s-3..5 workers, VMs over pve1..3."""
    nodes = tuple(Node(f"k8s-{i}", f"10.10.0.{10 + i}", i < 3, vm=VmRef(PVE_HOSTS[i % 3], 200 + i)) for i in range(6))
    if hosts is None:
        hosts = tuple(SshHost(name, f"10.10.0.{i + 2}", "proxmox") for i, name in enumerate(PVE_HOSTS))
        hosts += (SshHost("nas", "10.10.0.5", "truenas"),)
    cluster = Cluster(
        name="home",
        endpoint="https://10.10.0.100:6443",
        talos_version="v1.11.6",
        kubernetes_version="v1.34.1",
        talconfig=None,
        talosconfig=root / "talosconfig",
        kubeconfig=root / "kubeconfig",
        clusterconfig_dir=root / "clusterconfig",
    )
    return Inventory(root, cluster, nodes, hosts, policy=UpgradePolicy(**policy), state_dir=root / ".homeops")


def make_state(inventory: Inventory, *, now: float | None = None) -> dict[str, Any]:
    clock = {"mode": "virtual", "now": now, "origin": now} if now is not None else {"mode": "real"}
    return {"version": 1, "clock": clock, "faults": [], "log": [], **initial_host_state(inventory)}


def new_sim(directory: Path, inventory: Inventory) -> SimStore:
    store = SimStore(directory)
    store.create(make_state(inventory))
    return store


def add_fault(store: SimStore, name: str, target: str | None = None, **params: Any) -> None:
    remaining = params.pop("remaining", None)
    with store.transaction() as state:
        state["faults"].append({"name": name, "target": target, "params": params, "remaining": remaining})


def runtime_with(inventory: Inventory, factory: Callable[[SshHost], Runner]) -> Runtime:
    return Runtime(inventory=inventory, local=LocalRunner(), host_factory=factory)
