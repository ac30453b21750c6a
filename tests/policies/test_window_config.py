"""homeops.yaml ``maintenance:``: what is read, and each bad value refused in one line naming file and field.

Day names follow kured's ``--reboot-days`` (kubereboot/kured@170a3a4, pkg/timewindow/days.go:10, the
``dayStrings`` map: three letters or the full English name, any case); kured's numbers (days.go:70,
0 = Sunday) are refused here, since Python counts 0 as Monday.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from homeops.errors import ConfigError
from homeops.inventory.loader import load_inventory
from homeops.inventory.model import Maintenance, MaintenanceWindow

BASE = """
cluster: { name: lab, endpoint: "https://10.0.0.10:6443", talosVersion: v1.11.6, kubernetesVersion: v1.34.2 }
nodes:
  - { hostname: cp, ip: 10.0.0.11, controlPlane: true }
"""


def inventory(tmp_path: Path, maintenance: str) -> Path:
    (tmp_path / "homeops.yaml").write_text(BASE + textwrap.dedent(maintenance))
    return tmp_path


def test_without_maintenance_there_is_no_window(tmp_path: Path) -> None:
    assert load_inventory(inventory(tmp_path, "")).maintenance is None


def test_the_issue_example_and_the_other_spellings(tmp_path: Path) -> None:
    inv = load_inventory(
        inventory(
            tmp_path,
            """
            maintenance:
              windows:
                - { days: [sat, sun], start: "02:00", duration: 4h, timezone: Europe/Amsterdam }
                - { days: [Friday, MON, mon], start: "23:30", duration: 1h30m, timezone: UTC }
                - { start: 4:05, duration: 30m, timezone: America/New_York }   # no days: every day
              nodeBudget: 45m
            """,
        )
    )
    assert inv.maintenance == Maintenance(
        windows=(
            MaintenanceWindow(days=(5, 6), start=120, duration=240, timezone="Europe/Amsterdam"),
            MaintenanceWindow(days=(0, 4), start=23 * 60 + 30, duration=90, timezone="UTC"),
            MaintenanceWindow(days=tuple(range(7)), start=4 * 60 + 5, duration=30, timezone="America/New_York"),
        ),
        node_budget=45,
    )


@pytest.mark.parametrize(
    ("window", "field", "says"),
    [
        ('{days: [sat, sunday, funday], start: "02:00", duration: 4h, timezone: UTC}', "days", "'funday' is not a"),
        ('{days: [], start: "02:00", duration: 4h, timezone: UTC}', "days", "must be a list of weekdays"),
        ('{days: sat, start: "02:00", duration: 4h, timezone: UTC}', "days", "must be a list of weekdays"),
        ('{days: [6], start: "02:00", duration: 4h, timezone: UTC}', "days", "'6' is not a weekday"),
        ('{days: [sat], start: "24:00", duration: 4h, timezone: UTC}', "start", "HH:MM"),
        ('{days: [sat], start: "2am", duration: 4h, timezone: UTC}', "start", "HH:MM"),
        ("{days: [sat], start: 0200, duration: 4h, timezone: UTC}", "start", "not '0200'"),
        ('{days: [sat], start: "02:60", duration: 4h, timezone: UTC}', "start", "HH:MM"),
        ("{days: [sat], duration: 4h, timezone: UTC}", "start", "HH:MM"),
        ('{days: [sat], start: "02:00", duration: 4, timezone: UTC}', "duration", "like 4h, 30m or 1h30m"),
        ('{days: [sat], start: "02:00", duration: 4 h, timezone: UTC}', "duration", "like 4h, 30m or 1h30m"),
        ('{days: [sat], start: "02:00", duration: 0h, timezone: UTC}', "duration", "not '0h'"),
        ('{days: [sat], start: "02:00", duration: 30m1h, timezone: UTC}', "duration", "not '30m1h'"),
        ('{days: [sat], start: "02:00", duration: 169h, timezone: UTC}', "duration", "at most 168h"),
        ('{days: [sat], start: "02:00", timezone: UTC}', "duration", "is required"),
        ('{days: [sat], start: "02:00", duration: 4h, timezone: Europe/Amsterdan}', "timezone", "not a time zone"),
        ('{days: [sat], start: "02:00", duration: 4h, timezone: ../etc/passwd}', "timezone", "not a time zone"),
        ('{days: [sat], start: "02:00", duration: 4h}', "timezone", "is required"),
    ],
)
def test_a_bad_window_is_one_line_naming_file_and_field(tmp_path: Path, window: str, field: str, says: str) -> None:
    path = inventory(tmp_path, f"maintenance: {{windows: [{window}]}}\n")
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    message = str(caught.value)
    assert message.startswith(f"{path / 'homeops.yaml'}: maintenance.windows[0].{field}: "), message
    assert says in message and "\n" not in message


@pytest.mark.parametrize(
    "section", ["maintenance: {}", "maintenance: {windows: []}", "maintenance:", "maintenance: {windows: x}"]
)
def test_no_windows_is_refused_not_read_as_never_or_always(tmp_path: Path, section: str) -> None:
    with pytest.raises(ConfigError, match=r"maintenance\.windows: must list at least one window") as caught:
        load_inventory(inventory(tmp_path, section + "\n"))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(("text", "minutes"), [("1.5h", 90), ("2h0m", 120), ("600s", 10), ("1h30m0s", 90)])
def test_a_window_duration_is_read_like_every_other_duration(tmp_path: Path, text: str, minutes: int) -> None:
    # One reader for the inventory's durations (the loader's ``span``: hooks' timeout, alertmanager.ttl…),
    # kept to whole minutes here.
    section = f'maintenance: {{windows: [{{start: "02:00", duration: {text}, timezone: UTC}}]}}\n'
    maintenance = load_inventory(inventory(tmp_path, section)).maintenance
    assert maintenance is not None and maintenance.windows[0].duration == minutes


def test_a_window_duration_is_whole_minutes(tmp_path: Path) -> None:
    text = 'maintenance: {windows: [{start: "02:00", duration: 90s, timezone: UTC}]}\n'
    with pytest.raises(ConfigError, match=r"windows\[0\]\.duration: must be a duration like 4h, 30m or 1h30m"):
        load_inventory(inventory(tmp_path, text))


def test_a_bad_node_budget_is_refused(tmp_path: Path) -> None:
    text = 'maintenance: {windows: [{start: "02:00", duration: 4h, timezone: UTC}], nodeBudget: 45}\n'
    with pytest.raises(ConfigError, match=r"maintenance\.nodeBudget: must be a duration like 4h"):
        load_inventory(inventory(tmp_path, text))


def test_a_misspelt_key_names_the_right_one(tmp_path: Path) -> None:
    text = 'maintenance: {windows: [{start: "02:00", duraton: 4h, timezone: UTC}]}\n'
    with pytest.raises(ConfigError, match=r"maintenance\.windows\[0\]\.duraton: unknown key; did you mean duration"):
        load_inventory(inventory(tmp_path, text))
    with pytest.raises(ConfigError, match=r"maintenanse: unknown key; did you mean maintenance"):
        load_inventory(inventory(tmp_path, "maintenanse: {}\n"))
