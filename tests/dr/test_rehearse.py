"""dr.rehearse / dr.rebuild end to end on the simulated example cluster (fake tools in-process for speed).

Each scenario writes known data into every volume and database, lets the hourly backup take it, then
breaks the cluster: all VMs lost (fresh: VMs recreated, a new etcd, the apps, restores proven),
quorum lost (etcd-restore from a last-chance copy), the NAS lost or one node lost (both refused: no
rebuild is needed). Faults and kills show where it stops and how it resumes.
"""

from __future__ import annotations

import io
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

import homeops.app.backend
import homeops.runtime
from homeops.app.workflows import rehearse, run_rebuild
from homeops.errors import PlanError
from homeops.runners import Result
from homeops.sim import faults
from homeops.sim.rehearsal import Rehearsal
from homeops.sim.runner import SimRunner
from homeops.sim.store import SimStore

REPO = Path(__file__).resolve().parents[2]
SNAPSHOT_REVISION = 4193  # the example sim's etcd revision when the snapshot is taken


class Crash:
    """Raise KeyboardInterrupt (the engine's SIGKILL stand-in) right after a matching command ran."""

    def __init__(self) -> None:
        self.words: tuple[str, ...] | None = None
        self.skip = 0

    def after(self, *words: str, skip: int = 0) -> None:
        self.words, self.skip = words, skip

    def check(self, argv: Sequence[str]) -> None:
        if self.words and all(w in argv for w in self.words):
            if self.skip:  # an earlier one (the drill's own look) is not the one to kill at
                self.skip -= 1
                return
            self.words = None
            raise KeyboardInterrupt


class Hooked:
    def __init__(self, inner: Any, crash: Crash) -> None:
        self.inner, self.crash, self.target = inner, crash, getattr(inner, "target", None)

    def run(self, argv: Sequence[str], **kw: Any) -> Result:
        result: Result = self.inner.run(argv, **kw)
        self.crash.check(argv)
        return result

    def __getattr__(self, name: str) -> Any:  # upload/download/listdir/remove of the host runners
        return getattr(self.inner, name)

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def crash(monkeypatch: pytest.MonkeyPatch) -> Crash:
    hook = Crash()
    real = homeops.app.backend.open_runtime

    def open_runtime(directory: object, **kw: Any) -> homeops.runtime.Runtime:
        rt = real(directory, **kw)  # type: ignore[arg-type]
        if rt.simulated:
            rt.local = Hooked(SimRunner(rt.inventory.state_dir / "sim"), hook)  # type: ignore[assignment]
            factory = rt.host_factory
            assert factory is not None
            rt.host_factory = lambda spec: Hooked(factory(spec), hook)  # type: ignore[assignment,return-value]
        return rt

    monkeypatch.setattr(homeops.app.backend, "open_runtime", open_runtime)
    return hook


@pytest.fixture
def inventory(tmp_path: Path) -> Path:
    root = tmp_path / "inventory"
    shutil.copytree(REPO / "inventory", root, ignore=shutil.ignore_patterns(".homeops", "kubeconfig"))
    return root


def store_of(result_or_dir: Rehearsal | Path) -> SimStore:
    work = result_or_dir.inventory if isinstance(result_or_dir, Rehearsal) else result_or_dir
    return SimStore(work / ".homeops" / "sim")


MUTATING_TALOS = ("apply-config", "bootstrap", "kubeconfig", "reset")


def effective(store: SimStore, since: int = 0) -> Counter[str]:
    """Mutating commands that took effect, by a short name (the simulator's own command log)."""
    names: Counter[str] = Counter()
    for entry in store.log()[since:]:
        argv = [str(a) for a in entry["argv"]]
        if entry["exit"] != 0:
            continue
        if argv[0] == "qm" and argv[1] in ("create", "destroy", "start", "stop"):
            names[f"qm {argv[1]} {argv[2]}"] += 1
        elif argv[0] == "talosctl" and any(w in argv for w in MUTATING_TALOS):
            verb = next(w for w in argv[1:] if w in MUTATING_TALOS)
            names[f"{verb} {argv[argv.index('--nodes') + 1]}"] += 1
        elif argv[0] == "helmfile" and "sync" in argv:
            names[f"sync {argv[argv.index('--selector') + 1].split('=')[1]}"] += 1
        elif argv[0] == "kubectl" and "patch" in argv:
            names[f"patch {argv[argv.index('patch') + 2]} {argv[argv.index('--patch') + 1]}"] += 1
    return names


def test_all_vms_lost_is_rebuilt_fresh_and_the_data_checks_out(inventory: Path, crash: Crash) -> None:
    out = io.StringIO()
    result = rehearse(inventory, out=out)
    assert result.passed, (result.failures, out.getvalue()[-3000:])
    assert result.model == "fresh" and result.outcome is not None and result.outcome.status == "finished"
    assert result.inventory != inventory and not (inventory / ".homeops" / "sim").exists()  # a copy was used
    store = store_of(result)
    state = store.read(include_log=False)
    assert all(n["stage"] == "running" and n["ready"] for n in state["nodes"].values())
    done = effective(store)
    for i in range(6):  # each lost VM recreated once with its MAC, on its host; nothing to stop or destroy
        host = f"pve{i % 3 + 1}"
        assert (done[f"qm create {200 + i}"], done[f"qm start {200 + i}"], done[f"qm destroy {200 + i}"]) == (1, 1, 0)
        vm = state["pve"]["hosts"][host]["vms"][str(200 + i)]
        assert vm["config"]["net0"] == f"virtio=BC:24:11:00:00:{200 + i:02X},bridge=vmbr0,tag=20"  # as recorded
        assert done[f"apply-config 10.10.0.{20 + i}"] == 1
    bootstraps = [e["argv"] for e in store.log() if e["argv"][0] == "talosctl" and "bootstrap" in e["argv"]]
    assert not any("--recover-from" in argv for argv in bootstraps)  # a new etcd: the fresh model
    # the data written before the disaster is back, byte for byte, in every volume and the database
    assert [(key, before == after) for key, before, after in result.checks] == [
        ("default/immich-data", True),
        ("default/immich-postgres", True),
        ("default/paperless-data", True),
    ]
    assert [line.split(" ")[0] for line in result.data] == ["restored", "restored", "restored"]
    assert "PV populated from default/vs-prime-" in result.data[0]
    # recovery time per phase, and the phases add up to the run
    assert [p.name for p in result.phases] == ["nodes", "talos", "apps", "data"]
    assert all(0 < p.seconds <= p.budget for p in result.phases)
    assert abs(sum(p.seconds for p in result.phases) - result.recovery_seconds) <= 0.05 * result.recovery_seconds


def test_quorum_lost_is_restored_from_a_last_chance_copy_with_the_data_in_place(inventory: Path, crash: Crash) -> None:
    result = rehearse(inventory, scenario="quorum-lost", out=io.StringIO())
    assert result.passed, result.failures
    assert result.model == "etcd-restore"
    assert [p.name for p in result.phases] == ["backup", "nodes", "talos", "data"]
    assert all(before == after for _, before, after in result.checks)
    assert result.data[0].startswith("etcd restored: every object is back as it was")


@pytest.mark.parametrize("scenario", ["nas-lost", "one-node-lost"])
def test_a_cluster_that_needs_no_rebuild_is_refused_and_keeps_its_data(
    inventory: Path, crash: Crash, scenario: str
) -> None:
    result = rehearse(inventory, scenario=scenario, out=io.StringIO())
    assert result.passed, result.failures
    assert result.model.startswith("refused: ") and result.outcome is None
    assert all(before == after for _, before, after in result.checks)
    assert +effective(store_of(result)) == Counter(), "a mutating command ran"


def test_a_phase_over_its_budget_fails_the_drill(inventory: Path, crash: Crash) -> None:
    result = rehearse(inventory, scenario="quorum-lost", out=io.StringIO(), budgets={"nodes": 10.0})
    assert not result.passed
    assert result.failures == ("phase nodes took 35s, over its budget of 10s",)


def test_a_database_that_never_becomes_healthy_ends_done_with_problems(inventory: Path, crash: Crash) -> None:
    """Issue 22 §3.2: it was "recovered", exit 0, with no word of the database."""
    result = rehearse(inventory, faults=("cnpg-never-healthy:immich-postgres",), out=io.StringIO())
    assert result.outcome is not None and result.outcome.status == "finished-with-problems"
    assert result.data[-1].startswith("NOT healthy default/immich-postgres: Setting up primary")
    assert [line.split(" ")[0] for line in result.data[:2]] == ["restored", "restored"]
    assert any(f.startswith("done with problems: NOT healthy default/immich-postgres") for f in result.failures)
    assert result.outcome.report is not None
    report = result.outcome.report.read_text()
    assert report.startswith("# dr-rebuild on `home` — finished with problems")
    assert "immich-postgres" in report
    # the backups stay paused: a restore was not proven
    assert all(s.get("paused") for s in store_of(result).read(include_log=False)["apps"]["sources"])


def test_a_bad_kept_snapshot_does_not_matter_when_a_last_chance_copy_is_taken(inventory: Path, crash: Crash) -> None:
    result = rehearse(inventory, scenario="quorum-lost", faults=("snapshot-corrupt",), out=io.StringIO())
    assert result.passed, result.failures
    assert result.outcome is not None and result.outcome.journal is not None
    assert result.outcome.journal.step("etcd:last-chance").data["raw"] is True


@pytest.mark.parametrize(
    ("scenario", "words"),
    [
        ("all-vms-lost", ("qm", "create", "202")),  # nodes stage, in the middle of the VMs
        ("all-vms-lost", ("sync", "name=coredns")),  # apps stage
        ("all-vms-lost", ("patch", '{"spec":{"paused":true}}')),  # backups being paused
        ("all-vms-lost", ("get", "replicationdestinations.volsync.backube", "skip=1")),  # data stage
        ("all-vms-lost", ("patch", '{"spec":{"paused":false}}')),  # backups being resumed
        ("quorum-lost", ("cp", "/var/lib/etcd/member/snap/db")),  # the last-chance copy
        ("quorum-lost", ("reset", "10.10.0.21")),  # EPHEMERAL wiped on the control planes
        ("quorum-lost", ("bootstrap", "--recover-skip-hash-check")),  # etcd restored, nothing after it yet
    ],
)
def test_killed_at_each_stage_then_resumed_each_step_is_done_exactly_once(
    inventory: Path, crash: Crash, scenario: str, words: tuple[str, ...]
) -> None:
    crash.after(*(w for w in words if w != "skip=1"), skip=1 if "skip=1" in words else 0)
    with pytest.raises(BaseException) as info:  # the engine re-raises the interrupt (or its Aborted)
        rehearse(inventory, scenario=scenario, out=io.StringIO())
    assert not isinstance(info.value, AssertionError)
    work = inventory / ".homeops" / "rehearsal" / "inventory"
    outcome = run_rebuild(work, resume=True, yes=True, out=io.StringIO())
    assert outcome.status == "finished"
    store = store_of(work)
    done = effective(store)
    assert {k: v for k, v in done.items() if v != 1} == {}, done
    if scenario == "all-vms-lost":
        assert len([k for k in done if k.startswith("qm create")]) == 6
        assert len([k for k in done if k.startswith("sync ")]) == 5
        assert len([k for k in done if k.startswith("patch ")]) == 4  # paused and resumed, each source once
    else:
        assert len([k for k in done if k.startswith("reset ")]) == 3 and done["bootstrap 10.10.0.20"] == 1
        assert store.read(include_log=False)["etcd"]["revision"] == SNAPSHOT_REVISION


def test_a_proxmox_host_down_mid_run_stops_it_and_resume_finishes(inventory: Path, crash: Crash) -> None:
    work = inventory / ".homeops" / "rehearsal" / "inventory"

    def host_down() -> None:
        with store_of(work).transaction() as state:
            faults.inject(state, "pve-host-down", "pve3")

    class Down(Crash):
        def check(self, argv: Sequence[str]) -> None:
            if list(argv[:3]) == ["qm", "create", "200"]:
                host_down()

    crash.__class__ = Down
    with pytest.raises(Exception, match="pve3"):
        rehearse(inventory, out=io.StringIO())
    with store_of(work).transaction() as state:
        faults.clear(state, "pve-host-down")
    crash.__class__ = Crash
    outcome = run_rebuild(work, resume=True, yes=True, out=io.StringIO())
    assert outcome.status == "finished"
    done = effective(store_of(work))
    assert sorted(k for k in done if k.startswith("qm create")) == [f"qm create {200 + i}" for i in range(6)]
    assert set(done.values()) == {1}


def test_the_runbook_prints_every_command_of_the_dry_run_plan(inventory: Path, crash: Crash) -> None:
    from homeops.app.backend import open_runtime
    from homeops.operations.dr import runbook_plans
    from homeops.operations.runbook import Action, command_line, render_runbook
    from homeops.sim import lifecycle

    lifecycle.start(inventory, virtual=True, say=lambda _: None)
    out = io.StringIO()
    dry = {
        variant: run_rebuild(
            inventory, recreate_vms=variant == "recreate", fresh=True, even_if_healthy=True, dry_run=True, out=out
        )
        for variant in ("reset", "recreate")
    }
    assert all(o.status == "dry-run" for o in dry.values())
    with open_runtime(inventory) as rt:
        plans = runbook_plans(rt)
        text = render_runbook(rt.inventory, plans)
    assert dict(plans["etcd-restore"].options)["point_of_no_return"] == "node:k8s-0:reset-ephemeral"
    for variant, outcome in dry.items():
        runbook_steps = {s.id: s for s in plans[variant].steps}
        # the same steps in the same order; the dry run adds the last backups the live cluster allows
        assert [s.id for s in outcome.plan.steps if s.id != "data:last-backups"] == list(runbook_steps)
        for step in outcome.plan.steps:
            if step.id == "data:last-backups":
                continue
            for command in step.commands:
                assert command.argv in [c.argv for c in runbook_steps[step.id].commands], (step.id, command.argv)
                line = command_line(rt.inventory, Action(command.argv, None if command.on == "local" else command.on))
                assert line in text, line
    for i in range(6):
        assert f"10.10.0.{20 + i}" in text and f"qm create {200 + i} --name k8s-{i}" in text  # no record: homeops.yaml


def test_a_node_that_never_reaches_maintenance_mode_stops_the_run_naming_it(inventory: Path, crash: Crash) -> None:
    with pytest.raises(Exception, match=r"waiting for maintenance on .*k8s-4: .*no route to host") as info:
        rehearse(inventory, faults=("node-never-returns:k8s-4",), out=io.StringIO())
    assert "inv dr.rebuild --resume --inventory" in str(info.value)
    work = inventory / ".homeops" / "rehearsal" / "inventory"
    assert not any(e["argv"][0] == "talosctl" and "apply-config" in e["argv"] for e in store_of(work).log())


@pytest.mark.docker
def test_rehearse_over_the_ssh_host_containers(inventory: Path, crash: Crash) -> None:
    from invoke.context import Context

    from homeops.sim import hostimage
    from homeops.tasks import sim as sim_tasks

    hostimage.ensure()
    work = inventory / ".homeops" / "rehearsal" / "inventory"
    try:
        result = rehearse(inventory, hosts=True, out=io.StringIO())
        assert result.passed and result.outcome is not None and result.outcome.status == "finished"
        store = store_of(result)
        creates = [e for e in store.log() if e["argv"][:2] == ["qm", "create"]]
        assert sorted(e["host"] for e in creates) == ["pve1", "pve1", "pve2", "pve2", "pve3", "pve3"]
        assert "hosts_transport" in store.read(include_log=False)  # qm and SFTP went over real SSH
    finally:
        sim_tasks.down(Context(), inventory=str(work))


@pytest.mark.slow
def test_inv_dr_rehearse_yes_as_users_run_it(inventory: Path) -> None:
    import subprocess
    import sys

    shutil.copy(REPO / "tasks.py", inventory.parent / "tasks.py")
    done = subprocess.run(
        [sys.executable, "-m", "invoke", "dr.rehearse", "--yes", "--inventory", str(inventory)],
        cwd=inventory.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("[SIMULATED] recovered in 5m45s of simulated time (its stages add up to 345s)"), last
    refused = subprocess.run(
        [sys.executable, "-m", "invoke", "dr.rehearse", "--inventory", str(inventory)],
        cwd=inventory.parent,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert refused.returncode == 1 and "pass --yes" in refused.stderr, refused.stderr[-1000:]


def test_nodes_rebuilds_only_workers_or_every_control_plane(inventory: Path, crash: Crash) -> None:
    from invoke.context import Context

    from homeops.sim import lifecycle
    from homeops.tasks import talos as talos_tasks

    lifecycle.start(inventory, virtual=True, say=lambda _: None)
    talos_tasks.etcd_snapshot(Context(), inventory=str(inventory))
    outcome = run_rebuild(inventory, nodes=("k8s-4", "k8s-5"), dry_run=True, out=io.StringIO())
    ids = [s.id for s in outcome.plan.steps]
    # the two workers back to maintenance and configured again; the running cluster's etcd and apps untouched
    assert ids == [
        "node:k8s-4:reset",
        "node:k8s-5:reset",
        "cluster:genconfig",
        "k8s-4:apply-insecure",
        "k8s-5:apply-insecure",
    ]
    with pytest.raises(PlanError, match=r"^the cluster is healthy"):  # a control plane: the cluster is looked at
        run_rebuild(inventory, nodes=("k8s-1", "k8s-4"), dry_run=True, out=io.StringIO())
    with pytest.raises(PlanError, match=r"rebuilding some control planes \(k8s-1\) but not all is not supported"):
        run_rebuild(
            inventory, nodes=("k8s-1", "k8s-4"), even_if_healthy=True, fresh=True, dry_run=True, out=io.StringIO()
        )


def test_a_repository_repo_validate_rejects_stops_the_rebuild_unless_skip_validate(inventory: Path) -> None:
    """Issue 14: dr.rebuild runs repo.validate first; Flux would stall on a broken repository after the rebuild."""
    from invoke.context import Context

    from homeops.sim import lifecycle
    from homeops.tasks import talos as talos_tasks

    lifecycle.start(inventory, virtual=True, say=lambda _: None)
    talos_tasks.etcd_snapshot(Context(), inventory=str(inventory))
    broken = inventory / "kubernetes" / "apps" / "default" / "kustomization.yaml"
    broken.write_text(broken.read_text() + "resources: [\n")
    with pytest.raises(PlanError, match=r"^repo\.validate: .*kubernetes/apps/default/kustomization\.yaml"):
        run_rebuild(inventory, fresh=True, even_if_healthy=True, dry_run=True, out=io.StringIO())
    outcome = run_rebuild(
        inventory, fresh=True, even_if_healthy=True, dry_run=True, skip_validate=True, out=io.StringIO()
    )
    assert outcome.status == "dry-run" and any(s.id == "cluster:etcd" for s in outcome.plan.steps)
