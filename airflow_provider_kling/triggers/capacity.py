"""KlingCapacityTrigger: a clip whose submit was refused for the account's capacity waits here, holding
no worker slot, until it is worth submitting again.

Gateways limit an account's jobs in flight (the official API's code 1303, "parallel task over
resource pack limit", https://klingai.com/document-api; APIXO, kie.ai, APIMart and Runware 429;
Rivya ``rate_limited``). A refusal creates no job, so the task submits again later with the same
client reference (never paying twice); this trigger only decides *when*, and sends one ``capacity``
event (or ``timeout`` at the task's deadline). It makes no HTTP call at all.

**Churn.** With 200 clips against a cap of 10, ~190 wait at once. If each woke every few seconds,
each wake would be a scheduler round trip and a worker start just to be refused again. So waiters
of one connection in this triggerer process form a queue (:data:`COORDINATOR`), oldest first:

* when a :class:`~airflow_provider_kling.triggers.kling.KlingTaskTrigger` of the same connection
  sees its job end (a slot freed), the oldest waiter is woken at once;
* the oldest waiter also probes on its own backoff, capped at the poll interval (a slot freed by a
  job this triggerer does not watch is taken within about one interval);
* every other waiter sleeps on a longer capped backoff (``CAPACITY_IDLE_CAP``) and is re-timed as
  soon as it becomes the oldest.

Serialized state is the connection id and absolute times and counters; no secret. Kwargs that cannot
work (a deadline that is no time, a count that is no count) end the wait with one ``error`` event,
checked first (:mod:`._kwargs`); a NaN ``next_delay`` is read as 0.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_kling._airflow import serialized
from airflow_provider_kling.defaults import CAPACITY_MIN_DEFER, DEFAULT_POLL_INTERVAL
from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.polling import CapacityWait
from airflow_provider_kling.triggers import _kwargs

_order = itertools.count()


@dataclass(eq=False)
class _Waiter:
    since: float
    seq: int = field(default_factory=lambda: next(_order))
    woken: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class CapacityCoordinator:
    """The waiters of each connection in this process, oldest first; woken one per freed slot.

    Used from the triggerer's single event loop only, so it needs no lock.
    """

    def __init__(self) -> None:
        self._queues: dict[str, list[_Waiter]] = {}

    def join(self, conn_id: str, since: float) -> _Waiter:
        waiter = _Waiter(since)
        queue = self._queues.setdefault(conn_id, [])
        queue.append(waiter)
        queue.sort(key=lambda w: (w.since, w.seq))
        self._nudge(conn_id)
        return waiter

    def leave(self, conn_id: str, waiter: _Waiter) -> None:
        queue = self._queues.get(conn_id, [])
        if waiter in queue:
            queue.remove(waiter)
            self._nudge(conn_id)
        if not queue:
            self._queues.pop(conn_id, None)

    def is_head(self, conn_id: str, waiter: _Waiter) -> bool:
        queue = self._queues.get(conn_id)
        return queue is not None and bool(queue) and queue[0] is waiter

    def slot_freed(self, conn_id: str) -> bool:
        """A job of ``conn_id`` ended: wake the oldest waiter (it leaves the queue). ``True`` if one was."""
        queue = self._queues.get(conn_id)
        if not queue:
            return False
        waiter = queue.pop(0)
        waiter.woken.set()
        self._nudge(conn_id)
        return True

    def waiting(self, conn_id: str) -> int:
        return len(self._queues.get(conn_id, []))

    def _nudge(self, conn_id: str) -> None:
        """Tell the (possibly new) head to re-time its sleep."""
        queue = self._queues.get(conn_id)
        if queue:
            queue[0].changed.set()


#: The triggerer process's coordinator (one event loop per triggerer process).
COORDINATOR = CapacityCoordinator()


class KlingCapacityTrigger(BaseTrigger):
    """Wait until it is worth submitting again after ``refusals`` capacity or rate refusals.

    :param kling_conn_id: the connection whose account is at its limit (the queue's key).
    :param deadline: POSIX time at which the task's timeout runs out (a ``timeout`` event).
    :param waiting_since: POSIX time of the first refusal (queue order; the timeout message).
    :param refusals: refusals so far.
    :param next_delay: seconds to wait when first in line (the backoff the task computed, which
        honours ``Retry-After`` and is capped near the poll interval).
    :param poll_interval: the task's poll interval (the cap of the first waiter's probes).
    """

    def __init__(
        self,
        *,
        kling_conn_id: str,
        deadline: float,
        waiting_since: float,
        refusals: int,
        next_delay: float,
        poll_interval: float = DEFAULT_POLL_INTERVAL,
    ) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.kling_conn_id = kling_conn_id
        # kept as given (numbers as numbers): ``run`` checks them first and says what is wrong
        self.deadline = _kwargs.as_float(deadline)
        self.waiting_since = _kwargs.as_float(waiting_since)
        self.refusals = _kwargs.as_int(refusals)
        self.next_delay = _kwargs.as_float(next_delay)
        self.poll_interval = _kwargs.as_float(poll_interval)

    @classmethod
    def resuming(cls, kling_conn_id: str, wait: CapacityWait, next_delay: float) -> KlingCapacityTrigger:
        """The trigger that carries ``wait`` on (after its :meth:`CapacityWait.refused`) in the triggerer."""
        since = wait.waiting_since if wait.waiting_since is not None else time.time()
        return cls(
            kling_conn_id=kling_conn_id,
            deadline=wait.deadline,
            waiting_since=since,
            refusals=wait.refusals,
            next_delay=next_delay,
            poll_interval=wait.cap,
        )

    def __repr__(self) -> str:
        return f"<KlingCapacityTrigger conn_id={self.kling_conn_id!r} refusals={self.refusals}>"

    def serialize(self) -> tuple[str, dict[str, Any]]:
        names = ("kling_conn_id", "deadline", "waiting_since", "refusals", "next_delay", "poll_interval")
        return serialized(self, *names)

    @property
    def wait(self) -> CapacityWait:
        """The capacity decision this trigger carries on (the same object the operator's wait uses)."""
        return CapacityWait(self.deadline, self.poll_interval, self.waiting_since, self.refusals)

    def _checked(self) -> tuple[CapacityWait, float]:
        """The wait and the head's delay, from checked kwargs; raises the :class:`KlingValidationError`
        naming the first bad one."""
        name = type(self).__name__
        _kwargs.text(name, "kling_conn_id", self.kling_conn_id)
        deadline = _kwargs.point_in_time(name, "deadline", self.deadline)
        since = _kwargs.point_in_time(name, "waiting_since", self.waiting_since)
        refusals = _kwargs.count(name, "refusals", self.refusals)
        head_delay = max(0.0, _kwargs.delay(name, "next_delay", self.next_delay))  # NaN: now
        interval = self.poll_interval
        if isinstance(interval, bool) or not isinstance(interval, float) or not 0 < interval < float("inf"):
            raise _kwargs.refusal(name, "poll_interval", interval, "a finite number of seconds > 0")
        return CapacityWait(deadline, interval, since, refusals), head_delay

    async def run(self) -> AsyncIterator[TriggerEvent]:
        try:
            wait, head_delay = self._checked()
        except KlingValidationError as err:
            yield self._error(err)
            return
        self.next_delay = head_delay  # a NaN read as 0 stays 0 in what this trigger says
        entered = time.time()
        idle_delay = wait.idle_delay(head_delay)
        # Never fire within CAPACITY_MIN_DEFER of the deferral (see its note): Airflow would fail the task.
        earliest = entered + CAPACITY_MIN_DEFER
        waiter = COORDINATOR.join(self.kling_conn_id, self.waiting_since)
        reason = "backoff"
        try:
            while True:
                now = time.time()
                if wait.expired(now):
                    yield self._event("timeout", now)
                    return
                head = COORDINATOR.is_head(self.kling_conn_id, waiter)
                wake_at = min(entered + (head_delay if head else idle_delay), self.deadline)
                if waiter.woken.is_set():  # popped from the queue: only the earliest start holds it back
                    reason = "a slot was freed"
                    await asyncio.sleep(max(0.0, min(earliest, self.deadline) - now))
                    break
                wake_at = max(wake_at, earliest)
                if now >= wake_at:
                    break
                waiter.changed.clear()
                woken = asyncio.ensure_future(waiter.woken.wait())
                changed = asyncio.ensure_future(waiter.changed.wait())
                try:
                    await asyncio.wait(
                        {woken, changed}, timeout=wake_at - now, return_when=asyncio.FIRST_COMPLETED
                    )
                finally:
                    woken.cancel()
                    changed.cancel()
        finally:
            COORDINATOR.leave(self.kling_conn_id, waiter)
        self.log.info("Submitting again for capacity (%s): %s", reason, wait.message(time.time()))
        yield self._event("capacity", time.time(), reason)

    def _error(self, err: KlingValidationError) -> TriggerEvent:
        """The one event of a trigger whose kwargs cannot work (the operator raises ``err``)."""
        return TriggerEvent({"status": "error", "error": err.to_dict()})  # type: ignore[no-untyped-call]

    def _event(self, status: str, now: float, reason: str = "timeout") -> TriggerEvent:
        payload: dict[str, Any] = {
            "status": status,
            "reason": reason,
            "deadline": self.deadline,
            "waiting_since": self.waiting_since,
            "refusals": self.refusals,
        }
        if status == "timeout":
            payload["message"] = self.wait.timeout_message(now)
        return TriggerEvent(payload)  # type: ignore[no-untyped-call]
