"""Flux postBuild substitution as far as rules need it; what cannot be resolved stays as written."""

from __future__ import annotations

import pytest

from homeops.lint.substitute import Resolved, resolve_scalar, substitute

VARS = {"APP": "jellyfin", "EMPTY": "", "KOPIUR_CAPACITY": "20Gi"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${APP}", Resolved("jellyfin", True)),
        ("${KOPIUR_ACCESSMODES:=ReadWriteOnce}", Resolved("ReadWriteOnce", True)),
        ("${KOPIUR_CAPACITY:=5Gi}", Resolved("20Gi", True)),
        ("${KOPIUR_CLAIM:-${APP}}", Resolved("jellyfin", True)),
        ("${EMPTY:-fallback}", Resolved("fallback", True)),
        ("${EMPTY-fallback}", Resolved("", True)),
        ("pre-${APP}-post", Resolved("pre-jellyfin-post", True)),
        ("$${APP}", Resolved("${APP}", True)),
        ("${UNKNOWN}", Resolved("${UNKNOWN}", False)),
        ("${APP^^}", Resolved("${APP^^}", False)),
        ("${unclosed", Resolved("${unclosed", False)),
        ("{{ .Release.Name }}", Resolved("{{ .Release.Name }}", True)),
    ],
)
def test_substitute(text: str, expected: Resolved) -> None:
    assert substitute(text, VARS) == expected


def test_resolve_scalar_keeps_unresolved_and_non_strings() -> None:
    assert resolve_scalar("${NOPE}-x", VARS) == "${NOPE}-x"
    assert resolve_scalar(2000, VARS) == 2000
    assert resolve_scalar("${APP}", VARS) == "jellyfin"
