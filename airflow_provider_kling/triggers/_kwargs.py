"""The triggers' keyword arguments, checked where they are used: at the start of ``run``.

A trigger's kwargs come back from the database (the triggerer re-creates the trigger from them), so
``__init__`` keeps them as given (numbers as floats where they are numbers) and ``run`` checks them
first. Whatever they hold, the trigger then ends with exactly one event: a bad value is an ``error``
event carrying a :class:`~airflow_provider_kling.exceptions.KlingValidationError` that names the
argument, never an exception out of ``run`` (which Airflow reports far from its cause) nor a wait
that never ends. A delay that is not a number (NaN) is read as no delay.
"""

from __future__ import annotations

import math
from typing import Any

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.polling import PollSchedule

#: what a poll schedule may hold (``PollSchedule``'s rules)
SCHEDULE_RULES = (
    "a dict {first_delay >= 0, interval > 0, jitter in [0, 1), window >= 0, key}, finite numbers "
    "(a NaN first_delay or window is read as 0)"
)


def as_float(value: Any) -> Any:
    """``value`` as a float where it is a number, else as given (``run`` names it in its error event)."""
    if isinstance(value, bool):
        return value
    try:
        return float(value)
    except (TypeError, ValueError, OverflowError):
        return value


def as_int(value: Any) -> Any:
    """``value`` as an int where it is a whole number, else as given (for the same reason)."""
    number = as_float(value)
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        return int(number)
    return value


def refusal(trigger: str, name: str, value: Any, allowed: str) -> KlingValidationError:
    """The error event's error: ``<name>=<value> is not accepted by <trigger>; allowed: ...``."""
    shown = value if not isinstance(value, str) or len(value) <= 80 else f"{value[:77]}..."
    return KlingValidationError.not_accepted(f"{name}={shown!r}", trigger, allowed, None, name, value)


def point_in_time(trigger: str, name: str, value: Any) -> float:
    """A POSIX time: a finite number (NaN or infinity would make a deadline that never comes)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise refusal(trigger, name, value, "a POSIX time (a finite number)")
    return float(value)


def optional_time(trigger: str, name: str, value: Any) -> float | None:
    """A POSIX time or ``None`` ("now"); NaN is read as ``None`` too (a wait bounded by a deadline)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refusal(trigger, name, value, "a POSIX time (a number) or None")
    return None if math.isnan(value) else float(value)


def delay(trigger: str, name: str, value: Any) -> float:
    """Seconds to wait: a number, NaN read as 0 (the wait is bounded by the trigger's deadline)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise refusal(trigger, name, value, "a number of seconds")
    return 0.0 if math.isnan(value) else float(value)


def count(trigger: str, name: str, value: Any) -> int:
    """A whole number >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise refusal(trigger, name, value, "a whole number >= 0")
    return value


def text(trigger: str, name: str, value: Any, *, optional: bool = False) -> str | None:
    """A non-empty string (or ``None`` where ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise refusal(trigger, name, value, "a non-empty string" + (" or None" if optional else ""))
    return value


def schedule(trigger: str, value: Any) -> PollSchedule:
    """The poll schedule a dict describes (``PollSchedule.from_dict``), its NaN delays read as 0."""
    if not isinstance(value, dict):
        raise refusal(trigger, "poll_schedule", value, SCHEDULE_RULES)
    try:
        found = PollSchedule.from_dict(_nan_as_zero(value, "first_delay", "window"))
    except (KeyError, TypeError, ValueError, OverflowError):
        raise refusal(trigger, "poll_schedule", value, SCHEDULE_RULES) from None
    if not all(math.isfinite(v) for v in (found.first_delay, found.interval, found.window)):
        raise refusal(trigger, "poll_schedule", value, SCHEDULE_RULES)
    return found


def _nan_as_zero(data: dict[str, Any], *keys: str) -> dict[str, Any]:
    out = dict(data)
    for key in keys:
        number = as_float(out.get(key))
        if isinstance(number, float) and math.isnan(number):
            out[key] = 0.0
    return out
