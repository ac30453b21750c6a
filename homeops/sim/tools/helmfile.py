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
    "list": [
        Flag("skip-charts", None, "bool", False),
        Flag("keep-temp-dir", None, "bool", False),
        Flag("output", None, "str", ""),
    ],
}
DEFAULT_FILES = ("helmfile.yaml", "helmfile.yaml.gotmpl", "helmfile.d")
DEFAULT_VERSION = "v1.1.7"

# CRDs a chart ships, by chart basename (what `--include-crds` adds from the chart's crds/ directory).
CHART_CRDS: dict[str, tuple[tuple[str, str, str], ...]] = {
    "cert-manager": (
        ("certificates", "cert-manager.io", "Certificate"),
        ("issuers", "cert-manager.io", "Issuer"),
        ("clusterissuers", "cert-manager.io", "ClusterIssuer"),
    ),
    "flux-operator": (
        ("fluxinstances", "fluxcd.controlplane.io", "FluxInstance"),
        ("fluxreports", "fluxcd.controlplane.io", "FluxReport"),
    ),
}


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


def _load(inv: Invocation, file: str) -> tuple[str, list[dict[str, Any]], dict[str, Any]]:
    import yaml

    candidates = [file] if file else list(DEFAULT_FILES)
    for name in candidates:
        path = inv.path(name)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            # Go templates cannot be rendered here: drop template-only lines, keep the release list.
            text = "\n".join(ln for ln in text.splitlines() if not re.match(r"^\s*\{\{.*\}\}\s*$", ln))
            text = re.sub(r"\{\{[^}]*\}\}", "templated", text)
            try:
                docs = [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
            except yaml.YAMLError as exc:
                raise Fail(f"in {name}: failed to read {os.path.basename(name)}: {str(exc).splitlines()[0]}") from None
            releases = [r for d in docs for r in d.get("releases") or [] if isinstance(r, dict) and r.get("name")]
            defaults: dict[str, Any] = {}
            for d in docs:
                defaults.update(d.get("helmDefaults") or {})
            return name, releases, defaults
    if file:
        raise Fail(f"err: no state file found. It must be named {file}")
    raise Fail(
        "err: no state file found. It must be named helmfile.d/*.{yaml,yml,yaml.gotmpl,yml.gotmpl}, "
        "helmfile.yaml, or helmfile.yaml.gotmpl, otherwise specified with --file flag"
    )


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


def _ordered(releases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``needs:`` order (namespace/name or name), file order among equals — helmfile's DAG, run one by one."""
    by_key = {f"{r.get('namespace', '')}/{r['name']}": r for r in releases}
    done: list[dict[str, Any]] = []

    def visit(release: dict[str, Any], depth: int) -> None:
        if release in done or depth > len(releases):
            return
        for need in release.get("needs") or []:
            need = str(need)
            target = by_key.get("/".join(need.split("/")[-2:])) if "/" in need else None
            target = target or next((r for r in releases if r["name"] == need), None)
            if target is not None:
                visit(target, depth + 1)
        if release not in done:
            done.append(release)

    for release in releases:
        visit(release, 0)
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
    name, releases, defaults = _load(inv, opts["file"])
    releases = _ordered(_select(releases, opts["selector"], opts))
    display = name if name.startswith(("./", "/")) else f"./{name}"
    state0 = inv.read()
    version = _version(state0)
    helm_seconds = float(state0.get("config", {}).get("helm_seconds", bootstrap_sim.DEFAULTS["helm_seconds"]))
    updated: list[list[str]] = []
    failed: list[list[str]] = []
    error: str | None = None
    for release in releases:
        rname = str(release["name"])
        chart = str(release.get("chart", ""))
        ns = str(release.get("namespace") or opts["namespace"] or "default")
        chart_version = str(release.get("version", ""))
        log.info(f"Upgrading release={rname}, chart={chart}, namespace={ns}")
        started = engine.now(inv.read())
        state = inv.read()
        if not engine.api_up(state):
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
        first = key not in state["k8s"].get("helm_releases", {})
        limit = _timeout(release, defaults, opts, state)
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
                break
        _pause(inv, helm_seconds)
        with inv.store.transaction() as state:
            engine.advance(state)
            installed = state["k8s"].setdefault("helm_releases", {})
            revision = int(installed.get(key, {}).get("revision", 0)) + 1
            now = engine.now(state)
            installed[key] = {"chart": chart, "version": chart_version, "revision": revision, "at": now}
            bootstrap_sim.installed(state, rname, chart, ns, now)
            engine.advance(state)
        if revision == 1:
            log.info(f'Release "{rname}" does not exist. Installing it now.')
        else:
            log.info(f'Release "{rname}" has been upgraded. Happy Helming!')
        log.info(f"NAME: {rname}\nNAMESPACE: {ns}\nSTATUS: deployed\nREVISION: {revision}\nTEST SUITE: None")
        for hook in release.get("hooks") or []:
            if isinstance(hook, dict) and "postsync" in (hook.get("events") or []):
                log.info(f"hook[postsync] logs | {' '.join(str(a) for a in hook.get('args') or [])}".rstrip())
        updated.append([rname, ns, chart, chart_version, f"{max(0, round(now - started))}s"])
    if updated:
        _summary(log, version, "Updated Releases", updated)
    if failed:
        _summary(log, version, "Failed Releases", failed)
    if error is not None:
        raise Fail(error)


def _template(inv: Invocation, opts: dict[str, Any]) -> None:
    log = Log(inv, opts)
    _, releases = _releases(inv, opts["file"])
    for release in _ordered(_select(releases, opts["selector"], opts)):
        chart = str(release.get("chart", "")).split("/")[-1]
        name = str(release["name"])
        ns = str(release.get("namespace") or "default")
        log.info(f"Templating release={name}, chart={release.get('chart', '')}")
        crds = list(CHART_CRDS.get(chart, ())) if opts["include-crds"] else []
        if "crd" in name.lower() or "crd" in chart.lower():
            # a *-crds chart renders its CRDs from templates/, with or without --include-crds
            plural = f"{re.sub(r'[^a-z0-9]', '', name.lower())}s"
            crds.append((plural, f"{name}.homeops.sim", name.title().replace("-", "")))
        for plural, group, kind in crds:
            where = "crds" if chart in CHART_CRDS else "templates"
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
    elif command == "list":
        _list(inv, opts)
    else:
        _sync(inv, opts, command)


def main(argv: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``helmfile ARGS…`` (``argv`` without the program name) → (exit code, stdout, stderr)."""
    return run_tool("helmfile", _helmfile, argv, stdin, env)
