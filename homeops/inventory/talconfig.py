"""Reading a talhelper ``talconfig.yaml`` into a frozen ``TalConfig``.

What it does, in talhelper's order (cli-interfaces.md §2.4–2.5):

1. refuse what is not a talconfig: a Jinja template (cluster-template's ``#% … %#`` / ``#{ … }#``),
   a file that is not YAML, a sops-encrypted file we cannot decrypt;
2. strip comments, then substitute ``${VAR}`` from the process environment overlaid by
   ``talenv.yaml``, ``talenv.sops.yaml``, ``talenv.yml``, ``talenv.sops.yml`` beside the talconfig
   (file values win; sops files are decrypted only when a variable is actually referenced);
3. parse with anchors, aliases and ``<<`` merge keys (``homeops.inventory.yamlfile``);
4. merge the ``controlPlane``/``worker`` node group into each node (§2.4: node value wins when
   non-zero; group patches are prepended unless ``overridePatches``; ``certSANs``/``extraManifests``
   appended);
5. work out each node's installer image: ``<talosImageURL>:<talosVersion>`` when set, otherwise the
   Image Factory URL of its schematic (ID computed offline, as ``talhelper gencommand upgrade`` does).

An unresolved variable is fatal only where homeops needs the value (cluster name, endpoint, versions,
node hostname/IP/role). Anywhere else (a patch, certSANs, labels) it is kept as written and reported
in ``TalConfig.warnings``, as are unknown keys, missing patch files and defaulted versions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

from homeops.errors import ConfigError, SecretError
from homeops.inventory import checks, envsubst
from homeops.inventory.model import Node, VmRef
from homeops.inventory.schematic import (
    DEFAULT_REGISTRY,
    InstallerSpec,
    SchematicError,
    id_from_image_url,
    installer_url,
    schematic_id,
)
from homeops.inventory.versions import parse_version
from homeops.inventory.yamlfile import load_yaml_documents, scalar_text

#: talhelper's ``LatestTalosVersion`` (master@39b69792): what it installs when talosVersion is absent.
LATEST_TALOS_VERSION = "v1.13.9"

#: ``talhelper genconfig -e`` defaults, loaded in this order (later files override earlier ones).
DEFAULT_ENV_FILES = ("talenv.yaml", "talenv.sops.yaml", "talenv.yml", "talenv.sops.yml")

_DEFAULT_INSTALLER_TMPL = (
    "{{.RegistryURL}}/{{.Mode}}-installer{{if .Secureboot}}-secureboot{{end}}/{{.ID}}:{{.Version}}"
)

TOP_KEYS = frozenset(
    {
        "clusterName", "talosVersion", "kubernetesVersion", "endpoint", "domain", "allowSchedulingOnMasters",
        "allowSchedulingOnControlPlanes", "additionalMachineCertSans", "additionalApiServerCertSans",
        "inlineManifests", "clusterPodNets", "clusterSvcNets", "cniConfig", "patches", "nodes", "imageFactory",
        "controlPlane", "worker", "clusterInlineManifests",
    }
)  # fmt: skip
NODE_CONFIG_KEYS = frozenset(
    {
        "nodeLabels", "nodeAnnotations", "nodeTaints", "machineDisks", "machineFiles", "disableSearchDomain",
        "kernelModules", "nameservers", "networkInterfaces", "extraManifests", "certSANs", "patches",
        "talosImageURL", "noSchematicValidate", "schematic", "imageSchematic", "machineSpec", "ingressFirewall",
        "extensionServices", "volumes", "userVolumes", "filenameTmpl", "skipEnvsubst",
    }
)  # fmt: skip
NODE_ONLY_KEYS = frozenset(
    {
        "hostname", "ipAddress", "controlPlane", "installDisk", "installDiskSelector", "ignoreHostname",
        "overridePatches", "overrideExtraManifests", "overrideMachineCertSANs", "overrideMachineCertSans",
    }
)  # fmt: skip
LEGACY_KEYS = frozenset({"configPatches", "inlinePatch", "bootloader", "wipe", "coreDNS"})

_JINJA = re.compile(r"^\s*#%|#\{.*?\}#|\{%-?\s|^\s*#\|")

PatchKind = Literal["file", "strategic", "json6902", "document", "multidoc", "legacy", "unknown"]


@dataclass(frozen=True)
class Patch:
    """One entry of a ``patches`` list, classified."""

    origin: str  # where it was written: "controlPlane.patches[0]", "nodes[2].patches[1]", "patches[3]"
    kind: PatchKind
    ref: str | None = None  # "@./patches/x.yaml" as written, for file patches
    path: Path | None = None  # the file it resolves to (relative to the talconfig)
    exists: bool | None = None
    content_kind: PatchKind | None = None  # what the file holds, when it could be read
    # Inline patches: the text, unresolved variables shown as ${VAR}. Substituted values may be
    # secrets from talenv.sops.yaml, so it stays out of repr().
    text: str | None = field(default=None, repr=False)
    # Names of the UserVolumeConfig documents it declares (Talos >= 1.10): partitions labelled u-<name>.
    user_volumes: tuple[str, ...] = ()


@dataclass(frozen=True)
class MachineSpec:
    mode: str = "metal"
    arch: str = "amd64"
    secureboot: bool = False
    use_uki: bool = False


@dataclass(frozen=True)
class TalNode:
    """A node after group merging; ``settings`` keeps every key as read (unknown ones too)."""

    hostname: str
    ips: tuple[str, ...]
    control_plane: bool
    install_disk: str | None = None
    install_disk_selector: Mapping[str, Any] | None = None
    talos_image_url: str | None = None
    schematic: Mapping[str, Any] | None = None
    schematic_id: str | None = None
    install_image: str | None = None
    machine_spec: MachineSpec = field(default_factory=MachineSpec)
    patches: tuple[Patch, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @property
    def ip(self) -> str:
        return self.ips[0]

    @property
    def user_volumes(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for patch in self.patches for name in patch.user_volumes))

    def to_node(self, vm: VmRef | None = None) -> Node:
        return Node(
            hostname=self.hostname,
            ip=self.ip,
            control_plane=self.control_plane,
            ips=self.ips,
            install_image=self.install_image,
            talos_image_url=self.talos_image_url,
            schematic_id=self.schematic_id,
            install_disk=self.install_disk,
            vm=vm,
            user_volumes=self.user_volumes,
        )


@dataclass(frozen=True)
class TalConfig:
    path: Path
    cluster_name: str
    endpoint: str
    talos_version: str  # normalised vX.Y.Z[-pre]; talhelper's default when the file has none
    kubernetes_version: str | None
    nodes: tuple[TalNode, ...]
    patches: tuple[Patch, ...] = ()  # the global ones
    env_files: tuple[Path, ...] = ()  # talenv files whose values were used
    warnings: tuple[str, ...] = ()
    document: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @property
    def control_planes(self) -> tuple[TalNode, ...]:
        return tuple(n for n in self.nodes if n.control_plane)

    @property
    def workers(self) -> tuple[TalNode, ...]:
        return tuple(n for n in self.nodes if not n.control_plane)

    def node(self, hostname: str) -> TalNode | None:
        return next((n for n in self.nodes if n.hostname == hostname), None)


def read_talconfig(
    path: str | os.PathLike[str],
    *,
    environ: Mapping[str, str] | None = None,
    age_key_file: Path | None = None,
    env_files: tuple[str, ...] = DEFAULT_ENV_FILES,
) -> TalConfig:
    """Read and resolve one talconfig; ``ConfigError`` (one line: file, field, cause) if it cannot be used."""
    return _Reader(Path(path), dict(os.environ if environ is None else environ), age_key_file, env_files).read()


class _Env:
    """The variables talhelper would see: process env overlaid by the talenv files, loaded on first use."""

    def __init__(self, directory: Path, environ: dict[str, str], age_key: Path | None, names: tuple[str, ...]):
        self._directory = directory
        self._environ = environ
        self._age_key = age_key
        self._names = names
        self._values: dict[str, str] | None = None
        self.used: list[Path] = []
        self.problems: list[str] = []  # env files that could not be used, one line each
        self.undecrypted = False  # one of them is sops-encrypted and the key could not open it
        self.warnings: list[str] = []

    def values(self) -> dict[str, str]:
        if self._values is None:
            values = dict(self._environ)
            for name in self._names:
                candidate = self._directory / name
                if candidate.is_file():
                    loaded = self._load(candidate)
                    if loaded is not None:
                        values.update(loaded)
                        self.used.append(candidate)
            self._values = values
        return self._values

    def _load(self, path: Path) -> dict[str, str] | None:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(f"{path} could not be read: {exc}")
            return None
        if _looks_sops_encrypted(text):
            return self._decrypt(path)
        try:
            return envsubst.parse_env_text(text)
        except ValueError as exc:
            # talhelper ignores an env file it cannot parse; say so instead of silently dropping it.
            self.warnings.append(f"{path}: not KEY: value lines ({exc}); its values were not used")
            return None

    def _decrypt(self, path: Path) -> dict[str, str] | None:
        from homeops.secrets import MASKER

        try:
            from homeops.sops import decrypt_file
        except ImportError:
            self.problems.append(f"{path} is sops-encrypted and SOPS support is not available")
            return None
        try:
            data = decrypt_file(path, age_key_file=self._age_key)
        except SecretError as exc:
            self.problems.append(f"{path} could not be decrypted: {_cause(exc, path)}")
            self.undecrypted = True
            return None
        values = _env_from_decrypted(data)
        if values is None:
            self.problems.append(f"{path} decrypted to something that is not KEY: value pairs")
            return None
        MASKER.extend(values.values())
        return values


def _env_from_decrypted(data: Any) -> dict[str, str] | None:
    data = getattr(data, "data", data)
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    if isinstance(data, str):
        try:
            return envsubst.parse_env_text(data)
        except ValueError:
            return None
    if isinstance(data, Mapping):
        result: dict[str, str] = {}
        for key, value in data.items():
            if key == "sops":
                continue
            text = value.reveal() if hasattr(value, "reveal") else value
            scalar = scalar_text(text)
            if scalar is not None:
                result[str(key)] = scalar
        return result
    return None


def _cause(exc: SecretError, path: Path) -> str:
    """The error's own message without its file prefix or hint: our message names the file and the fix."""
    return " ".join(exc.message.split()).removeprefix(f"{path}: ")


def _looks_sops_encrypted(text: str) -> bool:
    return bool(re.search(r"^sops:\s*$", text, re.MULTILINE)) and "ENC[" in text


class _Reader:
    def __init__(self, path: Path, environ: dict[str, str], age_key: Path | None, env_names: tuple[str, ...]):
        self.path = path
        self.file = str(path)
        self.base = path.parent
        self.env = _Env(path.parent, environ, age_key, env_names)
        self.age_key = age_key
        self.warnings: list[str] = []
        self._version_for_images = LATEST_TALOS_VERSION
        self._patch_cache: dict[str, Patch] = {}  # group patches are shared by every node of the group

    # -- helpers ---------------------------------------------------------------------------------

    def warn(self, field_path: str | None, message: str) -> None:
        where = f"{self.file}: {field_path}: " if field_path else f"{self.file}: "
        self.warnings.append(where + message)

    def error(self, message: str, field_path: str | None = None, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, field=field_path, hint=hint)

    # -- the pipeline --------------------------------------------------------------------------------

    def read(self) -> TalConfig:
        raw = self._read_text()
        self._refuse_templates(raw)
        text = envsubst.strip_comments(raw)
        if _looks_sops_encrypted(text):
            text = self._decrypt_whole_file()
        text = self._substitute(text)
        doc = self._parse(text)
        marks: dict[str, tuple[str, ...]] = {}
        clean = _restore(doc, "", marks)

        cluster_name = self._needed_str(doc, "clusterName", marks)
        endpoint = self._needed_str(doc, "endpoint", marks)
        bad_endpoint = checks.endpoint_problem(endpoint)
        if bad_endpoint:
            raise self.error(bad_endpoint, "endpoint")
        talos_version = self._talos_version(doc, marks)
        self._version_for_images = talos_version
        kubernetes_version = self._kubernetes_version(doc, marks)
        nodes = self._nodes(doc, clean, marks, talos_version)
        global_patches = self._patches(clean.get("patches"), "patches")
        # talhelper applies the global patches after the group's and the node's own.
        nodes = tuple(replace(n, patches=n.patches + global_patches) for n in nodes)

        self._unknown_keys(clean)
        self._report_unresolved(marks)
        self.warnings = self.env.warnings + self.warnings
        return TalConfig(
            path=self.path,
            cluster_name=cluster_name,
            endpoint=endpoint,
            talos_version=talos_version,
            kubernetes_version=kubernetes_version,
            nodes=nodes,
            patches=global_patches,
            env_files=tuple(self.env.used),
            warnings=tuple(dict.fromkeys(self.warnings)),
            document=MappingProxyType(clean),
        )

    def _read_text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise self.error("file not found", hint="check the path (cluster.talconfig in homeops.yaml)") from None
        except IsADirectoryError:
            raise self.error("is a directory, not a talconfig.yaml") from None
        except UnicodeDecodeError:
            raise self.error("is not UTF-8 text") from None
        except OSError as exc:
            raise self.error(f"cannot be read: {exc.strerror or exc}") from None

    def _refuse_templates(self, raw: str) -> None:
        for number, line in enumerate(raw.splitlines(), start=1):
            if _JINJA.search(line):
                snippet = " ".join(line.strip().split())[:60]
                raise self.error(
                    f"is a Jinja template, not a talconfig (line {number}: {snippet})",
                    hint="render it first (e.g. `task configure` in cluster-template) and point homeops at the result",
                )
        if self.path.suffix in (".j2", ".jinja", ".tmpl"):
            raise self.error("is a template (by its extension), not a talconfig", hint="render it first")

    def _decrypt_whole_file(self) -> str:
        import yaml

        try:
            from homeops.sops import decrypt_file
        except ImportError:
            raise self.error("is sops-encrypted and SOPS support is not available", field_path="sops") from None
        try:
            data = decrypt_file(self.path, age_key_file=self.age_key)
        except SecretError as exc:
            raise self.error(
                f"is sops-encrypted and could not be decrypted: {_cause(exc, self.path)}",
                field_path="sops",
                hint="give the age key (cluster.ageKey in homeops.yaml or SOPS_AGE_KEY_FILE)",
            ) from None
        data = getattr(data, "data", data)
        if isinstance(data, bytes):
            return data.decode("utf-8")
        if isinstance(data, str):
            return data
        if isinstance(data, Mapping):
            plain = {k: v for k, v in data.items() if k != "sops"}
            return str(yaml.safe_dump(plain, sort_keys=False))
        raise self.error("decrypted to something that is not a YAML mapping", field_path="sops")

    def _substitute(self, text: str) -> str:
        if not envsubst.references(text):
            return text
        out, _ = envsubst.substitute(text, self.env.values(), on_missing=envsubst.marker)
        return out

    def _parse(self, text: str) -> dict[str, Any]:
        docs = load_yaml_documents(text, file=self.file)
        if not docs:
            raise self.error("is empty", hint="a talconfig needs at least clusterName, endpoint and nodes")
        if len(docs) > 1:
            self.warn(None, f"holds {len(docs)} YAML documents; only the first is read (as talhelper does)")
        doc = docs[0]
        if not isinstance(doc, dict):
            raise self.error(
                f"top level is a {_type_name(doc)}, expected a mapping with clusterName, endpoint and nodes"
            )
        return doc

    # -- fields -------------------------------------------------------------------------------------

    def _unset_error(self, field_path: str, value: str, names: tuple[str, ...]) -> ConfigError:
        shown = envsubst.restore_markers(value)
        variables = ", ".join(f"${{{n}}}" for n in names)
        message = f"{variables} {'is' if len(names) == 1 else 'are'} not set (value '{shown}')"
        if self.env.problems:
            message += f"; {'; '.join(self.env.problems)}"
            if self.env.undecrypted:
                hint = "give the age key (cluster.ageKey in homeops.yaml, or SOPS_AGE_KEY_FILE) or set the variable"
            else:
                hint = "make the file readable by this user, or set the variable in the environment"
        else:
            env_file = self.base / DEFAULT_ENV_FILES[0]
            hint = f"define {names[0]} in {env_file} or in the environment"
        return self.error(message, field_path, hint)

    def _needed_text(self, value: Any, field_path: str) -> str | None:
        text = scalar_text(value)
        if text is None:
            if isinstance(value, dict | list):
                raise self.error(f"must be a string, not a {_type_name(value)}", field_path)
            return None
        names = envsubst.unresolved_names(text)
        if names:
            raise self._unset_error(field_path, text, names)
        return text.strip()

    def _needed_str(self, doc: Mapping[str, Any], key: str, marks: dict[str, tuple[str, ...]]) -> str:
        text = self._needed_text(doc.get(key), key)
        marks.pop(key, None)
        if not text:
            raise self.error("is missing or empty", key, hint=f"talhelper requires {key}")
        return text

    def _talos_version(self, doc: Mapping[str, Any], marks: dict[str, tuple[str, ...]]) -> str:
        text = self._needed_text(doc.get("talosVersion"), "talosVersion")
        marks.pop("talosVersion", None)
        if not text:
            self.warn("talosVersion", f"not set; using talhelper's default {LATEST_TALOS_VERSION}")
            return LATEST_TALOS_VERSION
        return str(parse_version(text, file=self.file, field="talosVersion"))

    def _kubernetes_version(self, doc: Mapping[str, Any], marks: dict[str, tuple[str, ...]]) -> str | None:
        text = self._needed_text(doc.get("kubernetesVersion"), "kubernetesVersion")
        marks.pop("kubernetesVersion", None)
        if not text:
            self.warn("kubernetesVersion", "not set; Kubernetes upgrades need it (talhelper refuses upgrade-k8s)")
            return None
        return str(parse_version(text, file=self.file, field="kubernetesVersion"))

    def _nodes(
        self,
        doc: Mapping[str, Any],
        clean: Mapping[str, Any],
        marks: dict[str, tuple[str, ...]],
        talos_version: str,
    ) -> tuple[TalNode, ...]:
        raw_nodes = doc.get("nodes")
        if raw_nodes is None:
            raise self.error("is missing", "nodes", hint="list the nodes with hostname, ipAddress, controlPlane")
        if not isinstance(raw_nodes, list):
            raise self.error(f"must be a list, not a {_type_name(raw_nodes)}", "nodes")
        if not raw_nodes:
            raise self.error("is empty", "nodes", hint="list at least one node")
        groups = {
            True: self._group(clean.get("controlPlane"), "controlPlane"),
            False: self._group(clean.get("worker"), "worker"),
        }
        spec = self._image_factory(clean.get("imageFactory"))
        result: list[TalNode] = []
        seen: dict[str, int] = {}
        ip_owner: dict[str, str] = {}
        for index, raw in enumerate(raw_nodes):
            where = f"nodes[{index}]"
            if not isinstance(raw, dict):
                raise self.error(f"must be a mapping, not a {_type_name(raw)}", where)
            hostname = self._needed_text(raw.get("hostname"), f"{where}.hostname")
            marks.pop(f"{where}.hostname", None)
            if not hostname:
                raise self.error("is missing", f"{where}.hostname", hint="every node needs a hostname")
            bad = checks.hostname_problem(hostname)
            if bad:
                raise self.error(bad, f"{where}.hostname")
            if hostname in seen:
                raise self.error(
                    f"'{hostname}' is also nodes[{seen[hostname]}]",
                    f"{where}.hostname",
                    hint="hostnames must be unique",
                )
            seen[hostname] = index
            address = self._needed_text(raw.get("ipAddress"), f"{where}.ipAddress")
            marks.pop(f"{where}.ipAddress", None)
            ips = tuple(ip.strip() for ip in (address or "").split(",") if ip.strip())
            if not ips:
                hint = f"give {hostname} the IP talosctl reaches it on"
                raise self.error("is missing", f"{where}.ipAddress", hint=hint)
            for ip in ips:
                bad = checks.ip_problem(ip)
                if bad:
                    raise self.error(bad, f"{where}.ipAddress")
                if ip in ip_owner:
                    raise self.error(
                        f"{ip} is also {ip_owner[ip]}'s address",
                        f"{where}.ipAddress",
                        hint="each node needs its own IP: a rolling upgrade would reach the same machine twice",
                    )
                ip_owner[ip] = hostname
            control_plane = self._bool(raw.get("controlPlane", False), f"{where}.controlPlane", marks)
            node_clean = clean["nodes"][index]
            result.append(self._node(node_clean, where, hostname, ips, control_plane, groups[control_plane], spec))
        return tuple(result)

    def _bool(self, value: Any, field_path: str, marks: dict[str, tuple[str, ...]]) -> bool:
        if isinstance(value, str) and envsubst.unresolved_names(value):
            raise self._unset_error(field_path, value, envsubst.unresolved_names(value))
        marks.pop(field_path, None)
        if value is None:
            return False
        if isinstance(value, str):
            raise self.error(f"must be true or false, not the string '{value}'", field_path, hint="unquote it")
        if not isinstance(value, bool):
            raise self.error(f"must be true or false, not '{value}'", field_path)
        return value

    def _group(self, raw: Any, name: str) -> _Group:
        if raw is None:
            return _Group(name, {})
        if not isinstance(raw, dict):
            raise self.error(f"must be a mapping, not a {_type_name(raw)}", name)
        for key in raw:
            if key in LEGACY_KEYS:
                self.warn(f"{name}.{key}", "legacy talhelper key; current talhelper ignores it (kept)")
            elif key not in NODE_CONFIG_KEYS:
                self.warn(f"{name}.{key}", "unknown key (kept)")
        return _Group(name, raw)

    def _image_factory(self, raw: Any) -> tuple[str, str | None]:
        """(registry, problem): the problem says why installer URLs cannot be derived, if they cannot."""
        if raw is None:
            return DEFAULT_REGISTRY, None
        if not isinstance(raw, dict):
            raise self.error(f"must be a mapping, not a {_type_name(raw)}", "imageFactory")
        registry = scalar_text(raw.get("registryURL")) or DEFAULT_REGISTRY
        template = scalar_text(raw.get("installerURLTmpl"))
        if template and template != _DEFAULT_INSTALLER_TMPL:
            return registry, "imageFactory.installerURLTmpl is a custom template"
        return registry, None

    def _node(
        self,
        raw: dict[str, Any],
        where: str,
        hostname: str,
        ips: tuple[str, ...],
        control_plane: bool,
        group: _Group,
        factory: tuple[str, str | None],
    ) -> TalNode:
        for key in raw:
            if key in LEGACY_KEYS:
                self.warn(f"{where}.{key}", "legacy talhelper key; current talhelper ignores it (kept)")
            elif key not in NODE_CONFIG_KEYS and key not in NODE_ONLY_KEYS:
                self.warn(f"{where}.{key}", "unknown key (kept)")
        merged = _merge_group(raw, group.settings)

        node_patches = self._patches(raw.get("patches"), f"{where}.patches")
        group_patches = self._patches(group.settings.get("patches"), f"{group.name}.patches")
        legacy = self._legacy_patches(group.settings, group.name) + self._legacy_patches(raw, where)
        patches = node_patches if raw.get("overridePatches") is True else group_patches + node_patches
        patches += legacy

        install_disk = merged.get("installDisk")
        selector = merged.get("installDiskSelector")
        if install_disk is None and selector is None:
            self.warn(where, f"{hostname} has neither installDisk nor installDiskSelector (talhelper requires one)")
        spec = self._machine_spec(merged.get("machineSpec"), f"{where}.machineSpec")
        talos_image_url = scalar_text(merged.get("talosImageURL")) or None
        schematic = merged.get("schematic")
        if schematic is None:
            schematic = merged.get("imageSchematic")
        image, sid = self._install_image(where, hostname, talos_image_url, schematic, spec, factory)
        return TalNode(
            hostname=hostname,
            ips=ips,
            control_plane=control_plane,
            install_disk=scalar_text(install_disk) if install_disk is not None else None,
            install_disk_selector=MappingProxyType(selector) if isinstance(selector, dict) else None,
            talos_image_url=talos_image_url if talos_image_url and "${" not in talos_image_url else None,
            schematic=MappingProxyType(schematic) if isinstance(schematic, dict) else None,
            schematic_id=sid,
            install_image=image,
            machine_spec=spec,
            patches=patches,
            settings=MappingProxyType(merged),
        )

    def _machine_spec(self, raw: Any, field_path: str) -> MachineSpec:
        if raw is None:
            return MachineSpec()
        if not isinstance(raw, dict):
            raise self.error(f"must be a mapping, not a {_type_name(raw)}", field_path)
        secure = raw.get("secureboot", False)
        uki = raw.get("useUKI", False)
        return MachineSpec(
            mode=scalar_text(raw.get("mode")) or "metal",
            arch=scalar_text(raw.get("arch")) or "amd64",
            secureboot=secure is True,
            use_uki=uki is True,
        )

    def _install_image(
        self,
        where: str,
        hostname: str,
        talos_image_url: str | None,
        schematic: Any,
        spec: MachineSpec,
        factory: tuple[str, str | None],
    ) -> tuple[str | None, str | None]:
        version = self._version_for_images
        if talos_image_url:
            if "${" in talos_image_url:
                self.warn(f"{where}.talosImageURL", "holds an unset variable; install image unknown")
                return None, None
            bad_image = checks.image_problem(talos_image_url)
            if bad_image:
                raise self.error(bad_image, f"{where}.talosImageURL")
            last = talos_image_url.rsplit("/", 1)[-1]
            if ":" in last or "@" in last:
                self.warn(
                    f"{where}.talosImageURL",
                    "already carries a tag or digest; talhelper appends ':<talosVersion>' to it, so the "
                    "install image is unknown",
                )
                return None, id_from_image_url(talos_image_url)
            return f"{talos_image_url}:{version}", id_from_image_url(talos_image_url)
        registry, problem = factory
        if schematic is not None and not isinstance(schematic, dict):
            self.warn(f"{where}.schematic", f"must be a mapping, not a {_type_name(schematic)}; install image unknown")
            return None, None
        if schematic and "${" in repr(schematic):
            self.warn(f"{where}.schematic", "holds an unset variable; schematic ID and install image unknown")
            return None, None
        try:
            sid = schematic_id(schematic)
        except SchematicError as exc:
            self.warn(f"{where}.schematic", f"{exc}; schematic ID and install image unknown (schematic kept)")
            return None, None
        if problem:
            self.warn(where, f"{problem}; install image of {hostname} unknown")
            return None, sid
        return installer_url(sid, version, InstallerSpec(registry, spec.mode, spec.secureboot)), sid

    # -- patches --------------------------------------------------------------------------------------

    def _patches(self, raw: Any, origin: str) -> tuple[Patch, ...]:
        if raw is None:
            return ()
        if not isinstance(raw, list):
            self.warn(origin, f"must be a list, not a {_type_name(raw)}; ignored")
            return ()
        return tuple(self._patch(entry, f"{origin}[{i}]") for i, entry in enumerate(raw))

    def _legacy_patches(self, settings: Mapping[str, Any], where: str) -> tuple[Patch, ...]:
        found = []
        for key in ("configPatches", "inlinePatch"):
            if settings.get(key):
                found.append(Patch(origin=f"{where}.{key}", kind="legacy"))
        return tuple(found)

    def _patch(self, entry: Any, origin: str) -> Patch:
        cached = self._patch_cache.get(origin)
        if cached is None:
            cached = self._patch_cache[origin] = self._read_patch(entry, origin)
        return cached

    def _read_patch(self, entry: Any, origin: str) -> Patch:
        if isinstance(entry, str) and entry.strip().startswith("@"):
            return self._file_patch(entry.strip(), origin)
        if isinstance(entry, str):
            classified = self._classify_text(entry, origin)
            return Patch(origin=origin, kind=classified, text=entry, user_volumes=_user_volumes(entry, origin))
        # talhelper wants strings; a mapping or list here would stop it, but the intent is clear.
        self.warn(origin, f"is a {_type_name(entry)}, not a string; talhelper expects a YAML string here")
        kind: PatchKind = "unknown"
        if isinstance(entry, list):
            kind = "json6902"
        elif isinstance(entry, dict):
            kind = "strategic"
        return Patch(origin=origin, kind=kind)

    def _classify_text(self, text: str, origin: str, *, quiet: bool = False) -> PatchKind:
        try:
            docs = load_yaml_documents(text, file=origin)
        except ConfigError as exc:
            if not quiet:
                self.warn(origin, f"is not valid YAML ({exc.message.split(': ', 1)[-1]}); kept as written")
            return "unknown"
        if len(docs) > 1:
            return "multidoc"
        if not docs:
            if not quiet:
                self.warn(origin, "is empty")
            return "unknown"
        doc = docs[0]
        if isinstance(doc, list):
            if not all(isinstance(op, dict) and "op" in op and "path" in op for op in doc):
                if not quiet:
                    self.warn(origin, "is a list but not JSON6902 operations (each needs op and path)")
                return "unknown"
            return "json6902"
        if isinstance(doc, dict):
            return "document" if "apiVersion" in doc and "kind" in doc else "strategic"
        if not quiet:
            self.warn(origin, f"is a {_type_name(doc)}, not a patch")
        return "unknown"

    def _file_patch(self, ref: str, origin: str) -> Patch:
        target = (self.base / ref[1:].strip()).resolve()
        shown = ref[1:].strip()
        if not target.is_file():
            self.warn(origin, f"patch file {shown} not found beside {self.path.name}")
            return Patch(origin=origin, kind="file", ref=ref, path=target, exists=False)
        try:
            text = envsubst.strip_comments(target.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            self.warn(origin, f"patch file {shown} cannot be read: {exc}")
            return Patch(origin=origin, kind="file", ref=ref, path=target, exists=True)
        if _looks_sops_encrypted(text):
            # talhelper decrypts such patches when rendering; nothing in them is needed here.
            return Patch(origin=origin, kind="file", ref=ref, path=target, exists=True, content_kind="unknown")
        if envsubst.references(text):
            text, missing = envsubst.substitute(text, self.env.values(), on_missing=envsubst.marker)
            if missing:
                names = ", ".join(f"${{{n}}}" for n in missing)
                cause = f" ({'; '.join(self.env.problems)})" if self.env.problems else ""
                self.warn(origin, f"patch file {shown} uses {names}, not set{cause}; left unresolved")
        content_kind = self._classify_text(text, f"{origin} ({shown})")
        volumes = _user_volumes(text, origin)
        return Patch(
            origin=origin,
            kind="file",
            ref=ref,
            path=target,
            exists=True,
            content_kind=content_kind,
            user_volumes=volumes,
        )

    # -- reporting ------------------------------------------------------------------------------------

    def _unknown_keys(self, clean: Mapping[str, Any]) -> None:
        for key in clean:
            if key == "sops":
                self.warn("sops", "sops metadata in a plain talconfig (kept; values may still be ENC[...])")
            elif key in LEGACY_KEYS:
                self.warn(key, "legacy talhelper key (kept)")
            elif key not in TOP_KEYS:
                self.warn(key, "unknown key (kept)")
        if "allowSchedulingOnMasters" in clean:
            self.warn("allowSchedulingOnMasters", "deprecated spelling of allowSchedulingOnControlPlanes (accepted)")

    def _report_unresolved(self, marks: Mapping[str, tuple[str, ...]]) -> None:
        for field_path, names in marks.items():
            listed = ", ".join(f"${{{n}}}" for n in names)
            cause = f" ({'; '.join(self.env.problems)})" if self.env.problems else ""
            self.warn(field_path, f"{listed} not set{cause}; kept as written (not needed by homeops)")


@dataclass(frozen=True)
class _Group:
    name: str
    settings: Mapping[str, Any]


def _user_volumes(text: str, origin: str) -> tuple[str, ...]:
    """The names of a patch's ``UserVolumeConfig`` documents (siderolabs/talos v1.11.6
    pkg/machinery/config/types/block/user_volume_config.go:50-56: mounted at /var/mnt/<name>, partition
    label ``u-<name>``; :140-167: 1-34 characters of ASCII letters, digits and '-'). A name outside that
    shape is left out: talosctl would refuse the config before any reset could name it."""
    try:
        docs = load_yaml_documents(text, file=origin)
    except ConfigError:
        return ()
    names = []
    for doc in docs:
        if isinstance(doc, dict) and doc.get("kind") == "UserVolumeConfig":
            name = doc.get("name")
            if isinstance(name, str) and re.fullmatch(r"[A-Za-z0-9-]{1,34}", name):
                names.append(name)
    return tuple(dict.fromkeys(names))


def _is_zero(value: Any) -> bool:
    # Go's reflect.Value.IsZero on the decoded struct field.
    return value is None or value is False or value == 0 or (isinstance(value, str | list | dict) and not value)


def _merge_group(node: Mapping[str, Any], group: Mapping[str, Any]) -> dict[str, Any]:
    """talhelper ``mergeNodeConfigs``: list fields combine, every other field is node-if-non-zero-else-group."""
    merged = dict(node)
    for key, group_value in group.items():
        node_value = node.get(key)
        if key == "patches":
            if group_value and node.get("overridePatches") is not True:
                merged[key] = list(group_value) + list(node_value or [])
        elif key == "extraManifests":
            if group_value and node.get("overrideExtraManifests") is not True:
                merged[key] = list(node_value or []) + list(group_value)
        elif key == "certSANs":
            if group_value and node.get("overrideMachineCertSANs") is not True:
                merged[key] = list(node_value or []) + list(group_value)
        elif key == "schematic":
            # A pointer field in Go: any schematic on the node (even {}) replaces the group's.
            if node_value is None:
                merged[key] = group_value
        elif _is_zero(node_value):
            merged[key] = group_value
    return merged


def _restore(value: Any, path: str, marks: dict[str, tuple[str, ...]]) -> Any:
    """A copy of ``value`` with unresolved-variable markers turned back into ``${NAME}``; records where."""
    if isinstance(value, str):
        names = envsubst.unresolved_names(value)
        if names:
            marks[path] = names
            return envsubst.restore_markers(value)
        return value
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            key_text = envsubst.restore_markers(key) if isinstance(key, str) else key
            out[key_text] = _restore(item, f"{path}.{key_text}" if path else str(key_text), marks)
        return out
    if isinstance(value, list):
        return [_restore(item, f"{path}[{i}]", marks) for i, item in enumerate(value)]
    return value


def _type_name(value: Any) -> str:
    if isinstance(value, dict):
        return "mapping"
    if isinstance(value, list):
        return "list"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if value is None:
        return "null"
    return "string"
