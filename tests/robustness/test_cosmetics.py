"""The cosmetic defects of issue 10 that live outside the engine."""

from __future__ import annotations

from homeops.adapters import proxmox as pve
from homeops.runners import Result

NOT_QUORATE_ALL_VOTES = """Quorum information
------------------
Nodes:            3
Quorate:          No

Votequorum information
----------------------
Expected votes:   3
Total votes:      3
Quorum:           2 Activity blocked
"""

LOST_VOTES = NOT_QUORATE_ALL_VOTES.replace("Total votes:      3", "Total votes:      1")


def _quorum(text: str) -> pve.Quorum:
    return pve.parse_pvecm_status(Result(("pvecm", "status"), 2, text, "", 0.0, "pve1"))


def test_not_quorate_text_does_not_contradict_itself() -> None:
    """Cosmetic: "NOT quorate (3/3 votes)"."""
    text = _quorum(NOT_QUORATE_ALL_VOTES).describe()
    assert text != "NOT quorate (3/3 votes)"
    assert text.startswith("NOT quorate") and "Quorate: No" in text


def test_not_quorate_for_lost_votes_says_how_many_are_needed() -> None:
    assert _quorum(LOST_VOTES).describe() == "NOT quorate (1/3 votes, quorum needs 2)"
