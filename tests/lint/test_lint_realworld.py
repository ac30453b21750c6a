"""repo.lint on two real home-ops repositories written by other people.

Every file is accounted for, and the findings are the ones checked by hand (see the per-rule
counts below; each non-``sorted-resources`` finding was read in its file). ``rwo-recreate`` reports
exactly the one controller that runs RollingUpdate with a ReadWriteOnce volume — not app-template's
default-Recreate Deployments that mount kopiur-made RWO claims.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from homeops.lint.engine import lint_repo
from tests.lint.lint_helpers import BJWS, BUROA

EXPECTED_COUNTS = {
    "bjw-s": {
        "backup-coverage": 2,
        "drop-all": 12,
        "no-loadbalancer": 4,
        "no-namespace": 1,
        "rootless": 8,
        "rwo-recreate": 1,
        "sorted-resources": 81,
        "unread-workload": 1,
        "yaml-header": 2,
    },
    "buroa": {"drop-all": 2, "no-loadbalancer": 2, "rootless": 1, "sorted-resources": 13, "unreferenced": 3},
}
ROOTS = {"bjw-s": BJWS, "buroa": BUROA}


@pytest.mark.parametrize("name", ["bjw-s", "buroa"])
def test_every_file_is_accounted_for_and_counts_match_the_hand_check(name: str) -> None:
    root = ROOTS[name]
    result = lint_repo(root)
    on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in (".yaml", ".yml")}
    assert {f.path for f in result.files} == on_disk
    assert {f.status for f in result.files} <= {"linted", "skipped"}
    skipped = [f for f in result.files if f.status == "skipped"]
    assert skipped and all(f.reason.startswith("app config (configMapGenerator input of") for f in skipped)
    assert any(f.path.endswith("recyclarr.yml") for f in skipped)
    assert result.counts() == EXPECTED_COUNTS[name]


def test_rwo_recreate_is_exactly_the_rollingupdate_controller_with_an_rwo_volume() -> None:
    found = [f for f in lint_repo(BJWS).findings if f.rule == "rwo-recreate"]
    assert [(f.path, f.line) for f in found] == [("kubernetes/apps/ai/minimax-shim/app/helmrelease.yaml", 18)]
    assert [f for f in lint_repo(BUROA).findings if f.rule == "rwo-recreate"] == []


def test_hand_checked_examples() -> None:
    findings = {(f.path, f.line, f.rule) for f in lint_repo(BJWS).findings}
    apps = "kubernetes/apps/"
    # memini's chart is built on the bjw-s common library, not app-template: its defaults (the main
    # container has no image in the values) are unknown, which is said, not skipped silently
    assert (apps + "ai/memini/app/helmrelease.yaml", 7, "unread-workload") in findings
    # chart-made PVCs no backup names (issue 21's backup-coverage)
    assert (apps + "ai/minimax-shim/app/helmrelease.yaml", 80, "backup-coverage") in findings
    assert (apps + "observability/gatus/app/helmrelease.yaml", 75, "backup-coverage") in findings
    assert (apps + "renovate/renovate-operator/jobs/job.yaml", 7, "no-namespace") in findings
    assert (apps + "media/dispatcharr/app/helmrelease.yaml", 21, "rootless") in findings  # runAsUser: 0 init
    assert (apps + "media/jellyfin/app/helmrelease.yaml", 114, "no-loadbalancer") in findings
    assert (apps + "system/descheduler/app/rbac.yaml", 1, "yaml-header") in findings
    # karakeep's controller pod sets only labels: defaultPodOptions' securityContext still applies
    assert not any(p.endswith("karakeep/app/helmrelease.yaml") and r == "rootless" for p, _, r in findings)
    # the bootstrap Kustomization (flux/cluster/ks.yaml) fans out to the apps: no targetNamespace needed
    assert not any(r == "ks-target-namespace" for _, _, r in findings)


def test_json_output_is_sorted_and_stable(tmp_path: Path) -> None:
    from homeops.lint.cli import run_lint

    outputs = []
    for _ in range(2):
        out = tmp_path / "out.json"
        with out.open("w") as handle, (tmp_path / "err").open("w") as err:
            assert run_lint(path=str(BUROA), as_json=True, out=handle, err=err) == 1
        outputs.append(out.read_text())
    assert outputs[0] == outputs[1]
    items = json.loads(outputs[0])
    keys = [(i["path"], i["line"], i["rule"], i["message"]) for i in items]
    assert keys == sorted(keys) and len(keys) == 21
    assert all(
        set(i) == {"path", "line", "rule", "severity", "message"} and not i["path"].startswith("/") for i in items
    )
