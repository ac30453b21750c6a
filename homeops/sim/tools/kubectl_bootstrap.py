"""What the fake kubectl needs for a bootstrap: ``diff``, applied Namespaces, the Flux Operator's FluxInstance.

``kubectl diff`` (kubectl ``pkg/cmd/diff``): exit 0 when nothing would change, 1 when something would,
>1 on an error (an unreachable API is exit 2, checked against the real kubectl 1.32 binary). Secret
values are masked as ``***`` in its output, as kubectl's diff masker does. Hooked into
``homeops.sim.tools.kubectl`` by its command and type tables.
"""

from __future__ import annotations

import time
from typing import Any

from homeops.sim import bootstrap as bootstrap_sim
from homeops.sim import engine
from homeops.sim.tools._base import Fail, Invocation

State = dict[str, Any]
Obj = dict[str, Any]


def _key(doc: Obj) -> str:
    kind = str(doc.get("kind", ""))
    api = str(doc.get("apiVersion", ""))
    group = api.split("/")[0] if "/" in api else ""
    label = kind.lower() + (f".{group}" if group else "")
    meta = doc.get("metadata") or {}
    return f"{label}/{meta.get('namespace', '')}/{meta.get('name', '')}"


def _masked(doc: Obj) -> list[str]:
    import yaml

    shown = dict(doc)
    for field in ("data", "stringData"):
        if isinstance(shown.get(field), dict):
            shown[field] = {k: "***" for k in shown[field]}
    return yaml.safe_dump(shown, sort_keys=True).splitlines()


def cmd_diff(inv: Invocation, o: dict[str, Any], args: list[str], docs: list[Obj]) -> None:
    with inv.store.transaction() as state:
        engine.advance(state)
        if not engine.api_up(state):
            vip = state["cluster"]["vip"]
            raise Fail(
                f'error: unable to recognize "STDIN": Get "https://{vip}:6443/api?timeout=32s": dial tcp {vip}:6443: '
                "connect: no route to host",
                code=2,
            )
        applied = state["k8s"].get("applied", {})
        changed = []
        for doc in docs:
            live = applied.get(_key(doc))
            if live is None or live != bootstrap_sim.redact(doc):
                changed.append((doc, live))
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    for doc, live in changed:
        meta = doc.get("metadata") or {}
        api = str(doc.get("apiVersion", "v1")).replace("/", ".")
        name = f"{api}.{doc.get('kind')}.{meta.get('namespace', '')}.{meta.get('name')}"
        inv.print(f"diff -u -N /tmp/LIVE-1/{name} /tmp/MERGED-1/{name}")
        inv.print(f"--- /tmp/LIVE-1/{name}\t{stamp}")
        inv.print(f"+++ /tmp/MERGED-1/{name}\t{stamp}")
        old = _masked(live) if live else []
        new = _masked(doc)
        inv.print(f"@@ -{1 if old else 0},{len(old)} +1,{len(new)} @@")
        for line in old:
            inv.print(f"-{line}")
        for line in new:
            inv.print(f"+{line}")
    if changed:
        raise Fail("", code=1)


def applied_namespaces(state: State) -> set[str]:
    return {
        str((doc.get("metadata") or {}).get("name"))
        for key, doc in state["k8s"].get("applied", {}).items()
        if key.startswith("namespace/")
    }


def flux_instance_objects(state: State, meta: Any) -> list[Obj]:
    instance = state.get("flux", {}).get("instance")
    if not instance:
        return []
    ready = bool(instance.get("ready"))
    failing = any(f["name"] == "flux-not-ready" for f in state.get("faults", []))
    condition = {
        "lastTransitionTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(engine.now(state))),
        "message": "Reconciliation finished in 12s"
        if ready
        else (
            "reconciliation failed: timeout waiting for: [Kustomization/flux-system/flux-system status: 'InProgress']"
            if failing
            else "Reconciliation in progress"
        ),
        "observedGeneration": 1,
        "reason": "ReconciliationSucceeded" if ready else ("ReconciliationFailed" if failing else "Progressing"),
        "status": "True" if ready else ("False" if failing else "Unknown"),
        "type": "Ready",
    }
    status: Obj = {"conditions": [condition], "lastAttemptedRevision": "v2.7.3@sha256:1b9a"}
    if ready:
        status["lastAppliedRevision"] = status["lastAttemptedRevision"]
    return [
        {
            "apiVersion": "fluxcd.controlplane.io/v1",
            "kind": "FluxInstance",
            "metadata": meta(state, instance["name"], instance["namespace"]),
            "spec": {"distribution": {"version": "2.7.x", "registry": "ghcr.io/fluxcd"}, "wait": True},
            "status": status,
        }
    ]


def secret_objects(state: State, meta: Any) -> list[Obj]:
    """Helm's release records (``sh.helm.release.v1.<name>.v<revision>``, labels owner/name/status/version)
    and the Secrets applied with kubectl — metadata only: the sim never keeps Secret values."""
    out: list[Obj] = []
    for key, release in sorted(state["k8s"].get("helm_releases", {}).items()):
        namespace, name = key.split("/", 1)
        revision = int(release.get("revision", 1))
        labels = {"name": name, "owner": "helm", "status": "deployed", "version": str(revision)}
        out.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": meta(state, f"sh.helm.release.v1.{name}.v{revision}", namespace, labels=labels),
                "type": "helm.sh/release.v1",
            }
        )
    for key, doc in sorted(state["k8s"].get("applied", {}).items()):
        if key.startswith("secret/"):
            m = doc.get("metadata") or {}
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": meta(state, str(m.get("name")), str(m.get("namespace") or "default")),
                    "type": str(doc.get("type") or "Opaque"),
                }
            )
    return out
