"""``homeops.__all__``: the names users import in their own tasks.py, all there, documented, lazy.

The example at the end is a user's tasks.py, run against the simulator the way a user would run it.
"""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest
from invoke.context import Context

import homeops
from tests.rolling.simrig import example_copy


def test_every_public_name_resolves_and_is_documented() -> None:
    assert homeops.__all__ == ["__version__", *sorted(set(homeops.__all__) - {"__version__"})]  # sorted, no duplicate
    doc = homeops.__doc__ or ""
    for name in homeops.__all__:
        assert getattr(homeops, name) is not None, name
        if name != "__version__":
            assert f"``{name}``" in doc, f"{name} is not in homeops' docstring"
    assert set(homeops.__all__) <= set(dir(homeops))


def test_nothing_public_is_left_out_of_all() -> None:
    """httpx checks the other direction too (encode/httpx tests/test_exported_members.py, commit c898746):
    every public name of the package is in ``__all__``. Here once every lazy name is loaded."""
    for name in homeops.__all__:
        getattr(homeops, name)
    public = {n for n, v in vars(homeops).items() if not n.startswith("_") and not isinstance(v, ModuleType)}
    assert public - {"annotations", "Any"} == set(homeops.__all__) - {"__version__"}


def test_public_names_are_the_objects_the_modules_define() -> None:
    from homeops.app.backend import open_runtime
    from homeops.engine.events import Interrupted
    from homeops.engine.kinds import register
    from homeops.errors import HomeopsError
    from homeops.status import gather

    assert homeops.open_runtime is open_runtime
    assert homeops.register_step_kind is register
    assert homeops.cluster_status is gather
    assert homeops.RunInterrupted is Interrupted
    assert homeops.HomeopsError is HomeopsError
    assert all(issubclass(getattr(homeops, n), HomeopsError) for n in ("PlanError", "PolicyRefused", "SimError"))


def test_an_unknown_name_is_an_attribute_error_and_submodules_still_import() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        homeops.nope  # noqa: B018
    from homeops import sops  # a submodule, not a public name: the import system still finds it

    assert sops.__name__ == "homeops.sops"


def test_import_homeops_loads_nothing_else() -> None:
    """``inv --list`` imports homeops: the public API must not load the engine, rich or paramiko."""
    heavy = "('homeops', 'rich', 'paramiko', 'yaml', 'invoke')"
    code = f"import sys, homeops; print(sorted(m for m in sys.modules if m.startswith({heavy})))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "['homeops']"


USER_TASKS = '''
"""A user's own tasks.py: a nightly check and a dry-run upgrade, with their own listener."""
from invoke import task

import homeops


class Seen:
    """Collects the run's events (a user would send them somewhere)."""

    name = "seen"

    def __init__(self) -> None:
        self.events = []

    def on_event(self, event: homeops.RunEvent) -> None:
        self.events.append(type(event).__name__)


SEEN = Seen()


@task
def nightly(c, inventory="inventory"):
    with homeops.open_runtime(inventory) as rt:
        status = homeops.cluster_status(rt)
        print(f"{rt.backend} {status.cluster}: healthy={status.healthy}")
    try:
        outcome = homeops.run(
            inventory, "upgrade-cluster", homeops.Options(dry_run=True), listeners=[SEEN], version="v1.11.6"
        )
    except homeops.HomeopsError as exc:
        raise SystemExit(f"nightly: {exc}")
    print(f"plan: {len(outcome.plan.steps)} steps, status {outcome.status}")
'''


def test_a_users_tasks_py_against_the_simulator(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = example_copy(tmp_path)
    homeops.start_simulator(inventory, talos_version="v1.10.9", virtual=True, say=lambda _: None)
    path = tmp_path / "tasks.py"
    path.write_text(textwrap.dedent(USER_TASKS), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("user_tasks", path)
    assert spec is not None and spec.loader is not None
    user = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(user)

    user.nightly(Context(), inventory=str(inventory))

    out = capsys.readouterr().out
    assert "simulated home: healthy=True" in out
    assert "[SIMULATED] Plan: upgrade-cluster on cluster 'home'" in out
    steps = int(out.split("plan: ")[1].split(" steps")[0])
    assert steps > 0 and "status dry-run" in out
    assert user.SEEN.events[0] == "Planned"  # the user's listener heard the run


def test_run_refuses_an_unknown_operation_or_option_in_one_line(tmp_path: Path) -> None:
    inventory = example_copy(tmp_path)
    with pytest.raises(homeops.PlanError, match="unknown operation 'upgrade-everything'"):
        homeops.run(inventory, "upgrade-everything")
    with pytest.raises(homeops.PlanError, match="upgrade-cluster takes no colour"):
        homeops.run(inventory, "upgrade-cluster", homeops.Options(dry_run=True), out=io.StringIO(), colour="red")


def test_the_readme_example_uses_only_public_names() -> None:
    import re

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using homeops from Python", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    compile(code, "README.md", "exec")
    used = set(re.findall(r"\bhomeops\.(\w+)", code))
    assert used and used <= set(homeops.__all__), used - set(homeops.__all__)
