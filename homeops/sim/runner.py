"""``SimRunner``: a ``Runner`` that runs the fake tools in-process.

Same outputs as the executables in the sim's bin directory (both call the same ``main``), without
a Python start-up per command — for benchmarks and large property tests. Commands that are not
simulated tools go to a ``LocalRunner`` with the sim's bin directory first on ``PATH``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from homeops.errors import CommandTimeout
from homeops.runners import LocalRunner, Result, render
from homeops.secrets import MASKER
from homeops.sim import tools
from homeops.sim.tools._base import CWD_ENV, DEADLINE_ENV, KILLED_AT_DEADLINE


class SimRunner:
    target = "local"

    def __init__(self, sim_dir: str | os.PathLike[str], *, env: Mapping[str, str] | None = None) -> None:
        self.sim_dir = Path(sim_dir)
        self._env = {"HOMEOPS_SIM_DIR": str(self.sim_dir), **(env or {})}
        bin_dir = str(self.sim_dir / "bin")
        self._fallback = LocalRunner(env={**self._env, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")})

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
        name = os.path.basename(argv[0])
        if name not in tools.TOOL_NAMES:
            return self._fallback.run(argv, timeout=timeout, env=env, cwd=cwd, stdin=stdin, secrets=secrets)
        MASKER.extend(secrets)
        full_env = {**os.environ, **self._env, **(env or {})}
        full_env[CWD_ENV] = str(Path(cwd).resolve()) if cwd is not None else os.getcwd()
        if timeout is not None:
            full_env[DEADLINE_ENV] = str(timeout)  # a tool that blocks past it ends like LocalRunner ends it
        start = time.monotonic()
        code, out, err = tools.run(name, list(argv[1:]), stdin, full_env)
        if KILLED_AT_DEADLINE in err:
            raise CommandTimeout(
                f"{argv[0]} did not finish within {timeout:g}s: {render(argv)}",
                command=render(argv),
                hint="the tool may be hung or the node unreachable; raise the timeout or check the target",
            )
        return Result(tuple(argv), code, out, err, time.monotonic() - start, self.target)

    def close(self) -> None:
        return None
