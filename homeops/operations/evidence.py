"""Failure evidence: when a node step fails, what the node said, encrypted into the run folder.

``talosctl support`` (its zip: service logs, resources, kernel log), ``get machinestatus`` and the
tail of ``dmesg`` for the failed node, packed into one tar and encrypted with age to the inventory's
recipients (the age recipients of its ``.sops.yaml``): the bundle holds secrets-adjacent material
(machine config fragments, logs) and is meant to be attached to an issue only by its owner.
Best effort by design: a node that is down answers nothing, and that is written down too.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from homeops.adapters.talosctl import Talosctl
from homeops.engine.text import one_line
from homeops.errors import HomeopsError
from homeops.inventory.model import Inventory, Node
from homeops.privatefs import make_private
from homeops.runners import Result, Runner

DMESG_TAIL = 200  # lines


@dataclass(frozen=True)
class Evidence:
    node: str
    path: Path
    members: tuple[str, ...]  # what the bundle holds
    missing: tuple[str, ...]  # what the node did not give, and why


def recipients(inventory: Inventory) -> tuple[str, ...]:
    """Every age recipient of the inventory's ``.sops.yaml`` rules (empty: none configured)."""
    from homeops.sops.rules import parse_config

    path = inventory.cluster.sops_config
    if path is None or not path.is_file():
        return ()
    config = parse_config(path, path.read_text())
    return tuple(dict.fromkeys(r for rule in config.rules for r in rule.age))


def collect(
    run: Callable[[list[str], float], Result],
    tctl: Talosctl,
    node: Node,
    run_dir: Path,
    age_recipients: tuple[str, ...],
    *,
    reason: str,
) -> Evidence:
    """Gather, pack and encrypt one node's evidence into ``run_dir/evidence-<node>.tar.age``."""
    import pyrage

    members: dict[str, bytes] = {"reason.txt": (reason + "\n").encode()}
    missing: list[str] = []

    def attempt(name: str, argv: list[str], timeout: float) -> Result | None:
        try:
            result = run(argv, timeout)
        except HomeopsError as exc:
            missing.append(f"{name}: {one_line(exc, 200)}")
            return None
        if not result.ok:
            missing.append(f"{name}: {result.last_error_line()[:200]}")
            return None
        return result

    with tempfile.TemporaryDirectory(prefix="homeops-support-") as tmp:
        archive = Path(tmp) / "support.zip"
        if attempt("support.zip", tctl.support(node.ip, archive), 300) is not None and archive.is_file():
            members["support.zip"] = archive.read_bytes()
        elif "support.zip" not in " ".join(missing):
            missing.append("support.zip: talosctl wrote no archive")
    status = attempt("machinestatus.yaml", tctl.get("machinestatus", node.ip, output="yaml"), 30)
    if status is not None:
        members["machinestatus.yaml"] = status.stdout.encode()
    dmesg = attempt("dmesg-tail.txt", tctl.dmesg(node.ip), 60)
    if dmesg is not None:
        members["dmesg-tail.txt"] = "\n".join(dmesg.stdout.splitlines()[-DMESG_TAIL:]).encode() + b"\n"
    if missing:
        members["missing.txt"] = ("\n".join(missing) + "\n").encode()

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{node.hostname}/{name}")
            info.size, info.mtime, info.mode = len(data), int(time.time()), 0o600
            tar.addfile(info, io.BytesIO(data))
    keys = [pyrage.x25519.Recipient.from_str(r) for r in age_recipients]
    path = run_dir / f"evidence-{node.hostname}.tar.gz.age"
    path.write_bytes(pyrage.encrypt(buffer.getvalue(), keys))
    make_private(path)
    return Evidence(node.hostname, path, tuple(members), tuple(missing))


def local_run(runner: Runner) -> Callable[[list[str], float], Result]:
    return lambda argv, timeout: runner.run(argv, timeout=timeout)
