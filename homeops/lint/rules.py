"""The rules: each looks at one YAML file (with the repository around it) and yields findings.

Rules judge what the cluster will run (see ``workloads``), resolving Flux variables from the
Kustomization that deploys the file where the value decides the rule; a value that stays unknown
is never reported.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator, Mapping
from typing import Any

from homeops.lint.findings import Finding
from homeops.lint.repo import (
    KUSTOMIZATION_FILES,
    FluxKustomization,
    Repo,
    YamlFile,
    is_flux_ks,
    is_kustomize_config,
)
from homeops.lint.substitute import is_unresolved, resolve_scalar
from homeops.lint.transforms import as_dict
from homeops.lint.workloads import (
    Claim,
    Container,
    Workload,
    app_template_shape,
    find_objects,
    is_app_template,
    workloads,
)
from homeops.lint.yamlload import Document, Map, Seq, load_documents

_RWO = {"ReadWriteOnce", "ReadWriteOncePod"}
_IMAGE_REF = re.compile(r"^[a-z0-9][a-z0-9._\-/:@]*$", re.IGNORECASE)


def _map(value: Any) -> Map:
    return value if isinstance(value, Map) else Map()


def sort_key(entry: str) -> tuple[str, ...]:
    """How ``resources:`` entries are compared: folder by folder (``app`` before ``app-x/``), without a
    leading ``./``, case-insensitively."""
    return tuple(part.casefold() for part in entry.removeprefix("./").rstrip("/").split("/"))


#: Why the pod rules could not read an app-template-like HelmRelease, by app_template_shape's answer.
_UNREAD = {
    "unknown": "uses app-template but its values have neither controllers (v2+) nor image (v1): the pod rules "
    "(images, strategy, security) could not judge it",
    "other-chart": "describes controllers like app-template, but its chart is not app-template and its defaults "
    "are unknown here: the pod rules could not judge it",
}


class FileLinter:
    """Runs every rule on one file, once per Flux Kustomization that deploys it (its variables differ)."""

    def __init__(self, repo: Repo, file: YamlFile) -> None:
        self.repo = repo
        self.file = file
        self.contexts: list[FluxKustomization | None] = list(repo.reached_by(file.rel)) or [None]

    def _f(self, line: int, rule: str, message: str) -> Finding:
        return Finding(self.file.rel, line, rule, message)

    def run(self) -> Iterator[Finding]:
        yield from self.yaml_header()
        if self.file.path.name in KUSTOMIZATION_FILES:
            for doc in self.file.docs:
                if isinstance(doc.data, Map) and (is_kustomize_config(doc.data) or "apiVersion" not in doc.data):
                    yield from self.sorted_resources(doc.data)
                    yield from self.kustomize_inputs(doc.data)
        for doc in self.file.objects():
            data = doc.data
            if not isinstance(data, Map):
                continue
            yield from self.no_namespace(data)
            yield from self.raw_objects(data)
            if is_flux_ks(data):
                yield from self.flux_kustomization(data)
            if data["kind"] == "HelmRelease":
                yield from self.helm_values(data)
                yield from self.chart_secrets(data)
                yield from self.unread(data)
            for ctx in self.contexts:
                variables = ctx.variables if ctx else {}
                for workload in workloads(self.repo, self.file, doc, variables):
                    yield from self.workload(workload, ctx)
            if not self._is_pod_source(data):
                yield from self.generic_images(data)

    # ---- file ------------------------------------------------------------------------------------

    def yaml_header(self) -> Iterator[Finding]:
        if is_sops_file(self.file):
            return  # sops rewrites the file and drops a leading '---': nobody can comply
        first = next((ln for ln in self.file.text.splitlines() if ln.strip()), "")
        if not first.startswith("---"):
            why = "a comment comes before it" if first.lstrip().startswith("#") else "it is missing"
            yield self._f(1, "yaml-header", f"file does not start with '---' ({why})")

    # ---- metadata ----------------------------------------------------------------------------------

    def _inherits_namespace(self, data: Map) -> bool:
        """Would a metadata.namespace here override a Flux targetNamespace? (Where no Flux Kustomization
        deploys the file — a partial tree — any non-Flux object under an ``apps/`` folder counts.)"""
        reached = self.repo.reached_by(self.file.rel)
        if reached:
            return any(ks.target_namespace for ks in reached)
        return not is_flux_ks(data) and "apps" in self.file.rel.split("/")[:-1]

    def no_namespace(self, data: Map) -> Iterator[Finding]:
        if is_kustomize_config(data) or not self._inherits_namespace(data):
            return
        metadata = _map(data.get("metadata"))
        if "namespace" in metadata:
            yield self._f(
                metadata.line_of("namespace"),
                "no-namespace",
                f"{data['kind']} '{metadata.get('name', '?')}' sets metadata.namespace "
                f"({metadata['namespace']}); leave it to the Flux Kustomization's targetNamespace",
            )

    def raw_objects(self, data: Map) -> Iterator[Finding]:
        kind, api = data["kind"], data["apiVersion"]
        name = _map(data.get("metadata")).get("name", "?")
        if api == "v1" and kind == "Secret" and "sops" not in data and _holds_secret(data):
            yield self._f(
                data.line_of("kind"), "no-raw-secret", f"Secret '{name}' is plain; use an ExternalSecret or SOPS"
            )
        if api == "v1" and kind == "ConfigMap":
            yield self._f(
                data.line_of("kind"), "no-raw-configmap", f"ConfigMap '{name}' is raw; use configMapGenerator"
            )
        if api == "v1" and kind == "Service":
            spec = _map(data.get("spec"))
            if any(resolve_scalar(spec.get("type"), self._vars(c)) == "LoadBalancer" for c in self.contexts):
                yield self._f(spec.line_of("type"), "no-loadbalancer", f"Service '{name}' is type LoadBalancer")
        elif kind != "HelmRelease" and not is_kustomize_config(data):
            # operators that make Services from their own resources: CNPG managed.services...serviceTemplate,
            # Dragonfly serviceSpec, Crunchy PostgresCluster service / pgBouncer service, …
            for node, path in _walk_maps(data.get("spec"), ("spec",)):
                if not any("service" in part.lower() for part in path):
                    continue
                if any(resolve_scalar(node.get("type"), self._vars(c)) == "LoadBalancer" for c in self.contexts):
                    yield self._f(
                        node.line_of("type"),
                        "no-loadbalancer",
                        f"{kind} '{name}' makes a LoadBalancer Service ({'.'.join(path)}.type)",
                    )
        if is_flux_ks(data):
            yield from self._patches_lb(_map(data.get("spec")).get("patches"), f"Flux Kustomization '{name}'")

    # ---- what kustomize adds: patches and generators -----------------------------------------------

    def kustomize_inputs(self, config: Map) -> Iterator[Finding]:
        yield from self._patches_lb(config.get("patches"), self.file.rel)
        legacy = config.get("patchesStrategicMerge")
        if isinstance(legacy, Seq):
            as_patches = Seq()
            as_patches.line, as_patches.item_lines = legacy.line, legacy.item_lines
            for item in legacy:
                # an entry is a file path, or an inline patch (a string holding YAML)
                as_patches.append({"patch": item} if isinstance(item, str) and "\n" in item else {"path": item})
            yield from self._patches_lb(as_patches, self.file.rel)
        generators = config.get("secretGenerator")
        for gen in generators if isinstance(generators, Seq) else []:
            if not isinstance(gen, Map):
                continue
            gname = gen.get("name", "?")
            literals = gen.get("literals")
            if isinstance(literals, Seq) and any(_is_plain_value(str(x).partition("=")[2]) for x in literals):
                yield self._f(
                    gen.line_of("literals"),
                    "no-raw-secret",
                    f"secretGenerator '{gname}' has literals: the values sit in git in plain text; "
                    "use an ExternalSecret or a SOPS-encrypted env file",
                )
            for key in ("files", "envs"):
                entries = gen.get(key)
                for index, entry in enumerate(entries if isinstance(entries, Seq) else []):
                    if not isinstance(entry, str):
                        continue
                    target = self.file.path.parent / entry.split("=", 1)[-1]
                    if ".sops." in target.name:
                        continue
                    try:
                        content = target.read_text(encoding="utf-8", errors="replace")
                    except OSError:
                        continue  # a missing file is repo.validate's to report
                    if "ENC[" in content or "sops" in content:
                        continue  # SOPS-encrypted: Flux decrypts it (kustomize-controller DecryptSources)
                    if content.strip():
                        yield self._f(
                            entries.line_of(index) if isinstance(entries, Seq) else gen.line,
                            "no-raw-secret",
                            f"secretGenerator '{gname}' reads {entry}, which is not SOPS-encrypted",
                        )

    def _patches_lb(self, patches: Any, owner: str) -> Iterator[Finding]:
        """LoadBalancers a kustomize/Flux patch makes: an inline patch or a ``path:`` patch file,
        strategic-merge or JSON 6902."""
        if not isinstance(patches, Seq):
            return
        for index, patch in enumerate(patches):
            if not isinstance(patch, dict):
                continue
            target = as_dict(patch.get("target"))
            docs: list[Document] = []
            where_rel, base_line = self.file.rel, 0
            if isinstance(patch.get("patch"), str):
                loaded = load_documents(patch["patch"])
                docs = loaded if isinstance(loaded, list) else []
                base_line = patch.line_of("patch") if isinstance(patch, Map) else patches.line_of(index)
            elif isinstance(patch.get("path"), str):
                rel = self.repo.rel(self.file.path.parent / patch["path"])
                if rel is None or rel not in self.repo.files:
                    continue
                docs, where_rel = self.repo.files[rel].docs, rel
            for doc in docs:
                for line, what in _lb_in_patch(doc.data, target):
                    yield Finding(
                        where_rel,
                        base_line + line if where_rel == self.file.rel else line,
                        "no-loadbalancer",
                        f"a patch of {owner} makes a LoadBalancer Service ({what})",
                    )

    @staticmethod
    def _vars(ctx: FluxKustomization | None) -> Mapping[str, str]:
        return ctx.variables if ctx else {}

    # ---- Flux / kustomize ------------------------------------------------------------------------

    def flux_kustomization(self, data: Map) -> Iterator[Finding]:
        spec = _map(data.get("spec"))
        name = _map(data.get("metadata")).get("name", "?")
        post = _map(spec.get("postBuild"))
        sources = post.get("substituteFrom")
        if isinstance(sources, Seq):
            for index, source in enumerate(sources):
                if isinstance(source, Map) and source.get("kind") == "Secret":
                    yield self._f(
                        sources.line_of(index),
                        "no-substitutefrom-secret",
                        f"Kustomization '{name}' substitutes from Secret '{source.get('name', '?')}'",
                    )
        # An app's Kustomization is deployed by another one (cluster-apps); the root ones that Flux's own
        # bootstrap applies (flux/cluster, flux/meta) are not apps. Linting apps/ alone: by folder.
        is_app_ks = bool(self.repo.reached_by(self.file.rel)) or "apps" in self.file.rel.split("/")[:-1]
        effective = self._effective_ks(data)
        target = effective.target_namespace if effective is not None else spec.get("targetNamespace")
        if is_app_ks and not target and not self._fans_out(data):
            yield self._f(
                data.line_of("spec"),
                "ks-target-namespace",
                f"Flux Kustomization '{name}' sets no spec.targetNamespace",
            )

    def _effective_ks(self, data: Map) -> FluxKustomization | None:
        return next((ks for ks in self.repo.flux if ks.data is data), None)

    def _fans_out(self, data: Map) -> bool:
        """A Kustomization that deploys other Flux Kustomizations (cluster-apps) sets namespaces per folder."""
        for index, ks in enumerate(self.repo.flux):
            if ks.data is data:
                return any(
                    is_flux_ks(doc.data)
                    for rel in self.repo.reach.get(index, frozenset())
                    for doc in self.repo.files[rel].docs
                )
        return False

    def sorted_resources(self, data: Map) -> Iterator[Finding]:
        resources = data.get("resources")
        if not isinstance(resources, Seq):
            return
        entries = [(i, r) for i, r in enumerate(resources) if isinstance(r, str)]
        for (_, before), (index, entry) in itertools.pairwise(entries):
            if sort_key(entry) < sort_key(before):
                yield self._f(
                    resources.line_of(index),
                    "sorted-resources",
                    f"resources are not in alphabetical order: '{entry}' comes after '{before}' "
                    "(inv repo.lint --fix-order)",
                )
                return

    # ---- HelmRelease values that are not pods -----------------------------------------------------

    def helm_values(self, data: Map) -> Iterator[Finding]:
        values = _map(_map(data.get("spec")).get("values"))
        name = _map(data.get("metadata")).get("name", "?")
        for node, path in _walk_maps(values, ()):
            if "type" not in node:
                continue
            if any(resolve_scalar(node.get("type"), self._vars(c)) == "LoadBalancer" for c in self.contexts):
                where = ".".join(path) or "values"
                yield self._f(
                    node.line_of("type"),
                    "no-loadbalancer",
                    f"HelmRelease '{name}' makes a LoadBalancer Service (values.{where})",
                )

    def chart_secrets(self, data: Map) -> Iterator[Finding]:
        """app-template ``secrets:``: the chart renders them as plain Secrets from values in git."""
        if not any(is_app_template(self.repo, data, self._vars(c)) for c in self.contexts):
            return
        secrets = _map(_map(_map(data.get("spec")).get("values")).get("secrets"))
        for sid, item in secrets.items():
            if not isinstance(item, Map) or item.get("enabled") is False:
                continue
            for key in ("stringData", "data"):
                values = item.get(key)
                if isinstance(values, Map) and any(_is_plain_value(v) for v in values.values()):
                    yield self._f(
                        item.line_of(key),
                        "no-raw-secret",
                        f"HelmRelease '{_map(data.get('metadata')).get('name', '?')}' values.secrets.{sid}.{key} "
                        "puts secret values in git; use an ExternalSecret or SOPS",
                    )

    def unread(self, data: Map) -> Iterator[Finding]:
        for ctx in self.contexts:
            why = _UNREAD.get(app_template_shape(self.repo, data, self._vars(ctx)) or "")
            if why is not None:
                name = _map(data.get("metadata")).get("name", "?")
                yield self._f(data.line_of("spec"), "unread-workload", f"HelmRelease '{name}' {why}")
                return

    def _is_pod_source(self, data: Map) -> bool:
        if data["kind"] == "HelmRelease":
            return any(is_app_template(self.repo, data, self._vars(c)) for c in self.contexts)
        return data["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "CronJob", "Pod")

    def generic_images(self, data: Map) -> Iterator[Finding]:
        """``image:`` strings and ``{repository, tag}`` maps in other objects and charts' values."""
        if is_kustomize_config(data) or data["apiVersion"].startswith("image.toolkit.fluxcd.io/"):
            return  # Flux image automation names repositories without a tag on purpose
        for node, _ in _walk_maps(data, ()):
            image = node.get("image")
            tag_beside = any("tag" in str(k).lower() or "version" in str(k).lower() for k in node if k != "image")
            if isinstance(image, str) and not tag_beside:
                problem = self._image_problem(image)
                if problem:
                    yield self._f(node.line_of("image"), "pinned-image", problem)
            if isinstance(node.get("repository"), str) and "tag" in node:
                tag = self._resolve_all(node.get("tag"))
                if isinstance(tag, str) and tag.split("@")[0] == "latest" and "@" not in tag:
                    yield self._f(node.line_of("tag"), "pinned-image", f"image {node['repository']} uses tag latest")

    def _resolve_all(self, value: Any) -> Any:
        resolved = {resolve_scalar(value, self._vars(c)) for c in self.contexts} if isinstance(value, str) else {value}
        return resolved.pop() if len(resolved) == 1 else value

    def _image_problem(self, image: str, *, known_image: bool = False) -> str | None:
        image = str(self._resolve_all(image)).strip()
        if not image or is_unresolved(image) or not _IMAGE_REF.match(image):
            return None
        if not known_image and "/" not in image and "." not in image and ":" not in image:
            return None  # a bare word: not recognisably an image reference
        name, _, digest = image.partition("@")
        last = name.rsplit("/", 1)[-1]
        tag = last.split(":", 1)[1] if ":" in last else ""
        if digest:
            return None
        if not tag:
            return f"image {image} has no tag (pin a version)"
        if tag == "latest":
            return f"image {image} uses tag latest (pin a version)"
        return None

    # ---- workloads -------------------------------------------------------------------------------

    def workload(self, w: Workload, ctx: FluxKustomization | None) -> Iterator[Finding]:
        if w.kind == "StatefulSet" and w.strategy is not None and w.strategy != "RollingUpdate":
            yield self._f(
                w.strategy_line,
                "statefulset-strategy",
                f"StatefulSet '{w.name}' uses strategy {w.strategy}; StatefulSets use RollingUpdate",
            )
        if w.kind == "Deployment" and w.strategy == "RollingUpdate":
            for claim in w.claims:
                modes = self._access_modes(claim, ctx)
                if modes and set(modes) <= _RWO:
                    what = f"PVC '{claim.name}'" if claim.name else "a PVC it creates"
                    how = "explicit" if w.strategy_explicit else "default"
                    yield self._f(
                        w.strategy_line,
                        "rwo-recreate",
                        f"Deployment '{w.name}' uses RollingUpdate ({how}) with ReadWriteOnce volume "
                        f"'{claim.volume}' ({what}); set strategy: Recreate",
                    )
                    break
        for container in w.containers:
            yield from self._container(w, container)

    def _container(self, w: Workload, c: Container) -> Iterator[Finding]:
        label = f"container '{c.name}' of {w.kind} '{w.name}'"
        userns = " (hostUsers: false limits it to the pod's user namespace)" if c.user_namespace else ""
        yield from self._pinned(w, c, label)
        sc, pod = c.security, c.pod_security
        uid = resolve_scalar(sc["runAsUser"] if "runAsUser" in sc else pod.get("runAsUser"), w.variables)
        nonroot = resolve_scalar(sc["runAsNonRoot"] if "runAsNonRoot" in sc else pod.get("runAsNonRoot"), w.variables)
        uid_int = _as_int(uid)
        if uid_int == 0:
            yield self._f(c.line, "rootless", f"{label} runs as UID 0{userns}")
        elif nonroot in (True, "true") or (uid_int is not None and uid_int > 0):
            pass
        elif is_unresolved(uid) or is_unresolved(nonroot):
            pass  # decided by a variable that cannot be resolved: not reported
        elif nonroot in (False, "false"):
            yield self._f(c.line, "rootless", f"{label} sets runAsNonRoot: false")
        else:
            yield self._f(
                c.line, "rootless", f"{label} sets neither runAsNonRoot: true nor a non-zero runAsUser{userns}"
            )
        caps = sc.get("capabilities")
        drop = caps.get("drop") if isinstance(caps, Mapping) else None
        if not (isinstance(drop, list) and any(str(d).upper() == "ALL" for d in drop)):
            yield self._f(c.line, "drop-all", f"{label} does not drop all capabilities (capabilities.drop: [ALL])")

    def _pinned(self, w: Workload, c: Container, label: str) -> Iterator[Finding]:
        image = c.image
        if isinstance(image, str):
            problem = self._image_problem(image, known_image=True)
            if problem:
                yield self._f(c.image_line, "pinned-image", f"{label}: {problem}")
            elif not image.strip():
                yield self._f(c.image_line, "pinned-image", f"{label} has no image")
            return
        if not isinstance(image, Mapping):
            return
        repo_name = resolve_scalar(image.get("repository"), w.variables)
        tag = resolve_scalar(image.get("tag"), w.variables)
        digest = image.get("digest")
        if is_unresolved(tag) or is_unresolved(repo_name) or digest:
            return
        line = image.line_of("tag") if isinstance(image, Map) and "tag" in image else c.image_line
        text = "" if tag is None else str(tag).strip()
        if not text:
            yield self._f(line, "pinned-image", f"{label}: image {repo_name} has no tag (pin a version)")
        elif text.split("@")[0] == "latest" and "@" not in text:
            yield self._f(line, "pinned-image", f"{label}: image {repo_name} uses tag latest (pin a version)")

    def _access_modes(self, claim: Claim, ctx: FluxKustomization | None) -> tuple[str, ...] | None:
        if claim.access_modes is not None:
            return claim.access_modes
        if claim.name is None:
            return None
        # The PVC made in the same Flux Kustomization (an app folder or a volsync/kopia component) first.
        if ctx is not None:
            index = next(i for i, k in enumerate(self.repo.flux) if k is ctx)
            for rel in sorted(self.repo.reach.get(index, frozenset())):
                for doc in self.repo.files[rel].objects():
                    modes = _pvc_modes(doc.data, claim.name, ctx.variables)
                    if modes is not None:
                        return modes
        for rel, data in self.repo.objects_of_kind("PersistentVolumeClaim"):
            for variables in self.repo.variables_for(rel):
                modes = _pvc_modes(data, claim.name, variables)
                if modes is not None:
                    return modes
        return None


def is_sops_file(file: YamlFile) -> bool:
    return ".sops." in file.path.name or any(
        isinstance(d.data, Map) and isinstance(d.data.get("sops"), Map) for d in file.docs
    )


def _is_plain_value(value: Any) -> bool:
    """A value that holds a secret in git: not empty, not a reference resolved elsewhere (a Flux
    variable, a Helm template, a 1Password ``op://`` reference rendered by ``op inject``)."""
    if value is None or isinstance(value, bool):
        return False
    text = str(value).strip()
    return bool(text) and not is_unresolved(text) and not text.startswith("op://")


def _holds_secret(data: Map) -> bool:
    """A Secret worth reporting: service-account-token Secrets are filled in by Kubernetes, and an empty
    placeholder (or one made only of references) holds nothing secret."""
    if str(data.get("type", "")) == "kubernetes.io/service-account-token":
        return False
    for key in ("data", "stringData"):
        values = data.get(key)
        if isinstance(values, Mapping) and any(_is_plain_value(v) for v in values.values()):
            return True
    return False


def _lb_in_patch(data: Any, target: Mapping[str, Any]) -> Iterator[tuple[int, str]]:
    """(line, where) of each ``type: LoadBalancer`` a patch document sets."""
    if isinstance(data, list):  # JSON 6902
        for index, op in enumerate(data):
            if not isinstance(op, Mapping) or op.get("op") not in ("add", "replace"):
                continue
            path, value = str(op.get("path", "")), op.get("value")
            line = data.line_of(index) if isinstance(data, Seq) else 1
            if path.endswith("/type") and value == "LoadBalancer":
                yield line, f"{target.get('kind', 'object')} {path}"
            elif isinstance(value, Mapping):
                for node, sub in _walk_maps(value, (path,)):
                    if node.get("type") == "LoadBalancer":
                        yield line, f"{target.get('kind', 'object')} {'/'.join(sub)}/type"
        return
    if not isinstance(data, Map):
        return
    kind = data.get("kind") or target.get("kind")
    for node, where in _walk_maps(data, ()):
        if node.get("type") != "LoadBalancer":
            continue
        if kind == "Service" or kind == "HelmRelease" or any("service" in p.lower() for p in where):
            yield node.line_of("type"), f"{kind or 'object'} {'.'.join(where)}.type"


def _pvc_modes(data: Any, name: str, variables: Mapping[str, str]) -> tuple[str, ...] | None:
    if not isinstance(data, Map) or data.get("kind") != "PersistentVolumeClaim":
        return None
    if resolve_scalar(_map(data.get("metadata")).get("name"), variables) != name:
        return None
    modes = _map(data.get("spec")).get("accessModes")
    if not isinstance(modes, list):
        return None
    resolved = [resolve_scalar(m, variables) for m in modes]
    if any(is_unresolved(m) for m in resolved):
        return None
    return tuple(str(m) for m in resolved)


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _walk_maps(node: Any, path: tuple[str, ...]) -> Iterator[tuple[Map, tuple[str, ...]]]:
    if isinstance(node, Map):
        yield node, path
        for key, value in node.items():
            yield from _walk_maps(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk_maps(value, (*path, str(index)))


__all__ = ["FileLinter", "find_objects", "sort_key"]
