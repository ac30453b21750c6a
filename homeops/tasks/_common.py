"""What every task module shares: finding the inventory, and turning user errors into ``Exit``.

Tasks stay thin: parse options, call the library, print. A ``HomeopsError`` becomes a one-line
``Exit(message, code)`` — never a traceback for a problem the user can fix.
"""

from __future__ import annotations

import functools
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.exceptions import Exit

F = TypeVar("F", bound=Callable[..., Any])


def inventory_dir(ctx: Any, explicit: str | None = None) -> Path:
    """``--inventory`` beats ``HOMEOPS_INVENTORY`` beats invoke config ``homeops.inventory`` beats ./inventory."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("HOMEOPS_INVENTORY")
    if env:
        return Path(env)
    try:
        configured = ctx.config.homeops.inventory
    except (AttributeError, KeyError):
        configured = None
    if configured:
        return Path(str(configured))
    return Path("inventory")


class Terminated(KeyboardInterrupt):
    """SIGTERM (systemd stopping a unit, CI cancelling a job, ``kill``) during a task.

    A KeyboardInterrupt on purpose: every path that cleans up after Ctrl-C — the journal marked
    interrupted and resumable, post hooks, the Alertmanager silence expired, the lock released —
    then runs for a termination too, instead of the process dying with its journal still "running".
    """


#: The status a shell reports for a process SIGTERM ended; a terminated task exits with it after cleaning up.
SIGTERM_EXIT = 128 + 15


def _terminate(signum: int, frame: object) -> None:
    raise Terminated()


def user_errors(fn: F) -> F:
    """Run a task body; a HomeopsError exits with its one-line message and code; SIGTERM cleans up like Ctrl-C."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from homeops.errors import HomeopsError
        from homeops.secrets import mask

        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _terminate)
        try:
            result = fn(*args, **kwargs)
            sys.stdout.flush()  # a reader that left (`| head -1`) shows here, not in the interpreter's last flush
            return result
        except BrokenPipeError:
            if not _stdout_reader_left():
                raise  # another pipe (a tool's stdin): a real error, not the user's `| head`
            _stdout_to_devnull()
            raise Exit(code=SIGPIPE_EXIT) from None
        except HomeopsError as exc:
            if isinstance(exc.__context__, Terminated) or isinstance(exc.__cause__, Terminated):
                raise Exit(f"terminated (SIGTERM): {mask(str(exc))}", code=SIGTERM_EXIT) from None
            raise Exit(f"error: {mask(str(exc))}", code=exc.exit_code) from None
        except Terminated:
            print("\nterminated", file=sys.stderr)
            raise Exit("terminated (SIGTERM): nothing more was started; re-run with --resume where offered",
                       code=SIGTERM_EXIT) from None  # fmt: skip
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            raise Exit("interrupted: nothing more was started; re-run with --resume where offered", code=130) from None
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)

    return wrapper  # type: ignore[return-value]


#: The status a shell reports for a command SIGPIPE killed (`yes | head -1`): the reader stopped reading.
SIGPIPE_EXIT = 128 + 13


def _stdout_reader_left() -> bool:
    """stdout is a pipe nobody reads any more (poll says POLLERR on its write end)."""
    import select

    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    poller = select.poll()
    poller.register(fd, select.POLLOUT)
    return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))


def _stdout_to_devnull() -> None:
    """Point stdout at /dev/null so the interpreter's final flush of what is left cannot fail again.

    Python's own recipe for a closed pipe (docs.python.org/3/library/signal.html, "Note on SIGPIPE").
    """
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (captured output): nothing will flush to a pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)
