"""One planted violation per rule in a copy of a real repository: each is found with the right
rule name and file, and nothing else in the findings changes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from homeops.lint.engine import lint_repo
from homeops.lint.findings import RULES
from tests.lint.lint_helpers import write

JELLYFIN = "kubernetes/apps/media/jellyfin"
NAVIDROME = "kubernetes/apps/media/navidrome"


def edit(root: Path, rel: str, old: str, new: str) -> None:
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{rel}: {old!r} must occur once"
    path.write_text(text.replace(old, new), encoding="utf-8")


CLEAN_POD = """
  template:
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 1000}
      containers:
        - name: app
          image: ghcr.io/example/app:1.2.3
          securityContext: {capabilities: {drop: [ALL]}}
"""


def plant(root: Path) -> list[tuple[str, str]]:
    """Plant one violation per rule (two apps for shared-database); returns (rule, file) pairs."""
    # jellyfin mounts the claim the kopiur component makes with ${KOPIUR_ACCESSMODES:=ReadWriteOnce}
    edit(
        root,
        f"{JELLYFIN}/app/helmrelease.yaml",
        "      jellyfin:\n        pod:",
        "      jellyfin:\n        strategy: RollingUpdate\n        pod:",
    )
    edit(
        root,
        "kubernetes/apps/selfhosted/it-tools/app/helmrelease.yaml",
        "strategy: RollingUpdate",
        "type: statefulset\n        strategy: Recreate",
    )
    edit(
        root, f"{JELLYFIN}/app/ciliumnetworkpolicy.yaml", "  name: jellyfin\n", "  name: jellyfin\n  namespace: media\n"
    )
    edit(root, f"{NAVIDROME}/ks.yaml", "  targetNamespace: media\n", "")
    edit(root, f"{NAVIDROME}/app/helmrelease.yaml", "tag: 0.63.2", "tag: latest")
    write(
        root,
        f"{JELLYFIN}/app/secret.yaml",
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: s\nstringData:\n  a: b\n",
    )
    write(
        root,
        f"{JELLYFIN}/app/configmap.yaml",
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\ndata:\n  a: b\n",
    )
    edit(
        root,
        f"{JELLYFIN}/ks.yaml",
        "  postBuild:\n",
        "  postBuild:\n    substituteFrom:\n      - kind: Secret\n        name: cluster-secrets\n",
    )
    write(
        root,
        f"{JELLYFIN}/app/service.yaml",
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: lb\nspec:\n  type: LoadBalancer\n",
    )
    edit(root, f"{JELLYFIN}/app/helmrelease.yaml", "            runAsUser: 2000", "            runAsUser: 0")
    edit(root, f"{NAVIDROME}/app/helmrelease.yaml", "                  - ALL", "                  - NET_RAW")
    edit(
        root,
        "kubernetes/apps/media/kustomization.yaml",
        "  - ./audiobookshelf/ks.yaml\n  - ./bonob/ks.yaml\n",
        "  - ./bonob/ks.yaml\n  - ./audiobookshelf/ks.yaml\n",
    )
    edit(root, f"{JELLYFIN}/app/ocirepository.yaml", "---\n# yaml-language-server", "# yaml-language-server")
    # new in issue 21
    write(
        root,
        f"{JELLYFIN}/app/odd-helmrelease.yaml",
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: odd\nspec:\n"
        "  chartRef:\n    kind: OCIRepository\n    name: jellyfin\n  values:\n    podLabels: {a: b}\n",
    )
    write(
        root,
        f"{JELLYFIN}/app/extra-pvc.yaml",
        "---\napiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: jellyfin-extra\nspec:\n"
        "  accessModes: [ReadWriteOnce]\n  storageClassName: miroir-local\n  resources: {requests: {storage: 1Gi}}\n",
    )
    write(root, f"{JELLYFIN}/app/unused.yaml", "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: u\n")
    url = "              DATABASE_URL: postgres://u:p@postgres-rw.database.svc.cluster.local/media\n"
    edit(root, f"{JELLYFIN}/app/helmrelease.yaml", "            env:\n", "            env:\n" + url)
    edit(root, f"{NAVIDROME}/app/helmrelease.yaml", "            env:\n", "            env:\n" + url)
    edit(
        root,
        f"{JELLYFIN}/app/kustomization.yaml",
        "  - ./ciliumnetworkpolicy.yaml\n",
        "  - ./ciliumnetworkpolicy.yaml\n  - ./secret.yaml\n  - ./configmap.yaml\n  - ./service.yaml\n"
        "  - ./odd-helmrelease.yaml\n  - ./extra-pvc.yaml\n",
    )
    return [
        ("rwo-recreate", f"{JELLYFIN}/app/helmrelease.yaml"),
        ("statefulset-strategy", "kubernetes/apps/selfhosted/it-tools/app/helmrelease.yaml"),
        ("no-namespace", f"{JELLYFIN}/app/ciliumnetworkpolicy.yaml"),
        ("ks-target-namespace", f"{NAVIDROME}/ks.yaml"),
        ("pinned-image", f"{NAVIDROME}/app/helmrelease.yaml"),
        ("no-raw-secret", f"{JELLYFIN}/app/secret.yaml"),
        ("no-raw-configmap", f"{JELLYFIN}/app/configmap.yaml"),
        ("no-substitutefrom-secret", f"{JELLYFIN}/ks.yaml"),
        ("no-loadbalancer", f"{JELLYFIN}/app/service.yaml"),
        ("rootless", f"{JELLYFIN}/app/helmrelease.yaml"),
        ("drop-all", f"{NAVIDROME}/app/helmrelease.yaml"),
        ("sorted-resources", "kubernetes/apps/media/kustomization.yaml"),
        ("yaml-header", f"{JELLYFIN}/app/ocirepository.yaml"),
        ("unread-workload", f"{JELLYFIN}/app/odd-helmrelease.yaml"),
        ("backup-coverage", f"{JELLYFIN}/app/extra-pvc.yaml"),
        ("unreferenced", f"{JELLYFIN}/app/unused.yaml"),
        ("shared-database", f"{JELLYFIN}/app/helmrelease.yaml"),
        ("shared-database", f"{NAVIDROME}/app/helmrelease.yaml"),
    ]


def test_each_planted_violation_is_found_and_nothing_else_changes(bjws_copy: Path) -> None:
    # A planted line moves the lines below it, so findings are compared without their line numbers.
    before = Counter((f.path, f.rule, f.message) for f in lint_repo(bjws_copy).findings)
    expected = plant(bjws_copy)
    assert {rule for rule, _ in expected} == set(RULES)
    after = Counter((f.path, f.rule, f.message) for f in lint_repo(bjws_copy).findings)
    assert not before - after, sorted(before - after)
    new = sorted((after - before).elements())
    assert sorted((rule, path) for path, rule, _ in new) == sorted(expected), "\n".join(map(str, new))


def test_planted_blind_spots_of_the_first_version_are_found(bjws_copy: Path) -> None:
    """Issue 21's blind spots, planted in the real tree: a LoadBalancer from a kustomize patch file
    and from operator resources (a Dragonfly component, a CNPG Cluster), secretGenerator literals,
    app-template secrets, an app-template v1 release with tag latest."""
    before = Counter((f.path, f.rule, f.message) for f in lint_repo(bjws_copy).findings)
    write(
        bjws_copy,
        f"{NAVIDROME}/app/lb-patch.yaml",
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: navidrome\nspec:\n  type: LoadBalancer\n",
    )
    write(
        bjws_copy,
        f"{NAVIDROME}/app/cluster.yaml",
        "---\napiVersion: postgresql.cnpg.io/v1\nkind: Cluster\nmetadata:\n  name: pg\nspec:\n  managed:\n"
        "    services:\n      additional:\n        - selectorType: rw\n          serviceTemplate:\n"
        "            metadata: {name: pg-lb}\n            spec: {type: LoadBalancer}\n",
    )
    write(
        bjws_copy,
        f"{NAVIDROME}/app/v1-helmrelease.yaml",
        "---\napiVersion: helm.toolkit.fluxcd.io/v2\nkind: HelmRelease\nmetadata:\n  name: old\nspec:\n"
        "  chartRef: {kind: OCIRepository, name: navidrome}\n  values:\n"
        "    image: {repository: ghcr.io/x/old, tag: latest}\n"
        "    podSecurityContext: {runAsNonRoot: true, runAsUser: 1000}\n"
        "    securityContext: {capabilities: {drop: [ALL]}}\n",
    )
    edit(
        bjws_copy,
        f"{NAVIDROME}/app/kustomization.yaml",
        "  - ./helmrelease.yaml\n",
        "  - ./helmrelease.yaml\n  - ./cluster.yaml\n  - ./v1-helmrelease.yaml\npatches:\n  - path: ./lb-patch.yaml\n"
        "secretGenerator:\n  - name: navidrome-extra\n    literals:\n      - API_KEY=abc123\n",
    )
    edit(
        bjws_copy,
        "kubernetes/components/dragonfly/cluster.yaml",
        "  replicas: ${DRAGONFLY_REPLICAS:=1}\n",
        "  replicas: ${DRAGONFLY_REPLICAS:=1}\n  serviceSpec:\n    type: LoadBalancer\n",
    )
    edit(
        bjws_copy,
        f"{JELLYFIN}/app/helmrelease.yaml",
        "  values:\n",
        "  values:\n    secrets:\n      extra:\n        stringData:\n          TOKEN: hunter2\n",
    )
    after = Counter((f.path, f.rule, f.message) for f in lint_repo(bjws_copy).findings)
    assert not before - after, sorted(before - after)
    new = sorted((rule, path) for path, rule, _ in (after - before).elements())
    assert new == sorted(
        [
            ("no-loadbalancer", f"{NAVIDROME}/app/lb-patch.yaml"),
            ("no-loadbalancer", f"{NAVIDROME}/app/cluster.yaml"),
            ("no-loadbalancer", "kubernetes/components/dragonfly/cluster.yaml"),
            ("no-raw-secret", f"{NAVIDROME}/app/kustomization.yaml"),
            ("no-raw-secret", f"{JELLYFIN}/app/helmrelease.yaml"),
            ("pinned-image", f"{NAVIDROME}/app/v1-helmrelease.yaml"),
        ]
    ), new


def test_rwo_recreate_follows_the_component_pvc_access_mode(bjws_copy: Path) -> None:
    """jellyfin's 'config' volume is the claim the kopiur component makes (name ``${KOPIUR_CLAIM:-${APP}}``,
    mode ``${KOPIUR_ACCESSMODES:=ReadWriteOnce}``): RollingUpdate is wrong until the Kustomization makes it RWX."""
    hr = f"{JELLYFIN}/app/helmrelease.yaml"
    edit(
        bjws_copy, hr, "      jellyfin:\n        pod:", "      jellyfin:\n        strategy: RollingUpdate\n        pod:"
    )
    edit(bjws_copy, hr, "accessMode: ReadWriteOnce", "accessMode: ReadWriteMany")  # the chart-made 'metadata' PVC

    def found() -> list[str]:
        return [f.message for f in lint_repo(bjws_copy, rules=["rwo-recreate"]).findings if f.path == hr]

    assert len(found()) == 1 and "volume 'config' (PVC 'jellyfin')" in found()[0]
    edit(
        bjws_copy,
        f"{JELLYFIN}/ks.yaml",
        "      APP: jellyfin\n",
        "      APP: jellyfin\n      KOPIUR_ACCESSMODES: ReadWriteMany\n",
    )
    assert found() == []
