"""Fake ``helmfile``: ``sync``, ``apply`` and ``template`` over the releases of a real helmfile.yaml.

Progress goes to stderr, the ``UPDATED RELEASES:`` summary to stdout; with the Kubernetes API
down every release fails the way helm reports it (``Kubernetes cluster unreachable``), exit 1.
Synced releases are recorded in ``state["k8s"]["helm_releases"]``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

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
    Flag("kube-context", None, "str", ""),
    Flag("quiet", "q", "bool", False),
    Flag("namespace", "n", "str", ""),
    Flag("debug", None, "bool", False),
    Flag("log-level", None, "str", "info"),
]
SUB = {
    "sync": [
        Flag("skip-deps", None, "bool", False),
        Flag("hide-notes", None, "bool", False),
        Flag("args", None, "str", ""),
        Flag("wait", None, "bool", False),
        Flag("concurrency", None, "int", 0),
    ],
    "apply": [
        Flag("skip-deps", None, "bool", False),
        Flag("suppress-diff", None, "bool", False),
        Flag("hide-notes", None, "bool", False),
        Flag("concurrency", None, "int", 0),
    ],
    "template": [
        Flag("skip-deps", None, "bool", False),
        Flag("include-crds", None, "bool", True),
        Flag("args", None, "str", ""),
        Flag("output-dir", None, "str", ""),
    ],
}
DEFAULT_FILES = ("helmfile.yaml", "helmfile.yaml.gotmpl", "helmfile.d")


def _releases(inv: Invocation, file: str) -> tuple[str, list[dict[str, Any]]]:
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
            return name, releases
    if file:
        raise Fail(f"err: no state file found. It must be named {file}")
    raise Fail(
        "err: no state file found. It must be named helmfile.d/*.{yaml,yml,yaml.gotmpl,yml.gotmpl}, "
        "helmfile.yaml, or helmfile.yaml.gotmpl, otherwise specified with --file flag"
    )


def _select(releases: list[dict[str, Any]], selectors: Sequence[str]) -> list[dict[str, Any]]:
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
    return out


def _sync(inv: Invocation, opts: dict[str, Any], verb: str) -> None:
    name, releases = _releases(inv, opts["file"])
    releases = _select(releases, opts["selector"])
    display = name if name.startswith(("./", "/")) else f"./{name}"
    with inv.store.transaction() as state:
        engine.advance(state)
        up = engine.api_up(state)
        vip = state["cluster"]["vip"]
        installed = state["k8s"].setdefault("helm_releases", {})
        rows: list[list[str]] = []
        for release in releases:
            chart = str(release.get("chart", ""))
            ns = str(release.get("namespace") or opts["namespace"] or "default")
            inv.eprint(f"Upgrading release={release['name']}, chart={chart}, namespace={ns}")
            if not up:
                inv.eprint(
                    f'in {display}: failed processing release {release["name"]}: command "/usr/local/bin/helm" '
                    "exited with non-zero status:\n\nPATH:\n  /usr/local/bin/helm\n\nERROR:\n  exit status 1\n\n"
                    f"EXIT STATUS\n  1\n\nSTDERR:\n  Error: Kubernetes cluster unreachable: Get "
                    f'"https://{vip}:6443/version": dial tcp {vip}:6443: connect: no route to host'
                )
                inv.print(
                    "\nFAILED RELEASES:\nNAME"
                    + " " * 6
                    + "NAMESPACE"
                    + " " * 3
                    + "CHART"
                    + " " * 3
                    + "VERSION"
                    + " " * 3
                    + "DURATION"
                )
                inv.print(f"{release['name']}   {ns}   {chart}   {release.get('version', '')}   0s")
                raise Fail("")
            revision = int(installed.get(f"{ns}/{release['name']}", {}).get("revision", 0)) + 1
            installed[f"{ns}/{release['name']}"] = {
                "chart": chart,
                "version": str(release.get("version", "")),
                "revision": revision,
            }
            inv.print(
                f'Release "{release["name"]}" has been upgraded. Happy Helming!'
                if revision > 1
                else f'Release "{release["name"]}" does not exist. Installing it now.'
            )
            rows.append([str(release["name"]), ns, chart, str(release.get("version", "")), "2s"])
    if not rows:
        return
    header = ["NAME", "NAMESPACE", "CHART", "VERSION", "DURATION"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def fmt(row: list[str]) -> str:
        cells = [row[i].ljust(widths[i]) for i in range(len(row) - 1)] + [row[-1].rjust(widths[-1])]
        return "   ".join(cells)

    inv.print("\nUPDATED RELEASES:")
    inv.print(fmt(header))
    for row in rows:
        inv.print(fmt(row))


def _template(inv: Invocation, opts: dict[str, Any]) -> None:
    _, releases = _releases(inv, opts["file"])
    for release in _select(releases, opts["selector"]):
        chart = str(release.get("chart", "")).split("/")[-1]
        name = str(release["name"])
        ns = str(release.get("namespace") or "default")
        inv.eprint(f"Templating release={name}, chart={release.get('chart', '')}")
        if "crd" in name.lower() or "crd" in chart.lower():
            plural = f"{re.sub(r'[^a-z0-9]', '', name.lower())}s"
            inv.out.write(
                f"---\n# Source: {chart}/templates/crds.yaml\napiVersion: apiextensions.k8s.io/v1\n"
                f"kind: CustomResourceDefinition\nmetadata:\n  name: {plural}.{name}.homeops.sim\n"
                f"spec:\n  group: {name}.homeops.sim\n  names:\n    kind: {name.title().replace('-', '')}\n"
                f"    plural: {plural}\n  scope: Namespaced\n"
            )
        inv.out.write(
            f"---\n# Source: {chart}/templates/serviceaccount.yaml\napiVersion: v1\nkind: ServiceAccount\n"
            f"metadata:\n  name: {name}\n  namespace: {ns}\n"
        )


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
    else:
        _sync(inv, opts, command)


def main(argv: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``helmfile ARGS…`` (``argv`` without the program name) → (exit code, stdout, stderr)."""
    return run_tool("helmfile", _helmfile, argv, stdin, env)
