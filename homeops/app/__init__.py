"""The composition root: the only place that turns an inventory and options into a run.

* ``backend`` — which world a run acts on: ``open_runtime`` loads the inventory and picks the real
  cluster or the simulator (the one rule, written down there), and the runtime says which it is.
* ``options`` — ``Options``: dry_run, yes, resume, break_lock, ignore_window.
* ``runs`` — ``run`` (a named node operation), the executors (only built here), observe → plan →
  show → confirm → execute (``run_operation``), ``--resume`` (``plan_or_resume``) and the resume
  command a run prints.
* ``policies`` — the run's listeners and policies from the inventory and options: one line per feature.
* ``workflows`` — the orchestrators of the workflows with their own world (bootstrap, dr.rebuild,
  volsync, etcd snapshots, the DR rehearsal): the wiring only; planning stays in ``homeops.operations``.

Layer 5 (``homeops.layers``): tasks call it, it calls operations, policies, the engine and the
simulator. Kept light: nothing here is imported by ``inv --list``.
"""
