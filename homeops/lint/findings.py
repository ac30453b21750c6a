"""A lint finding, and the rule names (exactly these; ``--rule`` and ``homeops.yaml`` use them)."""

from __future__ import annotations

from dataclasses import dataclass

RULES: dict[str, str] = {
    "rwo-recreate": "a Deployment with a ReadWriteOnce volume must use strategy Recreate",
    "statefulset-strategy": "a StatefulSet uses RollingUpdate, never Recreate or OnDelete",
    "no-namespace": "app resources never set metadata.namespace (the Flux targetNamespace decides)",
    "ks-target-namespace": "every Flux Kustomization that deploys an app sets spec.targetNamespace",
    "pinned-image": "never a latest or untagged image",
    "no-raw-secret": "no plain Secret (use an ExternalSecret or a SOPS-encrypted file)",
    "no-raw-configmap": "no raw ConfigMap (use configMapGenerator)",
    "no-substitutefrom-secret": "postBuild.substituteFrom never reads a Secret",
    "no-loadbalancer": "no type: LoadBalancer Service without an explicit exception",
    "rootless": "containers run as non-root (runAsNonRoot: true or a non-zero runAsUser; never UID 0)",
    "drop-all": "containers drop all capabilities (capabilities.drop: [ALL])",
    "sorted-resources": "kustomization.yaml resources are in alphabetical order",
    "yaml-header": "YAML files start with --- (SOPS-encrypted files are exempt: sops rewrites them without it)",
    "unread-workload": "a HelmRelease whose workloads homeops cannot read (so the pod rules could not judge it)",
    "shared-database": "never share a database between applications (two apps point at the same database)",
    "backup-coverage": "a PVC of a persistent StorageClass has a backup (ReplicationSource, kopiur, k8up, …)",
    "unreferenced": "a YAML file that no Flux Kustomization deploys (not judged by the other rules)",
}

# error: what the Critical Rules forbid outright; warning: hardening and hygiene; info: for the record.
# Only error and warning findings make repo.lint exit 1.
SEVERITY: dict[str, str] = {
    "rwo-recreate": "error",
    "statefulset-strategy": "error",
    "no-namespace": "error",
    "ks-target-namespace": "error",
    "pinned-image": "error",
    "no-raw-secret": "error",
    "no-raw-configmap": "warning",
    "no-substitutefrom-secret": "error",
    "no-loadbalancer": "error",
    "rootless": "warning",
    "drop-all": "warning",
    "sorted-resources": "warning",
    "yaml-header": "warning",
    "unread-workload": "warning",
    "shared-database": "error",
    "backup-coverage": "warning",
    "unreferenced": "info",
    "parse-error": "error",
    "bad-ignore": "error",
}

# Not a rule that can be switched off: a file that does not parse is reported as this.
PARSE_ERROR = "parse-error"


@dataclass(frozen=True, order=True)
class Finding:
    """``path:line: rule message``; ``path`` is relative to the linted directory (POSIX)."""

    path: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule} {self.message}"

    @property
    def severity(self) -> str:
        return SEVERITY.get(self.rule, "error")

    def as_dict(self) -> dict[str, object]:
        return {
            "path": self.path,
            "line": self.line,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
        }
