"""Pure planners: (inventory, observed facts, what the user asked) → ``Plan``. No I/O, no runners.

Each planner decides the nodes, their order and batches, the exact commands with their flags, the
gates before and after, and the waits; the executor only carries the plan out. Version paths and
the Talos↔Kubernetes support matrix are checked here, so an impossible request fails before
anything is touched.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from homeops.adapters import proxmox as pve
from homeops.adapters.kubectl import KURED_LOCK, TUPPR_SUSPEND, Kubectl
from homeops.adapters.talosctl import Talosctl, version_tuple
from homeops.engine.plan import Action, Command, Gate, Plan, Step, Wait
from homeops.errors import PlanError
from homeops.inventory.model import Inventory, Node
from homeops.inventory.versions import Version
from homeops.operations.facts import ClusterFacts, NodeFacts, Upgrader
from homeops.operations.health import cluster_gates, node_gates
from homeops.operations.images import FACTORY, schematic_of, target_image
from homeops.operations.ordering import rounds
from homeops.operations.snapshot import UPLOAD as UPLOAD  # re-exported: planners' callers import it from here
from homeops.operations.snapshot import etcd_snapshot_step, vm_snapshot_name
from homeops.operations.snapshot import nas_copy_command as nas_copy_command
from homeops.upgradepath import FACTORY_ONLY_FROM, kubernetes_path, parse, talos_path

APPLY_MODES = ("auto", "no-reboot", "reboot", "staged", "try")

#: ``kubectl drain --timeout``: talosctl's own default for its drain (nodedrain.DefaultDrainTimeout, 5m).
DRAIN_TIMEOUT = 300.0

SINGLE_NODE_WARNING = (
    "SINGLE CONTROL PLANE: etcd and the Kubernetes API are DOWN while this node reboots. "
    "An etcd snapshot is taken first; keep it until the run has finished."
)


@dataclass(frozen=True)
class Request:
    """What the user asked for; ``now`` names snapshots (planners never read the clock)."""

    now: float
    nodes: tuple[str, ...] = ()  # restrict to these (name or IP); empty means every node
    version: str | None = None  # Talos target; default from the talconfig
    image: str | None = None  # explicit installer (one node only)
    max_unavailable: int | None = None
    mode: str = "auto"  # apply-config mode
    config_files: Mapping[str, Path] | None = None  # apply: hostname → machine config
    kubernetes: str | None = None  # upgrade-k8s target


def _talosctl(inventory: Inventory, facts: ClusterFacts | None = None) -> Talosctl:
    client = facts.talosctl_client if facts else None  # decides version-dependent flags (1.13: --drain=false)
    return Talosctl(inventory.cluster.talosconfig, client_version=client)


def homeops_drains(facts: ClusterFacts | None) -> bool:
    """Whether homeops cordons and drains a node before ``talosctl upgrade`` and uncordons it after.

    talosctl ≥ 1.13 is sent ``--drain=false`` (its drain forces ``--wait``); against a ≥ 1.13 node the
    new flow then reboots without any drain (the Reboot sequence kills pods, ignoring PodDisruption-
    Budgets), so homeops drains. Older clients use the legacy upgrade, whose server-side sequence
    cordons, drains and uncordons by itself (talos v1.13.9 ``v1alpha1_sequencer.go`` Upgrade).
    """
    client = facts.talosctl_client if facts else None
    return client is not None and version_tuple(client) >= (1, 13)


def _selected(inventory: Inventory, names: Sequence[str]) -> tuple[Node, ...]:
    if not names:
        return inventory.nodes
    picked = {inventory.node(n).hostname for n in names}
    return tuple(n for n in inventory.nodes if n.hostname in picked)


def _facts_of(facts: ClusterFacts, node: Node) -> NodeFacts:
    found = facts.nodes.get(node.hostname)
    if found is None or not found.reachable or not found.version:
        detail = found.describe() if found else "not observed"
        where = f", VM {node.vm.vmid} on Proxmox host {node.vm.host}" if node.vm else ""
        raise PlanError(
            f"cannot read the Talos version of {node.hostname} ({node.ip}{where}): {detail}",
            hint="every node must be reachable to plan; nothing was changed",
        )
    return found


def node_waits(
    inventory: Inventory, node: Node, *, reboots: bool, version_check: bool, drained: bool = False
) -> tuple[Wait, ...]:
    policy = inventory.policy
    waits: list[Wait] = []
    if reboots:
        waits.append(Wait("rebooted", f"{node.hostname} rebooted (boot ID changed)", policy.reboot_timeout))
    running = f"{node.hostname} stage running and ready"
    if version_check:
        running += " on the target version (back on the old one = A/B rollback: stop)"
    waits.append(Wait("running", running, policy.ready_timeout))
    if drained:
        # Cordoned by homeops, so Talos leaves it cordoned: its uncordon step follows this one.
        waits.append(Wait("k8s-back", f"Kubernetes node {node.hostname} Ready (still cordoned)", policy.ready_timeout))
    else:
        waits.append(Wait("k8s-ready", f"Kubernetes node {node.hostname} Ready and uncordoned", policy.ready_timeout))
    if node.control_plane:
        waits.append(Wait("etcd-member", f"etcd member {node.hostname} healthy, quorum back", policy.ready_timeout))
    return tuple(waits)


def _node_step(
    inventory: Inventory,
    node: Node,
    *,
    action: Action,
    suffix: str = "",
    batch: int,
    summary: str,
    commands: tuple[Command, ...],
    waits: tuple[Wait, ...] = (),
    gates_after: tuple[Gate, ...] = (),
    from_version: str | None = None,
    to_version: str | None = None,
    image: str | None = None,
    reboots: bool = False,
    artifact: str | None = None,
) -> Step:
    """A step on one node: its identity, placement and node gates come from the node; callers state the rest."""
    return Step(
        id=f"{node.hostname}:{action}{suffix}",
        action=action,
        summary=summary,
        node=node.hostname,
        node_ip=node.ip,
        control_plane=node.control_plane,
        batch=batch,
        commands=commands,
        waits=waits,
        gates_before=node_gates(inventory, node),
        gates_after=gates_after,
        from_version=from_version,
        to_version=to_version,
        image=image,
        schematic=schematic_of(image),
        reboots=reboots,
        vm_host=node.vm.host if node.vm else None,
        artifact=artifact,
    )


def _vm_snapshot_step(inventory: Inventory, node: Node, now: float, batch: int, suffix: str) -> Step | None:
    if not inventory.policy.vm_snapshot or node.vm is None:
        return None
    name = vm_snapshot_name(now)
    argv = tuple(pve.qm_snapshot(node.vm.vmid, name, description=f"homeops before {suffix}"))
    return _node_step(
        inventory,
        node,
        action="vm-snapshot",
        suffix=f"@{suffix}",
        batch=batch,
        summary=f"Proxmox snapshot {name} of VM {node.vm.vmid} on {node.vm.host}",
        commands=(Command(argv, on=node.vm.host, timeout=600),),
        artifact=name,
    )


def _warnings(inventory: Inventory) -> list[str]:
    warnings = list(inventory.warnings)
    if len(inventory.control_planes) == 1:
        warnings.append(SINGLE_NODE_WARNING)
    elif len(inventory.control_planes) == 2:
        warnings.append("two control planes: etcd has no fault tolerance while one of them reboots")
    return warnings


def _plan(
    inventory: Inventory,
    operation: str,
    steps: Sequence[Step],
    *,
    target: str,
    notes: Sequence[str] = (),
    skipped: tuple[tuple[str, str], ...] = (),
    options: tuple[tuple[str, str], ...] = (),
) -> Plan:
    """The fields every plan takes from the inventory; planners state only target, notes, skips and options."""
    return Plan(
        operation=operation,
        cluster=inventory.cluster.name,
        steps=tuple(steps),
        preflight=_preflight(inventory),
        stability_seconds=inventory.policy.stability_seconds,
        poll_interval=inventory.policy.poll_interval,
        warnings=tuple(_warnings(inventory)) + tuple(notes),
        skipped=skipped,
        target=target,
        options=options,
    )


def _max_unavailable(inventory: Inventory, request: Request) -> int:
    value = request.max_unavailable if request.max_unavailable is not None else inventory.policy.max_unavailable
    if value < 1:
        raise PlanError(f"--max-unavailable must be at least 1 (got {value})")
    return value


# ----------------------------------------------------------------------------------- talos upgrade


def plan_upgrade(inventory: Inventory, facts: ClusterFacts, request: Request, *, operation: str) -> Plan:
    """Upgrade Talos on the selected nodes, minor by minor, skipping nodes already at the target."""
    wanted = request.version or inventory.cluster.talos_version
    if not wanted:
        raise PlanError(
            "no Talos version to upgrade to",
            hint="set talosVersion in talconfig.yaml/talenv.yaml or pass --version vX.Y.Z",
        )
    target = parse(wanted, what="Talos version")
    client = facts.talosctl_client
    if client and _is_version(client) and parse(client, what="talosctl version").series < target.series:
        # home-operations/tuppr#544: an older client speaks the older API and defaults (1.14: no
        # ghcr installer, no apply --mode=reboot); talosctl's own docs pair the client with the target.
        raise PlanError(
            f"talosctl {client} is older than the target Talos {target}; nothing was changed",
            hint=f"install talosctl {target.series_name}.x (the client must be at least the target's minor)",
        )
    selected = _selected(inventory, request.nodes)
    if request.image and len(selected) != 1:
        raise PlanError("--image applies to one node; use --node with it")
    kube = facts.kubernetes_version or inventory.cluster.kubernetes_version
    kubernetes = parse(kube, what="Kubernetes version") if kube else None

    paths: dict[str, tuple[Version, ...]] = {}
    images: dict[tuple[str, str], str] = {}
    skipped: list[tuple[str, str]] = []
    for node in selected:
        seen = _facts_of(facts, node)
        current = parse(seen.version or "", what="Talos version")
        final_image = target_image(node, str(target), override=request.image)
        want_schematic = schematic_of(final_image)
        path = talos_path(current, target, kubernetes)
        if not path and want_schematic and seen.schematic and seen.schematic != want_schematic:
            path = (target,)  # same version, different extensions: reinstall
        if not path:
            skipped.append(
                (node.hostname, f"already at {current}" + (f" ({seen.schematic[:12]}…)" if seen.schematic else ""))
            )
            continue
        paths[node.hostname] = path
        for hop in path:
            image = target_image(node, str(hop), override=request.image if hop == target else None)
            _factory_only(node, hop, image)
            images[(node.hostname, str(hop))] = image

    size = _max_unavailable(inventory, request)
    hops = sorted({hop for path in paths.values() for hop in path})
    steps: list[Step] = []
    batch = 0
    snapshot_done = False
    tctl = _talosctl(inventory, facts)
    drains = homeops_drains(facts)
    kctl = Kubectl(inventory.cluster.kubeconfig)
    gates_after = cluster_gates(inventory)
    suspend, restore, upgrader_notes = _upgrader_steps(facts, kctl) if paths else (None, None, [])
    if suspend:
        steps.append(suspend)
    if paths:
        steps.append(_pre_pull_step(inventory, tctl, selected, paths, images))
    several_cps = len(inventory.control_planes) > 1
    for hop in hops:
        movers = [n for n in selected if hop in paths.get(n.hostname, ())]
        for group in rounds(movers, leader=facts.etcd_leader, max_unavailable=size):
            if not snapshot_done and any(n.control_plane for n in group):
                source = _snapshot_source(inventory, facts)
                steps.append(etcd_snapshot_step(inventory, source, request.now, batch))
                snapshot_done = True
            for node in group:
                vm = _vm_snapshot_step(inventory, node, request.now, batch, str(hop))
                if vm:
                    steps.append(vm)
            if drains:
                steps.extend(_drain_step(inventory, kctl, node, batch, str(hop)) for node in group)
            if several_cps:
                # After the drain (minutes), right before the reboot: the hand-off is as fresh as it can be.
                steps.extend(_forfeit_step(inventory, tctl, n, batch, str(hop)) for n in group if n.control_plane)
            for node in group:
                path = paths[node.hostname]
                index = path.index(hop)
                before_version = str(path[index - 1]) if index else str(facts.nodes[node.hostname].version)
                image = images[(node.hostname, str(hop))]
                argv = tctl.upgrade(node.ip, image, wait=False)
                steps.append(
                    _node_step(
                        inventory,
                        node,
                        action="upgrade",
                        suffix=f"@{hop}",
                        batch=batch,
                        summary=f"upgrade {node.hostname} ({node.role}) {before_version} → {hop}",
                        commands=(Command(tuple(argv), timeout=300),),
                        waits=node_waits(inventory, node, reboots=True, version_check=True, drained=drains),
                        # Drained: the cluster gates and the stability window follow the uncordon.
                        gates_after=() if drains else gates_after,
                        from_version=before_version,
                        to_version=str(hop),
                        image=image,
                        reboots=True,
                    )
                )
            if drains:
                # Its own batch: the uncordon is sent only after the upgrade's waits (a batch's
                # lockstep commands all go out before any of its waits).
                batch += 1
                steps.extend(_uncordon_step(inventory, kctl, node, batch, str(hop), gates_after) for node in group)
            batch += 1
    if restore:
        steps.append(replace(restore, batch=batch))
    if len(hops) > 1:
        chain = " → ".join(str(h) for h in hops)
        note = [f"Talos moves one minor release at a time: {chain}"]
    else:
        note = []
    note += upgrader_notes
    return _plan(
        inventory,
        operation,
        steps,
        notes=note,
        skipped=tuple(skipped),
        target=f"Talos {target}",
        options=(("version", str(target)), ("max_unavailable", str(size)))
        + ((("image", request.image),) if request.image else ()),
    )


#: The suspend annotation's value: names who suspended it, so only homeops' own suspension is undone.
SUSPENDED_BY = "homeops"


def _suspension(kctl: Kubectl, u: Upgrader, *, restore: bool) -> Command:
    """tuppr: its suspend annotation (tuppr 0.5.0 constants.go:12); kured: its own reboot lock, held."""
    if u.tool == "kured":
        value = None if restore else json.dumps({"nodeID": SUSPENDED_BY}, separators=(",", ":"))
        return Command(tuple(kctl.annotate(u.resource, u.name, KURED_LOCK, value, namespace=u.namespace)), timeout=60)
    value = None if restore else SUSPENDED_BY
    return Command(tuple(kctl.annotate(u.resource, u.name, TUPPR_SUSPEND, value, namespace=u.namespace)), timeout=60)


def _upgrader_steps(facts: ClusterFacts, kctl: Kubectl) -> tuple[Step | None, Step | None, list[str]]:
    """Refuse beside an in-cluster upgrade in progress; else suspend the idle ones for the run, restore after.

    tuppr and kured act on their own schedule (drain, reboot, talosctl upgrade): left running, one could
    take down a node while homeops has another down. One already suspended by someone stays as it is;
    system-upgrade-controller has no suspend, so an idle Plan is only named in the plan.
    """
    busy = [u for u in facts.upgraders if u.active]
    if busy:
        raise PlanError(
            f"an in-cluster upgrade is in progress: {', '.join(u.describe() for u in busy)}; nothing was changed",
            hint="let it finish (kubectl get talosupgrades,kubernetesupgrades,plans -A; kured: its lock), or "
            f"suspend it (tuppr: kubectl annotate <resource> <name> {TUPPR_SUSPEND}=manual) and wait until it is idle",
        )
    notes = [
        f"{u.describe()} cannot be suspended by homeops: make sure it has nothing to apply during the run"
        for u in facts.upgraders
        if not u.can_suspend
    ]
    if facts.upgraders_unknown:
        notes.append(
            f"in-cluster upgraders (tuppr, kured, system-upgrade-controller) could not be listed: "
            f"{facts.upgraders_unknown}; none is suspended for this run"
        )
    idle = [u for u in facts.upgraders if u.suspended_by is None and u.can_suspend]
    if not idle:
        return None, None, notes
    names = ", ".join(u.describe() for u in idle)
    suspend = Step(
        id="cluster:suspend-upgraders",
        action="suspend-upgraders",
        summary=f"suspend {names} for the run",
        batch=0,
        commands=tuple(_suspension(kctl, u, restore=False) for u in idle),
        batch_note="in-cluster upgraders suspended first",
    )
    restore = Step(
        id="cluster:restore-upgraders",
        action="restore-upgraders",
        summary=f"restore {names} (remove homeops' suspension)",
        commands=tuple(_suspension(kctl, u, restore=True) for u in idle),
    )
    return suspend, restore, notes


def _is_version(text: str) -> bool:
    try:
        Version.parse(text)
    except ValueError:
        return False
    return True


def _factory_only(node: Node, hop: Version, image: str) -> None:
    """From Talos 1.14 only Image Factory installers are published (release.toml notes.defaultInstaller)."""
    if hop.series < FACTORY_ONLY_FROM or schematic_of(image):
        return
    raise PlanError(
        f"{node.hostname}: installer {image} is not an Image Factory installer, and Talos {hop} publishes "
        "only those (ghcr.io/siderolabs/installer stopped with 1.14); nothing was changed",
        hint=f"use {FACTORY}/metal-installer/<schematic>:{hop} (talosImageURL or schematic in talconfig.yaml)",
    )


def _pre_pull_step(
    inventory: Inventory,
    tctl: Talosctl,
    selected: Sequence[Node],
    paths: Mapping[str, tuple[Version, ...]],
    images: Mapping[tuple[str, str], str],
) -> Step:
    """Every node of the run pulls its installer(s) before any node is drained or snapshotted.

    The upgrade pulls the image itself first (talos v1.14.0-rc.1 ``upgrade.go:135`` imagePullInternal),
    on the node's clock and after the drain; pulled here, in parallel, a registry problem stops the run
    before anything changed, and each node's upgrade finds the image in its ``system`` namespace.
    """
    policy = inventory.policy
    commands = tuple(
        Command(tuple(tctl.image_pull(node.ip, images[(node.hostname, str(hop))])), timeout=policy.pre_pull_timeout)
        for node in selected
        if node.hostname in paths
        for hop in paths[node.hostname]
    )
    pulled = {cmd.argv[-1] for cmd in commands}
    return Step(
        id="cluster:pre-pull",
        action="pre-pull",
        summary=(
            f"pull {', '.join(sorted(pulled))} on {len({n for n in paths})} node(s), "
            f"{policy.pre_pull_parallel} at a time (deadline {policy.pre_pull_timeout:g}s each)"
        ),
        batch=0,
        commands=commands,
        batch_note="installer pre-pull first",
    )


def _forfeit_step(inventory: Inventory, tctl: Talosctl, node: Node, batch: int, hop: str) -> Step:
    return _node_step(
        inventory,
        node,
        action="etcd-forfeit",
        suffix=f"@{hop}",
        batch=batch,
        summary=f"hand etcd leadership off {node.hostname} if it leads (a follower: no-op)",
        commands=(Command(tuple(tctl.etcd_forfeit_leadership(node.ip)), timeout=60),),
    )


def _drain_step(inventory: Inventory, kctl: Kubectl, node: Node, batch: int, hop: str) -> Step:
    argv = kctl.drain(node.hostname, timeout=DRAIN_TIMEOUT)
    return _node_step(
        inventory,
        node,
        action="drain",
        suffix=f"@{hop}",
        batch=batch,
        summary=f"drain {node.hostname}: cordon, evict its pods (PodDisruptionBudgets respected)",
        # kubectl reports its own --timeout first; the runner's limit is only a backstop.
        commands=(Command(tuple(argv), timeout=DRAIN_TIMEOUT + 60),),
        # A reboot with a volume still attached is what corrupts RWO volumes (Longhorn, Ceph RBD).
        waits=(
            Wait(
                "volumes-detached",
                f"{node.hostname}'s VolumeAttachments gone (CSI detached its volumes)",
                inventory.policy.volume_detach_timeout,
            ),
        ),
    )


def _uncordon_step(
    inventory: Inventory, kctl: Kubectl, node: Node, batch: int, hop: str, gates_after: tuple[Gate, ...]
) -> Step:
    return _node_step(
        inventory,
        node,
        action="uncordon",
        suffix=f"@{hop}",
        batch=batch,
        summary=f"uncordon {node.hostname} (back on {hop}, Ready)",
        commands=(Command(tuple(kctl.uncordon(node.hostname)), timeout=60),),
        waits=(
            Wait("k8s-ready", f"Kubernetes node {node.hostname} Ready and uncordoned", inventory.policy.ready_timeout),
        ),
        gates_after=gates_after,
    )


def _snapshot_source(inventory: Inventory, facts: ClusterFacts) -> Node:
    """Snapshot from the etcd leader (upgraded last, so it is up while the others reboot)."""
    for node in inventory.control_planes:
        if node.hostname == facts.etcd_leader:
            return node
    if not inventory.control_planes:
        raise PlanError("the inventory has no control-plane node", hint="mark one controlPlane: true in talconfig.yaml")
    return inventory.control_planes[0]


def _preflight(inventory: Inventory) -> tuple[Gate, ...]:
    extra: list[Gate] = []
    for node in inventory.nodes:
        for gate in node_gates(inventory, node):
            if all(g.target != gate.target for g in extra):
                extra.append(gate)
    return cluster_gates(inventory) + tuple(extra)


# ----------------------------------------------------------------------------------- apply-config


def default_config_file(inventory: Inventory, node: Node) -> Path:
    """talhelper's default output name: ``<clusterconfig>/<clusterName>-<hostname>.yaml``."""
    return inventory.cluster.clusterconfig_dir / f"{inventory.cluster.name}-{node.hostname}.yaml"


def plan_apply(inventory: Inventory, facts: ClusterFacts, request: Request, *, operation: str) -> Plan:
    """Apply each node's generated machine config in ``request.mode``, one node (or batch) at a time."""
    if request.mode not in APPLY_MODES:
        raise PlanError(f"--mode {request.mode} is not one of {', '.join(APPLY_MODES)}")
    selected = _selected(inventory, request.nodes)
    for node in selected:
        seen = _facts_of(facts, node)
        if request.mode == "reboot" and parse(seen.version or "", what="Talos version").series >= (1, 14):
            raise PlanError(
                f"--mode reboot does not exist for {node.hostname} on Talos {seen.version} "
                "(removed from apply-config in 1.14); nothing was changed",
                hint="use --mode auto (reboots when the change needs it), or apply then inv talos.reboot-node",
            )
    tctl = _talosctl(inventory, facts)
    size = _max_unavailable(inventory, request)
    reboots = request.mode in ("auto", "reboot")
    steps: list[Step] = []
    gates_after = cluster_gates(inventory)
    snapshot_done = False
    for batch, group in enumerate(rounds(selected, leader=facts.etcd_leader, max_unavailable=size)):
        if reboots and not snapshot_done and any(n.control_plane for n in group):
            steps.append(etcd_snapshot_step(inventory, _snapshot_source(inventory, facts), request.now, batch))
            snapshot_done = True
        for node in group:
            file = (request.config_files or {}).get(node.hostname) or default_config_file(inventory, node)
            argv = tctl.apply_config(node.ip, file, mode=request.mode)  # type: ignore[arg-type]
            verb = {"auto": "reboots only if needed", "reboot": "reboots", "staged": "on next reboot"}.get(
                request.mode, "no reboot"
            )
            steps.append(
                _node_step(
                    inventory,
                    node,
                    action="apply",
                    batch=batch,
                    summary=f"apply {file.name} to {node.hostname} ({node.role}), mode {request.mode} ({verb})",
                    commands=(Command(tuple(argv), timeout=300),),
                    waits=node_waits(inventory, node, reboots=reboots, version_check=False),
                    gates_after=gates_after,
                    from_version=facts.nodes[node.hostname].version,
                    to_version=facts.nodes[node.hostname].version,
                    reboots=reboots,
                    artifact=str(file),
                )
            )
    return _plan(
        inventory,
        operation,
        steps,
        target=f"machine config, mode {request.mode}",
        options=(("mode", request.mode), ("max_unavailable", str(size))),
    )


# ----------------------------------------------------------------------------------- reboot


def plan_reboot(inventory: Inventory, facts: ClusterFacts, request: Request, *, operation: str) -> Plan:
    if len(request.nodes) != 1:
        raise PlanError("reboot-node needs exactly one --node")
    node = inventory.node(request.nodes[0])
    _facts_of(facts, node)
    steps: list[Step] = []
    if node.control_plane:
        steps.append(etcd_snapshot_step(inventory, _snapshot_source(inventory, facts), request.now, 0))
    argv = _talosctl(inventory).reboot(node.ip, wait=False)
    steps.append(
        _node_step(
            inventory,
            node,
            action="reboot",
            batch=0,
            summary=f"reboot {node.hostname} ({node.role})",
            commands=(Command(tuple(argv), timeout=300),),
            waits=node_waits(inventory, node, reboots=True, version_check=False),
            gates_after=cluster_gates(inventory),
            from_version=facts.nodes[node.hostname].version,
            to_version=facts.nodes[node.hostname].version,
            reboots=True,
        )
    )
    return _plan(
        inventory,
        operation,
        steps,
        target=f"reboot {node.hostname}",
    )


# ----------------------------------------------------------------------------------- kubernetes


def plan_upgrade_k8s(inventory: Inventory, facts: ClusterFacts, request: Request, *, operation: str) -> Plan:
    """One ``talosctl upgrade-k8s`` (it rolls the control plane and kubelets itself), then verify."""
    wanted = request.kubernetes or inventory.cluster.kubernetes_version
    if not wanted:
        raise PlanError("no Kubernetes version to upgrade to", hint="set kubernetesVersion in talconfig or pass --to")
    target = parse(wanted, what="Kubernetes version")
    current_text = facts.kubernetes_version or inventory.cluster.kubernetes_version
    if not current_text:
        raise PlanError("cannot tell the running Kubernetes version", hint="check `kubectl get nodes` answers")
    current = parse(current_text, what="Kubernetes version")
    talos_versions = {parse(_facts_of(facts, n).version or "", what="Talos version") for n in inventory.nodes}
    path: tuple[Version, ...] = ()
    for talos in sorted(talos_versions):
        path = kubernetes_path(current, target, talos)
    if not inventory.control_planes:
        raise PlanError("the inventory has no control-plane node")
    cp = inventory.control_planes[0]
    steps: list[Step] = []
    if path:
        argv = _talosctl(inventory).upgrade_k8s(cp.ip, str(target))
        steps.append(
            Step(
                id=f"cluster:upgrade-k8s@{target}",
                action="upgrade-k8s",
                summary=f"upgrade Kubernetes {current} → {target} via {cp.hostname} (control plane, then kubelets)",
                node=None,
                node_ip=cp.ip,
                batch=0,
                commands=(Command(tuple(argv), timeout=3600),),
                waits=(Wait("k8s-version", f"every kubelet reports {target}", inventory.policy.ready_timeout),),
                gates_after=cluster_gates(inventory),
                from_version=str(current),
                to_version=str(target),
            )
        )
    return _plan(
        inventory,
        operation,
        steps,
        skipped=() if path else (("cluster", f"Kubernetes already at {current}"),),
        target=f"Kubernetes {target}",
        options=(("to", str(target)),),
    )
