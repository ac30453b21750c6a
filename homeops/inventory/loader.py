"""Loading ``inventory/homeops.yaml`` (and the talconfig it points at) into an ``Inventory``.

``homeops.yaml`` says what talconfig.yaml does not: where the VMs run, how to reach the Proxmox and
TrueNAS hosts, and how rolling operations behave. Paths are relative to the inventory directory;
``~`` is expanded. Every value is type-checked; a wrong one is a one-line ``ConfigError`` naming
the file and field (``homeops.yaml: hosts.pve1.port: must be an integer 1..65535, not 'ssh'``).
An unknown key anywhere is refused, naming the closest known one (``homeops.inventory.schema``).

Format::

    cluster:
      talconfig: talos/talconfig.yaml        # nodes, versions, images come from here (optional)
      talosconfig: talos/clusterconfig/talosconfig   # default: <talconfig dir>/clusterconfig/talosconfig
      kubeconfig: kubeconfig                 # default: <inventory>/kubeconfig
      ageKey: age.key                        # SOPS age identity file (optional)
      sopsConfig: .sops.yaml                 # default: <inventory>/.sops.yaml when it exists
      stateDir: .homeops                     # journals, locks, reports, simulator; default .homeops
      # only without a talconfig:
      name: home
      endpoint: https://10.10.0.10:6443
      talosVersion: v1.11.6
      kubernetesVersion: v1.34.2

    nodes:
      # with a talconfig: an overlay per talconfig hostname
      k8s-0: { vm: { host: pve1, vmid: 200, mac: "BC:24:11:00:00:C8", disk: local-lvm:64 } }  # mac, disk: for dr
      # without one: the full list
      # - { hostname: k8s-0, ip: 10.10.0.20, controlPlane: true, installImage: …, installDisk: /dev/sda,
      #     vm: { host: pve1, vmid: 200 } }

    hosts:
      pve1: { address: 10.10.0.2, kind: proxmox, port: 22, user: root, identity: ~/.ssh/id_ed25519,
              knownHosts: known_hosts, acceptNewHostKey: false, connectTimeout: 10 }
      nas:  { address: 10.10.0.5, kind: truenas, passwordFile: nas.sops.yaml }

    upgrade:
      maxUnavailable: 1        # workers per batch
      stabilitySeconds: 30
      rebootTimeout: 900
      readyTimeout: 600
      pollInterval: 5
      vmSnapshot: false
      etcdSnapshotToNas: false
      nasBackupDir: /mnt/tank/backups/etcd
      nasBackupKeep: 10
      prePullTimeout: 600      # each node's installer pull before the first drain (a stall stops the run)
      prePullParallel: 4       # nodes pulling at once
      volumeDetachTimeout: 300 # after a drain, the node's VolumeAttachments must be gone
      gates:
        proxmox: true
        nas: false
        flux: false
        volsync: false
        ceph: false
        longhorn: false        # every Longhorn volume healthy (none degraded/faulted)
        custom:
          - { name: x, kind: jsonpath, resource: deployment/y, namespace: z, jsonpath: "{.status.readyReplicas}",
              expect: "1", timeout: 120 }
          - { name: ping, kind: command, command: [curl, -fsS, http://127.0.0.1:8080/healthz] }

    dr:                        # what `inv dr.check` holds the backups to
      snapshotMaxAgeHours: 26  # newest etcd snapshot, locally and on the NAS
      volsyncMaxAgeHours: 26   # each VolSync ReplicationSource's last sync …
      volsyncMaxAgeHoursByApp: { default/immich-data: 2 }   # … unless set per namespace/name
      backupPool: tank         # default: the pool of upgrade.nasBackupDir
      minFreeGiB: 10
      vmBackupMaxAgeHours: 192 # each Talos VM's newest vzdump backup (a warning, not a failure)

    notify:                    # run events sent through Apprise (ntfy, Discord, Slack, Gotify, mail, json://…)
      urls: [ntfys://ntfy.sh/my-topic]   # secrets: masked in every output; better kept in urlsFile
      urlsFile: notify.sops.yaml         # a SOPS file holding urls: [...]; $HOMEOPS_NOTIFY_URLS adds more
      events: [started, node-failed, stuck, finished, failed, interrupted, stopped]  # default; also node-done
      timeout: 10              # seconds one message may take; a slower one is reported, the run goes on

    alertmanager:              # each mutating run silences these alerts while it lives (never a gate)
      url: http://alertmanager.monitoring:9093     # user:pass@ in the URL is sent as basic auth
      matchers: ["severity=~warning|critical", 'cluster="home"']  # Alertmanager's syntax; all must match
      ttl: 15m                 # renewed while the run lives, expired at its end; a killed run's lapses

    prometheus:                # before each node, hold while any of these alerts fires
      url: http://prometheus.monitoring:9090
      alerts: [NodeDown, 'severity="critical"', '{alertname=~"Ceph.*", severity!="info"}']  # a name or matchers
      holdTimeout: 10m         # holding longer fails the run before the next node
      pollInterval: 30s
    maintenance:               # without it, mutating runs may start at any time
      windows:                 # local wall-clock times; a window crossing midnight belongs to its start day
        - { days: [sat, sun], start: "02:00", duration: 4h, timezone: Europe/Amsterdam }
      nodeBudget: 45m          # optional: what one batch of nodes may take (default: measured in the run,
                               # else what its steps' timeouts allow)

    hooks:                     # around every mutating run; `sh -c` in this directory (homeops.policies.hooks)
      pre:                     # before anything changes; a failure or timeout refuses the run
        - { run: ./scripts/backup-check.sh, timeout: 5m }   # timeout: 90, 90s, 5m, 1h30m (default 5m)
      post:                    # always after it: finished, failed, Ctrl-C or stopped; a failure fails the run
        - { run: 'curl -fsS -d "$HOMEOPS_STATUS" http://ntfy.lan/homelab', timeout: 2m }
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from homeops.errors import ConfigError, HomeopsError
from homeops.inventory import checks
from homeops.inventory.matchers import Matcher, matches_empty, parse_matcher, parse_selector
from homeops.inventory.model import (
    NOTIFY_EVENTS,
    AlertGateSettings,
    Cluster,
    CustomGate,
    DrPolicy,
    Gates,
    Hook,
    Hooks,
    HostKind,
    Inventory,
    Maintenance,
    MaintenanceWindow,
    Node,
    NotifyConfig,
    SilenceSettings,
    SshHost,
    UpgradePolicy,
    VmRef,
)
from homeops.inventory.schema import check_keys
from homeops.inventory.versions import parse_version
from homeops.inventory.yamlfile import YamlFloat, YamlInt, load_yaml, scalar_text
from homeops.secrets import add_url

if TYPE_CHECKING:
    from homeops.inventory.talconfig import TalNode

INVENTORY_FILE = "homeops.yaml"

# Set only without a talconfig; with one they are ignored (and said so). Every key allowed anywhere in
# the file is listed in homeops.inventory.schema.SCHEMA.
_BARE_CLUSTER_KEYS = {"name", "endpoint", "talosVersion", "kubernetesVersion"}

#: A hook's timeout when homeops.yaml gives none.
HOOK_TIMEOUT = 300.0

# maintenance.windows[].days: three letters or the full English name, any case (as kured's --reboot-days,
# kubereboot/kured pkg/timewindow/days.go; its numbers are left out: 0 is Sunday in Go, Monday in Python).
WEEK = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS = {name: n for n, day in enumerate(WEEK) for name in (day[:3], day)}
_WEEK_MINUTES = 7 * 24 * 60


def load_inventory(directory: str | os.PathLike[str], *, talconfig: Path | None = None) -> Inventory:
    """Load ``<directory>/homeops.yaml`` and its talconfig.

    ``talconfig`` replaces ``cluster.talconfig``. When the directory has no homeops.yaml but a
    talconfig is given, the inventory is that talconfig alone (no hosts, default policy).
    """
    root = Path(directory).expanduser()
    path = root / INVENTORY_FILE
    try:
        return _load(root, path, talconfig)
    except HomeopsError:
        raise
    except OSError as exc:  # EACCES on the directory, a vanished file, …: the user's to fix, not a traceback
        where = exc.filename or str(path)
        raise ConfigError(f"cannot be read: {exc.strerror or exc}", file=str(where)) from None


def _load(root: Path, path: Path, talconfig: Path | None) -> Inventory:
    if path.is_dir():
        raise ConfigError("is a directory, not a file", file=str(path), hint="homeops.yaml must be a YAML file")
    if not path.is_file():
        if talconfig is not None:
            return inventory_from_talconfig(talconfig, root=root)
        if not root.is_dir():
            raise ConfigError(
                "inventory directory not found",
                file=str(root),
                hint="pass --inventory DIR, set HOMEOPS_INVENTORY, or run from the repo that holds inventory/",
            )
        raise ConfigError(
            "not found",
            file=str(path),
            hint="create it (see the example inventory/homeops.yaml) or pass --talconfig PATH",
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot be read: {exc}", file=str(path)) from None
    data = load_yaml(text, file=str(path))
    check_keys(data, file=str(path))
    return _InventoryReader(root, path, talconfig).read(data)


def inventory_from_talconfig(
    talconfig: str | os.PathLike[str],
    *,
    root: Path | None = None,
    environ: Mapping[str, str] | None = None,
    age_key_file: Path | None = None,
) -> Inventory:
    """An inventory made of one talconfig: its nodes and versions, no SSH hosts, the default policy."""
    from homeops.inventory.talconfig import read_talconfig

    tal_path = Path(talconfig).expanduser()
    tc = read_talconfig(tal_path, environ=environ, age_key_file=age_key_file)
    base = root if root is not None else tal_path.parent
    clusterconfig = tal_path.parent / "clusterconfig"
    cluster = Cluster(
        name=tc.cluster_name,
        endpoint=tc.endpoint,
        talos_version=tc.talos_version,
        kubernetes_version=tc.kubernetes_version,
        talconfig=tal_path,
        talosconfig=clusterconfig / "talosconfig",
        kubeconfig=base / "kubeconfig",
        clusterconfig_dir=clusterconfig,
        age_key=age_key_file,
    )
    return Inventory(
        root=base,
        cluster=cluster,
        nodes=tuple(n.to_node() for n in tc.nodes),
        state_dir=base / ".homeops",
        warnings=tc.warnings,
    )


@dataclass
class _InventoryReader:
    root: Path
    path: Path
    talconfig_override: Path | None
    warnings: list[str] = field(default_factory=list)

    @property
    def file(self) -> str:
        return str(self.path)

    def error(self, field_path: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.file, field=field_path, hint=hint)

    def warn(self, field_path: str, message: str) -> None:
        self.warnings.append(f"{self.file}: {field_path}: {message}")

    # -- typed getters ---------------------------------------------------------------------------------

    def mapping(self, value: Any, where: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(where, f"must be a mapping, not {_describe(value)}")
        for key in value:
            if not isinstance(key, str):
                raise self.error(where, f"keys must be strings, not {_describe(key)}")
        return value

    def string(self, data: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> str | None:
        value = data.get(key)
        if value is None:
            if required:
                raise self.error(f"{where}.{key}", "is required")
            return None
        if not isinstance(value, str) or not value.strip():
            raise self.error(f"{where}.{key}", f"must be a non-empty string, not {_describe(value)}")
        return value.strip()

    def path_value(self, data: Mapping[str, Any], key: str, where: str) -> Path | None:
        text = self.string(data, key, where)
        return self.resolve(text) if text else None

    def resolve(self, text: str) -> Path:
        path = Path(os.path.expanduser(text))
        return path if path.is_absolute() else self.root / path

    def boolean(self, data: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(f"{where}.{key}", f"must be true or false, not {_describe(value)}")
        return value

    def integer(self, data: Mapping[str, Any], key: str, where: str, default: int, lo: int, hi: int | None) -> int:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < lo or (hi is not None and value > hi):
            bounds = f"{lo}..{hi}" if hi is not None else f">= {lo}"
            raise self.error(f"{where}.{key}", f"must be an integer {bounds}, not {_describe(value)}")
        return int(value)

    def seconds(self, data: Mapping[str, Any], key: str, where: str, default: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise self.error(f"{where}.{key}", f"must be a number of seconds > 0, not {_describe(value)}")
        return float(value)

    # -- sections --------------------------------------------------------------------------------------

    def read(self, data: Any) -> Inventory:
        if data is None:
            data = {}
        top = self.mapping(data, "(top level)")
        cluster_data = self.mapping(top.get("cluster"), "cluster")
        hosts = self.hosts(top.get("hosts"))
        talconfig_path = self.talconfig_override or self.path_value(cluster_data, "talconfig", "cluster")
        age_key = self.path_value(cluster_data, "ageKey", "cluster")

        if talconfig_path is not None:
            from homeops.inventory.talconfig import read_talconfig

            for key in sorted(_BARE_CLUSTER_KEYS & cluster_data.keys()):
                self.warn(f"cluster.{key}", "ignored: the talconfig sets it")
            tc = read_talconfig(talconfig_path, age_key_file=age_key)
            name, endpoint = tc.cluster_name, tc.endpoint
            talos_version: str | None = tc.talos_version
            kubernetes_version = tc.kubernetes_version
            nodes = self.overlay(top.get("nodes"), tc.nodes, talconfig_path, hosts)
            tal_warnings = list(tc.warnings)
            default_clusterconfig = talconfig_path.parent / "clusterconfig"
        else:
            name = self.string(cluster_data, "name", "cluster", required=True) or ""
            endpoint = self.string(cluster_data, "endpoint", "cluster", required=True) or ""
            bad = checks.endpoint_problem(endpoint)
            if bad:
                raise self.error("cluster.endpoint", bad)
            talos_version = self.version(cluster_data, "talosVersion")
            kubernetes_version = self.version(cluster_data, "kubernetesVersion")
            nodes = self.node_list(top.get("nodes"), hosts)
            tal_warnings = []
            default_clusterconfig = self.root / "clusterconfig"

        clusterconfig = self.path_value(cluster_data, "clusterconfigDir", "cluster") or default_clusterconfig
        sops_config = self.path_value(cluster_data, "sopsConfig", "cluster")
        if sops_config is None and (self.root / ".sops.yaml").is_file():
            sops_config = self.root / ".sops.yaml"
        cluster = Cluster(
            name=name,
            endpoint=endpoint,
            talos_version=talos_version,
            kubernetes_version=kubernetes_version,
            talconfig=talconfig_path,
            talosconfig=self.path_value(cluster_data, "talosconfig", "cluster") or clusterconfig / "talosconfig",
            kubeconfig=self.path_value(cluster_data, "kubeconfig", "cluster") or self.root / "kubeconfig",
            clusterconfig_dir=clusterconfig,
            age_key=age_key,
            sops_config=sops_config,
        )
        unmapped = [n.hostname for n in nodes if n.vm is None]
        if unmapped and any(h.kind == "proxmox" for h in hosts.values()):
            self.warn("nodes", f"no vm: {{host, vmid}} for {', '.join(unmapped)}; Proxmox steps will skip them")
        policy = self.policy(top.get("upgrade"))
        state_dir = self.path_value(cluster_data, "stateDir", "cluster") or self.root / ".homeops"
        return Inventory(
            root=self.root,
            cluster=cluster,
            nodes=nodes,
            hosts=tuple(hosts.values()),
            policy=policy,
            state_dir=state_dir,
            warnings=tuple(tal_warnings + self.warnings),
            dr=self.dr(top.get("dr")),
            notify=self.notify(top.get("notify")),
            hooks=self.hooks(top.get("hooks")),
            alertmanager=self.silence(top) if "alertmanager" in top else None,
            prometheus=self.alert_gate(top) if "prometheus" in top else None,
            maintenance=self.maintenance(top),
        )

    def version(self, data: Mapping[str, Any], key: str) -> str | None:
        value = data.get(key)
        if value is None:
            self.warn(f"cluster.{key}", "not set; operations that need it will refuse")
            return None
        text = value.text if isinstance(value, YamlInt | YamlFloat) else value
        if not isinstance(text, str):
            raise self.error(f"cluster.{key}", f"must be a version string like v1.11.6, not {_describe(value)}")
        return str(parse_version(text, file=self.file, field=f"cluster.{key}"))

    def hosts(self, raw: Any) -> dict[str, SshHost]:
        hosts: dict[str, SshHost] = {}
        for name, spec in self.mapping(raw, "hosts").items():
            where = f"hosts.{name}"
            data = self.mapping(spec, where)
            kind = self.string(data, "kind", where, required=True)
            if kind not in ("proxmox", "truenas"):
                raise self.error(f"{where}.kind", f"must be proxmox or truenas, not '{kind}'")
            address = self.string(data, "address", where, required=True) or ""
            bad = checks.address_problem(address)
            if bad:
                raise self.error(f"{where}.address", bad)
            user = self.string(data, "user", where) or "root"
            bad = checks.user_problem(user)
            if bad:
                raise self.error(f"{where}.user", bad)
            hosts[name] = SshHost(
                name=name,
                address=address,
                kind=cast(HostKind, kind),
                port=self.integer(data, "port", where, 22, 1, 65535),
                user=user,
                identity=self.path_value(data, "identity", where),
                known_hosts=self.path_value(data, "knownHosts", where),
                accept_new_host_key=self.boolean(data, "acceptNewHostKey", where, False),
                password_file=self.path_value(data, "passwordFile", where),
                connect_timeout=self.seconds(data, "connectTimeout", where, 10.0),
            )
        return hosts

    def vm(self, raw: Any, where: str, hosts: Mapping[str, SshHost]) -> VmRef | None:
        if raw is None:
            return None
        data = self.mapping(raw, where)
        host = self.string(data, "host", where, required=True) or ""
        if host not in hosts:
            known = ", ".join(sorted(hosts)) or "none"
            raise self.error(f"{where}.host", f"'{host}' is not under hosts:", hint=f"hosts defined: {known}")
        if hosts[host].kind != "proxmox":
            raise self.error(f"{where}.host", f"'{host}' is a {hosts[host].kind} host; VMs run on proxmox hosts")
        if "vmid" not in data:
            raise self.error(f"{where}.vmid", "is required")
        mac = self.string(data, "mac", where)
        if mac is not None and not re.fullmatch(r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}", mac):
            raise self.error(f"{where}.mac", f"must be a MAC address like BC:24:11:00:02:01, not '{mac}'")
        disk = self.string(data, "disk", where)
        if disk is not None and not re.fullmatch(r"[\w.-]+:\d+", disk):
            raise self.error(f"{where}.disk", f"must be <storage>:<GiB> like local-lvm:64, not '{disk}'")
        vmid = self.integer(data, "vmid", where, 0, 100, 999_999_999)
        return VmRef(host=host, vmid=vmid, mac=mac.upper() if mac else None, disk=disk)

    def overlay(
        self,
        raw: Any,
        tal_nodes: tuple[TalNode, ...],
        talconfig_path: Path,
        hosts: Mapping[str, SshHost],
    ) -> tuple[Node, ...]:
        if isinstance(raw, list):
            raise self.error(
                "nodes",
                "is a list, but with a talconfig the nodes come from it",
                hint="write nodes as a mapping hostname → {vm: {host, vmid}}",
            )
        overlays = self.mapping(raw, "nodes")
        known = {n.hostname for n in tal_nodes}
        for hostname in overlays:
            if hostname not in known:
                raise self.error(
                    f"nodes.{hostname}",
                    f"no node '{hostname}' in {talconfig_path}",
                    hint=f"its nodes are {', '.join(sorted(known))}",
                )
        vms: dict[str, VmRef] = {}
        nodes: list[Node] = []
        for tal_node in tal_nodes:
            where = f"nodes.{tal_node.hostname}"
            data = self.mapping(overlays.get(tal_node.hostname), where)
            vm = self.vm(data.get("vm"), f"{where}.vm", hosts)
            if vm is not None:
                self.unique_vm(vm, where, vms)
            nodes.append(tal_node.to_node(vm))
        return tuple(nodes)

    def unique_vm(self, vm: VmRef, where: str, seen: dict[str, VmRef]) -> None:
        for other, ref in seen.items():
            if (ref.host, ref.vmid) == (vm.host, vm.vmid):
                raise self.error(f"{where}.vm", f"VM {vm.vmid} on {vm.host} is also {other}'s")
            if ref.vmid == vm.vmid:
                raise self.error(
                    f"{where}.vm.vmid",
                    f"vmid {vm.vmid} is also {other}'s (on {ref.host})",
                    hint="a Proxmox cluster numbers its VMs cluster-wide: each vmid names one VM",
                )
            if vm.mac and ref.mac == vm.mac:
                raise self.error(f"{where}.vm.mac", f"{vm.mac} is also {other}'s; each VM needs its own MAC")
        seen[where] = vm

    def node_list(self, raw: Any, hosts: Mapping[str, SshHost]) -> tuple[Node, ...]:
        if raw is None:
            raise self.error(
                "nodes", "is required without a talconfig", hint="list the nodes, or set cluster.talconfig"
            )
        if not isinstance(raw, list):
            raise self.error("nodes", f"must be a list of nodes without a talconfig, not {_describe(raw)}")
        nodes: list[Node] = []
        names: dict[str, str] = {}
        ip_owner: dict[str, str] = {}
        vms: dict[str, VmRef] = {}
        for index, item in enumerate(raw):
            where = f"nodes[{index}]"
            data = self.mapping(item, where)
            hostname = self.string(data, "hostname", where, required=True) or ""
            bad = checks.hostname_problem(hostname)
            if bad:
                raise self.error(f"{where}.hostname", bad)
            if hostname in names:
                raise self.error(f"{where}.hostname", f"'{hostname}' is also {names[hostname]}")
            names[hostname] = where
            ips = self.ips(data, where)
            for ip in ips:
                if ip in ip_owner:
                    raise self.error(
                        f"{where}.ip",
                        f"{ip} is also {ip_owner[ip]}'s address",
                        hint="each node needs its own IP: a rolling upgrade would reach the same machine twice",
                    )
                ip_owner[ip] = hostname
            image = self.string(data, "installImage", where)
            bad = checks.image_problem(image) if image else None
            if bad:
                raise self.error(f"{where}.installImage", bad)
            vm = self.vm(data.get("vm"), f"{where}.vm", hosts)
            if vm is not None:
                self.unique_vm(vm, where, vms)
            nodes.append(
                Node(
                    hostname=hostname,
                    ip=ips[0],
                    control_plane=self.boolean(data, "controlPlane", where, False),
                    ips=ips,
                    install_image=image,
                    schematic_id=self.string(data, "schematicId", where),
                    install_disk=self.string(data, "installDisk", where),
                    vm=vm,
                )
            )
        if not any(n.control_plane for n in nodes):
            self.warn("nodes", "no node has controlPlane: true")
        return tuple(nodes)

    def ips(self, data: Mapping[str, Any], where: str) -> tuple[str, ...]:
        first = self.string(data, "ip", where)
        extra = data.get("ips", [])
        if not isinstance(extra, list) or not all(isinstance(x, str) and x.strip() for x in extra):
            raise self.error(f"{where}.ips", f"must be a list of addresses, not {_describe(extra)}")
        ips = tuple(dict.fromkeys([*([first] if first else []), *(x.strip() for x in extra)]))
        if not ips:
            raise self.error(f"{where}.ip", "is required")
        for ip in ips:
            bad = checks.ip_problem(ip)
            if bad:
                raise self.error(f"{where}.ip" if ip == first else f"{where}.ips", bad)
        return ips

    def policy(self, raw: Any) -> UpgradePolicy:
        where = "upgrade"
        data = self.mapping(raw, where)
        defaults = UpgradePolicy()
        return UpgradePolicy(
            max_unavailable=self.integer(data, "maxUnavailable", where, defaults.max_unavailable, 1, None),
            stability_seconds=self.non_negative(data, "stabilitySeconds", where, defaults.stability_seconds),
            reboot_timeout=self.seconds(data, "rebootTimeout", where, defaults.reboot_timeout),
            ready_timeout=self.seconds(data, "readyTimeout", where, defaults.ready_timeout),
            poll_interval=self.seconds(data, "pollInterval", where, defaults.poll_interval),
            vm_snapshot=self.boolean(data, "vmSnapshot", where, defaults.vm_snapshot),
            etcd_snapshot_to_nas=self.boolean(data, "etcdSnapshotToNas", where, defaults.etcd_snapshot_to_nas),
            nas_backup_dir=self.string(data, "nasBackupDir", where) or defaults.nas_backup_dir,
            nas_backup_keep=self.integer(data, "nasBackupKeep", where, defaults.nas_backup_keep, 1, None),
            gates=self.gates(data.get("gates")),
            pre_pull_timeout=self.seconds(data, "prePullTimeout", where, defaults.pre_pull_timeout),
            pre_pull_parallel=self.integer(data, "prePullParallel", where, defaults.pre_pull_parallel, 1, 64),
            volume_detach_timeout=self.seconds(data, "volumeDetachTimeout", where, defaults.volume_detach_timeout),
        )

    def non_negative(self, data: Mapping[str, Any], key: str, where: str, default: float) -> float:
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise self.error(f"{where}.{key}", f"must be a number of seconds >= 0, not {_describe(value)}")
        return float(value)

    def gates(self, raw: Any) -> Gates:
        where = "upgrade.gates"
        data = self.mapping(raw, where)
        defaults = Gates()
        custom_raw = data.get("custom", [])
        if not isinstance(custom_raw, list):
            raise self.error(f"{where}.custom", f"must be a list of gates, not {_describe(custom_raw)}")
        custom: list[CustomGate] = []
        names: set[str] = set()
        for index, item in enumerate(custom_raw):
            gate = self.custom_gate(item, f"{where}.custom[{index}]")
            if gate.name in names:
                raise self.error(f"{where}.custom[{index}].name", f"'{gate.name}' is used by another gate")
            names.add(gate.name)
            custom.append(gate)
        return Gates(
            ceph=self.boolean(data, "ceph", where, defaults.ceph),
            longhorn=self.boolean(data, "longhorn", where, defaults.longhorn),
            nas=self.boolean(data, "nas", where, defaults.nas),
            flux=self.boolean(data, "flux", where, defaults.flux),
            volsync=self.boolean(data, "volsync", where, defaults.volsync),
            proxmox=self.boolean(data, "proxmox", where, defaults.proxmox),
            custom=tuple(custom),
        )

    def dr(self, raw: Any) -> DrPolicy:
        data = self.mapping(raw, "dr")
        d = DrPolicy()
        by_app = self.mapping(data.get("volsyncMaxAgeHoursByApp"), "dr.volsyncMaxAgeHoursByApp")
        where_app = "dr.volsyncMaxAgeHoursByApp"
        for app in by_app:
            if app.count("/") != 1:
                raise self.error(f"{where_app}.{app}", "must be namespace/name of a ReplicationSource")
        return DrPolicy(
            snapshot_max_age=self.hours(data, "snapshotMaxAgeHours", "dr", d.snapshot_max_age),
            volsync_max_age=self.hours(data, "volsyncMaxAgeHours", "dr", d.volsync_max_age),
            volsync_max_age_by_app=tuple((app, self.hours(by_app, app, where_app, 0.0)) for app in sorted(by_app)),
            backup_pool=self.string(data, "backupPool", "dr"),
            min_free_bytes=int(self.gib(data, "minFreeGiB", "dr", d.min_free_bytes)),
            vm_backup_max_age=self.hours(data, "vmBackupMaxAgeHours", "dr", d.vm_backup_max_age),
        )

    def notify(self, raw: Any) -> NotifyConfig:
        where = "notify"
        data = self.mapping(raw, where)
        defaults = NotifyConfig()
        urls = data.get("urls", [])
        if not isinstance(urls, list) or not all(isinstance(u, str) and u.strip() for u in urls):
            # The value itself is never quoted: it may be a URL with a token in it.
            raise self.error(
                f"{where}.urls", "must be a list of Apprise URLs (strings)", hint="e.g. urls: [ntfys://ntfy.sh/topic]"
            )
        for index, url in enumerate(urls):
            if "://" not in url:
                add_url(url.strip())
                raise self.error(f"{where}.urls[{index}]", "is not a URL (schema://…)", hint="see Apprise's URL list")
        events = data.get("events", list(defaults.events))
        if not isinstance(events, list) or not all(isinstance(e, str) for e in events):
            raise self.error(f"{where}.events", f"must be a list of event names, not {_describe(events)}")
        for index, name in enumerate(events):
            if name not in NOTIFY_EVENTS:
                raise self.error(
                    f"{where}.events[{index}]", f"unknown event '{name}'", hint=f"known: {', '.join(NOTIFY_EVENTS)}"
                )
        return NotifyConfig(
            urls=tuple(add_url(u.strip()) for u in urls),
            urls_file=self.path_value(data, "urlsFile", where),
            events=tuple(dict.fromkeys(events)),
            timeout=self.seconds(data, "timeout", where, defaults.timeout),
        )

    def maintenance(self, top: Mapping[str, Any]) -> Maintenance | None:
        if "maintenance" not in top:
            return None
        data = self.mapping(top["maintenance"], "maintenance")
        raw = data.get("windows")
        if not isinstance(raw, list) or not raw:
            raise self.error(
                "maintenance.windows",
                f"must list at least one window, not {_describe(raw)}",
                hint='e.g. windows: [{days: [sat, sun], start: "02:00", duration: 4h, timezone: Europe/Amsterdam}]; '
                "without maintenance: runs may start at any time",
            )
        windows = tuple(self.window(item, f"maintenance.windows[{index}]") for index, item in enumerate(raw))
        budget = None
        if data.get("nodeBudget") is not None:
            budget = self.duration(data, "nodeBudget", "maintenance")
        return Maintenance(windows=windows, node_budget=budget)

    def window(self, raw: Any, where: str) -> MaintenanceWindow:
        data = self.mapping(raw, where)
        days = data.get("days", list(WEEK))
        if not isinstance(days, list) or not days:
            raise self.error(f"{where}.days", f"must be a list of weekdays like [sat, sun], not {_describe(days)}")
        numbers: set[int] = set()
        for day in days:
            number = _WEEKDAYS.get(day.strip().lower()) if isinstance(day, str) else None
            if number is None:
                raise self.error(f"{where}.days", f"{_describe(day)} is not a weekday; use mon tue wed thu fri sat sun")
            numbers.add(number)
        start_text = scalar_text(data.get("start"))
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", start_text or "")
        if match is None:
            raise self.error(
                f"{where}.start", f'must be a local time HH:MM like "02:00", not {_describe(data.get("start"))}'
            )
        zone = self.string(data, "timezone", where, required=True) or ""
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise self.error(
                f"{where}.timezone",
                f"'{zone}' is not a time zone I know",
                hint="an IANA name like Europe/Amsterdam (from the system's tz database, or pip's tzdata)",
            ) from None
        return MaintenanceWindow(
            days=tuple(sorted(numbers)),
            start=int(match[1]) * 60 + int(match[2]),
            duration=self.duration(data, "duration", where, required=True),
            timezone=zone,
        )

    def duration(self, data: Mapping[str, Any], key: str, where: str, *, required: bool = False) -> int:
        """Minutes, from ``4h``, ``30m`` or ``1h30m``; one week at most (longer is always open)."""
        value = data.get(key)
        if value is None and required:
            raise self.error(f"{where}.{key}", "is required (like 4h, 30m or 1h30m)")
        # The reader ``span`` uses, kept to text (a bare number would be ambiguous) and to whole minutes.
        seconds = _span_seconds(value) if isinstance(value, str) else None
        minutes = round(seconds) / 60 if seconds is not None else 0.0
        if minutes != int(minutes) or not 0 < minutes <= _WEEK_MINUTES:
            raise self.error(
                f"{where}.{key}", f"must be a duration like 4h, 30m or 1h30m (at most 168h), not {_describe(value)}"
            )
        return int(minutes)

    def gib(self, data: Mapping[str, Any], key: str, where: str, default_bytes: int) -> float:
        value = data.get(key, default_bytes / 1024**3)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
            raise self.error(f"{where}.{key}", f"must be a number of GiB >= 0, not {_describe(value)}")
        return float(value) * 1024**3

    def hours(self, data: Mapping[str, Any], key: str, where: str, default_seconds: float) -> float:
        value = data.get(key, default_seconds / 3600)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
            raise self.error(f"{where}.{key}", f"must be a number of hours > 0, not {_describe(value)}")
        return float(value) * 3600

    def hooks(self, raw: Any) -> Hooks:
        data = self.mapping(raw, "hooks")
        return Hooks(pre=self.hook_list(data, "pre"), post=self.hook_list(data, "post"))

    def hook_list(self, data: Mapping[str, Any], key: str) -> tuple[Hook, ...]:
        where = f"hooks.{key}"
        raw = data.get(key)
        if raw is None:
            return ()
        example = f'write - {{run: "./scripts/{key}.sh", timeout: 5m}}'
        if not isinstance(raw, list):
            raise self.error(where, f"must be a list of {{run, timeout}} entries, not {_describe(raw)}", hint=example)
        hooks = []
        for index, item in enumerate(raw):
            at = f"{where}[{index}]"
            if not isinstance(item, dict):
                raise self.error(at, f"must be a mapping {{run, timeout}}, not {_describe(item)}", hint=example)
            run = self.mapping(item, at).get("run")
            if not isinstance(run, str) or not run.strip():
                raise self.error(f"{at}.run", f"must be a non-empty shell command, not {_describe(run)}", hint=example)
            timeout = self.span(item, "timeout", at, HOOK_TIMEOUT, least=1.0)
            hooks.append(Hook(run=run.strip(), timeout=timeout, where=at))
        return tuple(hooks)

    def silence(self, top: Mapping[str, Any]) -> SilenceSettings:
        data = self.mapping(top["alertmanager"], "alertmanager")
        raw = data.get("matchers")
        example = 'e.g. matchers: ["severity=~warning|critical", \'cluster="home"\']'
        if not isinstance(raw, list) or not raw:
            raise self.error("alertmanager.matchers", f"must list at least one matcher, not {_describe(raw)}", example)
        matchers = tuple(self.matcher(item, f"alertmanager.matchers[{i}]") for i, item in enumerate(raw))
        if matches_empty(matchers):
            raise self.error(
                "alertmanager.matchers",
                "every matcher matches an alert without labels: Alertmanager refuses such a silence",
                hint='add one that names something, e.g. cluster="home"',
            )
        return SilenceSettings(
            url=self.service_url(data, "alertmanager"),
            matchers=matchers,
            ttl=self.span(data, "ttl", "alertmanager", 900.0, least=1.0),
        )

    def alert_gate(self, top: Mapping[str, Any]) -> AlertGateSettings:
        data = self.mapping(top["prometheus"], "prometheus")
        raw = data.get("alerts")
        if not isinstance(raw, list) or not raw:
            raise self.error(
                "prometheus.alerts",
                f"must list at least one alert name or matcher, not {_describe(raw)}",
                hint="e.g. alerts: [NodeDown, 'severity=\"critical\"']",
            )
        selectors: list[tuple[Matcher, ...]] = []
        for index, item in enumerate(raw):
            where = f"prometheus.alerts[{index}]"
            if not isinstance(item, str) or not item.strip():
                raise self.error(where, f"must be an alert name or matchers, not {_describe(item)}")
            text = item.strip()
            try:
                selector = parse_selector(text)
            except ValueError as exc:
                raise self.error(
                    where, str(exc), hint='an alert name (NodeDown) or matchers (severity="critical")'
                ) from None
            if matches_empty(selector):
                raise self.error(where, f"'{text}' would match every alert, even one without labels")
            selectors.append(selector)
        return AlertGateSettings(
            url=self.service_url(data, "prometheus"),
            alerts=tuple(selectors),
            hold_timeout=self.span(data, "holdTimeout", "prometheus", 600.0, least=1.0),
            poll_interval=self.span(data, "pollInterval", "prometheus", 30.0, least=0.1),
        )

    def matcher(self, raw: Any, where: str) -> Matcher:
        if not isinstance(raw, str):
            raise self.error(where, f'must be a matcher like severity="critical", not {_describe(raw)}')
        try:
            return parse_matcher(raw)
        except ValueError as exc:
            raise self.error(where, str(exc)) from None

    def service_url(self, data: Mapping[str, Any], where: str) -> str:
        url = self.string(data, "url", where, required=True) or ""
        bad = checks.service_url_problem(url)
        if bad:
            raise self.error(f"{where}.url", bad)
        return url

    def span(self, data: Mapping[str, Any], key: str, where: str, default: float, *, least: float) -> float:
        """Seconds, from a number or a Go-style duration (``15m``, ``1h30m``, ``90s``, ``2.5s``)."""
        value = data.get(key, default)
        seconds = _span_seconds(value)
        if seconds is None or seconds < least or seconds > 7 * 24 * 3600:
            raise self.error(
                f"{where}.{key}",
                f"must be a duration like 15m, 1h30m or 90s (or a number of seconds) from {least:g}s to 168h, "
                f"not {_describe(value)}",
            )
        return seconds

    def custom_gate(self, raw: Any, where: str) -> CustomGate:
        data = self.mapping(raw, where)
        name = self.string(data, "name", where, required=True) or ""
        kind = self.string(data, "kind", where, required=True)
        timeout = self.seconds(data, "timeout", where, 300.0)
        if kind == "jsonpath":
            resource = self.string(data, "resource", where, required=True)
            jsonpath = self.string(data, "jsonpath", where, required=True)
            expect = data.get("expect")
            if not isinstance(expect, str):
                raise self.error(
                    f"{where}.expect",
                    f"must be the expected output as a string, not {_describe(expect)}",
                    hint='quote it, e.g. expect: "1"',
                )
            return CustomGate(
                name=name,
                kind="jsonpath",
                timeout=timeout,
                resource=resource,
                namespace=self.string(data, "namespace", where),
                jsonpath=jsonpath,
                expect=expect,
            )
        if kind == "command":
            command = data.get("command")
            if not isinstance(command, list) or not command or not all(isinstance(a, str) for a in command):
                raise self.error(
                    f"{where}.command",
                    f"must be a non-empty list of strings (argv), not {_describe(command)}",
                    hint="e.g. command: [curl, -fsS, http://127.0.0.1/healthz]",
                )
            return CustomGate(name=name, kind="command", timeout=timeout, command=tuple(command))
        raise self.error(f"{where}.kind", f"must be jsonpath or command, not '{kind}'")


_SPAN = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?")


def _span_seconds(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    match = _SPAN.fullmatch(value.strip())
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def _describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"'{'true' if value else 'false'}'"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list" if value else "an empty list"
    text = getattr(value, "text", None)
    return f"'{text if isinstance(text, str) else value}'"
