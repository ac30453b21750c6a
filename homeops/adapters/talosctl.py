"""talosctl: argv builders, pure output parsers, error classifiers and thin call helpers.

Behaviour relied on (reference: cli-interfaces.md §1 and §7, read from siderolabs/talos v1.9.6–v1.13.9):

* Every argv names the subcommand first, then ``--talosconfig PATH --nodes NODE``. Since v1.11 the
  global flags hang off each API command, not the root, so they must follow the subcommand; a
  talosctl without ``--nodes`` would fan out to every node talhelper wrote into the talosconfig.
* talosctl exits 1 on *every* error, so failures are classified by their text
  (``is_unreachable``, ``is_already_bootstrapped``, ``is_quorum_refusal``, …).
* Multi-node reads do not fail uniformly (talos v1.11.6 ``pkg/machinery/client/reply.go``
  ``FilterMessages``; ``cmd/talosctl/pkg/talos/helpers/resources.go`` ``ForEachResource``):
  ``version``, ``etcd status|members|alarm list`` and ``service`` exit **0** when one node answers and
  print a ``WARNING: N error(s) occurred:`` multierror (``\t* <node>: <error>``) on stderr for the
  others; ``get`` resolves the resource type on the *first* node and aborts with nothing printed (and
  no node name) when that one is down, and names no node in the errors of later ones. So per-node
  truth never comes from the exit code: a node absent from the output did not answer (its WARNING
  line, when there is one, is the reason), and ``get`` asks each silent node again on its own
  (``PerNode``).
* ``get -o json`` prints a *stream* of pretty-printed objects (keys ``node``, ``metadata``, ``spec``).
* Tables (``etcd members``, ``etcd status``, ``upgrade --wait=false``) come from Go's tabwriter with a
  padding of 3: parse by header name, never by position (v1.11 inserted ``PROTOCOL``/``STORAGE``).
* ``--wait`` (default true on upgrade/reboot/reset) cannot be combined with ``--insecure``; homeops
  always writes ``--wait=true|false`` explicitly.
* Version gates (``client_version``): ``reboot --mode=force`` needs ≥1.12; ``upgrade --reboot-mode
  force`` exists only in the v1.13 LifecycleService flow (before, and with ``--legacy``, talosctl
  refuses it: "invalid reboot mode"); ``upgrade --drain`` and ``reboot --drain`` need ≥1.13;
  ``apply-config --mode=interactive`` is gone in 1.13 (and never works unattended); in ≥1.13
  ``upgrade --stage/--force`` only act in the legacy flow, so they need ``legacy=True``;
  ``kubeconfig -`` (stdout) needs ≥1.10. With no client version known, only flags valid in every
  supported version are built; the rest is a ``PlanError`` asking for it.
* talosctl ≥1.13 ``upgrade``: ``--drain`` defaults to true and turns ``--wait`` on (``upgrade.go``
  v1.13.9 ``RunE``), so an upgrade that sends and returns (``wait=False``) is built with
  ``--drain=false``; homeops' own waits then follow the reboot.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

from homeops.adapters._parse import (
    UnexpectedOutput,
    check_result,
    excerpt,
    go_duration,
    parse_bool,
    parse_json_stream,
    parse_table,
    parsed,
    run_checked,
    strip_ansi,
)
from homeops.errors import CommandError, PlanError
from homeops.runners import Result, Runner

TOOL = "talosctl"

ApplyMode = Literal["auto", "no-reboot", "reboot", "staged", "try", "interactive"]
RebootMode = Literal["default", "powercycle", "force"]

#: The spec.stage values of MachineStatus (runtime.MachineStage, lower-cased by its String()).
STAGES = (
    "unknown",
    "booting",
    "installing",
    "maintenance",
    "running",
    "rebooting",
    "shutting down",
    "resetting",
    "upgrading",
)


def version_tuple(version: str) -> tuple[int, int]:
    """``v1.13.0-alpha.2`` → ``(1, 13)``."""
    match = re.match(r"^v?(\d+)\.(\d+)", version.strip())
    if not match:
        raise PlanError(f"talosctl version {version!r} is not a version like v1.11.6")
    return int(match.group(1)), int(match.group(2))


# =========================================================================== argv builders


class Talosctl:
    """Builds talosctl argv lists. Never runs anything."""

    def __init__(
        self,
        talosconfig: Path | str,
        *,
        client_version: str | None = None,
        binary: str = TOOL,
        context: str | None = None,
        endpoints: Sequence[str] = (),
    ) -> None:
        self.talosconfig = Path(talosconfig)
        self.client_version = client_version
        self.binary = binary
        self.context = context
        self.endpoints = tuple(endpoints)
        self._version = version_tuple(client_version) if client_version else None

    def __repr__(self) -> str:
        return f"Talosctl(talosconfig={str(self.talosconfig)!r}, client_version={self.client_version!r})"

    # ------------------------------------------------------------------ helpers

    def _at_least(self, minor: int, feature: str) -> None:
        """Refuse a flag the configured client may not have."""
        if self._version is None:
            raise PlanError(
                f"talosctl {feature} needs talosctl ≥ 1.{minor}, and the client version is unknown",
                hint="pass client_version (from `talosctl version --client --short`)",
            )
        if self._version < (1, minor):
            raise PlanError(
                f"talosctl {feature} needs talosctl ≥ 1.{minor}; this client is {self.client_version}",
                hint=f"install talosctl 1.{minor} or later",
            )

    def _is_at_least(self, minor: int) -> bool:
        return self._version is not None and self._version >= (1, minor)

    def _cmd(self, sub: Sequence[str], nodes: str | Sequence[str], *, multi: bool = False) -> list[str]:
        node_list = [nodes] if isinstance(nodes, str) else list(nodes)
        if not node_list or any(not n or not n.strip() for n in node_list):
            raise PlanError(f"talosctl {' '.join(sub)}: no node given", hint="name the node explicitly")
        if any("," in n or " " in n.strip() for n in node_list):
            raise PlanError(f"talosctl {' '.join(sub)}: node {nodes!r} must be one address per entry")
        if len(node_list) > 1 and not multi:
            raise PlanError(f"talosctl {' '.join(sub)} runs against exactly one node, got {len(node_list)}")
        argv = [self.binary, *sub, "--talosconfig", str(self.talosconfig), "--nodes", ",".join(node_list)]
        if self.context:
            argv += ["--context", self.context]
        if self.endpoints:
            argv += ["--endpoints", ",".join(self.endpoints)]
        return argv

    @staticmethod
    def _wait_flags(*, wait: bool, insecure: bool, timeout: float | str | None, what: str) -> list[str]:
        if wait and insecure:
            raise PlanError(
                f"talosctl {what}: --wait cannot be combined with --insecure",
                hint="use wait=False for a node in maintenance mode and poll it separately",
            )
        if timeout is not None and not wait:
            raise PlanError(f"talosctl {what}: a timeout only applies with wait=True")
        flags = [f"--wait={'true' if wait else 'false'}"]
        if timeout is not None:
            flags += ["--timeout", go_duration(timeout)]
        if insecure:
            flags.append("--insecure")
        return flags

    # ------------------------------------------------------------------ read-only

    def get(
        self,
        resource: str,
        node: str | Sequence[str],
        *,
        id: str | None = None,
        namespace: str | None = None,
        output: str = "json",
        insecure: bool = False,
    ) -> list[str]:
        sub = ["get", resource] + ([id] if id else [])
        argv = [*self._cmd(sub, node, multi=True), "--output", output]
        if namespace:
            argv += ["--namespace", namespace]
        if insecure:
            argv.append("--insecure")
        return argv

    def validate(self, config: Path | str, mode: str = "metal") -> list[str]:
        """``talosctl validate --config F --mode M``: local, no node; prints ``<F> is valid for <M> mode``
        (siderolabs/talos cmd/talosctl/cmd/mgmt/validate.go)."""
        return [self.binary, "validate", "--config", str(config), "--mode", mode]

    def machine_status(self, node: str | Sequence[str], *, insecure: bool = False) -> list[str]:
        return self.get("machinestatus", node, insecure=insecure)

    def version(self, node: str | Sequence[str], *, insecure: bool = False) -> list[str]:
        argv = self._cmd(["version"], node, multi=True)
        return argv + (["--insecure"] if insecure else [])

    def client_version_argv(self) -> list[str]:
        """``talosctl version --client --short``: local, no node."""
        return [self.binary, "version", "--client", "--short"]

    def copy_out(self, node: str, remote: str, local: Path | str) -> list[str]:
        """``talosctl cp REMOTE LOCAL``: a file off the node (the raw etcd ``db`` when a snapshot fails)."""
        return self._cmd(["cp", remote, str(local)], node)

    def support(self, node: str, output: Path | str) -> list[str]:
        """``talosctl support -O FILE``: the node's support zip (talos v1.14.0-rc.1 ``support.go:437``)."""
        return [*self._cmd(["support"], node), "--output", str(output), "--num-workers", "1"]

    def dmesg(self, node: str) -> list[str]:
        """The kernel log (without ``--follow``: what the node has now)."""
        return self._cmd(["dmesg"], node)

    def read(self, node: str, path: str) -> list[str]:
        return self._cmd(["read", path], node)

    def boot_id(self, node: str) -> list[str]:
        return self.read(node, "/proc/sys/kernel/random/boot_id")

    def service(self, node: str, id: str | None = None) -> list[str]:
        return self._cmd(["service"] + ([id] if id else []), node)

    def health(
        self,
        node: str,
        *,
        control_planes: Sequence[str],
        workers: Sequence[str] = (),
        wait_timeout: float | str = "10m",
    ) -> list[str]:
        if not control_planes:
            raise PlanError("talosctl health: control_planes is empty; name every control-plane node")
        argv = [*self._cmd(["health"], node), "--wait-timeout", go_duration(wait_timeout)]
        argv += ["--control-plane-nodes", ",".join(control_planes)]
        if workers:
            argv += ["--worker-nodes", ",".join(workers)]
        return argv

    def etcd_members(self, node: str | Sequence[str]) -> list[str]:
        return self._cmd(["etcd", "members"], node, multi=True)

    def etcd_status(self, node: str | Sequence[str]) -> list[str]:
        return self._cmd(["etcd", "status"], node, multi=True)

    def etcd_alarm_list(self, node: str | Sequence[str]) -> list[str]:
        return self._cmd(["etcd", "alarm", "list"], node, multi=True)

    # ------------------------------------------------------------------ mutating

    def etcd_snapshot(self, node: str, path: Path | str) -> list[str]:
        return self._cmd(["etcd", "snapshot", str(path)], node)

    def etcd_remove_member(self, node: str, member_id: str) -> list[str]:
        if not re.fullmatch(r"[0-9a-f]{16}", member_id):
            raise PlanError(f"etcd member id {member_id!r} is not 16 hex digits (as `talosctl etcd members` prints)")
        return self._cmd(["etcd", "remove-member", member_id], node)

    def etcd_leave(self, node: str) -> list[str]:
        return self._cmd(["etcd", "leave"], node)

    def etcd_alarm_disarm(self, node: str) -> list[str]:
        return self._cmd(["etcd", "alarm", "disarm"], node)

    def etcd_forfeit_leadership(self, node: str) -> list[str]:
        """Move etcd leadership off ``node`` if it leads; a no-op on a follower (talos v1.14.0-rc.1
        ``internal/pkg/etcd/etcd.go:277``), an error on a one-member cluster (``:247``)."""
        return self._cmd(["etcd", "forfeit-leadership"], node)

    def image_pull(self, node: str, image: str, *, namespace: str = "system") -> list[str]:
        """Pull ``image`` into the node's containerd (``system``: where ``upgrade`` looks for the installer,
        talos v1.14.0-rc.1 ``cmd/talosctl/cmd/talos/upgrade.go:360``; ``image`` defaults to ``cri``,
        ``image.go:1050``, so the namespace is always given)."""
        if namespace not in ("system", "cri", "inmem"):
            raise PlanError(f"talosctl image pull: namespace {namespace!r} is not one of system, cri, inmem")
        if not image or image.startswith("-") or any(c.isspace() for c in image):
            raise PlanError(f"talosctl image pull: {image!r} is not an image reference")
        return [*self._cmd(["image", "pull"], node), "--namespace", namespace, image]

    def upgrade(
        self,
        node: str,
        image: str,
        *,
        wait: bool = False,
        timeout: float | str | None = None,
        stage: bool = False,
        force: bool = False,
        reboot_mode: RebootMode | None = None,
        insecure: bool = False,
        drain: bool | None = None,
        legacy: bool = False,
    ) -> list[str]:
        if not image or ":" not in image.rsplit("/", 1)[-1]:
            raise PlanError(
                f"talosctl upgrade {node}: installer image {image!r} has no tag",
                hint="pass the full installer reference, e.g. factory.talos.dev/metal-installer/<id>:v1.11.6",
            )
        argv = [*self._cmd(["upgrade"], node), "--image", image]
        argv += self._wait_flags(wait=wait, insecure=insecure, timeout=timeout, what="upgrade")
        if reboot_mode is not None:
            argv += ["--reboot-mode", self._upgrade_reboot_mode(reboot_mode, legacy=legacy)]
        if legacy:
            self._at_least(13, "upgrade --legacy")
            argv.append("--legacy")
        for flag, on in (("--stage", stage), ("--force", force)):
            if not on:
                continue
            if self._is_at_least(13) and not legacy:
                raise PlanError(
                    f"talosctl upgrade {flag} only acts in the legacy upgrade flow of talosctl ≥ 1.13",
                    hint="pass legacy=True to use it, or leave it off",
                )
            argv.append(flag)
        if drain is None and not wait and self._is_at_least(13):
            drain = False  # --drain (default true in 1.13) would turn --wait back on
        if drain is not None:
            self._at_least(13, "upgrade --drain")
            if drain and not wait:
                raise PlanError(
                    "talosctl upgrade --drain turns --wait on in talosctl ≥ 1.13; it cannot go with wait=False",
                    hint="pass drain=False (homeops waits for the reboot itself) or wait=True",
                )
            argv.append(f"--drain={'true' if drain else 'false'}")
        return argv

    def _upgrade_reboot_mode(self, mode: str, *, legacy: bool) -> str:
        # talos upgrade.go: up to v1.12 (and in the v1.13 --legacy/fallback flow) the mode is looked up
        # in UpgradeRequest_RebootMode (DEFAULT, POWERCYCLE); only the v1.13 LifecycleService flow
        # takes RebootRequest modes, which add FORCE.
        if mode not in ("default", "powercycle", "force"):
            raise PlanError(f"talosctl upgrade: reboot mode {mode!r} is not one of default, powercycle, force")
        if mode == "force":
            self._at_least(13, "upgrade --reboot-mode=force")
            if legacy:
                raise PlanError(
                    "talosctl upgrade --reboot-mode=force does not exist in the legacy upgrade flow",
                    hint="use default or powercycle with legacy=True",
                )
        return mode

    def _reboot_mode(self, mode: str, what: str) -> str:
        if mode not in ("default", "powercycle", "force"):
            raise PlanError(f"talosctl {what}: reboot mode {mode!r} is not one of default, powercycle, force")
        if mode == "force":
            self._at_least(12, f"{what} --mode=force")
        return mode

    def apply_config(
        self,
        node: str,
        file: Path | str,
        *,
        mode: ApplyMode = "auto",
        insecure: bool = False,
        dry_run: bool = False,
        config_patches: Sequence[str] = (),
        try_timeout: float | str | None = None,
    ) -> list[str]:
        if mode not in ("auto", "no-reboot", "reboot", "staged", "try", "interactive"):
            raise PlanError(f"talosctl apply-config: mode {mode!r} is not one of auto, no-reboot, reboot, staged, try")
        if mode == "interactive":
            if self._is_at_least(13):
                raise PlanError(
                    f"talosctl apply-config --mode=interactive was removed in talosctl 1.13 ({self.client_version})",
                    hint="use --mode=auto with a config file",
                )
            raise PlanError("talosctl apply-config --mode=interactive needs a terminal; homeops runs unattended")
        if mode == "reboot" and self._is_at_least(14):
            # talos v1.14.0-rc.1 hack/release.toml notes.apply_config; helpers/mode.go:70 has no "reboot".
            raise PlanError(
                f"talosctl apply-config --mode=reboot was removed in talosctl 1.14 ({self.client_version})",
                hint="use --mode=auto (reboots only when the change needs it), or apply then reboot-node",
            )
        if try_timeout is not None and mode != "try":
            raise PlanError("talosctl apply-config: try_timeout only applies with mode='try'")
        argv = [*self._cmd(["apply-config"], node), "--file", str(file), "--mode", mode]
        if insecure:
            argv.append("--insecure")
        if dry_run:
            argv.append("--dry-run")
        for patch in config_patches:
            argv += ["--config-patch", patch]
        if try_timeout is not None:
            argv += ["--timeout", go_duration(try_timeout)]
        return argv

    def reboot(
        self,
        node: str,
        *,
        wait: bool = False,
        mode: RebootMode | None = None,
        timeout: float | str | None = None,
        drain: bool | None = None,
    ) -> list[str]:
        argv = self._cmd(["reboot"], node) + self._wait_flags(wait=wait, insecure=False, timeout=timeout, what="reboot")
        if mode is not None:
            argv += ["--mode", self._reboot_mode(mode, "reboot")]
        if drain is not None:
            self._at_least(13, "reboot --drain")
            argv.append(f"--drain={'true' if drain else 'false'}")
        return argv

    def bootstrap(
        self, node: str, *, recover_from: Path | str | None = None, skip_hash_check: bool = False
    ) -> list[str]:
        if skip_hash_check and recover_from is None:
            raise PlanError("talosctl bootstrap: skip_hash_check only applies with recover_from=<snapshot>")
        argv = self._cmd(["bootstrap"], node)
        if recover_from is not None:
            argv += ["--recover-from", str(recover_from)]
        if skip_hash_check:
            argv.append("--recover-skip-hash-check")
        return argv

    def kubeconfig(self, node: str, path: Path | str, *, force: bool = True, merge: bool = False) -> list[str]:
        if str(path) == "-":
            if merge:
                raise PlanError("talosctl kubeconfig -: writing to stdout needs merge=False")
            self._at_least(10, "kubeconfig - (to stdout)")
        argv = self._cmd(["kubeconfig", str(path)], node)
        if force:
            argv.append("--force")
        argv.append(f"--merge={'true' if merge else 'false'}")
        return argv

    def reset(
        self,
        node: str,
        *,
        graceful: bool = True,
        reboot: bool = False,
        wipe: Sequence[str] = (),
        wait: bool = False,
        timeout: float | str | None = None,
        insecure: bool = False,
    ) -> list[str]:
        # System partitions (EPHEMERAL, STATE) or user volumes: Talos labels those u-<name>, case kept
        # (siderolabs/talos v1.11.6 pkg/machinery/constants/constants.go:1262).
        bad = [label for label in wipe if not re.fullmatch(r"[A-Z][A-Z0-9_-]*|u-[A-Za-z0-9-]{1,34}", label)]
        if bad:
            raise PlanError(
                f"talosctl reset: system labels {bad} are not partition labels like EPHEMERAL, STATE or u-<volume>"
            )
        argv = [*self._cmd(["reset"], node), f"--graceful={'true' if graceful else 'false'}"]
        if reboot:
            argv.append("--reboot")
        if wipe:
            argv += ["--system-labels-to-wipe", ",".join(wipe)]
        return argv + self._wait_flags(wait=wait, insecure=insecure, timeout=timeout, what="reset")

    def upgrade_k8s(self, node: str, to: str, *, dry_run: bool = False, from_version: str | None = None) -> list[str]:
        if not re.fullmatch(r"v?\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?", to):
            raise PlanError(f"talosctl upgrade-k8s: target {to!r} is not a Kubernetes version like 1.34.1")
        argv = [*self._cmd(["upgrade-k8s"], node), "--to", to]
        if from_version:
            argv += ["--from", from_version]
        if dry_run:
            argv.append("--dry-run")
        return argv


# =========================================================================== facts


@dataclass(frozen=True)
class UnmetCondition:
    name: str
    reason: str


@dataclass(frozen=True)
class MachineStatus:
    node: str
    stage: str
    ready: bool
    unmet_conditions: tuple[UnmetCondition, ...] = ()

    @property
    def running_ready(self) -> bool:
        """What ``talosctl upgrade --wait`` waits for: stage running and every check met."""
        return self.stage == "running" and self.ready

    def describe(self) -> str:
        unmet = ", ".join(f"{c.name} ({c.reason})" if c.reason else c.name for c in self.unmet_conditions)
        return f"stage {self.stage}, ready {str(self.ready).lower()}" + (f", unmet: {unmet}" if unmet else "")


@dataclass(frozen=True)
class EtcdMember:
    node: str
    id: str
    hostname: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    learner: bool


@dataclass(frozen=True)
class EtcdStatus:
    node: str
    member_id: str
    db_size: str
    in_use: str
    leader_id: str
    raft_index: int
    raft_term: int
    raft_applied_index: int
    learner: bool
    protocol: str | None = None  # v1.11+
    storage: str | None = None  # v1.11+
    errors: tuple[str, ...] = ()

    @property
    def is_leader(self) -> bool:
        return self.member_id == self.leader_id


@dataclass(frozen=True)
class EtcdAlarm:
    node: str
    member_id: str
    alarm: str


@dataclass(frozen=True)
class SnapshotInfo:
    path: str
    bytes: int
    hash: str
    revision: int
    keys: int
    total_size: int


@dataclass(frozen=True)
class UpgradeAck:
    node: str
    ack: str
    started: str


@dataclass(frozen=True)
class ApplyResult:
    """What the server said it did with a new machine config."""

    mode: Literal["no-reboot", "reboot", "staged", "try"]
    reboot: bool
    dry_run: bool = False
    reason: str = ""  # why auto mode chose a reboot
    try_timeout: str | None = None
    diff: str = ""
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceInfo:
    node: str
    id: str
    state: str
    health: str
    events: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        return self.state.lower() == "running"


@dataclass(frozen=True)
class ProgressEvent:
    node: str
    message: str


@dataclass(frozen=True)
class ActionReport:
    """The progress lines of ``upgrade/reboot --wait`` (non-TTY reporter) or the v1.13 upgrade flow."""

    events: tuple[ProgressEvent, ...]
    completed: frozenset[str] = field(default_factory=frozenset)
    errors: tuple[str, ...] = ()

    def last_for(self, node: str) -> str | None:
        for event in reversed(self.events):
            if event.node == node:
                return event.message
        return None


@dataclass(frozen=True)
class HealthReport:
    checks: tuple[tuple[str, str], ...]  # (check, final status: OK / SKIP / … / error text)
    discovered: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(status in ("OK", "SKIP") for _, status in self.checks)

    @property
    def failing(self) -> tuple[tuple[str, str], ...]:
        return tuple((c, s) for c, s in self.checks if s not in ("OK", "SKIP"))


@dataclass(frozen=True)
class K8sUpgradeReport:
    from_version: str | None
    control_planes: tuple[str, ...]
    workers: tuple[str, ...]
    updated: tuple[str, ...]  # "<component>: <node>" for each "successfully updated"
    dry_run: bool


T = TypeVar("T")


@dataclass(frozen=True)
class PerNode(Generic[T]):
    """A read fanned out to several nodes: facts from those that answered, a reason for each that did not.

    Whatever the exit code, a node absent from the output did not answer: ``errors`` holds its
    WARNING/error text (or ``no answer`` when talosctl named no reason).
    """

    facts: Mapping[str, T]
    errors: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def unreachable(self) -> tuple[str, ...]:
        """Every node that did not answer, in the order asked."""
        return tuple(self.errors)


# =========================================================================== parsers


def _spec(obj: dict[str, Any], what: str) -> dict[str, Any]:
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        raise UnexpectedOutput(what, f"object without a spec: {excerpt(str(obj))}")
    return spec


def parse_resources(text: str, *, what: str = "talosctl get") -> list[dict[str, Any]]:
    """``talosctl get … -o json``: a stream of ``{node, metadata, spec}`` objects."""
    objects = parse_json_stream(text, what=what)
    for obj in objects:
        if "metadata" not in obj or "spec" not in obj:
            raise UnexpectedOutput(what, f"object lacks metadata/spec: {excerpt(str(obj))}")
    return objects


def parse_machine_status(text: str) -> dict[str, MachineStatus]:
    what = "talosctl get machinestatus"
    out: dict[str, MachineStatus] = {}
    for obj in parse_resources(text, what=what):
        node = str(obj.get("node") or "")
        spec = _spec(obj, what)
        stage = spec.get("stage")
        status = spec.get("status")
        if not isinstance(stage, str) or not isinstance(status, dict) or not isinstance(status.get("ready"), bool):
            raise UnexpectedOutput(what, f"spec lacks stage/status.ready: {excerpt(str(spec))}")
        unmet = []
        for cond in status.get("unmetConditions") or ():
            if not isinstance(cond, dict) or "name" not in cond:
                raise UnexpectedOutput(what, f"bad unmetConditions entry: {excerpt(str(cond))}")
            unmet.append(UnmetCondition(str(cond["name"]), str(cond.get("reason", ""))))
        out[node] = MachineStatus(node, stage, status["ready"], tuple(unmet))
    return out


_NODE_LINE = re.compile(r"^\s*NODE:\s+(\S+)")
_TAG_LINE = re.compile(r"^\s*Tag:\s+(\S+)")


def parse_version(text: str) -> dict[str, str]:
    """Server tags by node from ``talosctl version``; the Client block is skipped."""
    tags: dict[str, str] = {}
    section = ""
    node: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in ("Client:", "Server:"):
            section = stripped
            node = None
            continue
        if section != "Server:":
            continue
        if m := _NODE_LINE.match(line):
            node = m.group(1)
        elif (m := _TAG_LINE.match(line)) and node is not None:
            tags[node] = m.group(1)
    # version.go prints "Client:" and "Server:" before it connects: when no node answers the Server
    # block is empty (the reasons are on stderr). Lines in it without a NODE/Tag are not that.
    server = text.split("Server:", 1)[1] if "Server:" in text else ""
    if not tags and server.strip():
        raise UnexpectedOutput("talosctl version", f"no NODE/Tag pairs in the Server block: {excerpt(text)}")
    return tags


def parse_client_version(text: str) -> str:
    """``talosctl version --client [--short]`` → ``v1.11.6``."""
    for line in text.splitlines():
        if m := re.match(r"^\s*(?:Tag:|Talos)\s+(v?\d+\.\d+\.\S+)", line):
            return m.group(1)
    raise UnexpectedOutput("talosctl version --client", f"no client tag: {excerpt(text)}")


def _node_of(row: dict[str, str]) -> str:
    return row.get("NODE", "")


def parse_etcd_members(text: str) -> list[EtcdMember]:
    what = "talosctl etcd members"
    table = parse_table(text, what=what, required=("ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"))
    members = []
    for row in table.rows:
        member_id = row["ID"]
        if not re.fullmatch(r"[0-9a-f]{16}", member_id):
            raise UnexpectedOutput(what, f"member id {member_id!r} is not 16 hex digits")
        members.append(
            EtcdMember(
                node=_node_of(row),
                id=member_id,
                hostname=row["HOSTNAME"],
                peer_urls=tuple(u for u in row["PEER URLS"].split(",") if u),
                client_urls=tuple(u for u in row["CLIENT URLS"].split(",") if u),
                learner=parse_bool(row["LEARNER"], what=what, field="LEARNER"),
            )
        )
    return members


def _int(value: str, what: str, field_name: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UnexpectedOutput(what, f"{field_name} is {value!r}, expected a number") from None


def parse_etcd_status(text: str) -> list[EtcdStatus]:
    what = "talosctl etcd status"
    table = parse_table(
        text,
        what=what,
        required=("MEMBER", "DB SIZE", "IN USE", "LEADER", "RAFT INDEX", "RAFT TERM", "RAFT APPLIED INDEX", "LEARNER"),
    )
    statuses = []
    for row in table.rows:
        member = row["MEMBER"]
        if not re.fullmatch(r"[0-9a-f]{16}", member):
            raise UnexpectedOutput(what, f"member id {member!r} is not 16 hex digits")
        errors = row.get("ERRORS", "")
        statuses.append(
            EtcdStatus(
                node=_node_of(row),
                member_id=member,
                db_size=row["DB SIZE"],
                in_use=row["IN USE"],
                leader_id=row["LEADER"],
                raft_index=_int(row["RAFT INDEX"], what, "RAFT INDEX"),
                raft_term=_int(row["RAFT TERM"], what, "RAFT TERM"),
                raft_applied_index=_int(row["RAFT APPLIED INDEX"], what, "RAFT APPLIED INDEX"),
                learner=parse_bool(row["LEARNER"], what=what, field="LEARNER"),
                protocol=row.get("PROTOCOL") if "PROTOCOL" in table.headers else None,
                storage=row.get("STORAGE") if "STORAGE" in table.headers else None,
                errors=tuple(e.strip() for e in errors.split(",") if e.strip()),
            )
        )
    return statuses


def parse_etcd_alarms(text: str) -> list[EtcdAlarm]:
    if not text.strip():
        return []
    table = parse_table(text, what="talosctl etcd alarm list", required=("MEMBER", "ALARM"))
    return [EtcdAlarm(_node_of(r), r["MEMBER"], r["ALARM"]) for r in table.rows if r["ALARM"] and r["ALARM"] != "NONE"]


_SAVED = re.compile(r'etcd snapshot saved to "(?P<path>[^"]+)" \((?P<bytes>\d+) bytes\)')
_INFO = re.compile(
    r"hash (?P<hash>[0-9a-f]+), revision (?P<revision>\d+), total keys (?P<keys>\d+), total size (?P<size>\d+)"
)


def parse_snapshot(text: str) -> SnapshotInfo:
    saved, info = _SAVED.search(text), _INFO.search(text)
    if not saved or not info:
        raise UnexpectedOutput("talosctl etcd snapshot", f"no 'snapshot saved'/'snapshot info' lines: {excerpt(text)}")
    return SnapshotInfo(
        path=saved["path"],
        bytes=int(saved["bytes"]),
        hash=info["hash"],
        revision=int(info["revision"]),
        keys=int(info["keys"]),
        total_size=int(info["size"]),
    )


def parse_recovery(text: str) -> SnapshotInfo | None:
    """``bootstrap --recover-from``: the ``recovering from snapshot "p": hash …`` line, if any."""
    match = re.search(r'recovering from snapshot "(?P<path>[^"]+)": ' + _INFO.pattern, text)
    if not match:
        return None
    return SnapshotInfo(match["path"], 0, match["hash"], int(match["revision"]), int(match["keys"]), int(match["size"]))


def parse_boot_id(text: str) -> str:
    value = text.strip()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise UnexpectedOutput("talosctl read boot_id", f"not a boot id: {excerpt(text)}") from None


def parse_upgrade_ack(text: str) -> list[UpgradeAck]:
    table = parse_table(text, what="talosctl upgrade", required=("NODE", "ACK"))
    acks = [UpgradeAck(r["NODE"], r["ACK"], r.get("STARTED", "")) for r in table.rows]
    if not acks:
        raise UnexpectedOutput("talosctl upgrade", "no acknowledgement rows")
    return acks


# Non-TTY reporter: `"<node>": <msg>` (Go %q); TTY reporter: `    * <node>: <msg>`.
_PROGRESS = re.compile(r'^\s*(?:\*\s*(?P<bare>\S+?)|"(?P<quoted>[^"]+)"):\s+(?P<msg>.*)$')
_V113_DONE = re.compile(r"^(?P<node>\S+): upgrade completed\s*$")


def parse_action_progress(text: str) -> ActionReport:
    """The reporter lines of ``upgrade|reboot|reset --wait`` on a non-TTY (and the v1.13 upgrade flow)."""
    events: list[ProgressEvent] = []
    completed: set[str] = set()
    errors: list[str] = []
    for raw in strip_ansi(text).splitlines():
        line = raw.rstrip()
        if not line.strip() or line.startswith("watching nodes:"):
            continue
        if m := _V113_DONE.match(line.strip()):
            completed.add(m["node"])
            events.append(ProgressEvent(m["node"], "upgrade completed"))
            continue
        m = _PROGRESS.match(line)
        if not m:
            continue
        node, msg = m["quoted"] or m["bare"], m["msg"].strip()
        events.append(ProgressEvent(node, msg))
        if msg == "post check passed":
            completed.add(node)
        elif msg.startswith("sequence error:") or msg.startswith("error"):
            errors.append(f"{node}: {msg}")
    return ActionReport(tuple(events), frozenset(completed), tuple(errors))


_APPLY_MODES: tuple[tuple[str, Literal["no-reboot", "reboot", "staged"]], ...] = (
    ("Applied configuration without a reboot", "no-reboot"),
    ("Applied configuration with a reboot", "reboot"),
    ("Staged configuration to be applied after the next reboot", "staged"),
)


def parse_apply_result(stderr: str) -> ApplyResult:
    """The ModeDetails talosctl apply-config prints on stderr (with ``WARNING:`` lines)."""
    text = strip_ansi(stderr)
    warnings = tuple(
        ln.strip()[len("WARNING:") :].strip() for ln in text.splitlines() if ln.strip().startswith("WARNING:")
    )
    body = "\n".join(ln for ln in text.splitlines() if not ln.strip().startswith("WARNING:"))
    dry_run = "Dry run summary:" in body
    diff = ""
    if dry_run:
        after = body.split("Dry run summary:", 1)[1].lstrip("\n")
        first, _, diff = after.partition("\n")
        details = first
    else:
        details = body
    for prefix, mode in _APPLY_MODES:
        idx = details.find(prefix)
        if idx < 0:
            continue
        rest = details[idx + len(prefix) :].split("\n", 1)[0]
        reason = rest.removeprefix(":").strip() if rest.startswith(":") else ""
        reason = reason.removesuffix("(skipped in dry-run).").strip()
        try_match = re.search(r"automatically reverted back in (\S+)", body)
        final_mode: Literal["no-reboot", "reboot", "staged", "try"] = "try" if try_match else mode
        return ApplyResult(
            mode=final_mode,
            reboot=mode == "reboot",
            dry_run=dry_run,
            reason=reason,
            try_timeout=try_match.group(1) if try_match else None,
            diff=diff.strip("\n"),
            warnings=warnings,
        )
    raise UnexpectedOutput("talosctl apply-config", f"no mode details: {excerpt(text)}")


def parse_service(text: str) -> ServiceInfo:
    """``talosctl service <id>``: a ``KEY   value`` block (NODE, ID, STATE, HEALTH, EVENTS…)."""
    values: dict[str, str] = {}
    events: list[str] = []
    last_key = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^([A-Z][A-Z ]*?)\s{2,}(.*)$", line)
        if m and not line.startswith(" "):
            last_key = m.group(1).strip()
            values[last_key] = m.group(2).strip()
            if last_key == "EVENTS":
                events.append(m.group(2).strip())
        elif last_key == "EVENTS" and line.startswith(" "):
            events.append(line.strip())
    if "STATE" not in values:
        raise UnexpectedOutput("talosctl service", f"no STATE line: {excerpt(text)}")
    return ServiceInfo(
        values.get("NODE", ""), values.get("ID", ""), values["STATE"], values.get("HEALTH", "?"), tuple(events)
    )


def parse_services_json(text: str) -> dict[tuple[str, str], ServiceInfo]:
    """``talosctl get service -o json``: keyed by (node, service id); state from running/healthy flags."""
    out: dict[tuple[str, str], ServiceInfo] = {}
    for obj in parse_resources(text, what="talosctl get service"):
        spec = _spec(obj, "talosctl get service")
        sid = str(obj["metadata"].get("id", ""))
        node = str(obj.get("node") or "")
        state = "Running" if spec.get("running") else "Stopped"
        health = "?" if spec.get("unknown") else ("OK" if spec.get("healthy") else "Fail")
        out[(node, sid)] = ServiceInfo(node, sid, state, health)
    return out


_CHECK = re.compile(r"^waiting for (?P<check>.+?): (?P<status>.*)$")


def parse_health(text: str) -> HealthReport:
    """``talosctl health`` stderr: the last status seen for each check, in first-seen order."""
    order: list[str] = []
    final: dict[str, str] = {}
    discovered: tuple[str, ...] = ()
    last = ""
    for raw in strip_ansi(text).splitlines():
        line = raw.strip()
        if last and line and (raw[:1] in (" ", "\t") or line.startswith("*")):
            # multierror detail lines ("\t* node: reason") belong to the check above them.
            final[last] = f"{final[last]} {line}"
            continue
        if line.startswith("discovered nodes:"):
            discovered = tuple(re.findall(r'"([^"]+)"', line))
            continue
        if m := _CHECK.match(line):
            check, status = m["check"], m["status"].strip()
            if check not in final:
                order.append(check)
            final[check] = status
            last = check
        else:
            last = ""
    return HealthReport(tuple((c, final[c]) for c in order), discovered)


def parse_upgrade_k8s(text: str) -> K8sUpgradeReport:
    from_version = None
    if m := re.search(r"automatically detected the lowest Kubernetes version (\S+)", text):
        from_version = m.group(1)
    cps = re.search(r"discovered controlplane nodes \[(.*?)\]", text)
    workers = re.search(r"discovered worker nodes \[(.*?)\]", text)
    updated = []
    component = ""
    for line in text.splitlines():
        if m := re.match(r'^updating "([^"]+)" to version', line.strip()):
            component = m.group(1)
        elif m := re.match(r'^< "([^"]+)": successfully updated', line.strip()):
            updated.append(f"{component}: {m.group(1)}")
    return K8sUpgradeReport(
        from_version,
        tuple(re.findall(r'"([^"]+)"', cps.group(1))) if cps else (),
        tuple(re.findall(r'"([^"]+)"', workers.group(1))) if workers else (),
        tuple(updated),
        "skipped in dry-run" in text,
    )


_NODE_ERROR = re.compile(r"^\s*\*\s*(?P<node>\S+?): (?P<msg>.+)$")


def parse_node_errors(stderr: str) -> dict[str, str]:
    """Per-node errors from talosctl's multierror (``N errors occurred:`` then ``\\t* <node>: <error>``).

    The same text is an error (exit 1, every node failed) or a ``WARNING:`` (exit 0, some answered).
    """
    errors: dict[str, str] = {}
    for line in strip_ansi(stderr).splitlines():
        if m := _NODE_ERROR.match(line):
            errors.setdefault(m["node"], m["msg"].strip())
    return errors


# =========================================================================== error classifiers

_UNREACHABLE = (
    "code = unavailable",
    "connection refused",
    "i/o timeout",
    "no route to host",
    "network is unreachable",
    "host is down",
    "connection reset by peer",
)


def _text(result: Result) -> str:
    return f"{result.stderr}\n{result.stdout}".lower()


def is_unreachable(result: Result) -> bool:
    """The node's API could not be reached (down, rebooting, wrong address, firewall)."""
    return result.failed and any(marker in _text(result) for marker in _UNREACHABLE)


def is_already_bootstrapped(result: Result) -> bool:
    text = _text(result)
    return result.failed and ("etcd data directory is not empty" in text or "code = alreadyexists" in text)


def is_quorum_refusal(result: Result) -> bool:
    """The server refused an upgrade to protect etcd quorum (or another node holds the upgrade lock)."""
    text = _text(result)
    return result.failed and ("error validating etcd for upgrade" in text or "failed to acquire upgrade mutex" in text)


def is_bootstrap_not_ready(result: Result) -> bool:
    text = _text(result)
    return result.failed and ("bootstrap is not available yet" in text or "time is not in sync yet" in text)


def is_auth_failure(result: Result) -> bool:
    """Wrong talosconfig / certificates (or a node still in maintenance mode asked without --insecure)."""
    text = _text(result)
    return result.failed and any(
        m in text for m in ("code = permissiondenied", "x509:", "certificate required", "code = unauthenticated")
    )


# =========================================================================== call helpers

_UNREACHABLE_HINT = "check that the node is powered on and its Talos API (port 50000) is reachable"


def _run(
    runner: Runner, argv: Sequence[str], *, what: str, node: str, timeout: float | None = None, hint: str | None = None
) -> Result:
    result = runner.run(list(argv), timeout=timeout)
    return run_checked_result(result, what=what, node=node, hint=hint)


def _one_node(nodes: Iterable[str]) -> str:
    return ",".join(nodes)


def machine_status(runner: Runner, tctl: Talosctl, node: str, *, timeout: float | None = 30) -> MachineStatus:
    result = _run(runner, tctl.machine_status(node), what="talosctl get machinestatus", node=node, timeout=timeout)
    statuses = parsed(result, parse_machine_status, target=node)
    status = statuses.get(node) or (next(iter(statuses.values())) if len(statuses) == 1 else None)
    if status is None:
        raise UnexpectedOutput("talosctl get machinestatus", f"no status for {node}").at(
            command=result.command, target=node
        )
    return status


def boot_id(runner: Runner, tctl: Talosctl, node: str, *, timeout: float | None = 30) -> str:
    result = _run(runner, tctl.boot_id(node), what="talosctl read boot_id", node=node, timeout=timeout)
    return parsed(result, parse_boot_id, target=node)


def server_version(runner: Runner, tctl: Talosctl, node: str, *, timeout: float | None = 30) -> str:
    result = _run(runner, tctl.version(node), what="talosctl version", node=node, timeout=timeout)
    tags = parsed(result, parse_version, target=node)
    tag = tags.get(node) or (next(iter(tags.values())) if len(tags) == 1 else None)
    if tag is None:
        raise UnexpectedOutput("talosctl version", f"no server tag for {node}").at(command=result.command, target=node)
    return tag


def client_version(runner: Runner, tctl: Talosctl, *, timeout: float | None = 30) -> str:
    result = run_checked(
        runner, tctl.client_version_argv(), what="talosctl version --client", target=None, timeout=timeout
    )
    return parsed(result, parse_client_version, target=None)


def etcd_members(runner: Runner, tctl: Talosctl, node: str, *, timeout: float | None = 30) -> list[EtcdMember]:
    result = _run(runner, tctl.etcd_members(node), what="talosctl etcd members", node=node, timeout=timeout)
    return parsed(result, parse_etcd_members, target=node)


def etcd_status(
    runner: Runner, tctl: Talosctl, node: str | Sequence[str], *, timeout: float | None = 30
) -> list[EtcdStatus]:
    label = node if isinstance(node, str) else _one_node(node)
    result = _run(runner, tctl.etcd_status(node), what="talosctl etcd status", node=label, timeout=timeout)
    return parsed(result, parse_etcd_status, target=label)


def etcd_alarms(runner: Runner, tctl: Talosctl, node: str, *, timeout: float | None = 30) -> list[EtcdAlarm]:
    result = _run(runner, tctl.etcd_alarm_list(node), what="talosctl etcd alarm list", node=node, timeout=timeout)
    return parsed(result, parse_etcd_alarms, target=node)


def etcd_snapshot(
    runner: Runner, tctl: Talosctl, node: str, path: Path | str, *, timeout: float | None = 600
) -> SnapshotInfo:
    result = _run(
        runner,
        tctl.etcd_snapshot(node, path),
        what="talosctl etcd snapshot",
        node=node,
        timeout=timeout,
        hint="etcd may have lost quorum; see `talosctl -n <ip> service etcd` on each control plane",
    )
    return parsed(result, parse_snapshot, target=node)


def service(runner: Runner, tctl: Talosctl, node: str, id: str, *, timeout: float | None = 30) -> ServiceInfo:
    result = _run(runner, tctl.service(node, id), what=f"talosctl service {id}", node=node, timeout=timeout)
    return parsed(result, parse_service, target=node)


def apply_config(
    runner: Runner,
    tctl: Talosctl,
    node: str,
    file: Path | str,
    *,
    mode: ApplyMode = "auto",
    insecure: bool = False,
    dry_run: bool = False,
    config_patches: Sequence[str] = (),
    timeout: float | None = 120,
) -> ApplyResult:
    argv = tctl.apply_config(node, file, mode=mode, insecure=insecure, dry_run=dry_run, config_patches=config_patches)
    result = _run(runner, argv, what="talosctl apply-config", node=node, timeout=timeout)
    return parsed(result, parse_apply_result, target=node, stream="stderr")


def upgrade(
    runner: Runner,
    tctl: Talosctl,
    node: str,
    image: str,
    *,
    stage: bool = False,
    force: bool = False,
    reboot_mode: RebootMode | None = None,
    insecure: bool = False,
    timeout: float | None = 120,
) -> UpgradeAck:
    """Start an upgrade without waiting (``--wait=false``); the caller watches boot id and machine status.

    A quorum refusal is a ``CommandError`` whose message says so: the rollout must stop, not retry.
    """
    argv = tctl.upgrade(node, image, stage=stage, force=force, reboot_mode=reboot_mode, insecure=insecure)
    result = runner.run(argv, timeout=timeout)
    if result.failed and is_quorum_refusal(result):
        raise CommandError(
            f"talosctl upgrade on {node} refused by Talos to protect etcd quorum: {result.last_error_line()}",
            command=result.command,
            exit_code=result.exit_code,
            stderr=result.stderr,
            target=node,
            hint="wait until every etcd member is healthy (`inv cluster.status`) and no other node is upgrading",
        )
    run_checked_result(result, what="talosctl upgrade", node=node)
    try:
        acks = parse_upgrade_ack(result.stdout)
    except UnexpectedOutput:
        # Exit 0 is talosctl's word that the server accepted the request; the ack table is
        # decoration whose layout changed with the v1.13 LifecycleService flow. The caller's
        # boot-id and machine-status waits verify the effect either way.
        return UpgradeAck(node, "accepted", "")
    return next((ack for ack in acks if ack.node in (node, "")), acks[0])


def run_checked_result(result: Result, *, what: str, node: str | None, hint: str | None = None) -> Result:
    """Classify an already-run talosctl result: ``ConnectionFailed`` when unreachable, else ``CommandError``."""
    return check_result(
        result,
        what=what,
        target=node,
        unreachable=is_unreachable,
        hint=hint if hint or not is_unreachable(result) else _UNREACHABLE_HINT,
    )


BootstrapOutcome = Literal["bootstrapped", "already-bootstrapped"]


def bootstrap(
    runner: Runner,
    tctl: Talosctl,
    node: str,
    *,
    recover_from: Path | str | None = None,
    skip_hash_check: bool = False,
    timeout: float | None = 120,
) -> BootstrapOutcome:
    """Bootstrap etcd on one control plane; an already-bootstrapped node counts as done (idempotent)."""
    argv = tctl.bootstrap(node, recover_from=recover_from, skip_hash_check=skip_hash_check)
    result = runner.run(argv, timeout=timeout)
    if result.failed and is_already_bootstrapped(result) and recover_from is None:
        return "already-bootstrapped"
    hint = "retry in a minute: the node is still starting" if is_bootstrap_not_ready(result) else None
    run_checked_result(result, what="talosctl bootstrap", node=node, hint=hint)
    return "bootstrapped"


def _node_errors_and_facts(
    result: Result, nodes: Sequence[str], *, what: str, parse: Callable[[str], Mapping[str, T]]
) -> tuple[dict[str, T], dict[str, str]]:
    label = ",".join(nodes)
    errors = parse_node_errors(result.stderr)
    if result.failed and not errors:
        run_checked_result(result, what=what, node=label)  # nothing per node: the whole call failed; raises
    facts = parsed(result, parse, target=label) if result.stdout.strip() else {}
    return {n: facts[n] for n in nodes if n in facts}, errors


def _filtered(
    runner: Runner,
    argv: Sequence[str],
    nodes: Sequence[str],
    *,
    what: str,
    parse: Callable[[str], Mapping[str, T]],
    timeout: float | None,
) -> PerNode[T]:
    """A command whose replies go through FilterMessages: one call, WARNING lines for the silent nodes."""
    result = runner.run(list(argv), timeout=timeout)
    facts, errors = _node_errors_and_facts(result, nodes, what=what, parse=parse)
    missing = {n: errors.get(n, "no answer") for n in nodes if n not in facts}
    return PerNode(facts, missing)


def _per_node_get(
    runner: Runner,
    argv_for: Callable[[Sequence[str]], list[str]],
    nodes: Sequence[str],
    *,
    what: str,
    parse: Callable[[str], Mapping[str, T]],
    timeout: float | None,
) -> PerNode[T]:
    """``talosctl get`` on several nodes: one call, then one call per node that did not answer.

    ``get`` aborts with nothing printed when ``nodes[0]`` is down and names no node in later errors,
    so only a call of its own tells which node failed and why.
    """
    result = runner.run(argv_for(nodes), timeout=timeout)
    facts: dict[str, T] = {}
    if result.stdout.strip():
        found = parsed(result, parse, target=",".join(nodes))
        facts = {n: found[n] for n in nodes if n in found}
    errors: dict[str, str] = {}
    for node in nodes:
        if node in facts:
            continue
        single = result if len(nodes) == 1 else runner.run(argv_for([node]), timeout=timeout)
        answer = parsed(single, parse, target=node) if single.stdout.strip() else {}
        if node in answer:
            facts[node] = answer[node]
        else:
            errors[node] = _error_line(single) if single.failed else "no answer"
    return PerNode({n: facts[n] for n in nodes if n in facts}, errors)


def _error_line(result: Result) -> str:
    """The error of a one-node call, without the multierror decoration."""
    lines = [ln.strip().removeprefix("* ") for ln in strip_ansi(result.stderr).splitlines() if ln.strip()]
    lines = [ln for ln in lines if not re.fullmatch(r"(?:WARNING: )?\d+ errors? occurred:", ln)]
    return lines[-1] if lines else result.last_error_line()


def machine_statuses(
    runner: Runner, tctl: Talosctl, nodes: Sequence[str], *, timeout: float | None = 30
) -> PerNode[MachineStatus]:
    """MachineStatus of several nodes (one call while all answer); the silent ones land in ``errors``."""
    return _per_node_get(
        runner,
        tctl.machine_status,
        nodes,
        what="talosctl get machinestatus",
        parse=parse_machine_status,
        timeout=timeout,
    )


def services(
    runner: Runner, tctl: Talosctl, nodes: Sequence[str], id: str, *, timeout: float | None = 30
) -> PerNode[ServiceInfo]:
    """One service on several nodes, from ``get service <id>`` (same per-node rules as machine status)."""

    def by_node(text: str) -> dict[str, ServiceInfo]:
        return {node: info for (node, sid), info in parse_services_json(text).items() if sid == id}

    def argv_for(some: Sequence[str]) -> list[str]:
        return tctl.get("service", some, id=id)

    return _per_node_get(runner, argv_for, nodes, what=f"talosctl get service {id}", parse=by_node, timeout=timeout)


def server_versions(
    runner: Runner, tctl: Talosctl, nodes: Sequence[str], *, timeout: float | None = 30
) -> PerNode[str]:
    return _filtered(runner, tctl.version(nodes), nodes, what="talosctl version", parse=parse_version, timeout=timeout)


def etcd_statuses(
    runner: Runner, tctl: Talosctl, nodes: Sequence[str], *, timeout: float | None = 30
) -> PerNode[EtcdStatus]:
    """``etcd status`` on every control plane at once, keyed by node."""

    def by_node(text: str) -> dict[str, EtcdStatus]:
        return {s.node: s for s in parse_etcd_status(text)}

    return _filtered(
        runner, tctl.etcd_status(nodes), nodes, what="talosctl etcd status", parse=by_node, timeout=timeout
    )


# =========================================================================== maintenance mode

NodeMode = Literal["maintenance", "configured"]


def is_cert_required(result: Result) -> bool:
    """An ``--insecure`` call refused by a configured node: it speaks mutual TLS only ("certificate required")."""
    return result.failed and "certificate required" in _text(result)


def node_mode(runner: Runner, tctl: Talosctl, node: str, *, timeout: float | None = 30) -> NodeMode:
    """Is the node in maintenance mode (answers ``--insecure``) or configured (refuses it with TLS)?

    Probes ``get machinestatus --insecure`` (MachineStatus is readable by the maintenance API's
    read-only role). An unreachable node raises ``ConnectionFailed`` naming it.
    """
    result = runner.run(tctl.machine_status(node, insecure=True), timeout=timeout)
    if is_cert_required(result):
        return "configured"
    run_checked_result(result, what="talosctl get machinestatus --insecure", node=node)
    return "maintenance"
