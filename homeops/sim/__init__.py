"""homeops.sim: a simulated cluster that the unchanged production code drives through its usual tools.

Modules (import what you need; this package imports nothing at load time):

* ``store``   — the state file and its lock (schema in its docstring);
* ``state``   — ``initial_state(inventory, SimOptions(...))``: nodes, etcd, Kubernetes, Flux, hosts;
* ``engine``  — simulated time: ``begin_reboot`` schedules, ``advance(state, t)`` applies, lazily;
* ``clock``   — ``SimClock(store)``: virtual time (sleep advances the sim) or the wall clock;
* ``faults``  — ``inject`` / ``clear`` / ``listing`` of named faults (``SPECS``);
* ``tools``   — the fake ``talosctl``, ``talhelper``, ``kubectl``, ``helmfile``, ``flux``
  (``tools.run(name, argv, stdin, env)``; ``write_bin_dir(path)`` for the executables);
* ``runner``  — ``SimRunner``: a ``Runner`` calling the fake tools in-process;
* ``attach``  — ``attach(inventory, sim_dir)``: the ``Runtime`` ``open_runtime`` returns for a sim;
* ``lifecycle`` — ``sim_dir``, ``start`` (what ``inv sim.up`` does), Docker checks, host containers;
* ``backups`` — faults on the backup files (a snapshot gone from the NAS, or damaged);
* ``rehearsal`` — the DR drill (``inv dr.rehearse``), with the run's wiring handed in by ``homeops.app``;
* ``hosts``, ``hostbin``, ``hostrunner``, ``containers``, ``hostimage`` — Proxmox/TrueNAS hosts
  (shims, local runner, OpenSSH containers).

Tasks: ``inv sim.up|status|fault|log|down`` and ``inv demo`` (``homeops.tasks.sim``).
"""
