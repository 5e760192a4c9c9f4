"""When to poll a job: a first delay suited to the clip, then a steady, jittered interval.

Vendors publish how long a clip takes (APIXO: 50-70 s for a 5 s clip, 80-100 s for 10 s). Polling
before that only spends status calls and rate limit; polling in lockstep makes a thousand mapped
tasks hit the gateway in the same second. So the default schedule waits for the earliest plausible
finish, then polls every ``interval`` seconds with +/- ``jitter`` spread.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any

#: Earliest plausible finish by clip duration (seconds), from the vendors' published latencies.
DEFAULT_FIRST_DELAY: dict[int, float] = {5: 50.0, 10: 80.0}
DEFAULT_INTERVAL = 5.0
DEFAULT_JITTER = 0.15


@dataclass(frozen=True)
class PollSchedule:
    """``first_delay`` before the first status call, then ``interval`` seconds, each +/- ``jitter``."""

    first_delay: float
    interval: float
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if self.first_delay < 0 or self.interval <= 0 or not 0 <= self.jitter < 1:
            raise ValueError(
                "poll schedule needs first_delay >= 0, interval > 0 and 0 <= jitter < 1, "
                f"got {self.first_delay}, {self.interval}, {self.jitter}"
            )

    @classmethod
    def for_duration(
        cls, duration: int, interval: float | None = None, first_delay: float | None = None
    ) -> PollSchedule:
        """The provider's default schedule for a clip of ``duration`` seconds (overrides win)."""
        return cls(
            first_delay=DEFAULT_FIRST_DELAY.get(duration, DEFAULT_FIRST_DELAY[10])
            if first_delay is None
            else first_delay,
            interval=DEFAULT_INTERVAL if interval is None else interval,
        )

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before status call number ``attempt`` (0 is the first call)."""
        base = self.first_delay if attempt == 0 else self.interval
        if base == 0 or self.jitter == 0:
            return base
        spread = (rng or _rng).uniform(-self.jitter, self.jitter)
        return max(0.0, base * (1 + spread))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PollSchedule:
        return cls(
            first_delay=float(data["first_delay"]),
            interval=float(data["interval"]),
            jitter=float(data.get("jitter", DEFAULT_JITTER)),
        )


_rng = random.Random()  # noqa: S311 - jitter, not security
