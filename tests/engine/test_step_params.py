"""Step kinds' typed parameters: written to the journal with a tag and read back into the same class;
an unknown tag or a wrong field type is refused in one line naming the plan file; a plan written by the
homeops before typed parameters (values in ``to_version``/``artifact``) is read into the same parameters."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from homeops.clock import FakeClock
from homeops.engine.journal import Journal
from homeops.engine.plan import Command, ParamsError, Plan, Step, params_from_dict
from homeops.errors import ConfigError, PlanError
from homeops.operations import dr as _dr  # noqa: F401  (registers the dr and bootstrap kinds)
from homeops.operations.bootstrap_inputs import ReleaseParams as HelmRelease
from homeops.operations.bootstrap_inputs import SecretParams
from homeops.operations.drsteps import DataParams, InPlaceParams, ResumeParams
from homeops.operations.vm import VmParams
from homeops.operations.volsync import (
    CreateClaimParams,
    DeleteClaimParams,
    FluxParams,
    KedaParams,
    ReleaseParams,
    RestoreParams,
    ScaleParams,
    SnapshotParams,
    TriggerParams,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "journals" / "volsync-restore-before-params"

EVERY = (
    ("volsync-trigger", TriggerParams("homeops-20251009T085320Z")),
    ("volsync-release", ReleaseParams("0 * * * *")),
    ("volsync-flux", FluxParams("HelmRelease", "default", "immich", suspend=True)),
    ("volsync-keda", KedaParams("default", "immich", pause=False)),
    ("volsync-scale", ScaleParams("Deployment", "default", "immich-server", 3)),
    ("volsync-restore", RestoreParams("homeops-x", "2025-10-08T06:00:00Z", 2)),
    ("volsync-restore", RestoreParams("homeops-x")),
    ("volsync-safety-snapshot", SnapshotParams("immich-data-pre-restore-x", '{"kind":"VolumeSnapshot"}')),
    ("volsync-delete-pvc", DeleteClaimParams(None)),
    ("volsync-create-pvc", CreateClaimParams("055b", '{"kind":"PersistentVolumeClaim"}')),
    ("vm-power", VmParams("running", "stopped")),
    ("bootstrap-secret", SecretParams("/inv/bootstrap/secrets.sops.yaml")),
    ("bootstrap-release", HelmRelease("cilium")),
    ("dr-inplace", InPlaceParams(("k8s-0", "k8s-1"))),
    ("dr-inplace", InPlaceParams(())),
    ("dr-resume-backups", ResumeParams("data:pause-backups", ("data:volsync", "data:cnpg"))),
    ("dr-data", DataParams("cnpg", ("default/immich-postgres",))),
    ("vm-snapshot", VmParams("running", None)),
)


def _plan(steps: tuple[Step, ...]) -> Plan:
    return Plan(operation="test", cluster="home", steps=steps)


def test_every_kinds_parameters_round_trip_through_the_journal_into_the_same_class() -> None:
    steps = tuple(
        Step(id=f"s{i}", action=action, summary="", commands=(Command(("true",)),), params=params)
        for i, (action, params) in enumerate(EVERY)
    )
    plan = _plan(steps)
    raw = json.loads(json.dumps(plan.to_dict()))
    assert [s["params"]["tag"] for s in raw["steps"]] == [type(p).tag for _, p in EVERY]
    back = Plan.from_dict(raw)
    assert back == plan
    assert [type(s.params) for s in back.steps] == [type(p) for _, p in EVERY]
    assert back.fingerprint() == plan.fingerprint()


def test_a_step_asks_for_its_own_class_and_a_wrong_one_is_a_plan_error() -> None:
    step = Step(
        id="a/b:scale-down:x", action="volsync-scale", summary="", params=ScaleParams("Deployment", "a", "x", 0)
    )
    assert step.param(ScaleParams).replicas == 0
    with pytest.raises(PlanError, match="volsync-scale needs FluxParams parameters"):
        step.param(FluxParams)


@pytest.mark.parametrize(
    ("raw", "said"),
    [
        ({"tag": "volsync-nope", "x": 1}, "tagged 'volsync-nope', which this homeops does not know"),
        ({"kind": "Deployment"}, "without a tag"),
        (
            {"tag": "volsync-scale", "kind": "Deployment", "namespace": "a", "name": "x", "replicas": "3"},
            "volsync-scale.replicas: '3' is not int",
        ),
        (
            {"tag": "volsync-scale", "kind": "Deployment", "namespace": "a", "name": "x", "replicas": True},
            "volsync-scale.replicas: True is not int",
        ),
        ({"tag": "volsync-scale", "kind": "Deployment", "namespace": "a", "name": "x"}, "field 'replicas' is missing"),
        ({"tag": "volsync-keda", "namespace": "a", "name": "x", "pause": True, "more": 1}, "unknown field(s) more"),
    ],
)
def test_parameters_that_do_not_fit_their_class_are_refused(raw: dict[str, object], said: str) -> None:
    with pytest.raises(ParamsError) as info:
        params_from_dict(raw)
    assert said in str(info.value)


def test_an_unknown_tag_in_a_saved_plan_is_one_line_naming_the_plan_file_and_what_to_do(tmp_path: Path) -> None:
    clock = FakeClock(1_760_000_000.0)
    step = Step(id="s", action="volsync-scale", summary="", params=ScaleParams("Deployment", "a", "x", 1))
    journal = Journal.create(tmp_path, _plan((step,)), clock)
    plan_file = journal.directory / "plan.json"
    raw = json.loads(plan_file.read_text())
    raw["steps"][0]["params"]["tag"] = "volsync-scale-v9"
    plan_file.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as info:
        Journal.load(journal.path, clock).plan()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{plan_file}: cannot read the plan of run {journal.run_id}: step parameters tagged")
    assert "'volsync-scale-v9', which this homeops does not know" in message
    assert f"move {journal.directory} aside and plan again" in message


def test_a_plan_written_before_typed_parameters_is_read_into_them() -> None:
    """The fixture is the plan.json the previous homeops (main at bdfe745) wrote for a failed
    `volsync.restore --timestamp 2020-01-01T00:00:00Z` on the simulator ({root}: its inventory)."""
    raw = json.loads((FIXTURE / "plan.json").read_text().replace("{root}", "/inv"))
    assert all("params" not in s for s in raw["steps"])
    plan = Plan.from_dict(raw)
    by_id = {s.id: s for s in plan.steps}
    key = "default/immich-data"
    assert by_id[f"{key}:suspend:Kustomization/flux-system/cluster-apps"].params == FluxParams(
        "Kustomization", "flux-system", "cluster-apps", suspend=True
    )
    assert by_id[f"{key}:resume:HelmRelease/default/immich"].params == FluxParams(
        "HelmRelease", "default", "immich", suspend=False
    )
    assert by_id[f"{key}:scale-down:deployment/immich-server"].params == ScaleParams(
        "Deployment", "default", "immich-server", 0
    )
    assert by_id[f"{key}:scale-up:deployment/immich-server"].params == ScaleParams(
        "Deployment", "default", "immich-server", 1
    )
    assert by_id[f"{key}:restore:immich-data-dst"].params == RestoreParams(
        "homeops-20251009T085320Z", "2020-01-01T00:00:00Z", None
    )
    snapshot = by_id[f"{key}:safety-snapshot"].param(SnapshotParams)
    assert snapshot.name == "immich-data-pre-restore-20251009t085320z" and '"VolumeSnapshot"' in snapshot.manifest
    assert by_id[f"{key}:delete-pvc"].params == DeleteClaimParams("055b77ca7f56b1b1c19b1b7e3c6f1526")
    created = by_id[f"{key}:create-pvc"].param(CreateClaimParams)
    assert created.old_uid == "055b77ca7f56b1b1c19b1b7e3c6f1526" and '"PersistentVolumeClaim"' in created.manifest
    # what the old form kept there is gone: to_version/from_version carry versions only
    assert all(s.to_version is None and s.from_version is None and s.artifact is None for s in plan.steps)


def test_an_old_restore_step_with_previous_reads_the_count_from_its_merge_patch() -> None:
    raw = json.loads((FIXTURE / "plan.json").read_text().replace("{root}", "/inv"))
    (restore,) = (s for s in raw["steps"] if s["action"] == "volsync-restore")
    restore["to_version"] = "previous"
    restore["commands"][0]["argv"] = [
        a.replace('"previous":null', '"previous":3') for a in restore["commands"][0]["argv"]
    ]
    plan = Plan.from_dict(raw)
    (step,) = (s for s in plan.steps if s.action == "volsync-restore")
    assert step.params == RestoreParams("homeops-20251009T085320Z", None, 3)
    assert step.param(RestoreParams).when() == "that far back (--previous)"


def test_an_old_vm_step_and_an_old_upgrade_snapshot_step() -> None:
    old = {
        **_plan(()).to_dict(),
        "steps": [
            {**_legacy(Step(id="k8s-4:vm-stop", action="vm-power", summary="")), "from_version": "running",
             "to_version": "stopped"},
            _legacy(Step(id="k8s-4:vm-snapshot@v1.11.6", action="vm-snapshot", summary="", artifact="homeops-x")),
        ],
    }  # fmt: skip
    power, snap = Plan.from_dict(old).steps
    assert power.params == VmParams("running", "stopped") and power.to_version is None
    assert snap.params is None and snap.artifact == "homeops-x"  # the snapshot's name is what it produces


def _legacy(step: Step) -> dict[str, object]:
    raw = _plan((replace(step, params=None),)).to_dict()["steps"][0]
    del raw["params"]
    return dict(raw)


def test_old_bootstrap_steps_read_the_file_and_release_they_named_in_artifact() -> None:
    old = {
        **_plan(()).to_dict(),
        "steps": [
            _legacy(Step(id="secret:bootstrap/s.sops.yaml", action="bootstrap-secret", summary="",
                         artifact="/inv/bootstrap/s.sops.yaml")),
            _legacy(Step(id="release:cilium", action="bootstrap-release", summary="", artifact="cilium")),
            _legacy(Step(id="node:k8s-0:reset", action="dr-inplace", summary="", artifact="k8s-0,k8s-1")),
        ],
    }  # fmt: skip
    secret, release, inplace = Plan.from_dict(old).steps
    assert secret.params == SecretParams("/inv/bootstrap/s.sops.yaml") and secret.artifact is None
    assert release.params == HelmRelease("cilium") and release.artifact is None
    assert inplace.params == InPlaceParams(("k8s-0", "k8s-1"))
