"""The capacity backoff: exponential, Retry-After honoured, capped, jittered downwards only."""

from __future__ import annotations

import random

import pytest

from airflow_provider_kling.polling import capacity_delay, capacity_message, capacity_timeout_message


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
