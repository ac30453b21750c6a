"""Hermetic tests: never read the developer's kubeconfig, talosconfig, SSH config or age keys."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
REALWORLD = SHARED / "realworld"
EXAMPLE_INVENTORY = REPO / "inventory"


@pytest.fixture(autouse=True)
def _hermetic_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    for var in (
        "KUBECONFIG",
        "TALOSCONFIG",
        "SOPS_AGE_KEY",
        "SOPS_AGE_KEY_FILE",
        "SOPS_AGE_KEY_CMD",
        "SOPS_AGE_RECIPIENTS",
        "SSH_AUTH_SOCK",
        "HOMEOPS_INVENTORY",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _fresh_masker() -> Iterator[None]:
    """The masker is process-wide; one test's secrets must not mask another test's output."""
    from homeops.secrets import MASKER

    MASKER.clear()
    yield
    MASKER.clear()


@pytest.fixture
def realworld() -> Path:
    if not REALWORLD.is_dir():
        pytest.fail(f"shared realworld data missing at {REALWORLD}")
    return REALWORLD
