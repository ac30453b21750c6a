"""Look before you destroy, at the point of no return — on a first run and on ``--resume`` alike.

1. The fresh model's wipes (``dr-reset``: STATE+EPHEMERAL+user volumes; ``dr-recreate-vm``: ``qm stop/destroy``)
   look at the cluster again where they would be sent: etcd quorum with an answering API since the plan
   looked (the Talos guide restores quorum rather than a cluster, siderolabs/docs
   ``public/talos/v1.11/…/disaster-recovery.mdx:62-68``) refuses the whole batch, nothing sent, unless
   ``--even-if-healthy`` is given again. The etcd-restore model's EPHEMERAL reset already did this
   (``test_models.py::test_quorum_back_before_the_resets_wipes_nothing``).
2. A reset is addressed by IP: the machine answering there must say it is the plan's node
   (``talosctl read /proc/sys/kernel/hostname``, the rolling upgrades' identity read, ``identity.py``)
   before anything is wiped. A DHCP lease that moved is modelled in the simulator as real DHCP does it: the
   node that lost the lease answers at a new address, the node that got it answers at both.

Kills stand in for ``kill -9``: a ``BaseException`` the executor does not catch, raised right after the
matching command took effect, so the journal stays as the kill left it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from homeops.app.workflows import run_rebuild
from homeops.engine.executor import Outcome
from homeops.errors import HomeopsError
from homeops.operations import drmodel
from homeops.runners import Result
from homeops.runtime import Runtime
from homeops.sim import faults

from .drsim import DrSim

WIPES = ("reset", "destroy", "stop")


class Killed(BaseException):
    """Stands in for kill -9: nothing in the executor catches it."""


class Kill:
    """Kill (or do ``then``) right after the first successful command holding every one of ``words``."""

    def __init__(self) -> None:
        self.words: tuple[str, ...] = ()
        self.then: Callable[[], None] | None = None

    def after(self, *words: str, then: Callable[[], None] | None = None) -> None:
        self.words, self.then = words, then

    def check(self, argv: Sequence[str]) -> None:
        if self.words and all(w in argv for w in self.words):
            self.words = ()
            if self.then is None:
                raise Killed(" ".join(argv))
            self.then()


class Hooked:
    def __init__(self, inner: Any, kill: Kill) -> None:
        self.inner, self.kill, self.target = inner, kill, getattr(inner, "target", None)

    def run(self, argv: Sequence[str], **kw: Any) -> Result:
        result: Result = self.inner.run(argv, **kw)
        if result.ok:
            self.kill.check(argv)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def kill() -> Kill:
    return Kill()


def hooked(drsim: DrSim, kill: Kill) -> Runtime:
    """A runtime on the simulator with the fake tools in-process (as tests/dr/test_rehearse.py), every command
    passing the kill hook."""
    from homeops.sim.runner import SimRunner

    rt = drsim.runtime()
    rt.local = Hooked(SimRunner(rt.inventory.state_dir / "sim"), kill)  # type: ignore[assignment]
    factory = rt.host_factory
    assert factory is not None
    rt.host_factory = lambda spec: Hooked(factory(spec), kill)  # type: ignore[assignment,return-value]
    return rt


def rebuild(drsim: DrSim, kill: Kill, out: io.StringIO | None = None, **options: Any) -> Outcome:
    """``inv dr.rebuild --yes`` with ``options``, on a runtime of its own (as each ``inv`` run has)."""
    with hooked(drsim, kill) as rt:
        return run_rebuild(drsim.root, yes=True, out=out or io.StringIO(), runtime=rt, **options)


def wipes(drsim: DrSim, since: int = 0) -> list[str]:
    """Destructive commands that took effect: ``reset <ip>`` and ``qm stop|destroy <vmid>``."""
    out = []
    for entry in drsim.store.log()[since:]:
        argv = [str(a) for a in entry["argv"]]
        if entry["exit"] != 0:
            continue
        if argv[0] == "talosctl" and "reset" in argv:
            out.append(f"reset {argv[argv.index('--nodes') + 1]}")
        elif argv[0] == "qm" and argv[1] in ("stop", "destroy"):
            out.append(f"qm {argv[1]} {argv[2]}")
    return out


def quorum_lost(drsim: DrSim) -> None:
    with hooked(drsim, Kill()) as rt:  # a look while the API answered left the record of the volumes
        drmodel.observe(rt.inventory, rt.local, now=rt.clock.now())
    drsim.fault("etcd-unhealthy", "k8s-1")
    drsim.fault("etcd-unhealthy", "k8s-2")


def quorum_back(drsim: DrSim) -> None:
    with drsim.store.transaction() as state:
        faults.clear(state, "etcd-unhealthy")


def move_ip(drsim: DrSim, ip: str, to: str) -> str:
    """DHCP gave ``ip`` to ``to`` (now answering at both addresses); the node that had it got a new lease."""
    with drsim.store.transaction() as state:
        old = next(h for h, n in state["nodes"].items() if n["ip"] == ip)
        new = f"10.10.0.{150 + sorted(state['nodes']).index(old)}"
        state["nodes"][old].update(ip=new, ips=[new if a == ip else a for a in state["nodes"][old]["ips"]])
        state["nodes"][to]["ips"].append(ip)
        return str(old)


# ----------------------------------------------------------------------------------- 1. healthy again


@pytest.mark.parametrize(
    ("recreate", "first", "rest"),
    [
        (False, "reset 10.10.0.20", [f"reset 10.10.0.{20 + i}" for i in range(1, 6)]),
        (True, "qm destroy 200", [f"qm {w} {200 + i}" for i in range(1, 6) for w in ("stop", "destroy")]),
    ],
    ids=["reset", "recreate-vm"],
)
def test_quorum_back_between_a_kill_and_resume_wipes_nothing_more(
    drsim: DrSim, kill: Kill, recreate: bool, first: str, rest: list[str]
) -> None:
    quorum_lost(drsim)
    since = len(drsim.store.log())
    kill.after(*first.split())
    with pytest.raises(Killed):
        rebuild(drsim, kill, fresh=True, recreate_vms=recreate)
    assert wipes(drsim, since)[-1] == first  # the kill came right after the first wipe
    wiped = len(wipes(drsim, since))
    quorum_back(drsim)  # k8s-1 and k8s-2 healthy again: 2 of 3 members, and the API answers
    with pytest.raises(HomeopsError) as info:
        rebuild(drsim, kill, resume=True)
    message = str(info.value)
    assert (
        "the cluster is healthy again (etcd 2/3 members healthy: k8s-1, k8s-2; the Kubernetes API answers)" in message
    )
    assert "nothing was sent" in message and "--even-if-healthy" in message and "\n" not in message
    assert len(wipes(drsim, since)) == wiped, "a wipe went out to a cluster that had recovered"
    # the override, asked again on the resume, lets the rest of the wipes go
    kill.after(*rest[-1].split())  # stop once they went out: the rest of the rebuild is not at stake here
    with pytest.raises(Killed):
        rebuild(drsim, kill, resume=True, even_if_healthy=True)
    assert wipes(drsim, since)[wiped:] == rest


def test_quorum_back_while_the_plan_is_read_wipes_nothing(drsim: DrSim, kill: Kill) -> None:
    """First run: the cluster recovers between the look that chose the model and the wipes (the operator
    reading the plan): the look at the point of no return sees it."""
    quorum_lost(drsim)
    since = len(drsim.store.log())

    class Reading(io.StringIO):
        def write(self, text: str) -> int:
            if "POINT OF NO RETURN" in text:
                quorum_back(drsim)
            return super().write(text)

    out = Reading()
    with pytest.raises(HomeopsError, match=r"the cluster is healthy again \(etcd 3/3 members healthy"):
        rebuild(drsim, kill, out, fresh=True)
    assert "model: fresh" in out.getvalue()  # planned as a fresh rebuild of an unhealthy cluster
    assert wipes(drsim, since) == []


def test_a_workers_only_rebuild_of_a_healthy_cluster_is_not_refused(drsim: DrSim, kill: Kill) -> None:
    """Replacing a worker keeps etcd and the apps running by design: the quorum look is for the control planes."""
    kill.after("talosctl", "get", "machinestatus", "--insecure", "10.10.0.24")  # once the reset went out
    with pytest.raises(Killed):
        rebuild(drsim, kill, nodes=("k8s-4",))
    assert wipes(drsim) == ["reset 10.10.0.24"]


# ----------------------------------------------------------------------------------- 2. who answers at the IP


def test_a_reset_to_an_ip_that_moved_to_another_node_wipes_nothing(drsim: DrSim, kill: Kill) -> None:
    """Replacing worker k8s-4, whose lease went to k8s-5: the reset would have wiped k8s-5."""
    moved = move_ip(drsim, "10.10.0.24", to="k8s-5")
    assert moved == "k8s-4"
    with pytest.raises(HomeopsError) as info:
        rebuild(drsim, kill, nodes=("k8s-4",))
    message = str(info.value)
    assert "10.10.0.24 answers as k8s-5, not k8s-4" in message and "nothing was sent" in message
    assert wipes(drsim) == []
    state = drsim.store.read(include_log=False)
    assert not state["nodes"]["k8s-5"].get("maintenance") and state["nodes"]["k8s-5"]["ready"]


def test_a_fresh_reset_batch_with_one_moved_ip_wipes_no_node(drsim: DrSim, kill: Kill) -> None:
    quorum_lost(drsim)
    move_ip(drsim, "10.10.0.23", to="k8s-4")
    since = len(drsim.store.log())
    with pytest.raises(HomeopsError, match=r"10\.10\.0\.23 answers as k8s-4, not k8s-3"):
        rebuild(drsim, kill, fresh=True)
    assert wipes(drsim, since) == []  # the batch is looked at whole, before any node is reset


def test_an_ephemeral_reset_to_an_ip_that_moved_wipes_nothing(drsim: DrSim, kill: Kill) -> None:
    """The etcd-restore model's EPHEMERAL resets: k8s-2's address now answers as control plane k8s-1 (which
    would have had its EPHEMERAL wiped twice, and k8s-2 never)."""
    quorum_lost(drsim)
    move_ip(drsim, "10.10.0.22", to="k8s-1")
    since = len(drsim.store.log())
    with pytest.raises(HomeopsError, match=r"10\.10\.0\.22 answers as k8s-1, not k8s-2"):
        rebuild(drsim, kill)
    assert wipes(drsim, since) == []


def test_an_ephemeral_reset_is_judged_on_the_node_not_on_its_ip(drsim: DrSim, kill: Kill) -> None:
    """k8s-2's lease goes to k8s-1 right after k8s-2's EPHEMERAL reset went out: the etcd Preparing at
    10.10.0.22 is k8s-1's, and the wait fails naming it instead of counting k8s-2 as done."""
    quorum_lost(drsim)
    kill.after("reset", "10.10.0.22", then=lambda: move_ip(drsim, "10.10.0.22", to="k8s-1"))
    since = len(drsim.store.log())
    with pytest.raises(HomeopsError, match=r"10\.10\.0\.22 answers as k8s-1, not k8s-2: the etcd Preparing"):
        rebuild(drsim, kill)
    assert wipes(drsim, since) == ["reset 10.10.0.20", "reset 10.10.0.21", "reset 10.10.0.22"]
    bootstraps = [e for e in drsim.store.log()[since:] if "bootstrap" in e["argv"]]
    assert bootstraps == []  # etcd was not restored on the strength of another node's state


def test_a_configured_node_whose_hostname_cannot_be_read_is_not_reset(drsim: DrSim, kill: Kill) -> None:
    """Who answers cannot be told (a machine with another cluster's PKI, a read that failed): no wipe on a
    guess. The refusal is a stop, not a dead end: ``--resume`` looks again and goes on."""
    drsim.fault("command-fails", "k8s-4", tool="talosctl", subcommand="read")
    with pytest.raises(HomeopsError) as info:
        rebuild(drsim, kill, nodes=("k8s-4",))
    assert "10.10.0.24 answers as a configured Talos node whose hostname cannot be read" in str(info.value)
    assert wipes(drsim) == []
    kill.after("talosctl", "get", "machinestatus", "--insecure", "10.10.0.24")  # once the reset went out
    with pytest.raises(Killed):
        rebuild(drsim, kill, resume=True)
    assert wipes(drsim) == ["reset 10.10.0.24"]


# ----------------------------------------------------------------------------------- 3. which VM is at the vmid


def test_a_vm_recreate_whose_vmid_holds_another_vm_destroys_nothing(drsim: DrSim, kill: Kill) -> None:
    """``qm destroy`` is addressed by vmid: the VM there must carry the name the plan's ``qm create --name``
    gives back (``qm config`` prints ``name:``, qemu-server ``PVE/QemuServer.pm`` ``confdesc.name``). VM 203's
    id now belongs to another VM (a vmid typo in homeops.yaml, an id reused): the whole batch is refused."""
    quorum_lost(drsim)
    with drsim.store.transaction() as state:
        vm = next(h["vms"]["203"] for h in state["pve"]["hosts"].values() if "203" in h["vms"])
        vm["config"]["name"] = "nas-backup"
    since = len(drsim.store.log())
    with pytest.raises(HomeopsError) as info:
        rebuild(drsim, kill, fresh=True, recreate_vms=True)
    message = str(info.value)
    assert "VM 203 on" in message and "is named nas-backup, not k8s-3" in message and "nothing was sent" in message
    assert "qm set 203 --name k8s-3" in message and "\n" not in message
    assert wipes(drsim, since) == []
