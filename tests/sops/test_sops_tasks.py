"""The `sops` invoke tasks: thin, one-line errors with sops' exit codes, stdout only, no plaintext left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from invoke.context import Context
from invoke.exceptions import Exit
from sops_helpers import EXAMPLE_INVENTORY, AgeKey

from homeops.sops import api
from homeops.tasks import sops as tasks

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def inventory(tmp_path: Path, age_key: AgeKey) -> Path:
    inv = tmp_path / "inv"
    (inv / "talos").mkdir(parents=True)
    (inv / "keys").mkdir()
    (inv / "keys" / "mine.key").write_text(age_key.file.read_text())
    (inv / "homeops.yaml").write_text("cluster:\n  ageKey: keys/mine.key\n  sopsConfig: sops.yaml\n")
    (inv / "sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: .*\\.sops\\.ya?ml$\n    encrypted_regex: ^(data|stringData|cluster)$\n"
        f"    age: {age_key.recipient}\n"
    )
    return inv


def _encrypted(inv: Path, name: str, text: str) -> Path:
    path = inv / name
    path.write_text(text)
    tasks.encrypt(Context(), file=str(path), in_place=True, inventory=str(inv))
    return path


def test_encrypt_then_decrypt_with_extract(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _encrypted(inventory, "talos/s.sops.yaml", "kind: Secret\ncluster:\n    token: abc-123-token\n    n: 5\n")
    capsys.readouterr()
    assert "abc-123-token" not in path.read_text() and "kind: Secret" in path.read_text()
    tasks.decrypt(Context(), file=str(path), inventory=str(inventory))
    # "n" is quoted as sops (yaml.v3) quotes it: YAML 1.1 readers take a bare n for false.
    assert capsys.readouterr().out == 'kind: Secret\ncluster:\n    token: abc-123-token\n    "n": 5\n'
    tasks.decrypt(Context(), file=str(path), extract='["cluster"]["token"]', inventory=str(inventory))
    assert capsys.readouterr().out == "abc-123-token"  # raw, no newline, like sops
    tasks.decrypt(Context(), file=str(path), extract='["cluster"]', output_type="json", inventory=str(inventory))
    assert capsys.readouterr().out == '{\n\t"token": "abc-123-token",\n\t"n": 5\n}\n'


def test_encrypt_prints_to_stdout_and_refuses_encrypted(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plain = inventory / "p.sops.yaml"
    plain.write_text("data:\n    k: v-secret\n")
    tasks.encrypt(Context(), file=str(plain), inventory=str(inventory))
    assert "ENC[AES256_GCM" in capsys.readouterr().out and plain.read_text() == "data:\n    k: v-secret\n"
    tasks.encrypt(Context(), file=str(plain), in_place=True, inventory=str(inventory))
    with pytest.raises(Exit) as err:
        tasks.encrypt(Context(), file=str(plain), in_place=True, inventory=str(inventory))
    assert err.value.code == 1 and "already encrypted" in str(err.value.message)


@pytest.mark.parametrize(
    ("extract", "code", "text"),
    [('["nope"]', 1, "not found"), ("nope", 1, "invalid --extract")],
)
def test_extract_errors(inventory: Path, extract: str, code: int, text: str) -> None:
    path = _encrypted(inventory, "e.sops.yaml", "data:\n    k: v\n")
    with pytest.raises(Exit) as err:
        tasks.decrypt(Context(), file=str(path), extract=extract, inventory=str(inventory))
    assert text in str(err.value.message)


def test_wrong_key_exits_128_with_nothing_on_stdout(
    inventory: Path, other_key: AgeKey, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _encrypted(inventory, "w.sops.yaml", "data:\n    k: very-secret-value\n")
    (inventory / "keys" / "mine.key").write_text(other_key.file.read_text())
    capsys.readouterr()
    with pytest.raises(Exit) as err:
        tasks.decrypt(Context(), file=str(path), inventory=str(inventory))
    assert err.value.code == 128
    message = str(err.value.message)
    assert message.startswith("error: ") and "\n" not in message and "SOPS_AGE_KEY_FILE" in message
    assert capsys.readouterr().out == ""


def test_mac_mismatch_exits_51_and_prints_no_partial_plaintext(
    inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _encrypted(inventory, "m.sops.yaml", "kind: Secret\ndata:\n    k: very-secret-value\n")
    path.write_text(path.read_text().replace("kind: Secret", "kind: Evil"))
    capsys.readouterr()
    with pytest.raises(Exit) as err:
        tasks.decrypt(Context(), file=str(path), inventory=str(inventory))
    assert err.value.code == 51
    out = capsys.readouterr()
    assert "very-secret-value" not in out.out + out.err + str(err.value.message)


def test_edit_reencrypts_only_when_changed(inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _encrypted(inventory, "ed.sops.yaml", "data:\n    k: before-value\n")
    untouched = path.read_bytes()
    monkeypatch.setenv("EDITOR", "true")
    tasks.edit(Context(), file=str(path), inventory=str(inventory))
    assert path.read_bytes() == untouched
    editor = tmp_path / "editor.sh"
    editor.write_text('#!/bin/sh\nsed -i "s/before-value/after-value/" "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    tasks.edit(Context(), file=str(path), inventory=str(inventory))
    assert path.read_bytes() != untouched
    key = inventory / "keys" / "mine.key"
    assert api.decrypt_file(path, age_key_file=key) == {"data": {"k": "after-value"}}
    # The data key stays the same, like sops edit.
    assert (
        api.decrypt_sops_file(api.load(path), age_key_file=key).data_key
        == api.decrypt_sops_file(api.parse(untouched, file="x.yaml"), age_key_file=key).data_key
    )


def test_edit_with_invalid_result_keeps_the_file(
    inventory: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _encrypted(inventory, "bad.sops.yaml", "data:\n    k: v\n")
    before = path.read_bytes()
    editor = tmp_path / "break.sh"
    editor.write_text('#!/bin/sh\necho "data: [unclosed" > "$1"\n')
    editor.chmod(0o755)
    monkeypatch.setenv("EDITOR", str(editor))
    with pytest.raises(Exit) as err:
        tasks.edit(Context(), file=str(path), inventory=str(inventory))
    assert "edit was discarded" in str(err.value.message) and path.read_bytes() == before


def test_edit_interrupted_leaves_no_plaintext(inventory: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _encrypted(inventory, "int.sops.yaml", "data:\n    k: ctrl-c-secret\n")
    before = path.read_bytes()
    seen: list[Path] = []

    def interrupted(argv: list[str]) -> int:
        seen.append(Path(argv[-1]))
        assert "ctrl-c-secret" in seen[0].read_text()
        raise KeyboardInterrupt

    monkeypatch.setattr(subprocess, "call", interrupted)
    with pytest.raises(Exit) as err:
        tasks.edit(Context(), file=str(path), inventory=str(inventory))
    assert err.value.code == 130
    assert not seen[0].exists() and not seen[0].parent.exists()
    assert path.read_bytes() == before


def test_check_lists_offenders_and_exits_1(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _encrypted(inventory, "talos/good.sops.yaml", "cluster:\n    x: y\n")
    bad = _encrypted(inventory, "talos/tampered.sops.yaml", "kind: a\ncluster:\n    x: y\n")
    bad.write_text(bad.read_text().replace("kind: a", "kind: b"))
    (inventory / "plain.sops.yaml").write_text("data:\n    leaked: plain-secret\n")
    (inventory / "notes.txt").write_text("not matched by any rule\n")
    capsys.readouterr()
    with pytest.raises(Exit) as err:
        tasks.check(Context(), inventory=str(inventory))
    assert err.value.code == 1 and "2 of 3" in str(err.value.message)
    out = capsys.readouterr().out
    assert "plain.sops.yaml: not encrypted" in out
    assert "talos/tampered.sops.yaml: MAC mismatch" in out
    assert "good.sops.yaml" not in out and "plain-secret" not in out


def test_check_passes_on_a_clean_tree(inventory: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _encrypted(inventory, "talos/good.sops.yaml", "cluster:\n    x: y\n")
    tasks.check(Context(), inventory=str(inventory))
    assert "1 file(s)" in capsys.readouterr().err


def test_rotate_task(inventory: Path) -> None:
    path = _encrypted(inventory, "r.sops.yaml", "data:\n    k: rot\n")
    before = path.read_text()
    tasks.rotate(Context(), file=str(path), inventory=str(inventory))
    assert path.read_text() != before
    assert api.decrypt_file(path, age_key_file=inventory / "keys" / "mine.key") == {"data": {"k": "rot"}}


def test_inv_cli_end_to_end_with_the_example_inventory(tmp_path: Path) -> None:
    """A real `inv` process: decrypt the example talsecret; a missing key is a one-line error, exit 128."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOPS_")} | {"HOME": str(tmp_path)}
    target = EXAMPLE_INVENTORY / "talos" / "talsecret.sops.yaml"
    cmd = [sys.executable, "-m", "invoke", "sops.decrypt", "--file", str(target), "--extract", '["note"]']
    ok = subprocess.run(
        [*cmd, "--inventory", str(EXAMPLE_INVENTORY)], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout == "example secrets for the simulated cluster"
    (tmp_path / "empty").mkdir()
    bad = subprocess.run(
        [*cmd, "--inventory", str(tmp_path / "empty")], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert bad.returncode == 128 and bad.stdout == ""
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr and "talsecret.sops.yaml" in bad.stderr
