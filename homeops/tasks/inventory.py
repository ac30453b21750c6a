"""Tasks of the `inventory` namespace: show what homeops understood from the operator's files."""

from __future__ import annotations

import json as jsonlib
import os
import sys
from typing import TYPE_CHECKING, Any

from invoke.collection import Collection

from homeops.tasks._common import inventory_dir, user_errors
from homeops.tasks._options import task

if TYPE_CHECKING:
    from homeops.inventory.model import Inventory

ns = Collection("inventory")


@task(
    help={
        "inventory": "inventory directory (default: $HOMEOPS_INVENTORY, invoke config homeops.inventory, ./inventory)",
        "talconfig": "read this talhelper talconfig.yaml; alone it needs no homeops.yaml",
        "json": "print JSON instead of a table",
    }
)
@user_errors
def show(ctx: Any, inventory: str | None = None, talconfig: str | None = None, json: bool = False) -> None:
    """Print the resolved cluster: name, endpoint, versions, nodes (role, IP, install image, VM) and SSH hosts."""
    from pathlib import Path

    from homeops.inventory.loader import inventory_from_talconfig, load_inventory

    if talconfig and not inventory:
        inv = inventory_from_talconfig(Path(talconfig))
    else:
        tal = Path(talconfig) if talconfig else None
        inv = load_inventory(inventory_dir(ctx, inventory), talconfig=tal)
    from homeops.secrets import mask

    # values from an encrypted talenv.sops.yaml are secrets here as much as in errors and plans
    if json:
        print(mask(_dumps(inventory_as_dict(inv))))
    else:
        print(mask(render_table(inv)))
        for warning in inv.warnings:
            print(mask(f"warning: {warning}"), file=sys.stderr)


ns.add_task(show)


def _dumps(data: dict[str, Any]) -> str:
    return jsonlib.dumps(data, indent=2)


def inventory_as_dict(inv: Inventory) -> dict[str, Any]:
    """The JSON shape of ``inventory.show --json`` (stable: tests and scripts read it)."""
    cluster = inv.cluster
    return {
        "cluster": cluster.name,
        "endpoint": cluster.endpoint,
        "talosVersion": cluster.talos_version,
        "kubernetesVersion": cluster.kubernetes_version,
        "talconfig": str(cluster.talconfig) if cluster.talconfig else None,
        "nodes": [
            {
                "hostname": n.hostname,
                "ip": n.ip,
                "ips": list(n.ips or (n.ip,)),
                "controlPlane": n.control_plane,
                "installImage": n.install_image,
                "schematicId": n.schematic_id,
                "installDisk": n.install_disk,
                "vm": {"host": n.vm.host, "vmid": n.vm.vmid} if n.vm else None,
            }
            for n in inv.nodes
        ],
        "hosts": [
            {"name": h.name, "address": h.address, "kind": h.kind, "port": h.port, "user": h.user} for h in inv.hosts
        ],
        "runPolicies": policy_lines(inv),
        "warnings": list(inv.warnings),
    }


def policy_lines(inv: Inventory) -> list[str]:
    """What watches and gates this inventory's mutating runs (homeops.yaml's run policies), one line each.

    Never a URL: they carry tokens and credentials (``$HOMEOPS_NOTIFY_URLS`` is named, not shown)."""
    from homeops.inventory.loader import WEEK
    from homeops.policies import span_text

    lines = []
    if inv.maintenance is not None:
        windows = "; ".join(
            f"{','.join(WEEK[d][:3] for d in w.days)} {w.start // 60:02d}:{w.start % 60:02d} "
            f"for {span_text(w.duration * 60)} ({w.timezone})"
            for w in inv.maintenance.windows
        )
        budget = f"; node budget {span_text(inv.maintenance.node_budget * 60)}" if inv.maintenance.node_budget else ""
        lines.append(f"maintenance windows: {windows}{budget}")
    sources = []
    if inv.notify.urls:
        sources.append(f"{len(inv.notify.urls)} url(s)")
    if inv.notify.urls_file is not None:
        sources.append(f"urlsFile {inv.notify.urls_file.name}")
    if os.environ.get("HOMEOPS_NOTIFY_URLS", "").strip():
        sources.append("$HOMEOPS_NOTIFY_URLS")
    if sources:
        lines.append(f"notify: {', '.join(sources)}; events {', '.join(inv.notify.events)}")
    if inv.hooks.pre or inv.hooks.post:
        lines.append(f"hooks: {len(inv.hooks.pre)} pre, {len(inv.hooks.post)} post")
    if inv.alertmanager is not None:
        lines.append(
            f"alertmanager: a silence of {len(inv.alertmanager.matchers)} matcher(s) while a run lives "
            f"(ttl {span_text(inv.alertmanager.ttl)})"
        )
    if inv.prometheus is not None:
        lines.append(
            f"prometheus: holds before each node while any of {len(inv.prometheus.alerts)} alert selector(s) "
            f"fires (at most {span_text(inv.prometheus.hold_timeout)})"
        )
    return lines


def render_table(inv: Inventory) -> str:
    """A plain-text summary that reads the same on a terminal, in a pipe and in CI logs."""
    cluster = inv.cluster
    lines = [
        f"cluster     {cluster.name}",
        f"endpoint    {cluster.endpoint}",
        f"talos       {cluster.talos_version or '(unknown)'}",
        f"kubernetes  {cluster.kubernetes_version or '(unknown)'}",
    ]
    if cluster.talconfig:
        lines.append(f"talconfig   {cluster.talconfig}")
    lines.append("")
    rows: list[tuple[str, ...]] = [("HOSTNAME", "ROLE", "IP", "VM", "INSTALL IMAGE")]
    for n in inv.nodes:
        vm = f"{n.vm.host}/{n.vm.vmid}" if n.vm else "-"
        rows.append((n.hostname, n.role, ", ".join(n.ips or (n.ip,)), vm, n.install_image or "(unknown)"))
    lines.extend(_columns(rows))
    if inv.hosts:
        lines.append("")
        host_rows: list[tuple[str, ...]] = [("HOST", "KIND", "ADDRESS", "USER")]
        host_rows.extend((h.name, h.kind, f"{h.address}:{h.port}", h.user) for h in inv.hosts)
        lines.extend(_columns(host_rows))
    policies = policy_lines(inv)
    if policies:
        lines.append("")
        lines.extend(f"run policy  {line}" for line in policies)
    cps, workers = len(inv.control_planes), len(inv.workers)
    lines.append("")
    lines.append(f"{len(inv.nodes)} nodes: {cps} control plane, {workers} worker; {len(inv.warnings)} warning(s)")
    return "\n".join(lines)


def _columns(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
