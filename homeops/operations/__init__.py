"""Workflows on the engine (``homeops.engine``): node operations, VM actions, snapshots, and their facts.

* ``facts``      — what is observed (``NodeFacts``, ``EtcdFacts``, …) and the ``Observer`` protocol;
* ``health``     — the cluster gates, how to look at each, and ``ClusterWorld`` (the engine's world);
* ``planners``   — (inventory, facts, request) → ``Plan`` for upgrade / apply / reboot / upgrade-k8s;
* ``talos``      — the step kinds those plans use (registered with the engine);
* ``vm``         — ``pve.vm`` actions (read the VM, decide the qm command) as one-step plans, the etcd-quorum
                   gate, the VM step kinds;
* ``hosts``      — Proxmox and TrueNAS status and their gate looks;
* ``snapshot``   — the one snapshot namer, the etcd snapshot step and plan;
* ``ordering``   — control planes one at a time (etcd leader last), worker batches, one VM per host;
* ``images``     — the installer image of each node, from the talconfig;
* ``conditions`` — what each wait waits for, and what makes it fail at once;
* ``observe``    — ``ClusterObserver``: the facts via the talosctl/kubectl adapters and host checks;
* ``genconfig``  — ``talos.generate-config``.

Running them (runtime, executor, resume) is ``homeops.app``'s: nothing here builds an executor.
"""
