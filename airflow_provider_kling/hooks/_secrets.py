"""Secret hygiene: register credentials with Airflow's masker, and scrub them out of error text.

Gateways echo what they received (an invalid key is often quoted back in the error body), so every
error that leaves the hook passes through :func:`scrubbing`. Errors are never edited in place: a
scrubbed error is a new one (:meth:`~airflow_provider_kling.exceptions.KlingError.replace`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from airflow_provider_kling.exceptions import KlingError

#: Shorter values are not scrubbed (replacing "ab" everywhere would mangle messages, and protect nothing).
MIN_SECRET_LENGTH = 4


def mask(value: str | None) -> None:
    """Register ``value`` with Airflow's secret masker (task logs show ``***`` instead)."""
    if not value:
        return
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - Airflow without the task SDK log module
        return
    mask_secret(value)


def mask_header_values(headers: dict[str, str]) -> None:
    """Mask auth header values, and the token alone for ``Bearer`` ones (a JWT is minted per hour)."""
    for value in headers.values():
        mask(value)
        if value.startswith("Bearer "):
            mask(value[len("Bearer ") :])


def secret_values(api_key: str, access_key: str | None, auth: dict[str, str] | None) -> list[str]:
    """What must never appear in a message: the keys, and the auth headers minted from them."""
    values = [api_key, access_key or ""]
    for value in (auth or {}).values():
        values.extend([value, value.removeprefix("Bearer ")])
    return [v for v in values if len(v) >= MIN_SECRET_LENGTH]


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def scrub_error(exc: KlingError, secrets: Iterable[str]) -> KlingError:
    """``exc`` itself when it holds no secret, else a new error with the secrets replaced."""
    cleaned = scrub_text(exc.message, secrets)
    return exc if cleaned == exc.message else exc.replace(message=cleaned)


@contextmanager
def scrubbing(secrets: Callable[[], Iterable[str]]) -> Iterator[None]:
    """Re-raise any :class:`KlingError` from the block scrubbed of ``secrets()`` (read when raised)."""
    try:
        yield
    except KlingError as exc:
        raise scrub_error(exc, secrets()) from None
