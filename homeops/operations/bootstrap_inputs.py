"""What a bootstrap reads before it changes anything: settings, namespaces, secrets, the kubeconfig's cluster.

Everything here only reads local files (and decrypts SOPS files in memory). Every problem is a
one-line ``ConfigError``/``SecretError`` naming the file, release or field, raised before the first
command is sent — a bootstrap that would fail on its input must not start.

The ``bootstrap:`` section of ``homeops.yaml`` (all optional; defaults follow cluster-template)::

    bootstrap:
      helmfile: bootstrap/helmfile.yaml              # a file, or a helmfile.d/ folder
      crdsHelmfile: bootstrap/helmfile/crds.yaml     # CRDs of charts Flux installs later (optional)
      env: {CLUSTER: main}                           # environment for helmfile (requiredEnv) and its hooks
      secrets:                                       # objects applied server-side before the releases:
        - bootstrap/sops-age.sops.yaml               #   a SOPS file, a plain file, or a kustomize folder,
        - {path: bootstrap/kustomize, render: op inject}  # optionally piped through a command (in memory)
      appsDir: kubernetes/apps                       # one namespace per directory …
      namespaces: [flux-system, ...]                 # … or this list
      releaseTimeout: 900                            # seconds per release
      fluxTimeout: 600                               # FluxInstance / flux-system Ready within this
      apiEndpoint: vip                               # vip, or nodes: the VIP answers only once the CNI runs

The helmfiles are read by asking helmfile itself (``helmfile --file F build``, with ``env`` exported and
the kubeconfig passed): ``bases:``, release ``templates:``, Go templates and ``helmfile.d/`` parts mean
exactly what they mean to the helmfile that will sync them.
"""

from __future__ import annotations

import base64
import hashlib
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from homeops.adapters import helmfile
from homeops.engine.plan import StepParams
from homeops.errors import ConfigError
from homeops.inventory.model import Inventory
from homeops.inventory.schema import check_keys
from homeops.privatefs import write_private
from homeops.runners import Runner

INVENTORY_FILE = "homeops.yaml"
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


DEFAULT_NAMESPACE = "flux-system"  # where an object without metadata.namespace goes (cluster-template)


@dataclass(frozen=True)
class SecretSource:
    """One ``bootstrap.secrets`` entry: a file or kustomize folder, and the command its text is piped through."""

    path: Path
    render: tuple[str, ...] = ()


@dataclass(frozen=True)
class BootstrapSettings:
    helmfile: Path
    secrets: tuple[SecretSource, ...]
    apps_dir: Path | None
    namespaces: tuple[str, ...]  # explicit list; empty means "from apps_dir"
    release_timeout: float = 900.0
    flux_timeout: float = 600.0
    crds_helmfile: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    api_endpoint: str = "vip"


def load_settings(inventory: Inventory) -> BootstrapSettings:
    """The ``bootstrap:`` section of the inventory's homeops.yaml, paths resolved against the inventory."""
    import yaml

    path = inventory.root / INVENTORY_FILE
    raw: Any = {}
    if path.is_file():
        raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("bootstrap") or {}
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping", file=str(path), field="bootstrap")
    # The keys are the schema's alone (load_inventory checked them already; an inventory built
    # another way gets the same check and the same message here).
    check_keys({"bootstrap": raw}, file=str(path))

    def resolve(value: Any, field: str) -> Path:
        if not isinstance(value, str) or not value:
            raise ConfigError("must be a path", file=str(path), field=f"bootstrap.{field}")
        p = Path(value).expanduser()
        return p if p.is_absolute() else inventory.root / p

    def seconds(key: str, default: float) -> float:
        value = raw.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(
                f"must be a positive number of seconds, not {value!r}", file=str(path), field=f"bootstrap.{key}"
            )
        return float(value)

    secrets = raw.get("secrets", [])
    names = raw.get("namespaces", [])
    if not isinstance(secrets, list) or not isinstance(names, list):
        raise ConfigError("secrets and namespaces must be lists", file=str(path), field="bootstrap")
    for name in names:
        if not isinstance(name, str) or not _NAMESPACE.fullmatch(name):
            raise ConfigError(f"{name!r} is not a namespace name", file=str(path), field="bootstrap.namespaces")
    apps = raw.get("appsDir", "kubernetes/apps")
    env = raw.get("env") or {}
    if not isinstance(env, dict) or any(
        not isinstance(k, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) or isinstance(v, dict | list)
        for k, v in env.items()
    ):
        raise ConfigError(
            "must map variable names to values (e.g. CLUSTER: main)", file=str(path), field="bootstrap.env"
        )
    endpoint = raw.get("apiEndpoint", "vip")
    if endpoint not in ("vip", "nodes"):
        raise ConfigError(f"must be vip or nodes, not {endpoint!r}", file=str(path), field="bootstrap.apiEndpoint")
    crds = raw.get("crdsHelmfile")
    return BootstrapSettings(
        helmfile=resolve(raw.get("helmfile", "bootstrap/helmfile.yaml"), "helmfile"),
        secrets=tuple(_source(s, n, resolve, str(path)) for n, s in enumerate(secrets)),
        apps_dir=resolve(apps, "appsDir") if apps else None,
        namespaces=tuple(names),
        release_timeout=seconds("releaseTimeout", 900.0),
        flux_timeout=seconds("fluxTimeout", 600.0),
        crds_helmfile=resolve(crds, "crdsHelmfile") if crds is not None else None,
        env={k: "" if v is None else (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in env.items()},
        api_endpoint=str(endpoint),
    )


def _source(entry: Any, n: int, resolve: Any, file: str) -> SecretSource:
    where = f"bootstrap.secrets[{n}]"
    if isinstance(entry, str):
        return SecretSource(resolve(entry, "secrets"))
    if not isinstance(entry, dict) or "path" not in entry:  # its keys were checked by check_keys
        raise ConfigError("must be a path, or {path: …, render: …}", file=file, field=where)
    render = entry.get("render") or ()
    if isinstance(render, str):
        try:
            render = shlex.split(render)
        except ValueError as exc:
            raise ConfigError(f"render: {exc}", file=file, field=f"{where}.render") from None
    if not isinstance(render, list | tuple) or not all(isinstance(a, str) and a for a in render):
        raise ConfigError("render must be a command (e.g. op inject)", file=file, field=f"{where}.render")
    return SecretSource(resolve(entry["path"], "secrets"), tuple(render))


def namespaces(settings: BootstrapSettings) -> list[str]:
    """The namespaces the repo needs: the listed ones, else one per ``kubernetes/apps/*`` directory."""
    if settings.namespaces:
        return sorted(set(settings.namespaces))
    if settings.apps_dir is None or not settings.apps_dir.is_dir():
        return []
    out = []
    for entry in sorted(settings.apps_dir.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        if not _NAMESPACE.fullmatch(entry.name):
            raise ConfigError(
                f"directory name {entry.name!r} is not a valid namespace name", file=str(entry),
                hint="rename it, or list the namespaces under bootstrap.namespaces",
            )  # fmt: skip
        out.append(entry.name)
    return out


def namespace_manifest(names: list[str]) -> str:
    """The Namespace objects as one YAML stream (what ``kubectl create ns --dry-run=client -o yaml`` prints)."""
    return "".join(f"---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n" for name in names)


def helmfile_env(inventory: Inventory, settings: BootstrapSettings) -> dict[str, str]:
    """What helmfile runs with: ``bootstrap.env``, and KUBECONFIG for hooks (helm gets ``--kubeconfig``)."""
    return {**settings.env, "KUBECONFIG": str(inventory.cluster.kubeconfig)}


def load_helmfile(
    inventory: Inventory, settings: BootstrapSettings, runner: Runner, path: Path | None = None
) -> helmfile.HelmfileSpec:
    """A bootstrap helmfile as helmfile renders it (``helmfile build``); bad ``needs:`` refused here."""
    path = path or settings.helmfile
    if not path.exists():
        raise ConfigError("bootstrap helmfile not found", file=str(path), hint="create it or fix its path")
    spec = helmfile.run_build(
        runner, path, kubeconfig=inventory.cluster.kubeconfig, env=helmfile_env(inventory, settings)
    )
    # `helmfile build` does not read values files: a missing one would only fail mid-bootstrap.
    problems = helmfile.missing_files(spec)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more, hint="fix the helmfile or add the file, then run again")
    return spec


# ── the kubeconfig's cluster ────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class KubeconfigIdentity:
    """Which cluster a kubeconfig's current context talks to."""

    path: Path
    context: str
    cluster: str
    server: str
    ca_sha256: str | None  # of the decoded certificate-authority-data


def read_identity(path: Path) -> KubeconfigIdentity | None:
    """The current context's cluster of a kubeconfig file; ``None`` when the file does not exist."""
    import yaml

    if not path.exists():
        return None
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot be read as a kubeconfig: {' '.join(str(exc).split())[:120]}", file=str(path)
        ) from None
    if not isinstance(data, dict):
        raise ConfigError("is not a kubeconfig (not a mapping)", file=str(path))
    context_name = str(data.get("current-context") or "")
    contexts = {str(c.get("name")): c.get("context") or {} for c in data.get("contexts") or [] if isinstance(c, dict)}
    if not context_name and len(contexts) == 1:
        context_name = next(iter(contexts))
    context = contexts.get(context_name)
    if context is None:
        raise ConfigError(f"current-context {context_name!r} is not one of its contexts", file=str(path))
    cluster_name = str(context.get("cluster") or "")
    clusters = {str(c.get("name")): c.get("cluster") or {} for c in data.get("clusters") or [] if isinstance(c, dict)}
    cluster = clusters.get(cluster_name)
    if cluster is None:
        raise ConfigError(
            f"context {context_name!r} names cluster {cluster_name!r}, which it does not define", file=str(path)
        )
    ca = cluster.get("certificate-authority-data")
    digest = None
    if ca:
        try:
            digest = hashlib.sha256(base64.b64decode(str(ca), validate=False)).hexdigest()
        except ValueError:
            raise ConfigError("certificate-authority-data is not base64", file=str(path), field=cluster_name) from None
    return KubeconfigIdentity(path, context_name, cluster_name, str(cluster.get("server") or ""), digest)


def _normal(endpoint: str) -> str:
    return endpoint.rstrip("/").lower()


def check_identity(
    inventory: Inventory, identity: KubeconfigIdentity | None, *, expected_ca: str | None = None
) -> None:
    """Refuse a kubeconfig that talks to another cluster than the inventory's (endpoint, then CA)."""
    if identity is None:
        return
    want = inventory.cluster.endpoint
    # bootstrap.apiEndpoint: nodes — until the CNI serves the VIP, the kubeconfig names a control plane
    own = {_normal(want), *(_normal(f"https://{n.ip}:6443") for n in inventory.control_planes)}
    if _normal(identity.server) not in own:
        raise ConfigError(
            f"points at {identity.server} (context {identity.context}, cluster {identity.cluster}), not this "
            f"inventory's {want} (cluster {inventory.cluster.name})",
            file=str(identity.path),
            hint="it belongs to another cluster: move it away, or fix cluster.kubeconfig in homeops.yaml",
        )
    if expected_ca and identity.ca_sha256 and identity.ca_sha256 != expected_ca:
        raise ConfigError(
            f"has a different cluster CA (sha256 {identity.ca_sha256[:12]}…) than the one this inventory's cluster "
            f"was bootstrapped with ({expected_ca[:12]}…)",
            file=str(identity.path),
            hint="it belongs to another (or a rebuilt) cluster: move it away and fetch it again",
        )


def point_kubeconfig(path: Path, server: str) -> None:
    """Point the current context's cluster of a kubeconfig at ``server`` (atomically, 0600)."""
    import os

    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    identity = read_identity(path)
    assert identity is not None
    for cluster in data.get("clusters") or []:
        if isinstance(cluster, dict) and str(cluster.get("name")) == identity.cluster:
            cluster.setdefault("cluster", {})["server"] = server
    tmp = path.with_name(f".{path.name}.homeops-tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)
    os.replace(tmp, path)


def recorded_ca(inventory: Inventory) -> str | None:
    """The CA digest remembered from this cluster's first kubeconfig (``<stateDir>/bootstrap/cluster-ca``)."""
    path = inventory.state_dir / "bootstrap" / "cluster-ca"
    return path.read_text(encoding="utf-8").strip() or None if path.is_file() else None


def remember_ca(inventory: Inventory, digest: str) -> None:
    write_private(inventory.state_dir / "bootstrap" / "cluster-ca", digest + "\n", root=inventory.state_dir)


def check_kubeconfig(inventory: Inventory) -> KubeconfigIdentity | None:
    """The inventory's kubeconfig, refused when it is another cluster's; ``None`` when there is none yet."""
    identity = read_identity(inventory.cluster.kubeconfig)
    check_identity(inventory, identity, expected_ca=recorded_ca(inventory))
    return identity


# ── bootstrap secrets ─────────────────────────────────────────────────────────────────────────


# Kinds with no namespace: never given flux-system (a Namespace object is also a namespace to create).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding", "StorageClass",
        "PriorityClass", "ClusterSecretStore", "ClusterExternalSecret", "ClusterIssuer", "IngressClass",
        "PersistentVolume", "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
    }
)  # fmt: skip


@dataclass(frozen=True)
class SecretManifest:
    """One ``bootstrap.secrets`` entry, rendered: its plaintext lives only here, in memory, and goes to
    kubectl on stdin. Objects without ``metadata.namespace`` were given ``flux-system`` (so the plan
    says where each lands); ``namespaces`` are those it needs to exist first."""

    path: Path
    namespace: str
    name: str
    text: str
    objects: tuple[str, ...] = ()  # "Secret flux-system/sops-age", for the plan
    namespaces: tuple[str, ...] = ()
    secret_names: tuple[str, ...] = ()  # "flux-system/sops-age"
    declares: tuple[str, ...] = ()  # Namespace objects it applies itself (with its own labels/annotations)

    def __repr__(self) -> str:  # never the plaintext, not even in a traceback or a debugger
        return f"SecretManifest({str(self.path)!r}, {self.namespace}/{self.name})"


def _read_source(inventory: Inventory, source: SecretSource, runner: Runner) -> str:
    from homeops.adapters import kubectl as kc
    from homeops.sops.api import decrypt_to_bytes, is_sops_file

    path = source.path
    if path.is_dir():
        result = runner.run(kc.kustomize(path), timeout=120)
        if not result.ok:
            raise ConfigError(
                f"kubectl kustomize failed (exit {result.exit_code}): {result.last_error_line()}", file=str(path)
            )
        text = result.stdout
    elif path.is_file():
        if is_sops_file(path):
            text = decrypt_to_bytes(path, age_key_file=inventory.cluster.age_key).decode("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
    else:
        raise ConfigError("bootstrap secret not found", file=str(path), hint="fix bootstrap.secrets in homeops.yaml")
    if source.render:
        # e.g. `op inject`: the references resolve to values here, on stdin → stdout, never on disk
        result = runner.run(list(source.render), timeout=120, stdin=text)
        if not result.ok:
            raise ConfigError(
                f"render command {source.render[0]} failed (exit {result.exit_code}): {result.last_error_line()}",
                file=str(path),
                field="render",
            )
        text = result.stdout
    return text


def load_secrets(inventory: Inventory, settings: BootstrapSettings, runner: Runner) -> list[SecretManifest]:
    """Every bootstrap.secrets entry rendered in memory (SOPS decrypted natively, kustomize built, piped
    through its render command); refuse any that fails, or that holds an unnamed object."""
    import yaml

    out = []
    for source in settings.secrets:
        path = source.path
        text = _read_source(inventory, source, runner)
        try:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
        except yaml.YAMLError:
            raise ConfigError("is not valid YAML once rendered", file=str(path)) from None
        objects, needs, secrets, declares = [], [], [], []
        # Namespaces first, as kustomize's legacy order does: the objects after them land in them.
        docs.sort(key=lambda d: 0 if isinstance(d, dict) and d.get("kind") == "Namespace" else 1)
        for doc in docs:
            meta = doc.get("metadata") if isinstance(doc, dict) else None
            if not isinstance(meta, dict) or not doc.get("kind") or not meta.get("name"):
                raise ConfigError(
                    "every document must be a named Kubernetes object (kind, metadata.name)", file=str(path)
                )
            kind = str(doc["kind"])
            if kind not in CLUSTER_SCOPED:
                meta["namespace"] = str(meta.get("namespace") or DEFAULT_NAMESPACE)
                needs.append(meta["namespace"])
            elif kind == "Namespace":
                declares.append(str(meta["name"]))
            where = f"{meta['namespace']}/{meta['name']}" if "namespace" in meta else str(meta["name"])
            objects.append(f"{kind} {where}")
            if kind == "Secret":
                secrets.append(where)
        if not docs:
            raise ConfigError("holds no object", file=str(path))
        first = docs[0]["metadata"]
        out.append(
            SecretManifest(
                path,
                str(first.get("namespace") or DEFAULT_NAMESPACE),
                str(first.get("name")),
                yaml.safe_dump_all(docs, sort_keys=False),
                tuple(objects),
                tuple(n for n in dict.fromkeys(needs) if n not in declares),
                tuple(secrets),
                tuple(declares),
            )
        )
    return out


def decryption_secrets(settings: BootstrapSettings) -> list[tuple[Path, str]]:
    """The Secrets Flux Kustomizations decrypt SOPS with (``spec.decryption.secretRef``), where they are named."""
    import yaml

    if settings.apps_dir is None or not settings.apps_dir.parent.is_dir():
        return []
    found: list[tuple[Path, str]] = []
    for path in sorted(settings.apps_dir.parent.rglob("*.y*ml")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if "decryption" not in text:
            continue
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError:
            continue
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "Kustomization":
                continue
            spec = doc.get("spec") or {}
            decryption = spec.get("decryption") if isinstance(spec, dict) else None
            if not isinstance(decryption, dict):
                continue
            ref = decryption.get("secretRef")
            if isinstance(ref, dict) and ref.get("name") and str(decryption.get("provider", "sops")) == "sops":
                ns = str((doc.get("metadata") or {}).get("namespace") or DEFAULT_NAMESPACE)
                found.append((path, f"{ns}/{ref['name']}"))
    return found


def check_decryption_secret(settings: BootstrapSettings, manifests: list[SecretManifest]) -> None:
    """Refuse a bootstrap that would leave Flux unable to decrypt: the ``sops-age`` Secret must be applied."""
    have = {name for m in manifests for name in m.secret_names}
    for path, wanted in decryption_secrets(settings):
        if wanted not in have:
            raise ConfigError(
                f"a Flux Kustomization decrypts with Secret {wanted}, which no bootstrap.secrets entry creates",
                file=str(path),
                hint="add the SOPS age key Secret (e.g. bootstrap/sops-age.sops.yaml) to bootstrap.secrets",
            )


# ----------------------------------------------------------------------------------- step parameters
# The bootstrap kinds' own (``homeops.operations.bootstrap``); here, where the runbook reads them too.


@dataclass(frozen=True)
class SecretParams(StepParams):
    """The SOPS-encrypted manifest a ``bootstrap-secret`` step decrypts and applies."""

    tag = "bootstrap-secret"
    legacy_field = "artifact"
    path: str


@dataclass(frozen=True)
class ReleaseParams(StepParams):
    """The helmfile release a ``bootstrap-release`` step syncs."""

    tag = "bootstrap-release"
    legacy_field = "artifact"
    name: str
