"""kubectl: argv builders and parsers for the health gates (cli-interfaces.md §6).

Behaviour relied on (kubernetes/kubectl master@dee3483a):

* Node readiness is the ``Ready`` condition's status: ``True``, ``False`` or ``Unknown`` (absent →
  ``Unknown``); the kubelet version and boot id live in ``status.nodeInfo``.
* ``kubectl wait`` prints ``<kind>/<name> condition met`` and exits 0, or
  ``error: timed out waiting for the condition on <kind>/<name>`` and exits 1; its default timeout is
  30s, so homeops always passes ``--timeout``.
* ``kubectl drain`` prints ``node/X cordoned``, ``evicting pod ns/name``, ``pod/name evicted``,
  ``node/X drained``; a PodDisruptionBudget shows as ``error when evicting pods/"p" -n "ns" (will
  retry after 5s): …`` on stderr. ``--timeout`` defaults to 0 (forever), so homeops always passes it.
* Rook: the CephCluster CR carries ``.status.ceph.health`` (``HEALTH_OK|WARN|ERR``) and
  ``.status.ceph.details{CHECK:{severity,message}}``; ``.status.phase`` tells whether the operator
  has connected at all.
* VolSync ReplicationSource: ``status.conditions[type=Synchronizing]`` is ``True`` while a sync runs
  (volsync api/v1alpha1 ``ConditionSynchronizing``); ``status.lastSyncTime`` is RFC3339.
* Flux Kustomization / HelmRelease: ``Ready`` condition (fluxcd/pkg ``meta.ReadyCondition``);
  ``spec.suspend``; ``status.lastAppliedRevision``.

Global flags (``--kubeconfig``, ``--context``) go right after ``kubectl``; kubectl accepts them anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from homeops.adapters._parse import UnexpectedOutput, check_result, excerpt, parse_json_object, parsed, strip_ansi
from homeops.adapters._parse import go_duration as _go_duration
from homeops.errors import PlanError
from homeops.runners import Result, Runner

TOOL = "kubectl"

Tri = Literal["True", "False", "Unknown"]


class Kubectl:
    """Builds kubectl argv lists. Never runs anything."""

    def __init__(self, kubeconfig: Path | str, *, context: str | None = None, binary: str = TOOL) -> None:
        self.kubeconfig = Path(kubeconfig)
        self.context = context
        self.binary = binary

    def __repr__(self) -> str:
        return f"Kubectl(kubeconfig={str(self.kubeconfig)!r}, context={self.context!r})"

    def _cmd(self, *args: str, namespace: str | None = None) -> list[str]:
        argv = [self.binary, "--kubeconfig", str(self.kubeconfig)]
        if self.context:
            argv += ["--context", self.context]
        if namespace:
            argv += ["--namespace", namespace]
        return argv + list(args)

    @staticmethod
    def _name(value: str, what: str) -> str:
        if not value or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._:/-]*", value):
            raise PlanError(f"kubectl {what}: {value!r} is not a Kubernetes object name")
        return value

    # ------------------------------------------------------------------ reads

    def get_json(
        self,
        kind: str,
        name: str | None = None,
        namespace: str | None = None,
        *,
        all_namespaces: bool = False,
        selector: str | None = None,
    ) -> list[str]:
        args = ["get", kind] + ([self._name(name, "get")] if name else [])
        if all_namespaces:
            if namespace:
                raise PlanError("kubectl get: namespace and all_namespaces exclude each other")
            args.append("--all-namespaces")
        if selector:
            args += ["--selector", selector]
        return self._cmd(*args, "--output", "json", namespace=namespace)

    def get_nodes(self) -> list[str]:
        return self.get_json("nodes")

    def get_node(self, name: str) -> list[str]:
        return self.get_json("node", name)

    def get_pods(self, namespace: str | None = None, selector: str | None = None) -> list[str]:
        return self.get_json("pods", namespace=namespace, all_namespaces=namespace is None, selector=selector)

    def jsonpath(self, resource: str, expr: str, namespace: str | None = None) -> list[str]:
        """``kubectl get <resource> -o jsonpath=<expr>`` (resource like ``node/k8s-0`` or ``cephcluster rook-ceph``)."""
        if not expr.startswith("{"):
            raise PlanError(f"kubectl jsonpath {expr!r} must be a template like {{.status.phase}}")
        return self._cmd("get", *resource.split(), "--output", f"jsonpath={expr}", namespace=namespace)

    def readyz(self) -> list[str]:
        return self._cmd("get", "--raw", "/readyz")

    def get_cephcluster(self, namespace: str = "rook-ceph", name: str | None = None) -> list[str]:
        return self.get_json("cephclusters.ceph.rook.io", name, namespace=namespace)

    def get_replicationsources(self, namespace: str | None = None) -> list[str]:
        return self.get_json(
            "replicationsources.volsync.backube", namespace=namespace, all_namespaces=namespace is None
        )

    def get_kustomizations(self, namespace: str | None = None) -> list[str]:
        return self.get_json(
            "kustomizations.kustomize.toolkit.fluxcd.io", namespace=namespace, all_namespaces=namespace is None
        )

    def get_helmreleases(self, namespace: str | None = None) -> list[str]:
        return self.get_json(
            "helmreleases.helm.toolkit.fluxcd.io", namespace=namespace, all_namespaces=namespace is None
        )

    def ceph_health(self, namespace: str = "rook-ceph") -> list[str]:
        """``ceph health`` in the Rook toolbox (``deploy/rook-ceph-tools``)."""
        return self._cmd("exec", "deploy/rook-ceph-tools", "--", "ceph", "health", namespace=namespace)

    # ------------------------------------------------------------------ waits and changes

    def wait(self, resource: str, for_: str, timeout: float | str, namespace: str | None = None) -> list[str]:
        """``kubectl wait --for=<for_> <resource> --timeout=<t>``; ``for_`` like ``condition=Ready``."""
        if not re.match(r"^(condition=|jsonpath=|delete$|create$)", for_):
            raise PlanError(f"kubectl wait --for={for_!r}: use condition=…, jsonpath=…, delete or create")
        return self._cmd("wait", f"--for={for_}", resource, f"--timeout={_go_duration(timeout)}", namespace=namespace)

    def annotate(
        self, resource: str, name: str, key: str, value: str | None, *, namespace: str | None = None
    ) -> list[str]:
        """``kubectl annotate RESOURCE NAME KEY=VALUE --overwrite``; ``value=None`` removes it (``KEY-``)."""
        if not re.fullmatch(r"([a-z0-9.-]+/)?[A-Za-z0-9._-]+", key):
            raise PlanError(f"kubectl annotate: {key!r} is not an annotation key")
        change = f"{key}-" if value is None else f"{key}={value}"
        return self._cmd("annotate", resource, self._name(name, "annotate"), change, "--overwrite", namespace=namespace)

    def cordon(self, node: str) -> list[str]:
        return self._cmd("cordon", self._name(node, "cordon"))

    def uncordon(self, node: str) -> list[str]:
        return self._cmd("uncordon", self._name(node, "uncordon"))

    def drain(
        self,
        node: str,
        *,
        timeout: float | str,
        ignore_daemonsets: bool = True,
        delete_emptydir_data: bool = True,
        force: bool = False,
        grace_period: int | None = None,
        pod_selector: str | None = None,
        disable_eviction: bool = False,
    ) -> list[str]:
        if disable_eviction:
            # Deleting instead of evicting ignores PodDisruptionBudgets: exactly what protects Ceph quorum.
            raise PlanError("kubectl drain --disable-eviction bypasses PodDisruptionBudgets; homeops does not do that")
        duration = _go_duration(timeout)
        if duration in ("0", "0s"):
            raise PlanError("kubectl drain: a timeout of 0 waits forever; give a real timeout")
        argv = self._cmd("drain", self._name(node, "drain"), f"--timeout={duration}")
        if ignore_daemonsets:
            argv.append("--ignore-daemonsets")
        if delete_emptydir_data:
            argv.append("--delete-emptydir-data")
        if force:
            argv.append("--force")
        if grace_period is not None:
            argv.append(f"--grace-period={grace_period}")
        if pod_selector:
            argv.append(f"--pod-selector={pod_selector}")
        return argv

    def apply_server_side(
        self, file_or_stdin: Path | str, *, field_manager: str = "homeops", force_conflicts: bool = False
    ) -> list[str]:
        """``kubectl apply --server-side -f <file>``; pass ``"-"`` and give the manifest as stdin."""
        argv = self._cmd("apply", "--server-side", f"--field-manager={field_manager}", "--filename", str(file_or_stdin))
        if force_conflicts:
            argv.append("--force-conflicts")
        return argv

    def diff_server_side(self, file_or_stdin: Path | str = "-", *, field_manager: str = "homeops") -> list[str]:
        """``kubectl diff --server-side``: exit 0 nothing would change, 1 something would, >1 an error."""
        return self._cmd("diff", "--server-side", f"--field-manager={field_manager}", "--filename", str(file_or_stdin))


def kustomize(folder: Path | str, *, binary: str = TOOL, load_restrictor: str | None = None) -> list[str]:
    """``kubectl kustomize DIR``: the build Flux's kustomize-controller does (without substitution).

    Local: no kubeconfig, no cluster. Flux builds with ``LoadRestrictionsNone`` (fluxcd/pkg
    kustomize/v1.35.4 kustomize_generator.go:698): pass it as ``load_restrictor`` to build the same.
    """
    extra = ["--load-restrictor", load_restrictor] if load_restrictor else []
    return [binary, "kustomize", *extra, str(folder)]


# =========================================================================== facts


@dataclass(frozen=True)
class K8sNode:
    name: str
    ready: Tri
    unschedulable: bool
    kubelet_version: str
    boot_id: str
    internal_ip: str | None
    control_plane: bool = False
    ready_reason: str = ""


@dataclass(frozen=True)
class Pod:
    namespace: str
    name: str
    phase: str
    node: str | None
    ready: bool
    owner_kind: str | None = None


@dataclass(frozen=True)
class CephHealth:
    health: str  # HEALTH_OK / HEALTH_WARN / HEALTH_ERR / "" when the operator has not reported yet
    phase: str = ""
    checks: tuple[tuple[str, str, str], ...] = ()  # (check, severity, message)
    last_checked: str = ""

    @property
    def ok(self) -> bool:
        return self.health == "HEALTH_OK"

    def summary(self) -> str:
        if not self.checks:
            return self.health or f"no health reported (phase {self.phase or 'unknown'})"
        details = "; ".join(f"{name}: {message}" for name, _, message in self.checks)
        return f"{self.health} ({details})"


@dataclass(frozen=True)
class ReplicationSource:
    namespace: str
    name: str
    synchronizing: bool
    last_sync_time: str | None
    last_sync_duration: str | None = None
    next_sync_time: str | None = None
    message: str = ""


@dataclass(frozen=True)
class FluxObject:
    """A Flux Kustomization or HelmRelease (from kubectl JSON or the flux CLI table)."""

    namespace: str
    name: str
    ready: Tri
    suspended: bool
    revision: str
    message: str
    kind: str = "Kustomization"


@dataclass(frozen=True)
class WaitResult:
    met: tuple[str, ...]
    timed_out: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.met) and not self.timed_out


@dataclass(frozen=True)
class DrainResult:
    node: str | None
    cordoned: bool
    drained: bool
    evicted: tuple[str, ...] = ()
    pdb_blocked: tuple[str, ...] = ()  # "ns/pod" refused by a PodDisruptionBudget (will retry)
    errors: tuple[str, ...] = ()


# =========================================================================== parsers


def _items(doc: dict[str, Any], what: str) -> list[dict[str, Any]]:
    if doc.get("kind", "").endswith("List") or "items" in doc:
        items = doc.get("items")
        if not isinstance(items, list):
            raise UnexpectedOutput(what, "a List without items")
        return [i for i in items if isinstance(i, dict)]
    return [doc]


def _objects(text: str, what: str) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """Each object of ``kubectl get -o json`` output (one object or a List), with its ``metadata``."""
    for item in _items(parse_json_object(text, what=what), what):
        yield item, item.get("metadata") or {}


def _name(item: dict[str, Any], meta: dict[str, Any], what: str, noun: str) -> str:
    """``metadata.name``; an object without one is ``UnexpectedOutput`` (kubectl never prints one)."""
    name = meta.get("name")
    if not isinstance(name, str):
        raise UnexpectedOutput(what, f"{noun} without metadata.name: {excerpt(str(item))}")
    return name


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if isinstance(cond, dict) and cond.get("type") == ctype:
            return cond
    return None


def _tri(value: Any) -> Tri:
    return value if value in ("True", "False") else "Unknown"


#: tuppr (home-operations/tuppr 0.5.0): cluster-scoped TalosUpgrade/KubernetesUpgrade
#: (``api/v1alpha1/talosupgrade_types.go:430``); the phases that are an upgrade in progress
#: (``shared_types.go:155`` IsActive) and the annotation that suspends one (``constants.go:12``).
TUPPR_RESOURCES = ("talosupgrades.tuppr.home-operations.com", "kubernetesupgrades.tuppr.home-operations.com")
TUPPR_ACTIVE_PHASES = ("HealthChecking", "PreHook", "Draining", "Upgrading", "Rebooting", "PostHook")
TUPPR_SUSPEND = "tuppr.home-operations.com/suspend"


@dataclass(frozen=True)
class TupprUpgrade:
    kind: str  # TalosUpgrade or KubernetesUpgrade
    name: str
    phase: str
    current_node: str
    suspended_by: str | None  # the suspend annotation's value, when set

    @property
    def active(self) -> bool:
        return self.phase in TUPPR_ACTIVE_PHASES


def parse_tuppr(text: str) -> list[TupprUpgrade]:
    """``kubectl get talosupgrades|kubernetesupgrades -o json``."""
    what = "kubectl get talosupgrades"
    found = []
    for item, meta in _objects(text, what):
        name = _name(item, meta, what, "object")
        status = item.get("status") or {}
        notes = meta.get("annotations") or {}
        suspended = notes.get(TUPPR_SUSPEND)
        found.append(
            TupprUpgrade(
                str(item.get("kind") or ""),
                name,
                str(status.get("phase") or "Pending"),
                str(status.get("currentNode") or ""),
                None if suspended is None else str(suspended),
            )
        )
    return found


#: kured keeps its reboot lock as this annotation on its own DaemonSet (kubereboot/kured
#: ``--lock-annotation`` default); holding it (``{"nodeID": …}``) stops every kured reboot.
KURED_LOCK = "weave.works/kured-node-lock"


@dataclass(frozen=True)
class KuredDaemonSet:
    namespace: str
    name: str
    lock: str | None  # the lock annotation's JSON, when held


def parse_kured(text: str) -> list[KuredDaemonSet]:
    """kured's DaemonSet(s) out of ``kubectl get daemonsets -A -o json`` (by name or chart label)."""
    what = "kubectl get daemonsets"
    found = []
    for _item, meta in _objects(text, what):
        labels = meta.get("labels") or {}
        if meta.get("name") != "kured" and labels.get("app.kubernetes.io/name") != "kured":
            continue
        lock = (meta.get("annotations") or {}).get(KURED_LOCK)
        found.append(KuredDaemonSet(str(meta.get("namespace") or ""), str(meta["name"]), lock))
    return found


@dataclass(frozen=True)
class SucPlan:
    """rancher/system-upgrade-controller ``Plan``: ``status.applying`` names the nodes it is upgrading now."""

    namespace: str
    name: str
    applying: tuple[str, ...]


def parse_suc_plans(text: str) -> list[SucPlan]:
    what = "kubectl get plans.upgrade.cattle.io"
    found = []
    for item, meta in _objects(text, what):
        applying = (item.get("status") or {}).get("applying") or []
        found.append(SucPlan(str(meta.get("namespace") or ""), str(meta.get("name") or ""), tuple(map(str, applying))))
    return found


@dataclass(frozen=True)
class LonghornVolume:
    """longhorn-manager ``k8s/pkg/apis/longhorn/v1beta2/volume.go``: state and robustness."""

    name: str
    state: str  # attached, detached, …
    robustness: str  # healthy, degraded (rebuilding a replica), faulted, unknown (detached)


def parse_longhorn_volumes(text: str) -> list[LonghornVolume]:
    what = "kubectl get volumes.longhorn.io"
    found = []
    for item, meta in _objects(text, what):
        name = _name(item, meta, what, "volume")
        status = item.get("status") or {}
        found.append(LonghornVolume(name, str(status.get("state") or ""), str(status.get("robustness") or "unknown")))
    return found


@dataclass(frozen=True)
class VolumeAttachment:
    """A CSI attachment (``storage.k8s.io/v1``): gone once the attach/detach controller detached it."""

    name: str
    node: str
    volume: str  # spec.source.persistentVolumeName (or the attachment's own name for inline volumes)
    attacher: str
    attached: bool


def parse_volume_attachments(text: str) -> list[VolumeAttachment]:
    """``kubectl get volumeattachments -o json``."""
    what = "kubectl get volumeattachments"
    found = []
    for item in _items(parse_json_object(text, what=what), what):
        name = (item.get("metadata") or {}).get("name")
        spec = item.get("spec") or {}
        node = spec.get("nodeName")
        if not isinstance(name, str) or not isinstance(node, str):
            raise UnexpectedOutput(what, f"attachment without metadata.name or spec.nodeName: {excerpt(str(item))}")
        source = spec.get("source") or {}
        volume = source.get("persistentVolumeName") or name
        attached = bool((item.get("status") or {}).get("attached"))
        found.append(VolumeAttachment(name, node, str(volume), str(spec.get("attacher") or ""), attached))
    return found


def parse_nodes(text: str) -> list[K8sNode]:
    """``kubectl get nodes -o json`` (a List) or ``get node X -o json`` (one Node)."""
    what = "kubectl get nodes"
    nodes = []
    for item, meta in _objects(text, what):
        name = _name(item, meta, what, "node")
        status = item.get("status") or {}
        info = status.get("nodeInfo") or {}
        ready = _condition(item, "Ready")
        internal = next(
            (a.get("address") for a in status.get("addresses") or () if a.get("type") == "InternalIP"), None
        )
        labels = meta.get("labels") or {}
        nodes.append(
            K8sNode(
                name=name,
                ready=_tri(ready.get("status")) if ready else "Unknown",
                unschedulable=bool((item.get("spec") or {}).get("unschedulable", False)),
                kubelet_version=str(info.get("kubeletVersion", "")),
                boot_id=str(info.get("bootID", "")),
                internal_ip=internal,
                control_plane="node-role.kubernetes.io/control-plane" in labels,
                ready_reason=str(ready.get("reason", "")) if ready else "",
            )
        )
    return nodes


def parse_pods(text: str) -> list[Pod]:
    what = "kubectl get pods"
    pods = []
    for item, meta in _objects(text, what):
        status = item.get("status") or {}
        ready = _condition(item, "Ready")
        owners = meta.get("ownerReferences") or ()
        pods.append(
            Pod(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                phase=str(status.get("phase", "")),
                node=(item.get("spec") or {}).get("nodeName"),
                ready=bool(ready and ready.get("status") == "True"),
                owner_kind=owners[0].get("kind") if owners and isinstance(owners[0], dict) else None,
            )
        )
    return pods


def parse_ceph_health(text: str) -> CephHealth:
    """A CephCluster CR (or a List of them: the first one), or the toolbox's ``ceph health`` line."""
    stripped = text.strip()
    if stripped.startswith("HEALTH_"):
        first, _, rest = stripped.partition(" ")
        summary: tuple[tuple[str, str, str], ...] = (("summary", first, rest.strip()),) if rest.strip() else ()
        return CephHealth(health=first.rstrip(";"), checks=summary)
    what = "kubectl get cephcluster"
    items = _items(parse_json_object(text, what=what), what)
    if not items:
        raise UnexpectedOutput(what, "no CephCluster found")
    status = items[0].get("status") or {}
    ceph = status.get("ceph") or {}
    health = str(ceph.get("health", ""))
    if health and not health.startswith("HEALTH_"):
        raise UnexpectedOutput(what, f"status.ceph.health is {health!r}")
    details = ceph.get("details") or {}
    checks = tuple(
        (str(name), str(d.get("severity", "")), str(d.get("message", "")))
        for name, d in sorted(details.items())
        if isinstance(d, dict)
    )
    return CephHealth(health, str(status.get("phase", "")), checks, str(ceph.get("lastChecked", "")))


def parse_replication_sources(text: str) -> list[ReplicationSource]:
    what = "kubectl get replicationsources"
    out = []
    for item, meta in _objects(text, what):
        status = item.get("status") or {}
        sync = _condition(item, "Synchronizing")
        out.append(
            ReplicationSource(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                synchronizing=bool(sync and sync.get("status") == "True"),
                last_sync_time=status.get("lastSyncTime"),
                last_sync_duration=status.get("lastSyncDuration"),
                next_sync_time=status.get("nextSyncTime"),
                message=str(sync.get("message", "")) if sync else "",
            )
        )
    return out


def parse_kustomizations(text: str, *, kind: str = "Kustomization") -> list[FluxObject]:
    """Flux Kustomizations (or HelmReleases, ``kind="HelmRelease"``) from kubectl JSON."""
    what = f"kubectl get {kind.lower()}s"
    out = []
    for item, meta in _objects(text, what):
        ready = _condition(item, "Ready")
        out.append(
            FluxObject(
                namespace=str(meta.get("namespace", "")),
                name=str(meta.get("name", "")),
                ready=_tri(ready.get("status")) if ready else "Unknown",
                suspended=bool((item.get("spec") or {}).get("suspend", False)),
                revision=str((item.get("status") or {}).get("lastAppliedRevision", "")),
                message=str(ready.get("message", "")) if ready else "waiting to be reconciled",
                kind=str(item.get("kind") or kind),
            )
        )
    return out


_MET = re.compile(r"^(?P<res>\S+) condition met$")
_WAIT_TIMEOUT = re.compile(r"timed out waiting for the condition on (?P<res>\S+)")


def parse_wait(stdout: str, stderr: str = "") -> WaitResult:
    met = tuple(m["res"] for ln in stdout.splitlines() if (m := _MET.match(ln.strip())))
    timed_out = tuple(m["res"] for m in _WAIT_TIMEOUT.finditer(stderr + "\n" + stdout))
    if not met and not timed_out:
        raise UnexpectedOutput("kubectl wait", f"neither 'condition met' nor a timeout: {excerpt(stdout + stderr)}")
    return WaitResult(met, timed_out)


def parse_drain(stdout: str, stderr: str = "") -> DrainResult:
    node = None
    cordoned = drained = False
    evicted: list[str] = []
    blocked: list[str] = []
    errors: list[str] = []
    for line in strip_ansi(stdout + "\n" + stderr).splitlines():
        line = line.strip()
        if m := re.match(r"^node/(\S+) (?:already )?cordoned", line):
            node, cordoned = m.group(1), True
        elif m := re.match(r"^node/(\S+) drained", line):
            node, drained = m.group(1), True
        elif m := re.match(r"^pod/(\S+) evicted", line):
            evicted.append(m.group(1))
        elif m := re.match(r'^error when evicting pods/"([^"]+)" -n "([^"]+)"', line):
            key = f"{m.group(2)}/{m.group(1)}"
            if key not in blocked:
                blocked.append(key)
        elif line.startswith("error:") or line.startswith("There are pending pods"):
            errors.append(line)
    return DrainResult(node, cordoned, drained, tuple(evicted), tuple(blocked), tuple(errors))


_KLOG_ERR = re.compile(r'\berr="((?:[^"\\]|\\.)*)"')


def kustomize_error(stderr: str, stdout: str = "") -> str:
    """A failed ``kubectl kustomize``'s own error line: ``error: …``, or the ``err="…"`` of a klog line
    (newer kubectl logs it that way), else its last line."""
    lines = [ln.strip() for ln in (stderr or stdout).splitlines() if ln.strip()]
    for line in lines:
        klog = _KLOG_ERR.search(line)
        if klog:
            return "error: " + klog.group(1).replace('\\"', '"')
        if line.lower().startswith("error"):
            return line
    return lines[-1] if lines else "(no output)"


_APPLIED = re.compile(r"^(?P<res>\S+/\S+) (?P<action>serverside-applied|created|configured|unchanged)\b")


def parse_applied(text: str) -> list[tuple[str, str]]:
    """``kubectl apply`` lines like ``namespace/flux-system serverside-applied`` → (resource, action)."""
    return [(m["res"], m["action"]) for ln in text.splitlines() if (m := _APPLIED.match(ln.strip()))]


def parse_readyz(text: str) -> bool:
    return text.strip() == "ok"


# =========================================================================== classifiers and call helpers

_UNREACHABLE = (
    # kubectl 1.32 (client-go): "The connection to the server 10.0.0.10:6443 was refused - did you
    # specify the right host or port?" — "connection refused" itself does not appear in it.
    "the connection to the server",
    "connection refused",
    "i/o timeout",
    "no route to host",
    "network is unreachable",
    "unable to connect to the server",
    "tls handshake timeout",
    "the server is currently unable to handle the request",
)


def is_unreachable(result: Result) -> bool:
    text = f"{result.stderr}\n{result.stdout}".lower()
    return result.failed and any(m in text for m in _UNREACHABLE)


def is_not_found(result: Result) -> bool:
    text = f"{result.stderr}\n{result.stdout}"
    return result.failed and ("(NotFound)" in text or "the server doesn't have a resource type" in text)


def _run(
    runner: Runner,
    argv: Sequence[str],
    what: str,
    *,
    target: str | None = None,
    timeout: float | None = 60,
    stdin: str | None = None,
) -> Result:
    result = runner.run(list(argv), timeout=timeout, stdin=stdin)
    return check_result(
        result,
        what=what,
        target=target,
        unreachable=is_unreachable,
        hint="check the Kubernetes API endpoint (VIP) and the kubeconfig" if is_unreachable(result) else None,
    )


def nodes(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[K8sNode]:
    return parsed(_run(runner, kctl.get_nodes(), "kubectl get nodes", timeout=timeout), parse_nodes, target=None)


def longhorn_volumes(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[LonghornVolume]:
    argv = kctl.get_json("volumes.longhorn.io", namespace="longhorn-system")
    result = _run(runner, argv, "kubectl get volumes.longhorn.io", timeout=timeout)
    return parsed(result, parse_longhorn_volumes, target=None)


def kured(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[KuredDaemonSet]:
    result = _run(runner, kctl.get_json("daemonsets", all_namespaces=True), "kubectl get daemonsets", timeout=timeout)
    return parsed(result, parse_kured, target=None)


def suc_plans(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[SucPlan]:
    """system-upgrade-controller Plans; none when its CRD is not installed."""
    result = runner.run(kctl.get_json("plans.upgrade.cattle.io", all_namespaces=True), timeout=timeout)
    if is_not_found(result):
        return []
    result = check_result(result, what="kubectl get plans.upgrade.cattle.io", target=None, unreachable=is_unreachable)
    return parsed(result, parse_suc_plans, target=None)


def tuppr_upgrades(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[TupprUpgrade]:
    """Every TalosUpgrade and KubernetesUpgrade; none when tuppr's CRDs are not installed."""
    found: list[TupprUpgrade] = []
    for resource in TUPPR_RESOURCES:
        result = runner.run(kctl.get_json(resource), timeout=timeout)
        if is_not_found(result):
            continue
        result = check_result(result, what=f"kubectl get {resource}", target=None, unreachable=is_unreachable)
        found.extend(parsed(result, parse_tuppr, target=None))
    return found


def volume_attachments(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[VolumeAttachment]:
    result = _run(runner, kctl.get_json("volumeattachments"), "kubectl get volumeattachments", timeout=timeout)
    return parsed(result, parse_volume_attachments, target=None)


def node(runner: Runner, kctl: Kubectl, name: str, *, timeout: float | None = 60) -> K8sNode:
    result = _run(runner, kctl.get_node(name), "kubectl get node", target=name, timeout=timeout)
    found = parsed(result, parse_nodes, target=name)
    if len(found) != 1:
        raise UnexpectedOutput("kubectl get node", f"expected one node, got {len(found)}").at(
            command=result.command, target=name
        )
    return found[0]


def ceph_health(
    runner: Runner, kctl: Kubectl, namespace: str = "rook-ceph", *, timeout: float | None = 60
) -> CephHealth:
    result = _run(runner, kctl.get_cephcluster(namespace), "kubectl get cephcluster", timeout=timeout)
    return parsed(result, parse_ceph_health, target=None)


def replication_sources(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[ReplicationSource]:
    result = _run(runner, kctl.get_replicationsources(), "kubectl get replicationsources", timeout=timeout)
    return parsed(result, parse_replication_sources, target=None)


def kustomizations(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[FluxObject]:
    result = _run(runner, kctl.get_kustomizations(), "kubectl get kustomizations", timeout=timeout)
    return parsed(result, parse_kustomizations, target=None)


def helmreleases(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[FluxObject]:
    result = _run(
        runner,
        kctl.get_json("helmreleases.helm.toolkit.fluxcd.io", all_namespaces=True),
        "kubectl get helmreleases",
        timeout=timeout,
    )
    return parsed(result, lambda text: parse_kustomizations(text, kind="HelmRelease"), target=None)


def flux_instances(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[FluxObject]:
    """The Flux Operator's FluxInstances; none (not an error) on a cluster without its CRD."""
    result = runner.run(kctl.get_json("fluxinstances", all_namespaces=True), timeout=timeout)
    if result.failed and "doesn't have a resource type" in result.stderr:
        return []  # Flux bootstrapped the classic way
    check_result(result, what="kubectl get fluxinstances", target=None, unreachable=is_unreachable)
    return parsed(result, parse_flux_instances, target=None)


def flux_unhealthy(objects: Sequence[FluxObject]) -> list[str]:
    """The one definition of "Flux is healthy", for the ``flux`` gate and ``inv flux.status``: every
    FluxInstance, Kustomization and HelmRelease Ready; a suspended one is left out (it is paused on
    purpose, as during a restore). Returns what is not, as ``Kind ns/name: message``."""
    return [
        f"{o.kind} {o.namespace}/{o.name}: {' '.join((o.message or f'Ready {o.ready}').split())}"
        for o in objects
        if o.ready != "True" and not o.suspended
    ]


def flux_objects(runner: Runner, kctl: Kubectl, *, timeout: float | None = 60) -> list[FluxObject]:
    """Everything ``flux_unhealthy`` judges: FluxInstances first, then Kustomizations and HelmReleases."""
    return [
        *flux_instances(runner, kctl, timeout=timeout),
        *kustomizations(runner, kctl, timeout=timeout),
        *helmreleases(runner, kctl, timeout=timeout),
    ]


def readyz(runner: Runner, kctl: Kubectl, *, timeout: float | None = 30) -> bool:
    """True when the API server answers ``ok``; False when it answers anything else or is unreachable."""
    result = runner.run(kctl.readyz(), timeout=timeout)
    return result.ok and parse_readyz(result.stdout)


def drain(
    runner: Runner,
    kctl: Kubectl,
    name: str,
    *,
    timeout: float,
    ignore_daemonsets: bool = True,
    delete_emptydir_data: bool = True,
    force: bool = False,
    grace_period: int | None = None,
    pod_selector: str | None = None,
) -> DrainResult:
    """Drain one node; the runner timeout is the drain timeout plus a margin so kubectl reports first.

    A PodDisruptionBudget that keeps refusing (Ceph OSDs, a single-replica database) ends in a
    ``CommandError`` naming the blocked pods.
    """
    argv = kctl.drain(
        name,
        timeout=timeout,
        ignore_daemonsets=ignore_daemonsets,
        delete_emptydir_data=delete_emptydir_data,
        force=force,
        grace_period=grace_period,
        pod_selector=pod_selector,
    )
    result = runner.run(argv, timeout=timeout + 60)
    report = parse_drain(result.stdout, result.stderr)
    if result.failed:
        blocked = f"; blocked by a PodDisruptionBudget: {', '.join(report.pdb_blocked)}" if report.pdb_blocked else ""
        check_result(
            result,
            what="kubectl drain",
            target=name,
            unreachable=is_unreachable,
            hint=(f"pods still running{blocked}; check `kubectl get pdb -A`" if report.pdb_blocked else None),
        )
    return report


def wait(
    runner: Runner, kctl: Kubectl, resource: str, for_: str, timeout: float, namespace: str | None = None
) -> WaitResult:
    """``kubectl wait``; a timeout is returned (``ok == False``), any other failure raises."""
    result = runner.run(kctl.wait(resource, for_, timeout, namespace), timeout=timeout + 30)
    if result.failed and not _WAIT_TIMEOUT.search(result.stderr + result.stdout):
        check_result(result, what="kubectl wait", target=resource, unreachable=is_unreachable)
    return parsed_wait(result)


def parsed_wait(result: Result) -> WaitResult:
    try:
        return parse_wait(result.stdout, result.stderr)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=None) from None


def apply_server_side(
    runner: Runner, kctl: Kubectl, manifest: str, *, field_manager: str = "homeops", timeout: float | None = 120
) -> list[tuple[str, str]]:
    """Server-side apply a manifest given as text (through stdin, never a temp file)."""
    result = runner.run(kctl.apply_server_side("-", field_manager=field_manager), timeout=timeout, stdin=manifest)
    check_result(result, what="kubectl apply --server-side", target=None, unreachable=is_unreachable)
    return parse_applied(result.stdout)


def diff_server_side(
    runner: Runner, kctl: Kubectl, manifest: str, *, field_manager: str = "homeops", timeout: float | None = 120
) -> bool:
    """Whether a server-side apply of ``manifest`` (given on stdin) would change anything.

    kubectl diff exits 1 for "differences found" and >1 for errors (an unreachable API is 2), so
    exit 1 is an answer, not a failure. Its output is not kept: kubectl masks Secret data there, but
    nothing here needs the lines.
    """
    result = runner.run(kctl.diff_server_side("-", field_manager=field_manager), timeout=timeout, stdin=manifest)
    if result.exit_code in (0, 1):
        return result.exit_code == 1
    check_result(result, what="kubectl diff --server-side", target=None, unreachable=is_unreachable)
    return True  # not reached: check_result raised


def parse_flux_instances(text: str) -> list[FluxObject]:
    """Flux Operator FluxInstances (``kubectl get fluxinstances -A -o json``), Ready from their condition."""
    return parse_kustomizations(text, kind="FluxInstance")


def parse_helm_release_records(text: str) -> dict[str, int]:
    """Helm's release Secrets (``-l owner=helm``) → the newest deployed revision per release name.

    Helm 3 stores each revision as Secret ``sh.helm.release.v1.<name>.v<N>`` labelled
    ``owner=helm, name=<name>, status=<deployed|superseded|failed|…>, version=<N>``.
    """
    what = "kubectl get secrets -l owner=helm"
    out: dict[str, int] = {}
    for item in _items(parse_json_object(text, what=what), what):
        labels = (item.get("metadata") or {}).get("labels") or {}
        if labels.get("owner") != "helm" or labels.get("status") != "deployed":
            continue
        try:
            revision = int(labels.get("version", "0"))
        except ValueError:
            raise UnexpectedOutput(what, f"version label {labels.get('version')!r} is not a number") from None
        name = str(labels.get("name", ""))
        out[name] = max(out.get(name, 0), revision)
    return out
