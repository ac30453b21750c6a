"""``dr.rebuild``: from dead VMs (or a corrupt etcd) to a running cluster with its data.

What is here, and what each part of the rebuild is:

1. **Preflight** (``choose_snapshot``, ``preflight``): refuse before touching anything. The chosen
   snapshot (``--from-snapshot PATH|latest|none``) is fetched from the NAS when it is not local and
   its sha256 must match its sidecar; the age key decrypts the talsecret; talhelper renders the
   configs; with ``--recreate-vms`` every VM's vmid, disk and MAC are in ``homeops.yaml``; the
   Proxmox cluster is quorate and every host the plan needs answers (plan preflight gates).
   Cluster-side looks (the API, VolSync) are not required: a rebuild runs when they are red.
2. **Nodes** (step kinds ``dr-reset`` and ``dr-recreate-vm``): each node back to Talos maintenance
   mode — ``talosctl reset`` wiping STATE, EPHEMERAL and its user volumes (u-<name>), or with ``--recreate-vms`` ``qm
   stop/destroy/create/start`` on its Proxmox host with its vmid, disk and MAC. The look before
   sending skips a node already in maintenance mode, and ``qm stop/destroy`` of a VM that no longer
   exists; the wait ``maintenance`` polls ``get machinestatus --insecure``. The same look, on a first
   run and on ``--resume`` alike, refuses the whole batch (nothing sent) when the cluster is healthy
   again — etcd quorum and an answering API, as ``drmodel.choose`` refuses — unless ``--even-if-healthy``
   is given again; and a reset goes to an IP only when the configured machine there says it is the
   plan's node (``talosctl read /proc/sys/kernel/hostname``). A node in maintenance mode has no hostname
   to check: it is not reset (its STATE is wiped already), and its wait is judged by its IP.
3. **Talos** and 4. **Apps** are the bootstrap workflow's stages (issue 12); ``plan_rebuild`` takes
   them as steps from its caller (``stages``) so the same plan, journal and report carry the chain.
5. **Data** (step kind ``dr-data``): wait for the VolSync restores (ReplicationDestinations with a
   ``latestImage``, their PVCs Bound) and the CloudNativePG clusters restoring on deploy, each up to
   its deadline; what did not restore is *reported*, never a stop: the rest of the cluster is up.

The node and data steps come from ``runbook.recovery_steps``, so ``dr.runbook`` prints exactly the
commands this plan runs.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar, Protocol

from homeops import snapshotsum
from homeops.adapters import talosctl as t
from homeops.backupstore import nas_fetch_backup
from homeops.engine.gates import Check
from homeops.engine.journal import Journal
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Health, Plan, Step, Wait
from homeops.engine.waits import Observation
from homeops.errors import HomeopsError, PlanError
from homeops.inventory.model import Inventory, Node
from homeops.operations import bootstrap, drcheck, drsteps
from homeops.operations.bootstrap import API_GATE, BootstrapWorld, prepare
from homeops.operations.drmodel import Choice, NodeSeen
from homeops.operations.drmodel import Observation as Seen
from homeops.operations.drsteps import API, ETCD_DB, ETCD_UP, PREPARING, healthy_again, not_the_node
from homeops.operations.health import ClusterWorld, cluster_gates
from homeops.operations.observe import ClusterObserver
from homeops.operations.runbook import RecoveryStep, recovery_steps
from homeops.operations.vm import (
    fetch_newest_record,
    finish_vm_step,
    record_path,
    stop_vm_for_recreate,
    vm_records_for,
)
from homeops.privatefs import make_private
from homeops.runners import Result
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
        with contextlib.suppress(OSError, HomeopsError):  # the VM record; older snapshots have none
            vms = nas_fetch_backup(runtime, record_path(Path(name)).name, tmp)
            make_private(vms)
            vms.replace(local_dir / vms.name)
        make_private(db)  # an etcd snapshot holds every Secret of the cluster
        make_private(side)
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
    fresh: bool = False  # --fresh: a new etcd and the data restored, whatever survived
    even_if_healthy: bool = False  # --even-if-healthy: rebuild a cluster with quorum and an answering API


def preflight(runtime: Runtime, request: RebuildRequest) -> list[drcheck.Finding]:
    """The looks a rebuild needs green (the plan's gates add the Proxmox hosts); raises when one is red."""
    findings = [*drcheck.age_key_findings(runtime.inventory), *drcheck.genconfig_findings(runtime)]
    # Without a talsecret that decrypts, talhelper generates a new PKI and nothing restored can be read
    # (talhelper pkg/talos/input.go:53-55): a warning for dr.check, a refusal for a rebuild.
    findings = [replace(f, status="fail") if f.check == "age-key" and f.status == "warn" else f for f in findings]
    if request.recreate_vms:
        fetch_newest_record(runtime)  # the VMs as recorded, from the NAS when this machine has none
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


POINT_OF_NO_RETURN = "POINT OF NO RETURN"


def plan_rebuild(
    inventory: Inventory,
    snapshot: ChosenSnapshot,
    request: RebuildRequest,
    *,
    stages: Sequence[Step] = (),
    seen: Seen | None = None,
    data: bool = True,
) -> Plan:
    """The fresh model: [last backups while the API answers] → nodes (STATE+EPHEMERAL+user volumes, or new VMs) →
    ``stages`` (Talos with a new etcd, apps, from the bootstrap workflow) → backups paused → the data
    proven → backups resumed. ``snapshot`` only names the etcd ``stages`` restore (none for fresh)."""
    wanted = _nodes(inventory, request)
    records = vm_records_for(inventory, snapshot.path) if request.recreate_vms else None
    recovery = recovery_steps(inventory, snapshot=snapshot.name, recreate_vms=request.recreate_vms, vm_records=records)
    steps: list[Step] = []
    batch = 0
    if data and seen is not None and seen.api and (seen.sources or seen.databases):
        steps.append(
            Step(
                id="data:last-backups",
                action="dr-last-backups",
                summary=f"last backups while the old cluster answers: trigger {len(seen.sources)} ReplicationSource(s) "
                f"and wait for each, then release the trigger; an on-demand Backup of {len(seen.databases)} "
                "CloudNativePG cluster(s)",
                batch=batch,
                waits=(Wait(DATA_DEADLINE, "every ReplicationSource synced once more", request.data_timeout),),
                params=drsteps.LastBackupsParams(
                    "homeops-dr-" + time.strftime("%Y%m%d%H%M%S", time.gmtime(request.now))
                ),
                batch_note="backup first",
            )
        )
        batch += 1
    first = True
    for rs in recovery:
        if rs.stage != "nodes" or rs.node not in wanted:
            continue
        node = inventory.node(rs.node or "")
        step = _node_step(node, rs, batch, request.maintenance_timeout)
        if first:
            step = replace(step, summary=f"{POINT_OF_NO_RETURN} — {step.summary}")
            first = False
        steps.append(step)
    base = batch + 1
    for stage in stages:  # keep the stages' own grouping (nodes configured together stay together)
        steps.append(_rebatch(stage, base + stage.batch))
        batch = max(batch, base + stage.batch)
    finish = [rs for rs in recovery if rs.id.endswith(":finish-vm") and rs.node in wanted]
    if finish:  # the recreated VMs, once installed: ISO detached, boot order and HA as recorded
        batch += 1
        steps += [finish_vm_step(inventory.node(rs.node or ""), rs, batch) for rs in finish]
    if data:
        sources = tuple(seen.sources) if seen else ()
        destinations = tuple(seen.destinations) if seen else ()
        databases = tuple(d.key for d in seen.databases) if seen else ()
        tail = (
            ("data:pause-backups", "dr-pause-backups", "pause every ReplicationSource as soon as it exists "
             "(spec.paused: true, read back): no backup of a volume before its restore is proven",
             drsteps.PauseParams(sources)),
            ("data:volsync", "dr-data", "the VolSync restores, proven: this run's ReplicationDestinations, a snapshot "
             "found (not `No eligible snapshots`), each PVC Bound, its PV populated-from",
             drsteps.DataParams("volsync", destinations)),
            ("data:cnpg", "dr-data", "the CloudNativePG restores, proven: this run's Clusters healthy, recovered from "
             "their object store", drsteps.DataParams("cnpg", databases)),
            ("data:resume-backups", "dr-resume-backups", "resume the backups paused above, only if every restore was "
             "proven (else they stay paused, and the run ends with problems)",
             drsteps.ResumeParams("data:pause-backups", ("data:volsync", "data:cnpg"))),
        )  # fmt: skip
        for step_id, action, summary, params in tail:
            batch += 1
            steps.append(
                Step(
                    id=step_id,
                    action=action,
                    summary=summary,
                    batch=batch,
                    waits=(Wait(DATA_DEADLINE, "(reported, never a stop)", request.data_timeout),),
                    params=params,
                )
            )
    hosts = sorted({s.vm_host for s in steps if s.vm_host})
    needed = tuple(
        Gate("proxmox", "proxmox", f"{h} answers and the Proxmox cluster is quorate", h, 60.0) for h in hosts
    )
    what = f"etcd from {snapshot.name} ({snapshot.source})" if snapshot.path else "a new etcd"
    if not data:
        what = "the cluster's etcd and apps left as they are"
    first_wipe = next((s.id for s in steps if s.summary.startswith(POINT_OF_NO_RETURN)), "")
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
            ("point_of_no_return", first_wipe),
        ),
        # The cluster is expected to be down: its gates are looked at and reported, never required.
        health=Health(allowed_red=cluster_gates(inventory)),
        warnings=((f"snapshot: {snapshot.verified}",) if snapshot.verified else ()) + _user_volume_warnings(steps),
    )


def _user_volume_warnings(steps: list[Step]) -> tuple[str, ...]:
    """Name the Talos user volumes the resets wipe: their data (local-hostpath PVs, Ceph OSD disks) is gone
    with them and comes back only from the backups."""
    wiped = []
    for step in steps:
        if step.action != "dr-reset":
            continue
        labels = [a for c in step.commands for a in _wipe_labels(c.argv) if a.startswith("u-")]
        if labels:
            wiped.append(f"{', '.join(labels)} on {step.node}")
    if not wiped:
        return ()
    return (f"user volumes wiped with STATE and EPHEMERAL: {'; '.join(wiped)}",)


def _wipe_labels(argv: tuple[str, ...]) -> list[str]:
    labels: list[str] = []
    for i, arg in enumerate(argv):
        if arg == "--system-labels-to-wipe" and i + 1 < len(argv):
            labels += argv[i + 1].split(",")
        elif arg.startswith("--system-labels-to-wipe="):
            labels += arg.split("=", 1)[1].split(",")
    return labels


def plan_etcd_restore(
    inventory: Inventory,
    seen: Seen,
    request: RebuildRequest,
    *,
    fallback: ChosenSnapshot | None = None,
) -> Plan:
    """The etcd-restore model (Talos guide): last-chance copy → EPHEMERAL wiped on the control planes only
    (workers untouched) → etcd ``Preparing`` everywhere → ``bootstrap --recover-from`` on one → the report
    of what stayed in place. No data stage: an etcd restore re-populates nothing."""
    talos = t.Talosctl(inventory.cluster.talosconfig)
    snapshots = drcheck.snapshot_dir(inventory)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(request.now))
    path = snapshots / f"etcd-{inventory.cluster.name}-{stamp}-last-chance.db"
    raw_dir = snapshots / f"etcd-{inventory.cluster.name}-{stamp}-raw"
    # Healthy members first, then the others that still run etcd: "even if the cluster is unhealthy".
    order = sorted(
        (n for n in seen.control_planes if n.mode == "configured"),
        key=lambda n: (not n.etcd_healthy, n.etcd.lower() != "running", n.hostname),
    )
    commands = [
        Command(tuple(talos.etcd_snapshot(n.ip, path)), timeout=120) for n in order if n.etcd.lower() == "running"
    ]
    commands += [Command(tuple(talos.copy_out(n.ip, ETCD_DB, raw_dir)), timeout=300) for n in order]
    kept = f"; else the newest kept snapshot {fallback.name}" if fallback and fallback.path else ""
    steps = [
        Step(
            id="etcd:last-chance",
            action="dr-etcd-backup",
            summary=f"last-chance etcd copy: a snapshot from a surviving member (the first that answers), else its "
            f"raw db (restored with --recover-skip-hash-check){kept}",
            commands=tuple(commands),
            batch=0,
            params=drsteps.EtcdBackupParams(str(fallback.path) if fallback and fallback.path else None),
            batch_note="backup first",
        )
    ]
    for i, node in enumerate(inventory.control_planes):
        argv = talos.reset(node.ip, graceful=False, reboot=True, wipe=("EPHEMERAL",))
        summary = f"reset {node.hostname} ({node.ip}): EPHEMERAL only (STATE keeps its config and PKI)"
        steps.append(
            Step(
                id=f"node:{node.hostname}:reset-ephemeral",
                action="dr-reset-ephemeral",
                summary=(f"{POINT_OF_NO_RETURN} — " if i == 0 else "") + summary,
                node=node.hostname,
                node_ip=node.ip,
                control_plane=True,
                batch=1,
                commands=(Command(tuple(argv), timeout=300),),
                waits=(Wait(PREPARING, f"etcd on {node.hostname} is Preparing", request.maintenance_timeout),),
                reboots=True,
            )
        )
    first = inventory.control_planes[0]
    steps.append(
        Step(
            id="etcd:recover",
            action="dr-recover",
            summary=f"restore etcd on {first.hostname} from the last-chance copy (bootstrap --recover-from; retried "
            "while the node says it is not ready for recovery yet); the other control planes join by themselves",
            node=first.hostname,
            node_ip=first.ip,
            control_plane=True,
            batch=2,
            commands=(Command(tuple(talos.bootstrap(first.ip, recover_from=path)), timeout=120),),
            waits=(
                Wait(ETCD_UP, "every control plane a healthy etcd member", inventory.policy.ready_timeout),
                Wait(API, "the Kubernetes API answers /readyz", inventory.policy.ready_timeout),
            ),
            params=drsteps.RecoverParams("etcd:last-chance"),
        )
    )
    steps.append(
        Step(
            id="data:in-place",
            action="dr-inplace",
            summary="report the volumes: kept in place, or EMPTY (node-local on a wiped disk); nothing is restored",
            batch=3,
            params=drsteps.InPlaceParams(tuple(n.hostname for n in inventory.control_planes)),
        )
    )
    workers = [n.hostname for n in inventory.workers]
    return Plan(
        operation="dr-rebuild",
        cluster=inventory.cluster.name,
        steps=tuple(steps),
        poll_interval=inventory.policy.poll_interval,
        target=f"etcd restored on {len(inventory.control_planes)} control plane(s)"
        + (f"; workers {', '.join(workers)} untouched" if workers else ""),
        options=(
            ("from_snapshot", str(path)),
            ("recreate_vms", "no"),
            ("point_of_no_return", steps[1].id),
        ),
        health=Health(allowed_red=cluster_gates(inventory)),
    )


def _rebatch(step: Step, batch: int) -> Step:
    return replace(step, batch=batch)


def _node_step(node: Node, rs: RecoveryStep, batch: int, timeout: float) -> Step:
    recreate = rs.id.endswith(":recreate-vm")
    return rs.plan_step(
        node,
        action="dr-recreate-vm" if recreate else "dr-reset",
        batch=batch,
        timeout=300,
        waits=(Wait(MAINTENANCE, f"{node.hostname} ({node.ip}) in Talos maintenance mode", timeout),),
        vm_host=node.vm.host if recreate and node.vm else None,
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

    #: Its commands wipe whatever machine answers at the node's IP (a reset), rather than a VM by its vmid.
    by_ip: ClassVar[bool] = False

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        inventory = _world(ctx).inventory
        talos = t.Talosctl(inventory.cluster.talosconfig)
        looks = {}
        for step in steps:
            node = inventory.node(step.node or "")
            there, seen = _in_maintenance(ctx, node)
            # In maintenance mode a node has no hostname to check; it is skipped (STATE is wiped already,
            # whichever machine it is). A configured one must say it is this node before it is reset.
            if self.by_ip and not there and seen.startswith("configured"):
                wrong = not_the_node(ctx.runner(Command(("talosctl",))), talos, node.hostname, node.ip)
                if wrong:
                    looks[step.id] = Look(False, wrong)
                    continue
            looks[step.id] = Look(True, seen, done=there, before=seen.split(":")[0].split(" (")[0])
        # Look before you destroy, again at the point of no return (first run or resume): a cluster that
        # became healthy since the plan looked is not wiped.
        why = healthy_again(ctx, steps)
        if why:
            return {sid: replace(look, ready=False, observed=why) for sid, look in looks.items()}
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

    def reached(self, step: Step, record: object) -> str | None:
        return MAINTENANCE


class DrReset(_ToMaintenance):
    name = "dr-reset"
    by_ip = True


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
            # stop (qm stop, or ha-manager set --state stopped), destroy, create, set, start: each once
            word = "stop" if command.argv[0] == "ha-manager" else command.argv[1]
            if done.get(f"sent {word}"):
                continue
            exists = self._exists(ctx, command, node.vm.vmid)
            ours = done.get("sent create") or not done.get("found_vm")  # the VM there now is the new one
            if word in ("stop", "destroy") and (ours or not exists):
                continue
            if word == "create" and exists and (done.get("sent destroy") or not done.get("found_vm")):
                ctx.journal.note(step.id, **{"sent create": True})  # ours: created before a kill
                continue
            if word == "stop":  # HA-managed VMs through ha-manager, then until the HA stack stopped it
                stop_vm_for_recreate(ctx, step, command, node.vm.vmid)
                ctx.journal.note(step.id, **{"sent stop": True})
                continue
            result = ctx.send(command, what=" ".join(command.argv[:3]), target=step.node)
            pve.check(result, " ".join(command.argv[:3]))
            ctx.journal.note(step.id, **{f"sent {word}": True})

    @staticmethod
    def _exists(ctx: StepContext, like: Command, vmid: int) -> bool:
        from homeops.adapters import proxmox as pve

        result = ctx.runner(like).run(pve.qm_status(vmid), timeout=30)
        return result.ok

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        """A VM is destroyed by its vmid: the VM there must carry the name the plan recreates (``--name`` of
        its ``qm create``), else a vmid that now belongs to another VM (a typo in homeops.yaml, an id reused
        after the node's VM was lost) would be destroyed — the VM counterpart of ``not_the_node``."""
        looks = super().look(ctx, steps)
        for step in steps:
            wrong = self._not_the_vm(ctx, step)
            if wrong and looks[step.id].ready:
                looks[step.id] = Look(False, wrong)
        return looks

    @staticmethod
    def _not_the_vm(ctx: StepContext, step: Step) -> str | None:
        from homeops.adapters import proxmox as pve

        node = _world(ctx).inventory.node(step.node or "")
        create = next((c for c in step.commands if c.argv[:2] == ("qm", "create")), None)
        argv = create.argv if create is not None else ()
        want = argv[argv.index("--name") + 1] if "--name" in argv[:-1] else ""
        if node.vm is None or create is None or not want:
            return None
        result = ctx.runner(create).run(pve.qm_config(node.vm.vmid), timeout=30)
        if result.failed:
            return None  # no VM at that id: nothing to destroy (``run`` skips stop and destroy when qm status fails)
        seen = pve.parse_qm_config(result.stdout).get("name", "")
        if seen == want:
            return None
        return (
            f"VM {node.vm.vmid} on {node.vm.host} is named {seen or '(no name)'}, not {want}: recreating "
            f"{step.node}'s VM would destroy another VM — nothing was sent; fix nodes.{step.node}.vm.vmid in "
            f"homeops.yaml, or, if it is {step.node}'s VM, name it so (`qm set {node.vm.vmid} --name {want}`), "
            "then run again"
        )

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        from homeops.adapters import proxmox as pve

        return pve.refusal(result, what)


for _kind in (DrReset(), DrRecreateVm()):
    register(_kind)


# ----------------------------------------------------------------------------------- the whole chain


@dataclass
class DrWorld(BootstrapWorld):
    """The bootstrap stages' world (their kinds require it) that also looks at the cluster's gates."""

    cluster_world: ClusterWorld | None = None
    even_if_healthy: bool = False  # the user's override, asked again on a resume: the wipes may hit a healthy cluster

    def look(self, gate: Gate) -> Check:
        if gate.kind == API_GATE.kind or self.cluster_world is None:
            return BootstrapWorld.look(self, gate)
        return self.cluster_world.look(gate)


def rebuild_world(
    runtime: Runtime, snapshot: ChosenSnapshot, stages: Sequence[str], *, skip_validate: bool = False
) -> DrWorld:
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


def plan_chain(world: DrWorld, snapshot: ChosenSnapshot, request: RebuildRequest, seen: Seen | None = None) -> Plan:
    """The fresh model (or a node replacement): nodes → Talos (apply, new etcd, kubeconfig, API) → apps →
    backups paused → data proven → backups resumed, one plan."""
    inventory = world.inventory
    stages = chain_stages(inventory, request)
    wanted = _nodes(inventory, request)
    # Planned before the nodes stage runs: the bootstrap planner must see the nodes as they will be.
    full = stages == ("talos", "apps")
    observed = bootstrap.Observed(
        modes={n.hostname: "maintenance" if n.hostname in wanted else "configured" for n in inventory.nodes},
        etcd=() if full else ("kept",),
        kubeconfig=not full,
        api=not full,
    )
    staged = bootstrap.plan_bootstrap(world, observed, stages, "dr-rebuild")
    # workers only (or a lost control plane): no data stage, the cluster's data was never lost
    plan = plan_rebuild(inventory, snapshot, request, stages=staged.steps, seen=seen, data=full)
    return replace(plan, health=Health(allowed_red=(API_GATE,), required_after=staged.health.required_after))


@dataclass
class RestoreWorld:
    """The etcd-restore model's world: no bootstrap inputs (STATE keeps every node's config)."""

    inventory: Inventory
    cluster_world: ClusterWorld
    even_if_healthy: bool = False  # the user's override, asked again on a resume: the resets may wipe a quorum

    @property
    def state_dir(self) -> Path:
        return self.inventory.state_dir

    def look(self, gate: Gate) -> Check:
        return self.cluster_world.look(gate)


def model_lines(choice: Choice, seen: Seen | None, plan: Plan) -> tuple[str, ...]:
    """What the plan shows of the model chosen, what was seen, and the point of no return."""
    lines = [f"model: {choice.model} — {why}" for why in choice.why]
    if seen is not None:
        lines += [f"seen: {line}" for line in seen.describe()]
    point = dict(plan.options).get("point_of_no_return")
    if point:
        lines.append(f"{POINT_OF_NO_RETURN}: step {point}; every step before it only reads and copies")
    return tuple(lines)


def supersede(runtime: Runtime, run_id: str) -> list[str]:
    """A rebuild supersedes every older unfinished run on this cluster: resuming one would continue a plan
    made for the cluster that was lost (issue 22 §3.12). Returns what it closed."""
    closed = []
    for journal in Journal.all(runtime.inventory.state_dir, runtime.clock):
        if (
            journal.run_id == run_id
            or journal.status == "finished"
            or journal.cluster != runtime.inventory.cluster.name
        ):
            continue
        journal.finish("finished", f"superseded by dr.rebuild run {run_id}: the cluster was rebuilt; start anew")
        closed.append(f"{journal.operation} run {journal.run_id}")
    return closed


def runbook_plans(runtime: Runtime) -> dict[str, Plan]:
    """dr.rebuild's plans, for ``dr.runbook``: ``reset`` and ``recreate`` (the fresh model: nodes wiped or
    VMs recreated, a new etcd, apps, data proven) and ``etcd-restore`` (quorum lost, disks kept). Planned
    from the inventory alone; nothing is looked at or run. Each plan's options name its ``model`` and its
    ``point_of_no_return`` step."""
    inventory = runtime.inventory
    plans = {}
    none = ChosenSnapshot(None, "none")
    for variant in ("reset", "recreate"):
        request = RebuildRequest(runtime.clock.now(), recreate_vms=variant == "recreate", fresh=True)
        world = rebuild_world(runtime, none, chain_stages(inventory, request))
        made = plan_chain(world, none, request)
        plans[variant] = replace(made, options=(*made.options, ("model", "fresh")))
    # what an etcd restore looks like when every control plane still answers (the guide's case)
    cps = tuple(NodeSeen(n.hostname, n.ip, True, "configured", "Running", "Fail") for n in inventory.control_planes)
    seen = Seen(cps + tuple(NodeSeen(n.hostname, n.ip, False, "configured") for n in inventory.workers), api=False)
    made = plan_etcd_restore(inventory, seen, RebuildRequest(runtime.clock.now()))
    plans["etcd-restore"] = replace(made, options=(*made.options, ("model", "etcd-restore")))
    return plans


__all__ = [
    "ChosenSnapshot",
    "DrWorld",
    "RebuildRequest",
    "choose_snapshot",
    "plan_chain",
    "plan_rebuild",
    "preflight",
    "runbook_plans",
]
