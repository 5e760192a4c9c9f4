"""The auth headers the gateway wants, minted once and reused while valid, and masked.

The official API needs a JWT signed with the secret key, valid for a limited time: minting one per
call would cost a signature per poll, so it is cached until shortly before it expires
(``auth_cache_seconds``, the gateway's answer). Every value minted is registered with Airflow's
secret masker and offered to the scrubber.
"""

from __future__ import annotations

import time

from airflow_provider_kling.gateways.base import Credentials, Gateway
from airflow_provider_kling.hooks import _secrets


class AuthCache:
    def __init__(self, gateway: Gateway, credentials: Credentials) -> None:
        self._gateway = gateway
        self._credentials = credentials
        self._headers: dict[str, str] | None = None
        self._until = 0.0
        _secrets.mask(credentials.api_key)
        _secrets.mask(credentials.access_key)

    def headers(self) -> dict[str, str]:
        now = time.time()
        if self._headers is None or now >= self._until:
            self._headers = self._gateway.auth_headers(self._credentials, now)
            ttl = self._gateway.auth_cache_seconds
            self._until = now + ttl if ttl is not None else float("inf")
            _secrets.mask_header_values(self._headers)
        return self._headers

    def secrets(self) -> list[str]:
        """Everything that must never appear in a message or a log line."""
        c = self._credentials
        return _secrets.secret_values(c.api_key, c.access_key, self._headers)
