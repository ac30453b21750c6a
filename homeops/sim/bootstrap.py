"""A simulated cluster that starts from nothing: VMs in maintenance mode, then bootstrapped.

``inv sim.up --blank`` builds the usual state and empties it (``blank``): every node in Talos
maintenance mode (no config, answering ``--insecure`` only), no etcd, no Kubernetes API, no
workloads, no Flux. What happens next follows the real order, driven by the fake tools:

* ``talosctl apply-config --insecure`` installs a node (a reboot), after which it answers with a
  config (mutual TLS) — unless fault ``node-stuck-in-maintenance`` sends it back to maintenance;
* ``talosctl bootstrap`` once forms etcd on one control plane (the others join by themselves);
  fault ``bootstrap-already`` makes a node's EPHEMERAL hold stale etcd data: bootstrap answers
  AlreadyExists and no member ever forms there;
* the Kubernetes API answers ``api_seconds`` after etcd formed; nodes register as they run, and
  stay NotReady until a CNI release (cilium, …) is installed by ``helmfile sync``;
* installing ``flux-instance`` creates the FluxInstance and the ``flux-system`` Kustomization, Ready
  ``flux_ready_seconds`` later (fault ``flux-not-ready``: never).

A state without a ``bootstrap`` section (a cluster started running) is untouched by every hook here.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

_CA = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg=="  # the sim cluster's CA (base64 of a PEM header)
_OTHER_CA = "LS0tLS1CRUdJTiBPVEhFUiBDQS0tLS0tCg=="  # another cluster's

State = dict[str, Any]

DEFAULTS = {
    "api_seconds": 20.0,  # etcd formed → kube-apiserver answering on the VIP
    "flux_ready_seconds": 30.0,  # flux-instance installed → FluxInstance Ready
    "helm_seconds": 2.0,  # one helm upgrade --install with --wait
    "helm_timeout_seconds": 300.0,  # helm's own default --timeout
}
CNI_CHARTS = ("cilium", "calico", "tigera-operator", "flannel", "kube-router")
FLUX_INSTANCE_CHARTS = ("flux-instance",)
DEPLOYMENTS = {  # chart basename → (namespace, deployment) it runs
    "coredns": ("kube-system", "coredns"),
    "cert-manager": ("cert-manager", "cert-manager"),
    "flux-operator": ("flux-system", "flux-operator"),
    "spegel": ("kube-system", "spegel"),
}


def _config(state: State, key: str) -> float:
    return float(state.get("config", {}).get(key, DEFAULTS[key]))


def is_blank(state: State) -> bool:
    return "bootstrap" in state


def blank(state: State) -> State:
    """Turn a freshly built running cluster into VMs in maintenance mode (nothing configured yet)."""
    for node in state["nodes"].values():
        node.update(
            stage="maintenance",
            ready=False,
            maintenance=True,
            etcd_data=False,
            config_version=0,
            staged_config=False,
            pending=None,
        )
        node.pop("config_text", None)
    state["etcd"].update(members={}, leader=None, bootstrapped=False, alarms=[])
    state["k8s"].update(nodes={}, pods=[], deployments=[], replicationsources=[], helm_releases={}, applied={})
    state["flux"] = {"kustomizations": [], "helmreleases": [], "instance": None}
    state["bootstrap"] = {"api_at": None, "cni": False}
    return state


def api_serving(state: State, t: float) -> bool:
    """False while a blank cluster's API server has not come up yet (always True otherwise)."""
    boot = state.get("bootstrap")
    if boot is None:
        return True
    return boot.get("api_at") is not None and t >= float(boot["api_at"])


def next_times(state: State, t: float) -> list[float]:
    boot = state.get("bootstrap")
    if boot is None:
        return []
    times = [float(boot["api_at"])] if boot.get("api_at") is not None and boot["api_at"] > t else []
    instance = state["flux"].get("instance")
    if instance and instance.get("ready_at") is not None and instance["ready_at"] > t:
        times.append(float(instance["ready_at"]))
    return times


def _faulted(state: State, name: str, target: str | None = None) -> bool:
    return any(
        f["name"] == name and (f.get("target") is None or target is None or f["target"] == target)
        for f in state.get("faults", [])
    )


def stays_in_maintenance(state: State, hostname: str) -> bool:
    """Fault ``node-stuck-in-maintenance``: the insecure apply is accepted, the node reboots back into maintenance."""
    return _faulted(state, "node-stuck-in-maintenance", hostname)


def stale_etcd(state: State, hostname: str) -> bool:
    """Fault ``bootstrap-already``: leftover etcd data on the node (bootstrap answers AlreadyExists)."""
    return _faulted(state, "bootstrap-already", hostname)


def derive(state: State, t: float) -> None:
    """Apply what follows from etcd, the API and the CNI (called by ``engine.advance``)."""
    from homeops.sim import engine

    boot = state.get("bootstrap")
    if boot is None:
        return
    etcd = state["etcd"]
    if etcd.get("bootstrapped") and boot.get("api_at") is None and etcd.get("members"):
        boot["api_at"] = t + _config(state, "api_seconds")
    serving = api_serving(state, t) and engine.etcd_quorate(state)
    k8s_nodes = state["k8s"]["nodes"]
    registered = boot.setdefault("registered", [])
    for hostname, node in sorted(state["nodes"].items()):
        running = node["stage"] == "running" and not node.get("maintenance") and not engine.is_down(state, node, t)
        if hostname not in registered:
            # The engine's reboot bookkeeping may have made a record: a kubelet registers only once
            # the API answers and the node runs with its config.
            k8s_nodes.pop(hostname, None)
            if not (serving and running):
                continue
            registered.append(hostname)
            k8s_nodes[hostname] = {
                "ready": "False",
                "unschedulable": False,
                "kubelet_version": node["kubernetes_version"],
                "role": "controlplane" if node["control_plane"] else "worker",
            }
        record = k8s_nodes[hostname]
        if engine.is_down(state, node, t):
            record["ready"] = "Unknown"
        else:
            record["ready"] = "True" if boot.get("cni") and node.get("ready") and running else "False"
    instance = state["flux"].get("instance")
    if instance is not None:
        ready = (
            instance.get("ready_at") is not None
            and t >= float(instance["ready_at"])
            and not _faulted(state, "flux-not-ready")
            and all(r["ready"] == "True" for r in k8s_nodes.values())
        )
        instance["ready"] = ready
        for ks in state["flux"]["kustomizations"]:
            ks["ready"] = ready


def chart_base(chart: str) -> str:
    return chart.rstrip("/").split("/")[-1]


def installed(state: State, name: str, chart: str, namespace: str, t: float) -> None:
    """What a successful ``helm upgrade --install`` of this release leaves running."""
    from homeops.sim import engine

    base = chart_base(chart)
    if (base in CNI_CHARTS or name in CNI_CHARTS) and "bootstrap" in state:
        state["bootstrap"]["cni"] = True
    deploy = DEPLOYMENTS.get(base) or DEPLOYMENTS.get(name)
    if deploy is not None:
        ns, dname = deploy
        if not any(d["namespace"] == ns and d["name"] == dname for d in state["k8s"]["deployments"]):
            state["k8s"]["deployments"].append({"namespace": ns, "name": dname, "replicas": 1, "ready_replicas": 0})
            nodes = sorted(state["k8s"]["nodes"]) or sorted(state["nodes"])
            state["k8s"]["pods"].append(
                {
                    "namespace": ns,
                    "name": f"{dname}-{engine.new_id(state, 'pod', 10)[:9]}-{engine.new_id(state, 'pod', 5)}",
                    "node": nodes[0],
                    "owner": f"Deployment/{dname}",
                    "ready": False,
                }
            )
    if base in FLUX_INSTANCE_CHARTS or name in FLUX_INSTANCE_CHARTS:
        flux = state.setdefault("flux", {"kustomizations": [], "helmreleases": []})
        revision = f"refs/heads/main@sha1:{engine.new_id(state, 'git', 40)}"
        if flux.get("instance") is None:
            flux["instance"] = {
                "namespace": "flux-system",
                "name": "flux",
                "ready": False,
                "ready_at": t + _config(state, "flux_ready_seconds"),
                "revision": revision,
            }
        if not any(k["name"] == "flux-system" for k in flux["kustomizations"]):
            flux["kustomizations"].append(
                {"namespace": "flux-system", "name": "flux-system", "ready": False, "suspended": False,
                 "revision": revision}
            )  # fmt: skip


def needs_cni(state: State, chart: str, name: str) -> bool:
    """A release that waits for pods cannot finish before the CNI makes the nodes Ready."""
    boot = state.get("bootstrap")
    if boot is None or boot.get("cni"):
        return False
    base = chart_base(chart)
    return base not in CNI_CHARTS and name not in CNI_CHARTS and not base.endswith("crds")


def redact(doc: dict[str, Any]) -> dict[str, Any]:
    """What the sim keeps of an applied object: a Secret's values only as a digest (never on disk in clear)."""
    if str(doc.get("kind")) != "Secret":
        return doc
    payload = repr(sorted((doc.get("data") or {}).items())) + repr(sorted((doc.get("stringData") or {}).items()))
    kept = {k: v for k, v in doc.items() if k not in ("data", "stringData")}
    kept["dataDigest"] = hashlib.sha256(payload.encode()).hexdigest()
    return kept


def kubeconfig_text(context_cluster: str, server: str, ca: str = _CA, user: str | None = None) -> str:
    """What ``talosctl kubeconfig`` writes: one cluster, one admin context, one user (talosctl's layout)."""
    user = user or f"admin@{context_cluster}"
    return (
        "apiVersion: v1\nkind: Config\nclusters:\n"
        f"    - name: {context_cluster}\n      cluster:\n        server: {server}\n"
        f"        certificate-authority-data: {ca}\n"
        f"contexts:\n    - name: {user}\n      context:\n        cluster: {context_cluster}\n"
        "        namespace: default\n"
        f"        user: {user}\n"
        f"current-context: {user}\n"
        f"users:\n    - name: {user}\n      user:\n"
        "        client-certificate-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCg==\n"
        "        client-key-data: LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCg==\n"
        "preferences: {}\n"
    )


def other_cluster_kubeconfig(name: str) -> str:
    """Fault ``kubeconfig-wrong-cluster``: what talosctl fetches from a node of another cluster."""
    safe = re.sub(r"[^a-z0-9-]", "", name.lower()) or "other"
    return kubeconfig_text(f"{safe}-old", "https://10.99.0.10:6443", _OTHER_CA, user=f"admin@{safe}-old")


def kubeconfig_server(path: str) -> str:
    """The server of a kubeconfig's current context ("" when it cannot be read)."""
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        contexts = {c["name"]: c.get("context") or {} for c in data.get("contexts") or []}
        cluster = contexts.get(data.get("current-context"), {}).get("cluster")
        clusters = {c["name"]: c.get("cluster") or {} for c in data.get("clusters") or []}
        return str(clusters.get(cluster, {}).get("server") or "")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return ""


def vip_unserved(state: State, *, server: str = "", kubeconfig: str = "") -> bool:
    """Config ``api_vip_needs_cni``: the API address is a Cilium LB/BGP IP, answered only once the CNI runs.

    The address is ``server``, else ``kubeconfig``'s; the kubeconfig is parsed only when the config applies
    (every kubectl call asks, and the YAML costs more than the rest of a ``kubectl get``).
    """
    boot = state.get("bootstrap")
    if not boot or not state.get("config", {}).get("api_vip_needs_cni") or boot.get("cni"):
        return False
    server = server or kubeconfig_server(kubeconfig)
    vip = str(state["cluster"]["vip"])
    return server.split("//")[-1].split(":")[0] == vip
