"""Fake ``kubectl``: get (json, jsonpath, tables, ``--raw``), wait, cordon/uncordon/drain, apply, exec ceph,
scale (deployments, statefulsets), delete and create (PersistentVolumeClaims, see ``apps_data``).

Reference: cli-interfaces.md §6 (kubectl master). Objects are built from the simulated state in
the API's own shapes (zero-valued status fields omitted, as the API server does), printed with
4-space indented JSON like kubectl's ``-o json``. ``--kubeconfig``/``--context`` are accepted and
not read: the simulated API is the only cluster there is.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from homeops.sim import apps_data, engine, upgraders, volumes
from homeops.sim import bootstrap as bootstrap_sim
from homeops.sim.tools import kubectl_bootstrap
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
    tabwrite,
)

State = dict[str, Any]
Obj = dict[str, Any]

GLOBAL = [
    Flag("kubeconfig"),
    Flag("context"),
    Flag("namespace", "n", "str", ""),
    Flag("request-timeout", None, "str", "0"),
    Flag("server", "s"),
    Flag("v", "v", "str", "0"),
    Flag("cluster"),
    Flag("user"),
]

# resource aliases → (canonical plural, kind, namespaced, api group/version, crd-backed-by)
TYPES: dict[str, tuple[str, str, bool, str]] = {}
for _aliases, _info in (
    (("nodes", "node", "no"), ("nodes", "Node", False, "v1")),
    (("pods", "pod", "po"), ("pods", "Pod", True, "v1")),
    (("deployments", "deployment", "deploy", "deployments.apps"), ("deployments", "Deployment", True, "apps/v1")),
    (
        ("statefulsets", "statefulset", "sts", "statefulsets.apps"),
        ("statefulsets", "StatefulSet", True, "apps/v1"),
    ),
    (("namespaces", "namespace", "ns"), ("namespaces", "Namespace", False, "v1")),
    (
        ("cephclusters", "cephcluster", "cephclusters.ceph.rook.io"),
        ("cephclusters", "CephCluster", True, "ceph.rook.io/v1"),
    ),
    (
        ("kustomizations", "kustomization", "ks", "kustomizations.kustomize.toolkit.fluxcd.io"),
        ("kustomizations", "Kustomization", True, "kustomize.toolkit.fluxcd.io/v1"),
    ),
    (
        ("helmreleases", "helmrelease", "hr", "helmreleases.helm.toolkit.fluxcd.io"),
        ("helmreleases", "HelmRelease", True, "helm.toolkit.fluxcd.io/v2"),
    ),
    (("secrets", "secret"), ("secrets", "Secret", True, "v1")),
    (
        ("fluxinstances", "fluxinstance", "fluxinstances.fluxcd.controlplane.io"),
        ("fluxinstances", "FluxInstance", True, "fluxcd.controlplane.io/v1"),
    ),
):
    for _alias in _aliases:
        TYPES[_alias] = _info
TYPES.update(apps_data.TYPES)  # VolSync, populated PVCs, CloudNativePG
TYPES.update(upgraders.TYPES)  # tuppr TalosUpgrade/KubernetesUpgrade (suspended during a homeops upgrade)
TYPES.update(volumes.TYPES)  # CSI VolumeAttachments (rolling upgrade: wait for detach after a drain)


def api_unreachable(state: State) -> str:
    vip = state["cluster"]["vip"]
    return f"Unable to connect to the server: dial tcp {vip}:6443: connect: no route to host"


def _ts(state: State, offset: float = -86400.0) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(state["clock"]["origin"]) + offset))


# ── objects ──────────────────────────────────────────────────────────────────────────────────────


def _meta(state: State, name: str, namespace: str | None = None, **extra: Any) -> Obj:
    meta: Obj = {
        "creationTimestamp": _ts(state),
        "name": name,
        "resourceVersion": str(state["etcd"]["revision"]),
        "uid": engine.new_id({"seed": f"{namespace}/{name}"}, "uid", 32),
    }
    if namespace is not None:
        meta["namespace"] = namespace
    meta.update(extra)
    return meta


def node_obj(state: State, hostname: str) -> Obj:
    node = state["nodes"][hostname]
    k = state["k8s"]["nodes"][hostname]
    labels = {"kubernetes.io/hostname": hostname, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64"}
    if node["control_plane"]:
        labels["node-role.kubernetes.io/control-plane"] = ""
    ready = k.get("ready", "Unknown")
    reason = {"True": "KubeletReady", "False": "KubeletNotReady", "Unknown": "NodeStatusUnknown"}[ready]
    spec: Obj = {"podCIDRs": ["10.42.0.0/24"]}
    taints = []
    if node["control_plane"]:
        taints.append({"effect": "NoSchedule", "key": "node-role.kubernetes.io/control-plane"})
    if k.get("unschedulable"):
        spec["unschedulable"] = True
        taints.append(
            {
                "effect": "NoSchedule",
                "key": "node.kubernetes.io/unschedulable",
                "timeAdded": _ts(state, engine.now(state) - float(state["clock"]["origin"])),
            }
        )
    if ready != "True":
        taints.append(
            {
                "effect": "NoSchedule",
                "key": "node.kubernetes.io/not-ready" if ready == "False" else "node.kubernetes.io/unreachable",
            }
        )
    if taints:
        spec["taints"] = taints
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": _meta(state, hostname, labels=labels),
        "spec": spec,
        "status": {
            "addresses": [{"address": node["ip"], "type": "InternalIP"}, {"address": hostname, "type": "Hostname"}],
            "conditions": [
                {
                    "lastHeartbeatTime": _ts(state, 0),
                    "lastTransitionTime": _ts(state, 0),
                    "message": "kubelet is posting ready status"
                    if ready == "True"
                    else "Kubelet stopped posting node status."
                    if ready == "Unknown"
                    else "container runtime network not ready",
                    "reason": reason,
                    "status": ready,
                    "type": "Ready",
                },
            ],
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": node["boot_id"],
                "containerRuntimeVersion": "containerd://2.1.5",
                "kernelVersion": "6.12.57-talos",
                "kubeProxyVersion": "",
                "kubeletVersion": k.get("kubelet_version") or node["kubernetes_version"],
                "operatingSystem": "linux",
                "osImage": f"Talos ({node['talos_version']})",
            },
        },
    }


def pod_obj(state: State, pod: Obj) -> Obj:
    kind, owner = pod["owner"].split("/", 1)
    if kind == "Deployment":
        owner = pod["name"].rsplit("-", 1)[0]
        kind = "ReplicaSet"
    ready = "True" if pod["ready"] else "False"
    status: Obj = {
        "conditions": [
            {"status": ready, "type": "Ready"},
            {"status": ready, "type": "ContainersReady"},
            {"status": "True" if pod["node"] else "False", "type": "PodScheduled"},
        ],
        "phase": "Running" if pod["node"] else "Pending",
    }
    spec: Obj = {"containers": [{"image": f"registry.example/{pod['owner'].split('/')[1]}:stable", "name": "main"}]}
    if pod["node"]:
        spec["nodeName"] = pod["node"]
        status["hostIP"] = state["nodes"][pod["node"]]["ip"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": _meta(
            state,
            pod["name"],
            pod["namespace"],
            ownerReferences=[
                {"apiVersion": "apps/v1" if kind != "Node" else "v1", "controller": True, "kind": kind, "name": owner}
            ],
        ),
        "spec": spec,
        "status": status,
    }


def deployment_obj(state: State, d: Obj, kind: str = "Deployment") -> Obj:
    ready_now = apps_data.ready_replicas(state, d)
    current = apps_data.current_replicas(state, d)
    status: Obj = {"observedGeneration": d.get("generation", 1)}
    if current:
        status["replicas"] = current
    if ready_now:
        status.update(readyReplicas=ready_now, availableReplicas=ready_now, updatedReplicas=current)
    elif current:
        status["unavailableReplicas"] = current
    if kind == "StatefulSet":
        status.pop("unavailableReplicas", None)
        status["currentReplicas"] = current
    else:
        available = "True" if ready_now >= d["replicas"] else "False"
        status["conditions"] = [
            {
                "reason": "MinimumReplicasAvailable" if available == "True" else "MinimumReplicasUnavailable",
                "status": available,
                "type": "Available",
            }
        ]
    spec: Obj = {"replicas": d["replicas"]}
    if d.get("claims"):  # the pod template's volumes: how a restore finds the controllers using a PVC
        volumes = [{"name": c, "persistentVolumeClaim": {"claimName": c}} for c in d["claims"]]
        spec["template"] = {"spec": {"volumes": volumes}}
    extra = {"generation": d.get("generation", 1)}
    if d.get("labels"):
        extra["labels"] = d["labels"]
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": _meta(state, d["name"], d["namespace"], **extra),
        "spec": spec,
        "status": status,
    }


def _ready_condition(ready: bool, revision: str, kind: str) -> Obj:
    return {
        "lastTransitionTime": "2025-10-09T06:00:00Z",
        "message": f"Applied revision: {revision}" if ready else f"{kind} reconciliation failed",
        "reason": "ReconciliationSucceeded" if ready else "ReconciliationFailed",
        "status": "True" if ready else "False",
        "type": "Ready",
    }


def _objects(state: State, plural: str) -> list[Obj]:
    k8s = state["k8s"]
    if plural == "nodes":
        return [node_obj(state, h) for h in sorted(k8s["nodes"])]
    if plural == "pods":
        return [pod_obj(state, p) for p in sorted(k8s["pods"], key=lambda p: (p["namespace"], p["name"]))]
    if plural in ("deployments", "statefulsets"):
        apps_data.autoscale(state)  # KEDA scales a 0-replica target back up unless paused
    if plural == "deployments":
        return [deployment_obj(state, d) for d in k8s["deployments"]]
    if plural == "statefulsets":
        return [deployment_obj(state, d, "StatefulSet") for d in k8s.get("statefulsets", [])]
    if plural == "namespaces":
        names = sorted(
            {p["namespace"] for p in k8s["pods"]}
            | kubectl_bootstrap.applied_namespaces(state)
            | ({"default", "kube-system"} if "bootstrap" in state else {"default", "flux-system"})
        )
        return [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": _meta(state, n), "status": {"phase": "Active"}}
            for n in names
        ]
    if plural == "cephclusters":
        ceph = k8s.get("cephcluster")
        if not ceph:
            return []
        status: Obj = {
            "ceph": {
                "health": ceph["health"],
                "lastChecked": _ts(state, 0),
                "previousHealth": ceph.get("previous_health", "HEALTH_OK"),
            },
            "phase": ceph.get("phase", "Ready"),
            "state": "Created",
        }
        if ceph["health"] != "HEALTH_OK":
            status["ceph"]["details"] = {"OSD_DOWN": {"message": "1 osds down", "severity": "HEALTH_WARN"}}
        return [
            {
                "apiVersion": "ceph.rook.io/v1",
                "kind": "CephCluster",
                "metadata": _meta(state, ceph["name"], ceph["namespace"]),
                "spec": {"dataDirHostPath": "/var/lib/rook"},
                "status": status,
            }
        ]
    if plural == "kustomizations":
        return [
            {
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
                "kind": "Kustomization",
                "metadata": _meta(state, k["name"], k["namespace"]),
                "spec": {
                    "interval": "1h",
                    "path": f"./kubernetes/{k['name']}",
                    "prune": True,
                    "sourceRef": {"kind": "GitRepository", "name": "flux-system"},
                    "suspend": k["suspended"],
                },
                "status": {
                    "conditions": [_ready_condition(k["ready"], k["revision"], "Kustomization")],
                    "lastAppliedRevision": k["revision"],
                },
            }
            for k in state["flux"]["kustomizations"]
        ]
    if plural == "helmreleases":
        return [
            {
                "apiVersion": "helm.toolkit.fluxcd.io/v2",
                "kind": "HelmRelease",
                "metadata": _meta(state, h["name"], h["namespace"]),
                "spec": {
                    "chart": {"spec": {"chart": h["chart"], "version": h["version"]}},
                    "interval": "1h",
                    "suspend": h["suspended"],
                },
                "status": {
                    "conditions": [_ready_condition(h["ready"], h["version"], "HelmRelease")],
                    "lastAttemptedRevision": h["version"],
                },
            }
            for h in state["flux"]["helmreleases"]
        ]
    if plural == "fluxinstances":
        return kubectl_bootstrap.flux_instance_objects(state, _meta)
    if plural == "secrets":
        return kubectl_bootstrap.secret_objects(state, _meta)
    if plural in apps_data.PLURALS:
        return apps_data.objects(state, plural)
    if plural == "volumeattachments":
        return volumes.objects(state, _meta)
    if plural == "longhornvolumes":
        return volumes.longhorn_objects(state, _meta)
    if plural in upgraders.PLURALS:
        return upgraders.objects(state, plural, _meta)
    if plural == "daemonsets":
        return upgraders.daemonsets(state, _meta)
    if plural == "plans":
        return upgraders.plans(state, _meta)
    return []


def _has_crd(state: State, plural: str) -> bool:
    if plural == "plans":
        return state["k8s"].get("suc_plans") is not None
    if plural == "longhornvolumes":
        return state["k8s"].get("longhorn") is not None
    if plural in upgraders.PLURALS:
        return upgraders.installed(state)
    if plural == "cephclusters":
        return state["k8s"].get("cephcluster") is not None
    return True


# ── commands ─────────────────────────────────────────────────────────────────────────────────────


def _require_api(state: State) -> None:
    if not engine.api_up(state):
        raise Fail(api_unreachable(state))


def _targets(args: Sequence[str]) -> list[tuple[str, str | None]]:
    """``nodes``, ``node x``, ``node/x``, ``node/x pod/y`` → [(type, name|None)]."""
    if not args:
        raise Fail(
            'error: You must specify the type of resource to get. Use "kubectl api-resources" for a complete '
            "list of supported resources."
        )
    if "/" in args[0]:
        return [tuple(a.split("/", 1)) for a in args]  # type: ignore[misc]
    if len(args) == 1:
        return [(args[0], None)]
    return [(args[0], name) for name in args[1:]]


def _resolve_type(state: State, rtype: str) -> tuple[str, str, bool, str]:
    info = TYPES.get(rtype.lower())
    if info is None or not _has_crd(state, info[0]):
        raise Fail(f'error: the server doesn\'t have a resource type "{rtype}"')
    return info


def _select(state: State, o: Mapping[str, Any], rtype: str, name: str | None) -> tuple[list[Obj], bool, str]:
    plural, _, namespaced, _ = _resolve_type(state, rtype)
    namespace = o["namespace"] or "default"
    items = _objects(state, plural)
    if namespaced and not o.get("all-namespaces"):
        items = [i for i in items if i["metadata"].get("namespace") == namespace]
    if o.get("selector"):
        want = dict(part.split("=", 1) for part in o["selector"].split(",") if "=" in part)
        items = [i for i in items if all(i["metadata"].get("labels", {}).get(k) == v for k, v in want.items())]
    if name is not None:
        items = [i for i in items if i["metadata"]["name"] == name]
        if not items and not o.get("ignore-not-found"):
            group = {"deployments": "deployments.apps", "statefulsets": "statefulsets.apps"}.get(plural, plural)
            raise Fail(f'Error from server (NotFound): {group} "{name}" not found')
    return items, name is not None, plural


def _age(state: State) -> str:
    return "1d"


def _table(state: State, plural: str, items: list[Obj], all_ns: bool) -> str:
    if plural == "nodes":
        rows = [["NAME", "STATUS", "ROLES", "AGE", "VERSION"]]
        for i in items:
            ready = i["status"]["conditions"][0]["status"]
            status = {"True": "Ready", "False": "NotReady", "Unknown": "NotReady"}[ready]
            if i["spec"].get("unschedulable"):
                status += ",SchedulingDisabled"
            roles = "control-plane" if "node-role.kubernetes.io/control-plane" in i["metadata"]["labels"] else "<none>"
            rows.append([i["metadata"]["name"], status, roles, _age(state), i["status"]["nodeInfo"]["kubeletVersion"]])
    elif plural == "pods":
        rows = [["NAME", "READY", "STATUS", "RESTARTS", "AGE"]]
        for i in items:
            ready = "1/1" if i["status"]["conditions"][0]["status"] == "True" else "0/1"
            rows.append([i["metadata"]["name"], ready, i["status"]["phase"], "0", _age(state)])
    elif plural == "statefulsets":
        rows = [["NAME", "READY", "AGE"]]
        for i in items:
            ready = i["status"].get("readyReplicas", 0)
            rows.append([i["metadata"]["name"], f"{ready}/{i['spec']['replicas']}", _age(state)])
    elif plural == "deployments":
        rows = [["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]]
        for i in items:
            ready = i["status"].get("readyReplicas", 0)
            rows.append(
                [
                    i["metadata"]["name"],
                    f"{ready}/{i['spec']['replicas']}",
                    str(i["spec"]["replicas"]),
                    str(ready),
                    _age(state),
                ]
            )
    else:
        rows = [["NAME", "AGE"]] + [[i["metadata"]["name"], _age(state)] for i in items]
    if all_ns and plural not in ("nodes", "namespaces"):
        rows = [["NAMESPACE", *rows[0]]] + [
            [i["metadata"]["namespace"], *r] for i, r in zip(items, rows[1:], strict=True)
        ]
    return tabwrite(rows)


def cmd_get(inv: Invocation, o: dict[str, Any], args: list[str]) -> None:
    with inv.store.transaction() as state:
        engine.advance(state)
        _require_api(state)
        if o["raw"]:
            if o["raw"] in ("/readyz", "/livez", "/healthz", "/readyz?verbose", "/livez?verbose"):
                inv.out.write("ok")
                return
            raise Fail("Error from server (NotFound): the server could not find the requested resource")
        output = o["output"] or ""
        collected: list[Obj] = []
        single = False
        plural = ""
        tables = []
        for rtype, name in _targets(args):
            items, single, plural = _select(state, o, rtype, name)
            collected.extend(items)
            if not output:
                tables.append(_table(state, plural, items, bool(o["all-namespaces"])))
        single = single and len(collected) == 1
    if output == "json":
        doc = (
            collected[0]
            if single
            else {"apiVersion": "v1", "items": collected, "kind": "List", "metadata": {"resourceVersion": ""}}
        )
        inv.out.write(json.dumps(doc, indent=4) + "\n")
    elif output in ("yaml",):
        import yaml

        doc = (
            collected[0]
            if single
            else {"apiVersion": "v1", "items": collected, "kind": "List", "metadata": {"resourceVersion": ""}}
        )
        inv.out.write(yaml.safe_dump(doc, sort_keys=True))
    elif output.startswith("jsonpath="):
        from homeops.sim.tools.jsonpath import JsonPathError, render

        doc = (
            collected[0]
            if single
            else {"apiVersion": "v1", "items": collected, "kind": "List", "metadata": {"resourceVersion": ""}}
        )
        try:
            inv.out.write(render(output[len("jsonpath=") :], doc))
        except JsonPathError as exc:
            raise Fail(f"error: error parsing jsonpath {output[len('jsonpath=') :]}, {exc}") from None
    elif output == "name":
        for i in collected:
            inv.print(f"{i['kind'].lower()}/{i['metadata']['name']}")
    elif output in ("", "wide"):
        if not collected:
            ns = (
                ""
                if o["all-namespaces"] or plural in ("nodes", "namespaces")
                else f" in {o['namespace'] or 'default'} namespace"
            )
            inv.eprint(f"No resources found{ns}.")
            return
        inv.out.write("".join(tables))
    else:
        raise Fail(
            f'error: unable to match a printer suitable for the output format "{output}", allowed formats '
            "are: custom-columns,custom-columns-file,go-template,go-template-file,json,jsonpath,"
            "jsonpath-as-json,jsonpath-file,name,template,templatefile,wide,yaml"
        )


def _condition_check(spec: str) -> Callable[[Obj], bool]:
    if spec == "delete":
        raise Fail("error: --for=delete is not supported by the homeops simulator")
    if spec.startswith("condition="):
        body = spec[len("condition=") :]
        name, _, want = body.partition("=")
        want = want or "true"

        def cond(obj: Obj) -> bool:
            for c in obj.get("status", {}).get("conditions", []):
                if c.get("type", "").lower() == name.lower():
                    return str(c.get("status", "")).lower() == want.lower()
            return False

        return cond
    if spec.startswith("jsonpath="):
        from homeops.sim.tools.jsonpath import render

        body = spec[len("jsonpath=") :]
        expr, _, want = body.rpartition("=") if body.rstrip("'\"").endswith("}") is False else (body, "", "")
        expr = expr.strip("'\"")

        def jp(obj: Obj) -> bool:
            return render(expr, obj) == want.strip("'\"")

        return jp
    raise Fail(f'error: unrecognized condition: "{spec}"')


def cmd_wait(inv: Invocation, o: dict[str, Any], args: list[str]) -> None:
    if not o["for"]:
        raise Fail("error: --for must be specified")
    checks = [_condition_check(f) for f in o["for"]]
    timeout = o["timeout"] if o["timeout"] is not None else 30.0
    with inv.store.transaction() as state:
        engine.advance(state)
        _require_api(state)
        targets = []
        for rtype, name in _targets(args):
            plural, kind, _, _ = _resolve_type(state, rtype)
            if name is None and not o["all"] and not o["selector"]:
                raise Fail("error: resource(s) were provided, but no name was specified")
            items, _, _ = _select(state, o, rtype, name)
            targets += [(plural, i["metadata"]["name"], kind) for i in items]
        if not targets:
            raise Fail("error: no matching resources found")
    met: set[tuple[str, str]] = set()

    def check(state: State) -> bool:
        if not engine.api_up(state):
            return False
        for plural, name, kind in targets:
            if (plural, name) in met:
                continue
            obj = next((i for i in _objects(state, plural) if i["metadata"]["name"] == name), None)
            if obj is not None and all(c(obj) for c in checks):
                met.add((plural, name))
                inv.print(f"{kind.lower()}/{name} condition met")
        return len(met) == len(targets)

    if not inv.wait_until(check, timeout if timeout > 0 else 0.0):
        missing = next((p, n) for p, n, _ in targets if (p, n) not in met)
        raise Fail(f"error: timed out waiting for the condition on {missing[0]}/{missing[1]}")


def _node_arg(state: State, args: list[str]) -> list[str]:
    if not args:
        raise Fail("error: resource(s) were provided, but no name was specified")
    names = [a.split("/", 1)[1] if a.startswith(("node/", "nodes/")) else a for a in args]
    for name in names:
        if name not in state["k8s"]["nodes"]:
            raise Fail(f'Error from server (NotFound): nodes "{name}" not found')
    return names


def _set_cordon(state: State, name: str, on: bool) -> bool:
    k = state["k8s"]["nodes"][name]
    changed = bool(k.get("unschedulable")) != on
    k["unschedulable"] = on
    state["nodes"][name]["cordoned"] = on
    return changed


def cmd_cordon(inv: Invocation, o: dict[str, Any], args: list[str], on: bool) -> None:
    with inv.store.transaction() as state:
        engine.advance(state)
        _require_api(state)
        for name in _node_arg(state, args):
            changed = _set_cordon(state, name, on) if not o["dry-run"] or o["dry-run"] == "none" else True
            verb = "cordoned" if on else "uncordoned"
            inv.print(f"node/{name} {verb}" if changed else f"node/{name} already {verb}")


def _go_duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes}m{secs}s" if hours else (f"{minutes}m{secs}s" if minutes else f"{secs}s")


def _drain_pdb_blocked(inv: Invocation, o: dict[str, Any], args: list[str]) -> str | None:
    """The ``drain-blocked-by-pdb`` fault, as kubectl drain meets a PDB (kubectl master@dee3483a
    ``pkg/drain/drain.go`` evictPods: "evicting pod" on stdout, a 429 from the Eviction API retried
    every 5s until ``--timeout``; ``pkg/cmd/drain/drain.go`` then lists the pending pods and nodes on
    stderr, and cobra prints the error). The cordon stays; clearing the fault lets the drain finish.
    """
    from homeops.sim import faults

    blocked: tuple[str, Obj] | None = None
    with inv.store.transaction() as state:
        engine.advance(state)
        _require_api(state)
        for name in _node_arg(state, args):
            pods = [
                p
                for p in state["k8s"]["pods"]
                if p["node"] == name and not p["owner"].startswith(("Node/", "DaemonSet/"))
            ]
            if pods and faults.active(state, "drain-blocked-by-pdb", name):
                blocked = (name, pods[0])
                inv.print(f"node/{name} {'cordoned' if _set_cordon(state, name, True) else 'already cordoned'}")
                break
    if blocked is None:
        return None
    name, pod = blocked
    inv.print(f"evicting pod {pod['namespace']}/{pod['name']}")
    inv.eprint(
        f'error when evicting pods/"{pod["name"]}" -n "{pod["namespace"]}" (will retry after 5s): '
        "Cannot evict pod as it would violate the pod's disruption budget."
    )
    cleared = inv.wait_until(lambda st: None if faults.active(st, "drain-blocked-by-pdb", name) else True, o["timeout"])
    if cleared:
        return name  # already printed as cordoned
    timeout = _go_duration(o["timeout"])
    error = f'error when evicting pods/"{pod["name"]}" -n "{pod["namespace"]}": global timeout reached: {timeout}'
    raise Fail(
        f'There are pending pods in node "{name}" when an error occurred: {error}\npod/{pod["name"]}\n'
        f'error: unable to drain node "{name}" due to error: {error}, continuing command...\n'
        f"There are pending nodes to be drained:\n {name}\nerror: {error}"
    )


def cmd_drain(inv: Invocation, o: dict[str, Any], args: list[str]) -> None:
    from homeops.sim.state import new_pod_name

    reported = _drain_pdb_blocked(inv, o, args)
    refusal = ""  # raised after the transaction: the cordon stays, as with the real kubectl
    with inv.store.transaction() as state:
        engine.advance(state)
        _require_api(state)
        names = _node_arg(state, args)
        for name in names:
            if _set_cordon(state, name, True):
                inv.print(f"node/{name} cordoned")
            elif name != reported:
                inv.print(f"node/{name} already cordoned")
            pods = [p for p in state["k8s"]["pods"] if p["node"] == name and not p["owner"].startswith("Node/")]
            daemons = [p for p in pods if p["owner"].startswith("DaemonSet/")]
            if daemons and not o["ignore-daemonsets"]:
                listed = ", ".join(f"{p['namespace']}/{p['name']}" for p in daemons)
                reason = f"cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): {listed}"
                refusal = (
                    f'error: unable to drain node "{name}" due to error: {reason}, continuing command...\n'
                    f"There are pending nodes to be drained:\n {name}\nerror: {reason}"
                )
                break
            if daemons:
                inv.eprint(
                    "Warning: ignoring DaemonSet-managed Pods: "
                    + ", ".join(f"{p['namespace']}/{p['name']}" for p in daemons)
                )
            targets = [p for p in pods if not p["owner"].startswith("DaemonSet/")]
            spare = [
                h
                for h, k in sorted(state["k8s"]["nodes"].items())
                if h != name
                and not k.get("unschedulable")
                and k.get("ready") == "True"
                and (not state["nodes"][h]["control_plane"] or all(n["control_plane"] for n in state["nodes"].values()))
            ]
            for pod in targets:
                # drain.go evictPods writes this to the drainer's Out: stdout.
                inv.print(f"evicting pod {pod['namespace']}/{pod['name']}")
            for i, pod in enumerate(targets):
                inv.print(f"pod/{pod['name']} evicted")
                if o["dry-run"] not in (None, "none", ""):
                    continue
                pod["name"] = new_pod_name(state, pod["owner"])
                pod["node"] = spare[i % len(spare)] if spare else ""
            inv.print(f"node/{name} drained")
        engine.advance(state)
    if refusal:
        raise Fail(refusal)


def _read_docs(inv: Invocation, o: dict[str, Any]) -> list[Obj]:
    """The objects of ``-f FILE|-`` (YAML or JSON, several documents)."""
    import yaml

    if not o["filename"]:
        raise Fail("error: must specify one of -f and -k")
    docs: list[Obj] = []
    for f in o["filename"]:
        if f == "-":
            text = inv.stdin or ""
        else:
            try:
                with open(inv.path(f), encoding="utf-8") as fh:
                    text = fh.read()
            except OSError:
                raise Fail(f'error: the path "{f}" does not exist') from None
        try:
            docs += [d for d in yaml.safe_load_all(text) if isinstance(d, dict)]
        except yaml.YAMLError as exc:
            raise Fail(f"error: error parsing {f}: {str(exc).splitlines()[0]}") from None
    return docs


def cmd_apply(inv: Invocation, o: dict[str, Any], args: list[str], *, diff: bool = False) -> None:
    docs = _read_docs(inv, o)
    if diff:
        kubectl_bootstrap.cmd_diff(inv, o, args, docs)
        return
    with inv.store.transaction() as state:
        engine.advance(state)
        _require_api(state)
        kubectl_bootstrap.refuse_missing_namespace(state, docs, diff=False)
        applied = state["k8s"].setdefault("applied", {})
        for doc in docs:
            kind = str(doc.get("kind", ""))
            name = str((doc.get("metadata") or {}).get("name", ""))
            if not kind or not name:
                raise Fail(
                    "error: error validating data: [apiVersion not set, kind not set]; if you choose to ignore "
                    "these errors, turn validation off with --validate=false"
                )
            group = str(doc.get("apiVersion", "v1")).split("/")[0] if "/" in str(doc.get("apiVersion", "")) else ""
            label = kind.lower() + (f".{group}" if group else "")
            key = f"{label}/{(doc.get('metadata') or {}).get('namespace', '')}/{name}"
            existed = key in applied
            applied[key] = bootstrap_sim.redact(doc)  # state.json is on disk: no Secret value in clear
            if o["server-side"]:
                inv.print(f"{label}/{name} serverside-applied")
            else:
                inv.print(f"{label}/{name} {'configured' if existed else 'created'}")


def cmd_exec(inv: Invocation, o: dict[str, Any], args: list[str]) -> None:
    with inv.store.transaction() as state:
        engine.advance(state)
        _require_api(state)
        ceph = state["k8s"].get("cephcluster")
        target = args[0] if args else ""
        if target not in ("deploy/rook-ceph-tools", "deployment/rook-ceph-tools") or ceph is None:
            name = target.split("/", 1)[-1]
            raise Fail(f'Error from server (NotFound): deployments.apps "{name}" not found')
        command = args[1:]
        health = ceph["health"]
    if command[:2] == ["ceph", "health"]:
        if "json" in command:
            checks = (
                {}
                if health == "HEALTH_OK"
                else {
                    "OSD_DOWN": {"severity": health, "summary": {"message": "1 osds down", "count": 1}, "muted": False}
                }
            )
            inv.print(json.dumps({"status": health, "checks": checks, "mutes": []}))
        else:
            inv.print(health if health == "HEALTH_OK" else f"{health} 1 osds down")
    elif command[:2] == ["ceph", "status"]:
        inv.print(json.dumps({"fsid": "a7f64266-0894-4f1e-a635-d0aeaca0e993", "health": {"status": health}}))
    else:
        raise Fail(f"command terminated with exit code 127: {' '.join(command)}: not found", code=127)


COMMANDS: dict[str, tuple[Callable[..., None], list[Flag]]] = {
    "get": (
        cmd_get,
        [
            Flag("output", "o", "str", ""),
            Flag("all-namespaces", "A", "bool", False),
            Flag("selector", "l", "str", ""),
            Flag("raw", None, "str", ""),
            Flag("field-selector", None, "str", ""),
            Flag("ignore-not-found", None, "bool", False),
            Flag("show-labels", None, "bool", False),
            Flag("watch", "w", "bool", False),
        ],
    ),
    "wait": (
        cmd_wait,
        [
            Flag("for", None, "array", []),
            Flag("timeout", None, "duration", None),
            Flag("all", None, "bool", False),
            Flag("selector", "l", "str", ""),
            Flag("all-namespaces", "A", "bool", False),
            Flag("output", "o", "str", ""),
        ],
    ),
    "cordon": (
        lambda i, o, a: cmd_cordon(i, o, a, True),
        [Flag("dry-run", None, "str", "none"), Flag("selector", "l", "str", "")],
    ),
    "uncordon": (
        lambda i, o, a: cmd_cordon(i, o, a, False),
        [Flag("dry-run", None, "str", "none"), Flag("selector", "l", "str", "")],
    ),
    "drain": (
        cmd_drain,
        [
            Flag("ignore-daemonsets", None, "bool", False),
            Flag("delete-emptydir-data", None, "bool", False),
            Flag("force", None, "bool", False),
            Flag("grace-period", None, "int", -1),
            Flag("timeout", None, "duration", 0.0),
            Flag("pod-selector", None, "str", ""),
            Flag("disable-eviction", None, "bool", False),
            Flag("skip-wait-for-delete-timeout", None, "int", 0),
            Flag("dry-run", None, "str", "none"),
            Flag("selector", "l", "str", ""),
        ],
    ),
    "apply": (
        cmd_apply,
        [
            Flag("filename", "f", "array", []),
            Flag("server-side", None, "bool", False),
            Flag("force-conflicts", None, "bool", False),
            Flag("field-manager", None, "str", ""),
            Flag("dry-run", None, "str", "none"),
            Flag("prune", None, "bool", False),
            Flag("output", "o", "str", ""),
            Flag("wait", None, "bool", False),
        ],
    ),
    "patch": (apps_data.cmd_patch, apps_data.PATCH_FLAGS),
    "annotate": (upgraders.cmd_annotate, upgraders.ANNOTATE_FLAGS),
    "scale": (
        lambda i, o, a: apps_data.cmd_scale(i, o, a, TYPES),
        [
            Flag("replicas", None, "int", -1),
            Flag("current-replicas", None, "int", -1),
            Flag("resource-version", None, "str", ""),
            Flag("timeout", None, "duration", 0.0),
            Flag("dry-run", None, "str", "none"),
            Flag("selector", "l", "str", ""),
            Flag("all", None, "bool", False),
            Flag("filename", "f", "array", []),
            Flag("output", "o", "str", ""),
        ],
    ),
    "delete": (
        lambda i, o, a: apps_data.cmd_delete(i, o, a, TYPES),
        [
            Flag("ignore-not-found", None, "bool", False),
            Flag("wait", None, "bool", True),
            Flag("timeout", None, "duration", 0.0),
            Flag("grace-period", None, "int", -1),
            Flag("force", None, "bool", False),
            Flag("now", None, "bool", False),
            Flag("cascade", None, "str", "background"),
            Flag("dry-run", None, "str", "none"),
            Flag("selector", "l", "str", ""),
            Flag("all", None, "bool", False),
            Flag("filename", "f", "array", []),
            Flag("output", "o", "str", ""),
        ],
    ),
    "create": (
        lambda i, o, a: apps_data.cmd_create(i, o, a, _read_docs(i, o)),
        [
            Flag("filename", "f", "array", []),
            Flag("dry-run", None, "str", "none"),
            Flag("output", "o", "str", ""),
            Flag("save-config", None, "bool", False),
            Flag("validate", None, "str", "strict"),
        ],
    ),
    "diff": (
        lambda i, o, a: cmd_apply(i, o, a, diff=True),
        [
            Flag("filename", "f", "array", []),
            Flag("server-side", None, "bool", False),
            Flag("force-conflicts", None, "bool", False),
            Flag("field-manager", None, "str", ""),
            Flag("prune", None, "bool", False),
        ],
    ),
    "kustomize": (kubectl_bootstrap.cmd_kustomize, []),
    "exec": (
        cmd_exec,
        [Flag("stdin", "i", "bool", False), Flag("tty", "t", "bool", False), Flag("container", "c", "str", "")],
    ),
}


def _kubectl(inv: Invocation) -> None:
    args = inv.args
    word, rest = split_command(args, bool_names(GLOBAL, *(spec[1] for spec in COMMANDS.values())))
    command = word if word in COMMANDS else None
    if command is None:
        first = word or ""
        raise Fail(
            f'error: unknown command "{first}" for "kubectl"\n\nDid you mean this?\n\tget'
            if first
            else "kubectl controls the Kubernetes cluster manager."
        )
    handler, own = COMMANDS[command]
    spec = flags(*GLOBAL, *own)
    try:
        if command == "exec" and "--" in rest:
            cut = rest.index("--")
            opts, positional = parse(rest[:cut], spec)
            positional += rest[cut + 1 :]
        else:
            opts, positional = parse(rest, spec)
    except UsageError as exc:
        raise Fail(f"error: {exc}\nSee 'kubectl {command} --help' for usage.") from None
    if command != "kustomize":
        kubectl_bootstrap.refuse_unserved_vip(inv, opts)
    handler(inv, opts, positional)


def main(argv: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``kubectl ARGS…`` (``argv`` without the program name) → (exit code, stdout, stderr)."""
    return run_tool("kubectl", _kubectl, argv, stdin, env)
