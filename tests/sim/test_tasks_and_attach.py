"""`inv sim.*` tasks, `attach` (what open_runtime wires) and the bundled example inventory."""

from __future__ import annotations

import contextlib
import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from homeops.adapters import talosctl as talosctl_adapter
from homeops.app.backend import open_runtime
from homeops.sim import lifecycle
from homeops.sim.clock import SimClock
from homeops.sim.store import SimStore
from homeops.tasks import sim as sim_tasks

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory", target, ignore=shutil.ignore_patterns(".homeops"))
    return target


def test_up_status_fault_log_down(inventory: Path, capsys: pytest.CaptureFixture[str]):
    ctx = Context()
    sim_tasks.up(ctx, inventory=str(inventory), talos_version="v1.10.9", virtual=True)
    out = capsys.readouterr().out
    assert "hosts are simulated locally by the host shims, without SSH (pass --hosts" in out
    assert "k8s-5   10.10.0.25   worker         v1.10.9" in out
    store = SimStore(inventory / ".homeops" / "sim")
    assert store.exists() and (store.dir / "bin" / "talosctl").is_file()

    sim_tasks.fault(ctx, "node-rollback", target="k8s-1", inventory=str(inventory))
    sim_tasks.fault(ctx, "api-unreachable", seconds=30, inventory=str(inventory))
    assert "injected api-unreachable seconds=30" in capsys.readouterr().out
    sim_tasks.status(ctx, inventory=str(inventory))
    out = capsys.readouterr().out
    assert "API: DOWN" in out and "faults: node-rollback on k8s-1 (x1); api-unreachable seconds=30" in out
    assert out.startswith("[SIMULATED] cluster "), out  # nobody may take this table for the real cluster
    sim_tasks.status(ctx, inventory=str(inventory), json=True)
    assert '"name": "node-rollback"' in capsys.readouterr().out

    with pytest.raises(Exit, match="unknown fault 'nope'"):
        sim_tasks.fault(ctx, "nope", inventory=str(inventory))
    sim_tasks.fault(ctx, "all", clear=True, inventory=str(inventory))
    assert "cleared 2 fault(s)" in capsys.readouterr().out

    subprocess.run(
        [str(store.dir / "bin" / "talosctl"), "-n", "10.10.0.20", "version"],
        check=True,
        env={"HOMEOPS_SIM_DIR": str(store.dir), "PATH": "/usr/bin:/bin"},
        capture_output=True,
    )
    sim_tasks.log(ctx, inventory=str(inventory))
    assert "exit 0   talosctl -n 10.10.0.20 version" in capsys.readouterr().out

    sim_tasks.down(ctx, inventory=str(inventory))
    assert not store.dir.exists()
    with pytest.raises(Exit, match=r"no simulated cluster for .*inv sim\.up"):
        sim_tasks.status(ctx, inventory=str(inventory))


def test_fault_list_names_every_fault(capsys: pytest.CaptureFixture[str]):
    from homeops.sim.faults import SPECS

    sim_tasks.fault(Context(), "list")
    out = capsys.readouterr().out
    assert all(f"{name}" in out for name in SPECS) and "api-unreachable [--seconds]" in out


def test_up_with_hosts_falls_back_and_says_so_without_docker(inventory: Path, monkeypatch, capsys):
    import homeops.sim.containers as containers

    def no_docker(*args: object, **kwargs: object) -> None:
        raise containers.DockerUnavailable("no Docker engine reachable (Cannot connect to the Docker daemon)")

    monkeypatch.setattr(containers.SimHosts, "start", no_docker)
    sim_tasks.up(Context(), inventory=str(inventory), hosts=True, virtual=True)
    out = capsys.readouterr().out
    assert (
        "Docker is not available (no Docker engine reachable (Cannot connect to the Docker daemon)); "
        "Proxmox/TrueNAS hosts are simulated locally by the host shims, without SSH" in out
    )
    assert "hosts_transport" not in SimStore(inventory / ".homeops" / "sim").read()


def test_up_with_hosts_never_calls_a_failed_start_docker_not_available(inventory: Path, monkeypatch, capsys):
    """Issue 11 finding 6: a port clash reported "Docker is not available (500 …)"."""
    import homeops.sim.containers as containers
    from homeops.errors import SimError

    def clash(*args: object, **kwargs: object) -> None:
        raise SimError("simulated host pve2 did not start (500 Server Error: Bind for 127.0.0.1:37831 failed)")

    monkeypatch.setattr(containers.SimHosts, "start", clash)
    sim_tasks.up(Context(), inventory=str(inventory), hosts=True, virtual=True)
    out = capsys.readouterr().out
    assert "Docker is not available" not in out
    assert "host containers did not start (simulated host pve2 did not start (500 Server Error" in out


def test_open_runtime_attaches_to_the_sim(inventory: Path):
    lifecycle.start(inventory, talos_version="v1.10.9", virtual=True, say=lambda _: None)
    with open_runtime(inventory) as runtime:
        assert runtime.simulated and isinstance(runtime.clock, SimClock)
        tctl = talosctl_adapter.Talosctl(runtime.inventory.cluster.talosconfig, client_version="v1.11.6")
        # the production adapter through the production runner finds the fake talosctl on PATH
        assert talosctl_adapter.server_version(runtime.local, tctl, "10.10.0.20") == "v1.10.9"
        result = runtime.host("pve1").run(["qm", "status", "200"])
        assert result.stdout == "status: running\n" and result.target == "pve1"
        t0 = runtime.clock.now()
        runtime.clock.sleep(600)  # virtual: instant
        assert runtime.clock.now() - t0 == pytest.approx(600)


def test_the_bundled_example_is_the_repo_example():
    bundled = REPO / "homeops" / "sim" / "example"
    for rel in (
        "homeops.yaml",
        "talos/talconfig.yaml",
        "talos/talenv.yaml",
        "talos/patches/controller-cluster.yaml",
        "talos/patches/machine-time.yaml",
        ".sops.yaml",
        "age.key",
    ):
        assert filecmp.cmp(bundled / rel, REPO / "inventory" / rel, shallow=False), rel


@pytest.mark.slow
def test_demo_runs_the_rolling_upgrade_in_virtual_time(tmp_path: Path):
    # A subprocess, as users run it: `inv demo` from a directory with the repo's tasks.py.
    shutil.copy(REPO / "tasks.py", tmp_path / "tasks.py")
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "demo", "--virtual"], cwd=tmp_path, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "on Talos v1.10.9; talconfig wants v1.11.6" in result.stdout
    state = SimStore(tmp_path / ".homeops-demo" / "inventory" / ".homeops" / "sim").read()
    assert {n["talos_version"] for n in state["nodes"].values()} == {"v1.11.6"}
    upgrades = [e["argv"] for e in state["log"] if e["tool"] == "talosctl" and e["argv"][1] == "upgrade"]
    nodes = [a[a.index("--nodes") + 1] for a in upgrades]
    assert sorted(nodes) == [f"10.10.0.{20 + i}" for i in range(6)]  # each node upgraded exactly once
    assert all(state["nodes"][h]["ready"] for h in state["nodes"])


@pytest.mark.docker
def test_up_with_hosts_reaches_them_over_real_ssh_and_down_removes_them(inventory: Path, capsys):
    import docker

    from homeops.errors import ConnectionFailed
    from homeops.sim import hostimage

    hostimage.ensure()
    sim_tasks.up(Context(), inventory=str(inventory), hosts=True, virtual=True)
    out = capsys.readouterr().out
    assert "(OpenSSH)" in out, out
    state = SimStore(inventory / ".homeops" / "sim").read()
    transport = state["hosts_transport"]
    assert sorted(transport) == ["nas", "pve1", "pve2", "pve3"]
    assert all(v["address"] == "127.0.0.1" for v in transport.values())
    try:
        with open_runtime(inventory) as runtime:
            pve1 = runtime.host("pve1")
            assert type(pve1).__name__ == "SshRunner"
            assert pve1.run(["qm", "status", "200"]).stdout == "status: running\n"
            assert runtime.host("nas").run(["zpool", "status", "-x"]).stdout == "all pools are healthy\n"
            # a fault injected locally is seen by the shim inside the container (shared state)
            sim_tasks.fault(Context(), "nfs-stopped", inventory=str(inventory))
            started = runtime.host("nas").run(["midclt", "call", "service.started", "nfs"])
            assert started.stdout.strip() == "False"
            # stopping a container makes that host unreachable, with a clear error
            client = docker.from_env()
            client.containers.get(transport["pve2"]["container_id"]).stop(timeout=1)
            with pytest.raises(ConnectionFailed, match="pve2"), open_runtime(inventory) as fresh:
                fresh.host("pve2").run(["qm", "status", "201"])
    finally:
        sim_tasks.down(Context(), inventory=str(inventory))
    assert "and 4 host container(s)" in capsys.readouterr().out
    ids = [v["container_id"] for v in transport.values()]
    remaining = {c.id for c in docker.from_env().containers.list(all=True)}
    assert not remaining & set(ids)


def _inv(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """One `inv` command in a new process, as a user runs it (the repo's tasks.py in ``cwd``)."""
    return subprocess.run(
        [sys.executable, "-m", "invoke", *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.docker
def test_hosts_from_sim_up_outlive_its_process_and_sim_down_removes_them(inventory: Path, tmp_path: Path):
    import docker

    from homeops.sim import hostimage
    from homeops.sim.containers import remove_stale

    hostimage.ensure()
    shutil.copy(REPO / "tasks.py", tmp_path / "tasks.py")
    up = _inv("sim.up", "--hosts", "--virtual", "--inventory", str(inventory), cwd=tmp_path)
    assert up.returncode == 0 and "(OpenSSH)" in up.stdout, up.stdout[-2000:] + up.stderr[-2000:]
    transport = SimStore(inventory / ".homeops" / "sim").read(include_log=False)["hosts_transport"]
    client = docker.from_env()
    containers = {name: client.containers.get(v["container_id"]) for name, v in transport.items()}
    try:
        remove_stale()  # what another test session's cleanup does: the `inv sim.up` process is gone
        for container in containers.values():
            container.reload()
            assert container.status == "running"
        logins_before = containers["pve2"].logs().count(b"Accepted publickey for root")
        status = _inv("pve.status", "--inventory", str(inventory), cwd=tmp_path)
        assert status.returncode == 0, status.stdout[-2000:] + status.stderr[-2000:]
        assert "quorate" in status.stdout and "k8s-1" in status.stdout
        # the new process reached pve2 over SSH (sshd inside its container accepted the login)
        assert containers["pve2"].logs().count(b"Accepted publickey for root") > logins_before
        down = _inv("sim.down", "--inventory", str(inventory), cwd=tmp_path)
        assert down.returncode == 0 and "and 4 host container(s)" in down.stdout, down.stdout + down.stderr
        remaining = {c.id for c in client.containers.list(all=True)}
        assert not remaining & {c.id for c in containers.values()}
    finally:
        for container in containers.values():
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)


def test_sim_up_hosts_asks_for_containers_that_are_never_stale(inventory: Path, monkeypatch):
    import homeops.sim.containers as containers

    seen: dict[str, object] = {}

    def start(self: containers.SimHosts) -> dict[str, object]:
        seen["owner"] = self.owner
        raise RuntimeError("no engine here")

    monkeypatch.setattr(containers.SimHosts, "start", start)
    lifecycle.start(inventory, hosts=True, virtual=True, say=lambda _: None)
    assert seen["owner"] == "persistent"


def test_attach_without_docker_runs_the_host_shims_in_process(inventory: Path, monkeypatch):
    from homeops.sim.hostrunner import ShimRunner

    lifecycle.start(inventory, virtual=True, say=lambda _: None)

    def no_processes(*args: object, **kwargs: object) -> None:
        raise AssertionError("a host command started a process")

    monkeypatch.setattr(subprocess, "Popen", no_processes)
    monkeypatch.setattr(subprocess, "run", no_processes)
    with open_runtime(inventory) as runtime:
        pve2 = runtime.host("pve2")
        assert isinstance(pve2, ShimRunner) and pve2.in_process
        assert pve2.run(["qm", "status", "201"]).stdout == "status: running\n"
        assert runtime.host("nas").run(["zpool", "status", "-x"]).stdout == "all pools are healthy\n"
    log = SimStore(inventory / ".homeops" / "sim").log()
    assert [(e["host"], e["argv"]) for e in log] == [
        ("pve2", ["qm", "status", "201"]),
        ("nas", ["zpool", "status", "-x"]),
    ]


def test_up_normalises_and_checks_versions(inventory: Path):
    store = lifecycle.start(inventory, talos_version="1.10.9", virtual=True, say=lambda _: None)
    assert store.read()["nodes"]["k8s-0"]["talos_version"] == "v1.10.9"
    with pytest.raises(Exit, match=r"--talos-version 'latest' is not a version like v1\.11\.6"):
        sim_tasks.up(Context(), inventory=str(inventory), talos_version="latest", virtual=True)


def test_fake_tool_without_a_sim_says_how_to_start_one(tmp_path: Path):
    from homeops.sim.tools import run

    code, out, err = run("kubectl", ["get", "nodes"], None, {"PATH": "/usr/bin"})
    assert (code, out) == (1, "") and "HOMEOPS_SIM_DIR is not set; start a simulated cluster with: inv sim.up" in err
    code, _, err = run("talosctl", ["version"], None, {"HOMEOPS_SIM_DIR": str(tmp_path / "none")})
    assert code == 1 and "no simulated cluster in" in err and "inv sim.up" in err


def test_sim_runner_runs_other_commands_with_the_fake_tools_on_path(inventory: Path):
    from homeops.sim.runner import SimRunner

    store = lifecycle.start(inventory, virtual=True, say=lambda _: None)
    runner = SimRunner(store.dir)
    result = runner.run(["sh", "-c", "command -v talosctl"])
    assert result.ok and result.stdout.strip() == str(store.dir / "bin" / "talosctl")
    assert runner.run(["talosctl", "version", "--client", "--short"]).stdout == "Client:\nTalos v1.11.6\n"
