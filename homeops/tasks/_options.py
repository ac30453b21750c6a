"""What every task option means, checked once when invoke parses the command line.

invoke casts an option's value with its ``kind`` (``int("abc")`` raises ``ValueError`` out of the
parser: a traceback), infers that kind from the default (``None`` gives ``str``: ``--max-unavailable 2``
reached the planner as ``'2'``), and hands out short flags by first free letter (``-i`` meant
``--image`` in one task and ``--inventory`` in the next). So homeops tasks use ``task`` from here: an
option's kind comes from ``OPTIONS`` by its name (one name, one meaning, in every task), a bad value
is a one-line ``error: --flag …`` with exit 2 raised while parsing, and the only short flags are the
ones in ``SHORT_FLAGS``. Task bodies keep their ``None`` defaults for "not given".
"""

from __future__ import annotations

import inspect
import ipaddress
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from invoke.exceptions import Exit
from invoke.tasks import Task as _InvokeTask
from invoke.tasks import task as _invoke_task

#: The short flags homeops tasks have, all of them; every other option is long only.
SHORT_FLAGS = {"inventory": "i", "yes": "y"}

USAGE_ERROR = 2

#: ``--ignore-window`` (a flag, so no kind below): the same words on every task a maintenance window holds
#: (homeops.policies.window); dr.rebuild and talos.etcd-snapshot are never held and do not take it.
IGNORE_WINDOW_HELP = "run now even outside the maintenance windows (homeops.yaml maintenance:), and never stop for one"

_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,251}[A-Za-z0-9])?")
_VERSION = re.compile(r"v?\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?")
_IMAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/:@+-]*")
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_K8S_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")  # RFC 1123 subdomain, as Kubernetes names
_SNAPSHOT = re.compile(r"[A-Za-z][A-Za-z0-9_-]{1,39}")  # Proxmox's snapshot-name rule


def usage_error(flag: str, message: str) -> Exit:
    return Exit(f"error: {flag}: {message}", code=USAGE_ERROR)


@dataclass(frozen=True, eq=False)
class Kind:
    """How one option's text becomes its value; ``samples`` are a wrong-typed and an out-of-range value.

    invoke shows ``--flag=INT`` / ``--flag=STRING`` in help by looking the kind up in ``{str: …, int: …}``;
    a Kind hashes and compares like its ``shows_as`` type so that lookup keeps working.
    """

    what: str
    parse: Callable[[str], Any]
    samples: tuple[str, str]
    shows_as: type = str

    def __hash__(self) -> int:
        return hash(self.shows_as)

    def __eq__(self, other: object) -> bool:
        return other is self.shows_as or other is self

    def bound(self, flag: str, task_name: str, help_text: Callable[[], str]) -> Callable[[str], Any]:
        def cast(text: str) -> Any:
            if text in ("--help", "-h"):
                # a value-taking option or an unfilled positional eats --help before invoke sees it
                raise Exit(help_text(), code=0)
            try:
                return self.parse(text)
            except _Bad as bad:
                raise usage_error(flag, f"{text!r} is not {self.what}{bad.detail}") from None

        return _CastKind(self, cast)


@dataclass(frozen=True, eq=False)
class _CastKind:
    kind: Kind
    cast: Callable[[str], Any]
    __name__: str = field(default="kind")

    def __call__(self, text: str) -> Any:
        return self.cast(text)

    def __hash__(self) -> int:
        return hash(self.kind)

    def __eq__(self, other: object) -> bool:
        return self.kind == other or other is self


class _Bad(ValueError):
    def __init__(self, detail: str = "") -> None:
        self.detail = f" ({detail})" if detail else ""
        super().__init__(detail)


def _whole(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not re.fullmatch(r"[+-]?\d+", text.strip()):
            raise _Bad()
        value = int(text)
        if value < minimum or (maximum is not None and value > maximum):
            raise _Bad(f"must be {minimum}..{maximum}" if maximum is not None else f"must be at least {minimum}")
        return value

    return parse


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Bad() from None
    if not math.isfinite(value) or value <= 0:
        raise _Bad("must be more than 0")
    return value


def _choice(options: Iterable[str]) -> Callable[[str], str]:
    allowed = tuple(options)

    def parse(text: str) -> str:
        if text not in allowed:
            raise _Bad(f"one of {', '.join(allowed)}")
        return text

    return parse


def _matching(pattern: re.Pattern[str], detail: str = "") -> Callable[[str], str]:
    def parse(text: str) -> str:
        if not pattern.fullmatch(text):
            raise _Bad(detail)
        return text

    return parse


def _name_or_ip(text: str) -> str:
    value = text.strip()
    if _HOSTNAME.fullmatch(value):
        if re.fullmatch(r"[\d.]+", value):
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise _Bad("not an IPv4 address") from None
        return value
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise _Bad() from None
    return value


def _node_list(text: str) -> str:
    names = [part.strip() for part in text.split(",")]
    if not any(names):
        raise _Bad("an empty selection; name the node(s), comma-separated")
    for name in names:
        if not name:
            raise _Bad("an empty name in the list")
        _name_or_ip(name)
    return ",".join(names)


def _directory(text: str) -> str:
    if not text.strip():
        raise _Bad("empty")
    if not Path(text).expanduser().is_dir():
        raise _Bad("no such directory")
    return text


def _file(text: str) -> str:
    if not text.strip():
        raise _Bad("empty")
    if Path(text).expanduser().is_dir():
        raise _Bad("it is a directory")
    if not Path(text).expanduser().exists():
        raise _Bad("no such file")
    return text


def _new_file(text: str) -> str:
    if not text.strip():
        raise _Bad("empty")
    path = Path(text).expanduser()
    if path.is_dir():
        raise _Bad("it is a directory")
    if not path.parent.is_dir():
        raise _Bad(f"its folder {path.parent} does not exist")
    return text


def _rfc3339_utc(text: str) -> str:
    from homeops.adapters.volsync import check_restore_time
    from homeops.errors import PlanError

    try:
        return check_restore_time(text)
    except PlanError:
        raise _Bad("UTC, like 2025-10-09T06:00:00Z") from None


def _snapshot_source(text: str) -> str:
    if text in ("latest", "none"):
        return text
    return _file(text)


def _fault_spec(text: str) -> str:
    name, colon, target = text.partition(":")
    _fault_name(name)
    if colon and not _TOKEN.fullmatch(target):
        raise _Bad("the target after ':' is a node, host, pool or release name")
    return text


def _yes_no(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("yes", "true", "on", "1"):
        return True
    if lowered in ("no", "false", "off", "0"):
        return False
    raise _Bad("yes or no")


def _extract(text: str) -> str:
    if not re.fullmatch(r'(\[(?:"[^"]*"|\'[^\']*\'|\d+)\])+', text.strip()):
        raise _Bad('like \'["key"]["sub"]\'')
    return text.strip()


def _fault_name(text: str) -> str:
    from homeops.sim.faults import SPECS

    if text not in ("list", "all", *SPECS):
        raise _Bad("see `inv sim.fault list`")
    return text


def _lint_rule(text: str) -> str:
    from homeops.lint.findings import RULES

    if text not in RULES:
        raise _Bad("one of " + ", ".join(RULES))
    return text


_SIM_TOOLS = ("talosctl", "talhelper", "kubectl", "flux", "helmfile", "qm", "pvecm", "pvesh", "zpool", "midclt")

WHOLE = "a whole number"
_ACTIONS = ("start", "stop", "shutdown", "reboot", "snapshot", "rollback", "snapshots")
_MODES = ("auto", "no-reboot", "reboot", "staged", "try")

#: Every value-taking option of every homeops task, by parameter name. A task option missing here
#: is caught by tests/robustness/test_task_options.py.
OPTIONS: dict[str, Kind] = {
    "inventory": Kind("an inventory directory", _directory, ("", "/nonexistent/inventory")),
    "talconfig": Kind("a talconfig file", _file, ("", "/nonexistent/talconfig.yaml")),
    "root": Kind("a directory", _directory, ("", "/nonexistent/dir")),
    "file": Kind("a file", _file, ("", "/nonexistent/file.yaml")),
    "kustomization": Kind(
        "a Kubernetes object name", _matching(_K8S_NAME, "lower case, RFC 1123"), ("", "Flux_System")
    ),
    "namespace": Kind("a namespace", _matching(_K8S_NAME, "lower case, RFC 1123"), ("", "Flux System")),
    "output": Kind("a file to write", _new_file, ("", "/nonexistent/dir/runbook.md")),
    "from_snapshot": Kind("latest, none or a snapshot file", _snapshot_source, ("", "/nonexistent/etcd.db")),
    "nodes": Kind("node names, comma-separated", _node_list, (" , ", "k8s-0;reboot")),
    "fault": Kind("a fault (NAME or NAME:TARGET)", _fault_spec, ("", "no-such-fault")),
    "scenario": Kind(
        "a drill scenario", _choice(("all-vms-lost", "quorum-lost", "nas-lost", "one-node-lost")), ("", "meteor")
    ),
    "timestamp": Kind("an RFC3339 time", _rfc3339_utc, ("yesterday", "2025-10-09T06:00:00+02:00")),
    "app": Kind("an app name", _matching(_K8S_NAME, "lower case, RFC 1123"), ("", "My App")),
    "path": Kind("a directory", _directory, ("", "/nonexistent/dir")),
    "rule": Kind("a lint rule name", _lint_rule, ("", "no-such-rule")),
    "skip": Kind("a lint rule name", _lint_rule, ("", "no-such-rule")),
    "format": Kind("an output format", _choice(("text", "json", "sarif", "github")), ("", "xml")),
    "config": Kind("a file", _file, ("", "/nonexistent/.homeops-lint.yaml")),
    "node": Kind("a node (hostname or IP)", _node_list, (" , ", "k8s-0;reboot")),
    "target": Kind("a node, host or pool name", _name_or_ip, ("", "10.10.0.299")),
    "version": Kind("a version like v1.11.6", _matching(_VERSION), ("latest", "v1.11")),
    "talos_version": Kind("a version like v1.11.6", _matching(_VERSION), ("latest", "v1.11")),
    "kubernetes_version": Kind("a version like v1.34.2", _matching(_VERSION), ("latest", "v1.34")),
    "to": Kind("a version like v1.34.2", _matching(_VERSION), ("latest", "v1.34")),
    "image": Kind("an image reference", _matching(_IMAGE), ("", "ghcr.io/x/installer:v1;rm")),
    "mode": Kind("an apply mode", _choice(_MODES), ("", "sometimes")),
    "action": Kind("a VM action", _choice(_ACTIONS), ("", "destroy")),
    "snapshot": Kind("a snapshot name", _matching(_SNAPSHOT, "a letter, then 1-39 of A-Z a-z 0-9 _ -"), ("", "a;b")),
    "output_type": Kind("an output type", _choice(("yaml", "json", "dotenv", "ini", "binary")), ("", "xml")),
    "extract": Kind("a sops --extract path", _extract, ("", "cluster.secret")),
    "name": Kind("a fault name", _fault_name, ("", "no-such-fault")),
    "tool": Kind("a tool", _choice(_SIM_TOOLS), ("", "rm")),
    "subcommand": Kind("a subcommand", _matching(_TOKEN), ("", "up grade")),
    "to_nas": Kind("yes or no", _yes_no, ("maybe", "2")),
    "max_unavailable": Kind(WHOLE, _whole(1), ("abc", "0"), int),
    "times": Kind(WHOLE, _whole(1), ("abc", "0"), int),
    "tail": Kind(WHOLE, _whole(0), ("abc", "-1"), int),
    "previous": Kind(WHOLE, _whole(0, 10_000), ("abc", "-1"), int),
    "timeout": Kind("whole seconds", _whole(1, 86_400), ("abc", "-5"), int),
    "seconds": Kind("a number of seconds", _seconds, ("abc", "-5"), int),
    "reboot_seconds": Kind("a number of seconds", _seconds, ("abc", "-5"), int),
    "ready_seconds": Kind("a number of seconds", _seconds, ("abc", "-5"), int),
}


class Task(_InvokeTask[Any]):
    """An invoke Task whose options take their kind from ``OPTIONS`` and short flags from ``SHORT_FLAGS``."""

    def arg_opts(self, name: str, default: Any, taken_names: set[str]) -> dict[str, Any]:
        opts: dict[str, Any] = super().arg_opts(name, default, taken_names)
        flag = opts["names"][0]
        opts["names"] = [flag] + ([SHORT_FLAGS[name]] if name in SHORT_FLAGS else [])
        if opts.get("kind") is list:
            # invoke appends repeated values only while the kind *is* list: the task checks them with each()
            if name not in OPTIONS:
                raise TypeError(f"task option {name!r} has no entry in homeops.tasks._options.OPTIONS")
        elif opts.get("kind") is not bool and not isinstance(default, bool):
            kind = OPTIONS.get(name)
            if kind is None:
                raise TypeError(f"task option {name!r} has no entry in homeops.tasks._options.OPTIONS")
            opts["kind"] = kind.bound(f"--{flag}", self.name, self.help_text)
        return opts

    def get_arguments(self, ignore_unknown_help: bool | None = None) -> list[Any]:
        # invoke pops each option's help while building arguments; keep it for the next parser
        saved = dict(self.help)
        try:
            arguments: list[Any] = super().get_arguments(ignore_unknown_help)
        finally:
            self.help = saved
        self._help_lines = [(a, a.help or "") for a in arguments]
        return arguments

    def help_text(self) -> str:
        from invoke.parser.context import ParserContext

        context = ParserContext(name=self.name, args=[a for a, _ in getattr(self, "_help_lines", [])])
        lines = [f"Usage: inv[oke] [--core-opts] <namespace>.{self.name} [--options]", ""]
        if self.__doc__:
            lines += ["Docstring:", *("  " + line for line in inspect.cleandoc(self.__doc__).splitlines()), ""]
        lines.append("Options:")
        for names, text in context.help_tuples():
            lines.append(f"  {names:<30} {text or ''}")
        return "\n".join(lines)


def each(name: str, values: Iterable[str] | None) -> list[Any]:
    """The values of a repeatable option, each checked like a single one (a bad one: exit 2, one line)."""
    kind, flag = OPTIONS[name], "--" + name.replace("_", "-")
    checked = []
    for text in values or ():
        try:
            checked.append(kind.parse(text))
        except _Bad as bad:
            raise usage_error(flag, f"{text!r} is not {kind.what}{bad.detail}") from None
    return checked


def task(*args: Any, **kwargs: Any) -> Callable[..., Any]:
    """``invoke.task`` with homeops' option kinds and short flags (see the module docstring)."""
    kwargs.setdefault("klass", Task)
    return _invoke_task(*args, **kwargs)


def iter_tasks(collection: Any, prefix: str = "") -> Iterable[tuple[str, Any]]:
    """(dotted name, task) for every task of a collection and its sub-collections."""
    for name, found in collection.tasks.items():
        yield prefix + name, found
    for name, sub in collection.collections.items():
        yield from iter_tasks(sub, f"{prefix}{name}.")
