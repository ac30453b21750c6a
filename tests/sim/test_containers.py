"""Issue 11 finding 6: host containers get race-free ports, keep them across a restart, and a start that
fails for one host leaves no container of the set behind (real Docker)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from homeops.errors import SimError
from homeops.sim import hostimage
from homeops.sim.containers import LABEL, DockerUnavailable, HostEndpoint, SimHosts

pytestmark = pytest.mark.docker

HOSTS = {"pve1": "proxmox", "pve2": "proxmox", "pve3": "proxmox", "nas": "truenas"}


@pytest.fixture(scope="module")
def image() -> str:
    hostimage.ensure()
    return hostimage.IMAGE


def _ours(hosts: SimHosts) -> list[Any]:
    import docker

    return list(docker.from_env().containers.list(all=True, filters={"label": f"{LABEL}.run={hosts.run_id}"}))


def test_a_failing_container_start_removes_every_container_of_the_set(image: str, tmp_path: Path, monkeypatch):
    import docker

    hosts = SimHosts(tmp_path / "sim", HOSTS, workdir=tmp_path / "work")
    (tmp_path / "sim").mkdir()
    real = SimHosts._start_one
    started: list[str] = []
    others_up = threading.Event()

    def flaky(self: SimHosts, name: str, port: int | None = None, etc_ssh: bytes | None = None) -> HostEndpoint:
        if name != "pve2":
            endpoint = real(self, name, port, etc_ssh)
            started.append(endpoint.container_id)
            if len(started) == len(HOSTS) - 1:
                others_up.set()
            return endpoint
        others_up.wait(60)
        # What a port clash leaves: docker-py created the container, its start failed with a 500.
        self._client.containers.create(
            self.image, labels={LABEL: "1", f"{LABEL}.run": self.run_id}, ports={"22/tcp": ("127.0.0.1", None)}
        )
        raise docker.errors.APIError(
            "500 Server Error: Internal Server Error (driver failed programming external connectivity: Bind for "
            "127.0.0.1:37831 failed: port is already allocated)"
        )

    monkeypatch.setattr(SimHosts, "_start_one", flaky)
    with pytest.raises(SimError) as info:
        hosts.start()
    assert not isinstance(info.value, DockerUnavailable)
    assert "simulated host pve2 did not start" in str(info.value) and "port is already allocated" in str(info.value)
    assert len(started) == 3  # the three other hosts were running when pve2 failed …
    client = docker.from_env()
    remaining = {c.id for c in client.containers.list(all=True)}
    assert not remaining & set(started)  # … and are gone now,
    assert _ours(hosts) == []  # as is the half-created one
    assert hosts.endpoints == {} and not (tmp_path / "sim" / "hosts.json").exists()


def test_docker_picks_the_ports_and_a_restarted_host_keeps_port_and_key(image: str, tmp_path: Path):
    (tmp_path / "sim").mkdir()
    hosts = SimHosts(tmp_path / "sim", {"pve1": "proxmox", "pve2": "proxmox"}, workdir=tmp_path / "work")
    try:
        endpoints = hosts.start()
        ports = {name: e.port for name, e in endpoints.items()}
        assert len(set(ports.values())) == 2
        bindings = hosts._container("pve1").wrapped.attrs["HostConfig"]["PortBindings"]["22/tcp"]
        assert bindings == [{"HostIp": "127.0.0.1", "HostPort": ""}]  # Docker's choice, not ours
        key = set((tmp_path / "work" / "known_hosts").read_text().splitlines())
        hosts.stop("pve1")
        time.sleep(0.2)
        hosts.start_again("pve1")
        assert hosts.endpoints["pve1"].port == ports["pve1"]
        # same host key on the same port (the entry is rewritten, so compare lines, not order)
        assert set((tmp_path / "work" / "known_hosts").read_text().splitlines()) == key
        code, out = hosts._container("pve1").exec(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"])
        assert code == 0 and any(out.decode().split()[1] in line for line in key)
        assert len(_ours(hosts)) == 2  # the stopped container was replaced, not left behind
    finally:
        hosts.close()
    assert _ours(hosts) == []
