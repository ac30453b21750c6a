"""Tasks of the `sops` namespace: decrypt, encrypt, edit, check and rotate SOPS files without the sops binary.

Keys and rules come from the inventory (``cluster.ageKey`` / ``cluster.sopsConfig`` in homeops.yaml,
defaulting to ``age.key`` and ``.sops.yaml`` next to it) plus every source sops itself reads
(SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, SOPS_AGE_KEY_CMD, ~/.config/sops/age/keys.txt).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.exceptions import Exit

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import task

ns = Collection("sops")

_INVENTORY_HELP = (
    "inventory directory (default: $HOMEOPS_INVENTORY or ./inventory); its age key and .sops.yaml are used"
)


def _inventory_paths(ctx: Any, inventory: str | None) -> tuple[Path | None, Path | None]:
    """(age key file, .sops.yaml) from the inventory; either is None when absent."""
    import yaml

    inv = inventory_dir(ctx, inventory)
    key_rel, cfg_rel = "age.key", ".sops.yaml"
    manifest = inv / "homeops.yaml"
    if manifest.is_file():
        try:
            data = yaml.safe_load(manifest.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError:
            data = {}
        cluster = data.get("cluster") if isinstance(data, dict) else None
        if isinstance(cluster, dict):
            key_rel = str(cluster.get("ageKey") or key_rel)
            cfg_rel = str(cluster.get("sopsConfig") or cfg_rel)
    key, cfg = inv / key_rel, inv / cfg_rel
    return (key if key.is_file() else None), (cfg if cfg.is_file() else None)


def _config(ctx: Any, inventory: str | None) -> Any:
    from homeops.sops.errors import SopsConfigError
    from homeops.sops.rules import find_config, load_config

    _, cfg = _inventory_paths(ctx, inventory)
    cfg = cfg or find_config(Path.cwd())
    if cfg is None:
        raise SopsConfigError(
            "no .sops.yaml in the inventory or the working directory",
            hint="create one with creation_rules, or pass --inventory",
        )
    return load_config(cfg)


@task(
    help={
        "file": "the sops file to decrypt",
        "extract": 'print only this part, e.g. \'["cluster"]["secret"]\' (strings print raw, without newline)',
        "output_type": "yaml, json, dotenv, ini or binary (default: the file's own format)",
        "ignore_mac": "decrypt even if the MAC does not verify (for recovering a damaged file)",
        "inventory": _INVENTORY_HELP,
    }
)
@user_errors
def decrypt(
    c: Any,
    file: str,
    extract: str | None = None,
    output_type: str | None = None,
    ignore_mac: bool = False,
    inventory: str | None = None,
) -> None:
    """Print a sops file decrypted, to stdout only (never to a file)."""
    from homeops.sops import decrypt_to_bytes
    from homeops.sops.errors import SopsFormatError
    from homeops.sops.stores import FORMATS

    if output_type and output_type not in FORMATS:
        raise SopsFormatError(f"--output-type {output_type!r} is not one of {', '.join(FORMATS)}")
    key, _ = _inventory_paths(c, inventory)
    data = decrypt_to_bytes(file, output_type=output_type, extract=extract, age_key_file=key, ignore_mac=ignore_mac)
    sys.stdout.buffer.write(data)
    sys.stdout.flush()


@task(
    help={
        "file": "the plaintext file to encrypt (its path picks the .sops.yaml creation rule)",
        "in_place": "replace the file with its encrypted form (only once encryption succeeded)",
        "inventory": _INVENTORY_HELP,
    }
)
@user_errors
def encrypt(c: Any, file: str, in_place: bool = False, inventory: str | None = None) -> None:
    """Encrypt a plaintext file by its .sops.yaml rule; refuses files that are already encrypted."""
    from homeops.sops import encrypt_file

    out = encrypt_file(file, config=_config(c, inventory), in_place=in_place)
    if in_place:
        print(f"encrypted {file} in place", file=sys.stderr)
    else:
        sys.stdout.write(out)
        sys.stdout.flush()


@task(help={"file": "the sops file to edit", "inventory": _INVENTORY_HELP})
@user_errors
def edit(c: Any, file: str, inventory: str | None = None) -> None:
    """Open a decrypted private copy in $EDITOR; re-encrypt (same data key) only if it changed."""
    import os
    import shlex
    import subprocess

    from homeops.errors import ToolNotFound
    from homeops.sops import load, plaintext_file, update_file
    from homeops.sops.errors import SopsFormatError

    key, _ = _inventory_paths(c, inventory)
    load(file)  # a clear error for a missing or plaintext file before any editor opens
    editor = os.environ.get("EDITOR") or os.environ.get("VISUAL") or "vi"
    with plaintext_file(file, age_key_file=key) as tmp:
        before = tmp.read_bytes()
        try:
            code = subprocess.call([*shlex.split(editor), str(tmp)])
        except (OSError, ValueError) as exc:  # no such editor, not executable, unbalanced quotes in $EDITOR
            reason = getattr(exc, "strerror", None) or exc
            raise ToolNotFound(
                f"{file}: cannot start editor {editor!r} ({reason}); nothing was changed",
                hint="set EDITOR to an installed editor, e.g. EDITOR=nano",
            ) from None
        if code != 0:
            raise SopsFormatError(f"{file}: editor {editor!r} exited with {code}; nothing was changed")
        try:
            after = tmp.read_bytes()
        except OSError as exc:
            raise SopsFormatError(
                f"{file}: the editor removed or hid the temporary file ({exc.strerror}); nothing was changed"
            ) from None
        if not after.strip():
            # what sops says too: an empty save is far more often a slip than "delete every secret"
            raise SopsFormatError(f"{file}: file was empty, not saving; nothing was changed")
        if after == before:
            print(f"{file}: no changes", file=sys.stderr)
            return
        try:
            changed = update_file(file, after, age_key_file=key)
        except SopsFormatError as exc:
            raise SopsFormatError(f"{exc}; your edit was discarded and {file} is unchanged") from None
    print(f"{file}: {'re-encrypted' if changed else 'no changes'}", file=sys.stderr)


@task(help={"inventory": _INVENTORY_HELP, "root": "directory to scan (default: the directory holding .sops.yaml)"})
@user_errors
def check(c: Any, inventory: str | None = None, root: str | None = None) -> None:
    """Every file matching a creation rule is encrypted, has a valid MAC and decrypts (pre-commit hook)."""
    from homeops.sops import check_tree

    key, _ = _inventory_paths(c, inventory)
    config = _config(c, inventory)
    base = Path(root) if root else config.path.parent
    checked, problems = check_tree(base, config, age_key_file=key)
    for problem in problems:
        print(f"{problem.path}: {problem.problem}")
    if problems:
        raise Exit(f"sops.check: {len(problems)} of {len(checked)} file(s) failed", code=1)
    print(f"sops.check: {len(checked)} file(s) encrypted, MAC valid, decryptable", file=sys.stderr)


@task(help={"file": "the sops file to re-key", "inventory": _INVENTORY_HELP})
@user_errors
def rotate(c: Any, file: str, inventory: str | None = None) -> None:
    """Re-encrypt a file under a new data key for the same age recipients."""
    from homeops.sops import rotate_file

    key, _ = _inventory_paths(c, inventory)
    rotate_file(file, age_key_file=key)
    print(f"{file}: rotated to a new data key", file=sys.stderr)


for _t in (decrypt, encrypt, edit, check, rotate):
    ns.add_task(_t)
