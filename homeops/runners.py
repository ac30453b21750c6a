"""The one seam through which homeops runs commands.

``Runner.run(argv, ...)`` runs a command given as an argv list (never a shell string) and returns
a ``Result`` value. Implementations:

* ``LocalRunner`` — a subprocess on this machine (talosctl, talhelper, kubectl, helmfile, flux);
* ``homeops.ssh.SshRunner`` — a command on a Proxmox / TrueNAS host over one pooled SSH connection;
* ``FakeRunner`` — canned answers for unit tests; records every call.

Adapters (``homeops.adapters.*``) only build argv and parse output; they never spawn processes.
Failure to *start* a command raises (``ToolNotFound``, ``ConnectionFailed``, ``CommandTimeout``);
a command that ran and exited non-zero is a normal ``Result`` with ``ok == False`` — callers decide
with ``result.check()`` whether that is an error.
"""

from __future__ import annotations

import logging
import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from homeops.errors import CommandError, CommandTimeout, ToolNotFound
from homeops.secrets import MASKER, mask

log = logging.getLogger("homeops.run")


def render(argv: Sequence[str]) -> str:
    """The argv as a copy-pasteable shell line, with secrets masked."""
    return mask(shlex.join(argv))


@dataclass(frozen=True)
class Result:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    duration: float
    target: str = "local"

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def failed(self) -> bool:
        return not self.ok

    @property
    def command(self) -> str:
        return render(self.argv)

    def tail(self, stream: str = "stderr", lines: int = 5) -> str:
        text = self.stderr if stream == "stderr" else self.stdout
        return mask("\n".join(text.rstrip().splitlines()[-lines:]))

    def last_error_line(self) -> str:
        """The most useful single line of what went wrong (stderr first, then stdout)."""
        for text in (self.stderr, self.stdout):
            lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
            if lines:
                return mask(lines[-1])
        return "(no output)"

    def check(self, what: str | None = None, *, hint: str | None = None) -> Result:
        """Return self when ok, else raise ``CommandError`` naming the command and target."""
        if self.ok:
            return self
        label = what or self.argv[0]
        on = f" on {self.target}" if self.target != "local" else ""
        raise CommandError(
            f"{label}{on} failed (exit {self.exit_code}): {self.last_error_line()}",
            command=self.command,
            exit_code=self.exit_code,
            stderr=mask(self.stderr),
            target=self.target,
            hint=hint,
        )

    def __repr__(self) -> str:
        return (
            f"Result(target={self.target!r}, command={self.command!r}, exit_code={self.exit_code}, "
            f"duration={self.duration:.3f})"
        )


@runtime_checkable
class Runner(Protocol):
    """Runs one command; ``target`` names where (``local`` or an SSH host name)."""

    target: str

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        stdin: str | None = None,
        secrets: Sequence[str] = (),
    ) -> Result: ...

    def close(self) -> None: ...


class LocalRunner:
    """Runs commands as subprocesses of this process.

    ``env`` entries are added to (not substituted for) the current environment. A timeout kills
    the whole process group so a hung tool does not leave children behind.
    """

    target = "local"

    def __init__(self, *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None) -> None:
        self._env = dict(env or {})
        self._cwd = cwd

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        stdin: str | None = None,
        secrets: Sequence[str] = (),
    ) -> Result:
        if not argv:
            raise ValueError("empty argv")
        MASKER.extend(secrets)
        full_env = dict(os.environ)
        full_env.update(self._env)
        if env:
            full_env.update(env)
        workdir = cwd if cwd is not None else self._cwd
        log.debug("run: %s", render(argv))
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=full_env,
                cwd=workdir,
                text=True,
                errors="replace",
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise ToolNotFound(
                f"'{argv[0]}' was not found on PATH",
                hint=f"install {argv[0]} or put it on PATH (PATH={full_env.get('PATH', '')[:200]})",
            ) from exc
        except PermissionError as exc:
            raise ToolNotFound(f"'{argv[0]}' is not executable", hint="check its permissions") from exc
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            _kill_group(proc)
            _reap(proc)
            raise CommandTimeout(
                f"{argv[0]} did not finish within {timeout:g}s: {render(argv)}",
                command=render(argv),
                stderr=mask(_partial(exc.stderr)),  # what it said before it hung: often why
                hint="the tool may be hung or the node unreachable; raise the timeout or check the target",
            ) from exc
        except KeyboardInterrupt:
            _kill_group(proc)
            _reap(proc)
            raise
        result = Result(tuple(argv), proc.returncode, out, err, time.monotonic() - start, "local")
        log.debug("exit %d in %.2fs: %s", result.exit_code, result.duration, result.command)
        return result

    def close(self) -> None:
        return None


def _partial(output: bytes | str | None) -> str:
    """The output a timed-out command wrote before it was killed (``TimeoutExpired`` holds it as bytes)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _reap(proc: subprocess.Popen[str]) -> None:
    """Wait for the killed process and close its pipes, without reading them to the end.

    A child that left the process group (``setsid``, a daemon) may hold the pipes open for as long as
    it lives: reading to EOF would turn a timeout into a hang. Not waiting would leave a zombie.
    """
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


Response = Result | tuple[int, str, str] | Callable[[Sequence[str], str | None], "Result | tuple[int, str, str]"]


@dataclass
class FakeCall:
    argv: tuple[str, ...]
    stdin: str | None
    env: dict[str, str]
    timeout: float | None


@dataclass
class FakeRunner:
    """A recording runner for unit tests.

    Responses are looked up by regular expression against the shell-joined argv, newest rule
    first; a response is a ``Result``, an ``(exit_code, stdout, stderr)`` tuple, or a callable
    ``(argv, stdin) -> either``. An unmatched command raises ``AssertionError`` so a test cannot
    silently pass on a command nobody expected.
    """

    target: str = "local"
    rules: list[tuple[re.Pattern[str], Response]] = field(default_factory=list)
    calls: list[FakeCall] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def on(self, pattern: str, response: Response) -> FakeRunner:
        self.rules.insert(0, (re.compile(pattern), response))
        return self

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        stdin: str | None = None,
        secrets: Sequence[str] = (),
    ) -> Result:
        MASKER.extend(secrets)
        line = shlex.join(argv)
        with self._lock:
            self.calls.append(FakeCall(tuple(argv), stdin, dict(env or {}), timeout))
        for pattern, response in self.rules:
            if pattern.search(line):
                value = response(argv, stdin) if callable(response) else response
                if isinstance(value, Result):
                    return value
                code, out, err = value
                return Result(tuple(argv), code, out, err, 0.0, self.target)
        raise AssertionError(f"FakeRunner({self.target}): no response for: {line}")

    def commands(self) -> list[str]:
        return [shlex.join(c.argv) for c in self.calls]

    def close(self) -> None:
        return None
