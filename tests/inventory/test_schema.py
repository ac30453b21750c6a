"""Unknown keys anywhere in homeops.yaml: one line naming the key by its path and the closest known key.

Issue 22 §4: ``maintenanse:`` at the top level was silently ignored (and a misspelt key inside a section
only warned), so the setting the operator meant quietly kept its default.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from homeops.errors import ConfigError
from homeops.inventory import schema
from homeops.inventory.loader import load_inventory
from homeops.inventory.talconfig import read_talconfig
from tests.conftest import EXAMPLE_INVENTORY, REALWORLD, REPO, cannot_run
from tests.inventory.conftest import edit

BUNDLED = REPO / "homeops" / "sim" / "example"


LINT = "lint:\n  disable: [sorted-resources]\n  exceptions:\n    - { path: a/**, rules: [rootless], reason: why }\n"


@pytest.mark.parametrize(
    ("old", "new", "field", "closest"),
    [
        # every level of the file, and each kind of container (fixed keys, user-named keys, lists)
        ("upgrade:\n", "maintenanse:\n  window: sunday\nupgrade:\n", "maintenanse", None),
        ("  ageKey: age.key", "  ageKeyFile: age.key", "cluster.ageKeyFile", "ageKey"),
        ("vm: { host: pve1, vmid: 200", "vm: { host: pve1, vmId: 200", "nodes.k8s-0.vm.vmId", "vmid"),
        ("k8s-0: { vm:", "k8s-0: { vms:", "nodes.k8s-0.vms", "vm"),
        ("pve2: { address:", "pve2: { adress:", "hosts.pve2.adress", "address"),
        ("  maxUnavailable: 1", "  maxUnavailible: 1", "upgrade.maxUnavailible", "maxUnavailable"),
        ("    flux: true", "    flx: true", "upgrade.gates.flx", "flux"),
        (" namespace: kube-system", " namespce: kube-system", "upgrade.gates.custom[0].namespce", "namespace"),
        ("  fluxTimeout: 600", "  fluxTimeOut: 600", "bootstrap.fluxTimeOut", "fluxTimeout"),
        ("- bootstrap/cluster-secrets.sops.yaml", "- {path: x, rendr: cat}", "bootstrap.secrets[1].rendr", "render"),
        ("  snapshotMaxAgeHours: 26", "  snapshotMaxAgeHourz: 26", "dr.snapshotMaxAgeHourz", "snapshotMaxAgeHours"),
        ("dr:\n", LINT.replace("disable", "disabled") + "dr:\n", "lint.disabled", "disable"),
        ("dr:\n", LINT.replace("reason", "reasn") + "dr:\n", "lint.exceptions[0].reasn", "reason"),
    ],
)  # fmt: skip
def test_unknown_key_at_every_level(inv_dir: Path, old: str, new: str, field: str, closest: str | None) -> None:
    path = edit(inv_dir, old, new)
    expected = f"{field}: unknown key; did you mean {closest}?" if closest else f"{field}: unknown key"
    with pytest.raises(ConfigError) as info:
        load_inventory(inv_dir)
    message = str(info.value)
    assert message.startswith(f"{path}: {expected}"), message
    assert "\n" not in message


def test_no_close_key_lists_the_keys_of_that_level(inv_dir: Path) -> None:
    edit(inv_dir, "upgrade:\n", "flavour:\n  window: sunday\nupgrade:\n")
    with pytest.raises(ConfigError) as info:
        load_inventory(inv_dir)
    # other sections join the list as they are added (maintenance, notify, hooks, …)
    assert (info.value.hint or "").startswith("the top level takes cluster, nodes, hosts, upgrade, bootstrap, dr, lint")
    assert "maintenance" in (info.value.hint or "")
    edit(inv_dir, "flavour:\n  window: sunday\n", "")
    edit(inv_dir, "  minFreeGiB: 10", "  colour: blue")
    with pytest.raises(ConfigError) as info:
        load_inventory(inv_dir)
    assert ": dr.colour: unknown key — dr takes snapshotMaxAgeHours, volsyncMaxAgeHours, " in str(info.value)


def test_node_list_form(tmp_path: Path) -> None:
    (tmp_path / "homeops.yaml").write_text(
        textwrap.dedent(
            """\
            cluster: { name: c, endpoint: "https://10.0.0.10:6443", talosVersion: v1.11.6, kubernetesVersion: v1.34.2 }
            hosts: { pve1: { address: 10.0.0.2, kind: proxmox } }
            nodes:
              - { hostname: a, ip: 10.0.0.20, controlPlane: true, vm: { host: pve1, vmid: 200 } }
              - { hostname: b, ip: 10.0.0.21, controlplane: true }
            """
        )
    )
    with pytest.raises(ConfigError) as info:
        load_inventory(tmp_path)
    assert str(info.value).endswith("nodes[1].controlplane: unknown key; did you mean controlPlane?")
    text = (tmp_path / "homeops.yaml").read_text().replace("controlplane", "controlPlane").replace("vmid", "vmdi")
    (tmp_path / "homeops.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_inventory(tmp_path)
    assert str(info.value).endswith("nodes[0].vm.vmdi: unknown key; did you mean vmid?")


def test_keys_the_user_names_are_free(inv_dir: Path) -> None:
    # Host names, node names, namespace/app and variable names are the user's; only what is inside them is checked.
    edit(inv_dir, "  minFreeGiB: 10", "  minFreeGiB: 10\n  volsyncMaxAgeHoursByApp: { media/maintenanse: 2 }")
    edit(inv_dir, "  nas:  {", "  storage-box:  {")
    edit(inv_dir, "  fluxTimeout: 600", "  fluxTimeout: 600\n  env: {CLUSTER: main, ANY_NAME: x}")
    inv = load_inventory(inv_dir)
    assert inv.dr.volsync_limit("media", "maintenanse") == 7200
    assert inv.host("storage-box").kind == "truenas"


def test_a_wrong_type_is_left_to_the_reader(inv_dir: Path) -> None:
    # The key check passes a scalar where a mapping belongs on to the section's reader and its message.
    path = edit(inv_dir, "pve1: { address: 10.10.0.2, kind: proxmox, user: root, knownHosts: known_hosts }", "pve1: x")
    with pytest.raises(ConfigError) as info:
        load_inventory(inv_dir)
    assert str(info.value) == f"{path}: hosts.pve1: must be a mapping, not 'x'"


@pytest.mark.parametrize("folder", [EXAMPLE_INVENTORY, BUNDLED], ids=["inventory", "sim-example"])
def test_bundled_examples_load_cleanly(folder: Path) -> None:
    inv = load_inventory(folder)
    assert inv.warnings == ()
    assert len(inv.nodes) == 6


def full_homeops_yaml(talconfig: Path, hostnames: list[str]) -> str:
    """A homeops.yaml for a real talconfig that sets every section the example documents."""
    overlay = "\n".join(
        f"  {name}: {{ vm: {{ host: pve1, vmid: {300 + i}, mac: 'BC:24:11:00:01:{i:02X}', disk: local-lvm:64 }} }}"
        for i, name in enumerate(hostnames)
    )
    example = (EXAMPLE_INVENTORY / "homeops.yaml").read_text()
    rest = example[example.index("\nhosts:") :]
    return f"cluster:\n  talconfig: {talconfig}\n  stateDir: .homeops\nnodes:\n{overlay}\n{rest}\n{LINT}"


REALWORLD_TALCONFIGS = sorted(REALWORLD.glob("talconfig/**/talconfig.yaml")) if REALWORLD.is_dir() else []


@pytest.mark.realworld
@pytest.mark.parametrize("talconfig", REALWORLD_TALCONFIGS, ids=lambda p: str(p.parent.relative_to(REALWORLD)))
def test_realworld_talconfig_inventories_load(talconfig: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOMAINNAME", "example.net")  # truxnell's hostnames are ${DOMAINNAME}-templated
    hostnames = [n.hostname for n in read_talconfig(talconfig).nodes]
    (tmp_path / "homeops.yaml").write_text(full_homeops_yaml(talconfig, hostnames))
    inv = load_inventory(tmp_path)
    assert [n.hostname for n in inv.nodes] == hostnames
    assert all(n.vm is not None for n in inv.nodes)
    assert not [w for w in inv.warnings if str(tmp_path) in w], inv.warnings  # homeops.yaml itself: no warning


def test_realworld_talconfigs_are_found() -> None:
    if not REALWORLD.is_dir():
        cannot_run(f"real-world data not found at {REALWORLD}")
    assert len(REALWORLD_TALCONFIGS) >= 10


def test_schema_shapes() -> None:
    # Only mappings with fixed keys may be misspelt into; what the user names is free.
    assert isinstance(schema.SCHEMA["hosts"], schema.Named)
    assert isinstance(schema.SCHEMA["nodes"], schema.ByType)
    schema.check_keys({"hosts": {"any-name": {"port": 22}}}, file="f")
    schema.check_keys(None, file="f")
    schema.check_keys(["not", "a", "mapping"], file="f")  # the loader says "must be a mapping"
    with pytest.raises(ConfigError, match=r"^f: 1: unknown key"):
        schema.check_keys({1: "x"}, file="f")
