"""The NAS backup directory, over SFTP: store (size verified, retention), list, fetch.

etcd snapshots, their sha256 sidecars and VM records go to the TrueNAS host's backup directory
(``policy.nas_backup_dir``) through the host's runner, which must transfer files (``FileTransfer``:
``SshRunner``, and the simulator's host runners). Layer 3 (``homeops.layers``): the step kinds
upload here, ``dr`` fetches, and the simulator's backup-file faults damage what is here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from homeops.adapters import truenas as nas
from homeops.errors import CommandError, ConfigError, HomeopsError, PlanError
from homeops.runtime import Runtime
from homeops.ssh import RemoteFile


@runtime_checkable
class FileTransfer(Protocol):
    """The SFTP surface of ``SshRunner`` (and of the simulator's ``ShimRunner``)."""

    def upload(self, local: str | os.PathLike[str], remote: str) -> None: ...

    def download(self, remote: str, local: str | os.PathLike[str]) -> None: ...

    def listdir(self, remote_dir: str) -> list[RemoteFile]: ...

    def remove(self, remote: str) -> None: ...


def nas_host(runtime: Runtime) -> str | None:
    hosts = runtime.inventory.hosts_of_kind("truenas")
    return hosts[0].name if hosts else None


@dataclass(frozen=True)
class StoredBackup:
    host: str
    path: str
    size: int
    deleted: tuple[str, ...] = field(default_factory=tuple)


def transfer(runtime: Runtime, host: str) -> FileTransfer:
    runner = runtime.host(host)
    if not isinstance(runner, FileTransfer):
        raise HomeopsError(f"the runner for host {host} cannot transfer files ({type(runner).__name__})")
    return runner


def nas_store_backup(
    runtime: Runtime,
    local: str | os.PathLike[str],
    *,
    directory: str | None = None,
    keep: int | None = None,
    prefix: str = "etcd-",
    suffix: str = ".db",
) -> StoredBackup:
    """Upload ``local`` to the NAS backup directory, verify its size, then keep only the ``keep`` newest."""
    host = nas_host(runtime)
    if host is None:
        raise ConfigError("no TrueNAS host to copy the backup to", field="hosts", hint="add a host with kind: truenas")
    policy = runtime.inventory.policy
    directory = (directory or policy.nas_backup_dir).rstrip("/") or "/"
    keep = policy.nas_backup_keep if keep is None else keep
    path = Path(local)
    size = path.stat().st_size
    remote = f"{directory}/{path.name}"
    files_of = transfer(runtime, host)
    files_of.upload(path, remote)
    files = files_of.listdir(directory)
    stored = next((f for f in files if f.name == path.name), None)
    if stored is None or stored.size != size:
        got = "missing" if stored is None else f"{stored.size} bytes"
        raise CommandError(
            f"backup upload to {host}:{remote} did not verify: expected {size} bytes, found {got}",
            target=host,
            hint="check free space on the NAS dataset (inv nas.status)",
        )
    victims = nas.retention(files, keep, prefix=prefix, suffix=suffix)
    for name in victims:
        files_of.remove(f"{directory}/{name}")
    return StoredBackup(host, remote, size, tuple(victims))


def nas_list_backups(runtime: Runtime, directory: str | None = None) -> list[RemoteFile]:
    host = nas_host(runtime)
    if host is None:
        return []
    directory = directory or runtime.inventory.policy.nas_backup_dir
    files = [f for f in transfer(runtime, host).listdir(directory) if not f.is_dir]
    return sorted(files, key=lambda f: (f.mtime, f.name), reverse=True)


def nas_fetch_backup(
    runtime: Runtime, name: str, local_dir: str | os.PathLike[str], *, directory: str | None = None
) -> Path:
    host = nas_host(runtime)
    if host is None:
        raise ConfigError("no TrueNAS host to fetch the backup from", field="hosts")
    if "/" in name or name in ("", ".", ".."):
        raise PlanError(f"'{name}' is not a backup file name")
    directory = (directory or runtime.inventory.policy.nas_backup_dir).rstrip("/")
    target = Path(local_dir) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    transfer(runtime, host).download(f"{directory}/{name}", target)
    return target


__all__ = [
    "FileTransfer",
    "StoredBackup",
    "nas_fetch_backup",
    "nas_host",
    "nas_list_backups",
    "nas_store_backup",
    "transfer",
]
