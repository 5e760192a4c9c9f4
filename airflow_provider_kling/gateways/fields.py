"""Lenient readers for the fields of a decoded JSON answer.

Gateways spell the same thing many ways (a code as a number or a string, URLs as a string or a list,
times as epoch seconds, milliseconds or ISO-8601). Each reader takes whatever JSON holds and returns
the value or ``None``; only :func:`expect_dict` and :func:`parse_json_string`, which guard a shape the
caller cannot do without, raise (a :class:`KlingProtocolError`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from airflow_provider_kling.exceptions import KlingProtocolError
from airflow_provider_kling.models import TaskState


def snippet(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters (for error messages quoting a body)."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def expect_dict(gateway: str, value: Any, where: str, status: int | None = None) -> dict[str, Any]:
    """``value`` when it is a JSON object, else the protocol error naming ``where``."""
    if not isinstance(value, dict):
        raise KlingProtocolError(
            f"expected a JSON object at {where}, got {type(value).__name__}",
            gateway=gateway,
            status_code=status,
        )
    return value


def opt_str(value: Any) -> str | None:
    """A string field that gateways send as string, number or null."""
    if value is None or value == "":
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return None


def first_str(obj: Mapping[str, Any], *keys: str) -> str | None:
    """The first of ``keys`` that holds a string (or number) in ``obj``: vendors rename fields."""
    for key in keys:
        value = obj.get(key)
        if type(value) is str:  # the usual case, without a call
            if value:
                return value
            continue
        text = opt_str(value)
        if text is not None:
            return text
    return None


def objects(value: Any) -> list[dict[str, Any]]:
    """The JSON objects of a list (a single object counts as a list of one; anything else as none)."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return []


def one_or_many(value: Any, single: type | tuple[type, ...]) -> list[Any]:
    """The items of a list, or a lone ``single`` value as a list of one (vendors send either); anything
    else as none."""
    if isinstance(value, single):
        return [value]
    return value if isinstance(value, list) else []


def opt_int(value: Any) -> int | None:
    """An envelope code sent as a number or a numeric string; ``None`` when it is neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float | str):
        try:
            f = float(value)
            return int(f) if f == int(f) else None
        except (ValueError, OverflowError):
            return None
    return None


def opt_float(value: Any) -> float | None:
    """A finite number sent as a number or a numeric string; ``None`` otherwise (JSON also allows
    ``1e999`` and integers of any length: no float holds them, so the field is left empty)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        try:
            f = float(value)
        except (ValueError, OverflowError):  # an integer of hundreds of digits holds in no float
            return None
        return f if math.isfinite(f) else None
    return None


def finite_sum(values: list[float]) -> float | None:
    """The sum of reported amounts (e.g. costs), or ``None`` when there is none or it overflows."""
    total = sum(values) if values else None
    return total if total is not None and math.isfinite(total) else None


def message_text(value: Any) -> str | None:
    """A human-readable message from a string, or from an ``{"message": ...}`` object."""
    if isinstance(value, dict):
        return opt_str(value.get("message")) or opt_str(value.get("msg"))
    if isinstance(value, str):
        return value.strip() or None
    return None


def first_message(body: Any, *keys: str) -> str | None:
    """The first readable message under ``keys`` of an envelope (vendors move it between names)."""
    if not isinstance(body, dict):
        return None
    for key in keys:
        text = message_text(body.get(key))
        if text:
            return text
    return None


def url_list(value: Any) -> list[str]:
    """URLs from a string, a list of strings, or a list of nested lists (lenient)."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(url_list(item))
        return out
    return []


def timestamp(value: Any) -> datetime | None:
    """A datetime from epoch seconds, epoch milliseconds or an ISO-8601 string; ``None`` if unreadable."""
    try:
        return _timestamp(value)
    except (OverflowError, OSError, ValueError):
        return None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            return None
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    if isinstance(value, str):
        if value.isascii() and value.isdigit() and len(value) < 20:
            return _timestamp(int(value))
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return None


def state_table(*shared: Mapping[str, TaskState], **words: str) -> dict[str, TaskState]:
    """A vendor's state vocabulary: ``state_table(queued="waiting queuing", ...)``, keyed lower-case,
    on top of the ``shared`` vocabularies it starts from (:data:`TASK_API_STATES`).

    "cancelled" (either spelling) means cancelled on every wire: read as an unknown word it would be
    "still running", and the job would be polled until the deadline."""
    table = dict.fromkeys(("cancelled", "canceled"), TaskState.CANCELLED)
    for vocabulary in shared:
        table.update(vocabulary)
    table.update((word, TaskState(state)) for state, spelled in words.items() for word in spelled.split())
    return table


#: the state words the task APIs (APIMart, kie.ai, APIXO, Runware) all read; each adds its own
TASK_API_STATES = state_table(
    queued="pending queued waiting",
    running="processing running",
    succeeded="success succeeded",
    failed="failed error",
)


def parse_json_string(gateway: str, value: Any, where: str) -> Any:
    """Fields such as ``resultJson`` hold JSON encoded as a string; accept an object too (lenient)."""
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            raise KlingProtocolError(
                f"{where} is not valid JSON: {snippet(value)!r}", gateway=gateway
            ) from None
    raise KlingProtocolError(f"{where} has type {type(value).__name__}", gateway=gateway)


def result_json_urls(gateway: str, data: dict[str, Any], required: bool) -> list[str]:
    """``resultJson`` (a JSON string, or an object) -> ``resultUrls``, as the Market-style APIs (APIXO,
    kie) report them, falling back to ``data.resultUrls``. Garbage only matters on success."""
    try:
        result = parse_json_string(gateway, data.get("resultJson"), "data.resultJson")
    except KlingProtocolError:
        if required:
            raise
        result = None
    urls: list[str] = []
    if isinstance(result, dict):
        urls = url_list(result.get("resultUrls")) or url_list(result.get("urls"))
    elif isinstance(result, list):
        urls = url_list(result)
    if not urls:
        urls = url_list(data.get("resultUrls"))
    return urls
