"""A clone with no ``shared/realworld`` beside it (anyone outside this repository's CI).

Issue 22 §4: test collection crashed with two errors (modules reading the real-world manifests at
import). Now the tests that need the data skip, each naming the path it looked for; the rest run.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

IGNORE = shutil.ignore_patterns(
    ".git", ".venv", "__pycache__", "*.egg-info", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis",
    ".homeops", ".homeops-demo",
)  # fmt: skip


@pytest.fixture(scope="module")
def lone_clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("elsewhere") / "homeops"
    shutil.copytree(REPO, target, ignore=IGNORE)
    assert not any((p / "shared" / "realworld").exists() for p in target.parents)
    return target


def pytest_in(clone: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # not CI either: this clone is "elsewhere", where missing real-world data skips instead of failing
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "HOMEOPS_")) and k != "CI"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", *args,
         "--basetemp", str(clone.parent / "basetemp")],
        cwd=clone, capture_output=True, text=True, timeout=300, env=env, check=False,
    )  # fmt: skip


def test_collection_has_no_errors_and_says_why_it_skips(lone_clone: Path) -> None:
    looked_for = lone_clone.parent / "shared" / "realworld"
    proc = pytest_in(lone_clone, "--co", "-q")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "error" not in proc.stdout.lower().split("tests collected")[-1], proc.stdout[-2000:]
    assert f"test_sops_realworld: real-world data not found at {looked_for}" in proc.stdout
    assert " tests collected" in proc.stdout


def test_tests_that_read_the_data_skip_with_the_path(lone_clone: Path) -> None:
    looked_for = lone_clone.parent / "shared" / "realworld"
    files = [
        # import-time manifest read, marked tests, an empty parametrize (its CLI tests that need no data: elsewhere)
        "tests/inventory/test_show_cli.py::test_manifest_covers_every_talconfig",
        "tests/inventory/test_show_cli.py::test_realworld_talconfig",
        "tests/inventory/test_show_cli.py::test_image_details_of_realworld_nodes",
        "tests/inventory/test_loader.py",  # the realworld fixture
        "tests/lint/test_lint_realworld.py",  # global paths into the data, a path in parametrize
        "tests/sops/test_sops_realworld.py",  # require_realworld() at import
        "tests/sops/test_sops_errors.py::test_passphrase_protected_keys_file_is_unlocked",  # the marker
    ]
    proc = pytest_in(lone_clone, "-q", *files)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    assert " failed" not in out and " error" not in out, out[-3000:]
    reason = f"real-world data not found at {looked_for}"
    skipped = [line for line in out.splitlines() if line.startswith("SKIPPED")]
    for name in (
        "test_show_cli.py:",
        "test_loader.py",
        "test_lint_realworld.py",
        "test_sops_realworld",
        "test_sops_errors.py",
    ):
        assert any(name in line and reason in line for line in skipped), (name, skipped)
    assert all(reason in line for line in skipped), skipped  # none skips for another reason
    assert "skipped: " + reason in out  # the summary line
    assert " passed" in out  # the tests that need no data still ran
