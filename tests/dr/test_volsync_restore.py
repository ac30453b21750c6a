"""`inv volsync.restore` on the sim: the volume populator restore as an engine plan (dry run, confirm,
journal, resume), its refusals before anything changes, and a kill at each mutating command."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

import homeops.app.backend
import homeops.runtime
from homeops.runners import Result
from homeops.sim.apps_data import objects
from homeops.sim.runner import SimRunner
from homeops.tasks import volsync as volsync_tasks

from .drsim import DrSim

TOKEN = "homeops-20251009T085320Z"
MUTATING = ("scale", "delete", "create", "patch", "suspend", "resume")


def obj(drsim: DrSim, plural: str, name: str) -> dict[str, Any]:
    state = drsim.store.read(include_log=False)
    if plural in ("deployments", "statefulsets"):
        return next(d for d in state["k8s"][plural] if d["name"] == name)  # type: ignore[no-any-return]
    if plural in ("kustomizations", "helmreleases"):
        return next(d for d in state["flux"][plural] if d["name"] == name)  # type: ignore[no-any-return]
    return next(o for o in objects(state, plural) if o["metadata"]["name"] == name)


def sent(drsim: DrSim) -> list[str]:
    """The mutating kubectl/flux commands that took effect, shortened (the simulator's own log)."""
    out = []
    for entry in drsim.store.log():
        argv = [str(a) for a in entry["argv"]]
        if entry["tool"] not in ("kubectl", "flux") or entry["exit"] != 0:
            continue
        words = [a for a in argv if not a.startswith("/") and a not in ("--kubeconfig", "--namespace")]
        verb = next((w for w in words[1:] if w in MUTATING), None)
        if verb is None:
            continue
        rest = words[words.index(verb) + 1 :]
        if verb == "patch":
            rest = rest[:2]
        elif verb == "create":
            rest = [argv[-1].rsplit("/", 1)[-1]]
        out.append(" ".join([argv[0], verb, *rest[:3]]))
    return out


HAPPY = [
    "flux suspend kustomization cluster-apps flux-system",
    "flux suspend helmrelease immich default",
    "kubectl scale deployment/immich-server --replicas=0",
    "kubectl patch replicationdestinations.volsync.backube immich-data-dst",
    "kubectl create default-immich-data.snapshot.json",  # a copy of the old data before it is deleted
    "kubectl delete persistentvolumeclaims immich-data --wait=true",
    "kubectl create default-immich-data.pvc.json",
    "kubectl scale deployment/immich-server --replicas=1",
    "flux resume helmrelease immich default",
    "flux resume kustomization cluster-apps flux-system",
]


def restore(drsim: DrSim, **kw: Any) -> None:
    kw.setdefault("namespace", "default")
    kw.setdefault("app", "immich-data")
    volsync_tasks.restore(Context(), inventory=str(drsim.root), **kw)


def assert_restored(drsim: DrSim, old_uid: str) -> None:
    pvc = obj(drsim, "persistentvolumeclaims", "immich-data")
    assert pvc["status"]["phase"] == "Bound"
    assert pvc["metadata"]["uid"] != old_uid
    assert pvc["spec"]["dataSourceRef"]["name"] == "immich-data-dst"
    assert pvc["metadata"]["labels"]["kustomize.toolkit.fluxcd.io/name"] == "cluster-apps"  # Flux still owns it
    assert pvc["spec"]["resources"] == {"requests": {"storage": "10Gi"}}
    assert obj(drsim, "replicationdestinations", "immich-data-dst")["status"]["lastManualSync"] == TOKEN
    deployment = obj(drsim, "deployments", "immich-server")
    assert (deployment["replicas"], deployment["ready_replicas"]) == (1, 1)
    assert not obj(drsim, "kustomizations", "cluster-apps")["suspended"]
    assert not obj(drsim, "helmreleases", "immich")["suspended"]


def test_dry_run_shows_the_whole_restore_and_changes_nothing(drsim: DrSim, capsys: pytest.CaptureFixture[str]) -> None:
    restore(drsim, dry_run=True)
    out = capsys.readouterr().out
    assert out.startswith(
        "[SIMULATED] Plan: volsync-restore on cluster 'home' → default/immich-data restored from "
        "default/immich-data-dst from the newest backup"
    )
    assert "flux suspend kustomization cluster-apps --namespace flux-system" in out
    assert '{"spec":{"restic":{"previous":null,"restoreAsOf":null},"trigger":{"manual":"' + TOKEN + '"}}}' in out
    assert "SIMULATED dry run: nothing was changed" in out
    assert sent(drsim) == []
    assert not (drsim.root / ".homeops" / "volsync").exists()  # the PVC manifest is written when it is used


def test_restore_suspends_scales_restores_recreates_the_pvc_and_puts_the_app_back(
    drsim: DrSim, capsys: pytest.CaptureFixture[str]
) -> None:
    old = obj(drsim, "persistentvolumeclaims", "immich-data")["metadata"]["uid"]
    restore(drsim, yes=True)
    assert sent(drsim) == HAPPY
    assert_restored(drsim, old)
    assert "restoreAsOf" not in obj(drsim, "replicationdestinations", "immich-data-dst")["spec"]["restic"]
    out = capsys.readouterr().out
    assert "[SIMULATED]" in out and "finished: volsync-restore done" in out
    # the report's before/after columns, as the homeops before typed step parameters wrote them (main at
    # bdfe745, same run on this simulator): the kinds say what a step reached, not a smuggled to_version
    (report,) = (drsim.root / ".homeops" / "runs").glob("*/report.json")
    rows = [(s["action"], s["before"], s["after"]) for s in json.loads(report.read_text())["steps"]]
    assert rows == [
        ("volsync-flux", "active", "suspended"),
        ("volsync-flux", "active", "suspended"),
        ("volsync-scale", "1", "0"),
        ("volsync-restore", "restore-once", f"lastManualSync={TOKEN}"),
        ("volsync-safety-snapshot", "absent", "immich-data-pre-restore-20251009t085320z"),
        ("volsync-delete-pvc", "Bound", "deleted"),
        ("volsync-create-pvc", "absent", "Bound"),
        ("volsync-scale", "0", "1"),
        ("volsync-flux", "suspended", "resumed"),
        ("volsync-flux", "suspended", "resumed"),
    ]


def test_restore_as_of_a_timestamp_sets_restore_as_of_on_the_mover(drsim: DrSim) -> None:
    old = obj(drsim, "persistentvolumeclaims", "immich-data")["metadata"]["uid"]
    restore(drsim, yes=True, timestamp="2025-10-08T06:00:00Z")
    assert sent(drsim) == HAPPY
    rd = obj(drsim, "replicationdestinations", "immich-data-dst")
    assert rd["spec"]["restic"]["restoreAsOf"] == "2025-10-08T06:00:00Z"
    assert "newest at or before 2025-10-08T06:00:00Z" in rd["status"]["latestMoverStatus"]["logs"]
    assert_restored(drsim, old)


def test_a_statefulset_app_without_a_helmrelease(drsim: DrSim) -> None:
    restore(drsim, app="paperless-data", yes=True)
    assert sent(drsim) == [
        "flux suspend kustomization cluster-apps flux-system",
        "kubectl scale statefulset/paperless --replicas=0",
        "kubectl patch replicationdestinations.volsync.backube paperless-data-dst",
        "kubectl create default-paperless-data.snapshot.json",
        "kubectl delete persistentvolumeclaims paperless-data --wait=true",
        "kubectl create default-paperless-data.pvc.json",
        "kubectl scale statefulset/paperless --replicas=1",
        "flux resume kustomization cluster-apps flux-system",
    ]
    assert obj(drsim, "persistentvolumeclaims", "paperless-data")["status"]["phase"] == "Bound"


def test_no_backup_at_that_time_stops_before_the_pvc_and_says_how_to_bring_the_app_back(drsim: DrSim) -> None:
    old = obj(drsim, "persistentvolumeclaims", "immich-data")["metadata"]["uid"]
    with pytest.raises(Exit) as info:
        restore(drsim, yes=True, timestamp="2020-01-01T00:00:00Z")
    message = str(info.value.message)
    assert "default/immich-data-dst: no backup at or before 2020-01-01T00:00:00Z" in message
    assert "the volume was not touched" in message
    assert "the app is down; to bring it back without the restore: kubectl" in message
    back = message.split("without the restore: ", 1)[1].split(";")[0]
    assert back.split(" && ")[0].endswith("scale deployment/immich-server --replicas=1")
    assert "flux resume helmrelease immich --namespace default" in back
    assert "flux resume kustomization cluster-apps --namespace flux-system" in back
    assert "inv volsync.restore --resume" in message
    assert obj(drsim, "persistentvolumeclaims", "immich-data")["metadata"]["uid"] == old  # data untouched
    assert sent(drsim) == HAPPY[:4]
    (report,) = (drsim.root / ".homeops" / "runs").glob("*/report.json")
    create = next(s for s in json.loads(report.read_text())["steps"] if s["action"] == "volsync-create-pvc")
    assert (create["status"], create["before"]) == ("pending", old)  # as planned: the PVC it replaces


@pytest.mark.parametrize(
    ("app", "change", "expected"),
    [
        (
            "paperless-data",
            "drop-destination",
            "error: PVC default/paperless-data names ReplicationDestination default/paperless-data-dst, "
            "which does not exist",
        ),
        (
            "plain",
            "plain-claim",
            "error: PVC default/plain is not restored by VolSync: it has no dataSourceRef to a ReplicationDestination",
        ),
        ("nope", None, "error: no PVC default/nope to restore"),
    ],
)
def test_an_app_without_a_replication_destination_is_refused_before_anything_changes(
    drsim: DrSim, app: str, change: str | None, expected: str
) -> None:
    with drsim.store.transaction() as state:
        apps = state["apps"]
        if change == "drop-destination":
            apps["destinations"] = [d for d in apps["destinations"] if d["name"] != "paperless-data-dst"]
        elif change == "plain-claim":
            apps["claims"].append({"namespace": "default", "name": "plain", "destination": None})
    with pytest.raises(Exit) as info:
        restore(drsim, app=app, yes=True)
    assert str(info.value.message).startswith(expected)
    assert "\n" not in str(info.value.message)
    assert sent(drsim) == []
    assert obj(drsim, "statefulsets", "paperless")["replicas"] == 1


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"namespace": None}, "error: which app? pass --namespace NS --app APP"),
        ({"app": None}, "error: which app? pass --namespace NS --app APP"),
        ({"timestamp": "2025-10-08T06:00:00+02:00"}, "error: restore time '2025-10-08T06:00:00+02:00' is not"),
        ({"timestamp": "2025-02-30T06:00:00Z"}, "error: restore time '2025-02-30T06:00:00Z' is not"),
        ({"namespace": "media"}, "error: no PVC media/immich-data to restore"),
        ({"resume": True}, "error: there is no earlier volsync.restore run to resume"),
    ],
)
def test_bad_options_are_one_line_and_change_nothing(drsim: DrSim, options: dict[str, Any], expected: str) -> None:
    with pytest.raises(Exit) as info:
        restore(drsim, yes=True, **options)
    assert str(info.value.message).startswith(expected)
    assert sent(drsim) == []


# ---------------------------------------------------------------------------------- kill + resume


class Crash:
    """Raise KeyboardInterrupt (the engine's SIGKILL stand-in) right after a matching command ran."""

    def __init__(self) -> None:
        self.words: tuple[str, ...] | None = None
        self.nth = 1  # the how-many-th matching command

    def check(self, argv: Sequence[str]) -> None:
        if self.words and all(w in argv for w in self.words):
            self.nth -= 1
            if self.nth == 0:
                self.words = None
                raise KeyboardInterrupt


class Hooked:
    def __init__(self, inner: Any, crash: Crash) -> None:
        self.inner, self.crash, self.target = inner, crash, getattr(inner, "target", None)

    def run(self, argv: Sequence[str], **kw: Any) -> Result:
        result: Result = self.inner.run(argv, **kw)
        self.crash.check(argv)
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def crash(monkeypatch: pytest.MonkeyPatch) -> Crash:
    hook = Crash()
    real = homeops.app.backend.open_runtime

    def open_runtime(directory: object, **kw: Any) -> homeops.runtime.Runtime:
        rt = real(directory, **kw)  # type: ignore[arg-type]
        rt.local = Hooked(SimRunner(rt.inventory.state_dir / "sim"), hook)  # type: ignore[assignment]
        return rt

    monkeypatch.setattr(homeops.app.backend, "open_runtime", open_runtime)
    return hook


@pytest.mark.parametrize(
    ("words", "nth"),
    [
        (("suspend", "kustomization"), 1),
        (("suspend", "helmrelease"), 1),
        (("scale", "--replicas=0"), 1),
        (("get", "deployments.apps"), 4),  # mid-wait for the pods to go
        (("patch", "immich-data-dst"), 1),
        (("get", "replicationdestinations.volsync.backube"), 3),  # mid-wait for the restore
        (("create", "--filename"), 1),  # the safety snapshot
        (("get", "volumesnapshots.snapshot.storage.k8s.io"), 1),  # mid-wait for it
        (("delete", "immich-data"), 1),
        (("create",), 2),
        (("get", "persistentvolumeclaims"), 5),  # mid-wait for Bound
        (("scale", "--replicas=1"), 1),
        (("resume", "helmrelease"), 1),
        (("resume", "kustomization"), 1),
    ],
)
def test_killed_at_each_step_then_resumed_each_command_is_sent_exactly_once(
    drsim: DrSim, crash: Crash, words: tuple[str, ...], nth: int
) -> None:
    old = obj(drsim, "persistentvolumeclaims", "immich-data")["metadata"]["uid"]
    crash.words, crash.nth = words, nth
    with pytest.raises(BaseException) as info:  # the engine re-raises the interrupt (or its Aborted)
        restore(drsim, yes=True)
    assert not isinstance(info.value, AssertionError)
    assert crash.words is None, "the crash point was never reached"
    restore(drsim, namespace=None, app=None, resume=True, yes=True)
    assert Counter(sent(drsim)) == Counter(HAPPY)
    assert_restored(drsim, old)


# ---------------------------------------------------------------------------------- across an upgrade

BEFORE_PARAMS = Path(__file__).resolve().parents[1] / "fixtures" / "journals" / "volsync-restore-before-params"


def test_a_restore_journaled_by_the_homeops_before_typed_parameters_resumes_and_is_recovered_from(
    drsim: DrSim, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run's journal and plan as main at bdfe745 wrote them (replica counts, "suspended" and the
    restore time in ``to_version``): ``--resume`` reads them, and a later restore brings the app back
    to the replica count that plan recorded."""
    with pytest.raises(Exit):
        restore(drsim, yes=True, timestamp="2020-01-01T00:00:00Z")  # the cluster as that run left it
    runs = drsim.root / ".homeops" / "runs"
    (run,) = runs.iterdir()
    shutil.rmtree(run)
    (runs / "20251009T085320Z-volsync-restore").mkdir()
    for name in ("plan.json", "journal.json"):
        text = (BEFORE_PARAMS / name).read_text().replace("{root}", str(drsim.root))
        (runs / "20251009T085320Z-volsync-restore" / name).write_text(text)
    before = len(sent(drsim))
    with pytest.raises(Exit) as info:
        restore(drsim, namespace=None, app=None, resume=True, yes=True)
    assert "default/immich-data-dst: no backup at or before 2020-01-01T00:00:00Z" in str(info.value.message)
    assert sent(drsim)[before:] == []  # suspended and scaled down already: nothing sent twice
    capsys.readouterr()
    restore(drsim, yes=True)
    out = capsys.readouterr().out
    assert "deployment/immich-server is at 0 replicas since an earlier volsync.restore" in out
    deployment = obj(drsim, "deployments", "immich-server")
    assert (deployment["replicas"], deployment["ready_replicas"]) == (1, 1)


def test_resume_of_a_plan_with_parameters_this_homeops_does_not_know_is_one_line(drsim: DrSim) -> None:
    with pytest.raises(Exit):
        restore(drsim, yes=True, timestamp="2020-01-01T00:00:00Z")
    (plan_file,) = (drsim.root / ".homeops" / "runs").glob("*/plan.json")
    plan_file.write_text(plan_file.read_text().replace('"tag": "volsync-scale"', '"tag": "volsync-scale-v2"'))
    before = len(sent(drsim))
    with pytest.raises(Exit) as info:
        restore(drsim, namespace=None, app=None, resume=True, yes=True)
    message = str(info.value.message)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"error: {plan_file}: cannot read the plan of run ")
    assert "step parameters tagged 'volsync-scale-v2', which this homeops does not know" in message
    assert f"move {plan_file.parent} aside and plan again" in message
    assert sent(drsim)[before:] == []
