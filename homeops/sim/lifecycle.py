"""The simulator's lifecycle: where a simulated cluster lives, starting one, its host containers.

``start`` creates (or replaces) the simulated cluster of an inventory in ``sim_dir(inventory)``:
the state, the fake tools' directory, and with ``hosts`` the Proxmox/TrueNAS hosts as OpenSSH
containers in Docker. It refuses an inventory with an unfinished real run
(``attach.refuse_unfinished_real_run``). ``inv sim.up``/``sim.down`` and the DR rehearsal call it;
``homeops.app.backend`` finds the cluster it made. Imports stay inside the functions: the tasks
import this module when ``inv --list`` runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Durations that look real in a terminal when the clock is the wall clock.
REAL_DURATIONS = {
    "upgrade_seconds": 1.0,
    "reboot_seconds": 3.0,
    "ready_seconds": 1.5,
    "kubelet_restart_seconds": 0.5,
    "poll_seconds": 0.1,
    "api_seconds": 2.0,
    "flux_ready_seconds": 3.0,
    "helm_seconds": 0.5,
}


LOCAL_HOSTS = "Proxmox/TrueNAS hosts are simulated locally by the host shims, without SSH"


def sim_dir(inventory: Any) -> Path:
    """Where the simulated cluster of ``inventory`` lives (``<state_dir>/sim``)."""
    return Path(inventory.state_dir) / "sim"


def start(
    inventory_path: Any,
    *,
    hosts: bool = False,
    talos_version: str | None = None,
    kubernetes_version: str | None = None,
    reboot_seconds: float | None = None,
    ready_seconds: float | None = None,
    virtual: bool = False,
    ceph: bool = False,
    blank: bool = False,
    say: Any = print,
) -> Any:
    """Create (or replace) the simulated cluster of an inventory; returns its ``SimStore``."""
    from homeops.inventory.loader import load_inventory
    from homeops.privatefs import private_dir
    from homeops.sim.attach import refuse_unfinished_real_run
    from homeops.sim.state import SimOptions, initial_state
    from homeops.sim.store import SimStore
    from homeops.sim.tools import write_bin_dir

    inv = load_inventory(inventory_path)
    refuse_unfinished_real_run(inv)
    if hosts:
        require_docker()
    talos_version = version_option(talos_version, "--talos-version")
    kubernetes_version = version_option(kubernetes_version, "--kubernetes-version")
    directory = sim_dir(inv).resolve()
    store = SimStore(directory)
    if store.exists():
        say(f"replacing the simulated cluster in {directory}")
        stop_containers(directory, quiet=True)
    config: dict[str, float] = {} if virtual else dict(REAL_DURATIONS)
    if reboot_seconds is not None:
        config["reboot_seconds"] = float(reboot_seconds)
    if ready_seconds is not None:
        config["ready_seconds"] = float(ready_seconds)
    options = SimOptions(
        talos_version=talos_version,
        kubernetes_version=kubernetes_version,
        clock_mode="virtual" if virtual else "real",
        ceph=ceph,
        config=config,
    )
    state = initial_state(inv, options)
    if blank:
        from homeops.sim.bootstrap import blank as blank_cluster

        blank_cluster(state)
    private_dir(directory, root=inv.state_dir)  # the state dir's rule: 0700, before the shims' bin/ makes it 0755
    write_bin_dir(directory / "bin")
    store.create(state)
    if hosts:
        start_hosts(inv, store, say)
    elif inv.hosts:
        say(f"{LOCAL_HOSTS} (pass --hosts for OpenSSH containers in Docker)")
    return store


def version_option(value: str | None, flag: str) -> str | None:
    import re

    from homeops.errors import SimError

    if value is None:
        return None
    if not re.fullmatch(r"v?\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?", value):
        raise SimError(f"{flag} {value!r} is not a version like v1.11.6")
    return value if value.startswith("v") else f"v{value}"


def require_docker_client() -> None:
    """``--hosts`` without the Docker client library would quietly run without hosts: refuse before any change."""
    import importlib.util

    from homeops.errors import SimError

    if importlib.util.find_spec("docker") is None:
        raise SimError(
            "--hosts needs the Python package 'docker' to start the OpenSSH host containers, and it is not installed",
            hint="pip install 'homeops[hosts]' (or leave out --hosts: the host shims then run locally, without SSH)",
        )


def require_docker() -> None:
    """``--hosts`` needs the client library and an engine that answers: without either the hosts would
    quietly be simulated locally, which is not what was asked for, so refuse before any change."""
    from homeops.errors import SimError
    from homeops.sim.containers import DockerUnavailable, check_docker_engine

    require_docker_client()
    try:
        check_docker_engine()
    except DockerUnavailable as exc:
        raise SimError(
            f"--hosts needs a running Docker engine for the OpenSSH host containers, and none answers: {exc.message}",
            hint="start dockerd, or leave out --hosts: the host shims then run locally, without SSH",
        ) from None


def start_hosts(inv: Any, store: Any, say: Any) -> None:
    from homeops.sim.containers import DockerUnavailable, SimHosts, host_kinds

    try:
        # persistent: the containers outlive this `inv` process (later commands reach them over SSH)
        # and are never "stale"; `inv sim.down` removes them.
        sim_hosts = SimHosts(store.dir, host_kinds(inv.hosts), workdir=store.dir / "ssh", persistent=True)
        endpoints = sim_hosts.start()
    except Exception as exc:  # the shims still work, and we say why the containers are not there
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        # Only a missing engine is "Docker is not available"; a failed start (port, image) says what failed.
        what = "Docker is not available" if isinstance(exc, DockerUnavailable) else "host containers did not start"
        say(f"{what} ({reason}); {LOCAL_HOSTS}")
        return
    with store.transaction() as state:
        state["hosts_transport"] = {
            name: {
                "address": e.address,
                "port": e.port,
                "identity": e.identity,
                "known_hosts": e.known_hosts,
                "container_id": e.container_id,
            }
            for name, e in endpoints.items()
        }
    say("hosts: " + ", ".join(f"{n} on {e.address}:{e.port}" for n, e in sorted(endpoints.items())) + " (OpenSSH)")


def stop_containers(directory: Any, *, quiet: bool = False) -> int:
    """Remove this sim's host containers (only these: other sims and test runs keep theirs)."""
    from homeops.sim.store import SimStore

    store = SimStore(directory)
    if not store.exists():
        return 0
    ids = [v.get("container_id") for v in (store.read(include_log=False).get("hosts_transport") or {}).values()]
    ids = [i for i in ids if i]
    if not ids:
        return 0
    removed = 0
    try:
        import docker

        client = docker.from_env()
        for container_id in ids:
            try:
                client.containers.get(container_id).remove(force=True)
                removed += 1
            except docker.errors.NotFound:
                continue
    except Exception as exc:  # Docker gone meanwhile: nothing left to stop
        if not quiet:
            print(f"could not remove host containers: {exc}")
    return removed
