"""``ShimRunner``: a simulated SSH host without Docker — the host shims run as local processes.

It answers like ``homeops.ssh.SshRunner`` does: the same argv reaches the same shim scripts
(``homeops/sim/hostbin``), a host the sim marks down raises ``ConnectionFailed``, and a command the
host does not have exits 127 as a shell would. Its file methods (``upload``/``download``/
``listdir``/``remove``, the SFTP surface of ``SshRunner``) map remote paths under
``<sim_dir>/hostfs/<host>/``.
"""

from __future__ import annotations

import os
import shutil
import stat
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from homeops.errors import ConnectionFailed
from homeops.runners import LocalRunner, Result
from homeops.secrets import MASKER
from homeops.sim import hosts
from homeops.sim.store import SimNotRunning, SimStore
from homeops.ssh import RemoteFile

HOSTBIN = Path(__file__).resolve().parent / "hostbin"


class ShimRunner:
    def __init__(self, host_name: str, sim_dir: Path, *, in_process: bool = False) -> None:
        self.target = host_name
        self.in_process = in_process
        self.sim_dir = Path(sim_dir)
        self._store = SimStore(self.sim_dir)
        self._local = LocalRunner(env={hosts.SIM_HOST_ENV: host_name, hosts.SIM_DIR_ENV: str(self.sim_dir)})

    def __repr__(self) -> str:
        return f"ShimRunner({self.target} in {self.sim_dir})"

    def _check_up(self) -> None:
        try:
            down = hosts.host_is_down(self._store.read(include_log=False), self.target)
        except SimNotRunning as exc:
            raise ConnectionFailed(f"simulated host {self.target}: {exc}") from exc
        if down:
            raise ConnectionFailed(
                f"cannot reach SSH host {self.target}: connection timed out (simulated: host is down)",
                hint=f"inv sim.fault --clear --name pve-host-down --target {self.target} brings it back",
            )

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
        self._check_up()
        tool = argv[0]
        if tool not in hosts.TOOLS:
            return Result(tuple(argv), 127, "", f"sh: 1: {tool}: not found\n", 0.0, self.target)
        if self.in_process:
            MASKER.extend(secrets)
            start = time.monotonic()
            try:
                code, out, err = hosts.execute(tool, list(argv[1:]), self.target, self._store)
            except SimNotRunning as exc:
                raise ConnectionFailed(f"simulated host {self.target}: {exc}") from exc
            return Result(tuple(argv), code, out, err, time.monotonic() - start, self.target)
        result = self._local.run(
            [sys.executable, "-S", str(HOSTBIN / tool), *argv[1:]],
            timeout=timeout,
            env=env,
            stdin=stdin,
            secrets=secrets,
        )
        return Result(tuple(argv), result.exit_code, result.stdout, result.stderr, result.duration, self.target)

    # -- the SFTP surface of SshRunner, on a directory per host -----------------------------------

    def _local_path(self, remote: str) -> Path:
        root = self.sim_dir / "hostfs" / self.target
        parts = [p for p in PurePosixPath(remote).parts if p not in ("/", ".")]
        if ".." in parts:
            raise ValueError(f"refusing a remote path with '..': {remote}")
        return root.joinpath(*parts)

    def upload(self, local: str | os.PathLike[str], remote: str) -> None:
        self._check_up()
        target = self._local_path(remote)
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        shutil.copyfile(local, partial)
        os.chmod(partial, stat.S_IMODE(os.stat(local).st_mode))  # as SshRunner.upload: the local file's mode
        partial.replace(target)

    def download(self, remote: str, local: str | os.PathLike[str]) -> None:
        self._check_up()
        shutil.copyfile(self._local_path(remote), local)

    def listdir(self, remote_dir: str) -> list[RemoteFile]:
        self._check_up()
        directory = self._local_path(remote_dir)
        if not directory.is_dir():
            return []
        out = []
        for entry in sorted(directory.iterdir()):
            st = entry.stat()
            out.append(RemoteFile(entry.name, st.st_size, st.st_mtime, entry.is_dir()))
        return out

    def remove(self, remote: str) -> None:
        self._check_up()
        self._local_path(remote).unlink()

    def close(self) -> None:
        return None
