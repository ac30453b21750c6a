"""homeops against files written by the real Go sops: decrypt, MAC, rules, and byte-exact re-encryption."""

from __future__ import annotations

import base64
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sops_helpers import SOPS_RW, expected, manifest_entries

from homeops import sops
from homeops.sops import core, crypto
from homeops.sops.crypto import aad_of, parse_enc
from homeops.sops.keys import load_keyring, unwrap
from homeops.sops.tree import Comment, walk_leaves
from tests.conftest import require_realworld

require_realworld()  # every test here reads the Go sops files of shared/realworld
AGE_FILES = manifest_entries("decrypt-check")
PGP_FILES = manifest_entries("decrypt-check-pgp")
PARSE_ONLY = manifest_entries("parse-only")
ALL_SOPS = [e for e in manifest_entries("decrypt-check", "decrypt-check-pgp", "parse-only")]
NO_MAC = manifest_entries("must-fail-mac (decrypts only with ignore-mac)")


def _ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["file"].split("__", 2)[-1] for e in entries]


def _leaves(branches: list[Any]) -> tuple[list[tuple[str, Any]], list[tuple[str, str]]]:
    values, comments = [], []
    for value, path, _ in walk_leaves(branches):
        if isinstance(value, Comment):
            comments.append((aad_of(path), value.text))
        else:
            values.append((aad_of(path), value))
    return values, comments


def _assert_matches_expected(branches: list[Any], exp: dict[str, Any], encrypted_comments_only: bool = True) -> None:
    values, comments = _leaves(branches)
    want = [(leaf["aad"], leaf["value"]) for leaf in exp["leaves_in_mac_order"]]
    assert [a for a, _ in values] == [a for a, _ in want]
    for (aad, got), (_, value), leaf in zip(values, want, exp["leaves_in_mac_order"], strict=True):
        if leaf["type"] == "float":
            assert isinstance(got, float) and math.isclose(got, value), aad
        else:
            assert got == value and type(got) is type(value), aad
    for c in exp["comments"]:
        assert (c["aad"], c["text"]) in comments


def test_manifest_is_complete(realworld: Path) -> None:
    assert len(AGE_FILES) == 2 and len(PGP_FILES) == 14 and len(PARSE_ONLY) == 8 and len(NO_MAC) == 1


@pytest.mark.parametrize("entry", AGE_FILES, ids=_ids(AGE_FILES))
def test_age_files_decrypt_with_mac_verified(entry: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    exp = expected(entry)
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(SOPS_RW / entry["key_file"]))
    sf = sops.load(SOPS_RW / entry["file"])
    result = sops.api.decrypt_sops_file(sf)
    assert result.data_key.hex() == exp["data_key_hex"]
    _assert_matches_expected(result.branches, exp)
    plain = sops.decrypt_file(SOPS_RW / entry["file"])
    assert isinstance(plain, dict) and plain


@pytest.mark.parametrize("recipient_index", [0, 1])
def test_either_age_identity_unwraps_each_stanza(recipient_index: int) -> None:
    entry = AGE_FILES[0]
    sf = sops.load(SOPS_RW / entry["file"])
    ring = load_keyring(age_key_file=SOPS_RW / entry["key_file"], env={})
    stanza = sf.metadata.groups[0].age[recipient_index]
    assert stanza.recipient == entry["recipients"][recipient_index]
    assert unwrap(stanza.enc, ring.identities) == bytes.fromhex(expected(entry)["data_key_hex"])


@pytest.mark.parametrize("entry", PGP_FILES, ids=_ids(PGP_FILES))
def test_pgp_files_decrypt_via_recorded_data_key(entry: dict[str, Any]) -> None:
    exp = expected(entry)
    sf = sops.load(SOPS_RW / entry["file"])
    result = core.decrypt_tree(sf.branches, sf.metadata, bytes.fromhex(exp["data_key_hex"]), file=entry["file"])
    _assert_matches_expected(result.branches, exp)
    if "plaintext_file_bytes_utf8" in exp:
        assert sops.api.render(result.branches, "binary").decode() == exp["plaintext_file_bytes_utf8"]


@pytest.mark.parametrize("entry", PGP_FILES, ids=_ids(PGP_FILES))
def test_pgp_only_files_are_refused_with_a_hint(entry: dict[str, Any]) -> None:
    with pytest.raises(sops.UnsupportedKeyType) as err:
        sops.decrypt_file(SOPS_RW / entry["file"])
    assert err.value.exit_code == 128
    assert "pgp" in str(err.value) and "sops binary" in str(err.value) and entry["file"] in str(err.value)


# Unwrapped once from the file's PGP stanza with gpg and the public test key in keys/
# (the manifest abbreviates it as 87f9ee7a…461f); no expected.json exists for this negative vector.
NO_MAC_DATA_KEY = bytes.fromhex("87f9ee7ab041cfd1946fb50e6166b29858fcb4224ae3816186a129248558461f")


def test_no_mac_file_is_refused_unless_ignore_mac() -> None:
    entry = NO_MAC[0]
    sf = sops.load(SOPS_RW / entry["file"])
    assert sf.metadata.mac is None
    with pytest.raises(sops.MacMismatch) as err:
        core.decrypt_tree(sf.branches, sf.metadata, NO_MAC_DATA_KEY, file=entry["file"])
    assert err.value.exit_code == 51 and "no MAC" in str(err.value) and entry["file"] in str(err.value)
    result = core.decrypt_tree(sf.branches, sf.metadata, NO_MAC_DATA_KEY, file=entry["file"], ignore_mac=True)
    assert _leaves(result.branches)[0] == [("myapp1:", "t00m4nys3cr3tzupdated")]


def test_a_wrong_data_key_is_a_tampered_value_not_plaintext() -> None:
    sf = sops.load(SOPS_RW / NO_MAC[0]["file"])
    with pytest.raises(sops.TamperedValue) as err:
        core.decrypt_tree(sf.branches, sf.metadata, bytes(32), file="no_mac.yaml", ignore_mac=True)
    assert err.value.exit_code == 25 and "myapp1" in str(err.value)


@pytest.mark.parametrize("entry", ALL_SOPS, ids=_ids(ALL_SOPS))
def test_every_file_parses_and_the_rule_marks_exactly_the_encrypted_values(entry: dict[str, Any]) -> None:
    shape = expected(entry, "parse_expected")
    sf = sops.load(SOPS_RW / entry["file"])
    rule = sf.metadata.effective_rule
    assert len(sf.branches) == shape["documents"]
    assert sf.metadata.lastmodified == shape["lastmodified"]
    assert [s.recipient for g in sf.metadata.groups for s in g.age] == shape["age_recipients"]
    types: Counter[str] = Counter()
    counts = Counter()
    enc_comments = 0
    mismatches = []
    for value, path, stack in walk_leaves(sf.branches):
        if isinstance(value, Comment):
            is_enc = crypto.is_enc(value.text.strip())
            enc_comments += is_enc
            # That one vector's comments predate comment encryption: plaintext where the rule says encrypt.
            legacy = entry["file"].endswith("comments_unencrypted_comments.yaml")
            if is_enc != rule.encrypts_comment(value.text, path, stack) and not legacy:
                mismatches.append(("comment", path))
            continue
        if value == "":
            counts["empty"] += 1
            continue
        is_enc = crypto.is_enc(value)
        if is_enc:
            counts["enc"] += 1
            enc = parse_enc(value)
            assert enc is not None
            types[enc.type] += 1
        else:
            counts["plain"] += 1
        if is_enc != rule.encrypts(path, stack):
            mismatches.append(("value", path))
    assert mismatches == []
    assert counts["enc"] == shape["encrypted_values"]
    assert counts["plain"] == shape["plaintext_values"]
    assert counts["empty"] == shape["empty_values"]
    assert dict(types) == shape["encrypted_types"]
    assert enc_comments == shape["encrypted_comments"]


def test_rule_prediction_can_fail() -> None:
    """The rule check above is not vacuous: the wrong rule flags the bjw-s file."""
    entry = next(e for e in PARSE_ONLY if e["file"].startswith("bjw-s"))
    sf = sops.load(SOPS_RW / entry["file"])
    wrong = sops.CryptRule("encrypted_regex", "^(data)$")
    flagged = [
        p
        for v, p, s in walk_leaves(sf.branches)
        if not isinstance(v, Comment) and crypto.is_enc(v) != wrong.encrypts(p, s)
    ]
    assert flagged


@pytest.mark.parametrize("entry", AGE_FILES + PGP_FILES, ids=_ids(AGE_FILES + PGP_FILES))
def test_reencrypting_with_recorded_key_and_iv_reproduces_the_file(entry: dict[str, Any]) -> None:
    exp = expected(entry)
    key = bytes.fromhex(exp["data_key_hex"])
    sf = sops.load(SOPS_RW / entry["file"])
    originals = [(v, p) for v, p, _ in walk_leaves(sf.branches)]
    decrypted = core.decrypt_tree(sf.branches, sf.metadata, key, file=entry["file"]).branches
    checked = 0
    for (orig, path), (plain, _, _) in zip(originals, walk_leaves(decrypted), strict=True):
        text = orig.text.strip() if isinstance(orig, Comment) else orig
        enc = parse_enc(text) if isinstance(text, str) else None
        if enc is None:
            continue
        again = crypto.encrypt_value(plain, key, aad_of(path), iv=enc.iv)
        assert again == text, path
        checked += 1
    assert checked == sum(1 for leaf in exp["leaves_in_mac_order"] if leaf["type"] not in ("plain", "empty")) + len(
        exp["comments"]
    )
    mac = parse_enc(sf.metadata.mac or "")
    assert mac is not None
    assert crypto.encrypt_value(exp["mac_plaintext"], key, exp["lastmodified_aad"], iv=mac.iv) == sf.metadata.mac


def test_age_unwrap_vectors() -> None:
    vectors = expected({"expected": "expected/age-unwrap-vectors.expected.json"})["vectors"]
    x25519, ssh = vectors[0], vectors[1]
    ring = load_keyring(age_key_file=SOPS_RW / x25519["identity_file"], env={})
    assert ring.recipients == (x25519["recipient"],)
    assert unwrap((SOPS_RW / x25519["file"]).read_text(), ring.identities) == b"data"
    ssh_ring = load_keyring(
        env={"SOPS_AGE_SSH_PRIVATE_KEY_FILE": str(SOPS_RW / ssh["identity_file"]), "HOME": "/nonexistent"}
    )
    assert unwrap((SOPS_RW / ssh["file"]).read_text(), ssh_ring.identities) == b"data"
    assert base64.b64decode  # armored input goes straight to pyrage (≥ 1.3), no dearmoring here


@pytest.mark.parametrize("entry", AGE_FILES + PGP_FILES, ids=_ids(AGE_FILES + PGP_FILES))
def test_homeops_rewrites_each_file_so_it_still_verifies(entry: dict[str, Any]) -> None:
    """Parse → write back (the edit path) → parse: values, comments, MAC and every key stanza survive."""
    key = bytes.fromhex(expected(entry)["data_key_hex"])
    sf = sops.load(SOPS_RW / entry["file"])
    rewritten = sops.api.render(sf.branches, sf.format, sf.metadata)
    again = sops.parse(rewritten, file=entry["file"])
    assert again.metadata.groups == sf.metadata.groups
    assert again.metadata.mac == sf.metadata.mac and again.metadata.rule == sf.metadata.rule
    result = core.decrypt_tree(again.branches, again.metadata, key, file=entry["file"])
    _assert_matches_expected(result.branches, expected(entry))
    # And a re-encryption with the same data key (what sops.edit does) verifies too.
    updated = sops.api.reencrypt(again, result.branches, key)
    final = sops.parse(updated, file=entry["file"])
    assert core.decrypt_tree(final.branches, final.metadata, key, file=entry["file"]).branches == result.branches
