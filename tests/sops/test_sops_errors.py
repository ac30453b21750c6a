"""Key sources like sops, and one-line errors with the right exit codes and no secrets in them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sops_helpers import AgeKey, make_key

from homeops import sops
from homeops.sops import api
from homeops.sops.keys import default_keys_file, load_keyring
from homeops.sops.stores import store_for


def _encrypt(path: Path, recipients: tuple[str, ...], text: bytes = b"db:\n    password: pa55word-xyz\n") -> None:
    branches, _ = store_for("yaml").load(text, file="x")
    out, _ = api.encrypt_branches(branches, fmt="yaml", recipients=recipients, rule=None)
    path.write_bytes(out)


def test_all_key_sources_are_loaded_together(tmp_path: Path) -> None:
    keys = [make_key(tmp_path, f"k{i}.txt") for i in range(5)]
    env = {
        "SOPS_AGE_KEY": keys[0].identity + " " + keys[1].identity,  # several per line, like sops
        "SOPS_AGE_KEY_FILE": str(keys[2].file),
        "SOPS_AGE_KEY_CMD": "print-my-key --vault x",
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
        "HOME": str(tmp_path / "home"),
    }
    default = default_keys_file(env)
    default.parent.mkdir(parents=True)
    default.write_text(f"# comment\n\n{keys[4].identity}\n")
    calls: list[list[str]] = []

    def fake_cmd(argv: list[str] | tuple[str, ...], cmd_env: dict[str, str] | object) -> str:
        calls.append(list(argv))
        return keys[3].identity + "\n"

    ring = load_keyring(env=env, run_cmd=fake_cmd)  # type: ignore[arg-type]
    assert calls == [["print-my-key", "--vault", "x"]]
    assert set(ring.recipients) == {k.recipient for k in keys}
    names = [s.name for s in ring.sources]
    assert names[:3] == ["SOPS_AGE_KEY", f"SOPS_AGE_KEY_FILE={keys[2].file}", "SOPS_AGE_KEY_CMD"]
    assert str(default) in names


def test_default_keys_file_falls_back_to_home() -> None:
    assert default_keys_file({"HOME": "/h"}) == Path("/h/.config/sops/age/keys.txt")
    assert default_keys_file({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path("/x/sops/age/keys.txt")


def test_env_key_decrypts_without_any_file(tmp_path: Path, age_key: AgeKey, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.sops.yaml"
    _encrypt(path, (age_key.recipient,))
    monkeypatch.setenv("SOPS_AGE_KEY", age_key.identity)
    assert sops.decrypt_file(path) == {"db": {"password": "pa55word-xyz"}}


def test_missing_key_names_file_recipients_sources_and_the_fix(
    tmp_path: Path, age_key: AgeKey, other_key: AgeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "s.sops.yaml"
    _encrypt(path, (age_key.recipient,))
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(other_key.file))
    with pytest.raises(sops.NoKeyError) as err:
        sops.decrypt_file(path, age_key_file=tmp_path / "missing-age.key")
    message = str(err.value)
    assert err.value.exit_code == 128
    assert "\n" not in message
    assert str(path) in message and age_key.recipient in message
    assert f"SOPS_AGE_KEY_FILE={other_key.file} (1 key)" in message
    assert "missing-age.key (file not found)" in message
    assert "set SOPS_AGE_KEY_FILE" in message or "point SOPS_AGE_KEY_FILE" in message
    assert other_key.identity not in message and "pa55word" not in message


def test_tampered_value_and_tampered_plaintext(tmp_path: Path, age_key: AgeKey) -> None:
    path = tmp_path / "s.sops.yaml"
    _encrypt(path, (age_key.recipient,), b"secret: pa55word-xyz\nplain_unencrypted: hello\n")
    original = path.read_text()
    # Swap the ciphertext under another key: GCM's AAD (the key path) catches it.
    lines = original.splitlines()
    lines[0] = lines[0].replace("secret:", "renamed:")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(sops.TamperedValue) as err:
        sops.decrypt_file(path, age_key_file=age_key.file)
    assert err.value.exit_code == 25 and "renamed" in str(err.value) and "pa55word" not in str(err.value)
    # Change a plaintext leaf: only the MAC can notice.
    path.write_text(original.replace("plain_unencrypted: hello", "plain_unencrypted: evil"))
    with pytest.raises(sops.MacMismatch) as mac_err:
        sops.decrypt_file(path, age_key_file=age_key.file)
    assert mac_err.value.exit_code == 51
    assert sops.decrypt_file(path, age_key_file=age_key.file, ignore_mac=True)["plain_unencrypted"] == "evil"


def test_not_a_sops_file_and_missing_file(tmp_path: Path) -> None:
    plain = tmp_path / "plain.yaml"
    plain.write_text("a: b\n")
    with pytest.raises(sops.NotSopsFile) as err:
        sops.decrypt_file(plain)
    assert "sops metadata not found" in str(err.value) and str(plain) in str(err.value)
    assert not sops.is_sops_file(plain)
    with pytest.raises(sops.NotSopsFile, match="file not found"):
        sops.decrypt_file(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [b\n")
    with pytest.raises(sops.SopsFormatError, match="not valid YAML"):
        sops.decrypt_file(broken)


def test_key_file_problems_are_reported_not_fatal(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("AGE-SECRET-KEY-1NOTVALID\n")
    enc = tmp_path / "enc.txt"
    enc.write_text("-----BEGIN AGE ENCRYPTED FILE-----\nxx\n-----END AGE ENCRYPTED FILE-----\n")
    ring = load_keyring(env={"SOPS_AGE_KEY_FILE": str(bad), "HOME": str(tmp_path)}, age_key_file=enc)
    assert ring.identities == ()
    described = ring.describe_sources()
    assert "malformed" in described and "passphrase-protected key file and no terminal" in described
    assert "NOTVALID" not in described


def test_secret_error_tree() -> None:
    from homeops.errors import SecretError

    for cls in (sops.NoKeyError, sops.MacMismatch, sops.NotSopsFile, sops.UnsupportedKeyType, sops.TamperedValue):
        assert issubclass(cls, SecretError)
    assert issubclass(sops.UnsupportedKeyType, sops.NoKeyError)


def test_key_cmd_runs_through_the_local_runner(tmp_path: Path, age_key: AgeKey) -> None:
    ring = load_keyring(env={"SOPS_AGE_KEY_CMD": f"cat {age_key.file}", "HOME": str(tmp_path)})
    assert ring.recipients == (age_key.recipient,)
    failing = load_keyring(env={"SOPS_AGE_KEY_CMD": "false", "HOME": str(tmp_path)})
    assert failing.identities == () and "exit code 1" in failing.describe_sources()


@pytest.mark.slow  # two scrypt (log2 N = 18) derivations
@pytest.mark.realworld
def test_passphrase_protected_keys_file_is_unlocked(tmp_path: Path) -> None:
    """The scrypt vector from sops' own tests: an encrypted identity file that opens the X25519 vector."""
    from sops_helpers import SOPS_RW

    from homeops.sops.keys import unwrap

    locked = SOPS_RW / "sops-repo__15e36f97__age-keysource_test-mockEncryptedIdentity.age"
    asked: list[str] = []

    def ask(name: str) -> str:
        asked.append(name)
        return "passphrase"

    ring = load_keyring(env={"SOPS_AGE_KEY_FILE": str(locked), "HOME": str(tmp_path)}, ask_passphrase=ask)
    assert asked == [f"SOPS_AGE_KEY_FILE={locked}"]
    assert ring.recipients == ("age1lzd99uklcjnc0e7d860axevet2cz99ce9pq6tzuzd05l5nr28ams36nvun",)
    vector = SOPS_RW / "sops-repo__15e36f97__age-keysource_test-mockEncryptedKey.age"
    assert unwrap(vector.read_text(), ring.identities) == b"data"
    wrong = load_keyring(env={"SOPS_AGE_KEY_FILE": str(locked), "HOME": str(tmp_path)}, ask_passphrase=lambda n: "no")
    assert wrong.identities == () and "wrong passphrase" in wrong.describe_sources()
