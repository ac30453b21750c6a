"""Issue 17 §7: the runbook's lines, executed exactly as printed against the simulator.

Each test renders `inv dr.runbook` for a sim, breaks the disaster, then runs the preflight and one
scenario's code blocks in order with bash from the inventory directory (tests/dr/runbook_shell.py): every
step's lines must exit 0 (retried while the sim's clock moves, as a person retries), and every Verify
block must pass before the next step. The cluster must then be back.
"""

from __future__ import annotations

import re
from pathlib import Path

from invoke.context import Context

from homeops.inventory.loader import load_inventory
from homeops.sim import faults as sim_faults
from homeops.sim.backups import lose_the_vms
from homeops.tasks import dr as dr_tasks

from .drsim import DrSim
from .runbook_shell import Block, RunbookShell, blocks, sections


def render(drsim: DrSim) -> str:
    target = drsim.root / "RUNBOOK.md"
    dr_tasks.runbook(Context(), inventory=str(drsim.root), output=str(target))
    return target.read_text()


def preflight(shell: RunbookShell, text: str) -> None:
    part = sections(text)["Before any scenario: preflight (changes nothing)"]
    (assignment,) = re.findall(r"^SNAPSHOT=(\S+)$", part, flags=re.M)
    shell.set("SNAPSHOT", assignment)
    for block in blocks(part):
        for line in block.lines:
            if line.startswith("SNAPSHOT="):
                continue
            ran = shell.run(line)
            assert ran.code == 0, (block.heading, line, ran.err[-500:])
            if "validate" in line:
                assert ran.out.endswith("is valid for metal mode\n"), ran.out


def follow(shell: RunbookShell, part: str, *, stop: str | None = None) -> list[Block]:
    """Every step of a scenario: its lines (retried while the sim's time moves), then its Verify lines."""
    done = []
    saved = "snapshot"
    for block in blocks(part):
        if stop and block.heading.startswith(stop):
            break
        lines = list(block.lines)
        if block.kind == "do" and "Last-chance etcd copy" in block.heading:
            # "one snapshot is enough: run the first line; only if it fails, the next"; the raw db only if all failed
            snaps = [ln for ln in lines if " etcd snapshot " in ln]
            if not any(shell.run(line).code == 0 for line in snaps):
                saved = "raw"
                for line in (ln for ln in lines if " cp " in ln or ln.startswith("mkdir ")):
                    assert shell.run(line).code == 0, line
            done.append(block)
            continue
        if block.kind == "do" and "Restore etcd" in block.heading:
            lines = [ln for ln in lines if ("--recover-skip-hash-check" in ln) == (saved == "raw")][:1]
        for line in lines:
            if re.search(r"'qm (stop|destroy) ", line) or (line.startswith("ssh") and "ha-manager set" in line):
                ran = shell.run(line)  # "does not exist: go on with qm create", as the step says
                assert ran.code == 0 or "does not exist" in ran.err, (line, ran.err)
                continue
            if block.kind == "verify":
                shell.until(line, _expect(block, line))
            else:
                shell.until(line, step=10.0, tries=30)
        done.append(block)
    return done


def _expect(block: Block, line: str) -> object:
    if "service etcd" in line and "EPHEMERAL" in block.heading:
        return lambda ran: "Preparing" in ran.out
    if "service etcd" in line or "etcd members" in line:
        return lambda ran: "Running" in ran.out or "LEARNER" in ran.out
    if "machinestatus" in line and "--insecure" in line:
        return lambda ran: '"maintenance"' in ran.out
    return None


def test_quorum_lost_runbook_lines_run_and_restore_etcd(drsim: DrSim, tmp_path: Path) -> None:
    drsim.snapshot()
    text = render(drsim)
    with drsim.store.transaction() as state:
        for cp in ("k8s-1", "k8s-2"):
            sim_faults.inject(state, "etcd-unhealthy", cp)
    shell = RunbookShell(load_inventory(drsim.root), drsim.store, tmp_path)
    for line in blocks(sections(text)["Which scenario is this?"])[0].lines:  # look first: read-only, all parse
        ran = shell.run(line)
        assert ran.code != 127 and "unknown flag" not in ran.err and "Usage" not in ran.err, (line, ran.err)
    preflight(shell, text)
    steps = follow(shell, sections(text)["Quorum lost"])
    assert [b.heading for b in steps if b.kind == "do"][:2] == [
        "1. Last-chance etcd copy: a snapshot from a surviving member (the first that answers), else its raw db "
        "(restored with --recover-skip-hash-check)",
        "2. POINT OF NO RETURN — reset k8s-0 (10.10.0.20): EPHEMERAL only (STATE keeps its config and PKI)",
    ]
    state = drsim.store.read(include_log=False)
    assert sorted(state["etcd"]["members"]) == ["k8s-0", "k8s-1", "k8s-2"]
    assert all(m.get("healthy", True) for m in state["etcd"]["members"].values())
    sent = [e["argv"] for e in drsim.store.log() if e["tool"] == "talosctl" and "reset" in e["argv"]]
    assert len(sent) == 3 and all("EPHEMERAL" in argv for argv in sent)  # control planes only, EPHEMERAL only
    assert not [r for r in shell.ran if r.code == 127]


def test_all_vms_lost_runbook_recreates_the_vms_as_recorded_and_restores_etcd(drsim: DrSim, tmp_path: Path) -> None:
    from homeops.adapters import proxmox as pve

    drsim.snapshot()
    recorded = {
        vmid: dict(vm["config"])
        for host in drsim.store.read(include_log=False)["pve"]["hosts"].values()
        for vmid, vm in host["vms"].items()
        if int(vmid) >= 200
    }
    text = render(drsim)
    for path in drsim.snapshots.iterdir():
        path.unlink()  # the machine with the local copies went too: the runbook fetches them from the NAS
    with drsim.store.transaction() as state:
        lose_the_vms(state)
    shell = RunbookShell(load_inventory(drsim.root), drsim.store, tmp_path)
    preflight(shell, text)
    part = sections(text)["All VMs lost"]
    part = (
        part.split("First, once per Proxmox host", 1)[0] + part.split("```", 2)[2]
    )  # the ISO download needs the internet
    follow(shell, part, stop="17.")  # nodes, configs applied, etcd, kubeconfig, API: the apps are helmfile's
    state = drsim.store.read(include_log=False)
    assert sorted(state["etcd"]["members"]) == ["k8s-0", "k8s-1", "k8s-2"]
    assert all(n["stage"] == "running" for n in state["nodes"].values())

    def live() -> dict[str, dict[str, str]]:
        hosts = drsim.store.read(include_log=False)["pve"]["hosts"].values()
        return {vmid: h["vms"][vmid]["config"] for h in hosts for vmid in h["vms"] if vmid in recorded}

    def drift() -> dict[str, list[str]]:
        return {vmid: pve.vm_drift(recorded[vmid], config) for vmid, config in live().items()}

    # installed, the VMs still have the ISO in, the second boot device: only the boot order differs
    assert {vmid: [d.split(":")[0] for d in lines] for vmid, lines in drift().items()} == {
        v: ["boot"] for v in recorded
    }
    assert all(c["ide2"].startswith("local:iso/talos-") for c in live().values())
    finishing = [b for b in blocks(part) if "detach the Talos ISO" in b.heading]
    assert len(finishing) == 12  # each VM: its commands, its Verify
    follow(shell, "\n".join(f"### {b.heading}\n\n```sh\n" + "\n".join(b.lines) + "\n```" for b in finishing))
    assert drift() == {vmid: [] for vmid in recorded}  # every field as recorded
    assert all(c["ide2"] == "none,media=cdrom" for c in live().values())  # the ISO detached
