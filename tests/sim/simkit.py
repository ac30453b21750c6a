"""Test helpers for the simulator: the example inventory as a model, a sim driven in-process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from homeops.inventory.model import Cluster, Inventory, Node, SshHost, VmRef
from homeops.sim.store import SimStore
from homeops.sim.tools import run

SCHEMATIC = "ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"


def example_inventory(root: Path, *, workers: int = 3, control_planes: int = 3) -> Inventory:
    """The bundled example inventory (inventory/homeops.yaml + talconfig.yaml) as the loader builds it."""
    nodes = []
    hosts = ("pve1", "pve2", "pve3")
    for i in range(control_planes + workers):
        nodes.append(
            Node(
                hostname=f"k8s-{i}",
                ip=f"10.10.0.{20 + i}",
                control_plane=i < control_planes,
                ips=(f"10.10.0.{20 + i}",),
                talos_image_url=f"factory.talos.dev/metal-installer/{SCHEMATIC}",
                schematic_id=SCHEMATIC,
                install_disk="/dev/sda",
                vm=VmRef(hosts[i % 3], 200 + i),
            )
        )
    cluster = Cluster(
        name="home",
        endpoint="https://10.10.0.10:6443",
        talos_version="v1.11.6",
        kubernetes_version="v1.34.2",
        talconfig=root / "talos" / "talconfig.yaml",
        talosconfig=root / "talos" / "clusterconfig" / "talosconfig",
        kubeconfig=root / "kubeconfig",
        clusterconfig_dir=root / "talos" / "clusterconfig",
    )
    ssh = (
        *(SshHost(h, f"10.10.0.{2 + i}", "proxmox") for i, h in enumerate(hosts)),
        SshHost("nas", "10.10.0.5", "truenas"),
    )
    return Inventory(root=root, cluster=cluster, nodes=tuple(nodes), hosts=ssh, state_dir=root / ".homeops")


class Sim:
    """A simulated cluster in a temp dir, driven through the fake tools in-process."""

    def __init__(self, directory: Path, inventory: Inventory) -> None:
        self.dir = directory
        self.inventory = inventory
        self.store = SimStore(directory)
        self.env = {"HOMEOPS_SIM_DIR": str(directory), "HOMEOPS_SIM_CWD": str(directory), "HOME": str(directory)}

    def run(self, tool: str, *argv: str, stdin: str | None = None) -> tuple[int, str, str]:
        return run(tool, list(argv), stdin, self.env)

    def talosctl(self, *argv: str) -> tuple[int, str, str]:
        return self.run("talosctl", *argv)

    def kubectl(self, *argv: str) -> tuple[int, str, str]:
        return self.run("kubectl", *argv)

    @property
    def state(self) -> dict[str, Any]:
        return self.store.read()

    def node(self, hostname: str) -> dict[str, Any]:
        node: dict[str, Any] = self.state["nodes"][hostname]
        return node

    def advance(self, seconds: float) -> None:
        from homeops.sim.clock import advance_virtual

        advance_virtual(self.store, seconds)

    def mutate(self) -> Any:
        return self.store.transaction()
