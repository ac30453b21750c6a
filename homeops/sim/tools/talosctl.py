"""Fake ``talosctl``: the commands homeops uses, with the real flags, output shapes, streams and exits.

Reference: cli-interfaces.md §1. The simulated client version is ``state["config"]["client_version"]``
(the talconfig's ``talosVersion``): flags that only exist from v1.12/v1.13 are unknown before.
Every error exits 1. A node that is down answers like the real apid proxy (``no route to host``).
Several nodes fail like talosctl v1.11.6 (``pkg/machinery/client/reply.go`` ``FilterMessages``,
``cmd/talosctl/pkg/talos/helpers/resources.go`` ``ForEachResource``): ``version``, ``etcd status|
members|alarm list`` and ``service`` print what the answering nodes said, a ``WARNING:`` multierror
for the others on stderr, and exit 0 — only when no node answers is it an error; ``get`` resolves
the resource type on the first node and fails with nothing printed when that one is down, and its
per-node errors carry no node name.
``--talosconfig`` is read only for its context's ``nodes:`` when ``--nodes`` is missing; a missing
file is not an error here (the simulator has no certificates to check), so a rehearsal can run
before ``talhelper genconfig`` ever wrote one.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from homeops.sim import apps_data, engine, faults
from homeops.sim import bootstrap as bootstrap_sim
from homeops.sim.tools._base import (
    DEADLINE_ENV,
    KILLED_AT_DEADLINE,
    Fail,
    Flag,
    Invocation,
    UsageError,
    bool_names,
    flags,
    go_quote_list,
    parse,
    rfc3339,
    run_tool,
    split_command,
    tabwrite,
)

State = dict[str, Any]

GLOBAL = [
    Flag("talosconfig"),
    Flag("nodes", "n", "list", []),
    Flag("endpoints", "e", "list", []),
    Flag("context"),
    Flag("cluster"),
    Flag("siderov1-keys-dir"),
    Flag("help", "h", "bool", False),
]
WAIT = [Flag("wait", None, "bool", True), Flag("debug", None, "bool", False), Flag("timeout", None, "duration", 1800.0)]


def minor(version: str) -> int:
    m = re.match(r"v?(\d+)\.(\d+)", version)
    return int(m.group(2)) if m else 0


def client_version(state: State) -> str:
    return str(state["config"].get("client_version") or state["cluster"]["talos_version"])


def unreachable(address: str) -> str:
    return (
        'rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: '
        f'dial tcp {address}:50000: connect: no route to host"'
    )


CERT_REQUIRED = (
    'rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: '
    'remote error: tls: certificate required"'
)
UNKNOWN_AUTHORITY = (
    'rpc error: code = Unavailable desc = connection error: desc = "transport: authentication handshake failed: '
    'tls: failed to verify certificate: x509: certificate signed by unknown authority"'
)


def multierror(errors: Sequence[str]) -> str:
    """hashicorp/go-multierror's text."""
    head = "1 error occurred:" if len(errors) == 1 else f"{len(errors)} errors occurred:"
    return head + "".join(f"\n\t* {e}" for e in errors) + "\n\n"


def filtered(c: Ctx, errors: Sequence[str], answered: bool, prefix: str) -> None:
    """FilterMessages: some node answered → WARNING and exit 0; none did → the error, exit 1."""
    if not errors:
        return
    if answered:
        # cli.Warning("%s", err): the multierror text ends in "\n\n", Warning adds one more.
        c.inv.err.write("WARNING: " + multierror(errors) + "\n")
        return
    raise Fail(prefix + multierror(errors).rstrip("\n"))


def go_time_now(t: float) -> str:
    """Go's ``time.Now().String()`` in UTC: nanoseconds without trailing zeros and the monotonic reading."""
    whole = int(t)
    nanos = f"{round((t - whole) * 1e9):09d}".rstrip("0")
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(whole)) + (f".{nanos}" if nanos else "")
    return f"{stamp} +0000 UTC m=+0.{(whole * 7919) % 1000000000:09d}"


class Ctx:
    """One parsed talosctl invocation."""

    def __init__(self, inv: Invocation, opts: dict[str, Any], args: list[str], command: str) -> None:
        self.inv, self.opts, self.args, self.command = inv, opts, args, command

    def addresses(self) -> list[str]:
        nodes: list[str] = list(self.opts["nodes"])
        if not nodes:
            nodes = _talosconfig_nodes(self.inv, self.opts)
        if not nodes:
            raise Fail(
                "nodes are not set for the command: please use `--nodes` flag or configuration file to set the "
                "nodes to run the command against"
            )
        return nodes

    def one(self) -> str:
        nodes = self.addresses()
        if len(nodes) > 1:
            raise Fail(f'command "{self.command}" is not supported with multiple nodes')
        return nodes[0]


def _talosconfig_nodes(inv: Invocation, opts: Mapping[str, Any]) -> list[str]:
    path = (
        opts.get("talosconfig") or inv.env.get("TALOSCONFIG") or os.path.join(inv.env.get("HOME", "~"), ".talos/config")
    )
    path = inv.path(str(path))
    if not os.path.isfile(path):
        return []
    import yaml

    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    context = opts.get("context") or data.get("context")
    ctx = (data.get("contexts") or {}).get(context) or {}
    return [str(n) for n in ctx.get("nodes") or []]


def resolve(state: State, address: str, *, insecure: bool = False) -> tuple[str | None, str | None]:
    """(hostname, error) for a node address as the apid proxy would see it."""
    hostname = engine.find_node(state, address)
    if hostname is None:
        return None, unreachable(address)
    node = state["nodes"][hostname]
    if engine.is_down(state, node):
        return None, unreachable(address)
    if node.get("maintenance") and not insecure:
        return None, UNKNOWN_AUTHORITY
    if insecure and not node.get("maintenance"):
        return None, CERT_REQUIRED
    return hostname, None


# ── commands ─────────────────────────────────────────────────────────────────────────────────────


def cmd_version(c: Ctx) -> None:
    o = c.opts
    with c.inv.store.transaction() as state:
        engine.advance(state)
        client = client_version(state)
        if o["short"]:
            c.inv.print(f"Client:\nTalos {client}")
        else:
            c.inv.print("Client:")
            c.inv.print(_version_block(client))
        if o["client"]:
            return
        # version.go prints "Server:" before it connects, so even a total failure has the header.
        c.inv.print("Server:")
        errors: list[str] = []
        answered = False
        for address in c.addresses():
            hostname, error = resolve(state, address, insecure=o["insecure"])
            if hostname is None:
                errors.append(f"{address}: {error}")
                continue
            answered = True
            node = state["nodes"][hostname]
            c.inv.print(f"\tNODE:        {address}")
            c.inv.print(_version_block(node["talos_version"]))
            c.inv.print("\tEnabled:     RBAC")
    filtered(c, errors, answered, "error getting version: ")


def _version_block(tag: str) -> str:
    sha = hashlib.sha1(tag.encode()).hexdigest()[:8]
    return (
        f"\tTag:         {tag}\n\tSHA:         {sha}\n\tBuilt:       \n\tGo version:  go1.24.11\n"
        "\tOS/Arch:     linux/amd64"
    )


def require(state: State, address: str, prefix: str = "", *, insecure: bool = False) -> str:
    """The node's hostname, or the command fails the way talosctl reports an unreachable node."""
    hostname, error = resolve(state, address, insecure=insecure)
    if hostname is None:
        raise Fail(f"{prefix}{error}")
    return hostname


def _one_reachable(c: Ctx, state: State, *, insecure: bool = False) -> tuple[str, str]:
    address = c.one()
    return address, require(state, address, insecure=insecure)


def cmd_read(c: Ctx) -> None:
    if len(c.args) != 1:
        raise UsageError(f"accepts 1 arg(s), received {len(c.args)}")
    path = c.args[0]
    with c.inv.store.transaction() as state:
        engine.advance(state)
        errors = []
        for address in c.addresses():
            hostname, error = resolve(state, address)
            if hostname is None:
                errors.append(f"{address}: {error}")
                continue
            node = state["nodes"][hostname]
            files = {
                "/proc/sys/kernel/random/boot_id": node["boot_id"] + "\n",
                "/proc/sys/kernel/hostname": hostname + "\n",
                "/etc/os-release": f'NAME="Talos"\nID=talos\nVERSION_ID={node["talos_version"]}\n',
            }
            if path not in files:
                errors.append(f"{address}: rpc error: code = Unknown desc = stat {path}: no such file or directory")
                continue
            c.inv.out.write(files[path])
    if errors:
        raise Fail(multierror(errors).rstrip("\n"))


ETCD_DB = "/var/lib/etcd/member/snap/db"


def _etcd_database(state: State) -> dict[str, Any]:
    """What the simulated etcd database holds now: ``cp`` of the db file and ``etcd snapshot`` both save it."""
    apps_data.remember(state)  # the objects at this revision, for a restore from this file
    etcd = state["etcd"]
    return {
        "homeops-sim-etcd-snapshot": 1,
        "cluster": state["cluster"]["name"],
        "revision": etcd["revision"],
        "total_keys": etcd["data"]["total_keys"],
        "total_size": etcd["data"]["total_size"],
        "taken": engine.now(state),
    }


def cmd_cp(c: Ctx) -> None:
    """``talosctl cp /var/lib/etcd/member/snap/db DEST``: the raw etcd database of a control plane, no sha256
    trailer (so ``bootstrap --recover-from`` needs ``--recover-skip-hash-check``); DEST a directory → DEST/db."""
    if len(c.args) != 2:
        raise UsageError(f"accepts 2 arg(s), received {len(c.args)}")
    source, dest = c.args
    with c.inv.store.transaction() as state:
        engine.advance(state)
        address = c.one()
        hostname = require(state, address, "error copying: ")
        node = state["nodes"][hostname]
        if source != ETCD_DB or not node["control_plane"] or not node.get("etcd_data"):
            raise Fail(f"error copying: rpc error: code = Unknown desc = stat {source}: no such file or directory")
        body = _etcd_database(state)
    target = c.inv.path(dest)
    if os.path.isdir(target):
        target = os.path.join(target, "db")
    with open(target, "wb") as fh:
        fh.write((json.dumps(body, sort_keys=True) + "\n").encode())


# get: (canonical type, namespace, aliases)
RESOURCES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "MachineStatuses.runtime.talos.dev": ("runtime", "MachineStatus", ("machinestatus", "machinestatuses", "ms")),
    "Members.cluster.talos.dev": ("cluster", "Member", ("member", "members")),
    "Nodenames.kubernetes.talos.dev": ("k8s", "Nodename", ("nodename", "nodenames")),
    "Services.v1alpha1.talos.dev": ("runtime", "Service", ("service", "services", "svc")),
    "EtcdMembers.etcd.talos.dev": ("etcd", "EtcdMember", ("etcdmember", "etcdmembers", "em")),
    "MachineTypes.config.talos.dev": ("config", "MachineType", ("machinetype", "machinetypes", "mt")),
    "NodeStatuses.kubernetes.talos.dev": ("k8s", "NodeStatus", ("nodestatus", "nodestatuses", "ns")),
}


def _resource_type(name: str) -> str | None:
    for full, (_, short, aliases) in RESOURCES.items():
        if name.lower() in aliases or name in (full, short):
            return full
    return None


def _resources(state: State, hostname: str, rtype: str) -> list[tuple[dict[str, Any], Any, dict[str, Any]]]:
    """(metadata, spec, table columns) of every resource of a type on a node."""
    node = state["nodes"][hostname]
    t0 = rfc3339(float(state["clock"]["origin"]) - 86400)
    now = rfc3339(engine.now(state))
    ns = RESOURCES[rtype][0]

    def meta(rid: str, version: int, owner: str) -> dict[str, Any]:
        return {
            "created": t0,
            "id": rid,
            "namespace": ns,
            "owner": owner,
            "phase": "running",
            "type": rtype,
            "updated": now,
            "version": version,
        }

    out: list[tuple[dict[str, Any], Any, dict[str, Any]]] = []
    if rtype.startswith("MachineStatuses"):
        unmet = []
        if not node["ready"]:
            unmet = [{"name": "nodeReady", "reason": "node not ready"}]
            if node["stage"] in ("booting", "maintenance"):
                unmet.insert(0, {"name": "services", "reason": "some services are not healthy: kubelet"})
        spec = {"stage": node["stage"], "status": {"ready": bool(node["ready"]), "unmetConditions": unmet}}
        out.append(
            (
                meta("machine", 5 + int(node["config_version"]), "runtime.MachineStatusController"),
                spec,
                {"STAGE": node["stage"], "READY": str(bool(node["ready"])).lower()},
            )
        )
    elif rtype.startswith("Members"):
        for other, n in sorted(state["nodes"].items()):
            if engine.is_down(state, n) and n.get("powered_off"):
                continue
            spec = {
                "addresses": list(n["ips"]),
                "hostname": other,
                "machineType": "controlplane" if n["control_plane"] else "worker",
                "nodeId": hashlib.sha256(other.encode()).hexdigest()[:43],
                "operatingSystem": f"Talos ({n['talos_version']})",
            }
            if n["control_plane"]:
                spec["controlPlane"] = {"port": 6443}
            out.append(
                (
                    meta(other, 3, "cluster.MemberController"),
                    spec,
                    {
                        "HOSTNAME": other,
                        "MACHINE TYPE": spec["machineType"],
                        "OS": spec["operatingSystem"],
                        "ADDRESSES": json.dumps(spec["addresses"]),
                    },
                )
            )
    elif rtype.startswith("Nodenames"):
        spec = {"hostnameVersion": "1", "nodename": hostname, "skipNodeRegistration": False}
        out.append((meta("nodename", 1, "k8s.NodenameController"), spec, {"NODENAME": hostname}))
    elif rtype.startswith("Services"):
        for sid, running, healthy in _services(state, hostname):
            spec = {"healthy": healthy, "running": running, "unknown": False}
            out.append(
                (
                    meta(sid, 4, "v1alpha1.ServiceController"),
                    spec,
                    {"RUNNING": str(running).lower(), "HEALTHY": str(healthy).lower(), "HEALTH UNKNOWN": "false"},
                )
            )
    elif rtype.startswith("EtcdMembers"):
        member = engine.etcd_members(state).get(hostname)
        if member is not None:
            out.append(
                (meta("local", 1, "etcd.MemberController"), {"memberID": member["id"]}, {"MEMBER ID": member["id"]})
            )
    elif rtype.startswith("MachineTypes"):
        mtype = "controlplane" if node["control_plane"] else "worker"
        out.append(
            (
                meta("machine-type", 1, "config.MachineTypeController"),
                mtype,  # the MachineType spec is the bare string
                {"MACHINE TYPE": mtype},
            )
        )
    elif rtype.startswith("NodeStatuses"):
        k = state["k8s"]["nodes"].get(hostname, {})
        spec = {"nodeReady": k.get("ready") == "True", "nodename": hostname, "unschedulable": bool(node["cordoned"])}
        out.append(
            (
                meta(hostname, 2, "k8s.NodeStatusController"),
                spec,
                {"NODE READY": str(spec["nodeReady"]).lower(), "UNSCHEDULABLE": str(spec["unschedulable"]).lower()},
            )
        )
    return out


def _services(state: State, hostname: str) -> list[tuple[str, bool, bool]]:
    node = state["nodes"][hostname]
    up = node["stage"] in ("running", "booting")
    services = [
        ("apid", True, True),
        ("machined", True, True),
        ("trustd", node["control_plane"], node["control_plane"]),
    ]
    if node["control_plane"]:
        member = engine.etcd_members(state).get(hostname)
        etcd_running = member is not None and bool(node.get("etcd_data"))
        services.append(("etcd", etcd_running, bool(member and member["healthy"])))
    services.append(("kubelet", up, node["stage"] == "running"))
    return [s for s in services if s[0] != "trustd" or node["control_plane"]]


def cmd_get(c: Ctx) -> None:
    o = c.opts
    if not c.args or len(c.args) > 2:
        raise UsageError(f"accepts between 1 and 2 arg(s), received {len(c.args)}")
    output = o["output"]
    if output not in ("table", "yaml", "json") and not output.startswith("jsonpath="):
        raise Fail(f'error getting resources: output format "{output}" is not supported')
    ident = c.args[1] if len(c.args) == 2 else None
    rows: list[list[str]] = []
    docs: list[str] = []
    errors: list[str] = []
    with c.inv.store.transaction() as state:
        engine.advance(state)
        addresses = c.addresses()
        # ForEachResource resolves the type on nodes[0] first: if that node is down, nothing is
        # printed for any node and the error names none.
        _, first_error = resolve(state, addresses[0], insecure=o["insecure"])
        if first_error is not None:
            raise Fail(first_error)
        rtype = _resource_type(c.args[0])
        if rtype is None:
            raise Fail(f'rpc error: code = NotFound desc = resource "{c.args[0]}" is not registered')
        for address in addresses:
            hostname, error = resolve(state, address, insecure=o["insecure"])
            if hostname is None:
                errors.append(error or "")  # get's callback collects the bare gRPC error
                continue
            found = [r for r in _resources(state, hostname, rtype) if ident is None or r[0]["id"] == ident]
            # --insecure talks to the maintenance service without --nodes metadata: the node is ""
            # (talos v1.11.6 get.go:55-56 WithClientMaintenance; output/yaml.go:58, json.go:63)
            shown = "" if o["insecure"] else address
            if ident is not None and not found:
                ns = RESOURCES[rtype][0]
                errors.append(f"rpc error: code = NotFound desc = resource {rtype}({ns}/{ident}@undefined) NotFound")
            for metadata, spec, columns in found:
                if output == "json":
                    docs.append(
                        json.dumps({"metadata": metadata, "node": shown, "spec": spec}, indent=4, sort_keys=True) + "\n"
                    )
                elif output == "yaml":
                    docs.append(_yaml_doc(shown, metadata, spec))
                elif output == "table":
                    rows.append(
                        [
                            shown,
                            metadata["namespace"],
                            RESOURCES[rtype][1],
                            metadata["id"],
                            str(metadata["version"]),
                            *columns.values(),
                        ]
                    )
                    header_extra = list(columns)
                else:
                    from homeops.sim.tools.jsonpath import render

                    docs.append(render(output[len("jsonpath=") :], spec) + "\n")
    if output == "table" and rows:
        c.inv.out.write(tabwrite([["NODE", "NAMESPACE", "TYPE", "ID", "VERSION", *header_extra], *rows]))
    elif output == "yaml":
        c.inv.out.write("---\n".join(docs))
    else:
        c.inv.out.write("".join(docs))
    if errors:
        raise Fail(multierror(errors).rstrip("\n"))


def _yaml_doc(address: str, metadata: dict[str, Any], spec: Any) -> str:
    import yaml

    order = ("namespace", "type", "id", "version", "owner", "phase", "created", "updated")
    lines = [f"node: {address}", "metadata:"]  # Fprintf "node: %s\n": "node: " for ""
    lines += [f"    {k}: {metadata[k]}" for k in order if k in metadata]
    body = yaml.safe_dump({"spec": spec}, indent=4, default_flow_style=False, sort_keys=True)
    return "\n".join(lines) + "\n" + body


def _health(running: bool, healthy: bool) -> str:
    # formatters.go HealthStatus: "?" while the health is unknown (the service never ran a check),
    # "OK" when healthy, "Fail" otherwise.
    if not running:
        return "?"
    return "OK" if healthy else "Fail"


def cmd_service(c: Ctx) -> None:
    errors: list[str] = []
    answered = False
    with c.inv.store.transaction() as state:
        engine.advance(state)
        list_rows = [["NODE", "SERVICE", "STATE", "HEALTH", "LAST CHANGE", "LAST EVENT"]]
        info_rows: list[list[str]] = []
        for address in c.addresses():
            hostname, error = resolve(state, address)
            if hostname is None:
                errors.append(f"{address}: {error}")
                continue
            answered = True
            services = _services(state, hostname)
            if not c.args:
                for sid, running, healthy in services:
                    list_rows.append(
                        [
                            address,
                            sid,
                            "Running" if running else "Preparing",
                            _health(running, healthy),
                            "1h0m0s ago",
                            "Health check successful" if healthy else "Waiting",
                        ]
                    )
                continue
            sid = c.args[0]
            match = [s for s in services if s[0] == sid]
            if not match:
                errors.append(f'{address}: rpc error: code = NotFound desc = service "{sid}" not registered')
                continue
            _, running, healthy = match[0]
            state_text = "Running" if running else ("Preparing" if sid == "etcd" else "Waiting")
            event = "Health check successful" if healthy else "Waiting for etcd to be bootstrapped or to join"
            info_rows += [
                ["NODE", address],
                ["ID", sid],
                ["STATE", state_text],
                ["HEALTH", _health(running, healthy)],
                ["EVENTS", f"[{state_text}]: {event} (1m0s ago)"],
            ]
    if not c.args and answered:
        c.inv.out.write(tabwrite(list_rows))
    elif info_rows:
        c.inv.out.write(tabwrite(info_rows))
    filtered(c, errors, answered and (not c.args or bool(info_rows)), "error listing services: ")
    if c.args and not info_rows:
        raise Fail(f'service "{c.args[0]}" is not registered on any nodes')


# ── etcd ─────────────────────────────────────────────────────────────────────────────────────────


def _member_int(member_id: str) -> int:
    return int(member_id, 16)


def cmd_etcd(c: Ctx) -> None:
    if not c.args:
        raise UsageError('unknown command "" for "talosctl etcd"')
    sub, rest = c.args[0], c.args[1:]
    if sub == "members":
        _etcd_members(c)
    elif sub == "status":
        _etcd_status(c)
    elif sub == "snapshot":
        if len(rest) != 1:
            raise UsageError(f"accepts 1 arg(s), received {len(rest)}")
        c.command = "etcd snapshot"
        _etcd_snapshot(c, rest[0])
    elif sub == "remove-member":
        if len(rest) != 1:
            raise UsageError(f"accepts 1 arg(s), received {len(rest)}")
        _etcd_remove(c, rest[0])
    elif sub == "leave":
        c.command = "etcd leave"
        _etcd_leave(c)
    elif sub == "alarm" and rest[:1] == ["list"]:
        _etcd_alarm_list(c)
    elif sub == "alarm" and rest[:1] == ["disarm"]:
        _etcd_alarm_disarm(c)
    elif sub in ("forfeit-leadership", "defrag"):
        with c.inv.store.transaction() as state:
            engine.advance(state)
            _, hostname = _one_reachable(c, state)
            if sub == "forfeit-leadership" and len(engine.etcd_members(state)) == 1:
                # talos v1.14.0-rc.1 internal/pkg/etcd/etcd.go:247
                raise Fail(
                    f"error from node {c.addresses()[0]}: rpc error: code = Unknown desc = failed to forfeit "
                    "leadership: cannot forfeit leadership, only one member"
                )
            if sub == "forfeit-leadership" and state["etcd"].get("leader") == hostname:
                others = sorted(h for h, m in engine.etcd_members(state).items() if m["healthy"] and h != hostname)
                if others:
                    state["etcd"]["leader"] = others[0]
    else:
        raise UsageError(f'unknown command "{sub}" for "talosctl etcd"')


def _cp_reachable(c: Ctx, state: State, address: str) -> str:
    hostname = require(state, address, f"{address}: ")
    node = state["nodes"][hostname]
    if not node["control_plane"]:
        raise Fail(f"{address}: rpc error: code = Unknown desc = etcd is not running on worker nodes")
    member = engine.etcd_members(state).get(hostname)
    if member is None or not node.get("etcd_data"):
        raise Fail(f"{address}: rpc error: code = Unavailable desc = etcd service is not running (state Preparing)")
    return hostname


def _urls(state: State, hostname: str, port: int) -> str:
    return ",".join(f"https://{ip}:{port}" for ip in state["nodes"][hostname]["ips"])


def _etcd_members(c: Ctx) -> None:
    rows = [["NODE", "ID", "HOSTNAME", "PEER URLS", "CLIENT URLS", "LEARNER"]]
    errors = []
    answered = False
    with c.inv.store.transaction() as state:
        engine.advance(state)
        for address in c.addresses():
            try:
                _cp_reachable(c, state, address)
            except Fail as exc:
                errors.append(exc.message)
                continue
            answered = True
            for hostname, member in sorted(engine.etcd_members(state).items(), key=lambda kv: kv[1]["id"]):
                rows.append(
                    [
                        address,
                        member["id"],
                        hostname,
                        _urls(state, hostname, 2380),
                        _urls(state, hostname, 2379),
                        "false",
                    ]
                )
    if len(rows) > 1:
        c.inv.out.write(tabwrite(rows))
    filtered(c, errors, answered, "error getting members: ")


def _etcd_status(c: Ctx) -> None:
    new_columns = minor(client_version(c.inv.read())) >= 11
    header = (
        ["NODE", "MEMBER", "DB SIZE", "IN USE", "LEADER", "RAFT INDEX", "RAFT TERM", "RAFT APPLIED INDEX", "LEARNER"]
        + (["PROTOCOL", "STORAGE"] if new_columns else [])
        + ["ERRORS"]
    )
    rows = [header]
    errors = []
    with c.inv.store.transaction() as state:
        engine.advance(state)
        members = engine.etcd_members(state)
        leader = state["etcd"].get("leader")
        leader_id = members[leader]["id"] if leader in members else "0000000000000000"
        index = int(state["etcd"]["revision"]) * 13 + 271
        for address in c.addresses():
            try:
                hostname = _cp_reachable(c, state, address)
            except Fail as exc:
                errors.append(exc.message)
                continue
            member = members[hostname]
            alarm_errors = [
                f"memberID:{_member_int(a['member'])} alarm:{a['alarm']}"
                for a in state["etcd"].get("alarms", [])
                if a.get("member")
            ]
            row = [address, member["id"], "21 MB", "6.0 MB (29.08%)", leader_id, str(index), "4", str(index), "false"]
            if new_columns:
                row += ["3.5.21", "3.5.0"]
            rows.append([*row, ", ".join(alarm_errors)])
    if len(rows) > 1:
        c.inv.out.write(tabwrite(rows))
    filtered(c, errors, len(rows) > 1, "error getting status: ")


def _etcd_snapshot(c: Ctx, path: str) -> None:
    with c.inv.store.transaction() as state:
        engine.advance(state)
        address = c.one()
        _cp_reachable(c, state, address)
        if not engine.etcd_quorate(state):
            # the stream opens; its error arrives while reading (client.ReadStream, talos v1.11.6
            # pkg/machinery/client/client.go:906-940), so etcd.go says "error reading", not "error reading file"
            raise Fail(
                "error reading: rpc error: code = Unknown desc = failed to create etcd client: "
                "context deadline exceeded"
            )
        body = _etcd_database(state)
    text = json.dumps(body, sort_keys=True)
    digest = hashlib.sha256(text.encode()).hexdigest()
    data = (text + "\n" + digest + "\n").encode()
    target = c.inv.path(path)
    part = target + ".part"
    try:
        with open(part, "wb") as fh:
            fh.write(data)
        os.replace(part, target)
    except OSError as exc:
        raise Fail(
            f"error writing snapshot: open {path}.part: {exc.strerror.lower() if exc.strerror else exc}"
        ) from None
    c.inv.print(f'etcd snapshot saved to "{path}" ({len(data)} bytes)')
    c.inv.print(
        f"snapshot info: hash {digest[:8]}, revision {body['revision']}, total keys {body['total_keys']}, "
        f"total size {body['total_size']}"
    )


def read_snapshot(path: str, *, skip_hash: bool = False) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            text, _, digest = fh.read().partition("\n")
    except OSError as exc:
        raise Fail(f"open {path}: {(exc.strerror or str(exc)).lower()}") from None
    try:
        body: dict[str, Any] = json.loads(text)
    except ValueError:
        raise Fail(f"error recovering from snapshot: snapshot file {path!r} is not an etcd snapshot") from None
    if not skip_hash and digest.strip() != hashlib.sha256(text.encode()).hexdigest():
        raise Fail(f"sha256 checksum not found (size {len(text)})")
    body["hash"] = hashlib.sha256(text.encode()).hexdigest()[:8]
    return body


def _etcd_remove(c: Ctx, member_id: str) -> None:
    with c.inv.store.transaction() as state:
        engine.advance(state)
        address = c.one()
        _cp_reachable(c, state, address)
        if not re.fullmatch(r"[0-9a-fA-F]{1,16}", member_id):
            raise Fail(f'failed to parse member ID: strconv.ParseUint: parsing "{member_id}": invalid syntax')
        for hostname, member in list(state["etcd"]["members"].items()):
            if int(member["id"], 16) == int(member_id, 16):
                del state["etcd"]["members"][hostname]
                state["nodes"][hostname]["etcd_data"] = False
                if state["etcd"].get("leader") == hostname:
                    state["etcd"]["leader"] = None
                return
    raise Fail(f"{address}: rpc error: code = Unknown desc = etcdserver: member not found")


def _etcd_leave(c: Ctx) -> None:
    with c.inv.store.transaction() as state:
        engine.advance(state)
        address = c.one()
        hostname = _cp_reachable(c, state, address)
        state["etcd"]["members"].pop(hostname, None)
        state["nodes"][hostname]["etcd_data"] = False


def _etcd_alarm_list(c: Ctx) -> None:
    rows = [["NODE", "MEMBER", "ALARM"]]
    errors: list[str] = []
    answered = False
    with c.inv.store.transaction() as state:
        engine.advance(state)
        for address in c.addresses():
            try:
                _cp_reachable(c, state, address)
            except Fail as exc:
                errors.append(exc.message)
                continue
            answered = True
            for alarm in state["etcd"].get("alarms", []):
                if alarm.get("member"):
                    rows.append([address, alarm["member"], alarm["alarm"]])
    if len(rows) > 1:
        c.inv.out.write(tabwrite(rows))
    filtered(c, errors, answered, "error getting alarms: ")


def _etcd_alarm_disarm(c: Ctx) -> None:
    from homeops.sim import faults

    with c.inv.store.transaction() as state:
        engine.advance(state)
        rows = [["NODE", "MEMBER", "ALARM"]]
        for address in c.addresses():
            _cp_reachable(c, state, address)
            for alarm in state["etcd"].get("alarms", []):
                rows.append([address, alarm["member"], alarm["alarm"]])
        state["etcd"]["alarms"] = []
        faults.clear(state, "etcd-alarm")
    if len(rows) > 1:
        c.inv.out.write(tabwrite(rows))


# ── upgrade / reboot / reset: the action tracker ─────────────────────────────────────────────────


def _track(c: Ctx, targets: dict[str, tuple[str, str]], timeout: float, *, first_task: str) -> None:
    """The non-TTY reporter of ``--wait``: lines on stderr until ready with a new boot ID.

    ``targets`` maps address → (hostname, boot ID before the action).
    """
    for address in targets:
        c.inv.eprint(f'"{address}": waiting for actor ID')
    with c.inv.store.transaction() as state:
        for address in targets:
            c.inv.eprint(f'"{address}": actor ID: {engine.new_boot_id(state)}')
            c.inv.eprint(f'"{address}": task: {first_task} action: START')
    last: dict[str, str] = {address: f"task: {first_task} action: START" for address in targets}
    done: set[str] = set()

    def check(state: State) -> bool:
        for address, (hostname, boot_id) in targets.items():
            if address in done:
                continue
            node = state["nodes"][hostname]
            if engine.is_down(state, node):
                line = "unavailable, retrying..."
            elif node["ready"] and node["stage"] == "running" and node["boot_id"] != boot_id:
                c.inv.eprint(f'"{address}": events check condition met')
                c.inv.eprint(f'"{address}": post check passed')
                done.add(address)
                continue
            elif node["boot_id"] == boot_id and node.get("pending"):
                line = f"task: {first_task} action: START"
            else:
                unmet = "[]" if node["ready"] else '[name:"nodeReady" reason:"node not ready"]'
                line = f"stage: {node['stage']} ready: {str(bool(node['ready'])).lower()} unmetCond: {unmet}"
            if last.get(address) != line:
                c.inv.eprint(f'"{address}": {line}')
                last[address] = line
        return len(done) == len(targets)

    if not c.inv.wait_until(check, timeout):
        for address in targets:
            if address not in done:
                c.inv.eprint(f'"{address}": context deadline exceeded')
        raise Fail("")


def _validate_etcd_for_upgrade(state: State, hostname: str) -> str | None:
    if any(
        n.get("pending")
        and n["control_plane"]
        and h != hostname
        and n["pending"]["kind"] == "upgrade"
        and not n["pending"]["went_down"]
        for h, n in state["nodes"].items()
    ):
        return "failed to acquire upgrade mutex: another upgrade is in progress"
    members = engine.etcd_members(state)
    if len(members) == 2:
        return f"etcd member count({len(members)}) is insufficient to maintain quorum if upgrade commences"
    for other, member in sorted(members.items()):
        if not member["healthy"]:
            return (
                f"error validating etcd for upgrade: etcd member {_member_int(member['id'])} is not healthy; all "
                f"members must be healthy to perform an upgrade: context deadline exceeded"
            )
        _ = other
    return None


LEGACY_UPGRADE_MODES = ("default", "powercycle")  # machine.UpgradeRequest_RebootMode
REBOOT_REQUEST_MODES = ("default", "powercycle", "force")  # machine.RebootRequest_Mode (v1.12+)


def cmd_upgrade(c: Ctx) -> None:
    """``upgrade``: the legacy flow (talosctl ≤ 1.12, ``--legacy``, or a server older than 1.13) and the
    v1.13 LifecycleService flow (talos ``cmd/talosctl/cmd/talos/upgrade.go`` at v1.11.6 and v1.13.9)."""
    o = c.opts
    v113 = minor(client_version(c.inv.read())) >= 13
    # The v1.13 flags exist only for a v1.13 client (the dispatcher adds them).
    drain, legacy, no_reboot = o.get("drain", False), o.get("legacy", False), o.get("no-reboot", False)
    wait = o["wait"] or o["debug"] or drain  # v1.13 RunE: --drain (default true) forces --wait
    if wait and o["insecure"]:
        raise Fail("cannot use --wait and --insecure together")
    mode = o["reboot-mode"]
    if v113 and mode.lower() not in REBOOT_REQUEST_MODES:
        raise UsageError(f'invalid argument "{mode}" for "-m, --reboot-mode" flag: unknown value {mode!r}')
    if legacy:
        c.inv.eprint(
            "WARNING: Forcing use of legacy upgrade method. This flag is deprecated and will be removed in Talos 1.18."
        )
    with c.inv.store.transaction() as state:
        engine.advance(state)
        image = o["image"] or default_installer(client_version(state))
        new_flow = v113 and not legacy
        if new_flow:
            # TalosVersionCheck: the new API needs every node > 1.13.0-alpha.2; else the legacy flow.
            for address in c.addresses():
                hostname, error = resolve(state, address)
                if hostname is None:
                    raise Fail(f"error checking Talos version compatibility: {address}: {error}")
                if minor(state["nodes"][hostname]["talos_version"]) < 13:
                    c.inv.eprint("New upgrade API is not available, falling back to legacy")
                    new_flow = False
                    break
    if not new_flow and mode.lower() not in LEGACY_UPGRADE_MODES:
        raise Fail(f"invalid reboot mode: {mode}")
    targets = _start_upgrades(c, image, new_flow=new_flow)
    if not new_flow:
        if not wait:
            return
        _track(c, targets, o["timeout"], first_task="stopAllServices")
        return
    drained = [h for h, _ in targets.values()] if drain and not no_reboot else []
    if no_reboot:
        return
    if not wait:
        return  # rebootInternal(wait=false): the reboot is requested, talosctl returns
    _track(c, targets, o["timeout"], first_task="stopAllServices")
    with c.inv.store.transaction() as state:
        for hostname in drained:
            c.inv.eprint(f"{hostname}: uncordoning node")
            state["nodes"][hostname]["cordoned"] = False
            state["k8s"]["nodes"][hostname]["unschedulable"] = False
            c.inv.eprint(f"{hostname}: node uncordoned")


def _start_upgrades(c: Ctx, image: str, *, new_flow: bool) -> dict[str, tuple[str, str]]:
    o = c.opts
    drain, no_reboot = o.get("drain", False) and not o.get("no-reboot", False), o.get("no-reboot", False)
    acks: list[list[str]] = []
    targets: dict[str, tuple[str, str]] = {}
    with c.inv.store.transaction() as state:
        engine.advance(state)
        version = _image_version(image)
        if version is None:
            raise Fail(f'error validating installer image "{image}": failed to resolve image tag: not a Talos version')
        for address in c.addresses():
            pulling = f"error pulling upgrade image: error from node {address}: "
            prefix = pulling if new_flow else "error performing upgrade: "
            hostname = require(state, address, prefix, insecure=o["insecure"])
            node = state["nodes"][hostname]
            if node["control_plane"] and not (o["force"] and not new_flow):
                refusal = _validate_etcd_for_upgrade(state, hostname)
                if refusal:
                    raise Fail(f"error performing upgrade: rpc error: code = Unknown desc = {refusal}")
            refusal = pull_refusal(state, hostname, image)
            if refusal:
                prefix = pulling if new_flow else "error performing upgrade: "
                raise Fail(f"{prefix}rpc error: code = Unknown desc = {refusal}")
            targets[address] = (hostname, node["boot_id"])
            acks.append([address, "Upgrade request received", go_time_now(engine.now(state)), ""])
        if new_flow:
            for address in targets:
                c.inv.eprint(f"{address}: pulled image {image}")
            for address in targets:
                c.inv.eprint(f"{address}: upgrade completed")
            if drain:
                for hostname, _ in targets.values():
                    for line in ("cordoning node", "node cordoned", "draining node", "node drained"):
                        c.inv.eprint(f"{hostname}: {line}")
                    state["nodes"][hostname]["cordoned"] = True
                    state["k8s"]["nodes"][hostname]["unschedulable"] = True
            if no_reboot:
                return targets
        for hostname, _ in targets.values():
            if faults.consume(state, "upgrade-no-reboot", hostname) is not None:
                _pull(state, hostname, image)
                continue  # tuppr#575: installed, acknowledged, and no reboot ever comes
            # The installer is pulled first (upgrade.go:135); an image pre-pulled costs nothing.
            delay = engine.config(state, "upgrade_seconds") + _pull(state, hostname, image)
            engine.begin_reboot(state, hostname, kind="upgrade", to_version=version, to_image=image, delay=delay)
    if not new_flow and not (o["wait"] or o["debug"]):
        # runUpgradeNoWait: "%s\t%s\t%s\t\n" with time.Now() — Go's default time format, padded.
        c.inv.out.write(tabwrite([["NODE", "ACK", "STARTED"], *acks]))
    return targets


#: The Image Factory's schematic without customisations (what ``images.InstallerImageRepository`` names
#: from 1.14 on, talos v1.14.0-rc.1 ``upgrade.go:358``).
VANILLA_SCHEMATIC = "376567988ad370138ad8b2698212367b8edcb69b5fd68c80be1f2ec7d603b4ba"


def default_installer(client: str) -> str:
    if minor(client) >= 14:
        return f"factory.talos.dev/metal-installer/{VANILLA_SCHEMATIC}:{client}"
    return f"ghcr.io/siderolabs/installer:{client}"


def pull_refusal(state: State, hostname: str, image: str) -> str | None:
    """Why the node's containerd cannot pull ``image`` (None: it can)."""
    version = _image_version(image)
    if image.startswith("ghcr.io/siderolabs/installer:") and version and minor(version) >= 14:
        # release.toml notes.defaultInstaller: no longer published from 1.14
        return f'failed to pull image "{image}": {image}: not found'
    if faults.active(state, "image-pull-fails", hostname):
        return f'failed to pull image "{image}": failed to resolve reference "{image}": {image}: not found'
    return None


def _pull(state: State, hostname: str, image: str) -> float:
    """Put ``image`` in the node's ``system`` namespace; the seconds it took (0 for a cache hit)."""
    cached: list[str] = state["nodes"][hostname].setdefault("images", [])
    if image in cached:
        return 0.0
    cached.append(image)
    return engine.config(state, "pull_seconds")


def cmd_image(c: Ctx) -> None:
    """``image pull <ref>`` (talos v1.14.0-rc.1 ``image.go:224``); the flag ``--namespace`` defaults to cri."""
    if c.args[:1] != ["pull"] or len(c.args) != 2:
        raise UsageError(f'unknown command "{" ".join(c.args)}" for "talosctl image"')
    image, namespace = c.args[1], c.opts["namespace"]
    if namespace not in ("system", "cri", "inmem"):
        raise Fail(f'unsupported namespace "{namespace}"')
    waits: list[float] = []
    stalled = False
    errors: list[str] = []
    with c.inv.store.transaction() as state:
        engine.advance(state)
        for address in c.addresses():
            hostname = require(state, address, f"error from node {address}: ")
            if faults.active(state, "image-pull-stalls", hostname):
                stalled = True
                continue
            refusal = pull_refusal(state, hostname, image)
            if refusal:
                errors.append(f"error from node {address}: rpc error: code = Unknown desc = {refusal}")
                continue
            if namespace == "system":
                waits.append(_pull(state, hostname, image))
    if stalled:
        deadline = float(c.inv.env.get(DEADLINE_ENV) or 3600.0)
        c.inv.wait_until(lambda state: False, deadline)
        raise Fail(KILLED_AT_DEADLINE, code=124)
    if waits and max(waits) > 0:
        start: list[float] = []

        def pulled(state: State) -> bool:
            if not start:
                start.append(engine.now(state))
            return engine.now(state) >= start[0] + max(waits)

        c.inv.wait_until(pulled, max(waits) + 1.0)
    if errors:
        raise Fail("\n".join(errors))
    for address in c.addresses():
        c.inv.eprint(f"{address}: pulled image {image}")


def cmd_support(c: Ctx) -> None:
    """``support -O FILE``: a zip per node (talos v1.14.0-rc.1 ``support.go``); a down node is an error."""
    import zipfile

    output = c.inv.path(c.opts["output"] or "support.zip")
    files: dict[str, str] = {}
    with c.inv.store.transaction() as state:
        engine.advance(state)
        for address in c.addresses():
            hostname = require(state, address, f"error from node {address}: ")
            node = state["nodes"][hostname]
            files[f"{address}/machinestatus"] = f"stage: {node['stage']}\nready: {str(node['ready']).lower()}\n"
            files[f"{address}/dmesg.log"] = _dmesg(state, hostname)
            files[f"{address}/version"] = f"Tag: {node['talos_version']}\n"
    with zipfile.ZipFile(output, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    c.inv.eprint(f"Support bundle is written to {c.opts['output'] or 'support.zip'}")


def _dmesg(state: State, hostname: str) -> str:
    node = state["nodes"][hostname]
    lines = [
        f"{node['ip']}: kern:    info: [2026-12-05T05:00:00Z]: Linux version 6.12 (talos {node['talos_version']})",
        f"{node['ip']}: user: warning: [2026-12-05T05:00:01Z]: [talos] task startAllServices (1/1): done",
    ]
    if node.get("pending") and node["pending"].get("rolled_back"):
        lines.append(f"{node['ip']}: user: warning: [2026-12-05T05:00:02Z]: [talos] boot failed, rolling back")
    return "\n".join(lines) + "\n"


def cmd_dmesg(c: Ctx) -> None:
    with c.inv.store.transaction() as state:
        engine.advance(state)
        texts = [_dmesg(state, require(state, a, f"error getting dmesg: {a}: ")) for a in c.addresses()]
    c.inv.out.write("".join(texts))


def _image_version(image: str) -> str | None:
    m = re.search(r":(v\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)(?:@sha256:[0-9a-f]+)?$", image)
    return m.group(1) if m else None


def REBOOT_MODES(c: Ctx) -> tuple[str, ...]:
    """``reboot --mode``: RebootRequest modes; ``force`` from v1.12."""
    return REBOOT_REQUEST_MODES if minor(client_version(c.inv.read())) >= 12 else LEGACY_UPGRADE_MODES


def cmd_reboot(c: Ctx) -> None:
    o = c.opts
    if o["mode"] not in REBOOT_MODES(c):
        raise Fail(f"invalid reboot mode: {o['mode']}")
    targets: dict[str, tuple[str, str]] = {}
    with c.inv.store.transaction() as state:
        engine.advance(state)
        for address in c.addresses():
            hostname = require(state, address, "error executing reboot: ")
            targets[address] = (hostname, state["nodes"][hostname]["boot_id"])
            engine.begin_reboot(state, hostname, kind="reboot", delay=1.0)
    if o["wait"] or o["debug"]:
        _track(c, targets, o["timeout"], first_task="stopAllServices")


def cmd_reset(c: Ctx) -> None:
    o = c.opts
    if o["wait"] and o["insecure"]:
        raise Fail("cannot use --wait and --insecure together")
    # Labels are looked up exactly as given (VolumeStatus IDs are case-sensitive): `ephemeral` is refused.
    labels = list(o["system-labels-to-wipe"])
    targets: dict[str, tuple[str, str]] = {}
    with c.inv.store.transaction() as state:
        engine.advance(state)
        for address in c.addresses():
            hostname = require(state, address, "error executing reset: ", insecure=o["insecure"])
            node = state["nodes"][hostname]
            known = {"STATE", "EPHEMERAL", "META"} | {f"u-{v}" for v in node.get("user_volumes") or []}
            for label in labels:
                if label not in known:
                    # machined looks each label up as a VolumeStatus before wiping anything (siderolabs/talos
                    # v1.11.6 internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go:659-663).
                    raise Fail(
                        f"error executing reset: rpc error: code = Unknown desc = failed to get volume status "
                        f'with label "{label}": resource VolumeStatuses.block.talos.dev(runtime/{label}) '
                        "doesn't exist"
                    )
            members = state["etcd"]["members"]
            if node["control_plane"] and o["graceful"] and hostname in members:
                if len(members) == 1:
                    raise Fail(
                        "error executing reset: rpc error: code = Unknown desc = failed to leave etcd: "
                        "etcd cluster would lose its last member; use --graceful=false"
                    )
                del members[hostname]
            wipe_all = not labels
            engine.wiped(state, hostname, labels)
            if wipe_all or "EPHEMERAL" in labels:
                node["etcd_data"] = False
                if hostname in members:
                    members[hostname]["healthy"] = False
                    members[hostname]["stale"] = True
            if wipe_all or "STATE" in labels:
                node["maintenance"] = True
            targets[address] = (hostname, node["boot_id"])
            pending = engine.begin_reboot(state, hostname, kind="reset", delay=1.0)
            if not o["reboot"]:
                pending["back_at"] = None  # powered off until someone starts it again
                pending["ready_at"] = None
    if (o["wait"] or o["debug"]) and o["reboot"]:
        with c.inv.store.transaction() as state:
            maintenance = {a: state["nodes"][h].get("maintenance") for a, (h, _) in targets.items()}
        if all(maintenance.values()):
            for address in targets:
                c.inv.eprint(f'"{address}": task: stopAllServices action: START')

            def back(state: State) -> bool:
                return all(state["nodes"][h]["stage"] == "maintenance" for h, _ in targets.values())

            if not c.inv.wait_until(back, o["timeout"]):
                raise Fail("")
            for address in targets:
                c.inv.eprint(f'"{address}": post check passed')
            return
        _track(c, targets, o["timeout"], first_task="stopAllServices")
    elif o["wait"] or o["debug"]:
        for address in targets:
            c.inv.eprint(f'"{address}": task: stopAllServices action: START')
            c.inv.eprint(f'"{address}": events check condition met')


# ── bootstrap / kubeconfig / apply-config ───────────────────────────────────────────────────────


def cmd_bootstrap(c: Ctx) -> None:
    """``talosctl bootstrap [--recover-from PATH]`` (talos v1.11.6 ``cmd/talosctl/cmd/talos/bootstrap.go``).

    The snapshot's status is read and printed locally *before* any RPC (``bootstrap.go:47-56``), so the
    ``recovering from snapshot`` line is there even when the bootstrap then fails. ``--nodes`` makes apid
    proxy one-to-many, which returns a node's error inside the reply (grpc-proxy v0.5.2
    ``handler_one2many.go:103-160``, apid ``BuildError``); ``client.Bootstrap`` turns it into a
    go-multierror naming the node (``pkg/machinery/client/client.go:373-380``, ``reply.go:18-31``).
    """
    o = c.opts
    address = c.one()
    recovered = None
    if o["recover-from"]:
        recovered = read_snapshot(c.inv.path(o["recover-from"]), skip_hash=o["recover-skip-hash-check"])
        c.inv.print(
            f'recovering from snapshot "{o["recover-from"]}": hash {recovered["hash"]}, revision '
            f"{recovered['revision']}, total keys {recovered['total_keys']}, total size "
            f"{recovered['total_size']}"
        )
    with c.inv.store.transaction() as state:
        engine.advance(state)

        def refused(error: str) -> Fail:
            return Fail("error executing bootstrap: " + multierror([f"{address}: {error}"]).rstrip("\n"))

        hostname, error = resolve(state, address)
        if hostname is None:
            raise refused(error or "")
        node = state["nodes"][hostname]
        if not node["control_plane"]:
            raise refused(
                "rpc error: code = FailedPrecondition desc = bootstrap can only be performed on a control plane node"
            )
        if node["stage"] != "running" and node["stage"] != "booting":
            raise refused("rpc error: code = FailedPrecondition desc = bootstrap is not available yet")
        if node.get("etcd_data") or bootstrap_sim.stale_etcd(state, hostname):
            raise refused("rpc error: code = AlreadyExists desc = etcd data directory is not empty")
        if recovered is not None:
            # apid answers before EPHEMERAL is mounted (talos v1.11.6 v1alpha1_server.go:1939-1943)
            if engine.now(state) < float(node.get("booted_at") or 0.0) + engine.config(state, "recover_ready_seconds"):
                raise Fail(
                    "error uploading snapshot: rpc error: code = FailedPrecondition desc = etcd service is not "
                    "ready for recovery yet"
                )
            state["etcd"]["revision"] = int(recovered["revision"])
            state["etcd"]["data"] = {
                "total_keys": int(recovered["total_keys"]),
                "total_size": int(recovered["total_size"]),
            }
        # A fresh single-member cluster; the other wiped control planes join on their own.
        state["etcd"]["members"] = {hostname: {"id": engine.new_id(state, "member", 16), "healthy": True}}
        state["etcd"]["leader"] = hostname
        state["etcd"]["bootstrapped"] = True
        state["etcd"]["alarms"] = []
        node["etcd_data"] = True
        if recovered is not None:
            apps_data.restore_from_etcd(state, apps_data.recalled(state, int(recovered["revision"])))
        engine.advance(state)  # the other running control planes without data join now


def cmd_kubeconfig(c: Ctx) -> None:
    o = c.opts
    if len(c.args) > 1:
        raise UsageError(f"accepts at most 1 arg(s), received {len(c.args)}")
    with c.inv.store.transaction() as state:
        engine.advance(state)
        address = c.one()
        require(state, address, "error copying: ")
        name = o["force-context-name"] or state["cluster"]["name"]
        if any(f["name"] == "kubeconfig-wrong-cluster" for f in state.get("faults", [])):
            text = bootstrap_sim.other_cluster_kubeconfig(name)
        else:
            text = bootstrap_sim.kubeconfig_text(name, state["cluster"]["endpoint"])
    path = c.args[0] if c.args else os.path.join(c.inv.env.get("HOME", "~"), ".kube", "config")
    if path == "-":
        if o["merge"]:
            raise Fail("merge flag is not supported when outputting to stdout")
        c.inv.out.write(text)
        return
    target = c.inv.path(path)
    if os.path.isdir(target):
        target = os.path.join(target, "kubeconfig")
    if os.path.exists(target) and not o["force"] and not o["merge"]:
        raise Fail(f'kubeconfig file already exists, use --force to overwrite: "{target}"')
    if o["merge"] and os.path.isfile(target):  # a missing target falls back to a plain write
        text = _merge_kubeconfig(target, text, force=bool(o["force"]))
    os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
    with open(target, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.chmod(target, 0o600)


def _merge_kubeconfig(path: str, new: str, *, force: bool) -> str:
    """``--merge`` into an existing kubeconfig (talos v1.11.6 ``kubeconfig.go:110-158``): the other entries
    stay; a cluster/user/context of the same name that differs is overwritten with ``--force`` and renamed
    otherwise (the non-interactive ``RenameDecision``); the new context becomes current."""
    import yaml

    with open(path, encoding="utf-8") as fh:
        try:
            old = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise Fail(f"error loading kubeconfig {path!r}: {str(exc).splitlines()[0]}") from None
    add = yaml.safe_load(new) or {}
    renamed: dict[tuple[str, str], str] = {}
    for section in ("clusters", "users", "contexts"):
        have = list(old.get(section) or [])
        names = {e.get("name") for e in have}
        for entry in add.get(section) or []:
            entry = dict(entry)
            if section == "contexts":
                ctx = dict(entry.get("context") or {})
                ctx["cluster"] = renamed.get(("clusters", ctx.get("cluster", "")), ctx.get("cluster"))
                ctx["user"] = renamed.get(("users", ctx.get("user", "")), ctx.get("user"))
                entry["context"] = ctx
            same = next((e for e in have if e.get("name") == entry["name"]), None)
            if same is not None and same != entry:
                if force:
                    have.remove(same)
                else:
                    n = 1
                    while f"{entry['name']}-{n}" in names:
                        n += 1
                    renamed[(section, entry["name"])] = f"{entry['name']}-{n}"
                    entry["name"] = f"{entry['name']}-{n}"
            elif same is not None:
                continue
            have.append(entry)
            names.add(entry["name"])
        old[section] = have
    context = str(add.get("current-context") or "")
    old["current-context"] = renamed.get(("contexts", context), context)
    old.setdefault("apiVersion", "v1")
    old.setdefault("kind", "Config")
    return str(yaml.safe_dump(old, sort_keys=False))


def _load_config(path: str) -> tuple[str, dict[str, Any]]:
    import yaml

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise Fail(f'failed to read configuration from "{path}": open {path}: {(exc.strerror or "").lower()}') from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        raise Fail(
            f"error applying new configuration: rpc error: code = InvalidArgument desc = failed to parse "
            f"config: {str(exc).splitlines()[0]}"
        ) from None
    config = next((d for d in docs if isinstance(d, dict) and "machine" in d), None)
    if config is None:
        raise Fail(
            "error applying new configuration: rpc error: code = InvalidArgument desc = configuration "
            "validation failed: 1 error occurred:\n\t* machine instructions are required"
        )
    return text, config


def cmd_validate(c: Ctx) -> None:
    """``talosctl validate --config F --mode M`` (cmd/talosctl/cmd/mgmt/validate.go): local, no node."""
    path, mode = c.opts["config"], c.opts["mode"]
    if not mode:
        raise Fail('required flag(s) "mode" not set')
    if mode not in ("metal", "cloud", "container"):
        raise Fail(f"unknown runtime mode: {mode!r}".replace("'", '"'))
    try:
        _load_config(c.inv.path(path))
    except Fail as exc:
        raise Fail(
            str(exc).replace("error applying new configuration: rpc error: code = InvalidArgument desc = ", "")
        ) from None
    c.inv.print(f"{path} is valid for {mode} mode")


def cmd_apply_config(c: Ctx) -> None:
    o = c.opts
    client = minor(client_version(c.inv.read()))
    modes = ["auto", "no-reboot", "reboot", "staged", "try"] + (["interactive"] if client < 13 else [])
    if client >= 14:
        # release.toml notes.apply_config; helpers/mode.go:70 and Set (:43): pflag's usage error
        modes.remove("reboot")
        if o["mode"] not in modes:
            options = ", ".join(sorted(modes))
            raise UsageError(f'invalid argument "{o["mode"]}" for "-m, --mode" flag: possible options are: {options}')
    if o["mode"] not in modes:
        raise Fail(f'invalid --mode flag value "{o["mode"]}": must be one of {", ".join(modes)}')
    if o["mode"] == "interactive":
        raise Fail("interactive mode requires a terminal")
    if not o["file"]:
        raise Fail("no filename supplied for configuration")
    text, config = _load_config(c.inv.path(o["file"]))
    ctype = str((config.get("machine") or {}).get("type", "")).replace("init", "controlplane")
    messages: list[str] = []
    with c.inv.store.transaction() as state:
        engine.advance(state)
        for address in c.addresses():
            hostname = require(state, address, "error applying new configuration: ", insecure=o["insecure"])
            node = state["nodes"][hostname]
            role = "controlplane" if node["control_plane"] else "worker"
            if ctype and ctype != role:
                raise Fail(
                    "error applying new configuration: rpc error: code = InvalidArgument desc = machine type "
                    f"can't be changed from {role} to {ctype}"
                )
            if node.get("maintenance"):
                # internal/app/maintenance/server.go: only auto/reboot/try; success replies without ModeDetails
                if o["mode"] not in ("auto", "reboot", "try"):
                    raise Fail(
                        "error applying new configuration: rpc error: code = Unimplemented desc = apply "
                        f"configuration --mode='{o['mode']}' is not supported in maintenance mode"
                    )
                if o["dry_run"]:
                    messages.append(
                        "Dry run summary:\nNode is running in maintenance mode and does not have a config yet."
                    )
                    continue
                node["maintenance"] = bootstrap_sim.stays_in_maintenance(state, hostname)
                node["config_text"] = text
                install = engine.config(state, "install_seconds")
                pending = engine.begin_reboot(state, hostname, kind="install", delay=install)
                pending["ready_at"] = (pending["back_at"] or 0) + engine.config(state, "ready_seconds")
                continue
            old = node.get("config_text", "")
            mode = o["mode"]
            # v1alpha1_server.go ApplyConfiguration / v1alpha1_runtime.go CanApplyImmediate (v1.11.6).
            immediate_error = ""
            if _needs_reboot(old, text):
                change = "".join(difflib.unified_diff(old.splitlines(True), text.splitlines(True), "a", "b"))
                immediate_error = f"this config change can't be applied in immediate mode\ndiff:\n{change}"
            reason = ""
            if mode == "auto":
                mode = "reboot" if immediate_error else "no-reboot"
                reason = f": {immediate_error}" if immediate_error else ""
            if o["dry_run"]:
                diff = "".join(difflib.unified_diff(old.splitlines(True), text.splitlines(True), "a", "b"))
                detail = _mode_detail(mode, o["timeout"])
                messages.append(
                    f"Dry run summary:\n{detail} (skipped in dry-run).\n\nConfig diff:\n\n{diff or 'No changes.'}"
                )
                continue
            if mode in ("no-reboot", "try") and immediate_error:
                raise Fail(
                    "error applying new configuration: rpc error: code = InvalidArgument desc = "
                    + immediate_error.rstrip("\n")
                )
            node["config_text"] = text
            node["config_version"] = int(node["config_version"]) + 1
            if mode == "staged":
                node["staged_config"] = True
            elif mode == "reboot":
                engine.begin_reboot(state, hostname, kind="reboot", delay=1.0)
            messages.append(_mode_detail(mode, o["timeout"]) + reason)
    for message in messages:
        c.inv.eprint(message)


def _needs_reboot(old: str, new: str) -> bool:
    if not old:
        return False

    def install(text: str) -> str:
        m = re.search(r"^\s+install:\n((?:\s{8,}.*\n)*)", text, re.M)
        return m.group(1) if m else ""

    return install(old) != install(new)


def _mode_detail(mode: str, timeout: float) -> str:
    if mode == "reboot":
        return "Applied configuration with a reboot"
    if mode == "staged":
        return "Staged configuration to be applied after the next reboot"
    if mode == "try":
        minutes, seconds = divmod(int(timeout), 60)
        return (
            "Applied configuration without a reboot\nThe config is applied in 'try' mode and will be "
            f"automatically reverted back in {minutes}m{seconds}s"
        )
    return "Applied configuration without a reboot"


# ── health and upgrade-k8s ───────────────────────────────────────────────────────────────────────

Check = Callable[[State], str | None]


def _checks(c: Ctx) -> list[tuple[str, Check | None]]:
    def nodes(state: State) -> list[tuple[str, dict[str, Any]]]:
        return sorted(state["nodes"].items())

    def etcd_healthy(state: State) -> str | None:
        bad = [state["nodes"][h]["ip"] for h, m in engine.etcd_members(state).items() if not m["healthy"]]
        if state["etcd"].get("alarms"):
            return f"{state['nodes'][state['etcd']['alarms'][0]['node']]['ip']}: etcd alarm NOSPACE is active"
        if bad:
            return multierror([f'{ip}: service "etcd" not in expected state "Running"' for ip in bad]).strip()
        return None

    def etcd_consistent(state: State) -> str | None:
        lost = set(state["etcd"]["members"]) - set(engine.etcd_members(state))
        cps = {h for h, n in state["nodes"].items() if n["control_plane"]}
        if lost or cps - set(state["etcd"]["members"]):
            return (
                f"etcd members are not consistent: expected {len(cps)} members, got {len(engine.etcd_members(state))}"
            )
        return None

    def apid(state: State) -> str | None:
        down = [n["ip"] for _, n in nodes(state) if engine.is_down(state, n)]
        return multierror([f"{ip}: {unreachable(ip)}" for ip in down]).strip() if down else None

    def booted(state: State) -> str | None:
        bad = [f"node {n['ip']} is in stage {n['stage']}" for _, n in nodes(state) if n["stage"] != "running"]
        return bad[0] if bad else None

    def k8s_report(state: State) -> str | None:
        return None if engine.api_up(state) else _api_error(state)

    def cp_pods(state: State) -> str | None:
        if not engine.api_up(state):
            return _api_error(state)
        bad = [n["ip"] for _, n in nodes(state) if n["control_plane"] and not n["ready"]]
        return f"expected static pods to be running on {go_quote_list(bad)}" if bad else None

    def ready(state: State) -> str | None:
        if not engine.api_up(state):
            return _api_error(state)
        bad = [h for h, k in sorted(state["k8s"]["nodes"].items()) if k.get("ready") != "True"]
        return f"some nodes are not ready: [{' '.join(bad)}]" if bad else None

    def coredns(state: State) -> str | None:
        deploy = next((d for d in state["k8s"]["deployments"] if d["name"] == "coredns"), None)
        if deploy is None:
            return None
        return None if deploy["ready_replicas"] >= 1 else "coredns: no ready pods found"

    def schedulable(state: State) -> str | None:
        bad = [h for h, k in sorted(state["k8s"]["nodes"].items()) if k.get("unschedulable")]
        return f"some nodes are not schedulable: [{' '.join(bad)}]" if bad else None

    def ok(state: State) -> str | None:
        return None

    return [
        ("etcd to be healthy", etcd_healthy),
        ("etcd members to be consistent across nodes", etcd_consistent),
        ("etcd members to be control plane nodes", ok),
        ("apid to be ready", apid),
        ("all nodes memory sizes", ok),
        ("all nodes disk sizes", ok),
        ("no diagnostics", ok),
        ("kubelet to be healthy", apid),
        ("all nodes to finish boot sequence", booted),
        ("all k8s nodes to report", k8s_report),
        ("all control plane static pods to be running", cp_pods),
        ("all control plane components to be ready", cp_pods),
        ("all k8s nodes to report ready", ready),
        ("kube-proxy to report ready", None),
        ("coredns to report ready", coredns),
        ("all k8s nodes to report schedulable", schedulable),
    ]


def _api_error(state: State) -> str:
    vip = state["cluster"]["vip"]
    return f'Get "https://{vip}:6443/api/v1/nodes": dial tcp {vip}:6443: connect: no route to host'


def cmd_health(c: Ctx) -> None:
    o = c.opts
    with c.inv.store.transaction() as state:
        engine.advance(state)
        if o["server"]:
            address = c.one()
            require(state, address, "healthcheck error: ")
        if not o["control-plane-nodes"] and not o["worker-nodes"]:
            c.inv.eprint(f"discovered nodes: {go_quote_list([n['ip'] for _, n in sorted(state['nodes'].items())])}")
        t0 = engine.now(state)
    deadline = t0 + o["wait-timeout"]
    for name, check in _checks(c):
        c.inv.eprint(f"waiting for {name}: ...")
        if check is None:
            c.inv.eprint(f"waiting for {name}: SKIP")
            continue
        last: list[str | None] = [None]

        def probe(state: State, check: Check = check, last: list[str | None] = last, name: str = name) -> bool:
            problem = check(state)
            if problem is None:
                return True
            if problem != last[0]:
                c.inv.eprint(f"waiting for {name}: {problem}")
                last[0] = problem
            return False

        remaining = max(0.0, deadline - engine.now(c.inv.read()))
        if not c.inv.wait_until(probe, remaining):
            raise Fail("healthcheck error: rpc error: code = DeadlineExceeded desc = context deadline exceeded")
        c.inv.eprint(f"waiting for {name}: OK")


def _k8s_version(v: str) -> str:
    return v[1:] if v.startswith("v") else v


def cmd_upgrade_k8s(c: Ctx) -> None:
    o = c.opts
    dry = o["dry-run"]
    with c.inv.store.transaction() as state:
        engine.advance(state)
        address = c.one()
        hostname = require(state, address, "error upgrading Kubernetes: ")
        if not state["nodes"][hostname]["control_plane"]:
            raise Fail(f"error upgrading Kubernetes: node {address} is not a controlplane node")
        if not engine.api_up(state):
            raise Fail(f"error fetching cluster: {_api_error(state)}")
        to = _k8s_version(o["to"] or "1.34.1")
        versions = sorted(
            {_k8s_version(n["kubernetes_version"]) for n in state["nodes"].values()},
            key=lambda v: [int(x) for x in re.findall(r"\d+", v)],
        )
        source = _k8s_version(o["from"]) if o["from"] else versions[0]
        if not o["from"]:
            c.inv.print(f"automatically detected the lowest Kubernetes version {source}")
        if minor(to) > minor(source) + 1 or minor(to) < minor(source):
            raise Fail(f"unsupported upgrade path {source}->{to} (try {source}->1.{minor(source) + 1}.x)")
        c.inv.print(f"checking for resource APIs to be deprecated in version {to}")
        cps = [n["ip"] for _, n in sorted(state["nodes"].items()) if n["control_plane"]]
        workers = [n["ip"] for _, n in sorted(state["nodes"].items()) if not n["control_plane"]]
        by_ip = {n["ip"]: h for h, n in state["nodes"].items()}
        c.inv.print(f"discovered controlplane nodes {go_quote_list(cps)}")
        c.inv.print(f"discovered worker nodes {go_quote_list(workers)}")
    if o["pre-pull-images"]:
        for ip in cps + workers:
            c.inv.print(f' > "{ip}": pre-pulling ghcr.io/siderolabs/kubelet:v{to}')
            if dry:
                c.inv.print(" > skipped in dry-run")
    for component in ("kube-apiserver", "kube-controller-manager", "kube-scheduler"):
        c.inv.print(f'updating "{component}" to version "{to}"')
        for ip in cps:
            c.inv.print(f' > "{ip}": starting update')
            c.inv.print(f" > update {component}: v{source} -> {to}")
            if dry:
                c.inv.print(" > skipped in dry-run")
                continue
            c.inv.print(f' > "{ip}": machine configuration patched')
            c.inv.print(f' > "{ip}": waiting for API server state pod update')
            c.inv.print(f' < "{ip}": successfully updated')
    if o["upgrade-kubelet"]:
        c.inv.print(f'updating kubelet to version "{to}"')
        for ip in cps + workers:
            c.inv.print(f' > "{ip}": starting update')
            if dry:
                c.inv.print(" > skipped in dry-run")
                continue
            c.inv.print(f' > "{ip}": machine configuration patched')
            c.inv.print(f' > "{ip}": waiting for kubelet restart')
            _roll_kubelet(c, by_ip[ip], f"v{to}")
            c.inv.print(f' > "{ip}": waiting for node update')
            c.inv.print(f' < "{ip}": successfully updated')
    c.inv.print("updating manifests")
    c.inv.print(" > processing manifest v1.ServiceAccount/coredns")
    c.inv.print(" < no changes" if not dry else " > skipped in dry-run")
    if not dry:
        with c.inv.store.transaction() as state:
            state["cluster"]["kubernetes_version"] = f"v{to}"


def _roll_kubelet(c: Ctx, hostname: str, version: str) -> None:
    with c.inv.store.transaction() as state:
        engine.advance(state)
        if engine.is_down(state, state["nodes"][hostname]):
            raise Fail(f"error updating kubelet: {unreachable(state['nodes'][hostname]['ip'])}")
        at = engine.now(state) + engine.config(state, "kubelet_restart_seconds")
        state.setdefault("jobs", []).append({"at": at, "kind": "kubelet", "node": hostname, "version": version})

    def updated(state: State) -> bool:
        return bool(state["k8s"]["nodes"][hostname].get("kubelet_version") == version)

    if not c.inv.wait_until(updated, 300.0):
        raise Fail(f"error updating kubelet: timed out waiting for node {hostname} to report version {version}")


# ── dispatch ─────────────────────────────────────────────────────────────────────────────────────

Spec = tuple[Callable[[Ctx], None], list[Flag], int]  # handler, flags, min client minor

COMMANDS: dict[str, Spec] = {
    "version": (
        cmd_version,
        [
            Flag("client", None, "bool", False),
            Flag("short", None, "bool", False),
            Flag("insecure", "i", "bool", False),
            Flag("json", None, "bool", False),
        ],
        0,
    ),
    "read": (cmd_read, [], 0),
    "cp": (cmd_cp, [], 0),
    "get": (
        cmd_get,
        [
            Flag("output", "o", "str", "table"),
            Flag("namespace"),
            Flag("watch", "w", "bool", False),
            Flag("insecure", "i", "bool", False),
        ],
        0,
    ),
    "service": (cmd_service, [], 0),
    "etcd": (cmd_etcd, [], 0),
    "image": (cmd_image, [Flag("namespace", None, "str", "cri")], 0),
    "support": (
        cmd_support,
        [Flag("output", "O", "str", ""), Flag("num-workers", "w", "str", "1"), Flag("verbose", "v", "bool", False)],
        0,
    ),
    "dmesg": (cmd_dmesg, [Flag("follow", "f", "bool", False), Flag("tail", None, "bool", False)], 0),
    "upgrade": (
        cmd_upgrade,
        [
            Flag("image", "i", "str", ""),
            Flag("reboot-mode", "m", "str", "default"),
            Flag("preserve", "p", "bool", False),
            Flag("stage", "s", "bool", False),
            Flag("force", "f", "bool", False),
            Flag("insecure", None, "bool", False),
            *WAIT,
        ],
        0,
    ),
    "reboot": (cmd_reboot, [Flag("mode", "m", "str", "default"), *WAIT], 0),
    "reset": (
        cmd_reset,
        [
            Flag("graceful", None, "bool", True),
            Flag("reboot", None, "bool", False),
            Flag("system-labels-to-wipe", None, "list", []),
            Flag("user-disks-to-wipe", None, "list", []),
            Flag("wipe-mode", None, "str", "all"),
            Flag("insecure", None, "bool", False),
            *WAIT,
        ],
        0,
    ),
    "bootstrap": (
        cmd_bootstrap,
        [Flag("recover-from", None, "str", ""), Flag("recover-skip-hash-check", None, "bool", False)],
        0,
    ),
    "kubeconfig": (
        cmd_kubeconfig,
        [
            Flag("force", "f", "bool", False),
            Flag("force-context-name", None, "str", ""),
            Flag("merge", "m", "bool", True),
        ],
        0,
    ),
    "apply-config": (
        cmd_apply_config,
        [
            Flag("file", "f", "str", ""),
            Flag("mode", "m", "str", "auto"),
            Flag("insecure", "i", "bool", False),
            Flag("dry-run", None, "bool", False),
            Flag("config-patch", "p", "array", []),
            Flag("timeout", None, "duration", 60.0),
            Flag("cert-fingerprint", None, "array", []),
        ],
        0,
    ),
    "health": (
        cmd_health,
        [
            Flag("wait-timeout", None, "duration", 1200.0),
            Flag("control-plane-nodes", None, "list", []),
            Flag("worker-nodes", None, "list", []),
            Flag("init-node", None, "str", ""),
            Flag("k8s-endpoint", None, "str", ""),
            Flag("server", None, "bool", True),
            Flag("run-e2e", None, "bool", False),
        ],
        0,
    ),
    "validate": (
        cmd_validate,
        [Flag("config", "c", "str", ""), Flag("mode", "m", "str", ""), Flag("strict", None, "bool", False)],
        0,
    ),
    "upgrade-k8s": (
        cmd_upgrade_k8s,
        [
            Flag("from", None, "str", ""),
            Flag("to", None, "str", ""),
            Flag("endpoint", None, "str", ""),
            Flag("dry-run", None, "bool", False),
            Flag("pre-pull-images", None, "bool", True),
            Flag("upgrade-kubelet", None, "bool", True),
            Flag("with-docs", None, "bool", True),
            Flag("with-examples", None, "bool", True),
            *[
                Flag(f"{x}-image", None, "str", "")
                for x in ("kubelet", "apiserver", "controller-manager", "scheduler", "proxy")
            ],
        ],
        0,
    ),
}
ALIASES = {"apply": "apply-config"}
V113_UPGRADE = [
    Flag("drain", None, "bool", True),
    Flag("drain-timeout", None, "duration", 300.0),
    Flag("no-reboot", None, "bool", False),
    Flag("progress", None, "str", "auto"),
    Flag("namespace", None, "str", "system"),
    Flag("legacy", None, "bool", False),
]


def _talosctl(inv: Invocation) -> None:
    args = inv.args
    bools = bool_names(GLOBAL, *(spec[1] for spec in COMMANDS.values()))
    word, rest = split_command(args, bools)
    if word is None:
        inv.print(
            "A CLI for out-of-band management of Kubernetes nodes created by Talos\n\nUsage:\n  talosctl [command]"
        )
        return
    name = ALIASES.get(word, word)
    if name not in COMMANDS:
        raise Fail(f'unknown command "{word}" for "talosctl"\nRun \'talosctl --help\' for usage.')
    handler, own, _ = COMMANDS[name]
    client_minor = minor(client_version(inv.read()))
    spec_list = [*GLOBAL, *own]
    if name == "upgrade" and client_minor >= 13:
        spec_list += V113_UPGRADE
    if name == "reboot" and client_minor >= 13:
        spec_list += [
            Flag("drain", None, "bool", False),
            Flag("drain-timeout", None, "duration", 300.0),
            Flag("progress", None, "str", "auto"),
        ]
    if name == "upgrade-k8s" and client_minor >= 13:
        spec_list += [
            Flag("manifests-force", None, "bool", False),
            Flag("manifests-no-prune", None, "bool", False),
            Flag("manifests-inventory-policy", None, "str", "AdoptIfNoInventory"),
            Flag("manifests-reconcile-timeout", None, "duration", 300.0),
        ]
    try:
        opts, positional = parse(rest, flags(*spec_list))
    except UsageError as exc:
        raise Fail(f"Error: {exc}\nRun 'talosctl {word} --help' for usage.") from None
    # pflag keeps both spellings; normalise the few the handlers read with underscores.
    opts["dry_run"] = opts.get("dry-run", False)
    ctx = Ctx(inv, opts, positional, name)
    try:
        handler(ctx)
    except UsageError as exc:
        raise Fail(f"Error: {exc}\nRun 'talosctl {word} --help' for usage.") from None


def main(argv: Sequence[str], stdin: str | None = None, env: Mapping[str, str] | None = None) -> tuple[int, str, str]:
    """``talosctl ARGS…`` (``argv`` without the program name) → (exit code, stdout, stderr)."""
    return run_tool("talosctl", _talosctl, argv, stdin, env)
