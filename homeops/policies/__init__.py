"""Run policies and listeners a run is composed with, each in one module (layer 4): maintenance windows,
notifications, hooks, Alertmanager silences and alert gates.

A policy is a ``homeops.engine.events.RunPolicy`` (it may refuse, hold or stop a run); a listener is told what
a run does (``Listener.on_event``); the composition root (``homeops.app.policies``) registers each one with
one line. Modules here may use the engine, adapters, inventory, sops, runners and errors — never the tasks or
the composition root above them, never the simulator.
"""
