"""dr.rebuild looks first and chooses its model (issue 17 §1-4, §6; issue 22 §3.2, 3.8, 3.10, 3.12).

The two models are the Talos recovery guide's etcd restore and the home-ops operators' fresh rebuild
(``../shared/reference/recovery.md`` §1; siderolabs/docs ``public/talos/v1.11/…/disaster-recovery.mdx``
:62-68 look first, :72-73 snapshot even when unhealthy, :39-49/:132-133 raw db + skip-hash, :98-105
EPHEMERAL only, :112-123 Preparing). Each test drives the simulated example cluster.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from homeops.app.workflows import run_rebuild
from homeops.engine.journal import Journal
from homeops.errors import HomeopsError, PlanError
from homeops.operations import drmodel
from homeops.sim import apps_data
from homeops.sim.backups import lose_the_vms
from tests.inprocess import fake_tools_in_process

from .drsim import DrSim

MUTATING = ("reset", "bootstrap", "apply-config", "kubeconfig")


@pytest.fixture(autouse=True)
def in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake tools run in-process (as tests/dr/test_rehearse.py does): a rebuild is hundreds of commands."""
    fake_tools_in_process(monkeypatch)


def talos_mutations(drsim: DrSim, since: int = 0) -> list[list[str]]:
    out = []
    for entry in drsim.store.log()[since:]:
        argv = [str(a) for a in entry["argv"]]
        if argv[0] == "talosctl" and entry["exit"] == 0 and any(w in argv for w in MUTATING):
            out.append(argv)
    return out


def node_of(argv: list[str]) -> str:
    return argv[argv.index("--nodes") + 1]


def quorum_lost(drsim: DrSim) -> None:
    drsim.fault("etcd-unhealthy", "k8s-1")
    drsim.fault("etcd-unhealthy", "k8s-2")


def record(drsim: DrSim) -> None:
    """A look while the API answered (dr.check, an earlier dr.rebuild) leaves the record of the volumes."""
    with drsim.runtime() as rt:
        drmodel.observe(rt.inventory, rt.local, now=rt.clock.now())


def test_a_healthy_cluster_is_refused_in_one_line_and_nothing_runs(drsim: DrSim) -> None:
    before = len(drsim.store.log())
    with pytest.raises(PlanError) as info:
        run_rebuild(drsim.root, yes=True, out=io.StringIO())
    assert str(info.value).startswith("the cluster is healthy (etcd 3/3 members healthy, the API answers)")
    assert "\n" not in str(info.value) and "--even-if-healthy" in (info.value.hint or "")
    assert talos_mutations(drsim, before) == []
    # the override plans (dry run): an etcd restore, since nothing forces a fresh cluster
    outcome = run_rebuild(drsim.root, even_if_healthy=True, dry_run=True, out=io.StringIO())
    assert dict(outcome.plan.options)["model"] == "etcd-restore"


def test_one_lost_control_plane_is_a_node_replacement_not_a_rebuild(drsim: DrSim) -> None:
    with drsim.store.transaction() as state:
        state["pve"]["hosts"]["pve3"]["vms"].pop("202")  # k8s-2's VM is gone; etcd keeps quorum (2/3)
    with pytest.raises(
        PlanError, match=r"^etcd still has quorum \(2/3 healthy\) .* losing k8s-2 is a node replacement"
    ):
        run_rebuild(drsim.root, yes=True, out=io.StringIO())
    with pytest.raises(PlanError) as info:
        run_rebuild(drsim.root, yes=True, out=io.StringIO())
    hint = (info.value.hint or "").replace(str(drsim.root) + "/", "")
    assert "-n 10.10.0.20 etcd remove-member <ID of k8s-2>" in hint
    assert "talosctl apply-config --insecure -n 10.10.0.22 -f talos/clusterconfig/home-k8s-2.yaml" in hint


def test_quorum_lost_snapshot_first_then_ephemeral_on_control_planes_only(drsim: DrSim) -> None:
    record(drsim)
    quorum_lost(drsim)
    since = len(drsim.store.log())
    out = io.StringIO()
    outcome = run_rebuild(drsim.root, yes=True, out=out)
    assert outcome.status == "finished", out.getvalue()[-3000:]
    assert dict(outcome.plan.options)["model"] == "etcd-restore"
    log = [[str(a) for a in e["argv"]] + [f"exit={e['exit']}"] for e in drsim.store.log()[since:]]
    first_reset = next(i for i, a in enumerate(log) if "reset" in a)
    # the last-chance copy came first: the snapshot refused without quorum, then the raw db of k8s-0
    copies = [a for a in log[:first_reset] if "cp" in a or ("etcd" in a and "snapshot" in a)]
    assert copies[0][1:3] == ["etcd", "snapshot"] and copies[0][-1] == "exit=1"
    assert copies[-1][1:3] == ["cp", "/var/lib/etcd/member/snap/db"] and copies[-1][-1] == "exit=0"
    resets = [a for a in talos_mutations(drsim, since) if "reset" in a]
    assert sorted(node_of(a) for a in resets) == ["10.10.0.20", "10.10.0.21", "10.10.0.22"]  # control planes only
    assert all(a[a.index("--system-labels-to-wipe") + 1] == "EPHEMERAL" for a in resets)
    assert not any("apply-config" in a for a in talos_mutations(drsim, since))  # STATE kept: no config sent
    recovered = [a for a in talos_mutations(drsim, since) if "bootstrap" in a]
    assert len(recovered) == 1 and recovered[0][-1] == "--recover-skip-hash-check"  # a raw db needs it
    # the upload was refused while EPHEMERAL was not mounted, and retried
    assert "etcd service is not ready for recovery yet — trying again" in out.getvalue()
    assert [e["exit"] for e in drsim.store.log()[since:] if "bootstrap" in e["argv"]][-2:] == [1, 0]
    state = drsim.store.read(include_log=False)
    assert sorted(state["etcd"]["members"]) == ["k8s-0", "k8s-1", "k8s-2"] and state["etcd"]["revision"] == 4193
    assert all(state["nodes"][w]["boot_id"] for w in ("k8s-3", "k8s-4", "k8s-5"))
    # no data stage: nothing claims a restore; the volumes stayed where they were
    assert not any(s.action == "dr-data" for s in outcome.plan.steps)
    assert outcome.journal is not None
    inplace = outcome.journal.step("data:in-place").data
    assert inplace["restored"] == [] and inplace["lost"] == []
    assert inplace["kept"] == ["default/immich-data (ceph-block)", "default/paperless-data (ceph-block)"]


def test_quorum_back_before_the_resets_wipes_nothing(drsim: DrSim, monkeypatch: pytest.MonkeyPatch) -> None:
    """Look before you destroy, again at the point of no return: etcd that regained quorum since the plan
    looked (the Talos guide: restore quorum rather than etcd) stops the run before any reset is sent."""
    from homeops.operations import drsteps
    from homeops.sim import faults

    record(drsim)
    quorum_lost(drsim)
    backup = drsteps.DrEtcdBackup.run

    def backup_then_quorum_returns(self: drsteps.DrEtcdBackup, ctx: object, step: object) -> None:
        backup(self, ctx, step)  # type: ignore[arg-type]
        with drsim.store.transaction() as state:
            faults.clear(state, "etcd-unhealthy")

    monkeypatch.setattr(drsteps.DrEtcdBackup, "run", backup_then_quorum_returns)
    since = len(drsim.store.log())
    out = io.StringIO()
    with pytest.raises(HomeopsError) as info:
        run_rebuild(drsim.root, yes=True, out=out)
    assert "etcd has quorum again" in str(info.value) and "3/3" in str(info.value)
    assert not [a for a in talos_mutations(drsim, since) if "reset" in a or "bootstrap" in a]


def test_a_local_pv_cluster_is_rebuilt_fresh_never_restored_from_etcd(drsim: DrSim) -> None:
    with drsim.store.transaction() as state:
        for claim in state["apps"]["claims"]:
            claim.update(storage_class="openebs-hostpath", node="k8s-1")
    record(drsim)
    quorum_lost(drsim)
    outcome = run_rebuild(drsim.root, dry_run=True, out=io.StringIO())
    options = dict(outcome.plan.options)
    assert options["model"] == "fresh"
    assert any("data on node-local storage (default/immich-data (openebs-hostpath)" in w for w in outcome.plan.warnings)
    assert not any(s.action == "dr-recover" for s in outcome.plan.steps)


def test_an_etcd_restore_with_unknown_volumes_never_claims_a_restore(drsim: DrSim) -> None:
    """No record (the API was never seen): the model is the guide's, and the report says what the wipe took."""
    with drsim.store.transaction() as state:
        for claim in state["apps"]["claims"]:
            claim.update(storage_class="openebs-hostpath", node="k8s-1")
    quorum_lost(drsim)
    outcome = run_rebuild(drsim.root, yes=True, out=io.StringIO())
    assert any("where the volumes live is unknown" in w for w in outcome.plan.warnings)
    assert outcome.status == "finished-with-problems" and outcome.journal is not None
    inplace = outcome.journal.step("data:in-place").data
    assert inplace["restored"] == []
    assert [line.split(" (")[0] for line in inplace["lost"]] == ["default/immich-data", "default/paperless-data"]
    data = apps_data.read_data(drsim.store.read(include_log=False))
    assert data["default/immich-data"] is None  # hostpath in EPHEMERAL on k8s-1: wiped, and said so


def lose_everything(drsim: DrSim) -> None:
    record(drsim)
    with drsim.store.transaction() as state:
        lose_the_vms(state)


def test_all_vms_lost_is_fresh_with_backups_paused_then_resumed(drsim: DrSim) -> None:
    with drsim.store.transaction() as state:
        apps_data.write_data(state, "default/immich-data", "written before the disaster")
    drsim.advance(3600)  # the hourly backup takes it
    lose_everything(drsim)
    since = len(drsim.store.log())
    out = io.StringIO()
    outcome = run_rebuild(drsim.root, recreate_vms=True, yes=True, out=out)
    assert outcome.status == "finished", out.getvalue()[-3000:]
    assert dict(outcome.plan.options)["model"] == "fresh"
    log = drsim.store.log()[since:]
    patches = [
        (json.loads(e["argv"][e["argv"].index("--patch") + 1]), e["argv"][e["argv"].index("patch") + 2])
        for e in log
        if "patch" in e["argv"]
    ]
    assert patches == [
        ({"spec": {"paused": True}}, "immich-data"),
        ({"spec": {"paused": True}}, "paperless-data"),
        ({"spec": {"paused": False}}, "immich-data"),
        ({"spec": {"paused": False}}, "paperless-data"),
    ]
    state = drsim.store.read(include_log=False)
    assert apps_data.read_data(state)["default/immich-data"] == "written before the disaster"
    assert outcome.journal is not None
    began = float(outcome.journal.record().created)
    resumed = float(outcome.journal.step("data:resume-backups").finished or 0)
    # no backup ran between the start of the rebuild and the resume (the empty, unpopulated volumes)
    for repo in state["apps"]["repos"].values():
        assert not [t for t, _ in repo if began <= t < resumed]
    assert all(not s.get("paused") for s in state["apps"]["sources"])


def test_an_empty_restore_is_a_failure_and_backups_stay_paused(drsim: DrSim) -> None:
    lose_everything(drsim)
    with drsim.store.transaction() as state:
        apps_data.nas_lost(state)  # the repositories are gone: restic finds no snapshot
    out = io.StringIO()
    outcome = run_rebuild(drsim.root, recreate_vms=True, yes=True, out=out)
    assert outcome.status == "finished-with-problems"
    assert any("No eligible snapshots" in n and "immich-data-dst" in n for n in outcome.notes)
    assert any(n.startswith("backups LEFT PAUSED") for n in outcome.notes)
    state = drsim.store.read(include_log=False)
    assert all(s.get("paused") for s in state["apps"]["sources"])  # an empty volume never became a backup
    assert outcome.report is not None
    assert (
        "done with problems: " in outcome.report.read_text()
        and "— finished with problems" in outcome.report.read_text()
    )


def test_a_cnpg_cluster_that_would_archive_into_its_own_backup_is_refused(drsim: DrSim) -> None:
    with drsim.store.transaction() as state:
        state["apps"]["postgres"][0]["backup_server_name"] = "immich-postgres-v2"
    lose_everything(drsim)
    before = len(drsim.store.log())
    with pytest.raises(PlanError) as info:
        run_rebuild(drsim.root, recreate_vms=True, yes=True, out=io.StringIO())
    assert str(info.value) == (
        "dr.rebuild refused before touching anything: CloudNativePG cluster default/immich-postgres would archive "
        "into the backup it recovers from (serverName immich-postgres-v2): set spec.plugins[barman-cloud."
        "cloudnative-pg.io].parameters.serverName: immich-postgres-v3 (keep externalClusters[origin] serverName "
        "immich-postgres-v2), commit and push, then run again"
    )
    assert not [e for e in drsim.store.log()[before:] if e["argv"][:2] in (["qm", "create"], ["qm", "destroy"])]


def test_workers_only_needs_no_snapshot_and_announces_no_etcd_restore(drsim: DrSim) -> None:
    """Issue 22 §3.10: no snapshot exists, and none is asked for."""
    assert not drsim.snapshots.exists() or not list(drsim.snapshots.iterdir())
    outcome = run_rebuild(drsim.root, nodes=("k8s-4",), dry_run=True, out=io.StringIO())
    text = outcome.plan.render()
    assert outcome.plan.target == "1 node(s) rebuilt, the cluster's etcd and apps left as they are"
    assert "snapshot" not in text.lower() and "recover" not in text.lower()
    assert [s.id for s in outcome.plan.steps] == ["node:k8s-4:reset", "cluster:genconfig", "k8s-4:apply-insecure"]


def test_a_reset_rebuild_of_a_plain_sim_reaches_flux_ready(drsim: DrSim) -> None:
    """Issue 22 §3.8: a sim started running (no ``bootstrap`` section) rebuilt by reset: Flux came up."""
    out = io.StringIO()
    outcome = run_rebuild(drsim.root, fresh=True, even_if_healthy=True, yes=True, out=out)
    assert outcome.status == "finished", out.getvalue()[-3000:]
    state = drsim.store.read(include_log=False)
    assert state["flux"]["instance"]["ready"] is True
    assert outcome.journal is not None and outcome.journal.step("data:volsync").data["not_restored"] == []
    # the old cluster answered: its sources backed up once more before the wipe, the trigger released after
    last = outcome.journal.step("data:last-backups").data["detail"]
    assert isinstance(last, list) and str(last[0]).startswith("backed up default/immich-data just now")
    released = [e for e in drsim.store.log() if '{"spec":{"trigger":{"manual":null}}}' in e["argv"]]
    assert len(released) == 2
    assert [str(x) for x in last[2:]] == [
        "backed up database default/immich-postgres just now (Backup homeops-dr-20251009085320-immich-postgres)"
    ]


def test_a_rebuild_supersedes_older_unfinished_runs(drsim: DrSim) -> None:
    """Issue 22 §3.12: `upgrade-cluster --resume` after a rebuild must not continue the lost cluster's plan."""
    from homeops.engine.plan import Plan

    with drsim.runtime() as rt:
        old = Journal.create(rt.inventory.state_dir, Plan("upgrade-cluster", "home", ()), rt.clock)
        old.finish("interrupted", "killed")
    import socket

    lock = drsim.root / ".homeops" / "locks" / "home.lock"  # its process was killed: a stale lock
    lock.parent.mkdir(parents=True, exist_ok=True)
    holder = {"pid": 2**22 + 7, "host": socket.gethostname(), "user": "me", "since": 0.0,
              "operation": "upgrade-cluster", "run_id": old.run_id}  # fmt: skip
    lock.write_text(json.dumps(holder))
    record(drsim)
    quorum_lost(drsim)
    out = io.StringIO()
    run_rebuild(drsim.root, yes=True, break_lock=True, out=out)
    assert "--break-lock: the lock is held by me@" in out.getvalue()
    assert "(upgrade-cluster, run " in out.getvalue() and "this rebuild supersedes it" in out.getvalue()
    with drsim.runtime() as rt:
        again = Journal.load(old.path, rt.clock)
    assert again.status == "finished" and (again.error or "").startswith("superseded by dr.rebuild run")
    assert f"upgrade-cluster run {old.run_id}: superseded by this rebuild" in out.getvalue()


def test_a_rebuild_without_a_talsecret_is_refused(drsim: DrSim) -> None:
    secret = drsim.root / "talos" / "talsecret.sops.yaml"
    assert secret.is_file()
    secret.unlink()
    lose_everything(drsim)
    with pytest.raises(PlanError, match=r"^dr.rebuild refused before touching anything: age-key talsecret"):
        run_rebuild(drsim.root, recreate_vms=True, yes=True, out=io.StringIO())


def test_choose_is_pure_and_names_why() -> None:
    from homeops.inventory.loader import load_inventory

    inventory = load_inventory(Path(__file__).resolve().parents[2] / "inventory")
    cps = [drmodel.NodeSeen(n.hostname, n.ip, True, "configured", "Running", "Fail") for n in inventory.control_planes]
    workers = [drmodel.NodeSeen(n.hostname, n.ip, False, "configured") for n in inventory.workers]
    nfs = (drmodel.VolumeSeen("default/a", "nfs-client", "cluster.local/nfs-subdir-external-provisioner"),)
    seen = drmodel.Observation(tuple(cps + workers), api=False, volumes=nfs, record="the API")
    assert drmodel.choose(inventory, seen).model == "etcd-restore"
    assert drmodel.choose(inventory, seen, fresh=True).model == "fresh"
    gone = drmodel.Observation(
        tuple(drmodel.NodeSeen(n.hostname, n.ip, n.control_plane, "down") for n in inventory.nodes), api=False
    )
    assert drmodel.choose(inventory, gone).why[0].startswith("no node answers with its configuration")


def test_data_stage_looks_again_at_the_inventorys_poll_interval(drsim: DrSim) -> None:
    """A restore ending just after a look must not cost a fixed 5-s period more (bench/dr.py measured it)."""
    drsim.edit("pollInterval: 5", "pollInterval: 0.5")
    with drsim.store.transaction() as state:
        for dst in state["apps"]["destinations"]:
            dst["duration"] = 6.2
    lose_everything(drsim)
    outcome = run_rebuild(drsim.root, recreate_vms=True, yes=True, out=io.StringIO())
    assert outcome.journal is not None
    record_ = outcome.journal.step("data:volsync")
    assert record_.data["not_restored"] == []
    state = drsim.store.read(include_log=False)
    bound = float(apps_data.created_at(state) or 0.0) + 6.2 + apps_data.POPULATE_SECONDS
    assert record_.finished is not None and bound <= float(record_.finished) <= bound + 0.5


def test_a_rebuild_not_confirmed_changes_and_supersedes_nothing(drsim: DrSim) -> None:
    from homeops.errors import Aborted

    quorum_lost(drsim)
    with pytest.raises(Aborted, match=r"^confirmation needed but stdin is not a terminal"):
        run_rebuild(drsim.root, out=io.StringIO())  # no terminal, no --yes
    assert not (drsim.root / ".homeops" / "runs").exists() or not list(
        (drsim.root / ".homeops" / "runs").glob("*dr-rebuild")
    )
