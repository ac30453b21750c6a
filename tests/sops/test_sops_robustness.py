"""Issue 10, SOPS part: an empty edit never wipes the secrets (1), a missing or file-deleting editor is
a one-line error (13), plaintext left by a killed run is swept (9), a read-only directory is a one-line
error with the plaintext intact (15), and --in-place writes through a symlink (cosmetic)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from sops_helpers import AgeKey

from homeops.sops import api, tempfiles
from homeops.tasks import sops as tasks


@pytest.fixture
def inventory(tmp_path: Path, age_key: AgeKey) -> Path:
    inv = tmp_path / "inv"
    inv.mkdir()
    (inv / "mine.key").write_text(age_key.file.read_text())
    (inv / "homeops.yaml").write_text("cluster:\n  ageKey: mine.key\n  sopsConfig: sops.yaml\n")
    (inv / "sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: .*\\.sops\\.ya?ml$\n    age: {age_key.recipient}\n"
    )
    return inv


def _secret(inv: Path) -> Path:
    path = inv / "s.sops.yaml"
    path.write_text("token: keep-me-123\n")
    tasks.encrypt(Context(), file=str(path), in_place=True, inventory=str(inv))
    return path


def _editor(tmp_path: Path, body: str) -> str:
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.parametrize("body", [': > "$1"', 'printf "\\n  \\n" > "$1"'])
def test_empty_edit_is_refused_and_secrets_kept(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str
) -> None:
    """Defect 1: an editor saving an empty file re-encrypted {} and said 're-encrypted'."""
    path = _secret(inventory)
    before = path.read_bytes()
    monkeypatch.setenv("EDITOR", _editor(tmp_path, body))
    with pytest.raises(Exit) as err:
        tasks.edit(Context(), file=str(path), inventory=str(inventory))
    assert "empty" in str(err.value.message) and "not saving" in str(err.value.message)
    assert path.read_bytes() == before


@pytest.mark.parametrize("editor", ["/nonexistent/editor", "rm"])
def test_missing_or_deleting_editor_is_one_line(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, editor: str
) -> None:
    """Defect 13: EDITOR=/nonexistent/editor and an editor that deletes the file raised FileNotFoundError."""
    path = _secret(inventory)
    before = path.read_bytes()
    monkeypatch.setenv("EDITOR", editor if editor != "rm" else _editor(tmp_path, 'rm -f "$1"'))
    with pytest.raises(Exit) as err:
        tasks.edit(Context(), file=str(path), inventory=str(inventory))
    assert err.value.code != 0 and "\n" not in str(err.value.message)
    assert "nothing was changed" in str(err.value.message)
    assert path.read_bytes() == before


def test_stale_plaintext_of_a_killed_run_is_swept(tmp_path: Path) -> None:
    """Defect 9: kill -9 during sops.edit left plaintext in /dev/shm/homeops-sops-*; no run removed it."""
    base = tmp_path / "shm"
    base.mkdir()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = base / f"{tempfiles.PREFIX}{dead.pid}-abc"
    stale.mkdir(mode=0o700)
    (stale / "secret.yaml").write_text("token: plaintext\n")
    alive = base / f"{tempfiles.PREFIX}{os.getppid()}-def"  # a live process's dir stays
    alive.mkdir(mode=0o700)
    with tempfiles.private_file(b"x", base=str(base)) as path:
        assert path.parent.name.startswith(f"{tempfiles.PREFIX}{os.getpid()}-")
    assert not stale.exists()
    assert alive.exists()


def test_killed_edit_leaves_nothing_for_long(inventory: Path, tmp_path: Path) -> None:
    """End to end: SIGKILL an edit mid-editor, then any later plaintext use sweeps its directory."""
    path = _secret(inventory)
    base = tmp_path / "shm"
    base.mkdir()
    marker = tmp_path / "editing"
    editor = _editor(tmp_path, f"touch {marker}; sleep 30")
    env = {**os.environ, "EDITOR": editor, "HOMEOPS_SOPS_TMP": str(base)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "invoke", "sops.edit", "--file", str(path), "--inventory", str(inventory)],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        start_new_session=True,
    )
    for _ in range(300):
        if marker.exists():
            break
        proc.poll()
        import time

        time.sleep(0.05)
    assert marker.exists()
    os.killpg(proc.pid, 9)
    proc.wait()
    assert list(base.iterdir()), "the killed edit left no plaintext dir (test cannot tell anything)"
    with tempfiles.private_file(b"x", base=str(base)):
        pass
    assert not list(base.iterdir())


def test_encrypt_in_place_in_read_only_dir(inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Defect 15: PermissionError traceback; the plaintext must stay intact."""
    plain = inventory / "p.sops.yaml"
    plain.write_text("token: plain-value\n")
    real_open = os.open

    def deny(path: str | os.PathLike[str], flags: int, *args: int, **kwargs: object) -> int:
        if str(path).endswith(".homeops-tmp"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", deny)
    with pytest.raises(Exit) as err:
        tasks.encrypt(Context(), file=str(plain), in_place=True, inventory=str(inventory))
    assert "Permission denied" in str(err.value.message) and "\n" not in str(err.value.message)
    assert plain.read_text() == "token: plain-value\n"


def test_encrypt_in_place_writes_through_a_symlink(inventory: Path) -> None:
    """Cosmetic: --in-place on a symlink replaced the link with a file."""
    real = inventory / "real.sops.yaml"
    real.write_text("token: via-link\n")
    link = inventory / "link.sops.yaml"
    link.symlink_to(real.name)
    tasks.encrypt(Context(), file=str(link), in_place=True, inventory=str(inventory))
    assert link.is_symlink()
    assert "ENC[AES256_GCM" in real.read_text()
    assert api.decrypt_to_bytes(real, age_key_file=inventory / "mine.key") == b"token: via-link\n"
