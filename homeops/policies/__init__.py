"""Run policies and listeners a run is composed with (layer 4): maintenance windows, notifications, hooks, alerts.

Each module holds one concern and plugs into the engine's seams (``homeops.engine.events``): a ``Listener``
that is told what a run does, or a ``RunPolicy`` that may refuse, hold or stop it. ``homeops.app`` registers
them with one line each. Modules here may import the engine, adapters, inventory, sops, runners and errors;
never ``homeops.app``, ``homeops.tasks`` or ``homeops.sim``.
"""
