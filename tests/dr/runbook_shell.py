"""Run a runbook's lines as a person would: bash in the inventory directory, against the simulator.

The sim's tools (talosctl, talhelper, kubectl, helmfile, flux) are its bin directory; ``ssh``/``scp`` are
stand-ins that run the Proxmox/TrueNAS shims as the host the address names (paths under the host's
simulated filesystem), and ``sops`` decrypts with homeops' own SOPS code (no Go sops on this machine).
Nothing else is faked: a line that does not parse, names a wrong file or lacks a flag fails here too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from homeops.inventory.model import Inventory
from homeops.sim.clock import advance_virtual
from homeops.sim.store import SimStore

HOSTBIN = Path(__file__).resolve().parents[2] / "homeops" / "sim" / "hostbin"

SSH = """#!{python}
import os, subprocess, sys
HOSTS = {hosts}
args = sys.argv[1:]
if args[0] == "-p":
    args = args[2:]
name = HOSTS[args[0].split("@", 1)[1]]
root = os.path.join({sim!r}, "hostfs", name)
command = args[1]
for prefix in ("/mnt/", "/var/lib/vz/"):
    command = command.replace(" " + prefix, " " + root + prefix)
env = dict(os.environ, HOMEOPS_SIM_HOST=name, HOMEOPS_SIM_DIR={sim!r})
env["PATH"] = {remote!r} + os.pathsep + env["PATH"]
sys.exit(subprocess.call(["bash", "-c", command], env=env))
"""

SHIM = """#!/bin/sh
exec {python} -S {hostbin}/{name} "$@"
"""

SLEEP = """#!{python}
import sys
from homeops.sim.clock import advance_virtual
from homeops.sim.store import SimStore
advance_virtual(SimStore({sim!r}), float(sys.argv[1]))
"""

SCP = """#!{python}
import os, shutil, sys
HOSTS = {hosts}
args = sys.argv[1:]
if args[0] == "-P":
    args = args[2:]
*sources, target = args
for source in sources:
    remote, _, path = source.partition(":")
    name = HOSTS[remote.split("@", 1)[1]]
    local = os.path.join({sim!r}, "hostfs", name, path.lstrip("/"))
    if not os.path.isfile(local):
        sys.exit(f"scp: {{path}}: No such file or directory")
    shutil.copy(local, os.path.join(target, os.path.basename(path)) if os.path.isdir(target) else target)
"""

SOPS = """#!{python}
import os, sys
from pathlib import Path
from homeops.sops.api import decrypt_to_bytes
args = sys.argv[1:]
out = None
if "--output" in args:
    i = args.index("--output")
    out = args[i + 1]
    del args[i:i + 2]
args = [a for a in args if a not in ("--decrypt", "-d")]
key = os.environ.get("SOPS_AGE_KEY_FILE")
data = decrypt_to_bytes(args[0], age_key_file=Path(key) if key else None)
if out:
    Path(out).write_bytes(data)
else:
    sys.stdout.buffer.write(data)
"""


@dataclass
class Ran:
    line: str
    code: int
    out: str
    err: str


class RunbookShell:
    def __init__(self, inventory: Inventory, store: SimStore, work: Path) -> None:
        self.inventory = inventory
        self.store = store
        self.bin = work / "fakebin"
        self.bin.mkdir(parents=True, exist_ok=True)
        hosts = json.dumps({h.address: h.name for h in inventory.hosts})
        shims = ("qm", "pvecm", "pvesh", "ha-manager", "zpool", "midclt", "showmount")
        remote = work / "remotebin"  # a Proxmox/TrueNAS host's PATH: its shims
        remote.mkdir(parents=True, exist_ok=True)
        values = {"python": sys.executable, "hosts": hosts, "sim": str(store.dir), "hostbin": str(HOSTBIN)}
        values["remote"] = str(remote)
        # sleep moves the sim's virtual clock: a wait loop in a line waits in simulated time
        for name, text in (("ssh", SSH), ("scp", SCP), ("sops", SOPS), ("sleep", SLEEP)):
            path = self.bin / name
            path.write_text(text.format(**values))
            path.chmod(0o755)
        for name in shims:
            path = remote / name
            path.write_text(SHIM.format(name=name, **values))
            path.chmod(0o755)
        self.env = {
            **os.environ,
            "PATH": f"{self.bin}{os.pathsep}{store.dir / 'bin'}{os.pathsep}{os.environ['PATH']}",
            "HOMEOPS_SIM_DIR": str(store.dir),
        }
        self.ran: list[Ran] = []

    def run(self, line: str) -> Ran:
        assignment = re.fullmatch(r"([A-Z_][A-Z0-9_]*)=\S+(\s+#.*)?", line)
        if assignment:  # `STAMP=$(date …)`: a person's shell keeps it for the lines after
            name = assignment.group(1)
            line = f'{line}\nprintf %s "${name}"'
        proc = subprocess.run(
            ["bash", "-c", line], cwd=self.inventory.root, env=self.env, capture_output=True, text=True, timeout=120
        )
        ran = Ran(line, proc.returncode, proc.stdout, proc.stderr)
        if assignment and proc.returncode == 0:
            self.set(assignment.group(1), proc.stdout)
        self.ran.append(ran)
        return ran

    def until(self, line: str, ok: object = None, *, step: float = 15.0, tries: int = 80) -> Ran:
        """Run ``line`` until it exits 0 (and ``ok(ran)`` holds), the sim's clock moving ``step`` s between tries:
        what a person does with a Verify line."""
        for _ in range(tries):
            ran = self.run(line)
            if ran.code == 0 and (ok is None or ok(ran)):  # type: ignore[operator]
                return ran
            advance_virtual(self.store, step)
        raise AssertionError(f"never succeeded: {line}\n{ran.out[-800:]}\n{ran.err[-800:]}")

    def set(self, name: str, value: str) -> None:
        self.env[name] = value


@dataclass(frozen=True)
class Block:
    heading: str
    kind: str  # "do" (the step's commands) or "verify"
    lines: tuple[str, ...]


def sections(text: str) -> dict[str, str]:
    """The runbook's ``## `` sections by title."""
    out: dict[str, str] = {}
    for part in re.split(r"^## ", text, flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        out[title.strip()] = body
    return out


def blocks(section: str) -> list[Block]:
    """Each ``###`` step's code blocks, in order: the first is what to do, the one after ``Verify:`` checks it."""
    out: list[Block] = []
    heading = ""
    kind = "do"
    lines: list[str] = []
    inside = False
    for raw in section.splitlines():
        if raw.startswith("#") and not inside:
            heading, kind = raw.lstrip("# ").strip(), "do"
            continue
        if raw.startswith("Verify:"):
            kind = "verify"
        if raw.startswith("```"):
            if inside:
                out.append(Block(heading, kind, tuple(line for line in lines if not line.startswith("#"))))
                lines = []
            inside = not inside
            continue
        if inside:
            lines.append(raw)
    return out
