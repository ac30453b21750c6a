"""Run policies and listeners a run is composed with, each in one module (layer 4): maintenance windows,
notifications, hooks, Alertmanager silences and alert gates.

A policy is a ``homeops.engine.events.RunPolicy`` (it may refuse, hold or stop a run); a listener is told what
a run does (``Listener.on_event``); the composition root (``homeops.app.policies``) registers each one with
one line. Modules here may use the engine, adapters, inventory, sops, runners and errors — never the tasks or
the composition root above them, never the simulator.
"""


def span_text(seconds: float) -> str:
    """A duration as the inventory writes one (``90s``, ``15m``, ``1h30m``, ``0.5s``); the loader reads it back."""
    if seconds != int(seconds) or seconds < 60:
        return f"{seconds:g}s"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if minutes else "") + (f"{secs}s" if secs else "")
