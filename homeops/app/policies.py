"""The run's watchers: who hears its events and which policies may refuse, hold or stop it.

``watchers(runtime, options)`` is the one place a feature that watches or gates runs is switched on,
one line each, from the inventory and the options (a maintenance window from ``maintenance:``,
notifications from ``notify:``, hooks from ``hooks:``, Alertmanager silences and alert gates from
``alertmanager:``/``prometheus:``; their code lives in ``homeops.policies``). Every executor
``homeops.app.runs`` builds gets them; the executor makes the progress display its first listener
(``engine.progress.ProgressListener``). Today: the progress display and notifications (``notify:``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

from homeops.app.backend import banner
from homeops.app.options import Options
from homeops.engine.events import Listener, RunPolicy
from homeops.engine.progress import Progress, for_stream
from homeops.policies.alerts import alert_policies
from homeops.policies.hooks import hook_policies
from homeops.policies.notify import notifications
from homeops.policies.window import window_policies
from homeops.runtime import Runtime


@dataclass(frozen=True)
class Watchers:
    """What a run reports to and asks: the progress display, listeners, run policies."""

    progress: Progress
    listeners: tuple[Listener, ...] = ()
    policies: tuple[RunPolicy, ...] = ()


def watchers(
    runtime: Runtime,
    options: Options,
    *,
    out: TextIO | None = None,
    listeners: Sequence[Listener] = (),
    policies: Sequence[RunPolicy] = (),
) -> Watchers:
    """The watchers of a run on ``runtime`` with ``options`` (the inventory is ``runtime.inventory``);
    ``listeners``/``policies`` are the caller's own (a user's tasks.py), kept after the inventory's."""
    progress = for_stream(out or sys.stdout, clock=runtime.clock, banner=banner(runtime))
    inventory_listeners: list[Listener] = []
    inventory_policies: list[RunPolicy] = []
    # One line per feature (the window first: a closed window refuses before anything else asks).
    inventory_policies += window_policies(runtime.inventory, clock=runtime.clock, ignore=options.ignore_window)
    # notify: both a listener (messages) and a policy (shown with the plan; its end waits for what is in flight)
    notify = notifications(runtime.inventory, report=progress.note)
    inventory_listeners += notify
    inventory_policies += notify
    inventory_policies += alert_policies(runtime.inventory, clock=runtime.clock)
    # Hooks last: begin runs in order and end in reverse, so a silence or a hold is in force around them.
    inventory_policies += hook_policies(runtime.inventory, runner=runtime.local, report=progress.note)
    return Watchers(progress, (*inventory_listeners, *listeners), (*inventory_policies, *policies))
