"""Look, then choose: what is left of the cluster, and which recovery model fits it.

The Talos recovery guide and the home-ops operators have two models, alternatives rather than stages
(``../shared/reference/recovery.md`` §1):

* **etcd-restore** — quorum is lost but the control planes' disks (STATE: config and PKI) and the
  volumes the PVs point at survive. Wipe EPHEMERAL on the control planes only, restore etcd from a
  snapshot taken *now* (or the raw ``db``); every object comes back as it was, status included, and
  nothing re-populates a volume.
* **fresh** — everything is gone (or the data lived on node-local storage, which an etcd restore would
  bring back as PVs pointing at wiped disks, or the operator says ``--fresh``): wipe STATE+EPHEMERAL+user volumes
  (or recreate the VMs), bootstrap a new etcd, let Flux deploy the apps, and prove the VolSync and CNPG
  restores.

``observe`` looks (talosctl and kubectl, read-only); ``choose`` is pure: from what was seen to a
``Choice``
that names the model and why, or refuses (a healthy cluster; one lost control plane that quorum
survives, which is a node replacement). Where the API is down, where the volumes live comes from the
record the last look with an answering API wrote (``<state>/dr/cluster-record.json``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from homeops.adapters import cnpg
from homeops.adapters import kubectl as k
from homeops.adapters import talosctl as t
from homeops.adapters import volsync as vs
from homeops.adapters._parse import parse_json_object
from homeops.errors import HomeopsError, PlanError
from homeops.inventory.model import Inventory
from homeops.runners import Runner

Model = Literal["etcd-restore", "fresh", "nodes"]
NodeMode = Literal["configured", "maintenance", "down"]

#: Provisioners whose volumes live on one node's disk (hostpath in /var = EPHEMERAL, or a Talos user volume).
LOCAL_PROVISIONERS = (
    "openebs.io/local",
    "rancher.io/local-path",
    "kubernetes.io/no-provisioner",
    "local.csi.openebs.io",
    "topolvm.io",
)
RECORD = "cluster-record.json"


@dataclass(frozen=True)
class NodeSeen:
    hostname: str
    ip: str
    control_plane: bool
    mode: NodeMode
    etcd: str = ""  # control planes: Running/Preparing/… as `talosctl service etcd` says, "" if not asked
    etcd_health: str = ""  # OK / Fail / ?
    members: tuple[str, ...] = ()  # the member hostnames this node's etcd lists
    detail: str = ""

    @property
    def etcd_healthy(self) -> bool:
        return self.etcd.lower() == "running" and self.etcd_health == "OK"


@dataclass(frozen=True)
class VolumeSeen:
    claim: str  # ns/name
    storage_class: str
    provisioner: str
    node: str | None = None  # node affinity of a node-local volume

    @property
    def local(self) -> bool:
        return self.provisioner in LOCAL_PROVISIONERS


@dataclass(frozen=True)
class DatabaseSeen:
    key: str  # ns/name
    recovery_source: str | None
    recovery_server_name: str | None
    archive_server_name: str


@dataclass(frozen=True)
class Observation:
    nodes: tuple[NodeSeen, ...]
    api: bool
    api_detail: str = ""
    volumes: tuple[VolumeSeen, ...] | None = None  # None: unknown (API down and no record)
    sources: tuple[str, ...] = ()  # ReplicationSources (ns/name)
    destinations: tuple[str, ...] = ()  # ReplicationDestinations (ns/name)
    databases: tuple[DatabaseSeen, ...] = ()
    record: str = ""  # where volumes/sources/databases came from: "the API" or the record file and its age

    def node(self, hostname: str) -> NodeSeen:
        return next(n for n in self.nodes if n.hostname == hostname)

    @property
    def control_planes(self) -> tuple[NodeSeen, ...]:
        return tuple(n for n in self.nodes if n.control_plane)

    @property
    def etcd_members(self) -> int:
        listed = {m for n in self.control_planes for m in n.members}
        return max(len(listed), len(self.control_planes))

    @property
    def etcd_healthy(self) -> tuple[str, ...]:
        return tuple(n.hostname for n in self.control_planes if n.etcd_healthy)

    @property
    def quorum(self) -> bool:
        return len(self.etcd_healthy) * 2 > self.etcd_members

    def describe(self) -> list[str]:
        lines = []
        for n in self.nodes:
            what: str = n.mode
            if n.control_plane and n.mode == "configured":
                what += f", etcd {n.etcd or '?'}/{n.etcd_health or '?'}"
            lines.append(f"{n.hostname} ({n.ip}): {what}" + (f" — {n.detail}" if n.detail and n.mode == "down" else ""))
        lines.append(
            f"etcd: {len(self.etcd_healthy)}/{self.etcd_members} members healthy — "
            + ("quorum" if self.quorum else "NO quorum")
        )
        lines.append("Kubernetes API: " + ("answers" if self.api else f"does not answer ({self.api_detail})"))
        if self.volumes is None:
            lines.append("volumes: unknown (the API does not answer and there is no record of them)")
        else:
            local = [v.claim for v in self.volumes if v.local]
            classes = sorted({v.storage_class for v in self.volumes})
            lines.append(
                f"volumes ({self.record}): {len(self.volumes)} PVs on {', '.join(classes) or 'nothing'}"
                + (f"; node-local: {', '.join(local)}" if local else "")
            )
        return lines


@dataclass(frozen=True)
class Choice:
    model: Model
    why: tuple[str, ...]
    refused: str | None = None  # the one-line refusal (nothing is planned)
    hint: str | None = None
    lost_workers: tuple[str, ...] = field(default=())

    def refuse(self) -> None:
        if self.refused:
            raise PlanError(self.refused, hint=self.hint)


# ----------------------------------------------------------------------------------- choose (pure)


def choose(
    inventory: Inventory,
    seen: Observation,
    *,
    fresh: bool = False,
    even_if_healthy: bool = False,
    nodes: Sequence[str] = (),
) -> Choice:
    """The model for what ``seen`` shows, and why; or a refusal. No I/O."""
    cps = {n.hostname for n in inventory.control_planes}
    if nodes and not (cps & set(nodes)):
        return Choice("nodes", (f"only workers asked for ({', '.join(nodes)}): they are reset and configured again; "
                                "etcd and the apps are left as they are",))  # fmt: skip
    healthy = seen.etcd_healthy
    lost_cps = [n.hostname for n in seen.control_planes if not n.etcd_healthy]
    if seen.quorum and seen.api and not even_if_healthy:
        if lost_cps:
            first_ok = seen.node(healthy[0])
            lost = seen.node(lost_cps[0])
            config = inventory.cluster.clusterconfig_dir / f"{inventory.cluster.name}-{lost.hostname}.yaml"
            talos = f"talosctl --talosconfig {inventory.cluster.talosconfig}"
            return Choice(
                "nodes",
                (),
                refused=(
                    f"etcd still has quorum ({len(healthy)}/{seen.etcd_members} healthy) and the API answers: "
                    f"losing {', '.join(lost_cps)} is a node replacement, not a cluster rebuild"
                ),
                hint=(
                    f"replace the node: {talos} -n {first_ok.ip} etcd members; "
                    f"{talos} -n {first_ok.ip} etcd remove-member <ID of {lost.hostname}>; bring {lost.hostname} back "
                    f"in maintenance mode (a new VM, or {talos} -n {lost.ip} reset --graceful=false --reboot "
                    f"--system-labels-to-wipe STATE,EPHEMERAL); then talosctl apply-config --insecure -n {lost.ip} "
                    f"-f {config} — it joins etcd by itself"
                ),
            )
        return Choice(
            "nodes",
            (),
            refused=(
                f"the cluster is healthy (etcd {len(healthy)}/{seen.etcd_members} members healthy, the API answers): "
                "nothing to rebuild"
            ),
            hint="a rebuild wipes it; if that is really what you want, add --even-if-healthy (with --fresh to "
            "start from an empty etcd)",
        )
    why: list[str] = []
    if seen.quorum and seen.api:
        why.append(f"--even-if-healthy: etcd has quorum ({len(healthy)}/{seen.etcd_members}) and the API answers")
    configured = [n for n in seen.nodes if n.mode == "configured"]
    local = [v for v in seen.volumes or () if v.local]
    if fresh:
        return Choice("fresh", (*why, "--fresh: a new etcd, the apps' data restored by VolSync and CloudNativePG"))
    if not configured:
        return Choice(
            "fresh",
            (*why, "no node answers with its configuration (every VM or disk is lost): nothing to restore etcd "
                   "onto, and the volumes went with the nodes"),
        )  # fmt: skip
    if local:
        names = ", ".join(f"{v.claim} ({v.storage_class})" for v in local)
        return Choice(
            "fresh",
            (*why, f"data on node-local storage ({names}): an etcd restore would bring back PVs pointing at wiped "
                   "disks and claim them restored"),
        )  # fmt: skip
    down_cps = [n.hostname for n in seen.control_planes if n.mode != "configured"]
    if down_cps:
        return Choice(
            "etcd-restore",
            (),
            refused=(
                f"etcd lost quorum, and control plane(s) {', '.join(down_cps)} do not answer with their configuration: "
                "an etcd restore needs every control plane's STATE"
            ),
            hint="bring those VMs back (their disks hold the machine config) and run again, or rebuild from "
            "scratch with --fresh",
        )
    why.append(
        f"etcd lost quorum ({len(healthy)}/{seen.etcd_members} members healthy) while every control plane answers "
        "with its configuration: restore etcd (EPHEMERAL wiped on the control planes only, workers untouched)"
    )
    if seen.volumes is None:
        why.append(
            "where the volumes live is unknown (API down, no record): if any is node-local, stop and use --fresh"
        )
    else:
        why.append(f"the volumes stay where they are ({seen.record}; none node-local): nothing is re-populated")
    return Choice("etcd-restore", tuple(why))


def cnpg_problems(seen: Observation) -> list[str]:
    """Before a fresh rebuild: each database must recover from a named source and archive somewhere else
    (cli-interfaces.md §12.1; onedr0p/home-ops ``cluster16.yaml:39-59``; cloudnative-pg#6470)."""
    out = []
    for db in seen.databases:
        if db.recovery_source is None or db.recovery_server_name is None:
            out.append(
                f"CloudNativePG cluster {db.key}: spec.bootstrap.recovery.source must name an externalClusters entry "
                "holding its backup, or the new cluster starts empty"
            )
        elif db.recovery_server_name == db.archive_server_name:
            bumped = _bump(db.archive_server_name)
            out.append(
                f"CloudNativePG cluster {db.key} would archive into the backup it recovers from "
                f"(serverName {db.archive_server_name}): set spec.plugins[barman-cloud.cloudnative-pg.io]."
                f"parameters.serverName: {bumped} (keep externalClusters[{db.recovery_source}] serverName "
                f"{db.recovery_server_name}), commit and push, then run again"
            )
    return out


def _bump(name: str) -> str:
    import re

    m = re.fullmatch(r"(.*-v)(\d+)", name)
    return f"{m.group(1)}{int(m.group(2)) + 1}" if m else f"{name}-v2"


# ----------------------------------------------------------------------------------- observe (reads only)


def observe(inventory: Inventory, runner: Runner, *, now: float) -> Observation:
    """Which nodes answer and how, etcd per reachable control plane, the API, where the volumes live."""
    talos = t.Talosctl(inventory.cluster.talosconfig)
    nodes = []
    for node in inventory.nodes:
        argv = talos.machine_status(node.ip, insecure=True)
        result = runner.run(argv, timeout=30)
        text = result.last_error_line() or ""
        if result.ok:
            try:
                stages = {s.stage for s in t.parse_machine_status(result.stdout).values()}
            except HomeopsError:
                stages = set()
            mode: NodeMode = "maintenance" if "maintenance" in stages else "configured"
            nodes.append(NodeSeen(node.hostname, node.ip, node.control_plane, mode))
            continue
        if "certificate required" not in text:
            nodes.append(NodeSeen(node.hostname, node.ip, node.control_plane, "down", detail=text))
            continue
        if not node.control_plane:
            nodes.append(NodeSeen(node.hostname, node.ip, False, "configured"))
            continue
        service = runner.run(talos.service(node.ip, "etcd"), timeout=30)
        state, health = "", ""
        if service.ok:
            try:
                info = t.parse_service(service.stdout)
                state, health = info.state, info.health
            except HomeopsError:
                state = "unknown"
        else:
            state = "unknown"
        members: tuple[str, ...] = ()
        listed = runner.run(talos.etcd_members(node.ip), timeout=30)
        if listed.ok:
            try:
                members = tuple(sorted({m.hostname for m in t.parse_etcd_members(listed.stdout)}))
            except HomeopsError:
                members = ()
        nodes.append(NodeSeen(node.hostname, node.ip, True, "configured", state, health, members))
    kctl = k.Kubectl(inventory.cluster.kubeconfig)
    ready = runner.run(kctl.readyz(), timeout=30)
    api = ready.ok
    seen = Observation(tuple(nodes), api, "" if api else (ready.last_error_line() or f"exit {ready.exit_code}"))
    record_path = inventory.state_dir / "dr" / RECORD
    if api:
        seen = _cluster_objects(seen, runner, kctl)
        if seen.volumes is not None:
            write_record(record_path, seen, now)
        return seen
    return read_record(record_path, seen, now)


def _cluster_objects(seen: Observation, runner: Runner, kctl: k.Kubectl) -> Observation:
    pvs = runner.run(kctl.get_json("persistentvolumes"), timeout=60)
    classes = runner.run(kctl.get_json("storageclasses"), timeout=60)
    if pvs.failed or classes.failed:
        return seen
    provisioners = {
        str((c.get("metadata") or {}).get("name")): str(c.get("provisioner", ""))
        for c in parse_json_object(classes.stdout, what="kubectl get storageclasses").get("items") or []
    }
    volumes = []
    for pv in parse_json_object(pvs.stdout, what="kubectl get persistentvolumes").get("items") or []:
        spec = pv.get("spec") or {}
        ref = spec.get("claimRef") or {}
        cls = str(spec.get("storageClassName", ""))
        provisioner = provisioners.get(cls, "")
        if spec.get("local") or spec.get("hostPath"):
            provisioner = provisioner if provisioner in LOCAL_PROVISIONERS else "kubernetes.io/no-provisioner"
        terms = (((spec.get("nodeAffinity") or {}).get("required") or {}).get("nodeSelectorTerms")) or []
        node = next(
            (v[0] for term in terms for e in term.get("matchExpressions") or [] for v in [e.get("values") or []] if v),
            None,
        )
        claim = f"{ref.get('namespace', '')}/{ref.get('name', '')}" if ref else str((pv.get("metadata") or {})["name"])
        volumes.append(VolumeSeen(claim, cls, provisioner, node))
    sources: tuple[str, ...] = ()
    destinations: tuple[str, ...] = ()
    result = runner.run(vs.get_sources(kctl), timeout=60)
    if result.ok:
        sources = tuple(s.key for s in vs.parse_sources(result.stdout))
    result = runner.run(vs.get_destinations(kctl), timeout=60)
    if result.ok:
        destinations = tuple(d.key for d in vs.parse_destinations(result.stdout))
    databases: tuple[DatabaseSeen, ...] = ()
    result = runner.run(cnpg.get_clusters(kctl), timeout=60)
    if result.ok:
        databases = tuple(
            DatabaseSeen(c.key, c.recovery_source, c.server_name, c.archive_server_name)
            for c in cnpg.parse_clusters(result.stdout)
        )
    return Observation(
        seen.nodes,
        seen.api,
        seen.api_detail,
        tuple(sorted(volumes, key=lambda v: v.claim)),
        sources,
        destinations,
        databases,
        "the API",
    )


def write_record(path: Path, seen: Observation, now: float) -> None:
    from homeops.engine.journal import atomic_write_json

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_json(
        path,
        {
            "taken": now,
            "volumes": [asdict(v) for v in seen.volumes or ()],
            "sources": list(seen.sources),
            "destinations": list(seen.destinations),
            "databases": [asdict(d) for d in seen.databases],
        },
    )


def read_record(path: Path, seen: Observation, now: float) -> Observation:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        volumes = tuple(VolumeSeen(**v) for v in data["volumes"])
        databases = tuple(DatabaseSeen(**d) for d in data.get("databases", []))
        age = vs.format_age(now - float(data["taken"]))
    except (OSError, ValueError, KeyError, TypeError):
        return seen
    return Observation(
        seen.nodes,
        seen.api,
        seen.api_detail,
        volumes,
        tuple(data.get("sources", [])),
        tuple(data.get("destinations", [])),
        databases,
        f"recorded {age} ago in {path.name}",
    )


__all__ = ["Choice", "Observation", "choose", "cnpg_problems", "observe"]
