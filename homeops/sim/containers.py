"""Simulated Proxmox / TrueNAS hosts as real OpenSSH servers in Docker containers.

``SimHosts(sim_dir, {"pve1": "proxmox", "nas": "truenas"}, workdir=...)`` starts one container per
host from the locally built image (``homeops.sim.hostimage``): port 22 published on 127.0.0.1 only
(random host port), the sim state directory mounted read-write, the shims mounted read-only, a
freshly generated client key authorised, and the container's host key written to a known_hosts
file. ``endpoints`` gives per host ``{address, port, identity, known_hosts}`` — what an
``SshHost`` needs — and ``ssh_host(name)`` builds it.

Hosts can be failed the ways real ones fail: ``stop`` (host down: connection refused), ``pause``
(hung: connect times out), ``recreate`` (reinstalled: same address and port, new host key).

Ports: Docker picks each host port itself (``127.0.0.1`` with no port), so hosts started in
parallel — or by other processes — never race for one; the port is read back and pinned from then
on. Docker gives a restarted container a *new* random port, so ``start_again`` brings a stopped host
back as a fresh container bound to the pinned port, carrying over its ``/etc/ssh`` (same host key).

Containers carry the label ``homeops.sim.hosts`` (and their owner process and this set's run id)
and ``close()`` removes them; a start that fails for one host removes every container of the set,
started or only created. ``remove_stale()`` removes those whose owner died without cleaning up, and
only those. No Docker engine is ``DockerUnavailable``; any other failure is a plain ``SimError``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
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


class DockerUnavailable(SimError):
    """No Docker engine answers (only this means "Docker is not available")."""


@dataclass(frozen=True)
class HostContainer:
    """One running host container (docker-py), with the few calls tests and failures need."""

    wrapped: Any

    def exec(self, command: list[str]) -> tuple[int, bytes]:
        result = self.wrapped.exec_run(command)
        return int(result.exit_code), bytes(result.output or b"")

    def get_wrapped_container(self) -> Any:
        return self.wrapped

    def get_container_id(self) -> str:
        return str(self.wrapped.id)


def _docker_client() -> Any:
    import docker

    try:
        client = docker.from_env()
        client.ping()
    except Exception as exc:  # docker raises several unrelated types for "no engine"
        raise DockerUnavailable(
            f"no Docker engine reachable ({' '.join(str(exc).split())[:160]})",
            hint="start dockerd (scripts/test does), or run the simulator without --hosts",
        ) from exc
    return client


def check_docker_engine() -> None:
    """Raise ``DockerUnavailable`` unless a Docker engine answers a ping."""
    _docker_client().close()


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
        #: Labels every container of this set, so a failed start can find even the ones never started.
        self.run_id = uuid.uuid4().hex
        self.known_hosts = self.workdir / "known_hosts"
        self.identity, self._public_key = generate_client_key(self.workdir / "client")
        self._containers: dict[str, HostContainer] = {}
        self._ports: dict[str, int] = {}
        self.endpoints: dict[str, HostEndpoint] = {}
        self._lock = threading.Lock()
        self._client: Any = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> dict[str, HostEndpoint]:
        """Start every host (in parallel) and wait until each sshd answers; all or nothing."""
        self._client = client = _docker_client()
        try:
            client.images.get(self.image)
        except Exception as exc:
            raise SimError(
                f"the SSH host image {self.image} is not built",
                hint="run: python -m homeops.sim.hostimage ensure",
            ) from exc
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.known_hosts.touch()
        failures: dict[str, BaseException] = {}
        with ThreadPoolExecutor(max_workers=max(1, len(self.kinds))) as pool:
            futures = {name: pool.submit(self._start_one, name) for name in self.kinds}
            for name, future in futures.items():
                error = future.exception()
                if error is not None:
                    failures[name] = error
        if failures:
            self._discard_all()
            name, first = next(iter(failures.items()))
            reason = " ".join(str(first).split())[:200] or type(first).__name__
            raise SimError(
                f"simulated host {name} did not start ({reason}); every host container of this start was removed",
                hint="see `docker ps -a --filter label=homeops.sim.hosts`; run it again",
            ) from first
        self._save()
        return dict(self.endpoints)

    def _create(self, name: str, port: int | None, etc_ssh: bytes | None = None) -> HostContainer:
        """Create and start one host container; ``port=None`` lets Docker pick a free host port."""
        labels = {LABEL: "1", f"{LABEL}.name": name, f"{LABEL}.owner": self.owner, f"{LABEL}.run": self.run_id}
        created = self._client.containers.create(
            self.image,
            environment={"HOMEOPS_AUTHORIZED_KEY": self._public_key, "HOMEOPS_SIM_HOST": name},
            volumes={
                str(self.sim_dir): {"bind": hostimage.STATE_MOUNT, "mode": "rw"},
                str(SIM_LIB): {"bind": hostimage.SIM_LIB_MOUNT, "mode": "ro"},
            },
            labels=labels,
            hostname=name,
            # 127.0.0.1 only: a simulated root login must never be reachable from the network.
            ports={"22/tcp": ("127.0.0.1", port)},
            detach=True,
        )
        try:
            if etc_ssh is not None:
                created.put_archive("/etc", etc_ssh)  # the host key survives, as across a reboot
            created.start()
        except BaseException:
            with contextlib.suppress(Exception):
                created.remove(force=True)  # created but not started (e.g. its port is taken)
            raise
        return HostContainer(created)

    def _start_one(self, name: str, port: int | None = None, etc_ssh: bytes | None = None) -> HostEndpoint:
        container = self._create(name, port, etc_ssh)
        with self._lock:
            self._containers[name] = container  # known before it is ready, so a failure removes it
        wrapped = container.wrapped
        wrapped.reload()
        host_port = int(wrapped.ports["22/tcp"][0]["HostPort"])
        _wait_for_banner("127.0.0.1", host_port, READY_TIMEOUT, name)
        host_key = self._read_host_key(container, name)
        container.exec(["sh", "-c", hostimage.install_shims_script()])
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
            self._ports[name] = host_port
            self.endpoints[name] = endpoint
            self._write_known_host(name, host_port, host_key)
        return endpoint

    def _discard_all(self) -> None:
        """Remove every container of this set: those we hold and any other carrying our run id."""
        with self._lock:
            held = list(self._containers.values())
            self._containers.clear()
            self.endpoints.clear()
        for container in held:
            with contextlib.suppress(Exception):
                container.wrapped.remove(force=True)
        with contextlib.suppress(Exception):
            for found in self._client.containers.list(all=True, filters={"label": f"{LABEL}.run={self.run_id}"}):
                with contextlib.suppress(Exception):
                    found.remove(force=True)

    def _read_host_key(self, container: HostContainer, name: str) -> str:
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

    def _container(self, name: str) -> HostContainer:
        try:
            return self._containers[name]
        except KeyError:
            known = ", ".join(self.kinds)
            raise SimError(f"no simulated host container named '{name}'", hint=f"known: {known}") from None

    def stop(self, name: str) -> None:
        """Host down: the container stops, its port refuses connections."""
        self._container(name).wrapped.stop(timeout=1)

    def start_again(self, name: str) -> None:
        """Bring a stopped host back on the same port and, as after a reboot, with the same host key.

        Docker would give the restarted container a new random port, so a new container is bound to
        the pinned one and gets the old container's ``/etc/ssh``.
        """
        old = self._container(name).wrapped
        chunks, _ = old.get_archive("/etc/ssh")
        etc_ssh = b"".join(chunks)
        old.remove(force=True)
        try:
            self._start_one(name, self._ports[name], etc_ssh)
        except BaseException as exc:
            raise SimError(
                f"simulated host {name} could not come back on 127.0.0.1:{self._ports[name]} "
                f"({' '.join(str(exc).split())[:160]})"
            ) from exc
        self._save()

    def pause(self, name: str) -> None:
        """Host hung: TCP connects, SSH never answers."""
        self._container(name).wrapped.pause()

    def unpause(self, name: str) -> None:
        self._container(name).wrapped.unpause()

    def recreate(self, name: str, *, update_known_hosts: bool = False) -> HostEndpoint:
        """Host reinstalled: a new container on the same port with a NEW host key.

        known_hosts keeps the old key unless ``update_known_hosts`` (so clients see a changed key).
        """
        old_key = _known_key(self.known_hosts, self._ports[name])
        port = self._ports[name]
        self._container(name).wrapped.remove(force=True)
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
                container.wrapped.remove(force=True)
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


__all__ = [
    "DockerUnavailable",
    "HostContainer",
    "HostEndpoint",
    "SimHosts",
    "generate_client_key",
    "host_kinds",
    "load_endpoints",
    "remove_stale",
]
