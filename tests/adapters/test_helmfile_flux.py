"""helmfile and flux argv builders and call helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeops.adapters import flux, helmfile
from homeops.errors import CommandError, PlanError
from homeops.runners import FakeRunner

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def fixture(tool: str, parser: str, name: str) -> dict[str, str]:
    return json.loads((FIXTURES / tool / parser / f"{name}.json").read_text())  # type: ignore[no-any-return]


def test_helmfile_sync_argv_puts_globals_before_the_subcommand() -> None:
    argv = helmfile.sync(
        "bootstrap/helmfile.yaml", environment="home", selectors=["name=cilium", "tier=core"], skip_deps=True
    )
    assert argv == [
        "helmfile", "--file", "bootstrap/helmfile.yaml", "--environment", "home",
        "--selector", "name=cilium", "--selector", "tier=core", "sync", "--skip-deps", "--hide-notes",
    ]  # fmt: skip
    assert helmfile.template("h.yaml", kube_context="admin@home")[-3:] == ["--kube-context", "admin@home", "template"]
    assert helmfile.apply("h.yaml")[-2:] == ["apply", "--suppress-diff"]
    with pytest.raises(PlanError, match="selector"):
        helmfile.sync("h.yaml", selectors=["cilium"])


def test_helmfile_run_sync_success_and_failure() -> None:
    ok = fixture("helmfile", "sync", "v1_summary_empty_version")
    # the summary is on stderr (helmfile's zap logger), stdout is empty: issue 11 finding 4
    result = helmfile.run_sync(FakeRunner().on("sync", (0, "", ok["stderr"])), "bootstrap/helmfile.yaml")
    assert [r.name for r in result.updated] == ["cilium", "coredns", "flux-instance"]
    bad = fixture("helmfile", "sync", "failed_and_updated")
    with pytest.raises(CommandError) as info:
        helmfile.run_sync(FakeRunner().on("sync", (1, "", bad["stderr"])), "bootstrap/helmfile.yaml")
    message = str(info.value)
    assert message.startswith(
        "helmfile sync bootstrap/helmfile.yaml (release spegel) failed (exit 1): in bootstrap/helmfile.yaml"
    )
    assert info.value.target == "spegel"


def test_helmfile_run_template() -> None:
    fx = fixture("helmfile", "template", "two_docs")
    manifests = helmfile.run_template(FakeRunner().on("template", (0, fx["stdout"], fx["stderr"])), "h.yaml")
    assert [m.kind for m in manifests] == ["ServiceAccount", "ConfigMap", "ClusterRole"]


def test_flux_reconcile_argv() -> None:
    assert flux.reconcile("kustomization", "cluster-apps", with_source=True, timeout=600, kubeconfig="kc") == [
        "flux", "reconcile", "kustomization", "cluster-apps", "--namespace", "flux-system",
        "--kubeconfig", "kc", "--with-source", "--timeout", "10m",
    ]  # fmt: skip
    assert flux.reconcile("source git", "flux-system")[:5] == ["flux", "reconcile", "source", "git", "flux-system"]
    with pytest.raises(PlanError, match="no --with-source"):
        flux.reconcile("source git", "flux-system", with_source=True)
    # flux2 v2.7.0 cmd/flux/reconcile_source_chart.go registers --with-source ("reconcile HelmChart source")
    assert flux.reconcile("source chart", "flux-system-podinfo", with_source=True)[-1] == "--with-source"
    with pytest.raises(PlanError, match="not one of"):
        flux.reconcile("deployment", "x")
    with pytest.raises(PlanError, match="object name"):
        flux.reconcile("kustomization", "Bad_Name")


def test_flux_get_argv() -> None:
    assert flux.get_kustomizations() == ["flux", "get", "kustomizations", "--all-namespaces"]
    assert flux.get_helmreleases(namespace="media", kubeconfig="kc", context="c") == [
        "flux", "get", "helmreleases", "--namespace", "media", "--kubeconfig", "kc", "--context", "c",
    ]  # fmt: skip


def test_flux_run_reconcile() -> None:
    ok = fixture("flux", "reconcile", "with_source_ok")
    runner = FakeRunner().on("reconcile", (0, "", ok["stderr"]))
    result = flux.run_reconcile(runner, "kustomization", "cluster-apps", with_source=True, timeout=120)
    assert result.revision == "main@sha1:9a1b2c3d" and not result.failed
    assert runner.calls[0].timeout == 150
    bad = fixture("flux", "reconcile", "failed")
    with pytest.raises(CommandError) as info:
        flux.run_reconcile(FakeRunner().on("reconcile", (1, "", bad["stderr"])), "kustomization", "cluster-apps")
    assert str(info.value).startswith(
        "flux reconcile kustomization flux-system/cluster-apps failed (exit 1): Kustomization reconciliation failed"
    )
    suspended = FakeRunner().on("reconcile", (1, "", "✗ resource is suspended\n"))
    with pytest.raises(CommandError, match="flux resume"):
        flux.run_reconcile(suspended, "kustomization", "cluster-apps")


def test_flux_get_helpers() -> None:
    ks = fixture("flux", "kustomizations", "all_namespaces_v2")
    hr = fixture("flux", "helmreleases", "v2_all_namespaces")
    runner = FakeRunner().on("get kustomizations", (0, ks["stdout"], "")).on("get helmreleases", (0, hr["stdout"], ""))
    assert [k.name for k in flux.kustomizations(runner) if k.suspended] == ["rook-ceph-cluster"]
    assert [h.name for h in flux.helmreleases(runner, kubeconfig="kc") if h.ready == "Unknown"] == ["immich"]
    none = FakeRunner().on("get kustomizations", (0, "", "✗ no Kustomization objects found in any namespace\n"))
    assert flux.kustomizations(none) == []


@pytest.mark.parametrize("code", [0, 1])
def test_flux_get_of_an_empty_list_is_empty_before_and_since_flux_2_6(code: int) -> None:
    # fluxcd/flux2 v2.6.4 cmd/flux/get.go:185-197: "no %s objects found in %s namespace" became an error
    none = FakeRunner().on("get kustomizations", (code, "", "✗ no Kustomization objects found in any namespace\n"))
    assert flux.kustomizations(none) == []
    other = FakeRunner().on(
        "get kustomizations", (1, "", "✗ the server has asked for the client to provide credentials\n")
    )
    with pytest.raises(CommandError, match="provide credentials"):
        flux.kustomizations(other)
