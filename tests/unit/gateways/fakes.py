"""The one factory for fake gateway answers, the recorded sample bodies the suites read, and the
identity check each gateway's own suite runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airflow_provider_kling.gateways.base import Gateway, HttpResponse

SAMPLES = Path(__file__).parent / "samples"


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> HttpResponse:
    """An :class:`HttpResponse` carrying ``body``: bytes as they are, anything else as JSON."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return HttpResponse(status, headers or {}, content)


def sample(gateway: str, name: str) -> Any:
    """A recorded body: ``samples/<gateway>/<name>.json``."""
    return json.loads((SAMPLES / gateway / f"{name}.json").read_text(encoding="utf-8"))


def check_identity(
    gw: Gateway, name: str, model: str, idempotency: str, base_urls: dict[str | None, str]
) -> None:
    """The gateway's name, default model and idempotency, and the base URL it makes of each host
    given in ``base_urls`` (``None``: no host on the connection)."""
    assert gw.name == name
    assert gw.model == model
    assert gw.idempotency == idempotency
    for host, base_url in base_urls.items():
        assert gw.base_url(host) == base_url
