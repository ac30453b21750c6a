"""Tasks of the `talos` namespace."""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection("talos")
