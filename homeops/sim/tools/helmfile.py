"""Fake ``helmfile``: ``sync``, ``apply``, ``template`` and ``list`` over the releases of a real helmfile.yaml.

As the real one (helmfile/helmfile ``cmd/root.go``, ``pkg/state/state.go``, ``pkg/helmexec/exec.go``):
every log line goes to **stderr** through the logger — ``Upgrading release=…``, helm's captured
output, and the affected-releases summary — and only ``template``/``list`` write stdout. ``--quiet``
(log level warn) hides the info lines, summary included. The summary header follows the simulated
helmfile version (``state["config"]["helmfile_version"]``, default v1.1.7 as cluster-template pins):
``UPDATED RELEASES:`` before v1.6, ``========== Updated Releases ==========`` in v1.6.0–v1.7.0, the
title centered over the table's width from v1.7.1, ANSI bold-blue from v1.6 unless ``--no-color``.

Releases sync in ``needs:`` order and stop at the first failure. With the Kubernetes API down every
release fails the way helm reports it (``Kubernetes cluster unreachable``). On a blank cluster
(``homeops.sim.bootstrap``) a release other than the CNI waits for pods that cannot start until the
CNI is installed, and fault ``helm-hook-hangs`` makes a release's hooks run into its timeout; both
end as helm's ``timed out waiting for the condition``. A selector matching nothing exits 3.
Synced releases are recorded in ``state["k8s"]["helm_releases"]``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from homeops.sim import bootstrap as bootstrap_sim
from homeops.sim import engine
from homeops.sim.tools import gotemplate
from homeops.sim.tools._base import (
    Fail,
    Flag,
    Invocation,
    UsageError,
    bool_names,
    flags,
    parse,
    run_tool,
    split_command,
)

GLOBAL = [
    Flag("file", "f", "str", ""),
    Flag("environment", "e", "str", "default"),
    Flag("selector", "l", "array", []),
    Flag("kubeconfig", None, "str", ""),
    Flag("kube-context", None, "str", ""),
    Flag("quiet", "q", "bool", False),
    Flag("namespace", "n", "str", ""),
    Flag("debug", None, "bool", False),
    Flag("log-level", None, "str", "info"),
    Flag("color", None, "bool", False),
    Flag("no-color", None, "bool", False),
    Flag("skip-deps", None, "bool", False),
    Flag("skip-refresh", None, "bool", False),
    Flag("allow-no-matching-release", None, "bool", False),
    Flag("helm-binary", "b", "str", ""),
]
SUB = {
    "sync": [
        Flag("skip-deps", None, "bool", False),
        Flag("hide-notes", None, "bool", False),
        Flag("args", None, "str", ""),
        Flag("wait", None, "bool", False),
        Flag("wait-for-jobs", None, "bool", False),
        Flag("timeout", None, "int", 0),
        Flag("concurrency", None, "int", 0),
        Flag("include-needs", None, "bool", False),
        Flag("skip-needs", None, "bool", True),
    ],
    "apply": [
        Flag("skip-deps", None, "bool", False),
        Flag("suppress-diff", None, "bool", False),
        Flag("hide-notes", None, "bool", False),
        Flag("concurrency", None, "int", 0),
    ],
    "template": [
        Flag("skip-deps", None, "bool", False),
        Flag("include-crds", None, "bool", False),
        Flag("skip-tests", None, "bool", False),
        Flag("no-hooks", None, "bool", False),
        Flag("args", None, "str", ""),
        Flag("output-dir", None, "str", ""),
    ],
    "build": [Flag("embed-values", None, "bool", False)],
    "list": [
        Flag("skip-charts", None, "bool", False),
        Flag("keep-temp-dir", None, "bool", False),
        Flag("output", None, "str", ""),
    ],
}
DEFAULT_FILES = ("helmfile.yaml", "helmfile.yaml.gotmpl", "helmfile.d")
DEFAULT_VERSION = "v1.1.7"

# CRDs a chart ships, by chart basename: (plural, group, kind, where). "templates": rendered by every
# `helm template` and owned by the release (helm refuses to adopt a copy kubectl applied first:
# helm pkg/action/validate.go existingResourceConflict); "crds": the chart's crds/ folder, printed only
# with --include-crds, created by helm when missing and otherwise left alone (helm never owns them).
CHART_CRDS: dict[str, tuple[tuple[str, str, str, str], ...]] = {
    "cert-manager": (
        ("certificates", "cert-manager.io", "Certificate", "templates"),
        ("issuers", "cert-manager.io", "Issuer", "templates"),
        ("clusterissuers", "cert-manager.io", "ClusterIssuer", "templates"),
    ),
    "flux-operator": (
        ("fluxinstances", "fluxcd.controlplane.io", "FluxInstance", "templates"),
        ("fluxreports", "fluxcd.controlplane.io", "FluxReport", "templates"),
    ),
    "external-secrets": (
        ("externalsecrets", "external-secrets.io", "ExternalSecret", "templates"),
        ("clustersecretstores", "external-secrets.io", "ClusterSecretStore", "templates"),
    ),
    "kube-prometheus-stack": (
        ("servicemonitors", "monitoring.coreos.com", "ServiceMonitor", "crds"),
        ("podmonitors", "monitoring.coreos.com", "PodMonitor", "crds"),
        ("prometheusrules", "monitoring.coreos.com", "PrometheusRule", "crds"),
    ),
    "envoy-gateway": (
        ("gateways", "gateway.networking.k8s.io", "Gateway", "crds"),
        ("httproutes", "gateway.networking.k8s.io", "HTTPRoute", "crds"),
        ("envoyproxies", "gateway.envoyproxy.io", "EnvoyProxy", "crds"),
    ),
    "gateway-helm": (("gateways", "gateway.networking.k8s.io", "Gateway", "crds"),),
    "grafana-operator": (("grafanadashboards", "grafana.integreatly.org", "GrafanaDashboard", "crds"),),
    "snapshot-controller": (("volumesnapshots", "snapshot.storage.k8s.io", "VolumeSnapshot", "crds"),),
    "kopiur": (("snapshotschedules", "kopiur.home-operations.com", "SnapshotSchedule", "crds"),),
}
CRD_KEY = "customresourcedefinition.apiextensions.k8s.io//{}"


def chart_crds(chart: str) -> tuple[tuple[str, str, str, str], ...]:
    return CHART_CRDS.get(bootstrap_sim.chart_base(chart), ())


def _adoption_refused(state: Any, chart: str, release: str, namespace: str) -> str | None:
    """helm's refusal to install over a templates/ CRD it does not own (one kubectl applied before it)."""
    owned = state["k8s"].get("helm_crds", {})
    applied = state["k8s"].get("applied", {})
    for plural, group, _kind, where in chart_crds(chart):
        crd = f"{plural}.{group}"
        if where == "templates" and CRD_KEY.format(crd) in applied and owned.get(crd) != f"{namespace}/{release}":
            return (
                f'Error: INSTALLATION FAILED: Unable to continue with install: CustomResourceDefinition "{crd}" in '
                'namespace "" exists and cannot be imported into the current release: invalid ownership metadata; '
                'label validation error: missing key "app.kubernetes.io/managed-by": must be set to "Helm"; '
                f'annotation validation error: missing key "meta.helm.sh/release-name": must be set to "{release}"; '
                'annotation validation error: missing key "meta.helm.sh/release-namespace": must be set to '
                f'"{namespace}"'
            )
    return None


def _version(state: Mapping[str, Any]) -> tuple[int, int, int]:
    text = str(state.get("config", {}).get("helmfile_version") or DEFAULT_VERSION)
    m = re.match(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else (1, 1, 7)


class Log:
    """helmfile's zap logger: message only, to stderr, filtered by level."""

    def __init__(self, inv: Invocation, opts: Mapping[str, Any]) -> None:
        self.inv = inv
        level = "debug" if opts["debug"] else ("warn" if opts["quiet"] else str(opts["log-level"] or "info"))
        self.info_on = level in ("debug", "info")
        # pkg/config/global.go NoColor(): --no-color; else --color beats HELMFILE_NO_COLOR=true and NO_COLOR (non-empty)
        env_off = inv.env.get("HELMFILE_NO_COLOR") == "true" or bool(inv.env.get("NO_COLOR"))
        self.color = not (opts["no-color"] or (not opts["color"] and env_off))

    def info(self, text: str) -> None:
        if self.info_on:
            self.inv.eprint(text)


def _state_files(inv: Invocation, file: str) -> list[str]:
    """The state files a ``--file`` names (a folder: its ``*.yaml``/``*.yml``/``*.gotmpl``, sorted), or the defaults."""
    if file:
        path = inv.path(file)
        if os.path.isdir(path):
            parts = sorted(n for n in os.listdir(path) if n.endswith((".yaml", ".yml", ".gotmpl")))
            return [os.path.join(file, n) for n in parts]
        if os.path.isfile(path):
            return [file]
        raise Fail(f"err: no state file found. It must be named {file}")
    for name in DEFAULT_FILES:
        path = inv.path(name)
        if os.path.isfile(path):
            return [name]
        if os.path.isdir(path):
            return _state_files(inv, name)
    raise Fail(
        "err: no state file found. It must be named helmfile.d/*.{yaml,yml,yaml.gotmpl,yml.gotmpl}, "
        "helmfile.yaml, or helmfile.yaml.gotmpl, otherwise specified with --file flag"
    )


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """mergo with override: maps merge key by key, anything else is replaced; ``releases`` append."""
    out = dict(base)
    for key, value in over.items():
        if key == "releases":
            out[key] = [*(out.get(key) or []), *(value or [])]
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_state(inv: Invocation, name: str, env: Mapping[str, str], depth: int = 0) -> dict[str, Any]:
    """One state file with its ``bases:`` merged underneath (v1: only ``*.gotmpl`` is rendered as a whole)."""
    import yaml

    path = inv.path(name)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        raise Fail(f"err: no state file found. It must be named {name}") from None
    base_dir = os.path.dirname(os.path.abspath(path))
    if name.endswith(".gotmpl"):
        data = {"Values": {}, "StateValues": {}, "Environment": {"Name": "default", "KubeContext": ""}}
        try:
            text = gotemplate.render(text, data, gotemplate.Context(base_dir, env, os.path.basename(name)))
        except gotemplate.TemplateError as exc:
            raise Fail(f"err: failed to render {name}: {exc}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise Fail(f"in {name}: failed to read {os.path.basename(name)}: {str(exc).splitlines()[0]}") from None
    state: dict[str, Any] = {}
    for doc in docs:
        if not isinstance(doc, dict):
            raise Fail(f"in {name}: failed to read {os.path.basename(name)}: a document is not a mapping")
        bases = doc.pop("bases", None) or []
        for base in bases:
            if depth > 8:
                raise Fail(f"in {name}: bases nested too deeply")
            rel = os.path.relpath(os.path.join(base_dir, str(base)), os.path.abspath(inv.path(".")))
            state = _merge(state, _read_state(inv, rel, env, depth + 1))
        state = _merge(state, doc)
    return state


def _inherit(release: dict[str, Any], state: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``defaultInherit`` (helmfile ≥ 1.5.2) then the release's own ``inherit:``; the release's fields win whole."""
    default = state.get("defaultInherit") or []
    names = [default] if isinstance(default, str) else list(default)
    explicit = [i for i in release.get("inherit") or [] if isinstance(i, dict) and i.get("template")]
    wanted: list[tuple[str, list[str]]] = [
        (str(n).strip(), [])
        for n in names
        if str(n).strip() and str(n).strip() not in {i["template"] for i in explicit}
    ]
    wanted += [(str(i["template"]), list(i.get("except") or [])) for i in explicit]
    templates = state.get("templates") or {}
    merged: dict[str, Any] = {}
    for name, excepted in wanted:
        if name not in templates:
            raise Fail(f'in {where}: release "{release.get("name")}" inherits from an undefined template "{name}"')
        merged.update({k: v for k, v in dict(templates[name]).items() if k not in excepted})
    merged.update({k: v for k, v in release.items() if k != "inherit"})
    return merged


_TEMPLATED = ("name", "namespace", "chart", "version", "kubeContext")


def _render_release(inv: Invocation, release: dict[str, Any], name: str, env: Mapping[str, str]) -> dict[str, Any]:
    """helmfile ``ExecuteTemplates``: the release's string fields rendered with ``.Release`` until they settle."""
    base_dir = os.path.dirname(os.path.abspath(inv.path(name)))
    current = dict(release)
    for _ in range(6):
        data = _template_data(current)
        ctx = gotemplate.Context(base_dir, env)
        out = dict(current)
        try:
            for key in _TEMPLATED:
                if isinstance(current.get(key), str) and "{{" in current[key]:
                    out[key] = gotemplate.render(current[key], data, ctx)
            for key in ("needs",):
                out[key] = [gotemplate.render(str(v), data, ctx) for v in current.get(key) or []]
            out["values"] = [
                gotemplate.render(v, data, ctx) if isinstance(v, str) else v for v in current.get("values") or []
            ]
            out["labels"] = {
                str(k): gotemplate.render(str(v), data, ctx) for k, v in (current.get("labels") or {}).items()
            }
        except gotemplate.TemplateError as exc:
            raise Fail(f'err: failed executing templates in release "{name}"."{release.get("name")}": {exc}') from None
        if out == current:
            break
        current = out
    # pkg/state/state.go reformat: a bare needs entry names a release in this release's own namespace
    ns = str(current.get("namespace") or "")
    current["needs"] = [n if "/" in n else (f"{ns}/{n}" if ns else n) for n in current.get("needs") or []]
    if not current.get("values"):
        current.pop("values", None)
    if not current.get("labels"):
        current.pop("labels", None)
    if not current.get("needs"):
        current.pop("needs", None)
    return current


def _template_data(release: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "Release": {
            "Name": str(release.get("name") or ""),
            "Namespace": str(release.get("namespace") or ""),
            "Labels": dict(release.get("labels") or {}),
            "Chart": str(release.get("chart") or ""),
            "KubeContext": str(release.get("kubeContext") or ""),
        },
        "Values": {},
        "StateValues": {},
        "Environment": {"Name": "default", "KubeContext": ""},
        "Namespace": "",
    }


def render_values(inv: Invocation, release: Mapping[str, Any], env: Mapping[str, str]) -> list[Any]:
    """Each values entry of a release: a file read (``*.gotmpl`` rendered with its own folder as base), or inline."""
    import yaml

    out: list[Any] = []
    state_dir = os.path.dirname(os.path.abspath(inv.path(str(release["_file"]))))
    for value in release.get("values") or []:
        if not isinstance(value, str):
            out.append(value)
            continue
        path = value if os.path.isabs(value) else os.path.join(state_dir, value)
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except OSError:
            raise Fail(
                f"in {release['_file']}: failed processing release {release['name']}: failed to load [{value}]: "
                f"open {path}: no such file or directory"
            ) from None
        if path.endswith(".gotmpl"):
            ctx = gotemplate.Context(os.path.dirname(path), env, os.path.basename(path))
            try:
                text = gotemplate.render(text, _template_data(release), ctx)
            except gotemplate.TemplateError as exc:
                raise Fail(
                    f"in {release['_file']}: failed processing release {release['name']}: failed to render [{value}], "
                    f"because of {exc}"
                ) from None
        try:
            out.append(yaml.safe_load(text) or {})
        except yaml.YAMLError as exc:
            raise Fail(
                f"in {release['_file']}: values {value} of {release['name']}: {str(exc).splitlines()[0]}"
            ) from None
    return out


def _load(inv: Invocation, file: str) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    """Every release of the state file(s), rendered as helmfile renders them, each tagged with its ``_file``."""
    env = inv.env
    files = _state_files(inv, file)
    releases: list[dict[str, Any]] = []
    defaults: dict[str, Any] = {}
    for name in files:
        state = _read_state(inv, name, env)
        file_defaults = dict(state.get("helmDefaults") or {})
        defaults.update(file_defaults)
        for raw in state.get("releases") or []:
            if not isinstance(raw, dict) or not raw.get("name"):
                continue
            release = _render_release(inv, _inherit(raw, state, name), name, env)
            release["_file"] = name
            release["_defaults"] = file_defaults
            release["_repositories"] = state.get("repositories")  # for `build`, which prints them per file
            releases.append(release)
    return files[0] if len(files) == 1 else file, releases, defaults


def _releases(inv: Invocation, file: str) -> tuple[str, list[dict[str, Any]]]:
    name, releases, _ = _load(inv, file)
    return name, releases


def _select(
    releases: list[dict[str, Any]], selectors: Sequence[str], opts: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    if not selectors:
        return releases
    out = []
    for release in releases:
        labels = {
            "name": str(release.get("name")),
            "namespace": str(release.get("namespace", "")),
            **{str(k): str(v) for k, v in (release.get("labels") or {}).items()},
        }
        for selector in selectors:
            wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
            if all(labels.get(k) == v for k, v in wanted.items()):
                out.append(release)
                break
    if not out and opts is not None and not opts["allow-no-matching-release"]:
        raise Fail(
            f"err: no releases found that matches specified selector({', '.join(selectors)}) and "
            f"environment({opts['environment']}), in any helmfile",
            code=3,
        )
    return out


def _ordered(releases: list[dict[str, Any]], everything: list[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """``needs:`` order, file order among equals — helmfile's DAG, run one by one.

    Needs are ``[kubecontext/]namespace/name`` after helmfile's reformat (a bare name was given the
    release's own namespace when the state loaded); one naming no defined release is helmfile's error.
    """
    every = everything if everything is not None else releases
    defined = {f"{r.get('namespace', '')}/{r['name']}" for r in every}
    by_key = {f"{r.get('namespace', '')}/{r['name']}": r for r in releases}
    for release in every:
        for need in release.get("needs") or []:
            key = "/".join(str(need).split("/")[-2:]) if "/" in str(need) else f"/{need}"
            if key not in defined:
                raise Fail(
                    f'err: release(s) "{release.get("namespace", "")}/{release["name"]}" depend(s) on an undefined '
                    f'release "{need}". Perhaps you made a typo in "needs" or forgot defining a release named '
                    f'"{str(need).split("/")[-1]}" with appropriate "namespace" and "kubeContext"?'
                )
    done: list[dict[str, Any]] = []

    def visit(release: dict[str, Any], path: list[str]) -> None:
        if release in done:
            return
        me = f"{release.get('namespace', '')}/{release['name']}"
        if me in path:
            raise Fail(f"err: found cycle in needs: {' -> '.join([*path, me])}")
        for need in release.get("needs") or []:
            target = by_key.get("/".join(str(need).split("/")[-2:]))
            if target is not None:
                visit(target, [*path, me])
        if release not in done:
            done.append(release)

    for release in releases:
        visit(release, [])
    return done


def _summary(log: Log, version: tuple[int, int, int], title: str, rows: list[list[str]], deleted: bool = False) -> None:
    """``DisplayAffectedReleases``: prettytable, 3-space separator, DURATION right-aligned."""
    header = ["NAME", "NAMESPACE", "DURATION"] if deleted else ["NAME", "NAMESPACE", "CHART", "VERSION", "DURATION"]
    minimum = [0, 6, 0] if deleted else [0, 6, 6, 6, 0]
    widths = [max([minimum[i], *(len(r[i]) for r in [header, *rows])]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        cells = [row[i].ljust(widths[i]) for i in range(len(row) - 1)] + [row[-1].rjust(widths[-1])]
        return "   ".join(cells).rstrip()

    table = "\n".join(fmt(r) for r in [header, *rows]) + "\n"
    if version < (1, 6, 0):
        head = f"{title.upper()}:"
    else:
        plain = f"========== {title} =========="
        if version >= (1, 7, 1):
            width = max(len(line.rstrip()) for line in table.splitlines())
            content = f" {title} "
            if width > len(content):
                left = (width - len(content)) // 2
                plain = "=" * left + content + "=" * (width - len(content) - left)
        head = f"\x1b[1m\x1b[34m{plain}\x1b[0m" if log.color else plain
    log.info(f"\n{head}")
    log.info(table)


def _helm_failure(display: str, name: str, message: str) -> str:
    return (
        f'in {display}: failed processing release {name}: command "/usr/local/bin/helm" exited with non-zero '
        f"status:\n\nPATH:\n  /usr/local/bin/helm\n\nERROR:\n  exit status 1\n\nEXIT STATUS\n  1\n\nSTDERR:\n"
        f"  {message}\n\nCOMBINED OUTPUT:\n  {message}"
    )


def _timeout(release: Mapping[str, Any], defaults: Mapping[str, Any], opts: Mapping[str, Any], state: Any) -> float:
    for value in (opts.get("timeout"), release.get("timeout"), defaults.get("timeout")):
        if value:
            return float(value)
    return float(state.get("config", {}).get("helm_timeout_seconds", bootstrap_sim.DEFAULTS["helm_timeout_seconds"]))


def _pause(inv: Invocation, seconds: float, until: Any = None) -> Any:
    """Let simulated time pass (a helm --wait); ``until(state)`` ends it early when it returns a value."""

    def check(state: Any) -> Any:
        if until is not None:
            value = until(state)
            if value is not None:
                return value
        return None

    return inv.wait_until(check, seconds)


def _sync(inv: Invocation, opts: dict[str, Any], verb: str) -> None:
    log = Log(inv, opts)
    _, everything, defaults = _load(inv, opts["file"])
    releases = _ordered(_select(everything, opts["selector"], opts), everything)
    state0 = inv.read()
    version = _version(state0)
    helm_seconds = float(state0.get("config", {}).get("helm_seconds", bootstrap_sim.DEFAULTS["helm_seconds"]))
    kubeconfig = str(opts["kubeconfig"] or inv.env.get("KUBECONFIG") or "")
    updated: list[list[str]] = []
    failed: list[list[str]] = []
    error: str | None = None
    for release in releases:
        rname = str(release["name"])
        chart = str(release.get("chart", ""))
        ns = str(release.get("namespace") or opts["namespace"] or "default")
        chart_version = str(release.get("version", ""))
        name = str(release["_file"])
        display = name if name.startswith(("./", "/")) else f"./{name}"
        render_values(inv, release, inv.env)
        log.info(f"Upgrading release={rname}, chart={chart}, namespace={ns}")
        state = inv.read()
        started = engine.now(state)
        if not engine.api_up(state) or bootstrap_sim.vip_unserved(state, kubeconfig=kubeconfig):
            vip = state["cluster"]["vip"]
            error = _helm_failure(
                display,
                rname,
                f'Error: Kubernetes cluster unreachable: Get "https://{vip}:6443/version": dial tcp {vip}:6443: '
                "connect: no route to host",
            )
            failed.append([rname, ns, chart, chart_version, "0s"])
            break
        key = f"{ns}/{rname}"
        previous = state["k8s"].get("helm_releases", {}).get(key)
        first = previous is None
        refused = _adoption_refused(state, chart, rname, ns) if first else None
        if previous is not None and str(previous.get("status", "deployed")).startswith("pending-"):
            # helm pkg/action/upgrade.go errPending: a killed install/upgrade left the release locked
            refused = "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"
        if refused:
            error = _helm_failure(display, rname, refused)
            failed.append([rname, ns, chart, chart_version, "0s"])
            break
        limit = _timeout(release, release.get("_defaults") or defaults, opts, state)
        # helm writes the new revision as pending-install/pending-upgrade before it waits: a SIGKILL from
        # here until it is marked deployed leaves the release locked (recovery.md §3).
        with inv.store.transaction() as state:
            engine.advance(state)
            records = state["k8s"].setdefault("helm_releases", {})
            deployed = int((previous or {}).get("deployed", (previous or {}).get("revision", 0)))
            records[key] = {
                **(previous or {"chart": chart, "version": chart_version}),
                "revision": int((previous or {}).get("revision", 0)) + 1,
                "status": "pending-install" if first else "pending-upgrade",
                "deployed": deployed,
                "at": engine.now(state),
            }
        hangs = any(f["name"] == "helm-hook-hangs" and f.get("target") in (None, rname) for f in state["faults"])
        stuck = bootstrap_sim.needs_cni(state, chart, rname)
        if hangs or stuck:
            # Hooks that never finish, or pods that cannot start before the CNI: helm waits out its timeout,
            # ending early only if the cause goes away (the fault cleared, the CNI installed meanwhile).
            def cleared(s: Any, rname: str = rname, chart: str = chart) -> bool | None:
                gone = not any(f["name"] == "helm-hook-hangs" and f.get("target") in (None, rname) for f in s["faults"])
                return True if gone and not bootstrap_sim.needs_cni(s, chart, rname) else None

            if _pause(inv, limit, cleared) is None:
                phase = "post-install" if first else "post-upgrade"
                what = "INSTALLATION FAILED" if first else "UPGRADE FAILED"
                reason = (
                    f"{phase} hooks failed: 1 error occurred:\n\t* timed out waiting for the condition"
                    if hangs
                    else "context deadline exceeded"
                )
                error = _helm_failure(display, rname, f"Error: {what}: {reason}")
                failed.append([rname, ns, chart, chart_version, f"{int(limit)}s"])
                with inv.store.transaction() as state:
                    # cleanupOnFail: a failed first install is gone, a failed upgrade keeps its last revision
                    records = state["k8s"].setdefault("helm_releases", {})
                    if previous is None:
                        records.pop(key, None)
                    else:
                        records[key] = previous
                break
        _pause(inv, helm_seconds)
        with inv.store.transaction() as state:
            engine.advance(state)
            installed = state["k8s"].setdefault("helm_releases", {})
            revision = int(installed.get(key, {}).get("revision", 1))
            now = engine.now(state)
            installed[key] = {"chart": chart, "version": chart_version, "revision": revision, "at": now,
                              "status": "deployed", "deployed": revision}  # fmt: skip
            owned = state["k8s"].setdefault("helm_crds", {})
            for plural, group, _kind, where in chart_crds(chart):
                if where == "templates":
                    owned[f"{plural}.{group}"] = key
            bootstrap_sim.installed(state, rname, chart, ns, now)
            engine.advance(state)
        if revision == 1:
            log.info(f'Release "{rname}" does not exist. Installing it now.')
        else:
            log.info(f'Release "{rname}" has been upgraded. Happy Helming!')
        log.info(f"NAME: {rname}\nNAMESPACE: {ns}\nSTATUS: deployed\nREVISION: {revision}\nTEST SUITE: None")
        for hook in release.get("hooks") or []:
            if isinstance(hook, dict) and "postsync" in (hook.get("events") or []):
                ctx = gotemplate.Context(os.path.dirname(os.path.abspath(inv.path(name))), inv.env)
                try:
                    args = [gotemplate.render(str(a), _template_data(release), ctx) for a in hook.get("args") or []]
                except gotemplate.TemplateError as exc:
                    raise Fail(f"in {display}: failed processing release {rname}: hook args: {exc}") from None
                log.info(f"hook[postsync] logs | {' '.join(args)}".rstrip())
        updated.append([rname, ns, chart, chart_version, f"{max(0, round(now - started))}s"])
    if updated:
        _summary(log, version, "Updated Releases", updated)
    if failed:
        _summary(log, version, "Failed Releases", failed)
    if error is not None:
        raise Fail(error)


def _template(inv: Invocation, opts: dict[str, Any]) -> None:
    log = Log(inv, opts)
    _, everything, defaults = _load(inv, opts["file"])
    for release in _ordered(_select(everything, opts["selector"], opts), everything):
        render_values(inv, release, inv.env)
        chart = bootstrap_sim.chart_base(str(release.get("chart", "")))
        name = str(release["name"])
        ns = str(release.get("namespace") or "default")
        args = " ".join([opts["args"], *(str(a) for a in (release.get("_defaults") or defaults).get("args") or [])])
        include_crds = opts["include-crds"] or "--include-crds" in args.split()
        log.info(f"Templating release={name}, chart={release.get('chart', '')}")
        crds = [c for c in chart_crds(chart) if c[3] == "templates" or include_crds]
        if "crd" in name.lower() or "crd" in chart.lower():
            # a *-crds chart renders its CRDs from templates/, with or without --include-crds
            plural = f"{re.sub(r'[^a-z0-9]', '', name.lower())}s"
            crds.append((plural, f"{name}.homeops.sim", name.title().replace("-", ""), "templates"))
        for plural, group, kind, where in crds:
            inv.out.write(
                f"---\n# Source: {chart}/{where}/{plural}.yaml\napiVersion: apiextensions.k8s.io/v1\n"
                f"kind: CustomResourceDefinition\nmetadata:\n  name: {plural}.{group}\n"
                f"spec:\n  group: {group}\n  names:\n    kind: {kind}\n"
                f"    plural: {plural}\n  scope: Namespaced\n"
            )
        inv.out.write(
            f"---\n# Source: {chart}/templates/serviceaccount.yaml\napiVersion: v1\nkind: ServiceAccount\n"
            f"metadata:\n  name: {name}\n  namespace: {ns}\n"
        )
        inv.out.write("\n")


def _build(inv: Invocation, opts: dict[str, Any]) -> None:
    """``helmfile build``: each state file, loaded and rendered, as YAML (``app.go PrintState``)."""
    import yaml

    _, everything, _ = _load(inv, opts["file"])
    by_file: dict[str, list[dict[str, Any]]] = {}
    defaults: dict[str, dict[str, Any]] = {}
    repositories: dict[str, Any] = {}
    for release in everything:
        by_file.setdefault(str(release["_file"]), []).append(
            {k: v for k, v in release.items() if not k.startswith("_")}
        )
        defaults[str(release["_file"])] = dict(release.get("_defaults") or {})
        repositories[str(release["_file"])] = release.get("_repositories")
    for name, releases in by_file.items():
        state: dict[str, Any] = {"filepath": name}
        if repositories[name]:
            state["repositories"] = repositories[name]
        if defaults[name]:
            state["helmDefaults"] = defaults[name]
        state["releases"] = releases
        text = yaml.safe_dump(state, sort_keys=False, default_flow_style=False)
        inv.out.write(f"---\n#  Source: {os.path.abspath(inv.path(name))}\n\n{text}")


def _list(inv: Invocation, opts: dict[str, Any]) -> None:
    import json

    _, releases = _releases(inv, opts["file"])
    rows: list[dict[str, Any]] = []
    for release in _select(releases, opts["selector"], opts):
        labels = ",".join(f"{k}:{v}" for k, v in sorted((release.get("labels") or {}).items()))
        rows.append(
            {
                "name": str(release["name"]),
                "namespace": str(release.get("namespace") or ""),
                "enabled": True,
                "installed": release.get("installed", True) is not False,
                "labels": labels,
                "chart": str(release.get("chart", "")),
                "version": str(release.get("version", "")),
            }
        )
    if opts["output"] == "json":
        inv.print(json.dumps(rows, separators=(",", ":")))
        return
    header = ["NAME", "NAMESPACE", "ENABLED", "INSTALLED", "LABELS", "CHART", "VERSION"]
    table = [header] + [
        [r["name"], r["namespace"], str(r["enabled"]).lower(), str(r["installed"]).lower(), r["labels"], r["chart"],
         r["version"]]
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    inv.print("\n".join("\t".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in table))


def _helmfile(inv: Invocation) -> None:
    args = list(inv.args)
    word, args = split_command(args, bool_names(GLOBAL, *SUB.values()))
    command = word if word in SUB else None
    if command is None:
        unknown = word or ""
        if unknown:
            raise Fail(f'Error: unknown command "{unknown}" for "helmfile"\nRun \'helmfile --help\' for usage.')
        inv.print("Declaratively deploy your Kubernetes manifests, Kustomize configs, and Charts as Helm releases.")
        return
    try:
        opts, _ = parse(args, flags(*GLOBAL, *SUB[command]))
    except UsageError as exc:
        raise Fail(f"Error: {exc}") from None
    if command == "template":
        _template(inv, opts)
    elif command == "build":
        _build(inv, opts)
    elif command == "list":
        _list(inv, opts)
    else:
        _sync(inv, opts, command)


def main(argv: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``helmfile ARGS…`` (``argv`` without the program name) → (exit code, stdout, stderr)."""
    return run_tool("helmfile", _helmfile, argv, stdin, env)
