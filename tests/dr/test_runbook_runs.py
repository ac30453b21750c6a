"""Issue 17 §7: the runbook's lines, executed exactly as printed against the simulator.

Each test renders `inv dr.runbook` for a sim, breaks the disaster, then runs the preflight and one
scenario's code blocks in order with bash from the inventory directory (tests/dr/runbook_shell.py): every
step's lines must exit 0 (retried while the sim's clock moves, as a person retries), and every Verify
block must pass before the next step. The cluster must then be back.
"""

from __future__ import annotations

import io
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
    if "etcd members" in line and ("Restore etcd" in block.heading or "Bootstrap etcd" in block.heading):
        return lambda ran: all(f" {cp} " in ran.out for cp in ("k8s-0", "k8s-1", "k8s-2"))  # every control plane
    if "service etcd" in line:
        return lambda ran: "Running" in ran.out
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
    assert [b.heading for b in steps if b.kind == "do" and b.heading][:2] == [
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


def code_lines(text: str) -> list[str]:
    return [line for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S) for line in block.splitlines()]


def test_runbook_holds_what_a_person_needs_at_3am(drsim: DrSim) -> None:
    """The issue 17 §7 list, on the rendered text: the scenario table, exact commands (working directory,
    --secret-file/--env-file, SOPS_AGE_KEY_FILE, one namespace per command, no <…>), each step with an expected
    duration and a command that verifies it, configs rendered and checked before any wipe, the point of no return."""
    drsim.snapshot()
    text = render(drsim)
    table = sections(text)["Which scenario is this?"]
    for scenario, model in (
        ("One node lost", "node replacement"),
        ("Quorum lost", "etcd-restore"),
        ("All VMs lost", "fresh"),
        ("NAS lost", "none"),
    ):
        assert re.search(rf"\| {scenario} \| [^|]*{model}", table), scenario
    lines = code_lines(text)
    assert not [ln for ln in lines if re.search(r"<[^>]*>", ln.replace("2>&1", "").replace(">/dev/null", ""))]
    (genconfig,) = [ln for ln in lines if "talhelper genconfig" in ln]
    assert genconfig.startswith(
        "(cd talos && SOPS_AGE_KEY_FILE=../age.key talhelper genconfig --config-file talconfig.yaml"
    )
    assert "--secret-file talsecret.sops.yaml" in genconfig and "--env-file talenv.yaml" in genconfig
    namespaces = [ln for ln in lines if ln.startswith("kubectl create namespace")]
    assert namespaces and all(ln.count("create namespace") == 1 for ln in namespaces)
    secrets = [ln for ln in lines if "sops --decrypt bootstrap/" in ln]
    assert secrets and all(ln.startswith("SOPS_AGE_KEY_FILE=age.key sops") and "--namespace " in ln for ln in secrets)
    for title, body in sections(text).items():
        steps = re.split(r"^###+ ", body, flags=re.M)[1:]
        for step in steps:
            heading = step.splitlines()[0]
            if not re.match(r"\d+\. ", heading) or title.startswith("One node"):
                continue
            assert "\nExpected: " in step, (title, heading)
            verify = step.split("\nVerify:", 1)
            assert len(verify) == 2 and "```sh\n" in verify[1], (title, heading)
    for title in ("Quorum lost", "All VMs lost", "Every node broken, the machines still there"):
        body = sections(text)[title]
        marker = body.index("**POINT OF NO RETURN.**")
        first_wipe = min(body.index(w) for w in ("reset --talosconfig", "'qm destroy", "'qm stop") if w in body)
        assert marker < first_wipe, title
    preflight = text.index("## Before any scenario")
    assert text.index("talhelper genconfig") > preflight
    assert text.index("talhelper genconfig") < min(text.index(f"## {t}") for t in ("Quorum lost", "All VMs lost"))
    assert "```sh\n```" not in text


def test_bare_metal_runbook_has_no_vm_scenario_and_no_empty_block(drsim: DrSim) -> None:
    """Issue 22 §3 (cosmetic): a bare-metal inventory's runbook printed an empty ISO code block."""
    for i in range(6):
        mac = f"BC:24:11:00:00:{0xC8 + i:02X}"
        drsim.edit(
            f'  k8s-{i}: {{ vm: {{ host: pve{i % 3 + 1}, vmid: {200 + i}, mac: "{mac}", disk: local-lvm:64 }} }}\n', ""
        )
    text = render(drsim)
    assert "```sh\n```" not in text
    assert "All VMs lost" not in text and "qm create" not in text
    assert "## Every node broken, the machines still there" in text and "## Quorum lost" in text
    assert "| k8s-0 | controlplane | 10.10.0.20 | bare metal |" in text


def test_expected_durations_come_from_the_plan_and_the_last_rehearsal(drsim: DrSim) -> None:
    from homeops.app.workflows import rehearse

    rehearse(drsim.root, scenario="quorum-lost", out=io.StringIO())
    text = render(drsim)
    body = sections(text)["Quorum lost"]
    assert "Step times marked *rehearsed* are from the last `inv dr.rehearse` (etcd-restore, run " in body
    reset = body.split("### 2. ", 1)[1].split("### 3. ", 1)[0]
    assert re.search(r"Expected: \d+ (s|min) \(rehearsed\); at most 15 min \(plan budget\)\.", reset), reset[:300]


def test_one_control_plane_lost_runbook_replaces_it(drsim: DrSim, tmp_path: Path) -> None:
    """The node-replacement section for k8s-2 (its VM gone, etcd keeps quorum): its member removed with the
    printed pipeline, its VM recreated as recorded, its config applied; it joins etcd again by itself."""
    drsim.snapshot()
    text = render(drsim)
    with drsim.store.transaction() as state:
        state["pve"]["hosts"]["pve3"]["vms"].pop("202")
    drsim.advance(60)
    shell = RunbookShell(load_inventory(drsim.root), drsim.store, tmp_path)
    preflight(shell, text)
    part = sections(text)["One node lost"].split("### k8s-2 ", 1)[1].split("\n### ", 1)[0]
    steps = [b for b in blocks(part) if not b.heading.startswith("3. If the node (VM) still runs")]
    for block in steps:
        for line in block.lines:
            if re.search(r"'qm (stop|destroy) ", line):
                assert shell.run(line).code != 0  # gone already: "does not exist", go on
            elif block.kind == "verify" and "etcd member (ask" in block.heading:
                shell.until(line, lambda ran: " k8s-2 " not in ran.out)
            elif block.kind == "verify" and "machinestatus" in line and "--insecure" in line:
                shell.until(line, lambda ran: '"maintenance"' in ran.out)
            elif block.kind == "verify" and "etcd members" in line:
                shell.until(line, lambda ran: " k8s-2 " in ran.out)
            else:
                shell.until(line, step=10.0, tries=60)
    state = drsim.store.read(include_log=False)
    assert sorted(state["etcd"]["members"]) == ["k8s-0", "k8s-1", "k8s-2"]
    assert state["nodes"]["k8s-2"]["stage"] == "running"
    assert state["pve"]["hosts"]["pve3"]["vms"]["202"]["config"]["ide2"] == "none,media=cdrom"
    removed = [e for e in drsim.store.log() if e["tool"] == "talosctl" and "remove-member" in e["argv"]]
    assert len(removed) == 1 and re.fullmatch(r"[0-9a-f]{16}", removed[0]["argv"][3])


def test_the_scenario_runbook_prints_every_command_of_dr_rebuilds_plans(drsim: DrSim) -> None:
    """Still rendered from the same plans as the dry run: each plan's every command is in the text, in order
    (genconfig excepted: the plan's step feeds talhelper decrypted temp files, the runbook prints the
    runnable form in the preflight, before anything is wiped)."""
    from homeops.operations.dr import runbook_plans
    from homeops.operations.runbook import Action, command_line, render_scenarios, runbook_facts

    drsim.snapshot()
    with drsim.runtime() as rt:
        plans = runbook_plans(rt)
        text = render_scenarios(rt.inventory, plans, runbook_facts(rt.inventory))
    titles = {
        "etcd-restore": "Quorum lost",
        "recreate": "All VMs lost",
        "reset": "Every node broken, the machines still there",
    }
    for variant, plan in plans.items():
        body = sections(text)[titles[variant]]
        position = 0
        for step in plan.steps:
            for command in step.commands:
                if step.action == "bootstrap-genconfig":
                    continue
                # the last-chance copy's render-time stamp is printed as $STAMP, set when the section is run
                argv = tuple(re.sub(r"-\d{8}T\d{6}Z-(last-chance|raw)", r"-$STAMP-\1", a) for a in command.argv)
                line = command_line(rt.inventory, Action(argv, None if command.on == "local" else command.on))
                found = body.find(line, position)
                assert found >= 0, (variant, step.id, line)
                position = found


def test_an_ha_managed_vm_in_the_runbook_is_stopped_through_ha_and_waited_for(drsim: DrSim, tmp_path: Path) -> None:
    from homeops.adapters import proxmox as pve

    with drsim.runtime() as rt:
        pve.check(rt.host("pve2").run(["ha-manager", "add", "vm:201", "--max_restart", "2"]))
    drsim.snapshot()
    text = render(drsim)
    body = sections(text)["All VMs lost"]
    stop = "ssh root@10.10.0.3 'ha-manager set vm:201 --state stopped'"
    wait = """ssh root@10.10.0.3 'until qm status 201 | grep -q "status: stopped"; do sleep 5; done'"""
    assert stop in body and "qm stop 201" not in body
    assert body.index(wait) > body.index(stop) and body.index("'qm destroy 201 --purge'") > body.index(wait)
    assert "ssh root@10.10.0.3 'ha-manager add vm:201 --state started --max_restart 2'" in body
    shell = RunbookShell(load_inventory(drsim.root), drsim.store, tmp_path)
    for line in (stop, wait):
        assert shell.run(line).code == 0, line  # the wait returns once the HA stack stopped the VM
    assert drsim.store.read(include_log=False)["pve"]["hosts"]["pve2"]["vms"]["201"]["status"] == "stopped"


def test_the_last_chance_copy_is_named_when_the_runbook_is_run_not_when_it_was_written(drsim: DrSim) -> None:
    """At 3 a.m. on another day the file names must be that night's: one $STAMP set at the top of the section."""
    part = sections(render(drsim))["Quorum lost"]
    assert not re.search(r"\d{8}T\d{6}Z-(last-chance|raw)", part), "a render-time stamp in a command"
    lines = [line for block in blocks(part) for line in block.lines]
    first = next(i for i, line in enumerate(lines) if "$STAMP" in line)
    assert lines[:first].count("STAMP=$(date -u +%Y%m%dT%H%M%SZ)   # once, now: names this recovery's last-chance copy")
    assert not any(line.startswith("STAMP=") for line in lines[first:])  # set once
    assert any("-$STAMP-last-chance.db" in line and " etcd snapshot " in line for line in lines)
    assert any("-$STAMP-raw/db" in line and "--recover-skip-hash-check" in line for line in lines)
