"""CloudNativePG ``Cluster`` status through kubectl (cli-interfaces.md §12; cloudnative-pg ``api/v1``).

* ``status.phase`` is a sentence: ``Setting up primary`` while the restore job runs (and forever
  when the restore fails: **a failing restore does not change the phase**), ``Waiting for the
  instances to become active``, ``Creating a new replica``, ``Cluster in healthy state`` when done,
  ``Cluster is unrecoverable and needs manual intervention`` when its PVCs are gone.
* Condition ``Ready`` is ``True``/``ClusterIsReady`` only when healthy.
* A cluster restoring on deploy has ``spec.bootstrap.recovery.source`` naming an ``externalClusters``
  entry; its object-store server name is the plugin's ``serverName`` (or ``barmanObjectStore.serverName``).

``kubectl cnpg status`` colours its values; automation reads the JSON instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeops.adapters._parse import UnexpectedOutput, parse_json_object
from homeops.adapters.kubectl import Kubectl, _condition, _items

CLUSTERS = "clusters.postgresql.cnpg.io"
BACKUPS = "backups.postgresql.cnpg.io"
HEALTHY = "Cluster in healthy state"
SETTING_UP_PRIMARY = "Setting up primary"
UNRECOVERABLE = "Cluster is unrecoverable and needs manual intervention"


def get_clusters(kctl: Kubectl, namespace: str | None = None) -> list[str]:
    return kctl.get_json(CLUSTERS, namespace=namespace, all_namespaces=namespace is None)


def get_cluster(kctl: Kubectl, namespace: str, name: str) -> list[str]:
    return kctl.get_json(CLUSTERS, name, namespace=namespace)


@dataclass(frozen=True)
class PgCluster:
    namespace: str
    name: str
    phase: str
    phase_reason: str
    instances: int
    ready_instances: int
    current_primary: str | None
    ready: bool  # condition Ready == True
    recovery_source: str | None  # spec.bootstrap.recovery.source: restores on deploy
    server_name: str | None  # the backup folder it restores from, when the spec says
    archive_server_name: str = ""  # the folder it archives WAL and backups into (plugin or in-tree; else its name)
    created: str = ""  # metadata.creationTimestamp

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    @property
    def healthy(self) -> bool:
        return self.phase == HEALTHY and self.ready

    @property
    def restoring(self) -> bool:
        return self.recovery_source is not None and not self.healthy

    @property
    def hopeless(self) -> bool:
        """No amount of waiting helps: a person must look."""
        return self.phase == UNRECOVERABLE

    def describe(self) -> str:
        text = self.phase or "no phase yet"
        if self.phase_reason:
            text += f" ({self.phase_reason})"
        return f"{text}; {self.ready_instances}/{self.instances} instances ready"


def parse_clusters(text: str) -> list[PgCluster]:
    what = "kubectl get clusters.postgresql.cnpg.io"
    out = []
    for item in _items(parse_json_object(text, what=what), what):
        meta = item.get("metadata") or {}
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise UnexpectedOutput(what, "a Cluster without metadata.name")
        spec = item.get("spec") or {}
        status = item.get("status") or {}
        recovery = ((spec.get("bootstrap") or {}).get("recovery")) or {}
        source = recovery.get("source") or None
        ready = _condition(item, "Ready") or {}
        out.append(
            PgCluster(
                namespace=str(meta.get("namespace", "")),
                name=name,
                phase=str(status.get("phase", "")),
                phase_reason=str(status.get("phaseReason", "")),
                instances=_int(spec.get("instances")),
                ready_instances=_int(status.get("readyInstances")),
                current_primary=status.get("currentPrimary") or None,
                ready=ready.get("status") == "True",
                recovery_source=source,
                server_name=_server_name(spec, source, name),
                archive_server_name=_archive_server_name(spec, name),
                created=str(meta.get("creationTimestamp", "")),
            )
        )
    return out


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _server_name(spec: dict[str, Any], source: str | None, cluster: str) -> str | None:
    if source is None:
        return None
    for ext in spec.get("externalClusters") or ():
        if isinstance(ext, dict) and ext.get("name") == source:
            plugin = ((ext.get("plugin") or {}).get("parameters")) or {}
            store = ext.get("barmanObjectStore") or {}
            # in-tree: serverName, else the external cluster's name; plugin: serverName, else this cluster's
            if ext.get("plugin"):
                return str(plugin.get("serverName") or cluster)
            return str(store.get("serverName") or source)
    return None


def _archive_server_name(spec: dict[str, Any], cluster: str) -> str:
    """Where this cluster writes: the WAL-archiver plugin's ``serverName`` (plugin-barman-cloud), else the
    in-tree ``backup.barmanObjectStore.serverName``, else the cluster's own name (cluster_funcs.go GetServerName)."""
    for plugin in spec.get("plugins") or ():
        if isinstance(plugin, dict) and (plugin.get("isWALArchiver") or plugin.get("name", "").startswith("barman")):
            name = (plugin.get("parameters") or {}).get("serverName")
            if name:
                return str(name)
    store = ((spec.get("backup") or {}).get("barmanObjectStore")) or {}
    return str(store.get("serverName") or cluster)


def backup_manifest(namespace: str, cluster: str, name: str) -> str:
    """An on-demand ``Backup`` through the barman-cloud plugin (what ``kubectl cnpg backup --method plugin``
    creates; cloudnative-pg ``api/v1/backup_types.go``), as JSON for ``kubectl create -f -``."""
    doc = {
        "apiVersion": "postgresql.cnpg.io/v1",
        "kind": "Backup",
        "metadata": {"name": Kubectl._name(name, "create"), "namespace": namespace},
        "spec": {
            "cluster": {"name": cluster},
            "method": "plugin",
            "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"},
        },
    }
    import json

    return json.dumps(doc, separators=(",", ":"), sort_keys=True)


def get_backups(kctl: Kubectl) -> list[str]:
    return kctl.get_json(BACKUPS, all_namespaces=True)


def parse_backups(text: str) -> dict[str, str]:
    """``ns/name`` → ``status.phase`` (``started``, ``running``, ``completed``, ``failed``) of each Backup."""
    what = "kubectl get backups.postgresql.cnpg.io"
    out = {}
    for item in _items(parse_json_object(text, what=what), what):
        meta = item.get("metadata") or {}
        out[f"{meta.get('namespace', '')}/{meta.get('name', '')}"] = str((item.get("status") or {}).get("phase", ""))
    return out
