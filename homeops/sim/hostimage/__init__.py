"""The simulator's SSH host image, built locally from Debian packages (no registry is ever pulled).

The image is generic: Debian bookworm with OpenSSH and python3, sshd set up for key-only root
login. Everything host-specific arrives at container start (see ``homeops.sim.containers``): the
shims and their logic are mounted read-only from this checkout, the sim state directory is mounted
read-write, and the entrypoint writes the authorized key and generates fresh host keys — so two
containers never share a host key, which is what the "host key changed" tests rely on.

``python -m homeops.sim.hostimage ensure`` builds the image only when its tag is missing:

1. ``debootstrap --variant=minbase --include=openssh-server,python3 bookworm ROOTFS`` (cached as a
   tarball under ``~/.cache/homeops`` so a rebuild after ``docker rmi`` takes seconds);
2. the entrypoint and sshd settings are written into the rootfs;
3. ``tar -C ROOTFS -c . | docker import --change CMD… - TAG``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("openssh-server", "python3")

#: Where the container finds things; containers.py mounts to these paths.
SIM_LIB_MOUNT = "/opt/homeops/sim"
STATE_MOUNT = "/var/lib/homeops-sim"
HOST_FILE = "/etc/homeops/sim-host"
SHIMS = ("qm", "pvecm", "pvesh", "zpool", "midclt", "showmount")

SSHD_CONFIG = """\
# homeops sim host: key-only root login, nothing else.
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
PrintMotd no
UseDNS no
MaxSessions 64
MaxStartups 100:30:200
"""

ENTRYPOINT = f"""\
#!/bin/sh
# homeops sim host entrypoint: a host key, the injected client key, the host's identity, sshd.
set -eu
# A new container gets a new key; a restarted one keeps its key, like a rebooted host.
[ -f /etc/ssh/ssh_host_ed25519_key ] || ssh-keygen -q -t ed25519 -N '' -f /etc/ssh/ssh_host_ed25519_key
mkdir -p /root/.ssh /etc/homeops /run/sshd
chmod 700 /root/.ssh
printf '%s\\n' "${{HOMEOPS_AUTHORIZED_KEY:?HOMEOPS_AUTHORIZED_KEY is required}}" > /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
printf '%s\\n' "${{HOMEOPS_SIM_HOST:-host}}" > {HOST_FILE}
exec /usr/sbin/sshd -D -e
"""

# Each shim on PATH execs the mounted script, so shim changes in the checkout need no rebuild.
# -S: the shims are stdlib only, and skipping site setup saves startup time on every call.
SHIM_WRAPPER = """\
#!/bin/sh
exec /usr/bin/python3 -S {lib}/hostbin/{name} "$@"
"""


def _recipe_digest() -> str:
    text = "\n".join((SUITE, *PACKAGES, SSHD_CONFIG, ENTRYPOINT, SHIM_WRAPPER, SIM_LIB_MOUNT))
    return hashlib.sha256(text.encode()).hexdigest()[:10]


#: The tag changes whenever the recipe does, so a stale image is never reused.
IMAGE = f"homeops-sim-host:{SUITE}-{_recipe_digest()}"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "homeops"


@dataclass(frozen=True)
class Step:
    what: str
    argv: tuple[str, ...]


def image_present(tag: str = IMAGE, run: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run) -> bool:
    proc = run(["docker", "image", "inspect", tag], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return proc.returncode == 0


def _say(message: str) -> None:
    print(f"homeops.sim.hostimage: {message}", file=sys.stderr, flush=True)


def _check(argv: Sequence[str], **kwargs: object) -> None:
    _say("$ " + " ".join(argv))
    subprocess.run(list(argv), check=True, **kwargs)  # type: ignore[call-overload]


def _rootfs_tarball() -> Path:
    """The plain debootstrap result, cached; built once per machine."""
    tarball = cache_dir() / f"rootfs-{SUITE}-{'-'.join(PACKAGES)}.tar"
    if tarball.is_file():
        _say(f"using cached rootfs {tarball}")
        return tarball
    if shutil.which("debootstrap") is None:
        raise SystemExit("homeops.sim.hostimage: debootstrap is missing (apt-get install debootstrap)")
    tarball.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="homeops-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _check(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(rootfs), MIRROR],
            stdout=subprocess.DEVNULL,
        )
        # apt caches and docs are dead weight in a test image.
        for junk in ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        partial = tarball.with_suffix(".partial")
        _check(["tar", "-C", str(rootfs), "-cf", str(partial), "."])
        partial.replace(tarball)
    return tarball


def _write(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def build(tag: str = IMAGE) -> None:
    tarball = _rootfs_tarball()
    with tempfile.TemporaryDirectory(prefix="homeops-image-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        rootfs.mkdir()
        _check(["tar", "-C", str(rootfs), "-xf", str(tarball)])
        _write(rootfs / "etc/ssh/sshd_config.d/homeops.conf", SSHD_CONFIG, 0o644)
        _write(rootfs / "usr/local/sbin/homeops-entrypoint", ENTRYPOINT, 0o755)
        for name in SHIMS:
            _write(rootfs / "usr/local/bin" / name, SHIM_WRAPPER.format(lib=SIM_LIB_MOUNT, name=name), 0o755)
        for key in (rootfs / "etc/ssh").glob("ssh_host_*"):
            key.unlink()  # never bake a host key into the image
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        _say(f"$ tar -C ROOTFS -c . | docker import … - {tag}")
        subprocess.run(
            [
                "docker",
                "import",
                "--change",
                'CMD ["/usr/local/sbin/homeops-entrypoint"]',
                "--change",
                "EXPOSE 22",
                "-",
                tag,
            ],
            stdin=tar.stdout,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        if tar.stdout is not None:
            tar.stdout.close()
        if tar.wait() != 0:
            raise SystemExit("homeops.sim.hostimage: tar of the rootfs failed")


def ensure(tag: str = IMAGE) -> bool:
    """Build the image unless present; True when it was built now.

    One build at a time on this machine (parallel test workers, two shells): the others wait for it
    and then find the image present.
    """
    if image_present(tag):
        _say(f"image {tag} present")
        return False
    lock_path = Path(tempfile.gettempdir()) / f"homeops-hostimage-{tag.replace(':', '-').replace('/', '-')}.lock"
    with open(lock_path, "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        if image_present(tag):
            _say(f"image {tag} present (built meanwhile by another process)")
            return False
        _say(f"image {tag} missing: building it from Debian packages (about a minute the first time)")
        build(tag)
    _say(f"image {tag} built")
    return True


__all__ = ["HOST_FILE", "IMAGE", "SHIMS", "SIM_LIB_MOUNT", "STATE_MOUNT", "build", "ensure", "image_present"]
