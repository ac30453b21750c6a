"""Tasks of the `sops` namespace."""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection("sops")
