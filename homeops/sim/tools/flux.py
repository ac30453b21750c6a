"""Fake ``flux``: ``get``/``reconcile``/``suspend``/``resume`` ``kustomization|helmrelease``, ``reconcile source git``.

The CLI's version is ``state["flux"]["cli_version"]`` (default ``CLI_VERSION``, the sim's Flux 2.7);
it decides the exit codes that changed (fluxcd/flux2):

* ``suspend``/``resume`` (v2.6.4 ``cmd/flux/suspend.go:105-114``): an object that is not there, or a
  patch the API refuses (fault ``flux-patch-forbidden``), is a ``✗`` line and exit **0**.
* ``resume`` of one object waits for its reconciliation; when it is not Ready it prints
  ``✗ <Kind> <name> reconciliation failed: …`` and exits 0 before 2.9, 1 since (v2.9.4
  ``cmd/flux/resume.go:129-138``: ``reconciliation failed for 1 <Kind>(s)``).
* ``get`` of an empty list: ``✗ no <Kind> objects found in … namespace``, exit 0 before 2.6 and 1 since
  (v2.6.4 ``cmd/flux/get.go:185-197``).
* ``reconcile`` (v2.7.5 ``cmd/flux/reconcile.go:100-135``): a missing object is the API's NotFound
  (``kustomizations.kustomize.toolkit.fluxcd.io "x" not found``); a failed one
  ``<Kind> reconciliation failed: '<Ready message>'``.

Logs go to stderr with Flux's symbols (``►`` ``✔`` ``◎`` ``✗``); errors are ``✗ <message>``, exit 1.
Tables are olekukonko/tablewriter as flux configures it: cells padded and joined by a tab.
"""

from __future__ import annotations

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

State = dict[str, Any]
CLI_VERSION = "2.7.3"
GROUPS = {"Kustomization": "kustomize.toolkit.fluxcd.io", "HelmRelease": "helm.toolkit.fluxcd.io"}


def _cli_at_least(state: State, major: int, minor: int) -> bool:
    version = str((state.get("flux") or {}).get("cli_version") or CLI_VERSION)
    parts = [int(p) for p in version.lstrip("v").split(".")[:2] if p.isdigit()]
    return tuple(parts) >= (major, minor)


def _forbidden(state: State, name: str) -> bool:
    return any(
        f.get("name") == "flux-patch-forbidden" and f.get("target") in (None, name) for f in state.get("faults") or []
    )


GLOBAL = [
    Flag("kubeconfig"),
    Flag("context"),
    Flag("namespace", "n", "str", "flux-system"),
    Flag("timeout", None, "duration", 300.0),
    Flag("verbose", None, "bool", False),
    Flag("all-namespaces", "A", "bool", False),
    Flag("with-source", None, "bool", False),
    Flag("status-selector", None, "str", ""),
    Flag("watch", "w", "bool", False),
    Flag("force", None, "bool", False),
    Flag("reset", None, "bool", False),
]

KINDS = {
    "kustomizations": ("kustomizations", "Kustomization"),
    "kustomization": ("kustomizations", "Kustomization"),
    "ks": ("kustomizations", "Kustomization"),
    "helmreleases": ("helmreleases", "HelmRelease"),
    "helmrelease": ("helmreleases", "HelmRelease"),
    "hr": ("helmreleases", "HelmRelease"),
}


def _api(state: State) -> None:
    if not engine.api_up(state):
        vip = state["cluster"]["vip"]
        raise Fail(f'✗ Get "https://{vip}:6443/api?timeout=32s": dial tcp {vip}:6443: connect: no route to host')


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("\t".join(cell.ljust(widths[i]) for i, cell in enumerate(row)) + "\t\n" for row in rows)


def _short_revision(revision: str) -> str:
    return revision.replace("refs/heads/", "")


def cmd_get(inv: Invocation, opts: dict[str, Any], args: list[str]) -> None:
    if not args or args[0] not in KINDS:
        raise Fail(f'✗ unknown command "{args[0] if args else ""}" for "flux get"')
    key, kind = KINDS[args[0]]
    with inv.store.transaction() as state:
        engine.advance(state)
        _api(state)
        items = [i for i in state["flux"][key] if opts["all-namespaces"] or i["namespace"] == opts["namespace"]]
        if len(args) > 1:
            items = [i for i in items if i["name"] == args[1]]
            if not items:
                raise Fail(f"✗ {kind} object '{args[1]}' not found in \"{opts['namespace']}\" namespace")
        newer = _cli_at_least(state, 2, 6)
    if not items:
        where = "any namespace" if opts["all-namespaces"] else f"{opts['namespace']} namespace"
        if newer:
            raise Fail(f"✗ no {kind} objects found in {where}")
        inv.eprint(f"✗ no {kind} objects found in {where}")
        return
    header = (["NAMESPACE"] if opts["all-namespaces"] else []) + ["NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    rows = [header]
    for i in items:
        revision = _short_revision(i.get("revision") or i.get("version", ""))
        message = (
            (
                f"Applied revision: {revision}"
                if kind == "Kustomization"
                else f"Helm upgrade succeeded for release {i['namespace']}/{i['name']}.v3 with chart "
                f"{i.get('chart')}@{i.get('version')}"
            )
            if i["ready"]
            else f"{kind} reconciliation failed"
        )
        row = ([i["namespace"]] if opts["all-namespaces"] else []) + [
            i["name"],
            revision,
            str(bool(i["suspended"])),
            str(bool(i["ready"])),
            message,
        ]
        rows.append(row)
    inv.out.write(_table(rows))


def cmd_reconcile(inv: Invocation, opts: dict[str, Any], args: list[str]) -> None:
    if args[:2] == ["source", "git"] and opts["with-source"]:
        # flux2 v2.7.0: only kustomization, helmrelease and source chart register --with-source
        raise Fail("✗ unknown flag: --with-source")
    if args[:2] == ["source", "git"]:
        name = args[2] if len(args) > 2 else ""
        with inv.store.transaction() as state:
            engine.advance(state)
            _api(state)
            revision = (
                _short_revision(state["flux"]["kustomizations"][0]["revision"])
                if state["flux"]["kustomizations"]
                else "main@sha1:0"
            )
        inv.eprint(f"► annotating GitRepository {name} in {opts['namespace']} namespace")
        inv.eprint("✔ GitRepository annotated")
        inv.eprint("◎ waiting for GitRepository reconciliation")
        inv.eprint(f"✔ fetched revision {revision}")
        return
    if not args or args[0] not in KINDS or len(args) < 2:
        raise Fail(
            f'✗ unknown command "{args[0] if args else ""}" for "flux reconcile"'
            if args and args[0] not in KINDS
            else "✗ name is required"
        )
    key, kind = KINDS[args[0]]
    name = args[1]
    with inv.store.transaction() as state:
        engine.advance(state)
        _api(state)
        item = next((i for i in state["flux"][key] if i["name"] == name and i["namespace"] == opts["namespace"]), None)
        if item is None:  # the API's NotFound: resource plural and group
            raise Fail(f'✗ {key}.{GROUPS[kind]} "{name}" not found')
        if item["suspended"]:
            raise Fail("✗ resource is suspended")
        git = _short_revision(state["flux"]["kustomizations"][0]["revision"]) if state["flux"]["kustomizations"] else ""
    if opts["with-source"]:
        source = "GitRepository" if kind == "Kustomization" else "HelmChart"
        inv.eprint(f"► annotating {source} flux-system in flux-system namespace")
        inv.eprint(f"✔ {source} annotated")
        inv.eprint(f"◎ waiting for {source} reconciliation")
        inv.eprint(f"✔ fetched revision {git}")
    inv.eprint(f"► annotating {kind} {name} in {opts['namespace']} namespace")
    inv.eprint(f"✔ {kind} annotated")
    inv.eprint(f"◎ waiting for {kind} reconciliation")
    if not item["ready"]:
        raise Fail(
            f"✗ {kind} reconciliation failed: 'health check failed after 0s: timeout waiting for: [Deployment/"
            f"{opts['namespace']}/{name} status: 'InProgress']'"
        )
    revision = _short_revision(item.get("revision") or item.get("version", ""))
    inv.eprint(f"✔ applied revision {revision}")


def cmd_suspend(inv: Invocation, opts: dict[str, Any], args: list[str], *, suspend: bool) -> None:
    verb = "suspend" if suspend else "resume"
    if not args or args[0] not in KINDS:
        raise Fail(f'✗ unknown command "{args[0] if args else ""}" for "flux {verb}"')
    key, kind = KINDS[args[0]]
    human = kind.lower()
    if len(args) < 2:
        raise Fail(f"✗ {human} name is required")
    namespace = opts["namespace"]
    with inv.store.transaction() as state:
        engine.advance(state)
        _api(state)
        found = []
        for name in dict.fromkeys(args[1:]):
            item = next((i for i in state["flux"][key] if i["name"] == name and i["namespace"] == namespace), None)
            if item is None:
                if suspend:
                    inv.eprint(f"✗ {kind} {name} not found in {namespace} namespace")
                else:
                    inv.eprint(f"✗ {kind} object '{name}' not found in {namespace} namespace")
                continue
            inv.eprint(f"► {'suspending' if suspend else 'resuming'} {human} {name} in {namespace} namespace")
            if _forbidden(state, name):
                inv.eprint(
                    f"✗ failed {'suspending' if suspend else 'resuming'} {kind} {name} in {namespace} namespace: "
                    f'{key}.{GROUPS[kind]} "{name}" is forbidden: User "admin" cannot patch resource "{key}" '
                    f'in API group "{GROUPS[kind]}" in the namespace "{namespace}"'
                )
                continue
            item["suspended"] = suspend
            inv.eprint(f"✔ {human} {'suspended' if suspend else 'resumed'}")
            found.append(dict(item))
        fails_on_wait = _cli_at_least(state, 2, 9)
    if suspend or not found or len(args) != 2:
        return  # flux waits only for one named object (unless --wait)
    item = found[0]
    inv.eprint(f"◎ waiting for {kind} reconciliation")
    if not item["ready"]:
        inv.eprint(f"✗ {kind} {item['name']} reconciliation failed: {kind} reconciliation failed")
        if fails_on_wait:
            raise Fail(f"✗ reconciliation failed for 1 {kind}(s)")
        return
    inv.eprint(f"✔ {kind} {item['name']} reconciliation completed")
    inv.eprint(f"✔ applied revision {_short_revision(item.get('revision') or item.get('version', ''))}")


def _flux(inv: Invocation) -> None:
    args = list(inv.args)
    command, args = split_command(args, bool_names(GLOBAL))
    if command is None:
        inv.print("Command line utility for assembling Kubernetes CD pipelines the GitOps way.")
        return
    if command not in ("get", "reconcile", "suspend", "resume"):
        raise Fail(f'✗ unknown command "{command}" for "flux"')
    try:
        opts, positional = parse(args, flags(*GLOBAL))
    except UsageError as exc:
        raise Fail(f"✗ {exc}") from None
    if command in ("suspend", "resume"):
        cmd_suspend(inv, opts, positional, suspend=command == "suspend")
        return
    (cmd_get if command == "get" else cmd_reconcile)(inv, opts, positional)


def main(argv: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``flux ARGS…`` (``argv`` without the program name) → (exit code, stdout, stderr)."""
    return run_tool("flux", _flux, argv, stdin, env)
