"""Run policies: what may refuse, hold or stop a run, each in one module (layer 4).

A policy is a ``homeops.engine.events.RunPolicy``; the composition root registers each one with one
line. Policies may use the engine, adapters, inventory, runners and errors — never the tasks or the
composition root above them, never the simulator.
"""
