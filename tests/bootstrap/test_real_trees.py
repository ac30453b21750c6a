"""Issue 18: bootstrap the repositories users have — the two visible real home-ops trees, CRDs helmfile,
force-conflicts, secrets where they belong — on a blank simulated cluster.

Sources checked (helmfile/helmfile v1.1.7 and v1.7.4): ``pkg/app/app.go`` ``PrintState`` (``build``: one
``---``/``#  Source:`` document per state file) and ``ListReleases``; ``pkg/state/state_exec_tmpl.go``
``ExecuteTemplates``/``applyDefaultInherit`` (``defaultInherit`` exists from v1.5.2); ``pkg/state/state.go``
``reformat`` (a bare ``needs:`` name gets the release's own namespace) and ``RenderValuesFileToBytes`` (a
values ``.gotmpl`` reads files relative to its own folder, ``state.go:4675``); ``pkg/tmpl/context_funcs.go``
``ReadFile`` (relative to the state file's folder), ``ToYaml`` (keeps the final newline), ``RequiredEnv``.
kubectl ``pkg/cmd/util/helpers.go`` ``CheckDiffErr`` (diff errors exit 2). helm ``pkg/action/validate.go``
``existingResourceConflict`` ("invalid ownership metadata").
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

import homeops.app.backend
import homeops.runtime
from bootstrap.realtrees import RENDERED, lay
from homeops.app.workflows import run_bootstrap
from homeops.errors import HomeopsError
from homeops.sim.runner import SimRunner
from tests.bootstrap.lab import BootstrapLab, blank_inventory

REPOS = ("bjw-s-labs__home-ops", "buroa__k8s-gitops")


class Lab(BootstrapLab):
    def run(self, which: str = "all", **kw: object) -> str:
        kw.setdefault("skip_validate", True)
        return super().run(which, **kw)

    def syncs(self) -> Counter[str]:
        out: Counter[str] = Counter()
        for entry in self.store.log():
            argv = [str(a) for a in entry["argv"]]  # type: ignore[union-attr]
            if argv[0] == "helmfile" and "sync" in argv and entry["exit"] == 0:
                out[argv[argv.index("--selector") + 1].split("=")[1]] += 1
        return out


@pytest.fixture
def make_lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def make(repo: str | None = None) -> Lab:
        prepare = (lambda root: lay(repo, root)) if repo else None
        return Lab(blank_inventory(tmp_path / "inventory", monkeypatch, prepare))

    return make


def _expected_chain(lab: Lab, repo: str) -> list[tuple[str, str, str]]:
    """(namespace/name, chart url, tag) of each apps.yaml release in needs: order, read from the app's own
    ocirepository.yaml — what the templates say, computed here from the files, not copied from them."""
    boot = "kubernetes/bootstrap" if repo.startswith("bjw") else "bootstrap"
    apps = yaml.safe_load((lab.inventory / boot / "helmfile" / "apps.yaml").read_text())["releases"]
    out = []
    for release in apps:  # both files list the chain in needs: order already; the test checks the needs too
        if release.get("needs"):
            assert release["needs"][0] == out[-1][0]
        oci = yaml.safe_load(
            (
                lab.inventory
                / "kubernetes"
                / "apps"
                / release["namespace"]
                / release["name"]
                / "app"
                / "ocirepository.yaml"
            ).read_text()
        )
        out.append((f"{release['namespace']}/{release['name']}", oci["spec"]["url"], str(oci["spec"]["ref"]["tag"])))
    return out


@pytest.mark.parametrize("repo", REPOS)
def test_a_real_tree_plans_in_needs_order_with_charts_from_ocirepository_and_runs_end_to_end(make_lab, repo: str):
    lab = make_lab(repo)
    plan = lab.run(dry_run=True)
    chain = _expected_chain(lab, repo)
    shown = re.findall(r"helmfile sync of (\S+) \((\S+) (\S+)\)", plan)
    assert shown == chain
    assert "apply the CRDs of" in plan and "crds.yaml (server-side, CRDs only)" in plan
    assert plan.count("--force-conflicts") >= 3  # namespaces, secrets, CRDs
    assert "Secret external-secrets/" in plan and "piped through sed, in memory" in plan
    assert not lab.syncs()
    lab.run()
    assert lab.syncs() == Counter({name.split("/")[1]: 1 for name, _, _ in chain})
    state = lab.store.read()
    assert state["flux"]["instance"]["ready"]
    applied = state["k8s"]["applied"]
    crds = [k for k in applied if k.startswith("customresourcedefinition")]
    assert any("servicemonitors.monitoring.coreos.com" in k for k in crds)  # from the crds helmfile
    assert not any("cert-manager.io" in k for k in crds)  # never a CRD an apps release owns
    secrets = [k for k in applied if k.startswith("secret/external-secrets/")]
    assert secrets and all("data" not in applied[k] for k in secrets)
    # the rendered values (the op:// references resolved) never reached a file
    for path in lab.inventory.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".json", ".md", ".jsonl", ".log"):
            assert RENDERED not in path.read_text(errors="replace"), path
    assert "nothing to do" in lab.run()


def test_a_crd_pre_applied_from_a_release_the_apps_helmfile_installs_is_refused_naming_both(make_lab):
    lab = make_lab("bjw-s-labs__home-ops")
    crds = lab.inventory / "kubernetes" / "bootstrap" / "helmfile" / "crds.yaml"
    crds.write_text(crds.read_text() + "\n  - name: cert-manager\n    namespace: cert-manager\n")
    error = lab.fail()
    assert "crds.yaml: release cert-manager/cert-manager pre-applies the CRDs of chart" in error
    assert "apps.yaml installs as release cert-manager/cert-manager" in error and "ownership" in error
    assert not [e for e in lab.store.log() if e["argv"][0] != "helmfile" or "build" not in e["argv"]]


def test_the_sim_helm_refuses_to_install_over_crds_kubectl_applied(make_lab):
    lab = make_lab()
    lab.run("talos")
    with lab.store.transaction() as state:
        state["k8s"]["applied"]["customresourcedefinition.apiextensions.k8s.io//certificates.cert-manager.io"] = {
            "kind": "CustomResourceDefinition"
        }
    error = lab.fail("apps")
    assert "release cert-manager" in error and "invalid ownership metadata" in error


def test_required_env_missing_is_one_line_naming_it_and_bootstrap_env_provides_it(make_lab):
    lab = make_lab()
    helmfile = lab.inventory / "bootstrap" / "helmfile.yaml"
    helmfile.write_text(helmfile.read_text().replace("version: 1.44.3", "version: '{{ requiredEnv \"CLUSTER\" }}'"))
    error = lab.fail(dry_run=True)
    assert "environment variable CLUSTER (requiredEnv)" in error and "bootstrap.env" in error
    text = (lab.inventory / "homeops.yaml").read_text()
    (lab.inventory / "homeops.yaml").write_text(
        text.replace("\nbootstrap:\n", "\nbootstrap:\n  env: {CLUSTER: 1.44.3}\n")
    )
    assert "helmfile sync of kube-system/coredns (coredns/coredns 1.44.3)" in lab.run(dry_run=True)


def test_a_helmfile_d_folder_is_synced_part_by_part(make_lab):
    lab = make_lab()
    boot = lab.inventory / "bootstrap"
    spec = yaml.safe_load((boot / "helmfile.yaml").read_text())
    (boot / "helmfile.d").mkdir()
    first = {**spec, "releases": spec["releases"][:2]}
    second = {**spec, "releases": spec["releases"][2:]}
    for part in (first, second):
        for release in part["releases"]:
            release["values"] = [f"../values/{Path(v).name}" for v in release.get("values", [])]
    (boot / "helmfile.d" / "00-core.yaml").write_text(yaml.safe_dump(first))
    second["releases"][0]["needs"] = []  # helmfile.d parts are separate states: needs do not cross them
    (boot / "helmfile.d" / "01-apps.yaml").write_text(yaml.safe_dump(second))
    (boot / "helmfile.yaml").unlink()
    text = (lab.inventory / "homeops.yaml").read_text()
    (lab.inventory / "homeops.yaml").write_text(
        text.replace("helmfile: bootstrap/helmfile.yaml", "helmfile: bootstrap/helmfile.d")
    )
    plan = lab.run(dry_run=True)
    assert plan.index("of kube-system/cilium") < plan.index("of kube-system/coredns") < plan.index("cert-manager/")
    assert "helmfile.d/01-apps.yaml --selector name=flux-instance" in plan
    lab.run()
    assert sum(lab.syncs().values()) == 5


def test_a_secret_without_namespace_goes_to_flux_system_and_its_namespace_is_created_first(make_lab):
    lab = make_lab()
    plain = lab.inventory / "bootstrap" / "deploy-key.yaml"
    plain.write_text("apiVersion: v1\nkind: Secret\nmetadata:\n  name: deploy-key\nstringData:\n  k: v\n")
    other = lab.inventory / "bootstrap" / "store.yaml"
    other.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: store\n  namespace: external-secrets\nstringData:\n  t: x\n"
    )
    text = (lab.inventory / "homeops.yaml").read_text()
    text = text.replace(
        "    - bootstrap/cluster-secrets.sops.yaml\n",
        "    - bootstrap/cluster-secrets.sops.yaml\n    - bootstrap/deploy-key.yaml\n    - bootstrap/store.yaml\n",
    )
    (lab.inventory / "homeops.yaml").write_text(text)
    lab.run("talos")
    plan = lab.run("apps", dry_run=True)  # the plan itself diffs into a namespace that does not exist yet
    assert "apply Secret flux-system/deploy-key from bootstrap/deploy-key.yaml" in plan
    assert re.search(r"create namespaces [^\n]*external-secrets", plan)
    assert plan.index("create namespaces") < plan.index("Secret external-secrets/store")
    lab.run("apps")
    applied = lab.store.read()["k8s"]["applied"]
    assert "secret/flux-system/deploy-key" in applied and "secret/default/deploy-key" not in applied
    assert "secret/external-secrets/store" in applied


def test_sim_kubectl_diff_and_apply_into_a_missing_namespace_fail_as_kubectl_does(make_lab):
    lab = make_lab()
    lab.run("talos")
    env = {"HOMEOPS_SIM_DIR": str(lab.store.directory)} if hasattr(lab.store, "directory") else {}
    runner = SimRunner(lab.inventory / ".homeops" / "sim", env=env)
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: nowhere\n"
    kubeconfig = str(lab.inventory / "kubeconfig")
    diff = runner.run(["kubectl", "--kubeconfig", kubeconfig, "diff", "--server-side", "-f", "-"], stdin=secret)
    assert diff.exit_code == 2 and 'namespaces "nowhere" not found' in diff.stderr
    apply = runner.run(["kubectl", "--kubeconfig", kubeconfig, "apply", "--server-side", "-f", "-"], stdin=secret)
    assert apply.exit_code == 1 and 'Error from server (NotFound): namespaces "nowhere" not found' in apply.stderr


def test_the_sops_age_secret_flux_decrypts_with_must_be_among_the_bootstrap_secrets(make_lab):
    lab = make_lab()
    ks = lab.inventory / "kubernetes" / "flux" / "cluster" / "ks.yaml"
    ks.parent.mkdir(parents=True, exist_ok=True)
    ks.write_text(
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n  name: cluster-apps\n"
        "  namespace: flux-system\nspec:\n  decryption:\n    provider: sops\n    secretRef:\n      name: sops-age\n"
    )
    assert "Flux Ready" in lab.run(dry_run=True)  # the example applies bootstrap/sops-age.sops.yaml
    text = (lab.inventory / "homeops.yaml").read_text()
    (lab.inventory / "homeops.yaml").write_text(text.replace("    - bootstrap/sops-age.sops.yaml\n", ""))
    error = lab.fail(dry_run=True)
    assert "ks.yaml: a Flux Kustomization decrypts with Secret flux-system/sops-age" in error


def test_a_flux_instance_not_ready_is_retried_until_the_deadline(make_lab):
    lab = make_lab()
    lab.run("talos")
    with lab.store.transaction() as state:
        from homeops.sim import faults

        faults.inject(state, "flux-not-ready", None)
    # Ready=False (a failure flux-operator retries): not final — the step waits, and ends at its deadline
    text = (lab.inventory / "homeops.yaml").read_text()
    (lab.inventory / "homeops.yaml").write_text(text.replace("fluxTimeout: 600", "fluxTimeout: 120"))
    error = lab.fail("apps")
    assert "Flux" in error and ("120" in error or "timed out" in error.lower() or "deadline" in error.lower())
    log = lab.output
    assert "retried until the deadline" in log


def test_a_release_left_pending_install_is_uninstalled_as_helm_advises_then_installed_once(make_lab):
    """helm pkg/action/upgrade.go errPending: a locked release refuses every upgrade until recovered."""
    lab = make_lab()
    lab.run("talos")
    with lab.store.transaction() as state:  # what a helm killed mid-install leaves (sim: before it is deployed)
        state["k8s"].setdefault("helm_releases", {})["kube-system/cilium"] = {
            "chart": "cilium/cilium", "version": "1.18.2", "revision": 1, "status": "pending-install", "deployed": 0
        }  # fmt: skip
    runner = SimRunner(lab.inventory / ".homeops" / "sim")
    kubeconfig = str(lab.inventory / "kubeconfig")
    direct = runner.run(["helmfile", "--file", str(lab.inventory / "bootstrap" / "helmfile.yaml"), "--selector",
                         "name=cilium", "--kubeconfig", kubeconfig, "sync"])  # fmt: skip
    assert direct.exit_code == 1 and "another operation (install/upgrade/rollback) is in progress" in direct.stderr
    out = lab.run("apps")
    assert "release kube-system/cilium was left pending-install by an interrupted helm: helm uninstall it" in out
    assert lab.syncs()["cilium"] == 1
    journal = next((lab.inventory / ".homeops" / "runs").glob("*bootstrap-apps/journal.json")).read_text()
    assert "pending-install: helm uninstall" in journal


def test_a_release_a_surviving_helmfile_deploys_after_the_look_is_not_synced_again(make_lab, monkeypatch):
    """helmfile runs in its own session and outlives a kill of homeops. If it finishes the install between
    the step's look (not deployed) and the lock check before sending (no longer pending), the release is
    deployed at a newer revision than the look saw: sending the sync again would install it a second time."""
    from homeops.operations.bootstrap import BootstrapWorld

    lab = make_lab()
    lab.run("talos")
    runner = SimRunner(lab.inventory / ".homeops" / "sim")
    kubeconfig = str(lab.inventory / "kubeconfig")
    real_lock = BootstrapWorld.release_lock
    finished: list[str] = []

    def release_lock(world: BootstrapWorld, release):  # type: ignore[no-untyped-def]
        if release.name == "cilium" and not finished:
            # the survivor's helm gets its hooks done right now and marks the release deployed
            result = runner.run(["helmfile", "--file", str(lab.inventory / "bootstrap" / "helmfile.yaml"),
                                 "--selector", "name=cilium", "--kubeconfig", kubeconfig, "sync"])  # fmt: skip
            assert result.exit_code == 0, result.stderr
            finished.append(release.name)
        return real_lock(world, release)

    monkeypatch.setattr(BootstrapWorld, "release_lock", release_lock)
    out = lab.run("apps")
    assert finished == ["cilium"]
    assert "syncing release kube-system/cilium" not in out
    assert lab.syncs()["cilium"] == 1  # the survivor's sync, and no other
    assert lab.store.read()["k8s"]["helm_releases"]["kube-system/cilium"]["revision"] == 1


def test_helmfile_is_never_killed_before_helms_own_timeout():
    from homeops.adapters.helmfile import HelmfileSpec, ReleaseSpec
    from homeops.operations import bootstrap_inputs as bi
    from homeops.operations.bootstrap import HOOK_MARGIN, release_deadline

    settings = bi.BootstrapSettings(Path("h.yaml"), (), None, (), release_timeout=60)
    quick = ReleaseSpec("a", "ns", "c/a")
    slow = ReleaseSpec("b", "ns", "c/b", timeout=1200)
    spec = HelmfileSpec("h.yaml", (quick, slow), {}, default_timeout=600)
    assert release_deadline(settings, spec, quick) == 600 + HOOK_MARGIN  # helmDefaults.timeout wins over 60
    assert release_deadline(settings, spec, slow) == 1200 + HOOK_MARGIN  # release.timeout over helmDefaults
    assert release_deadline(settings, HelmfileSpec("h.yaml", (quick,), {}), quick) == 300 + HOOK_MARGIN  # helm's 5m


def _vip_behind_the_cni(lab: Lab) -> None:
    with lab.store.transaction() as state:
        state.setdefault("config", {})["api_vip_needs_cni"] = True  # the API address is a Cilium LB/BGP IP


def test_api_endpoint_nodes_talks_to_a_control_plane_until_the_cni_serves_the_vip(make_lab):
    lab = make_lab()
    _vip_behind_the_cni(lab)
    text = (lab.inventory / "homeops.yaml").read_text()
    (lab.inventory / "homeops.yaml").write_text(text.replace("\nbootstrap:\n", "\nbootstrap:\n  apiEndpoint: nodes\n"))
    plan = lab.run(dry_run=True)
    assert "switch the kubeconfig to https://10.10.0.10:6443 once it answers /readyz" in plan
    out = lab.run()
    assert "finished: bootstrap-all done" in out
    kubeconfig = yaml.safe_load((lab.inventory / "kubeconfig").read_text())
    assert kubeconfig["clusters"][0]["cluster"]["server"] == "https://10.10.0.10:6443"  # switched at the end
    assert lab.syncs()["flux-instance"] == 1 and "nothing to do" in lab.run()


def test_with_the_vip_behind_the_cni_api_endpoint_vip_cannot_finish(make_lab):
    """What apiEndpoint: nodes is for: waiting for the VIP before any CNI exists never ends."""
    lab = make_lab()
    _vip_behind_the_cni(lab)
    text = (lab.inventory / "homeops.yaml").read_text()
    (lab.inventory / "homeops.yaml").write_text(text.replace("readyTimeout: 600", "readyTimeout: 60"))
    error = lab.fail("talos")
    assert "10.10.0.10" in error
    with pytest.raises(HomeopsError):
        Lab.run(lab, "apps")


def test_run_bootstrap_reaches_a_swapped_open_runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """bench/bootstrap.py's 7.7 s: its in-process SimRunner never took effect (every fake tool a subprocess)."""

    class Reached(Exception):
        pass

    def swapped(directory: object, **kw: object) -> homeops.runtime.Runtime:
        raise Reached

    monkeypatch.setattr(homeops.app.backend, "open_runtime", swapped)
    with pytest.raises(Reached):
        run_bootstrap(tmp_path, "all", dry_run=True, out=io.StringIO())
