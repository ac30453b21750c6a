"""repo.validate builds what Flux's kustomize-controller builds — each behaviour a fixture, each with
the source it models (fluxcd/kustomize-controller v1.9.4 internal/controller/kustomization_controller.go
:747-790 calls fluxcd/pkg kustomize v1.35.4; flux-operator v0.58.1 for the generated sync source).

Every test here failed on the validator before issue 21 (it built folders with kubectl's default
load restrictor, components as an overlay, skipped generated kustomizations, and so on)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from homeops.lint.repo import load_repo
from homeops.lint.validate import validate_all, validate_repo
from tests.lint.lint_helpers import BJWS, BUROA, ROOT_KS, kustomization, write

APP_KS = """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: {name}
spec:
  path: {path}
  sourceRef:
    kind: GitRepository
    name: flux-system
    namespace: flux-system
  targetNamespace: default
{extra}"""
CM = "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  a: b\n"


def cluster(root: Path, *, root_extra: str = "") -> None:
    """A Flux tree like the real ones: flux/cluster/ks.yaml → kubernetes/apps (no kustomization.yaml:
    Flux generates one) → apps/default/kustomization.yaml → apps/default/web/ks.yaml → its app/."""
    (root / ".git").mkdir(parents=True, exist_ok=True)
    write(root, "kubernetes/flux/cluster/ks.yaml", ROOT_KS.format(extra=root_extra))
    write(
        root, "kubernetes/apps/default/kustomization.yaml", kustomization("./web/ks.yaml", extra="namespace: default\n")
    )
    write(
        root,
        "kubernetes/apps/default/web/ks.yaml",
        APP_KS.format(name="web", path="./kubernetes/apps/default/web/app", extra=""),
    )
    write(root, "kubernetes/apps/default/web/app/kustomization.yaml", kustomization("./configmap.yaml"))
    write(root, "kubernetes/apps/default/web/app/configmap.yaml", CM.format(name="web"))


def whole_repo(root: Path) -> None:
    """A repository whose one Flux Kustomization has no spec.path (the source's root) and one ConfigMap."""
    (root / ".git").mkdir()
    write(
        root,
        "flux/ks.yaml",
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: all\n"
        "spec:\n  sourceRef:\n    kind: GitRepository\n    name: flux-system\n",
    )
    write(root, "apps/configmap.yaml", CM.format(name="a"))


def errors(root: Path) -> list[str]:
    return [str(p) for p in validate_repo(root)]


def test_the_fixture_cluster_is_green(tmp_path: Path) -> None:
    cluster(tmp_path)
    assert errors(tmp_path) == []


def test_files_outside_the_folder_load_as_flux_allows(tmp_path: Path) -> None:
    """Flux: LoadRestrictionsNone (fluxcd/pkg kustomize/v1.35.4 kustomize_generator.go:698);
    kubectl's default (LoadRestrictionsRootOnly) refuses a file outside the kustomization's folder."""
    cluster(tmp_path)
    write(tmp_path, "kubernetes/shared/settings.env", "A=1\n")
    write(
        tmp_path,
        "kubernetes/apps/default/web/app/kustomization.yaml",
        kustomization(
            "./configmap.yaml",
            extra="configMapGenerator:\n  - name: settings\n    envs:\n      - ../../../../shared/settings.env\n",
        ),
    )
    assert errors(tmp_path) == []


def test_components_are_added_to_the_folders_kustomization_not_built_as_an_overlay(tmp_path: Path) -> None:
    """Flux appends spec.components to the folder's own kustomization (kustomize_generator.go:255-269),
    so a component's resources meet the folder's before its namePrefix: a component ConfigMap 'web'
    collides with the app's 'web'. Built as an overlay around the folder, the app's is already
    'app-web' and the collision Flux fails on went unseen."""
    cluster(tmp_path)
    write(
        tmp_path,
        "kubernetes/apps/default/web/ks.yaml",
        APP_KS.format(
            name="web",
            path="./kubernetes/apps/default/web/app",
            extra="  components:\n    - ../../../../components/extra\n",
        ),
    )
    write(
        tmp_path,
        "kubernetes/apps/default/web/app/kustomization.yaml",
        kustomization("./configmap.yaml", extra="namePrefix: app-\n"),
    )
    component = "---\napiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\nresources:\n  - ./cm.yaml\n"
    write(tmp_path, "kubernetes/components/extra/kustomization.yaml", component)
    write(tmp_path, "kubernetes/components/extra/cm.yaml", CM.format(name="web"))
    [problem] = validate_repo(tmp_path)
    assert problem.path == "kubernetes/apps/default/web/ks.yaml"
    assert "with components kubernetes/components/extra" in problem.message and "web" in problem.message
    write(tmp_path, "kubernetes/components/extra/cm.yaml", CM.format(name="extra"))
    assert errors(tmp_path) == []


def test_a_path_variable_set_by_the_parents_substitution_is_resolved(tmp_path: Path) -> None:
    """``${APP_DIR}`` in a child's spec.path is replaced by the parent's postBuild substitution
    (kustomization_controller.go:816-823 substitutes the parent's whole build, child objects included)."""
    cluster(tmp_path, root_extra="  postBuild:\n    substitute:\n      APP_DIR: web\n")
    write(
        tmp_path,
        "kubernetes/apps/default/web/ks.yaml",
        APP_KS.format(name="web", path="./kubernetes/apps/default/${APP_DIR}/app", extra=""),
    )
    assert errors(tmp_path) == []
    write(tmp_path, "kubernetes/apps/default/web/app/kustomization.yaml", kustomization("./missing.yaml"))
    [problem] = validate_repo(tmp_path)
    assert problem.path == "kubernetes/apps/default/web/ks.yaml" and "missing.yaml" in problem.message


def test_a_kustomization_of_an_external_source_is_skipped_with_a_note(tmp_path: Path) -> None:
    cluster(tmp_path)
    write(
        tmp_path,
        "kubernetes/apps/default/web/ks.yaml",
        APP_KS.format(name="web", path="./deploy/somewhere/else", extra="").replace(
            "    name: flux-system\n    namespace: flux-system\n", "    name: other-repo\n"
        ),
    )
    assert errors(tmp_path) == []
    notes = [p for p in validate_all(tmp_path) if p.severity == "note"]
    assert [p.message for p in notes] == [
        "Kustomization 'web': built from GitRepository 'other-repo', an external source: not checked here"
    ]


def test_no_spec_path_is_the_source_root(tmp_path: Path) -> None:
    """spec.path is optional: the source's root (kustomize-controller's default); never 'path None'."""
    whole_repo(tmp_path)
    assert errors(tmp_path) == []
    assert not any("None" in p.message for p in validate_all(tmp_path))


def test_the_operators_flux_system_source_counts_as_a_chart_source(tmp_path: Path) -> None:
    """flux-operator names the FluxInstance's sync source after its namespace, flux-system (v0.58.1
    api/v1/fluxinstance_types.go:258-263, internal/builder/templates.go:414-465): a chart read from
    the repository itself through it exists though no file defines it."""
    cluster(tmp_path)
    write(
        tmp_path,
        "kubernetes/apps/default/web/app/helmrelease.yaml",
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: web\nspec:\n"
        "  chart:\n    spec:\n      chart: ./charts/web\n      sourceRef:\n        kind: GitRepository\n"
        "        name: flux-system\n        namespace: flux-system\n",
    )
    write(
        tmp_path,
        "kubernetes/apps/default/web/app/kustomization.yaml",
        kustomization("./configmap.yaml", "./helmrelease.yaml"),
    )
    assert errors(tmp_path) == []


def test_a_remote_resource_that_cannot_be_fetched_is_unverified_not_a_failure(tmp_path: Path) -> None:
    cluster(tmp_path)
    write(
        tmp_path,
        "kubernetes/apps/default/web/app/kustomization.yaml",
        kustomization("./configmap.yaml", "https://example.invalid/manifests/crds.yaml"),
    )
    assert errors(tmp_path) == []
    [note] = [p for p in validate_all(tmp_path) if p.severity == "note"]
    assert "unverified (offline)" in note.message and "https://example.invalid/manifests/crds.yaml" in note.message


def test_a_broken_reference_in_a_namespace_level_kustomization_is_caught(tmp_path: Path) -> None:
    """kubernetes/apps has no kustomization.yaml: Flux generates one listing each namespace folder
    (kustomize_generator.go:525-632) and builds it, so a missing ks.yaml there fails cluster-apps."""
    cluster(tmp_path)
    write(
        tmp_path,
        "kubernetes/apps/default/kustomization.yaml",
        kustomization("./web/ks.yaml", "./gone/ks.yaml", extra="namespace: default\n"),
    )
    [problem] = validate_repo(tmp_path)
    assert problem.path == "kubernetes/flux/cluster/ks.yaml" and problem.check == "kustomize"
    assert "Kustomization 'cluster-apps'" in problem.message and "gone/ks.yaml" in problem.message
    assert problem.message.strip() not in (">", "") and "\n" not in problem.message


def test_a_file_nothing_deploys_does_not_block(tmp_path: Path) -> None:
    """Bootstrap and DR refuse only on what Flux deploys: a broken file nothing reaches is a note."""
    cluster(tmp_path)
    write(tmp_path, "kubernetes/apps/default/old/app/broken.yaml", "a: [1,\n")
    assert errors(tmp_path) == []
    [note] = validate_all(tmp_path)
    assert note.severity == "note" and note.check == "yaml" and "no Flux Kustomization deploys it" in note.message


def test_a_symlink_to_root_in_a_generated_folder_ends_quickly(tmp_path: Path) -> None:
    """issue 22 §3.4: Flux's scan uses lstat (fs.Walk), so a symlinked folder is not entered."""
    cluster(tmp_path)
    os.symlink("/", tmp_path / "kubernetes/apps/rootfs")
    started = time.monotonic()
    assert errors(tmp_path) == []
    assert time.monotonic() - started < 60
    assert "rootfs" not in " ".join(load_repo(tmp_path).contexts)


def test_an_alias_bomb_is_refused_fast_like_go_yaml(tmp_path: Path) -> None:
    """issue 22 §3.5: go-yaml v3.0.1 decode.go:455-491 refuses 'excessive aliasing'."""
    cluster(tmp_path)
    levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    write(tmp_path, "kubernetes/apps/default/web/app/bomb.yaml", "\n".join(levels) + "\n")
    write(
        tmp_path, "kubernetes/apps/default/web/app/kustomization.yaml", kustomization("./configmap.yaml", "./bomb.yaml")
    )
    started = time.monotonic()
    problems = validate_repo(tmp_path, build=False)
    assert time.monotonic() - started < 5
    assert [(p.path, p.check) for p in problems] == [("kubernetes/apps/default/web/app/bomb.yaml", "yaml")]
    assert "excessive aliasing" in problems[0].message


def _fill_dropped_inputs(root: Path) -> list[str]:
    """The shared trees keep YAML only (shared/realworld/apps/README.md): put a placeholder where a
    configMapGenerator/secretGenerator input was dropped, as the upstream repository has the file."""
    filled = []
    repo = load_repo(root)
    for file in repo.files.values():
        if file.path.name != "kustomization.yaml":
            continue
        for doc in file.docs:
            for key in ("configMapGenerator", "secretGenerator"):
                for gen in doc.data.get(key) or [] if isinstance(doc.data, dict) else []:
                    for entry in [*(gen.get("files") or []), *(gen.get("envs") or [])]:
                        target = file.path.parent / str(entry).split("=", 1)[-1]
                        if not target.exists():
                            target.parent.mkdir(parents=True, exist_ok=True)
                            target.write_text("placeholder=1\n", encoding="utf-8")
                            filled.append(str(target.relative_to(root)))
    return filled


@pytest.mark.parametrize("source", [BJWS, BUROA], ids=["bjw-s", "buroa"])
def test_the_visible_real_repositories_are_green(source: Path, tmp_path: Path) -> None:
    root = tmp_path / source.name
    shutil.copytree(source, root)
    filled = _fill_dropped_inputs(root)
    assert filled and all(not f.endswith((".yaml", ".yml")) or "resources/" in f for f in filled)
    problems = validate_all(root)
    assert [p for p in problems if p.severity == "error"] == []
    assert all(p.severity == "note" for p in problems)


def test_post_build_substitution_as_flux_does_it(tmp_path: Path) -> None:
    """kustomize_varsub.go:191-216: a var name Flux refuses fails the Kustomization; a value that
    breaks the YAML once substituted fails it too; an escaped ``$${X}`` and a disabled object pass."""
    cluster(tmp_path)
    ks = tmp_path / "kubernetes/apps/default/web/ks.yaml"
    base = ks.read_text()
    write(
        tmp_path,
        "kubernetes/apps/default/web/app/configmap.yaml",
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\ndata:\n  a: ${GREETING}\n  b: $${KEEP}\n",
    )
    ks.write_text(base + "  postBuild:\n    substitute:\n      GREETING: hello\n")
    assert errors(tmp_path) == []
    ks.write_text(base + "  postBuild:\n    substitute:\n      GREETING: hello\n      bad-name: x\n")
    [problem] = validate_repo(tmp_path)
    assert "post build: 'bad-name' var name is invalid" in problem.message
    ks.write_text(base + "  postBuild:\n    substitute:\n      GREETING: '[unclosed'\n")
    [problem] = validate_repo(tmp_path)
    assert "post build: the substituted output does not parse" in problem.message


def test_files_the_artifact_leaves_out_are_not_built(tmp_path: Path) -> None:
    """source-controller leaves .sops.yaml, .github/ and friends (fluxcd/pkg sourceignore/v0.18.0
    sourceignore.go:30-34) and what .sourceignore names out of the artifact: a Kustomization of the
    whole repository never sees them (kustomize would refuse them as 'missing kind')."""
    whole_repo(tmp_path)
    write(tmp_path, ".sops.yaml", "creation_rules:\n  - age: age1xyz\n")
    write(tmp_path, ".github/workflows/ci.yaml", "on: push\njobs: {}\n")
    write(tmp_path, "talos/talconfig.yaml", "clusterName: home\n")
    write(tmp_path, ".sourceignore", "# not Kubernetes\ntalos/\n")
    assert errors(tmp_path) == []
    (tmp_path / ".sourceignore").unlink()
    [problem] = validate_repo(tmp_path)
    assert "talconfig.yaml" in problem.message


def test_validate_json_and_sarif_carry_the_severity(tmp_path: Path) -> None:
    import io
    import json

    from homeops.lint.cli import run_validate

    cluster(tmp_path)
    write(tmp_path, "kubernetes/apps/default/old/broken.yaml", "a: [1,\n")
    out = io.StringIO()
    assert run_validate(path=str(tmp_path), fmt="json", out=out, err=io.StringIO()) == 0
    [item] = json.loads(out.getvalue())
    assert item["severity"] == "note" and item["path"] == "kubernetes/apps/default/old/broken.yaml"
    out = io.StringIO()
    assert run_validate(path=str(tmp_path), fmt="sarif", out=out, err=io.StringIO()) == 0
    assert json.loads(out.getvalue())["runs"][0]["results"][0]["level"] == "note"
