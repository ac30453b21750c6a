"""``dr.rebuild``: from dead VMs (or a corrupt etcd) to a running cluster with its data.

What is here, and what each part of the rebuild is:

1. **Preflight** (``choose_snapshot``, ``preflight``): refuse before touching anything. The chosen
   snapshot (``--from-snapshot PATH|latest|none``) is fetched from the NAS when it is not local and
   its sha256 must match its sidecar; the age key decrypts the talsecret; talhelper renders the
   configs; with ``--recreate-vms`` every VM's vmid, disk and MAC are in ``homeops.yaml``; the
   Proxmox cluster is quorate and every host the plan needs answers (plan preflight gates).
   Cluster-side looks (the API, VolSync) are not required: a rebuild runs when they are red.
2. **Nodes** (step kinds ``dr-reset`` and ``dr-recreate-vm``): each node back to Talos maintenance
   mode — ``talosctl reset`` wiping STATE and EPHEMERAL, or with ``--recreate-vms`` ``qm
   stop/destroy/create/start`` on its Proxmox host with its vmid, disk and MAC. The look before
   sending skips a node already in maintenance mode, and ``qm stop/destroy`` of a VM that no longer
   exists; the wait ``maintenance`` polls ``get machinestatus --insecure``.
3. **Talos** and 4. **Apps** are the bootstrap workflow's stages (issue 12); ``plan_rebuild`` takes
   them as steps from its caller (``stages``) so the same plan, journal and report carry the chain.
5. **Data** (step kind ``dr-data``): wait for the VolSync restores (ReplicationDestinations with a
   ``latestImage``, their PVCs Bound) and the CloudNativePG clusters restoring on deploy, each up to
   its deadline; what did not restore is *reported*, never a stop: the rest of the cluster is up.

The node and data steps come from ``runbook.recovery_steps``, so ``dr.runbook`` prints exactly the
commands this plan runs.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Protocol, TextIO

from homeops.adapters import cnpg
from homeops.adapters import kubectl as k
from homeops.adapters import talosctl as t
from homeops.adapters import volsync as vs
from homeops.engine.executor import Outcome
from homeops.engine.gates import Check
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Health, Plan, Step, Wait
from homeops.engine.waits import Observation
from homeops.errors import CommandError, HomeopsError, PlanError
from homeops.inventory.model import Inventory, Node
from homeops.operations import drcheck, snapshotsum
from homeops.operations.bootstrap import API_GATE, BootstrapWorld
from homeops.operations.health import ClusterWorld, cluster_gates
from homeops.operations.runbook import RecoveryStep, recovery_steps
from homeops.runners import Result, Runner
from homeops.runtime import Runtime

MAINTENANCE = "maintenance"
DATA_DEADLINE = "data-deadline"


# ----------------------------------------------------------------------------------- the snapshot


@dataclass(frozen=True)
class ChosenSnapshot:
    """The etcd snapshot a rebuild restores (``path is None``: a fresh cluster, by choice)."""

    path: Path | None
    source: str  # where it came from: "local", "nas:/mnt/...", "none"
    taken_at: float | None = None
    verified: str = ""

    @property
    def name(self) -> str | None:
        return self.path.name if self.path else None


def choose_snapshot(runtime: Runtime, choice: str = "latest") -> ChosenSnapshot:
    """Resolve ``--from-snapshot``; fetch it (and its sidecar) from the NAS when needed; verify its hash.

    Raises ``PlanError`` when it is missing, unreadable or does not match its sidecar: nothing was changed.
    """
    inventory = runtime.inventory
    if choice == "none":
        return ChosenSnapshot(None, "none")
    local_dir = drcheck.snapshot_dir(inventory)
    if choice == "latest":
        local = {f.name: f for f in drcheck.local_snapshots(inventory)}
        remote: dict[str, drcheck.SnapshotFile] = {}
        if drcheck.nas_host_name(runtime) is not None:
            try:
                remote = {f.name: f for f in drcheck.nas_snapshots(runtime)[0]}
            except HomeopsError as exc:
                if not local:
                    raise PlanError(f"no local etcd snapshot and the NAS cannot be read: {exc}") from None
        best = drcheck.newest([*local.values(), *remote.values()])
        if best is None:
            raise PlanError(
                f"no etcd snapshot in {local_dir} or on the NAS",
                hint="pass --from-snapshot PATH, or --from-snapshot none for a fresh cluster",
            )
        name = best.name
    else:
        given = Path(choice).expanduser()
        if given.is_file():
            return _verified(given, "local")
        if "/" in choice:
            raise PlanError(f"--from-snapshot {choice}: no such file")
        name = choice
    path = local_dir / name
    if path.is_file():
        return _verified(path, "local")
    return _verified(_fetch(runtime, name, local_dir), f"{drcheck.nas_host_name(runtime)}:{_nas_dir(inventory)}")


def _nas_dir(inventory: Inventory) -> str:
    return inventory.policy.nas_backup_dir.rstrip("/")


def _fetch(runtime: Runtime, name: str, local_dir: Path) -> Path:
    from homeops.hostops import nas_fetch_backup

    if drcheck.nas_host_name(runtime) is None:
        raise PlanError(f"etcd snapshot {name} is not in {local_dir} and there is no NAS to fetch it from")
    local_dir.mkdir(parents=True, exist_ok=True)
    # Download beside, then move into place: a half-downloaded snapshot must never look like one.
    with tempfile.TemporaryDirectory(dir=local_dir) as tmp:
        try:
            db = nas_fetch_backup(runtime, name, tmp)
            side = nas_fetch_backup(runtime, name + snapshotsum.SIDECAR, tmp)
        except (OSError, HomeopsError) as exc:
            raise PlanError(f"cannot fetch {name} from the NAS: {' '.join(str(exc).split())}") from None
        side.replace(local_dir / side.name)
        return db.replace(local_dir / db.name)


def _verified(path: Path, source: str) -> ChosenSnapshot:
    check = snapshotsum.verify(path)
    if check.ok is not True:
        hint = (
            f"if you trust it, write its checksum: sha256sum {path.name} > {path.name}{snapshotsum.SIDECAR}"
            if check.ok is None
            else "pick another snapshot with --from-snapshot"
        )
        raise PlanError(f"etcd snapshot refused: {check.detail}", hint=hint)
    return ChosenSnapshot(path, source, snapshotsum.taken_at(path.name), check.detail)


# ----------------------------------------------------------------------------------- preflight


@dataclass(frozen=True)
class RebuildRequest:
    now: float
    recreate_vms: bool = False
    nodes: tuple[str, ...] = ()  # hostnames; empty: every node
    maintenance_timeout: float = 900.0
    data_timeout: float = 3600.0


def preflight(runtime: Runtime, request: RebuildRequest) -> list[drcheck.Finding]:
    """The looks a rebuild needs green (the plan's gates add the Proxmox hosts); raises when one is red."""
    findings = [*drcheck.age_key_findings(runtime.inventory), *drcheck.genconfig_findings(runtime)]
    if request.recreate_vms:
        wanted = _nodes(runtime.inventory, request)
        findings += [f for f in drcheck.vm_spec_findings(runtime) if f.subject.split(" ")[0] in wanted]
    failed = [f for f in findings if f.status == "fail"]
    if failed:
        causes = "; ".join(f"{f.check} {f.subject}: {f.detail}" for f in failed)
        raise PlanError(f"dr.rebuild refused before touching anything: {causes}", hint="inv dr.check shows all of it")
    return findings


def _nodes(inventory: Inventory, request: RebuildRequest) -> set[str]:
    if not request.nodes:
        return {n.hostname for n in inventory.nodes}
    return {inventory.node(n).hostname for n in request.nodes}


# ----------------------------------------------------------------------------------- the plan


def plan_rebuild(
    inventory: Inventory,
    snapshot: ChosenSnapshot,
    request: RebuildRequest,
    *,
    stages: Sequence[Step] = (),
) -> Plan:
    """Nodes → ``stages`` (Talos and apps, from the bootstrap workflow) → data, with DR's health policy."""
    wanted = _nodes(inventory, request)
    recovery = recovery_steps(inventory, snapshot=snapshot.name, recreate_vms=request.recreate_vms)
    steps: list[Step] = []
    batch = 0
    for rs in recovery:
        if rs.stage != "nodes" or rs.node not in wanted:
            continue
        node = inventory.node(rs.node or "")
        steps.append(_node_step(node, rs, batch, request.maintenance_timeout))
    base = batch + 1
    for stage in stages:  # keep the stages' own grouping (nodes configured together stay together)
        steps.append(_rebatch(stage, base + stage.batch))
        batch = max(batch, base + stage.batch)
    for rs in recovery:
        if rs.stage == "data":
            batch += 1
            steps.append(
                Step(
                    id=rs.id,
                    action="dr-data",
                    summary=rs.title,
                    batch=batch,
                    waits=(Wait(DATA_DEADLINE, f"{rs.check} (reported, never a stop)", request.data_timeout),),
                    artifact=rs.id.split(":", 1)[1],
                )
            )
    hosts = sorted({s.vm_host for s in steps if s.vm_host})
    needed = tuple(
        Gate("proxmox", "proxmox", f"{h} answers and the Proxmox cluster is quorate", h, 60.0) for h in hosts
    )
    what = f"etcd from {snapshot.name} ({snapshot.source})" if snapshot.path else "a fresh etcd (no snapshot)"
    return Plan(
        operation="dr-rebuild",
        cluster=inventory.cluster.name,
        steps=tuple(steps),
        preflight=needed,
        poll_interval=inventory.policy.poll_interval,
        target=f"{len(wanted)} node(s) rebuilt, {what}",
        options=(
            ("from_snapshot", str(snapshot.path) if snapshot.path else "none"),
            ("recreate_vms", "yes" if request.recreate_vms else "no"),
        ),
        # The cluster is expected to be down: its gates are looked at and reported, never required.
        health=Health(allowed_red=cluster_gates(inventory)),
        warnings=(f"snapshot: {snapshot.verified}",) if snapshot.verified else (),
    )


def _rebatch(step: Step, batch: int) -> Step:
    return replace(step, batch=batch)


def _node_step(node: Node, rs: RecoveryStep, batch: int, timeout: float) -> Step:
    recreate = rs.id.endswith(":recreate-vm")
    return Step(
        id=rs.id,
        action="dr-recreate-vm" if recreate else "dr-reset",
        summary=rs.title,
        node=node.hostname,
        node_ip=node.ip,
        control_plane=node.control_plane,
        batch=batch,
        commands=tuple(Command(a.argv, on=a.on or "local", timeout=300) for a in rs.actions),
        waits=(Wait(MAINTENANCE, f"{node.hostname} ({node.ip}) in Talos maintenance mode", timeout),),
        vm_host=node.vm.host if recreate and node.vm else None,
        to_version=MAINTENANCE,
    )


# ----------------------------------------------------------------------------------- step kinds


class _HasInventory(Protocol):
    @property
    def inventory(self) -> Inventory: ...


def _world(ctx: StepContext) -> _HasInventory:
    world: _HasInventory = ctx.world
    return world


def _in_maintenance(ctx: StepContext, node: Node) -> tuple[bool, str]:
    """``talosctl get machinestatus --insecure``: answers only in maintenance mode (a configured node refuses)."""
    talos = t.Talosctl(_world(ctx).inventory.cluster.talosconfig)
    argv = talos.machine_status(node.ip, insecure=True)
    result = ctx.runner(Command(tuple(argv))).run(argv, timeout=30)
    if result.failed:
        text = result.last_error_line() or f"exit {result.exit_code}"
        if "certificate required" in text:
            return False, "configured (answers only with a client certificate)"
        return False, "unreachable: " + text
    try:
        statuses = t.parse_machine_status(result.stdout)
    except HomeopsError as exc:
        return False, " ".join(str(exc).split())
    stage = next(iter(statuses.values())).stage if statuses else ""
    return stage == MAINTENANCE, f"stage {stage or 'unknown'}"


class _ToMaintenance(StepKind):
    lockstep = True
    wait_order = (MAINTENANCE,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        MAINTENANCE: WaitTerms(
            "the node answers `get machinestatus --insecure` with stage maintenance",
            hint="look at the VM's console on its Proxmox host; the ISO must boot (boot order scsi0;ide2)",
        )
    }

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        looks = {}
        for step in steps:
            node = _world(ctx).inventory.node(step.node or "")
            there, seen = _in_maintenance(ctx, node)
            looks[step.id] = Look(True, seen, done=there, before=seen.split(":")[0].split(" (")[0])
        return looks

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        inventory = _world(ctx).inventory

        def look() -> Observation[None]:
            missing = []
            for step in steps:
                there, seen = _in_maintenance(ctx, inventory.node(step.node or ""))
                if not there:
                    missing.append(f"{step.node}: {seen}")
            return Observation.waiting("; ".join(missing)) if missing else Observation.ok("in maintenance mode")

        return look

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        return _in_maintenance(ctx, _world(ctx).inventory.node(step.node or ""))[0]


class DrReset(_ToMaintenance):
    name = "dr-reset"


class DrRecreateVm(_ToMaintenance):
    """qm stop/destroy/create/start. Each command that took effect is journaled, so a run killed half-way
    resumes after it: the VM it already recreated is never destroyed again. A VM that is already gone
    skips stop and destroy."""

    name = "dr-recreate-vm"

    def run(self, ctx: StepContext, step: Step) -> None:
        from homeops.adapters import proxmox as pve

        node = _world(ctx).inventory.node(step.node or "")
        assert node.vm is not None
        if "found_vm" not in ctx.journal.step(step.id).data:
            ctx.journal.note(step.id, found_vm=self._exists(ctx, step.commands[0], node.vm.vmid))
        for command in step.commands:
            done = ctx.journal.step(step.id).data
            word = command.argv[1]  # stop, destroy, create, set, start: each once in the step
            if done.get(f"sent {word}"):
                continue
            exists = self._exists(ctx, command, node.vm.vmid)
            ours = done.get("sent create") or not done.get("found_vm")  # the VM there now is the new one
            if word in ("stop", "destroy") and (ours or not exists):
                continue
            if word == "create" and exists and (done.get("sent destroy") or not done.get("found_vm")):
                ctx.journal.note(step.id, **{"sent create": True})  # ours: created before a kill
                continue
            result = ctx.send(command, what=" ".join(command.argv[:3]), target=step.node)
            pve.check(result, " ".join(command.argv[:3]))
            ctx.journal.note(step.id, **{f"sent {word}": True})

    @staticmethod
    def _exists(ctx: StepContext, like: Command, vmid: int) -> bool:
        from homeops.adapters import proxmox as pve

        result = ctx.runner(like).run(pve.qm_status(vmid), timeout=30)
        return result.ok

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        from homeops.adapters import proxmox as pve

        try:
            pve.check(result, what)
        except CommandError as exc:
            return exc
        return None


class DrData(StepKind):
    """Wait for restores up to the step's deadline; report what restored and what did not, never stop."""

    name = "dr-data"

    def skips(self, wait: Wait, record: object) -> bool:
        return wait.kind == DATA_DEADLINE  # the deadline is this kind's own polling, in run()

    def run(self, ctx: StepContext, step: Step) -> None:
        world = _world(ctx)
        kctl = k.Kubectl(world.inventory.cluster.kubeconfig)
        runner = ctx.runner(Command(("kubectl",)))
        deadline = ctx.clock.monotonic() + (step.waits[0].timeout if step.waits else 3600.0)
        # The inventory's pollInterval, as every other wait: a fixed floor here made a restore that ended
        # just after a look cost a whole extra period in the measured recovery time.
        poll = world.inventory.policy.poll_interval
        said: list[str] = []
        while True:
            done, pending, detail = self._look(runner, kctl, step.artifact or "")
            if not pending or ctx.clock.monotonic() >= deadline:
                break
            if pending != said:  # say it when it changes, not every poll
                ctx.progress.note(f"{step.summary}: waiting for {', '.join(pending)}")
                said = pending
            ctx.clock.sleep(poll)
        ctx.journal.note(step.id, restored=done, not_restored=pending, detail=detail)
        for line in detail:
            ctx.progress.note(line)

    @staticmethod
    def _look(runner: Runner, kctl: k.Kubectl, what: str) -> tuple[list[str], list[str], list[str]]:
        run = runner.run
        if what == "volsync":
            rds = run(vs.get_destinations(kctl), timeout=60)
            pvcs = run(vs.get_pvcs(kctl), timeout=60)
            if k.is_not_found(rds):
                return [], [], ["VolSync is not installed: nothing to restore"]
            if rds.failed or pvcs.failed:
                return (
                    [],
                    ["the Kubernetes API"],
                    [f"cannot read the restores: {(rds if rds.failed else pvcs).last_error_line()}"],
                )
            claims = {(c.namespace, c.source_name): c for c in vs.parse_claims(pvcs.stdout) if c.from_volsync}
            done, pending, detail = [], [], []
            for d in vs.parse_destinations(rds.stdout):
                claim = claims.get((d.namespace, d.name))
                bound = claim is None or claim.populated
                image = d.latest_image[1] if d.latest_image else "none"
                if d.restored and bound:
                    done.append(d.key)
                    when = vs.format_time(d.last_sync_time) if d.last_sync_time else "?"
                    detail.append(
                        f"restored {d.key} at {when} → {image}" + (f", PVC {claim.name} Bound" if claim else "")
                    )
                else:
                    pending.append(d.key)
                    why = "no snapshot matched (empty volume)" if d.empty else (d.reason or "not started")
                    detail.append(
                        f"NOT restored {d.key}: {why}" + (f"; PVC {claim.name} {claim.phase}" if claim else "")
                    )
            return done, pending, detail
        result = run(cnpg.get_clusters(kctl), timeout=60)
        if k.is_not_found(result):
            return [], [], ["CloudNativePG is not installed: no databases to restore"]
        if result.failed:
            return [], ["the Kubernetes API"], [f"cannot read the clusters: {result.last_error_line()}"]
        done, pending, detail = [], [], []
        for c in cnpg.parse_clusters(result.stdout):
            if c.healthy:
                done.append(c.key)
                source = f" from {c.server_name}" if c.server_name else ""
                detail.append(f"healthy {c.key}{source}: {c.describe()}")
            else:
                pending.append(c.key)
                detail.append(f"NOT healthy {c.key}: {c.describe()} — read the {c.name}-1-full-recovery job's logs")
        return done, pending, detail


for _kind in (DrReset(), DrRecreateVm(), DrData()):
    register(_kind)


# ----------------------------------------------------------------------------------- the whole chain


@dataclass
class DrWorld(BootstrapWorld):
    """The bootstrap stages' world (their kinds require it) that also looks at the cluster's gates."""

    cluster_world: ClusterWorld | None = None

    def look(self, gate: Gate) -> Check:
        if gate.kind == API_GATE.kind or self.cluster_world is None:
            return BootstrapWorld.look(self, gate)
        return self.cluster_world.look(gate)


def rebuild_world(
    runtime: Runtime, snapshot: ChosenSnapshot, stages: Sequence[str], *, skip_validate: bool = False
) -> DrWorld:
    from homeops.operations.bootstrap import prepare
    from homeops.operations.observe import ClusterObserver

    base = prepare(runtime, stages, recover_from=snapshot.path, skip_validate=skip_validate)
    cluster = ClusterWorld(runtime.inventory, ClusterObserver(runtime), simulated=runtime.simulated, host=runtime.host)
    return DrWorld(base.runtime, base.settings, base.spec, recover_from=base.recover_from, cluster_world=cluster)


def chain_stages(inventory: Inventory, request: RebuildRequest) -> tuple[str, ...]:
    """All nodes: Talos and apps. Only workers: their Talos configs; the cluster itself is left as it is."""
    wanted = _nodes(inventory, request)
    cps = {n.hostname for n in inventory.control_planes}
    if cps <= wanted:
        return ("talos", "apps")
    if cps & wanted:
        raise PlanError(
            f"rebuilding some control planes ({', '.join(sorted(cps & wanted))}) but not all is not supported",
            hint="rebuild every control plane (omit --nodes), or only workers",
        )
    return ("talos",)


def plan_chain(world: DrWorld, snapshot: ChosenSnapshot, request: RebuildRequest) -> Plan:
    """nodes → Talos (apply, etcd from the snapshot, kubeconfig, API) → apps → data, one plan."""
    from homeops.operations import bootstrap

    inventory = world.inventory
    stages = chain_stages(inventory, request)
    wanted = _nodes(inventory, request)
    # Planned before the nodes stage runs: the bootstrap planner must see the nodes as they will be.
    full = stages == ("talos", "apps")
    seen = bootstrap.Observed(
        modes={n.hostname: "maintenance" if n.hostname in wanted else "configured" for n in inventory.nodes},
        etcd=() if full else ("kept",),
        kubeconfig=not full,
        api=not full,
    )
    staged = bootstrap.plan_bootstrap(world, seen, stages, "dr-rebuild")
    plan = plan_rebuild(inventory, snapshot, request, stages=staged.steps)
    if not full:  # workers only: no data stage, the cluster's data was never lost
        plan = replace(plan, steps=tuple(s for s in plan.steps if s.action != "dr-data"))
    return replace(plan, health=Health(allowed_red=(API_GATE,), required_after=staged.health.required_after))


def run_rebuild(
    inventory_dir: Path,
    *,
    from_snapshot: str = "latest",
    recreate_vms: bool = False,
    nodes: Sequence[str] = (),
    dry_run: bool = False,
    yes: bool = False,
    resume: bool = False,
    break_lock: bool = False,
    skip_validate: bool = False,
    out: TextIO | None = None,
    task: str = "dr.rebuild",
    runtime: Runtime | None = None,
) -> Outcome:
    """Preflight (refuses before touching anything) → plan → show → confirm → execute, journaled."""
    from homeops.operations.session import Options, latest_journal, plan_or_resume, world_executor
    from homeops.runtime import open_runtime

    rt = runtime or open_runtime(Path(inventory_dir).resolve())
    try:
        journal = None
        if resume:  # the journaled run's choices: its snapshot is checked again before anything runs
            journal = latest_journal(rt, "dr-rebuild", task=task)
            options = dict(journal.plan().options)
            from_snapshot = options.get("from_snapshot", "none")
            nodes = tuple(n for n in options.get("nodes", "").split(",") if n)
            recreate_vms = options.get("recreate_vms") == "yes"
        request = RebuildRequest(rt.clock.now(), recreate_vms=recreate_vms, nodes=tuple(nodes))
        snapshot = choose_snapshot(rt, from_snapshot)
        preflight(rt, request)
        world = rebuild_world(rt, snapshot, chain_stages(rt.inventory, request), skip_validate=skip_validate)
        executor = world_executor(rt, world, task=task, out=out)

        def plan() -> Plan:
            chain = plan_chain(world, snapshot, request)
            return replace(chain, options=(*chain.options, ("nodes", ",".join(request.nodes))))

        options_ = Options(dry_run=dry_run, yes=yes, resume=resume, break_lock=break_lock)
        return plan_or_resume(executor, rt, "dr-rebuild", plan, options_, task=task, journal=journal, out=out)
    finally:
        if runtime is None:
            rt.close()


def runbook_plans(runtime: Runtime) -> dict[str, Plan]:
    """dr.rebuild's two plans (reset, recreate the VMs) for the snapshot the operator will pick, ``$SNAPSHOT``:
    what ``dr.runbook`` prints. Planned from the inventory alone; nothing is looked at or run."""
    from homeops.operations.runbook import SNAPSHOT_VAR

    placeholder = drcheck.snapshot_dir(runtime.inventory) / SNAPSHOT_VAR
    snapshot = ChosenSnapshot(placeholder, "runbook")
    plans = {}
    for variant in ("reset", "recreate"):
        request = RebuildRequest(runtime.clock.now(), recreate_vms=variant == "recreate")
        world = rebuild_world(runtime, ChosenSnapshot(None, "none"), chain_stages(runtime.inventory, request))
        world.recover_from = placeholder  # bootstrap.prepare checks the file; this one is picked later
        plans[variant] = plan_chain(world, snapshot, request)
    return plans


# ----------------------------------------------------------------------------------- rehearsal


@dataclass(frozen=True)
class Rehearsal:
    outcome: Outcome
    inventory: Path  # the copy it ran on
    recovery_seconds: float  # simulated time from the run's start to its end: the measured recovery time
    step_seconds: float  # the report's steps, batch by batch, summed (see stage_seconds)
    wall_seconds: float  # what the rehearsal cost on this machine (homeops' own work)
    data: tuple[str, ...] = ()  # what the data stage said was restored, and what was not


def rehearse(
    inventory_dir: Path,
    *,
    faults: Sequence[str] = (),
    hosts: bool = False,
    yes: bool = True,
    out: TextIO | None = None,
) -> Rehearsal:
    """The rebuild, practised: a copy of the inventory on a fresh simulator (never the real state dir),
    an etcd snapshot copied to the simulated NAS, then every Talos VM lost (and ``faults``: ``name`` or
    ``name:target``), then ``dr.rebuild --recreate-vms --yes`` from the NAS copy.
    """
    import shutil
    import time

    from homeops.engine.report import build
    from homeops.inventory.loader import load_inventory
    from homeops.operations.observe import ClusterObserver
    from homeops.operations.snapshot import take_etcd_snapshot
    from homeops.runtime import open_runtime
    from homeops.sim import faults as sim_faults
    from homeops.sim.backups import FILE_FAULTS, damage, lose_the_vms
    from homeops.tasks.sim import require_docker_client, start

    source = load_inventory(Path(inventory_dir))
    if hosts:
        require_docker_client()  # before the last rehearsal's copy is replaced
    if not source.hosts_of_kind("truenas"):
        raise PlanError("a rehearsal restores from the NAS copy of a snapshot, and this inventory has no TrueNAS host")
    work = source.state_dir.resolve() / "rehearsal" / "inventory"
    if work.parent.exists():
        shutil.rmtree(work.parent)  # the last rehearsal's copy (its containers went with `sim.up`'s replace)
    shutil.copytree(source.root, work, ignore=shutil.ignore_patterns(".homeops", source.state_dir.name))
    store = start(work, virtual=True, hosts=hosts, say=lambda _: None)
    with open_runtime(work) as rt:
        take_etcd_snapshot(rt, ClusterObserver(rt), to_nas=True)
        for path in drcheck.snapshot_dir(rt.inventory).iterdir():
            path.unlink()  # the rebuild must fetch the NAS copy
        with store.transaction() as state:
            lose_the_vms(state)
            for spec in faults:
                name, _, target = spec.partition(":")
                if name not in FILE_FAULTS:
                    sim_faults.inject(state, name, target or None)
        for spec in faults:
            if spec.partition(":")[0] in FILE_FAULTS:
                damage(rt, spec.partition(":")[0])
    began = time.monotonic()
    outcome = run_rebuild(work, recreate_vms=True, yes=yes, out=out)
    wall = time.monotonic() - began
    assert outcome.journal is not None
    report = build(outcome.journal)
    said: list[str] = []
    for step_id in ("data:volsync", "data:cnpg"):
        if any(s.id == step_id for s in outcome.plan.steps):
            detail = outcome.journal.step(step_id).data.get("detail")
            said += [str(line) for line in detail] if isinstance(detail, list) else []
    return Rehearsal(outcome, work, report.seconds, stage_seconds(outcome), wall, tuple(said))


def stage_seconds(outcome: Outcome) -> float:
    """The run's batches' durations, summed: steps of one batch run side by side (every VM at once),
    so it is each batch's first start to its last end that adds up to the recovery time."""
    assert outcome.journal is not None
    spans: dict[int, tuple[float, float]] = {}
    for step in outcome.plan.steps:
        record = outcome.journal.step(step.id)
        if record.started is None or record.finished is None:
            continue
        start, end = float(record.started), float(record.finished)
        first, last = spans.get(step.batch, (start, end))
        spans[step.batch] = (min(first, start), max(last, end))
    return sum(end - start for start, end in spans.values())


__all__ = [
    "ChosenSnapshot",
    "DrWorld",
    "RebuildRequest",
    "choose_snapshot",
    "plan_chain",
    "plan_rebuild",
    "preflight",
    "rehearse",
    "run_rebuild",
    "runbook_plans",
]
