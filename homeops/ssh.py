"""``SshRunner``: the ``Runner`` for Proxmox and TrueNAS hosts, over one pooled SSH connection.

One paramiko ``Transport`` per host is opened lazily and shared by every command (each command is
its own channel, so threads can run commands concurrently). If the pooled transport died, the next
command reconnects transparently — only *before* a command starts; a command is never re-run.

Security, in the order a connection meets it:

* **Host keys** are checked strictly against the host's ``known_hosts`` (inventory
  ``SshHost.known_hosts``, default ``~/.ssh/known_hosts``). An unknown key is refused with the
  exact ``ssh-keyscan`` line to run; a changed key is refused with the ``ssh-keygen -R`` line too.
  ``accept_new_host_key`` records an unknown key like ssh's ``StrictHostKeyChecking=accept-new``; a
  *changed* key is refused regardless.
* **Auth** is a key file (``SshHost.identity``) or the ssh-agent. A password is only ever read from
  a SOPS file (``SshHost.password_file``) — never from a command line or a plain file.
* **Commands** are argv lists joined with ``shlex.quote``: a VM name with ``;``, spaces or ``$(…)``
  reaches the remote program as one literal argument.

Retries (tenacity) wrap the connect only; a timeout of the command stops waiting and closes its
channel.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shlex
import socket
import stat
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from homeops.errors import CommandTimeout, ConnectionFailed, HostKeyRejected, SecretError
from homeops.runners import Result, render
from homeops.secrets import MASKER, Secret

if TYPE_CHECKING:
    import paramiko

    # the host spec is the inventory's (layer 2), read here by attribute only
    from homeops.inventory.model import SshHost

log = logging.getLogger("homeops.ssh")

# paramiko logs every failed handshake at ERROR with a traceback; with no handler configured,
# logging's last-resort handler prints those to the user's stderr, next to our one-line error.
# A NullHandler keeps them quiet unless the user configures logging (they then reach the root).
logging.getLogger("paramiko").addHandler(logging.NullHandler())

_CHUNK = 65536

# known_hosts key types → the host-key algorithms that prove them (RSA keys sign with SHA-2 now).
_ALGORITHMS_FOR_TYPE: dict[str, tuple[str, ...]] = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
}


def known_hosts_path(host: SshHost) -> Path:
    return Path(host.known_hosts) if host.known_hosts else Path.home() / ".ssh" / "known_hosts"


def known_hosts_name(address: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``addr`` on port 22, ``[addr]:port`` otherwise."""
    return address if port == 22 else f"[{address}]:{port}"


def fingerprint(key: paramiko.PKey) -> str:
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def keyscan_line(host: SshHost, known_hosts: Path) -> str:
    return f"ssh-keyscan -p {host.port} -t ed25519 {shlex.quote(host.address)} >> {shlex.quote(str(known_hosts))}"


def remove_line(host: SshHost, known_hosts: Path) -> str:
    name = known_hosts_name(host.address, host.port)
    return f"ssh-keygen -R {shlex.quote(name)} -f {shlex.quote(str(known_hosts))}"


def remote_command(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, cwd: str | os.PathLike[str] | None = None
) -> str:
    """The one shell line sent to the host: every piece quoted, so nothing in argv is interpreted."""
    if not argv:
        raise ValueError("empty argv")
    for key in env or {}:
        if not key.isidentifier():
            raise ValueError(f"invalid environment variable name {key!r}")
    line = shlex.join(argv)
    if env:
        line = shlex.join(["env", *(f"{k}={v}" for k, v in env.items())]) + " " + line
    if cwd is not None:
        line = f"cd {shlex.quote(str(cwd))} && {line}"
    return line


@dataclass(frozen=True)
class RemoteFile:
    """One entry of a remote directory listing (SFTP)."""

    name: str
    size: int
    mtime: float
    is_dir: bool = False


def _default_password_loader(path: Path) -> Secret[str]:
    # homeops.sops is heavy (age, AES) and only needed by the rare password-auth host; looked up by
    # name so this module does not depend on its typing.
    import importlib

    decrypt_file: Any = importlib.import_module("homeops.sops").decrypt_file
    data: Any = decrypt_file(path)
    value = data.get("password") if isinstance(data, Mapping) else None
    if isinstance(value, Secret):
        value = value.reveal()
    if not isinstance(value, str) or not value:
        raise SecretError(
            f"{path}: no 'password' key in the decrypted SOPS file", hint="add `password: ...` and re-encrypt"
        )
    return Secret(value)


class SshRunner:
    """Runs commands on one SSH host over a pooled, lazily opened connection.

    ``connects`` counts transports opened so far (tests and the bench use it to prove reuse).
    ``sleep`` is the connect-retry backoff's sleep, injectable so tests do not wait.
    """

    def __init__(
        self,
        host: SshHost,
        *,
        connect_attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        password_loader: Callable[[Path], Secret[str]] = _default_password_loader,
        keepalive: int = 30,
    ) -> None:
        self.host = host
        self.target = host.name
        self.known_hosts = known_hosts_path(host)
        self.connects = 0
        self._connect_attempts = max(1, connect_attempts)
        self._sleep = sleep
        self._password_loader = password_loader
        self._keepalive = keepalive
        self._lock = threading.Lock()
        self._transport: paramiko.Transport | None = None

    def __repr__(self) -> str:
        h = self.host
        return f"SshRunner({h.name}: {h.user}@{h.address}:{h.port})"

    def __enter__(self) -> SshRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connection -------------------------------------------------------------------------

    def connection(self) -> paramiko.Transport:
        """The live pooled transport, (re)connecting when there is none or it died."""
        with self._lock:
            transport = self._transport
            if transport is not None and transport.is_active():
                return transport
            if transport is not None:
                log.info("ssh %s: pooled connection is gone; reconnecting", self.target)
                transport.close()
                self._transport = None
            self._transport = self._connect_with_retries()
            return self._transport

    def _connect_with_retries(self) -> paramiko.Transport:
        from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

        def transient(exc: BaseException) -> bool:
            # Refusals that another try cannot fix (host key, auth) stop at once.
            return isinstance(exc, _TransientConnectError)

        retrying = Retrying(
            stop=stop_after_attempt(self._connect_attempts),
            wait=wait_exponential(multiplier=0.5, max=4),
            retry=retry_if_exception(transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            transport: paramiko.Transport = retrying(self._connect_once)
        except _TransientConnectError as exc:
            h = self.host
            raise ConnectionFailed(
                f"cannot reach SSH host {h.name} ({h.user}@{h.address}:{h.port}) after "
                f"{self._connect_attempts} attempt(s): {exc}",
                hint="check the host is up and the address/port in inventory hosts",
            ) from exc.__cause__
        return transport

    def _connect_once(self) -> paramiko.Transport:
        import paramiko

        h = self.host
        try:
            sock = socket.create_connection((h.address, h.port), timeout=h.connect_timeout)
        except OSError as exc:
            raise _TransientConnectError(str(exc) or type(exc).__name__) from exc
        # Without TCP_NODELAY every channel open waits out Nagle against delayed ACKs (~40 ms).
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport = paramiko.Transport(sock)
        try:
            known = self._load_known_hosts()
            wanted = self._known_algorithms(known, transport)
            if wanted:
                # Ask for a key type we can check, as OpenSSH does; otherwise any key is "unknown".
                transport.get_security_options().key_types = wanted
            try:
                transport.start_client(timeout=h.connect_timeout)
            except (paramiko.SSHException, OSError, EOFError) as exc:
                if wanted and "host key" in str(exc):
                    raise HostKeyRejected(
                        f"SSH host {h.name} ({known_hosts_name(h.address, h.port)}) offers no host key of the "
                        f"types {self.known_hosts} has for it ({', '.join(wanted)}) — refused",
                        hint=f"if the host was reinstalled, verify its key on the console, then run: "
                        f"{remove_line(h, self.known_hosts)} && {keyscan_line(h, self.known_hosts)}",
                    ) from exc
                raise _TransientConnectError(f"SSH handshake failed: {exc or type(exc).__name__}") from exc
            if not transport.is_active() or not transport.initial_kex_done:
                # start_client returns quietly when its timeout passes mid-handshake.
                transport.close()
                raise _TransientConnectError(f"SSH handshake did not complete within {h.connect_timeout:g}s")
            self._verify_host_key(transport, known)
            self._authenticate(transport)
        except BaseException:
            transport.close()
            raise
        if self._keepalive:
            transport.set_keepalive(self._keepalive)
        self.connects += 1
        log.debug("ssh %s: connected (%d connection(s) opened so far)", self.target, self.connects)
        return transport

    def _load_known_hosts(self) -> paramiko.HostKeys:
        import paramiko

        keys = paramiko.HostKeys()
        if self.known_hosts.is_file():
            try:
                keys.load(str(self.known_hosts))
            except (OSError, paramiko.SSHException) as exc:
                raise HostKeyRejected(
                    f"cannot read known_hosts file {self.known_hosts} for SSH host {self.host.name}: {exc}",
                    hint="fix or remove the broken line",
                ) from exc
        return keys

    def _known_algorithms(self, known: paramiko.HostKeys, transport: paramiko.Transport) -> list[str]:
        entry = known.lookup(known_hosts_name(self.host.address, self.host.port))
        if not entry:
            return []
        supported = set(transport.get_security_options().key_types)
        return [alg for kind in entry for alg in _ALGORITHMS_FOR_TYPE.get(kind, (kind,)) if alg in supported]

    def _verify_host_key(self, transport: paramiko.Transport, known: paramiko.HostKeys) -> None:
        h = self.host
        key = transport.get_remote_server_key()
        name = known_hosts_name(h.address, h.port)
        entry = known.lookup(name)
        offered = f"{key.get_name()} {fingerprint(key)}"
        if entry and key.get_name() in entry:
            if entry[key.get_name()] == key:
                return
            raise HostKeyRejected(
                f"SSH host key of {h.name} ({name}) CHANGED: it now offers {offered}, which does not match "
                f"{self.known_hosts} — refused (it may be a reinstalled host, or someone in the middle)",
                hint=f"if the host was reinstalled, verify the fingerprint on its console, then run: "
                f"{remove_line(h, self.known_hosts)} && {keyscan_line(h, self.known_hosts)}",
            )
        if entry:
            kinds = ", ".join(sorted(entry.keys()))
            raise HostKeyRejected(
                f"SSH host {h.name} ({name}) offered a {key.get_name()} key but {self.known_hosts} only "
                f"knows {kinds} — refused",
                hint=f"verify {offered} on the host's console, then run: {keyscan_line(h, self.known_hosts)}",
            )
        if h.accept_new_host_key:
            self._record_host_key(name, key)
            log.warning("ssh %s: recorded new host key %s in %s", h.name, offered, self.known_hosts)
            return
        raise HostKeyRejected(
            f"SSH host key of {h.name} ({name}) is unknown: not in {self.known_hosts} (offered {offered}) — refused",
            hint=f"verify the fingerprint on the host's console, then run: {keyscan_line(h, self.known_hosts)} "
            f"(or set acceptNewHostKey: true for this host)",
        )

    def _record_host_key(self, name: str, key: paramiko.PKey) -> None:
        self.known_hosts.parent.mkdir(parents=True, exist_ok=True)
        line = f"{name} {key.get_name()} {key.get_base64()}\n"
        # Append, never rewrite: the user's other entries (hashed or commented) stay untouched.
        with open(self.known_hosts, "a", encoding="utf-8") as fh:
            fh.write(line)

    def _authenticate(self, transport: paramiko.Transport) -> None:
        import paramiko

        h = self.host
        tried: list[str] = []
        try:
            if h.identity is not None:
                path = Path(h.identity).expanduser()
                try:
                    pkey = paramiko.PKey.from_path(path)
                except FileNotFoundError as exc:
                    raise ConnectionFailed(
                        f"SSH identity file {path} for host {h.name} does not exist",
                        hint="fix `identity` for this host in inventory hosts, or remove it to use ssh-agent",
                    ) from exc
                except paramiko.PasswordRequiredException as exc:
                    raise ConnectionFailed(
                        f"SSH identity file {path} for host {h.name} is passphrase-protected",
                        hint="load it into ssh-agent (ssh-add) and remove `identity` from the host",
                    ) from exc
                except (paramiko.SSHException, ValueError, OSError) as exc:
                    raise ConnectionFailed(f"cannot load SSH identity file {path} for host {h.name}: {exc}") from exc
                tried.append(f"key {path}")
                if self._try_key(transport, pkey):
                    return
            else:
                agent_keys = paramiko.Agent().get_keys()
                tried.append(f"ssh-agent ({len(agent_keys)} key(s))")
                for agent_key in agent_keys:
                    if self._try_key(transport, agent_key):
                        return
            if h.password_file is not None:
                password = self._password_loader(Path(h.password_file))
                MASKER.add(password)
                tried.append(f"password from {h.password_file}")
                try:
                    transport.auth_password(h.user, password.reveal())
                    if transport.is_authenticated():
                        return
                except paramiko.AuthenticationException:
                    pass
        except paramiko.AuthenticationException:
            pass  # refused: reported below with everything that was tried
        except paramiko.SSHException as exc:
            raise _TransientConnectError(f"SSH authentication was interrupted: {exc}") from exc
        raise ConnectionFailed(
            f"SSH authentication as {h.user} on {h.name} ({h.address}:{h.port}) failed; tried {', '.join(tried)}",
            hint=f"add your public key to ~{h.user}/.ssh/authorized_keys on the host, or set `identity` for it "
            "in inventory hosts",
        )

    def _try_key(self, transport: paramiko.Transport, key: paramiko.PKey) -> bool:
        import paramiko

        try:
            transport.auth_publickey(self.host.user, key)
        except paramiko.AuthenticationException:
            return False
        return transport.is_authenticated()

    # -- commands -----------------------------------------------------------------------------

    def _open_channel(self) -> paramiko.Channel:
        import paramiko

        transport = self.connection()
        try:
            return transport.open_session(timeout=self.host.connect_timeout)
        except (paramiko.SSHException, EOFError, OSError) as exc:
            # The pooled transport died between our liveness check and now: nothing ran yet, so one
            # fresh connection is safe.
            log.info("ssh %s: opening a channel failed (%s); reconnecting once", self.target, exc)
            with self._lock:
                if self._transport is transport:
                    transport.close()
                    self._transport = None
            try:
                return self.connection().open_session(timeout=self.host.connect_timeout)
            except (paramiko.SSHException, EOFError, OSError) as again:
                raise ConnectionFailed(
                    f"SSH host {self.host.name} accepted the connection but refused a session: {again}",
                    hint="check sshd's MaxSessions and the host's load",
                ) from again

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
        line = remote_command(argv, env=env, cwd=cwd)
        log.debug("ssh %s: %s", self.target, render(argv))
        start = time.monotonic()
        channel = self._open_channel()
        try:
            out, err, code = self._exchange(channel, line, stdin, timeout, argv)
        finally:
            channel.close()
        result = Result(tuple(argv), code, out, err, time.monotonic() - start, self.target)
        log.debug("ssh %s: exit %d in %.2fs", self.target, code, result.duration)
        return result

    def _exchange(
        self, channel: paramiko.Channel, line: str, stdin: str | None, timeout: float | None, argv: Sequence[str]
    ) -> tuple[str, str, int]:
        deadline = None if timeout is None else time.monotonic() + timeout
        stderr_chunks: list[bytes] = []
        stdout_chunks: list[bytes] = []
        try:
            channel.exec_command(line)
            channel.settimeout(timeout)
            if stdin is not None:
                channel.sendall(stdin.encode())
            channel.shutdown_write()
            # stderr drains in a helper thread so a chatty stderr cannot block stdout (and vice versa).
            stderr_failure: list[BaseException] = []
            reader = threading.Thread(
                target=_drain_quietly,
                args=(channel.recv_stderr, stderr_chunks, deadline, stderr_failure),
                daemon=True,
            )
            reader.start()
            _drain(channel.recv, stdout_chunks, deadline)
            reader.join(None if deadline is None else max(0.0, deadline - time.monotonic()) + 1.0)
            if stderr_failure:
                raise stderr_failure[0]
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not channel.status_event.wait(remaining):
                raise _Timeout
            code = channel.recv_exit_status()
        except (_Timeout, TimeoutError) as exc:
            raise CommandTimeout(
                f"{argv[0]} on {self.target} did not finish within {timeout:g}s: {render(argv)}",
                command=render(argv),
                target=self.target,
                hint="the host may be overloaded or the operation hung; its channel was closed",
            ) from exc
        except (EOFError, OSError) as exc:
            raise self._dropped(argv, exc) from exc
        if code < 0:
            transport = channel.get_transport()
            if transport is None or not transport.is_active():
                raise self._dropped(argv, EOFError("connection closed"))
            # No exit status on a live connection: the remote process died of a signal.
            code = 255
        if code < 0:
            # No exit status: the remote process died of a signal (sshd reports no number for it).
            code = 255
        return (
            b"".join(stdout_chunks).decode(errors="replace"),
            b"".join(stderr_chunks).decode(errors="replace"),
            code,
        )

    def _dropped(self, argv: Sequence[str], exc: BaseException) -> ConnectionFailed:
        return ConnectionFailed(
            f"SSH connection to {self.target} dropped while running {render(argv)}: {exc or type(exc).__name__}",
            hint="the command may or may not have completed on the host; check before re-running it",
        )

    # -- files (SFTP) -----------------------------------------------------------------------------

    def _sftp(self) -> paramiko.SFTPClient:
        import paramiko

        client = paramiko.SFTPClient.from_transport(self.connection())
        if client is None:
            raise ConnectionFailed(f"SSH host {self.host.name} refused the SFTP subsystem")
        return client

    def upload(self, local: str | os.PathLike[str], remote: str) -> None:
        """Copy a local file to ``remote``, creating its directory; written to a temp name then renamed."""
        remote_path = PurePosixPath(remote)
        with self._sftp() as sftp:
            _sftp_makedirs(sftp, str(remote_path.parent))
            partial = f"{remote}.partial"
            sftp.put(str(local), partial)
            # the local file's mode: a 0600 snapshot or VM record stays 0600 on the NAS (SFTP would use umask)
            sftp.chmod(partial, stat.S_IMODE(os.stat(local).st_mode))
            # posix_rename overwrites atomically; plain SFTP rename refuses an existing target.
            sftp.posix_rename(partial, remote)

    def download(self, remote: str, local: str | os.PathLike[str]) -> None:
        with self._sftp() as sftp:
            sftp.get(remote, str(local))

    def listdir(self, remote_dir: str) -> list[RemoteFile]:
        """Entries of a remote directory; an absent directory is empty."""
        with self._sftp() as sftp:
            try:
                attrs = sftp.listdir_attr(remote_dir)
            except FileNotFoundError:
                return []
        return [
            RemoteFile(a.filename, a.st_size or 0, float(a.st_mtime or 0), stat.S_ISDIR(a.st_mode or 0)) for a in attrs
        ]

    def remove(self, remote: str) -> None:
        with self._sftp() as sftp:
            sftp.remove(remote)

    def close(self) -> None:
        with self._lock:
            transport, self._transport = self._transport, None
        if transport is not None:
            transport.close()


class _TransientConnectError(Exception):
    """A connect failure another attempt may fix (refused, timed out, handshake dropped)."""


class _Timeout(Exception):
    pass


def _drain(recv: Callable[[int], bytes], into: list[bytes], deadline: float | None) -> None:
    # recv blocks until data, EOF (b"") or the channel timeout set by the caller's deadline.
    while True:
        if deadline is not None and time.monotonic() > deadline:
            raise _Timeout
        try:
            chunk = recv(_CHUNK)
        except TimeoutError:
            if deadline is None:
                continue
            raise _Timeout from None
        if not chunk:
            return
        into.append(chunk)


def _drain_quietly(
    recv: Callable[[int], bytes], into: list[bytes], deadline: float | None, failure: list[BaseException]
) -> None:
    try:
        _drain(recv, into, deadline)
    except BaseException as exc:  # handed to the caller's thread, which raises it
        failure.append(exc)


def _sftp_makedirs(sftp: paramiko.SFTPClient, directory: str) -> None:
    path = PurePosixPath(directory)
    for parent in [*reversed(path.parents), path]:
        text = str(parent)
        if text in ("/", "."):
            continue
        try:
            sftp.stat(text)
        except FileNotFoundError:
            sftp.mkdir(text)


__all__ = [
    "RemoteFile",
    "SshRunner",
    "fingerprint",
    "keyscan_line",
    "known_hosts_name",
    "known_hosts_path",
    "remote_command",
    "remove_line",
]
