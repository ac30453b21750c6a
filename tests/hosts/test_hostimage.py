"""The host image recipe: tagged by content, built only when missing, never with a baked host key."""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from homeops.sim import hostimage


def test_tag_names_the_recipe() -> None:
    assert hostimage.IMAGE.startswith("homeops-sim-host:bookworm-")
    assert len(hostimage.IMAGE.rsplit("-", 1)[1]) == 10


def test_sshd_is_key_only() -> None:
    config = hostimage.SSHD_CONFIG
    assert "PasswordAuthentication no" in config and "PermitRootLogin prohibit-password" in config
    assert "ssh-keygen -q -t ed25519" in hostimage.ENTRYPOINT


def test_ensure_builds_only_when_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    monkeypatch.setattr(hostimage, "build", built.append)
    monkeypatch.setattr(hostimage, "image_present", lambda tag=hostimage.IMAGE: True)
    assert hostimage.ensure() is False and built == []
    monkeypatch.setattr(hostimage, "image_present", lambda tag=hostimage.IMAGE: False)
    assert hostimage.ensure() is True and built == [hostimage.IMAGE]


def test_parallel_ensures_build_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Two test workers (or shells) that both find the image missing: one builds, the other waits for it."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the lock file lands in the test's dir
    built: list[str] = []
    started = threading.Barrier(2)

    def build(tag: str) -> None:
        time.sleep(0.3)  # long enough for the other caller to reach the lock
        built.append(tag)

    monkeypatch.setattr(hostimage, "build", build)
    monkeypatch.setattr(hostimage, "image_present", lambda tag=hostimage.IMAGE: bool(built))

    def ensure() -> None:
        started.wait()
        hostimage.ensure("homeops-sim-host:test")

    threads = [threading.Thread(target=ensure) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert built == ["homeops-sim-host:test"]  # was built twice, both importing under one tag


def test_image_present_asks_docker() -> None:
    calls: list[list[str]] = []

    def run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[bytes]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 1)

    assert hostimage.image_present("x:y", run=run) is False
    assert calls == [["docker", "image", "inspect", "x:y"]]
