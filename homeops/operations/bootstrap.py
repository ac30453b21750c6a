"""The bootstrap workflow: Talos VMs in maintenance mode → etcd → Kubernetes API → apps → Flux Ready.

Stages (each a step kind registered with the engine; each looks before it sends, so a stage that is
already done is skipped, and a second run on a bootstrapped cluster plans nothing)::

    bootstrap.talos  genconfig → apply-config --insecure per node in maintenance mode → talosctl
                     bootstrap (once) → etcd members healthy → kubeconfig (verified, then moved into
                     the inventory's path) → /readyz on each control plane, then the VIP
    bootstrap.apps   every node registered (NotReady is fine before the CNI) → namespaces → SOPS
                     Secrets (diff, then server-side apply on stdin) → CRDs (helmfile template) →
                     one helmfile sync per release, in needs: order → FluxInstance/flux-system Ready

Health policy: before the API exists no gate is required (it is reported only); once the ``api``
step is done the API gate is required like any other. Every kubectl/helmfile/flux call gets the
inventory's kubeconfig explicitly; a kubeconfig of another cluster is refused before anything runs.

Disaster recovery reuses the Talos stages: ``prepare(rt, ("talos",), recover_from=snapshot)``, then
``plan_bootstrap(world, observe(world, stages), stages, operation)``; the etcd step becomes
``talosctl bootstrap --recover-from <snapshot>``. A release already deployed is not synced again:
after the bootstrap, Flux owns it. The kubeconfig is fetched before the API wait: ``/readyz`` is
asked with it (on each control plane's address, then the VIP).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from homeops.adapters import helm
from homeops.adapters import helmfile as hf
from homeops.adapters import kubectl as kc
from homeops.adapters import talosctl as tc
from homeops.adapters._parse import check_result
from homeops.engine.gates import Check
from homeops.engine.journal import StepRecord
from homeops.engine.kinds import Look, Probe, StepContext, StepKind, WaitTerms, register
from homeops.engine.plan import Command, Gate, Health, Plan, Step, Wait
from homeops.engine.retry import first_then, poll
from homeops.engine.waits import Observation
from homeops.errors import CommandError, ConfigError, ConnectionFailed, PlanError
from homeops.inventory.model import Inventory, Node
from homeops.operations import bootstrap_inputs as bi
from homeops.runners import Result
from homeops.runtime import Runtime

_NS_NOT_FOUND = re.compile(r'namespaces? "[^"]+" not found')
API_GATE = Gate("bootstrap-api", "kubernetes-api", "the Kubernetes API answers /readyz on the VIP", None, 60.0)
FIELD_MANAGER = "homeops-bootstrap"
STAGES = ("talos", "apps")


# ----------------------------------------------------------------------------------------- world


@dataclass
class BootstrapWorld:
    """What bootstrap steps act on: the runtime (real or SIMULATED), the inventory and its bootstrap inputs."""

    runtime: Runtime
    settings: bi.BootstrapSettings
    spec: hf.HelmfileSpec | None = None
    crds_spec: hf.HelmfileSpec | None = None
    recover_from: Path | None = None
    skip_hash_check: bool = False
    _secrets: list[bi.SecretManifest] | None = field(default=None, repr=False)

    @property
    def inventory(self) -> Inventory:
        return self.runtime.inventory

    @property
    def state_dir(self) -> Path:
        return self.inventory.state_dir

    @property
    def tctl(self) -> tc.Talosctl:
        return tc.Talosctl(self.inventory.cluster.talosconfig)

    @property
    def kctl(self) -> kc.Kubectl:
        return kc.Kubectl(self.inventory.cluster.kubeconfig)

    @property
    def kube_env(self) -> dict[str, str]:
        # helmfile passes --kubeconfig to helm, but hooks run plain kubectl: they read KUBECONFIG;
        # bootstrap.env is what the helmfile's requiredEnv/env calls read.
        return bi.helmfile_env(self.inventory, self.settings)

    def secrets(self) -> list[bi.SecretManifest]:
        if self._secrets is None:
            self._secrets = bi.load_secrets(self.inventory, self.settings, self.runtime.local)
        return self._secrets

    def namespaces(self) -> list[str]:
        """Namespaces created first: the repository's, and every one a bootstrap object lands in."""
        wanted = bi.namespaces(self.settings)
        if self.settings.secrets:
            wanted += [ns for m in self.secrets() for ns in m.namespaces]
            # A source that applies its own Namespace object owns it (labels, annotations such as
            # kustomize.toolkit.fluxcd.io/prune: disabled): a bare copy here would undo them on each run.
            declared = {ns for m in self.secrets() for ns in m.declares}
            wanted = [ns for ns in wanted if ns not in declared]
        return sorted(set(wanted))

    def look(self, gate: Gate) -> Check:
        if gate.kind == API_GATE.kind:
            return self.api(None)
        return Check(False, f"unknown gate kind {gate.kind}")

    # -------------------------------------------------------------------------------- looks

    def api(self, server: str | None) -> Check:
        """``/readyz`` through the inventory's kubeconfig (``server``: one control plane instead of the VIP)."""
        if not self.inventory.cluster.kubeconfig.exists():
            return Check(
                False, f"no kubeconfig yet at {self.inventory.cluster.kubeconfig} (`inv bootstrap.talos` fetches it)"
            )
        argv = self.kctl.readyz()
        if server:
            argv = [*argv[:-3], "--server", server, *argv[-3:]]
        result = self.runtime.local.run(argv, timeout=30)
        if result.ok and kc.parse_readyz(result.stdout):
            return Check(True, f"/readyz ok on {server or self.inventory.cluster.vip}")
        return Check(False, f"{server or self.inventory.cluster.vip}: {result.last_error_line()}")

    def node_mode(self, node: Node) -> tc.NodeMode:
        return tc.node_mode(self.runtime.local, self.tctl, node.ip)

    def etcd_members(self) -> list[str]:
        """Hostnames of the healthy etcd members, asked of each control plane until one answers."""
        for cp in self.inventory.control_planes:
            try:
                members = tc.etcd_members(self.runtime.local, self.tctl, cp.ip)
            except (CommandError, ConnectionFailed):
                continue
            return sorted(m.hostname for m in members)
        return []

    def registered(self) -> dict[str, bool]:
        """Kubernetes node name → Ready, as the API lists them."""
        return {n.name: n.ready == "True" for n in kc.nodes(self.runtime.local, self.kctl)}

    def changes(self, manifest: str) -> bool:
        try:
            return kc.diff_server_side(self.runtime.local, self.kctl, manifest, field_manager=FIELD_MANAGER)
        except CommandError as exc:
            # kubectl diff exits 2 when an object's namespace does not exist yet (apiserver NotFound,
            # kubectl pkg/cmd/diff/diff.go): on a fresh cluster that means "would be created".
            if _NS_NOT_FOUND.search(str(exc)) or _NS_NOT_FOUND.search(exc.stderr or ""):
                return True
            raise

    def apply(self, manifest: str) -> None:
        # --force-conflicts: a re-run or a DR rebuild takes the fields back from whichever manager set them
        # (every reference repo applies bootstrap objects this way).
        argv = self.kctl.apply_server_side("-", field_manager=FIELD_MANAGER, force_conflicts=True)
        result = self.runtime.local.run(argv, timeout=120, stdin=manifest)
        check_result(result, what="kubectl apply --server-side", target=None, unreachable=kc.is_unreachable)

    def crds(self) -> tuple[int, str]:
        """The CustomResourceDefinitions of the crds helmfile (``template --include-crds``), CRDs only."""
        if self.crds_spec is None:
            return 0, ""
        manifests, stream = self.crd_manifests()
        return len(manifests), stream

    def crd_manifests(self) -> tuple[list[hf.Manifest], str]:
        assert self.crds_spec is not None
        result = self.runtime.local.run(
            hf.template(self.crds_spec.path, include_crds=True, kubeconfig=self.inventory.cluster.kubeconfig),
            timeout=600,
            env=self.kube_env,
        )
        hf.raise_for(result, file=self.crds_spec.path, what="helmfile template")
        return hf.crds_only(result.stdout)

    def release_lock(self, release: hf.ReleaseSpec) -> tuple[str, float | None] | None:
        """(``pending-install``/``pending-upgrade``, when helm wrote it) for a locked release, else None."""
        selector = f"owner=helm,name={release.name}"
        argv = self.kctl.get_json("secrets", namespace=release.namespace or "default", selector=selector)
        result = self.runtime.local.run(argv, timeout=60)
        tc.run_checked_result(result, what="kubectl get secrets -l owner=helm", node=None)
        newest = helm.latest(result.stdout, release.name)
        return (newest[1], newest[2]) if newest and newest[1] in helm.PENDING else None

    def release_revision(self, release: hf.ReleaseSpec) -> int:
        """The deployed helm revision of a release (0: not installed), from helm's release Secrets."""
        selector = f"owner=helm,name={release.name},status=deployed"
        argv = self.kctl.get_json("secrets", namespace=release.namespace or "default", selector=selector)
        result = self.runtime.local.run(argv, timeout=60)
        tc.run_checked_result(result, what="kubectl get secrets -l owner=helm", node=None)
        return kc.parse_helm_release_records(result.stdout).get(release.name, 0)

    def flux(self) -> Observation[None]:
        """FluxInstance Ready (Flux Operator), else the flux-system Kustomization Ready."""
        result = self.runtime.local.run(self.kctl.get_json("fluxinstances", all_namespaces=True), timeout=60)
        if result.ok:
            instances = kc.parse_flux_instances(result.stdout)
            if instances:
                bad = [i for i in instances if i.ready != "True"]
                if not bad:
                    return Observation.ok(f"FluxInstance {instances[0].namespace}/{instances[0].name} Ready")
                first = bad[0]
                where = f"FluxInstance {first.namespace}/{first.name}"
                # flux-operator sets Ready=False on transient failures too and retries them
                # (fluxinstance_controller.go:225-244): not final before the deadline.
                if first.ready == "False":
                    return Observation.waiting(f"{where} not Ready (retried until the deadline): {first.message}")
                return Observation.waiting(f"{where}: {first.message or 'not Ready yet'}")
        objects = kc.kustomizations(self.runtime.local, self.kctl)
        root = next((o for o in objects if o.name == "flux-system" and o.namespace == "flux-system"), None)
        if root is None:
            return Observation.waiting("no FluxInstance and no flux-system Kustomization yet")
        if root.ready == "True":
            return Observation.ok("Kustomization flux-system/flux-system Ready")
        return Observation.waiting(f"Kustomization flux-system/flux-system: {root.message or 'not Ready'}")


def _world(ctx: StepContext) -> BootstrapWorld:
    world = ctx.world
    assert isinstance(world, BootstrapWorld), f"bootstrap steps need a BootstrapWorld, got {type(world).__name__}"
    return world


def _poll(ctx: StepContext) -> float:
    return max(1.0, _world(ctx).inventory.policy.poll_interval)


# ----------------------------------------------------------------------------------------- kinds


class _Kind(StepKind):
    """Bootstrap kinds run one step per batch, with a look before each (idempotency) and a marker."""

    lockstep = True
    look_gate = "bootstrap"

    def look(self, ctx: StepContext, steps: Sequence[Step]) -> dict[str, Look]:
        return {s.id: self.look_one(ctx, s) for s in steps}

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        return Look(True, "", marker="-")


class Genconfig(_Kind):
    """talhelper genconfig, the SOPS secrets decrypted natively to a private tmpfs file (removed after)."""

    name = "bootstrap-genconfig"

    def run(self, ctx: StepContext, step: Step) -> None:
        from homeops.operations.genconfig import generate_config

        world = _world(ctx)
        # a new cluster gets its Talos secrets here; a recovery must find the old ones (a new PKI would not
        # match the etcd snapshot's cluster): there, a missing talsecret is refused, never created
        text = generate_config(world.runtime, create_secret=world.recover_from is None)
        ctx.progress.note(text.replace("\n", "; "))


class ApplyInsecure(_Kind):
    """``apply-config --insecure`` to a node in maintenance mode; a configured node is never re-applied."""

    name = "bootstrap-apply"
    wait_order = ("configured",)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        "configured": WaitTerms(
            "the node answers with its config (mutual TLS) after installing",
            "the node comes back in maintenance mode",
            "check the node's install disk and console; then run again with --resume",
        )
    }

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        node = _world(ctx).inventory.node(step.node or "")
        mode = _world(ctx).node_mode(node)
        if mode == "configured":
            ctx.progress.note(f"{node.hostname} already has a config (TLS: certificate required): not re-applied")
        return Look(True, f"{node.hostname}: {mode}", marker=mode, done=mode == "configured", before=mode)

    def sent_already(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        try:
            return _world(ctx).node_mode(_world(ctx).inventory.node(step.node or "")) == "configured"
        except (CommandError, ConnectionFailed):
            return True  # unreachable right after an insecure apply: it is installing and rebooting

    def arrived(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        return self.sent_already(ctx, step, record)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)
        nodes = [world.inventory.node(s.node or "") for s in steps]
        went_away: set[str] = set()

        def look() -> Observation[None]:
            waiting = []
            for node in nodes:
                try:
                    mode = world.node_mode(node)
                except (CommandError, ConnectionFailed):
                    went_away.add(node.hostname)
                    waiting.append(f"{node.hostname} rebooting")
                    continue
                if mode == "maintenance":
                    if node.hostname in went_away:
                        return Observation.failed(
                            f"{node.hostname} rebooted back into maintenance mode: the config was not installed"
                        )
                    waiting.append(f"{node.hostname} still in maintenance mode")
            if waiting:
                return Observation.waiting("; ".join(waiting))
            return Observation.ok(", ".join(n.hostname for n in nodes) + " configured")

        return look


class EtcdBootstrap(_Kind):
    """``talosctl bootstrap`` on one control plane, retried until done or AlreadyExists; then etcd forms."""

    name = "bootstrap-etcd"
    wait_order = ("etcd",)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        "etcd": WaitTerms(
            "every control plane is a healthy etcd member",
            "",
            "if bootstrap said AlreadyExists on a new cluster, the node holds stale etcd data: wipe it with "
            "`talosctl -n <ip> reset --graceful=false --reboot --system-labels-to-wipe EPHEMERAL`, then --resume",
        )
    }

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        members = _world(ctx).etcd_members()
        return Look(True, f"etcd members: {', '.join(members) or 'none'}", marker=str(len(members)), done=bool(members))

    def run(self, ctx: StepContext, step: Step) -> None:
        world = _world(ctx)
        node = world.inventory.node(step.node or "")

        def not_yet(exc: BaseException) -> bool:
            # The node is still installing/rebooting ("not available yet", unreachable): retry.
            # "not ready for recovery yet": EPHEMERAL not mounted for the first seconds (cli-interfaces §10.3)
            return isinstance(exc, ConnectionFailed) or (
                isinstance(exc, CommandError)
                and any(s in str(exc) for s in ("not available yet", "not in sync", "not ready for recovery yet"))
            )

        def note(exc: object) -> None:
            why = "unreachable" if isinstance(exc, ConnectionFailed) else "not available yet"
            ctx.progress.note(f"talosctl bootstrap on {node.hostname}: {why} (installing or rebooting); retrying")

        outcome = poll(
            lambda: tc.bootstrap(
                world.runtime.local,
                world.tctl,
                node.ip,
                recover_from=world.recover_from,
                skip_hash_check=world.skip_hash_check,
            ),
            clock=ctx.clock,
            interval=_poll(ctx),
            not_yet=not_yet,
            deadline=ctx.clock.now() + world.inventory.policy.reboot_timeout,
            now=ctx.clock.now,
            note=note,
        )
        ctx.journal.note(step.id, bootstrap=outcome)
        if outcome == "already-bootstrapped":
            ctx.progress.note(f"etcd on {node.hostname} is already bootstrapped (AlreadyExists): done, not an error")

    def sent_already(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        return bool(_world(ctx).etcd_members())

    def arrived(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        world = _world(ctx)
        return set(world.etcd_members()) >= {n.hostname for n in world.inventory.control_planes}

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)
        want = {n.hostname for n in world.inventory.control_planes}

        said_already = [s.node for s in steps if ctx.journal.step(s.id).data.get("bootstrap") == "already-bootstrapped"]

        def look() -> Observation[None]:
            have = set(world.etcd_members())
            missing = sorted(want - have)
            if missing and not have and said_already:
                return Observation.waiting(
                    f"talosctl bootstrap on {said_already[0]} answered AlreadyExists (etcd data directory is not "
                    "empty), yet etcd has no member"
                )
            if missing:
                return Observation.waiting(
                    f"etcd members {', '.join(sorted(have)) or 'none'}; waiting for {', '.join(missing)}"
                )
            return Observation.ok(f"{len(have)} healthy etcd members")

        return look


class Kubeconfig(_Kind):
    """``talosctl kubeconfig --force --merge=false`` into a private file, verified, then moved into place."""

    name = "bootstrap-kubeconfig"

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        world = _world(ctx)
        identity = bi.check_kubeconfig(world.inventory)  # another cluster's kubeconfig: refused here
        return Look(
            True,
            "present" if identity else "absent",
            marker="present" if identity else "absent",
            done=identity is not None,
        )

    def run(self, ctx: StepContext, step: Step) -> None:
        world = _world(ctx)
        node = world.inventory.node(step.node or "")
        private = world.state_dir / "bootstrap" / "kubeconfig.new"
        private.parent.mkdir(parents=True, exist_ok=True)
        private.unlink(missing_ok=True)
        argv = world.tctl.kubeconfig(node.ip, private, force=True, merge=False)

        def transient(result: Result) -> bool:
            # Before the cluster is up talosctl says "error copying: …" (or cannot reach the node): retry,
            # as cluster-template's `until talhelper gencommand kubeconfig | bash` does.
            return result.failed and (tc.is_unreachable(result) or "error copying" in result.stderr)

        def note(result: Result | BaseException) -> None:
            if isinstance(result, Result):
                ctx.progress.note(
                    f"talosctl kubeconfig from {node.hostname}: not yet ({result.last_error_line()[:80]})"
                )

        result = poll(
            lambda: world.runtime.local.run(argv, timeout=60),
            clock=ctx.clock,
            interval=_poll(ctx),
            again=transient,
            deadline=ctx.clock.now() + world.inventory.policy.ready_timeout,
            now=ctx.clock.now,
            note=note,
        )
        tc.run_checked_result(result, what="talosctl kubeconfig", node=node.hostname)
        try:
            identity = bi.read_identity(private)
            if identity is None:
                raise ConfigError("talosctl kubeconfig wrote nothing", file=str(private))
            try:
                bi.check_identity(world.inventory, identity, expected_ca=bi.recorded_ca(world.inventory))
            except ConfigError as exc:
                raise ConfigError(
                    f"talosctl kubeconfig from {node.hostname} returned another cluster's kubeconfig: {exc.message}",
                    hint="check the talosconfig/context in homeops.yaml; the inventory's kubeconfig was not touched",
                ) from None
            target = world.inventory.cluster.kubeconfig
            target.parent.mkdir(parents=True, exist_ok=True)
            os.chmod(private, 0o600)
            if world.settings.api_endpoint == "nodes":
                # The VIP (a Cilium LB/BGP address) answers only once the CNI runs: talk to this control
                # plane until then; the apps stage switches back at its end (onedr0p/bjw-s mod.just).
                bi.point_kubeconfig(private, f"https://{node.ip}:6443")
                ctx.journal.note(step.id, server=f"https://{node.ip}:6443")
            os.replace(private, target)
            if identity.ca_sha256:
                bi.remember_ca(world.inventory, identity.ca_sha256)
        finally:
            private.unlink(missing_ok=True)

    def sent_already(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        return bi.check_kubeconfig(_world(ctx).inventory) is not None


class ApiReady(_Kind):
    """Wait for the Kubernetes API: ``/readyz`` on each control plane, then on the VIP."""

    name = "bootstrap-api"
    wait_order = ("api",)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        "api": WaitTerms(
            "/readyz answers ok on every control plane and on the VIP",
            "",
            "check kube-apiserver: `talosctl -n <cp> service kubelet`, `talosctl -n <cp> logs kubelet`",
        )
    }

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        check = _world(ctx).api(None)
        return Look(True, check.observed, marker="-", done=False)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)
        servers = [f"https://{n.ip}:6443" for n in world.inventory.control_planes]
        # apiEndpoint nodes: the VIP cannot answer before the CNI — gate on the control planes only
        vip: list[str | None] = [] if world.settings.api_endpoint == "nodes" else [None]

        def look() -> Observation[None]:
            for server in [*servers, *vip]:
                check = world.api(server)
                if not check.ok:
                    return Observation.waiting(check.observed)
            return Observation.ok(f"/readyz ok on {len(servers)} control planes" + (" and the VIP" if vip else ""))

        return look


class _WaitOnly(_Kind):
    """A step that only waits: its commands (shown in the plan) are what its probe runs, nothing is sent."""

    def run(self, ctx: StepContext, step: Step) -> None:
        return None


class NodesRegistered(_WaitOnly):
    name = "bootstrap-nodes"
    wait_order = ("registered",)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        "registered": WaitTerms("every inventory node is registered (NotReady is expected before the CNI)")
    }

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        return Look(True, "", marker="-", done=False)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)

        def look() -> Observation[None]:
            have = world.registered()
            missing = [n.hostname for n in world.inventory.nodes if n.hostname not in have]
            if missing:
                return Observation.waiting("not registered yet: " + ", ".join(missing))
            ready = sum(1 for r in have.values() if r)
            return Observation.ok(f"{len(have)} nodes registered, {ready} Ready")

        return look


class Namespaces(_Kind):
    name = "bootstrap-namespaces"

    def _manifest(self, ctx: StepContext) -> str:
        return bi.namespace_manifest(_world(ctx).namespaces())

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        changes = _world(ctx).changes(self._manifest(ctx))
        return Look(True, "would change" if changes else "unchanged", marker="-", done=not changes)

    def run(self, ctx: StepContext, step: Step) -> None:
        _world(ctx).apply(self._manifest(ctx))


class SecretApply(_Kind):
    """A SOPS Secret: decrypted in memory, diffed, applied server-side on stdin. Unchanged: skipped."""

    name = "bootstrap-secret"
    params = bi.SecretParams

    def _secret(self, ctx: StepContext, step: Step) -> bi.SecretManifest:
        path = step.param(bi.SecretParams).path
        for secret in _world(ctx).secrets():
            if str(secret.path) == path:
                return secret
        raise PlanError(f"bootstrap secret {path} is no longer in bootstrap.secrets")

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        changes = _world(ctx).changes(self._secret(ctx, step).text)
        return Look(True, "would change" if changes else "unchanged", marker="-", done=not changes)

    def run(self, ctx: StepContext, step: Step) -> None:
        _world(ctx).apply(self._secret(ctx, step).text)

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return f"{Path(step.param(bi.SecretParams).path).name} applied"


class Crds(_Kind):
    name = "bootstrap-crds"

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        count, stream = _world(ctx).crds()
        changes = bool(count) and _world(ctx).changes(stream)
        return Look(True, f"{count} CRDs, {'would change' if changes else 'unchanged'}", marker="-", done=not changes)

    def run(self, ctx: StepContext, step: Step) -> None:
        count, stream = _world(ctx).crds()
        if count:
            _world(ctx).apply(stream)


class Release(_Kind):
    """``helmfile --selector name=<release> sync``: one release, its own timeout, a progress line naming it."""

    name = "bootstrap-release"
    wait_order = ("deployed",)
    terms: ClassVar[Mapping[str, WaitTerms]] = {"deployed": WaitTerms("helm reports the release deployed")}
    params = bi.ReleaseParams

    def _release(self, ctx: StepContext, step: Step) -> hf.ReleaseSpec:
        spec = _world(ctx).spec
        assert spec is not None
        name = step.param(bi.ReleaseParams).name
        for release in spec.releases:
            if release.name == name:
                return release
        raise PlanError(f"release {name} is no longer in {spec.path}")

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        revision = _world(ctx).release_revision(self._release(ctx, step))
        seen = f"revision {revision}" if revision else "not installed"
        return Look(True, seen, marker=str(revision), done=revision > 0, before=seen)

    def run(self, ctx: StepContext, step: Step) -> None:
        world = _world(ctx)
        release = self._release(ctx, step)
        marker = ctx.journal.step(step.id).marker or "0"
        lock = self._outlive(ctx, world, release, int(marker) if marker.isdigit() else 0)
        if lock == "deployed":
            return  # a helm of the killed run (helmfile outlives it) finished the install: not sent again
        if lock is not None:
            # A killed helm (or helmfile) left the release locked; the sync would fail with "another
            # operation (install/upgrade/rollback) is in progress". Helm's own way out, journaled first.
            argv = helm.recovery(
                release.name,
                lock,
                namespace=release.namespace or "default",
                kubeconfig=world.inventory.cluster.kubeconfig,
            )
            ctx.journal.note(step.id, recovered=f"{lock}: {' '.join(argv[:2])}")
            ctx.progress.note(f"release {release.id} was left {lock} by an interrupted helm: {argv[0]} {argv[1]} it")
            result = world.runtime.local.run(argv, timeout=300)
            check_result(result, what=f"{argv[0]} {argv[1]} {release.name}", target=release.name)
        command = step.commands[0]
        ctx.progress.note(f"syncing release {release.id}: waiting for it (up to {command.timeout or 0:.0f}s)")
        result = ctx.runner(command).run(list(command.argv), timeout=command.timeout, env=world.kube_env)
        hf.raise_for(result, file=world.settings.helmfile, what="helmfile sync")

    def _outlive(self, ctx: StepContext, world: BootstrapWorld, release: hf.ReleaseSpec, before: int) -> str | None:
        """A locked release's status once no helm can still hold the lock: ``deployed`` when a helm
        deployed a revision newer than ``before`` (the step's look) after all, the pending status when
        it is stale, None when it is neither locked nor deployed since the look.

        helmfile runs in its own session, so a kill -9 of homeops leaves it (and helm) running; helm's
        rollback/uninstall under a live helm would break its install. So a pending revision younger than
        helm's own deadline (its --timeout plus the hooks' margin) is waited out before it is recovered.
        """
        lock = world.release_lock(release)
        if lock is None:
            # Unlocked is not "never started": a surviving helmfile may have finished between the
            # resume's look (sent_already) and this one; its deployed revision says so.
            return "deployed" if world.release_revision(release) > before else None
        assert world.spec is not None
        deadline = release_deadline(world.settings, world.spec, release)

        def young(lock: tuple[str, float | None] | None) -> bool:
            return lock is not None and lock[1] is not None and ctx.clock.now() - lock[1] < deadline

        def note(lock: object) -> None:
            if isinstance(lock, tuple) and lock[1] is not None:
                ctx.progress.note(
                    f"release {release.id} is {lock[0]} since {ctx.clock.now() - lock[1]:.0f}s: a helm may still be "
                    f"running it; waiting (up to {deadline:.0f}s after it started) before recovering it"
                )

        seen: tuple[str, float | None] | None = lock
        lock = poll(
            first_then(seen, lambda: world.release_lock(release)),
            clock=ctx.clock,
            interval=_poll(ctx),
            again=young,
            note=note,
        )
        if lock is None:
            # the helm that held it ended: deployed only if it got further than the look (a failed
            # upgrade rolls back to the revision the look already saw, and is synced again)
            return "deployed" if world.release_revision(release) > before else None
        return lock[0]

    def reached(self, step: Step, record: StepRecord) -> str | None:
        return f"{step.param(bi.ReleaseParams).name} deployed"

    def sent_already(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        before = int(record.marker or 0) if (record.marker or "0").isdigit() else 0
        return _world(ctx).release_revision(self._release(ctx, step)) > before

    def arrived(self, ctx: StepContext, step: Step, record: StepRecord) -> bool:
        return self.sent_already(ctx, step, record)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)

        def look() -> Observation[None]:
            pending = [
                s.param(bi.ReleaseParams).name for s in steps if not world.release_revision(self._release(ctx, s))
            ]
            if pending:
                return Observation.waiting("not deployed: " + ", ".join(pending))
            return Observation.ok("deployed")

        return look


class Endpoint(_Kind):
    """apiEndpoint nodes: once the VIP answers /readyz (the CNI serves it), point the kubeconfig back at it."""

    name = "bootstrap-endpoint"
    wait_order = ("endpoint",)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        "endpoint": WaitTerms(
            "the cluster endpoint (VIP) answers /readyz",
            "",
            "check the CNI's LoadBalancer/BGP config for the API address; the kubeconfig still names a control plane",
        )
    }

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        identity = bi.check_kubeconfig(_world(ctx).inventory)
        done = identity is not None and identity.server.rstrip("/") == _world(ctx).inventory.cluster.endpoint.rstrip(
            "/"
        )
        return Look(True, identity.server if identity else "absent", marker="-", done=done)

    def run(self, ctx: StepContext, step: Step) -> None:
        return None  # the switch follows the wait: see arrived()

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        world = _world(ctx)
        endpoint = world.inventory.cluster.endpoint

        def look() -> Observation[None]:
            check = world.api(endpoint)
            if not check.ok:
                return Observation.waiting(check.observed)
            bi.point_kubeconfig(world.inventory.cluster.kubeconfig, endpoint)
            return Observation.ok(f"/readyz ok on {endpoint}: the kubeconfig points at it")

        return look


class FluxReady(_WaitOnly):
    name = "bootstrap-flux"
    wait_order = ("flux",)
    terms: ClassVar[Mapping[str, WaitTerms]] = {
        "flux": WaitTerms(
            "the FluxInstance (or the flux-system Kustomization) is Ready",
            "the FluxInstance reports Ready=False with a failure",
            "see `inv flux.status` and `kubectl -n flux-system describe fluxinstance flux`; then --resume",
        )
    }

    def look_one(self, ctx: StepContext, step: Step) -> Look:
        seen = _world(ctx).flux()
        return Look(True, seen.observed, marker="-", done=seen.done)

    def probe(self, ctx: StepContext, wait_kind: str, steps: Sequence[Step]) -> Probe:
        return _world(ctx).flux


for _kind in (
    Genconfig,
    ApplyInsecure,
    EtcdBootstrap,
    Kubeconfig,
    ApiReady,
    NodesRegistered,
    Namespaces,
    SecretApply,
    Crds,
    Release,
    FluxReady,
    Endpoint,
):
    register(_kind())


# ----------------------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Observed:
    """What the planner saw: per node maintenance/configured, etcd, kubeconfig, API, and the apps' state."""

    modes: Mapping[str, tc.NodeMode]
    etcd: tuple[str, ...] = ()
    kubeconfig: bool = False
    api: bool = False
    registered: bool = False
    namespaces_changed: bool = True
    secrets_changed: Mapping[str, bool] = field(default_factory=dict)
    crds_changed: bool = True
    releases: Mapping[str, int] = field(default_factory=dict)
    flux_ready: bool = False


def observe(world: BootstrapWorld, stages: Sequence[str]) -> Observed:
    """Look at everything a plan depends on. A node that answers neither way is refused, naming it."""
    inv = world.inventory
    modes: dict[str, tc.NodeMode] = {}
    if "talos" in stages:
        for node in inv.nodes:
            try:
                modes[node.hostname] = world.node_mode(node)
            except (CommandError, ConnectionFailed) as exc:
                raise PlanError(
                    f"{node.hostname} ({node.ip}) answers neither in maintenance mode nor with a config: "
                    f"{str(exc)[:160]}",
                    hint="power it on / check its address in talconfig.yaml; nothing was changed",
                ) from None
    configured = [n for n in inv.nodes if modes.get(n.hostname, "configured") == "configured"]
    etcd = tuple(world.etcd_members()) if configured else ()
    identity = bi.check_kubeconfig(inv)
    api = identity is not None and world.api(None).ok
    if not api or "apps" not in stages:
        return Observed(modes, etcd, identity is not None, api)
    registered = world.registered()
    secrets = {str(s.path): world.changes(s.text) for s in world.secrets()}
    count, stream = world.crds()
    assert world.spec is not None
    return Observed(
        modes,
        etcd,
        True,
        True,
        registered=all(n.hostname in registered for n in inv.nodes),
        namespaces_changed=world.changes(bi.namespace_manifest(world.namespaces())),
        secrets_changed=secrets,
        crds_changed=bool(count) and world.changes(stream),
        releases={r.name: world.release_revision(r) for r in hf.sync_order(world.spec)},
        flux_ready=world.flux().done,
    )


def _cmd(argv: Sequence[str], timeout: float | None = None) -> Command:
    return Command(tuple(str(a) for a in argv), timeout=timeout)


def plan_bootstrap(world: BootstrapWorld, seen: Observed, stages: Sequence[str], operation: str) -> Plan:
    """The steps still to do, in order, each in its own batch. Nothing left: an empty plan."""
    inv = world.inventory
    cluster = inv.cluster
    tctl, kctl = world.tctl, world.kctl
    first_cp = inv.control_planes[0] if inv.control_planes else None
    if first_cp is None:
        raise PlanError("the inventory has no control-plane node", hint="mark one controlPlane: true in talconfig.yaml")
    steps: list[Step] = []
    kubeconfig = str(cluster.kubeconfig)

    def add(step_id: str, action: str, summary: str, *, together: bool = False, **kw: Any) -> None:
        # One step per batch, except nodes configured together (they install and reboot in parallel).
        batch = steps[-1].batch if together and steps and steps[-1].action == action else len(steps)
        steps.append(Step(id=step_id, action=action, summary=summary, batch=batch, **kw))

    if "talos" in stages:
        maintenance = [n for n in inv.nodes if seen.modes.get(n.hostname) == "maintenance"]
        if maintenance:
            from homeops.adapters import talhelper as th
            from homeops.operations import genconfig as gc

            first: tuple[Command, ...] = ()
            summary = "generate the Talos machine configs (talhelper genconfig)"
            if gc.secret_file(inv) is None and world.recover_from is None:
                first = (_cmd(th.gensecret()),)
                summary = "create talsecret.sops.yaml (talhelper gensecret, encrypted in memory), then " + summary
            add(
                "cluster:genconfig",
                "bootstrap-genconfig",
                summary,
                commands=(*first, _cmd(gc.planned_argv(inv))),
            )
        for node in maintenance:
            from homeops.operations import genconfig as gc

            config = gc.config_file(inv, node.hostname)
            add(
                f"{node.hostname}:apply-insecure",
                "bootstrap-apply",
                f"apply the config to {node.hostname} in maintenance mode (--insecure)",
                together=True,
                node=node.hostname,
                node_ip=node.ip,
                control_plane=node.control_plane,
                commands=(_cmd([*tctl.apply_config(node.ip, config, insecure=True)], 120),),
                waits=(
                    Wait(
                        "configured",
                        f"{node.hostname} installed and answering with its config",
                        inv.policy.reboot_timeout,
                    ),
                ),
            )
        if not seen.etcd:
            recover = ", restoring the snapshot" if world.recover_from else ""
            add(
                "cluster:etcd",
                "bootstrap-etcd",
                f"bootstrap etcd on {first_cp.hostname}{recover}",
                node=first_cp.hostname,
                node_ip=first_cp.ip,
                control_plane=True,
                commands=(
                    _cmd(
                        tctl.bootstrap(
                            first_cp.ip, recover_from=world.recover_from, skip_hash_check=world.skip_hash_check
                        )
                    ),
                ),
                waits=(Wait("etcd", "every control plane a healthy etcd member", inv.policy.ready_timeout),),
            )
        if not seen.kubeconfig:
            add(
                "cluster:kubeconfig",
                "bootstrap-kubeconfig",
                f"fetch the kubeconfig into {kubeconfig} (verified first)",
                node=first_cp.hostname,
                node_ip=first_cp.ip,
                commands=(
                    _cmd(
                        tctl.kubeconfig(
                            first_cp.ip, world.state_dir / "bootstrap" / "kubeconfig.new", force=True, merge=False
                        )
                    ),
                ),
            )
        if not seen.api:
            add(
                "cluster:api",
                "bootstrap-api",
                "wait for the Kubernetes API (/readyz on each control plane, then the VIP)",
                waits=(Wait("api", "/readyz on every control plane and the VIP", inv.policy.ready_timeout),),
            )
    if "apps" in stages:
        unknown = not seen.api  # planned before the API exists: every apps step is needed
        assert world.spec is not None
        if unknown or not seen.registered:
            add(
                "cluster:nodes",
                "bootstrap-nodes",
                "wait until every node is registered (NotReady before the CNI)",
                commands=(_cmd(kctl.get_nodes()),),
                waits=(Wait("registered", "every node registered", inv.policy.ready_timeout),),
            )
        names = world.namespaces()
        if names and (unknown or seen.namespaces_changed):
            add(
                "cluster:namespaces",
                "bootstrap-namespaces",
                f"create namespaces {', '.join(names)} (server-side apply)",
                commands=(_cmd(kctl.apply_server_side("-", field_manager=FIELD_MANAGER, force_conflicts=True)),),
            )
        apply_argv = kctl.apply_server_side("-", field_manager=FIELD_MANAGER, force_conflicts=True)
        for manifest in world.secrets() if world.settings.secrets else []:
            path = manifest.path
            if unknown or seen.secrets_changed.get(str(path), True):
                rel = os.path.relpath(path, inv.root)
                source = next(s for s in world.settings.secrets if s.path == path)
                how = f"piped through {source.render[0]}, " if source.render else ""
                add(
                    f"secret:{rel}",
                    "bootstrap-secret",
                    f"apply {', '.join(manifest.objects)} from {rel} ({how}in memory, on stdin)",
                    params=bi.SecretParams(str(path)),
                    commands=(_cmd(apply_argv),),
                )
        if world.crds_spec is not None and (unknown or seen.crds_changed):
            add(
                "cluster:crds",
                "bootstrap-crds",
                f"apply the CRDs of {os.path.relpath(world.crds_spec.path, inv.root)} (server-side, CRDs only)",
                commands=(
                    _cmd(hf.template(world.crds_spec.path, include_crds=True, kubeconfig=kubeconfig)),
                    _cmd(apply_argv),
                ),
            )
        for release in hf.sync_order(world.spec):
            if not unknown and seen.releases.get(release.name, 0) > 0:
                continue
            timeout = release_deadline(world.settings, world.spec, release)
            argv = hf.sync(
                release.file or world.spec.path, selectors=[hf.release_selector(release.name)], kubeconfig=kubeconfig
            )
            add(
                f"release:{release.name}",
                "bootstrap-release",
                f"helmfile sync of {release.id} ({release.chart}{' ' + release.version if release.version else ''})",
                params=bi.ReleaseParams(release.name),
                commands=(_cmd(argv, timeout),),
                waits=(Wait("deployed", f"release {release.id} deployed", 60),),
            )
        if unknown or not seen.flux_ready:
            add(
                "cluster:flux",
                "bootstrap-flux",
                "wait for Flux: FluxInstance (or flux-system Kustomization) Ready",
                commands=(_cmd(kctl.get_json("fluxinstances", all_namespaces=True)),),
                waits=(Wait("flux", "Flux Ready", world.settings.flux_timeout),),
            )
        identity = bi.check_kubeconfig(inv)
        on_node = identity is None or identity.server.rstrip("/") != cluster.endpoint.rstrip("/")
        if world.settings.api_endpoint == "nodes" and (unknown or on_node):
            add(
                "cluster:endpoint",
                "bootstrap-endpoint",
                f"switch the kubeconfig to {cluster.endpoint} once it answers /readyz (apiEndpoint: nodes)",
                waits=(Wait("endpoint", f"{cluster.endpoint} answers /readyz", inv.policy.ready_timeout),),
            )
    api_step = "cluster:api"
    talos_only = "apps" not in stages
    health = (
        Health(allowed_red=(API_GATE,) if talos_only else (), required_after=((api_step, API_GATE),))
        if any(s.id == api_step for s in steps)
        else Health()
    )
    preflight = (API_GATE,) if "talos" not in stages or (seen.api and steps) else ()
    return Plan(
        operation=operation,
        cluster=cluster.name,
        steps=tuple(steps),
        preflight=preflight,
        poll_interval=inv.policy.poll_interval,
        target="Flux reconciling" if "apps" in stages else "Kubernetes API up",
        health=health,
    )


def check_repository(settings: bi.BootstrapSettings, *, skip: bool = False) -> None:
    """Refuse to deploy a repository ``repo.validate`` finds broken: Flux would stall on it right after bootstrap.

    The repository root is the folder that holds ``kubernetes/apps`` (``bootstrap.appsDir``'s grandparent).
    """
    if skip or settings.apps_dir is None:
        return
    from homeops.lint.validate import validate_repo

    root = settings.apps_dir.parent.parent
    problems = validate_repo(root)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise PlanError(
            f"repo.validate: {root / problems[0].path}:{problems[0].line}: {problems[0].message}{more}",
            hint=f"fix it (inv repo.validate --path {root}), or pass --skip-validate to bootstrap anyway",
        )


def prepare(
    runtime: Runtime,
    stages: Sequence[str],
    *,
    recover_from: Path | None = None,
    skip_hash_check: bool = False,
    skip_validate: bool = False,
) -> BootstrapWorld:
    """Read and check every input before anything runs: settings, repository, helmfile, secrets, kubeconfig."""
    inv = runtime.inventory
    settings = bi.load_settings(inv)
    bi.check_kubeconfig(inv)  # before helmfile is handed it: another cluster's kubeconfig is refused first
    if "apps" in stages:
        check_repository(settings, skip=skip_validate)
    if recover_from is not None and not Path(recover_from).is_file():
        raise ConfigError("etcd snapshot not found", file=str(recover_from), hint="give the path of a snapshot file")
    world = BootstrapWorld(
        runtime,
        settings,
        recover_from=Path(recover_from).resolve() if recover_from else None,
        skip_hash_check=skip_hash_check,
    )
    if "apps" in stages:
        world.spec = bi.load_helmfile(inv, settings, runtime.local)
        if settings.crds_helmfile is not None:
            world.crds_spec = bi.load_helmfile(inv, settings, runtime.local, settings.crds_helmfile)
            check_crd_owners(world)
        # a SOPS file the key cannot decrypt, a failing render command: refused now, naming it
        bi.check_decryption_secret(settings, world.secrets())
    if "talos" in stages and (inv.cluster.talconfig is None or not inv.cluster.talconfig.is_file()):
        raise ConfigError(
            "talconfig not found",
            file=str(inv.cluster.talconfig or inv.root / "homeops.yaml"),
            field="cluster.talconfig",
        )
    if "talos" in stages and recover_from is not None:
        from homeops.operations import genconfig as gc

        gc.check_secret(inv)  # a rebuild without a decryptable talsecret is refused before anything is wiped
    bi.check_kubeconfig(inv)
    return world


HELM_DEFAULT_TIMEOUT = 300  # helm's own --timeout when the helmfile sets none (helm v3 `upgrade --timeout 5m0s`)
HOOK_MARGIN = 300  # pulling the chart, helmfile's presync/postsync hooks (e.g. `kubectl wait --timeout=2m`)


def release_deadline(settings: bi.BootstrapSettings, spec: hf.HelmfileSpec, release: hf.ReleaseSpec) -> float:
    """How long homeops lets one ``helmfile sync`` run: never less than helm's own ``--timeout`` plus the
    hooks' margin, so helm times out (and cleans up) first. Killing helmfile before that leaves the
    release ``pending-install``/``pending-upgrade`` (recovery.md §3)."""
    helm_timeout = release.timeout or spec.default_timeout or HELM_DEFAULT_TIMEOUT
    return max(settings.release_timeout, float(helm_timeout + HOOK_MARGIN))


def check_crd_owners(world: BootstrapWorld) -> None:
    """Refuse to pre-apply a CRD that a release of the apps helmfile installs itself.

    helm refuses to install over an object it does not own ("exists and cannot be imported into the
    current release: invalid ownership metadata", helm ``pkg/action/validate.go``): a CRD of cert-manager
    pre-applied with kubectl breaks the cert-manager release. The crds helmfile is for charts Flux
    installs later; a chart in both is a mistake, named here before anything runs.
    """
    assert world.spec is not None and world.crds_spec is not None
    apps = {_chart_key(r.chart): r for r in world.spec.releases}
    for release in world.crds_spec.releases:
        owner = apps.get(_chart_key(release.chart))
        if owner is not None:
            raise PlanError(
                f"{world.crds_spec.path}: release {release.id} pre-applies the CRDs of chart {release.chart}, "
                f"which {world.spec.path} installs as release {owner.id}: helm would refuse {owner.name} "
                "(invalid ownership metadata)",
                hint=f"remove {release.name} from the crds helmfile: helm installs its own CRDs",
            )


def _chart_key(chart: str) -> str:
    return chart.rstrip("/").split("/")[-1].lower()


#: What each bootstrap task runs: bootstrap.talos, bootstrap.apps, bootstrap.all.
TASK_STAGES = {"talos": ("talos",), "apps": ("apps",), "all": ("talos", "apps")}
