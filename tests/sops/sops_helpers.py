"""Helpers for the SOPS tests: the realworld vectors, fresh age keys, the example inventory key."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyrage

from tests.conftest import REALWORLD

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_INVENTORY = REPO / "inventory"
SOPS_RW = REALWORLD / "sops"
EXAMPLE_KEY = EXAMPLE_INVENTORY / "age.key"
EXAMPLE_RECIPIENT = "age1der89ltz6c4p5svv6vs9f7uudmjm6l5dv26nelrl0fyfa44r8vusyjev48"


def manifest_entries(*uses: str) -> list[dict[str, Any]]:
    data = json.loads((SOPS_RW / "manifest.json").read_text())
    return [e for e in data["entries"] if e["use"] in uses]


def expected(entry: dict[str, Any], key: str = "expected") -> dict[str, Any]:
    return json.loads((SOPS_RW / entry[key]).read_text())  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AgeKey:
    identity: str
    recipient: str
    file: Path


def make_key(directory: Path, name: str = "key.txt") -> AgeKey:
    ident = pyrage.x25519.Identity.generate()
    path = directory / name
    path.write_text(f"# public key: {ident.to_public()}\n{ident}\n")
    path.chmod(0o600)
    return AgeKey(str(ident), str(ident.to_public()), path)
