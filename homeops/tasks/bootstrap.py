"""Tasks of the `bootstrap` namespace."""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection("bootstrap")
