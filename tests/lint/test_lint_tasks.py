"""inv repo.lint / repo.validate and the pre-commit entry: output, exit codes, and every option given
a wrong value once (exit 2, one line, no traceback)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO
from tests.lint.lint_helpers import BUROA, write


def inv(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "invoke", "--search-root", str(REPO), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> None:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for word in words:
        assert word in lines[0]
    assert proc.stdout == ""


def test_lint_prints_ruff_style_lines_and_exits_1(tmp_path: Path) -> None:
    proc = inv("repo.lint", "--path", str(BUROA), "--rule", "no-loadbalancer", "--rule", "rootless")
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        "kubernetes/apps/kube-system/cilium/config/vip.yaml:10: no-loadbalancer Service 'kube-vip' is type "
        "LoadBalancer",
        "kubernetes/apps/kube-system/irqbalance/app/helmrelease.yaml:18: rootless container 'app' of DaemonSet "
        "'irqbalance/irqbalance' sets neither runAsNonRoot: true nor a non-zero runAsUser",
        "kubernetes/apps/media/qbittorrent/app/helmrelease.yaml:95: no-loadbalancer HelmRelease 'qbittorrent' makes "
        "a LoadBalancer Service (values.service.bittorrent)",
    ]
    assert "354 YAML files: 349 linted, 5 skipped" in proc.stderr


def test_lint_clean_tree_exits_0_and_json_is_a_list(tmp_path: Path) -> None:
    write(tmp_path, "ok.yaml", "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n")
    proc = inv("repo.lint", "--path", str(tmp_path), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_fix_order_sorts_then_reports_nothing_left(tmp_path: Path) -> None:
    path = write(tmp_path, "kustomization.yaml", "---\nresources:\n  - ./b.yaml # b\n  - ./a.yaml\n")
    proc = inv("repo.lint", "--path", str(tmp_path), "--fix-order")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert path.read_text() == "---\nresources:\n  - ./a.yaml\n  - ./b.yaml # b\n"
    assert "kustomization.yaml: resources sorted" in proc.stderr


def test_file_option_reports_only_those_files(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
    write(tmp_path, "b.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n")
    proc = inv("repo.lint", "--path", str(tmp_path), "--file", str(tmp_path / "b.yaml"), "--json")
    assert proc.returncode == 1
    assert {f["path"] for f in json.loads(proc.stdout)} == {"b.yaml"}


def test_lint_section_from_the_inventory(tmp_path: Path) -> None:
    write(tmp_path, "tree/cm.yaml", "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n")
    write(tmp_path, "inv/homeops.yaml", "lint:\n  disable: [no-raw-configmap]\n")
    proc = inv("repo.lint", "--path", str(tmp_path / "tree"), "--inventory", str(tmp_path / "inv"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 silenced by exceptions" in proc.stderr


# ---- every option once with a wrong value -------------------------------------------------------


def test_wrong_path(tmp_path: Path) -> None:
    one_line_error(inv("repo.lint", "--path", str(tmp_path / "nope")), "--path", "no such directory")
    one_line_error(inv("repo.validate", "--path", str(tmp_path / "nope")), "--path", "no such directory")
    write(tmp_path, "file.yaml", "a: 1\n")
    one_line_error(inv("repo.validate", "--path", str(tmp_path / "file.yaml")), "not a directory")


def test_wrong_rule(tmp_path: Path) -> None:
    one_line_error(
        inv("repo.lint", "--path", str(tmp_path), "--rule", "rwo_recreate"),
        "--rule",
        "'rwo_recreate' is not a lint rule name",
        "rwo-recreate",
    )


def test_wrong_json_combination_prints_no_partial_json(tmp_path: Path) -> None:
    """--json takes no value; with bad input nothing reaches stdout, so a CI diff never sees half a list."""
    one_line_error(inv("repo.lint", "--path", str(tmp_path / "nope"), "--json"), "--path")
    one_line_error(inv("repo.validate", "--path", str(tmp_path / "nope"), "--json"), "--path")


def test_wrong_file(tmp_path: Path) -> None:
    one_line_error(inv("repo.lint", "--path", str(tmp_path), "--file", str(tmp_path / "gone.yaml")), "no such file")


def test_wrong_inventory(tmp_path: Path) -> None:
    one_line_error(inv("repo.lint", "--path", str(tmp_path), "--inventory", str(tmp_path / "nope")), "--inventory")
    write(tmp_path, "inv/homeops.yaml", "lint:\n  ignore: [rootless]\n")
    one_line_error(
        inv("repo.lint", "--path", str(tmp_path), "--inventory", str(tmp_path / "inv")), "unknown key 'ignore'"
    )


def test_fix_order_on_a_tree_it_cannot_write_changes_nothing(tmp_path: Path) -> None:
    from homeops.lint import cli

    path = write(tmp_path, "kustomization.yaml", "resources:\n  - b.yaml\n  - a.yaml\n")
    before = path.read_text()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cli.os, "access", lambda *_a, **_k: False)  # root can write anything: simulate read-only
        from homeops.errors import ConfigError

        with pytest.raises(ConfigError, match=r"--fix-order: cannot write kustomization\.yaml"):
            cli.run_lint(path=str(tmp_path), fix_order=True)
    assert path.read_text() == before


def test_validate_clean_and_failing(tmp_path: Path) -> None:
    write(tmp_path, "kubernetes/apps/a/bad.yaml", "a: [\n")
    proc = inv("repo.validate", "--path", str(tmp_path))
    assert proc.returncode == 1
    assert proc.stdout.startswith("kubernetes/apps/a/bad.yaml:2: yaml: does not parse:")
    (tmp_path / "kubernetes/apps/a/bad.yaml").write_text("a: 1\n")
    assert inv("repo.validate", "--path", str(tmp_path)).returncode == 0


def test_missing_kubectl_is_one_line(tmp_path: Path) -> None:
    write(
        tmp_path,
        "kubernetes/ks.yaml",
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\n"
        "metadata: {name: a}\nspec: {path: ./kubernetes, targetNamespace: x}\n",
    )
    env = {**os.environ, "PATH": "/nonexistent"}
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, homeops.lint.validate as v; v.find_kubectl = lambda: None; "
            "from invoke.main import program; sys.argv = ['inv', '--search-root', sys.argv[1], 'repo.validate', "
            "'--path', sys.argv[2]]; program.run()",
            str(REPO),
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 127, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "kubectl is not installed" in lines[0]


# ---- pre-commit ---------------------------------------------------------------------------------


def test_pre_commit_hook_runs_lint_on_the_changed_files(tmp_path: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "homeops-repo-lint")
    assert hook["entry"] == "python -m homeops.lint" and hook.get("pass_filenames", True)
    write(tmp_path, "kubernetes/a.yaml", "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: a\ndata: {k: dg==}\n")
    write(tmp_path, "kubernetes/b.yaml", "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: b\ndata: {k: dg==}\n")
    write(tmp_path, "README.md", "x\n")
    proc = subprocess.run(
        [sys.executable, "-m", "homeops.lint", "kubernetes/b.yaml", "README.md"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == ["b.yaml:3: no-raw-secret Secret 'b' is plain; use an ExternalSecret or SOPS"]
    bad = subprocess.run(
        [sys.executable, "-m", "homeops.lint", "--rule", "bogus"], cwd=tmp_path, capture_output=True, text=True
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
