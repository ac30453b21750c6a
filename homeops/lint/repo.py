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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import homeops.lint.transforms as transforms
from homeops.errors import ConfigError
from homeops.lint.substitute import substitute
from homeops.lint.transforms import as_dict
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


@dataclass(eq=False)
class FluxKustomization:
    """A Flux Kustomization as Flux acts on it: ``data`` is the object as written (for lines), ``spec``
    the effective one after its parents' build (kustomize transforms, Flux patches, substitution)."""

    file: str
    line: int
    name: str
    data: Map
    path_dir: Path | None
    variables: dict[str, str]
    component_dirs: tuple[Path, ...]
    spec: dict[str, Any] = field(default_factory=dict)
    parent: FluxKustomization | None = None
    set_by: str = ""  # which parent transform set spec.targetNamespace, when the file does not
    missing_components: tuple[str, ...] = ()

    @property
    def path_value(self) -> str | None:
        value = self.spec.get("path")
        return value if isinstance(value, str) else None

    @property
    def target_namespace(self) -> Any:
        return self.spec.get("targetNamespace")

    @property
    def source_ref(self) -> tuple[str, str]:
        ref = self.spec.get("sourceRef")
        ref = ref if isinstance(ref, dict) else {}
        return str(ref.get("kind", "GitRepository")), str(ref.get("name", ""))


@dataclass
class Repo:
    root: Path
    files: dict[str, YamlFile]
    flux: list[FluxKustomization] = field(default_factory=list)
    contexts: dict[str, list[FluxKustomization]] = field(default_factory=dict)
    reach: dict[int, frozenset[str]] = field(default_factory=dict)
    chains: dict[int, dict[str, tuple[str, ...]]] = field(default_factory=dict)
    roots: frozenset[str] = frozenset()  # files with a Flux Kustomization nothing else deploys
    deployed: frozenset[str] | None = None  # None: no Flux root found, every file is judged
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

    def is_deployed(self, rel: str) -> bool:
        return self.deployed is None or rel in self.deployed

    def index_of(self, ks: FluxKustomization) -> int:
        return next(i for i, k in enumerate(self.flux) if k is ks)


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


def _resolve_flux_path(repo: Repo, spec_path: str | None) -> Path | None:
    """Flux paths are relative to the source's root: try the lint root and its parents up to the git
    root. No ``spec.path`` (or ``./``) is the source's root (kustomize-controller's default)."""
    clean = (spec_path or "").strip()
    while clean.startswith("./"):
        clean = clean[2:]
    clean = clean.strip("/")
    if clean in ("", "."):
        return source_root(repo)
    for base in (repo.root, *repo.root.parents):
        candidate = _norm(base / clean)
        if candidate.is_dir():
            return candidate
        if (base / ".git").exists():
            break
    return None


def source_root(repo: Repo) -> Path:
    """The folder Flux paths are relative to: the git root above the lint root, else the lint root."""
    for base in (repo.root, *repo.root.parents):
        if (base / ".git").exists():
            return base
    return repo.root


def _index_flux(repo: Repo) -> None:
    for rel, file in repo.files.items():
        for doc in file.docs:
            data = doc.data
            if not is_flux_ks(data) or not isinstance(data, Map):
                continue
            metadata = _as_map(data.get("metadata"))
            ks = FluxKustomization(rel, data.line, str(metadata.get("name", "?")), data, None, {}, ())
            _settle(repo, ks, transforms.copy_object(data), None)
            repo.flux.append(ks)
    # A child's effective object depends on its parent's build, and what the parent builds on its
    # path: settle parents first, a few rounds (nesting in real repositories is two or three deep).
    for _ in range(6):
        _compute_reach(repo)
        changed = False
        for ks in repo.flux:
            parent, chain = _parent_of(repo, ks)
            if parent is None:
                continue
            before = (ks.spec, ks.path_dir, ks.variables, ks.component_dirs)
            _settle(repo, ks, _effective(repo, ks, parent, chain), parent)
            changed = changed or before != (ks.spec, ks.path_dir, ks.variables, ks.component_dirs)
        if not changed:
            break
    roots = {ks.file for ks in repo.flux if ks.parent is None}
    repo.roots = frozenset(roots)
    synced: dict[str, tuple[str, ...]] = {}
    for folder in _sync_paths(repo):
        _reach_folder(repo, folder, synced, set(), ())
    fans_out = any(ks.parent is not None for ks in repo.flux)
    # A path decided by a variable set outside the repository (substituteFrom): what it deploys is
    # unknown, so every file is judged rather than some called unreferenced wrongly.
    unknown_path = any(ks.path_dir is None and "${" in (ks.path_value or "") for ks in repo.flux)
    if (fans_out or synced) and not unknown_path:
        deployed = set(roots) | set(synced)
        for reached in repo.reach.values():
            deployed |= reached
        repo.deployed = frozenset(deployed)


def _sync_paths(repo: Repo) -> list[Path]:
    """Folders a FluxInstance syncs (flux-operator applies them: the true roots), from a FluxInstance
    object or the flux-instance chart's ``values.instance.sync``."""
    found: list[Path] = []
    for file in repo.files.values():
        for doc in file.objects():
            data = doc.data
            if not isinstance(data, Map):
                continue
            spec = as_dict(data.get("spec"))
            if data.get("kind") == "FluxInstance":
                sync = as_dict(spec.get("sync"))
            elif data.get("kind") == "HelmRelease":
                sync = as_dict(as_dict(as_dict(spec.get("values")).get("instance")).get("sync"))
            else:
                continue
            path = sync.get("path")
            if isinstance(path, str) and "${" not in path:
                folder = _resolve_flux_path(repo, path)
                if folder is not None:
                    found.append(folder)
    return found


def _settle(repo: Repo, ks: FluxKustomization, obj: dict[str, Any], parent: FluxKustomization | None) -> None:
    spec = as_dict(obj.get("spec"))
    ks.spec = spec
    ks.parent = parent
    post = as_dict(spec.get("postBuild"))
    subst = as_dict(post.get("substitute"))
    ks.variables = {str(k): _as_text(v) for k, v in subst.items()}
    path_value = spec.get("path")
    if path_value is not None and not isinstance(path_value, str):
        ks.path_dir = None
    elif isinstance(path_value, str) and "${" in path_value:
        ks.path_dir = None  # set by a substitution we cannot resolve
    else:
        ks.path_dir = _resolve_flux_path(repo, path_value)
    components: list[Path] = []
    missing: list[str] = []
    if ks.path_dir is not None:
        raw = spec.get("components")
        for comp in raw if isinstance(raw, list) else []:
            if not isinstance(comp, str):
                continue
            cdir = _norm(ks.path_dir / comp)
            if cdir.is_dir():
                components.append(cdir)
            elif not spec.get("ignoreMissingComponents"):
                missing.append(comp)
    ks.component_dirs = tuple(components)
    ks.missing_components = tuple(missing)


def _compute_reach(repo: Repo) -> None:
    repo.reach.clear()
    repo.chains.clear()
    repo.contexts.clear()
    for index, ks in enumerate(repo.flux):
        reached: dict[str, tuple[str, ...]] = {}
        seen: set[str] = set()
        if ks.path_dir is not None:
            _reach_folder(repo, ks.path_dir, reached, seen, ())
        for folder in ks.component_dirs:
            _reach_folder(repo, folder, reached, seen, ())
        repo.reach[index] = frozenset(reached)
        repo.chains[index] = reached
        for rel in reached:
            repo.contexts.setdefault(rel, []).append(ks)


def _parent_of(repo: Repo, ks: FluxKustomization) -> tuple[FluxKustomization | None, tuple[str, ...]]:
    for index, other in enumerate(repo.flux):
        if other is ks:
            continue
        chain = repo.chains.get(index, {}).get(ks.file)
        if chain is not None:
            return other, chain
    return None, ()


def _transforms_of(repo: Repo, krel: str, seen: set[str] | None = None) -> list[tuple[str, dict[str, Any]]]:
    """(kustomization file, its config) for a kustomization and, after it, the components it uses."""
    seen = seen if seen is not None else set()
    if krel in seen or krel not in repo.files:
        return []
    seen.add(krel)
    config = _kustomize_config(repo.files[krel])
    if config is None:
        return []
    out: list[tuple[str, dict[str, Any]]] = [(krel, config)]
    folder = repo.files[krel].path.parent
    for comp in _entries(config, "components"):
        kfile = _kustomization_in(repo, _norm(folder / comp))
        if kfile is not None:
            out.extend(_transforms_of(repo, kfile.rel, seen))
    return out


def _objects_under(repo: Repo, krel: str) -> list[dict[str, Any]]:
    """The objects a kustomization accumulates (its resources and components), for replacement sources."""
    reached: dict[str, tuple[str, ...]] = {}
    _reach_folder(repo, repo.files[krel].path.parent, reached, set(), ())
    found: list[dict[str, Any]] = []
    for rel in sorted(reached):
        for doc in repo.files[rel].objects():
            if isinstance(doc.data, Map) and not is_kustomize_config(doc.data):
                found.append(doc.data)
    return found


def _effective(repo: Repo, ks: FluxKustomization, parent: FluxKustomization, chain: tuple[str, ...]) -> dict[str, Any]:
    """The child object after its parent's build: the kustomizations on the way (innermost first),
    the parent's own ``spec.patches`` (Flux adds them to the root kustomization), then the parent's
    ``postBuild`` substitution."""
    obj = transforms.copy_object(ks.data)
    own_namespace = _as_map(ks.data.get("spec")).get("targetNamespace")
    for krel in reversed(chain):
        namespace: str | None = None
        for where, config in _transforms_of(repo, krel):
            folder = repo.files[where].path.parent
            if where == krel and isinstance(config.get("namespace"), str):
                namespace = config["namespace"]
            patches = config.get("patches")
            for patch in (patches if isinstance(patches, list) else []) + [
                {"path": p} for p in _entries(config, "patchesStrategicMerge")
            ]:
                before = obj.get("spec", {}).get("targetNamespace") if isinstance(obj.get("spec"), dict) else None
                if transforms.apply_patch(obj, patch, _reader(repo, folder)):
                    ks_after = obj.get("spec", {}) if isinstance(obj.get("spec"), dict) else {}
                    if ks_after.get("targetNamespace") != before and not own_namespace:
                        ks.set_by = f"a patch in {where}"
            replacements = config.get("replacements")
            for replacement in replacements if isinstance(replacements, list) else []:
                if not isinstance(replacement, dict):
                    continue
                value = transforms.replacement_source(replacement.get("source"), _objects_under(repo, krel), namespace)
                written = transforms.apply_replacement(obj, replacement, value)
                if any(w.endswith("targetNamespace") for w in written):
                    if value is transforms.UNKNOWN:
                        obj.setdefault("spec", {})["targetNamespace"] = f"(set by replacements in {where})"
                    if not own_namespace:
                        ks.set_by = f"replacements in {where}"
    parent_patches = parent.spec.get("patches")
    for patch in parent_patches if isinstance(parent_patches, list) else []:
        transforms.apply_patch(obj, patch, lambda _p: None)
    if parent.variables:
        obj = _substitute_all(obj, parent.variables)
    return obj


def _reader(repo: Repo, folder: Path) -> Callable[[str], str | None]:
    return lambda name: _read_text(repo, folder / name)


def _substitute_all(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: _substitute_all(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_all(v, variables) for v in value]
    if isinstance(value, str) and "${" in value:
        resolved = substitute(value, variables)
        return resolved.value
    return value


def _read_text(repo: Repo, path: Path) -> str | None:
    rel = repo.rel(_norm(path))
    if rel is not None and rel in repo.files:
        return repo.files[rel].text
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _norm(path: Path) -> Path:
    """``a/b/../c`` → ``a/c`` without touching the disk (resolve() costs a syscall per part)."""
    return Path(os.path.normpath(path))


def _as_map(value: Any) -> Map:
    return value if isinstance(value, Map) else Map()


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def is_remote(entry: str) -> bool:
    return "://" in entry or entry.startswith(("github.com/", "git@", "gitlab.com/", "bitbucket.org/"))


def _reach_folder(
    repo: Repo, folder: Path, reached: dict[str, tuple[str, ...]], seen: set[str], chain: tuple[str, ...]
) -> None:
    """Files a kustomize build of ``folder`` reads (Flux's generated kustomization where there is none).
    ``chain``: the kustomization files on the way, outermost first. ``seen`` holds real paths, so a
    symlink back up the tree is followed once."""
    folder = _norm(folder)
    real = os.path.realpath(folder)
    if real in seen:
        return
    seen.add(real)
    kfile = _kustomization_in(repo, folder)
    if kfile is None:
        _reach_generated(repo, folder, reached, seen, chain)
        return
    reached.setdefault(kfile.rel, chain)
    config = _kustomize_config(kfile)
    if config is None:
        return
    inner = (*chain, kfile.rel)
    for key in ("resources", "components", "bases"):
        for entry in _entries(config, key):
            if is_remote(entry):
                continue
            target = _norm(folder / entry)
            if target.is_dir():
                _reach_folder(repo, target, reached, seen, inner)
            else:
                rel = repo.rel(target)
                if rel is not None and rel in repo.files:
                    reached.setdefault(rel, inner)


def _reach_generated(
    repo: Repo, folder: Path, reached: dict[str, tuple[str, ...]], seen: set[str], chain: tuple[str, ...]
) -> None:
    """Flux without a kustomization.yaml: every YAML file, and each sub-folder with one as a unit.
    Like Flux's scan (fluxcd/pkg kustomize/v1.35.4 kustomize_generator.go:575, ``fs.Walk`` with
    lstat), a symlinked directory is not entered."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_symlink() and entry.is_dir():
            continue
        if entry.is_dir():
            if entry.name in _SKIP_DIRS or entry.name.startswith("."):
                continue
            if _kustomization_in(repo, entry) is not None:
                _reach_folder(repo, entry, reached, seen, chain)
            else:
                real = os.path.realpath(entry)
                if real in seen:
                    continue
                seen.add(real)
                _reach_generated(repo, entry, reached, seen, chain)
        elif entry.name.endswith(YAML_SUFFIXES):
            rel = repo.rel(entry)
            if rel is not None and rel in repo.files:
                reached.setdefault(rel, chain)


def _classify(repo: Repo) -> None:
    charts = {rel.rsplit("/", 1)[0] + "/" for rel in repo.files if rel.endswith("/Chart.yaml")}
    for rel, file in repo.files.items():
        if any(rel.startswith(chart) for chart in charts):
            # a Helm chart in the repository: templates are not YAML until helm renders them
            file.status, file.reason = "skipped", "Helm chart source (helm renders it)"
        elif rel in repo.generator_inputs:
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
