"""flux: argv builders and parsers for ``flux reconcile`` and ``flux get`` (Flux v2 CLI).

Not in cli-interfaces.md; relied on from fluxcd/flux2 ``cmd/flux/{get,get_kustomization,
get_helmrelease,reconcile,reconcile_with_source}.go`` and ``pkg/printers/table_printer.go``:

* ``flux get kustomizations -A`` prints a tablewriter table with a *tab* after every padded cell;
  headers ``NAMESPACE NAME REVISION SUSPENDED READY MESSAGE`` (``NAMESPACE`` only with ``-A``).
  ``SUSPENDED`` is ``True``/``False``; ``READY`` is the Ready condition (``True``/``False``/
  ``Unknown``), or ``False`` with message ``waiting to be reconciled`` when there is none.
  ``get helmreleases`` uses the same columns in Flux ≥ 2.0 and ``NAME READY MESSAGE REVISION
  SUSPENDED`` before: rows are read by header name. With nothing found it prints
  ``✗ no Kustomization objects found in …`` on stderr and exits 0.
* ``flux reconcile kustomization NAME [--with-source] -n NS`` logs to stderr with symbols
  ``►`` (action), ``✔`` (success), ``◎`` (waiting), ``✗`` (failure), ``⚠️`` (warning): e.g.
  ``► annotating Kustomization flux-system in flux-system namespace`` … ``✔ applied revision …``.
  Errors are ``✗ <message>`` and exit 1: ``resource is suspended``, ``… reconciliation failed``,
  ``… not found``, ``timed out waiting for the condition`` / ``context deadline exceeded``.
* Kinds: ``kustomization``, ``helmrelease``, ``source git|oci|helm|bucket|chart``. ``--with-source``
  exists for kustomization, helmrelease and ``source chart`` (flux2 v2.7.0
  ``cmd/flux/reconcile_source_chart.go``: "reconcile HelmChart source"). ``--timeout`` is a global
  flag (default 5m).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from homeops.adapters._parse import UnexpectedOutput, excerpt, go_duration, parse_table, strip_ansi
from homeops.adapters.kubectl import FluxObject
from homeops.errors import CommandError, PlanError
from homeops.runners import Result, Runner

TOOL = "flux"

_KINDS: dict[str, tuple[str, ...]] = {
    "kustomization": ("kustomization",),
    "helmrelease": ("helmrelease",),
    "source git": ("source", "git"),
    "source oci": ("source", "oci"),
    "source helm": ("source", "helm"),
    "source bucket": ("source", "bucket"),
    "source chart": ("source", "chart"),
}
_WITH_SOURCE = ("kustomization", "helmrelease", "source chart")


def _globals(kubeconfig: Path | str | None, context: str | None) -> list[str]:
    argv = []
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    if context:
        argv += ["--context", context]
    return argv


def reconcile(
    kind: str,
    name: str,
    *,
    namespace: str = "flux-system",
    with_source: bool = False,
    timeout: float | str | None = None,
    kubeconfig: Path | str | None = None,
    context: str | None = None,
    binary: str = TOOL,
) -> list[str]:
    words = _KINDS.get(kind)
    if words is None:
        raise PlanError(f"flux reconcile: kind {kind!r} is not one of {', '.join(_KINDS)}")
    if with_source and kind not in _WITH_SOURCE:
        raise PlanError(f"flux reconcile {kind} has no --with-source (only {', '.join(_WITH_SOURCE)})")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
        raise PlanError(f"flux reconcile: {name!r} is not a Kubernetes object name")
    argv = [binary, "reconcile", *words, name, "--namespace", namespace, *_globals(kubeconfig, context)]
    if with_source:
        argv.append("--with-source")
    if timeout is not None:
        argv += ["--timeout", go_duration(timeout)]
    return argv


def suspend(
    kind: str,
    name: str,
    *,
    namespace: str,
    resume: bool = False,
    timeout: float | str | None = None,
    kubeconfig: Path | str | None = None,
    context: str | None = None,
    binary: str = TOOL,
) -> list[str]:
    """``flux suspend|resume kustomization|helmrelease NAME -n NS``.

    flux2 ``cmd/flux/{suspend,resume}.go``: an object that is not there, or a patch the API refused,
    is a ``✗`` line with exit **0** (v2.6.4 ``suspend.go:105-114``): read ``.spec.suspend`` back.
    ``resume`` of one object waits for its reconciliation; a failed wait is exit 0 before 2.9 and
    exit 1 since (v2.9.4 ``resume.go:129-138``), the object resumed either way.
    """
    if kind not in ("kustomization", "helmrelease"):
        raise PlanError(f"flux suspend/resume: kind {kind!r} is not kustomization or helmrelease")
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name):
        raise PlanError(f"flux suspend/resume: {name!r} is not a Kubernetes object name")
    argv = [binary, "resume" if resume else "suspend", kind, name, "--namespace", namespace]
    argv += _globals(kubeconfig, context)
    if timeout is not None:
        argv += ["--timeout", go_duration(timeout)]
    return argv


def get_kustomizations(
    *,
    namespace: str | None = None,
    kubeconfig: Path | str | None = None,
    context: str | None = None,
    binary: str = TOOL,
) -> list[str]:
    """``flux get kustomizations -A`` (or ``--namespace NS``)."""
    return _get_argv("kustomizations", namespace, kubeconfig, context, binary)


def get_helmreleases(
    *,
    namespace: str | None = None,
    kubeconfig: Path | str | None = None,
    context: str | None = None,
    binary: str = TOOL,
) -> list[str]:
    return _get_argv("helmreleases", namespace, kubeconfig, context, binary)


def _get_argv(
    what: str, namespace: str | None, kubeconfig: Path | str | None, context: str | None, binary: str
) -> list[str]:
    scope = ["--namespace", namespace] if namespace else ["--all-namespaces"]
    return [binary, "get", what, *scope, *_globals(kubeconfig, context)]


# =========================================================================== facts


@dataclass(frozen=True)
class ReconcileResult:
    kind: str
    name: str
    revision: str | None  # from "✔ applied revision <rev>" / "fetched revision <rev>"
    steps: tuple[str, ...]
    failed: bool = False
    error: str = ""


# =========================================================================== parsers


def _tri(value: str) -> Literal["True", "False", "Unknown"]:
    return value if value in ("True", "False") else "Unknown"  # type: ignore[return-value]


def _parse_get(text: str, kind: str) -> list[FluxObject]:
    what = f"flux get {kind.lower()}s"
    table = parse_table(text, what=what, gap=2)
    if not table.headers:
        return []
    missing = [h for h in ("NAME", "READY") if h not in table.headers]
    if missing:
        raise UnexpectedOutput(what, f"header lacks {', '.join(missing)}: {excerpt(' '.join(table.headers))}")
    out = []
    for row in table.rows:
        suspended = row.get("SUSPENDED", "False")
        if suspended not in ("True", "False"):
            raise UnexpectedOutput(what, f"SUSPENDED is {suspended!r} for {row['NAME']}")
        out.append(
            FluxObject(
                namespace=row.get("NAMESPACE", ""),
                name=row["NAME"],
                ready=_tri(row["READY"]),
                suspended=suspended == "True",
                revision=row.get("REVISION", ""),
                message=row.get("MESSAGE", ""),
                kind=kind,
            )
        )
    return out


def parse_kustomizations(text: str) -> list[FluxObject]:
    """``flux get kustomizations [-A]`` table → objects (empty output means none found)."""
    return _parse_get(text, "Kustomization")


def parse_helmreleases(text: str) -> list[FluxObject]:
    return _parse_get(text, "HelmRelease")


_SYMBOLS = ("►", "✔", "◎", "✗", "⚠️", "⚠")


def parse_reconcile(stderr: str, *, kind: str = "", name: str = "") -> ReconcileResult:
    steps: list[str] = []
    revision = None
    error = ""
    for raw in strip_ansi(stderr).splitlines():
        line = raw.strip()
        if not line:
            continue
        steps.append(line)
        body = line
        for symbol in _SYMBOLS:
            if line.startswith(symbol):
                body = line[len(symbol) :].strip()
                break
        if line.startswith("✗"):
            error = body
        elif m := re.match(r"^(?:applied|fetched) revision (\S+)", body):
            revision = m.group(1)
    if not steps:
        raise UnexpectedOutput("flux reconcile", "no output")
    return ReconcileResult(kind, name, revision, tuple(steps), bool(error), error)


# =========================================================================== call helpers


def failures(stderr: str) -> list[str]:
    """The ``✗`` lines flux logged, without the symbol (flux prints some with exit 0)."""
    return [ln.strip()[1:].strip() for ln in strip_ansi(stderr).splitlines() if ln.strip().startswith("✗")]


#: ``flux get`` of an empty list: exit 0 with this ``✗`` line before flux 2.6, an error (exit 1) since
#: (fluxcd/flux2 v2.6.4 ``cmd/flux/get.go:185-197``)
_NONE_FOUND = re.compile(r"^no \w+ objects found in (?:any|\S+) namespace$")


def raise_for(result: Result, *, what: str, target: str | None) -> None:
    if result.ok:
        return
    failures = [ln.strip()[1:].strip() for ln in strip_ansi(result.stderr).splitlines() if ln.strip().startswith("✗")]
    message = failures[-1] if failures else result.last_error_line()
    hint = None
    if "suspended" in message:
        hint = "resume it first: flux resume <kind> <name>"
    elif "timed out" in message or "deadline exceeded" in message:
        hint = "the controller did not finish in time; check `flux get all -A` and the controller logs"
    raise CommandError(
        f"{what} {target or ''} failed (exit {result.exit_code}): {message}".replace("  ", " "),
        command=result.command,
        exit_code=result.exit_code,
        stderr=result.stderr,
        target=target,
        hint=hint,
    )


def run_reconcile(
    runner: Runner,
    kind: str,
    name: str,
    *,
    namespace: str = "flux-system",
    with_source: bool = False,
    timeout: float = 300,
    kubeconfig: Path | str | None = None,
    context: str | None = None,
) -> ReconcileResult:
    """Reconcile and wait; a failed or suspended object raises ``CommandError`` naming it."""
    argv = reconcile(
        kind,
        name,
        namespace=namespace,
        with_source=with_source,
        timeout=timeout,
        kubeconfig=kubeconfig,
        context=context,
    )
    result = runner.run(argv, timeout=timeout + 30)
    raise_for(result, what=f"flux reconcile {kind}", target=f"{namespace}/{name}")
    try:
        return parse_reconcile(result.stderr, kind=kind, name=name)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=f"{namespace}/{name}") from None


def _run_get(runner: Runner, argv: Sequence[str], parser_kind: str, timeout: float | None) -> list[FluxObject]:
    result = runner.run(list(argv), timeout=timeout)
    said = failures(result.stderr)
    if not result.ok and said and _NONE_FOUND.match(said[-1]) and not result.stdout.strip():
        return []
    raise_for(result, what=f"flux get {parser_kind.lower()}s", target=None)
    try:
        return _parse_get(result.stdout, parser_kind)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=None) from None


def kustomizations(
    runner: Runner, *, kubeconfig: Path | str | None = None, context: str | None = None, timeout: float | None = 60
) -> list[FluxObject]:
    return _run_get(runner, get_kustomizations(kubeconfig=kubeconfig, context=context), "Kustomization", timeout)


def helmreleases(
    runner: Runner, *, kubeconfig: Path | str | None = None, context: str | None = None, timeout: float | None = 60
) -> list[FluxObject]:
    return _run_get(runner, get_helmreleases(kubeconfig=kubeconfig, context=context), "HelmRelease", timeout)
