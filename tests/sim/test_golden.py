"""Golden outputs of every fake command homeops uses, and their shape per cli-interfaces.md.

Each case runs on a fresh, deterministic simulated example cluster (virtual clock, fixed seed), so
the bytes are stable. ``HOMEOPS_UPDATE_GOLDEN=1 pytest tests/sim/test_golden.py`` rewrites the
files; review the diff. Independently of the golden bytes, ``SHAPES`` checks every line of each
output against the format the reference documents, so a regenerated golden cannot drift from it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from homeops.sim import faults

from .simkit import Sim

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
REPO = Path(__file__).resolve().parents[2]
IMG = "factory.talos.dev/metal-installer/ce4c980550dd2ab1b17bbf2b08801c7eb59418eafe8f279833297925d67c7515"
Setup = Callable[[Sim], None]


def _none(sim: Sim) -> None:
    return None


def _talos_files(sim: Sim) -> None:
    shutil.copytree(REPO / "inventory" / "talos", sim.dir / "talos", dirs_exist_ok=True)


def _second_cp_down(sim: Sim) -> None:
    with sim.mutate() as state:
        faults.inject(state, "etcd-unhealthy", "k8s-2")


def _node_down(sim: Sim) -> None:
    with sim.mutate() as state:
        state["pve"]["hosts"]["pve2"]["vms"]["201"]["status"] = "stopped"


def _helmfile(sim: Sim) -> None:
    (sim.dir / "helmfile.yaml").write_text(
        "releases:\n  - name: cilium\n    namespace: kube-system\n    chart: cilium/cilium\n    version: 1.18.2\n"
        "  - name: coredns\n    namespace: kube-system\n    chart: coredns/coredns\n    version: 1.44.3\n"
    )


def _config(sim: Sim) -> None:
    (sim.dir / "home-k8s-3.yaml").write_text("version: v1alpha1\nmachine:\n    type: worker\n")


TC = ["--talosconfig", "talosconfig"]
CASES: dict[str, tuple[str, list[str], Setup]] = {
    "talosctl-version": ("talosctl", ["version", *TC, "--nodes", "10.10.0.20,10.10.0.21"], _none),
    "talosctl-version-client-short": ("talosctl", ["version", "--client", "--short"], _none),
    "talosctl-read-boot-id": ("talosctl", ["read", "/proc/sys/kernel/random/boot_id", "-n", "10.10.0.21"], _none),
    "talosctl-get-machinestatus-json": (
        "talosctl",
        ["get", "machinestatus", "-n", "10.10.0.20,10.10.0.23", "-o", "json"],
        _none,
    ),
    "talosctl-get-machinestatus-yaml": ("talosctl", ["get", "machinestatus", "-n", "10.10.0.20", "-o", "yaml"], _none),
    "talosctl-get-machinestatus-table": ("talosctl", ["get", "machinestatus", "-n", "10.10.0.20"], _none),
    "talosctl-get-members-json": ("talosctl", ["get", "members", "-n", "10.10.0.20", "-o", "json"], _none),
    "talosctl-get-nodename-json": ("talosctl", ["get", "nodename", "-n", "10.10.0.20", "-o", "json"], _none),
    "talosctl-get-service-json": ("talosctl", ["get", "service", "-n", "10.10.0.20", "-o", "json"], _none),
    "talosctl-get-etcdmember-json": ("talosctl", ["get", "etcdmember", "-n", "10.10.0.20", "-o", "json"], _none),
    "talosctl-get-machinetype-json": ("talosctl", ["get", "machinetype", "-n", "10.10.0.20", "-o", "json"], _none),
    "talosctl-service-etcd": ("talosctl", ["service", "etcd", "-n", "10.10.0.20"], _none),
    "talosctl-etcd-members": ("talosctl", ["etcd", "members", "-n", "10.10.0.20"], _none),
    "talosctl-etcd-status": ("talosctl", ["etcd", "status", "-n", "10.10.0.20,10.10.0.21,10.10.0.22"], _none),
    "talosctl-etcd-snapshot": ("talosctl", ["etcd", "snapshot", "db.snapshot", "-n", "10.10.0.20"], _none),
    "talosctl-etcd-alarm-list": ("talosctl", ["etcd", "alarm", "list", "-n", "10.10.0.20"], _none),
    "talosctl-upgrade-nowait": (
        "talosctl",
        ["upgrade", *TC, "--nodes", "10.10.0.23", "--image", f"{IMG}:v1.12.0", "--wait=false"],
        _none,
    ),
    "talosctl-upgrade-wait": (
        "talosctl",
        ["upgrade", "--nodes", "10.10.0.21", "--image", f"{IMG}:v1.12.0", "--wait=true", "--timeout", "20m"],
        _none,
    ),
    "talosctl-upgrade-quorum-refused": (
        "talosctl",
        ["upgrade", "--nodes", "10.10.0.21", "--image", f"{IMG}:v1.12.0", "--wait=false"],
        _second_cp_down,
    ),
    "talosctl-upgrade-wait-insecure": (
        "talosctl",
        ["upgrade", "-n", "10.10.0.21", "--image", f"{IMG}:v1.12.0", "--insecure"],
        _none,
    ),
    "talosctl-upgrade-unknown-flag": ("talosctl", ["upgrade", "-n", "10.10.0.21", "--foo"], _none),
    "talosctl-node-down": ("talosctl", ["get", "machinestatus", "-n", "10.10.0.21", "-o", "json"], _node_down),
    # helpers/resources.go ForEachResource (v1.11.6): the type is resolved on nodes[0]; it is down → nothing
    "talosctl-get-first-node-down": (
        "talosctl",
        ["get", "machinestatus", "-n", "10.10.0.21,10.10.0.20", "-o", "json"],
        _node_down,
    ),
    # a later node down: the others print, the bare gRPC error is collected, exit 1
    "talosctl-get-later-node-down": (
        "talosctl",
        ["get", "machinestatus", "-n", "10.10.0.20,10.10.0.21", "-o", "json"],
        _node_down,
    ),
    # client/reply.go FilterMessages + pkg/cli Warning: one node answered → WARNING, exit 0
    "talosctl-version-one-node-down": ("talosctl", ["version", "-n", "10.10.0.20,10.10.0.21"], _node_down),
    "talosctl-etcd-status-one-node-down": (
        "talosctl",
        ["etcd", "status", "-n", "10.10.0.20,10.10.0.21,10.10.0.22"],
        _node_down,
    ),
    # version.go prints "Server:" before connecting: a total failure still has the header
    "talosctl-version-all-down": ("talosctl", ["version", "-n", "10.10.0.21"], _node_down),
    "talosctl-reboot-wait": ("talosctl", ["reboot", "-n", "10.10.0.24", "--wait=true"], _none),
    "talosctl-apply-config-auto": (
        "talosctl",
        ["apply-config", "-n", "10.10.0.23", "--file", "home-k8s-3.yaml", "--mode", "auto"],
        _config,
    ),
    "talosctl-apply-config-dry-run": (
        "talosctl",
        ["apply-config", "-n", "10.10.0.23", "--file", "home-k8s-3.yaml", "--dry-run"],
        _config,
    ),
    "talosctl-apply-config-insecure-configured": (
        "talosctl",
        ["apply-config", "-n", "10.10.0.23", "--file", "home-k8s-3.yaml", "--insecure"],
        _config,
    ),
    "talosctl-health": ("talosctl", ["health", "-n", "10.10.0.20", "--wait-timeout", "10m"], _none),
    "talosctl-bootstrap-already": ("talosctl", ["bootstrap", "-n", "10.10.0.20"], _none),
    "talosctl-kubeconfig-stdout": ("talosctl", ["kubeconfig", "-", "--merge=false", "-n", "10.10.0.20"], _none),
    "talosctl-upgrade-k8s-dry-run": (
        "talosctl",
        ["upgrade-k8s", "-n", "10.10.0.20", "--to", "1.34.2", "--dry-run"],
        _none,
    ),
    "talhelper-genconfig": (
        "talhelper",
        [
            "genconfig",
            "--config-file",
            "talos/talconfig.yaml",
            "--out-dir",
            "talos/clusterconfig",
            "--env-file",
            "talos/talenv.yaml",
            "--offline-mode",
        ],
        _talos_files,
    ),
    "talhelper-gencommand-upgrade": (
        "talhelper",
        ["gencommand", "upgrade", "-c", "talos/talconfig.yaml", "-e", "talos/talenv.yaml", "--offline-mode"],
        _talos_files,
    ),
    "talhelper-gencommand-apply": (
        "talhelper",
        ["gencommand", "apply", "-c", "talos/talconfig.yaml", "-e", "talos/talenv.yaml", "--extra-flags", "--insecure"],
        _talos_files,
    ),
    "talhelper-gencommand-bootstrap": (
        "talhelper",
        ["gencommand", "bootstrap", "-c", "talos/talconfig.yaml", "-e", "talos/talenv.yaml"],
        _talos_files,
    ),
    "talhelper-gencommand-upgrade-k8s": (
        "talhelper",
        ["gencommand", "upgrade-k8s", "-c", "talos/talconfig.yaml", "-e", "talos/talenv.yaml"],
        _talos_files,
    ),
    "talhelper-gencommand-unknown-node": (
        "talhelper",
        ["gencommand", "upgrade", "-c", "talos/talconfig.yaml", "-e", "talos/talenv.yaml", "-n", "k8s-9"],
        _talos_files,
    ),
    "talhelper-genurl-installer-node": (
        "talhelper",
        [
            "genurl",
            "installer",
            "-c",
            "talos/talconfig.yaml",
            "-e",
            "talos/talenv.yaml",
            "-n",
            "k8s-1",
            "--offline-mode",
        ],
        _talos_files,
    ),
    "kubectl-get-nodes-json": ("kubectl", ["get", "nodes", "-o", "json"], _none),
    "kubectl-get-node-ready-jsonpath": (
        "kubectl",
        ["get", "node", "k8s-3", "-o", 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'],
        _none,
    ),
    "kubectl-get-pods-table": ("kubectl", ["get", "pods", "-A"], _none),
    "kubectl-get-deployment-jsonpath": (
        "kubectl",
        [
            "-n",
            "kube-system",
            "get",
            "deployment/nfs-subdir-external-provisioner",
            "-o",
            "jsonpath={.status.readyReplicas}",
        ],
        _none,
    ),
    "kubectl-get-kustomizations-json": (
        "kubectl",
        ["get", "kustomizations.kustomize.toolkit.fluxcd.io", "--all-namespaces", "--output", "json"],
        _none,
    ),
    "kubectl-get-replicationsources-json": (
        "kubectl",
        ["get", "replicationsources.volsync.backube", "-A", "-o", "json"],
        _none,
    ),
    "kubectl-readyz": ("kubectl", ["get", "--raw", "/readyz"], _none),
    "kubectl-wait-ready": ("kubectl", ["wait", "--for=condition=Ready", "node/k8s-3", "--timeout=300s"], _none),
    "kubectl-drain": (
        "kubectl",
        ["drain", "k8s-3", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=300s"],
        _none,
    ),
    "kubectl-drain-daemonsets": ("kubectl", ["drain", "k8s-3"], _none),
    "kubectl-cordon": ("kubectl", ["cordon", "k8s-3"], _none),
    "kubectl-uncordon-already": ("kubectl", ["uncordon", "k8s-3"], _none),
    "kubectl-unknown-flag": ("kubectl", ["get", "nodes", "--foo"], _none),
    "flux-get-kustomizations": ("flux", ["get", "kustomizations", "--all-namespaces"], _none),
    "flux-get-helmreleases": ("flux", ["get", "helmreleases", "--all-namespaces"], _none),
    "flux-reconcile-with-source": (
        "flux",
        ["reconcile", "kustomization", "cluster-apps", "--namespace", "flux-system", "--with-source"],
        _none,
    ),
    "helmfile-sync": ("helmfile", ["--file", "helmfile.yaml", "sync", "--skip-deps"], _helmfile),
    "helmfile-template": ("helmfile", ["--file", "helmfile.yaml", "template"], _helmfile),
}

# Line shapes from cli-interfaces.md (stream: regexes every non-empty line must match one of).
TAB3 = r"\S.*\S?"
SHAPES: dict[str, dict[str, list[str]]] = {
    "talosctl-version": {
        "stdout": [
            r"^(Client|Server):$",
            r"^\t(Tag|SHA|Built|Go version|OS/Arch|NODE|Enabled):\s+"
            r"\S*$",
            r"^\tBuilt:\s+$",
        ]
    },
    "talosctl-version-client-short": {"stdout": [r"^Client:$", r"^Talos v\d+\.\d+\.\d+$"]},
    "talosctl-read-boot-id": {"stdout": [r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"]},
    "talosctl-get-machinestatus-yaml": {
        "stdout": [r"^node: \S+$", r"^(metadata|spec):$", r"^    \S.*$", r"^        \S.*$", r"^            \S.*$"]
    },
    "talosctl-get-machinestatus-table": {
        "stdout": [
            r"^NODE {3,}NAMESPACE {3,}TYPE {3,}ID {3,}VERSION {3,}STAGE {3,}"
            r"READY$",
            r"^\S+ {3,}runtime {3,}MachineStatus {3,}machine {3,}",
        ]
    },
    "talosctl-service-etcd": {"stdout": [r"^(NODE|ID|STATE|HEALTH|EVENTS) {3,}\S.*$"]},
    "talosctl-etcd-members": {
        "stdout": [
            r"^NODE {3,}ID {3,}HOSTNAME {3,}PEER URLS {3,}CLIENT URLS {3,}LEARNER$",
            r"^\S+ {3,}[0-9a-f]{16} {3,}\S+ {3,}https://\S+ {3,}https://\S+ {3,}false$",
        ]
    },
    "talosctl-etcd-status": {
        "stdout": [
            r"^NODE {3,}MEMBER {3,}DB SIZE {3,}IN USE {3,}LEADER {3,}RAFT INDEX {3,}"
            r"RAFT TERM {3,}RAFT APPLIED INDEX {3,}LEARNER {3,}PROTOCOL {3,}STORAGE {3,}"
            r"ERRORS$",
            r"^\S+ {3,}[0-9a-f]{16} {3,}\d+ MB {3,}.*\(\d+\.\d\d%\) {3,}"
            r"[0-9a-f]{16} {3,}\d+ {3,}\d+ {3,}\d+ {3,}(true|false) {3,}",
        ]
    },
    "talosctl-etcd-snapshot": {
        "stdout": [
            r'^etcd snapshot saved to "db\.snapshot" \(\d+ bytes\)$',
            r"^snapshot info: hash [0-9a-f]{8}, revision \d+, total keys \d+, "
            r"total size \d+$",
        ]
    },
    "talosctl-upgrade-nowait": {
        "stdout": [
            r"^NODE {3,}ACK {3,}STARTED$",
            # upgrade.go runUpgradeNoWait: time.Now() in Go's default format, then a padded empty cell
            r"^\S+ {3,}Upgrade request received {3,}"
            r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC m=\+\d+\.\d{9} {3}$",
        ]
    },
    "talosctl-upgrade-wait": {
        "stderr": [
            r'^"10\.10\.0\.21": (waiting for actor ID|actor ID: [0-9a-f-]{36}|'
            r"task: \w+ action: START|unavailable, retrying\.\.\.|stage: \w+ ready: "
            r"(true|false) unmetCond: \[.*\]|events check condition met|"
            r"post check passed)$"
        ]
    },
    "talosctl-reboot-wait": {"stderr": [r'^"10\.10\.0\.24": .+$']},
    "talosctl-upgrade-quorum-refused": {
        "stderr": [
            r"^error performing upgrade: rpc error: code = \w+ desc = error "
            r"validating etcd for upgrade: .+$"
        ]
    },
    "talosctl-upgrade-wait-insecure": {"stderr": [r"^cannot use --wait and --insecure together$"]},
    "talosctl-upgrade-unknown-flag": {
        "stderr": [
            r"^Error: unknown flag: --foo$",
            r"^Run 'talosctl upgrade --help' "
            r"for usage\.$",
        ]
    },
    "talosctl-node-down": {
        "stderr": [
            r'^rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp '
            r'10\.10\.0\.21:50000: connect: no route to host"$',
        ]
    },
    "talosctl-get-first-node-down": {
        "stderr": [
            r'^rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp '
            r'10\.10\.0\.21:50000: connect: no route to host"$',
        ]
    },
    "talosctl-get-later-node-down": {
        "stderr": [
            r"^1 error occurred:$",
            r'^\t\* rpc error: code = Unavailable desc = connection error: desc = "transport: Error while dialing: '
            r'dial tcp 10\.10\.0\.21:50000: connect: no route to host"$',
        ]
    },
    "talosctl-version-one-node-down": {
        "stdout": [r"^(Client|Server):$", r"^\t(Tag|SHA|Built|Go version|OS/Arch|NODE|Enabled):\s+\S*$"],
        "stderr": [
            r"^WARNING: 1 error occurred:$",
            r"^\t\* 10\.10\.0\.21: rpc error: code = Unavailable desc = connection error: .*10\.10\.0\.21:50000",
        ],
    },
    "talosctl-etcd-status-one-node-down": {
        "stderr": [
            r"^WARNING: 1 error occurred:$",
            r"^\t\* 10\.10\.0\.21: rpc error: code = Unavailable desc = connection error: .*10\.10\.0\.21:50000",
        ],
    },
    "talosctl-version-all-down": {
        "stdout": [r"^(Client|Server):$", r"^\t(Tag|SHA|Built|Go version|OS/Arch):\s+\S*$"],
        "stderr": [
            r"^error getting version: 1 error occurred:$",
            r"^\t\* 10\.10\.0\.21: rpc error: code = Unavailable desc = connection error: .*10\.10\.0\.21:50000",
        ],
    },
    "talosctl-apply-config-auto": {"stderr": [r"^Applied configuration without a reboot$"]},
    "talosctl-apply-config-insecure-configured": {
        "stderr": [
            r"^error applying new configuration: rpc error: code = "
            r"Unavailable desc = .*tls: certificate required\"$"
        ]
    },
    "talosctl-health": {
        "stderr": [
            r'^discovered nodes: \[("[\d.]+" ?)+\]$',
            r"^waiting for [a-z0-9 -]+: "
            r"(\.\.\.|OK|SKIP)$",
        ]
    },
    "talosctl-bootstrap-already": {
        "stderr": [
            r"^error executing bootstrap: rpc error: code = AlreadyExists desc = "
            r"etcd data directory is not empty$"
        ]
    },
    "talosctl-upgrade-k8s-dry-run": {
        "stdout": [
            r"^(automatically detected the lowest Kubernetes version \S+|checking "
            r"for resource APIs to be deprecated in version \S+|discovered "
            r"(controlplane|worker) nodes \[.*\]|updating \S+ to version \"\S+\"|"
            r"updating manifests)$",
            r"^ [><] .+$",
        ]
    },
    "talhelper-genconfig": {
        "stdout": [
            # talhelper v3.1.16 pkg/talos/input.go:53-55 (no --secret-file, none of the defaults in the cwd)
            r"^WARNING: secrets file is not found, new secrets will be generated everytime you run this command$",
            r"^generated config for k8s-\d in talos/clusterconfig/home-k8s-\d\.yaml$",
            r"^generated client config in talos/clusterconfig/talosconfig$",
        ]
    },
    "talhelper-gencommand-upgrade": {
        "stdout": [
            r"^talosctl upgrade --talosconfig=\./clusterconfig/talosconfig "
            r"--nodes=[\d.]+ --image=\S+:v\d+\.\d+\.\d+;$"
        ]
    },
    "talhelper-gencommand-apply": {
        "stdout": [
            r"^talosctl apply-config --talosconfig=\S+ --nodes=[\d.]+ "
            r"--file=\./clusterconfig/home-k8s-\d\.yaml --insecure;$"
        ]
    },
    "talhelper-gencommand-bootstrap": {"stdout": [r"^talosctl bootstrap --talosconfig=\S+ --nodes=10\.10\.0\.20;$"]},
    "talhelper-gencommand-upgrade-k8s": {
        "stdout": [
            r"^talosctl upgrade-k8s --talosconfig=\S+ --to=v1\.34\.2 "
            r"--nodes=10\.10\.0\.20;$"
        ]
    },
    "talhelper-gencommand-unknown-node": {
        "stderr": [
            r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d node with IP or hostname "
            r"k8s-9 not found$"
        ]
    },
    "talhelper-genurl-installer-node": {"stdout": [r"^factory\.talos\.dev/metal-installer/[0-9a-f]{64}:v1\.11\.6$"]},
    "kubectl-readyz": {"stdout": [r"^ok$"]},
    "kubectl-wait-ready": {"stdout": [r"^node/k8s-3 condition met$"]},
    "kubectl-drain": {
        # kubectl pkg/drain/drain.go evictPods writes "evicting pod" to the drainer's Out (stdout).
        "stdout": [r"^node/k8s-3 (cordoned|drained)$", r"^evicting pod \S+/\S+$", r"^pod/\S+ evicted$"],
        "stderr": [r"^Warning: ignoring DaemonSet-managed Pods: \S+$"],
    },
    "kubectl-cordon": {"stdout": [r"^node/k8s-3 cordoned$"]},
    "kubectl-uncordon-already": {"stdout": [r"^node/k8s-3 already uncordoned$"]},
    "kubectl-unknown-flag": {"stderr": [r"^error: unknown flag: --foo$", r"^See 'kubectl get --help' for usage\.$"]},
    "flux-reconcile-with-source": {"stderr": [r"^(►|✔|◎) .+$"]},
    # helmfile logs everything on stderr: its own lines, helm's captured output, the summary (state.go)
    "helmfile-sync": {
        "stderr": [
            r"^Upgrading release=\S+, chart=\S+, namespace=\S+$",
            r'^Release "\S+" (does not exist\. Installing it now\.|has been upgraded\. Happy Helming!)$',
            r"^(NAME|NAMESPACE|STATUS|REVISION|TEST SUITE): \S+$",
            r"^UPDATED RELEASES:$",
            r"^NAME +NAMESPACE +CHART +VERSION +DURATION$",
            r"^\S+ +\S+ +\S+ +\S+ +\d+s$",
        ]
    },
}
JSON_STREAMS = {k for k in CASES if k.startswith("talosctl-get") and k.endswith("-json")}
JSON_DOCS = {k for k in CASES if k.startswith("kubectl-get") and k.endswith("-json")}
EXPECTED_EXIT = {
    "talosctl-upgrade-quorum-refused": 1,
    "talosctl-upgrade-wait-insecure": 1,
    "talosctl-upgrade-unknown-flag": 1,
    "talosctl-node-down": 1,
    "talosctl-get-first-node-down": 1,
    "talosctl-get-later-node-down": 1,
    "talosctl-version-all-down": 1,
    "talosctl-apply-config-insecure-configured": 1,
    "talosctl-bootstrap-already": 1,
    "talhelper-gencommand-unknown-node": 1,
    "kubectl-drain-daemonsets": 1,
    "kubectl-unknown-flag": 1,
}


def render(code: int, out: str, err: str) -> str:
    return f"exit: {code}\n--- stdout\n{out}--- stderr\n{err}"


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_output(name: str, sim: Sim):
    tool, argv, setup = CASES[name]
    setup(sim)
    code, out, err = sim.run(tool, *argv)
    assert code == EXPECTED_EXIT.get(name, 0), err
    path = GOLDEN / f"{name}.txt"
    if os.environ.get("HOMEOPS_UPDATE_GOLDEN"):
        path.write_text(render(code, out, err), encoding="utf-8")
    assert path.is_file(), f"missing golden file {path}; run with HOMEOPS_UPDATE_GOLDEN=1"
    assert render(code, out, err) == path.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_matches_the_documented_shape(name: str):
    text = (GOLDEN / f"{name}.txt").read_text(encoding="utf-8")
    _, rest = text.split("\n--- stdout\n", 1)
    out, err = rest.split("--- stderr\n", 1)
    streams = {"stdout": out, "stderr": err}
    for stream, patterns in SHAPES.get(name, {}).items():
        lines = [ln for ln in streams[stream].splitlines() if ln.strip()]
        assert lines, f"{name}: {stream} is empty"
        for line in lines:
            assert any(re.search(p, line) for p in patterns), f"{name}: {stream} line {line!r} has no documented shape"
    if name in JSON_STREAMS:
        assert out.startswith("{\n    ") and not out.startswith("[")
        decoder, pos = json.JSONDecoder(), 0
        while pos < len(out.rstrip()):
            obj, pos = decoder.raw_decode(out, pos)
            assert set(obj) == {"metadata", "node", "spec"} and isinstance(obj["metadata"]["version"], int)
            assert json.dumps(obj, indent=4, sort_keys=True) in out
            pos += 1
    if name in JSON_DOCS:
        doc = json.loads(out)
        assert doc["kind"] == "List" and doc["apiVersion"] == "v1" and out.startswith('{\n    "apiVersion"')


def test_every_golden_file_has_a_case():
    assert {p.stem for p in GOLDEN.glob("*.txt")} == set(CASES)
