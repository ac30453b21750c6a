"""The engine every workflow runs on: plan → dry-run → confirm → lock → journal → gates/steps/waits → report.

It knows no tool. A workflow (``homeops.operations.<workflow>``) plans ``Plan``s whose steps name
step kinds it registered (``homeops.engine.kinds``), and gives the executor a ``World``: where its
state lives and how to look at a gate. Modules:

* ``plan``     — ``Plan``, ``Step``, ``Command``, ``Gate``, ``Wait``, ``Health`` (frozen values), and
  ``StepParams``: a step kind's own typed parameters, tagged in the journal;
* ``kinds``    — ``StepKind``, ``Look``, ``WaitTerms``, ``StepContext``, ``register``;
* ``executor`` — ``Executor``, ``World``, ``Outcome``;
* ``gates``    — ``Check``, preflight / wait-until-green / stability window;
* ``waits``    — waits with success and failure conditions on an injected clock;
* ``retry``    — the named retry/poll policies (``LOOK_RETRY``, ``UNREACHABLE_COMMAND``, ``poll``);
* ``journal``  — typed, schema-versioned run records; ``lock`` — one run per cluster;
* ``events``   — run events, ``Listener``, ``RunPolicy`` (admit/begin/before_step/end) and its decisions;
* ``progress`` / ``report`` — what the watcher sees (one listener), and the Markdown/JSON report;
* ``text``     — ``one_line``.
"""
