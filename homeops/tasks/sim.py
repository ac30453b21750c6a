"""Tasks of the `sim` namespace."""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection("sim")
