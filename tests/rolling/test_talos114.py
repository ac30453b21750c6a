"""Talos 1.14 and the safer rolling upgrade: installer pre-pull, etcd leadership hand-off, 1.14 refusals.

Modelled on siderolabs/talos at v1.14.0-rc.1 (release-1.14):
* ``pkg/machinery/compatibility/talos114/talos114.go:16,25,28``: upgrades from ≥ 1.12, Kubernetes 1.32.0–1.37.99;
* ``hack/release.toml`` ``notes.apply_config`` (``--mode=reboot`` removed; ``helpers/mode.go:70`` lists
  auto, no-reboot, staged, try) and ``notes.defaultInstaller`` (``ghcr.io/siderolabs/installer`` no longer
  published; ``upgrade.go:358`` defaults to the Image Factory installer);
* ``cmd/talosctl/cmd/talos/upgrade.go:135``: the upgrade pulls the installer first (``imagePullInternal``);
  ``image.go:224`` ``image pull <image>`` and ``image.go:1050`` ``--namespace`` (default ``cri``; the
  upgrade uses ``system``, ``upgrade.go:360``);
* ``etcd.go:275`` ``etcd forfeit-leadership``; the server is a no-op on a follower
  (``internal/pkg/etcd/etcd.go:277``) and refuses a one-member cluster (``:247``).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from homeops.adapters.talosctl import Talosctl
from homeops.errors import CommandError, ConfigError, HomeopsError, PlanError
from homeops.inventory.versions import Version
from homeops.operations.planners import Request, plan_apply, plan_upgrade
from homeops.upgradepath import check_support

from .fakes import make_inventory
from .simrig import SimRig, make_sim_rig
from .test_planners import NOW, facts_for

TARGET = "v1.14.0"


def sim_114(tmp_path: Path, **kwargs: Any) -> SimRig:
    return make_sim_rig(tmp_path, talos="v1.13.9", client="v1.14.0", **kwargs)


def log_index(rig: SimRig, *words: str, ip: str | None = None) -> list[int]:
    """Positions in the sim's command log (completion order) of commands containing all ``words``."""
    found = []
    for i, entry in enumerate(rig.state["log"]):
        argv = entry["argv"]
        if all(w in argv for w in words) and (ip is None or ip in argv):
            found.append(i)
    return found


# ----------------------------------------------------------------------------------- support matrix


@pytest.mark.parametrize(("kube", "ok"), [("v1.31.9", False), ("v1.32.0", True), ("v1.37.1", True), ("v1.38.0", False)])
def test_talos_114_kubernetes_range_is_talos114_go(kube: str, ok: bool) -> None:
    if ok:
        check_support(Version.parse(TARGET), Version.parse(kube))
    else:
        with pytest.raises(PlanError, match=r"not supported on Talos v1\.14\.0"):
            check_support(Version.parse(TARGET), Version.parse(kube))


def test_kubernetes_too_old_for_114_is_refused_in_the_plan(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    facts = facts_for(inv, version="v1.13.9", kube="v1.31.4")
    with pytest.raises(PlanError, match=r"Kubernetes v1.31.4 is not supported on Talos v1.14.0 \(supports 1.32–1.37\)"):
        plan_upgrade(inv, facts, Request(now=NOW, version=TARGET), operation="upgrade-cluster")


# ----------------------------------------------------------------------------------- 1.14 refusals


def test_non_factory_installer_refused_for_114_naming_the_factory(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    ghcr = replace(inv.nodes[4], talos_image_url="ghcr.io/siderolabs/installer")
    inv = replace(inv, nodes=(*inv.nodes[:4], ghcr, *inv.nodes[5:]))
    facts = facts_for(inv, version="v1.13.9")
    with pytest.raises(
        PlanError, match=r"k8s-4: installer ghcr.io/siderolabs/installer:v1.14.0 is not an Image"
    ) as err:
        plan_upgrade(inv, facts, Request(now=NOW, version=TARGET), operation="upgrade-cluster")
    assert "factory.talos.dev/metal-installer/" in (err.value.hint or "")
    # The same installer is still published for 1.13: no refusal there.
    plan = plan_upgrade(inv, facts_for(inv, version="v1.12.11"), Request(now=NOW, version="v1.13.9"), operation="x")
    assert any(s.image == "ghcr.io/siderolabs/installer:v1.13.9" for s in plan.steps)


def test_explicit_ghcr_image_for_114_refused(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    request = Request(now=NOW, version=TARGET, nodes=("k8s-3",), image="ghcr.io/siderolabs/installer:v1.14.0")
    with pytest.raises(PlanError, match="publishes only those"):
        plan_upgrade(inv, facts_for(inv, version="v1.13.9"), request, operation="upgrade-node")


def test_apply_mode_reboot_refused_for_114_nodes_only(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    files = {n.hostname: tmp_path / f"{n.hostname}.yaml" for n in inv.nodes}
    request = Request(now=NOW, mode="reboot", config_files=files)
    with pytest.raises(PlanError, match=r"--mode reboot does not exist for k8s-2 on Talos v1.14.0"):
        plan_apply(inv, facts_for(inv, version="v1.13.9", **{"k8s-2": TARGET}), request, operation="apply")
    plan = plan_apply(inv, facts_for(inv, version="v1.13.9"), request, operation="apply")
    applies = [s.commands[0].argv for s in plan.steps if s.action == "apply"]
    assert len(applies) == 6 and all(argv[-2:] == ("--mode", "reboot") for argv in applies)


def test_adapter_refuses_apply_mode_reboot_with_a_114_client(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"--mode=reboot was removed in talosctl 1\.14"):
        Talosctl(tmp_path / "tc", client_version="v1.14.0").apply_config("10.0.0.1", "c.yaml", mode="reboot")
    argv = Talosctl(tmp_path / "tc", client_version="v1.13.9").apply_config("10.0.0.1", "c.yaml", mode="reboot")
    assert argv[-2:] == ["--mode", "reboot"]


def test_sim_114_client_has_no_apply_mode_reboot(tmp_path: Path) -> None:
    rig = sim_114(tmp_path)
    config = tmp_path / "c.yaml"
    config.write_text("machine:\n  type: worker\n")
    result = rig.runtime.local.run(
        ["talosctl", "--nodes", "10.10.0.23", "apply-config", "-f", str(config), "-m", "reboot"]
    )
    assert result.exit_code == 1
    assert 'invalid argument "reboot" for "-m, --mode" flag: possible options are: auto, no-reboot, staged, try' in (
        result.stderr
    )


def test_sim_ghcr_installer_for_114_is_not_found(tmp_path: Path) -> None:
    rig = sim_114(tmp_path)
    argv = ["talosctl", "--nodes", "10.10.0.23", "upgrade", "--image", "ghcr.io/siderolabs/installer:v1.14.0"]
    result = rig.runtime.local.run([*argv, "--wait=false", "--drain=false"])
    assert result.exit_code == 1 and "not found" in result.stderr
    assert rig.state["nodes"]["k8s-3"]["talos_version"] == "v1.13.9" and not rig.state["nodes"]["k8s-3"].get("pending")


# ----------------------------------------------------------------------------------- 1.13 → 1.14 on the sim


def test_upgrade_113_to_114_on_the_sim_pre_pulls_and_hands_off_etcd_leadership(tmp_path: Path) -> None:
    rig = sim_114(tmp_path)
    leader = rig.state["etcd"]["leader"]
    leader_ip = rig.state["nodes"][leader]["ip"]
    plan = rig.plan(version=TARGET)
    assert plan.steps[0].action == "pre-pull" and len(plan.steps[0].commands) == 6
    assert "image pull --talosconfig" in plan.render() and "--namespace system factory.talos.dev/" in plan.render()

    leader_at_its_upgrade: list[str | None] = []
    rig.after(f"upgrade {leader_ip}", lambda: leader_at_its_upgrade.append(rig.state["etcd"]["leader"]))
    outcome = rig.executor().run(plan, yes=True)

    assert outcome.status == "finished"
    assert {n["talos_version"] for n in rig.state["nodes"].values()} == {TARGET}
    # Pre-pull: every node pulled its Factory installer into `system` before the first drain and snapshot.
    pulls = log_index(rig, "image", "pull", "--namespace", "system")
    assert len(pulls) == 6
    first_change = min(log_index(rig, "drain") + log_index(rig, "snapshot") + log_index(rig, "upgrade"))
    assert max(pulls) < first_change
    assert all(TARGET in image and "factory.talos.dev/metal-installer/" in image for image in _images(rig))
    # Leader last, and it handed leadership off right before its own upgrade (never while leading).
    assert rig.upgraded()[2] == leader
    forfeits = log_index(rig, "forfeit-leadership", ip=leader_ip)
    upgrade = log_index(rig, "upgrade", ip=leader_ip)
    assert forfeits and forfeits[-1] < upgrade[0]
    assert leader_at_its_upgrade and leader_at_its_upgrade[0] not in (leader, None)
    # Each control plane got a hand-off (a no-op while it follows); workers never.
    cp_ips = {n["ip"] for n in rig.state["nodes"].values() if n["control_plane"]}
    sent = {e["argv"][e["argv"].index("--nodes") + 1] for e in rig.state["log"] if "forfeit-leadership" in e["argv"]}
    assert sent == cp_ips


def _images(rig: SimRig) -> list[str]:
    return [argv[argv.index("--image") + 1] for argv in rig.log("talosctl", "upgrade")]


@pytest.mark.parametrize(("fault", "why"), [("image-pull-fails", "not found"), ("image-pull-stalls", "stalled")])
def test_a_failed_or_stalled_pre_pull_stops_the_run_with_nothing_changed(tmp_path: Path, fault: str, why: str) -> None:
    rig = sim_114(tmp_path)
    rig.fault(fault, "k8s-4")
    plan = rig.plan(version=TARGET)
    before = {h: (n["talos_version"], n["boot_id"]) for h, n in rig.state["nodes"].items()}
    with pytest.raises(CommandError) as err:
        rig.executor().run(plan, yes=True)
    message = str(err.value)
    assert "installer pre-pull failed on 1 of 6: k8s-4: factory.talos.dev/metal-installer/" in message
    assert f":{TARGET} (" in message and why in message and "no node was drained or upgraded" in message
    after = {h: (n["talos_version"], n["boot_id"]) for h, n in rig.state["nodes"].items()}
    assert after == before
    assert not log_index(rig, "drain") and not log_index(rig, "upgrade") and not log_index(rig, "snapshot")
    assert not any(n["unschedulable"] for n in rig.state["k8s"]["nodes"].values())


def test_pre_pull_deadline_and_parallelism_come_from_homeops_yaml(tmp_path: Path) -> None:
    import yaml

    from homeops.inventory.loader import load_inventory

    from .simrig import example_copy

    root = example_copy(tmp_path)
    config = yaml.safe_load((root / "homeops.yaml").read_text())
    config["upgrade"].update(prePullTimeout=90, prePullParallel=2)
    (root / "homeops.yaml").write_text(yaml.safe_dump(config))
    inv = load_inventory(root)
    assert (inv.policy.pre_pull_timeout, inv.policy.pre_pull_parallel) == (90.0, 2)
    plan = plan_upgrade(inv, facts_for(inv, version="v1.13.9"), Request(now=NOW, version=TARGET), operation="x")
    assert {c.timeout for c in plan.steps[0].commands} == {90.0}
    for key, bad in (("prePullTimeout", 0), ("prePullParallel", 0), ("prePullParallel", "four")):
        broken = {**config, "upgrade": {**config["upgrade"], key: bad}}
        (root / "homeops.yaml").write_text(yaml.safe_dump(broken))
        with pytest.raises(ConfigError, match=f"upgrade.{key}"):
            load_inventory(root)


def test_forfeit_on_a_single_member_cluster_is_refused_by_the_sim(tmp_path: Path) -> None:
    rig = sim_114(tmp_path)
    with rig.store.transaction() as state:
        for name in ("k8s-1", "k8s-2"):
            state["etcd"]["members"].pop(name)
    result = rig.runtime.local.run(["talosctl", "--nodes", "10.10.0.20", "etcd", "forfeit-leadership"])
    assert result.exit_code == 1 and "cannot forfeit leadership, only one member" in result.stderr


# ----------------------------------------------------------------------------------- volume detach


def _attach(rig: SimRig) -> None:
    pod = next(p for p in rig.state["k8s"]["pods"] if p["node"] == "k8s-4" and p["owner"].startswith("Deployment/"))
    with rig.store.transaction() as state:
        state["k8s"]["volume_attachments"] = [
            {
                "name": "csi-aaa",
                "node": "k8s-4",
                "pv": "pvc-immich-library",
                "pod": f"{pod['namespace']}/{pod['name']}",
            },
            {"name": "csi-bbb", "node": "k8s-5", "pv": "pvc-postgres-data", "attacher": "rook-ceph.rbd.csi.ceph.com"},
        ]


def test_drain_waits_for_the_volume_attachments_to_go_before_the_reboot(tmp_path: Path) -> None:
    rig = sim_114(tmp_path)
    _attach(rig)
    plan = rig.plan(version=TARGET)
    drain = next(s for s in plan.steps if s.action == "drain" and s.node == "k8s-4")
    assert [w.kind for w in drain.waits] == ["volumes-detached"]
    outcome = rig.executor().run(plan, yes=True)
    assert outcome.status == "finished"
    record = outcome.journal.step(drain.id)  # type: ignore[union-attr]
    assert record.data["wait_volumes-detached"] == "no volume attached to k8s-4"


def test_a_volume_that_never_detaches_stops_the_run_before_that_node_reboots(tmp_path: Path) -> None:
    from homeops.errors import WaitTimeout

    rig = sim_114(tmp_path)
    _attach(rig)
    rig.fault("volume-detach-stuck", "k8s-5")
    with pytest.raises(WaitTimeout) as err:
        rig.executor().run(rig.plan(version=TARGET), yes=True)
    assert "k8s-5: pvc-postgres-data" in str(err.value) and "k8s-5" in str(err.value)
    assert "10.10.0.25" not in {argv[argv.index("--nodes") + 1] for argv in rig.log("talosctl", "upgrade")}
    assert rig.state["nodes"]["k8s-5"]["talos_version"] == "v1.13.9"
    assert rig.state["nodes"]["k8s-4"]["talos_version"] == TARGET  # its volume detached with the drain


# ----------------------------------------------------------------------------------- in-cluster upgraders (tuppr)

SUSPEND = "tuppr.home-operations.com/suspend"


def _tuppr(rig: SimRig, phase: str = "Pending", node: str = "") -> None:
    with rig.store.transaction() as state:
        state["k8s"]["tuppr"] = [
            {"kind": "TalosUpgrade", "name": "talos", "phase": phase, "current_node": node},
            {"kind": "KubernetesUpgrade", "name": "kubernetes", "phase": "Completed"},
        ]


def _suspended(rig: SimRig) -> dict[str, str | None]:
    return {r["name"]: (r.get("annotations") or {}).get(SUSPEND) for r in rig.state["k8s"]["tuppr"]}


def _annotations(rig: SimRig) -> list[str]:
    return [argv[argv.index("annotate") + 3] for argv in rig.log("kubectl") if "annotate" in argv]


def test_a_tuppr_upgrade_in_progress_refuses_the_run(tmp_path: Path) -> None:
    # tuppr 0.5.0 api/v1alpha1/shared_types.go:155: Upgrading is an active phase.
    rig = sim_114(tmp_path)
    _tuppr(rig, "Upgrading", "k8s-3")
    with pytest.raises(PlanError, match=r"in progress: tuppr TalosUpgrade talos \(Upgrading\); nothing was changed"):
        rig.plan(version=TARGET)
    assert not rig.log("kubectl", "annotate") and not rig.log("talosctl", "upgrade")


class Killed(BaseException):
    """Stands in for kill -9: nothing in the executor catches it, the journal stays as it was."""


def test_a_suspended_tuppr_is_restored_after_kill_and_resume(tmp_path: Path) -> None:
    from homeops.engine.journal import Journal

    rig = sim_114(tmp_path)
    _tuppr(rig)
    plan = rig.plan(version=TARGET)
    assert plan.steps[0].action == "suspend-upgraders" and plan.steps[-1].action == "restore-upgraders"

    def kill() -> None:
        raise Killed

    rig.after("upgrade", kill)
    with pytest.raises(Killed):
        rig.executor().run(plan, yes=True)
    assert _suspended(rig) == {"talos": "homeops", "kubernetes": "homeops"}  # the dead run left them suspended

    journal = Journal.latest(rig.inventory.state_dir, "upgrade-cluster", rig.runtime.clock)
    assert journal is not None and journal.status == "running"
    outcome = rig.executor().run(journal.plan(), yes=True, resume=journal)
    assert outcome.status == "finished"
    assert _suspended(rig) == {"talos": None, "kubernetes": None}
    assert _annotations(rig) == [f"{SUSPEND}=homeops"] * 2 + [f"{SUSPEND}-"] * 2


def test_a_failed_run_restores_tuppr_and_a_resume_suspends_it_again(tmp_path: Path) -> None:
    rig = sim_114(tmp_path)
    _tuppr(rig)
    with rig.store.transaction() as state:  # suspended by the operator: homeops leaves it alone
        state["k8s"]["tuppr"][1]["annotations"] = {SUSPEND: "maintenance"}
    rig.fault("image-pull-fails", "k8s-2")
    with pytest.raises(CommandError) as err:
        rig.executor().run(rig.plan(version=TARGET), yes=True)
    assert "in-cluster upgraders restored: talosupgrades/talos" in (err.value.hint or "")
    assert _suspended(rig) == {"talos": None, "kubernetes": "maintenance"}

    from homeops.engine.journal import Journal

    with rig.store.transaction() as state:
        state["faults"] = []
    journal = Journal.latest(rig.inventory.state_dir, "upgrade-cluster", rig.runtime.clock)
    assert journal is not None
    outcome = rig.executor().run(journal.plan(), yes=True, resume=journal)
    assert outcome.status == "finished"
    assert _annotations(rig) == [f"{SUSPEND}=homeops", f"{SUSPEND}-", f"{SUSPEND}=homeops", f"{SUSPEND}-"]
    assert _suspended(rig) == {"talos": None, "kubernetes": "maintenance"}


# ----------------------------------------------------------------------------------- failure evidence


def test_a_failed_node_leaves_an_age_encrypted_support_bundle_in_the_run_folder(tmp_path: Path) -> None:
    import io
    import json
    import tarfile

    import pyrage

    rig = sim_114(tmp_path)
    assert rig.inventory.cluster.sops_config is not None
    rig.fault("node-rollback", "k8s-1")
    with pytest.raises(HomeopsError) as err:
        rig.executor().run(rig.plan(version=TARGET), yes=True)
    bundle = next(Path(p) for p in _artifacts(rig).values() if p.endswith("evidence-k8s-1.tar.gz.age"))
    assert f"failure evidence (age-encrypted): {bundle}" in (err.value.hint or "")
    assert bundle.parent.name.endswith("upgrade-cluster") and (bundle.stat().st_mode & 0o077) == 0
    assert b"k8s-1" not in bundle.read_bytes()  # encrypted, not just packed

    key = next(ln for ln in (rig.inventory.root / "age.key").read_text().splitlines() if ln.startswith("AGE-SECRET"))
    plain = pyrage.decrypt(bundle.read_bytes(), [pyrage.x25519.Identity.from_str(key)])
    with tarfile.open(fileobj=io.BytesIO(plain)) as tar:
        names = sorted(tar.getnames())
        dmesg = tar.extractfile("k8s-1/dmesg-tail.txt").read().decode()  # type: ignore[union-attr]
        reason = tar.extractfile("k8s-1/reason.txt").read().decode()  # type: ignore[union-attr]
    assert names == [f"k8s-1/{n}" for n in ("dmesg-tail.txt", "machinestatus.yaml", "reason.txt", "support.zip")]
    assert "10.10.0.21" in dmesg and "rollback" in reason.lower()
    report = json.loads((bundle.parent / "report.json").read_text())
    assert report["artifacts"]["evidence_k8s-1"] == str(bundle)
    assert str(bundle) in (bundle.parent / "report.md").read_text()


def _artifacts(rig: SimRig) -> dict[str, str]:
    from homeops.engine.journal import Journal

    journal = Journal.latest(rig.inventory.state_dir, "upgrade-cluster", rig.runtime.clock)
    assert journal is not None
    return journal.artifacts


# ----------------------------------------------------------------------------------- Longhorn gate (topf#135)


def test_longhorn_gate_waits_for_the_replica_rebuild_after_a_reboot(tmp_path: Path) -> None:
    from homeops.inventory.model import Gates

    rig = sim_114(tmp_path, gates=Gates(proxmox=True, nas=True, longhorn=True))
    with rig.store.transaction() as state:
        state["k8s"]["longhorn"] = [{"name": "pvc-immich-library", "replicas": ["k8s-3", "k8s-4"]}]
    rig.fault("longhorn-degraded-after-reboot", "k8s-3", seconds=90)
    plan = rig.plan(version=TARGET)
    assert "longhorn" in {g.kind for g in plan.preflight}
    outcome = rig.executor().run(plan, yes=True)
    assert outcome.status == "finished"
    upgrades = {e["argv"][e["argv"].index("--nodes") + 1]: e["t"] for e in rig.state["log"] if "upgrade" in e["argv"]}
    back = rig.state["nodes"]["k8s-3"]["ready_since"]
    after_k8s3 = [t for ip, t in upgrades.items() if t > upgrades["10.10.0.23"]]
    assert after_k8s3 and min(after_k8s3) >= back + 90  # nothing else went down while its replica rebuilt
    assert "pvc-immich-library degraded" in rig.out.getvalue()


# ----------------------------------------------------------------------------------- faults from real incidents


def test_installed_but_never_rebooted_stops_at_that_node(tmp_path: Path) -> None:
    """home-operations/tuppr#575: the upgrade reports success and the node never reboots."""
    from homeops.errors import WaitTimeout

    rig = sim_114(tmp_path)
    first = next(s.node for s in rig.plan(version=TARGET).steps if s.action == "upgrade")
    rig.fault("upgrade-no-reboot", first)
    with pytest.raises(WaitTimeout) as err:
        rig.executor().run(rig.plan(version=TARGET), yes=True)
    assert "a new boot ID" in str(err.value) and first in str(err.value)
    assert "tuppr#575" in (err.value.hint or "")
    assert len(rig.log("talosctl", "upgrade")) == 1  # nothing after it
    assert rig.state["nodes"][first]["talos_version"] == "v1.13.9" and rig.state["nodes"][first]["ready"]


def test_a_rolled_back_node_is_not_sent_the_same_upgrade_again_on_resume(tmp_path: Path) -> None:
    """siderolabs/omni#1552: after an A/B rollback, re-issuing the upgrade loops; homeops stops instead."""
    from homeops.engine.journal import Journal
    from homeops.errors import GateFailed

    rig = sim_114(tmp_path)
    first = next(s.node for s in rig.plan(version=TARGET).steps if s.action == "upgrade")
    rig.fault("node-rollback", first, times=5)  # the image never boots on this node
    with pytest.raises(HomeopsError, match="rolled back to its previous A/B image"):
        rig.executor().run(rig.plan(version=TARGET), yes=True)
    journal = Journal.latest(rig.inventory.state_dir, "upgrade-cluster", rig.runtime.clock)
    assert journal is not None
    with pytest.raises(GateFailed, match=r"does not send the same upgrade again on resume .*omni#1552"):
        rig.executor().run(journal.plan(), yes=True, resume=journal)
    assert len(rig.log("talosctl", "upgrade")) == 1
    assert rig.state["nodes"][first]["talos_version"] == "v1.13.9"


def test_a_talosctl_client_older_than_the_target_is_refused(tmp_path: Path) -> None:
    """home-operations/tuppr#544: talosctl 1.13 driving an upgrade to 1.14."""
    rig = make_sim_rig(tmp_path, talos="v1.13.9", client="v1.13.9")
    with pytest.raises(PlanError, match=r"talosctl v1.13.9 is older than the target Talos v1.14.0") as err:
        rig.plan(version=TARGET)
    assert "v1.14.x" in (err.value.hint or "")
    assert rig.plan(version="v1.13.9").empty  # the same client is fine for its own minor


# ----------------------------------------------------------------------------------- kured, system-upgrade-controller

KURED_LOCK = "weave.works/kured-node-lock"


def test_kured_holding_its_lock_for_a_node_refuses_the_run(tmp_path: Path) -> None:
    # kured's lock annotation on its DaemonSet names the node it is rebooting (kubereboot/kured --lock-annotation).
    rig = sim_114(tmp_path)
    with rig.store.transaction() as state:
        state["k8s"]["kured"] = {"namespace": "kube-system", "annotations": {KURED_LOCK: '{"nodeID":"k8s-4"}'}}
    with pytest.raises(PlanError, match=r"in progress: kured DaemonSet kured \(rebooting k8s-4\)"):
        rig.plan(version=TARGET)


def test_an_idle_kured_is_locked_for_the_run_and_unlocked_after(tmp_path: Path) -> None:
    rig = sim_114(tmp_path)
    with rig.store.transaction() as state:
        state["k8s"]["kured"] = {"namespace": "kube-system", "annotations": {}}
    held: list[str | None] = []
    rig.after("upgrade", lambda: held.append(rig.state["k8s"]["kured"]["annotations"].get(KURED_LOCK)))
    outcome = rig.executor().run(rig.plan(version=TARGET), yes=True)
    assert outcome.status == "finished"
    assert held == ['{"nodeID":"homeops"}']  # held while the first node upgraded
    assert KURED_LOCK not in rig.state["k8s"]["kured"]["annotations"]


def test_a_system_upgrade_controller_plan_applying_refuses_and_an_idle_one_is_named(tmp_path: Path) -> None:
    # rancher/system-upgrade-controller Plan .status.applying: the nodes it is upgrading now.
    rig = sim_114(tmp_path)
    with rig.store.transaction() as state:
        state["k8s"]["suc_plans"] = [{"name": "talos", "namespace": "system-upgrade", "applying": ["k8s-5"]}]
    with pytest.raises(PlanError, match=r"system-upgrade-controller Plan talos \(applying on k8s-5\)"):
        rig.plan(version=TARGET)
    with rig.store.transaction() as state:
        state["k8s"]["suc_plans"][0]["applying"] = []
    plan = rig.plan(version=TARGET)
    assert any("Plan talos (idle) cannot be suspended by homeops" in w for w in plan.warnings)


def test_upgraders_that_cannot_be_listed_are_named_in_the_plan(tmp_path: Path) -> None:
    from homeops.operations.facts import ClusterFacts

    inv = make_inventory(tmp_path)
    facts = replace(facts_for(inv, version="v1.13.9"), upgraders_unknown="kubectl get daemonsets: forbidden")
    assert isinstance(facts, ClusterFacts)
    plan = plan_upgrade(inv, facts, Request(now=NOW, version=TARGET), operation="upgrade-cluster")
    assert any("could not be listed: kubectl get daemonsets: forbidden" in w for w in plan.warnings)
    assert not any(s.action == "suspend-upgraders" for s in plan.steps)
