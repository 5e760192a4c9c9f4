"""Reading what a deployment wrote: timestamps of the REST API and lines of task and trigger logs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path


def timestamp(value: str) -> float:
    """POSIX seconds of an ISO 8601 time as the REST API and the logs write it (``Z`` for UTC)."""
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def log_events(path: Path) -> list[tuple[float, str]]:
    """``(timestamp, event)`` of each line of an Airflow 3 task or trigger log (JSON lines)."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
            out.append((timestamp(str(record["timestamp"])), str(record.get("event", ""))))
        except (ValueError, KeyError, TypeError):
            continue
    return out
