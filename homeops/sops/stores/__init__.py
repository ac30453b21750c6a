"""File formats sops reads and writes, one module each; ``store_for`` picks one like sops does."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from homeops.sops.tree import Branch

FORMATS = ("yaml", "json", "dotenv", "ini", "binary")


class Store(Protocol):
    """Reads file bytes into branches (+ the plain ``sops`` metadata mapping) and writes them back."""

    name: str

    def load(self, data: bytes, *, file: str) -> tuple[list[Branch], Any]:
        """Branches without the metadata, and the plain metadata mapping (None when absent)."""
        ...

    def dump(self, branches: list[Branch], metadata: dict[str, Any] | None) -> bytes:
        """The file bytes; ``metadata`` None writes a plaintext file."""
        ...


def format_for_path(path: str | Path) -> str:
    """cmd/sops/formats: .yaml/.yml, .json, .env, .ini; anything else is binary."""
    name = str(path).lower()
    if name.endswith((".yaml", ".yml")):
        return "yaml"
    if name.endswith(".json"):
        return "json"
    if name.endswith(".env"):
        return "dotenv"
    if name.endswith(".ini"):
        return "ini"
    return "binary"


def store_for(fmt: str) -> Store:
    from homeops.sops.stores.binary_store import BinaryStore
    from homeops.sops.stores.dotenv_store import DotenvStore
    from homeops.sops.stores.ini_store import IniStore
    from homeops.sops.stores.json_store import JsonStore
    from homeops.sops.stores.yaml_store import YamlStore

    stores: dict[str, Store] = {
        "yaml": YamlStore(),
        "json": JsonStore(),
        "dotenv": DotenvStore(),
        "ini": IniStore(),
        "binary": BinaryStore(),
    }
    try:
        return stores[fmt]
    except KeyError:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}") from None
