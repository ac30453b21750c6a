"""The operator's inventory: ``homeops.yaml`` + the talhelper talconfig it points at, as frozen values.

    from homeops.inventory import load_inventory
    inv = load_inventory(Path("inventory"))          # Inventory (see homeops.inventory.model)
    tc = read_talconfig(Path("talos/talconfig.yaml"))  # TalConfig: talhelper's view, nodes merged

Names are imported on first use so that ``import homeops.inventory.model`` (done by every task
module's type hints) stays free of YAML parsing code.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from homeops.inventory.loader import inventory_from_talconfig, load_inventory
    from homeops.inventory.model import Cluster, CustomGate, Gates, Inventory, Node, SshHost, UpgradePolicy, VmRef
    from homeops.inventory.talconfig import TalConfig, TalNode, read_talconfig
    from homeops.inventory.versions import Version, normalise_version, parse_version

_EXPORTS = {
    "load_inventory": "loader",
    "inventory_from_talconfig": "loader",
    "read_talconfig": "talconfig",
    "TalConfig": "talconfig",
    "TalNode": "talconfig",
    "Version": "versions",
    "parse_version": "versions",
    "normalise_version": "versions",
    "Inventory": "model",
    "Cluster": "model",
    "Node": "model",
    "SshHost": "model",
    "VmRef": "model",
    "UpgradePolicy": "model",
    "Gates": "model",
    "CustomGate": "model",
}

__all__ = [
    "Cluster",
    "CustomGate",
    "Gates",
    "Inventory",
    "Node",
    "SshHost",
    "TalConfig",
    "TalNode",
    "UpgradePolicy",
    "Version",
    "VmRef",
    "inventory_from_talconfig",
    "load_inventory",
    "normalise_version",
    "parse_version",
    "read_talconfig",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'homeops.inventory' has no attribute {name!r}")
    return getattr(importlib.import_module(f"homeops.inventory.{module}"), name)
