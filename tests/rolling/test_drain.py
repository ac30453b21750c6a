"""talosctl ≥ 1.13: homeops cordons and drains each node before ``talosctl upgrade --drain=false``
and uncordons it once it is back and Ready; older clients leave that to Talos' legacy upgrade.

Sources: talos v1.13.9 ``cmd/talosctl/cmd/talos/upgrade.go`` (``--drain`` default true forces
``--wait``; with ``--drain=false`` the LifecycleService flow reboots through the Reboot sequence,
which has no drain phase: ``internal/app/machined/pkg/runtime/v1alpha1/v1alpha1_sequencer.go``),
``internal/app/machined/pkg/controllers/k8s/node_apply.go`` (Talos uncordons at boot only a node it
cordoned itself — annotated — so a node homeops cordoned stays cordoned), kubectl ``pkg/drain/drain.go``
(a PodDisruptionBudget refusal is retried every 5s until ``--timeout``).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import pytest

from homeops.adapters import kubectl
from homeops.engine.journal import Journal
from homeops.errors import Aborted, CommandError

from .simrig import SimRig, make_sim_rig

CLIENT = "v1.13.9"
NODES = [f"k8s-{i}" for i in range(6)]


@pytest.fixture
def rig113(tmp_path: Path) -> SimRig:
    return make_sim_rig(tmp_path, talos="v1.13.0", client=CLIENT)


def events(rig: SimRig) -> list[tuple[str, str]]:
    """(action, node) for every drain, cordon, uncordon and talosctl upgrade, in the sim's log order."""
    by_ip = {n.ip: n.hostname for n in rig.inventory.nodes}
    out = []
    for entry in rig.state["log"]:
        argv = entry["argv"]
        if entry["tool"] == "kubectl":
            words = [a for a in argv if a in ("drain", "cordon", "uncordon")]
            if words:
                out.append((words[0], argv[argv.index(words[0]) + 1]))
        elif entry["tool"] == "talosctl" and argv[1] == "upgrade":
            out.append(("upgrade", by_ip[argv[argv.index("--nodes") + 1]]))
    return out


def assert_each_node_drained_upgraded_uncordoned(seq: Sequence[tuple[str, str]]) -> None:
    """Per node: drain → upgrade → uncordon, and a node is uncordoned before the next one is drained."""
    upgrades = [node for action, node in seq if action == "upgrade"]
    assert sorted(upgrades) == sorted(NODES)  # each exactly once
    assert ("cordon", NODES[0]) not in seq  # kubectl drain cordons by itself
    for node in NODES:
        up = seq.index(("upgrade", node))
        drains = [i for i, e in enumerate(seq) if e == ("drain", node)]
        uncordons = [i for i, e in enumerate(seq) if e == ("uncordon", node)]
        assert drains and max(drains) < up, (node, seq)
        assert uncordons and min(uncordons) > up, (node, seq)
    changed = [node for action, node in seq if action == "upgrade"]
    for first, second in itertools.pairwise(changed):
        assert seq.index(("uncordon", first)) < seq.index(("drain", second)), seq


def schedulable(rig: SimRig) -> dict[str, bool]:
    return {name: not k["unschedulable"] for name, k in rig.state["k8s"]["nodes"].items()}


def test_113_client_drains_before_and_uncordons_after_each_node(rig113: SimRig) -> None:
    plan = rig113.plan(version=CLIENT)
    kubeconfig = rig113.inventory.cluster.kubeconfig
    text = plan.render()
    drain = f"$ kubectl --kubeconfig {kubeconfig} drain k8s-3 --timeout=5m --ignore-daemonsets --delete-emptydir-data"
    assert drain in text
    assert f"$ kubectl --kubeconfig {kubeconfig} uncordon k8s-3" in text
    assert "--wait=false --drain=false" in text

    watched: list[bool] = []

    def cordoned_when_upgraded(argv: Sequence[str]) -> None:
        if "upgrade" in argv and "--nodes" in argv:
            node = next(n.hostname for n in rig113.inventory.nodes if n.ip == argv[argv.index("--nodes") + 1])
            watched.append(rig113.state["k8s"]["nodes"][node]["unschedulable"])

    local = rig113.runtime.local
    local.watchers.append(cordoned_when_upgraded)  # type: ignore[attr-defined]
    outcome = rig113.executor().run(plan, yes=True)

    assert outcome.status == "finished"
    assert_each_node_drained_upgraded_uncordoned(events(rig113))
    assert watched == [True] * 6  # every node was cordoned when talosctl upgrade went out
    assert all(schedulable(rig113).values())
    assert {n["talos_version"] for n in rig113.state["nodes"].values()} == {CLIENT}
    # The drained node's pods went elsewhere, none is left on a node that was upgraded while cordoned.
    journal = outcome.journal
    assert journal is not None and journal.step("k8s-3:drain@v1.13.9").data["evicted"] >= 1


def test_pre_113_client_leaves_the_drain_to_talos(tmp_path: Path) -> None:
    rig = make_sim_rig(tmp_path)  # client v1.11.6 (the talconfig's): legacy upgrade, Talos drains
    plan = rig.plan()
    assert {s.action for s in plan.steps} >= {"upgrade"}
    assert not {s.action for s in plan.steps} & {"drain", "uncordon"}
    assert "kubectl" not in plan.render().split("Preflight")[0]
    assert all("--drain" not in " ".join(c.argv) for s in plan.steps for c in s.commands)
    assert rig.executor().run(plan, yes=True).status == "finished"
    assert [a for a, _ in events(rig)] == ["upgrade"] * 6


class Crash(KeyboardInterrupt):
    """Stands in for SIGKILL: the executor journals the run as interrupted, steps stay as they were."""


@pytest.mark.parametrize(
    "where",
    ["after the drain, before the upgrade", "after the upgrade was sent", "after the reboot, before the uncordon"],
)
def test_a_crash_anywhere_in_drain_upgrade_uncordon_resumes_correctly(rig113: SimRig, where: str) -> None:
    local = rig113.runtime.local
    target = "k8s-2"  # the second node: one node is already done when the crash comes

    def crash(*_: object) -> None:
        raise Crash

    if where.startswith("after the drain"):
        rig113.after(f"drain {target}", crash)
    elif where.startswith("after the upgrade"):
        ip = rig113.inventory.node(target).ip
        rig113.after(f"upgrade --nodes {ip}", crash)
    else:

        def before_uncordon(argv: Sequence[str]) -> None:
            if "uncordon" in argv and target in argv:
                local.watchers.remove(before_uncordon)  # type: ignore[attr-defined]
                raise Crash

        local.watchers.append(before_uncordon)  # type: ignore[attr-defined]

    with pytest.raises(Aborted, match="--resume"):
        rig113.executor().run(rig113.plan(version=CLIENT), yes=True)
    assert rig113.state["k8s"]["nodes"][target]["unschedulable"] is True  # left cordoned by the crash
    journal = Journal.latest(rig113.inventory.state_dir, "upgrade-cluster", rig113.runtime.clock)
    assert journal is not None and journal.status == "interrupted"

    outcome = rig113.executor().run(journal.plan(), yes=True, resume=journal)

    assert outcome.status == "finished"
    assert_each_node_drained_upgraded_uncordoned(events(rig113))  # no node upgraded twice
    assert all(schedulable(rig113).values())
    if where.startswith("after the reboot"):
        assert journal.step(f"{target}:upgrade@{CLIENT}").status == "done"
        assert [e for e in events(rig113) if e == ("upgrade", target)] == [("upgrade", target)]


def test_a_pdb_that_never_yields_stops_before_the_upgrade_and_resume_finishes(rig113: SimRig) -> None:
    rig113.fault("drain-blocked-by-pdb", "k8s-3")
    with pytest.raises(CommandError) as info:
        rig113.executor().run(rig113.plan(version=CLIENT), yes=True)
    message = str(info.value)
    assert "PodDisruptionBudget" in message and "k8s-3" in message
    assert "cordoned by homeops: k8s-3" in (info.value.hint or "")
    assert ("upgrade", "k8s-3") not in events(rig113)  # never sent
    assert rig113.state["k8s"]["nodes"]["k8s-3"]["unschedulable"] is True

    with rig113.store.transaction() as state:  # the operator scales the blocking app / fixes the PDB
        from homeops.sim import faults

        faults.clear(state, "drain-blocked-by-pdb")
    journal = Journal.latest(rig113.inventory.state_dir, "upgrade-cluster", rig113.runtime.clock)
    assert journal is not None and journal.status == "failed"
    assert rig113.executor().run(journal.plan(), yes=True, resume=journal).status == "finished"
    assert_each_node_drained_upgraded_uncordoned(events(rig113))


def test_sim_drain_blocked_by_a_pdb_prints_like_kubectl(rig113: SimRig) -> None:
    """kubectl master@dee3483a pkg/drain/drain.go evictPods: "evicting pod" on stdout, a 429 → "error when
    evicting pods/%q -n %q (will retry after 5s): %v" on stderr; at --timeout "global timeout reached";
    pkg/cmd/drain/drain.go then lists the pending pods and nodes, and cobra prints "error: …"."""
    rig113.fault("drain-blocked-by-pdb", "k8s-4")
    kctl = kubectl.Kubectl(rig113.inventory.cluster.kubeconfig)
    result = rig113.runtime.local.run(kctl.drain("k8s-4", timeout=30), timeout=90)
    assert result.exit_code == 1
    report = kubectl.parse_drain(result.stdout, result.stderr)
    assert report.cordoned and not report.drained and len(report.pdb_blocked) == 1
    assert result.stdout.splitlines() == ["node/k8s-4 cordoned", f"evicting pod {report.pdb_blocked[0]}"]
    assert result.stderr.splitlines()[-1].startswith('error: error when evicting pods/"')
    assert "Cannot evict pod as it would violate the pod's disruption budget." in result.stderr
    assert "global timeout reached: 30s" in result.stderr
    assert 'error: unable to drain node "k8s-4"' in result.stderr
    assert "There are pending nodes to be drained:\n k8s-4\n" in result.stderr
    # The adapter names the blocked pod in its one-line error.
    with pytest.raises(CommandError, match="PodDisruptionBudget") as info:
        kubectl.drain(rig113.runtime.local, kctl, "k8s-4", timeout=30)
    assert report.pdb_blocked[0] in (info.value.hint or "")


def test_batched_plan_drains_the_batch_then_uncordons_it_in_the_next_batch(rig113: SimRig) -> None:
    plan = rig113.plan(version=CLIENT, max_unavailable=3)
    workers = [b for b in plan.batches() if {s.node for s in b} == {"k8s-3", "k8s-4", "k8s-5"}]
    assert [[s.action for s in b] for b in workers] == [
        ["vm-snapshot"] * 3 + ["drain"] * 3 + ["upgrade"] * 3,
        ["uncordon", "uncordon", "uncordon"],
    ]
    upgrade, uncordon = workers[0][6], workers[1][0]
    # The cluster gates and the stability window come after the uncordon, not between it and the reboot.
    assert upgrade.gates_after == () and uncordon.gates_after
    assert [w.kind for w in upgrade.waits] == ["rebooted", "running", "k8s-back"]
    assert [w.kind for w in uncordon.waits] == ["k8s-ready"]
    assert rig113.executor().run(plan, yes=True).status == "finished"
    assert all(schedulable(rig113).values())
