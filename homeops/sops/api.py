"""The file-level API the rest of homeops uses: decrypt, encrypt, edit-in-place, rotate, check.

Everything reads and writes whole files atomically: a file that fails to encrypt is left as it
was, and plaintext only exists in memory (or in ``plaintext_file``'s private tmpfs file).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import homeops.sops.core as core
from homeops.secrets import MASKER, Secret
from homeops.sops.errors import (
    AlreadyEncrypted,
    NotSopsFile,
    SopsConfigError,
    SopsFormatError,
    SopsWriteError,
    UnsupportedKeyType,
)
from homeops.sops.keys import KeyRing, load_keyring
from homeops.sops.metadata import WRITE_VERSION, Metadata, metadata_dict, now_rfc3339, parse_metadata
from homeops.sops.rules import CreationRule, CryptRule, SopsConfig, find_config, load_config
from homeops.sops.stores import format_for_path, store_for
from homeops.sops.stores.yaml_emit import Emitter, scalar_text
from homeops.sops.tempfiles import private_file
from homeops.sops.tree import Branch, Comment, Mapping, Timestamp, transform

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class SopsFile:
    """An encrypted file as parsed: still-encrypted branches plus its metadata."""

    path: str
    format: str
    branches: list[Branch]
    metadata: Metadata


def _read(path: PathLike) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise NotSopsFile(f"{path}: file not found") from None
    except IsADirectoryError:
        raise NotSopsFile(f"{path}: is a directory, not a sops file") from None
    except OSError as exc:
        raise NotSopsFile(f"{path}: cannot read ({exc.strerror})") from None


def parse(data: bytes, *, file: str, fmt: str | None = None) -> SopsFile:
    """Parse an encrypted file's bytes (no key needed)."""
    fmt = fmt or format_for_path(file)
    branches, raw = store_for(fmt).load(data, file=file)
    if raw is None:
        raise NotSopsFile(f"{file}: sops metadata not found", hint="this file is not encrypted with sops")
    return SopsFile(file, fmt, branches, parse_metadata(raw, file=file))


def load(path: PathLike, *, fmt: str | None = None) -> SopsFile:
    return parse(_read(path), file=str(path), fmt=fmt)


def is_sops_file(path: PathLike) -> bool:
    """True when ``path`` parses as a sops file with metadata (no key needed)."""
    try:
        sf = load(path)
    except Exception:
        return False
    return bool(sf.metadata.lastmodified) and bool(sf.metadata.groups)


def decrypt_sops_file(
    sf: SopsFile, *, age_key_file: PathLike | None = None, ignore_mac: bool = False, ring: KeyRing | None = None
) -> core.Decrypted:
    ring = ring or load_keyring(age_key_file=Path(age_key_file) if age_key_file else None)
    key = core.data_key(sf.metadata, ring, file=sf.path)
    result = core.decrypt_tree(sf.branches, sf.metadata, key, file=sf.path, ignore_mac=ignore_mac)
    # Anything decrypted is now a known secret: mask it wherever text leaves the process.
    MASKER.extend(str(v) for v in result.secrets if isinstance(v, str))
    return result


def _plain_value(value: Any, *, json_numbers: bool = False) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain_value(v, json_numbers=json_numbers) for k, v in value if not isinstance(k, Comment)}
    if isinstance(value, list):
        return [_plain_value(v, json_numbers=json_numbers) for v in value if not isinstance(v, Comment)]
    if isinstance(value, Timestamp):
        return value.to_datetime()
    if json_numbers and isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        # JSON numbers are float64 in sops, and sops -d prints a whole one without a fraction
        # (6443, not 6443.0): give what reading that output gives
        return int(value)
    return value


def _plain(fmt: str, branches: list[Branch]) -> Any:
    if fmt == "binary":
        values = [v for k, v in branches[0] if k == "data"] if branches else []
        return values[0] if values else ""
    docs = [_plain_value(b, json_numbers=fmt == "json") for b in branches]
    return docs[0] if len(docs) == 1 else docs


def decrypt_file(path: PathLike, *, age_key_file: Path | None = None, ignore_mac: bool = False) -> Any:
    """Plain decrypted data: a dict (YAML/JSON/dotenv; INI: dict of sections), a list of dicts for
    multi-document YAML, or the text of a binary file."""
    sf = load(path)
    return _plain(sf.format, decrypt_sops_file(sf, age_key_file=age_key_file, ignore_mac=ignore_mac).branches)


def _mask_leaves(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _mask_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_leaves(v) for v in value]
    return Secret(value)


@contextlib.contextmanager
def decrypted(path: PathLike, *, age_key_file: Path | None = None, ignore_mac: bool = False) -> Iterator[Any]:
    """``with decrypted(p) as data:`` — the decrypted structure with every leaf a masked ``Secret``."""
    data = _mask_leaves(decrypt_file(path, age_key_file=age_key_file, ignore_mac=ignore_mac))
    try:
        yield data
    finally:
        del data


def render(branches: list[Branch], fmt: str, metadata: Metadata | None = None) -> bytes:
    """File bytes for ``branches`` in ``fmt``; without metadata this is plaintext."""
    meta = metadata_dict(metadata) if metadata is not None else None
    try:
        return store_for(fmt).dump(branches, meta)
    except SopsFormatError:
        raise
    except (TypeError, ValueError) as exc:
        raise SopsFormatError(f"cannot write this data as {fmt}: {exc}") from None


def decrypt_to_bytes(
    path: PathLike,
    *,
    output_type: str | None = None,
    extract: str | None = None,
    age_key_file: Path | None = None,
    ignore_mac: bool = False,
) -> bytes:
    """What ``sops -d`` prints: the decrypted file in its (or ``output_type``'s) format."""
    sf = load(path)
    branches = decrypt_sops_file(sf, age_key_file=age_key_file, ignore_mac=ignore_mac).branches
    fmt = output_type or sf.format
    if extract:
        value = extract_value(branches[0] if branches else Mapping(), extract, file=str(path))
        if isinstance(value, Mapping):
            return render([value], fmt)
        if isinstance(value, list):
            return _render_list(value, fmt)
        if isinstance(value, bytes):
            return value
        return _scalar_text(value, fmt).encode("utf-8", "surrogateescape")
    return render(branches, fmt)


def _scalar_text(value: Any, fmt: str) -> str:
    """A scalar as ``--extract`` prints it (cmd/sops/decrypt.go): a string raw, anything else through
    the output store's EmitValue: yaml.Marshal (with its newline) or json.Marshal."""
    if isinstance(value, str):
        return value
    if fmt in ("json", "ini", "binary"):
        from homeops.sops.stores.json_store import render_json

        return render_json(value)
    return scalar_text(value) + "\n"


def _render_list(value: list[Any], fmt: str) -> bytes:
    if fmt == "json":
        from homeops.sops.stores.json_store import render_json

        return (render_json(value) + "\n").encode()
    text = Emitter(4).sequence_document(value)
    return (text if text.endswith("\n") else text + "\n").encode("utf-8", "surrogateescape")


_EXTRACT = re.compile(r'\[(?:"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\'|(-?\d+))\]')


def parse_extract(expr: str) -> list[str | int]:
    """``["a"]["b"][0]`` → ``["a", "b", 0]`` (sops' --extract syntax)."""
    steps: list[str | int] = []
    pos = 0
    expr = expr.strip()
    while pos < len(expr):
        m = _EXTRACT.match(expr, pos)
        if not m:
            raise SopsFormatError(f"invalid --extract path {expr!r}", hint='use the form \'["key"]["sub"][0]\'')
        if m.group(3) is not None:
            steps.append(int(m.group(3)))
        else:
            steps.append(m.group(1) if m.group(1) is not None else m.group(2))
        pos = m.end()
    if not steps:
        raise SopsFormatError(f"invalid --extract path {expr!r}", hint='use the form \'["key"]["sub"][0]\'')
    return steps


def extract_value(branch: Branch, expr: str, *, file: str = "") -> Any:
    node: Any = branch
    for step in parse_extract(expr):
        if isinstance(node, Mapping) and isinstance(step, str):
            found = [v for k, v in node if not isinstance(k, Comment) and str(k) == step]
            if not found:
                raise SopsFormatError(f"{file}: --extract: key {step!r} not found")
            node = found[-1]
        elif isinstance(node, list) and not isinstance(node, Mapping) and isinstance(step, int):
            items = [v for v in node if not isinstance(v, Comment)]
            if not -len(items) <= step < len(items):
                raise SopsFormatError(f"{file}: --extract: index {step} out of range")
            node = items[step]
        else:
            raise SopsFormatError(f"{file}: --extract: cannot index {type(node).__name__} with {step!r}")
    return node


@contextlib.contextmanager
def plaintext_file(
    path: PathLike,
    *,
    age_key_file: Path | None = None,
    output_type: str | None = None,
    ignore_mac: bool = False,
) -> Iterator[Path]:
    """The decrypted file as a 0600 file in a private tmpfs dir, removed on exit, error or Ctrl-C."""
    data = decrypt_to_bytes(path, output_type=output_type, age_key_file=age_key_file, ignore_mac=ignore_mac)
    name = Path(path).name.replace(".sops", "")
    with private_file(data, name=name) as tmp:
        yield tmp


# --- encrypting ---------------------------------------------------------------------------------


def _rule_for(target: Path, config: SopsConfig | PathLike | None) -> CreationRule:
    """The creation rule for ``target``: from the given or discovered ``.sops.yaml``; without one,
    ``SOPS_AGE_RECIPIENTS`` (what sops' ``--age`` flag defaults to) with sops' default rule."""
    if isinstance(config, SopsConfig):
        return config.rule_for(target)
    if config is not None:
        return load_config(Path(config)).rule_for(target)
    found = find_config(Path.cwd())
    if found is not None:
        return load_config(found).rule_for(target)
    env_recipients = os.environ.get("SOPS_AGE_RECIPIENTS", "")
    if env_recipients.strip():
        return CreationRule(age=tuple(r.strip() for r in env_recipients.split(",") if r.strip()))
    raise SopsConfigError(
        "no .sops.yaml found in the working directory or its parents, and SOPS_AGE_RECIPIENTS is not set",
        hint="run from the repository, pass --inventory / config=, or set SOPS_AGE_RECIPIENTS",
    )


def encrypt_branches(
    branches: list[Branch],
    *,
    fmt: str,
    recipients: tuple[str, ...],
    rule: CryptRule | None,
    mac_only_encrypted: bool = False,
    key: bytes | None = None,
    iv: core.IvSource | None = None,
    lastmodified: str | None = None,
) -> tuple[bytes, bytes]:
    """Encrypt plaintext branches to ``recipients``; returns ``(file_bytes, data_key)``."""
    key = key if key is not None else os.urandom(core.DATA_KEY_SIZE)
    stamp = lastmodified or now_rfc3339()
    # sops ≥ 3.11 ignores crypt rules for the binary store: its single value is always encrypted.
    written_rule = None if fmt == "binary" else (rule or CryptRule())
    enc, mac = core.encrypt_tree(
        branches,
        key,
        rule=written_rule or CryptRule(),
        mac_only_encrypted=mac_only_encrypted,
        lastmodified=stamp,
        iv=iv,
    )
    meta = Metadata(
        lastmodified=stamp,
        mac=mac,
        version=WRITE_VERSION,
        groups=(core.wrap_for(recipients, key),),
        rule=written_rule,
        mac_only_encrypted=mac_only_encrypted,
    )
    return render(enc, fmt, meta), key


def _parse_plaintext(data: bytes, *, file: str, fmt: str) -> list[Branch]:
    if fmt == "binary":
        # sops' BinaryStore.LoadPlainFile wraps any bytes, even a file that looks like a sops JSON
        # envelope (stores/json/store.go:57-66).
        return [Mapping([("data", data.decode("utf-8", "surrogateescape"))])]
    branches, raw = store_for(fmt).load(data, file=file)
    if not branches:
        # cmd/sops/encrypt.go: "File cannot be completely empty, it must contain at least one document"
        raise SopsFormatError(f"{file}: holds no YAML document; sops will not encrypt an empty file")
    if raw is not None:
        raise AlreadyEncrypted(f"{file}: is already encrypted with sops", hint="use sops.edit or sops.rotate instead")
    return branches


def _atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` (through a symlink, as sops does) with ``data``; on failure the file is untouched."""
    if path.is_symlink():
        path = path.resolve()
    tmp = path.with_name(f".{path.name}.homeops-tmp")
    try:
        mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    except OSError as exc:
        raise SopsWriteError(
            f"{path}: cannot write ({exc.strerror or exc}); the file is unchanged",
            hint="check the directory's permissions",
        ) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise SopsWriteError(f"{path}: cannot write ({exc.strerror or exc}); the file is unchanged") from None
        raise


def encrypt_file(
    path: PathLike,
    *,
    config: SopsConfig | PathLike | None = None,
    in_place: bool = False,
    fmt: str | None = None,
) -> str:
    """Encrypt a plaintext file by its ``.sops.yaml`` creation rule; returns the encrypted text.

    With ``in_place`` the file is replaced atomically, and only once encryption fully succeeded.
    """
    target = Path(path)
    fmt = fmt or format_for_path(target)
    rule = _rule_for(target, config)
    if not rule.age:
        if rule.other_keys:
            raise UnsupportedKeyType(
                f"{target}: its creation rule uses {', '.join(rule.other_keys)} keys only, which homeops cannot write",
                hint="add an age: recipient to the rule, or use the sops binary",
            )
        raise SopsFormatError(f"{target}: its creation rule has no age recipients", hint="add age: age1… to the rule")
    branches = _parse_plaintext(_read(target), file=str(target), fmt=fmt)
    out, _ = encrypt_branches(
        branches, fmt=fmt, recipients=rule.age, rule=rule.crypt, mac_only_encrypted=rule.mac_only_encrypted
    )
    if in_place:
        _atomic_write(target, out)
    return out.decode("utf-8", "surrogateescape")


def reencrypt(
    sf: SopsFile,
    branches: list[Branch],
    key: bytes,
    *,
    iv: core.IvSource | None = None,
    lastmodified: str | None = None,
) -> bytes:
    """Encrypt new plaintext with the file's existing data key and metadata (what ``sops edit`` does)."""
    stamp = lastmodified or now_rfc3339()
    enc, mac = core.encrypt_tree(
        branches,
        key,
        rule=sf.metadata.effective_rule,
        mac_only_encrypted=sf.metadata.mac_only_encrypted,
        lastmodified=stamp,
        iv=iv,
    )
    return render(enc, sf.format, sf.metadata.with_mac(mac, stamp))


def update_file(path: PathLike, plaintext: bytes, *, age_key_file: Path | None = None) -> bool:
    """Replace an encrypted file's content with ``plaintext`` (same data key and recipients).

    Returns False (and leaves the file alone) when the plaintext equals the current content.
    """
    target = Path(path)
    sf = load(target)
    current = decrypt_sops_file(sf, age_key_file=age_key_file)
    if render(current.branches, sf.format) == plaintext:
        return False
    branches = _parse_plaintext(plaintext, file=str(target), fmt=sf.format)
    _atomic_write(target, reencrypt(sf, branches, current.data_key))
    return True


def rotate_file(path: PathLike, *, age_key_file: Path | None = None, in_place: bool = True) -> str:
    """A new data key for the same age recipients (``sops rotate``)."""
    target = Path(path)
    sf = load(target)
    foreign = sorted({k for g in sf.metadata.groups for k in g.foreign_kinds})
    if foreign or len(sf.metadata.groups) != 1:
        raise UnsupportedKeyType(
            f"{target}: also encrypted to {', '.join(foreign) or 'several key groups'}, which homeops cannot re-wrap",
            hint="rotate it with the sops binary",
        )
    current = decrypt_sops_file(sf, age_key_file=age_key_file)
    recipients = tuple(s.recipient for s in sf.metadata.groups[0].age)
    branches = current.branches
    if current.go_unreadable and sf.format in ("json", "binary"):
        # What Go sops reads such a number as in JSON: a float64 (stores/json/store.go:104-168).
        branches = transform(branches, lambda v, _p, _s: float(v) if not core.in_go_int(v) else v)
    out, _ = encrypt_branches(
        branches,
        fmt=sf.format,
        recipients=recipients,
        rule=sf.metadata.rule,
        mac_only_encrypted=sf.metadata.mac_only_encrypted,
    )
    if in_place:
        _atomic_write(target, out)
    return out.decode("utf-8", "surrogateescape")


# --- checking a repository ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckProblem:
    path: str
    problem: str


_SKIP_DIRS = {".git", ".venv", "node_modules", "__pycache__", ".homeops", ".mypy_cache", ".ruff_cache"}


def check_tree(
    root: Path, config: SopsConfig, *, age_key_file: Path | None = None
) -> tuple[list[str], list[CheckProblem]]:
    """Every file under ``root`` matching a creation rule: encrypted, MAC valid, decryptable.

    Returns ``(checked_paths, problems)``; problems never contain plaintext.
    """
    ring = load_keyring(age_key_file=age_key_file)
    checked: list[str] = []
    problems: list[CheckProblem] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(filenames):
            file = Path(dirpath) / name
            if name == ".sops.yaml" or not config.matches(file) or name.endswith(".homeops-tmp"):
                continue
            shown = os.path.relpath(file, root)
            checked.append(shown)
            try:
                sf = parse(_read(file), file=shown)
            except NotSopsFile:
                problems.append(CheckProblem(shown, "not encrypted"))
                continue
            except SopsFormatError as exc:
                problems.append(CheckProblem(shown, f"unreadable: {exc}"))
                continue
            try:
                result = decrypt_sops_file(sf, ring=ring)
            except Exception as exc:  # every SecretError, reported per file
                text = str(exc)
                problems.append(CheckProblem(shown, text.split(": ", 1)[1] if text.startswith(shown) else text))
                continue
            if result.go_unreadable:
                where = ", ".join(".".join(p) for p in result.go_unreadable)
                problems.append(
                    CheckProblem(
                        shown,
                        f"integer beyond int64 stored as type:int at {where}: Go sops (and Flux) cannot decrypt it;"
                        " run sops.rotate on the file to store it as sops does",
                    )
                )
    return checked, problems
