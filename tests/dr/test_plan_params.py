"""dr.rebuild's steps carry typed parameters (no lists smuggled through ``artifact``), and a plan written
by the homeops before them (main at bdfe745, fixtures generated on this simulator with that code) reads
into exactly the parameters this homeops plans for the same cluster, so a rebuild resumes across the
upgrade."""

from __future__ import annotations

import json
from pathlib import Path

from homeops.engine.plan import Plan
from homeops.operations import drmodel
from homeops.operations.dr import ChosenSnapshot, RebuildRequest, plan_etcd_restore, plan_rebuild
from homeops.operations.drsteps import DataParams, PauseParams, ResumeParams

from .drsim import DrSim

OLD = Path(__file__).resolve().parents[1] / "fixtures" / "journals" / "dr-rebuild-before-params"


def _old(name: str, root: Path) -> Plan:
    raw = json.loads((OLD / name).read_text().replace("{root}", str(root)))
    assert all("params" not in s for s in raw["steps"])
    return Plan.from_dict(raw)


def test_old_dr_plans_read_into_the_parameters_this_homeops_plans(drsim: DrSim) -> None:
    with drsim.runtime() as rt:
        seen = drmodel.observe(rt.inventory, rt.local, now=rt.clock.now())
        fresh = plan_rebuild(rt.inventory, ChosenSnapshot(None, "none"), RebuildRequest(rt.clock.now(), fresh=True),
                             seen=seen)  # fmt: skip
        etcd = plan_etcd_restore(rt.inventory, seen, RebuildRequest(rt.clock.now()), fallback=None)
    for name, new in (("fresh.plan.json", fresh), ("etcd-restore.plan.json", etcd)):
        old = _old(name, drsim.root)
        assert [s.id for s in old.steps] == [s.id for s in new.steps]
        assert [s.params for s in old.steps] == [s.params for s in new.steps], name
        assert [s.commands for s in old.steps] == [s.commands for s in new.steps]
        assert all(s.artifact is None for s in new.steps if s.params is not None)
    by_id = {s.id: s for s in fresh.steps}
    assert by_id["data:pause-backups"].params == PauseParams(("default/immich-data", "default/paperless-data"))
    assert by_id["data:volsync"].params == DataParams(
        "volsync", ("default/immich-data-dst", "default/paperless-data-dst")
    )
    assert by_id["data:cnpg"].params == DataParams("cnpg", ("default/immich-postgres",))
    assert by_id["data:resume-backups"].params == ResumeParams("data:pause-backups", ("data:volsync", "data:cnpg"))
