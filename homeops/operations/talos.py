"""The Talos node-operations workflow: the step kinds its planners use, registered with the engine.

* ``upgrade`` / ``apply`` / ``reboot`` change a node (lockstep): the look before sending reads every
  node of the batch (running, ready, its boot ID); waits: rebooted → running (on the target version;
  back on the old one is an A/B rollback and fails at once) → Kubernetes Ready → etcd member healthy.
  Resume never sends twice: a node whose boot ID changed, or that runs the target, got the command.
* ``etcd-snapshot`` saves a snapshot (verified non-empty) and copies it to the NAS when asked;
  ``talos.etcd-snapshot`` is the same kind as a one-step plan.
* ``vm-snapshot`` (registered by ``homeops.operations.vm``) snapshots a node's Proxmox VM before it
  changes; a failed node's rollback line names it.
* ``upgrade-k8s`` runs ``talosctl upgrade-k8s`` and waits until every kubelet reports the target.
* ``drain`` / ``uncordon`` (talosctl ≥ 1.13, see ``planners.homeops_drains``): ``kubectl drain``
  runs before its batch's look, so the upgrade goes out on a look taken after the drain; the
  upgrade then waits for the node Ready but still cordoned (``k8s-back``), and ``uncordon`` is a
  lockstep step of the next batch (done already when the node is schedulable), waiting ``k8s-ready``.
  Both are idempotent, so a crash between drain and upgrade, or before the uncordon, resumes by
  running them again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

from homeops.adapters import kubectl, talosctl
from homeops.engine.journal import StepRecord
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Step, Wait
from homeops.engine.text import one_line
from homeops.engine.waits import Observation
from homeops.errors import CommandError, CommandTimeout, GateFailed, HomeopsError
from homeops.fanout import fanout
from homeops.operations import vm as _vm  # registers vm-snapshot (rolling plans); the VM record
from homeops.operations.conditions import probe_for
from homeops.operations.health import ClusterWorld
from homeops.privatefs import make_private, private_dir
from homeops.runners import Result
from homeops.snapshotsum import write_sidecar

NODE_WAITS = ("rebooted", "running", "k8s-back", "k8s-ready", "etcd-member")

TERMS: dict[str, WaitTerms] = {
    "rebooted": WaitTerms(
        "a new boot ID",
        hint="the node did not come back: check its console (Proxmox) and `talosctl dmesg`; if it is up on its "
        "old boot ID, the installer finished but no reboot came (home-operations/tuppr#575): "
        "`talosctl -n <ip> reboot`, then resume",
    ),
    "running": WaitTerms(
        "stage running, ready, on the expected version",
        "it comes back on the old version (A/B rollback) or another version",
        "see `talosctl -n <ip> dmesg` and `talosctl -n <ip> get machinestatus`",
    ),
    "k8s-ready": WaitTerms(
        "the Kubernetes node Ready and schedulable",
        hint="check `kubectl describe node`; uncordon with `kubectl uncordon <node>` once healthy",
    ),
    "k8s-back": WaitTerms(
        "the Kubernetes node Ready (homeops drained it: it stays cordoned until its uncordon step)",
        hint="check `kubectl describe node`; the node is cordoned by homeops: resume, or `kubectl uncordon <node>`",
    ),
    "etcd-member": WaitTerms(
        "its etcd member healthy and every control plane's member healthy",
        "an etcd alarm is raised",
        "check `talosctl -n <ip> etcd status` and `talosctl -n <ip> service etcd`",
    ),
    "volumes-detached": WaitTerms(
        "no VolumeAttachment left on the drained node",
        hint="see `kubectl get volumeattachments` and the CSI driver's logs (Longhorn, Rook-Ceph); the node is "
        "cordoned, nothing was rebooted",
    ),
    "k8s-version": WaitTerms(
        "every kubelet on the target version",
        hint="re-run `inv talos.upgrade-k8s`; talosctl upgrade-k8s is safe to restart",
    ),
}


def _world(ctx: StepContext) -> ClusterWorld:
    world = ctx.world
    assert isinstance(world, ClusterWorld), f"talos steps need a ClusterWorld, got {type(world).__name__}"
    return world


class _Talosctl(StepKind):
    """Errors talosctl reports: a quorum refusal is final, an unreachable node had nothing reach it."""

    terms = TERMS

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        if talosctl.is_quorum_refusal(result):
            return CommandError(
                f"{what} on {target} refused by Talos to protect etcd quorum: {result.last_error_line()}",
                command=result.command,
                exit_code=result.exit_code,
                target=target,
                hint="wait until every etcd member is healthy and no other node is upgrading",
            )
        return None

    def unreachable(self, result: Result) -> bool:
        return talosctl.is_unreachable(result)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)
        if wait_kind == "k8s-back":
            return _k8s_back(world, steps)
        boot_ids = {s.node or "": ctx.journal.step(s.id).marker for s in steps}
        return probe_for(wait_kind, steps, inventory=world.inventory, observer=world.observer, boot_ids=boot_ids)


def _k8s_back(world: ClusterWorld, steps: Sequence[Step]) -> Probe:
    """Ready, cordoned or not: a node homeops drained stays cordoned (Talos uncordons only its own cordon)."""
    names = [s.node or "" for s in steps]

    def back() -> Observation[None]:
        k8s = world.observer.k8s_nodes()
        waiting = [
            f"{name}: {'not registered' if name not in k8s else 'NotReady'}"
            for name in names
            if name not in k8s or not k8s[name].ready
        ]
        if waiting:
            return Observation[None].waiting("; ".join(waiting))
        seen = [f"{n}: Ready, cordoned" if k8s[n].unschedulable else f"{n}: Ready" for n in names]
        return Observation[None].ok("; ".join(seen))

    return back


class NodeChange(_Talosctl):
    """A talosctl command that changes one node; the node's boot ID is the marker."""

    lockstep = True
    wait_order = NODE_WAITS
    look_gate = "node-ready"

    def run(self, ctx: StepContext, step: Step) -> None:
        for command in step.commands:
            ctx.send(command, what=f"talosctl {step.action}", target=step.node)

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        world = _world(ctx)
        nodes = [world.inventory.node(s.node or "") for s in steps]
        seen = world.observer.nodes(nodes, boot_ids=True, versions=False)
        looks = {}
        for step, node in zip(steps, nodes, strict=True):
            facts = seen[node.hostname]
            ready = facts.running_ready and bool(facts.boot_id)
            looks[step.id] = Look(ready, facts.describe(), marker=facts.boot_id, before=step.from_version)
        return looks

    def _seen(self, ctx: StepContext, step: Step) -> tuple[bool, str | None, str | None]:
        world = _world(ctx)
        node = world.inventory.node(step.node or "")
        seen = ctx.retrying(lambda: world.observer.nodes([node], boot_ids=True))[node.hostname]
        return seen.running_ready, seen.boot_id, seen.version

    def sent_already(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        ready, boot_id, version = self._seen(ctx, step)
        # Down, rebooting or already back with a new boot: the command reached the node.
        if not ready or (boot_id and boot_id != record.marker):
            return True
        return step.action == "upgrade" and version == step.to_version

    def arrived(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        if not step.node:
            return False
        ready, boot_id, version = self._seen(ctx, step)
        if not ready or boot_id == record.marker:
            return False
        return step.action != "upgrade" or (version or "").lstrip("v") == (step.to_version or "").lstrip("v")

    def on_failure(self, ctx: StepContext, plan_steps: Sequence[Step]) -> list[str]:
        """Each node whose step of this kind failed: its support bundle, encrypted, into the run folder."""
        from homeops.operations import evidence

        world = _world(ctx)
        failed = [
            s
            for s in plan_steps
            if s.action == self.name
            and s.node
            and ctx.journal.step(s.id).status == "failed"
            and ctx.journal.step(s.id).data.get("evidence_for") != ctx.journal.step(s.id).error
        ]
        if not failed:
            return []
        try:
            keys = evidence.recipients(world.inventory)
        except HomeopsError as exc:
            return [f"no failure evidence: the age recipients could not be read ({one_line(exc, 160)})"]
        if not keys:
            return ["no failure evidence collected: no age recipient in .sops.yaml to encrypt it to"]
        lines = []
        tctl = talosctl.Talosctl(world.inventory.cluster.talosconfig)
        for step in failed:
            record = ctx.journal.step(step.id)
            node = world.inventory.node(step.node or "")
            runner = ctx.runner(Command(("talosctl",)))
            try:
                found = evidence.collect(
                    evidence.local_run(runner), tctl, node, ctx.journal.directory, keys, reason=record.error or ""
                )
            except (HomeopsError, OSError, ValueError) as exc:
                lines.append(f"failure evidence for {node.hostname} not written: {one_line(exc, 160)}")
                continue
            ctx.journal.add_artifact(f"evidence_{node.hostname}", str(found.path))
            ctx.journal.note(step.id, evidence_for=record.error, evidence=str(found.path))
            gaps = f" (missing: {'; '.join(found.missing)})" if found.missing else ""
            lines.append(f"failure evidence (age-encrypted): {found.path}{gaps}"[:600])
        return lines

    def reached(self, step: Step, record: StepRecord) -> str | None:
        # The `running` wait verified the version: the target for an upgrade, unchanged otherwise.
        before = record.before or step.from_version
        return step.to_version if step.action == "upgrade" else before


#: What the ``running`` wait says when Talos booted back into the previous A/B image (conditions.py).
ROLLED_BACK = "rolled back to its previous A/B image"


class Upgrade(NodeChange):
    name = "upgrade"

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        """A node that rolled back on this step's last attempt is not sent the same upgrade again.

        Re-issuing after an A/B rollback is the loop of siderolabs/omni#1552 (the image fails to boot,
        Talos falls back, the orchestrator upgrades again, forever): the cause must be fixed first.
        """
        looks = super().look(ctx, steps)
        for step in steps:
            record = ctx.journal.step(step.id)
            if record.status == "failed" and ROLLED_BACK in (record.error or ""):
                looks[step.id] = Look(
                    False,
                    f"{step.node} {ROLLED_BACK} when it was last sent {step.to_version}; homeops does not send the "
                    "same upgrade again on resume (the re-issue loop of siderolabs/omni#1552): read its failure "
                    "evidence and `talosctl dmesg`, fix the image, then plan a new run",
                )
        return looks


class Reboot(NodeChange):
    name = "reboot"


class Apply(NodeChange):
    name = "apply"

    def run(self, ctx: StepContext, step: Step) -> None:
        for command in step.commands:
            result = ctx.send(command, what=f"talosctl {step.action}", target=step.node)
            with contextlib.suppress(CommandError):
                applied = talosctl.parse_apply_result(result.stderr)
                ctx.journal.note(step.id, applied_mode=applied.mode, no_reboot=not applied.reboot)

    def skips(self, wait: Wait, record: StepRecord) -> bool:
        return wait.kind == "rebooted" and bool(record.data.get("no_reboot"))


class EtcdSnapshot(_Talosctl):
    """Save an etcd snapshot to ``step.artifact``, verify it is not empty, copy it to the NAS if planned."""

    name = "etcd-snapshot"

    def run(self, ctx: StepContext, step: Step) -> None:
        world = _world(ctx)
        path = Path(step.artifact or "")
        private_dir(path.parent, root=world.inventory.state_dir)
        take, *copies = step.commands
        result = ctx.send(take, what="etcd snapshot", target=step.node)
        make_private(path)  # talosctl writes it 0644; it holds every Kubernetes secret
        size = path.stat().st_size if path.is_file() else 0
        if size <= 0:
            raise GateFailed(
                "etcd-snapshot",
                f"the snapshot {path} is missing or empty",
                target=step.node,
                hint="check `talosctl etcd status`; nothing else was changed",
            )
        revision = None
        with contextlib.suppress(HomeopsError):
            revision = talosctl.parse_snapshot(result.stdout).revision
        ctx.journal.note(step.id, bytes=size, revision=revision)
        ctx.journal.add_artifact("etcd_snapshot", str(path))
        sidecar = write_sidecar(path)  # dr.check and dr.rebuild verify every copy against it
        make_private(sidecar)
        # the Talos VMs as they are now: what dr.rebuild --recreate-vms replays with this snapshot
        vms = _vm.record_beside(world.inventory, world.host, path, ctx.clock.now())
        for problem in vms.errors if vms else ():
            ctx.progress.note(f"VM record incomplete: {problem}")
        for copy in copies:
            if world.uploader is None:
                raise GateFailed("etcd-snapshot-copy", "no uploader configured", target=copy.on)
            remote = world.uploader(path)
            world.uploader(sidecar)
            if vms is not None:
                world.uploader(_vm.record_path(path))
            ctx.journal.add_artifact("etcd_snapshot_nas", f"{copy.on}:{remote}")
        ctx.progress.note(f"etcd snapshot {path} ({size} bytes)")

    def hints(self, ctx: StepContext, steps: Sequence[Step]) -> list[str]:
        path = ctx.journal.artifacts.get("etcd_snapshot")
        return [f"etcd snapshot: {path}"] if path else []


class PrePull(_Talosctl):
    """``talosctl image pull --namespace system`` of every node's installer, ``pre_pull_parallel`` at a time.

    Before the first drain: one failed or stalled pull (the command's deadline) stops the run with
    nothing changed, naming each node and image that did not arrive. Pulling again is harmless, so a
    resumed run simply pulls again (a cache hit on the nodes that have it).
    """

    name = "pre-pull"

    def run(self, ctx: StepContext, step: Step) -> None:
        world = _world(ctx)
        by_ip = {n.ip: n.hostname for n in world.inventory.nodes}
        keys = [f"{i}" for i in range(len(step.commands))]

        def where(command: Command) -> tuple[str, str]:
            ip = command.argv[command.argv.index("--nodes") + 1]
            return by_ip.get(ip, ip), command.argv[-1]

        def pull(key: str) -> None:
            command = step.commands[int(key)]
            node, _ = where(command)
            ctx.send(command, what="talosctl image pull", target=node)

        outcome = fanout(pull, keys, max_workers=world.inventory.policy.pre_pull_parallel)
        failed = []
        for key, error in outcome.failed.items():
            command = step.commands[int(key)]
            node, image = where(command)
            if isinstance(error, CommandTimeout):
                why = f"stalled: not pulled within {command.timeout:g}s"
            elif isinstance(error, CommandError) and error.stderr:
                # The gRPC status text, tail kept: containerd repeats the reference before the reason.
                why = error.stderr.strip().splitlines()[-1].rsplit("desc = ", 1)[-1]
                why = why if len(why) <= 160 else "…" + why[-160:]
            elif isinstance(error, HomeopsError):
                why = error.message.splitlines()[0][:200]
            else:
                raise error
            failed.append(f"{node}: {image} ({why})")
        if failed:
            raise CommandError(
                f"installer pre-pull failed on {len(failed)} of {len(keys)}: {'; '.join(failed)}; "
                "no node was drained or upgraded",
                target=", ".join(f.split(":", 1)[0] for f in failed),
                hint="check the image reference and that the nodes reach the registry (`talosctl image pull "
                "--namespace system <image>`), or raise upgrade.prePullTimeout",
            )
        ctx.journal.note(step.id, pulled=len(keys))
        ctx.progress.note(f"installer pulled on {len({where(c)[0] for c in step.commands})} node(s)")

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return "pulled"


class EtcdForfeit(_Talosctl):
    """``talosctl etcd forfeit-leadership`` right before a control plane reboots: a follower does nothing."""

    name = "etcd-forfeit"

    def run(self, ctx: StepContext, step: Step) -> None:
        for command in step.commands:
            ctx.send(command, what="talosctl etcd forfeit-leadership", target=step.node)

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return "not leader"


class UpgradeK8s(_Talosctl):
    name = "upgrade-k8s"
    wait_order = ("k8s-version",)

    def run(self, ctx: StepContext, step: Step) -> None:
        for command in step.commands:
            ctx.send(command, what="talosctl upgrade-k8s", target=step.node_ip)


class _Kubectl(StepKind):
    """A kubectl change to one Kubernetes node; an unreachable API server had nothing reach it."""

    terms = TERMS

    def unreachable(self, result: Result) -> bool:
        return kubectl.is_unreachable(result)


def _annotated(command: Command) -> str:
    """``kind/name`` of a ``kubectl annotate`` command."""
    at = command.argv.index("annotate")
    return f"{command.argv[at + 1].split('.', 1)[0]}/{command.argv[at + 2]}"


class _Annotate(_Kubectl):
    """``kubectl annotate`` each in-cluster upgrader of the step: ``verb`` them, then they are ``state``."""

    verb = ""
    state = ""

    def run(self, ctx: StepContext, step: Step) -> None:
        self.send_all(ctx, step.commands)
        ctx.progress.note(f"{self.state}: {', '.join(_annotated(c) for c in step.commands)}")

    def send_all(self, ctx: StepContext, commands: Sequence[Command]) -> None:
        for command in commands:
            ctx.send(command, what=f"kubectl annotate ({self.verb})", target=_annotated(command))

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return self.state


class SuspendUpgraders(_Annotate):
    """Annotate each idle in-cluster upgrader suspended (idempotent: ``--overwrite``).

    Journaled like any step: a run killed after it is resumed with them still suspended and restores
    them in its last step; a run that fails restores them at once (``on_failure``) and marks this step
    failed, so a resume suspends them again before it touches a node.
    """

    name = "suspend-upgraders"
    verb, state = "suspend", "suspended"

    def on_failure(self, ctx: StepContext, plan_steps: Sequence[Step]) -> list[str]:
        suspend = next((s for s in plan_steps if s.action == self.name), None)
        restore = next((s for s in plan_steps if s.action == "restore-upgraders"), None)
        if suspend is None or restore is None or ctx.journal.step(suspend.id).status == "pending":
            return []
        if ctx.journal.done(restore.id):
            return []
        left = []
        for command in restore.commands:
            try:
                ctx.send(command, what="kubectl annotate (restore)", target=_annotated(command))
            except HomeopsError as exc:
                left.append(f"{_annotated(command)} ({one_line(exc, None)[:120]})")
        if left:
            return [f"still suspended by homeops: {', '.join(left)} (remove the annotation by hand)"]
        ctx.journal.step_failed(suspend.id, "restored after the run failed; a resume suspends again")
        return [f"in-cluster upgraders restored: {', '.join(_annotated(c) for c in restore.commands)}"]


class RestoreUpgraders(_Annotate):
    """Remove homeops' suspend annotation (``KEY-``: removing an absent one is not an error)."""

    name = "restore-upgraders"
    verb, state = "restore", "restored"


class Drain(_Kubectl):
    """``kubectl drain`` (it cordons first): evicts the node's pods through the Eviction API.

    Not lockstep: it runs before its batch's last look, so the upgrade is sent on a look taken after
    the drain, which may take minutes. A PodDisruptionBudget that keeps refusing is final.
    """

    name = "drain"
    wait_order = ("volumes-detached",)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)
        names = [s.node or "" for s in steps]

        def detached() -> Observation[None]:
            attached = world.observer.volume_attachments()
            left = [f"{n}: {', '.join(attached[n])}" for n in names if attached.get(n)]
            if left:
                return Observation[None].waiting("still attached: " + "; ".join(left))
            return Observation[None].ok(f"no volume attached to {', '.join(names)}")

        return detached

    def refusal(self, result: Result, *, what: str, target: str | None) -> HomeopsError | None:
        report = kubectl.parse_drain(result.stdout, result.stderr)
        if not report.pdb_blocked:
            return None
        return CommandError(
            f"kubectl drain {target}: eviction refused by a PodDisruptionBudget for "
            f"{', '.join(report.pdb_blocked)} until the timeout; the node is cordoned, not upgraded",
            command=result.command,
            exit_code=result.exit_code,
            target=target,
            hint=f"check `kubectl get pdb -A` (Ceph OSDs, single-replica apps); or `kubectl uncordon {target}`",
        )

    def run(self, ctx: StepContext, step: Step) -> None:
        for command in step.commands:
            result = ctx.send(command, what="kubectl drain", target=step.node)
            report = kubectl.parse_drain(result.stdout, result.stderr)
            ctx.journal.note(step.id, evicted=len(report.evicted))
            ctx.progress.note(f"{step.node} cordoned and drained ({len(report.evicted)} pods evicted)")

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return "drained"

    def hints(self, ctx: StepContext, steps: Sequence[Step]) -> list[str]:
        plan = ctx.journal.plan()
        uncordons = {s.node: s.id for s in plan.steps if s.action == "uncordon"}
        cordoned = [
            s.node
            for s in plan.steps
            if s.action == "drain"
            and ctx.journal.step(s.id).status != "pending"
            and s.node in uncordons
            and not ctx.journal.done(uncordons[s.node])
        ]
        nodes = list(dict.fromkeys(n for n in cordoned if n))
        if not nodes:
            return []
        return [f"cordoned by homeops: {', '.join(nodes)} (resume uncordons; or `kubectl uncordon <node>`)"]


class Uncordon(_Kubectl):
    """``kubectl uncordon`` once the node is back and Ready; already schedulable means done."""

    name = "uncordon"
    lockstep = True
    wait_order = ("k8s-ready",)
    look_gate = "k8s-node-ready"

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        world = _world(ctx)
        k8s = ctx.retrying(world.observer.k8s_nodes)
        looks = {}
        for step in steps:
            seen = k8s.get(step.node or "")
            if seen is None:
                looks[step.id] = Look(False, f"{step.node}: not registered in Kubernetes")
                continue
            state = ("Ready" if seen.ready else "NotReady") + (", cordoned" if seen.unschedulable else "")
            looks[step.id] = Look(seen.ready, f"{step.node}: {state}", done=seen.ready and not seen.unschedulable)
        return looks

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)
        return probe_for(wait_kind, steps, inventory=world.inventory, observer=world.observer, boot_ids={})

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return "schedulable"


for _kind in (
    Upgrade(),
    Apply(),
    Reboot(),
    EtcdSnapshot(),
    UpgradeK8s(),
    Drain(),
    Uncordon(),
    PrePull(),
    EtcdForfeit(),
    SuspendUpgraders(),
    RestoreUpgraders(),
):
    register(_kind)
