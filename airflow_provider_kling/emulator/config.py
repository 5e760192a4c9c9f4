"""Configuration of the emulator (cheap to import: no FastAPI, no PyAV)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path

#: Access key / secret key pair the emulator accepts for the official Kling API by default.
DEFAULT_KLING_ACCESS_KEY = "emulator-access-key"
DEFAULT_KLING_SECRET_KEY = "emulator-secret-key-for-local-tests-only"  # noqa: S105 (a public test key)


def _default_kling_keys() -> dict[str, str]:
    return {DEFAULT_KLING_ACCESS_KEY: DEFAULT_KLING_SECRET_KEY}


@dataclasses.dataclass
class EmulatorConfig:
    """Everything that shapes one emulator server.

    Attributes:
        latency: seconds from submit to the terminal state. A job is *queued* for the first
            ``queued_fraction`` of it, then *running*, then succeeded (or failed when a fault says so).
            A prompt marker ``[latency:20]`` overrides it for one job.
        queued_fraction: share of ``latency`` spent in the queued state (default 0.15).
        response_delay_ms: added (with ``asyncio.sleep``) to every gateway response; the control API
            under ``/_emulator/`` is never delayed.
        kling_keys: access key -> secret key pairs accepted by the official Kling API (JWT HS256).
        api_keys: Bearer keys accepted by the other five gateways. ``None`` (default) accepts any
            non-empty key that does not start with ``bad`` (so tests can provoke a 401 with ``bad-key``).
        faults: server-wide random faults, fault kind -> probability in [0, 1] (e.g. ``{"503": 0.1}``),
            applied to every gateway call; submit-only kinds (``policy``, ``credits``, ``fail``,
            ``policy-task``, ``lost``) only to submits.
        fault_seed: seed of the random generator behind ``faults`` (``None``: not reproducible).
        slow_seconds: how long the ``slow`` fault delays an answer (default 5 s).
        cache_dir: where rendered MP4s are cached; ``None`` creates a temporary directory.
        fps: frame rate of the rendered MP4s.
        public_url: base URL put into result/file URLs; ``None`` uses the URL the request came in on.
        jwt_leeway: seconds of clock skew tolerated on ``exp``/``nbf`` of Kling JWTs.
        rivya_require_uploaded_refs: Rivya ``referenceMediaItems[].url`` must be a URL returned by
            this emulator's ``POST /api/v1/files`` (the Rivya docs say to upload first).
        kie_errors_http_200: answer kie.ai errors with HTTP 200 and the error code only in the body
            (kie.ai often does that); default ``False`` uses the code as the HTTP status.
        max_upload_bytes: Rivya Files API size limit (10 MB).
        concurrency: jobs in flight per API key and gateway (0: unlimited); see ``limits``.
        rate: accepted submits per second per API key and gateway (0: unlimited); see ``limits``.
        latency_jitter: each job's latency is drawn from ``latency * [1 - f, 1 + f]`` (0: exact).
        latency_seed: seed of that draw (``None``: not reproducible).
        balance: starting balance of every key, in each gateway's own unit (Kling resource-pack
            units, Rivya credits); ``None`` keeps the defaults (``dialects.kling.KLING_PACK_UNITS``,
            ``dialects.rivya.STARTING_CREDITS``) and never refuses for balance. When set, a submit
            whose price exceeds the key's remaining balance gets the gateway's insufficient-credits
            answer.
    """

    latency: float = 3.0
    queued_fraction: float = 0.15
    response_delay_ms: float = 0.0
    kling_keys: dict[str, str] = dataclasses.field(default_factory=_default_kling_keys)
    api_keys: AbstractSet[str] | None = None
    faults: Mapping[str, float] = dataclasses.field(default_factory=dict)
    fault_seed: int | None = None
    slow_seconds: float = 5.0
    cache_dir: str | Path | None = None
    fps: int = 12
    public_url: str | None = None
    jwt_leeway: float = 5.0
    rivya_require_uploaded_refs: bool = True
    kie_errors_http_200: bool = False
    max_upload_bytes: int = 10 * 1024 * 1024
    concurrency: int = 0
    rate: float = 0.0
    latency_jitter: float = 0.0
    latency_seed: int | None = None
    balance: float | None = None

    def __post_init__(self) -> None:
        for name in ("latency", "response_delay_ms", "slow_seconds", "jwt_leeway"):
            value = getattr(self, name)
            if not 0 <= value < math.inf:  # also refuses NaN (a job that never ends, a sleep that fails)
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not 0 <= self.queued_fraction <= 1:
            raise ValueError("queued_fraction must be within [0, 1]")
        if self.public_url is not None:
            _check_public_url(self.public_url)
        from .limits import validate_limits

        validate_limits(
            {"concurrency": self.concurrency, "rate": self.rate, "latency_jitter": self.latency_jitter}
        )
        if self.balance is not None and not self.balance >= 0:
            raise ValueError("balance must be >= 0")
        if self.fps < 1:
            raise ValueError("fps must be >= 1")
        if isinstance(self.api_keys, str):
            self.api_keys = frozenset({self.api_keys})
        elif self.api_keys is not None:
            self.api_keys = frozenset(self.api_keys)
        from .faults import validate_server_faults

        self.faults = validate_server_faults(self.faults)


def _check_public_url(url: str) -> None:
    """``public_url`` is written in front of result paths: an http(s) URL with a host."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        _ = parts.port  # a port that is not a number
    except ValueError as exc:
        raise ValueError(f"public_url must be an http(s) URL with a host, got {url!r} ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"public_url must be an http(s) URL with a host, got {url!r}")
