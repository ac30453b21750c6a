"""``span_text``: the one way policies write a duration, in the syntax the inventory reads (loader ``span``)."""

from __future__ import annotations

import pytest

from homeops.inventory.loader import _span_seconds
from homeops.policies import span_text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "0.5s"),
        (5, "5s"),
        (90, "1m30s"),
        (300.0, "5m"),
        (900, "15m"),
        (5400, "1h30m"),
        (7200, "2h"),
        (90.5, "90.5s"),
    ],
)
def test_a_duration_is_written_as_the_inventory_would_and_reads_back(seconds: float, text: str) -> None:
    assert span_text(seconds) == text
    assert _span_seconds(text) == seconds
