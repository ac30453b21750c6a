"""Talos secrets once (issue 18), genconfig paths (issue 22 §3 items 6, 7 and the plan's --env-file), filenameTmpl.

Source: budimanjojo/talhelper v3.1.16 — ``pkg/talos/input.go:53-55`` (no secrets file: "new secrets will be
generated everytime you run this command", a new PKI), ``cmd/gensecret.go`` (the bundle on stdout),
``cmd/genconfig.go:42-51`` (talenv/talsecret/patches relative to the working directory),
``pkg/config/defaults.go:137-144`` + ``outputfilename.go`` (``filenameTmpl``).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import yaml

from homeops.adapters import talhelper as th
from homeops.app.backend import open_runtime
from homeops.app.workflows import run_bootstrap
from homeops.errors import ConfigError
from homeops.operations import genconfig as gc
from homeops.sim.store import SimStore
from homeops.sops import api as sops
from tests.bootstrap.lab import blank_inventory


@pytest.fixture
def inventory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return blank_inventory(tmp_path / "inventory", monkeypatch)


def _talhelper_calls(root: Path) -> list[list[str]]:
    return [[str(a) for a in e["argv"]] for e in SimStore(root / ".homeops" / "sim").log() if e["tool"] == "talhelper"]


def test_a_missing_talsecret_is_created_once_encrypted_before_it_touches_the_disk(inventory: Path):
    secret = inventory / "talos" / "talsecret.sops.yaml"
    secret.unlink()
    out = io.StringIO()
    run_bootstrap(inventory, "talos", yes=True, dry_run=True, out=out)
    assert "talhelper gensecret" in out.getvalue() and not secret.exists()  # a dry run writes nothing
    run_bootstrap(inventory, "talos", yes=True, out=io.StringIO())
    assert sops.is_sops_file(secret)
    text = secret.read_text()
    assert "ENC[" in text and "cluster:" in text  # encrypted values; keys stay readable (sops YAML)
    bundle = yaml.safe_load(sops.decrypt_to_bytes(secret, age_key_file=inventory / "age.key"))
    assert set(bundle) >= {"cluster", "secrets", "trustdinfo", "certs"}
    calls = _talhelper_calls(inventory)
    assert [c[1] for c in calls] == ["gensecret", "genconfig"]
    assert "--secret-file" in calls[1]  # genconfig read it (a decrypted private copy)
    before = secret.read_bytes()
    with open_runtime(inventory) as rt:
        gc.generate_config(rt)
    assert secret.read_bytes() == before and [c[1] for c in _talhelper_calls(inventory)].count("gensecret") == 1


def test_a_genconfig_after_which_talhelper_reports_new_secrets_is_refused(
    inventory: Path, monkeypatch: pytest.MonkeyPatch
):
    (inventory / "talos" / "talsecret.sops.yaml").unlink()
    monkeypatch.setattr(gc, "ensure_talsecret", lambda inventory, runner: None)  # as if creating it were skipped
    with open_runtime(inventory) as rt, pytest.raises(ConfigError) as info:
        gc.generate_config(rt, create_secret=True)
    assert "generated new throw-away Talos secrets" in str(info.value) and "\n" not in str(info.value)


def test_generate_config_of_an_existing_cluster_and_a_rebuild_never_make_a_new_pki(inventory: Path, tmp_path: Path):
    """issue 17 §6: a rebuild without a decryptable talsecret is refused before anything changes."""
    secret = inventory / "talos" / "talsecret.sops.yaml"
    secret.unlink()
    with open_runtime(inventory) as rt, pytest.raises(ConfigError, match="no talsecret: talhelper would generate"):
        gc.generate_config(rt)  # talos.generate-config: refused, nothing created
    assert not secret.exists() and not _talhelper_calls(inventory)
    snapshot = tmp_path / "etcd.snapshot"
    snapshot.write_bytes(b"snapshot")
    with pytest.raises(ConfigError, match="needed to recover it"):
        run_bootstrap(inventory, "talos", yes=True, out=io.StringIO(), recover_from=snapshot)
    assert not secret.exists()


def test_a_relative_inventory_path_generates_the_same_configs(inventory: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(inventory.parent)  # talhelper runs in talos/: every path it gets must be absolute
    with open_runtime(Path("inventory")) as rt:
        text = gc.generate_config(rt)
    assert "generated" in text and (inventory / "talos" / "clusterconfig" / "home-k8s-0.yaml").is_file()
    assert not (inventory / "talos" / "inventory").exists()


def test_an_inventory_path_with_a_space_is_parsed():
    out = "generated config for k8s-0 in /tmp/my inventory/talos/clusterconfig/home-k8s-0.yaml\n"
    out += "generated client config in /tmp/my inventory/talos/clusterconfig/talosconfig\n"
    parsed = th.parse_genconfig(out)
    assert parsed.files[0].path == "/tmp/my inventory/talos/clusterconfig/home-k8s-0.yaml"
    assert parsed.talosconfig == "/tmp/my inventory/talos/clusterconfig/talosconfig"
    dry = "no changes found on /tmp/my inventory/talos/clusterconfig/home-k8s-0.yaml\n"
    assert th.parse_genconfig(dry).unchanged == ("/tmp/my inventory/talos/clusterconfig/home-k8s-0.yaml",)


def test_a_space_in_the_inventory_path_bootstraps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = blank_inventory(tmp_path / "my inventory", monkeypatch)
    out = io.StringIO()
    run_bootstrap(root, "talos", yes=True, out=out)
    assert "generated" in out.getvalue()


def test_filename_tmpl_is_honoured_and_the_plan_shows_the_env_file(inventory: Path):
    talconfig = inventory / "talos" / "talconfig.yaml"
    text = talconfig.read_text()
    text = text.replace(
        "\ncontrolPlane: &group\n", '\ncontrolPlane: &group\n  filenameTmpl: "{{ .Role }}-{{ .Hostname }}.yaml"\n', 1
    )
    assert "filenameTmpl" in text
    talconfig.write_text(text)
    out = io.StringIO()
    run_bootstrap(inventory, "talos", yes=True, dry_run=True, out=out)
    plan = out.getvalue()
    assert "clusterconfig/controlplane-k8s-0.yaml" in plan and "clusterconfig/home-k8s-3.yaml" in plan
    assert "--env-file" in plan and "talenv.yaml" in plan  # the plan shows what the run passes
    run_bootstrap(inventory, "talos", yes=True, out=io.StringIO())
    assert (inventory / "talos" / "clusterconfig" / "controlplane-k8s-0.yaml").is_file()
    assert os.path.getsize(inventory / "talos" / "clusterconfig" / "home-k8s-3.yaml") > 0
