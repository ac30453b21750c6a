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


# Namespaces a fresh cluster has before anything is applied.
BUILTIN_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})
CLUSTER_SCOPED = frozenset(
    {"Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "StorageClass", "PriorityClass",
     "ClusterSecretStore", "ClusterIssuer", "IngressClass", "PersistentVolume", "Node"}
)  # fmt: skip


def missing_namespace(state: State, docs: list[Obj]) -> str | None:
    """The first namespace an object lands in that does not exist yet (only modelled on a blank cluster)."""
    if "bootstrap" not in state:
        return None
    have = set(BUILTIN_NAMESPACES) | applied_namespaces(state)
    have |= {key.split("/", 1)[0] for key in state["k8s"].get("helm_releases", {})}  # helm --create-namespace
    have |= {str((d.get("metadata") or {}).get("name")) for d in docs if d.get("kind") == "Namespace"}
    for doc in docs:
        ns = (doc.get("metadata") or {}).get("namespace")
        if ns and str(doc.get("kind")) not in CLUSTER_SCOPED and str(ns) not in have:
            return str(ns)
    return None


def refuse_missing_namespace(state: State, docs: list[Obj], *, diff: bool) -> None:
    """kubectl against an object whose namespace does not exist: the apiserver's NotFound. ``diff`` exits 2
    (kubectl pkg/cmd/util/helpers.go CheckDiffErr: code+1), ``apply`` 1 (CheckErr)."""
    ns = missing_namespace(state, docs)
    if ns is not None:
        raise Fail(f'Error from server (NotFound): namespaces "{ns}" not found', code=2 if diff else 1)


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
        refuse_missing_namespace(state, docs, diff=True)
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
        status = str(release.get("status", "deployed"))
        deployed = int(release.get("deployed", revision if status == "deployed" else 0))
        # a pending upgrade keeps the last deployed revision's record beside the pending one
        shown = [(deployed, "deployed")] if deployed and deployed != revision else []
        for number, label in [*shown, (revision, status)]:
            labels = {"name": name, "owner": "helm", "status": label, "version": str(number)}
            extra: dict[str, Any] = {"labels": labels}
            if release.get("at") is not None:  # when helm wrote this revision
                extra["creationTimestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(release["at"])))
            out.append(
                {
                    "apiVersion": "v1",
                    "kind": "Secret",
                    "metadata": meta(state, f"sh.helm.release.v1.{name}.v{number}", namespace, **extra),
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


def kustomize_build(path: str) -> list[Obj]:
    """``kubectl kustomize DIR`` for what bootstrap trees use: ``resources`` (files and folders),
    ``components``, and the ``namespace`` transformer (which also renames Namespace objects)."""
    import os

    import yaml

    def build(folder: str, seen: frozenset[str]) -> list[Obj]:
        real = os.path.realpath(folder)
        if real in seen:
            raise Fail(f"error: cycle detected in kustomization at {folder}")
        name = next(
            (
                n
                for n in ("kustomization.yaml", "kustomization.yml", "Kustomization")
                if os.path.isfile(os.path.join(folder, n))
            ),
            None,
        )
        if name is None:
            raise Fail(
                f"error: unable to find one of 'kustomization.yaml', 'kustomization.yml' or 'Kustomization' in "
                f"directory '{os.path.abspath(folder)}'"
            )
        with open(os.path.join(folder, name), encoding="utf-8") as fh:
            kustomization = yaml.safe_load(fh) or {}
        docs: list[Obj] = []
        for entry in [*(kustomization.get("resources") or []), *(kustomization.get("components") or [])]:
            target = os.path.join(folder, str(entry))
            if os.path.isdir(target):
                docs += build(target, seen | {real})
            elif os.path.isfile(target):
                with open(target, encoding="utf-8") as fh:
                    docs += [d for d in yaml.safe_load_all(fh) if isinstance(d, dict)]
            else:
                raise Fail(f"error: accumulating resources: accumulation err='accumulating resources from '{entry}'")
        ns = kustomization.get("namespace")
        if ns:
            for doc in docs:
                meta = doc.setdefault("metadata", {})
                if doc.get("kind") == "Namespace":
                    meta["name"] = ns
                elif str(doc.get("kind")) not in CLUSTER_SCOPED:
                    meta["namespace"] = ns
        return docs

    # kustomize's legacy output order puts Namespaces first (api/resource ordering)
    docs = sorted(build(path, frozenset()), key=lambda d: 0 if d.get("kind") == "Namespace" else 1)
    out: list[Obj] = []
    for doc in docs:  # kustomize merges an object that appears twice (the namespace component, here)
        if doc not in out:
            out.append(doc)
    return out


def cmd_kustomize(inv: Invocation, o: dict[str, Any], args: list[str]) -> None:
    import yaml

    if len(args) != 1:
        raise Fail("error: specify one path to a kustomization directory")
    docs = kustomize_build(inv.path(args[0]))
    inv.out.write("---\n".join(yaml.safe_dump(d, sort_keys=True) for d in docs))


def refuse_unserved_vip(inv: Invocation, opts: dict[str, Any]) -> None:
    """A Cilium LB/BGP API address does not answer before the CNI (sim config ``api_vip_needs_cni``)."""
    server = str(opts.get("server") or "")
    kubeconfig = str(opts.get("kubeconfig") or inv.env.get("KUBECONFIG") or "")
    if not (server or kubeconfig):
        return
    state = inv.read()
    if bootstrap_sim.vip_unserved(state, server=server, kubeconfig=kubeconfig):
        vip = state["cluster"]["vip"]
        raise Fail(f"Unable to connect to the server: dial tcp {vip}:6443: connect: no route to host")
