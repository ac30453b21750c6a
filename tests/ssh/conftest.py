"""Docker fixtures: the locally built OpenSSH host image and running host containers with the shims.

Without a Docker engine these tests FAIL (scripts/test starts dockerd and builds the image); they
never skip. Containers are shared per module and the sim state is reset before every test.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from homeops.inventory.model import Inventory
from homeops.runners import Runner
from homeops.runtime import Runtime
from homeops.sim.containers import SimHosts
from homeops.sim.store import SimStore
from homeops.ssh import SshRunner
from tests.hosts.simkit import make_inventory, make_state, runtime_with

HOSTS = {"pve1": "proxmox", "pve2": "proxmox", "pve3": "proxmox", "nas": "truenas"}


@pytest.fixture(scope="session")
def host_image() -> str:
    import docker

    from homeops.sim import hostimage

    try:
        docker.from_env().ping()
    except Exception as exc:
        pytest.fail(f"Docker engine not reachable ({exc}); run ./scripts/test, which starts dockerd")
    hostimage.ensure()
    return hostimage.IMAGE


@dataclass
class SimEnv:
    hosts: SimHosts
    store: SimStore
    inventory: Inventory
    root: Path

    def reset(self) -> None:
        self.store.create(make_state(self.inventory))

    def runner(self, name: str, **overrides: object) -> SshRunner:
        return SshRunner(self.hosts.ssh_host(name, **overrides), sleep=lambda _: None)

    def runtime(self) -> Runtime:
        def factory(spec: object) -> Runner:
            return self.runner(spec.name)  # type: ignore[attr-defined]

        return runtime_with(self.inventory, factory)

    def marker_exists(self, host: str, path: str) -> bool:
        code, _ = self.hosts._container(host).exec(["test", "-e", path])
        return bool(code == 0)


def start_env(root: Path, hosts: dict[str, str], **policy: object) -> SimEnv:
    sim_dir = root / "sim"
    sim_dir.mkdir(parents=True)
    sim_hosts = SimHosts(sim_dir, hosts, workdir=root / "work")
    base = make_inventory(root, **policy)  # type: ignore[arg-type]
    store = SimStore(sim_dir)
    store.create(make_state(base))
    sim_hosts.start()
    inventory = make_inventory(root, hosts=tuple(sim_hosts.ssh_host(n) for n in hosts), **policy)  # type: ignore[arg-type]
    return SimEnv(sim_hosts, store, inventory, root)


@pytest.fixture(scope="module")
def sim_env(host_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    env = start_env(tmp_path_factory.mktemp("sshsim"), HOSTS, nas_backup_keep=2)
    try:
        yield env
    finally:
        env.hosts.close()


@pytest.fixture
def env(sim_env: SimEnv) -> SimEnv:
    sim_env.reset()
    return sim_env
