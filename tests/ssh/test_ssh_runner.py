"""SshRunner against a real OpenSSH server (a locally built container): output, exit codes, pooling,
host keys, auth, timeouts, SFTP, and that nothing in an argv can inject a shell command."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import pytest

from homeops.errors import CommandTimeout, ConnectionFailed, HostKeyRejected
from homeops.secrets import Secret
from homeops.sim.containers import generate_client_key
from homeops.ssh import SshRunner
from tests.ssh.conftest import SimEnv

pytestmark = pytest.mark.docker


def test_output_streams_and_exit_codes(env: SimEnv) -> None:
    with env.runner("pve1") as runner:
        result = runner.run(["sh", "-c", "echo out; echo err >&2; exit 3"])
        assert (result.exit_code, result.stdout, result.stderr, result.target) == (3, "out\n", "err\n", "pve1")
        assert runner.run(["true"]).ok
        missing = runner.run(["no-such-tool"])
        assert missing.exit_code == 127 and "not found" in missing.stderr


def test_stdin_env_and_cwd(env: SimEnv) -> None:
    with env.runner("pve1") as runner:
        assert runner.run(["cat"], stdin="hello\nworld\n").stdout == "hello\nworld\n"
        assert runner.run(["sh", "-c", 'echo "$GREETING"'], env={"GREETING": "a b; c"}).stdout == "a b; c\n"
        assert runner.run(["pwd"], cwd="/etc/ssh").stdout == "/etc/ssh\n"


def test_large_output_on_both_streams_does_not_deadlock(env: SimEnv) -> None:
    script = "head -c 2000000 /dev/zero | tr '\\0' a; head -c 1000000 /dev/zero | tr '\\0' b >&2"
    with env.runner("pve1") as runner:
        result = runner.run(["sh", "-c", script], timeout=30)
    assert len(result.stdout) == 2_000_000 and set(result.stdout) == {"a"}
    assert len(result.stderr) == 1_000_000 and set(result.stderr) == {"b"}


def test_one_pooled_connection_for_many_commands(env: SimEnv) -> None:
    with env.runner("pve1") as runner:
        # The server names the client's TCP source port in SSH_CONNECTION: one value = one connection.
        seen = {runner.run(["sh", "-c", "echo $SSH_CONNECTION"]).stdout for _ in range(20)}
        assert len(seen) == 1 and runner.connects == 1


def test_concurrent_commands_share_the_connection(env: SimEnv) -> None:
    runner = env.runner("pve1")
    runner.run(["true"])
    outputs: list[str] = []
    lock = threading.Lock()

    def one() -> None:
        out = runner.run(["sh", "-c", "sleep 1; echo $SSH_CONNECTION"]).stdout
        with lock:
            outputs.append(out)

    start = time.monotonic()
    threads = [threading.Thread(target=one) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    runner.close()
    assert len(outputs) == 8 and len(set(outputs)) == 1 and runner.connects == 1
    assert elapsed < 4, f"8 one-second commands took {elapsed:.1f}s: channels did not run in parallel"


def test_reconnects_when_the_pooled_transport_died(env: SimEnv) -> None:
    with env.runner("pve1") as runner:
        first = runner.run(["sh", "-c", "echo $SSH_CONNECTION"]).stdout
        runner.connection().close()  # as if the network dropped it
        second = runner.run(["sh", "-c", "echo $SSH_CONNECTION"]).stdout
        assert runner.connects == 2 and first != second


def test_command_timeout(env: SimEnv) -> None:
    with env.runner("pve1") as runner:
        start = time.monotonic()
        with pytest.raises(CommandTimeout, match=r"^sleep on pve1 did not finish within 0.5s: sleep 30"):
            runner.run(["sleep", "30"], timeout=0.5)
        assert time.monotonic() - start < 5
        assert runner.run(["echo", "still usable"]).stdout == "still usable\n"


def test_unknown_host_key_refused_with_the_keyscan_line(env: SimEnv, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    known.write_text("")
    spec = env.hosts.ssh_host("pve1", known_hosts=known)
    with pytest.raises(HostKeyRejected) as info:
        SshRunner(spec).run(["qm", "status", "200"])
    message = str(info.value)
    fix = f"ssh-keyscan -p {spec.port} -t ed25519 127.0.0.1 >> {known}"
    assert "is unknown" in message and fix in message and "SHA256:" in message and "\n" not in message
    assert env.store.read()["log"] == []  # nothing ran
    # The printed fix really is the fix.
    subprocess.run(fix, shell=True, check=True, capture_output=True, timeout=30)
    assert SshRunner(spec).run(["qm", "status", "200"]).stdout == "status: running\n"


def test_accept_new_records_the_key(env: SimEnv, tmp_path: Path) -> None:
    known = tmp_path / "sub" / "known_hosts"
    spec = env.hosts.ssh_host("pve2", known_hosts=known, accept_new_host_key=True)
    with SshRunner(spec) as runner:
        assert runner.run(["qm", "status", "201"]).ok
    line = known.read_text()
    assert line.startswith(f"[127.0.0.1]:{spec.port} ssh-ed25519 AAAA") and line.count("\n") == 1
    strict = env.hosts.ssh_host("pve2", known_hosts=known)
    assert SshRunner(strict).run(["true"]).ok  # the recorded key is now trusted strictly
    assert known.read_text() == line  # and not appended twice


def test_key_known_only_under_another_type_is_refused(env: SimEnv, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    port = env.hosts.endpoints["pve1"].port
    rsa = "AAAAB3NzaC1yc2EAAAADAQABAAABAQC7" + "A" * 40
    known.write_text(f"[127.0.0.1]:{port} ssh-rsa {rsa}\n")
    sleeps: list[float] = []
    runner = SshRunner(env.hosts.ssh_host("pve1", known_hosts=known), sleep=sleeps.append)
    with pytest.raises(HostKeyRejected, match=r"offers no host key of the types .* \(rsa-sha2-512, rsa-sha2-256"):
        runner.run(["true"])
    assert sleeps == []  # a host-key refusal is never retried


def test_unauthorised_key_fails_without_retries(env: SimEnv, tmp_path: Path) -> None:
    identity, _ = generate_client_key(tmp_path / "other")
    sleeps: list[float] = []
    runner = SshRunner(env.hosts.ssh_host("pve1", identity=identity), sleep=sleeps.append)
    with pytest.raises(ConnectionFailed, match=rf"SSH authentication as root on pve1 .* failed; tried key {identity}"):
        runner.run(["true"])
    assert sleeps == [] and runner.connects == 0


def test_missing_identity_file(env: SimEnv, tmp_path: Path) -> None:
    with pytest.raises(ConnectionFailed, match=r"SSH identity file .*/nope for host pve1 does not exist"):
        SshRunner(env.hosts.ssh_host("pve1", identity=tmp_path / "nope")).run(["true"])


def test_password_comes_only_from_the_loader_and_never_prints(env: SimEnv, tmp_path: Path) -> None:
    identity, _ = generate_client_key(tmp_path / "other")
    requested: list[Path] = []

    def loader(path: Path) -> Secret[str]:
        requested.append(path)
        return Secret("hunter2-very-secret")

    spec = env.hosts.ssh_host("pve1", identity=identity, password_file=tmp_path / "pw.sops.yaml")
    with pytest.raises(ConnectionFailed) as info:
        SshRunner(spec, password_loader=loader).run(["true"])
    assert requested == [tmp_path / "pw.sops.yaml"]
    assert "password from" in str(info.value) and "hunter2" not in str(info.value)


@pytest.mark.parametrize(
    "payload",
    [
        "x; touch /tmp/pwned",
        "$(touch /tmp/pwned)",
        "`touch /tmp/pwned`",
        "a\ntouch /tmp/pwned",
        "' ; touch /tmp/pwned ; '",
        '" ; touch /tmp/pwned ; "',
        "| touch /tmp/pwned",
        "&& touch /tmp/pwned",
        "name with spaces > /tmp/pwned",
    ],
)
def test_argv_cannot_inject_a_command(env: SimEnv, payload: str) -> None:
    with env.runner("pve1") as runner:
        result = runner.run(["echo", payload])
        assert result.stdout == payload + "\n"  # one literal argument, printed back verbatim
        assert runner.run(["sh", "-c", 'printf %s "$X"'], env={"X": payload}).stdout == payload
        assert not runner.run(["true"], cwd=f"/tmp/{payload}").ok  # no such directory, nothing else ran
    assert not env.marker_exists("pve1", "/tmp/pwned")


def test_vm_name_and_snapshot_description_cannot_inject(env: SimEnv) -> None:
    evil = "vm; touch /tmp/pwned $(touch /tmp/pwned2) `touch /tmp/pwned3`"
    with env.runner("pve3") as runner:
        assert runner.run(["qm", "create", "299", "--name", evil]).ok
        assert runner.run(["qm", "snapshot", "299", "s1", "--description", evil]).ok
        # qm create adds meta and vmgenid of its own (qemu-server); the name comes back as given
        assert f"\nname: {evil}\n" in "\n" + runner.run(["qm", "config", "299"]).stdout
    vm = env.store.read()["pve"]["hosts"]["pve3"]["vms"]["299"]
    assert vm["name"] == evil and vm["snapshots"][0]["description"] == evil
    for marker in ("/tmp/pwned", "/tmp/pwned2", "/tmp/pwned3"):
        assert not env.marker_exists("pve3", marker)


def test_sftp_roundtrip_with_awkward_names(env: SimEnv, tmp_path: Path) -> None:
    local = tmp_path / "snap.db"
    local.write_bytes(b"\x00etcd" * 1000)
    remote_dir = "/mnt/tank/backups/etcd; touch /tmp/pwned"
    with env.runner("nas") as runner:
        runner.upload(local, f"{remote_dir}/a b.db")
        runner.upload(local, f"{remote_dir}/a b.db")  # overwriting is fine
        files = runner.listdir(remote_dir)
        assert [(f.name, f.size) for f in files] == [("a b.db", 5000)]
        runner.download(f"{remote_dir}/a b.db", tmp_path / "back.db")
        assert (tmp_path / "back.db").read_bytes() == local.read_bytes()
        runner.remove(f"{remote_dir}/a b.db")
        assert runner.listdir(remote_dir) == [] and runner.listdir("/no/such/dir") == []
    assert not env.marker_exists("nas", "/tmp/pwned")


def test_hashed_known_hosts_entries_are_honoured(env: SimEnv, tmp_path: Path) -> None:
    # Debian's ssh client hashes known_hosts (HashKnownHosts yes); those files must work as they are.
    port = env.hosts.endpoints["pve1"].port
    scanned = subprocess.run(
        ["ssh-keyscan", "-H", "-p", str(port), "-t", "ed25519", "127.0.0.1"], capture_output=True, text=True, timeout=30
    )
    assert scanned.stdout.startswith("|1|")
    known = tmp_path / "known_hosts"
    known.write_text("# comment\n" + scanned.stdout)
    assert SshRunner(env.hosts.ssh_host("pve1", known_hosts=known)).run(["true"]).ok


def test_containers_publish_ssh_on_loopback_only(env: SimEnv) -> None:
    from homeops.sim.containers import load_endpoints

    for name in ("pve1", "pve2", "pve3", "nas"):
        container = env.hosts._container(name).get_wrapped_container()
        container.reload()
        # Docker picks the port (issue 11: no pre-picked port to race for); only loopback is published.
        assert container.attrs["HostConfig"]["PortBindings"] == {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]}
        published = container.attrs["NetworkSettings"]["Ports"]
        assert published == {"22/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(env.hosts.endpoints[name].port)}]}
    saved = load_endpoints(env.hosts.sim_dir)
    assert saved == env.hosts.endpoints
    assert not env.marker_exists("pve1", "/etc/ssh/ssh_host_rsa_key")  # only the key generated at start
