"""``talos.generate-config``: talhelper genconfig with the SOPS secrets decrypted to a private tmpfs file.

talhelper reads ``talsecret.sops.yaml`` itself only when the sops binary and a key are set up; homeops
decrypts it natively (``homeops.sops.plaintext_file``: 0600 on tmpfs, removed on exit or Ctrl-C) and
passes the plaintext path, so no decrypted secret ever lands in the repository.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from homeops.adapters import talhelper as th
from homeops.errors import ConfigError
from homeops.runtime import Runtime

SECRET_NAMES = ("talsecret.sops.yaml", "talsecret.sops.yml", "talsecret.yaml", "talsecret.yml")
ENV_NAMES = ("talenv.yaml", "talenv.yml", "talenv.sops.yaml", "talenv.sops.yml")


def generate_config(runtime: Runtime, *, dry_run: bool = False) -> str:
    cluster = runtime.inventory.cluster
    if cluster.talconfig is None:
        raise ConfigError(
            "no talconfig configured", file=str(runtime.inventory.root / "homeops.yaml"), field="cluster.talconfig"
        )
    talconfig = cluster.talconfig
    workdir = talconfig.parent
    with contextlib.ExitStack() as stack:
        env_files = [_plain(stack, workdir / name, cluster.age_key) for name in ENV_NAMES if (workdir / name).is_file()]
        secret = next((workdir / n for n in SECRET_NAMES if (workdir / n).is_file()), None)
        secret_file = _plain(stack, secret, cluster.age_key) if secret else None
        argv = th.genconfig(
            talconfig, out_dir=cluster.clusterconfig_dir, env_files=env_files, secret_file=secret_file, dry_run=dry_run
        )
        result = runtime.local.run(argv, cwd=workdir, timeout=300)
        th.raise_for(result, config_file=talconfig, what="talhelper genconfig")
        parsed = th.parse_genconfig(result.stdout)
    if parsed.dry_run:
        lines = [f"changed: {path}" for path in parsed.changed] + [f"unchanged: {path}" for path in parsed.unchanged]
        return "\n".join(lines) or "no changes"
    lines = [f"generated {f.path} ({f.hostname})" for f in parsed.files]
    if parsed.talosconfig:
        lines.append(f"generated {parsed.talosconfig} (talosconfig)")
    return "\n".join(lines)


def _plain(stack: contextlib.ExitStack, path: Path, age_key: Path | None) -> Path:
    from homeops import sops

    if not sops.is_sops_file(path):
        return path
    return stack.enter_context(sops.plaintext_file(path, age_key_file=age_key))
