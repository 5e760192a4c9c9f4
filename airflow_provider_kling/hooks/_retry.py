"""The retry policy of one HTTP call, the same for the sync path (workers) and the async path (triggerer).

Jittered exponential backoff, ``Retry-After`` honoured (capped), a bound on attempts and on total
time. *What* may be retried is the caller's decision (``should_retry``): status reads retry any
transient error, a submit only what cannot create a second job (see ``KlingHook.submit``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from airflow_provider_kling.defaults import CALL_RETRY_AFTER_CAP
from airflow_provider_kling.exceptions import (
    KlingError,
    KlingProtocolError,
    KlingRateLimitError,
    capped_retry_after,
)

T = TypeVar("T")

#: ``Retry-After`` longer than this is capped (we would rather fail and let Airflow retry later).
RETRY_AFTER_CAP = CALL_RETRY_AFTER_CAP
#: Bound on the time one call may spend retrying, whatever the attempt budget.
RETRY_TOTAL_SECONDS = 120.0

_backoff = wait_random_exponential(multiplier=0.5, max=20)


def _wait(state: RetryCallState) -> float:
    """Honour ``Retry-After`` on 429 (at most ``RETRY_AFTER_CAP``; a negative one is no wait, one that
    is not a number is absent), else jittered exponential backoff."""
    outcome = state.outcome
    exc = outcome.exception() if outcome is not None else None
    if isinstance(exc, KlingRateLimitError):
        honoured = capped_retry_after(exc.retry_after, RETRY_AFTER_CAP)
        if honoured is not None:
            return honoured
    return float(_backoff(state))


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, KlingError) and exc.retryable


def is_transient_read(exc: BaseException) -> bool:
    """Status reads are idempotent: retry transient errors and unreadable (truncated) answers."""
    return is_transient(exc) or isinstance(exc, KlingProtocolError)


def retry_kwargs(
    attempts: int, should_retry: Callable[[BaseException], bool], before_sleep: Any, sleep: Any
) -> dict[str, Any]:
    """Arguments for ``tenacity.Retrying`` and ``tenacity.AsyncRetrying`` alike: one policy, two paths."""
    return {
        "retry": retry_if_exception(should_retry),
        "stop": stop_after_attempt(max(1, attempts)) | stop_after_delay(RETRY_TOTAL_SECONDS),
        "wait": _wait,
        "reraise": True,
        "before_sleep": before_sleep,
        "sleep": sleep,
    }


def call(
    once: Callable[[], T],
    should_retry: Callable[[BaseException], bool],
    retries: int,
    before_sleep: Callable[[RetryCallState], None],
    sleep: Callable[[float], Any],
) -> T:
    for attempt in Retrying(**retry_kwargs(retries + 1, should_retry, before_sleep, sleep)):
        with attempt:
            return once()
    raise AssertionError("unreachable")  # pragma: no cover


async def aretry(
    once: Callable[[], Awaitable[T]],
    failed: KlingError,
    should_retry: Callable[[BaseException], bool],
    retries: int,
    before_sleep: Callable[[RetryCallState], None],
    sleep: Callable[[float], Any],
) -> T:
    """The async path's retries, after a first attempt (made by the caller without tenacity's ~40 µs
    set-up: the triggerer's hot path) failed with ``failed``, worth retrying: the shared policy with
    that failure replayed as its first attempt, so waits (``Retry-After``), attempt counts and logs
    are the same as on the sync path."""
    replay: KlingError | None = failed
    async for attempt in AsyncRetrying(**retry_kwargs(retries + 1, should_retry, before_sleep, sleep)):
        with attempt:
            if replay is not None:
                first, replay = replay, None
                raise first
            return await once()
    raise AssertionError("unreachable")  # pragma: no cover
