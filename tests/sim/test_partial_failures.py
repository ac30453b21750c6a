"""Issue 11: homeops against the simulator when one node of a multi-node talosctl read is down, and
with a talosctl 1.13 client — the production observer, planner and executor, the sim's fake talosctl.

What the fake reproduces (talos v1.11.6, read with ``git show``):
* ``cmd/talosctl/pkg/talos/helpers/resources.go`` ``ForEachResource``: ``get`` resolves the resource
  type on ``nodes[0]``; that node down means nothing printed for anyone and an error naming no node.
* ``pkg/machinery/client/reply.go`` ``FilterMessages`` (``version``, ``etcd status|members``,
  ``service``): a node down is a ``WARNING:`` line, exit 0, while another node answers.
* v1.13.9 ``cmd/talosctl/cmd/talos/upgrade.go``: ``--drain`` (default true) forces ``--wait``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from homeops.errors import GateFailed
from tests.rolling.simrig import SimRig, make_sim_rig

WORKERS = ("k8s-3", "k8s-4", "k8s-5")


@pytest.fixture
def rig(tmp_path: Path) -> SimRig:
    return make_sim_rig(tmp_path)


def stop_vm(rig: SimRig, hostname: str) -> str:
    """Power the node's VM off in the Proxmox simulation; returns the node's IP."""
    with rig.store.transaction() as state:
        node: dict[str, Any] = state["nodes"][hostname]
        vm = node["vm"]
        state["pve"]["hosts"][vm["host"]]["vms"][str(vm["vmid"])]["status"] = "stopped"
        return str(node["ip"])


def test_first_node_of_a_get_down_is_the_only_one_unreachable(rig: SimRig) -> None:
    ip = stop_vm(rig, "k8s-0")  # first in the inventory: `get machinestatus -n k8s-0,…` prints nothing
    facts = rig.observer.nodes(rig.inventory.nodes)
    assert [h for h, f in facts.items() if not f.reachable] == ["k8s-0"]
    assert f"dial tcp {ip}:50000: connect: no route to host" in facts["k8s-0"].detail
    assert all(f.running_ready and f.version == "v1.10.9" for h, f in facts.items() if h != "k8s-0")


def test_first_etcd_member_down_is_the_only_unhealthy_member(rig: SimRig) -> None:
    ip = stop_vm(rig, "k8s-0")
    etcd = rig.observer.etcd()
    assert etcd.healthy_members == ("k8s-1", "k8s-2") or sorted(etcd.healthy_members) == ["k8s-1", "k8s-2"]
    sick = {m.hostname: m.detail for m in etcd.members if not m.healthy}
    assert list(sick) == ["k8s-0"] and "not answering" in sick["k8s-0"] and f"{ip}:50000" in sick["k8s-0"]


@pytest.mark.parametrize("down", ["k8s-0", "k8s-1"])
def test_rolling_upgrade_stops_naming_the_node_that_is_down(rig: SimRig, down: str) -> None:
    """Workers only are upgraded; a control plane is down — the first node of every multi-node `get`
    (k8s-0), or one etcd member in the middle (k8s-1). The run must stop before touching anything,
    naming that node, and only that node, as unreachable."""
    plan = rig.plan(nodes=WORKERS)  # the down node is not selected: planning succeeds
    ip = stop_vm(rig, down)
    with pytest.raises(GateFailed) as info:
        rig.executor().run(plan, yes=True)
    message = str(info.value)
    assert f"{down}: unreachable" in message and f"{ip}:50000" in message
    others = [n.hostname for n in rig.inventory.nodes if n.hostname != down]
    assert not any(f"{h}: unreachable" in message for h in others), message
    assert rig.upgraded() == []


def test_plan_names_the_down_node_not_the_first_selected_one(rig: SimRig) -> None:
    """With the first node of the `get` down, planning a worker upgrade used to fail on k8s-3 (every node
    looked unreachable); the planner only needs the selected nodes."""
    stop_vm(rig, "k8s-0")
    plan = rig.plan(nodes=WORKERS)
    assert [s.node for s in plan.steps if s.action == "upgrade"] == list(WORKERS)


def test_upgrade_node_with_a_v113_client_does_not_wait_in_talosctl(tmp_path: Path) -> None:
    """talos v1.13.9 upgrade.go: the planner's ``--wait=false`` holds only with ``--drain=false``; the
    upgrade command returns right after the reboot request and homeops' own waits follow the reboot."""
    rig = make_sim_rig(tmp_path, talos="v1.13.0")
    with rig.store.transaction() as state:
        state["config"]["client_version"] = "v1.13.9"
    facts = rig.facts()
    assert facts.talosctl_client == "v1.13.9"
    from homeops.operations.planners import Request, plan_upgrade

    plan = plan_upgrade(
        rig.inventory,
        facts,
        Request(now=rig.runtime.clock.now(), nodes=("k8s-3",), version="v1.13.9"),
        operation="upgrade-node",
    )
    (step,) = [s for s in plan.steps if s.action == "upgrade"]
    argv = step.commands[0].argv
    assert "--wait=false" in argv and "--drain=false" in argv
    clock_at: dict[str, float] = {}

    def watch(command: Any) -> None:
        if "upgrade" in command:
            clock_at["before"] = rig.runtime.clock.now()

    local = rig.runtime.local
    local.watchers.append(watch)  # type: ignore[attr-defined]
    rig.after("upgrade", lambda: clock_at.setdefault("after", rig.runtime.clock.now()))
    outcome = rig.executor().run(plan, yes=True)
    assert outcome.status == "finished"
    assert clock_at["after"] == clock_at["before"]  # talosctl itself spent no simulated time
    assert rig.state["nodes"]["k8s-3"]["talos_version"] == "v1.13.9"
    assert not rig.state["k8s"]["nodes"]["k8s-3"]["unschedulable"]
    assert [log[-1] for log in rig.log("talosctl", "version") if "--client" in log] == ["--short"]
