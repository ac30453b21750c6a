"""What a bootstrap reads before it changes anything: settings, namespaces, secrets, the kubeconfig's cluster.

Everything here only reads local files (and decrypts SOPS files in memory). Every problem is a
one-line ``ConfigError``/``SecretError`` naming the file, release or field, raised before the first
command is sent — a bootstrap that would fail on its input must not start.

The ``bootstrap:`` section of ``homeops.yaml`` (all optional; defaults follow cluster-template)::

    bootstrap:
      helmfile: bootstrap/helmfile.yaml
      secrets: [bootstrap/sops-age.sops.yaml, ...]   # Secrets applied server-side before the releases
      appsDir: kubernetes/apps                       # one namespace per directory …
      namespaces: [flux-system, ...]                 # … or this list
      releaseTimeout: 900                            # seconds per release
      fluxTimeout: 600                               # FluxInstance / flux-system Ready within this
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from homeops.adapters import helmfile
from homeops.errors import ConfigError
from homeops.inventory.model import Inventory
from homeops.privatefs import write_private

INVENTORY_FILE = "homeops.yaml"
_NAMESPACE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@dataclass(frozen=True)
class BootstrapSettings:
    helmfile: Path
    secrets: tuple[Path, ...]
    apps_dir: Path | None
    namespaces: tuple[str, ...]  # explicit list; empty means "from apps_dir"
    release_timeout: float = 900.0
    flux_timeout: float = 600.0


def load_settings(inventory: Inventory) -> BootstrapSettings:
    """The ``bootstrap:`` section of the inventory's homeops.yaml, paths resolved against the inventory."""
    import yaml

    path = inventory.root / INVENTORY_FILE
    raw: Any = {}
    if path.is_file():
        raw = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("bootstrap") or {}
    if not isinstance(raw, dict):
        raise ConfigError("must be a mapping", file=str(path), field="bootstrap")
    known = {"helmfile", "secrets", "appsDir", "namespaces", "releaseTimeout", "fluxTimeout"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(
            f"unknown key {unknown[0]!r}", file=str(path), field="bootstrap", hint=f"known: {sorted(known)}"
        )

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
    return BootstrapSettings(
        helmfile=resolve(raw.get("helmfile", "bootstrap/helmfile.yaml"), "helmfile"),
        secrets=tuple(resolve(s, "secrets") for s in secrets),
        apps_dir=resolve(apps, "appsDir") if apps else None,
        namespaces=tuple(names),
        release_timeout=seconds("releaseTimeout", 900.0),
        flux_timeout=seconds("fluxTimeout", 600.0),
    )


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


def load_helmfile(settings: BootstrapSettings) -> helmfile.HelmfileSpec:
    """The bootstrap helmfile, refusing a missing file, a release without its chart/values, bad ``needs:``."""
    spec = helmfile.load_helmfile(settings.helmfile)
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
    if _normal(identity.server) != _normal(want):
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


@dataclass(frozen=True)
class SecretManifest:
    """A decrypted bootstrap Secret: its plaintext lives only here, in memory, and goes to kubectl on stdin."""

    path: Path
    namespace: str
    name: str
    text: str

    def __repr__(self) -> str:  # never the plaintext, not even in a traceback or a debugger
        return f"SecretManifest({str(self.path)!r}, {self.namespace}/{self.name})"


def decrypt_secrets(inventory: Inventory, settings: BootstrapSettings) -> list[SecretManifest]:
    """Decrypt every bootstrap SOPS file natively (no sops binary, no plaintext file); refuse any that fails."""
    import yaml

    from homeops.sops.api import decrypt_to_bytes

    out = []
    for path in settings.secrets:
        if not path.is_file():
            raise ConfigError(
                "bootstrap secret not found", file=str(path), hint="fix bootstrap.secrets in homeops.yaml"
            )
        text = decrypt_to_bytes(path, age_key_file=inventory.cluster.age_key).decode("utf-8")
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        for doc in docs:
            if not isinstance(doc, dict) or doc.get("kind") != "Secret" or not (doc.get("metadata") or {}).get("name"):
                raise ConfigError("every document must be a named Secret", file=str(path))
        first = docs[0]["metadata"] if docs else {}
        out.append(SecretManifest(path, str(first.get("namespace") or "flux-system"), str(first.get("name")), text))
    return out
