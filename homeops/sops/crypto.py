"""AES-256-GCM values (``ENC[AES256_GCM,…]``) and the MAC over a tree, byte-compatible with Go sops.

Pure functions over bytes: no I/O, no key handling. ``iv`` can be injected so tests can reproduce a
file's ciphertext byte for byte from its recorded data key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from homeops.sops.tree import from_text, to_bytes, type_name

IV_SIZE = 32  # sops' nonceSize; GCM accepts any nonce length
_ENC = re.compile(r"^ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")


class DecryptionFailed(Exception):
    """Internal: one value failed to authenticate (callers turn it into a SecretError with a file name)."""


@dataclass(frozen=True, slots=True)
class EncValue:
    data: bytes
    iv: bytes
    tag: bytes
    type: str

    def render(self) -> str:
        b64 = base64.b64encode
        return (
            f"ENC[AES256_GCM,data:{b64(self.data).decode()},iv:{b64(self.iv).decode()},"
            f"tag:{b64(self.tag).decode()},type:{self.type}]"
        )


def parse_enc(text: str) -> EncValue | None:
    """The parts of an ``ENC[…]`` string; None when ``text`` is not one."""
    m = _ENC.match(text)
    if not m:
        return None
    try:
        parts = [base64.b64decode(m.group(i), validate=True) for i in (1, 2, 3)]
    except (binascii.Error, ValueError):
        return None
    return EncValue(parts[0], parts[1], parts[2], m.group(4))


def is_enc(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("ENC[AES256_GCM,")


def encrypt_bytes(plain: bytes, key: bytes, aad: str, kind: str, iv: bytes | None = None) -> str:
    nonce = iv if iv is not None else os.urandom(IV_SIZE)
    sealed = AESGCM(key).encrypt(nonce, plain, aad.encode("utf-8", "surrogateescape"))
    return EncValue(sealed[:-16], nonce, sealed[-16:], kind).render()


def encrypt_value(value: Any, key: bytes, aad: str, iv: bytes | None = None) -> str:
    """Go ``aes.Cipher.Encrypt``: empty strings stay empty; everything else becomes ``ENC[…]``."""
    if isinstance(value, str) and value == "":
        return ""
    return encrypt_bytes(to_bytes(value), key, aad, type_name(value), iv)


def decrypt_bytes(text: str, key: bytes, aad: str) -> tuple[bytes, str]:
    enc = parse_enc(text)
    if enc is None:
        raise DecryptionFailed("not an ENC value")
    try:
        plain = AESGCM(key).decrypt(enc.iv, enc.data + enc.tag, aad.encode("utf-8", "surrogateescape"))
    except (InvalidTag, ValueError) as exc:
        raise DecryptionFailed("authentication failed") from exc
    return plain, enc.type


def decrypt_value(text: str, key: bytes, aad: str) -> Any:
    """Go ``aes.Cipher.Decrypt``: ``""`` stays ``""``; a value of an unknown type is an error."""
    if text == "":
        return ""
    plain, kind = decrypt_bytes(text, key, aad)
    try:
        return from_text(plain, kind)
    except ValueError as exc:
        raise DecryptionFailed(str(exc)) from exc


def aad_of(path: tuple[str, ...]) -> str:
    return ":".join(path) + ":"


def mac_hasher(mac_only_encrypted: bool) -> Any:
    h = hashlib.sha512()
    if mac_only_encrypted:
        h.update(hashlib.sha256(b"sops").digest())
    return h
