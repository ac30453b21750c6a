"""`inv volsync.backup` (an engine plan: dry-run, confirm, journal, resume) and `inv volsync.verify` on the sim."""

from __future__ import annotations

import json

import pytest
from invoke.context import Context
from invoke.exceptions import Exit

from homeops.tasks import volsync as volsync_tasks

from .drsim import DrSim

RS = "replicationsources.volsync.backube"


def source(drsim: DrSim, name: str = "immich-data") -> dict[str, object]:
    from homeops.sim.apps_data import objects

    state = drsim.store.read(include_log=False)
    return next(o for o in objects(state, "replicationsources") if o["metadata"]["name"] == name)


def patches(drsim: DrSim) -> list[list[str]]:
    return [e["argv"] for e in drsim.store.log() if e["tool"] == "kubectl" and "patch" in e["argv"]]


def test_dry_run_shows_every_command_and_changes_nothing(drsim: DrSim, capsys: pytest.CaptureFixture[str]) -> None:
    volsync_tasks.backup(Context(), namespace="default", app="immich-data", dry_run=True, inventory=str(drsim.root))
    out = capsys.readouterr().out
    assert out.startswith("[SIMULATED] Plan: volsync-backup on cluster 'home' → default/immich-data backed up")
    assert '{"spec":{"trigger":{"manual":"homeops-20251009T085320Z"}}}' in out
    assert '{"spec":{"trigger":{"manual":null}}}' in out
    assert "SIMULATED dry run: nothing was changed" in out
    assert patches(drsim) == [] and "manual" not in source(drsim)["spec"]["trigger"]  # type: ignore[index]


def test_backup_triggers_waits_for_the_sync_and_restores_the_schedule(
    drsim: DrSim, capsys: pytest.CaptureFixture[str]
) -> None:
    volsync_tasks.backup(Context(), namespace="default", app="immich-data", yes=True, inventory=str(drsim.root))
    status = source(drsim)["status"]
    assert status["lastManualSync"] == "homeops-20251009T085320Z"  # type: ignore[index]
    assert status["lastSyncTime"] == "2025-10-09T08:54:05Z"  # type: ignore[index]  # the 45-second sync
    assert source(drsim)["spec"]["trigger"] == {"schedule": "0 * * * *"}  # type: ignore[index]
    assert [p[-1] for p in patches(drsim)] == [
        '{"spec":{"trigger":{"manual":"homeops-20251009T085320Z"}}}',
        '{"spec":{"trigger":{"manual":null}}}',
    ]
    assert (drsim.root / ".homeops" / "runs").is_dir()
    assert "[SIMULATED]" in capsys.readouterr().out


def test_a_failing_mover_stops_at_once_and_resume_triggers_only_once(
    drsim: DrSim, capsys: pytest.CaptureFixture[str]
) -> None:
    # a mover failing for two days: VolSync keeps that sync SyncInProgress (restic mover.go:610-617,
    # volsync v0.16.0), so the backup is refused before the trigger, naming the mover's error
    drsim.fault("volsync-stale", "immich-data")
    with pytest.raises(Exit) as info:
        volsync_tasks.backup(Context(), namespace="default", app="immich-data", yes=True, inventory=str(drsim.root))
    message = str(info.value.message)
    assert "default/immich-data: SyncInProgress" in message
    assert "its mover is failing: Fatal: unable to open repository" in message
    assert patches(drsim) == []
    with drsim.store.transaction() as state:  # the repository is back; then it breaks during the backup
        from homeops.sim import faults

        faults.clear(state, "volsync-stale")
        faults.inject(state, "volsync-mover-fails", "immich-data")
    with pytest.raises(Exit) as info:
        volsync_tasks.backup(Context(), namespace="default", app="immich-data", yes=True, inventory=str(drsim.root))
    message = str(info.value.message)
    assert "default/immich-data: the mover failed: its job volsync-src-immich-data has failed 3 times" in message
    assert "inv volsync.backup --resume" in message
    assert len(patches(drsim)) == 1
    with drsim.store.transaction() as state:  # the repository is back
        faults.clear(state, "volsync-mover-fails")
    volsync_tasks.backup(Context(), resume=True, yes=True, inventory=str(drsim.root))
    assert [p[-1] for p in patches(drsim)] == [
        '{"spec":{"trigger":{"manual":"homeops-20251009T085320Z"}}}',
        '{"spec":{"trigger":{"manual":null}}}',
    ]
    assert source(drsim)["status"]["lastManualSync"] == "homeops-20251009T085320Z"  # type: ignore[index]


def test_an_unknown_app_is_one_line_naming_the_sources(drsim: DrSim) -> None:
    with pytest.raises(Exit) as info:
        volsync_tasks.backup(Context(), namespace="default", app="nope", yes=True, inventory=str(drsim.root))
    assert str(info.value.message) == (
        "error: no VolSync ReplicationSource default/nope — sources: default/immich-data, default/paperless-data"
    )


def test_verify_lists_each_source_and_fails_on_a_stale_one(drsim: DrSim, capsys: pytest.CaptureFixture[str]) -> None:
    volsync_tasks.verify(Context(), inventory=str(drsim.root))
    assert capsys.readouterr().out == (
        "[SIMULATED] VolSync backups\n"
        "  default/immich-data     ok    last sync 53m ago\n"
        "  default/paperless-data  ok    last sync 53m ago\n"
    )
    drsim.fault("volsync-stale", "paperless-data")
    with pytest.raises(Exit) as info:
        volsync_tasks.verify(Context(), inventory=str(drsim.root), json=True)
    assert info.value.code == 1
    rows = json.loads(capsys.readouterr().out)
    assert [(r["source"], r["status"]) for r in rows] == [
        ("default/immich-data", "ok"),
        ("default/paperless-data", "fail"),
    ]
