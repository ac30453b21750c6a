"""The SOPS branch of the exception tree; exit codes mirror the ``sops`` binary where one exists.

SecretError (homeops.errors)
├── NotSopsFile          the file has no ``sops`` metadata (sops: "metadata not found", 1)
├── SopsFormatError      the file cannot be parsed or holds an unknown value type (25)
├── NoKeyError           no available key unwraps the data key (128, CouldNotRetrieveKey)
│   └── UnsupportedKeyType  only PGP/KMS/… recipients, which homeops does not speak (128)
├── MacMismatch          values were changed after encryption, or the MAC is missing (51)
├── SopsConfigError      .sops.yaml missing, unreadable or without a matching rule (61)
├── AlreadyEncrypted     ``encrypt`` was asked to encrypt a sops file again (1)
└── SopsWriteError       the result could not be written (read-only directory, full disk); file unchanged
"""

from __future__ import annotations

from homeops.errors import SecretError


class NotSopsFile(SecretError):
    """The file carries no sops metadata."""


class SopsFormatError(SecretError):
    """The file is damaged, or uses a layout/type homeops cannot read."""

    exit_code = 25


class NoKeyError(SecretError):
    """None of the loaded identities unwraps the file's data key."""

    exit_code = 128


class UnsupportedKeyType(NoKeyError):
    """The file is wrapped only to key types homeops does not implement (PGP, cloud KMS, Vault)."""


class MacMismatch(SecretError):
    """The MAC over the values does not match: tampered file or wrong data key."""

    exit_code = 51


class SopsConfigError(SecretError):
    """``.sops.yaml`` is missing, invalid, or has no rule for the file."""

    exit_code = 61


class AlreadyEncrypted(SecretError):
    """Encrypting a file that is already a sops file would double-wrap it."""


class TamperedValue(SecretError):
    """A value's GCM tag does not verify: the ciphertext or its key path was changed (sops: 'Error decrypting tree')."""

    exit_code = 25


class SopsWriteError(SecretError):
    """The encrypted result could not be written; the file on disk is the one from before."""
