"""Simulated Proxmox / TrueNAS hosts as real OpenSSH servers in Docker containers.

``SimHosts(sim_dir, {"pve1": "proxmox", "nas": "truenas"}, workdir=...)`` starts one container per
host from the locally built image (``homeops.sim.hostimage``): port 22 published on 127.0.0.1 only
(random host port), the sim state directory mounted read-write, the shims mounted read-only, a
freshly generated client key authorised, and the container's host key written to a known_hosts
file. ``endpoints`` gives per host ``{address, port, identity, known_hosts}`` — what an
``SshHost`` needs — and ``ssh_host(name)`` builds it.

Hosts can be failed the ways real ones fail: ``stop`` (host down: connection refused), ``pause``
(hung: connect times out), ``recreate`` (reinstalled: same address and port, new host key).

testcontainers' Ryuk reaper is disabled (it would pull an image from a registry); containers carry
the label ``homeops.sim.hosts`` (and their owner process) and ``close()`` removes them;
``remove_stale()`` removes those whose owner died without cleaning up, and only those.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from homeops.errors import SimError
from homeops.inventory.model import HostKind, SshHost
from homeops.sim import hostimage

SIM_LIB = Path(__file__).resolve().parent
LABEL = "homeops.sim.hosts"
ENDPOINTS_FILE = "hosts.json"
READY_TIMEOUT = 30.0


@dataclass(frozen=True)
class HostEndpoint:
    name: str
    kind: str
    address: str
    port: int
    identity: str
    known_hosts: str
    container_id: str

    def ssh_host(self, **overrides: Any) -> SshHost:
        kind: HostKind = "truenas" if self.kind == "truenas" else "proxmox"
        values: dict[str, Any] = {
            "name": self.name,
            "address": self.address,
            "kind": kind,
            "port": self.port,
            "user": "root",
            "identity": Path(self.identity),
            "known_hosts": Path(self.known_hosts),
            "connect_timeout": 5.0,
        }
        values.update(overrides)
        return SshHost(**values)


def generate_client_key(directory: Path) -> tuple[Path, str]:
    """A new ed25519 key pair in OpenSSH format; returns (private key path, public key line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "id_ed25519"
    path.write_bytes(private)
    path.chmod(0o600)
    line = public.decode() + " homeops-sim"
    (directory / "id_ed25519.pub").write_text(line + "\n")
    return path, line


def _docker_client() -> Any:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # docker raises several unrelated types for "no engine"
        raise SimError(
            f"no Docker engine reachable ({' '.join(str(exc).split())[:160]})",
            hint="start dockerd (scripts/test does), or run the simulator without --hosts",
        ) from exc
    return client


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _owner_alive(owner: str) -> bool:
    host, _, pid = owner.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's (or an unlabelled) container: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> int:
    """Remove host containers whose owning process on this machine is gone; returns how many.

    Containers of live runs (other test sessions, a user's ``inv sim.up --hosts``) are left alone.
    """
    client = _docker_client()
    stale = [
        c
        for c in client.containers.list(all=True, filters={"label": LABEL})
        if not _owner_alive(c.labels.get(f"{LABEL}.owner", ""))
    ]
    for container in stale:
        container.remove(force=True)
    return len(stale)


class SimHosts:
    """A set of running host containers sharing one sim state directory."""

    def __init__(
        self,
        sim_dir: str | Path,
        hosts: Mapping[str, str],
        *,
        workdir: str | Path,
        image: str = hostimage.IMAGE,
        persistent: bool = False,
    ) -> None:
        self.sim_dir = Path(sim_dir).resolve()
        self.workdir = Path(workdir).resolve()
        self.kinds = dict(hosts)
        self.image = image
        #: Label on every container; ``persistent`` sims (``inv sim.up --hosts``) are never "stale".
        self.owner = "persistent" if persistent else _owner()
        self.known_hosts = self.workdir / "known_hosts"
        self.identity, self._public_key = generate_client_key(self.workdir / "client")
        self._containers: dict[str, Any] = {}
        self._ports: dict[str, int] = {}
        self.endpoints: dict[str, HostEndpoint] = {}
        self._lock = threading.Lock()

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> dict[str, HostEndpoint]:
        """Start every host (in parallel) and wait until each sshd answers."""
        from testcontainers.core.config import testcontainers_config

        # Ryuk would be pulled from a registry; we label and remove our containers ourselves.
        testcontainers_config.ryuk_disabled = True
        client = _docker_client()
        try:
            client.images.get(self.image)
        except Exception as exc:
            raise SimError(
                f"the SSH host image {self.image} is not built",
                hint="run: python -m homeops.sim.hostimage ensure",
            ) from exc
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.known_hosts.touch()
        with ThreadPoolExecutor(max_workers=max(1, len(self.kinds))) as pool:
            list(pool.map(self._start_one, self.kinds))
        self._save()
        return dict(self.endpoints)

    def _start_one(self, name: str, port: int | None = None) -> HostEndpoint:
        from testcontainers.core.container import DockerContainer

        container = (
            DockerContainer(self.image)
            .with_env("HOMEOPS_AUTHORIZED_KEY", self._public_key)
            .with_env("HOMEOPS_SIM_HOST", name)
            .with_volume_mapping(str(self.sim_dir), hostimage.STATE_MOUNT, "rw")
            .with_volume_mapping(str(SIM_LIB), hostimage.SIM_LIB_MOUNT, "ro")
            .with_kwargs(labels={LABEL: "1", f"{LABEL}.name": name, f"{LABEL}.owner": self.owner}, hostname=name)
        )
        # 127.0.0.1 only: a simulated root login must never be reachable from the network. The port is
        # pinned (not Docker's random pick) so a stopped and restarted host keeps its address.
        container.ports["22/tcp"] = ("127.0.0.1", port or _free_port())  # type: ignore[assignment]
        container.start()
        try:
            host_port = int(container.get_exposed_port(22))
            _wait_for_banner("127.0.0.1", host_port, READY_TIMEOUT, name)
            host_key = self._read_host_key(container, name)
        except BaseException:
            container.stop()
            raise
        endpoint = HostEndpoint(
            name=name,
            kind=self.kinds[name],
            address="127.0.0.1",
            port=host_port,
            identity=str(self.identity),
            known_hosts=str(self.known_hosts),
            container_id=container.get_container_id(),
        )
        with self._lock:
            self._containers[name] = container
            self._ports[name] = host_port
            self.endpoints[name] = endpoint
            self._write_known_host(name, host_port, host_key)
        return endpoint

    def _read_host_key(self, container: Any, name: str) -> str:
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            code, output = container.exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
            if code == 0 and output.strip():
                parts = output.decode().split()
                return f"{parts[0]} {parts[1]}"
            if time.monotonic() > deadline:
                raise SimError(f"simulated host {name} has no SSH host key after {READY_TIMEOUT:g}s")
            time.sleep(0.1)

    def _write_known_host(self, name: str, port: int, key: str) -> None:
        entry = f"[127.0.0.1]:{port}"
        lines = [ln for ln in _read_lines(self.known_hosts) if ln.split(" ", 1)[0] != entry]
        lines.append(f"{entry} {key}")
        self.known_hosts.write_text("\n".join(lines) + "\n")

    def _save(self) -> None:
        data = {name: asdict(ep) for name, ep in self.endpoints.items()}
        (self.sim_dir / ENDPOINTS_FILE).write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")

    # -- failures --------------------------------------------------------------------------------

    def _container(self, name: str) -> Any:
        try:
            return self._containers[name]
        except KeyError:
            known = ", ".join(self.kinds)
            raise SimError(f"no simulated host container named '{name}'", hint=f"known: {known}") from None

    def stop(self, name: str) -> None:
        """Host down: the container stops, its port refuses connections."""
        self._container(name).get_wrapped_container().stop(timeout=1)

    def start_again(self, name: str) -> None:
        """Bring a stopped host back on the same port (and, as after a reboot, the same host key)."""
        wrapped = self._container(name).get_wrapped_container()
        wrapped.start()
        _wait_for_banner("127.0.0.1", self._ports[name], READY_TIMEOUT, name)

    def pause(self, name: str) -> None:
        """Host hung: TCP connects, SSH never answers."""
        self._container(name).get_wrapped_container().pause()

    def unpause(self, name: str) -> None:
        self._container(name).get_wrapped_container().unpause()

    def recreate(self, name: str, *, update_known_hosts: bool = False) -> HostEndpoint:
        """Host reinstalled: a new container on the same port with a NEW host key.

        known_hosts keeps the old key unless ``update_known_hosts`` (so clients see a changed key).
        """
        old_key = _known_key(self.known_hosts, self._ports[name])
        port = self._ports[name]
        self._container(name).stop()
        endpoint = self._start_one(name, port)
        if not update_known_hosts and old_key is not None:
            with self._lock:
                self._write_known_host(name, port, old_key)
        self._save()
        return endpoint

    def ssh_host(self, name: str, **overrides: Any) -> SshHost:
        return self.endpoints[name].ssh_host(**overrides)

    def close(self) -> None:
        with self._lock:
            containers = list(self._containers.values())
            self._containers.clear()
        for container in containers:
            with contextlib.suppress(Exception):  # already gone is fine when tearing down
                container.stop()
        endpoints = self.sim_dir / ENDPOINTS_FILE
        endpoints.unlink(missing_ok=True)

    def __enter__(self) -> SimHosts:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def load_endpoints(sim_dir: str | Path) -> dict[str, HostEndpoint]:
    """The endpoints a running ``SimHosts`` saved (for another process attaching to the sim)."""
    path = Path(sim_dir) / ENDPOINTS_FILE
    if not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {name: HostEndpoint(**values) for name, values in data.items()}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_banner(address: str, port: int, timeout: float, name: str) -> None:
    # docker-proxy accepts TCP before sshd listens; only the SSH banner proves sshd is up.
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((address, port), timeout=2.0) as sock:
                sock.settimeout(2.0)
                if sock.recv(64).startswith(b"SSH-"):
                    return
        except OSError as exc:
            last = str(exc)
        time.sleep(0.1)
    raise SimError(f"simulated host {name} did not answer SSH on {address}:{port} within {timeout:g}s ({last})")


def _read_lines(path: Path) -> list[str]:
    try:
        return [ln for ln in path.read_text().splitlines() if ln.strip()]
    except FileNotFoundError:
        return []


def _known_key(path: Path, port: int) -> str | None:
    for line in _read_lines(path):
        entry, _, key = line.partition(" ")
        if entry == f"[127.0.0.1]:{port}":
            return key
    return None


def host_kinds(hosts: Iterable[Any]) -> dict[str, str]:
    """``{name: kind}`` from inventory ``SshHost``s (what ``SimHosts`` takes)."""
    return {h.name: h.kind for h in hosts}


__all__ = ["HostEndpoint", "SimHosts", "generate_client_key", "host_kinds", "load_endpoints", "remove_stale"]
