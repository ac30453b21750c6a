"""Key groups: a data key split Vault-style over two groups is recombined (sops shamir)."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from sops_helpers import AgeKey, make_key

from homeops import sops
from homeops.sops import api, core, shamir
from homeops.sops.keys import load_keyring, wrap
from homeops.sops.metadata import AgeStanza, KeyGroup, Metadata
from homeops.sops.rules import CryptRule
from homeops.sops.stores import store_for


def _split(secret: bytes, parts: int, threshold: int, rng: random.Random) -> list[bytes]:
    """Vault's scheme: one random polynomial per byte, evaluated at x = 1..parts; x in the last byte."""
    shares = [bytearray() for _ in range(parts)]
    for byte in secret:
        coeffs = [byte] + [rng.randrange(256) for _ in range(threshold - 1)]
        for i in range(parts):
            x, y, power = i + 1, 0, 1
            for c in coeffs:
                y ^= shamir._mul(c, power)
                power = shamir._mul(power, x)
            shares[i].append(y)
    return [bytes(s) + bytes([i + 1]) for i, s in enumerate(shares)]


@pytest.mark.parametrize("seed", range(5))
def test_combine_recovers_the_secret_from_any_threshold_subset(seed: int) -> None:
    rng = random.Random(seed)
    secret = bytes(rng.randrange(256) for _ in range(32))
    shares = _split(secret, 3, 2, rng)
    for subset in ([0, 1], [1, 2], [0, 2]):
        assert shamir.combine([shares[i] for i in subset]) == secret
    with pytest.raises(ValueError, match="less than two"):
        shamir.combine(shares[:1])


def test_two_key_groups_decrypt_end_to_end(tmp_path: Path, age_key: AgeKey) -> None:
    second = make_key(tmp_path, "second.txt")
    key = os.urandom(32)
    shares = _split(key, 2, 2, random.Random(7))
    branches, _ = store_for("yaml").load(b"a: shared-secret\n", file="x")
    enc, mac = core.encrypt_tree(
        branches, key, rule=CryptRule(), mac_only_encrypted=False, lastmodified="2024-01-01T00:00:00Z"
    )
    meta = Metadata(
        lastmodified="2024-01-01T00:00:00Z",
        mac=mac,
        version="3.10.2",
        groups=(
            KeyGroup(age=(AgeStanza(age_key.recipient, wrap(shares[0], age_key.recipient)),)),
            KeyGroup(age=(AgeStanza(second.recipient, wrap(shares[1], second.recipient)),)),
        ),
        flat_groups=False,
        shamir_threshold=2,
    )
    path = tmp_path / "groups.sops.yaml"
    path.write_bytes(api.render(enc, "yaml", meta))
    assert "key_groups:" in path.read_text() and "shamir_threshold: 2" in path.read_text()
    env = {"SOPS_AGE_KEY": f"{age_key.identity}\n{second.identity}", "HOME": str(tmp_path)}
    ring = load_keyring(env=env)
    assert api.decrypt_sops_file(sops.load(path), ring=ring).branches == branches
    with pytest.raises(sops.NoKeyError):
        api.decrypt_sops_file(sops.load(path), ring=load_keyring(age_key_file=age_key.file, env={}))
