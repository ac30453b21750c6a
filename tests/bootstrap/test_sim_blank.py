"""The blank simulated cluster: maintenance mode → insecure apply → bootstrap → API → nodes → CNI → Flux.

Each behaviour is the real tools' (reference in the test names): talosctl maintenance mode answers
``--insecure`` only (internal/app/maintenance/server.go), a configured node refuses it with the TLS
"certificate required" error, ``bootstrap`` works once and then answers AlreadyExists
(v1alpha1_server.go ``Bootstrap``), helmfile logs its summary on stderr.
"""

from __future__ import annotations

import json

import pytest

from homeops.sim import engine, faults

CP = "10.10.0.20"
WORKER = "10.10.0.23"


def _apply_all(sim, tmp_path) -> None:
    config = tmp_path / "cp.yaml"
    config.write_text("version: v1alpha1\nmachine:\n  type: controlplane\n  install:\n    disk: /dev/sda\n")
    worker = tmp_path / "w.yaml"
    worker.write_text("version: v1alpha1\nmachine:\n  type: worker\n  install:\n    disk: /dev/sda\n")
    for node in sim.state["nodes"].values():
        f = config if node["control_plane"] else worker
        assert sim.talosctl("apply-config", "--insecure", "--nodes", node["ip"], "--file", str(f)) == (0, "", "")


def _stage(sim, ip: str, insecure: bool = True) -> tuple[int, str, str]:
    args = ["get", "machinestatus", "--nodes", ip, "-o", "json"] + (["--insecure"] if insecure else [])
    return sim.talosctl(*args)


def test_maintenance_mode_answers_insecure_only_and_refuses_other_apply_modes(blank_sim, tmp_path):
    code, out, _ = _stage(blank_sim, CP)
    assert code == 0 and json.loads(out)["spec"]["stage"] == "maintenance"
    code, _, err = _stage(blank_sim, CP, insecure=False)
    assert code == 1 and "x509: certificate signed by unknown authority" in err
    f = tmp_path / "cp.yaml"
    f.write_text("machine:\n  type: controlplane\n")
    code, _, err = blank_sim.talosctl("apply-config", "--insecure", "-n", CP, "-f", str(f), "--mode", "no-reboot")
    assert code == 1 and "apply configuration --mode='no-reboot' is not supported in maintenance mode" in err
    code, _, err = blank_sim.talosctl("apply-config", "--insecure", "-n", CP, "-f", str(f), "--dry-run")
    assert code == 0 and "Node is running in maintenance mode and does not have a config yet." in err


def test_blank_cluster_bootstraps_in_the_real_order(blank_sim, tmp_path):
    sim = blank_sim
    assert not engine.api_up(sim.state)
    _apply_all(sim, tmp_path)
    sim.advance(60)
    # configured now: mutual TLS, so --insecure is refused (home-ops matches "certificate required")
    code, _, err = _stage(sim, CP)
    assert code == 1 and "certificate required" in err
    assert sim.talosctl("bootstrap", "--nodes", CP) == (0, "", "")
    code, _, err = sim.talosctl("bootstrap", "--nodes", CP)
    # --nodes: apid proxies one-to-many, so the error names the node (talos v1.11.6 client.go:373-380)
    assert (code, err.strip()) == (
        1,
        "error executing bootstrap: 1 error occurred:\n"
        f"\t* {CP}: rpc error: code = AlreadyExists desc = etcd data directory is not empty",
    )
    assert not engine.api_up(sim.state)  # the API server needs a moment after etcd formed
    sim.advance(30)
    state = sim.state
    assert engine.api_up(state) and len(engine.etcd_members(state)) == 3
    code, out, _ = sim.kubectl("get", "nodes", "-o", "json")
    ready = {i["metadata"]["name"]: i["status"]["conditions"][0]["status"] for i in json.loads(out)["items"]}
    assert ready == {f"k8s-{i}": "False" for i in range(6)}  # NotReady until the CNI
    (sim.dir / "helmfile.yaml").write_text(
        "releases:\n"
        "  - name: coredns\n    namespace: kube-system\n    chart: coredns/coredns\n    needs: [kube-system/cilium]\n"
        "  - name: cilium\n    namespace: kube-system\n    chart: cilium/cilium\n"
        "  - name: flux-instance\n    namespace: flux-system\n    chart: oci://ghcr.io/controlplaneio-fluxcd/charts/flux-instance\n"
        "    needs: [kube-system/coredns]\n"
    )
    code, out, err = sim.run("helmfile", "--file", "helmfile.yaml", "sync", "--hide-notes")
    assert code == 0 and out == "", err
    order = [ln.split(",")[0].split("=")[1] for ln in err.splitlines() if ln.startswith("Upgrading release=")]
    assert order == ["cilium", "coredns", "flux-instance"]  # needs: first
    code, out, _ = sim.kubectl("get", "nodes", "-o", "json")
    assert {i["status"]["conditions"][0]["status"] for i in json.loads(out)["items"]} == {"True"}
    code, out, _ = sim.run("flux", "get", "kustomizations", "-A")
    assert "flux-system" in out and "\tFalse" in out  # Ready comes a little later
    sim.advance(60)
    code, out, _ = sim.run("flux", "get", "kustomizations", "-A")
    assert code == 0 and "\tTrue" in out


def test_a_release_other_than_the_cni_times_out_before_the_cni(blank_sim, tmp_path):
    sim = blank_sim
    _apply_all(sim, tmp_path)
    sim.advance(60)
    sim.talosctl("bootstrap", "--nodes", CP)
    sim.advance(60)
    (sim.dir / "helmfile.yaml").write_text(
        "helmDefaults:\n  timeout: 600\n"
        "releases:\n  - name: coredns\n    namespace: kube-system\n    chart: coredns/coredns\n"
    )
    t0 = engine.now(sim.state)
    code, out, err = sim.run("helmfile", "--file", "helmfile.yaml", "sync")
    assert code == 1 and "failed processing release coredns" in err and "context deadline exceeded" in err
    assert "FAILED RELEASES:" in err and out == ""
    assert engine.now(sim.state) - t0 >= 600  # helm waited out the release's timeout (virtual time)


def test_helm_hook_hangs_fault_names_the_release_and_uses_its_timeout(blank_sim, tmp_path):
    sim = blank_sim
    _apply_all(sim, tmp_path)
    sim.advance(60)
    sim.talosctl("bootstrap", "--nodes", CP)
    sim.advance(60)
    with sim.mutate() as state:
        faults.inject(state, "helm-hook-hangs", "cilium")
    (sim.dir / "helmfile.yaml").write_text(
        "releases:\n  - name: cilium\n    namespace: kube-system\n    chart: cilium/cilium\n    timeout: 120\n"
    )
    code, _, err = sim.run("helmfile", "--file", "helmfile.yaml", "sync")
    assert code == 1 and "failed processing release cilium" in err
    assert "INSTALLATION FAILED: post-install hooks failed" in err and "timed out waiting for the condition" in err
    assert "cilium" not in sim.state["k8s"]["helm_releases"].get("kube-system/cilium", {}).get("chart", "")


def test_node_stuck_in_maintenance_and_bootstrap_already_faults(blank_sim, tmp_path):
    sim = blank_sim
    with sim.mutate() as state:
        faults.inject(state, "node-stuck-in-maintenance", "k8s-1")
        faults.inject(state, "bootstrap-already", "k8s-0")
    _apply_all(sim, tmp_path)
    sim.advance(60)
    code, out, _ = _stage(sim, "10.10.0.21")
    assert code == 0 and json.loads(out)["spec"]["stage"] == "maintenance"  # rebooted back into maintenance
    code, _, err = sim.talosctl("bootstrap", "--nodes", CP)
    assert code == 1 and "AlreadyExists" in err
    sim.advance(300)
    assert not engine.etcd_members(sim.state) and not engine.api_up(sim.state)


def test_kubeconfig_wrong_cluster_fault_hands_out_another_clusters_kubeconfig(blank_sim, tmp_path):
    sim = blank_sim
    _apply_all(sim, tmp_path)
    sim.advance(60)
    with sim.mutate() as state:
        faults.inject(state, "kubeconfig-wrong-cluster")
    target = tmp_path / "kc"
    assert sim.talosctl("kubeconfig", str(target), "--nodes", CP, "--force", "--merge=false") == (0, "", "")
    assert "https://10.99.0.10:6443" in target.read_text()


def test_flux_not_ready_fault_keeps_the_flux_instance_unready(blank_sim, tmp_path):
    sim = blank_sim
    _apply_all(sim, tmp_path)
    sim.advance(60)
    sim.talosctl("bootstrap", "--nodes", CP)
    sim.advance(60)
    with sim.mutate() as state:
        faults.inject(state, "flux-not-ready")
    (sim.dir / "helmfile.yaml").write_text(
        "releases:\n  - name: cilium\n    namespace: kube-system\n    chart: cilium/cilium\n"
        "  - name: flux-instance\n    namespace: flux-system\n    chart: flux-instance\n"
        "    needs: [kube-system/cilium]\n"
    )
    assert sim.run("helmfile", "--file", "helmfile.yaml", "sync")[0] == 0
    sim.advance(600)
    assert sim.state["flux"]["instance"]["ready"] is False
    with sim.mutate() as state:
        faults.clear(state, "flux-not-ready")
        engine.advance(state)
        assert state["flux"]["instance"]["ready"] is True


def test_node_mode_adapter_against_the_fake(blank_sim, tmp_path):
    from homeops.adapters import talosctl as tc
    from homeops.errors import ConnectionFailed
    from homeops.sim.runner import SimRunner

    runner = SimRunner(blank_sim.dir)
    tctl = tc.Talosctl(tmp_path / "talosconfig")
    assert tc.node_mode(runner, tctl, CP) == "maintenance"
    _apply_all(blank_sim, tmp_path)
    blank_sim.advance(60)
    assert tc.node_mode(runner, tctl, CP) == "configured"  # "remote error: tls: certificate required"
    with blank_sim.mutate() as state:
        state["pve"]["hosts"]["pve1"]["vms"]["203"]["status"] = "stopped"  # k8s-3's VM
    with pytest.raises(ConnectionFailed, match=r"10\.10\.0\.23"):
        tc.node_mode(runner, tctl, WORKER)
