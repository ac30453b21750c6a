"""Parsing helpers the tool adapters share: JSON streams, column tables, Go durations, checked runs.

Everything here is pure except ``run_checked``, which only calls the ``Runner`` it is given.
A parser that cannot understand its input raises ``UnexpectedOutput`` (a ``CommandError``); the
call helpers re-raise it with the command line and the node filled in, so a garbled answer from a
tool surfaces as one actionable line instead of an ``IndexError`` deep in a planner.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from homeops.errors import CommandError, ConnectionFailed
from homeops.runners import Result, Runner
from homeops.secrets import mask

T = TypeVar("T")

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


class UnexpectedOutput(CommandError):
    """A tool answered, but not in a shape the parser knows (version skew, truncation, garbage)."""

    def __init__(self, what: str, detail: str, *, command: str = "", target: str | None = None) -> None:
        self.what = what
        self.detail = detail
        on = f" on {target}" if target else ""
        super().__init__(
            f"{what}{on}: unexpected output: {detail}",
            command=command,
            target=target,
            hint="run the command by hand to see what it prints, and check that the tool's version is one "
            "homeops supports (talosctl 1.9–1.13)",
        )

    def at(self, *, command: str, target: str | None) -> UnexpectedOutput:
        """The same error with the command line and the node named."""
        return UnexpectedOutput(self.what, self.detail, command=command, target=target)


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def excerpt(text: str, limit: int = 80) -> str:
    """A short, masked, single-line excerpt of some output for an error message."""
    one = " ".join(text.split())
    if not one:
        return "(empty)"
    one = mask(one)
    return one if len(one) <= limit else one[: limit - 1] + "…"


# --------------------------------------------------------------------------- JSON streams

_WS = re.compile(r"\s*")


def parse_json_stream(text: str, *, what: str = "output") -> list[dict[str, Any]]:
    """Decode concatenated JSON objects (``talosctl get -o json``, protojson lines).

    The objects may be pretty-printed over many lines or packed one per line; anything between
    them other than whitespace is an error, as is a top-level value that is not an object.
    """
    decoder = json.JSONDecoder()
    objects: list[dict[str, Any]] = []
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]  # \s* always matches
    while pos < len(text):
        try:
            value, end = decoder.raw_decode(text, pos)
        except json.JSONDecodeError as exc:
            raise UnexpectedOutput(what, f"not a JSON object stream at offset {pos}: {exc.msg}") from None
        if not isinstance(value, dict):
            raise UnexpectedOutput(what, f"expected JSON objects, found {type(value).__name__}")
        objects.append(value)
        pos = _WS.match(text, end).end()  # type: ignore[union-attr]
    return objects


def parse_json_object(text: str, *, what: str = "output") -> dict[str, Any]:
    """Decode exactly one JSON object (``kubectl get -o json``)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UnexpectedOutput(what, f"not JSON: {exc.msg} ({excerpt(text)})") from None
    if not isinstance(value, dict):
        raise UnexpectedOutput(what, f"expected a JSON object, found {type(value).__name__}")
    return value


# --------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class Table:
    """A parsed column table: the header names and one dict per row keyed by header name."""

    headers: tuple[str, ...]
    rows: tuple[dict[str, str], ...]


def _header_spans(line: str) -> list[tuple[str, int]]:
    # Header names contain single spaces ("DB SIZE", "PEER URLS"); columns are at least 2 apart.
    return [(m.group(0), m.start()) for m in re.finditer(r"\S+(?: \S+)*", line)]


def _by_position(line: str, starts: Sequence[int]) -> list[str] | None:
    """Slice a row at the header offsets; None when a cell does not start on a column boundary."""
    cells = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(line)
        cell = line[start:end] if start < len(line) else ""
        if start > 0 and start < len(line) and line[start - 1] != " " and line[start] != " ":
            return None
        cells.append(cell.strip())
    return cells


def parse_table(text: str, *, what: str = "table", gap: int = 3, required: Sequence[str] = ()) -> Table:
    """Parse a tabwriter / tablewriter table whose first non-empty line is the header.

    Cells are found by, in order: tab separators (flux's tablewriter pads with a tab), runs of at
    least ``gap`` spaces (talosctl's tabwriter pads with 3), and the header's column offsets for
    rows with empty cells in the middle. A row that fits none of these is an ``UnexpectedOutput``.
    Empty trailing cells (an empty ``ERRORS`` column) are allowed.
    """
    lines = [strip_ansi(ln.rstrip("\r")) for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    if not lines:
        if required:
            raise UnexpectedOutput(what, "no table header (empty output)")
        return Table((), ())
    header_line = lines[0]
    tabbed = "\t" in header_line
    if tabbed:
        headers = [h.strip() for h in header_line.split("\t")]
        # tablewriter with a tab padding leaves an empty cell after the last tab.
        while headers and not headers[-1]:
            headers.pop()
        starts: list[int] = []
    else:
        spans = _header_spans(header_line.rstrip())
        headers = [name for name, _ in spans]
        starts = [start for _, start in spans]
    missing = [name for name in required if name not in headers]
    if missing:
        raise UnexpectedOutput(what, f"header lacks {', '.join(missing)} (got: {excerpt(header_line)})")
    splitter = re.compile(" {" + str(gap) + ",}")
    rows: list[dict[str, str]] = []
    for line in lines[1:]:
        if tabbed:
            cells = [c.strip() for c in line.split("\t")]
            while len(cells) > len(headers) and not cells[-1]:
                cells.pop()
        else:
            cells = [c for c in splitter.split(line.strip())]
            if len(cells) < len(headers):
                positional = _by_position(line.rstrip(), starts)
                if positional is not None:
                    cells = positional
        if len(cells) > len(headers):
            raise UnexpectedOutput(what, f"row has {len(cells)} cells for {len(headers)} columns: {excerpt(line)}")
        cells = cells + [""] * (len(headers) - len(cells))
        rows.append(dict(zip(headers, cells, strict=True)))
    return Table(tuple(headers), tuple(rows))


# --------------------------------------------------------------------------- values

_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$")


def parse_time(value: Any) -> float | None:
    """``2025-10-09T06:00:00Z`` (metav1.Time) → seconds since the epoch; None when absent or not a time."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def go_duration(value: float | str) -> str:
    """Seconds (or an already-formatted Go duration) as a Go ``time.ParseDuration`` string."""
    if isinstance(value, str):
        if value == "0" or _DURATION.match(value):
            return value
        raise ValueError(f"not a Go duration: {value!r} (use e.g. 90s, 10m, 1h30m)")
    if value < 0:
        raise ValueError(f"negative duration: {value}")
    if value != int(value):
        return f"{round(value * 1000)}ms"
    seconds = int(value)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    out = (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
    return out or "0s"


def parse_bool(value: str, *, what: str, field: str) -> bool:
    low = value.strip().lower()
    if low == "true":
        return True
    if low == "false":
        return False
    raise UnexpectedOutput(what, f"{field} is {value!r}, expected true/false")


# --------------------------------------------------------------------------- checked runs


def run_checked(
    runner: Runner,
    argv: Sequence[str],
    *,
    what: str,
    target: str | None,
    timeout: float | None = None,
    stdin: str | None = None,
    unreachable: Callable[[Result], bool] | None = None,
    hint: str | None = None,
) -> Result:
    """Run ``argv`` and ``check_result`` it."""
    result = runner.run(list(argv), timeout=timeout, stdin=stdin)
    return check_result(result, what=what, target=target, unreachable=unreachable, hint=hint)


def check_result(
    result: Result,
    *,
    what: str,
    target: str | None,
    unreachable: Callable[[Result], bool] | None = None,
    hint: str | None = None,
) -> Result:
    """Return an ok result; else raise ``ConnectionFailed`` (when ``unreachable`` says so) or ``CommandError``."""
    if result.ok:
        return result
    on = f" on {target}" if target else ""
    if unreachable is not None and unreachable(result):
        raise ConnectionFailed(
            f"{what}{on}: not reachable: {result.last_error_line()}",
            hint=hint or "check that it is powered on and reachable from this machine",
        )
    raise CommandError(
        f"{what}{on} failed (exit {result.exit_code}): {result.last_error_line()}",
        command=result.command,
        exit_code=result.exit_code,
        stderr=mask(result.stderr),
        target=target,
        hint=hint,
    )


def parsed(result: Result, parser: Callable[[str], T], *, target: str | None, stream: str = "stdout") -> T:
    """Apply a pure parser to a result, naming the command and node if the output is not understood."""
    text = result.stdout if stream == "stdout" else result.stderr
    try:
        return parser(text)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=target) from None
