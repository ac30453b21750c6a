"""Effective workload semantics on small trees: plain manifests and app-template corner cases."""

from __future__ import annotations

from pathlib import Path

from homeops.lint.engine import lint_repo
from homeops.lint.findings import RULES
from tests.lint.lint_helpers import write

SECURE_POD = """
      securityContext: {runAsNonRoot: true}
      containers:
        - name: app
          image: ghcr.io/example/app:1.0.0
          securityContext: {capabilities: {drop: [ALL]}}
"""
PVC = """---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [{mode}]
"""


def found(root: Path, *rules: str) -> list[tuple[str, int, str]]:
    # backup-coverage has its own tests (test_lint_effective.py); these fixtures' PVCs have no backup
    wanted = rules or tuple(r for r in RULES if r != "backup-coverage")
    return [(f.path, f.line, f.rule) for f in lint_repo(root, rules=wanted).findings]


def test_a_plain_deployment_defaults_to_rollingupdate_so_an_rwo_claim_is_reported(tmp_path: Path) -> None:
    deployment = (
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n{strategy}  template:\n"
        "    spec:\n      volumes:\n        - name: d\n          persistentVolumeClaim: {claimName: data}\n"
        + SECURE_POD
    )
    write(tmp_path, "pvc.yaml", PVC.format(mode="ReadWriteOnce"))
    write(tmp_path, "deploy.yaml", deployment.replace("{strategy}", ""))
    assert found(tmp_path) == [("deploy.yaml", 2, "rwo-recreate")]
    write(tmp_path, "deploy.yaml", deployment.replace("{strategy}", "  strategy:\n    type: Recreate\n"))
    assert found(tmp_path) == []
    write(tmp_path, "deploy.yaml", deployment.replace("{strategy}", ""))
    write(tmp_path, "pvc.yaml", PVC.format(mode="ReadWriteMany"))
    assert found(tmp_path) == []


def test_statefulset_strategy_and_untagged_images_in_plain_manifests(tmp_path: Path) -> None:
    write(
        tmp_path,
        "sts.yaml",
        "---\napiVersion: apps/v1\nkind: StatefulSet\nmetadata:\n  name: db\nspec:\n  updateStrategy:\n"
        "    type: OnDelete\n  template:\n    spec:\n      securityContext: {runAsUser: 999}\n      containers:\n"
        "        - name: db\n          image: postgres\n          securityContext: {capabilities: {drop: [ALL]}}\n"
        "        - name: root\n          image: docker.io/library/busybox:latest\n"
        "          securityContext: {runAsUser: 0, capabilities: {drop: [all]}}\n",
    )
    assert found(tmp_path) == [
        ("sts.yaml", 8, "statefulset-strategy"),
        ("sts.yaml", 14, "pinned-image"),
        ("sts.yaml", 16, "rootless"),
        ("sts.yaml", 17, "pinned-image"),
    ]


APP = """---
apiVersion: helm.toolkit.fluxcd.io/v2
kind: HelmRelease
metadata:
  name: app
spec:
  chart:
    spec:
      chart: app-template
      sourceRef: {{kind: HelmRepository, name: bjw-s}}
  values:
    defaultPodOptionsStrategy: {pod_strategy}
    defaultPodOptions:
      securityContext: {{runAsNonRoot: true}}
    controllers:
      main:
        strategy: RollingUpdate
        pod:
          securityContext: {{fsGroup: 1000}}
        containers:
          app:
            image: {{repository: ghcr.io/example/app}}
            securityContext: {{capabilities: {{drop: [ALL]}}}}
      worker:
        type: statefulset
        containers:
          app:
            image: {{repository: ghcr.io/example/app, tag: "${{TAG:=1.0}}"}}
            securityContext: {{capabilities: {{drop: [ALL]}}, runAsUser: 1000}}
    persistence:
      data:
        accessMode: ReadWriteOnce
        size: 1Gi
        advancedMounts:
          {mounted_on}:
            app: [{{path: /data}}]
"""


def test_app_template_pod_option_strategies_mounts_and_tags(tmp_path: Path) -> None:
    write(tmp_path, "hr.yaml", APP.format(pod_strategy="overwrite", mounted_on="worker"))
    # overwrite: the controller's pod.securityContext replaces defaultPodOptions' one (no runAsNonRoot);
    # no tag on 'main'; the RWO volume is mounted only on the StatefulSet 'worker'
    assert found(tmp_path) == [("hr.yaml", 21, "rootless"), ("hr.yaml", 22, "pinned-image")]
    write(tmp_path, "hr.yaml", APP.format(pod_strategy="merge", mounted_on="main"))
    assert found(tmp_path) == [("hr.yaml", 17, "rwo-recreate"), ("hr.yaml", 22, "pinned-image")]


def test_flux_variables_decide_only_when_resolvable(tmp_path: Path) -> None:
    write(
        tmp_path,
        "apps/x/ks.yaml",
        "---\napiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: x\nspec:\n"
        "  path: ./apps/x/app\n  targetNamespace: x\n  postBuild:\n    substitute:\n      TAG: latest\n"
        "    substituteFrom:\n      - kind: ConfigMap\n        name: cluster-settings\n",
    )
    write(
        tmp_path,
        "apps/x/app/pod.yaml",
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  securityContext:\n    runAsUser: ${UID}\n"
        "  containers:\n    - name: a\n      image: ghcr.io/x/a:${TAG}\n"
        "      securityContext: {capabilities: {drop: [ALL]}}\n"
        "    - name: b\n      image: ghcr.io/x/b:${OTHER}\n      securityContext: {capabilities: {drop: [ALL]}}\n",
    )
    # ${TAG} is 'latest' from postBuild.substitute; ${UID} and ${OTHER} come from substituteFrom: unknown
    assert found(tmp_path) == [("apps/x/app/pod.yaml", 11, "pinned-image")]
