"""SimStore: state.json plus the append-only command log (log.jsonl) beside it."""

from __future__ import annotations

import json
import multiprocessing
from pathlib import Path
from typing import Any

import pytest

from homeops.sim.store import LOG_FILE, STATE_FILE, SimNotRunning, SimStore


def _entry(i: int, tool: str = "talosctl") -> dict[str, Any]:
    return {"t": 100.0 + i, "tool": tool, "argv": [tool, "get", "machinestatus", str(i)], "exit": 0}


@pytest.fixture
def store(tmp_path: Path) -> SimStore:
    s = SimStore(tmp_path / "sim")
    s.create({"version": 1, "clock": {"mode": "virtual", "now": 5.0, "origin": 0.0}, "nodes": {}, "log": []})
    return s


def test_log_lives_in_log_jsonl_and_read_still_returns_it(store: SimStore) -> None:
    for i in range(3):
        with store.transaction() as state:
            state["nodes"][f"n{i}"] = {"ready": True}
            state["log"].append(_entry(i))
    on_disk = json.loads((store.dir / STATE_FILE).read_text())
    assert "log" not in on_disk
    assert sorted(on_disk["nodes"]) == ["n0", "n1", "n2"]
    lines = (store.dir / LOG_FILE).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [_entry(0), _entry(1), _entry(2)]
    assert store.read()["log"] == [_entry(0), _entry(1), _entry(2)]
    assert store.log() == [_entry(0), _entry(1), _entry(2)]
    assert "log" not in store.read(include_log=False)


def test_state_file_does_not_grow_with_the_log(store: SimStore) -> None:
    sizes = []
    for i in range(300):
        with store.transaction() as state:
            state["log"].append(_entry(i))
        sizes.append((store.dir / STATE_FILE).stat().st_size)
    assert len(set(sizes)) == 1  # every command rewrote the same small file
    assert len(store.log()) == 300


def test_reading_the_log_inside_a_transaction_is_refused(store: SimStore) -> None:
    with store.transaction() as state:
        state["log"].append(_entry(0))
    with pytest.raises(TypeError, match=r"SimStore.log\(\)"), store.transaction() as state:
        [e for e in state["log"]]
    with pytest.raises(TypeError), store.snapshot() as state:
        len(state["log"])
    with store.transaction() as state:
        del state["log"][:-200]  # what bench/rolling.py's log trimmer does: now a harmless no-op
    assert store.log() == [_entry(0)]


def test_a_failed_transaction_writes_neither_state_nor_log(store: SimStore) -> None:
    with pytest.raises(RuntimeError), store.transaction() as state:
        state["nodes"]["ghost"] = {}
        state["log"].append(_entry(0))
        raise RuntimeError("boom")
    assert store.read() == {
        "version": 1,
        "clock": {"mode": "virtual", "now": 5.0, "origin": 0.0},
        "nodes": {},
        "log": [],
    }


def test_snapshot_appends_to_the_log_and_never_rewrites_the_state(store: SimStore) -> None:
    before = (store.dir / STATE_FILE).stat()
    with store.snapshot() as state:
        state["nodes"]["scribble"] = {}  # a look that changes its copy changes nothing on disk
        state["log"].append(_entry(7, "zpool"))
    after = (store.dir / STATE_FILE).stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert store.read()["nodes"] == {}
    assert store.log() == [_entry(7, "zpool")]


def test_a_state_written_before_log_jsonl_keeps_its_log_and_migrates(store: SimStore) -> None:
    legacy = {"version": 1, "clock": {"mode": "real"}, "nodes": {}, "log": [_entry(0), _entry(1)]}
    (store.dir / STATE_FILE).write_text(json.dumps(legacy))
    (store.dir / LOG_FILE).unlink()
    assert store.log() == [_entry(0), _entry(1)]
    with store.snapshot() as state:  # a shared-lock look may append before any migration
        state["log"].append(_entry(2))
    assert store.read()["log"] == [_entry(0), _entry(1), _entry(2)]
    with store.transaction() as state:
        state["log"].append(_entry(3))
    assert "log" not in json.loads((store.dir / STATE_FILE).read_text())
    assert store.log() == [_entry(0), _entry(1), _entry(2), _entry(3)]


def test_create_starts_a_new_log_and_remove_deletes_it(store: SimStore) -> None:
    with store.transaction() as state:
        state["log"].append(_entry(0))
    store.create({"version": 1, "clock": {"mode": "real"}, "log": [_entry(9)]})
    assert store.log() == [_entry(9)]
    with store.transaction() as state:  # a copy made from inside a transaction keeps what it appended
        state["log"].append(_entry(10))
        SimStore(store.dir / "copy").create(state)
    assert SimStore(store.dir / "copy").log() == [_entry(10)]
    store.remove()
    assert not (store.dir / LOG_FILE).exists() and not store.exists()
    with pytest.raises(SimNotRunning):
        store.read()


def test_a_line_still_being_appended_or_torn_is_skipped(store: SimStore) -> None:
    with store.transaction() as state:
        state["log"].append(_entry(0))
    with open(store.dir / LOG_FILE, "a") as fh:
        fh.write('{"t": 1, "tool": "kub\n')  # torn by a crash mid-append
        fh.write(json.dumps(_entry(1)) + "\n")
        fh.write('{"t": 2, "tool"')  # another appender is mid-write
    assert store.log() == [_entry(0), _entry(1)]


def _append_many(directory: str, worker: int, count: int) -> None:
    store = SimStore(directory)
    for i in range(count):
        with store.snapshot() as state:
            state["log"].append({**_entry(i), "worker": worker, "pad": "x" * 300})


def test_concurrent_appenders_in_other_processes_never_lose_or_tear_a_line(store: SimStore) -> None:
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(str(store.dir), w, 150)) for w in range(4)]
    for p in workers:
        p.start()
    with store.transaction() as state:  # a writer in the middle of it all
        state["nodes"]["n"] = {}
        state["log"].append(_entry(-1))
    for p in workers:
        p.join(30)
        assert p.exitcode == 0
    log = store.log()
    assert len(log) == 4 * 150 + 1
    for w in range(4):  # each appender's own lines are whole and in its order
        assert [e["argv"][-1] for e in log if e.get("worker") == w] == [str(i) for i in range(150)]
    assert store.read()["nodes"] == {"n": {}}
