"""Which node answers at a node's IP: the hostname it reports, read with ``talosctl read``.

A step's success is judged on the node it targeted. Two inventory nodes sharing an IP (a typo the
loader now refuses, or a DHCP lease that moved) made an upgrade of k8s-4 reboot k8s-3 a second time
and report k8s-4 done; the ``running`` wait now fails when the machine at the IP says it is
*another* node of the inventory. A hostname the inventory does not know proves nothing (Talos
may run with its default name), so it is not held against the step.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from homeops.adapters.talosctl import Talosctl
from homeops.inventory.model import Node
from homeops.runners import Runner

HOSTNAME_FILE = "/proc/sys/kernel/hostname"


def hostnames_at(observer: Any, nodes: Sequence[Node]) -> dict[str, str | None]:
    """Hostname reported at each node's IP, by inventory hostname; {} when the observer cannot tell.

    Uses ``observer.hostnames(nodes)`` when the observer has it, else its talosctl seam
    (``observer.local`` + ``observer.tctl``); fakes without either are simply not asked.
    """
    ask = getattr(observer, "hostnames", None)
    if callable(ask):
        answer: dict[str, str | None] = ask(nodes)
        return answer
    local, tctl = getattr(observer, "local", None), getattr(observer, "tctl", None)
    if local is None or tctl is None or not hasattr(tctl, "read"):
        return {}
    out: dict[str, str | None] = {}
    for node in nodes:
        try:
            out[node.hostname] = hostname_at(local, tctl, node.ip)[0]
        except Exception:  # an unreachable node is judged by the other waits, not here
            out[node.hostname] = None
    return out


def hostname_at(runner: Runner, talos: Talosctl, ip: str) -> tuple[str | None, str]:
    """The hostname the machine answering at ``ip`` reports (``talosctl read /proc/sys/kernel/hostname``), or
    (None, why it could not be read): the identity read of the rolling upgrades' waits and of dr.rebuild's
    look before a reset."""
    result = runner.run(list(talos.read(ip, HOSTNAME_FILE)), timeout=30)
    if result.failed:
        return None, result.last_error_line() or f"exit {result.exit_code}"
    lines = result.stdout.strip().splitlines()
    return (lines[-1].strip() or None) if lines else None, "it printed nothing"


def impostor(node: Node, seen: str | None, known: Sequence[str]) -> str | None:
    """The other inventory node that answered at ``node``'s IP, if one did."""
    if seen and seen != node.hostname and seen in known:
        return seen
    return None
