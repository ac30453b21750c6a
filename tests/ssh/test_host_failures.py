"""Real failures of real hosts: down (container stopped), hung (paused), reinstalled (new host key)."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from homeops.errors import ConnectionFailed, HostKeyRejected
from homeops.operations.hosts import check_proxmox, proxmox_status
from homeops.ssh import SshRunner
from tests.ssh.conftest import SimEnv, start_env

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def failing(host_image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimEnv]:
    env = start_env(tmp_path_factory.mktemp("sshfail"), {"pve1": "proxmox", "pve2": "proxmox", "pve3": "proxmox"})
    try:
        yield env
    finally:
        env.hosts.close()


def test_host_down_is_that_hosts_error_and_comes_back(failing: SimEnv) -> None:
    failing.reset()
    rt = failing.runtime()
    assert proxmox_status(rt).ok  # pooled connections are open now
    failing.hosts.stop("pve2")
    try:
        status = proxmox_status(rt)
        down = status.host("pve2")
        assert down is not None and not down.reachable
        assert down.error is not None and down.error.startswith("cannot reach SSH host pve2 (root@127.0.0.1:")
        assert status.host("pve1").reachable and status.quorate is True  # type: ignore[union-attr]
        gate = check_proxmox(rt, "pve2")
        assert not gate.ok and gate.observed.startswith("pve2: cannot reach SSH host pve2")
    finally:
        failing.hosts.start_again("pve2")
    # the dead pooled transport is replaced transparently
    assert check_proxmox(rt, "pve2").ok
    assert rt.host("pve2").connects == 2  # type: ignore[attr-defined]
    rt.close()


def test_hung_host_times_out_on_connect_with_bounded_retries(failing: SimEnv) -> None:
    sleeps: list[float] = []
    spec = failing.hosts.ssh_host("pve3", connect_timeout=1.0)
    failing.hosts.pause("pve3")
    try:
        start = time.monotonic()
        with pytest.raises(ConnectionFailed, match=r"cannot reach SSH host pve3 .* after 2 attempt\(s\)"):
            SshRunner(spec, connect_attempts=2, sleep=sleeps.append).run(["true"])
        assert time.monotonic() - start < 8
        assert len(sleeps) == 1  # one backoff between the two attempts, through the injected sleep
    finally:
        failing.hosts.unpause("pve3")


def test_changed_host_key_is_refused_with_the_fix(failing: SimEnv) -> None:
    failing.reset()
    spec = failing.hosts.ssh_host("pve1")
    pooled = SshRunner(spec)
    assert pooled.run(["qm", "status", "200"]).ok
    failing.hosts.recreate("pve1")  # reinstalled: same address and port, new key
    port = failing.hosts.endpoints["pve1"].port
    assert port == spec.port
    known = failing.hosts.known_hosts
    with pytest.raises(HostKeyRejected) as info:
        pooled.run(["qm", "status", "200"])  # the pooled runner reconnects — and must not trust the new key
    message = str(info.value)
    remove = f"ssh-keygen -R '[127.0.0.1]:{port}' -f {known}"
    scan = f"ssh-keyscan -p {port} -t ed25519 127.0.0.1 >> {known}"
    assert "CHANGED" in message and remove in message and scan in message and "\n" not in message
    with pytest.raises(HostKeyRejected, match="CHANGED"):
        SshRunner(failing.hosts.ssh_host("pve1", accept_new_host_key=True)).run(["true"])
    assert [e for e in failing.store.read()["log"] if e["host"] == "pve1"][-1]["argv"] == ["qm", "status", "200"]
    assert len([e for e in failing.store.read()["log"] if e["host"] == "pve1"]) == 1  # nothing ran after
    # The two printed commands are the fix.
    subprocess.run(f"{remove} && {scan}", shell=True, check=True, capture_output=True, timeout=30)
    assert SshRunner(spec).run(["qm", "status", "200"]).stdout == "status: running\n"


def test_password_from_a_sops_file_end_to_end(failing: SimEnv, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that insists on a password: it comes from a SOPS file, decrypted in memory, and never prints."""
    import pyrage

    from homeops import sops
    from homeops.secrets import mask

    password = "correct horse battery staple 7"
    identity = pyrage.x25519.Identity.generate()
    key_file = tmp_path / "age.key"
    key_file.write_text(f"# public key: {identity.to_public()}\n{identity}\n")
    (tmp_path / ".sops.yaml").write_text(
        f"creation_rules:\n  - path_regex: .*\\.sops\\.yaml$\n    age: {identity.to_public()}\n"
    )
    secret_file = tmp_path / "pve3-password.sops.yaml"
    secret_file.write_text(f"password: {password}\n")
    sops.encrypt_file(secret_file, config=tmp_path / ".sops.yaml", in_place=True)
    assert password not in secret_file.read_text()
    monkeypatch.setenv("SOPS_AGE_KEY_FILE", str(key_file))

    container = failing.hosts._container("pve3")
    setup = (
        f"echo 'root:{password}' | chpasswd && "
        "printf 'PasswordAuthentication yes\\nPermitRootLogin yes\\n' > /etc/ssh/sshd_config.d/00-password.conf"
        " && kill -HUP 1"
    )
    assert container.exec(["sh", "-c", setup])[0] == 0
    try:
        time.sleep(1)  # sshd re-executes itself on SIGHUP
        spec = failing.hosts.ssh_host("pve3", identity=None, password_file=secret_file)
        with SshRunner(spec) as runner:
            assert runner.run(["sh", "-c", "echo $SSH_CONNECTION"]).ok
        assert mask(f"pw={password}") == "pw=******"  # registered with the masker once read
    finally:
        container.exec(["sh", "-c", "rm -f /etc/ssh/sshd_config.d/00-password.conf && passwd -d root && kill -HUP 1"])
        time.sleep(1)
