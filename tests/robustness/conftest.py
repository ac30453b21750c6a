"""Helpers for the robustness suite: run an ``inv`` command line in-process, the way a user would."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str
    crashed: BaseException | None


def run_inv(*argv: str) -> Ran:
    """``inv <argv>`` against ``homeops.tasks.ns``; an exception other than SystemExit is a crash."""
    from invoke import Program

    from homeops.tasks import ns

    out, err = io.StringIO(), io.StringIO()
    code, crashed = 0, None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            Program(namespace=ns, name="homeops", binary="inv").run(["inv", *argv], exit=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:  # the point: anything else is a traceback for the user
            crashed = exc
    return Ran(code, out.getvalue(), err.getvalue(), crashed)


@pytest.fixture
def inv() -> object:
    return run_inv
