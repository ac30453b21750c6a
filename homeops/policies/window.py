"""Maintenance windows: a mutating run starts only inside one, and no node is started that would not end in it.

``homeops.yaml``::

    maintenance:
      windows:
        - { days: [sat, sun], start: "02:00", duration: 4h, timezone: Europe/Amsterdam }
      nodeBudget: 45m   # optional

**When a window is open.** Each window opens at ``start`` on each of its ``days`` and closes
``duration`` later, both read on the wall clock of its ``timezone``: users wake at 06:00 local time
whatever DST did overnight. A window crossing midnight belongs to its start day (``days: [sat]``,
``start: "23:00"``, ``duration: 4h`` is Saturday 23:00 to Sunday 03:00). A wall time the clock
skips (spring forward, Europe/Amsterdam's 02:00–03:00 on the last Sunday of March) is reached at the
jump: a 02:00 window opens at 03:00 CEST, and a 4h one still closes at 06:00 (three real hours). A
wall time the clock shows twice (fall back, 02:00–03:00 on the last Sunday of October) is its first
showing: a 02:00 window opens at 02:00 CEST and closes at 06:00 CET (five real hours). Overlapping or
touching windows make one open period.

**Refused, stopped.** ``admit``: outside every window a mutating run is refused before anything
happens (``PolicyRefused``), naming the next window and ``--ignore-window``; a fresh run whose first
batch would not end before the window closes is refused the same way. ``before_step`` (before each
node's first step): the next batch of nodes is not started when its budget would end after the window
closes; the run stops cleanly (``StopRun``: journaled "stopped", resumable) saying when the next
window opens and how to resume.

**A batch's budget** (a batch is the nodes that run together: one control plane, or
``maxUnavailable`` workers), first that applies:

1. ``maintenance.nodeBudget`` (the operator knows their nodes);
2. the longest batch measured so far in this run (from its first step to the next batch's first step:
   commands, reboots, waits, gates and the stability hold, as they really took);
3. the worst case the plan allows (``batch_worst_case``): each step's wait timeouts added up plus its
   longest command's timeout, the batch's nodes side by side after its cluster-wide steps, plus the
   stability hold. It is long (a Talos upgrade's waits allow 45 minutes), which is why a measured
   batch replaces it, and why a fresh run's first batch may be refused late in a window.

``--ignore-window`` turns the policy off for one run (the dry run says so). Without ``maintenance:``
it does nothing. Disaster recovery (``dr-rebuild``) and an etcd snapshot (it changes nothing) are not
held to windows: a rebuild runs when the cluster is down, whatever the hour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from homeops.clock import Clock
from homeops.engine.events import GO, Decision, RunInfo, RunPolicy, StopRun
from homeops.engine.plan import Plan, Step
from homeops.errors import PolicyRefused
from homeops.inventory.model import Inventory, Maintenance, MaintenanceWindow

#: Operations no window holds (see the module docstring).
EXEMPT = frozenset({"dr-rebuild", "etcd-snapshot"})

FLAG = "--ignore-window"

# How far around "now" openings are listed: a window lasts a week at most, and each recurs weekly.
_DAYS_BACK = 8
_DAYS_AHEAD = 15


def window_policies(inventory: Inventory, *, clock: Clock, ignore: bool = False) -> list[RunPolicy]:
    """The run policies ``maintenance:`` asks for: none without it. ``clock`` is the run's (``runtime.clock``)."""
    if inventory.maintenance is None:
        return []
    return [WindowPolicy(maintenance=inventory.maintenance, clock=clock, ignore=ignore)]


@dataclass(frozen=True)
class Opening:
    """One occurrence of a window: ``start``/``end`` are epoch seconds."""

    window: MaintenanceWindow
    start: float
    end: float

    def local(self, at: float) -> datetime:
        return datetime.fromtimestamp(at, ZoneInfo(self.window.timezone))


def wall_instant(wall: datetime, zone: ZoneInfo) -> float:
    """The first instant the wall clock in ``zone`` reads ``wall`` (naive) or later.

    A time shown twice is its first showing (``fold=0``); a time the clock skips is the jump itself:
    zoneinfo reads it with the offset from before the jump, which lands *after* the jump by as much as
    ``wall`` is into the gap, so the jump is found between the two offsets' readings.
    """
    early = wall.replace(tzinfo=zone, fold=0).timestamp()
    if datetime.fromtimestamp(early, zone).replace(tzinfo=None) == wall:
        return early
    late = wall.replace(tzinfo=zone, fold=1).timestamp()  # before the jump
    lo, hi = int(min(early, late)), int(max(early, late))
    after = zone.utcoffset(datetime.fromtimestamp(hi, zone))
    while hi - lo > 1:  # the first second on the jump's far side
        mid = (lo + hi) // 2
        if zone.utcoffset(datetime.fromtimestamp(mid, zone)) == after:
            hi = mid
        else:
            lo = mid
    return float(hi)


def occurrence(window: MaintenanceWindow, day: date) -> Opening | None:
    """The window's opening that starts on local ``day``, or None when it does not open that day."""
    if day.weekday() not in window.days:
        return None
    zone = ZoneInfo(window.timezone)
    start = datetime(day.year, day.month, day.day) + timedelta(minutes=window.start)
    end = start + timedelta(minutes=window.duration)
    return Opening(window, wall_instant(start, zone), wall_instant(end, zone))


def openings(maintenance: Maintenance, around: float) -> list[Opening]:
    """Every opening that can matter at ``around``: from those still open to the week after, by start."""
    found: list[Opening] = []
    for window in maintenance.windows:
        today = datetime.fromtimestamp(around, ZoneInfo(window.timezone)).date()
        for offset in range(-_DAYS_BACK, _DAYS_AHEAD + 1):
            opening = occurrence(window, today + timedelta(days=offset))
            if opening is not None and opening.end > opening.start:
                found.append(opening)
    return sorted(found, key=lambda o: (o.start, o.end))


def open_until(maintenance: Maintenance, at: float) -> Opening | None:
    """The opening that ends the open period holding ``at`` (windows that overlap or touch are one
    period), or None when every window is closed at ``at``."""
    last: Opening | None = None
    for opening in openings(maintenance, at):
        if last is None:
            if opening.start <= at < opening.end:
                last = opening
        elif opening.start <= last.end and opening.end > last.end:
            last = opening
    return last


def next_opening(maintenance: Maintenance, after: float) -> Opening:
    """The first opening that starts after ``after`` (each window opens at least once a week)."""
    return next(o for o in openings(maintenance, after) if o.start > after)


def duration_text(seconds: float) -> str:
    """``6d 18h 34m``, ``3h 5m``, ``25m 30s``, ``40s``: to the minute, to the second under an hour."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{mins}m"] * bool(mins)
    return " ".join(parts + [f"{secs}s"] * bool(secs and total < 3600))


def when_text(opening: Opening, at: float, *, now: float) -> str:
    """``Sat 12 Dec 02:00 CET (Europe/Amsterdam)``; the date is left out when it is today."""
    moment = opening.local(at)
    today = opening.local(now).date()
    day = f"{moment:%H:%M}" if moment.date() == today else f"{moment:%a %d %b %H:%M}"
    return f"{day} {moment.tzname()} ({opening.window.timezone})"


def batch_worst_case(plan: Plan, steps: Sequence[Step]) -> float:
    """What ``steps`` (one batch) may take before a timeout would fail the run anyway: each step its
    waits' timeouts (they run one after another) and its longest command's (a step's commands may
    run side by side: the pre-pull's, one per node); the nodes of the batch side by side, its
    cluster-wide steps before them; then the stability hold after its gates."""
    per_node: dict[str, float] = {}
    shared = 0.0
    for step in steps:
        allowed = sum(w.timeout for w in step.waits) + max((c.timeout or 0.0 for c in step.commands), default=0.0)
        if step.node is None:
            shared += allowed
        else:
            per_node[step.node] = per_node.get(step.node, 0.0) + allowed
    stability = plan.stability_seconds if any(s.gates_after for s in steps) else 0.0
    return max(per_node.values(), default=0.0) + shared + stability


@dataclass
class WindowPolicy(RunPolicy):
    """Holds mutating runs to the inventory's maintenance windows (see the module docstring).

    ``clock`` is the executor's (``now()`` is epoch seconds); ``ignore`` is ``--ignore-window``.
    """

    maintenance: Maintenance | None = None
    clock: Clock | None = None
    ignore: bool = False
    name: str = "maintenance window"
    # (batch number, when its first step began) and how long each earlier batch of this run took
    _batch: tuple[int, float] | None = field(default=None, init=False, repr=False)
    _measured: list[float] = field(default_factory=list, init=False, repr=False)
    _decided: list[str] = field(default_factory=list, init=False, repr=False)  # one line per batch, for the report

    def applies(self, plan: Plan) -> bool:
        return self.maintenance is not None and not self.ignore and plan.operation not in EXEMPT

    def now(self) -> float:
        assert self.clock is not None, "WindowPolicy needs the executor's clock"
        return self.clock.now()

    # -- the RunPolicy hooks -------------------------------------------------------------------------

    def describe(self, plan: Plan) -> Sequence[str]:
        # The executor prints these under "Run policies:", each after "maintenance window: ".
        if self.maintenance is None:
            return ()
        if plan.operation in EXEMPT:
            return (f"not applied to {plan.operation} (it runs whenever it must)",)
        now = self.now()
        current = open_until(self.maintenance, now)
        if current is None:
            upcoming = next_opening(self.maintenance, now)
            state = (
                f"closed; the next opens {when_text(upcoming, upcoming.start, now=now)}, "
                f"in {duration_text(upcoming.start - now)}"
            )
        else:
            state = f"open until {when_text(current, current.end, now=now)}, {duration_text(current.end - now)} left"
        if self.ignore:
            return (f"ignored ({FLAG}); it is {state}",)
        if current is None:
            return (f"{state} — this run would be refused ({FLAG} runs it now)",)
        first = next(iter(plan.batches()), ())
        budget, source = self.budget(plan, first)
        fits = "it fits" if now + budget <= current.end else "it does NOT fit: the run would be refused"
        return (
            f"{state}; a batch of nodes starts only if its budget ends before the close "
            f"(the first: {duration_text(budget)}, {source}; {fits})",
        )

    def admit(self, plan: Plan, *, resumed: bool) -> None:
        if not self.applies(plan) or plan.empty:
            return
        assert self.maintenance is not None
        now = self.now()
        current = open_until(self.maintenance, now)
        if current is None:
            upcoming = next_opening(self.maintenance, now)
            raise PolicyRefused(
                f"outside every maintenance window: the next opens {when_text(upcoming, upcoming.start, now=now)}, "
                f"in {duration_text(upcoming.start - now)}; nothing was changed",
                hint=f"run it then, or now with {FLAG}",
            )
        if resumed:
            return  # which batch comes next is the journal's to say: before_step decides
        first = next(iter(plan.batches()), ())
        budget, source = self.budget(plan, first)
        if now + budget > current.end:
            upcoming = next_opening(self.maintenance, current.end)
            raise PolicyRefused(
                f"the maintenance window closes at {when_text(current, current.end, now=now)}, "
                f"in {duration_text(current.end - now)}, and the first batch may take {duration_text(budget)} "
                f"({source}); the next window opens {when_text(upcoming, upcoming.start, now=now)}; "
                "nothing was changed",
                hint=f"run it then, or now with {FLAG}",
            )

    def begin(self, run: RunInfo, plan: Plan) -> None:
        self._batch = None
        self._measured = []
        self._decided = []

    def report_lines(self) -> Sequence[str]:
        return list(self._decided)

    def before_step(self, plan: Plan, step: Step, remaining: Sequence[Step]) -> Decision:
        # The executor asks before each batch's first step (and again after another policy's hold);
        # its RunStopped names the step and the resume command, so ``why`` says only the window's part.
        if not self.applies(plan):
            return GO
        assert self.maintenance is not None
        now = self.now()
        fresh = self._batch is None or self._batch[0] != step.batch or not self._decided
        if self._batch is None or self._batch[0] != step.batch:
            if self._batch is not None:
                self._measured.append(now - self._batch[1])
            self._batch = (step.batch, now)
        batch = [s for s in remaining if s.batch == step.batch] or [step]
        budget, source = self.budget(plan, batch)
        current = open_until(self.maintenance, now)
        decision = self._decide(now, budget, source, current)
        state = "closed" if current is None else f"open until {when_text(current, current.end, now=now)}"
        local = datetime.fromtimestamp(now, ZoneInfo(self.maintenance.windows[0].timezone))
        line = f"{local:%a %d %b %H:%M %Z} before {step.node or step.id}: {'go' if decision is GO else 'stop'}"
        line += f" — budget {duration_text(budget)} ({source}); window {state}"
        if fresh:
            self._decided.append(line)
        else:  # asked again after another policy's hold: the latest answer stands for the batch
            self._decided[-1] = line
        return decision

    def _decide(self, now: float, budget: float, source: str, current: Opening | None) -> Decision:
        assert self.maintenance is not None
        if current is None:
            upcoming = next_opening(self.maintenance, now)
            return StopRun(
                f"the maintenance window has closed; the next opens {when_text(upcoming, upcoming.start, now=now)}, "
                f"in {duration_text(upcoming.start - now)}: resume then"
            )
        if now + budget > current.end:
            upcoming = next_opening(self.maintenance, current.end)
            return StopRun(
                f"the window closes at {when_text(current, current.end, now=now)}, in "
                f"{duration_text(current.end - now)}, and this batch may take {duration_text(budget)} ({source}); "
                f"the next window opens {when_text(upcoming, upcoming.start, now=now)}, "
                f"in {duration_text(upcoming.start - now)}: resume then"
            )
        return GO

    # -- the budget ---------------------------------------------------------------------------------

    def budget(self, plan: Plan, batch: Sequence[Step]) -> tuple[float, str]:
        """What ``batch`` may take, and where that number comes from (said in every message)."""
        if self.maintenance is not None and self.maintenance.node_budget is not None:
            return self.maintenance.node_budget * 60.0, "maintenance.nodeBudget"
        if self._measured:
            return max(self._measured), "the longest batch so far in this run"
        return batch_worst_case(plan, batch), "the worst case its timeouts allow"
