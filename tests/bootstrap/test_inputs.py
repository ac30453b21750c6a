"""Bootstrap inputs: refused before anything changes, with one line naming the file/release/field."""

from __future__ import annotations

import filecmp
import shutil
from pathlib import Path

import pytest

from homeops.errors import ConfigError, HomeopsError
from homeops.inventory.loader import load_inventory
from homeops.operations import bootstrap_inputs as bi
from homeops.sim.bootstrap import blank
from homeops.sim.runner import SimRunner
from homeops.sim.state import SimOptions, initial_state
from homeops.sim.store import SimStore

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_SECRET_VALUE = "homeops-example-bootstrap-token-7f3a9c2e41"  # in inventory/bootstrap/cluster-secrets


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    target = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory", target, ignore=shutil.ignore_patterns(".homeops", "kubeconfig"))
    return target


@pytest.fixture
def runner(inventory: Path, tmp_path: Path) -> SimRunner:
    """The simulator's tools (helmfile renders the helmfile as the real one does)."""
    SimStore(tmp_path / "sim").create(blank(initial_state(load_inventory(inventory), SimOptions())))
    return SimRunner(tmp_path / "sim")


def test_the_bundled_example_carries_the_same_bootstrap_files():
    bundled = REPO / "homeops" / "sim" / "example"
    for sub in ("bootstrap", "kubernetes"):
        for path in sorted((REPO / "inventory" / sub).rglob("*")):
            if path.is_file():
                rel = path.relative_to(REPO / "inventory")
                assert filecmp.cmp(bundled / rel, path, shallow=False), rel
    assert filecmp.cmp(bundled / "homeops.yaml", REPO / "inventory" / "homeops.yaml", shallow=False)


def test_example_settings_namespaces_and_helmfile(inventory: Path, runner: SimRunner):
    inv = load_inventory(inventory)
    assert not inv.warnings  # the bootstrap: section is known to the loader
    settings = bi.load_settings(inv)
    assert settings.helmfile == inventory / "bootstrap" / "helmfile.yaml" and settings.release_timeout == 900
    assert settings.crds_helmfile == inventory / "bootstrap" / "crds.yaml"
    assert bi.namespaces(settings) == ["cert-manager", "default", "flux-system", "kube-system"]
    spec = bi.load_helmfile(inv, settings, runner)
    from homeops.adapters.helmfile import sync_order

    assert [r.name for r in sync_order(spec)] == ["cilium", "coredns", "cert-manager", "flux-operator", "flux-instance"]


def test_a_release_without_its_values_file_is_refused_naming_both(inventory: Path, runner: SimRunner):
    (inventory / "bootstrap" / "values" / "coredns.yaml").unlink()
    inv = load_inventory(inventory)
    with pytest.raises(ConfigError) as info:
        bi.load_helmfile(inv, bi.load_settings(inv), runner)
    assert "helmfile.yaml: release coredns: values file ./values/coredns.yaml not found" in str(info.value)


def test_secrets_decrypt_in_memory_and_never_show_in_repr(inventory: Path, runner: SimRunner):
    inv = load_inventory(inventory)
    secrets = bi.load_secrets(inv, bi.load_settings(inv), runner)
    assert [(s.namespace, s.name) for s in secrets] == [("flux-system", "sops-age"), ("flux-system", "cluster-secrets")]
    assert EXAMPLE_SECRET_VALUE in secrets[1].text
    assert EXAMPLE_SECRET_VALUE not in repr(secrets)


def test_a_secret_the_key_cannot_decrypt_is_refused_naming_the_file(inventory: Path, tmp_path: Path, runner: SimRunner):
    import pyrage

    other = tmp_path / "other.key"
    other.write_text(str(pyrage.x25519.Identity.generate()) + "\n", encoding="utf-8")  # not a recipient
    text = (inventory / "homeops.yaml").read_text().replace("ageKey: age.key", f"ageKey: {other}")
    (inventory / "homeops.yaml").write_text(text)
    inv = load_inventory(inventory)
    with pytest.raises(HomeopsError) as info:
        bi.load_secrets(inv, bi.load_settings(inv), runner)
    assert "sops-age.sops.yaml" in str(info.value) and "\n" not in str(info.value)


def test_kubeconfig_of_another_cluster_is_refused_naming_it(inventory: Path):
    inv = load_inventory(inventory)
    kc = inv.cluster.kubeconfig
    kc.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: lab\n  cluster:\n    server: https://10.20.0.10:6443\n"
        "    certificate-authority-data: TEFCCg==\ncontexts:\n- name: admin@lab\n  context:\n    cluster: lab\n"
        "current-context: admin@lab\n"
    )
    with pytest.raises(ConfigError) as info:
        bi.check_kubeconfig(inv)
    assert str(info.value).startswith(
        f"{kc}: points at https://10.20.0.10:6443 (context admin@lab, cluster lab), not this inventory's "
        "https://10.10.0.10:6443 (cluster home)"
    )
    # same endpoint, other CA than the one recorded at bootstrap: a rebuilt or another cluster
    kc.write_text(kc.read_text().replace("10.20.0.10", "10.10.0.10"))
    bi.remember_ca(inv, "0" * 64)
    with pytest.raises(ConfigError, match="different cluster CA"):
        bi.check_kubeconfig(inv)


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("bootstrap:\n  helmfiles: x\n", "bootstrap.helmfiles: unknown key; did you mean helmfile?"),
        ("bootstrap:\n  releaseTimeout: -1\n", "bootstrap.releaseTimeout: must be a positive number"),
        ("bootstrap:\n  namespaces: [Bad_NS]\n", "bootstrap.namespaces: 'Bad_NS' is not a namespace name"),
        ("bootstrap:\n  apiEndpoint: lb\n", "bootstrap.apiEndpoint: must be vip or nodes, not 'lb'"),
        ("bootstrap:\n  env: [CLUSTER]\n", "bootstrap.env: must map variable names to values"),
        ("bootstrap:\n  env: {bad-name: x}\n", "bootstrap.env: must map variable names to values"),
        ("bootstrap:\n  secrets: [{path: x, rendr: op}]\n", "bootstrap.secrets[0].rendr: unknown key; did you mean"),
        ("bootstrap:\n  secrets: [{path: x, render: 'op \"inject'}]\n", "bootstrap.secrets[0].render: render:"),
        ("bootstrap:\n  secrets: [{path: x, render: [op, 1]}]\n", "bootstrap.secrets[0].render: render must be"),
        ("bootstrap:\n  crdsHelmfile: 3\n", "bootstrap.crdsHelmfile: must be a path"),
    ],
)
def test_bad_bootstrap_settings(inventory: Path, section: str, message: str):
    text = (inventory / "homeops.yaml").read_text()
    text = text[: text.index("\n# Bootstrap of a new")] + "\n" + section
    (inventory / "homeops.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        bi.load_settings(load_inventory(inventory))
    assert message in str(info.value)


def test_a_bare_needs_name_is_the_release_in_its_own_namespace():
    """helmfile pkg/state/state.go reformat (v0.169.2 … v1.7.4): needs: [x] means <own namespace>/x."""
    from homeops.adapters.helmfile import parse_helmfile, sync_order

    text = (
        "releases:\n"
        "  - {name: b, namespace: two, chart: r/b, needs: [a]}\n"
        "  - {name: a, namespace: one, chart: r/a}\n"
        "  - {name: a, namespace: two, chart: r/a2}\n"
    )
    spec = parse_helmfile(text, "h.yaml")
    assert [r.id for r in sync_order(spec)] == ["two/a", "two/b", "one/a"]
    with pytest.raises(ConfigError, match="release b needs 'a', but there is no release with that id"):
        parse_helmfile("releases:\n  - {name: b, namespace: two, chart: r/b, needs: [a]}\n"
                       "  - {name: a, namespace: one, chart: r/a}\n", "h.yaml")  # fmt: skip


def test_the_sim_helmfile_resolves_a_bare_need_in_the_releases_namespace(runner: SimRunner, tmp_path: Path):
    state = tmp_path / "h.yaml"
    state.write_text(
        "releases:\n  - {name: b, namespace: two, chart: r/b, needs: [a]}\n  - {name: a, namespace: one, chart: r/a}\n"
    )
    result = runner.run(["helmfile", "--file", str(state), "template"])  # build prints it; the DAG refuses
    assert result.exit_code == 1 and 'depend(s) on an undefined release "two/a"' in result.stderr


def test_bootstrap_keys_are_the_schemas_alone(inventory: Path, monkeypatch: pytest.MonkeyPatch):
    """One table of keys (homeops.inventory.schema.SCHEMA): a key added there is accepted by the
    bootstrap reader too, and a key missing there is refused by it with the schema's message."""
    from homeops.inventory import schema

    inv = load_inventory(inventory)
    text = (inventory / "homeops.yaml").read_text()
    text = text[: text.index("\n# Bootstrap of a new")] + "\nbootstrap:\n  newSetting: 1\n"
    (inventory / "homeops.yaml").write_text(text)
    monkeypatch.setitem(schema.SCHEMA, "bootstrap", {**schema.SCHEMA["bootstrap"], "newSetting": schema.VALUE})
    assert bi.load_settings(inv).api_endpoint == "vip"
    monkeypatch.setitem(
        schema.SCHEMA, "bootstrap", {k: v for k, v in schema.SCHEMA["bootstrap"].items() if k != "fluxTimeout"}
    )
    (inventory / "homeops.yaml").write_text(text.replace("newSetting: 1", "fluxTimeout: 5"))
    with pytest.raises(ConfigError, match=r"bootstrap\.fluxTimeout: unknown key; did you mean releaseTimeout\?$"):
        bi.load_settings(inv)
