"""The capacity backoff: exponential, Retry-After honoured, capped, jittered downwards only."""

from __future__ import annotations

import random

import pytest

from airflow_provider_kling.exceptions import KlingRateLimitError, KlingTimeoutError
from airflow_provider_kling.polling import (
    CapacityWait,
    capacity_delay,
    capacity_message,
    capacity_timeout_message,
)


class _Fixed(random.Random):
    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.mark.parametrize(("refusals", "expected"), [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (30, 5.0)])
def test_exponential_then_capped_at_the_poll_interval(refusals: int, expected: float) -> None:
    assert capacity_delay(refusals, None, cap=5.0, rng=_Fixed(0.0)) == expected


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    assert capacity_delay(1, 3.0, cap=5.0, rng=_Fixed(0.0)) == 3.0
    assert capacity_delay(1, 30.0, cap=5.0, rng=_Fixed(0.0)) == 5.0


def test_jitter_spreads_waiters_by_at_most_a_quarter_downwards() -> None:
    rng = random.Random(7)
    delays = [capacity_delay(6, None, cap=8.0, rng=rng) for _ in range(500)]
    assert min(delays) >= 6.0 and max(delays) <= 8.0
    assert max(delays) - min(delays) > 1.0  # not lockstep


def test_messages() -> None:
    assert capacity_message(61.4, 1) == "waited 61 s for capacity, 1 refusal"
    assert (
        capacity_timeout_message(120, 9)
        == "no capacity before the task's timeout: waited 120 s for capacity, 9 refusals"
    )


# --------------------------------------------------------------------------- the decision object
def _refusal(retry_after: float | None = None) -> KlingRateLimitError:
    return KlingRateLimitError("parallel task over limit", gateway="kling", retry_after=retry_after)


def test_capacity_wait_counts_refusals_and_never_waits_past_the_deadline() -> None:
    wait = CapacityWait(deadline=1000.0, cap=5.0)
    first = wait.refused(_refusal(), now=900.0)
    assert (wait.refusals, wait.waiting_since) == (1, 900.0)
    assert 0.75 <= first <= 1.0  # the first backoff, jittered downwards only
    assert wait.refused(_refusal(retry_after=30.0), now=910.0) <= 5.0  # Retry-After, capped
    assert wait.refused(_refusal(retry_after=30.0), now=998.0) <= 2.0  # the deadline is 2 s away
    assert (wait.refusals, wait.waiting_since) == (3, 900.0)


def test_capacity_wait_gives_up_at_the_deadline_with_the_message() -> None:
    wait = CapacityWait(deadline=1000.0, cap=5.0, waiting_since=880.0, refusals=8)
    with pytest.raises(KlingTimeoutError) as info:
        wait.refused(_refusal(), now=1000.0)
    assert info.value.gateway == "kling" and info.value.retryable
    assert info.value.message == (
        "no capacity before the task's timeout: waited 120 s for capacity, 9 refusals "
        "(last refusal: parallel task over limit)"
    )


def test_capacity_wait_round_trips_through_the_trigger_event() -> None:
    wait = CapacityWait.from_event({"deadline": 1000, "waiting_since": 880, "refusals": 3})
    assert (wait.deadline, wait.waiting_since, wait.refusals) == (1000.0, 880.0, 3)
    assert wait.expired(1000.0) and not wait.expired(999.0)
    assert wait.idle_delay(2.0) >= 2.0
