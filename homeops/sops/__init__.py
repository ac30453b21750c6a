"""Native SOPS: read and write sops files (YAML, JSON, dotenv, INI, binary) with age keys, no sops binary.

    from homeops import sops
    data = sops.decrypt_file("talos/talsecret.sops.yaml", age_key_file=Path("age.key"))
    with sops.decrypted(path) as secrets: ...          # leaves are masked Secret values
    with sops.plaintext_file(path) as tmp: ...         # 0600 file on tmpfs, removed on exit / Ctrl-C
    sops.encrypt_file(path, config=".sops.yaml", in_place=True)

Errors are ``homeops.errors.SecretError`` subclasses (see ``homeops.sops.errors``) whose
``exit_code`` mirrors the sops binary (128 no key, 51 MAC mismatch).
"""

from __future__ import annotations

from homeops.sops.api import (
    CheckProblem,
    SopsFile,
    check_tree,
    decrypt_file,
    decrypt_to_bytes,
    decrypted,
    encrypt_branches,
    encrypt_file,
    is_sops_file,
    load,
    parse,
    plaintext_file,
    reencrypt,
    rotate_file,
    update_file,
)
from homeops.sops.errors import (
    AlreadyEncrypted,
    MacMismatch,
    NoKeyError,
    NotSopsFile,
    SopsConfigError,
    SopsFormatError,
    SopsWriteError,
    TamperedValue,
    UnsupportedKeyType,
)
from homeops.sops.keys import KeyRing, load_keyring
from homeops.sops.rules import CreationRule, CryptRule, SopsConfig, find_config, load_config, translate_re2

__all__ = [
    "AlreadyEncrypted",
    "CheckProblem",
    "CreationRule",
    "CryptRule",
    "KeyRing",
    "MacMismatch",
    "NoKeyError",
    "NotSopsFile",
    "SopsConfig",
    "SopsConfigError",
    "SopsFile",
    "SopsFormatError",
    "SopsWriteError",
    "TamperedValue",
    "UnsupportedKeyType",
    "check_tree",
    "decrypt_file",
    "decrypt_to_bytes",
    "decrypted",
    "encrypt_branches",
    "encrypt_file",
    "find_config",
    "is_sops_file",
    "load",
    "load_config",
    "load_keyring",
    "parse",
    "plaintext_file",
    "reencrypt",
    "rotate_file",
    "translate_re2",
    "update_file",
]
