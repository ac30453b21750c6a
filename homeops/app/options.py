"""The options every run takes from the command line, whatever the workflow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Options:
    dry_run: bool = False  # show the plan (and each policy's decision), change nothing
    yes: bool = False  # no question before a mutating plan
    resume: bool = False  # continue the latest unfinished run of this operation
    break_lock: bool = False  # take the cluster lock from a run that died holding it
    ignore_window: bool = False  # --ignore-window: no maintenance window holds this run (homeops.policies.window)
