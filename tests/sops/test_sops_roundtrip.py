"""Files homeops encrypts: the real age CLI opens every recipient's stanza, and they round-trip exactly."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
from sops_helpers import EXAMPLE_KEY, EXAMPLE_RECIPIENT, AgeKey

from homeops import sops
from homeops.sops import api, core, crypto
from homeops.sops.rules import CryptRule
from homeops.sops.stores import store_for
from homeops.sops.tree import Comment, Timestamp, walk_leaves

YAML_DOC = """\
# top comment
apiVersion: v1
kind: Secret
stringData:
    # the database
    password: hunter2-but-longer
    port: 5432
    ratio: 0.25
    enabled: true
    legacy: yes
    mode: 0755
    created: 2024-01-02
    stamp: 2001-12-14t21:59:43.10-05:00
    empty: ""
    nothing: null
    multi: |
        line one
        line two
    list:
        - a
        - b: c
          d: e
    literal_unencrypted: stays plain
---
second: doc
"""

PLAINTEXTS = {
    "secret.yaml": YAML_DOC.encode(),
    "secret.json": b'{"a": "b", "n": 42, "f": 1.5, "t": true, "nested": {"x": [1, "two", null]}, "e": ""}\n',
    "secret.env": b"# a comment\nFOO=bar\nMULTI=one\\ntwo\nEMPTY=\nKEY_unencrypted=plain\n",
    "secret.ini": b"[db]\n; the password\npassword = hunter2\nuser     = admin\n\n[other]\nx = 1\n",
    "secret.txt": b"raw bytes \xff\xfe and text\nsecond line\n",
}


def _age_decrypt(enc: str, key_file: Path, tmp: Path) -> bytes:
    blob = tmp / "stanza.age"
    blob.write_text(enc)
    out = subprocess.run(["age", "-d", "-i", str(key_file), str(blob)], capture_output=True, check=True)
    return out.stdout


@pytest.fixture
def age_cli() -> str:
    path = shutil.which("age")
    if path is None:
        pytest.fail("the age CLI is required for these tests (Debian package 'age'; scripts/test installs it)")
    return path


@pytest.mark.parametrize("name", sorted(PLAINTEXTS))
def test_real_age_cli_opens_each_recipient_stanza(
    name: str, age_cli: str, age_key: AgeKey, other_key: AgeKey, tmp_path: Path
) -> None:
    fmt = api.format_for_path(name)
    branches, _ = store_for(fmt).load(PLAINTEXTS[name], file=name)
    out, data_key = api.encrypt_branches(
        branches, fmt=fmt, recipients=(age_key.recipient, other_key.recipient), rule=None
    )
    sf = api.parse(out, file=name)
    stanzas = sf.metadata.groups[0].age
    assert [s.recipient for s in stanzas] == [age_key.recipient, other_key.recipient]
    assert _age_decrypt(stanzas[0].enc, age_key.file, tmp_path) == data_key
    assert _age_decrypt(stanzas[1].enc, other_key.file, tmp_path) == data_key
    with pytest.raises(subprocess.CalledProcessError):
        _age_decrypt(stanzas[0].enc, other_key.file, tmp_path)


@pytest.mark.parametrize("name", sorted(PLAINTEXTS))
def test_every_format_round_trips(name: str, age_key: AgeKey, tmp_path: Path) -> None:
    fmt = api.format_for_path(name)
    branches, _ = store_for(fmt).load(PLAINTEXTS[name], file=name)
    out, _ = api.encrypt_branches(branches, fmt=fmt, recipients=(age_key.recipient,), rule=None)
    assert b"hunter2" not in out and b"raw bytes" not in out and b"bar\n" not in out
    path = tmp_path / name
    path.write_bytes(out)
    assert sops.is_sops_file(path)
    again = api.decrypt_to_bytes(path, age_key_file=age_key.file)
    # Decrypting what homeops wrote gives back exactly the tree it was given.
    assert store_for(fmt).load(again, file=name)[0] == branches
    if fmt in ("dotenv", "binary", "ini"):
        assert again == PLAINTEXTS[name]


def test_yaml_types_comments_and_documents_survive(age_key: AgeKey, tmp_path: Path) -> None:
    path = tmp_path / "secret.sops.yaml"
    branches, _ = store_for("yaml").load(YAML_DOC.encode(), file="x")
    out, _ = api.encrypt_branches(branches, fmt="yaml", recipients=(age_key.recipient,), rule=None)
    path.write_bytes(out)
    text = out.decode()
    assert text.count("\nsops:\n") == 2  # metadata in every document, like sops
    assert "type:int]" in text and "type:float]" in text and "type:bool]" in text and "type:time]" in text
    assert "#ENC[AES256_GCM," in text and "the database" not in text
    assert "literal_unencrypted: stays plain" in text
    data = sops.decrypt_file(path, age_key_file=age_key.file)
    first = data[0]["stringData"]
    assert first["legacy"] == "yes" and first["mode"] == 0o755 and first["port"] == 5432
    assert first["created"].isoformat() == "2024-01-02T00:00:00+00:00"
    assert first["stamp"].isoformat() == "2001-12-14T21:59:43.100000-05:00"
    assert first["multi"] == "line one\nline two\n" and first["empty"] == "" and first["nothing"] is None
    assert data[1] == {"second": "doc"}
    shown = api.decrypt_to_bytes(path, age_key_file=age_key.file).decode()
    assert "# the database" in shown and "# top comment" in shown


def test_timestamps_keep_nanoseconds_in_the_mac() -> None:
    branches, _ = store_for("yaml").load(b"t: 2024-05-06T07:08:09.123456789Z\n", file="x")
    assert branches[0][0][1] == Timestamp("2024-05-06T07:08:09.123456789Z")
    key = bytes(range(32))
    enc, mac = core.encrypt_tree(
        branches, key, rule=CryptRule(), mac_only_encrypted=False, lastmodified="2024-01-01T00:00:00Z"
    )
    meta = api.parse(
        api.render(enc, "yaml", api.Metadata("2024-01-01T00:00:00Z", mac, "3.10.2")), file="x.yaml"
    ).metadata
    result = core.decrypt_tree(enc, meta, key, file="x")
    assert result.branches == branches


def test_mac_only_encrypted_and_encrypted_regex(age_key: AgeKey) -> None:
    branches, _ = store_for("yaml").load(YAML_DOC.encode(), file="x")
    rule = CryptRule("encrypted_regex", "^(data|stringData)$")
    out, key = api.encrypt_branches(
        branches, fmt="yaml", recipients=(age_key.recipient,), rule=rule, mac_only_encrypted=True
    )
    sf = api.parse(out, file="x.yaml")
    assert sf.metadata.mac_only_encrypted and sf.metadata.rule == rule
    assert ("kind", "Secret") in list(sf.branches[0])  # outside stringData: plaintext
    result = core.decrypt_tree(sf.branches, sf.metadata, key, file="x")
    assert result.branches == branches
    # With mac_only_encrypted, plaintext leaves are outside the MAC: changing one still verifies.
    sf.branches[0][1] = ("kind", "ConfigMap")
    core.decrypt_tree(sf.branches, sf.metadata, key, file="x")


def test_deterministic_encryption_with_injected_iv_matches_decrypt_side() -> None:
    key = bytes(32)
    ivs = iter(bytes([i]) * 32 for i in range(1, 100))
    branches, _ = store_for("yaml").load(b"a: b\n# c\nn: 1\n", file="x")
    enc, mac = core.encrypt_tree(
        branches,
        key,
        rule=CryptRule(),
        mac_only_encrypted=False,
        lastmodified="2024-01-01T00:00:00Z",
        iv=lambda: next(ivs),
    )
    values = [v for v, _, _ in walk_leaves(enc)]
    assert values[0] == crypto.encrypt_value("b", key, "a:", iv=bytes([1]) * 32)
    assert (
        isinstance(values[1], Comment)
        and values[1].text.startswith("ENC[")
        and values[1].text.endswith("type:comment]")
    )
    # The MAC covers the values in order ("b", then int 1 as "1"), never the comment.
    assert crypto.decrypt_value(mac, key, "2024-01-01T00:00:00Z") == hashlib.sha512(b"b1").hexdigest().upper()


def test_encrypt_file_uses_the_first_matching_rule_and_refuses_encrypted_input(tmp_path: Path, age_key: AgeKey) -> None:
    (tmp_path / ".sops.yaml").write_text(
        "creation_rules:\n"
        f"  - path_regex: talos/.*\\.sops\\.ya?ml$\n    age: {age_key.recipient}\n"
        f"  - path_regex: .*\\.sops\\.ya?ml$\n    encrypted_regex: ^(data|stringData)$\n    age: {EXAMPLE_RECIPIENT}\n"
    )
    (tmp_path / "talos").mkdir()
    talos = tmp_path / "talos" / "talsecret.sops.yaml"
    talos.write_text("cluster:\n    secret: s3cr3t-value\n")
    other = tmp_path / "app.sops.yaml"
    other.write_text("kind: Secret\nstringData:\n    token: t0k3n-value\n")
    config = tmp_path / ".sops.yaml"
    sops.encrypt_file(talos, config=config, in_place=True)
    sops.encrypt_file(other, config=config, in_place=True)
    assert sops.decrypt_file(talos, age_key_file=age_key.file) == {"cluster": {"secret": "s3cr3t-value"}}
    assert sops.load(talos).metadata.rule == CryptRule()  # no rule in .sops.yaml: sops' default suffix
    assert sops.load(other).metadata.rule == CryptRule("encrypted_regex", "^(data|stringData)$")
    assert sops.decrypt_file(other, age_key_file=EXAMPLE_KEY)["stringData"]["token"] == "t0k3n-value"
    with pytest.raises(sops.NoKeyError):
        sops.decrypt_file(other, age_key_file=age_key.file)
    before = talos.read_bytes()
    with pytest.raises(sops.AlreadyEncrypted):
        sops.encrypt_file(talos, config=config, in_place=True)
    assert talos.read_bytes() == before


def test_a_file_that_fails_to_encrypt_is_left_untouched(tmp_path: Path) -> None:
    (tmp_path / ".sops.yaml").write_text("creation_rules:\n  - age: age1notarealrecipient\n")
    target = tmp_path / "x.sops.yaml"
    target.write_text("password: keep-me\n")
    with pytest.raises(sops.SopsFormatError):
        sops.encrypt_file(target, config=tmp_path / ".sops.yaml", in_place=True)
    assert target.read_text() == "password: keep-me\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sops.yaml", "x.sops.yaml"]


def test_rotate_changes_the_data_key_and_keeps_recipients(tmp_path: Path, age_key: AgeKey, other_key: AgeKey) -> None:
    path = tmp_path / "s.sops.yaml"
    branches, _ = store_for("yaml").load(b"a: one-secret\nb:\n    - 1\n", file="x")
    out, key = api.encrypt_branches(
        branches, fmt="yaml", recipients=(age_key.recipient, other_key.recipient), rule=None
    )
    path.write_bytes(out)
    sops.rotate_file(path, age_key_file=age_key.file)
    sf = sops.load(path)
    assert [s.recipient for s in sf.metadata.groups[0].age] == [age_key.recipient, other_key.recipient]
    new = api.decrypt_sops_file(sf, age_key_file=other_key.file)
    assert new.data_key != key
    assert new.branches == branches


def test_update_file_keeps_the_data_key_and_skips_unchanged(tmp_path: Path, age_key: AgeKey) -> None:
    path = tmp_path / "s.sops.yaml"
    branches, _ = store_for("yaml").load(b"a: one-secret\n", file="x")
    out, key = api.encrypt_branches(branches, fmt="yaml", recipients=(age_key.recipient,), rule=None)
    path.write_bytes(out)
    assert sops.update_file(path, b"a: one-secret\n", age_key_file=age_key.file) is False
    assert path.read_bytes() == out
    assert sops.update_file(path, b"a: two-secret\n", age_key_file=age_key.file) is True
    result = api.decrypt_sops_file(sops.load(path), age_key_file=age_key.file)
    assert result.data_key == key and api._plain("yaml", result.branches) == {"a": "two-secret"}


def test_without_sops_yaml_sops_age_recipients_is_used(
    tmp_path: Path, age_key: AgeKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "loose.json"
    target.write_text('{"pw": "loose-secret"}')
    with pytest.raises(sops.SopsConfigError, match="SOPS_AGE_RECIPIENTS is not set"):
        sops.encrypt_file(target)
    monkeypatch.setenv("SOPS_AGE_RECIPIENTS", f" {age_key.recipient} ")
    sops.encrypt_file(target, in_place=True)
    assert sops.decrypt_file(target, age_key_file=age_key.file) == {"pw": "loose-secret"}
