"""The fake kubectl, flux and helmfile against the simulated cluster."""

from __future__ import annotations

import json
from collections.abc import Callable

from homeops.sim import faults

from .simkit import Sim

API_DOWN = "Unable to connect to the server: dial tcp 10.10.0.10:6443: connect: no route to host\n"


def test_get_nodes_json_is_a_v1_list_with_4_space_indent(sim: Sim):
    code, out, err = sim.kubectl("get", "nodes", "-o", "json")
    assert (code, err) == (0, "")
    doc = json.loads(out)
    assert (doc["kind"], doc["apiVersion"]) == ("List", "v1") and len(doc["items"]) == 6
    assert out.startswith('{\n    "apiVersion": "v1",\n    "items": [')
    node = doc["items"][0]
    assert node["status"]["conditions"][0] == {**node["status"]["conditions"][0], "type": "Ready", "status": "True"}
    assert node["status"]["nodeInfo"]["kubeletVersion"] == "v1.34.2"


def test_get_single_object_and_not_found(sim: Sim):
    code, out, _ = sim.kubectl("get", "node", "k8s-3", "-o", "json")
    assert code == 0 and json.loads(out)["kind"] == "Node"
    assert sim.kubectl("get", "node/k8s-9", "-o", "json") == (
        1,
        "",
        'Error from server (NotFound): nodes "k8s-9" not found\n',
    )
    assert sim.kubectl("get", "cephcluster", "-A") == (
        1,
        "",
        'error: the server doesn\'t have a resource type "cephcluster"\n',
    )


def test_jsonpath_filters_ranges_and_omitted_zero_fields(sim: Sim):
    ready = '{.status.conditions[?(@.type=="Ready")].status}'
    assert sim.kubectl("get", "node", "k8s-3", "-o", f"jsonpath={ready}") == (0, "True", "")
    _, out, _ = sim.kubectl("get", "nodes", "-o", 'jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}')
    assert out.splitlines() == [f"k8s-{i}" for i in range(6)]
    args = [
        "-n",
        "kube-system",
        "get",
        "deployment/nfs-subdir-external-provisioner",
        "-o",
        "jsonpath={.status.readyReplicas}",
    ]
    assert sim.kubectl(*args) == (0, "1", "")
    with sim.mutate() as state:
        for pod in state["k8s"]["pods"]:
            if pod["owner"] == "Deployment/nfs-subdir-external-provisioner":
                pod["node"] = "k8s-3"
                state["k8s"]["nodes"]["k8s-3"]["ready"] = "False"
    assert sim.kubectl(*args) == (0, "", "")  # readyReplicas 0 is omitted by the API server


def test_tables_and_all_namespaces(sim: Sim):
    _, out, _ = sim.kubectl("get", "nodes")
    assert out.splitlines()[0].split() == ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
    assert out.splitlines()[1].split()[:3] == ["k8s-0", "Ready", "control-plane"]
    _, out, _ = sim.kubectl("get", "pods", "-A")
    assert out.splitlines()[0].split()[:2] == ["NAMESPACE", "NAME"]
    assert sim.kubectl("get", "pods", "-n", "nothing-here") == (
        0,
        "",
        "No resources found in nothing-here namespace.\n",
    )


def test_readyz_raw(sim: Sim):
    assert sim.kubectl("get", "--raw", "/readyz") == (0, "ok", "")


def test_wait_condition_met_and_timeout(sim: Sim):
    assert sim.kubectl("wait", "--for=condition=Ready", "node/k8s-3", "--timeout=300s") == (
        0,
        "node/k8s-3 condition met\n",
        "",
    )
    sim.talosctl("reboot", "-n", "10.10.0.23", "--wait=false")
    assert sim.kubectl("wait", "--for=condition=Ready", "node/k8s-3", "--timeout=300s")[0] == 0
    with sim.mutate() as state:
        faults.inject(state, "node-never-returns", "k8s-4")
    sim.talosctl("reboot", "-n", "10.10.0.24", "--wait=false")
    assert sim.kubectl("wait", "--for=condition=Ready", "node/k8s-4", "--timeout=60s") == (
        1,
        "",
        "error: timed out waiting for the condition on nodes/k8s-4\n",
    )


def test_wait_jsonpath(sim: Sim):
    code, out, _ = sim.kubectl(
        "wait",
        "-n",
        "kube-system",
        "--for=jsonpath={.status.readyReplicas}=1",
        "deployment/nfs-subdir-external-provisioner",
        "--timeout=10s",
    )
    assert (code, out) == (0, "deployment/nfs-subdir-external-provisioner condition met\n")


def test_cordon_uncordon_and_drain(sim: Sim):
    assert sim.kubectl("cordon", "k8s-3") == (0, "node/k8s-3 cordoned\n", "")
    assert sim.kubectl("cordon", "k8s-3") == (0, "node/k8s-3 already cordoned\n", "")
    assert sim.kubectl("uncordon", "k8s-3") == (0, "node/k8s-3 uncordoned\n", "")
    assert sim.kubectl("uncordon", "k8s-3") == (0, "node/k8s-3 already uncordoned\n", "")
    code, _, err = sim.kubectl("drain", "k8s-3")
    assert code == 1 and "cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore)" in err
    code, out, err = sim.kubectl("drain", "k8s-3", "--ignore-daemonsets", "--delete-emptydir-data")
    assert code == 0
    assert out.splitlines()[0] == "node/k8s-3 already cordoned" and out.splitlines()[-1] == "node/k8s-3 drained"
    assert err.startswith("Warning: ignoring DaemonSet-managed Pods: kube-system/cilium-")
    assert "evicting pod " in out and "evicting pod " not in err  # kubectl pkg/drain/drain.go: drainer Out
    pods = sim.state["k8s"]["pods"]
    assert [p for p in pods if p["node"] == "k8s-3" and not p["owner"].startswith("DaemonSet/")] == []
    nfs = next(d for d in sim.state["k8s"]["deployments"] if d["name"] == "nfs-subdir-external-provisioner")
    assert nfs["ready_replicas"] == 1  # rescheduled on another worker


def test_apply_server_side(sim: Sim):
    manifest = (
        "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: flux-system\n---\n"
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n"
        "  name: kustomizations.kustomize.toolkit.fluxcd.io\n"
    )
    assert sim.run("kubectl", "apply", "--server-side", "-f", "-", stdin=manifest) == (
        0,
        "namespace/flux-system serverside-applied\ncustomresourcedefinition.apiextensions.k8s.io/"
        "kustomizations.kustomize.toolkit.fluxcd.io serverside-applied\n",
        "",
    )
    assert sim.kubectl("apply", "-f", "/nonexistent.yaml") == (
        1,
        "",
        'error: the path "/nonexistent.yaml" does not exist\n',
    )


def test_ceph_via_cephcluster_and_toolbox(make_sim: Callable[..., Sim]):
    sim = make_sim(ceph=True)
    health = ["-n", "rook-ceph", "get", "cephcluster", "rook-ceph", "-o", "jsonpath={.status.ceph.health}"]
    assert sim.kubectl(*health) == (0, "HEALTH_OK", "")
    assert sim.kubectl("-n", "rook-ceph", "exec", "deploy/rook-ceph-tools", "--", "ceph", "health") == (
        0,
        "HEALTH_OK\n",
        "",
    )


def test_unknown_flag(sim: Sim):
    assert sim.kubectl("get", "nodes", "--bogus") == (
        1,
        "",
        "error: unknown flag: --bogus\nSee 'kubectl get --help' for usage.\n",
    )


def test_api_unreachable_fault_fails_kubectl_flux_helmfile_like_the_real_ones(sim: Sim):
    (sim.dir / "helmfile.yaml").write_text(
        "releases:\n  - name: cilium\n    namespace: kube-system\n    chart: cilium/cilium\n    version: 1.18.2\n"
    )
    with sim.mutate() as state:
        faults.inject(state, "api-unreachable", params={"seconds": 120})
    assert sim.kubectl("get", "nodes", "-o", "json") == (1, "", API_DOWN)
    assert sim.kubectl("get", "--raw", "/readyz") == (1, "", API_DOWN)
    code, _, err = sim.run("flux", "get", "kustomizations", "-A")
    assert code == 1 and err.startswith('✗ Get "https://10.10.0.10:6443/api?timeout=32s": dial tcp')
    code, out, err = sim.run("helmfile", "--file", "helmfile.yaml", "sync")
    # the summary is logged on stderr like everything else helmfile says (cmd/root.go: zap on os.Stderr)
    assert code == 1 and "Kubernetes cluster unreachable" in err and "FAILED RELEASES:" in err and out == ""
    # a wait that outlasts the outage succeeds
    assert sim.kubectl("wait", "--for=condition=Ready", "node/k8s-0", "--timeout=300s")[0] == 1  # API still down now
    sim.advance(121)
    assert sim.kubectl("get", "--raw", "/readyz") == (0, "ok", "")


def test_flux_get_and_reconcile(sim: Sim):
    code, out, err = sim.run("flux", "get", "kustomizations", "-A")
    assert (code, err) == (0, "")
    rows = [[c.strip() for c in ln.split("\t")] for ln in out.splitlines()]
    assert rows[0][:6] == ["NAMESPACE", "NAME", "REVISION", "SUSPENDED", "READY", "MESSAGE"]
    assert rows[1][1] == "flux-system" and rows[1][3:5] == ["False", "True"]
    code, _, err = sim.run("flux", "reconcile", "kustomization", "cluster-apps", "--with-source")
    assert code == 0
    assert err.splitlines()[0] == "► annotating GitRepository flux-system in flux-system namespace"
    assert err.splitlines()[-1].startswith("✔ applied revision main@sha1:")
    # flux2 v2.7.5 cmd/flux/reconcile.go:100-103: the API's NotFound names the resource plural and group
    assert sim.run("flux", "reconcile", "kustomization", "nope") == (
        1,
        "",
        '✗ kustomizations.kustomize.toolkit.fluxcd.io "nope" not found\n',
    )
    assert (
        sim.run("flux", "get", "helmreleases", "-n", "kube-system")[1].splitlines()[0].split("\t")[0].strip() == "NAME"
    )
    assert sim.run("flux", "get", "kustomizations", "--bogus") == (1, "", "✗ unknown flag: --bogus\n")
    # flux2 v2.7.0: --with-source is registered on kustomization, helmrelease and source chart only
    assert sim.run("flux", "reconcile", "source", "git", "flux-system", "--with-source") == (
        1,
        "",
        "✗ unknown flag: --with-source\n",
    )


def test_helmfile_sync_and_template(sim: Sim):
    (sim.dir / "helmfile.yaml").write_text(
        "---\nreleases:\n  - name: cilium\n    namespace: kube-system\n    chart: cilium/cilium\n    version: 1.18.2\n"
        "  - name: coredns\n    namespace: kube-system\n    chart: coredns/coredns\n    version: 1.44.3\n"
    )
    code, out, err = sim.run("helmfile", "--file", "helmfile.yaml", "sync", "--skip-deps")
    assert code == 0 and "Upgrading release=cilium, chart=cilium/cilium" in err
    assert out == ""  # helmfile logs the summary on stderr (cmd/root.go: zap logger on os.Stderr)
    summary = err[err.index("UPDATED RELEASES:") :].splitlines()
    assert summary[1].split() == ["NAME", "NAMESPACE", "CHART", "VERSION", "DURATION"]
    assert summary[2].split() == ["cilium", "kube-system", "cilium/cilium", "1.18.2", "2s"]
    code, out, _ = sim.run("helmfile", "--file", "helmfile.yaml", "--selector", "name=coredns", "template")
    assert code == 0 and out.startswith("---\n# Source: coredns/templates/") and "name: cilium" not in out
    code, _, err = sim.run("helmfile", "--file", "missing.yaml", "sync")
    assert code == 1 and err.startswith("err: no state file found")


def test_helmfile_build_prints_each_files_own_repositories(sim: Sim):
    """``helmfile build`` (helmfile v1.1.7 ``pkg/app/app.go`` ``PrintState``): one document per state file,
    with the ``repositories`` it declares or inherits through ``bases:``, and its rendered releases."""
    (sim.dir / "hf").mkdir()
    (sim.dir / "repos.yaml").write_text("repositories:\n  - name: cilium\n    url: https://helm.cilium.io\n")
    (sim.dir / "hf" / "a.yaml").write_text(
        "bases: [../repos.yaml]\n---\n"
        "releases:\n  - name: cilium\n    namespace: kube-system\n    chart: cilium/cilium\n"
    )
    (sim.dir / "hf" / "b.yaml.gotmpl").write_text(
        "repositories:\n  - name: jetstack\n    url: https://charts.jetstack.io\n"
        'releases:\n  - name: {{ "cert-manager" }}\n    namespace: cert-manager\n    chart: jetstack/cert-manager\n'
    )
    code, out, err = sim.run("helmfile", "--file", "hf", "build")
    assert (code, err) == (0, "")
    docs = out.split("---\n")[1:]
    assert [d.splitlines()[0] for d in docs] == [
        f"#  Source: {sim.dir / 'hf' / n}" for n in ("a.yaml", "b.yaml.gotmpl")
    ]
    assert "repositories:\n- name: cilium\n  url: https://helm.cilium.io\nreleases:\n- name: cilium\n" in docs[0]
    assert "jetstack" not in docs[0] and "cilium" not in docs[1]
    assert (
        "repositories:\n- name: jetstack\n  url: https://charts.jetstack.io\nreleases:\n- name: cert-manager\n"
        in docs[1]
    )
