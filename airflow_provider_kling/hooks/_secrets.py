"""Secret hygiene: register credentials with Airflow's masker, and scrub them out of gateway text.

Gateways echo what they received (an invalid key is often quoted back in the error body, or in a
failed job's message), so every error that leaves the hook passes through :func:`scrubbed`, and every
result through :func:`scrub_result`: a job's failure code and message, a cancel's message. What the
hook hands on (trigger events, XCom, the reconcile manifest, log lines) is built from those.

Errors are never edited in place: a scrubbed error is a new one
(:meth:`~airflow_provider_kling.exceptions.KlingError.replace`), raised without the original as its
``__context__`` (a traceback printer or an error tracker walking the chain would find the key there).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from airflow_provider_kling.exceptions import KlingError
from airflow_provider_kling.gateways.base import CancelOutcome
from airflow_provider_kling.models import VideoTask

T = TypeVar("T")

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
    """``exc`` itself when it holds no secret, else a new error with the secrets replaced (in its
    message and in the gateway's code)."""
    secrets = list(secrets)
    changes: dict[str, Any] = {}
    cleaned = scrub_text(exc.message, secrets)
    if cleaned != exc.message:
        changes["message"] = cleaned
    if exc.code is not None and (code := scrub_text(exc.code, secrets)) != exc.code:
        changes["code"] = code
    return exc.replace(**changes) if changes else exc


def scrubbed(call: Callable[[], T], secrets: Callable[[], Iterable[str]]) -> T:
    """``call()``, with any :class:`KlingError` it raises scrubbed of ``secrets()`` (read when raised);
    a scrubbed error is raised outside the handler, so it carries no ``__context__``."""
    try:
        return call()
    except KlingError as exc:
        clean = scrub_error(exc, secrets())
        if clean is exc:
            raise
    raise clean  # here, not in the ``except``: the original (the key in its text) is not chained


def scrub_task(task: VideoTask, secrets: Callable[[], Iterable[str]]) -> VideoTask:
    """``task`` itself when its gateway text (failure code and message) holds no secret, else a copy
    with the secrets replaced. A job without a failure costs one check (the trigger's hot path).

    ``raw`` (the answer as it came) is kept as it is: it is never dumped (``summary()`` and the trigger
    events leave it out)."""
    if task.error_message is None and task.error_code is None:
        return task
    values = list(secrets())
    changes = {
        name: cleaned
        for name in ("error_code", "error_message")
        if (text := getattr(task, name)) is not None and (cleaned := scrub_text(text, values)) != text
    }
    return task.model_copy(update=changes) if changes else task


def scrub_result(value: T, secrets: Callable[[], Iterable[str]]) -> T:
    """What a parser returned, scrubbed of ``secrets()``: a job (:func:`scrub_task`), a list of jobs
    (a task list), a cancel's outcome; anything else (a balance, an upload's URL) as it is."""
    if isinstance(value, VideoTask):
        return scrub_task(value, secrets)  # type: ignore[return-value]
    if isinstance(value, list):
        return [scrub_result(item, secrets) for item in value]  # type: ignore[return-value]
    if isinstance(value, CancelOutcome):
        cleaned = scrub_text(value.message, secrets())
        return value if cleaned == value.message else dataclasses.replace(value, message=cleaned)
    return value
