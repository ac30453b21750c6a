"""Shared parsing helpers: the JSON stream decoder, column tables, Go durations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from homeops.adapters._parse import UnexpectedOutput, go_duration, parse_json_object, parse_json_stream, parse_table

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8,
)
objects = st.dictionaries(st.text(max_size=8), json_values, max_size=5)


@settings(max_examples=60, deadline=None)
@given(st.lists(objects, max_size=6), st.sampled_from([4, 2, None]), st.sampled_from(["\n", "", "\n\n", " \r\n"]))
def test_json_stream_round_trips(objs: list[dict[str, Any]], indent: int | None, sep: str) -> None:
    # talosctl: Go json.Encoder with SetIndent("", "    "), one newline after each object.
    text = sep.join(json.dumps(o, indent=indent, sort_keys=True) for o in objs) + ("\n" if objs else "")
    assert parse_json_stream(text) == objs


@settings(max_examples=40, deadline=None)
@given(st.lists(objects, min_size=1, max_size=4), st.integers(min_value=1, max_value=40))
def test_truncated_stream_is_refused_not_misread(objs: list[dict[str, Any]], cut: int) -> None:
    text = "\n".join(json.dumps(o, indent=4) for o in objs)
    truncated = text[: max(1, len(text) - cut)]
    try:
        parsed = parse_json_stream(truncated)
    except UnexpectedOutput as exc:
        assert "not a JSON object stream" in str(exc) or "expected JSON objects" in str(exc)
    else:
        # Only possible when the cut fell exactly on an object boundary: a strict prefix of the objects.
        assert parsed == objs[: len(parsed)]


@pytest.mark.parametrize("text", ['{"a": 1} junk', "[1, 2]", '"s"', '{"a": 1}{'])
def test_json_stream_rejects_garbage(text: str) -> None:
    with pytest.raises(UnexpectedOutput):
        parse_json_stream(text, what="talosctl get")


def test_json_object() -> None:
    assert parse_json_object('{"kind": "List"}') == {"kind": "List"}
    with pytest.raises(UnexpectedOutput, match="not JSON"):
        parse_json_object("error: You must be logged in", what="kubectl get nodes")
    with pytest.raises(UnexpectedOutput, match="expected a JSON object"):
        parse_json_object("[]")


def _tabwrite(rows: list[list[str]], padding: int = 3) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]) - 1)]
    return "".join("".join(c.ljust(widths[i] + padding) for i, c in enumerate(r[:-1])) + r[-1] + "\n" for r in rows)


word = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789.:/%()-", min_size=1, max_size=8)
cell = st.lists(word, min_size=1, max_size=3).map(" ".join)  # single spaces inside, like "21 MB"


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=2, max_value=6).flatmap(lambda n: st.tuples(
    st.lists(cell, min_size=n, max_size=n, unique=True),
    st.lists(st.lists(cell, min_size=n, max_size=n), max_size=5),
    st.booleans(),
)))  # fmt: skip
def test_tabwriter_tables_round_trip(spec: tuple[list[str], list[list[str]], bool]) -> None:
    headers, rows, empty_last = spec
    headers = [h.upper() for h in headers]
    if len(set(headers)) != len(headers):
        return
    if empty_last:
        rows = [[*r[:-1], ""] for r in rows]
    table = parse_table(_tabwrite([headers, *rows]))
    assert table.headers == tuple(headers)
    assert [list(r.values()) for r in table.rows] == rows


def test_table_empty_middle_cell_uses_header_offsets() -> None:
    text = _tabwrite([["NODE", "HOSTNAME", "LEARNER"], ["10.0.0.1", "", "false"], ["10.0.0.2", "cp2", "true"]])
    table = parse_table(text)
    assert table.rows[0] == {"NODE": "10.0.0.1", "HOSTNAME": "", "LEARNER": "false"}


def test_table_with_tabs_and_required_columns() -> None:
    text = "NAME  \tREADY\t\napps  \tTrue \t\n"
    assert parse_table(text, required=("NAME",)).rows == ({"NAME": "apps", "READY": "True"},)
    with pytest.raises(UnexpectedOutput, match="header lacks MEMBER"):
        parse_table(text, what="talosctl etcd status", required=("MEMBER",))
    with pytest.raises(UnexpectedOutput, match="no table header"):
        parse_table("\n", required=("MEMBER",))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, "0s"),
        (30, "30s"),
        (90, "1m30s"),
        (600, "10m"),
        (3600, "1h"),
        (5400, "1h30m"),
        (0.25, "250ms"),
        ("20m", "20m"),
    ],
)
def test_go_duration(value: float | str, expected: str) -> None:
    assert go_duration(value) == expected


def test_go_duration_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        go_duration("ten minutes")
    with pytest.raises(ValueError):
        go_duration(-1)
