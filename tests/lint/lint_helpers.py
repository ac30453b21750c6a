"""Helpers for the linter tests: the two real home-ops trees (read-only) and writable copies."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

from tests.conftest import REALWORLD

APPS = REALWORLD / "apps"
BJWS = APPS / "bjw-s-labs__home-ops"
BUROA = APPS / "buroa__k8s-gitops"

#: flux/cluster/ks.yaml of a Flux tree (``{extra}``: more spec lines, two-space indented).
ROOT_KS = """---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata:
  name: cluster-apps
  namespace: flux-system
spec:
  path: ./kubernetes/apps
  sourceRef:
    kind: GitRepository
    name: flux-system
{extra}"""


def writable_copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest)
    dest.chmod(dest.stat().st_mode | stat.S_IWUSR)
    for path in dest.rglob("*"):
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    return dest


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def kustomization(*items: str, extra: str = "") -> str:
    """A kustomize ``kustomization.yaml`` listing ``items`` as resources (``extra``: lines before them)."""
    lines = "".join(f"  - {i}\n" for i in items)
    return f"---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n{extra}resources:\n{lines}"
