"""What ``--resume`` keeps from the saved plan when homeops.yaml changed since the run started.

A resumed run executes the journaled plan, timeouts and all, so that a half-done rollout keeps
the rules it started with. When the inventory now says otherwise, the user is told which saved
values still apply rather than finding out when a wait gives up at the old timeout.
"""

from __future__ import annotations

from collections.abc import Iterable

from homeops.engine.plan import Plan
from homeops.inventory.model import UpgradePolicy


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _saved_timeouts(plan: Plan, kinds: Iterable[str]) -> set[float]:
    wanted = set(kinds)
    return {w.timeout for s in plan.steps for w in s.waits if w.kind in wanted}


def kept_settings(plan: Plan, policy: UpgradePolicy) -> list[str]:
    """``name saved (homeops.yaml now: value)`` for each saved setting that differs from ``policy``."""
    kept: list[str] = []

    def compare(name: str, saved: set[float], now: float) -> None:
        if saved and saved != {now}:
            shown = ", ".join(_seconds(v) for v in sorted(saved))
            kept.append(f"{name} {shown} (homeops.yaml now: {_seconds(now)})")

    compare("rebootTimeout", _saved_timeouts(plan, ("rebooted",)), policy.reboot_timeout)
    ready_kinds = ("running", "k8s-ready", "etcd-member", "k8s-version")
    compare("readyTimeout", _saved_timeouts(plan, ready_kinds), policy.ready_timeout)
    if any(step.gates_after for step in plan.steps):
        # only the node plans (planners.plan_from) take it from homeops.yaml and hold their steps'
        # gates green that long; volsync, bootstrap and dr plans are made with 0 whatever homeops.yaml
        # says, so "stabilitySeconds 0s (homeops.yaml now: 30s)" on their every resume misled
        compare("stabilitySeconds", {plan.stability_seconds}, policy.stability_seconds)
    compare("pollInterval", {plan.poll_interval}, policy.poll_interval)
    return kept


def resume_notice(plan: Plan, policy: UpgradePolicy) -> str | None:
    kept = kept_settings(plan, policy)
    if not kept:
        return None
    return (
        "homeops.yaml changed since this run started; --resume keeps the saved plan's settings: "
        + "; ".join(kept)
        + " (start a new run without --resume to use the new ones)"
    )
