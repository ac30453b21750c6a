"""``talos.generate-config`` (and bootstrap's genconfig step): talhelper genconfig, Talos secrets created once.

talhelper reads ``talsecret.sops.yaml`` itself only when the sops binary and a key are set up; homeops
decrypts it natively (``homeops.sops.plaintext_file``: 0600 on tmpfs, removed on exit or Ctrl-C) and
passes the plaintext path, so no decrypted secret ever lands in the repository.

Secrets once (recovery.md §3): without a talsecret, talhelper prints "secrets file is not found, new
secrets will be generated everytime you run this command" and goes on with a new PKI
(budimanjojo/talhelper v3.1.16 ``pkg/talos/input.go:53-55``). So a missing talsecret is created first —
``talhelper gensecret`` (stdout, kept in memory), encrypted by the inventory's ``.sops.yaml`` rule before
it touches the disk — and a genconfig after which talhelper still reports new secrets is refused.

talhelper runs in the talconfig's folder (``talenv``/``talsecret``/``@./patches`` are relative to its working
directory, ``cmd/genconfig.go:42-51``): every path handed to it is absolute, so a relative inventory path
(``./inventory``, the default) means the same files from there.
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from homeops.adapters import talhelper as th
from homeops.errors import ConfigError
from homeops.inventory.model import Inventory
from homeops.runners import Runner
from homeops.runtime import Runtime

SECRET_NAMES = ("talsecret.sops.yaml", "talsecret.sops.yml", "talsecret.yaml", "talsecret.yml")
ENV_NAMES = ("talenv.yaml", "talenv.yml", "talenv.sops.yaml", "talenv.sops.yml")
NEW_SECRETS = "new secrets will be generated"
CREATED_SECRET = "talsecret.sops.yaml"


def _talconfig(inventory: Inventory) -> Path:
    cluster = inventory.cluster
    if cluster.talconfig is None:
        raise ConfigError(
            "no talconfig configured", file=str(inventory.root / "homeops.yaml"), field="cluster.talconfig"
        )
    return cluster.talconfig.resolve()


def secret_file(inventory: Inventory) -> Path | None:
    """The talsecret talhelper would read (its default list: the last one that exists wins)."""
    workdir = _talconfig(inventory).parent
    found = [workdir / n for n in reversed(SECRET_NAMES) if (workdir / n).is_file()]
    return found[-1] if found else None


def planned_argv(inventory: Inventory) -> list[str]:
    """genconfig as the plan shows it: the env and secret files by their repository paths (the run hands
    talhelper decrypted copies of the SOPS ones instead)."""
    talconfig = _talconfig(inventory)
    workdir = talconfig.parent
    env_files = [workdir / n for n in ENV_NAMES if (workdir / n).is_file()]
    secret = secret_file(inventory) or workdir / CREATED_SECRET
    return th.genconfig(
        talconfig, out_dir=inventory.cluster.clusterconfig_dir.resolve(), env_files=env_files, secret_file=secret
    )


def ensure_talsecret(inventory: Inventory, runner: Runner) -> Path | None:
    """Create ``talsecret.sops.yaml`` when the talconfig's folder has no talsecret; the path, or None if one exists.

    The plaintext bundle only lives in memory: it is encrypted (by the ``.sops.yaml`` rule for that path)
    before anything is written, and the file is written atomically.
    """
    if secret_file(inventory) is not None:
        return None
    from homeops.sops.api import encrypt_branches
    from homeops.sops.rules import find_config, load_config
    from homeops.sops.stores import store_for

    target = _talconfig(inventory).parent / CREATED_SECRET
    config = inventory.cluster.sops_config or find_config(target.parent)
    if config is None or not Path(config).is_file():
        raise ConfigError(
            "no talsecret, and no .sops.yaml to encrypt a new one with",
            file=str(target),
            hint="add a .sops.yaml creation rule for talos/*.sops.yaml (or create the talsecret yourself)",
        )
    rule = load_config(Path(config)).rule_for(target)
    if not rule.age:
        raise ConfigError("the .sops.yaml rule for it has no age recipient", file=str(target))
    result = runner.run(th.gensecret(), cwd=target.parent, timeout=120)
    th.raise_for(result, config_file=_talconfig(inventory), what="talhelper gensecret")
    branches, _ = store_for("yaml").load(result.stdout.encode("utf-8"), file=str(target))
    data, _ = encrypt_branches(
        branches, fmt="yaml", recipients=rule.age, rule=rule.crypt, mac_only_encrypted=rule.mac_only_encrypted
    )
    tmp = target.with_name(f".{target.name}.homeops-tmp")
    tmp.write_bytes(data)
    tmp.replace(target)
    return target


def check_secret(inventory: Inventory) -> Path:
    """The talsecret, which must exist and decrypt (a rebuild needs the cluster's own PKI)."""
    from homeops import sops

    secret = secret_file(inventory)
    if secret is None:
        raise ConfigError(
            "no talsecret: the cluster's Talos secrets are needed to recover it (a new one would be another cluster)",
            file=str(_talconfig(inventory).parent / CREATED_SECRET),
            hint="restore talsecret.sops.yaml from git or a backup, then run again",
        )
    if sops.is_sops_file(secret):
        sops.decrypt_to_bytes(secret, age_key_file=inventory.cluster.age_key)  # a key that cannot: refused here
    return secret


def generate_config(runtime: Runtime, *, dry_run: bool = False, create_secret: bool = False) -> str:
    """talhelper genconfig. Without a talsecret, a new cluster (``create_secret``: bootstrap) gets one first;
    anything else (an existing cluster's configs, a rebuild) is refused — never a silent new PKI."""
    inventory = runtime.inventory
    cluster = inventory.cluster
    talconfig = _talconfig(inventory)
    workdir = talconfig.parent
    if not create_secret and secret_file(inventory) is None:
        raise ConfigError(
            "no talsecret: talhelper would generate new Talos secrets (another cluster's PKI)",
            file=str(workdir / CREATED_SECRET),
            hint="restore talsecret.sops.yaml from git or a backup (bootstrap.talos creates one for a new cluster)",
        )
    created = None if dry_run else ensure_talsecret(inventory, runtime.local)
    with contextlib.ExitStack() as stack:
        env_files = [_plain(stack, workdir / name, cluster.age_key) for name in ENV_NAMES if (workdir / name).is_file()]
        secret = secret_file(inventory)
        secret_path = _plain(stack, secret, cluster.age_key) if secret else None
        argv = th.genconfig(
            talconfig,
            out_dir=cluster.clusterconfig_dir.resolve(),
            env_files=env_files,
            secret_file=secret_path,
            dry_run=dry_run,
        )
        result = runtime.local.run(argv, cwd=workdir, timeout=300)
        th.raise_for(result, config_file=talconfig, what="talhelper genconfig")
        if NEW_SECRETS in result.stdout and not dry_run:
            raise ConfigError(
                "talhelper genconfig generated new throw-away Talos secrets (it found no talsecret): "
                "these configs must not be applied",
                file=str(secret or workdir / CREATED_SECRET),
                hint="check the talsecret file and the age key, then run again",
            )
        parsed = th.parse_genconfig(result.stdout)
    if parsed.dry_run:
        lines = [f"changed: {path}" for path in parsed.changed] + [f"unchanged: {path}" for path in parsed.unchanged]
        return "\n".join(lines) or "no changes"
    lines = [f"created {created} (talhelper gensecret, SOPS-encrypted)"] if created else []
    lines += [f"generated {f.path} ({f.hostname})" for f in parsed.files]
    if parsed.talosconfig:
        lines.append(f"generated {parsed.talosconfig} (talosconfig)")
    return "\n".join(lines)


def _plain(stack: contextlib.ExitStack, path: Path, age_key: Path | None) -> Path:
    from homeops import sops

    if not sops.is_sops_file(path):
        return path
    return stack.enter_context(sops.plaintext_file(path, age_key_file=age_key))


_FIELD = re.compile(r"\{\{-?\s*\.(ClusterName|Hostname|IPAddress|Role)\s*-?\}\}")


def config_file(inventory: Inventory, hostname: str) -> Path:
    """Where genconfig writes a node's machine config.

    ``filenameTmpl`` (the node's, else its group's ``controlPlane``/``worker``), default
    ``{{ .ClusterName }}-{{ .Hostname }}.yaml`` (talhelper v3.1.16 ``pkg/config/defaults.go:137-144``,
    ``outputfilename.go``: fields ClusterName, Hostname, IPAddress as written, Role controlplane|worker).
    """
    import yaml

    cluster = inventory.cluster
    talconfig = _talconfig(inventory)
    try:
        raw = yaml.safe_load(talconfig.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        raw = {}
    node = next((n for n in raw.get("nodes") or [] if isinstance(n, dict) and n.get("hostname") == hostname), {})
    group = raw.get("controlPlane" if node.get("controlPlane") else "worker") or {}
    template = str(node.get("filenameTmpl") or (group.get("filenameTmpl") if isinstance(group, dict) else "") or "")
    if not template:
        return cluster.clusterconfig_dir.resolve() / f"{cluster.name}-{hostname}.yaml"
    values = {
        "ClusterName": str(raw.get("clusterName") or cluster.name),
        "Hostname": hostname,
        "IPAddress": str(node.get("ipAddress") or ""),
        "Role": "controlplane" if node.get("controlPlane") else "worker",
    }
    name = _FIELD.sub(lambda m: values[m.group(1)], template)
    if "{{" in name or "/" in name:
        raise ConfigError(
            f"filenameTmpl {template!r} uses more than .ClusterName/.Hostname/.IPAddress/.Role",
            file=str(talconfig),
            field=f"nodes[{hostname}].filenameTmpl",
        )
    return cluster.clusterconfig_dir.resolve() / name
