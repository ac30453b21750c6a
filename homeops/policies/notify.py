"""Run events as notifications through Apprise (ntfy, Discord, Slack, Gotify, mail, ``json://`` webhooks…).

``Notifier`` is a ``Listener``: for each event the user asked for (homeops.yaml ``notify.events``) it
builds one message naming the cluster, the run, the node, the step, what was observed and the command
that resumes the run — ``[SIMULATED]`` in the title and the body of a simulated run — and hands it to
one background worker per URL, so a slow or dead notification service never holds the run up. What a
worker could not deliver (refused, unreachable, no answer within ``timeout``) is reported in one line
(a progress note, or stderr) and the run goes on. The notifier is also a ``RunPolicy`` that never
refuses or holds: the plan shows where messages go, and its ``end`` waits at most ``timeout`` for
messages still in flight, so the report's ``notify`` section lists every one that did not go out
(the run's last message is sent after the report is written; the executor writes it again when that
message changed the section).

URLs carry tokens: they are registered with the process masker as they are read (homeops.yaml, the
SOPS ``urlsFile``, ``$HOMEOPS_NOTIFY_URLS``), every message is masked before it leaves, and a URL is
only ever named by its position and scheme (``url 2 (ntfys)``). Apprise is imported by the worker when
the first message is sent — never at import, so ``inv --list`` and runs without notifications do not pay
for its plugin loading.

Built against Apprise 2.3.0 (the PyPI wheel installed) and read in caronc/apprise v1.13.0: ``Apprise.add``
returns False for a URL it cannot use (apprise/apprise.py:268 in v1.13.0, :457 in 2.3.0); ``notify`` returns a
truthy result on success (:616 / :1050); the ``json://`` plugin POSTs ``{"version", "title", "message",
"attachments", "type"}`` (apprise/plugins/custom_json.py, the payload at :265 / :281); a service with
``asset.async_mode`` False is sent to on the calling thread (v1.13.0 apprise.py:698), and in 2.x only
without a ``service_timeout`` (default 60 s, asset.py:253), else on a shared pool (apprise.py:1543,
dispatch.py:171) whose threads the interpreter joins at exit.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from homeops.engine.events import (
    EndStatus,
    Failed,
    Finished,
    Interrupted,
    NodeDone,
    RunEvent,
    RunInfo,
    RunPolicy,
    Started,
    StepFailed,
    Stopped,
    Stuck,
)
from homeops.errors import ConfigError, HomeopsError
from homeops.inventory.model import NOTIFY_EVENTS, Inventory, NotifyConfig
from homeops.secrets import Secret, add_url, mask

if TYPE_CHECKING:
    from homeops.engine.plan import Plan

ENV_URLS = "HOMEOPS_NOTIFY_URLS"

#: Which event name (homeops.yaml ``notify.events``) each run event answers to.
EVENT_NAME: Mapping[type, str] = {
    Started: "started",
    NodeDone: "node-done",
    StepFailed: "node-failed",
    Stuck: "stuck",
    Finished: "finished",
    Failed: "failed",
    Interrupted: "interrupted",
    Stopped: "stopped",
}

_ENDS = (Finished, Failed, Interrupted, Stopped)
_NOTHING_CHANGED = ("plan", "admit", "confirm", "lock", "begin", "preflight")


@dataclass(frozen=True)
class Message:
    event: str  # the notify.events name
    title: str
    body: str
    kind: str  # Apprise's notify type: info, success, warning, failure


def message_for(event: RunEvent) -> Message | None:
    """The message an event is told as (masked), or None for events nobody is notified of."""
    name = EVENT_NAME.get(type(event))
    if name is None:
        return None
    run = event.run
    kind = "info"
    node: str | None = None
    step = None
    observed = ""
    resume = False
    extra: list[str] = []
    if isinstance(event, Started):
        what = "resumed" if event.resumed else "started"
        nodes = event.plan.nodes()
        observed = f"{len(event.plan.steps)} steps" + (f" on {', '.join(nodes)}" if nodes else "")
        if event.plan.target:
            observed += f" → {event.plan.target}"
    elif isinstance(event, NodeDone):
        what, kind, node = f"{event.node} done", "success", event.node
    elif isinstance(event, StepFailed):
        step, node = event.step, event.step.node
        what, kind, observed, resume = f"{node or 'cluster'} failed", "failure", event.error, True
    elif isinstance(event, Stuck):
        node = event.target
        what, kind, observed = f"{event.what} is taking long", "warning", event.observed
        extra.append(f"waiting: {event.elapsed:.0f}s so far, expected within {event.expected:.0f}s (still waiting)")
    elif isinstance(event, Finished):
        what, kind = "finished", "success"
        extra.append(f"report: {event.report}" if event.report else "")
    elif isinstance(event, Failed):
        step = event.step
        node = step.node if step else None
        what, kind, observed = f"failed ({event.stage})", "failure", event.error
        resume = event.stage not in _NOTHING_CHANGED
        if not resume:
            extra.append("nothing was changed")
        extra.append(f"report: {event.report}" if event.report else "")
    elif isinstance(event, Interrupted):
        before = event.where.startswith(("before ", "between "))  # "before the run started (lock)", "between steps"
        what, kind = "interrupted", "warning"
        observed = f"Ctrl-C {event.where}" if before else f"Ctrl-C during {event.where}"
        resume = not event.where.startswith("before ")
        extra.append(f"report: {event.report}" if event.report else "")
    elif isinstance(event, Stopped):
        what, kind, observed, resume = "stopped", "warning", event.why, True
        extra.append(f"report: {event.report}" if event.report else "")
    else:  # pragma: no cover - EVENT_NAME and the branches above name the same types
        return None
    banner = "[SIMULATED] " if run.simulated else ""
    title = f"{banner}homeops {run.operation} on {run.cluster}: {what}"
    lines = ["SIMULATED run: no real machine was touched."] if run.simulated else []
    lines += [f"cluster: {run.cluster}", f"run: {run.run_id or '(none: it failed before its journal)'}"]
    if node:
        lines.append(f"node: {node}")
    if step is not None:
        lines.append(f"step: {step.id} — {step.summary}")
    if observed:
        lines.append(f"observed: {_one_line(observed)}")
    lines += [line for line in extra if line]
    if resume and run.resume_command:
        lines.append(f"resume: {run.resume_command}")
    return Message(name, mask(title), mask("\n".join(lines)), kind)


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- sending ---------------------------------------------------------------------------------------------

#: Sends one message to one URL; returns None when delivered, else one line saying why not.
Sender = Callable[[str, Message], str | None]


class _AppriseLogs(logging.Filter):
    """Catches Apprise's own log lines on the threads that send for us.

    They can quote parts of a URL, so they go nowhere else (not to a handler the user's ``tasks.py``
    set up on the root logger): the last one is the reason a send failed, masked before it is shown.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lines: dict[int, list[str]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        with self._lock:
            caught = self.lines.get(record.thread or 0)
            if caught is None:
                return True  # someone else's use of Apprise in this process
            if record.levelno >= logging.WARNING:
                caught.append(record.getMessage())
        return False

    @contextmanager
    def catching(self) -> Iterator[list[str]]:
        ident = threading.get_ident()
        caught: list[str] = []
        with self._lock:
            self.lines[ident] = caught
        try:
            yield caught
        finally:
            with self._lock:
                del self.lines[ident]


_LOGS = _AppriseLogs()
_LOGS_INSTALLED = threading.Lock()


def apprise_send(url: str, message: Message) -> str | None:
    """Send through Apprise, on the calling thread. Imported here: Apprise loads its plugins on first use."""
    import apprise

    with _LOGS_INSTALLED:
        if _LOGS not in logging.getLogger("apprise").filters:
            logging.getLogger("apprise").addFilter(_LOGS)
    # async_mode=False and no service_timeout keep Apprise on this (daemon) thread: its own pools are
    # joined at interpreter exit, which would make a hung service hold up the end of the process. The
    # timeout is ours (``Notifier.timeout``), kept by not waiting for this thread.
    sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False, service_timeout=0))
    with _LOGS.catching() as caught:
        if not sender.add(url):
            return "Apprise cannot use this URL (unknown schema or a malformed URL)"
        ok = sender.notify(body=message.body, title=message.title, notify_type=apprise.NotifyType(message.kind))
    if ok:
        return None
    return caught[-1] if caught else "not delivered"


def _stderr(line: str) -> None:
    print(mask(line), file=sys.stderr, flush=True)


@dataclass
class _Item:
    message: Message
    queued: float
    started: float | None = None
    slow_reported: bool = False
    abandoned: bool = False  # the run ended without it: not sent late, not reported twice


class _Channel:
    """One URL: a daemon worker sending its messages in order (a hung service only holds its own)."""

    def __init__(self, index: int, url: Secret[str], notifier: Notifier) -> None:
        self.index = index
        self.url = url
        self.name = f"url {index} ({_scheme(url.reveal())})"
        self._notifier = notifier
        self._queue: queue.Queue[_Item] = queue.Queue()
        self.pending: list[_Item] = []  # queued or sending, in order; guarded by the notifier's lock
        self.stalled = False  # a message was given up on while its send still hangs
        self._thread: threading.Thread | None = None

    def put(self, item: _Item) -> None:
        """Queue a message (caller holds the notifier's lock); start a worker if none is alive."""
        self.pending.append(item)
        self._queue.put(item)
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=f"homeops-notify-{self.index}", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        notifier = self._notifier
        while True:
            try:
                item = self._queue.get(timeout=_IDLE_EXIT)
            except queue.Empty:
                with notifier.lock:
                    if self._queue.empty():  # ``put`` holds the same lock: no message is left behind
                        self._thread = None
                        return
                continue
            with notifier.lock:
                if item.abandoned:
                    continue
                item.started = notifier.monotonic()
            try:
                reason = notifier.send(self.url.reveal(), item.message)
            except Exception as exc:  # a sender must never take the worker down with it
                reason = f"{type(exc).__name__}: {exc}"
            with notifier.lock:
                self.stalled = False
                if not item.abandoned:
                    self.pending.remove(item)
                    if reason is not None:
                        notifier.problem(f"{self.name}: '{item.message.event}' not sent: {_one_line(reason)}")
                notifier.idle.notify_all()


# An idle worker ends after this long (real seconds); the next message starts a new one.
_IDLE_EXIT = 2.0


def _scheme(url: str) -> str:
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*)://", url)
    return match.group(1).lower() if match else "?"


class Notifier(RunPolicy):
    """The notification ``Listener`` (see the module docstring). Thread-safe; never raises from ``on_event``.

    It is a ``RunPolicy`` too, one that never refuses or holds: ``describe`` shows where messages go in
    the plan (by position and scheme), ``end`` waits (bounded) for what is in flight so the report's
    ``report_lines`` name every message that did not go out. The last event (finished, failed…) comes
    after the report is written; the executor writes the report again when its lines changed.

    ``send`` and ``monotonic`` are seams for tests; ``report`` receives each problem line (default: stderr).
    """

    def __init__(
        self,
        urls: Sequence[Secret[str]],
        events: Iterable[str],
        *,
        timeout: float = 10.0,
        send: Sender = apprise_send,
        report: Callable[[str], None] = _stderr,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(name="notify")
        self.events = frozenset(events)
        self.timeout = timeout
        self.send = send
        self.monotonic = monotonic
        self.lock = threading.Lock()
        self.idle = threading.Condition(self.lock)
        self._report = report
        self._problems: list[str] = []
        self._unreported: list[str] = []
        self._hurry = False  # Ctrl-C while waiting for messages: never wait for them again in this run
        self._channels = [_Channel(i, url, self) for i, url in enumerate(urls, start=1)]

    @property
    def urls(self) -> tuple[Secret[str], ...]:
        return tuple(c.url for c in self._channels)

    def describe(self, plan: Plan) -> Sequence[str]:
        asked = [name for name in NOTIFY_EVENTS if name in self.events]
        where = ", ".join(c.name for c in self._channels)
        return [f"{', '.join(asked) or 'no events'} → {where} (through Apprise; never holds the run)"]

    def end(self, run: RunInfo, status: EndStatus) -> None:
        self.drain(self.timeout)

    def on_event(self, event: RunEvent) -> None:
        message = message_for(event) if EVENT_NAME.get(type(event)) in self.events else None
        if message is not None:
            with self.lock:
                for channel in self._channels:
                    channel.put(_Item(message, self.monotonic()))
        if isinstance(event, _ENDS):
            self.drain(self.timeout)
        else:
            self._flush()

    def drain(self, wait: float) -> None:
        """Wait up to ``wait`` real seconds for messages in flight, then report what is left unsent.

        A URL that already let a message go unsent is not waited on again: a dead service costs the run
        one ``timeout`` at most, not one per event that follows. Ctrl-C while waiting means "do not
        wait": what is left is reported, later ends do not wait either, and the run ends as it would have
        (a policy's ``end`` that raised would fail a finished run).
        """
        deadline = time.monotonic() + (0.0 if self._hurry else wait)  # real time: the sends are real I/O
        interrupted = False
        with self.lock:
            try:
                while any(c.pending and not c.stalled for c in self._channels):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self.idle.wait(left)
            except KeyboardInterrupt:
                interrupted = self._hurry = True
            for channel in self._channels:
                if channel.pending:
                    names = ", ".join(f"'{i.message.event}'" for i in channel.pending)
                    if interrupted or (self._hurry and not channel.stalled):
                        why = ": Ctrl-C, not waited for"
                    else:
                        why = ": an earlier one still hangs" if channel.stalled else f" within {wait:g}s"
                    self.problem(f"{channel.name}: {names} not sent{why}; gave up waiting")
                    for item in channel.pending:
                        item.abandoned = True
                    channel.pending.clear()
                    channel.stalled = True
        self._flush()

    def report_lines(self) -> tuple[str, ...]:
        """Every problem so far, masked: the lines of the report's ``notify`` section."""
        with self.lock:
            return tuple(self._problems)

    def problem(self, line: str) -> None:
        """Record a problem (caller holds ``lock``); it is reported on the run's thread, not the worker's."""
        text = mask(f"{line}; the run goes on")
        self._problems.append(text)  # the report's "notify" section: no prefix
        self._unreported.append(f"notify: {text}")

    def _flush(self) -> None:
        now = self.monotonic()
        with self.lock:
            for channel in self._channels:
                for item in channel.pending:
                    if item.started is not None and not item.slow_reported and now - item.started > self.timeout:
                        item.slow_reported = True
                        self.problem(
                            f"{channel.name}: no answer to '{item.message.event}' in {self.timeout:g}s;"
                            " still trying in the background"
                        )
            lines, self._unreported = self._unreported, []
        for line in lines:
            with suppress(Exception):  # a broken stderr must not turn into a failed run
                self._report(line)


# -- configuration ---------------------------------------------------------------------------------------


def split_urls(text: str) -> list[str]:
    """``$HOMEOPS_NOTIFY_URLS``: URLs separated by whitespace or commas."""
    return [part for part in re.split(r"[\s,]+", text) if part]


def resolve_urls(
    config: NotifyConfig,
    *,
    environ: Mapping[str, str] | None = None,
    age_key_file: Path | None = None,
) -> tuple[Secret[str], ...]:
    """Every URL from homeops.yaml, the SOPS ``urlsFile`` and ``$HOMEOPS_NOTIFY_URLS``, each masked from now on.

    A ``urlsFile`` that cannot be decrypted or holds no ``urls:`` list is a one-line ``ConfigError``:
    the run is refused before anything changes rather than run with the user believing they are told.
    """
    env = os.environ if environ is None else environ
    urls: list[Secret[str]] = list(config.urls)
    if config.urls_file is not None:
        urls += _urls_from_file(config.urls_file, age_key_file)
    for index, text in enumerate(split_urls(env.get(ENV_URLS, "")), start=1):
        secret = add_url(text)
        if "://" not in text:
            raise ConfigError(f"entry {index} is not a URL (schema://…)", field=f"${ENV_URLS}")
        urls.append(secret)
    return tuple(dict.fromkeys(urls))


def _urls_from_file(path: Path, age_key_file: Path | None) -> list[Secret[str]]:
    from homeops import sops  # age and AES load only for a run whose URLs are in a SOPS file

    where = "notify.urlsFile"
    try:
        data: Any = sops.decrypt_file(path, age_key_file=age_key_file)
    except HomeopsError as exc:
        raise ConfigError(f"cannot be decrypted: {exc}", file=str(path), field=where) from None
    except OSError as exc:
        raise ConfigError(f"cannot be read: {exc.strerror or exc}", file=str(path), field=where) from None
    raw = data.get("urls") if isinstance(data, Mapping) else None
    if isinstance(raw, str):
        raw = split_urls(raw)
    if not isinstance(raw, list) or not raw or not all(isinstance(u, str) and "://" in u for u in raw):
        for item in raw if isinstance(raw, list) else ():
            add_url(str(item))
        raise ConfigError(
            "must hold urls: a list of Apprise URLs", file=str(path), hint="e.g. urls: [ntfys://ntfy.sh/topic]"
        )
    return [add_url(u.strip()) for u in raw]


def notifier_from(
    config: NotifyConfig,
    *,
    environ: Mapping[str, str] | None = None,
    age_key_file: Path | None = None,
    report: Callable[[str], None] = _stderr,
    send: Sender = apprise_send,
) -> Notifier | None:
    """The run's notifier, or None when no URL is configured (nothing to import, nothing to start)."""
    urls = resolve_urls(config, environ=environ, age_key_file=age_key_file)
    if not urls or not config.events:
        return None
    return Notifier(urls, config.events, timeout=config.timeout, report=report, send=send)


def notifications(
    inventory: Inventory,
    *,
    report: Callable[[str], None] = _stderr,
    environ: Mapping[str, str] | None = None,
) -> tuple[Notifier, ...]:
    """The composition root's one line: ``()`` without URLs, else the notifier (a listener and a policy)."""
    notifier = notifier_from(inventory.notify, environ=environ, age_key_file=inventory.cluster.age_key, report=report)
    return () if notifier is None else (notifier,)


__all__ = [
    "ENV_URLS",
    "EVENT_NAME",
    "Message",
    "Notifier",
    "Sender",
    "apprise_send",
    "message_for",
    "notifications",
    "notifier_from",
    "resolve_urls",
    "split_urls",
]
