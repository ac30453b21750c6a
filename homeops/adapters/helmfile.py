"""helmfile: argv builders and parsers for ``sync``, ``apply`` and ``template`` (bootstrap:apps).

Not in cli-interfaces.md; relied on from helmfile/helmfile (v0.16x and v1.x docs and test
expectations, read through the search corpus):

* Global flags go *before* the subcommand: ``--file``, ``--environment``, ``--selector`` (repeatable;
  ``name=cilium``), ``--kube-context``. ``--skip-deps`` and ``--hide-notes`` are subcommand flags.
* ``sync``/``apply`` end with a summary on stdout, a table under ``UPDATED RELEASES:`` (and
  ``DELETED RELEASES:`` / ``FAILED RELEASES:``). Older releases print ``NAME CHART VERSION``;
  newer ones ``NAME NAMESPACE CHART VERSION DURATION`` with ``DURATION`` right-aligned and
  ``VERSION`` possibly empty — so rows are parsed by header name, tolerating the empty VERSION cell.
* Progress (``Upgrading release=cilium, chart=cilium/cilium``, ``Building dependency …``,
  ``Templating release=…``) goes to stderr; failures end with ``in <file>: …`` naming the
  helmfile and release, exit code non-zero (1, or helm's own code passed through).
* ``template`` prints the rendered manifests to stdout as YAML documents, each preceded by a
  ``# Source: <chart>/templates/<file>`` comment from helm.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from homeops.adapters._parse import UnexpectedOutput, excerpt, strip_ansi
from homeops.errors import CommandError, PlanError
from homeops.runners import Result, Runner

TOOL = "helmfile"


def _globals(
    file: Path | str,
    environment: str | None,
    selectors: Sequence[str],
    kube_context: str | None,
    binary: str,
) -> list[str]:
    argv = [binary, "--file", str(file)]
    if environment:
        argv += ["--environment", environment]
    for selector in selectors:
        if not re.fullmatch(
            r"[A-Za-z0-9_.\-/]+!?=[A-Za-z0-9_.\-/]*(,[A-Za-z0-9_.\-/]+!?=[A-Za-z0-9_.\-/]*)*", selector
        ):
            raise PlanError(f"helmfile selector {selector!r} is not key=value[,key=value] (e.g. name=cilium)")
        argv += ["--selector", selector]
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
    binary: str = TOOL,
) -> list[str]:
    argv = [*_globals(file, environment, selectors, kube_context, binary), "sync"]
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
    binary: str = TOOL,
) -> list[str]:
    argv = [*_globals(file, environment, selectors, kube_context, binary), "apply", "--suppress-diff"]
    if skip_deps:
        argv.append("--skip-deps")
    return argv


def template(
    file: Path | str,
    *,
    environment: str | None = None,
    selectors: Sequence[str] = (),
    skip_deps: bool = False,
    kube_context: str | None = None,
    binary: str = TOOL,
) -> list[str]:
    argv = [*_globals(file, environment, selectors, kube_context, binary), "template"]
    if skip_deps:
        argv.append("--skip-deps")
    return argv


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

    @property
    def ok(self) -> bool:
        return not self.failed


@dataclass(frozen=True)
class Manifest:
    kind: str
    name: str
    namespace: str | None
    source: str | None  # the chart template it came from (helm's "# Source:" comment)


# =========================================================================== parsers

_SECTION = re.compile(r"^(UPDATED|DELETED|FAILED) RELEASES:\s*$")


def _release_rows(header: str, rows: list[str]) -> list[Release]:
    names = re.findall(r"\S+", header)
    releases = []
    for row in rows:
        cells = re.split(r"\s{2,}|\t", row.strip())
        if len(cells) == len(names) - 1 and "VERSION" in names:
            # VERSION is the one column helmfile leaves empty (local charts).
            cells.insert(names.index("VERSION"), "")
        if len(cells) != len(names):
            raise UnexpectedOutput("helmfile", f"release row {excerpt(row)} does not match header {excerpt(header)}")
        cell = dict(zip(names, cells, strict=True))
        releases.append(
            Release(
                name=cell.get("NAME", ""),
                namespace=cell.get("NAMESPACE", ""),
                chart=cell.get("CHART", ""),
                version=cell.get("VERSION", ""),
                duration=cell.get("DURATION", ""),
            )
        )
    return releases


def parse_sync(stdout: str) -> SyncResult:
    """The release summary tables at the end of ``helmfile sync|apply``."""
    sections: dict[str, list[Release]] = {"UPDATED": [], "DELETED": [], "FAILED": []}
    lines = strip_ansi(stdout).splitlines()
    i = 0
    while i < len(lines):
        m = _SECTION.match(lines[i].strip())
        if not m or i + 1 >= len(lines):
            i += 1
            continue
        header = lines[i + 1]
        if not header.strip().startswith("NAME"):
            raise UnexpectedOutput("helmfile", f"{m.group(1)} RELEASES without a NAME header: {excerpt(header)}")
        j = i + 2
        rows = []
        while j < len(lines) and lines[j].strip() and not _SECTION.match(lines[j].strip()):
            rows.append(lines[j])
            j += 1
        sections[m.group(1)].extend(_release_rows(header, rows))
        i = j
    return SyncResult(tuple(sections["UPDATED"]), tuple(sections["DELETED"]), tuple(sections["FAILED"]))


def parse_template(stdout: str) -> list[Manifest]:
    """Kinds and names of the rendered manifests (``yaml`` is imported here only)."""
    import yaml

    manifests: list[Manifest] = []
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
        manifests.append(
            Manifest(
                kind=str(doc["kind"]),
                name=str(meta.get("name", "")),
                namespace=meta.get("namespace"),
                source=source_match.group(1) if source_match else None,
            )
        )
    return manifests


_IN_FILE = re.compile(r"in (?P<file>\S+?): (?P<msg>.+)$")
_FAILED_RELEASE = re.compile(r'failed processing release (?P<release>[^:\s]+)|release "(?P<quoted>[^"]+)"')


def error_summary(stderr: str) -> str:
    """The most useful line of a helmfile failure: the last ``in <file>: …`` or ``Error:`` line."""
    lines = [ln.strip() for ln in strip_ansi(stderr).splitlines() if ln.strip()]
    for line in reversed(lines):
        if _IN_FILE.search(line) or line.lower().startswith(("error", "err:")):
            return line
    return lines[-1] if lines else "(no output)"


def raise_for(result: Result, *, file: Path | str, what: str = "helmfile") -> None:
    if result.ok:
        return
    line = error_summary(result.stderr or result.stdout)
    release = None
    if m := _FAILED_RELEASE.search(line):
        release = m.group("release") or m.group("quoted")
    on = f" (release {release})" if release else ""
    raise CommandError(
        f"{what} {file}{on} failed (exit {result.exit_code}): {line}",
        command=result.command,
        exit_code=result.exit_code,
        stderr=result.stderr,
        target=release,
        hint="re-run with the same selector once fixed: helmfile sync is idempotent",
    )


# =========================================================================== call helpers


def run_sync(
    runner: Runner,
    file: Path | str,
    *,
    environment: str | None = None,
    selectors: Sequence[str] = (),
    skip_deps: bool = False,
    kube_context: str | None = None,
    timeout: float | None = 1800,
    env: dict[str, str] | None = None,
) -> SyncResult:
    argv = sync(file, environment=environment, selectors=selectors, skip_deps=skip_deps, kube_context=kube_context)
    result = runner.run(argv, timeout=timeout, env=env)
    raise_for(result, file=file, what="helmfile sync")
    try:
        return parse_sync(result.stdout)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=None) from None


def run_template(
    runner: Runner,
    file: Path | str,
    *,
    environment: str | None = None,
    selectors: Sequence[str] = (),
    skip_deps: bool = False,
    timeout: float | None = 600,
    env: dict[str, str] | None = None,
) -> list[Manifest]:
    argv = template(file, environment=environment, selectors=selectors, skip_deps=skip_deps)
    result = runner.run(argv, timeout=timeout, env=env)
    raise_for(result, file=file, what="helmfile template")
    try:
        return parse_template(result.stdout)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=None) from None
