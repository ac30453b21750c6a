"""Alerts around a run: an Alertmanager silence while it lives, and a Prometheus alert gate before each node.

    alertmanager: {url: http://alertmanager:9093, matchers: ["severity=~warning|critical", 'cluster="home"'], ttl: 15m}
    prometheus:   {url: http://prometheus:9090, alerts: [NodeDown, 'severity="critical"'], holdTimeout: 10m}

``SilencePolicy`` — a rolling upgrade reboots every node on purpose, and each reboot pages someone. At
``begin`` the run creates one silence (``createdBy: homeops``, a comment naming the cluster, the run and
SIMULATED when it is) ending ``ttl`` from now; a keeper thread extends it every third of the TTL while the
run lives (one wait for a node can outlast the TTL); at ``end`` — finished, failed, Ctrl-C or stopped — the
silence is expired. A run killed outright (SIGKILL, power) leaves a silence that lapses within the TTL. The
silence is never a gate: an Alertmanager that is down, refuses or answers nonsense is reported (stderr and
the run's report, one line each) and the run goes on, unsilenced. A silence a person expires by hand stays
expired (their call); one Alertmanager lost (a restart without its data) is created again.

``AlertGate`` — before each batch of nodes (the executor asks ``before_step`` before a batch's first
step, the first batch included), Prometheus's ``/api/v1/alerts`` is read: while an alert the inventory
chose is *firing* (``pending`` is not yet an alert), the run holds, asking again every ``pollInterval``;
once none fires it goes on; holding past ``holdTimeout`` fails the run with a ``GateFailed`` naming the
alerts, before anything is sent to the next node (resume it once they are resolved). Prometheus, not
Alertmanager, is asked: the run's own silence must not open its gate. A Prometheus that cannot be read
holds like a firing alert (a gate that cannot look does not pass). Recovery and backup runs are not
gated — they run exactly when alerts fire.

Alertmanager's clock is real time whatever clock the run uses (the simulator's is virtual), so the silence
is timed with the wall clock; the gate's deadline uses the run's clock, like every other wait.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from homeops.adapters.alertmanager import Alertmanager, Silence
from homeops.adapters.prometheus import Alert, Prometheus
from homeops.clock import Clock
from homeops.engine.events import GO, Decision, EndStatus, Hold, RunInfo, RunPolicy
from homeops.engine.plan import Plan, Step
from homeops.errors import ApiError, GateFailed
from homeops.inventory.matchers import Matcher
from homeops.inventory.model import AlertGateSettings, Inventory, SilenceSettings
from homeops.policies import span_text
from homeops.secrets import mask

CREATED_BY = "homeops"

#: Runs that must go ahead while alerts fire: rebuilding a broken cluster, taking backups, restoring data.
NOT_GATED = frozenset({"dr-rebuild", "etcd-snapshot", "volsync-backup", "volsync-restore"})

#: Seconds each Alertmanager request may take: a hanging Alertmanager delays the run's start and end by
#: about this much (the keeper's renewal in flight is waited for, so none lands after the expiry).
SILENCE_TIMEOUT = 5.0

Say = Callable[[str], None]


def alert_policies(inventory: Inventory, *, clock: Clock, say: Say | None = None) -> list[RunPolicy]:
    """The policies ``alertmanager:`` and ``prometheus:`` ask for (none without them); ``clock`` is the run's."""
    policies: list[RunPolicy] = []
    if inventory.alertmanager is not None:
        policies.append(SilencePolicy(inventory.alertmanager, say=say))
    if inventory.prometheus is not None:
        policies.append(AlertGate(inventory.prometheus, clock=clock))
    return policies


def _stderr(line: str) -> None:
    print(mask(line), file=sys.stderr, flush=True)


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%H:%M:%S UTC")


def _matchers(matchers: Sequence[Matcher]) -> str:
    return ", ".join(str(m) for m in matchers)


# ---------------------------------------------------------------------------------------------- silence


class SilencePolicy(RunPolicy):
    """One silence per run: created at ``begin``, kept alive by a thread, expired at ``end``. Never a gate."""

    def __init__(
        self,
        settings: SilenceSettings,
        *,
        client: Alertmanager | None = None,
        wall: Callable[[], float] = time.time,
        say: Say | None = None,
    ) -> None:
        super().__init__(name="alertmanager")
        self.settings = settings
        self.client = client or Alertmanager(settings.url, timeout=SILENCE_TIMEOUT)
        self.wall = wall
        self.say = say or _stderr
        self.lines: list[str] = []
        self.silence_id: str | None = None
        self._run: RunInfo | None = None
        self._comment = ""
        self._ends_at = 0.0  # the end this run last set: an earlier end means a person expired it
        self._given_up = False  # the silence was expired by hand: not renewed, not re-created
        self._failing = False  # the last renewal failed (said once, until it works again)
        self._lock = threading.Lock()  # one request at a time: a renewal must never follow the expiry
        self._stop = threading.Event()
        self._keeper: threading.Thread | None = None

    @property
    def renew_every(self) -> float:
        return self.settings.ttl / 3

    # -- RunPolicy ----------------------------------------------------------------------------------

    def describe(self, plan: Plan) -> Sequence[str]:
        return (
            f"silences alerts matching {_matchers(self.settings.matchers)} at {self.client.url} while the run "
            f"lives (TTL {span_text(self.settings.ttl)}, renewed every {span_text(self.renew_every)}, "
            "expired at its end); "
            "never holds the run",
        )

    def begin(self, run: RunInfo, plan: Plan) -> None:
        self._run = run
        self.lines = []
        self.silence_id = None
        self._given_up = self._failing = False
        self._stop = threading.Event()
        simulated = " — SIMULATED: the simulator, not real machines" if run.simulated else ""
        self._comment = f"homeops {run.operation} on cluster {run.cluster}, run {run.run_id or '(no id)'}{simulated}"
        with self._lock:
            self._create()
        self._keeper = threading.Thread(target=self._keep, name=f"homeops-silence-{run.run_id}", daemon=True)
        self._keeper.start()

    def end(self, run: RunInfo, status: EndStatus) -> None:
        self._stop.set()
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.join(timeout=self.client.timeout * 3 + 5)
        with self._lock:
            self._given_up = True  # a keeper stuck past the join must not renew what is expired below
            if self.silence_id is None:
                return
            try:
                self.client.expire(self.silence_id)
            except Exception as exc:
                self._note(
                    f"silence {self.silence_id} could not be expired ({exc}); it lapses by itself at "
                    f"{_utc(self._ends_at)} — or expire it in Alertmanager's UI"
                )
                return
            self._note(f"silence {self.silence_id} expired at the end of the run ({status})")

    def report_lines(self) -> Sequence[str]:
        return tuple(self.lines)

    # -- the silence --------------------------------------------------------------------------------

    def _create(self) -> None:
        now = self.wall()
        ends = now + self.settings.ttl
        try:
            self.silence_id = self.client.create(
                self.settings.matchers, starts_at=now, ends_at=ends, created_by=CREATED_BY, comment=self._comment
            )
        except Exception as exc:
            if not self._failing:
                self._note(f"no silence for this run: {exc}; the run goes on, and its alerts may page")
            self._failing = True
            return
        self._ends_at = ends
        later = " (on a later try)" if self._failing else ""
        self._failing = False
        self._note(
            f"silence {self.silence_id}{later} for alerts matching {_matchers(self.settings.matchers)} "
            f"until {_utc(ends)}, renewed while the run lives"
        )

    def _renew(self) -> None:
        if self.silence_id is None:
            self._create()  # Alertmanager was down at begin, or lost the silence: try again
            return
        try:
            silence = self.client.get(self.silence_id)
        except ApiError as exc:
            if exc.status == 404:
                self._note(f"silence {self.silence_id} is gone from Alertmanager (restarted without its data?)")
                self.silence_id = None
                self._create()
                return
            self._renew_failed(exc)
            return
        except Exception as exc:
            self._renew_failed(exc)
            return
        if silence.state == "expired" and silence.ends_at < self._ends_at - 1:
            self._note(
                f"silence {silence.id} was expired in Alertmanager before the run ended: left expired, not renewed"
            )
            self._given_up = True
            return
        self._extend(silence)

    def _extend(self, silence: Silence) -> None:
        ends = self.wall() + self.settings.ttl
        try:
            new_id = self.client.extend(silence, ends_at=ends)
        except Exception as exc:
            self._renew_failed(exc)
            return
        if new_id != silence.id:
            # It had lapsed (renewals failed for a whole TTL): Alertmanager made a new one.
            self._note(f"silence {silence.id} had lapsed; silence {new_id} replaces it")
        elif self._failing:
            self._note(f"silence {new_id} renewed again, until {_utc(ends)}")
        self.silence_id = new_id
        self._ends_at = ends
        self._failing = False

    def _renew_failed(self, exc: Exception) -> None:
        if not self._failing:
            self._note(
                f"silence {self.silence_id} could not be renewed: {exc}; it lapses at {_utc(self._ends_at)} "
                "unless a later try works (the run goes on)"
            )
        self._failing = True

    def _keep(self) -> None:
        while not self._stop.wait(self.renew_every):
            with self._lock:
                if self._stop.is_set() or self._given_up:
                    return
                try:
                    self._renew()
                except Exception as exc:  # a bug here must not end the keeping silently
                    self._note(f"silence keeper: {type(exc).__name__}: {exc}")

    def _note(self, text: str) -> None:
        line = mask(" ".join(text.split()))
        self.lines.append(line)
        with suppress(Exception):  # a broken terminal must not turn into a failed run
            self.say(f"alertmanager: {line}")


# ---------------------------------------------------------------------------------------------- gate


@dataclass(frozen=True)
class Firing:
    """What the gate saw: the chosen alerts firing, or why it could not look."""

    alerts: tuple[Alert, ...] = ()
    error: str = ""

    @property
    def clear(self) -> bool:
        return not self.alerts and not self.error

    def __str__(self) -> str:
        if self.error:
            return f"cannot read the alerts: {self.error}"
        shown = ", ".join(str(a) for a in self.alerts[:5])
        more = f" and {len(self.alerts) - 5} more" if len(self.alerts) > 5 else ""
        return f"firing: {shown}{more}"


class AlertGate(RunPolicy):
    """Holds the run before each batch of nodes while a chosen alert fires; fails past ``hold_timeout``."""

    def __init__(self, settings: AlertGateSettings, *, clock: Clock, client: Prometheus | None = None) -> None:
        super().__init__(name="alert gate")
        self.settings = settings
        self.clock = clock
        self.client = client or Prometheus(settings.url)
        self._holding_since: float | None = None
        self._held_for: Firing | None = None  # what the current hold began on
        self.lines: list[str] = []

    def chosen(self) -> str:
        return " or ".join(_selector(s) for s in self.settings.alerts)

    def firing(self) -> Firing:
        try:
            alerts = self.client.alerts()
        except Exception as exc:
            return Firing(error=" ".join(str(exc).split()))
        chosen = [a for a in alerts if a.firing and self._chooses(a.label_map())]
        return Firing(alerts=tuple(sorted(chosen, key=str)))

    def _chooses(self, labels: dict[str, str]) -> bool:
        return any(all(m.matches(labels) for m in selector) for selector in self.settings.alerts)

    # -- RunPolicy ----------------------------------------------------------------------------------

    def describe(self, plan: Plan) -> Sequence[str]:
        if plan.operation in NOT_GATED:
            return (f"not applied to {plan.operation} (it runs when alerts fire)",)
        return (
            f"before each batch of nodes, holds while {self.chosen()} fires at {self.client.url} "
            f"(asking every {span_text(self.settings.poll_interval)}; "
            f"failing after {span_text(self.settings.hold_timeout)})",
        )

    def begin(self, run: RunInfo, plan: Plan) -> None:
        self._holding_since = None
        self._held_for = None
        self.lines = []

    def report_lines(self) -> Sequence[str]:
        return tuple(self.lines)

    def before_step(self, plan: Plan, step: Step, remaining: Sequence[Step]) -> Decision:
        if plan.operation in NOT_GATED:
            return GO
        seen = self.firing()
        now = self.clock.monotonic()
        if seen.clear:
            if self._holding_since is not None and self._held_for is not None:
                took = span_text(round(now - self._holding_since))
                self.lines.append(f"held {took} before {step.summary}: {self._held_for}; then none fired")
            self._holding_since = self._held_for = None
            return GO
        if self._holding_since is None:
            self._holding_since, self._held_for = now, seen
        held = now - self._holding_since
        if held >= self.settings.hold_timeout:
            self._holding_since = self._held_for = None
            self.lines.append(f"held {span_text(round(held))} before {step.summary}, then failed the run: still {seen}")
            raise GateFailed(
                "prometheus alerts",
                f"held {span_text(round(held))} (holdTimeout {span_text(self.settings.hold_timeout)}), still {seen}; "
                "nothing was sent to the next node",
                target=step.node,
                hint=f"see {self.client.url}/alerts; resume once they are resolved",
            )
        # The same words while the same alerts fire: the executor prints a hold again only when they change.
        why = f"{seen} (the run fails if they still fire {span_text(self.settings.hold_timeout)} after the hold began)"
        return Hold(why, min(self.settings.poll_interval, self.settings.hold_timeout - held))


def _selector(selector: Sequence[Matcher]) -> str:
    if len(selector) == 1 and selector[0].name == "alertname" and selector[0].op == "=":
        return selector[0].value
    return "{" + _matchers(selector) + "}"
