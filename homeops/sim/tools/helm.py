"""Fake ``helm``: ``status``, ``rollback`` and ``uninstall`` of the releases the fake helmfile installed.

What a bootstrap needs to recover a release left ``pending-install``/``pending-upgrade`` by a killed
``helm upgrade --install`` (helm v3 ``pkg/action``): the next upgrade refuses with "another operation
(install/upgrade/rollback) is in progress" (``upgrade.go`` ``errPending``); ``helm rollback`` returns a
pending upgrade to its last deployed revision (a new revision, "Rollback was a success! Happy Helming!");
``helm uninstall`` removes a pending install ("release "x" uninstalled"). Records live in
``state["k8s"]["helm_releases"]`` (``<namespace>/<name>``: revision, status, deployed revision).
"""

from __future__ import annotations

import json
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
    Flag("namespace", "n", "str", "default"),
    Flag("kubeconfig", None, "str", ""),
    Flag("kube-context", None, "str", ""),
    Flag("output", "o", "str", "table"),
    Flag("wait", None, "bool", False),
    Flag("timeout", None, "duration", 300.0),
    Flag("debug", None, "bool", False),
]


def _record(state: Any, namespace: str, name: str) -> dict[str, Any]:
    record = state["k8s"].get("helm_releases", {}).get(f"{namespace}/{name}")
    if record is None:
        raise Fail("Error: release: not found")
    return dict(record)


def _helm(inv: Invocation) -> None:
    word, rest = split_command(list(inv.args), bool_names(GLOBAL))
    if word not in ("status", "rollback", "uninstall"):
        raise Fail(f'Error: unknown command "{word}" for "helm"' if word else "The Kubernetes package manager")
    try:
        opts, positional = parse(rest, flags(*GLOBAL))
    except UsageError as exc:
        raise Fail(f"Error: {exc}") from None
    if not positional:
        raise Fail(f'Error: "helm {word}" requires at least 1 argument')
    name, ns = positional[0], str(opts["namespace"])
    with inv.store.transaction() as state:
        engine.advance(state)
        if not engine.api_up(state):
            raise Fail("Error: Kubernetes cluster unreachable")
        record = _record(state, ns, name)
        releases = state["k8s"]["helm_releases"]
        if word == "status":
            if opts["output"] == "json":
                inv.print(json.dumps({"name": name, "namespace": ns, "version": record["revision"],
                                      "info": {"status": record.get("status", "deployed")}}))  # fmt: skip
            else:
                inv.print(f"NAME: {name}\nNAMESPACE: {ns}\nSTATUS: {record.get('status', 'deployed')}\n"
                          f"REVISION: {record['revision']}")  # fmt: skip
            return
        if word == "uninstall":
            releases.pop(f"{ns}/{name}")
            inv.print(f'release "{name}" uninstalled')
            return
        deployed = int(record.get("deployed", 0))
        if not deployed:
            raise Fail(f"Error: release has no {max(0, int(record['revision']) - 1)} version")
        releases[f"{ns}/{name}"] = {**record, "revision": int(record["revision"]) + 1, "status": "deployed",
                                    "deployed": int(record["revision"]) + 1}  # fmt: skip
        inv.print("Rollback was a success! Happy Helming!")


def main(argv: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``helm ARGS…`` (``argv`` without the program name) → (exit code, stdout, stderr)."""
    return run_tool("helm", _helm, argv, stdin, env)
