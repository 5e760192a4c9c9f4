"""Connection lookups of the async path, shared within one process: one in flight per connection id,
and its answer kept for :data:`KEEP_SECONDS`.

A triggerer that starts 10,000 triggers of one connection would otherwise look the connection up
10,000 times at once (``BaseHook.aget_connection``: the secrets backends, then the triggerer's
supervisor), each lookup parsed into the same :class:`ConnectionSettings`. Here the first caller
starts the lookup as a task of its own; callers that come while it runs await that task (shielded, so
a caller cancelled meanwhile does not cancel it for the others); its settings are then kept for
:data:`KEEP_SECONDS` from the moment they arrived. A lookup that fails is not kept: its waiters get
its error, the next caller looks up again.

What is kept holds the credentials (as every hook does while it lives); nothing here logs it, and the
``repr`` of :class:`SharedLookups` names connection ids only.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

#: How long a looked-up connection serves new triggers. A connection edited in the UI reaches the
#: triggers started more than this after the last lookup; a trigger keeps the settings it started with.
KEEP_SECONDS = 30.0


class SharedLookups(Generic[T]):
    """Single-flight lookups with a short-lived cache, by key (a connection id).

    :param keep_seconds: how long a successful answer serves later callers.
    :param clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self, keep_seconds: float = KEEP_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.keep_seconds = keep_seconds
        self.clock = clock
        self._kept: dict[str, tuple[float, T]] = {}
        self._flying: dict[str, asyncio.Task[T]] = {}

    def __repr__(self) -> str:
        ids = f"kept={sorted(self._kept)} flying={sorted(self._flying)}"
        return f"<SharedLookups keep={self.keep_seconds:g}s {ids}>"

    async def get(self, key: str, lookup: Callable[[], Awaitable[T]]) -> T:
        """The kept answer for ``key`` if still fresh, else that of the lookup in flight (started now if
        there is none in this event loop)."""
        kept = self._kept.get(key)
        if kept is not None and self.clock() < kept[0]:
            return kept[1]
        loop = asyncio.get_running_loop()
        flight = self._flying.get(key)
        if flight is None or flight.get_loop() is not loop:  # a task of another loop cannot be awaited
            flight = loop.create_task(self._fly(key, lookup))
            flight.add_done_callback(_retrieved)
            self._flying[key] = flight
        return await asyncio.shield(flight)

    async def _fly(self, key: str, lookup: Callable[[], Awaitable[T]]) -> T:
        try:
            value = await lookup()
        finally:
            if self._flying.get(key) is asyncio.current_task():
                del self._flying[key]
        now = self.clock()
        self._kept = {k: v for k, v in self._kept.items() if now < v[0]}  # drop what has expired
        self._kept[key] = (now + self.keep_seconds, value)
        return value

    def clear(self) -> None:
        """Forget every kept answer (a lookup in flight still answers its waiters)."""
        self._kept.clear()


def _retrieved(flight: asyncio.Task[object]) -> None:
    """Read the lookup's error: a lookup whose waiters were all cancelled logs no "never retrieved"."""
    if not flight.cancelled():
        flight.exception()
