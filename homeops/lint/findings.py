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
    "yaml-header": "YAML files start with ---",
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

    def as_dict(self) -> dict[str, object]:
        return {"path": self.path, "line": self.line, "rule": self.rule, "message": self.message}
