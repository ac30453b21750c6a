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


def plant(root: Path) -> dict[str, str]:
    """Plant one violation per rule; returns rule -> file it must be reported in."""
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
    return {
        "rwo-recreate": f"{JELLYFIN}/app/helmrelease.yaml",
        "statefulset-strategy": "kubernetes/apps/selfhosted/it-tools/app/helmrelease.yaml",
        "no-namespace": f"{JELLYFIN}/app/ciliumnetworkpolicy.yaml",
        "ks-target-namespace": f"{NAVIDROME}/ks.yaml",
        "pinned-image": f"{NAVIDROME}/app/helmrelease.yaml",
        "no-raw-secret": f"{JELLYFIN}/app/secret.yaml",
        "no-raw-configmap": f"{JELLYFIN}/app/configmap.yaml",
        "no-substitutefrom-secret": f"{JELLYFIN}/ks.yaml",
        "no-loadbalancer": f"{JELLYFIN}/app/service.yaml",
        "rootless": f"{JELLYFIN}/app/helmrelease.yaml",
        "drop-all": f"{NAVIDROME}/app/helmrelease.yaml",
        "sorted-resources": "kubernetes/apps/media/kustomization.yaml",
        "yaml-header": f"{JELLYFIN}/app/ocirepository.yaml",
    }


def test_each_planted_violation_is_found_and_nothing_else_changes(bjws_copy: Path) -> None:
    # A planted line moves the lines below it, so findings are compared without their line numbers.
    before = Counter((f.path, f.rule, f.message) for f in lint_repo(bjws_copy).findings)
    expected = plant(bjws_copy)
    assert set(expected) == set(RULES)
    after = Counter((f.path, f.rule, f.message) for f in lint_repo(bjws_copy).findings)
    assert not before - after, sorted(before - after)
    new = sorted((after - before).elements())
    assert sorted((rule, path) for path, rule, _ in new) == sorted(expected.items()), "\n".join(map(str, new))


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
