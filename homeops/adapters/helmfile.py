"""helmfile: argv builders and parsers for ``list``, ``template``, ``sync`` and ``apply`` (bootstrap:apps),
and a reader for the bootstrap helmfile itself (release order from ``needs:``, files that must exist).

Read from helmfile/helmfile source (v0.169.2, v1.1.7, v1.5.5, v1.6.0, v1.7.1–v1.7.4):

* Global flags go *before* the subcommand: ``--file``, ``--environment``, ``--selector`` (repeatable;
  ``name=cilium``), ``--kubeconfig`` and ``--kube-context`` (``cmd/root.go``). ``--skip-deps``,
  ``--hide-notes``, ``--include-crds`` are subcommand flags.
* Every log line goes to **stderr**: ``cmd/root.go`` builds the zap logger on ``os.Stderr`` (message
  only, no level or time). That includes ``Upgrading release=…``, helm's own captured output, and the
  affected-releases summary ``state.go DisplayAffectedReleases`` (info level, so ``--quiet`` hides
  it). stdout gets ``helm template`` output and ``list`` only.
* Summary section headers: ``UPDATED RELEASES:`` (…``REINSTALLED``, ``DELETED``, ``FAILED``,
  ``FAILED TO DELETE``) up to v1.5.x; from v1.6.0 ``kubedog.HeaderDivider`` —
  ``========== Updated Releases ==========``; from v1.7.1 the title centered in ``=`` as wide as the
  table. v1.6+ wraps it in ANSI bold-blue unless ``--no-color``/``NO_COLOR``. Columns
  ``NAME NAMESPACE CHART VERSION DURATION`` (prettytable, 3-space separator, DURATION right-aligned;
  deleted sections ``NAME NAMESPACE DURATION``); v0.x printed ``NAME CHART VERSION``. Cells may be
  empty (namespace, version), so rows are cut at the header's column positions.
* A failed release ends with ``in <file>: failed processing release <name>: …``, exit 1; a selector
  that matches nothing exits 3 (``err: no releases found that matches specified selector(…)``).
* ``list --output json`` prints ``[{name, namespace, enabled, installed, labels, chart, version}]``;
  ``template`` prints the rendered manifests on stdout, each preceded by helm's ``# Source:`` comment.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeops.adapters._parse import UnexpectedOutput, excerpt, strip_ansi
from homeops.errors import CommandError, ConfigError, PlanError
from homeops.runners import Result, Runner

TOOL = "helmfile"
_SELECTOR = re.compile(r"[A-Za-z0-9_.\-/]+!?=[A-Za-z0-9_.\-/]*(,[A-Za-z0-9_.\-/]+!?=[A-Za-z0-9_.\-/]*)*")


def _globals(
    file: Path | str,
    environment: str | None,
    selectors: Sequence[str],
    kube_context: str | None,
    binary: str,
    kubeconfig: Path | str | None = None,
) -> list[str]:
    argv = [binary, "--file", str(file)]
    if environment:
        argv += ["--environment", environment]
    for selector in selectors:
        if not _SELECTOR.fullmatch(selector):
            raise PlanError(f"helmfile selector {selector!r} is not key=value[,key=value] (e.g. name=cilium)")
        argv += ["--selector", selector]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    if kube_context:
        argv += ["--kube-context", kube_context]
    return argv


def sync(
    file: Path | str,
    *,
    environment: str | None = None,
    selectors: Sequence[str] = (),
    skip_deps: bool = False,
    hide_notes: bool = True,
    kube_context: str | None = None,
    kubeconfig: Path | str | None = None,
    binary: str = TOOL,
) -> list[str]:
    argv = [*_globals(file, environment, selectors, kube_context, binary, kubeconfig), "sync"]
    if skip_deps:
        argv.append("--skip-deps")
    if hide_notes:
        argv.append("--hide-notes")
    return argv


def apply(
    file: Path | str,
    *,
    environment: str | None = None,
    selectors: Sequence[str] = (),
    skip_deps: bool = False,
    kube_context: str | None = None,
    kubeconfig: Path | str | None = None,
    binary: str = TOOL,
) -> list[str]:
    argv = [*_globals(file, environment, selectors, kube_context, binary, kubeconfig), "apply", "--suppress-diff"]
    if skip_deps:
        argv.append("--skip-deps")
    return argv


def template(
    file: Path | str,
    *,
    environment: str | None = None,
    selectors: Sequence[str] = (),
    skip_deps: bool = False,
    include_crds: bool = False,
    kube_context: str | None = None,
    kubeconfig: Path | str | None = None,
    binary: str = TOOL,
) -> list[str]:
    argv = [*_globals(file, environment, selectors, kube_context, binary, kubeconfig), "template"]
    if skip_deps:
        argv.append("--skip-deps")
    if include_crds:
        argv.append("--include-crds")
    return argv


def build(file: Path | str, *, kubeconfig: Path | str | None = None, binary: str = TOOL) -> list[str]:
    """``helmfile --file F build``: the state as helmfile loaded it — bases merged, release templates
    (``templates:``/``inherit``/``defaultInherit``) applied, Go templates rendered, needs reformatted
    (``pkg/app/app.go PrintState``; one ``---`` + ``#  Source: <file>`` document per state file, so a
    ``helmfile.d/`` folder gives one per part)."""
    return [*_globals(file, None, (), None, binary, kubeconfig), "build"]


def list_releases(
    file: Path | str,
    *,
    environment: str | None = None,
    selectors: Sequence[str] = (),
    binary: str = TOOL,
) -> list[str]:
    """``helmfile list --output json`` (``--skip-charts``: nothing is downloaded to list)."""
    return [*_globals(file, environment, selectors, None, binary), "list", "--skip-charts", "--output", "json"]


def release_selector(name: str) -> str:
    """The selector of exactly one release (``name=cilium``), refusing names a selector cannot carry."""
    if not re.fullmatch(r"[A-Za-z0-9_.\-]+", name):
        raise PlanError(f"helmfile release name {name!r} cannot be selected with name=<release>")
    return f"name={name}"


# =========================================================================== facts


@dataclass(frozen=True)
class Release:
    name: str
    namespace: str = ""
    chart: str = ""
    version: str = ""
    duration: str = ""


@dataclass(frozen=True)
class SyncResult:
    updated: tuple[Release, ...] = ()
    deleted: tuple[Release, ...] = ()
    failed: tuple[Release, ...] = ()
    reinstalled: tuple[Release, ...] = ()
    delete_failed: tuple[Release, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.failed and not self.delete_failed


@dataclass(frozen=True)
class Manifest:
    kind: str
    name: str
    namespace: str | None
    source: str | None  # the chart template it came from (helm's "# Source:" comment)


@dataclass(frozen=True)
class ListedRelease:
    name: str
    namespace: str
    enabled: bool
    installed: bool
    labels: str
    chart: str
    version: str


# =========================================================================== parsers

# Section keys of SyncResult, by the header text of each era.
_OLD_HEADERS = {
    "UPDATED RELEASES:": "updated",
    "REINSTALLED RELEASES:": "reinstalled",
    "DELETED RELEASES:": "deleted",
    "FAILED RELEASES:": "failed",
    "FAILED TO DELETE RELEASES:": "delete_failed",
}
_DIVIDER_TITLES = {
    "Updated Releases": "updated",
    "Reinstalled Releases": "reinstalled",
    "Deleted Releases": "deleted",
    "Failed Releases": "failed",
    "Failed to Delete Releases": "delete_failed",
}
_DIVIDER = re.compile(r"^=+ (?P<title>[A-Za-z ]+?) =+$")


def _section(line: str) -> str | None:
    """The SyncResult field a summary header line opens (any helmfile era), else None."""
    text = line.strip()
    if text in _OLD_HEADERS:
        return _OLD_HEADERS[text]
    m = _DIVIDER.match(text)
    return _DIVIDER_TITLES.get(m.group("title")) if m else None


def _release_rows(header: str, rows: list[str]) -> list[Release]:
    """Cut each row at the header's column starts: prettytable pads every cell to its column."""
    spans = [(m.group(0), m.start()) for m in re.finditer(r"\S+", header)]
    names = [name for name, _ in spans]
    if len(set(names)) != len(names) or "NAME" not in names:
        raise UnexpectedOutput("helmfile", f"release table header {excerpt(header)} is not NAME … columns")
    starts = [start for _, start in spans]
    releases = []
    for row in rows:
        if len(row.rstrip()) < starts[0] or row[: starts[0]].strip():
            raise UnexpectedOutput("helmfile", f"release row {excerpt(row)} does not match header {excerpt(header)}")
        cells: dict[str, str] = {}
        for i, name in enumerate(names):
            end = starts[i + 1] if i + 1 < len(starts) else None
            cells[name] = row[starts[i] : end].strip()
        # DURATION is right-aligned under its header, so a longer value can start left of the header
        # word and spill into the previous cell: give back what is on that cell's right edge.
        if "DURATION" in names and names.index("DURATION") > 0:
            prev = names[names.index("DURATION") - 1]
            value = row[starts[names.index(prev)] : starts[names.index("DURATION")]]
            head, sep, tail = value.rstrip().rpartition("   ")
            if sep and re.fullmatch(r"[0-9hms.]+", tail.strip()):
                cells[prev], cells["DURATION"] = head.strip(), tail.strip() + cells["DURATION"]
        if not cells["NAME"] or " " in cells["NAME"]:
            raise UnexpectedOutput("helmfile", f"release row {excerpt(row)} does not match header {excerpt(header)}")
        releases.append(
            Release(
                name=cells["NAME"],
                namespace=cells.get("NAMESPACE", ""),
                chart=cells.get("CHART", ""),
                version=cells.get("VERSION", ""),
                duration=cells.get("DURATION", ""),
            )
        )
    return releases


def parse_sync(stderr: str) -> SyncResult:
    """The affected-releases summary that ``helmfile sync|apply`` logs to **stderr** (any era's header)."""
    sections: dict[str, list[Release]] = {k: [] for k in _DIVIDER_TITLES.values()}
    lines = strip_ansi(stderr).splitlines()
    i = 0
    while i < len(lines):
        key = _section(lines[i])
        if key is None:
            i += 1
            continue
        if i + 1 >= len(lines) or not lines[i + 1].strip().startswith("NAME"):
            following = lines[i + 1] if i + 1 < len(lines) else ""
            raise UnexpectedOutput("helmfile", f"{lines[i].strip()} without a NAME header: {excerpt(following)}")
        header = lines[i + 1]
        j = i + 2
        rows = []
        while j < len(lines) and lines[j].strip() and _section(lines[j]) is None:
            rows.append(lines[j])
            j += 1
        sections[key].extend(_release_rows(header, rows))
        i = j
    return SyncResult(**{k: tuple(v) for k, v in sections.items()})


def parse_template(stdout: str) -> list[Manifest]:
    """Kinds and names of the rendered manifests (``yaml`` is imported here only)."""
    return [manifest for manifest, _ in _documents(stdout)]


def _documents(stdout: str) -> list[tuple[Manifest, str]]:
    import yaml

    out: list[tuple[Manifest, str]] = []
    for chunk in re.split(r"^---\s*$", stdout, flags=re.MULTILINE):
        if not chunk.strip():
            continue
        source_match = re.search(r"^# Source: (\S+)", chunk, flags=re.MULTILINE)
        try:
            doc = yaml.safe_load(chunk)
        except yaml.YAMLError as exc:
            where = f" ({source_match.group(1)})" if source_match else ""
            raise UnexpectedOutput("helmfile template", f"invalid YAML{where}: {str(exc).splitlines()[0]}") from None
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc:
            raise UnexpectedOutput("helmfile template", f"a document without kind: {excerpt(chunk)}")
        meta = doc.get("metadata") or {}
        manifest = Manifest(
            kind=str(doc["kind"]),
            name=str(meta.get("name", "")),
            namespace=meta.get("namespace"),
            source=source_match.group(1) if source_match else None,
        )
        out.append((manifest, chunk.strip("\n")))
    return out


def crds_only(stdout: str) -> tuple[list[Manifest], str]:
    """The CustomResourceDefinitions of a ``helmfile template`` output, and them alone as a YAML stream.

    What cluster-template does with ``yq 'select(.kind == "CustomResourceDefinition")'``, without yq.
    """
    picked = [(m, text) for m, text in _documents(stdout) if m.kind == "CustomResourceDefinition"]
    return [m for m, _ in picked], "".join(f"---\n{text}\n" for _, text in picked)


def parse_list(stdout: str) -> list[ListedRelease]:
    """``helmfile list --output json``."""
    import json

    try:
        data = json.loads(stdout or "null")
    except json.JSONDecodeError as exc:
        raise UnexpectedOutput("helmfile list", f"not JSON ({exc.msg}): {excerpt(stdout)}") from None
    if not isinstance(data, list):
        raise UnexpectedOutput("helmfile list", f"not a JSON list: {excerpt(stdout)}")
    out = []
    for item in data:
        if not isinstance(item, dict) or not item.get("name"):
            raise UnexpectedOutput("helmfile list", f"a release without a name: {excerpt(str(item))}")
        out.append(
            ListedRelease(
                name=str(item["name"]),
                namespace=str(item.get("namespace") or ""),
                enabled=bool(item.get("enabled", True)),
                installed=bool(item.get("installed", True)),
                labels=str(item.get("labels") or ""),
                chart=str(item.get("chart") or ""),
                version=str(item.get("version") or ""),
            )
        )
    return out


_IN_FILE = re.compile(r"in (?P<file>\S+?): (?P<msg>.+)$")
_FAILED_RELEASE = re.compile(r'failed processing release (?P<release>[^:\s]+)|release "(?P<quoted>[^"]+)"')
_NO_MATCH = "no releases found that matches specified selector"


def error_summary(stderr: str) -> str:
    """The most useful line of a helmfile failure: the last ``in <file>: …`` or ``Error:`` line."""
    lines = [ln.strip() for ln in strip_ansi(stderr).splitlines() if ln.strip()]
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i]
        if _IN_FILE.search(line) or line.lower().startswith(("error", "err:")):
            # helm's multierror ("1 error occurred:") puts the cause on the next line, as "* <cause>"
            if line.endswith("occurred:") and i + 1 < len(lines) and lines[i + 1].startswith("*"):
                return f"{line} {lines[i + 1]}"
            return line
    return lines[-1] if lines else "(no output)"


def failed_release(stderr: str) -> str | None:
    """The release named by ``failed processing release X`` in a helmfile failure, if any."""
    for line in strip_ansi(stderr).splitlines():
        if m := _FAILED_RELEASE.search(line):
            return m.group("release") or m.group("quoted")
    return None


def raise_for(result: Result, *, file: Path | str, what: str = "helmfile") -> None:
    if result.ok:
        return
    text = result.stderr or result.stdout
    line = error_summary(text)
    release = failed_release(text)
    on = f" (release {release})" if release else ""
    hint = "re-run with the same selector once fixed: helmfile sync is idempotent"
    if _NO_MATCH in text:
        hint = "check the release names and labels in the helmfile (helmfile list)"
    raise CommandError(
        f"{what} {file}{on} failed (exit {result.exit_code}): {line}",
        command=result.command,
        exit_code=result.exit_code,
        stderr=result.stderr,
        target=release,
        hint=hint,
    )


# =========================================================================== the helmfile itself


@dataclass(frozen=True)
class ReleaseSpec:
    """One release of a helmfile, as far as ordering and pre-flight checks need it."""

    name: str
    namespace: str
    chart: str
    version: str = ""
    needs: tuple[str, ...] = ()
    values: tuple[str, ...] = ()  # values *files* (inline values maps are not files)
    hooks: tuple[str, ...] = ()  # events, e.g. ("postsync",)
    timeout: int | None = None  # seconds: release.timeout, else helmDefaults.timeout
    installed: bool = True
    file: str = ""  # the state file (a helmfile.d part) that defines it

    @property
    def id(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


@dataclass(frozen=True)
class HelmfileSpec:
    path: str
    releases: tuple[ReleaseSpec, ...]
    repositories: Mapping[str, str] = field(default_factory=dict)  # name → url
    default_timeout: int | None = None


# Go template actions alone on a line ({{ if … }}, {{ end }}) are dropped; inline ones become a
# placeholder. Enough to read names, charts, needs and files, which bootstrap helmfiles keep literal.
_TEMPLATE_LINE = re.compile(r"^\s*\{\{-?.*-?\}\}\s*$")
_TEMPLATE_INLINE = re.compile(r"\{\{[^}]*\}\}")


def _int_or_none(value: Any, where: str, path: str) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"timeout {value!r} is not a number of seconds", file=path, field=where) from None


_SOURCE = re.compile(r"^#\s+Source: (?P<file>.+?)\s*$", re.MULTILINE)
_REQUIRED_ENV = re.compile(r"required env var `(?P<name>[^`]+)` is not set")


def parse_build(stdout: str, path: str) -> HelmfileSpec:
    """``helmfile build`` output: every state file's rendered releases, in file order, as one spec."""
    import yaml

    parts = [p for p in re.split(r"^---\s*$", stdout, flags=re.MULTILINE) if p.strip()]
    if not parts:
        raise UnexpectedOutput("helmfile build", f"no state printed: {excerpt(stdout)}")
    releases: list[ReleaseSpec] = []
    repositories: dict[str, str] = {}
    timeout: int | None = None
    for part in parts:
        source = _SOURCE.search(part)
        file = source.group("file") if source else path
        try:
            doc = yaml.safe_load(part)
        except yaml.YAMLError as exc:
            raise UnexpectedOutput("helmfile build", f"invalid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(doc, dict):
            raise UnexpectedOutput("helmfile build", f"a state that is not a mapping: {excerpt(part)}")
        spec = parse_helmfile(yaml.safe_dump(doc), file, check=False)
        releases += [_with_file(r, file) for r in spec.releases]
        repositories.update(spec.repositories)
        timeout = spec.default_timeout if spec.default_timeout is not None else timeout
    if not releases:
        raise ConfigError("has no releases", file=path)
    spec = HelmfileSpec(path, tuple(releases), repositories, timeout)
    seen: set[str] = set()
    for release in releases:
        if release.id in seen:
            raise ConfigError(f"release {release.id} is defined twice", file=path)
        seen.add(release.id)
    sync_order(spec)
    return spec


def _with_file(release: ReleaseSpec, file: str) -> ReleaseSpec:
    from dataclasses import replace

    return replace(release, file=file)


def missing_env(stderr: str) -> str | None:
    """The variable a ``requiredEnv`` template call did not find (helmfile ``tmpl/context_funcs.go``)."""
    m = _REQUIRED_ENV.search(strip_ansi(stderr))
    return m.group("name") if m else None


def run_build(
    runner: Runner, file: Path | str, *, kubeconfig: Path | str | None, env: Mapping[str, str], timeout: float = 300
) -> HelmfileSpec:
    """Ask helmfile what the bootstrap helmfile means; a missing ``requiredEnv`` variable is named in one line."""
    result = runner.run(build(file, kubeconfig=kubeconfig), timeout=timeout, env=dict(env))
    if not result.ok:
        name = missing_env(result.stderr or result.stdout)
        if name:
            raise ConfigError(
                f"the helmfile needs environment variable {name} (requiredEnv), which is not set",
                file=str(file),
                hint=f"set it under bootstrap.env in homeops.yaml (e.g. {name}: main)",
            )
        raise ConfigError(
            f"helmfile build failed (exit {result.exit_code}): {error_summary(result.stderr or result.stdout)}",
            file=str(file),
            hint="run `helmfile --file <file> build` to see the whole error",
        )
    try:
        return parse_build(result.stdout, str(file))
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=None) from None


def parse_helmfile(text: str, path: str, *, check: bool = True) -> HelmfileSpec:
    """Releases, repositories and defaults of a helmfile (``---``-separated parts are merged)."""
    import yaml

    text = "\n".join(ln for ln in text.splitlines() if not _TEMPLATE_LINE.match(ln))
    text = _TEMPLATE_INLINE.sub("templated", text)
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {' '.join(str(exc).split())[:160]}", file=path) from None
    releases: list[ReleaseSpec] = []
    repositories: dict[str, str] = {}
    default_timeout: int | None = None
    for doc in docs:
        if not isinstance(doc, dict):
            raise ConfigError("a document is not a mapping", file=path)
        for repo in doc.get("repositories") or []:
            if isinstance(repo, dict) and repo.get("name"):
                repositories[str(repo["name"])] = str(repo.get("url", ""))
        defaults = doc.get("helmDefaults") or {}
        if isinstance(defaults, dict) and "timeout" in defaults:
            default_timeout = _int_or_none(defaults["timeout"], "helmDefaults.timeout", path)
        for n, raw in enumerate(doc.get("releases") or []):
            where = f"releases[{n}]"
            if not isinstance(raw, dict) or not raw.get("name"):
                raise ConfigError("a release without a name", file=path, field=where)
            name = str(raw["name"])
            if not raw.get("chart"):
                raise ConfigError(f"release {name} has no chart", file=path, field=f"{where}.chart")
            needs = raw.get("needs") or []
            values = raw.get("values") or []
            if not isinstance(needs, list) or not isinstance(values, list):
                raise ConfigError(f"release {name}: needs and values must be lists", file=path, field=where)
            events = tuple(
                str(e) for hook in raw.get("hooks") or [] if isinstance(hook, dict) for e in hook.get("events") or []
            )
            releases.append(
                ReleaseSpec(
                    name=name,
                    namespace=str(raw.get("namespace") or ""),
                    chart=str(raw["chart"]),
                    version=str(raw.get("version") or ""),
                    needs=tuple(str(x) for x in needs),
                    values=tuple(str(v) for v in values if isinstance(v, str)),
                    hooks=events,
                    timeout=_int_or_none(raw.get("timeout"), f"{where}.timeout", path),
                    installed=raw.get("installed", True) is not False,
                )
            )
    if not releases and check:
        raise ConfigError("has no releases", file=path)
    seen: set[str] = set()
    for release in releases:
        if release.id in seen:
            raise ConfigError(f"release {release.id} is defined twice", file=path)
        seen.add(release.id)
    spec = HelmfileSpec(path, tuple(releases), repositories, default_timeout)
    if check:
        sync_order(spec)  # unknown needs and cycles are input errors: refuse them here
    return spec


def load_helmfile(path: Path | str) -> HelmfileSpec:
    p = Path(path)
    if p.is_dir():
        raise ConfigError("is a directory: name one helmfile (helmfile.d parts are synced separately)", file=str(p))
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("bootstrap helmfile not found", file=str(p), hint="create it or fix its path") from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(p)) from None
    return parse_helmfile(text, str(p))


def _resolve_need(spec: HelmfileSpec, release: ReleaseSpec, need: str) -> ReleaseSpec:
    # helmfile's release id is [kubecontext/]namespace/name; a bare name means the release's own
    # namespace (helmfile pkg/state/state.go reformat, v0.169.2 … v1.7.4), never "any namespace".
    parts = need.split("/")
    wanted = "/".join(parts[-2:]) if len(parts) >= 2 else (f"{release.namespace}/{need}" if release.namespace else need)
    hits = [r for r in spec.releases if r.id == wanted]
    if len(hits) != 1:
        why = "no release" if not hits else "more than one release"
        raise ConfigError(
            f"release {release.name} needs {need!r}, but there is {why} with that id",
            file=spec.path,
            field=f"{release.name}.needs",
        )
    return hits[0]


def sync_order(spec: HelmfileSpec) -> list[ReleaseSpec]:
    """Every installed release after all it needs; ties keep the file's order (helmfile's DAG, one at a time)."""
    deps = {r.id: [_resolve_need(spec, r, n).id for n in r.needs] for r in spec.releases}
    by_id = {r.id: r for r in spec.releases}
    order: list[ReleaseSpec] = []
    state: dict[str, str] = {}

    def visit(rid: str, path: list[str]) -> None:
        if state.get(rid) == "done":
            return
        if state.get(rid) == "visiting":
            cycle = " → ".join([*path[path.index(rid) :], rid])
            raise ConfigError(f"needs: form a cycle: {cycle}", file=spec.path)
        state[rid] = "visiting"
        for dep in deps[rid]:
            visit(dep, [*path, rid])
        state[rid] = "done"
        order.append(by_id[rid])

    for release in spec.releases:
        visit(release.id, [])
    return [r for r in order if r.installed]


def missing_files(spec: HelmfileSpec, exists: Callable[[str], bool] = os.path.exists) -> list[str]:
    """One line per release whose local chart, values file or chart repository is missing."""
    problems = []
    for release in spec.releases:
        base = os.path.dirname(release.file or spec.path)  # paths are relative to the release's state file
        chart = release.chart
        if chart.startswith(("./", "../", "/")):
            where = chart if os.path.isabs(chart) else os.path.join(base, chart)
            if not exists(where):
                problems.append(f"{spec.path}: release {release.name}: chart {chart} not found ({where})")
        elif not chart.startswith("oci://") and "/" in chart:
            repo = chart.split("/", 1)[0]
            if repo not in spec.repositories:
                problems.append(
                    f"{spec.path}: release {release.name}: chart {chart} names repository {repo!r}, "
                    "which the helmfile does not define"
                )
        for value in release.values:
            if "templated" in value:
                continue
            where = value if os.path.isabs(value) else os.path.join(base, value)
            if not exists(where):
                problems.append(f"{spec.path}: release {release.name}: values file {value} not found ({where})")
    return problems


# =========================================================================== call helpers


def run_sync(
    runner: Runner,
    file: Path | str,
    *,
    environment: str | None = None,
    selectors: Sequence[str] = (),
    skip_deps: bool = False,
    kube_context: str | None = None,
    kubeconfig: Path | str | None = None,
    timeout: float | None = 1800,
    env: dict[str, str] | None = None,
) -> SyncResult:
    argv = sync(
        file,
        environment=environment,
        selectors=selectors,
        skip_deps=skip_deps,
        kube_context=kube_context,
        kubeconfig=kubeconfig,
    )
    result = runner.run(argv, timeout=timeout, env=env)
    raise_for(result, file=file, what="helmfile sync")
    try:
        return parse_sync(result.stderr)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=None) from None


def run_template(
    runner: Runner,
    file: Path | str,
    *,
    environment: str | None = None,
    selectors: Sequence[str] = (),
    skip_deps: bool = False,
    include_crds: bool = False,
    kubeconfig: Path | str | None = None,
    timeout: float | None = 600,
    env: dict[str, str] | None = None,
) -> list[Manifest]:
    argv = template(
        file,
        environment=environment,
        selectors=selectors,
        skip_deps=skip_deps,
        include_crds=include_crds,
        kubeconfig=kubeconfig,
    )
    result = runner.run(argv, timeout=timeout, env=env)
    raise_for(result, file=file, what="helmfile template")
    try:
        return parse_template(result.stdout)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=None) from None


def run_list(
    runner: Runner,
    file: Path | str,
    *,
    environment: str | None = None,
    timeout: float | None = 120,
    env: dict[str, str] | None = None,
) -> list[ListedRelease]:
    result = runner.run(list_releases(file, environment=environment), timeout=timeout, env=env)
    raise_for(result, file=file, what="helmfile list")
    try:
        return parse_list(result.stdout)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=None) from None
