"""What every task module shares: finding the inventory, and turning user errors into ``Exit``.

Tasks stay thin: parse options, call the library, print. A ``HomeopsError`` becomes a one-line
``Exit(message, code)`` — never a traceback for a problem the user can fix.
"""

from __future__ import annotations

import functools
import os
import sys
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


def user_errors(fn: F) -> F:
    """Run a task body; a HomeopsError exits with its one-line message and code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from homeops.errors import HomeopsError
        from homeops.secrets import mask

        try:
            return fn(*args, **kwargs)
        except HomeopsError as exc:
            raise Exit(f"error: {mask(str(exc))}", code=exc.exit_code) from None
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            raise Exit("interrupted: nothing more was started; re-run with --resume where offered", code=130) from None

    return wrapper  # type: ignore[return-value]
