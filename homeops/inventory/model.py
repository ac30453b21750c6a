"""The typed, frozen model of an operator's inventory.

Built by ``homeops.inventory.loader.load_inventory`` from ``inventory/homeops.yaml`` and the
talhelper ``talconfig.yaml`` it points at. Everything downstream (planners, gates, the simulator)
takes these values, never raw dicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from homeops.errors import ConfigError
from homeops.inventory.matchers import Matcher
from homeops.secrets import Secret

HostKind = Literal["proxmox", "truenas"]


@dataclass(frozen=True)
class VmRef:
    """Where a Talos node runs as a Proxmox VM."""

    host: str  # name of an SshHost of kind proxmox
    vmid: int
    mac: str | None = None  # net0 MAC, kept on a rebuild so DHCP reservations still match
    disk: str | None = None  # boot disk as "<storage>:<GiB>", e.g. local-lvm:64


@dataclass(frozen=True)
class Node:
    hostname: str
    ip: str  # the first address; the one talosctl -n gets
    control_plane: bool
    ips: tuple[str, ...] = ()
    install_image: str | None = None  # full installer reference with tag, when known
    talos_image_url: str | None = None  # installer repository without a tag (talconfig talosImageURL)
    schematic_id: str | None = None
    install_disk: str | None = None
    vm: VmRef | None = None
    # Talos user volumes (UserVolumeConfig names); each is the partition labelled u-<name>.
    user_volumes: tuple[str, ...] = ()

    @property
    def role(self) -> Literal["controlplane", "worker"]:
        return "controlplane" if self.control_plane else "worker"

    @property
    def label(self) -> str:
        return f"{self.hostname} ({self.ip})"


@dataclass(frozen=True)
class SshHost:
    name: str
    address: str
    kind: HostKind
    port: int = 22
    user: str = "root"
    identity: Path | None = None  # private key file; None means ssh-agent
    known_hosts: Path | None = None  # None means ~/.ssh/known_hosts
    accept_new_host_key: bool = False  # opt-in, like ssh's StrictHostKeyChecking=accept-new
    password_file: Path | None = None  # a SOPS file holding {password: ...}; never a literal
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class CustomGate:
    """A user-defined health gate from the inventory.

    ``kind == "jsonpath"``: ``kubectl get <resource> [-n namespace] -o jsonpath=<jsonpath>`` must print
    ``expect``. ``kind == "command"``: ``command`` (argv) must exit 0.
    """

    name: str
    kind: Literal["jsonpath", "command"]
    timeout: float = 300.0
    resource: str | None = None
    namespace: str | None = None
    jsonpath: str | None = None
    expect: str | None = None
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class Gates:
    """Which optional gates run before and between node operations."""

    ceph: bool = False
    longhorn: bool = False  # every Longhorn volume healthy (robustness), not degraded/faulted
    nas: bool = False
    flux: bool = False
    volsync: bool = False
    proxmox: bool = True
    custom: tuple[CustomGate, ...] = ()


@dataclass(frozen=True)
class UpgradePolicy:
    max_unavailable: int = 1  # worker batch size
    stability_seconds: float = 30.0  # gates must stay green this long after each node
    reboot_timeout: float = 900.0  # node back (new boot ID) after an upgrade/reboot
    ready_timeout: float = 600.0  # stage running + ready + k8s Ready after it is back
    poll_interval: float = 5.0
    vm_snapshot: bool = False  # Proxmox VM snapshot before each node
    etcd_snapshot_to_nas: bool = False
    nas_backup_dir: str = "/mnt/tank/backups/etcd"
    nas_backup_keep: int = 10
    gates: Gates = field(default_factory=Gates)
    pre_pull_timeout: float = 600.0  # every node's installer pull before the first drain; a stall stops the run
    pre_pull_parallel: int = 4  # nodes pulling at once
    volume_detach_timeout: float = 300.0  # after a drain, the node's VolumeAttachments must be gone by then


@dataclass(frozen=True)
class DrPolicy:
    """Limits ``dr.check`` holds the backups to (homeops.yaml ``dr:``)."""

    snapshot_max_age: float = 26 * 3600.0  # newest etcd snapshot, locally and on the NAS
    volsync_max_age: float = 26 * 3600.0  # every ReplicationSource's lastSyncTime, unless overridden
    volsync_max_age_by_app: tuple[tuple[str, float], ...] = ()  # ("namespace/name", seconds)
    backup_pool: str | None = None  # the NAS pool holding backups; None: the pool of nasBackupDir
    min_free_bytes: int = 10 * 1024**3
    vm_backup_max_age: float = 8 * 24 * 3600.0  # each Talos VM's newest vzdump backup (weekly, and a day of slack)

    def volsync_limit(self, namespace: str, name: str) -> float:
        return dict(self.volsync_max_age_by_app).get(f"{namespace}/{name}", self.volsync_max_age)


#: The run events a notification can be asked for (homeops.yaml ``notify.events``).
NOTIFY_EVENTS: tuple[str, ...] = (
    "started",
    "node-done",
    "node-failed",
    "stuck",
    "finished",
    "failed",
    "interrupted",
    "stopped",
)
# One message per node done is noise on a ten-node upgrade; asked for by name.
DEFAULT_NOTIFY_EVENTS: tuple[str, ...] = tuple(e for e in NOTIFY_EVENTS if e != "node-done")


@dataclass(frozen=True)
class NotifyConfig:
    """Where run events are sent through Apprise (homeops.yaml ``notify:``).

    ``urls`` are secrets (they carry tokens): masked everywhere. ``urls_file`` is a SOPS file holding
    ``urls: [...]``, decrypted only when a run is put together; ``$HOMEOPS_NOTIFY_URLS`` adds more.
    """

    urls: tuple[Secret[str], ...] = ()
    urls_file: Path | None = None
    events: tuple[str, ...] = DEFAULT_NOTIFY_EVENTS
    timeout: float = 10.0  # one message to one URL; a slower one is reported and left behind


@dataclass(frozen=True)
class Hook:
    """One command of ``hooks:``, run with ``sh -c`` in the inventory directory (``homeops.policies.hooks``)."""

    run: str
    timeout: float  # seconds; on expiry the hook's whole process group is killed
    where: str  # its place in homeops.yaml (``hooks.pre[0]``): how errors and the report name it


@dataclass(frozen=True)
class Hooks:
    """Commands run around every mutating run: ``pre`` before anything changes, ``post`` always after it."""

    pre: tuple[Hook, ...] = ()
    post: tuple[Hook, ...] = ()


@dataclass(frozen=True)
class SilenceSettings:
    """homeops.yaml ``alertmanager:``: what a mutating run silences while it lives (never a gate)."""

    url: str
    matchers: tuple[Matcher, ...]  # an alert is silenced when it matches all of them
    ttl: float = 900.0  # the silence lapses this long after the last renewal (a killed run leaves none for long)


@dataclass(frozen=True)
class AlertGateSettings:
    """homeops.yaml ``prometheus:``: which firing alerts hold a run before each node, and for how long."""

    url: str
    # Each selector is a set of matchers; an alert holds the run when it matches every matcher of any one.
    alerts: tuple[tuple[Matcher, ...], ...]
    hold_timeout: float = 600.0  # holding longer fails the run (nothing is sent to the next node)
    poll_interval: float = 30.0


@dataclass(frozen=True)
class MaintenanceWindow:
    """A weekly time a mutating run may change the cluster (homeops.yaml ``maintenance.windows``).

    Local wall-clock time in ``timezone``: it opens at ``start`` on each of ``days`` and closes
    ``duration`` later *on the wall clock*; a window crossing midnight belongs to its start day
    (``days: [sat]``, ``start: "23:00"``, ``duration: 4h`` is Saturday 23:00 to Sunday 03:00). The
    arithmetic, including both DST transitions, is ``homeops.policies.window``'s.
    """

    days: tuple[int, ...]  # datetime.weekday(): 0 Monday … 6 Sunday, sorted, each once
    start: int  # minutes after local midnight, 0..1439
    duration: int  # minutes, 1 .. one week
    timezone: str  # an IANA name zoneinfo knows, e.g. Europe/Amsterdam


@dataclass(frozen=True)
class Maintenance:
    """homeops.yaml ``maintenance:``; ``Inventory.maintenance`` is None without the section (no window)."""

    windows: tuple[MaintenanceWindow, ...]
    node_budget: int | None = None  # minutes one batch of nodes may take; None: measured, else its steps' timeouts


@dataclass(frozen=True)
class Cluster:
    name: str
    endpoint: str  # https://VIP:6443
    talos_version: str | None  # normalised "vX.Y.Z[-pre]" or None when unknown
    kubernetes_version: str | None
    talconfig: Path | None
    talosconfig: Path
    kubeconfig: Path
    clusterconfig_dir: Path
    age_key: Path | None = None
    sops_config: Path | None = None

    @property
    def vip(self) -> str:
        """The host part of the endpoint (the control-plane VIP or DNS name)."""
        rest = self.endpoint.split("://", 1)[-1]
        host = rest.split("/", 1)[0]
        if host.startswith("["):
            return host[1 : host.index("]")]
        return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


@dataclass(frozen=True)
class Inventory:
    root: Path  # the inventory directory
    cluster: Cluster
    nodes: tuple[Node, ...]
    hosts: tuple[SshHost, ...] = ()
    policy: UpgradePolicy = field(default_factory=UpgradePolicy)
    state_dir: Path = Path(".homeops")
    warnings: tuple[str, ...] = ()
    dr: DrPolicy = field(default_factory=DrPolicy)
    notify: NotifyConfig = field(default_factory=NotifyConfig)
    hooks: Hooks = field(default_factory=Hooks)
    alertmanager: SilenceSettings | None = None
    prometheus: AlertGateSettings | None = None
    maintenance: Maintenance | None = None  # None: runs may start at any time

    @property
    def control_planes(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.control_plane)

    @property
    def workers(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if not n.control_plane)

    def node(self, name_or_ip: str) -> Node:
        """Find a node by hostname or any of its IPs; a clear error names the choices."""
        for n in self.nodes:
            if name_or_ip == n.hostname or name_or_ip == n.ip or name_or_ip in n.ips:
                return n
        known = ", ".join(f"{n.hostname}={n.ip}" for n in self.nodes) or "none"
        raise ConfigError(
            f"no node named or addressed '{name_or_ip}'",
            file=str(self.cluster.talconfig or self.root / "homeops.yaml"),
            field="nodes",
            hint=f"known nodes: {known}",
        )

    def host(self, name: str) -> SshHost:
        for h in self.hosts:
            if h.name == name:
                return h
        known = ", ".join(h.name for h in self.hosts) or "none"
        raise ConfigError(
            f"no SSH host named '{name}'",
            file=str(self.root / "homeops.yaml"),
            field="hosts",
            hint=f"known hosts: {known}",
        )

    def hosts_of_kind(self, kind: HostKind) -> tuple[SshHost, ...]:
        return tuple(h for h in self.hosts if h.kind == kind)
