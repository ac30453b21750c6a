"""Pure planners: order, batches, images, skips, hops, gates, warnings — no runner anywhere."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import pytest

from homeops.engine.plan import Plan
from homeops.errors import PlanError
from homeops.inventory.model import Gates, VmRef
from homeops.operations.facts import ClusterFacts, NodeFacts
from homeops.operations.planners import (
    SINGLE_NODE_WARNING,
    UPLOAD,
    Request,
    plan_apply,
    plan_reboot,
    plan_upgrade,
    plan_upgrade_k8s,
)

from .fakes import SCHEMATIC, make_inventory

NOW = 1_760_000_000.0


def facts_for(inventory, version: str = "v1.10.9", leader: str | None = "k8s-0", kube: str = "v1.34.2", **per_node):
    nodes = {
        n.hostname: NodeFacts(
            n.hostname, n.ip, True, "running", True, per_node.get(n.hostname, version), SCHEMATIC, "b"
        )
        for n in inventory.nodes
    }
    return ClusterFacts(nodes=nodes, etcd_leader=leader, kubernetes_version=kube)


def upgrade_nodes(plan: Plan) -> list[str]:
    return [s.node or "" for s in plan.steps if s.action == "upgrade"]


def test_control_planes_singly_leader_last_then_worker_batches(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, control_planes=3, workers=5, hosts=3)
    plan = plan_upgrade(
        inv, facts_for(inv, leader="k8s-1"), Request(now=NOW, max_unavailable=2), operation="upgrade-cluster"
    )
    assert upgrade_nodes(plan) == ["k8s-0", "k8s-2", "k8s-1", "k8s-3", "k8s-4", "k8s-5", "k8s-6", "k8s-7"]
    batches = [[s.node for s in b if s.action == "upgrade"] for b in plan.batches()]
    assert batches == [["k8s-0"], ["k8s-2"], ["k8s-1"], ["k8s-3", "k8s-4"], ["k8s-5", "k8s-6"], ["k8s-7"]]


def test_batch_never_holds_two_vms_of_one_host(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, control_planes=1, workers=6, hosts=2)
    plan = plan_upgrade(inv, facts_for(inv), Request(now=NOW, max_unavailable=4), operation="upgrade-cluster")
    for batch in plan.batches():
        hosts = [s.vm_host for s in batch if s.action == "upgrade"]
        assert len(hosts) == len(set(hosts))
    assert sorted(upgrade_nodes(plan)) == sorted(n.hostname for n in inv.nodes)


def test_image_from_talconfig_url_with_target_tag(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    plan = plan_upgrade(inv, facts_for(inv), Request(now=NOW), operation="upgrade-cluster")
    step = next(s for s in plan.steps if s.action == "upgrade")
    assert step.image == f"factory.talos.dev/metal-installer/{SCHEMATIC}:v1.11.6"
    assert step.schematic == SCHEMATIC
    argv = step.commands[0].argv
    assert argv[:2] == ("talosctl", "upgrade") and "--wait=false" in argv
    assert argv[argv.index("--nodes") + 1] == step.node_ip
    assert argv[argv.index("--image") + 1] == step.image


def test_node_without_any_image_source_is_refused(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    bare = tuple(replace(n, talos_image_url=None) for n in inv.nodes)
    inv = replace(inv, nodes=bare)
    with pytest.raises(PlanError, match=r"no installer image known") as info:
        plan_upgrade(inv, facts_for(inv), Request(now=NOW), operation="upgrade-cluster")
    assert "default installer" in str(info.value)


def test_explicit_image_for_one_node(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    image = "registry.example/installer:v1.11.6"
    plan = plan_upgrade(inv, facts_for(inv), Request(now=NOW, nodes=("k8s-4",), image=image), operation="upgrade-node")
    assert upgrade_nodes(plan) == ["k8s-4"]
    assert plan.steps[-1].image == image
    with pytest.raises(PlanError, match=r"one node"):
        plan_upgrade(inv, facts_for(inv), Request(now=NOW, image=image), operation="upgrade-cluster")


def test_nodes_at_target_are_skipped(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    facts = facts_for(inv, **{"k8s-1": "v1.11.6", "k8s-4": "v1.11.6"})
    plan = plan_upgrade(inv, facts, Request(now=NOW), operation="upgrade-cluster")
    assert "k8s-1" not in upgrade_nodes(plan) and "k8s-4" not in upgrade_nodes(plan)
    assert dict(plan.skipped) == {
        "k8s-1": "already at v1.11.6 (ce4c980550dd…)",
        "k8s-4": "already at v1.11.6 (ce4c980550dd…)",
    }


def test_different_schematic_at_same_version_is_reinstalled(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    facts = facts_for(inv, version="v1.11.6")
    other = replace(facts.nodes["k8s-3"], schematic="0" * 64)
    facts = replace(facts, nodes={**facts.nodes, "k8s-3": other})
    plan = plan_upgrade(inv, facts, Request(now=NOW), operation="upgrade-cluster")
    assert upgrade_nodes(plan) == ["k8s-3"]


def test_minor_hops_upgrade_every_node_per_hop(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, control_planes=1, workers=1)
    plan = plan_upgrade(
        inv, facts_for(inv, version="v1.9.6", kube="v1.32.0"), Request(now=NOW), operation="upgrade-cluster"
    )
    steps = [(s.node, s.from_version, s.to_version) for s in plan.steps if s.action == "upgrade"]
    assert steps == [
        ("k8s-0", "v1.9.6", "v1.10.9"),
        ("k8s-1", "v1.9.6", "v1.10.9"),
        ("k8s-0", "v1.10.9", "v1.11.6"),
        ("k8s-1", "v1.10.9", "v1.11.6"),
    ]
    assert any("one minor release at a time" in w for w in plan.warnings)
    assert len({s.id for s in plan.steps}) == len(plan.steps)  # ids stay unique across hops


def test_unsupported_kubernetes_refuses_the_whole_plan(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    with pytest.raises(PlanError, match=r"not supported"):
        plan_upgrade(inv, facts_for(inv, kube="v1.28.3"), Request(now=NOW), operation="upgrade-cluster")


def test_unreachable_node_refuses_planning(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    facts = facts_for(inv)
    facts = replace(
        facts, nodes={**facts.nodes, "k8s-2": NodeFacts("k8s-2", "10.10.0.22", False, detail="i/o timeout")}
    )
    with pytest.raises(PlanError, match=r"k8s-2.*pve3.*i/o timeout"):
        plan_upgrade(inv, facts, Request(now=NOW), operation="upgrade-cluster")


def test_single_control_plane_warns_loudly_and_snapshots_first(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, control_planes=1, workers=0)
    plan = plan_upgrade(inv, facts_for(inv), Request(now=NOW), operation="upgrade-cluster")
    assert SINGLE_NODE_WARNING in plan.warnings
    # One member: no etcd leadership hand-off (talos v1.14.0-rc.1 internal/pkg/etcd/etcd.go:247 refuses it).
    assert [s.action for s in plan.steps] == ["pre-pull", "etcd-snapshot", "upgrade"]
    assert "SINGLE CONTROL PLANE" in plan.render()


def test_etcd_snapshot_timestamped_and_copied_to_nas_when_asked(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    inv = replace(inv, policy=replace(inv.policy, etcd_snapshot_to_nas=True, nas_backup_keep=7))
    plan = plan_upgrade(inv, facts_for(inv), Request(now=NOW), operation="upgrade-cluster")
    snap = next(s for s in plan.steps if s.action == "etcd-snapshot")
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(NOW))
    assert snap.artifact == str(inv.state_dir / "etcd-snapshots" / f"etcd-home-{stamp}.db")
    assert snap.commands[0].argv[:3] == ("talosctl", "etcd", "snapshot")
    assert snap.commands[1].on == "nas" and snap.commands[1].argv[0] == UPLOAD
    assert "--keep=7" in snap.commands[1].argv


def test_vm_snapshot_step_before_each_node_when_enabled(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, vm_snapshot=True)
    plan = plan_upgrade(inv, facts_for(inv), Request(now=NOW), operation="upgrade-cluster")
    first = [s for s in plan.steps if s.node == "k8s-1"]
    assert [s.action for s in first] == ["vm-snapshot", "etcd-forfeit", "upgrade"]
    assert first[0].commands[0].on == "pve2"
    assert first[0].commands[0].argv[:3] == ("qm", "snapshot", "201")


def test_gates_follow_the_inventory_policy(tmp_path: Path) -> None:
    from homeops.inventory.model import CustomGate

    custom = CustomGate("nfs", "jsonpath", timeout=42, resource="deployment/x", jsonpath="{.a}", expect="1")
    inv = make_inventory(
        tmp_path, gates=Gates(proxmox=True, nas=False, flux=True, volsync=True, ceph=True, custom=(custom,))
    )
    plan = plan_upgrade(inv, facts_for(inv), Request(now=NOW), operation="upgrade-cluster")
    kinds = [g.kind for g in plan.preflight]
    assert kinds[:4] == ["talos-nodes", "etcd", "k8s-nodes", "api"]
    assert {"proxmox", "ceph", "flux", "volsync", "custom"} <= set(kinds) and "nas" not in kinds
    assert next(g for g in plan.preflight if g.kind == "custom").timeout == 42
    step = next(s for s in plan.steps if s.action == "upgrade")
    assert [g.target for g in step.gates_before] == [step.vm_host]


def test_render_lists_nodes_commands_gates_waits(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    text = plan_upgrade(inv, facts_for(inv), Request(now=NOW), operation="upgrade-cluster").render()
    assert text.index("k8s-1") < text.index("k8s-2") < text.index("k8s-0 (controlplane)")
    for piece in ("Preflight gates", "$ talosctl upgrade", "wait ≤", "boot ID", "A/B rollback", "stable: "):
        assert piece in text


def test_render_batch_headers_name_each_node_once_and_the_etcd_snapshot_as_a_cluster_step(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, vm_snapshot=True, control_planes=3, workers=3, hosts=3, max_unavailable=2)
    text = plan_upgrade(inv, facts_for(inv), Request(now=NOW), operation="upgrade-cluster").render()
    headers = [line for line in text.splitlines() if line.startswith("[")]
    assert headers == [
        "[1/5] k8s-1 (installer pre-pull first) (etcd snapshot from k8s-0 first)",
        "[2/5] k8s-2",
        "[3/5] k8s-0",
        "[4/5] k8s-3, k8s-4",
        "[5/5] k8s-5",
    ]


def test_plan_round_trips_through_the_journal_format(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, vm_snapshot=True)
    plan = plan_upgrade(inv, facts_for(inv), Request(now=NOW), operation="upgrade-cluster")
    again = Plan.from_dict(plan.to_dict())
    assert again == plan and again.fingerprint() == plan.fingerprint()


def test_plan_100_nodes_is_fast(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, control_planes=3, workers=97, hosts=10)
    facts = facts_for(inv)
    start = time.perf_counter()
    plan = plan_upgrade(inv, facts, Request(now=NOW, max_unavailable=10), operation="upgrade-cluster")
    assert time.perf_counter() - start < 0.2
    assert len(upgrade_nodes(plan)) == 100


def test_apply_modes(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    plan = plan_apply(inv, facts_for(inv), Request(now=NOW, mode="no-reboot"), operation="apply-cluster")
    assert not any(s.action == "etcd-snapshot" for s in plan.steps)
    apply = [s for s in plan.steps if s.action == "apply"]
    assert len(apply) == 6 and not any(s.reboots for s in apply)
    assert apply[0].commands[0].argv[-2:] == ("--mode", "no-reboot")
    assert apply[0].artifact.endswith("clusterconfig/home-k8s-1.yaml")
    assert [w.kind for w in apply[0].waits] == ["running", "k8s-ready", "etcd-member"]
    rebooting = plan_apply(inv, facts_for(inv), Request(now=NOW, mode="reboot"), operation="apply-cluster")
    assert rebooting.steps[0].action == "etcd-snapshot"
    with pytest.raises(PlanError, match=r"interactive"):
        plan_apply(inv, facts_for(inv), Request(now=NOW, mode="interactive"), operation="apply-cluster")


def test_reboot_plan(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    plan = plan_reboot(inv, facts_for(inv), Request(now=NOW, nodes=("10.10.0.24",)), operation="reboot-node")
    assert [s.action for s in plan.steps] == ["reboot"]
    assert plan.steps[0].node == "k8s-4" and "--wait=false" in plan.steps[0].commands[0].argv
    with pytest.raises(PlanError, match=r"exactly one"):
        plan_reboot(inv, facts_for(inv), Request(now=NOW), operation="reboot-node")


def test_upgrade_k8s_plan(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, kubernetes="v1.34.2")
    plan = plan_upgrade_k8s(
        inv, facts_for(inv, version="v1.11.6", kube="v1.33.5"), Request(now=NOW), operation="upgrade-k8s"
    )
    (step,) = plan.steps
    assert step.commands[0].argv[:2] == ("talosctl", "upgrade-k8s")
    assert "--to" in step.commands[0].argv and "v1.34.2" in step.commands[0].argv
    assert [w.kind for w in step.waits] == ["k8s-version"]
    done = plan_upgrade_k8s(
        inv, facts_for(inv, version="v1.11.6", kube="v1.34.2"), Request(now=NOW), operation="upgrade-k8s"
    )
    assert done.empty
    with pytest.raises(PlanError, match=r"one minor"):
        plan_upgrade_k8s(
            inv, facts_for(inv, version="v1.11.6", kube="v1.32.5"), Request(now=NOW), operation="upgrade-k8s"
        )
    with pytest.raises(PlanError, match=r"not supported on Talos v1.10.9"):
        plan_upgrade_k8s(
            inv, facts_for(inv, version="v1.10.9", kube="v1.33.5"), Request(now=NOW), operation="upgrade-k8s"
        )


def test_node_without_vm_has_no_host_gate(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path, hosts=0)
    plan = plan_upgrade(inv, facts_for(inv), Request(now=NOW, max_unavailable=6), operation="upgrade-cluster")
    workers = [b for b in plan.batches() if not any(s.control_plane for s in b)]
    assert len(workers) == 1 and len(workers[0]) == 3
    assert all(not s.gates_before for s in plan.steps)
    _ = VmRef
