"""Node operations: facts, pure planners, wait conditions, the adapter-backed observer, task sessions.

* ``facts``      — what is observed (``NodeFacts``, ``EtcdFacts``, …) and the ``Observer`` protocol;
* ``planners``   — (inventory, facts, request) → ``Plan`` for upgrade / apply / reboot / upgrade-k8s;
* ``ordering``   — control planes one at a time (etcd leader last), worker batches, one VM per host;
* ``images``     — the installer image of each node, from the talconfig;
* ``conditions`` — what each wait waits for, and what makes it fail at once;
* ``observe``    — ``ClusterObserver``: the facts via the talosctl/kubectl adapters and host checks;
* ``session``    — observe → plan → show → confirm → execute, as the ``talos.*`` tasks run it;
* ``snapshot``, ``genconfig`` — ``talos.etcd-snapshot`` and ``talos.generate-config``.
"""
