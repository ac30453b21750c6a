"""`inv pve.status`, `inv pve.vm`, `inv nas.status`: output, exit codes, confirmation, dry run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

import homeops.runtime
from homeops.runtime import Runtime
from homeops.sim.hosts import local_host_runner
from homeops.sim.store import SimStore
from homeops.tasks import nas as nas_tasks
from homeops.tasks import pve as pve_tasks
from tests.hosts.simkit import add_fault, make_inventory, new_sim, runtime_with


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimStore:
    inventory = make_inventory(tmp_path)
    store = new_sim(tmp_path / "sim", inventory)

    def open_runtime(directory: object, **_: object) -> Runtime:
        return runtime_with(inventory, lambda host: local_host_runner(host.name, tmp_path / "sim", in_process=True))

    monkeypatch.setattr(homeops.app.backend, "open_runtime", open_runtime)
    return store


def test_pve_status_table(store: SimStore, capsys: pytest.CaptureFixture[str]) -> None:
    pve_tasks.status(Context())
    out = capsys.readouterr().out
    assert out.startswith("Proxmox cluster: quorate\n  pve1         quorate (3/3 votes)\n")
    assert "     201  k8s-1                pve2       running   k8s-1" in out


def test_pve_status_json_and_exit_1_when_host_down(store: SimStore, capsys: pytest.CaptureFixture[str]) -> None:
    add_fault(store, "pve-host-down", "pve3")
    with pytest.raises(Exit) as info:
        pve_tasks.status(Context(), json=True)
    assert info.value.code == 1
    data = json.loads(capsys.readouterr().out)
    assert [h["reachable"] for h in data["hosts"]] == [True, True, False]


def test_pve_vm_needs_yes_when_not_interactive(store: SimStore, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(Exit) as info:
        pve_tasks.vm(Context(), "shutdown", node="k8s-2")
    assert info.value.code == 1  # not 130: that is SIGINT's code (issue 10)
    assert str(info.value.message) == "error: shutdown of k8s-2's VM needs confirmation — re-run with --yes"
    assert all(e["argv"][1] in ("status", "get") for e in store.read()["log"])  # qm status, pvesh get: reads


def test_pve_vm_dry_run_then_yes(store: SimStore, capsys: pytest.CaptureFixture[str]) -> None:
    pve_tasks.vm(Context(), "reboot", node="k8s-2", dry_run=True)
    assert capsys.readouterr().out == (
        "k8s-2: VM 202 is running: reboot it\n  [pve3] qm reboot 202\ndry run: nothing was changed\n"
    )
    boots = store.read()["pve"]["hosts"]["pve3"]["vms"]["202"]["boots"]
    pve_tasks.vm(Context(), "reboot", node="k8s-2", yes=True)
    assert store.read()["pve"]["hosts"]["pve3"]["vms"]["202"]["boots"] == boots + 1
    assert capsys.readouterr().out.endswith("done: reboot k8s-2 (VM 202 on pve3)\n")


def test_pve_vm_snapshot_and_list(store: SimStore, capsys: pytest.CaptureFixture[str]) -> None:
    pve_tasks.vm(Context(), "snapshot", node="k8s-0", snapshot="before-test")
    pve_tasks.vm(Context(), "snapshots", node="k8s-0")
    assert "before-test" in capsys.readouterr().out.splitlines()[-1]


def test_pve_vm_user_errors_are_one_line(store: SimStore) -> None:
    with pytest.raises(Exit) as info:
        pve_tasks.vm(Context(), "start")
    assert str(info.value.message).startswith("error: which VM? pass --node")
    with pytest.raises(Exit) as info:
        pve_tasks.vm(Context(), "rollback", node="k8s-0", snapshot="has space")
    assert "not a valid Proxmox snapshot name" in str(info.value.message)
    with pytest.raises(Exit) as info:
        pve_tasks.vm(Context(), "shutdown", node="k8s-0", timeout="soon")
    assert "--timeout must be whole seconds" in str(info.value.message)


def test_nas_status(store: SimStore, capsys: pytest.CaptureFixture[str]) -> None:
    nas_tasks.status(Context())
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "TrueNAS nas: healthy"
    assert "  NFS service: RUNNING (enabled)" in out
    add_fault(store, "nas-pool-degraded")
    with pytest.raises(Exit) as info:
        nas_tasks.status(Context(), json=True)
    assert info.value.code == 1
    data = json.loads(capsys.readouterr().out)
    assert data["pools"][0]["status"] == "DEGRADED" and data["zpoolHealthy"] is False
