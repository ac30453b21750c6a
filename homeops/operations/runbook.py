"""The recovery of this inventory as steps with their exact commands, and as a Markdown runbook.

``recovery_steps(inventory, snapshot=…, recreate_vms=…)`` is pure: from the inventory alone it
lists, in order, what a rebuild does — preflight, nodes (reset to maintenance mode, or destroy and
recreate each VM with its vmid, disk and MAC), Talos (apply configs, ``bootstrap --recover-from``,
kubeconfig), apps, data — each step with the commands it runs (built by the same adapters homeops
runs) and what to check after it. ``dr.rebuild``'s planner turns these steps into its plan, and
``render_runbook`` prints them for a person to follow by hand on the day homeops itself is not
available, so the runbook and the dry run cannot drift apart.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from homeops import snapshotsum
from homeops.adapters import kubectl as k
from homeops.adapters import proxmox as pve
from homeops.adapters import talhelper as th
from homeops.adapters import talosctl as t
from homeops.adapters import volsync
from homeops.engine.plan import Command, Plan, Step
from homeops.inventory.model import Inventory, Node
from homeops.operations.bootstrap_inputs import ReleaseParams, SecretParams
from homeops.operations.vm import VmRecords

Stage = Literal["preflight", "nodes", "talos", "apps", "data"]
STAGES: tuple[tuple[Stage, str], ...] = (
    ("preflight", "Preflight: refuse before touching anything"),
    ("nodes", "Nodes: back to maintenance mode"),
    ("talos", "Talos: configs, etcd restored from the snapshot, the Kubernetes API"),
    ("apps", "Apps: GitOps back in charge"),
    ("data", "Data: volumes and databases restored"),
)
SNAPSHOT_VAR = "$SNAPSHOT"  # the runbook's stand-in for the snapshot file the operator picked
WIPE = ("STATE", "EPHEMERAL")  # STATE too: the node must come back with no config, in maintenance mode


def fresh_wipe(node: Node) -> tuple[str, ...]:
    """What a fresh rebuild wipes on ``node``: STATE, EPHEMERAL and its user volumes (u-<name>), as onedr0p's
    ``talos/mod.just:38-39`` does — a user volume that survives keeps stale data (Ceph signatures break OSD
    prepare; a local-hostpath PV would come back full of the old cluster's files)."""
    return WIPE + tuple(f"u-{name}" for name in node.user_volumes)


def wipe_text(node: Node) -> str:
    labels = fresh_wipe(node)
    return ", ".join(labels[:-1]) + f" and {labels[-1]}"


@dataclass(frozen=True)
class Action:
    """One command: on the operator's machine (``on is None``) or over SSH on a host of the inventory."""

    argv: tuple[str, ...]
    on: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    mutating: bool = True
    cwd: str | None = None  # run from this directory (the runbook's `cd`)


@dataclass(frozen=True)
class RecoveryStep:
    id: str  # the id of the matching step in dr.rebuild's plan
    stage: Stage
    title: str
    actions: tuple[Action, ...]
    check: str  # what a person looks for afterwards
    checks: tuple[Action, ...] = ()  # the read-only commands that show it
    node: str | None = None
    pipe: str = ""  # how a person feeds the first command's stdin ("PIPE": the commands are one pipeline)
    after: str = ""  # a line a person runs after the commands (what the step kind does itself)

    def plan_step(self, node: Node, *, action: str, batch: int, timeout: float, **kw: Any) -> Step:
        """This step in dr.rebuild's plan, on ``node``: the commands a person would run, each ``timeout``."""
        return Step(
            id=self.id,
            action=action,
            summary=self.title,
            node=node.hostname,
            node_ip=node.ip,
            control_plane=node.control_plane,
            batch=batch,
            commands=tuple(Command(a.argv, on=a.on or "local", timeout=timeout) for a in self.actions),
            **kw,
        )


def _look(argv: list[str], on: str | None = None) -> Action:
    return Action(tuple(argv), on, mutating=False)


def iso_volume(inventory: Inventory, node: Node) -> str:
    schematic = node.schematic_id or "metal"
    version = inventory.cluster.talos_version or "v1.11.6"
    return f"local:iso/talos-{schematic[:12]}-{version}-metal-amd64.iso"


def iso_url(inventory: Inventory, node: Node) -> str:
    version = inventory.cluster.talos_version or "v1.11.6"
    if node.schematic_id:
        return f"https://factory.talos.dev/image/{node.schematic_id}/{version}/metal-amd64.iso"
    return f"https://github.com/siderolabs/talos/releases/download/{version}/metal-amd64.iso"


def vm_spec(inventory: Inventory, node: Node) -> pve.TalosVmSpec:
    if node.vm is None:
        raise ValueError(f"{node.hostname} has no VM")
    storage, size = (node.vm.disk or "local-lvm:64").split(":")
    return pve.TalosVmSpec(
        vmid=node.vm.vmid,
        name=node.hostname,
        iso=iso_volume(inventory, node),
        disk_gb=int(size),
        storage=storage,
        mac=node.vm.mac,
    )


def config_file(inventory: Inventory, node: Node) -> Path:
    """Where ``talhelper genconfig`` writes this node's machine config."""
    return inventory.cluster.clusterconfig_dir / f"{inventory.cluster.name}-{node.hostname}.yaml"


def recreate_actions(
    inventory: Inventory, node: Node, record: pve.VmRecord | None
) -> tuple[tuple[Action, ...], tuple[Action, ...], str]:
    """The commands that recreate a node's VM, those that finish it after the install, and a title.

    With a record (``qm config`` taken with the snapshot) the VM is replayed as it was; without one it is
    built from homeops.yaml's vmid, disk and MAC (a smaller VM than the lost one, said in the title).
    An HA-managed VM is stopped through the HA stack (``qm stop --overrule-shutdown`` is refused for it)."""
    assert node.vm is not None
    on, vmid = node.vm.host, node.vm.vmid
    iso = iso_volume(inventory, node)
    if record is not None and record.ha is not None and record.ha.managed:
        stop = Action(tuple(pve.ha_set_state(vmid, "stopped")), on)
    else:
        stop = Action(tuple(pve.qm_stop(vmid, overrule_shutdown=True)), on)
    destroy = Action(("qm", "destroy", str(vmid), "--purge"), on)
    start = Action(tuple(pve.qm_start(vmid)), on)
    if record is not None:
        create: tuple[Action, ...] = (Action(tuple(pve.replay_create(record, iso)), on),)
        finish = tuple(Action(tuple(argv), on) for argv in pve.replay_finish(record))
        c = record.settings
        net = c.get("net0", "?").split(",")
        disks = [k for k in pve.replayed_keys(c) if re.match(r"^(scsi|virtio|sata)\d+$", k)]
        ha = f", HA {record.ha.state}" if record.ha else ""
        title = (
            f"Recreate VM {vmid} ({node.hostname}) on {on} as recorded: {c.get('memory', '?')} MiB, "
            f"{c.get('cores', '?')} cores, {c.get('bios', 'seabios')}, {len(disks)} disk(s), "
            f"{' '.join(p for p in net if p.startswith(('virtio', 'e1000', 'bridge', 'tag')))}{ha}; boot the Talos ISO"
        )
        return (stop, destroy, *create, start), finish, title
    spec = vm_spec(inventory, node)
    create = tuple(Action(tuple(argv), on) for argv in pve.qm_create_talos(spec))
    title = (
        f"Recreate VM {vmid} ({node.hostname}) on {on} with MAC {spec.mac or 'new'} and "
        f"{spec.storage}:{spec.disk_gb}G, boot the Talos ISO (no VM record: built from homeops.yaml)"
    )
    return (stop, destroy, *create, start), (Action(tuple(pve.qm_detach_iso(vmid)), on),), title


def recovery_steps(
    inventory: Inventory,
    *,
    snapshot: str | None = SNAPSHOT_VAR,
    recreate_vms: bool = False,
    vm_records: VmRecords | None = None,
) -> tuple[RecoveryStep, ...]:
    """The rebuild, in order. ``snapshot=None`` is a fresh cluster (plain ``talosctl bootstrap``);
    ``vm_records``: the VMs as recorded with the snapshot, replayed by ``recreate_vms``."""
    talos = t.Talosctl(inventory.cluster.talosconfig)
    kctl = k.Kubectl(inventory.cluster.kubeconfig)
    cluster = inventory.cluster
    nas = inventory.hosts_of_kind("truenas")
    pves = inventory.hosts_of_kind("proxmox")
    steps: list[RecoveryStep] = []

    # -- preflight -------------------------------------------------------------------------------
    env = (("SOPS_AGE_KEY_FILE", str(cluster.age_key)),) if cluster.age_key else ()
    secret = _talsecret(inventory)
    if secret is not None:
        steps.append(
            RecoveryStep(
                "preflight:age-key",
                "preflight",
                "The age key decrypts the Talos secrets",
                (),
                "`sops` exits 0 (it prints nothing here); `Failed to get the data key` means the wrong key",
                (Action(("sops", "--decrypt", "--output", "/dev/null", str(secret)), env=env, mutating=False),),
            )
        )
    if pves:
        steps.append(
            RecoveryStep(
                "preflight:proxmox",
                "preflight",
                "The Proxmox cluster is quorate and every host answers",
                (),
                "`Quorate: Yes` on every host",
                tuple(_look(pve.pvecm_status(), h.name) for h in pves),
            )
        )
    if snapshot is not None:
        local_dir = inventory.state_dir / "etcd-snapshots"
        fetch: list[Action] = []
        if nas:
            remote = f"{inventory.policy.nas_backup_dir.rstrip('/')}/{snapshot}"
            box = nas[0]
            source = f"{box.user}@{box.address}:{remote}"
            fetch.append(
                Action(
                    ("scp", *_scp_port(box.port), source, source + snapshotsum.SIDECAR, str(local_dir) + "/"),
                    mutating=False,
                )
            )
        verify = Action(("sha256sum", "--check", snapshot + snapshotsum.SIDECAR), mutating=False, cwd=str(local_dir))
        steps.append(
            RecoveryStep(
                "preflight:snapshot",
                "preflight",
                "The etcd snapshot is here and its hash matches",
                tuple(fetch),
                f"`{snapshot}: OK`; anything else: the file is damaged, pick another one",
                (verify,),
            )
        )
    steps.append(
        RecoveryStep(
            "preflight:genconfig",
            "preflight",
            "Render the Talos machine configs",
            (
                Action(
                    tuple(
                        th.genconfig(
                            cluster.talconfig or inventory.root / "talos/talconfig.yaml",
                            out_dir=cluster.clusterconfig_dir,
                            secret_file=secret,
                        )
                    ),
                    env=env,
                ),
            ),
            f"one `{cluster.name}-<node>.yaml` per node and a `talosconfig` in "
            f"`{_rel(inventory, cluster.clusterconfig_dir)}`",
        )
    )

    # -- nodes ------------------------------------------------------------------------------------
    for node in inventory.nodes:
        maintenance = (_look(talos.machine_status(node.ip, insecure=True)),)
        seen = f"`stage` is `maintenance` for {node.hostname} ({node.ip})"
        if recreate_vms and node.vm is not None:
            record = vm_records.of(node.hostname) if vm_records is not None else None
            actions, _, title = recreate_actions(inventory, node, record)
            on, vmid = node.vm.host, node.vm.vmid
            mac = (record.settings.get("net0") if record else None) or f"MAC {node.vm.mac}"
            steps.append(
                RecoveryStep(
                    f"node:{node.hostname}:recreate-vm",
                    "nodes",
                    title,
                    actions,
                    f"`qm config {vmid}` shows net0 `{mac}`; then {seen}",
                    (_look(pve.qm_config(vmid), on), *maintenance),
                    node.hostname,
                )
            )
        else:
            steps.append(
                RecoveryStep(
                    f"node:{node.hostname}:reset",
                    "nodes",
                    f"Reset {node.hostname} ({node.ip}) to maintenance mode (wipes {wipe_text(node)})",
                    (Action(tuple(talos.reset(node.ip, graceful=False, reboot=True, wipe=fresh_wipe(node)))),),
                    seen,
                    maintenance,
                    node.hostname,
                )
            )

    # -- talos -------------------------------------------------------------------------------------
    for node in inventory.nodes:
        steps.append(
            RecoveryStep(
                f"talos:{node.hostname}:apply",
                "talos",
                f"Apply {node.hostname}'s config ({_rel(inventory, config_file(inventory, node))})",
                (Action(tuple(talos.apply_config(node.ip, config_file(inventory, node), insecure=True))),),
                "no output, exit 0; the node installs and reboots"
                + ("; etcd waits (`Preparing`) until the bootstrap" if node.control_plane else ""),
                (_look(talos.service(node.ip, "etcd")),) if node.control_plane else (),
                node.hostname,
            )
        )
    first = inventory.control_planes[0] if inventory.control_planes else None
    if first is not None:
        recover = str(inventory.state_dir / "etcd-snapshots" / snapshot) if snapshot is not None else None
        what = f"from {snapshot}" if snapshot is not None else "as a fresh cluster (no snapshot)"
        steps.append(
            RecoveryStep(
                "talos:bootstrap",
                "talos",
                f"Bootstrap etcd on {first.hostname} ({first.ip}) {what}",
                (Action(tuple(talos.bootstrap(first.ip, recover_from=recover))),),
                "`recovering from snapshot …: hash …, revision …` then exit 0; retry while it says "
                "`bootstrap is not available yet`; `AlreadyExists` means it was done",
                (_look(talos.etcd_members(first.ip)), _look(talos.service(first.ip, "etcd"))),
                first.hostname,
            )
        )
        steps.append(
            RecoveryStep(
                "talos:kubeconfig",
                "talos",
                "Fetch the kubeconfig and wait for every node",
                (Action(tuple(talos.kubeconfig(first.ip, cluster.kubeconfig))),),
                f"all {len(inventory.nodes)} nodes `Ready` (nodes stay NotReady until the CNI runs)",
                (
                    _look(k.Kubectl(cluster.kubeconfig).get_nodes()),
                    _look(
                        talos.health(
                            first.ip,
                            control_planes=[n.ip for n in inventory.control_planes],
                            workers=[n.ip for n in inventory.workers],
                        )
                    ),
                ),
                first.hostname,
            )
        )

    # -- recreated VMs, once installed (the nodes run from their disks now) ---------------------------
    for node in inventory.nodes if recreate_vms else ():
        if node.vm is None:
            continue
        record = vm_records.of(node.hostname) if vm_records is not None else None
        _, finish, _ = recreate_actions(inventory, node, record)
        steps.append(
            RecoveryStep(
                f"vm:{node.hostname}:finish-vm",
                "talos",
                f"After {node.hostname}'s install: detach the Talos ISO from VM {node.vm.vmid}"
                + (", the recorded boot order back" if record else "")
                + (", the VM under HA again" if record and record.ha else ""),
                finish,
                "`qm config` shows no Talos ISO in ide2"
                + (f" and `boot: {record.settings.get('boot')}`" if record and "boot" in record.settings else ""),
                (_look(pve.qm_config(node.vm.vmid), node.vm.host),),
                node.hostname,
            )
        )
    # -- apps and data ------------------------------------------------------------------------------
    steps.append(
        RecoveryStep(
            "apps:flux",
            "apps",
            "Bootstrap the apps (CRDs, then cilium → coredns → … → flux-instance; `inv bootstrap.apps`, or your "
            "repo's bootstrap script) and let Flux reconcile",
            (),
            "every Kustomization `Ready=True` (`flux get ks -A`)",
            (_look(kctl.get_kustomizations()),),
        )
    )
    steps.append(
        RecoveryStep(
            "data:volsync",
            "data",
            "Wait for the VolSync restores (ReplicationDestinations feeding the app PVCs)",
            (),
            "each ReplicationDestination has `status.latestImage` and `lastManualSync` equal to its "
            "`spec.trigger.manual`; each app PVC is `Bound`; restic logs do not say `No eligible snapshots`",
            (_look(volsync.get_destinations(kctl)), _look(volsync.get_pvcs(kctl))),
        )
    )
    steps.append(
        RecoveryStep(
            "data:cnpg",
            "data",
            "Wait for the CloudNativePG clusters that restore on deploy",
            (),
            "`status.phase` is `Cluster in healthy state`; stuck in `Setting up primary`: read the "
            "`<cluster>-1-full-recovery` job's logs",
            (
                _look(
                    [
                        "kubectl",
                        "--kubeconfig",
                        str(cluster.kubeconfig),
                        "get",
                        "clusters.postgresql.cnpg.io",
                        "--all-namespaces",
                    ]
                ),
            ),
        )
    )
    return tuple(steps)


def _talsecret(inventory: Inventory) -> Path | None:
    from homeops.operations.drcheck import talsecret

    return talsecret(inventory)


def _scp_port(port: int) -> tuple[str, ...]:
    return () if port == 22 else ("-P", str(port))


def _rel(inventory: Inventory, path: Path) -> str:
    try:
        return str(path.relative_to(inventory.root)) or "."
    except ValueError:
        return str(path)


_STAGE_OF: dict[str, Stage] = {
    "dr-reset": "nodes",
    "dr-recreate-vm": "nodes",
    "dr-reset-ephemeral": "nodes",
    "dr-etcd-backup": "preflight",
    "dr-last-backups": "preflight",
    "dr-recover": "talos",
    "dr-data": "data",
    "dr-pause-backups": "data",
    "dr-resume-backups": "data",
    "dr-inplace": "data",
}
_TALOS = ("bootstrap-genconfig", "bootstrap-apply", "bootstrap-etcd", "bootstrap-kubeconfig", "bootstrap-api")


def _from_plan(inventory: Inventory, plan: Plan, book: tuple[RecoveryStep, ...]) -> tuple[RecoveryStep, ...]:
    """The plan's steps as runbook steps (preflight looks kept from ``book``; checks from it where it has one)."""
    known = {s.id: s for s in book}
    root = str(inventory.root).rstrip("/") + "/"
    key = inventory.cluster.age_key
    # what the step kinds do around their command, spelled out for a person
    pipes = {**_PIPES, "bootstrap-genconfig": f"SOPS_AGE_KEY_FILE={_rel(inventory, key)} " if key else ""}
    after = {
        "bootstrap-kubeconfig": (
            f"mv {_rel(inventory, inventory.state_dir / 'bootstrap' / 'kubeconfig.new')} "
            f"{_rel(inventory, inventory.cluster.kubeconfig)}   # once its endpoint and CA are this cluster's"
        )
    }
    steps = [s for s in book if s.stage == "preflight" and s.id != "preflight:genconfig"]
    for step in plan.steps:
        stage = _STAGE_OF.get(step.action) or ("talos" if step.action in _TALOS else "apps")
        mine = known.get(step.id)
        waits = "; ".join(w.describe for w in step.waits)
        pipe = pipes.get(step.action, "")
        if isinstance(step.params, SecretParams):  # the file itself, not "the file named above"
            secret = shlex.quote(_rel(inventory, Path(step.params.path)))
            pipe = f"{pipes['bootstrap-genconfig']}sops --decrypt {secret} | "
        steps.append(
            RecoveryStep(
                step.id,
                stage,
                (step.summary[:1].upper() + step.summary[1:]).replace(root, ""),
                tuple(Action(c.argv, None if c.on == "local" else c.on) for c in step.commands),
                mine.check if mine else (f"wait until {waits}" if waits else "exit 0"),
                mine.checks if mine else (),
                step.node,
                pipe=pipe,
                after=after.get(step.action, ""),
            )
        )
    return tuple(steps)


# What homeops hands on stdin, spelled out for a person (the plan's command reads `-f -`).
_PIPES = {
    "bootstrap-namespaces": "PER-NAMESPACE",  # one `kubectl create namespace N --dry-run=client` per namespace
    "bootstrap-crds": "PIPE",  # its two commands are one pipeline: helmfile template | kubectl apply
}


# -- rendering -------------------------------------------------------------------------------------

_VAR = re.compile(r"\$\{?[A-Z_][A-Z0-9_]*\}?")


def _quote(arg: str) -> str:
    """shlex quoting, except that a ``$VAR`` the runbook defines still expands (double quotes)."""
    if _VAR.search(arg) and not re.search(r'["\\`]', arg):
        return f'"{arg}"'
    return shlex.quote(arg)


def command_line(inventory: Inventory, action: Action) -> str:
    """The shell line a person types: paths relative to the inventory, SSH spelled out."""
    root = str(inventory.root).rstrip("/") + "/"
    words = [a[len(root) :] if a.startswith(root) else a for a in action.argv]
    env = [f"{k}={_quote(v[len(root) :] if v.startswith(root) else v)}" for k, v in action.env]
    line = " ".join([*env, *(_quote(w) for w in words)])
    if action.cwd is not None:
        cwd = action.cwd[len(root) :] if action.cwd.startswith(root) else action.cwd
        line = f"(cd {_quote(cwd)} && {line})"
    if action.on is None:
        return line
    return over_ssh(inventory, action.on, line)


def over_ssh(inventory: Inventory, on: str, line: str) -> str:
    """``line`` run by the shell of host ``on``."""
    host = inventory.host(on)
    port = "" if host.port == 22 else f" -p {host.port}"
    return f"ssh{port} {host.user}@{host.address} {shlex.quote(line)}"


def _cluster_section(inventory: Inventory) -> list[str]:
    """The cluster, its nodes (VM or bare metal) and its hosts: the head of both runbooks."""
    cluster = inventory.cluster
    out = [
        "## The cluster",
        "",
        f"- API endpoint: `{cluster.endpoint}`; Talos {cluster.talos_version or '?'}, "
        f"Kubernetes {cluster.kubernetes_version or '?'}",
        f"- talosconfig `{_rel(inventory, cluster.talosconfig)}`, kubeconfig `{_rel(inventory, cluster.kubeconfig)}`, "
        f"age key `{_rel(inventory, cluster.age_key) if cluster.age_key else '(default SOPS location)'}`",
        "",
        "| node | role | IP | VM | host | MAC | disk |",
        "|---|---|---|---|---|---|---|",
    ]
    for node in inventory.nodes:
        vm = node.vm
        out.append(
            f"| {node.hostname} | {node.role} | {node.ip} | {vm.vmid if vm else 'bare metal'} | "
            f"{vm.host if vm else '-'} | {(vm.mac if vm else None) or '-'} | {(vm.disk if vm else None) or '-'} |"
        )
    if inventory.hosts:
        out += ["", "| host | kind | address |", "|---|---|---|"]
        out += [f"| {h.name} | {h.kind} | {h.user}@{h.address}:{h.port} |" for h in inventory.hosts]
    return out


def render_runbook(inventory: Inventory, plans: Mapping[str, Plan] | None = None) -> str:
    """The Markdown runbook: both node paths (reset, or recreate the VMs), every command in order.

    ``plans`` (``{"reset": plan, "recreate": plan}``, dr.rebuild's plans for ``$SNAPSHOT``) makes the
    runbook print exactly their steps and commands; without them it is built from ``recovery_steps``.
    """
    reset = recovery_steps(inventory, recreate_vms=False)
    recreate = recovery_steps(inventory, recreate_vms=True)
    if plans is not None:
        reset = _from_plan(inventory, plans["reset"], reset)
        recreate = _from_plan(inventory, plans["recreate"], recreate)
    cluster = inventory.cluster
    out = [
        f"# Emergency restore runbook: cluster `{cluster.name}`",
        "",
        "Generated by `inv dr.runbook` from `homeops.yaml` — regenerate it after every inventory change.",
        "It is the same sequence `inv dr.rebuild` runs; use it when homeops itself is not available.",
        "Run every command from the inventory directory; commands for a Proxmox or TrueNAS host go over SSH.",
        "",
        *_cluster_section(inventory),
    ]
    out += ["", "## 0. Pick the snapshot", ""]
    nas = inventory.hosts_of_kind("truenas")
    directory = inventory.policy.nas_backup_dir.rstrip("/")
    if nas:
        host = nas[0]
        listing = Action(("ls", "-1t", directory), host.name, mutating=False)
        out += [
            "The newest etcd snapshot on the NAS (or a local one in "
            f"`{_rel(inventory, inventory.state_dir / 'etcd-snapshots')}`):",
            "",
            "```sh",
            command_line(inventory, listing),
            f"SNAPSHOT=etcd-{cluster.name}-YYYYmmddTHHMMSSZ.db   # the file you pick",
            "```",
        ]
    else:
        out += [
            f"Pick a file in `{_rel(inventory, inventory.state_dir / 'etcd-snapshots')}` "
            f"and set `SNAPSHOT=etcd-{cluster.name}-YYYYmmddTHHMMSSZ.db`.",
        ]
    out += [
        "",
        "Without any usable snapshot, skip `--recover-from` in the bootstrap step: the cluster starts empty and "
        "Flux rebuilds it from Git.",
    ]
    number = 0
    for stage, heading in STAGES:
        number += 1
        out += ["", f"## {number}. {heading}"]
        if stage == "nodes":
            out += _render_nodes(inventory, reset, recreate)
            continue
        for step in (s for s in reset if s.stage == stage):
            out += _render_step(inventory, step)
        known = {s.id for s in reset}
        for step in (s for s in recreate if s.stage == stage and s.id not in known):
            out += _render_step(inventory, replace(step, title=f"B only: {step.title}"))
    out += [
        "",
        "## After",
        "",
        "- Take a new etcd snapshot (`inv talos.etcd-snapshot`) and run `inv dr.check` until it is green.",
        "- Note how long each stage took: that is your recovery time.",
        "",
    ]
    return "\n".join(out)


def _render_nodes(
    inventory: Inventory, reset: tuple[RecoveryStep, ...], recreate: tuple[RecoveryStep, ...]
) -> list[str]:
    out = [
        "",
        "Each node must end in Talos maintenance mode. **A** if its VM still exists, **B** if it was lost.",
        "B destroys the VM: only with the VM really gone or broken (when it no longer exists, `qm stop` and",
        "`qm destroy` fail with `does not exist`: go on with `qm create`).",
        "",
        "Before B, once per Proxmox host, the Talos ISO must be in its `local` storage:",
        "",
        "```sh",
    ]
    for host in inventory.hosts_of_kind("proxmox"):
        node = next((n for n in inventory.nodes if n.vm and n.vm.host == host.name), None)
        if node is None:
            continue
        iso = iso_volume(inventory, node).split("iso/", 1)[1]
        fetch = Action(("wget", "-nc", "-O", f"/var/lib/vz/template/iso/{iso}", iso_url(inventory, node)), host.name)
        out.append(command_line(inventory, fetch))
    out.append("```")
    for label, steps in (("A. VMs intact: reset", reset), ("B. VMs lost: recreate", recreate)):
        out += ["", f"### {label}"]
        for step in (s for s in steps if s.stage == "nodes"):
            out += _render_step(inventory, step, level="####")
    return out


def _render_step(inventory: Inventory, step: RecoveryStep, level: str = "###") -> list[str]:
    out = ["", f"{level} {step.title}", ""]
    lines = [command_line(inventory, a) for a in step.actions]
    if step.pipe == "PIPE":
        lines = [" | ".join(lines)]
    elif step.pipe == "PER-NAMESPACE" and lines:
        names = re.findall(r"[a-z0-9][a-z0-9-]*", step.title.split("namespaces", 1)[-1].split("(")[0])
        lines = [f"kubectl create namespace {n} --dry-run=client --output yaml | {lines[0]}" for n in names]
    elif step.pipe and lines:
        lines[0] = step.pipe + lines[0]
    if step.after:
        lines.append(step.after)
    if lines:
        out += ["```sh", *lines, "```", ""]
    out.append(f"Check: {step.check}")
    if step.checks:
        out += ["", "```sh", *(command_line(inventory, a) for a in step.checks), "```"]
    return out


# -- the scenario runbook (dr.rebuild's plans per model) ------------------------------------------------


@dataclass(frozen=True)
class RunbookFacts:
    """What the runbook says beyond the plans, read from the state directory when it is rendered."""

    snapshot: str | None = None  # the newest etcd snapshot here (local or named in the NAS listing)
    rehearsal: tuple[tuple[str, float], ...] = ()  # step id → seconds, from the last dr.rehearse
    rehearsal_note: str = ""  # which rehearsal, when
    sources: tuple[str, ...] = ()  # ReplicationSources (namespace/name) as last seen
    generated_at: float | None = None


def runbook_facts(inventory: Inventory, now: float | None = None) -> RunbookFacts:
    """The newest snapshot, the last rehearsal's step times, the ReplicationSources last seen (read-only)."""
    import json

    from homeops.clock import SystemClock
    from homeops.engine.journal import Journal

    snapshots = inventory.state_dir / "etcd-snapshots"
    names = sorted(p.name for p in snapshots.glob("etcd-*.db")) if snapshots.is_dir() else []
    names = [n for n in names if snapshotsum.is_snapshot_name(n)]
    rehearsal: tuple[tuple[str, float], ...] = ()
    note = ""
    copy = inventory.state_dir / "rehearsal" / "inventory" / inventory.state_dir.name
    journal = Journal.latest(copy, "dr-rebuild", SystemClock()) if copy.is_dir() else None
    if journal is not None:
        record = journal.record()
        rehearsal = tuple(
            (sid, float(r.finished) - float(r.started))
            for sid, r in record.steps.items()
            if r.started is not None and r.finished is not None
        )
        model = dict(journal.plan().options).get("model", "?")
        note = f"the last `inv dr.rehearse` ({model}, run {record.run_id})"
    sources: tuple[str, ...] = ()
    cluster_record = inventory.state_dir / "dr" / "cluster-record.json"
    if cluster_record.is_file():
        try:
            sources = tuple(str(s) for s in json.loads(cluster_record.read_text(encoding="utf-8")).get("sources", []))
        except (ValueError, AttributeError):
            sources = ()
    return RunbookFacts(names[-1] if names else None, rehearsal, note, sources, now)


#: The scenarios of issue 17 §7: what happened → which of dr.rebuild's models, and which plan prints it.
SCENARIOS: tuple[tuple[str, str, str, str, str], ...] = (
    (
        "one-node-lost",
        "One node lost",
        "one node (or its VM) is gone; etcd still has quorum (2 of 3 members healthy) and the API answers",
        "node replacement — not a cluster rebuild (`dr.rebuild` refuses it)",
        "",
    ),
    (
        "quorum-lost",
        "Quorum lost",
        "etcd has no quorum (two control planes' etcd unhealthy); the nodes and their disks are still there",
        "**etcd-restore**: last-chance copy, EPHEMERAL wiped on the control planes only, `--recover-from`",
        "etcd-restore",
    ),
    (
        "all-vms-lost",
        "All VMs lost",
        "no node answers; the Talos VMs are gone (or broken beyond a reset)",
        "**fresh** with the VMs recreated as recorded: new etcd, apps from Git, data restored and proven",
        "recreate",
    ),
    (
        "nodes-broken",
        "Every node broken, the machines still there",
        "the VMs exist but Talos on them is unusable (bad config, wiped STATE); or the data lived on node-local "
        "disks, which an etcd restore cannot bring back",
        "**fresh** with the nodes reset (STATE+EPHEMERAL and their Talos user volumes)",
        "reset",
    ),
    (
        "nas-lost",
        "NAS lost",
        "the cluster runs; the NAS (backups, NFS volumes) is gone",
        "none: the cluster is not rebuilt (`dr.rebuild` refuses it); rebuild the NAS, then new backups",
        "",
    ),
)


def render_scenarios(inventory: Inventory, plans: Mapping[str, Plan], facts: RunbookFacts | None = None) -> str:
    """The runbook a person follows at 3 a.m.: which scenario → which model → its steps, each with the exact
    commands (from dr.rebuild's own plans), an expected duration, and a command that verifies it."""
    facts = facts or RunbookFacts()
    cluster = inventory.cluster
    r = _Renderer(inventory, facts)
    out = [
        f"# Emergency restore runbook: cluster `{cluster.name}`",
        "",
        "Generated by `inv dr.runbook` from `homeops.yaml` — regenerate it after every inventory change. It prints",
        "the plans `inv dr.rebuild` runs (the same steps, commands and order as its dry run); follow it by hand",
        "when homeops itself is not available.",
        "",
        "**Run every command from the inventory directory** (the one holding `homeops.yaml`), exactly as printed: "
        "lines starting with `ssh` run on a Proxmox or TrueNAS host; nothing is to be filled in.",
        "",
        *_cluster_section(inventory),
    ]
    out += ["", "## Which scenario is this?", "", "| what you see | scenario | model | steps |", "|---|---|---|---|"]
    vms = any(n.vm is not None for n in inventory.nodes)
    plans = {k: v for k, v in plans.items() if k != "recreate" or vms}  # bare metal: nothing to recreate
    for key, title, seen, model, plan in SCENARIOS:
        if plan and plan not in plans:
            continue
        if key == "nas-lost" and not inventory.hosts_of_kind("truenas"):
            continue
        out.append(f"| {seen} | {title} | {model} | [{title}](#{_anchor(title)}) |")
    out += r.look_first()
    out += r.preflight(plans)
    for key, title, _, model, plan in SCENARIOS:
        if key == "one-node-lost":
            out += r.one_node(title, plans)
        elif key == "nas-lost":
            if inventory.hosts_of_kind("truenas"):
                out += r.nas_lost(title)
        elif plan in plans:
            out += r.scenario(title, model, plans[plan], plans)
    out += [
        "",
        "## After",
        "",
        "```sh",
        command_line(inventory, Action(tuple(t.Talosctl(cluster.talosconfig).etcd_members(_first_ip(inventory))))),
        "```",
        "",
        "- Take a new etcd snapshot (`inv talos.etcd-snapshot`), run `inv dr.check` until it is green, and note how",
        "  long each step took against its expected duration: that is your recovery time.",
        "",
    ]
    return "\n".join(out)


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9 -]", "", title.lower()).replace(" ", "-")


def _first_ip(inventory: Inventory) -> str:
    return (inventory.control_planes or inventory.nodes)[0].ip


def duration_text(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def step_budget(step: Any) -> float:
    """The longest a plan step may take: its longest wait or command timeout (what dr.rehearse holds it to)."""
    waits = [float(w.timeout) for w in step.waits]
    commands = [float(c.timeout or 0.0) for c in step.commands]
    return max([*waits, *commands, 0.0])


#: Where etcd keeps its data on a control plane (the raw copy's source), as dr.rebuild's last-chance step.
ETCD_DB = "/var/lib/etcd/member/snap/db"


#: The shell variable the last-chance copy's file names are stamped with (set when the person runs it).
STAMP_VAR = "$STAMP"
_STAMP_LINE = "STAMP=$(date -u +%Y%m%dT%H%M%SZ)   # once, now: names this recovery's last-chance copy"


class _Renderer:
    raw_db: str | None = None
    stamp: str | None = None  # the plan's render-time stamp, printed as $STAMP

    def __init__(self, inventory: Inventory, facts: RunbookFacts) -> None:
        self.inventory = inventory
        self.facts = facts
        self.talos = t.Talosctl(inventory.cluster.talosconfig)
        self.kctl = k.Kubectl(inventory.cluster.kubeconfig)
        self.timed = dict(facts.rehearsal)

    def line(self, action: Action) -> str:
        if self.stamp:  # a name made at render time would be another day's at 3 a.m.
            old = f"-{self.stamp}-"
            action = replace(action, argv=tuple(w.replace(old, f"-{STAMP_VAR}-") for w in action.argv))
        return command_line(self.inventory, action)

    def block(self, actions: list[Action] | tuple[Action, ...], extra: tuple[str, ...] = ()) -> list[str]:
        lines = [self.line(a) for a in actions] + list(extra)
        return ["```sh", *lines, "```"] if lines else []

    # -- common parts ------------------------------------------------------------------------------

    def look_first(self) -> list[str]:
        inv = self.inventory
        looks: list[Action] = []
        for cp in inv.control_planes:
            looks.append(_look(self.talos.service(cp.ip, "etcd")))
        if inv.control_planes:
            looks.append(_look(self.talos.etcd_members(inv.control_planes[0].ip)))
        looks.append(_look(self.kctl.readyz()))
        pves = inv.hosts_of_kind("proxmox")
        if pves:
            looks.append(_look(pve.cluster_resources(), pves[0].name))
        nas = inv.hosts_of_kind("truenas")
        if nas:
            looks.append(_look(["midclt", "call", "pool.query"], nas[0].name))
        return [
            "",
            "### Look first (read-only)",
            "",
            "etcd `Running` and `OK` on a majority of control planes with the API answering is a healthy cluster: "
            "do not rebuild it.",
            "",
            *self.block(looks),
        ]

    def preflight(self, plans: Mapping[str, Plan]) -> list[str]:
        inv = self.inventory
        out = ["", "## Before any scenario: preflight (changes nothing)", ""]
        snapshot_dir = inv.state_dir / "etcd-snapshots"
        nas = inv.hosts_of_kind("truenas")
        if self.facts.snapshot:
            out += [
                f"The newest etcd snapshot when this runbook was written is `{self.facts.snapshot}`; "
                "if the NAS has a newer one, use its name instead:",
                "",
            ]
            listing = (
                [Action(("ls", "-1t", inv.policy.nas_backup_dir.rstrip("/")), nas[0].name, mutating=False)]
                if nas
                else []
            )
            out += self.block(listing, (f"SNAPSHOT={self.facts.snapshot}",))
        else:
            out += [
                f"No etcd snapshot in `{_rel(inv, snapshot_dir)}` when this runbook was written: quorum-lost takes "
                "its own last-chance copy; the fresh scenarios need none.",
            ]
        book = recovery_steps(inv, snapshot=SNAPSHOT_VAR if self.facts.snapshot else None)
        for step in book:
            if step.stage != "preflight" or step.id == "preflight:genconfig":
                continue
            out += self.render(step, None)
        out += self.render_configs()
        return out

    def render_configs(self) -> list[str]:
        """genconfig exactly as a person must run it (talhelper resolves talsecret, talenv and patches from its
        working directory; SOPS_AGE_KEY_FILE decrypts them), then each config validated — before any wipe."""
        import os

        from homeops.operations.genconfig import ENV_NAMES, SECRET_NAMES

        inv = self.inventory
        cluster = inv.cluster
        talconfig = cluster.talconfig or inv.root / "talos" / "talconfig.yaml"
        workdir = talconfig.parent
        secret = next((workdir / n for n in SECRET_NAMES if (workdir / n).is_file()), None)
        envs = [workdir / n for n in ENV_NAMES if (workdir / n).is_file()]

        def here(path: Path) -> str:
            return os.path.relpath(path, workdir)

        env = (("SOPS_AGE_KEY_FILE", here(cluster.age_key)),) if cluster.age_key else ()
        argv = th.genconfig(
            talconfig.name,
            out_dir=here(cluster.clusterconfig_dir),
            env_files=[here(p) for p in envs],
            secret_file=here(secret) if secret else None,
        )
        genconfig = Action(tuple(argv), env=env, cwd=str(workdir))
        validate = [Action(tuple(self.talos.validate(config_file(inv, n), "metal")), mutating=False) for n in inv.nodes]
        out = [
            "",
            "### Render the Talos configs and check them (before anything is wiped)",
            "",
            "Expected: under a minute. Without `--secret-file` talhelper makes a NEW PKI and nothing restored can be "
            "read: if it prints `new secrets will be generated`, stop.",
            "",
            *self.block([genconfig]),
            "",
            "Verify: each config is valid (`… is valid for metal mode`):",
            "",
            *self.block(validate),
        ]
        if secret is None:
            out += [
                "",
                f"**There is no talsecret beside `{_rel(inv, talconfig)}`: do not go on.** dr.rebuild refuses too.",
            ]
        return out

    # -- a plan as steps ---------------------------------------------------------------------------

    def scenario(self, title: str, model: str, plan: Plan, plans: Mapping[str, Plan]) -> list[str]:
        inv = self.inventory
        self.raw_db = next(
            (
                c.argv[c.argv.index(ETCD_DB) + 1]
                for s in plan.steps
                for c in s.commands
                if s.action == "dr-etcd-backup" and ETCD_DB in c.argv
            ),
            None,
        )
        # dr.rebuild names the last-chance copy with its own clock: the runbook names it when it is run
        stamped = (
            re.search(r"-(\d{8}T\d{6}Z)-(last-chance\.db|raw)$", word)
            for s in plan.steps
            if s.action == "dr-etcd-backup"
            for c in s.commands
            for word in c.argv
        )
        self.stamp = next((m.group(1) for m in stamped if m), None)
        book = {s.id: s for s in recovery_steps(inv, recreate_vms=dict(plan.options).get("recreate_vms") == "yes")}
        ponr = dict(plan.options).get("point_of_no_return", "")
        steps = _from_plan(inv, plan, tuple(book.values()))
        steps = tuple(s for s in steps if s.stage != "preflight" or s.id in {p.id for p in plan.steps})
        out = ["", f"## {title}", "", f"Model: {model}. Plan: {plan.target}."]
        total = sum(step_budget(s) for s in plan.steps)
        out.append(f"At worst {duration_text(total)}: every timeout of the plan added up.")
        if self.facts.rehearsal_note:
            out.append(f"Step times marked *rehearsed* are from {self.facts.rehearsal_note}.")
        if self.stamp:
            out += ["", "The last-chance copy's file names are made when you start (`$STAMP`, set once here):", ""]
            out += ["```sh", _STAMP_LINE, "```"]
        if dict(plan.options).get("recreate_vms") == "yes":
            out += self.iso_fetch()
        by_id = {s.id: s for s in plan.steps}
        for number, step in enumerate(steps, start=1):
            planned = by_id.get(step.id)
            if planned is not None and step.id == ponr:
                out += [
                    "",
                    "---",
                    "",
                    "**POINT OF NO RETURN.** Everything above changed nothing that cannot be undone. The next command "
                    "wipes or destroys: have the snapshot verified and the configs rendered (preflight) before it.",
                    "",
                    "---",
                ]
            out += self.render(step, planned, number)
        return out

    def iso_fetch(self) -> list[str]:
        inv = self.inventory
        actions = []
        for host in inv.hosts_of_kind("proxmox"):
            node = next((n for n in inv.nodes if n.vm and n.vm.host == host.name), None)
            if node is None:
                continue
            iso = iso_volume(inv, node).split("iso/", 1)[1]
            actions.append(
                Action(("wget", "-nc", "-O", f"/var/lib/vz/template/iso/{iso}", iso_url(inv, node)), host.name)
            )
        if not actions:
            return []
        return ["", "First, once per Proxmox host, the Talos ISO in its `local` storage:", "", *self.block(actions)]

    def expected(self, step: RecoveryStep, planned: Any) -> str:
        budget = step_budget(planned) if planned is not None else 0.0
        rehearsed = self.timed.get(step.id)
        parts = []
        if rehearsed is not None:
            parts.append(f"{duration_text(rehearsed)} (rehearsed)")
        if budget:
            parts.append(f"at most {duration_text(budget)} (plan budget)")
        return "Expected: " + ("; ".join(parts) if parts else "seconds")

    def render(self, step: RecoveryStep, planned: Any, number: int | None = None) -> list[str]:
        title = step.title
        heading = f"### {number}. {title}" if number is not None else f"### {title}"
        out = ["", heading, "", self.expected(step, planned) + "."]
        if planned is not None and planned.action == "dr-recreate-vm":
            out += [
                "",
                "A VM that no longer exists makes `qm stop` and `qm destroy` say `does not exist`: go on with "
                "`qm create` (dr.rebuild skips them the same way).",
            ]
        lines = self.command_lines(step, planned)
        if lines:
            out += ["", "```sh", *lines, "```"]
        verify = self.verify(step, planned)
        out += ["", f"Verify: {step.check}"]
        if verify:
            out += ["", *self.block(verify)]
        return out

    def command_lines(self, step: RecoveryStep, planned: Any) -> list[str]:
        inv = self.inventory
        action = planned.action if planned is not None else ""
        if action == "bootstrap-genconfig":
            return ["# done in the preflight: the configs rendered and validated there are the ones applied"]
        if action == "bootstrap-namespaces":
            names = re.findall(r"[a-z0-9][a-z0-9-]*", step.title.split("namespaces", 1)[-1].split("(")[0])
            apply = Action(
                tuple(self.kctl.apply_server_side("-", field_manager="homeops-bootstrap", force_conflicts=True))
            )
            return [
                f"kubectl create namespace {shlex.quote(n)} --dry-run=client --output yaml | {self.line(apply)}"
                for n in names
            ]
        if action == "bootstrap-secret" and isinstance(planned.params, SecretParams):
            path = Path(planned.params.path)
            namespace = _manifest_namespace(path) or "flux-system"
            env = (("SOPS_AGE_KEY_FILE", str(inv.cluster.age_key)),) if inv.cluster.age_key else ()
            decrypt = Action(("sops", "--decrypt", str(path)), env=env)
            apply = Action(
                tuple(
                    [
                        *self.kctl.apply_server_side("-", field_manager="homeops-bootstrap", force_conflicts=True),
                        "--namespace",
                        namespace,
                    ]
                )
            )
            return [f"{self.line(decrypt)} | {self.line(apply)}"]
        lines = self.with_ha_waits(step.actions)
        if action == "dr-recover" and planned.node_ip and lines:
            # dr-recover restores what the last-chance step got: its snapshot, else the raw db, else the kept one
            alternatives = ["# restore what step 1 saved: its snapshot", *lines]
            if self.raw_db:
                from_raw = self.talos.bootstrap(planned.node_ip, recover_from=f"{self.raw_db}/db", skip_hash_check=True)
                alternatives += ["# only if step 1 saved the raw db alone (no snapshot):"]
                alternatives.append(self.line(Action(tuple(from_raw))))
            if self.facts.snapshot:
                kept = inv.state_dir / "etcd-snapshots" / SNAPSHOT_VAR
                alternatives += [
                    "# only if step 1 saved nothing: the snapshot verified in the preflight",
                    self.line(Action(tuple(self.talos.bootstrap(planned.node_ip, recover_from=str(kept))))),
                ]
            return alternatives
        if action == "dr-etcd-backup" and len(lines) > 1:
            snaps = [ln for ln, a in zip(lines, step.actions, strict=True) if "snapshot" in a.argv]
            copies = [ln for ln in lines if ln not in snaps]
            if copies and self.raw_db:  # talosctl cp unpacks into a directory
                copies.insert(0, self.line(Action(("mkdir", "-p", self.raw_db), mutating=False)))
            note = "# only if every snapshot failed: the raw db (then --recover-skip-hash-check below)"
            return ["# one snapshot is enough: run the first line; only if it fails, the next", *snaps] + (
                [note, *copies] if copies else []
            )
        if step.pipe == "PIPE":
            lines = [" | ".join(lines)]
        elif step.pipe and lines and "<" not in step.pipe:
            lines[0] = step.pipe + lines[0]
        if step.after:
            lines.append(step.after)
        return lines

    def verify(self, step: RecoveryStep, planned: Any) -> list[Action]:
        """A read-only command that shows the step worked (the book's own, else one per step kind)."""
        if step.checks:
            return list(step.checks)
        inv = self.inventory
        action = planned.action if planned is not None else ""
        node = inv.node(step.node) if step.node else None
        first = _first_ip(inv)
        if action == "dr-etcd-backup":
            return [Action(("ls", "-l", str(inv.state_dir / "etcd-snapshots")), mutating=False)]
        if action == "bootstrap-genconfig":
            return [Action(tuple(self.talos.validate(config_file(inv, n), "metal")), mutating=False) for n in inv.nodes]
        if action == "dr-reset-ephemeral" and node is not None:
            return [_look(self.talos.service(node.ip, "etcd"))]
        if action in ("dr-recover", "bootstrap-etcd"):
            return [_look(self.talos.etcd_members(first)), _look(self.talos.service(first, "etcd"))]
        if action == "bootstrap-apply" and node is not None:
            return [_look(self.talos.machine_status(node.ip))]
        if action in ("bootstrap-kubeconfig", "bootstrap-api"):
            return [_look(self.kctl.readyz())]
        if action in ("bootstrap-nodes", "dr-inplace"):
            return (
                [_look(self.kctl.get_nodes())]
                if action == "bootstrap-nodes"
                else [_look(self.kctl.get_json("persistentvolumes"))]
            )
        if action == "bootstrap-namespaces":
            return [_look(self.kctl.get_json("namespaces"))]
        if action == "bootstrap-secret":
            return [
                _look(
                    self.kctl.get_json("secrets", namespace=_manifest_namespace(_secret_path(planned)) or "flux-system")
                )
            ]
        if action == "bootstrap-crds":
            return [_look(self.kctl.get_json("customresourcedefinitions"))]
        if action == "bootstrap-release" and isinstance(planned.params, ReleaseParams):
            return [_look(self.kctl.get_pods())]
        if action == "bootstrap-flux":
            return [_look(self.kctl.get_kustomizations())]
        if action in ("dr-last-backups", "dr-pause-backups", "dr-resume-backups"):
            return [_look(volsync.get_sources(self.kctl))]
        if action == "vm-finish" and node is not None and node.vm is not None:
            return [_look(pve.qm_config(node.vm.vmid), node.vm.host)]
        return [_look(self.kctl.get_nodes())]

    def with_ha_waits(self, actions: tuple[Action, ...] | list[Action]) -> list[str]:
        """An HA stop is a request (the HA stack acts within ~20 s): a runnable wait follows it, as dr.rebuild
        waits before `qm destroy`, which refuses a running VM."""
        lines = []
        for action in actions:
            lines.append(self.line(action))
            if action.argv[:2] == ("ha-manager", "set") and action.argv[-2:] == ("--state", "stopped"):
                vmid = action.argv[2].split(":", 1)[1]
                wait = f'until qm status {vmid} | grep -q "status: stopped"; do sleep 5; done'
                lines.append(over_ssh(self.inventory, action.on, wait) if action.on else wait)
        return lines

    # -- the scenarios without a rebuild plan ----------------------------------------------------------

    def one_node(self, title: str, plans: Mapping[str, Plan]) -> list[str]:
        """Per node: its etcd member out (control planes), back to maintenance mode, its config applied."""
        inv = self.inventory
        recreate = {s.id: s for s in plans["recreate"].steps} if "recreate" in plans else {}
        book = {s.id: s for s in recovery_steps(inv, recreate_vms=True)}
        out = [
            "",
            f"## {title}",
            "",
            "Model: node replacement. The cluster keeps running; only the lost node is brought back. Take the section "
            "of the node that was lost.",
        ]
        talos = self.talos
        for node in inv.nodes:
            out += ["", f"### {node.hostname} ({node.role}, {node.ip})"]
            healthy = next((cp for cp in inv.control_planes if cp.hostname != node.hostname), None)
            number = 0

            def head(text: str, expected: str) -> list[str]:
                nonlocal number
                number += 1
                return ["", f"#### {number}. {text}", "", f"Expected: {expected}."]

            if node.control_plane and healthy is not None:
                members = self.line(_look(talos.etcd_members(healthy.ip)))
                dummy = "0" * 16
                remove = talos.etcd_remove_member(healthy.ip, dummy)
                remove_line = self.line(Action(tuple(remove))).replace(
                    dummy, f'"$({members} | awk \'$3 == "{node.hostname}" {{print $2}}\')"'
                )
                out += head(f"Remove {node.hostname}'s etcd member (ask {healthy.hostname})", "seconds")
                out += [
                    "",
                    "```sh",
                    remove_line,
                    "```",
                    "",
                    f"Verify: {node.hostname} is no longer listed",
                    "",
                    *self.block([_look(talos.etcd_members(healthy.ip))]),
                ]
            step = recreate.get(f"node:{node.hostname}:recreate-vm")
            if node.vm is not None and step is not None:
                rs = book.get(step.id)
                what = step.summary.removeprefix("POINT OF NO RETURN — ")
                out += head(f"Only if its VM is gone or broken: {what}", f"at most {duration_text(step_budget(step))}")
                recreate_lines = self.with_ha_waits(
                    [Action(c.argv, None if c.on == "local" else c.on) for c in step.commands]
                )
                out += ["", "```sh", *recreate_lines, "```"]
                if rs is not None:
                    out += ["", f"Verify: {rs.check}", "", *self.block(list(rs.checks))]
            reset = Action(tuple(talos.reset(node.ip, graceful=False, reboot=True, wipe=fresh_wipe(node))))
            out += head(
                f"If the node (VM) still runs but is broken: back to maintenance mode (wipes {wipe_text(node)})",
                f"at most {duration_text(inv.policy.reboot_timeout)}",
            )
            maintenance = [_look(talos.machine_status(node.ip, insecure=True))]
            out += ["", *self.block([reset]), "", "Verify: `stage` is `maintenance`", "", *self.block(maintenance)]
            apply = Action(tuple(talos.apply_config(node.ip, config_file(inv, node), insecure=True)))
            out += head(
                f"Apply {node.hostname}'s config (rendered in the preflight); it installs and joins by itself",
                f"at most {duration_text(inv.policy.reboot_timeout)}",
            )
            verify = [_look(talos.machine_status(node.ip))]
            if node.control_plane and healthy is not None:
                verify.append(_look(talos.etcd_members(healthy.ip)))
            verify.append(_look(self.kctl.get_node(node.hostname)))
            out += ["", *self.block([apply]), "", "Verify: the node is `running` and Ready, and an etcd member again"]
            out += ["", *self.block(verify)]
            finish = plans["recreate"].steps if "recreate" in plans else ()
            done = next((s for s in finish if s.id == f"vm:{node.hostname}:finish-vm"), None)
            if done is not None and node.vm is not None:
                out += head(
                    "Only if the VM was recreated: after the install, " + done.summary.split(": ", 1)[-1], "seconds"
                )
                commands = [Action(c.argv, None if c.on == "local" else c.on) for c in done.commands]
                out += ["", *self.block(commands), "", "Verify: no Talos ISO in ide2"]
                out += ["", *self.block([_look(pve.qm_config(node.vm.vmid), node.vm.host)])]
        return out

    def nas_lost(self, title: str) -> list[str]:
        inv = self.inventory
        box = inv.hosts_of_kind("truenas")[0]
        directory = inv.policy.nas_backup_dir.rstrip("/")
        out = [
            "",
            f"## {title}",
            "",
            "Model: none — the cluster is not rebuilt. Rebuild the NAS (pool, datasets, NFS export) from the TrueNAS "
            "installer and your notes, then make every backup again: until then there is none.",
        ]
        steps: list[tuple[str, str, list[Action], str, list[Action]]] = [
            (
                "The NAS answers again: pool ONLINE, NFS running",
                "as long as the NAS rebuild takes",
                [],
                "the pool is `ONLINE` and the export is listed",
                [
                    Action(("midclt", "call", "pool.query"), box.name, mutating=False),
                    Action(("showmount", "-e", box.address), box.name, mutating=False),
                ],
            ),
            (
                "A new etcd snapshot, copied to the NAS (with its checksum)",
                "a minute",
                [
                    Action(
                        tuple(
                            self.talos.etcd_snapshot(
                                _first_ip(inv), str(inv.state_dir / "etcd-snapshots" / "after-nas-lost.db")
                            )
                        )
                    ),
                    Action(("sha256sum", "after-nas-lost.db"), cwd=str(inv.state_dir / "etcd-snapshots")),
                    Action(
                        (
                            "scp",
                            *_scp_port(box.port),
                            str(inv.state_dir / "etcd-snapshots" / "after-nas-lost.db"),
                            f"{box.user}@{box.address}:{directory}/",
                        )
                    ),
                ],
                "the snapshot is on the NAS",
                [Action(("ls", "-l", directory), box.name, mutating=False)],
            ),
        ]
        if self.facts.sources:
            pairs = [key.partition("/")[::2] for key in self.facts.sources]
            steps.append(
                (
                    "Every VolSync backup again (its restic repository on the NAS is new), one source per command",
                    f"at most {duration_text(inv.dr.volsync_max_age)}",
                    [
                        Action(tuple(volsync.trigger_manual(self.kctl, ns, name, "after-nas-lost")))
                        for ns, name in pairs
                    ],
                    "each ReplicationSource's `status.lastManualSync` is `after-nas-lost`",
                    [_look(volsync.get_source(self.kctl, ns, name)) for ns, name in pairs],
                )
            )
            steps.append(
                (
                    "Release the manual triggers: a trigger left set switches the schedule off",
                    "seconds",
                    [Action(tuple(volsync.release_manual(self.kctl, ns, name))) for ns, name in pairs],
                    "no `spec.trigger.manual` left",
                    [_look(volsync.get_sources(self.kctl))],
                )
            )
        steps.append(
            (
                "dr.check is green again",
                "a minute",
                [],
                "`recoverable`",
                [Action(("inv", "dr.check", "--inventory", "."), mutating=False)],
            )
        )
        for number, (text, expected, actions, check, verify) in enumerate(steps, start=1):
            out += ["", f"### {number}. {text}", "", f"Expected: {expected}."]
            if actions:
                out += ["", *self.block(actions)]
            out += ["", f"Verify: {check}", "", *self.block(verify)]
        return out


def _secret_path(planned: Any) -> Path:
    """The manifest a planned ``bootstrap-secret`` step applies (``.`` for any other step)."""
    return Path(planned.params.path) if isinstance(planned.params, SecretParams) else Path("")


def _manifest_namespace(path: Path) -> str | None:
    """``metadata.namespace`` of a (SOPS) manifest: SOPS leaves metadata in the clear."""
    import yaml

    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError):
        return None
    for doc in docs:
        if isinstance(doc, dict):
            namespace = (doc.get("metadata") or {}).get("namespace")
            if isinstance(namespace, str) and namespace:
                return namespace
    return None
