"""The Proxmox VM workflow: ``inv pve.vm`` actions as one-step plans the engine runs.

``hostops.plan_vm_action`` reads the VM and decides the ``qm`` command (idempotency: starting a
running VM does nothing); ``plan_vm`` turns that decision into a ``Plan`` so the action gets what
every mutating action gets: dry-run, confirmation, the cluster lock (no VM action while a rolling
upgrade runs), a journal and a report.

Stopping, shutting down, rebooting or rolling back a control plane's VM has a preflight gate,
``etcd-quorum``: the other control planes whose VMs are running must still be a majority, or etcd
loses quorum (stopping k8s-0, then k8s-1, of three). ``--allow-quorum-loss`` moves that gate to
the plan's allowed-red gates: it is still looked at and reported, but does not stop the run.

Step kinds: ``vm-power`` (start/stop/shutdown/reboot; the look before sending re-reads the VM, so a
VM already in the wanted state gets no command), ``vm-rollback``, and ``vm-snapshot`` (also used by
the rolling plans before a node changes).
"""

from __future__ import annotations

from collections.abc import Sequence

from homeops.adapters import proxmox as pve
from homeops.engine.gates import Check
from homeops.engine.journal import StepRecord
from homeops.engine.kinds import Look, StepContext, StepKind, register
from homeops.engine.plan import Command, Gate, Health, Plan, Step
from homeops.errors import CommandError, HomeopsError
from homeops.hostops import DESTRUCTIVE, VmActionPlan, command_timeout
from homeops.inventory.model import Inventory
from homeops.operations.health import ClusterWorld, register_gate
from homeops.runners import Result

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


class _Qm(StepKind):
    """A ``qm`` command on the VM's host: Proxmox's own reason when it fails, never retried blindly."""

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        try:
            pve.check(result, what)
        except CommandError as exc:
            return exc
        return None

    def run(self, ctx: StepContext, step: Step) -> None:
        for command in step.commands:
            ctx.send(command, what=" ".join(command.argv[:3]), target=step.node)

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return step.to_version


class VmPower(_Qm):
    """start / stop / shutdown / reboot: the look re-reads the VM; one already as wanted gets nothing."""

    name = "vm-power"
    lockstep = True
    look_gate = "vm-state"

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        world = _world(ctx)
        looks = {}
        for step in steps:
            node = world.inventory.node(step.node or "")
            assert node.vm is not None
            status = _status(world, node.vm.host, node.vm.vmid)
            seen = f"VM {node.vm.vmid} is {status}"
            if step.reboots:  # a reboot is never "already done"; it needs a running VM
                looks[step.id] = Look(status == "running", seen + ("" if status == "running" else ": not rebooting"))
            else:
                looks[step.id] = Look(True, seen, done=status == step.to_version, before=status)
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
    step = Step(
        id=f"{action.node}:vm-{action.action}",
        action=kind,
        summary=action.summary,
        node=action.node,
        control_plane=inventory.node(action.node).control_plane,
        commands=tuple(Command(argv, on=action.host, timeout=command_timeout(argv)) for argv in action.commands),
        from_version=action.status,
        to_version=AFTER.get(action.action),
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
