"""Simulated in-cluster upgraders: tuppr, kured, system-upgrade-controller.

kured: ``state["k8s"]["kured"]`` = ``{"namespace", "annotations"}`` (absent: not installed); its DaemonSet
carries the reboot lock ``weave.works/kured-node-lock`` (JSON ``{"nodeID": …}``). The other DaemonSets
are derived from the pods' owners. system-upgrade-controller: ``state["k8s"]["suc_plans"]`` =
``[{"name", "namespace", "applying": [node, …]}]`` (absent: CRD not installed).

tuppr: ``TalosUpgrade`` / ``KubernetesUpgrade`` (cluster-scoped).

``state["k8s"]["tuppr"]``: absent = tuppr not installed (its CRDs unknown to the API server), else
``[{"kind": "TalosUpgrade"|"KubernetesUpgrade", "name", "phase", "current_node", "annotations": {}}]``.
Modelled on home-operations/tuppr 0.5.0: ``api/v1alpha1/talosupgrade_types.go:430`` (scope Cluster,
``.status.phase``), ``shared_types.go:138`` (the phases), ``internal/constants/constants.go:12`` (the
``tuppr.home-operations.com/suspend`` annotation: a suspended upgrade stays Pending).
``kubectl annotate`` here acts on these objects only.
"""

from __future__ import annotations

from typing import Any

from homeops.sim import engine
from homeops.sim.tools._base import Fail, Flag

State = dict[str, Any]
Obj = dict[str, Any]
API = "tuppr.home-operations.com/v1alpha1"

TYPES: dict[str, tuple[str, str, bool, str]] = {}
for _plural, _kind in (("talosupgrades", "TalosUpgrade"), ("kubernetesupgrades", "KubernetesUpgrade")):
    for _alias in (_plural, _kind.lower(), f"{_plural}.tuppr.home-operations.com"):
        TYPES[_alias] = (_plural, _kind, False, API)
PLURALS = {"talosupgrades": "TalosUpgrade", "kubernetesupgrades": "KubernetesUpgrade"}
for _alias in ("daemonsets", "daemonset", "ds", "daemonsets.apps"):
    TYPES[_alias] = ("daemonsets", "DaemonSet", True, "apps/v1")
for _alias in ("plans", "plan", "plans.upgrade.cattle.io"):
    TYPES[_alias] = ("plans", "Plan", True, "upgrade.cattle.io/v1")


def daemonsets(state: State, meta: Any) -> list[Obj]:
    owners = sorted(
        {
            (p["namespace"], p["owner"].split("/", 1)[1])
            for p in state["k8s"]["pods"]
            if p["owner"].startswith("DaemonSet/")
        }
    )
    kured = state["k8s"].get("kured")
    if kured is not None and (kured["namespace"], "kured") not in owners:
        owners.append((kured["namespace"], "kured"))
    out = []
    for namespace, name in owners:
        obj_meta = meta(state, name, namespace)
        if kured is not None and name == "kured" and namespace == kured["namespace"] and kured.get("annotations"):
            obj_meta["annotations"] = dict(kured["annotations"])
        out.append({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": obj_meta, "spec": {}, "status": {}})
    return out


def plans(state: State, meta: Any) -> list[Obj]:
    return [
        {
            "apiVersion": "upgrade.cattle.io/v1",
            "kind": "Plan",
            "metadata": meta(state, plan["name"], plan.get("namespace", "system-upgrade")),
            "spec": {"concurrency": 1},
            "status": {"applying": list(plan.get("applying", []))} if plan.get("applying") else {},
        }
        for plan in state["k8s"].get("suc_plans") or []
    ]


ANNOTATE_FLAGS = [Flag("overwrite", None, "bool", False), Flag("all", None, "bool", False)]


def installed(state: State) -> bool:
    return state["k8s"].get("tuppr") is not None


def objects(state: State, plural: str, meta: Any) -> list[Obj]:
    out = []
    for record in state["k8s"].get("tuppr") or []:
        if record["kind"] != PLURALS[plural]:
            continue
        obj_meta = meta(state, record["name"])
        if record.get("annotations"):
            obj_meta["annotations"] = dict(record["annotations"])
        status: Obj = {"phase": record.get("phase", "Pending")}
        if record.get("current_node"):
            status["currentNode"] = record["current_node"]
        out.append({"apiVersion": API, "kind": record["kind"], "metadata": obj_meta, "spec": {}, "status": status})
    return out


def cmd_annotate(inv: Any, o: dict[str, Any], args: list[str]) -> None:
    """``kubectl annotate TYPE NAME KEY=VALUE [--overwrite]`` and ``KEY-`` (remove)."""
    if args and "/" in args[0]:
        args = [*args[0].split("/", 1), *args[1:]]
    if len(args) < 3:
        raise Fail("error: one or more annotations must be specified")
    rtype, name, *changes = args
    info = TYPES.get(rtype.lower())
    with inv.store.transaction() as state:
        engine.advance(state)
        if not engine.api_up(state):
            vip = state["cluster"]["vip"]
            raise Fail(f"Unable to connect to the server: dial tcp {vip}:6443: connect: no route to host")
        if info is not None and info[0] == "daemonsets":
            kured = state["k8s"].get("kured")
            if kured is None or name != "kured" or (o["namespace"] or "default") != kured["namespace"]:
                raise Fail(f'Error from server (NotFound): daemonsets.apps "{name}" not found')
            notes: dict[str, str] = kured.setdefault("annotations", {})
            label = "daemonset.apps"
        else:
            if info is None or info[0] not in PLURALS or not installed(state):
                raise Fail(f'error: the server doesn\'t have a resource type "{rtype}"')
            plural, kind, _, _ = info
            record = next((r for r in state["k8s"]["tuppr"] if r["kind"] == kind and r["name"] == name), None)
            if record is None:
                raise Fail(f'Error from server (NotFound): {plural}.tuppr.home-operations.com "{name}" not found')
            notes = record.setdefault("annotations", {})
            label = f"{kind.lower()}.tuppr.home-operations.com"
        for change in changes:
            if change.endswith("-") and "=" not in change:
                notes.pop(change[:-1], None)
                continue
            key, _, value = change.partition("=")
            if key in notes and notes[key] != value and not o["overwrite"]:
                raise Fail(
                    f"error: --overwrite is false but found the following declared annotation(s): "
                    f"'{key}' already has a value ({notes[key]})"
                )
            notes[key] = value
    inv.print(f"{label}/{name} annotated")
