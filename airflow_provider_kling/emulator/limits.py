"""Account limits: jobs in flight and submits per second per API key, and the latency spread.

Real gateways refuse work beyond an account's capacity: the official Kling API counts the tasks in
flight per account and answers ``429`` with code ``1303`` ("parallel task over resource pack limit"),
and throttles request bursts with ``1302`` (error codes at https://klingai.com/document-api); APIXO
documents ``429`` for "rate limit or concurrency limit reached"
(https://apixo.ai/docs/models/video/kling-2-6), Rivya
``rate_limited`` (https://rivya.ai/docs/api-errors-and-limits), kie.ai ``429``
(https://docs.kie.ai). The emulator enforces both limits the same way for every gateway, so a
client's back-off and slot accounting can be tested end to end; each dialect only spells the refusal
(``Dialect.limit_refusal``).

* **Concurrency** (``EmulatorConfig.concurrency``, 0 = unlimited): a submit holds one slot of its
  (gateway, key) from the moment it is accepted until its job ends, i.e. until its latency has
  elapsed, whether or not anyone polled it. A submit that finds every slot taken is refused.
* **Rate** (``EmulatorConfig.rate``, submits per second, 0 = unlimited): a token bucket per
  (gateway, key) holding ``max(1, rate)`` tokens, refilled at ``rate`` per second. Only accepted
  submits take a token; refusals do not.

fal is the exception: over an account's limit its queue *holds* the request instead of refusing it
(https://fal.ai/docs, "Queue"; the limit on requests in progress rises with credit). ``enqueue``
gives such a submit a slot that starts when enough earlier jobs of the key have ended (first come,
first served); the job stays ``queued`` until then (``Job.queue_delay``). A job cancelled while it
waits keeps the later jobs' start times (they do not move up): a simplification, noted here.

A refused submit creates no job. Its ``Retry-After`` header (whole seconds, at least 1) says when a
slot frees or a token comes back; the gateways do not document the header's presence, and the
emulator sends it on every limit refusal, as on its ``429`` fault.

Latency spread: with ``latency_jitter`` ``f`` each job's latency is drawn uniformly from
``latency * [1 - f, 1 + f]`` by a generator seeded with ``latency_seed`` (reproducible), so jobs
submitted together end at different times, as they do on a real queue. A ``[latency:S]`` prompt
marker still sets one job's latency exactly.

The limits live in ``EmulatorConfig`` and are read at every submit, so ``POST /_emulator/limits``
changes them on a running emulator.
"""

from __future__ import annotations

import dataclasses
import math
import random
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from .config import EmulatorConfig
    from .state import Job

RefusalKind = Literal["concurrency", "rate"]

#: Keys of ``GET/POST /_emulator/limits`` and their types.
LIMIT_KEYS: dict[str, type] = {"concurrency": int, "rate": float, "latency": float, "latency_jitter": float}

#: Counters kept per gateway (``GET /_emulator/counters``).
LIMIT_COUNTERS: tuple[str, ...] = ("accepted", "refused", "in_flight", "peak_in_flight")


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why a submit was refused and how long the client should wait (seconds, >= 1)."""

    kind: RefusalKind
    retry_after: int
    limit: float

    @property
    def message(self) -> str:
        if self.kind == "concurrency":
            return f"parallel task over resource pack limit: {self.limit:g} jobs in flight for this key"
        return f"request rate too high: at most {self.limit:g} submits per second for this key"


class Ticket:
    """One slot held by a submit that passed the limits; bound to its job or released."""

    def __init__(self, limits: Limits, scope: tuple[str, str], start_delay: float = 0.0) -> None:
        self._limits = limits
        self.scope = scope
        self.ends: float = math.inf  # monotonic end; inf until bound to a job
        #: seconds the job waits in the queue for this slot (``enqueue``); 0 for an admitted submit
        self.start_delay = start_delay
        self.job_id: str | None = None

    def bind(self, job: Job) -> None:
        """The job was stored: the slot is held until the job's latency has elapsed."""
        self._limits.bind(self, job)

    def release(self) -> None:
        """No job was created (duplicate, refusal after the check): give the slot back."""
        self._limits.release(self)


def validate_limits(values: dict[str, Any]) -> dict[str, Any]:
    """Check a subset of ``LIMIT_KEYS``; raises ``ValueError`` with a readable message."""
    out: dict[str, Any] = {}
    for key, raw in values.items():
        kind = LIMIT_KEYS.get(key)
        if kind is None:
            raise ValueError(f"unknown limit {key!r}; known: {sorted(LIMIT_KEYS)}")
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ValueError(f"{key} must be a number")
        if kind is int and not float(raw).is_integer():
            raise ValueError(f"{key} must be an integer")
        value = kind(raw)
        if not value >= 0 or math.isinf(value):  # also rejects NaN
            raise ValueError(f"{key} must be a finite number >= 0")
        if key == "latency_jitter" and value > 1:
            raise ValueError("latency_jitter must be within [0, 1]")
        out[key] = value
    return out


class Limits:
    """Concurrency and rate per (gateway, key), their counters, and the latency draw. Thread-safe."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._rng = random.Random(config.latency_seed)
        self._held: defaultdict[tuple[str, str], list[Ticket]] = defaultdict(list)
        self._buckets: dict[tuple[str, ...], tuple[float, float]] = {}  # scope -> (tokens, at)
        self._counts: dict[str, defaultdict[str, int]] = {n: defaultdict(int) for n in LIMIT_COUNTERS}

    # -- configuration ----------------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {key: getattr(self.config, key) for key in LIMIT_KEYS}

    def update(self, values: dict[str, Any]) -> dict[str, Any]:
        """Apply a validated subset of ``LIMIT_KEYS`` to the live config; the new values."""
        checked = validate_limits(values)
        with self._lock:
            for key, value in checked.items():
                setattr(self.config, key, value)
        return self.describe()

    def draw_latency(self) -> float:
        """The configured latency, spread by ``latency_jitter`` with the seeded generator."""
        base, jitter = self.config.latency, self.config.latency_jitter
        if jitter <= 0 or base <= 0:
            return base
        with self._lock:
            return base * (1 + self._rng.uniform(-jitter, jitter))

    # -- admission --------------------------------------------------------------------------------
    def _live(self, scope: tuple[str, str], now: float) -> list[Ticket]:
        held = [t for t in self._held[scope] if t.ends > now]
        self._held[scope] = held
        return held

    def _gateway_in_flight(self, gateway: str, now: float) -> int:
        return sum(len(self._live(s, now)) for s in list(self._held) if s[0] == gateway)

    def acquire(self, gateway: str, account: str) -> Ticket | Refusal:
        """A slot for one submit of ``account`` on ``gateway``, or why it is refused."""
        scope = (gateway, account)
        concurrency, rate = self.config.concurrency, self.config.rate
        with self._lock:
            now = time.monotonic()
            held = self._live(scope, now)
            if concurrency > 0 and len(held) >= concurrency:
                self._counts["refused"][gateway] += 1
                wait = min(t.ends for t in held) - now
                return Refusal("concurrency", _whole_seconds(wait), concurrency)
            if rate > 0 and (refusal := self._take_token(scope, rate, now)) is not None:
                self._counts["refused"][gateway] += 1
                return refusal
            ticket = Ticket(self, scope)
            held.append(ticket)
            peak = self._counts["peak_in_flight"]
            peak[gateway] = max(peak[gateway], self._gateway_in_flight(gateway, now))
            return ticket

    def enqueue(self, gateway: str, account: str) -> Ticket:
        """A slot for a submit that is queued, never refused, over the concurrency limit: its
        ``start_delay`` says how long it waits until enough earlier jobs of the key have ended."""
        scope = (gateway, account)
        concurrency = self.config.concurrency
        with self._lock:
            now = time.monotonic()
            held = self._live(scope, now)
            delay = 0.0
            if concurrency > 0 and len(held) >= concurrency:
                ends = sorted(t.ends for t in held)
                delay = max(0.0, ends[len(held) - concurrency] - now)
            ticket = Ticket(self, scope, delay)
            held.append(ticket)
            peak = self._counts["peak_in_flight"]
            peak[gateway] = max(peak[gateway], self._gateway_in_flight(gateway, now))
            return ticket

    def end(self, job: Job) -> None:
        """The job stopped early (cancelled): its slot is free from now."""
        with self._lock:
            now = time.monotonic()
            for ticket in self._held.get((job.gateway, job.account), []):
                if ticket.job_id == job.job_id:
                    ticket.ends = min(ticket.ends, now)

    def _take_token(self, scope: tuple[str, ...], rate: float, now: float) -> Refusal | None:
        """One token of the bucket of ``scope`` (``max(1, rate)`` tokens, ``rate`` back per second)."""
        capacity = max(1.0, rate)
        tokens, at = self._buckets.get(scope, (capacity, now))
        tokens = min(capacity, tokens + (now - at) * rate)
        if tokens < 1:
            self._buckets[scope] = (tokens, now)
            return Refusal("rate", _whole_seconds((1 - tokens) / rate), rate)
        self._buckets[scope] = (tokens - 1, now)
        return None

    def throttle(self, scope: tuple[str, ...], rate: float) -> Refusal | None:
        """A documented per-endpoint request rate (e.g. Kling's account query, QPS <= 1)."""
        with self._lock:
            return self._take_token(scope, rate, time.monotonic())

    def bind(self, ticket: Ticket, job: Job) -> None:
        with self._lock:
            ticket.ends = job.created_mono + job.ends_after
            ticket.job_id = job.job_id
            self._counts["accepted"][ticket.scope[0]] += 1

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            held = self._held.get(ticket.scope, [])
            if ticket in held:
                held.remove(ticket)

    # -- counters ---------------------------------------------------------------------------------
    def counters(self, gateways: tuple[str, ...]) -> dict[str, dict[str, int]]:
        with self._lock:
            now = time.monotonic()
            out = {name: {gw: self._counts[name].get(gw, 0) for gw in gateways} for name in LIMIT_COUNTERS}
            out["in_flight"] = {gw: self._gateway_in_flight(gw, now) for gw in gateways}
            return out

    def reset(self) -> None:
        """Forget slots, buckets and counters (the configured limits stay)."""
        with self._lock:
            self._held.clear()
            self._buckets.clear()
            for values in self._counts.values():
                values.clear()


def _whole_seconds(seconds: float) -> int:
    return max(1, math.ceil(seconds))
