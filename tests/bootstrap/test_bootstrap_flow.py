"""bootstrap.talos / bootstrap.apps / bootstrap.all on a blank simulated cluster, through the real engine.

Commands run in-process (``SimRunner``) for speed; ``test_bootstrap_cli.py`` runs the same through
the real ``inv`` and ``task`` binaries. Each fault of the bootstrap stops the run at its stage with a
one-line message naming the node or release; ``--resume`` after clearing it finishes the run, and
the simulator's command log shows every mutating command that took effect exactly once.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from homeops.clock import FakeClock
from homeops.engine.journal import Journal
from homeops.sim import faults
from homeops.sim.runner import SimRunner
from homeops.sim.store import SimStore
from tests.bootstrap.lab import BootstrapLab, blank_inventory

SECRET_VALUES = ("homeops-example-bootstrap-token-7f3a9c2e41",)
RELEASES = ("cilium", "coredns", "cert-manager", "flux-operator", "flux-instance")
STAGE_STEP = {
    "apply-config": "k8s-1:apply-insecure",
    "bootstrap": "cluster:etcd",
    "kubeconfig": "cluster:kubeconfig",
    "sync": "release:cilium",
    "flux": "cluster:flux",
}


def mutating(argv: list[str]) -> bool:
    tool, words = argv[0], argv[1:]
    if tool == "talosctl":
        return any(w in words for w in ("apply-config", "bootstrap", "kubeconfig", "upgrade", "reboot", "reset"))
    if tool == "kubectl":
        return any(w in words for w in ("apply", "create", "delete", "patch", "cordon", "drain"))
    if tool == "helmfile":
        return any(w in words for w in ("sync", "apply", "destroy"))
    return tool == "talhelper" and "genconfig" in words


class Lab(BootstrapLab):
    def log(self) -> list[dict[str, object]]:
        return self.store.log()

    def effective(self) -> Counter[str]:
        """Mutating commands that succeeded, by a short name."""
        names: Counter[str] = Counter()
        for entry in self.log():
            argv = [str(a) for a in entry["argv"]]  # type: ignore[union-attr]
            if entry["exit"] != 0 or not mutating(argv):
                continue
            if argv[0] == "helmfile":
                names[f"sync {argv[argv.index('--selector') + 1].split('=')[1]}"] += 1
            elif argv[0] == "talosctl":
                verb = next(w for w in argv[1:] if not w.startswith("-"))
                node = argv[argv.index("--nodes") + 1] if "--nodes" in argv else ""
                names[f"{verb} {node}"] += 1
            else:
                names[" ".join(a for a in argv[1:3] if not a.startswith("-"))] += 1
        return names

    def fault(self, name: str, target: str | None = None, *, clear: bool = False) -> None:
        with self.store.transaction() as state:
            if clear:
                faults.clear(state, name)
            else:
                faults.inject(state, name, target)


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Lab:
    return Lab(blank_inventory(tmp_path / "inventory", monkeypatch))


def test_all_from_maintenance_mode_to_flux_ready_then_nothing_to_do(lab: Lab):
    out = lab.run()
    assert "finished: bootstrap-all done" in out and out.startswith("[SIMULATED] Plan: bootstrap-all")
    # a progress line names the release being waited for, with its own timeout
    assert "syncing release kube-system/cilium: waiting for it (up to 900s)" in out
    assert "etcd on k8s-0" not in out or "AlreadyExists" not in out
    effective = lab.effective()
    assert all(effective[f"apply-config 10.10.0.{20 + i}"] == 1 for i in range(6))
    assert effective["bootstrap 10.10.0.20"] == 1 and effective["kubeconfig 10.10.0.20"] == 1
    assert [effective[f"sync {r}"] for r in RELEASES] == [1] * 5
    state = lab.store.read()
    assert state["flux"]["instance"]["ready"] and all(n["ready"] == "True" for n in state["k8s"]["nodes"].values())
    # the user's own kubeconfig is never written (talosctl kubeconfig --merge=false into a private file first)
    assert not (Path.home() / ".kube").exists()
    assert oct((lab.inventory / "kubeconfig").stat().st_mode & 0o777) == "0o600"
    # every kubectl/helmfile call named the inventory's kubeconfig explicitly
    kubeconfig = str(lab.inventory.resolve() / "kubeconfig")
    for entry in lab.log():
        argv = [str(a) for a in entry["argv"]]  # type: ignore[union-attr]
        if argv[0] in ("kubectl", "helmfile", "flux"):
            assert argv[argv.index("--kubeconfig") + 1] == kubeconfig, argv
    # the order of the apps stage: registered → namespaces → secrets → CRDs → releases in needs: order
    syncs = [
        str(e["argv"][2 + 2]).split("=")[1] for e in lab.log() if e["argv"][0] == "helmfile" and "sync" in e["argv"]
    ]  # type: ignore[index]
    assert syncs == list(RELEASES)

    before = len(lab.log())
    out = lab.run()
    assert "nothing to do: the cluster is already bootstrapped (talos, apps)" in out
    assert not [e for e in lab.log()[before:] if mutating([str(a) for a in e["argv"]])]  # type: ignore[union-attr]


def test_talos_then_apps_separately_and_dry_run_prints_every_command(lab: Lab):
    out = lab.run("all", dry_run=True)
    assert "dry run: nothing was changed" in out
    assert "Required once cluster:api is done: kubernetes-api" in out  # no API gate before the bootstrap
    for text in (
        "talhelper genconfig",
        "apply-config",
        "--insecure",
        "talosctl bootstrap",
        "talosctl kubeconfig",
        "kubectl --kubeconfig",
        "apply --server-side",
        "template --include-crds",
        "--selector name=flux-instance",
    ):
        assert text in out, text
    assert not [e for e in lab.log() if mutating([str(a) for a in e["argv"]])]  # type: ignore[union-attr]
    out = lab.run("talos")
    assert "Reported only (may be red, never stop the run):\n  - kubernetes-api" in out
    assert "finished: bootstrap-talos done" in out
    out = lab.run("apps")
    assert "Preflight gates (all must be green before anything changes):\n  - kubernetes-api" in out
    assert "finished: bootstrap-apps done" in out
    for which in ("talos", "apps"):
        assert f"nothing to do: the cluster is already bootstrapped ({which})" in lab.run(which)


@pytest.mark.parametrize(
    ("fault", "target", "message", "stage"),
    [
        ("node-stuck-in-maintenance", "k8s-1", "k8s-1 rebooted back into maintenance mode", "apply-config"),
        ("bootstrap-already", "k8s-0", "talosctl bootstrap on k8s-0 answered AlreadyExists", "bootstrap"),
        (
            "kubeconfig-wrong-cluster",
            None,
            "talosctl kubeconfig from k8s-0 returned another cluster's kubeconfig",
            "kubeconfig",
        ),
        (
            "helm-hook-hangs",
            "cilium",
            "(release cilium) failed (exit 1): Error: INSTALLATION FAILED: post-install hooks failed: 1 error "
            "occurred: * timed out waiting for the condition",
            "sync",
        ),
        ("flux-not-ready", None, "FluxInstance flux-system/flux not Ready", "flux"),
    ],
)
def test_each_fault_stops_at_its_stage_and_resume_finishes_each_step_once(
    lab: Lab, fault: str, target: str | None, message: str, stage: str
):
    if fault == "bootstrap-already":
        # etcd never forms, so the wait runs to readyTimeout: 120 s of virtual time (24 polls, not 120) end it the same
        config = lab.inventory / "homeops.yaml"
        config.write_text(config.read_text().replace("readyTimeout: 600", "readyTimeout: 120"))
    lab.fault(fault, target)
    error = lab.fail()
    assert message in error and "inv bootstrap.all --resume" in error
    if fault == "node-stuck-in-maintenance":  # issue 22 §3: the one node, not the whole batch of six
        assert "k8s-0" not in error and "failed on k8s-1:" in error
    journal = Journal.latest(lab.inventory / ".homeops", "bootstrap-all", FakeClock())
    assert journal is not None and journal.status == "failed"
    failed = {r.id for r in journal.steps() if r.status == "failed"}
    assert STAGE_STEP[stage] in failed
    order = [step.id for step in journal.plan().steps]
    first_failed = min(order.index(step_id) for step_id in failed)
    assert all(journal.done(step_id) for step_id in order[:first_failed])  # every stage before it finished
    if fault == "kubeconfig-wrong-cluster":
        assert "https://10.99.0.10:6443" in error and not (lab.inventory / "kubeconfig").exists()
    if fault == "bootstrap-already":
        assert "stale etcd data" in error
    done_before = lab.effective()
    lab.fault(fault, clear=True)
    out = lab.run(resume=True)
    assert "finished: bootstrap-all done" in out
    effective = lab.effective()
    # exactly once each: the step that failed was repeated only where its first attempt took no effect
    # (the refused fetch of the other cluster's kubeconfig was run, but nothing of it was kept)
    fetches = 2 if fault == "kubeconfig-wrong-cluster" else 1
    assert effective["bootstrap 10.10.0.20"] == 1 and effective["kubeconfig 10.10.0.20"] == fetches
    assert [effective[f"sync {r}"] for r in RELEASES] == [1] * 5
    expected_applies = {f"apply-config 10.10.0.{20 + i}": 1 for i in range(6)}
    if fault == "node-stuck-in-maintenance":
        expected_applies["apply-config 10.10.0.21"] = 2  # accepted, but the node came back unconfigured
    assert {k: v for k, v in effective.items() if k.startswith("apply-config")} == expected_applies
    # nothing that had succeeded before the fault ran again
    for name, count in done_before.items():
        if name.startswith(("sync", "bootstrap", "kubeconfig")) and not name.startswith(stage):
            assert effective[name] == count, name
    assert lab.store.read()["flux"]["instance"]["ready"]


def test_a_kubeconfig_of_another_cluster_refuses_the_run_before_anything_changes(lab: Lab):
    (lab.inventory / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: https://10.20.0.10:6443\n"
        "contexts:\n- name: admin@lab\n  context:\n    cluster: lab\ncurrent-context: admin@lab\n"
    )
    error = lab.fail()
    assert "kubeconfig: points at https://10.20.0.10:6443" in error and "cluster home" in error
    assert not lab.log()


def test_bad_input_is_refused_before_anything_changes(lab: Lab):
    (lab.inventory / "bootstrap" / "values" / "flux-instance.yaml").unlink()
    assert "release flux-instance: values file ./values/flux-instance.yaml not found" in lab.fail()
    (lab.inventory / "bootstrap" / "helmfile.yaml").unlink()
    assert "bootstrap/helmfile.yaml: bootstrap helmfile not found" in lab.fail()
    # helmfile was asked what the helmfile means (`helmfile build`, read-only); nothing was changed
    assert not [e for e in lab.log() if mutating([str(a) for a in e["argv"]])]  # type: ignore[union-attr]


def test_a_repository_repo_validate_rejects_is_refused_unless_skip_validate(lab: Lab):
    broken = lab.inventory / "kubernetes" / "apps" / "default" / "kustomization.yaml"
    broken.write_text(broken.read_text() + "resources: [\n")  # unclosed flow sequence: Flux cannot parse it
    error = lab.fail("apps")
    assert error.startswith("repo.validate: ") and "kubernetes/apps/default/kustomization.yaml" in error
    assert "--skip-validate" in error
    assert not lab.log()
    lab.run("talos", skip_validate=False)  # the Talos stage does not deploy the repository: not checked
    lab.run("apps", skip_validate=True)
    assert lab.effective()["sync flux-instance"] == 1


def test_a_node_answering_neither_way_is_refused_naming_it(lab: Lab):
    with lab.store.transaction() as state:
        state["pve"]["hosts"]["pve2"]["vms"]["204"]["status"] = "stopped"
    error = lab.fail()
    assert (
        error.startswith("error: ") is False
        and "k8s-4 (10.10.0.24) answers neither in maintenance mode nor with a config" in error
    )
    assert not [e for e in lab.log() if mutating([str(a) for a in e["argv"]])]  # type: ignore[union-attr]


def test_no_plaintext_secret_on_disk_or_in_any_output(lab: Lab, capsys, monkeypatch, tmp_path: Path):
    from homeops.sops import tempfiles

    private = tmp_path / "private"
    private.mkdir()
    used: list[str] = []
    monkeypatch.setattr(tempfiles, "private_base", lambda: used.append("x") or str(private))  # genconfig's talsecret
    out = lab.run()
    assert used and not list(private.iterdir())  # it was used, and the private plaintext file is gone
    texts = [out, capsys.readouterr().out]
    for path in lab.inventory.rglob("*"):
        if path.is_file():
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
    for value in SECRET_VALUES:
        assert not [t for t in texts if value in t]


def test_recover_from_a_snapshot_is_the_etcd_step_of_a_rebuild(lab: Lab, tmp_path: Path):
    from homeops.inventory.loader import load_inventory
    from homeops.sim.state import initial_state

    # an etcd snapshot of the cluster as it was (taken from a running simulated copy of it)
    before = tmp_path / "before"
    SimStore(before).create(initial_state(load_inventory(lab.inventory)))
    snapshot = tmp_path / "db.snapshot"
    taken = SimRunner(before).run(["talosctl", "etcd", "snapshot", str(snapshot), "--nodes", "10.10.0.20"])
    assert taken.ok, taken.stderr
    out = lab.run("talos", dry_run=True, recover_from=snapshot)
    assert f"--recover-from {snapshot}" in out and "bootstrap etcd on k8s-0, restoring the snapshot" in out
    lab.run("talos", recover_from=snapshot)
    [argv] = [
        e["argv"] for e in lab.log() if e["argv"][0] == "talosctl" and "bootstrap" in e["argv"] and e["exit"] == 0
    ]
    assert argv[-2:] == ["--recover-from", str(snapshot)]
    assert lab.store.read()["etcd"]["revision"] == SimStore(before).read()["etcd"]["revision"]


def test_kubeconfig_fetch_is_retried_while_talosctl_cannot_copy_it_yet(lab: Lab):
    with lab.store.transaction() as state:
        faults.inject(state, "command-fails", None, params={"tool": "talosctl", "subcommand": "kubeconfig"}, times=2)
    out = lab.run("talos")
    assert out.count("talosctl kubeconfig from k8s-0: not yet") == 2 and "finished: bootstrap-talos done" in out
