"""Run policies: what happens around and between a run's steps (``homeops.engine.events.RunPolicy``).

One module per policy (maintenance windows, notifications, hooks, alert silences and gates); each reads
its own section of ``homeops.yaml`` from the ``Inventory`` and is registered in one line by the
composition root. Layer 4: a policy may import engine, adapters, inventory, runners and errors, never
the composition root, the tasks or the simulator.
"""
