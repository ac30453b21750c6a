"""Tasks of the `nas` namespace."""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection("nas")
