"""A home-ops repository as the linter sees it: its YAML files, their documents, and which Flux
Kustomization deploys each file (with that Kustomization's substitution variables).

What Flux deploys is followed, not guessed: a Flux Kustomization's ``spec.path`` (relative to the
git root) and ``spec.components``; inside, ``kustomization.yaml`` ``resources`` and ``components``
recursively — or, where a folder has no kustomization file, every YAML file Flux would generate one
from. Files named by ``configMapGenerator``/``secretGenerator`` are app configs, and ``patches``
files are partial objects: both are accounted for but not linted as Kubernetes objects.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeops.errors import ConfigError
from homeops.lint.yamlload import Document, Map, ParseError, load_documents

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
YAML_SUFFIXES = (".yaml", ".yml")
# Folders that hold tooling, not manifests: never walked.
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", ".homeops", "__pycache__", ".terraform"}

FLUX_KS_GROUP = "kustomize.toolkit.fluxcd.io/"
KUSTOMIZE_GROUP = "kustomize.config.k8s.io/"


def is_k8s_object(data: Any) -> bool:
    return isinstance(data, dict) and isinstance(data.get("apiVersion"), str) and isinstance(data.get("kind"), str)


def is_flux_ks(data: Any) -> bool:
    return is_k8s_object(data) and data["kind"] == "Kustomization" and data["apiVersion"].startswith(FLUX_KS_GROUP)


def is_kustomize_config(data: Any) -> bool:
    """A kustomization.yaml (Kustomization or Component): build input, never applied to the cluster."""
    return is_k8s_object(data) and data["apiVersion"].startswith(KUSTOMIZE_GROUP)


@dataclass
class YamlFile:
    """One YAML file and what happened to it: ``linted``, ``skipped`` (with reason) or ``parse-error``."""

    rel: str
    path: Path
    text: str
    docs: list[Document]
    error: ParseError | None
    status: str = "linted"
    reason: str = ""

    @property
    def lines(self) -> list[str]:
        return self.text.splitlines()

    def objects(self) -> Iterator[Document]:
        """Documents that are Kubernetes objects (apiVersion and kind)."""
        return (d for d in self.docs if is_k8s_object(d.data))


@dataclass(frozen=True)
class FluxKustomization:
    """A Flux Kustomization: where it is, what it deploys, and its substitution variables."""

    file: str
    line: int
    name: str
    data: Map
    path_dir: Path | None
    variables: dict[str, str]
    component_dirs: tuple[Path, ...]


@dataclass
class Repo:
    root: Path
    files: dict[str, YamlFile]
    flux: list[FluxKustomization] = field(default_factory=list)
    contexts: dict[str, list[FluxKustomization]] = field(default_factory=dict)
    reach: dict[int, frozenset[str]] = field(default_factory=dict)
    generator_inputs: dict[str, str] = field(default_factory=dict)
    patch_files: dict[str, str] = field(default_factory=dict)
    _by_kind: dict[str, list[tuple[str, Map]]] | None = None

    def objects_of_kind(self, kind: str) -> list[tuple[str, Map]]:
        """(file, object) for every linted object of ``kind``; indexed once."""
        if self._by_kind is None:
            index: dict[str, list[tuple[str, Map]]] = {}
            for rel, file in self.files.items():
                if file.status == "linted":
                    for doc in file.objects():
                        if isinstance(doc.data, Map):
                            index.setdefault(doc.data["kind"], []).append((rel, doc.data))
            self._by_kind = index
        return self._by_kind.get(kind, [])

    def rel(self, path: Path) -> str | None:
        clean = os.path.normpath(path)
        prefix = str(self.root).rstrip("/") + "/"
        return clean[len(prefix) :] if clean.startswith(prefix) else None

    def variables_for(self, rel: str) -> list[dict[str, str]]:
        """Substitution variables of each Flux Kustomization that deploys ``rel`` (one empty set if none)."""
        found = [ks.variables for ks in self.contexts.get(rel, [])]
        return found or [{}]

    def reached_by(self, rel: str) -> list[FluxKustomization]:
        return self.contexts.get(rel, [])


def _walk_yaml(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            if name.endswith(YAML_SUFFIXES):
                found.append(Path(dirpath) / name)
    return found


def load_repo(root: str | Path) -> Repo:
    """Read every YAML file under ``root`` and work out which Flux Kustomization deploys it."""
    base = Path(root)
    if not base.exists():
        raise ConfigError("no such directory", file=str(root), hint="pass --path to your repository or its kubernetes/")
    if not base.is_dir():
        raise ConfigError("is not a directory", file=str(root), hint="pass --path to a directory")
    base = base.resolve()
    files: dict[str, YamlFile] = {}
    for path in _walk_yaml(base):
        rel = path.relative_to(base).as_posix()
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            files[rel] = YamlFile(rel, path, "", [], ParseError(1, "not UTF-8 text"), "parse-error", "not UTF-8 text")
            continue
        except OSError as exc:
            why = exc.strerror or str(exc)
            files[rel] = YamlFile(rel, path, "", [], ParseError(1, why), "parse-error", f"unreadable: {why}")
            continue
        loaded = load_documents(text)
        if isinstance(loaded, ParseError):
            files[rel] = YamlFile(rel, path, text, [], loaded, "parse-error", loaded.message)
        else:
            files[rel] = YamlFile(rel, path, text, loaded, None)
    repo = Repo(base, files)
    _index_kustomize_inputs(repo)
    _index_flux(repo)
    _classify(repo)
    return repo


def _kustomization_in(repo: Repo, folder: Path) -> YamlFile | None:
    for name in KUSTOMIZATION_FILES:
        rel = repo.rel(folder / name)
        if rel is not None and rel in repo.files:
            return repo.files[rel]
    return None


def _kustomize_config(file: YamlFile) -> Map | None:
    for doc in file.docs:
        # kustomize defaults apiVersion/kind, so any mapping in a kustomization.yaml is one
        if isinstance(doc.data, Map) and (is_kustomize_config(doc.data) or "apiVersion" not in doc.data):
            return doc.data
    return None


def _entries(config: dict[Any, Any], key: str) -> list[str]:
    value = config.get(key)
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _index_kustomize_inputs(repo: Repo) -> None:
    """Remember generator inputs and patch files, so they are accounted for but not linted as objects."""
    for rel, file in repo.files.items():
        if file.path.name not in KUSTOMIZATION_FILES:
            continue
        config = _kustomize_config(file)
        if config is None:
            continue
        folder = file.path.parent
        for key in ("configMapGenerator", "secretGenerator"):
            generators = config.get(key)
            for gen in generators if isinstance(generators, list) else []:
                if not isinstance(gen, dict):
                    continue
                for entry in _entries(gen, "files") + _entries(gen, "envs"):
                    target = repo.rel(folder / entry.split("=", 1)[-1])
                    if target is not None:
                        repo.generator_inputs.setdefault(target, f"{key} input of {rel}")
        patches = config.get("patches")
        for patch in (patches if isinstance(patches, list) else []) + [
            {"path": p} for p in _entries(config, "patchesStrategicMerge")
        ]:
            if isinstance(patch, dict) and isinstance(patch.get("path"), str):
                target = repo.rel(folder / patch["path"])
                if target is not None:
                    repo.patch_files.setdefault(target, f"kustomize patch of {rel}")


def _resolve_flux_path(repo: Repo, spec_path: str) -> Path | None:
    """Flux paths are relative to the git root: try the lint root and its parents up to the git root."""
    clean = spec_path.strip().lstrip("./") if spec_path.strip() not in (".", "./") else ""
    for base in (repo.root, *repo.root.parents):
        candidate = base / clean
        if candidate.is_dir():
            return _norm(candidate)
        if (base / ".git").exists():
            break
    return None


def _index_flux(repo: Repo) -> None:
    for rel, file in repo.files.items():
        for doc in file.docs:
            data = doc.data
            if not is_flux_ks(data) or not isinstance(data, Map):
                continue
            spec = _as_map(data.get("spec"))
            metadata = _as_map(data.get("metadata"))
            subst = _as_map(_as_map(spec.get("postBuild")).get("substitute"))
            variables = {str(k): _as_text(v) for k, v in subst.items()}
            path_value = spec.get("path")
            path_dir = _resolve_flux_path(repo, path_value) if isinstance(path_value, str) else None
            components: list[Path] = []
            if path_dir is not None:
                for comp in _entries(spec, "components"):
                    cdir = _norm(path_dir / comp)
                    if cdir.is_dir():
                        components.append(cdir)
            repo.flux.append(
                FluxKustomization(
                    rel,
                    data.line,
                    str(metadata.get("name", "?")),
                    data,
                    path_dir,
                    variables,
                    tuple(components),
                )
            )
    for index, ks in enumerate(repo.flux):
        reached: set[str] = set()
        seen: set[Path] = set()
        for folder in (ks.path_dir, *ks.component_dirs):
            if folder is not None:
                _reach_folder(repo, folder, reached, seen)
        repo.reach[index] = frozenset(reached)
        for rel in reached:
            repo.contexts.setdefault(rel, []).append(ks)


def _norm(path: Path) -> Path:
    """``a/b/../c`` → ``a/c`` without touching the disk (resolve() costs a syscall per part)."""
    return Path(os.path.normpath(path))


def _as_map(value: Any) -> Map:
    return value if isinstance(value, Map) else Map()


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _reach_folder(repo: Repo, folder: Path, reached: set[str], seen: set[Path]) -> None:
    """Files a kustomize build of ``folder`` reads (Flux's generated kustomization where there is none)."""
    folder = _norm(folder)
    if folder in seen:
        return
    seen.add(folder)
    kfile = _kustomization_in(repo, folder)
    if kfile is None:
        _reach_generated(repo, folder, reached, seen)
        return
    reached.add(kfile.rel)
    config = _kustomize_config(kfile)
    if config is None:
        return
    for key in ("resources", "components", "bases"):
        for entry in _entries(config, key):
            if "://" in entry or entry.startswith(("github.com/", "git@")):
                continue
            target = _norm(folder / entry)
            if target.is_dir():
                _reach_folder(repo, target, reached, seen)
            else:
                rel = repo.rel(target)
                if rel is not None and rel in repo.files:
                    reached.add(rel)


def _reach_generated(repo: Repo, folder: Path, reached: set[str], seen: set[Path]) -> None:
    """Flux without a kustomization.yaml: every YAML file, and each sub-folder with one as a unit."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_dir():
            if entry.name in _SKIP_DIRS or entry.name.startswith("."):
                continue
            if _kustomization_in(repo, entry) is not None:
                _reach_folder(repo, entry, reached, seen)
            else:
                _reach_generated(repo, entry, reached, seen)
        elif entry.name.endswith(YAML_SUFFIXES):
            rel = repo.rel(entry)
            if rel is not None and rel in repo.files:
                reached.add(rel)


def _classify(repo: Repo) -> None:
    for rel, file in repo.files.items():
        if rel in repo.generator_inputs:
            # Flux hands these bytes to the app unparsed: whatever YAML dialect they use is the app's business
            file.status, file.reason = "skipped", f"app config ({repo.generator_inputs[rel]})"
        elif file.status == "parse-error":
            continue
        elif rel in repo.patch_files:
            file.status, file.reason = "skipped", f"partial object ({repo.patch_files[rel]})"
        elif not file.docs:
            file.status, file.reason = "skipped", "empty (no YAML document)"
        elif file.path.name in KUSTOMIZATION_FILES and _kustomize_config(file) is not None:
            pass  # kustomize defaults apiVersion/kind: a bare kustomization.yaml is still one
        elif not any(True for _ in file.objects()):
            file.status, file.reason = "skipped", "not a Kubernetes object (no apiVersion/kind)"
