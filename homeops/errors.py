"""The one exception tree of homeops.

Every error a user can cause or meet is a ``HomeopsError``; its ``str()`` is one line that says
what failed, where (file / field / node / host) and what to do next. Tasks turn these into
``invoke.Exit(message, code)`` so users never see a traceback for a problem that is theirs.

    HomeopsError
    ├── ConfigError               bad or unreadable inventory / talconfig / .sops.yaml (file, field, cause)
    ├── CommandError              a command ran and failed (tool, node/host, exit code, last stderr line)
    │   └── CommandTimeout        it did not finish in time
    ├── ToolNotFound              an executable is missing from PATH
    ├── ConnectionFailed          SSH (or a tool's API) could not be reached
    │   └── HostKeyRejected       unknown or changed SSH host key (with the ssh-keyscan line to fix it)
    ├── ApiError                  an HTTP API (Alertmanager, Prometheus) answered with an error or nonsense
    ├── SecretError               SOPS/age problems (wrong key, bad MAC, not a sops file, …)
    ├── PlanError                 a plan cannot be built (unsupported version path, unknown node, …)
    ├── GateFailed                a health gate is red (which gate, on what, what was observed)
    ├── WaitTimeout               a wait ran out of time (what it waited for, what it last saw)
    ├── LockHeld                  another run holds the cluster lock (who, since when)
    ├── PolicyRefused             a run policy refused the start (closed maintenance window, pre hook, …)
    ├── RunStopped                a run policy stopped the run cleanly between steps (resumable, exit 75)
    ├── Aborted                   the user said no (or could not be asked)
    │   └── Interrupted           the user pressed Ctrl-C (exit 130)
    └── SimError                  the simulator was misused (not running, unknown fault, …)

Subclasses also inherit the matching built-in where one exists (``TimeoutError``,
``ConnectionError``, ``FileNotFoundError``) so generic handlers keep working.
"""

from __future__ import annotations


class HomeopsError(Exception):
    """Root of every homeops error. ``exit_code`` is what a task exits with."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        one_line = " ".join(self.message.split())
        if self.hint:
            return f"{one_line} — {' '.join(self.hint.split())}"
        return one_line


class ConfigError(HomeopsError):
    """An input file cannot be used. Always names the file and, where known, the field."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.field = field
        where = ""
        if file and field:
            where = f"{file}: {field}: "
        elif file:
            where = f"{file}: "
        elif field:
            where = f"{field}: "
        super().__init__(f"{where}{message}", hint=hint)


class CommandError(HomeopsError):
    """A command ran and exited non-zero (or its output could not be understood)."""

    def __init__(
        self,
        message: str,
        *,
        command: str = "",
        exit_code: int | None = None,
        stderr: str = "",
        target: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.command = command
        self.returncode = exit_code
        self.stderr = stderr
        self.target = target
        super().__init__(message, hint=hint)


class CommandTimeout(CommandError, TimeoutError):
    """A command did not finish within its timeout and was stopped."""


class ToolNotFound(HomeopsError, FileNotFoundError):
    """An external executable is not on PATH."""

    exit_code = 127


class ConnectionFailed(HomeopsError, ConnectionError):
    """A host could not be reached (SSH connect, auth, or a dropped connection)."""


class HostKeyRejected(ConnectionFailed):
    """The SSH host key is unknown or has changed; the message carries the fix."""


class ApiError(HomeopsError):
    """An HTTP API was reached but answered with an error status or a body that is not its documented answer."""

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        self.status = status
        super().__init__(message, hint=hint)


class SecretError(HomeopsError):
    """SOPS/age: missing or wrong key, tampered value, MAC mismatch, unsupported file."""


class PlanError(HomeopsError):
    """A plan cannot be built from the inventory and what was observed."""


class GateFailed(HomeopsError):
    """A health gate is not green."""

    def __init__(self, gate: str, observed: str, *, target: str | None = None, hint: str | None = None):
        self.gate = gate
        self.observed = observed
        self.target = target
        on = f" on {target}" if target else ""
        super().__init__(f"gate '{gate}' failed{on}: {observed}", hint=hint)


class WaitTimeout(HomeopsError, TimeoutError):
    """A wait gave up: says what it waited for and what it saw last."""


class LockHeld(HomeopsError):
    """Another mutating run holds the cluster lock."""

    exit_code = 3


class PolicyRefused(HomeopsError):
    """A run policy refused to start the run; nothing was changed. Names the policy and what would allow it."""

    exit_code = 4


class RunStopped(HomeopsError):
    """A run policy stopped the run between steps (e.g. the maintenance window closes); resumable."""

    exit_code = 75  # EX_TEMPFAIL: try again later, with --resume


class Aborted(HomeopsError):
    """The user declined the confirmation (or none could be asked): nothing was changed."""


class Interrupted(Aborted):
    """Ctrl-C (or SIGTERM) stopped the run; 130 is the shell's code for SIGINT."""

    exit_code = 130


class SimError(HomeopsError):
    """The simulator is not running, or was asked for something it does not know."""
