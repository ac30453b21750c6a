"""The Proxmox VM workflow: ``inv pve.vm`` actions as one-step plans the engine runs.

``plan_vm_action`` reads the VM and decides the ``qm`` command (idempotency: starting a
running VM does nothing); ``plan_vm`` turns that decision into a ``Plan`` so the action gets what
every mutating action gets: dry-run, confirmation, the cluster lock (no VM action while a rolling
upgrade runs), a journal and a report.

Stopping, shutting down, rebooting or rolling back a control plane's VM has a preflight gate,
``etcd-quorum``: the other control planes whose VMs are running must still be a majority, or etcd
loses quorum (stopping k8s-0, then k8s-1, of three). ``--allow-quorum-loss`` moves that gate to
the plan's allowed-red gates: it is still looked at and reported, but does not stop the run.

Step kinds: ``vm-power`` (start/stop/shutdown/reboot; the look before sending re-reads the VM, so a
VM already in the wanted state gets no command), ``vm-rollback``, and ``vm-snapshot`` (also used by
the rolling plans before a node changes), and ``vm-finish`` (after a recreated VM's install: the ISO
detached, the recorded boot order back, the VM under Proxmox HA again if it was).

**The VM record.** Every etcd snapshot gets ``<snapshot>.vms.json`` beside it (0600, and on the NAS
with it): ``qm config`` of each Talos VM and its HA resource, read when the snapshot was taken.
``dr.rebuild --recreate-vms`` replays the record of the snapshot it restores (``adapters.proxmox.
replay_create``/``replay_finish``) and ``dr.check`` compares it with the running VMs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from homeops.adapters import proxmox as pve
from homeops.backupstore import nas_fetch_backup, nas_host, nas_list_backups
from homeops.engine.gates import Check
from homeops.engine.journal import StepRecord
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Health, Plan, Step, StepParams, Wait
from homeops.engine.retry import poll
from homeops.engine.waits import Observation
from homeops.errors import CommandError, ConfigError, GateFailed, HomeopsError, PlanError
from homeops.inventory.model import Inventory, Node
from homeops.operations.health import ClusterWorld, register_gate
from homeops.operations.hosts import STATUS_TIMEOUT
from homeops.operations.snapshot import vm_snapshot_name
from homeops.privatefs import make_private, private_dir
from homeops.runners import Result, Runner, render

if TYPE_CHECKING:
    from homeops.operations.runbook import RecoveryStep
    from homeops.runtime import Runtime

QUORUM_GATE = "etcd-quorum"
#: What each action leaves the VM as (a reboot comes back running).
AFTER = {"start": "running", "stop": "stopped", "shutdown": "stopped", "reboot": "running", "rollback": None}


def _world(ctx: StepContext) -> ClusterWorld:
    world = ctx.world
    assert isinstance(world, ClusterWorld), f"VM steps need a ClusterWorld, got {type(world).__name__}"
    return world


def _status(world: ClusterWorld, host: str, vmid: int) -> str:
    if world.host is None:
        raise HomeopsError("this run has no way to reach the Proxmox hosts")
    result = world.host(host).run(pve.qm_status(vmid), timeout=30)
    return pve.parse_qm_status(pve.check(result, f"qm status {vmid}").stdout)


VmAction = Literal["start", "stop", "shutdown", "reboot", "snapshot", "rollback"]
VM_ACTIONS: tuple[VmAction, ...] = ("start", "stop", "shutdown", "reboot", "snapshot", "rollback")
DESTRUCTIVE: frozenset[str] = frozenset({"stop", "shutdown", "reboot", "rollback"})

# -- VM actions: read the VM, decide the qm commands ---------------------------------------------


@dataclass(frozen=True)
class VmActionPlan:
    node: str
    host: str
    vmid: int
    action: VmAction
    status: str  # the VM's status when planned
    summary: str
    commands: tuple[tuple[str, ...], ...] = ()
    snapshot: str | None = None

    @property
    def noop(self) -> bool:
        return not self.commands

    @property
    def destructive(self) -> bool:
        return self.action in DESTRUCTIVE and not self.noop

    def render(self) -> list[str]:
        return [f"[{self.host}] {render(argv)}" for argv in self.commands]


def plan_vm_action(
    runtime: Runtime,
    node_name: str,
    action: str,
    *,
    snapshot: str | None = None,
    timeout: int | None = None,
    force_stop: bool = False,
    description: str | None = None,
) -> VmActionPlan:
    """Read the VM's state and decide the commands; nothing is changed."""
    if action not in VM_ACTIONS:
        raise PlanError(f"unknown VM action '{action}'", hint=f"choose one of: {', '.join(VM_ACTIONS)}")
    node = runtime.inventory.node(node_name)
    if node.vm is None:
        raise ConfigError(
            f"node {node.hostname} has no Proxmox VM mapping",
            file=str(runtime.inventory.root / "homeops.yaml"),
            field=f"nodes.{node.hostname}.vm",
            hint="add `vm: {host: <pve host>, vmid: <id>}` for it",
        )
    host, vmid = node.vm.host, node.vm.vmid
    runtime.inventory.host(host)  # a clear error when the mapping names an unknown host
    runner = runtime.host(host)
    status_result = runner.run(pve.qm_status(vmid), timeout=STATUS_TIMEOUT)
    if not status_result.ok:
        pve.check(status_result, f"qm status {vmid}")
    status = pve.parse_qm_status(status_result.stdout)
    typed = action  # narrowed to VmAction by the VM_ACTIONS check above
    if typed in pve.POWER_ACTIONS:
        decision = pve.power_decision(typed, vmid, status, timeout=timeout, force_stop=force_stop)
        commands = (decision.argv,) if decision.run else ()
        summary = f"{node.hostname}: {decision.reason}" + ("" if decision.run else " — nothing to do")
        resource = _ha_resource(runner, vmid) if decision.run and typed != "reboot" else None
        if resource is not None:
            # Under HA, qm start/stop/shutdown only ask the HA stack (qemu-server API2/Qemu.pm 3631-3642,
            # 3747-3768); the request is explicit here, and the step waits until the VM got there.
            wanted = "started" if typed == "start" else "stopped"
            commands = (tuple(pve.ha_set_state(vmid, wanted)),)
            summary = f"{node.hostname}: VM {vmid} is {status} and HA-managed: request {wanted} from the HA stack"
        return VmActionPlan(node.hostname, host, vmid, typed, status, summary, commands)
    if typed == "snapshot":
        name = snapshot or vm_snapshot_name(runtime.clock.now())
        argv = pve.qm_snapshot(vmid, name, description=description or f"homeops snapshot of {node.hostname}")
        summary = f"{node.hostname}: snapshot VM {vmid} on {host} as '{name}' (VM stays {status})"
        return VmActionPlan(node.hostname, host, vmid, typed, status, summary, (tuple(argv),), name)
    if not snapshot:
        raise PlanError(
            "rollback needs --snapshot NAME", hint=f"list them with: inv pve.vm --node {node.hostname} snapshots"
        )
    pve.validate_snapshot_name(snapshot)
    listing = pve.check(runner.run(pve.qm_listsnapshot(vmid), timeout=STATUS_TIMEOUT), f"qm listsnapshot {vmid}")
    names = [s.name for s in pve.parse_listsnapshot(listing.stdout)]
    if snapshot not in names:
        raise PlanError(
            f"VM {vmid} ({node.hostname}) on {host} has no snapshot '{snapshot}'",
            hint=f"its snapshots: {', '.join(names) or 'none'}",
        )
    argv = pve.qm_rollback(vmid, snapshot, start=status == "running")
    summary = f"{node.hostname}: roll VM {vmid} on {host} back to '{snapshot}' — everything since is LOST" + (
        " (restarted after)" if status == "running" else ""
    )
    return VmActionPlan(node.hostname, host, vmid, typed, status, summary, (tuple(argv),), snapshot)


def _ha_resource(runner: Runner, vmid: int) -> pve.HaResource | None:
    """The VM's HA resource when HA manages it (a cluster without HA, or one that cannot say: None)."""
    result = runner.run(pve.ha_resources(), timeout=STATUS_TIMEOUT)
    if not result.ok:
        return None
    try:
        resource = pve.parse_ha_resources(result.stdout).get(pve.ha_sid(vmid))
    except HomeopsError:
        return None
    return resource if resource is not None and resource.managed else None


def list_snapshots(runtime: Runtime, node_name: str) -> tuple[pve.Snapshot, ...]:
    node = runtime.inventory.node(node_name)
    if node.vm is None:
        raise ConfigError(f"node {node.hostname} has no Proxmox VM mapping", field=f"nodes.{node.hostname}.vm")
    result = runtime.host(node.vm.host).run(pve.qm_listsnapshot(node.vm.vmid), timeout=STATUS_TIMEOUT)
    return pve.parse_listsnapshot(pve.check(result, f"qm listsnapshot {node.vm.vmid}").stdout)


def command_timeout(argv: Sequence[str]) -> float:
    """How long a ``qm`` command may run: its own --timeout plus a margin, else 300 s.

    A shutdown may legitimately take its whole --timeout; the SSH command gets a margin on top.
    ``homeops.operations.vm`` runs the commands (through the engine).
    """
    if "--timeout" in argv:
        return float(argv[argv.index("--timeout") + 1]) + 60.0
    return 300.0


# ----------------------------------------------------------------------------------- the quorum gate


def quorum_gate(inventory: Inventory, plan: VmActionPlan) -> Gate | None:
    """The etcd-quorum gate of an action that takes a control plane's VM down (None for the others)."""
    node = inventory.node(plan.node)
    if plan.action not in DESTRUCTIVE or not node.control_plane:
        return None
    cps = len(inventory.control_planes)
    return Gate(
        QUORUM_GATE,
        QUORUM_GATE,
        f"with {node.hostname}'s VM down, the running control planes are still a majority of {cps} (etcd quorum)",
        node.hostname,
        30.0,
    )


def look_quorum(gate: Gate, world: ClusterWorld) -> Check:
    """Count the other control planes whose VM runs (a node without a VM mapping counts as up)."""
    cps = world.inventory.control_planes
    need = len(cps) // 2 + 1
    up: list[str] = []
    down: list[str] = []
    for cp in cps:
        if cp.hostname == gate.target:
            continue
        running = cp.vm is None or _status(world, cp.vm.host, cp.vm.vmid) == "running"
        (up if running else down).append(cp.hostname)
    seen = f"without {gate.target}: {len(up)} of {len(cps)} control planes running"
    seen += f" ({', '.join(up) or 'none'}); etcd quorum needs {need}"
    if down:
        seen += f"; VM not running: {', '.join(down)}"
    if len(up) >= need:
        return Check(True, seen)
    return Check(False, seen + " — etcd would lose quorum (pass --allow-quorum-loss to do it anyway)")


register_gate(QUORUM_GATE, look_quorum)


# ----------------------------------------------------------------------------------- step kinds


@dataclass(frozen=True)
class VmParams(StepParams):
    """The VM's status when the action was planned, and the one it is asked to reach (None: unchanged)."""

    tag = "vm-state"
    replaces = ("to_version", "from_version")  # its artifact is the snapshot it takes
    status: str
    wanted: str | None

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> VmParams | None:
        if step["from_version"] is None and step["to_version"] is None:
            return None  # a snapshot an upgrade plan takes first: it never had any
        return cls(step["from_version"] or "", step["to_version"])

    def before(self) -> str | None:
        return self.status

    @staticmethod
    def of(step: Step) -> VmParams | None:
        """A ``vm-*`` step's parameters; None for the snapshot a rolling upgrade takes first (it has none)."""
        return step.params if isinstance(step.params, VmParams) else None


class _Qm(StepKind):
    """A ``qm`` command on the VM's host: Proxmox's own reason when it fails, never retried blindly."""

    params = VmParams

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        return pve.refusal(result, what)

    def run(self, ctx: StepContext, step: Step) -> None:
        for command in step.commands:
            ctx.send(command, what=" ".join(command.argv[:3]), target=step.node)

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            params = VmParams.of(step)
            looks[step.id] = Look(True, before=params.status if params else None)
        return looks

    def reached(self, step: Step, record: StepRecord) -> str | None:
        params = VmParams.of(step)
        return params.wanted if params else None


class VmPower(_Qm):
    """start / stop / shutdown / reboot: the look re-reads the VM; one already as wanted gets nothing."""

    name = "vm-power"
    lockstep = True
    look_gate = "vm-state"
    wait_order = ("vm-status",)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        "vm-status": WaitTerms(
            "`qm status` says the VM is as asked",
            hint="an HA-managed VM: look at `ha-manager status` on its host (the resource may be in error state)",
        )
    }

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)

        def look() -> Observation[None]:
            behind = []
            for step in steps:
                node = world.inventory.node(step.node or "")
                assert node.vm is not None
                status = _status(world, node.vm.host, node.vm.vmid)
                if status != step.param(VmParams).wanted:
                    behind.append(f"VM {node.vm.vmid} is {status}")
            return Observation.waiting("; ".join(behind)) if behind else Observation.ok("as asked")

        return look

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        world = _world(ctx)
        looks = {}
        for step in steps:
            node = world.inventory.node(step.node or "")
            assert node.vm is not None
            status = _status(world, node.vm.host, node.vm.vmid)
            seen = f"VM {node.vm.vmid} is {status}"
            if step.reboots:  # a reboot is never "already done"; it needs a running VM
                ready = status == "running"
                looks[step.id] = Look(ready, seen + ("" if ready else ": not rebooting"), before=status)
            else:
                looks[step.id] = Look(True, seen, done=status == step.param(VmParams).wanted, before=status)
        return looks


class VmRollback(_Qm):
    name = "vm-rollback"


class VmSnapshot(_Qm):
    """A Proxmox snapshot of a node's VM (one of that name that already exists is kept: resume-safe)."""

    name = "vm-snapshot"

    def run(self, ctx: StepContext, step: Step) -> None:
        command = step.commands[0]
        result = ctx.runner(command).run(list(command.argv), timeout=command.timeout)
        if result.failed and "already exists" not in (result.stderr + result.stdout):
            result.check(
                f"Proxmox snapshot of {step.node}", hint="fix the VM's snapshot storage or set vmSnapshot: false"
            )
        ctx.journal.add_artifact(f"vm_snapshot {step.node}", step.artifact or "")

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return None

    def hints(self, ctx: StepContext, steps: Sequence[Step]) -> list[str]:
        world = _world(ctx)
        artifacts = ctx.journal.artifacts
        lines = []
        for hostname in dict.fromkeys(s.node for s in steps if s.reboots and s.node):
            name = artifacts.get(f"vm_snapshot {hostname}")
            node = world.inventory.node(hostname)
            if name and node.vm is not None:
                lines.append(f"roll back {hostname}: on {node.vm.host} run `qm rollback {node.vm.vmid} {name}`")
        return lines


for _kind in (VmPower(), VmRollback(), VmSnapshot()):
    register(_kind)


# ----------------------------------------------------------------------------------- the plan


def plan_vm(inventory: Inventory, action: VmActionPlan, *, allow_quorum_loss: bool = False) -> Plan:
    """The one-step plan of a decided VM action."""
    kind = {"snapshot": "vm-snapshot", "rollback": "vm-rollback"}.get(action.action, "vm-power")
    after = AFTER.get(action.action)
    # HA-managed VMs only get a request (the HA stack acts later); a stop/start is done when the VM got there.
    waits = (
        (
            Wait(
                "vm-status",
                f"VM {action.vmid} {after}",
                max(HA_STOP_TIMEOUT, *(command_timeout(a) for a in action.commands)),
            ),
        )
        if kind == "vm-power" and after and action.action != "reboot" and action.commands
        else ()
    )
    step = Step(
        id=f"{action.node}:vm-{action.action}",
        action=kind,
        summary=action.summary,
        node=action.node,
        control_plane=inventory.node(action.node).control_plane,
        commands=tuple(Command(argv, on=action.host, timeout=command_timeout(argv)) for argv in action.commands),
        params=VmParams(action.status, after),
        waits=waits,
        reboots=action.action == "reboot",
        vm_host=action.host,
        artifact=action.snapshot,
    )
    gate = quorum_gate(inventory, action)
    gates = (gate,) if gate else ()
    return Plan(
        operation=f"pve-vm-{action.action}",
        cluster=inventory.cluster.name,
        steps=(step,),
        preflight=() if allow_quorum_loss else gates,
        poll_interval=inventory.policy.poll_interval,
        target=f"VM {action.vmid} ({action.node}) on {action.host}: {action.action}",
        options=(("action", action.action),) + ((("allow_quorum_loss", "yes"),) if allow_quorum_loss else ()),
        health=Health(allowed_red=gates if allow_quorum_loss else ()),
    )


def render_vm_plan(plan: Plan, banner: str) -> str:
    """A one-VM plan reads as the action and its command; an overridden gate is said out loud."""
    prefix = f"[{banner}] " if banner else ""
    lines = []
    for step in plan.steps:
        lines.append(prefix + step.summary)
        lines.extend(f"  {command.render()}" for command in step.commands)
    lines.extend(f"  ! --allow-quorum-loss: {g.label} is only reported: {g.describe}" for g in plan.health.allowed_red)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- the VM record

RECORD_SUFFIX = ".vms.json"
RECORD_VERSION = 1


def record_path(snapshot: Path) -> Path:
    """``etcd-home-<stamp>.db`` → ``etcd-home-<stamp>.db.vms.json``: the record goes wherever the snapshot goes."""
    return snapshot.with_name(snapshot.name + RECORD_SUFFIX)


@dataclass(frozen=True)
class VmRecords:
    """Every Talos VM as Proxmox showed it at ``taken_at``; ``errors``: the VMs that could not be read."""

    taken_at: float
    records: tuple[pve.VmRecord, ...] = ()
    errors: tuple[str, ...] = ()

    def of(self, hostname: str) -> pve.VmRecord | None:
        return next((r for r in self.records if r.node == hostname), None)

    def to_json(self) -> str:
        data = {
            "version": RECORD_VERSION,
            "takenAt": self.taken_at,
            "vms": [r.to_dict() for r in self.records],
            "errors": list(self.errors),
        }
        return json.dumps(data, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, text: str, *, where: str = "VM record") -> VmRecords:
        try:
            data = json.loads(text)
            records = tuple(pve.VmRecord.from_dict(entry) for entry in data["vms"])
            return cls(float(data.get("takenAt") or 0.0), records, tuple(str(e) for e in data.get("errors") or ()))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PlanError(f"{where} is not a homeops VM record: {exc}", hint="take a new etcd snapshot") from None


def read_vm_records(inventory: Inventory, host: Callable[[str], Runner], now: float) -> VmRecords:
    """``qm config`` of every Talos VM (on its inventory host, else wherever it is now) and the HA resources."""
    vm_nodes = [n for n in inventory.nodes if n.vm is not None]
    if not vm_nodes:
        return VmRecords(now)
    errors: list[str] = []
    hosts = [h.name for h in inventory.hosts_of_kind("proxmox")]
    for n in vm_nodes:
        if n.vm is not None and n.vm.host not in hosts:
            hosts.append(n.vm.host)
    ha: dict[str, pve.HaResource] | None = None
    last = "no Proxmox host answered"
    for name in hosts:
        try:
            result = host(name).run(pve.ha_resources(), timeout=30)
            ha = pve.parse_ha_resources(pve.check(result, "pvesh get /cluster/ha/resources").stdout, target=name)
            break
        except HomeopsError as exc:
            last = " ".join(str(exc).split())
    if ha is None:
        errors.append(f"HA resources not read: {last}")
    records = []
    for node in vm_nodes:
        assert node.vm is not None
        vmid = node.vm.vmid
        found = None
        why = ""
        for name in [node.vm.host, *(h for h in hosts if h != node.vm.host)]:
            try:
                result = host(name).run(pve.qm_config(vmid), timeout=30)
            except HomeopsError as exc:
                why = why or " ".join(str(exc).split())
                continue
            if result.ok:
                found = (name, pve.parse_qm_config(result.stdout))
                break
            why = why or (result.last_error_line() or f"exit {result.exit_code}")
        if found is None:
            errors.append(f"{node.hostname} (VM {vmid} on {node.vm.host}): qm config: {why}")
            continue
        resource = (ha or {}).get(pve.ha_sid(vmid))
        config = tuple(sorted(found[1].items()))
        records.append(pve.VmRecord(node.hostname, found[0], vmid, config, resource))
    return VmRecords(now, tuple(records), tuple(errors))


def write_vm_records(path: Path, records: VmRecords) -> Path:
    """Atomically, mode 0600 from the start (a VM's config can hold cloud-init passwords and SSH keys)."""
    partial = path.with_name(path.name + ".part")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(records.to_json())
    make_private(partial)
    partial.replace(path)
    return path


def record_beside(
    inventory: Inventory, host: Callable[[str], Runner] | None, snapshot: Path, now: float
) -> VmRecords | None:
    """Read and write the record of ``snapshot`` (None: no Talos VM in the inventory, or no way to the hosts)."""
    if host is None or not any(n.vm is not None for n in inventory.nodes):
        return None
    records = read_vm_records(inventory, host, now)
    write_vm_records(record_path(snapshot), records)
    return records


def load_vm_records(snapshot: Path) -> VmRecords | None:
    """The record taken with ``snapshot``; None when there is none (snapshots older than records)."""
    path = record_path(snapshot)
    if not path.is_file():
        return None
    return VmRecords.from_json(path.read_text(encoding="utf-8"), where=str(path))


class VmFinish(_Qm):
    """After the install of a recreated VM: ``qm set`` back to the recorded boot order with the ISO detached,
    then the VM under HA again. Both are idempotent; an HA resource that is already defined (the resource of
    a VM that vanished without ``qm destroy --purge``) gets its recorded state and options with ``set``."""

    name = "vm-finish"

    def run(self, ctx: StepContext, step: Step) -> None:
        for command in step.commands:
            result = ctx.runner(command).run(list(command.argv), timeout=command.timeout)
            if result.failed and command.argv[:2] == ("ha-manager", "add") and "already defined" in result.stderr:
                again = ("ha-manager", "set", *command.argv[2:])
                result = ctx.runner(command).run(list(again), timeout=command.timeout)
            pve.check(result, " ".join(command.argv[:3]))

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return None


register(VmFinish())


def vm_records_for(inventory: Inventory, snapshot: Path | None) -> VmRecords | None:
    """The record a rebuild replays: the one taken with its snapshot; else (a fresh cluster, a snapshot older
    than VM records, the runbook's ``$SNAPSHOT``) the newest one: the VMs as last seen beat homeops.yaml's
    vmid, MAC and disk alone."""
    found = load_vm_records(snapshot) if snapshot is not None else None
    if found is not None:
        return found
    folder = inventory.state_dir / "etcd-snapshots"
    candidates = sorted(folder.glob("*" + RECORD_SUFFIX)) if folder.is_dir() else []
    if not candidates:
        return None
    newest = candidates[-1]  # names carry the UTC stamp: sorted by name is sorted by time
    return VmRecords.from_json(newest.read_text(encoding="utf-8"), where=str(newest))


def fetch_newest_record(runtime: Runtime) -> Path | None:
    """The newest VM record from the NAS when there is none here (the machine that held the local copies was
    lost too, as in the all-VMs-lost drill): a rebuild then still replays the VMs as they were."""
    folder = runtime.inventory.state_dir / "etcd-snapshots"
    if (folder.is_dir() and any(folder.glob("*" + RECORD_SUFFIX))) or nas_host(runtime) is None:
        return None
    try:
        names = sorted(f.name for f in nas_list_backups(runtime) if f.name.endswith(RECORD_SUFFIX))
        if not names:
            return None
        private_dir(folder, root=runtime.inventory.state_dir)
        path = nas_fetch_backup(runtime, names[-1], folder)
    except (OSError, HomeopsError):
        return None  # the rebuild says "no VM record" in its plan; dr.check says why the NAS did not answer
    make_private(path)
    return path


def finish_vm_step(node: Node, rs: RecoveryStep, batch: int) -> Step:
    return rs.plan_step(node, action="vm-finish", batch=batch, timeout=120, vm_host=node.vm.host if node.vm else None)


#: How long the HA stack may take to stop a VM after ``ha-manager set --state stopped`` (its LRM shuts the
#: guest down before it stops it).
HA_STOP_TIMEOUT = 300.0


def stop_vm_for_recreate(ctx: StepContext, step: Step, command: Command, vmid: int) -> None:
    """Stop a VM that is about to be destroyed. ``qm stop`` is refused for an HA-managed VM (qemu-server
    ``API2/Qemu.pm:3751-3756``: "Not applicable for HA resources"), which is then stopped through the HA
    stack; an HA stop is a request, so this waits until ``qm status`` says stopped."""
    what = " ".join(command.argv[:3])
    via_ha = command.argv[0] == "ha-manager"
    try:
        ctx.send(command, what=what, target=step.node)
    except CommandError as exc:
        if via_ha or "Not applicable for HA resources" not in exc.stderr:
            raise
        ctx.progress.note(f"VM {vmid} is HA-managed (not as recorded): stopping it with ha-manager")
        ha = Command(tuple(pve.ha_set_state(vmid, "stopped")), on=command.on, timeout=command.timeout)
        ctx.send(ha, what=f"ha-manager set vm:{vmid}", target=step.node)
        via_ha = True
    if not via_ha:
        return
    inventory = getattr(ctx.world, "inventory", None)
    interval = inventory.policy.poll_interval if isinstance(inventory, Inventory) else 5.0

    def status() -> str:
        result = ctx.runner(command).run(pve.qm_status(vmid), timeout=30)
        return pve.parse_qm_status(result.stdout) if result.ok else "gone"

    deadline = ctx.clock.monotonic() + HA_STOP_TIMEOUT
    last = poll(status, clock=ctx.clock, interval=interval, again=_running, deadline=deadline)
    if _running(last):
        raise GateFailed(
            "vm-stopped",
            f"VM {vmid} still {last} {HA_STOP_TIMEOUT:.0f}s after the HA stop request",
            target=step.node,
            hint=f"look at `ha-manager status` on {command.on}; the resource may be in error state",
        )


def _running(status: str) -> bool:
    return status not in ("stopped", "gone")
