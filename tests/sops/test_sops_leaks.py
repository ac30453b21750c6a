"""No plaintext reaches disk or logs: temp dirs are scanned after success, failure and Ctrl-C."""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sops_helpers import AgeKey

from homeops import sops
from homeops.secrets import MASKER, mask
from homeops.sops import api, tempfiles
from homeops.sops.stores import store_for

MARK = "plaintext-canary-7f3a9c"


def _scan(*roots: Path) -> list[Path]:
    """Every file under ``roots`` that contains the canary."""
    hits = []
    for root in roots:
        for dirpath, _, files in os.walk(root):
            for name in files:
                path = Path(dirpath) / name
                try:
                    if MARK.encode() in path.read_bytes():
                        hits.append(path)
                except OSError:
                    continue
    return hits


def _ours() -> set[str]:
    found = set()
    for base in {tempfiles.private_base() or tempfile.gettempdir(), tempfile.gettempdir()}:
        # this process's only: another test worker's (or session's) live directories are not a leak
        found |= {str(p) for p in Path(base).glob(f"{tempfiles.PREFIX}{os.getpid()}-*")}
    return found


@pytest.fixture
def temp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Route the system temp dir into the test so every temp file homeops makes can be scanned."""
    root = tmp_path / "systmp"
    root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(root))
    before = _ours()
    yield root
    assert _ours() - before == set(), "a private plaintext directory was left behind"


@pytest.fixture
def secret_file(tmp_path: Path, age_key: AgeKey) -> Path:
    path = tmp_path / "repo" / "s.sops.yaml"
    path.parent.mkdir()
    branches, _ = store_for("yaml").load(f"token: {MARK}\nother: value\n".encode(), file="x")
    out, _ = api.encrypt_branches(branches, fmt="yaml", recipients=(age_key.recipient,), rule=None)
    path.write_bytes(out)
    return path


def test_plaintext_file_is_private_and_removed(secret_file: Path, age_key: AgeKey, temp_root: Path) -> None:
    with sops.plaintext_file(secret_file, age_key_file=age_key.file) as tmp:
        assert MARK in tmp.read_text()
        assert stat.S_IMODE(tmp.stat().st_mode) == 0o600
        assert stat.S_IMODE(tmp.parent.stat().st_mode) == 0o700
        if tempfiles.private_base():
            assert str(tmp).startswith("/dev/shm/")
        directory = tmp.parent
    assert not directory.exists()
    assert _scan(temp_root, secret_file.parent) == []


@pytest.mark.parametrize("exc", [RuntimeError("tool failed"), KeyboardInterrupt()])
def test_plaintext_file_is_removed_on_error_and_ctrl_c(
    secret_file: Path, age_key: AgeKey, temp_root: Path, exc: BaseException
) -> None:
    seen: list[Path] = []
    with pytest.raises(type(exc)), sops.plaintext_file(secret_file, age_key_file=age_key.file) as tmp:
        seen.append(tmp)
        (tmp.parent / "tool.swp").write_text(MARK)  # a tool's own scratch copy is cleaned up too
        raise exc
    assert not seen[0].parent.exists()
    assert _scan(temp_root, secret_file.parent) == []


def test_sigterm_inside_the_block_still_cleans_up(secret_file: Path, age_key: AgeKey, temp_root: Path) -> None:
    import signal

    seen: list[Path] = []
    with pytest.raises(KeyboardInterrupt), sops.plaintext_file(secret_file, age_key_file=age_key.file) as tmp:
        seen.append(tmp)
        os.kill(os.getpid(), signal.SIGTERM)
    assert not seen[0].parent.exists()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(signal.getsignal(signal.SIGTERM))


def test_decrypted_gives_masked_values_and_registers_them(secret_file: Path, age_key: AgeKey) -> None:
    MASKER.clear()
    with sops.decrypted(secret_file, age_key_file=age_key.file) as data:
        token = data["token"]
        assert str(token) == "******" and repr(token) == "Secret(******)" and f"{token}" == "******"
        assert token.reveal() == MARK
        assert MARK not in str(data) and MARK not in repr(data)
    assert mask(f"leaked {MARK}!") == "leaked ******!"


def test_flows_leave_no_plaintext_on_disk_or_in_logs(
    secret_file: Path, age_key: AgeKey, temp_root: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sops.decrypt_file(secret_file, age_key_file=age_key.file)
    sops.decrypt_to_bytes(secret_file, age_key_file=age_key.file)
    sops.rotate_file(secret_file, age_key_file=age_key.file)
    sops.update_file(secret_file, f"token: {MARK}\nother: changed\n".encode(), age_key_file=age_key.file)
    tampered = secret_file.read_text().replace("other: ENC", "renamed: ENC")
    secret_file.write_text(tampered)
    with pytest.raises(sops.TamperedValue) as err:
        sops.decrypt_file(secret_file, age_key_file=age_key.file)
    assert MARK not in str(err.value)
    with pytest.raises(sops.NoKeyError) as nokey:
        sops.decrypt_file(secret_file, age_key_file=secret_file.parent / "none")
    assert MARK not in str(nokey.value)
    assert MARK not in caplog.text
    assert _scan(temp_root, secret_file.parent) == []


def test_encrypt_in_place_writes_only_ciphertext(tmp_path: Path, age_key: AgeKey, temp_root: Path) -> None:
    repo = tmp_path / "enc"
    repo.mkdir()
    (repo / ".sops.yaml").write_text(f"creation_rules:\n  - age: {age_key.recipient}\n")
    target = repo / "new.sops.yaml"
    target.write_text(f"token: {MARK}\n")
    sops.encrypt_file(target, config=repo / ".sops.yaml", in_place=True)
    assert _scan(temp_root, repo) == []
    assert sorted(p.name for p in repo.iterdir()) == [".sops.yaml", "new.sops.yaml"]
