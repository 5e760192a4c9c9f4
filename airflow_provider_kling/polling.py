"""When to poll a job, and when to stop: one policy for the worker wait, the trigger and the sensor.

Vendors publish how long a clip takes. Polling before that only spends status calls and rate limit;
polling in lockstep makes a thousand mapped tasks hit the gateway in the same second. So the default
:class:`PollSchedule` polls first at the clip's expected render time (the middle of its typical
range, :data:`~airflow_provider_kling.defaults.RENDER_TIMES`, by model and duration), then every
``interval / 2`` seconds until the latest typical finish (the ``window``: where most jobs end, so
short gaps keep the lag low), then every ``interval``; each delay with +/- ``jitter`` spread. With
APIXO's 50-70 s for a 5 s clip that is 2.25 status calls per job at a 2 s median lag, against 3.5
calls when polling every 5 s from the earliest finish (``bench/poll_economy.py``).

:class:`ObservedRenderTimes` refines the range per connection and model from the render times the
triggerer has seen (the gateway's own created and finished times), once it has seen a few.

:class:`WaitPolicy` adds what every wait needs on top: an absolute wall-clock deadline (a restarted
triggerer must not restart the clock) and a budget of consecutive failed polls. :class:`CapacityWait`
decides the wait before a submit that the account's capacity refused (the operator's in-worker wait
and :class:`~airflow_provider_kling.triggers.capacity.KlingCapacityTrigger`). They do no I/O and read
no clock: callers pass ``now``, so the waits decide alike and tests need no sleeps.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_kling.defaults import (
    CAPACITY_FIRST_DELAY,
    CAPACITY_IDLE_CAP,
    CAPACITY_IDLE_FIRST,
    DEFAULT_FAILURE_BUDGET,
    DEFAULT_POLL_INTERVAL,
    DEFAULT_POLL_JITTER,
    DEFAULT_RENDER_MODEL,
    PROGRESS_EVERY_POLLS,
    RENDER_TIMES,
    RESUME_GRACE,
)
from airflow_provider_kling.exceptions import KlingProtocolError, KlingTimeoutError

if TYPE_CHECKING:
    from airflow_provider_kling.exceptions import KlingRateLimitError
    from airflow_provider_kling.models import VideoTask


def expected_render_time(model: str | None, duration: int) -> tuple[float, float]:
    """``(earliest, latest)`` typical seconds from submit to a ready ``duration``-second clip of
    ``model`` (:data:`~airflow_provider_kling.defaults.RENDER_TIMES`; an absent or unknown model reads
    the default model's row); durations between or beyond the row's are interpolated linearly."""
    row = RENDER_TIMES.get(model or DEFAULT_RENDER_MODEL) or RENDER_TIMES[DEFAULT_RENDER_MODEL]
    if duration in row:
        return row[duration]
    (d0, (lo0, hi0)), (d1, (lo1, hi1)) = sorted(row.items())[:2]
    share = (duration - d0) / (d1 - d0)
    lo = max(1.0, lo0 + share * (lo1 - lo0))
    return lo, max(lo, hi0 + share * (hi1 - hi0))


@dataclass(frozen=True)
class PollSchedule:
    """``first_delay`` before the first status call, then ``interval / 2`` seconds for ``window``
    seconds, then ``interval`` seconds; each +/- ``jitter``. ``key`` (``"<model>/<duration>"``) marks
    the provider's default schedule, which a triggerer may refine from observed render times."""

    first_delay: float
    interval: float
    jitter: float = DEFAULT_POLL_JITTER
    window: float = 0.0
    key: str | None = None

    def __post_init__(self) -> None:
        if self.first_delay < 0 or self.interval <= 0 or not 0 <= self.jitter < 1 or self.window < 0:
            raise ValueError(
                "poll schedule needs first_delay >= 0, interval > 0, 0 <= jitter < 1 and window >= 0, "
                f"got {self.first_delay}, {self.interval}, {self.jitter}, {self.window}"
            )

    @classmethod
    def for_duration(
        cls,
        duration: int,
        interval: float | None = None,
        first_delay: float | None = None,
        model: str | None = None,
    ) -> PollSchedule:
        """The provider's default schedule for a clip of ``duration`` seconds of ``model`` (overrides
        win: a ``first_delay`` given turns the render-time window and its refinement off)."""
        step = DEFAULT_POLL_INTERVAL if interval is None else interval
        if first_delay is not None:
            return cls(first_delay=first_delay, interval=step)
        return cls.for_render_time(*expected_render_time(model, duration), step).with_key(
            f"{model or DEFAULT_RENDER_MODEL}/{duration}"
        )

    @classmethod
    def for_render_time(cls, earliest: float, latest: float, interval: float) -> PollSchedule:
        """First poll in the middle of ``[earliest, latest]``, half-interval polls up to ``latest``."""
        middle = (earliest + max(earliest, latest)) / 2
        return cls(first_delay=middle, interval=interval, window=max(earliest, latest) - middle)

    def with_key(self, key: str | None) -> PollSchedule:
        return replace(self, key=key)

    def refined(self, earliest: float, latest: float) -> PollSchedule:
        """This schedule for an observed render-time range (same interval, jitter and key)."""
        fresh = PollSchedule.for_render_time(earliest, latest, self.interval)
        return replace(self, first_delay=fresh.first_delay, window=fresh.window)

    @property
    def window_polls(self) -> int:
        """Status calls after the first one spaced ``interval / 2`` apart."""
        return math.ceil(self.window / (self.interval / 2)) if self.window else 0

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before status call number ``attempt`` (0 is the first call)."""
        if attempt == 0:
            base = self.first_delay
        else:
            base = self.interval / 2 if attempt <= self.window_polls else self.interval
        if base == 0 or self.jitter == 0:
            return base
        # Spread relative to at most the interval: a 60 s first delay is not spread by +/- 9 s.
        spread = (rng or _rng).uniform(-self.jitter, self.jitter) * min(base, self.interval)
        return max(0.0, base + spread)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PollSchedule:
        key = data.get("key")
        return cls(
            first_delay=float(data["first_delay"]),
            interval=float(data["interval"]),
            jitter=float(data.get("jitter", DEFAULT_POLL_JITTER)),
            window=float(data.get("window") or 0.0),
            key=str(key) if key else None,
        )


class ObservedRenderTimes:
    """Render times a process has seen, per key (connection and schedule key): the last ``keep``
    of each; :meth:`expected` gives their 10th-90th percentile range once ``min_samples`` are in.

    Only the gateway's own created and finished times are recorded: a render time measured from the
    polls alone is censored by the first poll (a job found done there took an unknown shorter time),
    and would drift the first poll later and later.
    """

    def __init__(self, keep: int = 50, min_samples: int = 5) -> None:
        self.keep = keep
        self.min_samples = min_samples
        self._seen: dict[str, deque[float]] = {}

    def record(self, key: str, seconds: float) -> None:
        if seconds > 0:
            self._seen.setdefault(key, deque(maxlen=self.keep)).append(seconds)

    def expected(self, key: str) -> tuple[float, float] | None:
        seen = self._seen.get(key)
        if seen is None or len(seen) < self.min_samples:
            return None
        ordered = sorted(seen)
        last = len(ordered) - 1
        return ordered[round(0.1 * last)], ordered[round(0.9 * last)]

    def record_task(self, key: str, task: VideoTask) -> None:
        """Record ``task``'s render time where the gateway reported both of its times."""
        if task.created_at is not None and task.finished_at is not None:
            self.record(key, (task.finished_at - task.created_at).total_seconds())


@dataclass
class WaitPolicy:
    """One wait for one job: next delay, give up, or timed out.

    :param schedule: when to poll.
    :param deadline: POSIX time after which the wait has timed out (absolute, survives restarts).
    :param failure_budget: consecutive failed polls tolerated; a successful poll resets the count.
    :param started: POSIX time the wait (or the job) started, for progress messages.
    :param progress_every: :meth:`saw` asks for a log line every this many polls, besides each state
        change.
    """

    schedule: PollSchedule
    deadline: float
    failure_budget: int = DEFAULT_FAILURE_BUDGET
    started: float = 0.0
    polls: int = 0
    failures: int = 0
    last_state: str | None = None
    progress_every: int = PROGRESS_EVERY_POLLS
    #: the job's place in the gateway's queue at the last poll (fal reports one)
    last_position: int | None = None

    def timed_out(self, now: float) -> bool:
        return now >= self.deadline

    def next_delay(self, now: float, retry_after: float | None = None) -> float:
        """Seconds to sleep before the next status call: the schedule's, at least ``retry_after``,
        never past the deadline."""
        pause = self.schedule.delay(self.polls + self.failures)
        if retry_after:
            pause = max(pause, retry_after)
        return max(0.0, min(pause, self.deadline - now))

    def saw(self, state: str, position: int | None = None) -> bool:
        """Record a successful poll; ``True`` when it is worth a log line (:meth:`describe`): the
        state or the queue position changed (a job queued at the gateway is a wait, and its position
        says how long), or another ``progress_every`` polls went by. Two comparisons and no
        formatting, so a poll that logs nothing costs nothing extra."""
        self.polls += 1
        self.failures = 0
        changed = state != self.last_state or position != self.last_position
        self.last_state, self.last_position = state, position
        return changed or self.polls % self.progress_every == 0

    def begin(self, task_id: str, now: float, first_poll: float) -> str:
        """The first log line of a trigger's run: a fresh wait, or a resumed one.

        A triggerer that is lost (killed, its host gone) leaves its triggers to another triggerer,
        which re-creates each from the kwargs the task deferred with: nothing a poll learned survives.
        The kwargs carry the defer time (``started``: ``first_poll`` minus the schedule's first delay)
        and the schedule. A run that starts more than ``RESUME_GRACE`` seconds after the defer is a
        resumed wait, and the polls made so far follow from the schedule: one at ``first_poll``, then
        one per ``interval`` (jitter averages out, failed polls are not told apart, hence "about").
        The count carries on in this wait's later lines, so they read as one wait across triggerers.
        """
        left = f"deadline in {max(0.0, self.deadline - now):.0f} s"
        first = f"first poll in {max(0.0, first_poll - now):.0f} s"
        if now - self.started <= RESUME_GRACE:
            return f"Waiting for Kling job {task_id}: {first}, {left}"
        overdue = now - first_poll
        self.polls = 1 + int(overdue // self.schedule.interval) if overdue >= 0 else 0
        so_far = (
            f"about {self.polls} poll{'' if self.polls == 1 else 's'} so far"
            if self.polls
            else f"no poll yet, {first}"
        )
        return f"Kling job {task_id}: resumed waiting after {now - self.started:.0f} s ({so_far}), {left}"

    def failed(self, err: Exception) -> bool:
        """Record a failed poll; ``True`` when the wait should give up with ``err``.

        Tolerated, ``failure_budget`` in a row: errors a later poll can fix (``err.retryable``: 5xx,
        429, dropped connections) and unreadable answers (HTML, empty, truncated JSON under HTTP 200,
        :class:`KlingProtocolError`), which a proxy or a gateway mid-deploy sends for a while too. A
        status read is idempotent, so asking again costs nothing; a submit keeps its own rule (an
        unreadable submit answer is an uncertain outcome, see ``hooks/_submit.py``).
        """
        self.failures += 1
        tolerable = getattr(err, "retryable", False) or isinstance(err, KlingProtocolError)
        return not tolerable or self.failures > self.failure_budget

    def describe(self, task: VideoTask, now: float) -> str:
        """The log line for a state change: how long and how many polls so far.

        ``Kling job X is running (30 s, 3 polls)`` while it renders; ``Kling job X succeeded after
        63 s and 4 polls`` at the end, followed by :func:`final_details`.
        """
        elapsed = f"{max(0.0, now - self.started):.0f} s"
        polls = f"{self.polls} poll{'' if self.polls == 1 else 's'}"
        ended = _ENDED.get(task.state.value)
        if ended is None:
            where = (
                ""
                if task.queue_position is None
                else f", position {task.queue_position} in the gateway's queue"
            )
            return f"Kling job {task.task_id} is {task.state.value}{where} ({elapsed}, {polls})"
        details = "".join(f"; {d}" for d in final_details(task))
        return f"Kling job {task.task_id} {ended} after {elapsed} and {polls}{details}"


#: How an ended job's final line reads, by state.
_ENDED = {"succeeded": "succeeded", "failed": "failed", "cancelled": "was cancelled"}


def final_details(task: VideoTask) -> list[str]:
    """Facts appended to the final line of every wait (worker, trigger, sensor), e.g. ``cost $0.35``
    or ``cost 1.5 units``: what the clip cost, with its unit, where the gateway reports it."""
    if task.cost is None:
        return []
    from airflow_provider_kling.gateways.pricing import cost_text

    return [cost_text(task.cost, task.cost_unit)]


def capacity_delay(
    refusals: int,
    retry_after: float | None,
    cap: float,
    rng: random.Random | None = None,
    first: float = CAPACITY_FIRST_DELAY,
) -> float:
    """Seconds to wait before submitting again after ``refusals`` capacity or rate refusals in a row.

    Exponential from ``first``, at least the gateway's ``Retry-After`` (when it says a slot frees
    later, asking earlier only earns another refusal), never above ``cap`` (the worker wait and the
    first waiter in line use the poll interval, so a freed slot is taken within about one interval).
    Jittered by -25 %..0 so waiters refused together do not come back in lockstep; pure, no clock.
    """
    base = first * 2.0 ** min(max(0, refusals - 1), 64)  # capped below anyway; 2.0 ** 1024 overflows
    if retry_after:
        base = max(base, retry_after)
    base = min(base, cap)
    return max(0.0, base * (1 - 0.25 * (rng or _rng).random()))


def capacity_message(waited: float, refusals: int) -> str:
    """How long a task waited for capacity, in the words of the timeout error and the logs."""
    return f"waited {waited:.0f} s for capacity, {refusals} refusal{'' if refusals == 1 else 's'}"


def capacity_timeout_message(waited: float, refusals: int) -> str:
    """The error of a task whose timeout ran out while it waited for capacity."""
    return f"no capacity before the task's timeout: {capacity_message(waited, refusals)}"


@dataclass
class CapacityWait:
    """The wait of one clip whose submit the account's capacity or rate limit refused.

    A refusal proves no job was created, so the same request is submitted again later (never paying
    twice). :meth:`refused` records a refusal and says how long to wait, or gives up at the task's
    deadline with the message users see. Serializable as plain numbers (the trigger's fields).

    :param deadline: POSIX time at which the task's timeout runs out.
    :param cap: the longest wait between tries (the poll interval: a freed slot is taken within
        about one interval).
    :param waiting_since: POSIX time of the first refusal (``None``: none yet).
    :param refusals: refusals so far.
    """

    deadline: float
    cap: float = DEFAULT_POLL_INTERVAL
    waiting_since: float | None = None
    refusals: int = 0

    def refused(self, err: KlingRateLimitError, now: float) -> float:
        """Record the refusal ``err``; the seconds to wait before submitting again (honouring its
        ``Retry-After``, never past the deadline). Raises :class:`KlingTimeoutError` when the deadline
        has come: no capacity before the task's timeout."""
        self.refusals += 1
        if self.waiting_since is None:
            self.waiting_since = now
        if now >= self.deadline:
            raise KlingTimeoutError(
                f"{self.timeout_message(now)} (last refusal: {err.message})", gateway=err.gateway
            )
        return min(capacity_delay(self.refusals, err.retry_after, self.cap), self.deadline - now)

    def expired(self, now: float) -> bool:
        return now >= self.deadline

    def waiting_line(self, gateway: str, delay: float, refusal: str, deferred: bool) -> str:
        """The log line of a clip that waits ``delay`` seconds after the refusal ``refusal``."""
        plural = "" if self.refusals == 1 else "s"
        sooner = ", sooner when a slot frees" if deferred else ""
        return (
            f"Waiting for capacity at gateway {gateway} ({self.refusals} refusal{plural} so far, "
            f"next try in {delay:.0f} s{sooner}): {refusal}"
        )

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> CapacityWait:
        """The wait a ``capacity`` event of the trigger carries on (deadline and counters)."""
        return cls(
            float(event["deadline"]),
            waiting_since=float(event["waiting_since"]),
            refusals=int(event["refusals"]),
        )

    def idle_delay(self, head_delay: float) -> float:
        """How long a waiter that is not first in line sleeps: a longer capped backoff (see
        :mod:`~airflow_provider_kling.triggers.capacity`), never shorter than the head's."""
        idle = capacity_delay(self.refusals, head_delay, CAPACITY_IDLE_CAP, first=CAPACITY_IDLE_FIRST)
        return max(head_delay, idle)

    def message(self, now: float) -> str:
        """How long this clip has waited, for the logs."""
        return capacity_message(now - self._since(now), self.refusals)

    def timeout_message(self, now: float) -> str:
        """The error of a task whose timeout ran out while it waited for capacity."""
        return capacity_timeout_message(now - self._since(now), self.refusals)

    def _since(self, now: float) -> float:
        return self.waiting_since if self.waiting_since is not None else now


_rng = random.Random()  # noqa: S311 - jitter, not security


#: What a wait that gave up adds to its message: the job renders on, and is not forgotten.
LATE_JOB_NOTE = (
    "the job may still finish and be billed: its record stays in XCom 'kling_job', where "
    "KlingReconcileOperator finds and delivers it (a cleared or retried task attaches to it)"
)
