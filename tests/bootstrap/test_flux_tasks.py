"""`inv flux.reconcile` / `inv flux.status` against the simulator, through the inventory's kubeconfig only."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from homeops.sim import faults, lifecycle
from homeops.sim.store import SimStore
from homeops.tasks import flux as flux_tasks

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory", target, ignore=shutil.ignore_patterns(".homeops"))
    lifecycle.start(target, virtual=True, say=lambda _: None)
    return target


def _kubeconfig(inventory: Path, server: str = "https://10.10.0.10:6443") -> None:
    (inventory / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: home\n  cluster:\n"
        f"    server: {server}\n    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
        "contexts:\n- name: admin@home\n  context:\n    cluster: home\n    user: admin@home\n"
        "current-context: admin@home\nusers:\n- name: admin@home\n  user: {}\n"
    )


def _log(inventory: Path) -> list[list[str]]:
    return [e["argv"] for e in SimStore(inventory / ".homeops" / "sim").log()]


def test_reconcile_passes_the_inventory_kubeconfig_and_with_source(inventory: Path, capsys):
    _kubeconfig(inventory)
    flux_tasks.reconcile(Context(), with_source=True, inventory=str(inventory))
    out = capsys.readouterr().out
    assert out.startswith("[SIMULATED] reconciling Kustomization flux-system/flux-system with its source")
    assert "applied revision main@sha1:" in out
    [argv] = [a for a in _log(inventory) if a[0] == "flux"]
    assert argv[:4] == ["flux", "reconcile", "kustomization", "flux-system"]
    assert "--with-source" in argv and argv[argv.index("--kubeconfig") + 1] == str(inventory / "kubeconfig")


def test_refuses_a_kubeconfig_of_another_cluster_before_calling_anything(inventory: Path):
    _kubeconfig(inventory, server="https://10.99.0.10:6443")
    with pytest.raises(Exit) as info:
        flux_tasks.reconcile(Context(), inventory=str(inventory))
    message = str(info.value)
    assert (
        "kubeconfig: points at https://10.99.0.10:6443" in message
        and "not this inventory's https://10.10.0.10:6443" in message
    )
    assert not [a for a in _log(inventory) if a[0] in ("flux", "kubectl")]


def test_refuses_without_a_kubeconfig_on_a_real_cluster(tmp_path: Path):
    target = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory", target, ignore=shutil.ignore_patterns(".homeops"))
    with pytest.raises(Exit, match="no kubeconfig yet"):
        flux_tasks.status(Context(), inventory=str(target))


def test_runs_on_a_plain_sim_without_a_kubeconfig_like_every_other_task(inventory: Path, capsys):
    # issue 22 §3 (cosmetic): flux.status/flux.reconcile refused on a plain `sim.up` while volsync.* ran
    flux_tasks.status(Context(), inventory=str(inventory))
    flux_tasks.reconcile(Context(), inventory=str(inventory))
    out = capsys.readouterr().out
    assert "[SIMULATED] all 7 Flux objects Ready" in out and "applied revision main@sha1:" in out


def test_status_and_the_flux_gate_share_one_definition_of_healthy(inventory: Path, capsys):
    # issue 22 §3.13: the gate looked at Kustomizations only and was green with the FluxInstance not Ready
    from homeops.app.backend import open_runtime
    from homeops.operations.observe import ClusterObserver

    with SimStore(inventory / ".homeops" / "sim").transaction() as state:
        state["flux"]["instance"] = {"name": "flux", "namespace": "flux-system", "ready": False}
        state["flux"]["kustomizations"][0]["suspended"] = True  # listed, not a failure
    with pytest.raises(Exit, match="1 of 8 Flux objects not Ready"):
        flux_tasks.status(Context(), inventory=str(inventory))
    assert "FluxInstance" in capsys.readouterr().out
    with open_runtime(inventory) as rt:
        check = ClusterObserver(rt).flux()
    assert not check.ok and check.observed.startswith("FluxInstance flux-system/flux")


def test_status_lists_what_is_not_ready_and_exits_1(inventory: Path, capsys):
    _kubeconfig(inventory)
    flux_tasks.status(Context(), inventory=str(inventory))
    assert capsys.readouterr().out.strip() == "[SIMULATED] all 7 Flux objects Ready"
    with SimStore(inventory / ".homeops" / "sim").transaction() as state:
        state["flux"]["helmreleases"][3]["ready"] = False
        faults.inject(state, "ceph-warn")  # unrelated: must not show
    with pytest.raises(Exit, match="1 of 7 Flux objects not Ready"):
        flux_tasks.status(Context(), inventory=str(inventory))
    out = capsys.readouterr().out
    assert "HelmRelease  default    immich  False" in out and "cilium" not in out


def test_status_without_any_flux_object_is_not_all_ready(inventory: Path):
    _kubeconfig(inventory)
    with SimStore(inventory / ".homeops" / "sim").transaction() as state:
        state["flux"] = {"kustomizations": [], "helmreleases": []}
    with pytest.raises(Exit, match="no Flux objects found"):
        flux_tasks.status(Context(), inventory=str(inventory))
