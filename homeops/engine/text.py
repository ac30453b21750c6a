"""Text helpers every part of homeops shares (one copy, not one per module)."""

from __future__ import annotations


def one_line(text: object, limit: int | None = 300) -> str:
    """``text`` (or an exception's message) on one line, whitespace collapsed, cut at ``limit``."""
    line = " ".join(str(text).split())
    return line if limit is None else line[:limit]
