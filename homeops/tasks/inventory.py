"""Tasks of the `inventory` namespace."""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection("inventory")
