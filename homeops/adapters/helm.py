"""helm: reading a release's lock state from its release Secrets, and the two ways out of it.

helm v3 (``pkg/action``, ``pkg/storage/driver/secrets.go``): each revision is a Secret
``sh.helm.release.v1.<name>.v<N>`` labelled ``owner=helm, name, status, version``. An install or upgrade
writes its revision as ``pending-install``/``pending-upgrade`` first; if the process dies before the end
the release stays locked and the next ``helm upgrade`` fails with "another operation
(install/upgrade/rollback) is in progress" (``upgrade.go`` ``errPending``). Helm's way out: roll a
pending upgrade back to the last deployed revision (``helm rollback``), uninstall a pending install
(nothing to roll back to).
"""

from __future__ import annotations

from pathlib import Path

from homeops.adapters._parse import UnexpectedOutput, parse_json_object, parse_time

TOOL = "helm"
PENDING = ("pending-install", "pending-upgrade", "pending-rollback")


def rollback(name: str, *, namespace: str, kubeconfig: Path | str, binary: str = TOOL) -> list[str]:
    return [binary, "rollback", name, "--namespace", namespace, "--kubeconfig", str(kubeconfig)]


def uninstall(name: str, *, namespace: str, kubeconfig: Path | str, binary: str = TOOL) -> list[str]:
    return [binary, "uninstall", name, "--namespace", namespace, "--kubeconfig", str(kubeconfig)]


def recovery(name: str, status: str, *, namespace: str, kubeconfig: Path | str) -> list[str]:
    """helm's advice for a locked release: uninstall a pending install, roll back anything else."""
    if status == "pending-install":
        return uninstall(name, namespace=namespace, kubeconfig=kubeconfig)
    return rollback(name, namespace=namespace, kubeconfig=kubeconfig)


def latest(text: str, name: str) -> tuple[int, str, float | None] | None:
    """(revision, status, written at — epoch seconds from the Secret's creationTimestamp) of the newest revision."""
    what = "kubectl get secrets -l owner=helm"
    data = parse_json_object(text, what=what)
    items = data.get("items")
    if not isinstance(items, list):
        raise UnexpectedOutput(what, "no items list")
    best: tuple[int, str, float | None] | None = None
    for item in items:
        meta = (item.get("metadata") or {}) if isinstance(item, dict) else {}
        labels = meta.get("labels") or {}
        if labels.get("owner") != "helm" or labels.get("name") != name:
            continue
        try:
            revision = int(labels.get("version", "0"))
        except ValueError:
            raise UnexpectedOutput(what, f"version label {labels.get('version')!r} is not a number") from None
        at = parse_time(meta.get("creationTimestamp"))
        if best is None or revision > best[0]:
            best = (revision, str(labels.get("status", "")), at)
    return best
