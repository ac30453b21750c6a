"""Rules that need the whole repository at once: ``shared-database`` and ``backup-coverage``.

``shared-database`` (the Critical Rules' "NEVER share databases between applications"): every
database an app points at — a ``postgres://…/db`` style URL, or a host and a database name set side
by side (``DB_HOST``/``POSTGRES_HOST``/``INIT_POSTGRES_HOST`` with ``DB_NAME``/``POSTGRES_DB``/
``INIT_POSTGRES_DBNAME``/``…__POSTGRES__MAINDB``) in a container's env or an ExternalSecret template
— keyed by (host, database). Two different apps (Flux Kustomizations) on one key are reported.
Sharing a database *server* (one CloudNativePG cluster, many databases) is fine and not reported.

``backup-coverage``: a PVC (a manifest, one app-template makes, a StatefulSet claim template) whose
StorageClass keeps data must be named by a backup in its namespace — a VolSync ``ReplicationSource``
(``sourcePVC``), a kopiur ``SnapshotPolicy`` (``sources[].pvc.name``), any Backup/Snapshot kind
naming it (``sourcePVC``, ``pvc``, ``claimName``, ``pvcName``), or a namespace-wide k8up
``Schedule`` / Velero ``Schedule``. Not judged: a PVC bound to a given PV (``volumeName``) or with
``storageClassName: ""`` (static volumes: their data lives elsewhere), a scratch class (``tmp``,
``scratch``, ``cache``, ``ephemeral`` in its name), a network share's class (``nfs``, ``smb``,
``cifs``: backed up on the NAS), a PVC a Longhorn recurring job selects (``recurring-job…``
labels), and a PVC annotated or labelled
``homeops.io/backup: "false"`` (the documented exemption; or an exception in the lint config).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from homeops.lint.findings import Finding
from homeops.lint.repo import FluxKustomization, Repo, YamlFile
from homeops.lint.substitute import is_unresolved, resolve_scalar
from homeops.lint.workloads import app_template_shape
from homeops.lint.yamlload import Map, Seq

_ENGINES = r"(?:DB|DATABASE|POSTGRES(?:QL)?|PG|MYSQL|MARIADB|MONGO(?:DB)?)"
_HOST_KEY = re.compile(rf"(?:^|_){_ENGINES}_*(?:HOST|HOSTNAME|SERVER|ADDR|ADDRESS)$")
_NAME_KEY = re.compile(rf"(?:^|_)(?:{_ENGINES}_*(?:NAME|DB|DATABASE|DBNAME|MAINDB|LOGDB)|DBNAME)$")
_URL = re.compile(
    r"^(?P<scheme>postgres(?:ql)?|mysql|mariadb|mongodb(?:\+srv)?)(?:\+\w+)?://(?:[^@/\s]*@)?"
    r"(?P<host>[^/:?\s]+)(?::\d+)?/(?P<db>[^?\s/]+)"
)
_SYSTEM_DBS = {"postgres", "template0", "template1", "admin", "mysql", "information_schema"}
_SCRATCH = re.compile(r"tmp|temp|scratch|cache|ephemeral|emptydir", re.IGNORECASE)
# a network share's data lives (and is backed up) on the NAS, not in the cluster
_SHARE = re.compile(r"nfs|smb|cifs", re.IGNORECASE)
EXEMPT = "homeops.io/backup"


def _map(value: Any) -> Map:
    return value if isinstance(value, Map) else Map()


@dataclass(frozen=True)
class DatabaseUse:
    file: str
    line: int
    app: str
    host: str
    database: str


def _app_of(repo: Repo, rel: str) -> tuple[str, str, dict[str, str]]:
    """(app, namespace, variables) of a file: the folder of the Flux Kustomization that deploys it (an
    app's folder may hold several, e.g. ``app`` and ``workers``: one app), else the file's folder."""
    reached = repo.reached_by(rel)
    if reached:
        ks = reached[0]
        folder = ks.file.rsplit("/", 1)[0] if "/" in ks.file else ks.name
        return folder.rsplit("/", 1)[-1], str(ks.target_namespace or ""), ks.variables
    parts = rel.split("/")
    folder = parts[-3] if len(parts) >= 3 and parts[-2] == "app" else parts[-2] if len(parts) >= 2 else rel
    return folder, "", {}


def _host(raw: str, namespace: str) -> str:
    host = raw.lower().removesuffix(".").removesuffix(".cluster.local").removesuffix(".svc")
    if "." not in host and namespace:
        host = f"{host}.{namespace}"
    return host


def _value(value: Any, variables: Mapping[str, str]) -> str | None:
    if isinstance(value, Mapping):
        value = value.get("value")
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    resolved = resolve_scalar(str(value), variables)
    return None if is_unresolved(resolved) else str(resolved).strip()


def _env_maps(data: Map) -> Iterator[Map]:
    """Env-like maps of one object: container env (app-template maps, manifest lists turned into
    maps) and ExternalSecret template data."""
    kind = data.get("kind")
    if kind == "ExternalSecret":
        template = _map(_map(_map(data.get("spec")).get("target")).get("template"))
        for key in ("data", "stringData"):
            if isinstance(template.get(key), Map):
                yield template[key]
        return
    for node in _maps(data):
        env = node.get("env")
        if isinstance(env, Map):
            yield env
        elif isinstance(env, Seq):
            as_map = Map()
            as_map.line = env.line
            for index, item in enumerate(env):
                if isinstance(item, Mapping) and isinstance(item.get("name"), str) and "value" in item:
                    as_map[item["name"]] = item["value"]
                    as_map.key_lines[item["name"]] = env.line_of(index)
            yield as_map


def _maps(node: Any) -> Iterator[Map]:
    if isinstance(node, Map):
        yield node
        for value in node.values():
            yield from _maps(value)
    elif isinstance(node, list):
        for value in node:
            yield from _maps(value)


def database_uses(repo: Repo, file: YamlFile) -> Iterator[DatabaseUse]:
    app, namespace, variables = _app_of(repo, file.rel)
    for doc in file.objects():
        if not isinstance(doc.data, Map):
            continue
        for env in _env_maps(doc.data):
            hosts: list[str] = []
            names: list[tuple[str, int]] = []
            for key, raw in env.items():
                norm = str(key).upper().replace("__", "_").replace("-", "_")
                value = _value(raw, variables)
                if not value:
                    continue
                match = _URL.match(value)
                if match:
                    yield DatabaseUse(
                        file.rel, env.line_of(key), app, _host(match["host"], namespace), match["db"].lower()
                    )
                elif _HOST_KEY.search(norm):
                    hosts.append(_host(value, namespace))
                elif _NAME_KEY.search(norm):
                    names.extend((n.lower(), env.line_of(key)) for n in re.split(r"[\s,]+", value) if n)
            for host in hosts[:1]:
                for name, line in names:
                    yield DatabaseUse(file.rel, line, app, host, name)


def shared_database(repo: Repo, files: list[YamlFile]) -> Iterator[Finding]:
    uses: dict[tuple[str, str], list[DatabaseUse]] = {}
    for file in files:
        for use in database_uses(repo, file):
            if use.database not in _SYSTEM_DBS and "{{" not in use.database:
                uses.setdefault((use.host, use.database), []).append(use)
    for (host, database), found in sorted(uses.items()):
        apps = sorted({u.app for u in found})
        if len(apps) < 2:
            continue
        for use in found:
            others = ", ".join(a for a in apps if a != use.app)
            yield Finding(
                use.file,
                use.line,
                "shared-database",
                f"app '{use.app}' uses database '{database}' on {host}, which {others} also uses; "
                "give each app its own database",
            )


# ---- backup-coverage --------------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    file: str
    line: int
    namespace: str
    names: tuple[str, ...]  # any of these names counts as covered (chart-made names vary by version)
    what: str
    storage_class: str | None


def _exempt(meta: Map) -> bool:
    labels = _map(meta.get("labels"))
    if any(str(k).startswith("recurring-job") for k in labels):
        return True  # Longhorn recurring backup jobs select PVCs by these labels
    for key in ("annotations", "labels"):
        if str(_map(meta.get(key)).get(EXEMPT, "")).lower() in ("false", "skip", "none", "no", "disabled"):
            return True
    return False


def _volumes(repo: Repo, file: YamlFile) -> Iterator[Volume]:
    reached: list[FluxKustomization | None] = [*repo.reached_by(file.rel)] or [None]
    for ctx in reached:
        namespace = str(ctx.target_namespace or "") if ctx else ""
        variables = ctx.variables if ctx else {}
        yield from _volumes_in(repo, file, namespace, variables, ctx)


def _volumes_in(
    repo: Repo, file: YamlFile, namespace: str, variables: Mapping[str, str], ctx: FluxKustomization | None
) -> Iterator[Volume]:
    for doc in file.objects():
        data = doc.data
        if not isinstance(data, Map):
            continue
        meta = _map(data.get("metadata"))
        ns = namespace or str(meta.get("namespace") or "")
        kind = data["kind"]
        if kind == "PersistentVolumeClaim" and data["apiVersion"] == "v1":
            spec = _map(data.get("spec"))
            name = resolve_scalar(meta.get("name"), variables)
            sc = resolve_scalar(spec.get("storageClassName"), variables) if "storageClassName" in spec else None
            if _exempt(meta) or spec.get("volumeName") or sc == "" or not isinstance(name, str):
                continue
            if is_unresolved(name):
                continue
            yield Volume(file.rel, data.line_of("kind"), ns, (name,), f"PVC '{name}'", _text(sc))
        elif kind == "StatefulSet":
            sts = str(resolve_scalar(meta.get("name"), variables))
            templates = _map(data.get("spec")).get("volumeClaimTemplates")
            if not isinstance(templates, Seq):
                continue
            for index, tpl in enumerate(templates):
                tmeta = _map(_map(tpl).get("metadata"))
                tname = str(resolve_scalar(tmeta.get("name"), variables))
                if _exempt(tmeta):
                    continue
                sc = resolve_scalar(_map(_map(tpl).get("spec")).get("storageClassName"), variables)
                yield Volume(
                    file.rel,
                    templates.line_of(index),
                    ns,
                    (f"{tname}-{sts}", tname),
                    f"StatefulSet '{sts}' claim template '{tname}'",
                    _text(sc),
                )
        elif kind == "HelmRelease" and app_template_shape(repo, data, variables) in ("v1", "v2"):
            spec = _map(data.get("spec"))
            release = str(resolve_scalar(spec.get("releaseName") or meta.get("name", "?"), variables))
            values = _map(spec.get("values"))
            persistence = _map(values.get("persistence"))
            v1 = not isinstance(values.get("controllers"), Map)
            for vid, item in persistence.items():
                if not isinstance(item, Map) or item.get("existingClaim") is not None:
                    continue
                enabled = resolve_scalar(item.get("enabled", not v1), variables)
                ptype = resolve_scalar(item.get("type", "pvc" if v1 else "persistentVolumeClaim"), variables)
                if enabled in (False, "false") or ptype not in ("pvc", "persistentVolumeClaim"):
                    continue
                if item.get("retain") is False or _exempt(item):
                    continue
                sc = resolve_scalar(item.get("storageClass"), variables)
                yield Volume(
                    file.rel,
                    persistence.line_of(vid),
                    ns,
                    (f"{release}-{vid}", release, str(vid)),
                    f"HelmRelease '{release}' persistence '{vid}' (a PVC the chart makes)",
                    _text(sc),
                )


def _text(value: Any) -> str | None:
    return None if value is None or is_unresolved(value) else str(value)


_PVC_KEYS = {"sourcePVC", "pvc", "claimName", "pvcName", "persistentVolumeClaim", "sourcePvc"}


def _backups(repo: Repo, files: list[YamlFile]) -> tuple[set[tuple[str, str]], set[str], bool]:
    """(namespace, PVC name) pairs a backup names; namespaces a k8up Schedule covers; whether a
    cluster-wide Velero Schedule covers every namespace."""
    named: set[tuple[str, str]] = set()
    whole_namespaces: set[str] = set()
    everything = False
    for file in files:
        contexts: list[FluxKustomization | None] = [*repo.reached_by(file.rel)] or [None]
        for ctx in contexts:
            namespace = str(ctx.target_namespace or "") if ctx else ""
            variables = ctx.variables if ctx else {}
            for doc in file.objects():
                data = doc.data
                if not isinstance(data, Map):
                    continue
                kind, api = str(data["kind"]), str(data["apiVersion"])
                ns = namespace or str(_map(data.get("metadata")).get("namespace") or "")
                if (api.startswith("k8up.io/") and kind in ("Schedule", "Backup")) or (
                    api.startswith("config.kio.kasten.io/") and kind == "Policy"
                ):
                    whole_namespaces.add(ns)
                    continue
                if api.startswith("velero.io/") and kind in ("Schedule", "Backup"):
                    included = _map(_map(data.get("spec")).get("template")).get("includedNamespaces") or _map(
                        data.get("spec")
                    ).get("includedNamespaces")
                    if not included or "*" in included:
                        everything = True
                    else:
                        whole_namespaces.update(str(n) for n in included)
                    continue
                if not (
                    kind == "ReplicationSource"
                    or "backup" in kind.lower()
                    or "snapshot" in kind.lower()
                    or api.startswith("kopiur.")
                ):
                    continue
                for node in _maps(data.get("spec")):
                    for key in _PVC_KEYS & set(node):
                        value = node[key]
                        if isinstance(value, Mapping):
                            value = value.get("name") or value.get("claimName")
                        resolved = resolve_scalar(value, variables)
                        if isinstance(resolved, str) and not is_unresolved(resolved):
                            named.add((ns, resolved))
    return named, whole_namespaces, everything


def backup_coverage(repo: Repo, files: list[YamlFile]) -> Iterator[Finding]:
    named, whole_namespaces, everything = _backups(repo, files)
    if everything:
        return
    seen: set[tuple[str, int, str]] = set()
    for file in files:
        for volume in _volumes(repo, file):
            if volume.storage_class is not None and (
                _SCRATCH.search(volume.storage_class) or _SHARE.search(volume.storage_class)
            ):
                continue
            if volume.namespace in whole_namespaces:
                continue
            if any((volume.namespace, n) in named or ("", n) in named for n in volume.names):
                continue
            key = (volume.file, volume.line, volume.what)
            if key in seen:
                continue
            seen.add(key)
            sc = f"StorageClass '{volume.storage_class}'" if volume.storage_class else "the default StorageClass"
            yield Finding(
                volume.file,
                volume.line,
                "backup-coverage",
                f"{volume.what} ({sc}) has no backup: no ReplicationSource/kopiur policy/k8up or Velero "
                f'schedule names it; add one, or annotate it {EXEMPT}: "false" if its data can be lost',
            )
