"""The invoke task namespace: ``from homeops.tasks import ns`` in a repo's tasks.py.

Each sub-collection lives in its own module and imports only invoke at module level, so that
``inv --list`` stays fast.
"""

from __future__ import annotations

from invoke.collection import Collection

from homeops.tasks import bootstrap, cluster, dr, flux, inventory, nas, pve, repo, sim, sops, talos, volsync

ns = Collection()
for _module in (talos, bootstrap, flux, dr, volsync, pve, nas, sops, cluster, inventory, sim, repo):
    ns.add_collection(_module.ns)
for _task in getattr(sim, "top_level", ()):
    ns.add_task(_task)

ns.configure({"homeops": {"inventory": None}})

__all__ = ["ns"]
