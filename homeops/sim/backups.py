"""Faults on the backup *files*: the newest etcd snapshot gone from the NAS, or its bytes damaged.

These act on files, not on the simulated state: the local snapshot directory, and the NAS backup
directory reached the way homeops reaches it (SFTP to the OpenSSH container, or the in-process
host directory), so the code under test finds the damage exactly where it would on a real NAS.
``inv sim.fault`` and ``dr.rehearse`` call ``damage`` after recording the fault in the state.
Damage is not undone by clearing the fault: take a new snapshot.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from homeops import snapshotsum
from homeops.errors import SimError
from homeops.runtime import Runtime

FILE_FAULTS = ("snapshot-missing-on-nas", "snapshot-corrupt")


def _newest(names: list[str]) -> str | None:
    dbs = [n for n in names if n.endswith(snapshotsum.SUFFIX)]
    return max(dbs, key=lambda n: (snapshotsum.taken_at(n) or 0.0, n), default=None)


def flip(data: bytes) -> bytes:
    """The same length with one digit changed near the middle (a bit rot that still parses)."""
    if not data:
        return b"\0"
    middle = len(data) // 2
    for index in [*range(middle, len(data)), *range(middle)]:
        if 0x30 <= data[index] <= 0x39:
            return data[:index] + bytes([0x30 + (data[index] - 0x30 + 1) % 10]) + data[index + 1 :]
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def damage(runtime: Runtime, fault: str) -> str:
    """Apply ``fault`` to the newest etcd snapshot; says what it did."""
    from homeops.backupstore import nas_host, nas_list_backups, transfer

    if fault not in FILE_FAULTS:
        raise SimError(f"'{fault}' is not a backup-file fault", hint=f"these are: {', '.join(FILE_FAULTS)}")
    if not runtime.simulated:
        raise SimError("refusing to damage backup files outside the simulator")
    inventory = runtime.inventory
    host = nas_host(runtime)
    directory = inventory.policy.nas_backup_dir.rstrip("/")
    remote = _newest([f.name for f in nas_list_backups(runtime)]) if host else None
    done = []
    if fault == "snapshot-missing-on-nas":
        if host is None or remote is None:
            return "no etcd snapshot on the NAS to remove"
        files = transfer(runtime, host)
        names = {f.name for f in files.listdir(directory)}
        for name in (remote, remote + snapshotsum.SIDECAR):
            if name in names:
                files.remove(f"{directory}/{name}")
        return f"removed {host}:{directory}/{remote}"
    local_dir = inventory.state_dir / "etcd-snapshots"
    local = _newest([p.name for p in local_dir.glob("*.db")]) if local_dir.is_dir() else None
    if local is not None:
        path = local_dir / local
        path.write_bytes(flip(path.read_bytes()))
        done.append(str(path))
    if host is not None and remote is not None:
        files = transfer(runtime, host)
        with tempfile.TemporaryDirectory() as tmp:
            copy = Path(tmp) / remote
            files.download(f"{directory}/{remote}", copy)
            copy.write_bytes(flip(copy.read_bytes()))
            files.upload(copy, f"{directory}/{remote}")
        done.append(f"{host}:{directory}/{remote}")
    return "damaged " + (", ".join(done) if done else "nothing: there is no etcd snapshot yet")


def lose_the_vms(state: dict[str, object]) -> None:
    """The bad day, for a rehearsal: the cluster ran on after its last snapshot, then every Talos VM was
    lost (the Proxmox cluster dropped them). What is left is a blank slate, as ``sim.up --blank`` makes,
    without the VMs; the data apps' restores start once the rebuilt cluster's Flux is up.
    """
    from typing import Any, cast

    from homeops.sim import bootstrap

    s = cast(dict[str, Any], state)
    etcd = s["etcd"]
    etcd["revision"] = int(etcd["revision"]) + 517  # writes after the snapshot: the restore must not have them
    etcd["data"]["total_keys"] = int(etcd["data"]["total_keys"]) + 40
    from homeops.sim import apps_data

    bootstrap.blank(s)
    apps_data.cluster_gone(s)
    for hostname, node in s["nodes"].items():
        apps_data.disk_lost(s, hostname)
        vm = node.get("vm")
        if not vm:
            continue
        s["pve"]["hosts"][vm["host"]]["vms"].pop(str(vm["vmid"]), None)
        node["disk_blank"] = True
        node["vm_boots"] = -1
