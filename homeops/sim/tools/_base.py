"""What every fake tool shares: pflag-style flag parsing, Go tabwriter tables, state access, waits.

A tool is a function ``(inv: Invocation) -> None`` that writes to ``inv.out``/``inv.err`` and raises
``Fail`` to exit non-zero. ``run_tool`` wraps it: finds the simulator (``HOMEOPS_SIM_DIR``), fires
``command-fails`` faults, and appends the invocation to the command log.
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from homeops.sim import engine, faults
from homeops.sim.store import SimNotRunning, SimStore

State = dict[str, Any]
T = TypeVar("T")

# In-process callers (SimRunner) cannot chdir per command; they say where "." is. A subprocess
# uses its real working directory, like the real tools (PWD may be stale, so it is not used).
CWD_ENV = "HOMEOPS_SIM_CWD"


#: SimRunner passes a command's timeout here; a simulated tool that stalls (a fault) blocks until it
#: passes in simulated time and then prints the marker, which SimRunner turns into ``CommandTimeout``.
DEADLINE_ENV = "HOMEOPS_SIM_DEADLINE"
KILLED_AT_DEADLINE = "homeops-sim: killed at the runner's deadline"


class Fail(Exception):
    """Exit the tool with ``code`` after printing ``message`` (to stderr unless ``stdout``)."""

    def __init__(self, message: str = "", code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(Exception):
    """A flag/argument problem; each tool formats it the way its CLI library does."""


@dataclass(frozen=True)
class Flag:
    name: str
    short: str | None = None
    kind: str = "str"  # bool | str | list (comma-split, repeatable) | array (repeatable) | int | duration
    default: Any = None


def flags(*specs: Flag) -> dict[str, Flag]:
    return {f.name: f for f in specs}


_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(h|ms|m|s))+$")


def parse_duration(text: str) -> float:
    """Go ``time.ParseDuration`` for the units tools use (``30m``, ``1m0s``, ``300s``, ``1h30m``)."""
    if text in ("0", ""):
        return 0.0
    if not _DURATION.match(text):
        raise UsageError(f'invalid argument "{text}" for duration: time: invalid duration "{text}"')
    total = 0.0
    for value, unit in re.findall(r"(\d+(?:\.\d+)?)(h|ms|m|s)", text):
        total += float(value) * {"h": 3600, "m": 60, "s": 1, "ms": 0.001}[unit]
    return total


def parse(args: Sequence[str], spec: Mapping[str, Flag]) -> tuple[dict[str, Any], list[str]]:
    """pflag semantics: ``--f=v``, ``--f v``, ``-f v``, ``-fv``, bools ``--b``/``--b=false``, ``--`` ends flags."""
    by_short = {f.short: f for f in spec.values() if f.short}
    values: dict[str, Any] = {}
    for f in spec.values():
        values[f.name] = list(f.default) if isinstance(f.default, list | tuple) else f.default
    seen: set[str] = set()
    positional: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg == "--":
            positional.extend(args[i:])
            break
        if arg.startswith("--"):
            name, eq, inline = arg[2:].partition("=")
            found = spec.get(name)
            if found is None:
                raise UsageError(f"unknown flag: --{name}")
            f = found
        elif arg.startswith("-") and len(arg) > 1:
            short = arg[1]
            found = by_short.get(short)
            if found is None:
                raise UsageError(f"unknown shorthand flag: '{short}' in {arg}")
            f = found
            rest = arg[2:]
            eq, inline = ("=", rest[1:]) if rest.startswith("=") else (("=", rest) if rest else ("", ""))
            name = f.name
        else:
            positional.append(arg)
            continue
        if f.kind == "bool":
            if eq:
                if inline.lower() not in ("true", "false", "1", "0", "t", "f"):
                    raise UsageError(
                        f'invalid argument "{inline}" for "--{f.name}" flag: strconv.ParseBool: '
                        f'parsing "{inline}": invalid syntax'
                    )
                values[f.name] = inline.lower() in ("true", "1", "t")
            else:
                values[f.name] = True
            seen.add(f.name)
            continue
        if eq:
            value = inline
        else:
            if i >= len(args):
                raise UsageError(f"flag needs an argument: --{f.name}")
            value = args[i]
            i += 1
        if f.kind in ("list", "array"):
            if f.name not in seen:
                values[f.name] = []
            parts = [p for p in value.split(",") if p] if f.kind == "list" else [value]
            values[f.name].extend(parts)
        elif f.kind == "int":
            try:
                values[f.name] = int(value)
            except ValueError:
                raise UsageError(
                    f'invalid argument "{value}" for "--{f.name}" flag: strconv.ParseInt: '
                    f'parsing "{value}": invalid syntax'
                ) from None
        elif f.kind == "duration":
            values[f.name] = parse_duration(value)
        else:
            values[f.name] = value
        seen.add(f.name)
    values["_set"] = seen
    return values, positional


def split_command(args: Sequence[str], bool_flags: set[str]) -> tuple[str | None, list[str]]:
    """The first command word and the other arguments, like cobra's ``stripFlags``.

    A flag written ``-x v``/``--flag v`` consumes the next argument unless it is a known bool flag,
    so ``talosctl -n 10.10.0.21 upgrade`` finds ``upgrade``.
    """
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            return None, list(args)
        if arg.startswith("-") and len(arg) > 1:
            name = arg.lstrip("-")
            if "=" not in arg and name not in bool_flags and (arg.startswith("--") or len(arg) == 2):
                i += 1  # the flag's value
            i += 1
            continue
        return arg, [*args[:i], *args[i + 1 :]]
    return None, list(args)


def bool_names(*spec_lists: Sequence[Flag]) -> set[str]:
    names: set[str] = set()
    for specs in spec_lists:
        for f in specs:
            if f.kind == "bool":
                names.add(f.name)
                if f.short:
                    names.add(f.short)
    return names


def tabwrite(rows: Sequence[Sequence[str]], padding: int = 3) -> str:
    """Go ``text/tabwriter`` with minwidth 0, padding 3, the last cell of a row not padded."""
    widths: dict[int, int] = {}
    for row in rows:
        for col, cell in enumerate(row[:-1]):
            widths[col] = max(widths.get(col, 0), len(cell))
    lines = []
    for row in rows:
        cells = [cell.ljust(widths[col] + padding) for col, cell in enumerate(row[:-1])]
        lines.append("".join(cells) + (row[-1] if row else ""))
    return "".join(line + "\n" for line in lines)


def go_quote_list(items: Sequence[str]) -> str:
    """Go ``%q`` of a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(f'"{item}"' for item in items) + "]"


@dataclass
class Invocation:
    tool: str
    args: list[str]
    stdin: str | None
    env: Mapping[str, str]
    store: SimStore
    out: io.StringIO = field(default_factory=io.StringIO)
    err: io.StringIO = field(default_factory=io.StringIO)

    def print(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def eprint(self, text: str = "") -> None:
        self.err.write(text + "\n")

    def read(self) -> State:
        """A current snapshot for looking only (shared lock, nothing written)."""
        state = self.store.read(include_log=False)
        engine.advance(state)
        return state

    def path(self, p: str) -> str:
        """Relative paths resolve against the working directory (``SimRunner`` passes its ``cwd`` in env)."""
        if os.path.isabs(p):
            return p
        return os.path.join(self.env.get(CWD_ENV) or os.getcwd(), p)

    def wait_until(self, check: Callable[[State], T | None], timeout: float) -> T | None:
        """Re-check ``check`` (inside a transaction) until it returns a value or ``timeout`` passes.

        Virtual time jumps straight to the next scheduled transition; real time polls.
        """
        deadline: float | None = None
        while True:
            with self.store.transaction() as state:
                engine.advance(state)
                t = engine.now(state)
                deadline = t + timeout if deadline is None else deadline
                value = check(state)
                if value is not None and value is not False:
                    return value
                if t >= deadline:
                    return None
                virtual = state["clock"].get("mode") == "virtual"
                if virtual:
                    upcoming = engine.next_event(state)
                    state["clock"]["now"] = min(upcoming, deadline) if upcoming is not None else deadline
                    continue
                poll = min(engine.config(state, "poll_seconds") or 0.2, max(0.0, deadline - t))
            time.sleep(poll)


ToolFn = Callable[[Invocation], None]

TRANSIENT = {
    "talosctl": "rpc error: code = Unavailable desc = error reading from server: "
    "read tcp 10.10.0.1:53412->{node}:50000: read: connection reset by peer",
    "kubectl": "Unable to connect to the server: net/http: TLS handshake timeout",
    "talhelper": '{date} failed to generate talos config: Post "https://factory.talos.dev/schematics": '
    "net/http: TLS handshake timeout",
    "helmfile": 'in ./helmfile.yaml: command "/usr/local/bin/helm" exited with non-zero status:\n\nERROR:\n  exit '
    "status 1\n\nEXIT STATUS\n  1\n\nSTDERR:\n  Error: UPGRADE FAILED: context deadline exceeded",
    "flux": "✗ context deadline exceeded",
}


def _nodes_mentioned(state: State, args: Sequence[str]) -> list[str]:
    found = []
    for arg in args:
        for token in re.split(r"[=,]", arg):
            hostname = engine.find_node(state, token)
            if hostname:
                found.append(hostname)
    return found


def run_tool(
    tool: str, fn: ToolFn, argv: Sequence[str], stdin: str | None, env: Mapping[str, str] | None
) -> tuple[int, str, str]:
    """Run one fake-tool invocation: ``argv`` is the arguments after the program name."""
    env = dict(os.environ if env is None else env)
    sim_dir = env.get("HOMEOPS_SIM_DIR")
    if not sim_dir:
        return 1, "", f"{tool} (homeops sim): HOMEOPS_SIM_DIR is not set; start a simulated cluster with: inv sim.up\n"
    store = SimStore(sim_dir)
    inv = Invocation(tool, list(argv), stdin, env, store)
    code = 0
    try:
        fired = None
        # Only take the write lock when a command-fails fault exists: most calls just read.
        if any(f["name"] == "command-fails" for f in store.read(include_log=False).get("faults", [])):
            with store.transaction() as state:
                engine.advance(state)
                fired = faults.consume_command(state, tool, list(argv), _nodes_mentioned(state, argv))
                node_ip = next((state["nodes"][h]["ip"] for h in _nodes_mentioned(state, argv)), "10.10.0.20")
        if fired is not None:
            text = TRANSIENT.get(tool, "transient failure").format(node=node_ip, date=go_log_date(state))
            raise Fail(text)
        fn(inv)
    except SimNotRunning:
        inv.eprint(f"{tool} (homeops sim): no simulated cluster in {sim_dir}; start one with: inv sim.up")
        code = 1
    except Fail as exc:
        if exc.message:
            inv.eprint(exc.message)
        code = exc.code
    if store.exists():
        # A snapshot, not a transaction: the log line is appended to log.jsonl, state.json is untouched.
        with store.snapshot() as state:
            state["log"].append({"t": engine.now(state), "tool": tool, "argv": [tool, *argv], "exit": code})
    return code, inv.out.getvalue(), inv.err.getvalue()


def go_log_date(state: State) -> str:
    """Go ``log`` default prefix time (UTC here): ``2006/01/02 15:04:05``."""
    return time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(engine.now(state)))


def rfc3339(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
