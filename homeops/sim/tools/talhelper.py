"""Fake ``talhelper``: ``genconfig`` and ``gencommand`` (cli-interfaces.md §2, talhelper ≈ v3.1.16).

It reads the real ``talconfig.yaml`` (with ``${VAR}`` from talenv files, unset/empty = fatal) and
writes deterministic stand-in machine configs plus a talosconfig; it never contacts the Image
Factory (the simulator has no network), with or without ``--offline-mode``.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Mapping, Sequence
from typing import Any

from homeops.sim.tools._base import (
    Fail,
    Flag,
    Invocation,
    UsageError,
    bool_names,
    flags,
    go_log_date,
    parse,
    run_tool,
    split_command,
)

COMMON = [
    Flag("config-file", "c", "str", "talconfig.yaml"),
    Flag("env-file", "e", "list", ["talenv.yaml", "talenv.sops.yaml", "talenv.yml", "talenv.sops.yml"]),
    Flag("out-dir", "o", "str", "./clusterconfig"),
    Flag("debug", "d", "bool", False),
    Flag("help", "h", "bool", False),
]
GENCONFIG = [
    Flag("secret-file", "s", "list", ["talsecret.yaml", "talsecret.sops.yaml", "talsecret.yml", "talsecret.sops.yml"]),
    Flag("talos-mode", "m", "str", "metal"),
    Flag("dry-run", "n", "bool", False),
    Flag("no-gitignore", None, "bool", False),
    Flag("offline-mode", None, "bool", False),
    Flag("disable-nodes-section", None, "bool", False),
    Flag("crt-ttl", None, "str", ""),
]
GENCOMMAND = [
    Flag("extra-flags", None, "list", []),
    Flag("node", "n", "str", ""),
    Flag("offline-mode", None, "bool", False),
]
GENURL = [
    Flag("node", "n", "str", ""),
    Flag("registry-url", "r", "str", "factory.talos.dev"),
    Flag("version", "v", "str", "v1.13.9"),
    Flag("extension", None, "array", []),
    Flag("kernel-arg", "k", "array", []),
    Flag("offline-mode", None, "bool", False),
    Flag("secure-boot", None, "bool", False),
    Flag("talos-mode", "m", "str", "metal"),
    Flag("customization-file", None, "str", ""),
]
KINDS = ("apply", "upgrade", "upgrade-k8s", "bootstrap", "reset", "kubeconfig", "health")


class _Fatal(Fail):
    """Go ``log.Fatalf``: ``YYYY/MM/DD HH:MM:SS msg`` on stderr, exit 1."""


def _fatal(inv: Invocation, message: str) -> Fail:
    with inv.store.transaction() as state:
        stamp = go_log_date(state)
    return Fail(f"{stamp} {message}")


def _load_env(inv: Invocation, files: Sequence[str]) -> dict[str, str]:
    env = {k: v for k, v in inv.env.items()}
    for name in files:
        path = name  # relative to the working directory, as talhelper reads them
        if not os.path.isfile(inv.path(path)):
            continue
        with open(inv.path(path), encoding="utf-8") as fh:
            for line in fh:
                m = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*[:=]\s*(.*?)\s*$", line)
                if m and not line.lstrip().startswith("#"):
                    value = m.group(2)
                    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                        value = value[1:-1]
                    else:
                        value = re.sub(r"\s+#.*$", "", value)
                    env[m.group(1)] = value  # file values beat the environment, as godotenv.Overload does
    return env


def load_talconfig(inv: Invocation, opts: Mapping[str, Any]) -> dict[str, Any]:
    import yaml

    path = inv.path(opts["config-file"])
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise _fatal(
            inv, f"failed to read config file: open {opts['config-file']}: {(exc.strerror or '').lower()}"
        ) from None
    env = _load_env(inv, opts["env-file"])
    text = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))

    def substitute(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        value = env.get(name, "")
        if not value:
            raise _fatal(inv, f"failed to substitute env: variable ${{{name}}} not set")
        return value

    text = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)", substitute, text)
    try:
        config = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise _fatal(inv, f"failed to unmarshal config file: {str(exc).splitlines()[0]}") from None
    missing = [key for key in ("clusterName", "endpoint", "nodes") if not config.get(key)]
    if missing:
        # pkg/config/loader.go + validator.go (v3.1.16): grouped by field, then log.Fatalf in the command.
        inv.print("There are issues with your Talhelper config file:")
        for key in missing:
            inv.print(f'field: "{key}"')
            inv.print(f'  * "{key}" is required to be not empty')
        raise _fatal(inv, "failed to parse config file: please fix issues with your config file")
    talos = str(config.get("talosVersion") or "v1.13.9")
    config["talosVersion"] = talos if talos.startswith("v") else f"v{talos}"
    return dict(config)


def _node_cfg(config: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    group = config.get("controlPlane" if node.get("controlPlane") else "worker") or {}
    merged = dict(group)
    merged.update({k: v for k, v in node.items() if v not in (None, "", [], {})})
    return merged


def _installer(config: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    merged = _node_cfg(config, node)
    if merged.get("talosImageURL"):
        return f"{merged['talosImageURL']}:{config['talosVersion']}"
    schematic = merged.get("schematic")
    import json

    ident = hashlib.sha256(json.dumps(schematic or {}, sort_keys=True).encode()).hexdigest()
    return f"factory.talos.dev/metal-installer/{ident}:{config['talosVersion']}"


def _ips(node: Mapping[str, Any]) -> list[str]:
    return [ip.strip() for ip in str(node.get("ipAddress", "")).split(",") if ip.strip()]


def _token(cluster: str, what: str) -> str:
    return hashlib.sha256(f"{cluster}:{what}".encode()).hexdigest()


def _machine_config(config: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    cluster = config["clusterName"]
    role = "controlplane" if node.get("controlPlane") else "worker"
    merged = _node_cfg(config, node)
    lines = [
        "# generated by the homeops simulator's talhelper (stand-in for the real Talos machine config)",
        "version: v1alpha1",
        "debug: false",
        "persist: true",
        "machine:",
        f"    type: {role}",
        f"    token: {_token(cluster, 'machine-token')[:6]}.{_token(cluster, 'machine-token')[6:22]}",
        "    install:",
        f"        disk: {merged.get('installDisk', '/dev/sda')}",
        f"        image: {_installer(config, node)}",
        "        wipe: false",
        "    network:",
        f"        hostname: {node['hostname']}",
        "cluster:",
        f"    clusterName: {cluster}",
        "    controlPlane:",
        f"        endpoint: {config['endpoint']}",
        f"    token: {_token(cluster, 'cluster-token')[:6]}.{_token(cluster, 'cluster-token')[6:22]}",
    ]
    if config.get("kubernetesVersion"):
        version = str(config["kubernetesVersion"]).lstrip("v")
        lines += ["    apiServer:", f"        image: registry.k8s.io/kube-apiserver:v{version}"]
    return "\n".join(lines) + "\n"


def _talosconfig(config: Mapping[str, Any], nodes_section: bool) -> str:
    cluster = config["clusterName"]
    nodes = config["nodes"]
    endpoints = [_ips(n)[0] for n in nodes if n.get("controlPlane") and _ips(n)]
    all_ips = [ip for n in nodes for ip in _ips(n)]
    lines = [f"context: {cluster}", "contexts:", f"    {cluster}:", "        endpoints:"]
    lines += [f"            - {ip}" for ip in endpoints]
    if nodes_section:
        lines += ["        nodes:"] + [f"            - {ip}" for ip in all_ips]
    lines += [
        f"        ca: {_token(cluster, 'ca')}",
        f"        crt: {_token(cluster, 'crt')}",
        f"        key: {_token(cluster, 'key')}",
    ]
    return "\n".join(lines) + "\n"


def output_name(inv: Invocation, config: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    """``filenameTmpl`` (node, else its group), default ``{{ .ClusterName }}-{{ .Hostname }}.yaml``
    (talhelper v3.1.16 ``pkg/config/defaults.go:137-144``, ``outputfilename.go``)."""
    from homeops.sim.tools import gotemplate

    group = config.get("controlPlane" if node.get("controlPlane") else "worker") or {}
    template = str(node.get("filenameTmpl") or (group.get("filenameTmpl") if isinstance(group, dict) else "") or "")
    template = template or "{{ .ClusterName }}-{{ .Hostname }}.yaml"
    data = {
        "ClusterName": config["clusterName"],
        "Hostname": node.get("hostname"),
        "IPAddress": str(node.get("ipAddress") or ""),
        "Role": "controlplane" if node.get("controlPlane") else "worker",
    }
    try:
        return gotemplate.render(template, data, gotemplate.Context(".", {}, "filename"))
    except gotemplate.TemplateError as exc:
        raise _fatal(inv, f"failed to generate talos config: {exc}") from None


def cmd_gensecret(inv: Invocation) -> None:
    """``talhelper gensecret``: a new secrets bundle (talos ``secrets.Bundle`` YAML) on stdout."""
    import base64
    import secrets

    def token(n: int = 32) -> str:
        return base64.b64encode(secrets.token_bytes(n)).decode()

    def pair() -> str:
        return f"        crt: {token(48)}\n        key: {token(32)}\n"

    inv.out.write(
        f"cluster:\n    id: {token()}\n    secret: {token()}\nsecrets:\n"
        f"    bootstraptoken: {secrets.token_hex(3)}.{secrets.token_hex(8)}\n    secretboxencryptionsecret: {token()}\n"
        f"trustdinfo:\n    token: {secrets.token_hex(3)}.{secrets.token_hex(8)}\ncerts:\n"
        f"    etcd:\n{pair()}    k8s:\n{pair()}    k8saggregator:\n{pair()}"
        f"    k8sserviceaccount:\n        key: {token(32)}\n    os:\n{pair()}"
    )


def cmd_genconfig(inv: Invocation, opts: dict[str, Any]) -> None:
    config = load_talconfig(inv, opts)
    # pkg/talos/input.go:53-55: the last --secret-file that exists is read; none → a new PKI, and a warning
    if not [f for f in opts["secret-file"] if os.path.isfile(inv.path(f))]:
        inv.print("WARNING: secrets file is not found, new secrets will be generated everytime you run this command")
    out_dir = opts["out-dir"].rstrip("/") or "."
    files: list[tuple[str, str, str]] = []  # (display path, content, label)
    for node in config["nodes"]:
        if not node.get("hostname"):
            raise _fatal(inv, "failed to generate talos config: node without a hostname")
        name = output_name(inv, config, node)
        files.append((f"{out_dir}/{name}", _machine_config(config, node), f"generated config for {node['hostname']}"))
    files.append(
        (f"{out_dir}/talosconfig", _talosconfig(config, not opts["disable-nodes-section"]), "generated client config")
    )
    if opts["dry-run"]:
        # pkg/generate/config.go (v3.1.16): node files only (no talosconfig in a dry run), each diffed
        # against its absolute path as "a"+abs / "b"+abs, printed with fmt.Println.
        for path, content, _ in files[:-1]:
            try:
                with open(inv.path(path), encoding="utf-8") as fh:
                    old = fh.read()
            except OSError:
                old = ""
            if old == content:
                inv.print(f"no changes found on {path}")
            else:
                absolute = os.path.abspath(inv.path(path))
                diff = difflib.unified_diff(
                    old.splitlines(True), content.splitlines(True), "a" + absolute, "b" + absolute
                )
                inv.print("".join(diff))
        return
    os.makedirs(inv.path(out_dir), exist_ok=True)
    for path, content, label in files:
        with open(inv.path(path), "w", encoding="utf-8") as fh:
            fh.write(content)
        inv.print(f"{label} in {path}")
    if not opts["no-gitignore"]:
        names = [os.path.basename(p) for p, _, _ in files]
        with open(inv.path(f"{out_dir}/.gitignore"), "w", encoding="utf-8") as fh:
            fh.write("".join(f"{n}\n" for n in names))


def _find(inv: Invocation, config: Mapping[str, Any], wanted: str) -> Mapping[str, Any]:
    for node in config["nodes"]:
        if wanted == node.get("hostname") or wanted in _ips(node):
            return dict(node)
    raise _fatal(inv, f"node with IP or hostname {wanted} not found")


def cmd_gencommand(inv: Invocation, opts: dict[str, Any], kind: str) -> None:
    config = load_talconfig(inv, opts)
    out = opts["out-dir"].rstrip("/") or "."
    tc = f"--talosconfig={out}/talosconfig"
    extra = " ".join(opts["extra-flags"])
    extra_part = f" {extra}" if extra else ""
    node_opt = opts["node"]
    lines: list[str] = []
    if kind in ("apply", "upgrade", "reset"):
        nodes = [_find(inv, config, node_opt)] if node_opt else config["nodes"]
        for node in nodes:
            for ip in _ips(node):
                if kind == "apply":
                    file = f"{out}/{output_name(inv, config, node)}"
                    lines.append(f"talosctl apply-config {tc} --nodes={ip} --file={file}{extra_part};")
                elif kind == "upgrade":
                    lines.append(f"talosctl upgrade {tc} --nodes={ip} --image={_installer(config, node)}{extra_part};")
                else:
                    lines.append(f"talosctl reset {tc} --nodes={ip}{extra_part};")
    elif kind in ("upgrade-k8s", "bootstrap", "kubeconfig"):
        if node_opt:
            node = _find(inv, config, node_opt)
            if not node.get("controlPlane"):
                raise _fatal(inv, f"node with IP {node_opt} is not a controlplane node")
            ip = node_opt if node_opt in _ips(node) else _ips(node)[0]
        else:
            first = next((n for n in config["nodes"] if n.get("controlPlane")), None)
            if first is None:
                raise _fatal(inv, "no controlplane node found")
            ip = _ips(first)[0]
        if kind == "upgrade-k8s":
            version = str(config.get("kubernetesVersion") or "").lstrip("v")
            if not version:
                raise _fatal(inv, "kubernetesVersion is empty")
            lines.append(f"talosctl upgrade-k8s {tc} --to=v{version}{extra_part} --nodes={ip};")
        else:
            lines.append(f"talosctl {kind} {tc}{extra_part} --nodes={ip};")
    else:  # health
        if node_opt:
            _find(inv, config, node_opt)
            target = node_opt  # talhelper puts the given string itself into --nodes (even a hostname)
        else:
            first = next((n for n in config["nodes"] if n.get("controlPlane")), None)
            target = _ips(first)[0] if first else ""
        lines.append(f"talosctl health {tc} --nodes={target}{extra_part};")
    for line in lines:
        inv.print(line)


def cmd_genurl_installer(inv: Invocation, opts: dict[str, Any]) -> None:
    """``genurl installer``: one node → the bare URL; several → ``<hostname>: <url>`` lines."""
    config = load_talconfig(inv, opts)
    nodes = config["nodes"]
    if opts["node"]:
        # talhelper compares --node with ipAddress as a whole string (or the hostname)
        nodes = [n for n in nodes if opts["node"] in (str(n.get("ipAddress")), n.get("hostname"))]
        if not nodes:
            raise _fatal(inv, f"node with IP or hostname {opts['node']} not found")
    urls = [(n["hostname"], _installer(config, n)) for n in nodes]
    if len(urls) == 1:
        inv.print(urls[0][1])
        return
    for hostname, url in urls:
        inv.print(f"{hostname}: {url}")


def _talhelper(inv: Invocation) -> None:
    args = list(inv.args)
    command, args = split_command(args, bool_names(COMMON, GENCONFIG, GENCOMMAND, GENURL))
    if command is None:
        inv.print("A tool to help creating Talos cluster in GitOps way.\n\nUsage:\n  talhelper [command]")
        return
    try:
        if command == "gensecret":
            cmd_gensecret(inv)
        elif command == "genconfig":
            opts, positional = parse(args, flags(*COMMON, *GENCONFIG))
            cmd_genconfig(inv, opts)
        elif command == "gencommand":
            opts, positional = parse(args, flags(*COMMON, *GENCOMMAND))
            if not positional or positional[0] not in KINDS:
                sub = positional[0] if positional else ""
                raise Fail(
                    f'Error: unknown command "{sub}" for "talhelper gencommand"\n'
                    "Run 'talhelper gencommand --help' for usage."
                    if sub
                    else "Generate commands for talosctl.\n\nUsage:\n  talhelper gencommand [command]"
                )
            cmd_gencommand(inv, opts, positional[0])
        elif command == "genurl":
            opts, positional = parse(args, flags(*COMMON, *GENURL))
            if positional[:1] != ["installer"]:
                sub = positional[0] if positional else ""
                raise Fail(f'Error: unknown command "{sub}" for "talhelper genurl"')
            cmd_genurl_installer(inv, opts)
        else:
            raise Fail(f'Error: unknown command "{command}" for "talhelper"\nRun \'talhelper --help\' for usage.')
    except UsageError as exc:
        raise Fail(f"Error: {exc}\nRun 'talhelper {command} --help' for usage.") from None


def main(argv: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``talhelper ARGS…`` (``argv`` without the program name) → (exit code, stdout, stderr)."""
    return run_tool("talhelper", _talhelper, argv, stdin, env)
