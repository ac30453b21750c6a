"""--fix-order: sorted in place, comments kept, never a half-written file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from homeops.lint.engine import lint_repo
from homeops.lint.fixorder import fix_file, sort_resources_text

KUSTOMIZATION = """---
# yaml-language-server: $schema=https://json.schemastore.org/kustomization
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: media
resources:
  # the namespace itself
  - ./namespace.yaml
  - ./litellm/ks.yaml   # trailing comment stays on its line
  - ./litellm-operator/ks.yaml

  - ./Bazarr/ks.yaml
  # dangling comment after the list
configMapGenerator:
  - name: x
    files: [a.yaml]
"""

EXPECTED = """---
# yaml-language-server: $schema=https://json.schemastore.org/kustomization
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: media
resources:

  - ./Bazarr/ks.yaml
  - ./litellm/ks.yaml   # trailing comment stays on its line
  - ./litellm-operator/ks.yaml
  # the namespace itself
  - ./namespace.yaml
  # dangling comment after the list
configMapGenerator:
  - name: x
    files: [a.yaml]
"""


def test_sorts_keeping_comments_with_their_items() -> None:
    text, reason = sort_resources_text(KUSTOMIZATION)
    assert reason == ""
    assert text == EXPECTED
    assert sort_resources_text(text) == (text, "")  # idempotent


def test_a_file_without_final_newline_keeps_it_that_way() -> None:
    text, _ = sort_resources_text("resources:\n  - b.yaml\n  - a.yaml")
    assert text == "resources:\n  - a.yaml\n  - b.yaml"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("resources:\n  - b.yaml\n  - a.yaml:\n      x: 1\n", "an item spans several lines"),
        ("resources:\n  - b.yaml\n  - [a.yaml]\n", "an item is not a plain path"),
    ],
)
def test_lists_it_cannot_sort_safely_are_left_alone(text: str, reason: str) -> None:
    assert sort_resources_text(text) == (text, reason)


def test_flow_style_list_is_left_unchanged() -> None:
    text = "resources: [b.yaml, a.yaml]\n"
    assert sort_resources_text(text)[0] == text


def test_fix_then_lint_is_clean_and_only_resources_moved(tmp_path: Path) -> None:
    path = tmp_path / "kustomization.yaml"
    path.write_text(KUSTOMIZATION)
    path.chmod(0o640)
    assert [f.rule for f in lint_repo(tmp_path).findings] == ["sorted-resources"]
    assert fix_file(path).changed
    assert lint_repo(tmp_path).findings == ()
    assert sorted(path.read_text().splitlines()) == sorted(EXPECTED.splitlines())
    assert path.stat().st_mode & 0o777 == 0o640


def test_a_failed_write_leaves_the_file_and_no_temporary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "kustomization.yaml"
    path.write_text(KUSTOMIZATION)

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        fix_file(path)
    assert path.read_text() == KUSTOMIZATION
    assert [p.name for p in tmp_path.iterdir()] == ["kustomization.yaml"]


def test_a_symlinked_kustomization_stays_a_symlink(tmp_path: Path) -> None:
    """issue 22 §3 (cosmetic): --fix-order rewrote the link as a plain file; the target is sorted instead."""
    shared = tmp_path / "shared.yaml"
    shared.write_text("---\nresources:\n  - ./b.yaml\n  - ./a.yaml\n", encoding="utf-8")
    link = tmp_path / "kustomization.yaml"
    link.symlink_to(shared.name)
    assert fix_file(link).changed
    assert link.is_symlink() and os.readlink(link) == "shared.yaml"
    assert shared.read_text(encoding="utf-8") == "---\nresources:\n  - ./a.yaml\n  - ./b.yaml\n"
