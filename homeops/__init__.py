"""homeops: safe, planned, health-gated lifecycle automation for Talos clusters.

The public API, for your own ``tasks.py`` (``homeops.__all__``; every name is importable from
``homeops`` itself, and loaded only when first used, so ``import homeops`` stays instant)::

    import homeops

    with homeops.open_runtime("inventory") as rt:            # real cluster, or the simulator if one is up
        print(homeops.cluster_status(rt).healthy)
    outcome = homeops.run("inventory", "upgrade-cluster", homeops.Options(dry_run=True), version="v1.11.6")

Running
    ``open_runtime`` (inventory dir -> ``Runtime``: its inventory, runners, clock, ``backend``),
    ``run`` (a named node operation, ``OPERATIONS``, asked with ``Request``'s fields), ``Options``
    (dry_run, yes, resume, break_lock, ignore_window), ``run_operation`` (your own planner), ``executor_for`` (the
    engine's executor for a ``Plan`` you built, wired to a runtime), ``load_inventory``, ``Inventory``,
    ``cluster_status`` (one look at nodes, etcd, Kubernetes and hosts), ``start_simulator`` (what
    ``inv sim.up`` does: every later run on that inventory goes to the simulator and says SIMULATED).
Plans and the engine
    ``Plan``, ``Step``, ``Command``, ``Gate``, ``Wait``, ``Health``, ``Executor``, ``Outcome``, ``World``,
    ``StepKind``, ``register_step_kind``.
Run events and policies
    ``Listener``, ``RunPolicy``, ``RunEvent``, ``RunInfo``, ``GO``, ``Go``, ``Hold``, ``StopRun``, and the
    events ``Planned``, ``Started``, ``StepStarted``, ``StepDone``, ``NodeDone``, ``StepFailed``,
    ``Stuck``, ``Finished``, ``Failed``, ``Stopped``, ``RunInterrupted`` (``engine.events.Interrupted``).
Errors (one tree, rooted at ``HomeopsError``)
    ``HomeopsError``, ``ConfigError``, ``CommandError``, ``CommandTimeout``, ``ToolNotFound``,
    ``ConnectionFailed``, ``HostKeyRejected``, ``SecretError``, ``PlanError``, ``GateFailed``,
    ``WaitTimeout``, ``LockHeld``, ``PolicyRefused``, ``RunStopped``, ``Aborted``, ``SimError``.

Kept import-light on purpose: ``inv --list`` imports this package, and the heavy modules
(paramiko, rich, cryptography) are imported only by the code paths that need them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> "module" or "module:attribute" (when the public name differs from the module's).
_EXPORTS = {
    # running
    "open_runtime": "homeops.app.backend",
    "Runtime": "homeops.runtime",
    "run": "homeops.app.runs",
    "OPERATIONS": "homeops.app.runs",
    "Options": "homeops.app.options",
    "Request": "homeops.operations.planners",
    "run_operation": "homeops.app.runs",
    "executor_for": "homeops.app.runs",
    "load_inventory": "homeops.inventory.loader",
    "Inventory": "homeops.inventory.model",
    "cluster_status": "homeops.status:gather",
    "start_simulator": "homeops.sim.lifecycle:start",
    # plans and the engine
    "Plan": "homeops.engine.plan",
    "Step": "homeops.engine.plan",
    "Command": "homeops.engine.plan",
    "Gate": "homeops.engine.plan",
    "Wait": "homeops.engine.plan",
    "Health": "homeops.engine.plan",
    "Executor": "homeops.engine.executor",
    "Outcome": "homeops.engine.executor",
    "World": "homeops.engine.executor",
    "StepKind": "homeops.engine.kinds",
    "register_step_kind": "homeops.engine.kinds:register",
    # run events and policies
    "Listener": "homeops.engine.events",
    "RunPolicy": "homeops.engine.events",
    "RunEvent": "homeops.engine.events",
    "RunInfo": "homeops.engine.events",
    "GO": "homeops.engine.events",
    "Go": "homeops.engine.events",
    "Hold": "homeops.engine.events",
    "StopRun": "homeops.engine.events",
    "Planned": "homeops.engine.events",
    "Started": "homeops.engine.events",
    "StepStarted": "homeops.engine.events",
    "StepDone": "homeops.engine.events",
    "NodeDone": "homeops.engine.events",
    "StepFailed": "homeops.engine.events",
    "Stuck": "homeops.engine.events",
    "Finished": "homeops.engine.events",
    "Failed": "homeops.engine.events",
    "Stopped": "homeops.engine.events",
    "RunInterrupted": "homeops.engine.events:Interrupted",
    # errors
    "HomeopsError": "homeops.errors",
    "ConfigError": "homeops.errors",
    "CommandError": "homeops.errors",
    "CommandTimeout": "homeops.errors",
    "ToolNotFound": "homeops.errors",
    "ConnectionFailed": "homeops.errors",
    "HostKeyRejected": "homeops.errors",
    "SecretError": "homeops.errors",
    "PlanError": "homeops.errors",
    "GateFailed": "homeops.errors",
    "WaitTimeout": "homeops.errors",
    "LockHeld": "homeops.errors",
    "PolicyRefused": "homeops.errors",
    "RunStopped": "homeops.errors",
    "Aborted": "homeops.errors",
    "SimError": "homeops.errors",
}

__all__ = ["__version__", *sorted(_EXPORTS)]


def __getattr__(name: str) -> Any:
    """Load a public name on first use (PEP 562); unknown names fall through to submodules."""
    where = _EXPORTS.get(name)
    if where is None:
        raise AttributeError(f"module 'homeops' has no attribute {name!r}")
    module, _, attribute = where.partition(":")
    value = getattr(importlib.import_module(module), attribute or name)
    globals()[name] = value  # the next lookup does not come here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
