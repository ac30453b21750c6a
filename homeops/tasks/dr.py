"""Tasks of the `dr` namespace."""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection("dr")
