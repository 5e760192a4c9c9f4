"""Small pure helpers for the values the dialects put on the wire: URLs, ids, times, fingerprints,
job phase words and validation messages."""

from __future__ import annotations

import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from pydantic import ValidationError


def phase_words(
    queued: str, running: str, succeeded: str, failed: str, cancelled: str | None = None
) -> dict[str, str]:
    """A gateway's word for each job phase (``Job.phase``); ``cancelled`` where it can cancel."""
    words = {"queued": queued, "running": running, "succeeded": succeeded, "failed": failed}
    return words if cancelled is None else {**words, "cancelled": cancelled}


def describe_validation_error(exc: ValidationError) -> str:
    """``field.path: message; ...`` from a pydantic error, short and readable."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{loc}: {msg}")
    return "; ".join(parts[:5])


def is_http_url(value: str) -> bool:
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def random_digits(n: int) -> str:
    return str(secrets.randbelow(9) + 1) + "".join(str(secrets.randbelow(10)) for _ in range(n - 1))


def now_ms() -> int:
    return int(time.time() * 1000)


def ms(t: float) -> int:
    return int(t * 1000)


def canonical_fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
