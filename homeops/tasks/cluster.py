"""Tasks of the `cluster` namespace."""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection("cluster")
