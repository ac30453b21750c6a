"""Notifications: the messages run events become, their delivery through Apprise's ``json://`` to a local
receiver, and the promise that a dead, refusing or hanging notification service never fails or stalls a run.

The ``json://`` payload asserted here is Apprise's: ``{"version", "title", "message", "attachments", "type"}``
(caronc/apprise v1.13.0, apprise/plugins/custom_json.py ``NotifyJSON.send``, the payload at :265; the same
in the 2.3.0 wheel the project installs, :281).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from homeops.clock import FakeClock
from homeops.engine.events import (
    Failed,
    Finished,
    Interrupted,
    NodeDone,
    Planned,
    RunInfo,
    Started,
    StepDone,
    StepFailed,
    Stopped,
    Stuck,
)
from homeops.engine.plan import Plan, Step
from homeops.inventory.model import NOTIFY_EVENTS
from homeops.policies.notify import EVENT_NAME, Message, Notifier, message_for
from homeops.secrets import Secret, add_url, mask
from tests.policies.conftest import Receiver

STEP = Step(
    id="k8s-1:upgrade@v1.11.6",
    action="upgrade",
    summary="upgrade k8s-1 to Talos v1.11.6",
    node="k8s-1",
    reboots=True,
)
PLAN = Plan(operation="upgrade-cluster", cluster="home", steps=(STEP,), target="Talos v1.11.6")
RESUME = "inv upgrade.resume --run 20261205-073000-ab12"
ERROR = "k8s-1: booted back into v1.10.7 (the A/B rollback: the new image did not come up); expected v1.11.6"


def run(backend: str = "real", run_id: str = "20261205-073000-ab12") -> RunInfo:
    return RunInfo("upgrade-cluster", "home", backend, run_id=run_id, resume_command=RESUME)


def started(info: RunInfo | None = None) -> Started:
    return Started(info or run(), PLAN, resumed=False, at=0.0)


def step_failed(info: RunInfo | None = None, error: str = ERROR) -> StepFailed:
    return StepFailed(info or run(), STEP, error, at=1.0)


def finished(info: RunInfo | None = None) -> Finished:
    return Finished(info or run(), PLAN, Path("/state/runs/x/report.md"), at=2.0)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lines:
    """The report seam: what the run would print on stderr."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)


# -- the messages ------------------------------------------------------------------------------------------


def test_every_event_name_in_homeops_yaml_has_an_event_and_back() -> None:
    assert sorted(EVENT_NAME.values()) == sorted(NOTIFY_EVENTS)


def test_a_failing_node_names_cluster_run_node_step_what_was_seen_and_how_to_resume() -> None:
    message = message_for(step_failed())
    assert message is not None
    assert (message.event, message.kind) == ("node-failed", "failure")
    assert message.title == "homeops upgrade-cluster on home: k8s-1 failed"
    assert message.body.splitlines() == [
        "cluster: home",
        "run: 20261205-073000-ab12",
        "node: k8s-1",
        "step: k8s-1:upgrade@v1.11.6 — upgrade k8s-1 to Talos v1.11.6",
        f"observed: {ERROR}",
        f"resume: {RESUME}",
    ]
    assert "SIMULATED" not in message.title + message.body


def test_a_simulated_run_says_so_in_title_and_body() -> None:
    for event in (started(run("simulated")), step_failed(run("simulated")), finished(run("simulated"))):
        message = message_for(event)
        assert message is not None
        assert message.title.startswith("[SIMULATED] homeops upgrade-cluster on home")
        assert message.body.splitlines()[0] == "SIMULATED run: no real machine was touched."


def test_a_failure_before_the_journal_says_nothing_changed_and_offers_no_resume() -> None:
    info = RunInfo("upgrade-cluster", "home", "real")  # no run id, no resume command yet
    message = message_for(Failed(info, "cluster lock held by alice@laptop since 07:12", "lock", at=0.0))
    assert message is not None
    assert message.title == "homeops upgrade-cluster on home: failed (lock)"
    assert "run: (none: it failed before its journal)" in message.body
    assert "observed: cluster lock held by alice@laptop since 07:12" in message.body
    assert "nothing was changed" in message.body
    assert "resume:" not in message.body


def test_stuck_interrupted_stopped_and_finished_messages() -> None:
    stuck = message_for(Stuck(run(), "k8s-1 Ready", "k8s-1", 1250.0, 600.0, "NotReady (kubelet starting)", at=0.0))
    assert stuck is not None and stuck.kind == "warning"
    assert "node: k8s-1" in stuck.body and "observed: NotReady (kubelet starting)" in stuck.body
    assert "1250s so far, expected within 600s" in stuck.body
    interrupted = message_for(Interrupted(run(), "k8s-1:upgrade@v1.11.6", at=0.0))
    assert interrupted is not None and f"resume: {RESUME}" in interrupted.body
    assert "observed: Ctrl-C during k8s-1:upgrade@v1.11.6" in interrupted.body
    early = message_for(Interrupted(run(), "before the run started (confirm)", at=0.0))
    assert early is not None and "observed: Ctrl-C before the run started (confirm)" in early.body
    assert "resume:" not in early.body
    stopped = message_for(Stopped(run(), "maintenance window closes at 06:00", at=0.0))
    assert stopped is not None and "observed: maintenance window closes at 06:00" in stopped.body
    assert f"resume: {RESUME}" in stopped.body
    done = message_for(finished())
    assert done is not None and done.kind == "success" and "report: /state/runs/x/report.md" in done.body
    node = message_for(NodeDone(run(), "k8s-1", at=0.0))
    assert node is not None and node.title.endswith("k8s-1 done")


def test_planned_and_step_events_are_not_messages() -> None:
    assert message_for(Planned(run(), PLAN, dry_run=True, at=0.0)) is None
    assert message_for(StepDone(run(), STEP, 1, 1, at=0.0)) is None


def test_a_secret_in_an_error_line_is_masked_in_the_message() -> None:
    token = "hunter2-Zx81kQ9"
    add_url(f"ntfys://ntfy.example.org/{token}")
    message = message_for(step_failed(error=f"POST ntfys://ntfy.example.org/{token} refused; token {token}"))
    assert message is not None
    assert token not in message.body


# -- delivery through Apprise ------------------------------------------------------------------------------


def test_start_and_a_failing_node_reach_a_json_receiver_through_apprise(receiver: Receiver) -> None:
    lines = Lines()
    notifier = Notifier([add_url(receiver.url())], ["started", "node-failed"], timeout=10.0, report=lines)
    notifier.on_event(started())
    notifier.on_event(step_failed())
    notifier.on_event(finished())  # not asked for: not sent, but the end waits for what is in flight
    got = receiver.wait_for(2)
    assert len(got) == 2, got
    assert set(got[0]) >= {"version", "title", "message", "type"}  # Apprise's json:// payload
    assert (got[0]["type"], got[1]["type"]) == ("info", "failure")
    assert got[0]["title"] == "homeops upgrade-cluster on home: started"
    assert "1 steps on k8s-1 → Talos v1.11.6" in got[0]["message"]
    assert got[1]["title"] == "homeops upgrade-cluster on home: k8s-1 failed"
    assert "node: k8s-1" in got[1]["message"] and f"observed: {ERROR}" in got[1]["message"]
    assert f"resume: {RESUME}" in got[1]["message"]
    assert receiver.paths == ["/homeops/Tok3nSecretX9"] * 2
    assert lines.lines == [] and notifier.report_lines() == ()


def test_a_simulated_run_is_marked_at_the_receiver(receiver: Receiver) -> None:
    notifier = Notifier([add_url(receiver.url())], ["started"], timeout=10.0, report=Lines())
    notifier.on_event(started(run("simulated")))
    notifier.drain(10.0)
    (got,) = receiver.wait_for(1)
    assert got["title"].startswith("[SIMULATED] ")
    assert got["message"].startswith("SIMULATED run: no real machine was touched.")


def test_an_unreachable_url_is_reported_and_the_run_goes_on(
    apprise_loaded: None, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"json://127.0.0.1:{closed_port()}/hook/Un4vailableTok"
    notifier = Notifier([add_url(url)], ["started", "finished"], timeout=10.0)  # default report: stderr
    began = time.monotonic()
    notifier.on_event(started())
    assert time.monotonic() - began < 0.2  # handed to the worker; the run is not held up
    notifier.on_event(finished())
    assert time.monotonic() - began < 2.0  # a refused connection fails at once
    err = capsys.readouterr().err
    assert "notify: url 1 (json): 'started' not sent: A Connection error occurred" in err
    assert "the run goes on" in err
    assert url not in err and "Un4vailableTok" not in err
    assert len(notifier.report_lines()) == 2  # one line per message that did not go out


def test_a_refusing_receiver_is_reported(receiver: Receiver) -> None:
    receiver.status = 500
    lines = Lines()
    notifier = Notifier([add_url(receiver.url())], ["started"], timeout=10.0, report=lines)
    notifier.on_event(started())
    notifier.drain(10.0)
    (line,) = lines.lines
    assert line.startswith("notify: url 1 (json): 'started' not sent: Failed to send JSON POST notification")
    assert "500" in line


def test_a_hanging_receiver_neither_fails_nor_stalls_the_run_and_others_still_get_theirs(
    apprise_loaded: None, receiver: Receiver
) -> None:
    hung = Receiver()
    hung.hang = True
    hung.thread.start()
    try:
        lines = Lines()
        urls = [add_url(hung.url("/hung/HangT0ken99")), add_url(receiver.url())]
        notifier = Notifier(urls, ["started", "node-failed", "failed"], timeout=1.0, report=lines)
        began = time.monotonic()
        notifier.on_event(started())
        notifier.on_event(step_failed())
        assert time.monotonic() - began < 0.2
        notifier.on_event(Failed(run(), ERROR, "step", at=3.0, step=STEP))
        waited = time.monotonic() - began
        assert waited < 2.0, waited  # bounded by the timeout (1 s), not by the service
        assert len(receiver.wait_for(3)) == 3  # the other URL is not held up by the hung one
        assert lines.lines == [
            "notify: url 1 (json): 'started', 'node-failed', 'failed' not sent within 1s;"
            " gave up waiting; the run goes on"
        ]
        assert not any("HangT0ken99" in line or str(hung.port) in line for line in lines.lines)
    finally:
        hung.release.set()
        hung.server.shutdown()
        hung.server.server_close()


def test_a_slow_message_is_reported_while_the_run_goes_on_in_virtual_time() -> None:
    clock = FakeClock()
    gate = threading.Event()
    sent: list[str] = []

    def slow(url: str, message: Message) -> str | None:
        gate.wait(2.0)
        sent.append(message.event)
        return None

    lines = Lines()
    notifier = Notifier(
        [Secret("json://127.0.0.1:1/x")],
        ["started", "node-done"],
        timeout=10.0,
        send=slow,
        report=lines,
        monotonic=clock.monotonic,
    )
    notifier.on_event(started())
    deadline = time.monotonic() + 2.0
    while notifier._channels[0].pending[0].started is None and time.monotonic() < deadline:
        time.sleep(0.005)  # the worker picks the message up
    clock.advance(11.0)
    notifier.on_event(NodeDone(run(), "k8s-1", at=1.0))
    assert lines.lines == [
        "notify: url 1 (json): no answer to 'started' in 10s; still trying in the background; the run goes on"
    ]
    gate.set()
    notifier.drain(10.0)
    assert sent == ["started", "node-done"]  # in order, the slow one after all
    assert len(lines.lines) == 1


def test_a_sender_that_raises_is_reported_not_raised() -> None:
    def broken(url: str, message: Message) -> str | None:
        raise RuntimeError(f"cannot reach {url}")

    lines = Lines()
    url = add_url("json://127.0.0.1:1/hook/Br0kenTokenZ")
    notifier = Notifier([url], ["started"], send=broken, report=lines)
    notifier.on_event(started())
    notifier.drain(10.0)
    assert lines.lines == [
        "notify: url 1 (json): 'started' not sent: RuntimeError: cannot reach ******; the run goes on"
    ]


def test_only_the_events_asked_for_are_sent() -> None:
    sent: list[str] = []

    def record(url: str, message: Message) -> str | None:
        sent.append(message.event)
        return None

    notifier = Notifier([Secret("json://127.0.0.1:1/x")], ["failed"], send=record, report=Lines())
    for event in (started(), NodeDone(run(), "k8s-1", at=0.0), step_failed(), finished()):
        notifier.on_event(event)
    notifier.on_event(Failed(run(), ERROR, "step", at=0.0, step=STEP))
    assert sent == ["failed"]


def test_an_unknown_url_scheme_is_reported(receiver: Receiver) -> None:
    lines = Lines()
    notifier = Notifier([add_url("nosuchscheme://Zq9TokenAbc1/x")], ["started"], report=lines)
    notifier.on_event(started())
    notifier.drain(10.0)
    assert lines.lines == [
        "notify: url 1 (nosuchscheme): 'started' not sent: Apprise cannot use this URL (unknown schema or a"
        " malformed URL); the run goes on"
    ]


def test_apprise_is_imported_only_when_a_message_is_sent() -> None:
    """Not by the tasks (what ``inv --list`` loads), not by the notifier's module or a run without URLs."""
    code = (
        "import sys, homeops.tasks, homeops.policies.notify as n\n"
        "from homeops.inventory.model import NotifyConfig\n"
        "assert n.notifier_from(NotifyConfig(), environ={}) is None\n"
        "print('apprise' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_masking_covers_the_whole_url_and_its_token() -> None:
    url = "json://127.0.0.1:8080/hook/MaskM3Token"
    add_url(url)
    assert mask(f"posting to {url} failed; token MaskM3Token") == "posting to ****** failed; token ******"
    assert "127.0.0.1" in mask("host 127.0.0.1")  # an address alone is no secret


def test_the_plan_shows_where_messages_go_without_a_url() -> None:
    urls = [add_url("ntfys://ntfy.sh/Pl4nTopic"), add_url("json://127.0.0.1:9/x")]
    notifier = Notifier(urls, ["failed", "started"], report=Lines())
    (line,) = notifier.describe(PLAN)
    assert line == "started, failed → url 1 (ntfys), url 2 (json) (through Apprise; never holds the run)"
    assert "Pl4nTopic" not in line


def test_the_end_of_a_run_waits_once_for_a_dead_service_not_once_per_event(receiver: Receiver) -> None:
    """``end`` (before the report is written) gives up on a hung URL after ``timeout``; the last event, which
    comes after it, is not made to wait for the same URL again — and the report lines name what was lost."""
    receiver.hang = True
    lines = Lines()
    notifier = Notifier([add_url(receiver.url())], ["started", "failed"], timeout=0.3, report=lines)
    began = time.monotonic()
    notifier.on_event(started())
    notifier.end(run(), "failed")
    assert 0.25 < time.monotonic() - began < 1.0
    assert notifier.report_lines() == (
        "url 1 (json): 'started' not sent within 0.3s; gave up waiting; the run goes on",
    )
    again = time.monotonic()
    notifier.on_event(Failed(run(), ERROR, "step", at=3.0, step=STEP))
    assert time.monotonic() - again < 0.2
    assert lines.lines[-1] == (
        "notify: url 1 (json): 'failed' not sent: an earlier one still hangs; gave up waiting; the run goes on"
    )
    receiver.release.set()


def test_ctrl_c_while_the_end_waits_for_messages_stops_the_wait_not_the_run() -> None:
    """A raising ``end`` fails a finished run (engine/executor.py ``_end``): Ctrl-C during the notifier's bounded
    wait must instead mean "do not wait" — reported, never raised, and the last event does not wait again."""
    gate = threading.Event()

    def hung(url: str, message: Message) -> str | None:
        gate.wait(5.0)
        return None

    lines = Lines()
    notifier = Notifier([Secret("json://127.0.0.1:1/x")], ["started", "finished"], timeout=5.0, send=hung, report=lines)
    notifier.on_event(started())
    # A real SIGINT to this thread (where Python runs signal handlers): it wakes the blocked wait like Ctrl-C.
    assert threading.current_thread() is threading.main_thread()
    main = threading.get_ident()
    timer = threading.Timer(0.2, lambda: signal.pthread_kill(main, signal.SIGINT))
    timer.start()
    began = time.monotonic()
    try:
        notifier.end(run(), "finished")  # would wait 5 s
        again = time.monotonic()
        notifier.on_event(finished())
        assert time.monotonic() - again < 0.1
    finally:
        timer.cancel()
        gate.set()
    assert time.monotonic() - began < 1.5
    assert notifier.report_lines()[0] == (
        "url 1 (json): 'started' not sent: Ctrl-C, not waited for; gave up waiting; the run goes on"
    )
    assert lines.lines[-1] == (
        "notify: url 1 (json): 'finished' not sent: an earlier one still hangs; gave up waiting; the run goes on"
    )


def test_a_topic_alone_is_masked_but_plain_words_of_a_url_are_not() -> None:
    add_url("ntfys://ntfy.sh/homeops-alerts")
    add_url("slack://hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/Xy9zzzzzzzzzzzzzzzzzzzzz")
    assert mask("topic homeops-alerts") == "topic ******"
    assert mask("T0AAAAAAA B0BBBBBBB Xy9zzzzzzzzzzzzzzzzzzzzz") == "****** ****** ******"
    assert (
        mask("kubernetes services on hooks.slack.com via ntfy.sh")
        == "kubernetes services on hooks.slack.com via ntfy.sh"
    )


def test_a_hung_service_does_not_hold_up_the_end_of_the_process(receiver: Receiver) -> None:
    """Apprise 2.x sends on a shared pool when a service has a ``service_timeout`` (default 60 s; apprise/asset.py:253,
    apprise.py:1543 in 2.3.0), and the interpreter joins pool threads at exit. ``apprise_send`` keeps the send on the
    notifier's daemon thread, so a process whose run is over exits while the receiver still holds the request
    (Apprise's own socket timeouts raised to 30 s here; the receiver holds it for 10 s)."""
    receiver.hang = True
    url = receiver.url("/hung/ExitT0ken1") + "?cto=30&rto=30"
    code = (
        "import sys, apprise\n"
        "from homeops.engine.events import RunInfo, Started\n"
        "from homeops.engine.plan import Plan\n"
        "from homeops.policies.notify import Notifier\n"
        "from homeops.secrets import Secret\n"
        "apprise.Apprise().add('json://127.0.0.1:9/warm-up')  # plugins loaded: the wait below times the send\n"
        "n = Notifier([Secret(sys.argv[1])], ['started'], timeout=1.0, report=print)\n"
        "plan = Plan('upgrade-cluster', 'home', ())\n"
        "n.on_event(Started(RunInfo('upgrade-cluster', 'home', 'real'), plan, False, 0))\n"
        "n.drain(1.0)\n"
    )
    began = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-W", "ignore::DeprecationWarning", "-c", code, url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    elapsed = time.monotonic() - began
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("notify: url 1 (json): 'started' not sent within 1s; gave up waiting"), done.stdout
    assert receiver.arrived.is_set()  # the request was being held when the process ended
    assert elapsed < 8.0, elapsed  # neither the 10 s the receiver holds it nor Apprise's 30 s
