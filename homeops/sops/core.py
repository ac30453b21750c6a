"""Decrypting and encrypting a parsed tree: data key from the key groups, values, comments and MAC.

Mirrors sops.go ``Tree.Decrypt``/``Tree.Encrypt``: which leaves are (de)crypted is decided by the
file's rule, every non-comment leaf feeds the MAC in file order (only the encrypted ones with
``mac_only_encrypted``), and the MAC is stored encrypted under lastmodified.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import homeops.sops.crypto as crypto
import homeops.sops.shamir as shamir
from homeops.sops.crypto import aad_of
from homeops.sops.errors import MacMismatch, NoKeyError, SopsFormatError, TamperedValue, UnsupportedKeyType
from homeops.sops.keys import KeyRing, unwrap, wrap
from homeops.sops.metadata import AgeStanza, KeyGroup, Metadata, mac_aad
from homeops.sops.rules import CryptRule
from homeops.sops.tree import Branch, Comment, Mapping, to_bytes, transform

IvSource = Callable[[], bytes]
DATA_KEY_SIZE = 32


@dataclass(frozen=True)
class Decrypted:
    branches: list[Branch]
    data_key: bytes
    encrypted_paths: tuple[tuple[str, ...], ...]  # where the encrypted leaves were (to mask their values)
    secrets: tuple[Any, ...]  # the plaintexts of encrypted leaves
    # where a ``type:int`` value lies beyond int64: Go sops (and Flux) fail on it with
    # "strconv.Atoi: value out of range" (aes/cipher.go:106-107); older homeops wrote such values
    go_unreadable: tuple[tuple[str, ...], ...] = ()


GO_INT = (-(2**63), 2**63 - 1)


def in_go_int(value: Any) -> bool:
    return not isinstance(value, int) or isinstance(value, bool) or GO_INT[0] <= value <= GO_INT[1]


def check_go_leaf(value: Any, path: tuple[str, ...], *, file: str = "") -> None:
    """Go sops walks only int-sized integers: yaml.v3 reads 2^63…2^64-1 as a uint64, which sops
    refuses ("Cannot walk value, unknown type: uint64", sops.go:338-365), so homeops does too."""
    if not in_go_int(value):
        where = f"{file}: " if file else ""
        raise SopsFormatError(
            f"{where}value at {'.'.join(path) or '(top)'} ({value}) is outside the int64 range, which sops cannot"
            " encrypt or decrypt",
            hint="quote it to keep it as a string",
        )


def _check_keys(value: Any, path: tuple[str, ...] = ()) -> None:
    """sops.go walkBranch: "Tree contains a non-string key … Only string keys are supported"."""
    if isinstance(value, list) and not isinstance(value, Mapping):
        for item in value:
            _check_keys(item, path)
        return
    if not isinstance(value, Mapping):
        return
    for key, item in value:
        if isinstance(key, Comment):
            continue
        if not isinstance(key, str):
            where = ".".join(path) or "the top level"
            raise SopsFormatError(
                f"mapping key {key!r} under {where} is not a string ({type(key).__name__}); sops supports only"
                " string keys",
                hint="quote the key",
            )
        _check_keys(item, (*path, key))


def _group_key(group: KeyGroup, ring: KeyRing) -> bytes | None:
    stanzas = sorted(group.age, key=lambda s: s.recipient not in ring.recipients)
    for stanza in stanzas:
        key = unwrap(stanza.enc, ring.identities)
        if key is not None:
            return key
    return None


def data_key(meta: Metadata, ring: KeyRing, *, file: str) -> bytes:
    """Unwrap the data key with any identity in ``ring`` (Shamir-combined over several groups)."""
    groups = meta.groups
    if not groups:
        raise SopsFormatError(f"{file}: the sops metadata lists no keys at all")
    age_recipients = [s.recipient for g in groups for s in g.age]
    foreign = sorted({k for g in groups for k in g.foreign_kinds})
    if not age_recipients:
        raise UnsupportedKeyType(
            f"{file}: encrypted only to {', '.join(foreign)} keys, which homeops does not support",
            hint="decrypt it with the sops binary, or re-encrypt it to an age recipient",
        )
    parts = [k for k in (_group_key(g, ring) for g in groups) if k is not None]
    needed = 1 if len(groups) == 1 else max(meta.shamir_threshold, 2)
    if len(parts) < needed:
        also = f" (it also has {', '.join(foreign)} keys, which homeops cannot use)" if foreign else ""
        raise NoKeyError(
            f"{file}: no available age key decrypts the data key; recipients: {', '.join(age_recipients)}{also}; "
            f"key sources tried: {ring.describe_sources()}",
            hint="point SOPS_AGE_KEY_FILE at the matching age identity (or set cluster.ageKey in homeops.yaml)",
        )
    if len(groups) == 1:
        key = parts[0]
    else:
        try:
            key = shamir.combine(parts[:needed])
        except ValueError as exc:
            raise SopsFormatError(f"{file}: cannot combine the key-group shares ({exc})") from None
    if len(key) != DATA_KEY_SIZE:
        raise SopsFormatError(f"{file}: the unwrapped data key has {len(key)} bytes, expected {DATA_KEY_SIZE}")
    return key


def decrypt_tree(
    branches: list[Branch], meta: Metadata, key: bytes, *, file: str, ignore_mac: bool = False
) -> Decrypted:
    rule = meta.effective_rule
    h = crypto.mac_hasher(meta.mac_only_encrypted)
    secrets: list[Any] = []
    paths: list[tuple[str, ...]] = []
    unreadable: list[tuple[str, ...]] = []

    def leaf(value: Any, path: tuple[str, ...], stack: tuple[str, ...]) -> Any:
        if isinstance(value, Comment):
            text = value.text.strip()
            if rule.encrypts_comment(value.text, path, stack) and crypto.is_enc(text):
                try:
                    out = crypto.decrypt_value(text, key, aad_of(path))
                except crypto.DecryptionFailed:
                    return value  # sops: a comment that does not decrypt predates comment encryption
                return out if isinstance(out, Comment) else Comment(str(out))
            return value
        encrypted = rule.encrypts(path, stack)
        if encrypted:
            if not isinstance(value, str):
                raise TamperedValue(
                    f"{file}: value at {'.'.join(path)} should be encrypted but is a plain {type(value).__name__}",
                    hint="the file was edited by hand; restore it from git",
                )
            try:
                value = crypto.decrypt_value(value, key, aad_of(path))
            except crypto.DecryptionFailed:
                raise TamperedValue(
                    f"{file}: value at {'.'.join(path) or '(top)'} failed authentication — it or its key was changed",
                    hint="restore the file from git; values cannot be edited without the sops key",
                ) from None
            if isinstance(value, Comment):
                # Go sops writes an encrypted comment inside a sequence as a plain "ENC[…type:comment]"
                # item; it decrypts back to a comment, which the MAC skips (sops.go Tree.Decrypt).
                return value
            if not in_go_int(value):  # only type:int decrypts to an int
                unreadable.append(path)
            if value != "":
                secrets.append(value)
                paths.append(path)
        elif not isinstance(value, Comment):
            check_go_leaf(value, path, file=file)
        if not meta.mac_only_encrypted or encrypted:
            h.update(to_bytes(value))
        return value

    plain = transform(branches, leaf)
    if not ignore_mac:
        computed = h.hexdigest().upper()
        stored = ""
        if meta.mac:
            try:
                stored = str(crypto.decrypt_value(meta.mac, key, meta.mac_aad))
            except crypto.DecryptionFailed:
                raise MacMismatch(
                    f"{file}: cannot decrypt the MAC (lastmodified or mac was changed)",
                    hint="restore the file from git",
                ) from None
        if stored != computed:
            what = "has no MAC" if not meta.mac else "MAC mismatch: values were changed after encryption"
            raise MacMismatch(f"{file}: {what}", hint="restore the file from git, or re-encrypt from a trusted copy")
    return Decrypted(plain, key, tuple(paths), tuple(secrets), tuple(unreadable))


def encrypt_tree(
    branches: list[Branch],
    key: bytes,
    *,
    rule: CryptRule,
    mac_only_encrypted: bool,
    lastmodified: str,
    iv: IvSource | None = None,
) -> tuple[list[Branch], str]:
    """The encrypted branches and the encrypted MAC (``ENC[…]`` under ``lastmodified``)."""
    _check_keys(branches)
    h = crypto.mac_hasher(mac_only_encrypted)
    next_iv = iv or (lambda: os.urandom(crypto.IV_SIZE))

    def leaf(value: Any, path: tuple[str, ...], stack: tuple[str, ...]) -> Any:
        if isinstance(value, Comment):
            if rule.encrypts_comment(value.text, path, stack) and value.text:
                return Comment(crypto.encrypt_value(value, key, aad_of(path), next_iv()))
            return value
        check_go_leaf(value, path)
        encrypted = rule.encrypts(path, stack)
        if not mac_only_encrypted or encrypted:
            h.update(to_bytes(value))
        if encrypted:
            if isinstance(value, str) and crypto.is_enc(value):
                raise SopsFormatError(f"value at {'.'.join(path)} is already encrypted")
            return crypto.encrypt_value(value, key, aad_of(path), next_iv() if value != "" else None)
        return value

    out = transform(branches, leaf)
    mac = crypto.encrypt_value(h.hexdigest().upper(), key, mac_aad(lastmodified), next_iv())
    return out, mac


def wrap_for(recipients: Sequence[str], key: bytes) -> KeyGroup:
    return KeyGroup(age=tuple(AgeStanza(r, wrap(key, r)) for r in recipients))
