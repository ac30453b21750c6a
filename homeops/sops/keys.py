"""age identities from every place sops looks, loaded together, and data-key (un)wrapping via pyrage.

Sources, in the order sops reads them: ``SOPS_AGE_KEY``, ``SOPS_AGE_KEY_FILE``,
``SOPS_AGE_KEY_CMD``, the default keys file (``$XDG_CONFIG_HOME/sops/age/keys.txt``, else
``~/.config/sops/age/keys.txt``), SSH keys (``SOPS_AGE_SSH_PRIVATE_KEY_FILE``, ``~/.ssh/id_ed25519``,
``~/.ssh/id_rsa``), plus the inventory's ``age.key`` passed explicitly. Every identity found is used;
the key material itself never leaves this module except as pyrage objects, and it is registered with
the masker so no log or error can show it.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage

from homeops.secrets import MASKER
from homeops.sops.errors import NoKeyError, SopsFormatError

ARMOR_BEGIN = "-----BEGIN AGE ENCRYPTED FILE-----"


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where identities were looked for, for the 'which sources were tried' part of errors."""

    name: str
    count: int
    problem: str | None = None

    def describe(self) -> str:
        if self.problem:
            return f"{self.name} ({self.problem})"
        return f"{self.name} ({self.count} key{'s' if self.count != 1 else ''})"


@dataclass(frozen=True)
class KeyRing:
    identities: tuple[Any, ...]
    recipients: tuple[str, ...]  # public keys of the X25519 identities, to try the matching stanza first
    sources: tuple[KeySource, ...]

    def describe_sources(self) -> str:
        return "; ".join(s.describe() for s in self.sources) or "none"


RunCmd = Callable[[Sequence[str], Mapping[str, str]], str]
#: Asked for the passphrase of a passphrase-protected (scrypt) keys file; None means "cannot ask".
AskPassphrase = Callable[[str], str | None]


def _ask_on_tty(name: str) -> str | None:
    import getpass
    import sys

    if not sys.stdin.isatty():
        return None
    return getpass.getpass(f"passphrase for age keys in {name}: ")


def _default_run(argv: Sequence[str], env: Mapping[str, str]) -> str:
    from homeops.runners import LocalRunner

    result = LocalRunner().run(argv, env=env, timeout=60)
    if result.exit_code != 0:
        raise NoKeyError(f"SOPS_AGE_KEY_CMD failed with exit code {result.exit_code}: {result.last_error_line()}")
    return result.stdout


def _is_age_file(text: str) -> bool:
    head = text.lstrip()
    return head.startswith(ARMOR_BEGIN) or head.startswith("age-encryption.org/")


def unlock(name: str, data: bytes, ask: AskPassphrase | None) -> tuple[str | None, str | None]:
    """The plaintext of a passphrase-protected keys file (sops age/encrypted_keys.go), or a problem."""
    passphrase = (ask or _ask_on_tty)(name)
    if passphrase is None:
        return None, "passphrase-protected key file and no terminal to ask on; decrypt it with `age -d` first"
    try:
        return bytes(pyrage.passphrase.decrypt(data, passphrase)).decode("utf-8", "replace"), None
    except Exception:  # pyrage.DecryptError: wrong passphrase or not a scrypt file
        return None, "passphrase-protected key file: wrong passphrase"


def parse_identities(text: str) -> tuple[list[Any], list[str], str | None]:
    """X25519 identities in an age keys text (several per line allowed, ``#`` lines skipped)."""
    identities: list[Any] = []
    publics: list[str] = []
    problem: str | None = None
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(ARMOR_BEGIN) or line.startswith("age-encryption.org/"):
            return identities, publics, "passphrase-protected key file; decrypt it with `age -d` first"
        for word in line.split():
            if word.startswith("AGE-SECRET-KEY-1"):
                try:
                    ident = pyrage.x25519.Identity.from_str(word)
                except Exception:  # pyrage raises its own IdentityError subtypes
                    problem = "a malformed AGE-SECRET-KEY line"
                    continue
                MASKER.add(word)
                identities.append(ident)
                publics.append(str(ident.to_public()))
            elif word.startswith(("AGE-PLUGIN-", "AGE-SECRET-KEY-PQ-1")):
                problem = "plugin/post-quantum identities are not supported; use the sops binary"
            else:
                problem = "a line that is not an age identity"
    return identities, publics, problem


def _ssh_identity(path: Path) -> tuple[list[Any], str | None]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        return [], exc.strerror
    try:
        return [pyrage.ssh.Identity.from_buffer(data)], None
    except Exception:
        return [], "not an unencrypted ed25519/rsa key"


def default_keys_file(env: Mapping[str, str]) -> Path:
    base = env.get("XDG_CONFIG_HOME") or os.path.join(env.get("HOME") or os.path.expanduser("~"), ".config")
    return Path(base) / "sops" / "age" / "keys.txt"


def load_keyring(
    *,
    age_key_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    run_cmd: RunCmd | None = None,
    ask_passphrase: AskPassphrase | None = None,
) -> KeyRing:
    """Every age identity available to this process, like sops' ``loadIdentities``.

    A keys file that is itself passphrase-encrypted is unlocked by asking on the terminal
    (or ``ask_passphrase``); without one it is reported as a problem, never fatal.
    """
    env = os.environ if env is None else env
    identities: list[Any] = []
    publics: list[str] = []
    sources: list[KeySource] = []

    def add_text(name: str, text: str) -> None:
        if _is_age_file(text):
            unlocked, trouble = unlock(name, text.encode("utf-8", "surrogateescape"), ask_passphrase)
            if unlocked is None:
                sources.append(KeySource(name, 0, trouble))
                return
            text = unlocked
        found, pubs, problem = parse_identities(text)
        identities.extend(found)
        publics.extend(pubs)
        sources.append(KeySource(name, len(found), problem if not found else None))

    def add_file(name: str, path: Path, *, required: bool) -> None:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            if required:
                sources.append(KeySource(name, 0, "file not found"))
            return
        except OSError as exc:
            sources.append(KeySource(name, 0, exc.strerror))
            return
        add_text(name, text)

    if env.get("SOPS_AGE_KEY"):
        add_text("SOPS_AGE_KEY", env["SOPS_AGE_KEY"])
    if env.get("SOPS_AGE_KEY_FILE"):
        add_file(f"SOPS_AGE_KEY_FILE={env['SOPS_AGE_KEY_FILE']}", Path(env["SOPS_AGE_KEY_FILE"]), required=True)
    if env.get("SOPS_AGE_KEY_CMD"):
        argv = shlex.split(env["SOPS_AGE_KEY_CMD"])
        try:
            out = (run_cmd or _default_run)(argv, {"SOPS_AGE_RECIPIENT": env.get("SOPS_AGE_RECIPIENT", "")})
        except NoKeyError as exc:
            sources.append(KeySource("SOPS_AGE_KEY_CMD", 0, str(exc)))
        else:
            add_text("SOPS_AGE_KEY_CMD", out)
    default = default_keys_file(env)
    add_file(str(default), default, required=False)
    if age_key_file is not None:
        add_file(str(age_key_file), Path(age_key_file), required=True)
    ssh_paths: list[tuple[str, Path]] = []
    if env.get("SOPS_AGE_SSH_PRIVATE_KEY_FILE"):
        ssh_paths.append(("SOPS_AGE_SSH_PRIVATE_KEY_FILE", Path(env["SOPS_AGE_SSH_PRIVATE_KEY_FILE"])))
    home = Path(env.get("HOME") or os.path.expanduser("~"))
    ssh_paths += [(str(home / ".ssh" / n), home / ".ssh" / n) for n in ("id_ed25519", "id_rsa")]
    for name, path in ssh_paths:
        if path.is_file():
            found, problem = _ssh_identity(path)
            identities.extend(found)
            sources.append(KeySource(name, len(found), problem))
    return KeyRing(tuple(identities), tuple(publics), tuple(sources))


def unwrap(enc: str, identities: Sequence[Any]) -> bytes | None:
    """The payload of one armored age file (a sops ``enc`` block), or None if no identity opens it."""
    if not identities:
        return None
    try:
        data = pyrage.decrypt(enc.encode("ascii", "replace"), list(identities))
    except Exception:  # pyrage.DecryptError and friends: not for these identities, or damaged
        return None
    return bytes(data)


def wrap(data_key: bytes, recipient: str) -> str:
    """An armored age file holding ``data_key`` for one recipient, as sops writes into ``enc``."""
    try:
        rcpt = (
            pyrage.ssh.Recipient.from_str(recipient)
            if recipient.startswith("ssh-")
            else pyrage.x25519.Recipient.from_str(recipient)
        )
    except Exception:
        raise SopsFormatError(
            f"'{recipient}' is not an age X25519 or SSH recipient",
            hint="check the age: entries of .sops.yaml (age1… public keys)",
        ) from None
    armored = bytes(pyrage.encrypt(data_key, [rcpt], armored=True)).decode("ascii")
    return armored if armored.endswith("\n") else armored + "\n"
