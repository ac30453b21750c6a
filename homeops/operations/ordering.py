"""In which order nodes are touched, and which of them may be down together.

Control planes go one at a time, the etcd leader last (so leadership moves once, not per node).
Workers go in batches of ``max_unavailable``, and a batch never holds two VMs of one Proxmox host:
losing that host mid-batch would otherwise take down more than the batch size promised.
"""

from __future__ import annotations

from collections.abc import Sequence

from homeops.errors import PlanError
from homeops.inventory.model import Node


def rounds(nodes: Sequence[Node], *, leader: str | None, max_unavailable: int) -> list[tuple[Node, ...]]:
    """Groups of nodes to change together, in order: control planes singly, then worker batches."""
    if max_unavailable < 1:
        raise PlanError(f"--max-unavailable must be at least 1 (got {max_unavailable})")
    cps = sorted((n for n in nodes if n.control_plane), key=lambda n: n.hostname == leader)
    out: list[tuple[Node, ...]] = [(n,) for n in cps]
    out.extend(worker_batches([n for n in nodes if not n.control_plane], max_unavailable))
    return out


def worker_batches(workers: Sequence[Node], size: int) -> list[tuple[Node, ...]]:
    """Greedy batches in inventory order, at most ``size`` each, never two nodes of one Proxmox host."""
    pending = list(workers)
    batches: list[tuple[Node, ...]] = []
    while pending:
        batch: list[Node] = []
        hosts: set[str] = set()
        rest: list[Node] = []
        for node in pending:
            host = node.vm.host if node.vm else None
            if len(batch) < size and (host is None or host not in hosts):
                batch.append(node)
                if host is not None:
                    hosts.add(host)
            else:
                rest.append(node)
        batches.append(tuple(batch))
        pending = rest
    return batches
