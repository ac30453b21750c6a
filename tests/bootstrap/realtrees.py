"""Lay a visible real home-ops repository (../shared/realworld) over a copy of the example inventory."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.conftest import REALWORLD, cannot_run

# bootstrap.secrets render command: what `op inject` does to the op:// references, without 1Password
# (GNU sed upper-cases each reference: "OP://…" stands for the secret value it resolves to)
RENDER = '[sed, -e, "s#op://.*#\\\\U&#"]'
RENDERED = "OP://"


def realworld() -> Path:
    if not (REALWORLD / "bootstrap").is_dir():
        cannot_run(f"the real-world trees are not beside this clone ({REALWORLD})")
    return REALWORLD


def lay(repo: str, inventory: Path) -> dict[str, str]:
    """Copy the apps and bootstrap trees of ``repo`` into ``inventory`` and point homeops.yaml at them."""
    base = realworld()
    shutil.rmtree(inventory / "kubernetes", ignore_errors=True)
    if repo == "bjw-s-labs__home-ops":
        shutil.copytree(base / "apps" / repo / "kubernetes", inventory / "kubernetes")
        shutil.copytree(base / "bootstrap" / repo / "kubernetes", inventory / "kubernetes", dirs_exist_ok=True)
        boot = "kubernetes/bootstrap"
    else:
        shutil.copytree(base / "apps" / repo / "kubernetes", inventory / "kubernetes")
        shutil.copytree(base / "bootstrap" / repo / "bootstrap", inventory / "bootstrap", dirs_exist_ok=True)
        boot = "bootstrap"
    # bjw-s applies one kustomize tree; buroa one per 1Password account
    trees = ["kustomize"] if repo == "bjw-s-labs__home-ops" else ["kustomize/home-operations", "kustomize/personal"]
    secrets = "".join(f"    - {{path: {boot}/{t}, render: {RENDER}}}\n" for t in trees)
    section = (
        "bootstrap:\n"
        f"  helmfile: {boot}/helmfile/apps.yaml\n"
        f"  crdsHelmfile: {boot}/helmfile/crds.yaml\n"
        f"  secrets:\n{secrets}"
        "  appsDir: kubernetes/apps\n"
    )
    text = (inventory / "homeops.yaml").read_text(encoding="utf-8")
    start = text.index("\nbootstrap:")
    end = text.index("\n# What `inv dr.check`")
    (inventory / "homeops.yaml").write_text(text[: start + 1] + section + text[end:], encoding="utf-8")
    return {"boot": boot}
