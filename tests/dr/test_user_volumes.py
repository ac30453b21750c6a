"""Talos user volumes in the fresh model (issue 17 §3): ``UserVolumeConfig`` documents in the talconfig's
patches name partitions ``u-<name>`` (siderolabs/talos v1.11.6 pkg/machinery/config/types/block/
user_volume_config.go:50-56, constants.go:1262 ``UserVolumePrefix = "u-"``); a fresh rebuild wipes them with
STATE and EPHEMERAL as onedr0p's ``talos/mod.just:38-39`` does; an etcd restore never touches them."""

from __future__ import annotations

from pathlib import Path

import pytest

from homeops.inventory.loader import load_inventory
from homeops.sim import apps_data
from homeops.sim.state import initial_state
from homeops.sim.store import SimStore
from tests.sim.simkit import Sim, example_inventory

from .drsim import DrSim

VOLUME = """apiVersion: v1alpha1
kind: UserVolumeConfig
name: local-hostpath
provisioning:
  diskSelector:
    match: system_disk
  minSize: 10GiB
"""
INLINE = """|-
        apiVersion: v1alpha1
        kind: UserVolumeConfig
        name: scratch
        provisioning:
          diskSelector:
            match: system_disk
          minSize: 1GiB"""


def with_user_volumes(drsim: DrSim) -> DrSim:
    """local-hostpath (a file patch) on every worker; scratch (inline) on k8s-5 only."""
    talos = drsim.root / "talos"
    (talos / "patches" / "local-hostpath.yaml").write_text("---\n" + VOLUME)
    config = talos / "talconfig.yaml"
    text = config.read_text()
    worker = "worker:\n  talosImageURL:"
    assert worker in text
    text = text.replace(worker, 'worker:\n  patches:\n    - "@./patches/local-hostpath.yaml"\n  talosImageURL:')
    k8s5 = "  - hostname: k8s-5\n    ipAddress: 10.10.0.25\n    controlPlane: false\n    installDisk: /dev/sda\n"
    assert k8s5 in text
    config.write_text(text.replace(k8s5, k8s5 + f"    patches:\n      - {INLINE}\n"))
    drsim.edit("", "")  # restart the sim on the changed inventory
    return drsim


def wipe_of(argv: tuple[str, ...]) -> str:
    return argv[argv.index("--system-labels-to-wipe") + 1]


def test_the_talconfig_patches_give_each_node_its_user_volumes(drsim: DrSim) -> None:
    inventory = load_inventory(with_user_volumes(drsim).root)
    volumes = {n.hostname: n.user_volumes for n in inventory.nodes}
    assert volumes == {
        "k8s-0": (),
        "k8s-1": (),
        "k8s-2": (),
        "k8s-3": ("local-hostpath",),
        "k8s-4": ("local-hostpath",),
        "k8s-5": ("local-hostpath", "scratch"),  # the group's patches first, then the node's (talhelper order)
    }


def test_fresh_resets_wipe_the_user_volumes_and_etcd_restore_never_does(drsim: DrSim) -> None:
    from homeops.operations.dr import runbook_plans
    from homeops.operations.runbook import Action, command_line, render_scenarios, runbook_facts

    with_user_volumes(drsim).snapshot()
    with drsim.runtime() as rt:
        plans = runbook_plans(rt)
        text = render_scenarios(rt.inventory, plans, runbook_facts(rt.inventory))
        resets = {s.node: s for s in plans["reset"].steps if s.action == "dr-reset"}
        assert {node: wipe_of(s.commands[0].argv) for node, s in resets.items()} == {
            "k8s-0": "STATE,EPHEMERAL",
            "k8s-1": "STATE,EPHEMERAL",
            "k8s-2": "STATE,EPHEMERAL",
            "k8s-3": "STATE,EPHEMERAL,u-local-hostpath",
            "k8s-4": "STATE,EPHEMERAL,u-local-hostpath",
            "k8s-5": "STATE,EPHEMERAL,u-local-hostpath,u-scratch",
        }
        assert "wipes STATE, EPHEMERAL and u-local-hostpath" in resets["k8s-3"].summary
        assert (
            "user volumes wiped with STATE and EPHEMERAL: u-local-hostpath on k8s-3; u-local-hostpath on k8s-4; "
            "u-local-hostpath, u-scratch on k8s-5"
        ) in plans["reset"].warnings
        # the runbook prints the very argv the plan runs
        for step in resets.values():
            assert command_line(rt.inventory, Action(step.commands[0].argv)) in text
        restore = [a for s in plans["etcd-restore"].steps for c in s.commands for a in c.argv]
        assert "--system-labels-to-wipe" in restore
        assert not any(a.startswith("u-") or ",u-" in a for a in restore)
        assert not any("user volume" in w for w in plans["etcd-restore"].warnings)


@pytest.fixture
def sim(tmp_path: Path) -> Sim:
    inventory = example_inventory(tmp_path / "inventory")
    SimStore(tmp_path / "sim").create(initial_state(inventory))
    sim = Sim(tmp_path / "sim", inventory)
    with sim.mutate() as state:
        state["nodes"]["k8s-3"]["user_volumes"] = ["local-hostpath"]
        for claim in state["apps"]["claims"]:
            if claim["name"] == "immich-data":
                claim.update(storage_class="openebs-hostpath", node="k8s-3")
    return sim


def reset(sim: Sim, ip: str, labels: str) -> tuple[int, str, str]:
    return sim.talosctl("reset", "-n", ip, "--graceful=false", "--reboot", f"--system-labels-to-wipe={labels}")


def test_the_sim_refuses_a_label_the_node_has_no_volume_for(sim: Sim) -> None:
    """machined looks each label up as a VolumeStatus first (v1alpha1_server.go:659-663): an unknown one stops
    the reset before anything is wiped."""
    booted = sim.state["nodes"]["k8s-0"]["boot_id"]
    code, _, err = reset(sim, "10.10.0.20", "STATE,EPHEMERAL,u-local-hostpath")  # k8s-0 has no user volume
    assert code == 1
    assert 'failed to get volume status with label "u-local-hostpath"' in err
    code, _, err = reset(sim, "10.10.0.23", "EPHEMERAL,u-local-hostpaht")
    assert code == 1 and '"u-local-hostpaht"' in err
    # VolumeStatus IDs are case-sensitive: a lower-case system label is just as unknown (it used to be upper-cased)
    code, _, err = reset(sim, "10.10.0.23", "ephemeral")
    assert code == 1 and 'failed to get volume status with label "ephemeral"' in err
    node = sim.state["nodes"]["k8s-0"]
    assert node["boot_id"] == booted and node["maintenance"] is False and node["pending"] is None
    assert apps_data.read_data(sim.state)["default/immich-data"] == "seed:default/immich-data"


def test_a_volume_on_a_user_volume_goes_only_with_its_label(sim: Sim) -> None:
    assert reset(sim, "10.10.0.23", "EPHEMERAL")[0] == 0
    # the claim lives on /var/mnt/local-hostpath, not in /var: an EPHEMERAL wipe leaves it
    assert apps_data.read_data(sim.state)["default/immich-data"] == "seed:default/immich-data"
    sim.advance(300)
    code, _, err = reset(sim, "10.10.0.23", "STATE,EPHEMERAL,u-local-hostpath")
    assert code == 0, err
    assert apps_data.read_data(sim.state)["default/immich-data"] is None
