"""What the hook needs from a ``kling`` connection, read and checked once, before any request."""

from __future__ import annotations

import math
import re
import ssl
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from airflow_provider_kling.defaults import DEFAULT_HTTP_TIMEOUT, DEFAULT_MAX_RETRIES
from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.base import Credentials
from airflow_provider_kling.gateways.pricing import Prices, with_overrides

if TYPE_CHECKING:
    from airflow.sdk import Connection


@dataclass(frozen=True)
class ConnectionSettings:
    """The connection's gateway, base URL, credentials and tuning. ``repr`` hides the credentials."""

    conn_id: str
    gateway: str
    base_url: str
    model: str | None
    credentials: Credentials = field(repr=False)
    timeout: float = DEFAULT_HTTP_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    verify: bool | str = True
    poll_interval: float | None = None
    first_poll_delay: float | None = None
    #: the gateway's published prices with the connection's ``extra.prices`` over them
    prices: Prices | None = None

    @classmethod
    def from_connection(cls, conn: Connection) -> ConnectionSettings:
        extra = _plain_extra(conn.extra_dejson or {})
        gateway_name = extra.get("gateway")
        if not gateway_name:
            raise KlingValidationError.for_field(
                "?", "extra.gateway", None, ", ".join(GATEWAY_NAMES), reason=f"connection {conn.conn_id!r}"
            )
        model = extra.get("model") or None
        gateway = get_gateway(str(gateway_name), model)  # fails early on an unknown gateway or model
        return cls(
            conn_id=conn.conn_id,
            gateway=gateway.name,
            base_url=_checked_base_url(conn.conn_id, gateway.name, conn.host, gateway.base_url(conn.host)),
            model=model,
            credentials=Credentials(api_key=conn.password or "", access_key=conn.login or None),
            timeout=_timeout(extra, gateway.name),
            max_retries=_max_retries(extra, gateway.name),
            verify=_verify(extra.get("verify", True), gateway.name),
            poll_interval=_poll_interval(extra, gateway.name),
            first_poll_delay=_opt_number(extra, "first_poll_delay", gateway.name),
            # the connection's prices are those of its model (extra.model, else Kling 2.6)
            prices=with_overrides(gateway.name, gateway.models[gateway.model].prices, extra.get("prices")),
        )

    @property
    def pool_key(self) -> str:
        """Triggers of the same connection settings share one async session."""
        return f"{self.conn_id}|{self.base_url}|{self.verify}|{self.timeout}"


def _checked_base_url(conn_id: str, gateway: str, host: str | None, base_url: str) -> str:
    """``base_url`` if it is an http(s) URL with a host and a numeric port, else a validation error
    naming the connection and its ``host`` field, raised before any request (a URL pasted twice,
    ``http://127.0.0.1:http://127.0.0.1:8080``, used to escape from inside the first submit)."""
    why = ""
    try:
        parts = urlsplit(base_url)
        _ = parts.port  # raises ValueError on a port that is not a number
        if parts.scheme not in ("http", "https") or not parts.hostname:
            why = "no http(s) scheme or no host name"
        elif any(c.isspace() for c in parts.netloc):
            why = "white space in the host name"
        else:
            httpx.URL(base_url)
    except (ValueError, httpx.InvalidURL) as exc:
        why = str(exc)
    if not why:
        return base_url
    shown = re.sub(r"//[^/@]*@", "//***@", host or "")  # user info may hold a password
    raise KlingValidationError.for_field(
        gateway,
        "host",
        shown,
        "an http(s) URL such as https://api.example.com, or empty for the gateway's default",
        reason=f"connection {conn_id!r}: {why}",
    )


def _plain_extra(extra: dict[str, Any]) -> dict[str, Any]:
    """Connection extras, accepting the UI's older ``extra__kling__<field>`` names too."""
    prefix = "extra__kling__"
    plain = {k[len(prefix) :]: v for k, v in extra.items() if k.startswith(prefix)}
    return {**plain, **{k: v for k, v in extra.items() if not k.startswith(prefix)}}


def _number(extra: dict[str, Any], key: str, default: float, gateway: str, allowed: str) -> float:
    value = _opt_number(extra, key, gateway, allowed)
    return default if value is None else value


def _opt_number(
    extra: dict[str, Any], key: str, gateway: str, allowed: str = "a finite number of seconds >= 0"
) -> float | None:
    """``extra.<key>``: a finite number >= 0 (a JSON number or its text), ``None`` when empty or
    missing; else a validation error naming ``extra.<key>`` with ``allowed`` (``true``, NaN, an
    infinity or a negative number is no delay, no timeout, no count)."""
    value = extra.get(key)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    if isinstance(value, bool) or not 0 <= number < math.inf:
        raise KlingValidationError.for_field(gateway, f"extra.{key}", value, allowed)
    return number


def _poll_interval(extra: dict[str, Any], gateway: str) -> float | None:
    """``extra.poll_interval``: seconds between status calls, so a finite number > 0 (0 would poll
    without a pause); empty or missing: the default schedule."""
    value = extra.get("poll_interval")
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not 0 < number < math.inf:
        raise KlingValidationError.for_field(gateway, "extra.poll_interval", value, "a number of seconds > 0")
    return number


def _timeout(extra: dict[str, Any], gateway: str) -> float:
    """``extra.timeout``: seconds one HTTP call may take, a finite number > 0 (0 or NaN would fail
    every call, infinity would let one hang for ever)."""
    allowed = "a finite number of seconds > 0"
    value = float(_number(extra, "timeout", DEFAULT_HTTP_TIMEOUT, gateway, allowed))
    if not value > 0:
        raise KlingValidationError.for_field(gateway, "extra.timeout", extra.get("timeout"), allowed)
    return value


def _max_retries(extra: dict[str, Any], gateway: str) -> int:
    """``extra.max_retries``: a whole number >= 0 (the retries also stop after 120 s)."""
    value = float(_number(extra, "max_retries", DEFAULT_MAX_RETRIES, gateway, "a whole number >= 0"))
    if not value.is_integer():
        raise KlingValidationError.for_field(
            gateway, "extra.max_retries", extra.get("max_retries"), "a whole number >= 0"
        )
    return int(value)


#: what ``extra.verify`` may be, in the words of the error
VERIFY = "true, false or the path of a readable CA bundle (PEM)"


def _verify(value: Any, gateway: str) -> bool | str:
    """``extra.verify``: ``true``, ``false`` or the path of a CA bundle, which is read here (a missing
    or unreadable file, or one that holds no certificate, is named now, not on every call). Empty or
    ``null`` is the default (``true``); anything else (``5``, ``0``, a list) is refused, not read as
    ``true``."""
    if value is None or isinstance(value, bool):
        return True if value is None else value
    if not isinstance(value, str):
        raise KlingValidationError.for_field(gateway, "extra.verify", value, VERIFY)
    if value.strip().lower() in ("true", "false", ""):
        return value.strip().lower() != "false"
    try:
        ssl.create_default_context(cafile=value)
    except (OSError, ssl.SSLError, ValueError) as exc:  # ssl.SSLError is an OSError; ValueError: NUL
        raise KlingValidationError.for_field(
            gateway,
            "extra.verify",
            value,
            VERIFY,
            reason=f"{type(exc).__name__}: {exc.strerror or exc}" if isinstance(exc, OSError) else str(exc),
        ) from None
    return value
