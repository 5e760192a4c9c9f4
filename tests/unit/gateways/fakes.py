"""The one factory for fake gateway answers, and the recorded sample bodies the suites read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_kling.gateways.base import HttpResponse

SAMPLES = Path(__file__).parent / "samples"


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    """An :class:`HttpResponse` carrying ``body``: bytes as they are, anything else as JSON."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, content)


def sample(gateway: str, name: str) -> Any:
    """A recorded body: ``samples/<gateway>/<name>.json``."""
    return json.loads((SAMPLES / gateway / f"{name}.json").read_text(encoding="utf-8"))
