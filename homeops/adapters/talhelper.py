"""talhelper: argv builders and parsers for ``genconfig`` and ``gencommand`` (cli-interfaces.md §2).

Behaviour relied on (budimanjojo/talhelper master@39b69792 ≈ v3.1.16):

* Errors go through Go's ``log.Fatalf``: stderr ``YYYY/MM/DD HH:MM:SS <msg>``, exit 1. Config
  validation problems are listed on stdout first, then ``please fix issues with your config file``.
* ``genconfig`` prints ``generated config for <host> in <file>`` per node and
  ``generated client config in <out>/talosconfig``; with ``--dry-run`` a unified diff per file, or
  ``no changes found on <file>``. Without ``--offline-mode`` it POSTs to the Image Factory, so homeops
  passes ``--offline-mode`` unless told otherwise (no surprise network calls during a plan).
* ``gencommand`` prints one talosctl command per line, each ending in ``;``, flags as ``--flag=value``.
* ``-n`` means ``--dry-run`` for genconfig but ``--node`` for gencommand: homeops only writes long flags.
* ``--extra-flags`` is a string slice (comma-separated); a flag whose value holds a comma cannot be
  passed through it, so that is refused here.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from homeops.adapters._parse import UnexpectedOutput, excerpt, strip_ansi
from homeops.errors import CommandError, ConfigError, PlanError
from homeops.runners import Result, Runner

TOOL = "talhelper"

GencommandKind = Literal["apply", "upgrade", "upgrade-k8s", "bootstrap", "reset", "kubeconfig", "health"]
KINDS: tuple[str, ...] = ("apply", "upgrade", "upgrade-k8s", "bootstrap", "reset", "kubeconfig", "health")


def _env_flags(env_files: Sequence[Path | str]) -> list[str]:
    # --env-file is a string slice: talhelper splits it on commas.
    bad = [str(f) for f in env_files if "," in str(f)]
    if bad:
        raise PlanError(f"talhelper --env-file cannot take a path with a comma: {bad[0]!r}", hint="rename the file")
    return ["--env-file", ",".join(str(f) for f in env_files)] if env_files else []


def genconfig(
    config_file: Path | str,
    *,
    out_dir: Path | str,
    env_files: Sequence[Path | str] = (),
    secret_file: Path | str | None = None,
    offline: bool = True,
    dry_run: bool = False,
    no_gitignore: bool = False,
    binary: str = TOOL,
) -> list[str]:
    argv = [binary, "genconfig", "--config-file", str(config_file), "--out-dir", str(out_dir)]
    argv += _env_flags(env_files)
    if secret_file is not None:
        argv += ["--secret-file", str(secret_file)]
    if offline:
        argv.append("--offline-mode")
    if dry_run:
        argv.append("--dry-run")
    if no_gitignore:
        argv.append("--no-gitignore")
    return argv


def gensecret(*, binary: str = TOOL) -> list[str]:
    """``talhelper gensecret``: a new Talos secrets bundle on stdout (``cmd/gensecret.go``)."""
    return [binary, "gensecret"]


def gencommand(
    kind: GencommandKind,
    *,
    config_file: Path | str,
    out_dir: Path | str,
    node: str | None = None,
    extra_flags: Sequence[str] = (),
    env_files: Sequence[Path | str] = (),
    offline: bool = True,
    binary: str = TOOL,
) -> list[str]:
    if kind not in KINDS:
        raise PlanError(f"talhelper gencommand {kind!r} is not one of {', '.join(KINDS)}")
    bad = [f for f in extra_flags if "," in f]
    if bad:
        raise PlanError(
            f"talhelper gencommand --extra-flags splits on commas, so {bad[0]!r} cannot be passed through it",
            hint="add that flag to the generated talosctl command instead",
        )
    argv = [binary, "gencommand", kind, "--config-file", str(config_file), "--out-dir", str(out_dir)]
    argv += _env_flags(env_files)
    if node:
        argv += ["--node", node]
    if extra_flags:
        argv += ["--extra-flags", ",".join(extra_flags)]
    # Only `gencommand upgrade` knows --offline-mode; it would otherwise POST to the Image Factory.
    if kind == "upgrade" and offline:
        argv.append("--offline-mode")
    return argv


def genurl_installer(
    config_file: Path | str,
    *,
    node: str | None = None,
    env_files: Sequence[Path | str] = (),
    offline: bool = True,
    binary: str = TOOL,
) -> list[str]:
    argv = [binary, "genurl", "installer", "--config-file", str(config_file), *_env_flags(env_files)]
    if node:
        argv += ["--node", node]
    if offline:
        argv.append("--offline-mode")
    return argv


# =========================================================================== facts


@dataclass(frozen=True)
class GeneratedFile:
    hostname: str
    path: str


@dataclass(frozen=True)
class GenconfigResult:
    files: tuple[GeneratedFile, ...] = ()
    talosconfig: str | None = None
    dry_run: bool = False
    unchanged: tuple[str, ...] = ()  # dry run: files with no changes
    diffs: tuple[tuple[str, str], ...] = ()  # dry run: (file, unified diff)

    @property
    def changed(self) -> tuple[str, ...]:
        return tuple(path for path, _ in self.diffs)


@dataclass(frozen=True)
class TalosctlCommand:
    """One line of ``talhelper gencommand`` output, split into argv."""

    argv: tuple[str, ...]

    @property
    def subcommand(self) -> str:
        return self.argv[1] if len(self.argv) > 1 else ""

    def flag(self, name: str) -> str | None:
        """The value of ``--name=value`` (or ``--name value``), if present."""
        for i, arg in enumerate(self.argv):
            if arg.startswith(f"--{name}="):
                return arg.split("=", 1)[1]
            if arg == f"--{name}" and i + 1 < len(self.argv) and not self.argv[i + 1].startswith("--"):
                return self.argv[i + 1]
        return None

    @property
    def nodes(self) -> str | None:
        return self.flag("nodes")


# =========================================================================== parsers

# Paths run to the end of the line: an inventory path may hold spaces (issue 22 §3 item 7).
_GENERATED = re.compile(r"^generated config for (?P<host>\S+) in (?P<path>.+?)\s*$")
_CLIENT = re.compile(r"^generated client config in (?P<path>.+?)\s*$")
_NO_CHANGES = re.compile(r"^no changes found on (?P<path>.+?)\s*$")
# pkg/generate/config.go computeDiff (v3.1.16): gotextdiff.ToUnified("a"+absPath, "b"+absPath, …), and
# absPath starts with "/": the header is "--- a/abs/path.yaml" and the path keeps its leading "/".
_DIFF_HEAD = re.compile(r"^--- a(?P<path>/.+?)(?:\t.*)?$")


def parse_genconfig(text: str) -> GenconfigResult:
    """genconfig stdout: written files (normal run) or per-file diffs / ``no changes found on`` (dry run)."""
    files: list[GeneratedFile] = []
    talosconfig = None
    unchanged: list[str] = []
    diffs: list[tuple[str, list[str]]] = []
    for raw in strip_ansi(text).splitlines():
        if m := _GENERATED.match(raw):
            files.append(GeneratedFile(m["host"], m["path"]))
        elif m := _CLIENT.match(raw):
            talosconfig = m["path"]
        elif m := _NO_CHANGES.match(raw):
            unchanged.append(m["path"])
        elif m := _DIFF_HEAD.match(raw):
            diffs.append((m["path"], [raw]))
        elif diffs and raw.strip():
            diffs[-1][1].append(raw)
    dry_run = bool(unchanged or diffs) and not files
    if not (files or talosconfig or unchanged or diffs):
        raise UnexpectedOutput("talhelper genconfig", f"no generated files listed: {excerpt(text)}")
    return GenconfigResult(
        files=tuple(files),
        talosconfig=talosconfig,
        dry_run=dry_run,
        unchanged=tuple(unchanged),
        diffs=tuple((path, "\n".join(lines)) for path, lines in diffs),
    )


def parse_gencommand(text: str) -> list[tuple[str, ...]]:
    """One talosctl command per line, terminated with ``;`` → argv tuples."""
    commands: list[tuple[str, ...]] = []
    for raw in strip_ansi(text).splitlines():
        line = raw.strip()
        if not line:
            continue
        if not line.endswith(";"):
            raise UnexpectedOutput("talhelper gencommand", f"line does not end with ';': {excerpt(line)}")
        try:
            argv = tuple(shlex.split(line[:-1].rstrip()))
        except ValueError as exc:
            raise UnexpectedOutput("talhelper gencommand", f"cannot split {excerpt(line)}: {exc}") from None
        if not argv or Path(argv[0]).name != "talosctl":
            raise UnexpectedOutput("talhelper gencommand", f"not a talosctl command: {excerpt(line)}")
        commands.append(argv)
    return commands


def parse_gencommand_commands(text: str) -> list[TalosctlCommand]:
    return [TalosctlCommand(argv) for argv in parse_gencommand(text)]


_FATAL = re.compile(r"^\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2} (?P<msg>.+)$")


def fatal_message(stderr: str) -> str | None:
    """The message of talhelper's ``log.Fatalf`` line (timestamp removed), if there is one."""
    message = None
    for line in strip_ansi(stderr).splitlines():
        if m := _FATAL.match(line.strip()):
            message = m["msg"].strip()
    return message


_FIELD = re.compile(r'^field: "(?P<field>.*)"\s*$')


def config_issues(stdout: str) -> tuple[str, ...]:
    """The validation issues listed after ``There are issues with your Talhelper config file:``.

    pkg/config/loader.go (v3.1.16) groups them by field: a ``field: "<name>"`` line, then one
    ``  * <message>`` line per issue (``  * WARNING: …`` for warnings). Errors come first; an issue
    whose text does not name its field gets it as a prefix.
    """
    lines = strip_ansi(stdout).splitlines()
    start = next((i for i, ln in enumerate(lines) if "There are issues with your Talhelper config file" in ln), None)
    if start is None:
        return ()
    errors: list[str] = []
    warnings: list[str] = []
    field_name = ""
    for raw in lines[start + 1 :]:
        line = raw.strip()
        if m := _FIELD.match(line):
            field_name = m["field"]
            continue
        text = line.lstrip("-* ").strip()
        if not text:
            continue
        if field_name and field_name not in text:
            text = f"{field_name}: {text}"
        (warnings if "WARNING:" in text else errors).append(text)
    return tuple(errors + warnings)


def raise_for(result: Result, *, config_file: Path | str, what: str) -> None:
    """Turn a failed talhelper run into one line naming the config file and the cause."""
    if result.ok:
        return
    message = fatal_message(result.stderr) or result.last_error_line()
    issues = config_issues(result.stdout)
    file = str(config_file)
    if issues:
        more = f" (+{len(issues) - 1} more)" if len(issues) > 1 else ""
        raise ConfigError(
            f"{issues[0]}{more}",
            file=file,
            hint=f"fix the talconfig, then re-run; `{what} --debug` lists every issue",
        )
    if re.search(r"not found|is not a controlplane node|failed to substitute env|variable.*(not set|empty)", message):
        raise ConfigError(message, file=file, hint="check the node name and the talenv / environment variables")
    raise CommandError(
        f"{what} failed (exit {result.exit_code}): {message}",
        command=result.command,
        exit_code=result.exit_code,
        stderr=result.stderr,
    )


# =========================================================================== call helpers


def run_genconfig(
    runner: Runner,
    config_file: Path | str,
    *,
    out_dir: Path | str,
    env_files: Sequence[Path | str] = (),
    secret_file: Path | str | None = None,
    offline: bool = True,
    dry_run: bool = False,
    timeout: float | None = 120,
    env: dict[str, str] | None = None,
) -> GenconfigResult:
    argv = genconfig(
        config_file, out_dir=out_dir, env_files=env_files, secret_file=secret_file, offline=offline, dry_run=dry_run
    )
    result = runner.run(argv, timeout=timeout, env=env)
    raise_for(result, config_file=config_file, what="talhelper genconfig")
    try:
        return parse_genconfig(result.stdout)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=None) from None


def run_gencommand(
    runner: Runner,
    kind: GencommandKind,
    *,
    config_file: Path | str,
    out_dir: Path | str,
    node: str | None = None,
    extra_flags: Sequence[str] = (),
    env_files: Sequence[Path | str] = (),
    offline: bool = True,
    timeout: float | None = 60,
    env: dict[str, str] | None = None,
) -> list[TalosctlCommand]:
    argv = gencommand(
        kind,
        config_file=config_file,
        out_dir=out_dir,
        node=node,
        extra_flags=extra_flags,
        env_files=env_files,
        offline=offline,
    )
    result = runner.run(argv, timeout=timeout, env=env)
    raise_for(result, config_file=config_file, what=f"talhelper gencommand {kind}")
    try:
        return parse_gencommand_commands(result.stdout)
    except UnexpectedOutput as exc:
        raise exc.at(command=result.command, target=node) from None
