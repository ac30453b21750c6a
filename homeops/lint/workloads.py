"""What the cluster will run: pod controllers with their effective strategy, containers,
security contexts and volumes — from plain manifests and from bjw-s app-template HelmReleases.

app-template semantics (bjw-s common library): ``values.controllers.<id>`` with ``type``
(default ``deployment``) and ``strategy`` (default ``Recreate`` for a Deployment, ``RollingUpdate``
for a StatefulSet); pod options are ``values.defaultPodOptions`` overlaid by the controller's
``pod`` (``defaultPodOptionsStrategy``: ``overwrite`` per key, the default, or ``merge``);
containers likewise over the controller's ``defaultContainerOptions``. A ``persistence`` item is
a PVC unless it says otherwise (``existingClaim``, or one the chart makes with ``accessMode``,
default ReadWriteOnce) and is mounted into every controller unless only ``advancedMounts`` name
other controllers.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from homeops.lint.repo import Repo, YamlFile, is_k8s_object
from homeops.lint.substitute import is_unresolved, resolve_scalar
from homeops.lint.yamlload import Document, Map, Seq

APP_TEMPLATE = "app-template"
_POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
_APP_TEMPLATE_KINDS = {
    "deployment": "Deployment",
    "statefulset": "StatefulSet",
    "daemonset": "DaemonSet",
    "cronjob": "CronJob",
    "job": "Job",
}
_STRATEGY_DEFAULTS = {"deployment": "Recreate", "statefulset": "RollingUpdate"}


@dataclass(frozen=True)
class Container:
    name: str
    line: int
    image: Any  # a str (manifest), a Map with repository/tag/digest (app-template), or None
    image_line: int
    security: Mapping[str, Any]  # the container's securityContext, or {}
    pod_security: Mapping[str, Any]  # the pod's securityContext, or {}
    init: bool
    user_namespace: bool = False  # pod hostUsers: false — UID 0 inside is not root on the node


@dataclass(frozen=True)
class Claim:
    """A PVC a workload mounts: by name (existing) or made inline with these access modes."""

    volume: str
    line: int
    name: str | None
    access_modes: tuple[str, ...] | None


@dataclass(frozen=True)
class Workload:
    file: str
    kind: str  # Deployment, StatefulSet, DaemonSet, CronJob, Job, …
    name: str
    line: int
    strategy: str | None  # effective; None when it cannot be known (unresolved variable)
    strategy_line: int
    strategy_explicit: bool
    containers: tuple[Container, ...]
    claims: tuple[Claim, ...]
    source: str  # "manifest" or "app-template"
    variables: Mapping[str, str]


def _map(value: Any) -> Map:
    return value if isinstance(value, Map) else Map()


def _overlay(base: Map, top: Map, strategy: str) -> dict[str, Any]:
    if strategy == "merge":
        return _deep_merge(base, top)
    merged: dict[str, Any] = dict(base)
    merged.update(top)
    return merged


def _deep_merge(base: Mapping[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = dict(base)
    for key, value in top.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _security(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# ---- which chart a HelmRelease installs -------------------------------------------------------


def chart_of(repo: Repo, hr: Map, variables: Mapping[str, str]) -> str | None:
    """The chart's name or OCI URL as far as the repository says (None when it cannot tell)."""
    spec = _map(hr.get("spec"))
    chart_spec = _map(_map(spec.get("chart")).get("spec"))
    if chart_spec.get("chart"):
        return str(resolve_scalar(chart_spec.get("chart"), variables))
    ref = _map(spec.get("chartRef"))
    kind, name = ref.get("kind"), resolve_scalar(ref.get("name"), variables)
    if not isinstance(name, str):
        return None
    for source in find_objects(repo, str(kind or "OCIRepository"), name):
        url = _map(source.get("spec")).get("url")
        chart = _map(_map(source.get("spec")).get("chart"))
        if isinstance(url, str):
            return url
        if chart:
            return str(chart)
    # The source lives outside the linted tree (e.g. flux/repositories/): its name is all we know.
    return name if name == APP_TEMPLATE else None


def find_objects(repo: Repo, kind: str, name: str) -> Iterator[Map]:
    """Objects of ``kind`` named ``name`` (after each file's own substitutions) anywhere in the repo."""
    for rel, data in repo.objects_of_kind(kind):
        raw = _map(data.get("metadata")).get("name")
        names = {resolve_scalar(raw, v) for v in repo.variables_for(rel)} if isinstance(raw, str) else {raw}
        if name in names:
            yield data


def is_app_template(repo: Repo, hr: Map, variables: Mapping[str, str]) -> bool:
    chart = chart_of(repo, hr, variables)
    return chart is not None and chart.rstrip("/").rsplit("/", 1)[-1].split(":")[0] == APP_TEMPLATE


def app_template_shape(repo: Repo, hr: Map, variables: Mapping[str, str]) -> str | None:
    """``v2`` (``values.controllers``, app-template 2.x and later), ``v1`` (``values.image`` and a
    single ``controller``, app-template 1.x), ``unknown`` (app-template, neither shape),
    ``other-chart`` (app-template's shape on a chart whose defaults homeops does not know), or None."""
    values = _map(_map(hr.get("spec")).get("values"))
    if not is_app_template(repo, hr, variables):
        # app-template's values shape on another chart (one built on the bjw-s common library): its
        # own defaults (images, security contexts, controller types) are unknown here
        controllers = values.get("controllers")
        if isinstance(controllers, Map) and any(
            isinstance(c, Map) and isinstance(c.get("containers"), Map) for c in controllers.values()
        ):
            return "other-chart"
        return None
    if isinstance(values.get("controllers"), Map):
        return "v2"
    if isinstance(values.get("image"), Map):
        return "v1"
    return "unknown"


# ---- workloads ----------------------------------------------------------------------------------


def workloads(repo: Repo, file: YamlFile, doc: Document, variables: Mapping[str, str]) -> list[Workload]:
    """The pod controllers one document makes (an app-template HelmRelease can make several)."""
    data = doc.data
    if not is_k8s_object(data) or not isinstance(data, Map):
        return []
    kind = data["kind"]
    if kind == "HelmRelease" and data["apiVersion"].startswith("helm.toolkit.fluxcd.io/"):
        shape = app_template_shape(repo, data, variables)
        if shape == "v2":
            return list(_app_template(file.rel, data, variables))
        if shape == "v1":
            return list(_app_template_v1(file.rel, data, variables))
        return []
    if kind in _POD_TEMPLATE_KINDS or kind in ("CronJob", "Pod"):
        workload = _manifest(file.rel, data, variables)
        return [workload] if workload else []
    return []


def _manifest(rel: str, data: Map, variables: Mapping[str, str]) -> Workload | None:
    kind = data["kind"]
    spec = _map(data.get("spec"))
    name = str(_map(data.get("metadata")).get("name", "?"))
    if kind == "Pod":
        pod = spec
    elif kind == "CronJob":
        pod = _map(_map(_map(_map(spec.get("jobTemplate")).get("spec")).get("template")).get("spec"))
    else:
        pod = _map(_map(spec.get("template")).get("spec"))
    strategy: str | None = None
    strategy_line, explicit = data.line, False
    if kind in ("Deployment", "StatefulSet"):
        holder = _map(spec.get("strategy" if kind == "Deployment" else "updateStrategy"))
        raw = resolve_scalar(holder.get("type", "RollingUpdate"), variables)
        explicit = "type" in holder
        strategy = None if is_unresolved(raw) else str(raw)
        strategy_line = holder.line_of("type") if explicit else data.line
    pod_sc = _security(pod.get("securityContext"))
    containers: list[Container] = []
    for key, init in (("initContainers", True), ("containers", False)):
        items = pod.get(key)
        if not isinstance(items, Seq):
            continue
        for index, item in enumerate(items):
            if not isinstance(item, Map):
                continue
            containers.append(
                Container(
                    str(item.get("name", index)),
                    items.line_of(index),
                    resolve_scalar(item.get("image"), variables),
                    item.line_of("image"),
                    _security(item.get("securityContext")),
                    pod_sc,
                    init,
                    pod.get("hostUsers") is False,
                )
            )
    claims: list[Claim] = []
    raw_volumes = pod.get("volumes")
    volumes = raw_volumes if isinstance(raw_volumes, Seq) else Seq()
    for index, vol in enumerate(volumes):
        pvc = _map(_map(vol).get("persistentVolumeClaim"))
        claim = resolve_scalar(pvc.get("claimName"), variables)
        if isinstance(claim, str) and not is_unresolved(claim):
            claims.append(Claim(str(_map(vol).get("name", index)), volumes.line_of(index), claim, None))
    return Workload(
        rel,
        kind,
        name,
        data.line,
        strategy,
        strategy_line,
        explicit,
        tuple(containers),
        tuple(claims),
        "manifest",
        variables,
    )


def _enabled(item: Mapping[str, Any], variables: Mapping[str, str]) -> bool:
    value = resolve_scalar(item.get("enabled", True), variables)
    return value not in (False, "false")


def _app_template(rel: str, hr: Map, variables: Mapping[str, str]) -> Iterator[Workload]:
    spec = _map(hr.get("spec"))
    values = _map(spec.get("values"))
    release = str(resolve_scalar(spec.get("releaseName") or _map(hr.get("metadata")).get("name", "?"), variables))
    default_pod = _map(values.get("defaultPodOptions"))
    pod_strategy = str(values.get("defaultPodOptionsStrategy", "overwrite"))
    controllers = _map(values.get("controllers"))
    persistence = _map(values.get("persistence"))
    for cid, ctrl in controllers.items():
        if not isinstance(ctrl, Map) or not _enabled(ctrl, variables):
            continue
        ctype = str(resolve_scalar(ctrl.get("type", "deployment"), variables)).lower()
        kind = _APP_TEMPLATE_KINDS.get(ctype, ctype.capitalize())
        explicit = "strategy" in ctrl
        raw = resolve_scalar(ctrl.get("strategy", _STRATEGY_DEFAULTS.get(ctype)), variables)
        strategy = None if raw is None or is_unresolved(raw) else str(raw)
        strategy_line = ctrl.line_of("strategy") if explicit else controllers.line_of(cid)
        pod = _overlay(default_pod, _map(ctrl.get("pod")), pod_strategy)
        pod_sc = _security(pod.get("securityContext"))
        default_container = _map(ctrl.get("defaultContainerOptions"))
        container_strategy = str(ctrl.get("defaultContainerOptionsStrategy", "overwrite"))
        containers: list[Container] = []
        for key, init in (("initContainers", True), ("containers", False)):
            group = _map(ctrl.get(key))
            for name, item in group.items():
                if not isinstance(item, Map) or not _enabled(item, variables):
                    continue
                merged = _overlay(default_container, item, container_strategy)
                image = merged.get("image")
                containers.append(
                    Container(
                        str(name),
                        group.line_of(name),
                        image,
                        item.line_of("image") if "image" in item else group.line_of(name),
                        _security(merged.get("securityContext")),
                        pod_sc,
                        init,
                        pod.get("hostUsers") is False,
                    )
                )
        claims = [c for c in _app_template_claims(str(cid), persistence, release, variables)]
        yield Workload(
            rel,
            kind,
            f"{release}/{cid}",
            controllers.line_of(cid),
            strategy,
            strategy_line,
            explicit,
            tuple(containers),
            tuple(claims),
            APP_TEMPLATE,
            variables,
        )


def _app_template_claims(cid: str, persistence: Map, release: str, variables: Mapping[str, str]) -> Iterator[Claim]:
    for vid, item in persistence.items():
        if not isinstance(item, Map) or not _enabled(item, variables):
            continue
        ptype = resolve_scalar(item.get("type", "persistentVolumeClaim"), variables)
        if ptype != "persistentVolumeClaim":
            continue
        advanced = _map(item.get("advancedMounts"))
        if advanced and not item.get("globalMounts") and cid not in advanced:
            continue
        existing = item.get("existingClaim")
        if existing is not None:
            name = resolve_scalar(existing, variables)
            if isinstance(name, str):
                name = name.replace("{{ .Release.Name }}", release).replace("{{.Release.Name}}", release)
            yield Claim(str(vid), persistence.line_of(vid), None if is_unresolved(name) else str(name), None)
            continue
        mode = resolve_scalar(item.get("accessMode", "ReadWriteOnce"), variables)
        modes = None if is_unresolved(mode) else (str(mode),)
        yield Claim(str(vid), persistence.line_of(vid), None, modes)


def _app_template_v1(rel: str, hr: Map, variables: Mapping[str, str]) -> Iterator[Workload]:
    """app-template 1.x (bjw-s common library 1.x): one ``controller`` (type, default deployment;
    strategy, default Recreate for a Deployment), the main container from ``image`` and
    ``securityContext``, the pod's from ``podSecurityContext``, raw ``initContainers`` and
    ``additionalContainers``; a ``persistence`` item counts only with ``enabled: true``."""
    spec = _map(hr.get("spec"))
    values = _map(spec.get("values"))
    release = str(resolve_scalar(spec.get("releaseName") or _map(hr.get("metadata")).get("name", "?"), variables))
    ctrl = _map(values.get("controller"))
    if not _enabled(ctrl, variables):
        return
    ctype = str(resolve_scalar(ctrl.get("type", "deployment"), variables)).lower()
    kind = _APP_TEMPLATE_KINDS.get(ctype, ctype.capitalize())
    explicit = "strategy" in ctrl
    raw = resolve_scalar(ctrl.get("strategy", _STRATEGY_DEFAULTS.get(ctype)), variables)
    strategy = None if raw is None or is_unresolved(raw) else str(raw)
    line = values.line_of("image")
    strategy_line = ctrl.line_of("strategy") if explicit else line
    pod_sc = _security(values.get("podSecurityContext"))
    containers = [
        Container("main", line, values.get("image"), line, _security(values.get("securityContext")), pod_sc, False)
    ]
    for key, init in (("initContainers", True), ("additionalContainers", False), ("sidecars", False)):
        group = values.get(key)
        items = group.items() if isinstance(group, Map) else enumerate(group) if isinstance(group, Seq) else []
        for name, item in items:
            if not isinstance(item, Map):
                continue
            where = group.line_of(name) if isinstance(group, Map | Seq) else line
            containers.append(
                Container(
                    str(item.get("name", name)),
                    where,
                    resolve_scalar(item.get("image"), variables),
                    item.line_of("image"),
                    _security(item.get("securityContext")),
                    pod_sc,
                    init,
                )
            )
    claims: list[Claim] = []
    persistence = _map(values.get("persistence"))
    for vid, item in persistence.items():
        if not isinstance(item, Map) or resolve_scalar(item.get("enabled", False), variables) not in (True, "true"):
            continue
        ptype = resolve_scalar(item.get("type", "pvc"), variables)
        if ptype not in ("pvc", "persistentVolumeClaim"):
            continue
        existing = item.get("existingClaim")
        if existing is not None:
            name = resolve_scalar(existing, variables)
            claims.append(Claim(str(vid), persistence.line_of(vid), None if is_unresolved(name) else str(name), None))
            continue
        mode = resolve_scalar(item.get("accessMode", "ReadWriteOnce"), variables)
        claims.append(Claim(str(vid), persistence.line_of(vid), None, None if is_unresolved(mode) else (str(mode),)))
    yield Workload(
        rel,
        kind,
        release,
        line,
        strategy,
        strategy_line,
        explicit,
        tuple(containers),
        tuple(claims),
        APP_TEMPLATE,
        variables,
    )
