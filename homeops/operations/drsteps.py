"""dr.rebuild's own step kinds: the etcd-restore model, and the fresh model's backups and data proof.

etcd-restore (Talos guide ``advanced/disaster-recovery.md``; cli-interfaces.md §1.9, §10.3):

* ``dr-etcd-backup`` — the last-chance snapshot from a surviving member (``etcd snapshot``, even when the
  cluster is unhealthy), else the raw ``member/snap/db`` copied off the node (``talosctl cp``), else the
  newest snapshot homeops kept. Reads and copies only: it comes before the point of no return.
* ``dr-reset-ephemeral`` — ``reset --system-labels-to-wipe EPHEMERAL`` on the control planes (STATE keeps
  the machine config and PKI); waits until ``service etcd`` says ``Preparing`` on each. Its look refuses
  the batch when etcd has quorum again, or when the machine at a node's IP says it is another node.
* ``dr-recover`` — ``bootstrap --recover-from`` on one control plane (``--recover-skip-hash-check`` for a raw
  ``db``), retried while the node answers "etcd service is not ready for recovery yet" (EPHEMERAL not mounted
  yet) or "bootstrap is not available yet"; then every control plane a healthy member and the API up.
* ``dr-inplace`` — the report: the objects came back as they were, nothing was re-populated; it says
  which volumes kept their data where they are, and which pointed at wiped node-local disks.

fresh (recovery.md §1 F, §2; cli-interfaces.md §11, §12):

* ``dr-last-backups`` — while the old cluster answers: every ReplicationSource triggered and waited for,
  then its trigger released (a trigger left set switches the schedule off); an on-demand CNPG ``Backup``
  of each database, waited for.
* ``dr-pause-backups`` — as soon as the new cluster's ReplicationSources exist: ``spec.paused: true``
  (read back), so no mover backs up a volume before its restore is proven (volsync#627, #1520).
* ``dr-data`` — the restores, proven: the apps' objects must exist (Flux's Kustomizations have no health
  checks), each ReplicationDestination and CNPG Cluster must be *this run's* (created after it started),
  its restore finished with a snapshot (``No eligible snapshots`` is a failure), and the PV it populated
  carries ``populated-from``. What is not proven is a problem: the run ends "done with problems".
* ``dr-resume-backups`` — resumes the sources it paused, only when every restore was proven.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

from homeops.adapters import cnpg
from homeops.adapters import kubectl as k
from homeops.adapters import talosctl as t
from homeops.adapters import volsync as vs
from homeops.adapters._parse import parse_json_object
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Step, StepParams, Wait
from homeops.engine.retry import first_then, poll
from homeops.engine.waits import Observation
from homeops.errors import CommandError, HomeopsError, PlanError
from homeops.inventory.model import Inventory
from homeops.operations.identity import HOSTNAME_FILE, hostname_at
from homeops.runners import Result, Runner

ETCD_DB = "/var/lib/etcd/member/snap/db"
PREPARING = "etcd-preparing"
ETCD_UP = "etcd-up"
API = "api"
NOT_READY_FOR_RECOVERY = "etcd service is not ready for recovery yet"
PAUSED = {"spec": {"paused": True}}
RESUMED = {"spec": {"paused": False}}


# ----------------------------------------------------------------------------------- step parameters
# Plans written before these kept them in ``artifact`` (comma-joined lists, "volsync:<keys>"): ``legacy``
# reads those, so a dr.rebuild interrupted under that homeops resumes under this one.


def _listed(text: str | None) -> tuple[str, ...]:
    return tuple(x for x in (text or "").split(",") if x)


@dataclass(frozen=True)
class EtcdBackupParams(StepParams):
    """The newest kept snapshot, restored when no fresh copy can be taken (None: there is none)."""

    tag = "dr-etcd-backup"
    legacy_field = "artifact"
    fallback: str | None


@dataclass(frozen=True)
class RecoverParams(StepParams):
    """The step whose journal notes name the etcd copy to restore from."""

    tag = "dr-recover"
    legacy_field = "artifact"
    backup_step: str


@dataclass(frozen=True)
class InPlaceParams(StepParams):
    """The nodes whose EPHEMERAL was wiped: their node-local volumes are empty now."""

    tag = "dr-inplace"
    legacy_field = "artifact"
    wiped: tuple[str, ...]


@dataclass(frozen=True)
class LastBackupsParams(StepParams):
    """The manual-trigger token (and the Backups' name prefix) of the last backups."""

    tag = "dr-last-backups"
    legacy_field = "artifact"
    token: str


@dataclass(frozen=True)
class PauseParams(StepParams):
    """The ReplicationSources expected back (``ns/name``); none: pause what there is once Flux settled."""

    tag = "dr-pause-backups"
    legacy_field = "artifact"
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ResumeParams(StepParams):
    """The pausing step (what it paused is resumed) and the data steps that must all be proven first."""

    tag = "dr-resume-backups"
    pause_step: str
    data_steps: tuple[str, ...]

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> ResumeParams:
        ids = _listed(step["artifact"])
        return cls(ids[0], ids[1:])


@dataclass(frozen=True)
class DataParams(StepParams):
    """Which restores to prove: ``volsync`` (ReplicationDestinations) or ``cnpg`` (Clusters), by ``ns/name``."""

    tag = "dr-data"
    what: str
    expected: tuple[str, ...]

    @classmethod
    def legacy(cls, step: Mapping[str, Any]) -> DataParams:
        what, _, listed = (step["artifact"] or "").partition(":")
        return cls(what, _listed(listed))


class _HasInventory(Protocol):
    @property
    def inventory(self) -> Inventory: ...


def _inventory(ctx: StepContext) -> Inventory:
    world: _HasInventory = ctx.world
    return world.inventory


def _local(ctx: StepContext) -> Runner:
    return ctx.runner(Command(("kubectl",)))


def _talos(ctx: StepContext) -> t.Talosctl:
    return t.Talosctl(_inventory(ctx).cluster.talosconfig)


def _kctl(ctx: StepContext) -> k.Kubectl:
    return k.Kubectl(_inventory(ctx).cluster.kubeconfig)


def _etcd_state(runner: Runner, talos: t.Talosctl, ip: str) -> tuple[str, str]:
    """(STATE, HEALTH) of the etcd service on ``ip``; ("unreachable: …", "") when it does not answer."""
    result = runner.run(talos.service(ip, "etcd"), timeout=30)
    if result.failed:
        return "unreachable: " + (result.last_error_line() or f"exit {result.exit_code}"), ""
    try:
        info = t.parse_service(result.stdout)
    except HomeopsError as exc:
        return " ".join(str(exc).split()), ""
    return info.state, info.health


def _boot_id(runner: Runner, talos: t.Talosctl, ip: str) -> str | None:
    """The node's boot ID; None when it does not answer (down, rebooting) or prints none."""
    try:
        return t.boot_id(runner, talos, ip)
    except HomeopsError:
        return None


def not_the_node(runner: Runner, talos: t.Talosctl, node: str, ip: str) -> str | None:
    """Why a reset must not be sent to ``ip``: the configured machine answering there is not ``node``.

    A reset is addressed by IP: a DHCP lease that moved, or a wrong IP in the inventory, would wipe another
    machine. Stricter than the rolling upgrades (``identity.impostor`` lets an unknown name pass): a wipe
    goes only to a machine that says it is the plan's node. Asked only of a node that answers as
    configured; a node in maintenance mode has no hostname yet, and nothing left to wipe."""
    return who_answers(node, ip, *hostname_at(runner, talos, ip))


def who_answers(node: str, ip: str, seen: str | None, error: str) -> str | None:
    """``not_the_node`` for a hostname already read (``hostname_at``)."""
    if seen == node:
        return None
    if seen is None:
        return (
            f"{ip} answers as a configured Talos node whose hostname cannot be read ({error}): it may not be {node}, "
            f"and a reset would wipe whichever machine has {ip} — nothing was sent; check which machine answers "
            f"there (`talosctl -n {ip} read {HOSTNAME_FILE}`) and run again"
        )
    return (
        f"{ip} answers as {seen}, not {node} (a DHCP lease that moved, or a wrong IP in homeops.yaml): a reset "
        f"would wipe {seen} — nothing was sent; give {node} its IP back (DHCP reservation) or fix homeops.yaml, "
        "then run again"
    )


def healthy_again(ctx: StepContext, steps: Sequence[Step]) -> str | None:
    """Why the fresh model's wipes (STATE+EPHEMERAL resets, VMs destroyed) must not go out now: the cluster
    has etcd quorum and its API answers — what ``drmodel.choose`` refuses as "nothing to rebuild" — seen
    at the point they would be sent, on a first run and on a resume alike (a cluster can recover between
    the plan and the wipe, or between a kill and ``--resume``). ``--even-if-healthy``, given again on the
    resume, lets them go. A batch of workers only is never refused: that rebuild keeps etcd and the apps
    running by design."""
    if not any(s.control_plane for s in steps) or getattr(ctx.world, "even_if_healthy", False):
        return None
    inventory = _inventory(ctx)
    runner, talos = _local(ctx), _talos(ctx)
    healthy = [n.hostname for n in inventory.control_planes if _etcd_state(runner, talos, n.ip) == ("Running", "OK")]
    members = len(inventory.control_planes)
    if len(healthy) <= members // 2 or not k.readyz(runner, _kctl(ctx)):
        return None
    return (
        f"the cluster is healthy again (etcd {len(healthy)}/{members} members healthy: {', '.join(healthy)}; the "
        "Kubernetes API answers): a fresh rebuild would wipe a working cluster — nothing was sent; run dr.rebuild "
        "again to look anew, or add --even-if-healthy to wipe it anyway"
    )


def _strings(value: object) -> list[str]:
    return [str(x) for x in value] if isinstance(value, list) else []


def pause_argv(kctl: k.Kubectl, key: str, paused: bool) -> list[str]:
    namespace, name = key.split("/", 1)
    return vs._merge_patch(kctl, vs.SOURCES, namespace, name, PAUSED if paused else RESUMED)


def created_times(text: str, what: str) -> dict[str, float]:
    """``ns/name`` → metadata.creationTimestamp of each item of a ``kubectl get -o json`` List."""
    out = {}
    for item in parse_json_object(text, what=what).get("items") or []:
        meta = item.get("metadata") or {}
        when = vs.parse_time(meta.get("creationTimestamp"))
        if when is not None:
            out[f"{meta.get('namespace', '')}/{meta.get('name', '')}"] = when
    return out


def populated_volumes(text: str) -> dict[str, str]:
    """``ns/claim`` → the PV's ``volsync.backube/populated-from`` annotation (VolSync writes it on the PV)."""
    out = {}
    for item in parse_json_object(text, what="kubectl get persistentvolumes").get("items") or []:
        ref = (item.get("spec") or {}).get("claimRef") or {}
        source = ((item.get("metadata") or {}).get("annotations") or {}).get(vs.POPULATED_FROM)
        if ref and source:
            out[f"{ref.get('namespace', '')}/{ref.get('name', '')}"] = str(source)
    return out


# ----------------------------------------------------------------------------------- etcd-restore


class DrEtcdBackup(StepKind):
    """The last chance: a snapshot from a surviving member, else its raw ``db``, else the newest kept one."""

    name = "dr-etcd-backup"
    params = EtcdBackupParams

    def run(self, ctx: StepContext, step: Step) -> None:
        if ctx.journal.step(step.id).data.get("file"):
            return  # taken before a kill: a second copy would be newer than the wipe it must precede
        runner = _local(ctx)
        tried = []
        for command in step.commands:
            raw = raw_cmd(command)
            target = _after(command.argv, ETCD_DB if raw else "snapshot")
            if raw:
                Path(target).mkdir(parents=True, exist_ok=True, mode=0o700)
            result = runner.run(list(command.argv), timeout=command.timeout)
            where = _after(command.argv, "--nodes") or "?"
            if result.ok:
                file = str(Path(target) / "db") if raw else target
                if not raw:
                    from homeops import snapshotsum

                    snapshotsum.write_sidecar(Path(file))
                ctx.journal.note(step.id, file=file, raw=raw, source=where)
                ctx.progress.note(
                    f"last-chance etcd {'raw db copy' if raw else 'snapshot'} from {where}: {file}"
                    + (" (restored with --recover-skip-hash-check)" if raw else "")
                )
                return
            tried.append(f"{'cp db' if raw else 'etcd snapshot'} on {where}: "
                         f"{result.last_error_line() or f'exit {result.exit_code}'}")  # fmt: skip
        fallback = step.param(EtcdBackupParams).fallback or ""
        if fallback:
            ctx.journal.note(step.id, file=fallback, raw=False, source="kept", tried=tried)
            ctx.progress.note(f"no fresh etcd copy could be taken ({'; '.join(tried)}); restoring {fallback}")
            return
        raise PlanError(
            "no etcd snapshot could be taken from any control plane and none was kept: nothing was changed ("
            + "; ".join(tried)
            + ")",
            hint="bring one control plane's etcd back to Running, or rebuild from scratch with --fresh",
        )

    def reached(self, step: Step, record: Any) -> str | None:
        data = getattr(record, "data", {}) or {}
        return str(data.get("file") or "")


def raw_cmd(command: Command) -> bool:
    return "cp" in command.argv


def _after(argv: Sequence[str], word: str) -> str:
    return argv[argv.index(word) + 1] if word in argv and argv.index(word) + 1 < len(argv) else ""


class DrResetEphemeral(StepKind):
    """EPHEMERAL only, control planes only; waits for etcd ``Preparing`` on each."""

    name = "dr-reset-ephemeral"
    lockstep = True
    wait_order = (PREPARING,)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        PREPARING: WaitTerms(
            "`talosctl service etcd` says Preparing (no data, waiting for the bootstrap)",
            hint="look at `talosctl -n <node> service etcd` and `talosctl -n <node> logs etcd`",
        )
    }

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        out = {}
        runner, talos = _local(ctx), _talos(ctx)
        healthy = []
        for step in steps:
            name, error = hostname_at(runner, talos, step.node_ip or "")
            state, health = _etcd_state(runner, talos, step.node_ip or "")
            reachable = not state.startswith("unreachable")
            # the machine at the IP must be this node before its state counts, and before anything is wiped
            answered = name is not None or reachable
            wrong = who_answers(step.node or "", step.node_ip or "", name, error) if answered else None
            if wrong:
                out[step.id] = Look(False, wrong)
                continue
            boot = _boot_id(runner, talos, step.node_ip or "")
            if state == "Running" and health == "OK":
                healthy.append(step.node or "")
            # Preparing already (a run killed after the reset): done; the boot ID tells a reboot happened
            seen = f"etcd {state} {health}".strip()
            out[step.id] = Look(reachable, seen, marker=boot, done=state == "Preparing", before=state)
        members = len(_inventory(ctx).control_planes)
        if len(healthy) > members // 2 and not getattr(ctx.world, "even_if_healthy", False):
            # Quorum came back since the plan looked (or on a resume hours later): the Talos guide restores
            # quorum rather than etcd, so nothing is wiped.
            why = (
                f"etcd has quorum again ({', '.join(healthy)} Running and healthy, {len(healthy)}/{members}): "
                "an etcd restore would throw a working etcd away — run dr.rebuild again to look anew"
            )
            return {sid: replace(look, ready=False, observed=why) for sid, look in out.items()}
        return out

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        runner, talos = _local(ctx), _talos(ctx)

        def look() -> Observation[None]:
            waiting = []
            for step in steps:
                marker = ctx.journal.step(step.id).marker
                boot = _boot_id(runner, talos, step.node_ip or "")
                if marker and boot in (None, marker):
                    waiting.append(f"{step.node}: not rebooted yet")
                    continue
                state, _ = _etcd_state(runner, talos, step.node_ip or "")
                if state != "Preparing":
                    waiting.append(f"{step.node}: etcd {state}")
                    continue
                # success is judged on the node: a Preparing etcd at its IP must be this node's
                name, _ = hostname_at(runner, talos, step.node_ip or "")
                if name is not None and name != step.node:
                    return Observation.failed(
                        f"{step.node_ip} answers as {name}, not {step.node}: the etcd Preparing there is not "
                        f"{step.node}'s (its IP moved)"
                    )
            return Observation.waiting("; ".join(waiting)) if waiting else Observation.ok("etcd Preparing")

        return look

    def arrived(self, ctx: StepContext, step: Step, record: object) -> bool:
        runner, talos = _local(ctx), _talos(ctx)
        if _etcd_state(runner, talos, step.node_ip or "")[0] != "Preparing":
            return False
        return hostname_at(runner, talos, step.node_ip or "")[0] == step.node

    def sent_already(self, ctx: StepContext, step: Step, record: Any) -> bool:
        """Killed between the reset and its journal line: a node that went down, rebooted or whose etcd is
        Preparing got it; wiping it again would only cost a reboot, but the rule is once."""
        runner, talos = _local(ctx), _talos(ctx)
        boot = _boot_id(runner, talos, step.node_ip or "")
        if boot is None or (record.marker and boot != record.marker):
            return True
        return _etcd_state(runner, talos, step.node_ip or "")[0] == "Preparing"


class DrRecover(StepKind):
    """``bootstrap --recover-from`` with the file the backup step produced; retried while not ready."""

    name = "dr-recover"
    params = RecoverParams
    wait_order = (ETCD_UP, API)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        ETCD_UP: WaitTerms("every control plane's etcd Running and healthy (the others join by themselves)"),
        API: WaitTerms("the Kubernetes API answers /readyz"),
    }

    def run(self, ctx: StepContext, step: Step) -> None:
        inventory = _inventory(ctx)
        source = step.param(RecoverParams).backup_step
        backup = ctx.journal.step(source).data
        file = str(backup.get("file") or "")
        if not file:
            raise PlanError(f"{source} recorded no etcd copy: nothing to restore from")
        argv = _talos(ctx).bootstrap(step.node_ip or "", recover_from=file, skip_hash_check=bool(backup.get("raw")))
        command = Command(tuple(argv), timeout=120)
        sent_before = bool(ctx.journal.step(step.id).data.get("argv"))
        ctx.journal.note(step.id, argv=" ".join(argv))
        said = [""]

        def not_ready(result: Result) -> bool:
            if result.ok or (t.is_already_bootstrapped(result) and sent_before):
                return False
            text = result.last_error_line() or ""
            return NOT_READY_FOR_RECOVERY in text or t.is_bootstrap_not_ready(result) or t.is_unreachable(result)

        def note(result: Result | BaseException) -> None:
            text = (result.last_error_line() or "") if isinstance(result, Result) else str(result)
            if text != said[0]:
                ctx.progress.note(f"{step.node}: {text} — trying again")
                said[0] = text

        result = poll(
            lambda: _local(ctx).run(list(argv), timeout=command.timeout),
            clock=ctx.clock,
            interval=inventory.policy.poll_interval,
            again=not_ready,
            deadline=ctx.clock.monotonic() + (step.waits[0].timeout if step.waits else 900.0),
            note=note,
        )
        if result.ok:
            info = t.parse_recovery(result.stdout)
            ctx.progress.note(
                f"etcd restored on {step.node} from {file}" + (f" (revision {info.revision})" if info else "")
            )
            return
        if t.is_already_bootstrapped(result) and sent_before:
            return  # sent before a kill: etcd holds the restore already
        text = result.last_error_line() or ""
        raise CommandError(
            f"talosctl bootstrap --recover-from on {step.node} failed: {text or f'exit {result.exit_code}'}",
            command=result.command,
            exit_code=result.exit_code,
            target=step.node,
            hint=f"`talosctl -n {step.node_ip} service etcd` must say Preparing; the copy is {file}",
        )

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        inventory = _inventory(ctx)
        runner, talos, kctl = _local(ctx), _talos(ctx), _kctl(ctx)

        def etcd_up() -> Observation[None]:
            waiting = []
            for node in inventory.control_planes:
                state, health = _etcd_state(runner, talos, node.ip)
                if state != "Running" or health != "OK":
                    waiting.append(f"{node.hostname}: etcd {state} {health}".strip())
            return Observation.waiting("; ".join(waiting)) if waiting else Observation.ok("every member healthy")

        def api() -> Observation[None]:
            result = runner.run(kctl.readyz(), timeout=30)
            return Observation.ok("/readyz ok") if result.ok else Observation.waiting(result.last_error_line() or "")

        return etcd_up if wait_kind == ETCD_UP else api


class DrInPlace(StepKind):
    """After an etcd restore: which volumes kept their data in place, which pointed at wiped disks."""

    name = "dr-inplace"
    params = InPlaceParams

    def run(self, ctx: StepContext, step: Step) -> None:
        from homeops.operations import drmodel

        inventory = _inventory(ctx)
        wiped = set(step.param(InPlaceParams).wiped)
        seen = drmodel.observe(inventory, _local(ctx), now=ctx.clock.now())
        kept, lost = [], []
        for volume in seen.volumes or ():
            if volume.local and (volume.node in wiped or volume.node is None):
                lost.append(f"{volume.claim} ({volume.storage_class} on {volume.node or '?'}): its disk was wiped")
            else:
                kept.append(f"{volume.claim} ({volume.storage_class})")
        detail = ["etcd restored: every object is back as it was, status included; no volume was re-populated"]
        detail += [f"kept in place: {v}" for v in kept]
        detail += [f"EMPTY: {v}" for v in lost]
        ctx.journal.note(step.id, restored=[], kept=kept, lost=lost, detail=detail, problems=lost)
        for line in detail:
            ctx.progress.note(line)

    def reached(self, step: Step, record: Any) -> str | None:
        data = getattr(record, "data", {}) or {}
        lost = data.get("lost") or []
        return f"{len(data.get('kept') or [])} volume(s) kept in place" + (f"; {len(lost)} EMPTY" if lost else "")


# ----------------------------------------------------------------------------------- fresh: backups


class DrLastBackups(StepKind):
    """Every ReplicationSource of the old cluster triggered once more and waited for; the trigger released."""

    name = "dr-last-backups"
    params = LastBackupsParams

    def run(self, ctx: StepContext, step: Step) -> None:
        if ctx.journal.step(step.id).data.get("detail"):
            return  # done before a kill
        kctl, runner = _kctl(ctx), _local(ctx)
        token = step.param(LastBackupsParams).token
        timeout = step.waits[0].timeout if step.waits else 3600.0
        result = runner.run(vs.get_sources(kctl), timeout=60)
        if k.is_not_found(result):
            ctx.journal.note(step.id, detail=["VolSync is not installed: nothing to back up"])
            return
        if result.failed:
            raise CommandError(
                f"cannot list the ReplicationSources: {result.last_error_line()}", command=result.command
            )
        sources = vs.parse_sources(result.stdout)
        for source in sources:
            if source.manual != token:
                ns, name = source.key.split("/", 1)
                ctx.send(
                    Command(tuple(vs.trigger_manual(kctl, ns, name, token))), what=f"trigger {source.key}", target=None
                )
        deadline = ctx.clock.monotonic() + timeout

        def unsynced() -> list[str]:
            now = vs.parse_sources(runner.run(vs.get_sources(kctl), timeout=60).stdout or '{"items":[]}')
            return [s.key for s in now if s.last_manual_sync != token]

        pending = poll(
            first_then([s.key for s in sources], unsynced),
            clock=ctx.clock,
            interval=_inventory(ctx).policy.poll_interval,
            again=bool,
            deadline=deadline,
        )
        for source in sources:  # a trigger left set switches the schedule off
            ns, name = source.key.split("/", 1)
            ctx.send(Command(tuple(vs.release_manual(kctl, ns, name))), what=f"release {source.key}", target=None)
        databases = self._databases(ctx, token, deadline)
        pending += [key for key, phase in databases.items() if phase != "completed"]
        if pending:
            raise PlanError(
                f"the last backups did not finish in {timeout:g}s: {', '.join(pending)}; nothing was wiped",
                hint="look at `kubectl describe replicationsource`, `kubectl get backups.postgresql.cnpg.io -A` "
                "and the mover logs, then run again",
            )
        detail = [f"backed up {s.key} just now (trigger {token})" for s in sources]
        detail += [f"backed up database {key} just now (Backup {token}-{key.split('/')[1]})" for key in databases]
        ctx.journal.note(step.id, detail=detail)
        for line in detail:
            ctx.progress.note(line)

    @staticmethod
    def _databases(ctx: StepContext, token: str, deadline: float) -> dict[str, str]:
        """An on-demand CNPG Backup of each cluster, waited for: ``ns/cluster`` → its last phase."""
        kctl, runner = _kctl(ctx), _local(ctx)
        result = runner.run(cnpg.get_clusters(kctl), timeout=60)
        if result.failed:
            return {}
        clusters = cnpg.parse_clusters(result.stdout)
        names = {c.key: f"{token}-{c.name}"[:63] for c in clusters}
        made = runner.run(cnpg.get_backups(kctl), timeout=60)
        existing = cnpg.parse_backups(made.stdout) if made.ok else {}
        for c in clusters:
            if f"{c.namespace}/{names[c.key]}" not in existing:
                manifest = cnpg.backup_manifest(c.namespace, c.name, names[c.key])
                _create(ctx, kctl, manifest, c.key)

        def phases() -> dict[str, str]:
            seen = runner.run(cnpg.get_backups(kctl), timeout=60)
            found = cnpg.parse_backups(seen.stdout) if seen.ok else {}
            return {c.key: found.get(f"{c.namespace}/{names[c.key]}", "") for c in clusters}

        return poll(
            phases,
            clock=ctx.clock,
            interval=_inventory(ctx).policy.poll_interval,
            again=lambda now: not all(p in ("completed", "failed") for p in now.values()),
            deadline=deadline,
        )


def _create(ctx: StepContext, kctl: k.Kubectl, manifest: str, what: str) -> None:
    """``kubectl create -f -`` with the manifest on stdin (its stdin is not part of the journaled argv)."""
    argv = kctl._cmd("create", "--filename", "-")
    result = _local(ctx).run(argv, timeout=60, stdin=manifest)
    if result.failed and "AlreadyExists" not in (result.last_error_line() or ""):
        raise CommandError(
            f"kubectl create Backup for {what} failed: {result.last_error_line()}", command=result.command
        )


def _sources(runner: Runner, kctl: k.Kubectl) -> list[vs.Source] | None:
    result = runner.run(vs.get_sources(kctl), timeout=60)
    if result.failed:
        return None
    return vs.parse_sources(result.stdout)


def _kustomizations_ready(runner: Runner, kctl: k.Kubectl) -> bool:
    result = runner.run(kctl.get_kustomizations(), timeout=60)
    if result.failed:
        return False
    items = parse_json_object(result.stdout, what="kubectl get kustomizations").get("items") or []
    return bool(items) and all(
        any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (i.get("status") or {}).get("conditions", [])
        )
        for i in items
    )


class DrPauseBackups(StepKind):
    """``spec.paused: true`` on each new ReplicationSource as soon as it exists, read back."""

    name = "dr-pause-backups"
    params = PauseParams

    def run(self, ctx: StepContext, step: Step) -> None:
        kctl, runner = _kctl(ctx), _local(ctx)
        expected = list(step.param(PauseParams).sources)
        deadline = ctx.clock.monotonic() + (step.waits[0].timeout if step.waits else 1800.0)
        paused: list[str] = _strings(ctx.journal.step(step.id).data.get("paused"))

        def pause_what_is_there() -> bool:
            """Pause each source there is; True once every expected one was there (or, expecting none,
            Flux has applied everything)."""
            sources = _sources(runner, kctl) or []
            for source in sources:
                if not source.paused:
                    ctx.send(
                        Command(tuple(pause_argv(kctl, source.key, True))), what=f"pause {source.key}", target=None
                    )
                if source.key not in paused:
                    paused.append(source.key)
                    ctx.journal.note(step.id, paused=paused)
            keys = {s.key for s in sources}
            missing = [x for x in expected if x not in keys]
            settled = not expected and _kustomizations_ready(runner, kctl)
            return bool(expected and not missing) or settled

        poll(
            pause_what_is_there,
            clock=ctx.clock,
            interval=_inventory(ctx).policy.poll_interval,
            again=lambda done: not done,
            deadline=deadline,
        )
        check = _sources(runner, kctl) or []
        still = [s.key for s in check if not s.paused]
        if still:  # a patch that did not stick (Flux, a webhook): say so, never go on as if paused
            raise PlanError(f"ReplicationSources not paused after the patch: {', '.join(still)}")
        missing = [x for x in expected if x not in {s.key for s in check}]
        ctx.journal.note(step.id, paused=paused, missing=missing)
        ctx.progress.note(
            f"backups paused: {', '.join(paused) or 'none'}"
            + (f"; never appeared: {', '.join(missing)}" if missing else "")
        )


class DrResumeBackups(StepKind):
    """Resume what ``dr-pause-backups`` paused, only once every restore was proven."""

    name = "dr-resume-backups"
    params = ResumeParams

    def run(self, ctx: StepContext, step: Step) -> None:
        kctl = _kctl(ctx)
        pause_id, data_ids = step.param(ResumeParams).pause_step, step.param(ResumeParams).data_steps
        problems = [p for sid in data_ids for p in _strings(ctx.journal.step(sid).data.get("problems"))]
        paused = _strings(ctx.journal.step(pause_id).data.get("paused"))
        if problems:
            lines = [" ".join(pause_argv(kctl, key, False)) for key in paused]
            note = (
                f"backups LEFT PAUSED ({', '.join(paused)}): a restore is not proven; resuming now could make an "
                "empty volume the newest backup. Resume by hand once the data is checked: " + " ; ".join(lines)
            )
            ctx.journal.note(step.id, resumed=[], problems=[note])
            ctx.progress.note(note)
            return
        still = {src.key for src in _sources(_local(ctx), kctl) or [] if src.paused}
        for key in paused:
            if key in still:  # resumed before a kill: not again
                ctx.send(Command(tuple(pause_argv(kctl, key, False))), what=f"resume {key}", target=None)
        ctx.journal.note(step.id, resumed=paused)
        ctx.progress.note(f"backups resumed: {', '.join(paused) or 'none'}")


# ----------------------------------------------------------------------------------- fresh: data proof


class DrData(StepKind):
    """Wait for the restores up to the step's deadline; only what this run restored, non-empty, counts."""

    name = "dr-data"
    params = DataParams

    def skips(self, wait: Wait, record: object) -> bool:
        return True  # the deadline is this kind's own polling, in run()

    def run(self, ctx: StepContext, step: Step) -> None:
        inventory = _inventory(ctx)
        what, expected = step.param(DataParams).what, list(step.param(DataParams).expected)
        since = float(ctx.journal.record().created)
        runner, kctl = _local(ctx), _kctl(ctx)
        said: list[list[str]] = [[]]

        def look() -> tuple[list[str], list[str], list[str], list[str]]:
            if what == "volsync":
                return self._volsync(runner, kctl, expected, since)
            return self._cnpg(runner, kctl, expected, since)

        def note(seen: object) -> None:
            pending = seen[1] if isinstance(seen, tuple) else []
            if pending != said[0]:
                ctx.progress.note(f"{step.summary}: waiting for {', '.join(pending)}")
                said[0] = pending

        done, pending, failed, detail = poll(
            look,
            clock=ctx.clock,
            interval=inventory.policy.poll_interval,
            again=lambda seen: bool(seen[1]),
            deadline=ctx.clock.monotonic() + (step.waits[0].timeout if step.waits else 3600.0),
            note=note,
        )
        problems = [d for d in detail if d.startswith("NOT")]
        ctx.journal.note(step.id, restored=done, not_restored=pending + failed, detail=detail, problems=problems)
        for line in detail:
            ctx.progress.note(line)

    def reached(self, step: Step, record: Any) -> str | None:
        data = getattr(record, "data", {}) or {}
        missing = data.get("not_restored") or []
        return f"{len(data.get('restored') or [])} restored" + (f"; NOT: {', '.join(missing)}" if missing else "")

    @staticmethod
    def _volsync(
        runner: Runner, kctl: k.Kubectl, expected: list[str], since: float
    ) -> tuple[list[str], list[str], list[str], list[str]]:
        rds = runner.run(vs.get_destinations(kctl), timeout=60)
        if rds.failed and not k.is_not_found(rds):
            return [], ["the Kubernetes API"], [], [f"NOT readable: {rds.last_error_line()}"]
        found = vs.parse_destinations(rds.stdout) if rds.ok else []
        keys = {d.key for d in found}
        waiting = [f"{x} (not created yet)" for x in expected if x not in keys]
        if not found and not expected:
            if not _kustomizations_ready(runner, kctl):
                return [], ["the apps' Kustomizations (not Ready yet)"], [], []
            return [], [], [], ["no ReplicationDestination in the cluster: nothing to restore"]
        created = created_times(rds.stdout, "kubectl get replicationdestinations") if rds.ok else {}
        pvcs = runner.run(vs.get_pvcs(kctl), timeout=60)
        pvs = runner.run(kctl.get_json("persistentvolumes"), timeout=60)
        claims = (
            {(c.namespace, c.source_name): c for c in vs.parse_claims(pvcs.stdout) if c.from_volsync} if pvcs.ok else {}
        )
        populated = populated_volumes(pvs.stdout) if pvs.ok else {}
        done, pending, failed, detail = [], list(waiting), [], []
        for d in found:
            claim = claims.get((d.namespace, d.name))
            if created.get(d.key, 0.0) < since:
                failed.append(d.key)
                detail.append(f"NOT restored {d.key}: it predates this run (status from before the disaster)")
                continue
            if d.empty:
                failed.append(d.key)
                detail.append(f"NOT restored {d.key}: no snapshot matched (No eligible snapshots): the volume is EMPTY")
                continue
            if not d.restored:
                pending.append(d.key)
                detail.append(f"NOT restored {d.key}: {d.reason or 'not started'}")
                continue
            if claim is None or not claim.populated:
                pending.append(d.key)
                detail.append(f"NOT restored {d.key}: its PVC is {'missing' if claim is None else claim.phase}")
                continue
            source = populated.get(f"{claim.namespace}/{claim.name}")
            if source is None:
                pending.append(d.key)
                detail.append(f"NOT restored {d.key}: PVC {claim.name} Bound but its PV has no populated-from")
                continue
            done.append(d.key)
            when = vs.format_time(d.last_sync_time) if d.last_sync_time else "?"
            image = d.latest_image[1] if d.latest_image else "?"
            detail.append(f"restored {d.key} at {when} → {image}, PVC {claim.name} Bound, PV populated from {source}")
        detail += [f"NOT restored {x}: never created" for x in expected if x not in keys]
        return done, pending, failed, detail

    @staticmethod
    def _cnpg(
        runner: Runner, kctl: k.Kubectl, expected: list[str], since: float
    ) -> tuple[list[str], list[str], list[str], list[str]]:
        result = runner.run(cnpg.get_clusters(kctl), timeout=60)
        if result.failed and not k.is_not_found(result):
            return [], ["the Kubernetes API"], [], [f"NOT readable: {result.last_error_line()}"]
        found = cnpg.parse_clusters(result.stdout) if result.ok else []
        keys = {c.key for c in found}
        if not found and not expected:
            if not _kustomizations_ready(runner, kctl):
                return [], ["the apps' Kustomizations (not Ready yet)"], [], []
            return [], [], [], ["no CloudNativePG cluster in the cluster: no database to restore"]
        done, pending, failed, detail = [], [f"{x} (not created yet)" for x in expected if x not in keys], [], []
        for c in found:
            born = vs.parse_time(c.created) or 0.0
            if born < since:
                failed.append(c.key)
                detail.append(f"NOT restored {c.key}: it predates this run (status from before the disaster)")
            elif c.healthy:
                done.append(c.key)
                detail.append(f"restored {c.key} from {c.server_name or '?'}: {c.describe()}")
            else:
                pending.append(c.key)
                detail.append(f"NOT healthy {c.key}: {c.describe()} — read the {c.name}-1-full-recovery job's logs")
        detail += [f"NOT restored {x}: never created" for x in expected if x not in keys]
        return done, pending, failed, detail


for _kind in (
    DrEtcdBackup(),
    DrResetEphemeral(),
    DrRecover(),
    DrInPlace(),
    DrLastBackups(),
    DrPauseBackups(),
    DrResumeBackups(),
    DrData(),
):
    register(_kind)


def problems(journal: Any, plan: Any) -> list[str]:
    """What the run's reported steps could not prove ("done with problems")."""
    out: list[str] = []
    for step in plan.steps:
        out += _strings(journal.step(step.id).data.get("problems"))
    return out
