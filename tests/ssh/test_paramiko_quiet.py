"""Defect 16: an SSH host that accepts TCP then closes gave the right "unreachable" line plus
paramiko tracebacks on stderr from paramiko's own logger."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator

import pytest

from tests.conftest import REPO


@pytest.fixture
def slams_the_door() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()

    def serve() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    server.close()
    thread.join(2)


def test_closing_host_is_one_line_without_paramiko_tracebacks(slams_the_door: int, tmp_path: object) -> None:
    # a fresh interpreter: logging's last-resort handler is what printed paramiko's records
    code = textwrap.dedent(
        f"""
        from homeops.errors import ConnectionFailed
        from homeops.inventory.model import SshHost
        from homeops.ssh import SshRunner
        host = SshHost(name="pve1", address="127.0.0.1", kind="proxmox", port={slams_the_door}, connect_timeout=2.0)
        try:
            SshRunner(host, connect_attempts=3, sleep=lambda s: None).run(["true"])
        except ConnectionFailed as exc:
            print("ERR", exc)
        """
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.stdout.startswith("ERR cannot reach SSH host pve1"), done
    assert "Traceback" not in done.stderr and done.stderr.strip() == "", done.stderr
