"""When a maintenance window is open, and when the next one opens: wall-clock windows, DST both ways,
midnight crossings, several windows. Pure functions of the window and an instant (epoch seconds).

kured's window (kubereboot/kured@170a3a4, pkg/timewindow/timewindow.go:39, ``Contains``) is a start and an
end on the same local date, both excluded, so it can never cross midnight; these windows open at their
start (included) and may run past midnight, belonging to their start day.

The DST dates are Europe/Amsterdam's in 2026 (EU rule: the last Sunday of March 02:00 CET → 03:00 CEST,
the last Sunday of October 03:00 CEST → 02:00 CET), as the system tz database (zoneinfo) has them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from homeops.inventory.model import Maintenance, MaintenanceWindow
from homeops.policies.window import duration_text, next_opening, open_until, wall_instant, when_text

AMS = "Europe/Amsterdam"
SAT, SUN, TUE, WED = 5, 6, 1, 2


def window(days: tuple[int, ...], start: str, minutes: int, zone: str = AMS) -> MaintenanceWindow:
    hours, mins = start.split(":")
    return MaintenanceWindow(days=days, start=int(hours) * 60 + int(mins), duration=minutes, timezone=zone)


def at(text: str, zone: str = AMS, fold: int = 0) -> float:
    """An instant from local wall time, e.g. ``2026-12-08 14:00``."""
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone), fold=fold).timestamp()


def utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


WEEKEND = Maintenance((window((SAT, SUN), "02:00", 240),))


def test_the_issue_example_closed_on_a_tuesday_next_is_saturday_0200() -> None:
    now = at("2026-12-08 14:00")  # a Tuesday
    assert open_until(WEEKEND, now) is None
    upcoming = next_opening(WEEKEND, now)
    assert upcoming.start == at("2026-12-12 02:00") and upcoming.end == at("2026-12-12 06:00")
    assert when_text(upcoming, upcoming.start, now=now) == "Sat 12 Dec 02:00 CET (Europe/Amsterdam)"
    assert duration_text(upcoming.start - now) == "3d 12h"


def test_open_from_start_inclusive_to_end_exclusive() -> None:
    assert open_until(WEEKEND, at("2026-12-12 01:59:59")) is None
    opening = open_until(WEEKEND, at("2026-12-12 02:00"))
    assert opening is not None and opening.end == at("2026-12-12 06:00")
    assert open_until(WEEKEND, at("2026-12-12 05:59:59")) == opening
    assert open_until(WEEKEND, at("2026-12-12 06:00")) is None
    # Saturday's has closed: the next is Sunday's, not next Saturday's
    assert next_opening(WEEKEND, at("2026-12-12 06:00")).start == at("2026-12-13 02:00")


def test_spring_forward_a_0200_start_opens_at_the_jump_and_closes_at_0600_cest() -> None:
    # 2026-03-29: 02:00 CET does not exist, the wall clock jumps to 03:00 CEST (01:00 UTC).
    opening = next_opening(WEEKEND, at("2026-03-29 00:30"))
    assert opening.start == utc("2026-03-29 01:00") == at("2026-03-29 03:00")
    assert opening.end == at("2026-03-29 06:00") == utc("2026-03-29 04:00")
    assert (opening.end - opening.start) / 3600 == 3  # three real hours: the wall clock lost one
    assert open_until(WEEKEND, utc("2026-03-29 00:59:59")) is None
    assert when_text(opening, opening.start, now=at("2026-03-29 00:30")) == "03:00 CEST (Europe/Amsterdam)"
    # the Saturday before is an ordinary CET night
    saturday = next_opening(WEEKEND, at("2026-03-28 00:00"))
    assert (saturday.start, saturday.end) == (utc("2026-03-28 01:00"), utc("2026-03-28 05:00"))


def test_spring_forward_a_start_inside_the_skipped_hour_opens_at_the_jump_not_an_hour_late() -> None:
    half_past = Maintenance((window((SUN,), "02:30", 60),))
    opening = next_opening(half_past, at("2026-03-29 00:00"))
    # zoneinfo alone would read 02:30 with the CET offset: 01:30 UTC = 03:30 CEST
    assert opening.start == utc("2026-03-29 01:00")
    assert opening.end == at("2026-03-29 03:30")
    assert wall_instant(datetime(2026, 3, 29, 2, 30), ZoneInfo(AMS)) == utc("2026-03-29 01:00")


def test_spring_forward_an_end_inside_the_skipped_hour_closes_at_the_jump() -> None:
    short = Maintenance((window((SUN,), "00:00", 150),))  # to 02:30, which 2026-03-29 skips
    opening = open_until(short, at("2026-03-29 01:00"))
    assert opening is not None and opening.end == utc("2026-03-29 01:00")  # 03:00 CEST, not 03:30
    assert open_until(short, utc("2026-03-29 01:00")) is None


def test_fall_back_a_0200_start_is_the_first_0200_and_closes_at_0600_cet() -> None:
    # 2026-10-25: 03:00 CEST falls back to 02:00 CET; the wall clock shows 02:00–03:00 twice.
    opening = next_opening(WEEKEND, at("2026-10-25 00:00"))
    assert opening.start == utc("2026-10-25 00:00") == at("2026-10-25 02:00", fold=0)
    assert opening.end == utc("2026-10-25 05:00") == at("2026-10-25 06:00")
    assert (opening.end - opening.start) / 3600 == 5  # five real hours: the wall clock gained one
    # the second 02:30 (CET) is inside too
    assert open_until(WEEKEND, at("2026-10-25 02:30", fold=1)) == opening
    assert when_text(opening, opening.end, now=opening.start) == "06:00 CET (Europe/Amsterdam)"
    assert when_text(opening, opening.start, now=opening.start) == "02:00 CEST (Europe/Amsterdam)"


def test_a_window_crossing_midnight_belongs_to_its_start_day() -> None:
    late = Maintenance((window((SAT,), "23:00", 240),))  # Saturday 23:00 → Sunday 03:00
    sunday_night = open_until(late, at("2026-12-13 01:00"))
    assert sunday_night is not None
    assert (sunday_night.start, sunday_night.end) == (at("2026-12-12 23:00"), at("2026-12-13 03:00"))
    assert open_until(late, at("2026-12-13 03:00")) is None
    # Sunday is not one of its days: Sunday 23:30 is closed, the next is Saturday's
    assert open_until(late, at("2026-12-13 23:30")) is None
    assert next_opening(late, at("2026-12-13 23:30")).start == at("2026-12-19 23:00")
    # nor does Friday 23:00 open (Saturday's window does not start the night before)
    assert open_until(late, at("2026-12-11 23:30")) is None


def test_a_window_crossing_midnight_into_the_spring_forward_night_is_three_real_hours() -> None:
    late = Maintenance((window((SAT,), "23:00", 240),))  # Saturday 23:00 CET → Sunday 03:00 CEST
    opening = next_opening(late, at("2026-03-28 12:00"))
    assert (opening.start, opening.end) == (utc("2026-03-28 22:00"), utc("2026-03-29 01:00"))
    assert when_text(opening, opening.end, now=opening.start) == "Sun 29 Mar 03:00 CEST (Europe/Amsterdam)"


def test_several_windows_the_earliest_next_one_in_its_own_time_zone() -> None:
    both = Maintenance((window((SAT, SUN), "02:00", 240), window((WED,), "20:00", 120, "UTC")))
    now = at("2026-12-08 14:00")  # Tuesday
    upcoming = next_opening(both, now)
    assert upcoming.start == utc("2026-12-09 20:00")
    assert when_text(upcoming, upcoming.start, now=now) == "Wed 09 Dec 20:00 UTC (UTC)"
    after_wednesday = next_opening(both, utc("2026-12-09 22:00"))
    assert after_wednesday.start == at("2026-12-12 02:00")


def test_windows_that_overlap_or_touch_are_one_open_period() -> None:
    chained = Maintenance((window((SAT,), "02:00", 240), window((SAT,), "06:00", 120), window((SAT,), "07:00", 30)))
    opening = open_until(chained, at("2026-12-12 03:00"))
    assert opening is not None and opening.end == at("2026-12-12 08:00")
    # a window that has already ended does not count, nor one after a gap
    gapped = Maintenance((window((SAT,), "02:00", 60), window((SAT,), "03:01", 60)))
    first = open_until(gapped, at("2026-12-12 02:30"))
    assert first is not None and first.end == at("2026-12-12 03:00")
    assert next_opening(gapped, first.end).start == at("2026-12-12 03:01")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (40.4, "40s"),
        (60, "1m"),
        (25 * 60 + 30, "25m 30s"),
        (3 * 3600 + 59, "3h"),
        (3 * 3600, "3h"),
        (3 * 86400 + 65 * 60, "3d 1h 5m"),
    ],
)
def test_duration_text(seconds: float, text: str) -> None:
    assert duration_text(seconds) == text
