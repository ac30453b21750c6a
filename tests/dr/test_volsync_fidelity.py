"""volsync.restore/backup against what VolSync really does (issue 22 §2, §3), each test naming its source.

Sources read: backube/volsync v0.16.0 — ``internal/controller/volumepopulator_controller.go``,
``api/v1alpha1/common_types.go``, ``internal/controller/mover/restic/mover.go``,
``internal/controller/utils/utils.go``.
"""

from __future__ import annotations

from typing import Any

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from homeops.sim import apps_data, faults
from homeops.tasks import volsync as volsync_tasks

from .drsim import DrSim
from .test_volsync_restore import HAPPY, obj, restore, sent


def kubectl_json(drsim: DrSim, plural: str) -> list[dict[str, Any]]:
    return apps_data.objects(drsim.store.read(include_log=False), plural)


def test_copy_method_none_is_direct_and_refused_before_anything_changes(drsim: DrSim) -> None:
    # common_types.go:44-51: "None ... Deprecated (replaced by CopyMethodDirect)"; the populator refuses a
    # latestImage that is not a VolumeSnapshot (volumepopulator_controller.go:353-361)
    with drsim.store.transaction() as state:
        for d in state["apps"]["destinations"]:
            d["copy_method"] = "None"
    with pytest.raises(Exit) as info:
        restore(drsim, yes=True)
    message = str(info.value.message)
    assert message.startswith("error: ReplicationDestination default/immich-data-dst has copyMethod None:")
    assert sent(drsim) == []


def test_wait_for_first_consumer_pvc_binds_only_once_the_app_is_scaled_up(
    drsim: DrSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # volumepopulator_controller.go:305-314 (v0.16.0): with volumeBindingMode WaitForFirstConsumer the
    # populator waits for the selected-node annotation, which a scheduled pod brings: waiting for Bound
    # before scaling the app up never ends
    with drsim.store.transaction() as state:
        for c in state["apps"]["claims"]:
            c["storage_class"] = "openebs-hostpath"
    old = obj(drsim, "persistentvolumeclaims", "immich-data")["metadata"]["uid"]
    restore(drsim, yes=True, timeout=900)
    out = capsys.readouterr().out
    # a host-path class cannot snapshot: no safety copy, and the plan says so
    assert (
        "no VolumeSnapshotClass for openebs.io/local (StorageClass openebs-hostpath): PVC default/immich-data's" in out
    )
    assert sent(drsim) == [c for c in HAPPY if "snapshot.json" not in c]
    pvc = obj(drsim, "persistentvolumeclaims", "immich-data")
    assert pvc["metadata"]["uid"] != old and pvc["status"]["phase"] == "Bound"
    assert pvc["metadata"]["annotations"][apps_data.SELECTED_NODE]
    deployment = obj(drsim, "deployments", "immich-server")
    assert (deployment["replicas"], deployment["ready_replicas"]) == (1, 1)


def test_sim_wait_for_first_consumer_claim_stays_pending_without_a_pod(drsim: DrSim) -> None:
    with drsim.store.transaction() as state:
        claim = next(c for c in state["apps"]["claims"] if c["name"] == "paperless-data")
        claim.update(storage_class="openebs-hostpath", created_at=state["clock"]["now"], uid="x" * 32)
        sts = next(s for s in state["k8s"]["statefulsets"] if s["name"] == "paperless")
        sts["replicas"] = 0
    drsim.advance(3600)
    pvc = obj(drsim, "persistentvolumeclaims", "paperless-data")
    assert pvc["status"]["phase"] == "Pending" and "annotations" not in pvc["metadata"]
    classes = {c["metadata"]["name"]: c["volumeBindingMode"] for c in kubectl_json(drsim, "storageclasses")}
    assert classes == {
        "ceph-block": "Immediate",
        "nfs-client": "Immediate",
        "openebs-hostpath": "WaitForFirstConsumer",
        "local-path": "WaitForFirstConsumer",
    }


def test_a_failing_restore_mover_stops_the_restore_in_minutes_not_hours(drsim: DrSim) -> None:
    # restic mover.go:610-617 (v0.16.0): a job at its backoffLimit is deleted and created again and the
    # RD stays SyncInProgress; homeops reads the job's failures instead of waiting for the timeout
    drsim.fault("volsync-mover-fails", "immich-data-dst")
    old = obj(drsim, "persistentvolumeclaims", "immich-data")["metadata"]["uid"]
    start = drsim.store.read(include_log=False)["clock"]["now"]
    with pytest.raises(Exit) as info:
        restore(drsim, yes=True, timeout=900)  # the timeout a test on the old code would wait out
    message = str(info.value.message)
    job = "its job volsync-dst-immich-data-dst has failed 3 times"
    assert f"default/immich-data-dst: the mover failed: {job}" in message
    assert "the volume was not touched" in message
    assert "to bring it back without the restore" in message
    elapsed = drsim.store.read(include_log=False)["clock"]["now"] - start
    assert elapsed < 600
    assert obj(drsim, "persistentvolumeclaims", "immich-data")["metadata"]["uid"] == old
    assert sent(drsim) == HAPPY[:4]


def test_sim_a_failing_source_stays_in_progress_and_reports_failed_at_the_backoff_limit(drsim: DrSim) -> None:
    # restic mover.go:355 (backoffLimit 8) and :610-617: the result turns Failed at the limit, the job is
    # recreated (its failed count starts again) and the condition stays SyncInProgress
    with drsim.store.transaction() as state:
        faults.inject(state, "volsync-mover-fails", "default/immich-data")
    drsim.advance(3600)  # the next hourly sync starts and fails
    rs = obj(drsim, "replicationsources", "immich-data")
    (cond,) = rs["status"]["conditions"]
    assert (cond["reason"], cond["status"]) == ("SyncInProgress", "True")
    assert "lastSyncStartTime" in rs["status"]
    jobs = {j["metadata"]["name"]: j for j in kubectl_json(drsim, "jobs")}
    job = jobs["volsync-src-immich-data"]
    assert job["spec"]["backoffLimit"] == 8
    assert job["status"]["active"] == 1
    drsim.advance(apps_data.POD_FAIL_SECONDS * 8)
    rs = obj(drsim, "replicationsources", "immich-data")
    assert rs["status"]["latestMoverStatus"]["result"] == "Failed"
    assert rs["status"]["conditions"][0]["reason"] == "SyncInProgress"
    assert rs["spec"]["trigger"] == {"schedule": "0 * * * *"}


def test_backup_of_a_source_with_a_manual_trigger_keeps_its_schedule_in_the_spec(drsim: DrSim) -> None:
    # cli-interfaces.md §11.2: spec.trigger has both schedule and manual; a non-empty manual wins
    volsync_tasks.backup(Context(), namespace="default", app="immich-data", dry_run=True, inventory=str(drsim.root))
    with drsim.store.transaction() as state:
        apps_data._apply_trigger(
            state,
            "replicationsources",
            state["apps"]["sources"][0],
            {"spec": {"trigger": {"manual": "by-hand"}}},
        )
    rs = obj(drsim, "replicationsources", "immich-data")
    assert rs["spec"]["trigger"] == {"manual": "by-hand", "schedule": "0 * * * *"}


def test_a_second_restore_after_a_failed_one_brings_the_app_back_to_its_recorded_replicas(
    drsim: DrSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 22 §3.1: the first run failed with the app at 0; the second one found it at 0, left it there
    # and said done
    with pytest.raises(Exit):
        restore(drsim, app="paperless-data", yes=True, timestamp="1970-01-01T00:00:00Z")
    assert obj(drsim, "statefulsets", "paperless")["replicas"] == 0
    capsys.readouterr()
    restore(drsim, app="paperless-data", yes=True)
    out = capsys.readouterr().out
    assert "statefulset/paperless is at 0 replicas since an earlier volsync.restore of default/paperless-data" in out
    assert "finished: volsync-restore done" in out
    sts = obj(drsim, "statefulsets", "paperless")
    assert (sts["replicas"], sts["ready_replicas"]) == (1, 1)
    assert sent(drsim)[-2:] == [
        "kubectl scale statefulset/paperless --replicas=1",
        "flux resume kustomization cluster-apps flux-system",
    ]
    assert not obj(drsim, "kustomizations", "cluster-apps")["suspended"]
    # the failed run stays unfinished in the journal; the next restore finds the app running and plans
    # the usual scale-down from 1 (no "scaled back" warning)
    restore(drsim, app="paperless-data", dry_run=True)
    out = capsys.readouterr().out
    assert "since an earlier volsync.restore" not in out and "scale statefulset/paperless to 0 (from 1)" in out


def test_a_timed_out_backup_says_its_trigger_switched_the_schedule_off_and_verify_and_check_say_so(
    drsim: DrSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 22 §3.3; cli-interfaces.md §11.2: while spec.trigger.manual is set VolSync ignores the schedule
    with pytest.raises(Exit) as info:
        volsync_tasks.backup(
            Context(), namespace="default", app="immich-data", timeout=10, yes=True, inventory=str(drsim.root)
        )
    message = str(info.value.message)
    assert (
        "spec.trigger.manual=homeops-20251009T085320Z is still set on ReplicationSource default/immich-data" in message
    )
    assert "VolSync skips its schedule '0 * * * *' until it is removed" in message
    assert '--type merge --patch \'{"spec":{"trigger":{"manual":null}}}\'' in message
    # the hint names the app (issue 22 §3 cosmetic: no <namespace>/<app> when the values are known)
    assert "read the mover's log: kubectl -n default describe replicationsource immich-data" in message
    drsim.advance(120)
    capsys.readouterr()
    volsync_tasks.verify(Context(), inventory=str(drsim.root))
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "default/immich-data " in x)
    assert "WARN" in line and "schedule '0 * * * *' is off: spec.trigger.manual=homeops-20251009T085320Z is set" in line
    report = drsim.check()
    finding = next(f for f in report.findings if f.subject == "default/immich-data")
    assert finding.status == "warn" and "schedule '0 * * * *' is off" in finding.detail


def test_a_flux_suspend_that_exits_0_without_suspending_stops_the_restore_before_the_app_is_touched(
    drsim: DrSim,
) -> None:
    # fluxcd/flux2 v2.6.4 cmd/flux/suspend.go:105-114: a failed patch is a "✗ failed suspending" line, exit 0
    drsim.fault("flux-patch-forbidden", "immich")
    with pytest.raises(Exit) as info:
        restore(drsim, yes=True)
    message = str(info.value.message)
    assert "flux suspend helmrelease default/immich did not take: .spec.suspend is false" in message
    assert "(flux said: failed suspending HelmRelease immich in default namespace:" in message
    assert obj(drsim, "deployments", "immich-server")["replicas"] == 1
    assert sent(drsim) == HAPPY[:2]  # the simulator logs the exit-0 flux suspend too


def test_sim_flux_resume_exit_code_on_a_failed_wait_follows_the_cli_version(drsim: DrSim) -> None:
    # fluxcd/flux2 cmd/flux/resume.go: exit 0 with a ✗ line before 2.9 (v2.8.8), exit 1 since (v2.9.4 :129-138)
    from homeops.sim.tools import flux as sim_flux

    for cli, code in (("2.7.3", 0), ("2.9.0", 1)):
        with drsim.store.transaction() as state:
            state["flux"]["cli_version"] = cli
            hr = next(h for h in state["flux"]["helmreleases"] if h["name"] == "immich")
            hr.update(ready=False, suspended=True)
        from homeops.sim.runner import SimRunner

        result = SimRunner(drsim.root / ".homeops" / "sim").run(
            ["flux", "resume", "helmrelease", "immich", "--namespace", "default"]
        )
        assert result.exit_code == code, (cli, result.stderr)
        assert "✗ HelmRelease immich reconciliation failed" in result.stderr
        assert not obj(drsim, "helmreleases", "immich")["suspended"]
    assert sim_flux.CLI_VERSION.startswith("2.7")


@pytest.mark.parametrize("cli", ["2.9.0"])
def test_a_resume_whose_reconciliation_fails_is_resumed_and_said_with_either_flux_exit_code(
    drsim: DrSim, capsys: pytest.CaptureFixture[str], cli: str
) -> None:
    # fluxcd/flux2 cmd/flux/resume.go: a failed wait is exit 0 before 2.9 (v2.8.8) and exit 1 since
    # (v2.9.4 :129-138); the object is resumed either way, so the restore is done
    with drsim.store.transaction() as state:
        state["flux"]["cli_version"] = cli
        next(h for h in state["flux"]["helmreleases"] if h["name"] == "immich")["ready"] = False
    restore(drsim, yes=True)
    out = capsys.readouterr().out
    assert "finished: volsync-restore done" in out
    assert "HelmRelease default/immich is resumed; flux said: HelmRelease immich reconciliation failed" in out
    assert not obj(drsim, "helmreleases", "immich")["suspended"]


def test_resume_honours_a_new_timeout_and_does_not_claim_homeops_yaml_changed(
    drsim: DrSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # issue 22 §3.11 (--resume silently ignored a new --timeout) and the cosmetic "every --resume says
    # homeops.yaml changed (stabilitySeconds 0s vs 3s)": volsync plans hold no gates, so it does not apply
    def backup(**kw: Any) -> None:
        volsync_tasks.backup(Context(), yes=True, inventory=str(drsim.root), **kw)

    with pytest.raises(Exit):
        backup(namespace="default", app="immich-data", timeout=10)
    capsys.readouterr()
    with pytest.raises(Exit) as info:  # the saved 10 s again: the 45-second sync is not over yet
        backup(resume=True)
    assert "gave up after 10s" in str(info.value.message)
    out = capsys.readouterr().out
    assert "homeops.yaml changed" not in out
    backup(resume=True, timeout=600)
    out = capsys.readouterr().out
    assert "--resume: waiting up to 600s (--timeout) where the saved run said 10s" in out
    assert "homeops.yaml changed" not in out and "finished: volsync-backup done" in out
    assert obj(drsim, "replicationsources", "immich-data")["spec"]["trigger"] == {"schedule": "0 * * * *"}


def test_previous_skips_backups_and_point_in_time_restores_note_enable_file_deletion(
    drsim: DrSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # replicationdestination_types.go:251-262 (volsync v0.16.0): previous skips that many snapshots;
    # enableFileDeletion passes --delete to restic restore, without it newer files stay
    restore(drsim, app="paperless-data", yes=True, previous=2)
    out = capsys.readouterr().out
    assert '"restic":{"previous":2,"restoreAsOf":null}' in out
    assert "from the backup 2 before the newest" in out
    assert "has no restic.enableFileDeletion: files that are in its volume now but not in the older backup" in out
    rd = obj(drsim, "replicationdestinations", "paperless-data-dst")
    assert rd["spec"]["restic"]["previous"] == 2
    assert "(2 before the newest)" in rd["status"]["latestMoverStatus"]["logs"]
    assert obj(drsim, "persistentvolumeclaims", "paperless-data")["status"]["phase"] == "Bound"
    # a plain restore afterwards un-pins it (previous: null); with enableFileDeletion there is nothing to note
    with drsim.store.transaction() as state:
        for d in state["apps"]["destinations"]:
            d["enable_file_deletion"] = True
    restore(drsim, app="paperless-data", dry_run=True)
    out = capsys.readouterr().out
    assert '"restic":{"previous":null,"restoreAsOf":null}' in out and "enableFileDeletion" not in out
    restore(drsim, app="paperless-data", dry_run=True, timestamp="2025-10-08T06:00:00Z")
    assert "enableFileDeletion" not in capsys.readouterr().out


def test_previous_beyond_the_kept_backups_stops_before_the_pvc(drsim: DrSim) -> None:
    with pytest.raises(Exit) as info:
        restore(drsim, app="paperless-data", yes=True, previous=5000)
    assert "no backup that far back (--previous)" in str(info.value.message)
    assert "kubectl delete" not in " ".join(sent(drsim))


def test_sim_kubectl_delete_names_the_namespace_like_kubectl_1_34(drsim: DrSim) -> None:
    # kubernetes/kubectl v0.34.0 (kubectl 1.34) pkg/cmd/delete/delete.go:509-511
    from homeops.sim.runner import SimRunner

    runner = SimRunner(drsim.root / ".homeops" / "sim")
    with drsim.store.transaction() as state:
        next(s for s in state["k8s"]["statefulsets"] if s["name"] == "paperless")["replicas"] = 0
    drsim.advance(60)
    result = runner.run(["kubectl", "delete", "pvc", "paperless-data", "--namespace", "default", "--dry-run=client"])
    assert result.stdout == 'persistentvolumeclaim "paperless-data" deleted from default namespace (dry run)\n'
    result = runner.run(["kubectl", "delete", "pvc", "paperless-data", "--namespace", "default"])
    assert result.stdout == 'persistentvolumeclaim "paperless-data" deleted from default namespace\n'


def keda_scales_immich_server(drsim: DrSim) -> None:
    """A KEDA ScaledObject (minReplicaCount 1, not paused) targets the immich-server Deployment."""
    with drsim.store.transaction() as state:
        state["apps"]["scaled_objects"] = [
            {
                "namespace": "default",
                "name": "immich-server",
                "target_kind": "Deployment",
                "target_name": "immich-server",
                "min_replicas": 1,
                "annotations": {},
            }
        ]


def test_a_keda_scaled_app_is_paused_during_the_restore_and_unpaused_before_it_comes_back(drsim: DrSim) -> None:
    # KEDA scales a target at 0 back to minReplicaCount (keda.sh "Pausing autoscaling": paused-replicas);
    # a plain HPA does not (kubernetes horizontal.go: "scaling is disabled since the replica count of the
    # target is zero"). Unpaused, KEDA brought immich-server back while its PVC was being deleted.
    keda_scales_immich_server(drsim)
    restore(drsim, yes=True, timeout=900)
    done = sent(drsim)
    assert done[:3] == [*HAPPY[:2], "kubectl patch scaledobjects.keda.sh immich-server"]
    assert done[-5:] == [HAPPY[-4], "kubectl patch scaledobjects.keda.sh immich-server", *HAPPY[-3:]]
    assert obj(drsim, "scaledobjects", "immich-server")["metadata"].get("annotations", {}) == {}
    # the old data was kept: a ready VolumeSnapshot of the deleted PVC (rook-ceph's class can snapshot)
    (snap,) = kubectl_json(drsim, "volumesnapshots")
    assert snap["metadata"]["name"] == "immich-data-pre-restore-20251009t085320z"
    assert snap["spec"] == {
        "source": {"persistentVolumeClaimName": "immich-data"},
        "volumeSnapshotClassName": "csi-ceph-blockpool",
    }
    assert snap["status"]["readyToUse"] is True
    deployment = obj(drsim, "deployments", "immich-server")
    assert (deployment["replicas"], deployment["ready_replicas"]) == (1, 1)


def test_a_failed_restore_of_a_keda_app_says_to_unpause_it_first(drsim: DrSim) -> None:
    keda_scales_immich_server(drsim)
    with pytest.raises(Exit) as info:
        restore(drsim, yes=True, timestamp="2020-01-01T00:00:00Z")
    back = str(info.value.message).split("without the restore: ", 1)[1].split(";")[0].split(" && ")
    assert "patch scaledobjects.keda.sh immich-server" in back[0] and "null" in back[0]
    assert back[1].endswith("scale deployment/immich-server --replicas=1")


def test_sim_flux_reconcile_and_get_speak_like_flux_2_7(drsim: DrSim) -> None:
    # fluxcd/flux2 v2.7.5 cmd/flux/reconcile.go:100-135: a missing object is the API's NotFound (resource
    # plural and group); a failed one "<Kind> reconciliation failed: '<Ready message>'";
    # v2.6.4 cmd/flux/get.go:185-197: an empty list is an error (exit 1)
    from homeops.sim.runner import SimRunner

    runner = SimRunner(drsim.root / ".homeops" / "sim")
    missing = runner.run(["flux", "reconcile", "kustomization", "nope", "--namespace", "flux-system"])
    assert (missing.exit_code, missing.stderr) == (
        1,
        '✗ kustomizations.kustomize.toolkit.fluxcd.io "nope" not found\n',
    )
    with drsim.store.transaction() as state:
        next(h for h in state["flux"]["helmreleases"] if h["name"] == "immich")["ready"] = False
    failed = runner.run(["flux", "reconcile", "helmrelease", "immich", "--namespace", "default"])
    assert failed.exit_code == 1
    assert failed.stderr.splitlines()[-1].startswith("✗ HelmRelease reconciliation failed: 'health check failed")
    assert failed.stderr.rstrip().endswith("status: 'InProgress']'")
    empty = runner.run(["flux", "get", "kustomizations", "--namespace", "media"])
    assert (empty.exit_code, empty.stdout, empty.stderr) == (
        1,
        "",
        "✗ no Kustomization objects found in media namespace\n",
    )


def test_sim_a_direct_destination_never_populates_a_new_pvc(drsim: DrSim) -> None:
    # volumepopulator_controller.go:353-361 (v0.16.0): a latestImage that is not a VolumeSnapshot (Direct,
    # or its deprecated name None) is a VolSyncPopulatorError and the PVC stays Pending
    with drsim.store.transaction() as state:
        dst = next(d for d in state["apps"]["destinations"] if d["name"] == "paperless-data-dst")
        dst["copy_method"] = "None"
        claim = next(c for c in state["apps"]["claims"] if c["name"] == "paperless-data")
        claim.update(created_at=state["clock"]["now"], uid="y" * 32)
    drsim.advance(3600)
    rd = obj(drsim, "replicationdestinations", "paperless-data-dst")
    assert rd["status"]["latestImage"]["kind"] == "PersistentVolumeClaim"
    assert obj(drsim, "persistentvolumeclaims", "paperless-data")["status"]["phase"] == "Pending"


def test_resume_notice_compares_stability_only_for_plans_that_take_it_from_homeops_yaml() -> None:
    # issue 22 §3 (cosmetic): every --resume of bootstrap/dr/volsync said "stabilitySeconds 0s
    # (homeops.yaml now: 30s)"; those plans hold no gates after their steps and never read it
    from homeops.engine.plan import Gate, Health, Plan, Step
    from homeops.inventory.model import UpgradePolicy
    from homeops.operations.saved_settings import kept_settings

    api = Gate("api", "api", "the Kubernetes API answers", timeout=120.0)
    step = Step(id="k8s-0:x", action="x", summary="x", node="k8s-0")
    policy = UpgradePolicy(stability_seconds=30.0)
    bootstrap_like = Plan(
        "bootstrap",
        "home",
        (step,),
        poll_interval=policy.poll_interval,
        health=Health(required_after=(("k8s-0:x", api),)),
    )
    assert kept_settings(bootstrap_like, policy) == []
    node_plan = Plan(
        "upgrade-node",
        "home",
        (Step(id="k8s-0:y", action="x", summary="y", node="k8s-0", gates_after=(api,)),),
        stability_seconds=3.0,
        poll_interval=policy.poll_interval,
    )
    assert kept_settings(node_plan, policy) == ["stabilitySeconds 3s (homeops.yaml now: 30s)"]


def test_a_failed_restore_names_every_placeholder_of_its_hint(drsim: DrSim) -> None:
    """A pod that never starts (a second claim of the app stays Pending): the scale-up wait times out, and
    its hint names the controller (issue 22 §3 cosmetic: no ``<…>`` placeholder when the plan knows it)."""
    drsim.edit("pollInterval: 5", "pollInterval: 60")  # ten looks over the 10-minute wait, not 120
    with drsim.store.transaction() as state:
        claim = next(c for c in state["apps"]["claims"] if c["name"] == "immich-data")
        state["apps"]["claims"].append({**claim, "name": "immich-cache", "destination": "gone", "created_at": 0.0})
        for d in state["k8s"]["deployments"]:
            if d["name"] == "immich-server":
                d["claims"] = [*d.get("claims", []), "immich-cache"]
    with pytest.raises(Exit) as info:
        restore(drsim, yes=True)
    message = str(info.value.message)
    assert "kubectl -n default describe deployment/immich-server: a pod that does not stop or start" in message
    assert "<" not in message, message
