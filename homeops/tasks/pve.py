"""Tasks of the `pve` namespace."""

from __future__ import annotations

from invoke.collection import Collection

ns = Collection("pve")
