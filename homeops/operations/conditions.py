"""The conditions a step waits for, as probes: facts in, ``Observation`` out.

Each condition states success and, where one exists, a failure that ends the wait at once:

* ``rebooted``    success: a new boot ID. (Unreachable is simply "not yet".)
* ``running``     success: stage running, ready, and — for an upgrade — the target version and
                  schematic. Failure: running and ready on the *old* version (Talos rolled back to
                  its other A/B image), or on a version that is neither.
* ``k8s-ready``   success: the Kubernetes node is Ready and schedulable (Talos uncordons it on boot).
* ``etcd-member`` success: the node's member is healthy and every control plane has a healthy
                  member. Failure: an etcd alarm (NOSPACE, CORRUPT) was raised.
* ``k8s-version`` success: every kubelet reports the target Kubernetes version.

A probe covers every step of a batch, so a batch is watched with one look per poll.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from homeops.engine.plan import Step, WaitKind
from homeops.engine.waits import Observation
from homeops.inventory.model import Inventory, Node
from homeops.operations.facts import Observer

Probe = Callable[[], Observation[None]]


def _combine(parts: Sequence[tuple[str, Observation[None]]]) -> Observation[None]:
    failures = [f"{name}: {o.failure}" for name, o in parts if o.failure]
    if failures:
        return Observation.failed("; ".join(failures))
    pending = [f"{name}: {o.observed}" for name, o in parts if not o.done]
    if pending:
        return Observation.waiting("; ".join(pending))
    return Observation.ok("; ".join(f"{name}: {o.observed}" for name, o in parts))


def _version_matches(seen: str | None, wanted: str | None) -> bool:
    return wanted is None or (seen or "").lstrip("v") == wanted.lstrip("v")


def probe_for(
    kind: WaitKind,
    steps: Sequence[Step],
    *,
    inventory: Inventory,
    observer: Observer,
    boot_ids: Mapping[str, str | None],
) -> Probe:
    """A probe for ``kind`` over the nodes of ``steps`` (``boot_ids``: boot ID before, by hostname)."""
    nodes: list[Node] = [inventory.node(s.node) for s in steps if s.node]

    if kind == "rebooted":
        confirmed: dict[str, str] = {}

        def rebooted() -> Observation[None]:
            # One multi-node status call per poll; a boot ID is read only from a node that answers
            # and is past its installer, and never again once it changed (a batch of ten nodes must
            # not cost ten calls per poll while they are all down).
            pending = [n for n in nodes if n.hostname not in confirmed]
            status = observer.nodes(pending, versions=False) if pending else {}
            ask = [n for n in pending if status[n.hostname].reachable and status[n.hostname].stage != "upgrading"]
            now = observer.boot_ids(ask) if ask else {}
            parts = []
            for node in nodes:
                seen = confirmed.get(node.hostname) or now.get(node.hostname)
                if seen is not None and seen != boot_ids.get(node.hostname):
                    confirmed[node.hostname] = seen
                    parts.append((node.hostname, Observation[None].ok(f"new boot ID {seen[:8]}…")))
                elif node.hostname in status and not status[node.hostname].reachable:
                    parts.append((node.hostname, Observation[None].waiting("unreachable (rebooting)")))
                elif seen is None:
                    stage = status[node.hostname].stage if node.hostname in status else "?"
                    parts.append((node.hostname, Observation[None].waiting(f"stage {stage}, not rebooted yet")))
                else:
                    parts.append((node.hostname, Observation[None].waiting("same boot ID: not rebooted yet")))
            return _combine(parts)

        return rebooted

    if kind == "running":
        by_node = {s.node: s for s in steps if s.node}

        def running() -> Observation[None]:
            facts = observer.nodes(nodes)
            parts = []
            for node in nodes:
                step = by_node[node.hostname]
                seen = facts[node.hostname]
                wanted = step.to_version if step.action == "upgrade" else None
                if not seen.running_ready:
                    parts.append((node.hostname, Observation[None].waiting(seen.describe())))
                elif not _version_matches(seen.version, wanted):
                    if step.from_version and _version_matches(seen.version, step.from_version):
                        failure = (
                            f"came back running {seen.version}, the version it had before: "
                            f"Talos rolled back to its previous A/B image (the upgrade to {wanted} failed to boot)"
                        )
                    else:
                        failure = f"runs {seen.version}, expected {wanted}"
                    parts.append((node.hostname, Observation[None].failed(failure)))
                elif (
                    step.action == "upgrade" and step.schematic and seen.schematic and seen.schematic != step.schematic
                ):
                    parts.append(
                        (
                            node.hostname,
                            Observation[None].failed(
                                f"runs schematic {seen.schematic[:12]}…, expected {step.schematic[:12]}…"
                            ),
                        )
                    )
                else:
                    parts.append((node.hostname, Observation[None].ok(f"running, ready, {seen.version}")))
            return _combine(parts)

        return running

    if kind == "k8s-ready":

        def k8s_ready() -> Observation[None]:
            k8s = observer.k8s_nodes()
            parts = []
            for node in nodes:
                seen = k8s.get(node.hostname)
                if seen is None:
                    parts.append((node.hostname, Observation[None].waiting("not registered")))
                elif not seen.ready:
                    parts.append((node.hostname, Observation[None].waiting("NotReady")))
                elif seen.unschedulable:
                    parts.append((node.hostname, Observation[None].waiting("Ready but cordoned")))
                else:
                    parts.append((node.hostname, Observation[None].ok("Ready")))
            return _combine(parts)

        return k8s_ready

    if kind == "etcd-member":
        expected = {n.hostname for n in inventory.control_planes}

        def etcd_member() -> Observation[None]:
            etcd = observer.etcd()
            if etcd.alarms:
                return Observation.failed("etcd alarm raised: " + ", ".join(etcd.alarms))
            healthy = set(etcd.healthy_members)
            parts = []
            for node in nodes:
                if node.hostname in healthy and expected <= healthy:
                    parts.append((node.hostname, Observation[None].ok(etcd.describe())))
                else:
                    parts.append((node.hostname, Observation[None].waiting(etcd.describe())))
            return _combine(parts)

        return etcd_member

    if kind == "k8s-version":
        wanted = {s.to_version for s in steps if s.to_version}

        def k8s_version() -> Observation[None]:
            k8s = observer.k8s_nodes()
            target = next(iter(wanted), None)
            behind = [
                f"{n.hostname}: {k8s[n.hostname].kubelet_version if n.hostname in k8s else 'not registered'}"
                for n in inventory.nodes
                if n.hostname not in k8s or not _version_matches(k8s[n.hostname].kubelet_version, target)
            ]
            if behind:
                return Observation.waiting("kubelets not yet on " + str(target) + ": " + ", ".join(behind))
            return Observation.ok(f"every kubelet on {target}")

        return k8s_version

    raise ValueError(f"unknown wait kind {kind!r}")
