"""From an HTTP answer to a typed error, written once for every gateway.

Vendor modules hold their error vocabulary as data (code -> kind name, see :data:`KINDS`) and call
these helpers: the decoding opening every parser starts with (:func:`decode_object`), the status
ladder (:func:`status_kind`), one constructor that makes each error complete (:func:`http_error`: an
error is never changed after it is made), the failure classifier for vendors without a documented
vocabulary (:func:`failure_by_wording`) and the connection probe (:func:`check_probe`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_kling.exceptions import (
    KlingAuthError,
    KlingContentPolicyError,
    KlingError,
    KlingNotFoundError,
    KlingProtocolError,
    KlingQuotaError,
    KlingRateLimitError,
    KlingServerError,
    KlingTaskFailedError,
    KlingValidationError,
)
from airflow_provider_kling.gateways.fields import opt_int, snippet
from airflow_provider_kling.gateways.wire import HttpResponse
from airflow_provider_kling.models import TaskState, VideoTask

#: error kind name (``KlingError.kind``) -> class: vendor code tables name kinds, not classes
KINDS: dict[str, type[KlingError]] = {
    k.kind: k
    for k in (
        KlingAuthError,
        KlingQuotaError,
        KlingRateLimitError,
        KlingContentPolicyError,
        KlingTaskFailedError,
        KlingNotFoundError,
        KlingServerError,
        KlingValidationError,
        KlingProtocolError,
    )
}

#: the task id a connection probe asks about, for gateways that document no free call
PROBE_TASK_ID = "connection-test"

#: job-failure wording that an identical later submit may not hit (worth an Airflow retry)
TRANSIENT_FAILURE_WORDS = re.compile(
    r"timeout|timed out|time out|rate[ _-]?limit|overload|busy", re.IGNORECASE
)
#: content-safety wording in a gateway's error or failure message. ``content`` must not be the header
#: name (``Content-Type``).
POLICY_WORDS = re.compile(
    r"sensitive|nsfw|prohibit|moderat|polic|violat|unsafe|\bcontent\b(?![-_ ]?(?:type|length|encoding))",
    re.IGNORECASE,
)


def retry_after_seconds(response: HttpResponse, now: float | None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date relative to ``now`` (POSIX seconds).

    Gateways pass ``now=None`` (they read no clock): an HTTP date is then left for the hook, which
    fills it in with the real time (see ``KlingHook._call``).
    """
    value = response.header("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        if now is None:
            return None
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def status_kind(status: int | None) -> type[KlingError]:
    """The error an HTTP status (or an envelope code that mirrors one) means by itself."""
    if status is None:
        return KlingProtocolError
    if status in (401, 403):
        return KlingAuthError
    if status == 402:
        return KlingQuotaError
    if status == 404:
        return KlingNotFoundError
    if status == 429:
        return KlingRateLimitError
    if status >= 500 or status == 408:
        return KlingServerError
    if status >= 400:
        return KlingValidationError
    return KlingProtocolError


def http_error(
    gateway: str,
    response: HttpResponse,
    *,
    code: str | int | None,
    message: str,
    kind: type[KlingError] | None = None,
    retry_after: float | None = None,
    rejected: bool = False,
    retryable: bool | None = None,
) -> KlingError:
    """The complete typed error for an answer; ``kind`` defaults to what the HTTP status means.

    4xx answers mean the gateway refused the request, so no job exists (``request_rejected``);
    ``rejected`` says so for other answers a vendor documents as refusals.
    """
    status = response.status_code
    kind = kind or status_kind(status)
    if kind is KlingRateLimitError:
        if retry_after is None:
            retry_after = retry_after_seconds(response, None)
        return KlingRateLimitError(
            message,
            gateway=gateway,
            status_code=status,
            code=code,
            retry_after=retry_after,
            request_rejected=True,
            retryable=retryable,
        )
    return kind(
        message,
        gateway=gateway,
        status_code=status,
        code=code,
        request_rejected=rejected or 400 <= status < 500,
        retryable=retryable,
    )


# ===================================================================== the decoding opening
Refusal = Callable[[], KlingError]


def decode_body(gateway: str, response: HttpResponse, refuse: Refusal | None = None) -> Any:
    """The decoded JSON body. A body that is not JSON is a server error for 5xx and 429, the
    ``refuse()`` error (default: what the status means) for other 4xx, and a protocol error on success."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        status = response.status_code
        if status >= 500 or status == 429:
            message = f"response is not JSON: {snippet(response.text)!r}"
            raise http_error(gateway, response, code=None, message=message) from None
        if status >= 400:
            raise (refuse or _status_refusal(gateway, response))() from None
        message = f"response is not JSON: {snippet(response.text)!r}"
        raise KlingProtocolError(message, gateway=gateway, status_code=status) from None


def require_object(
    gateway: str, response: HttpResponse, body: Any, refuse: Refusal | None = None
) -> dict[str, Any]:
    """``body`` if it is a JSON object; else ``refuse()`` on an error status, a protocol error otherwise."""
    if isinstance(body, dict):
        return body
    if response.status_code >= 400:
        raise (refuse or _status_refusal(gateway, response))()
    raise KlingProtocolError(
        "response is not a JSON object", gateway=gateway, status_code=response.status_code
    )


def decode_object(gateway: str, response: HttpResponse, refuse: Refusal | None = None) -> dict[str, Any]:
    """Every parser's opening: the answer's JSON object, or the typed error a bad answer means."""
    try:
        body = json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        body = decode_body(gateway, response, refuse)  # raises the typed error
    if isinstance(body, dict):  # the status poll's hot path: one call, one check
        return body
    return require_object(gateway, response, body, refuse)


def decode_json(gateway: str, response: HttpResponse) -> Any:
    """Decode a JSON body; a non-JSON body is a server error for 5xx, else a protocol error."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        message = f"response is not JSON: {snippet(response.text)!r}"
        if response.status_code >= 500 or response.status_code == 429:
            raise http_error(gateway, response, code=None, message=message) from None
        raise KlingProtocolError(message, gateway=gateway, status_code=response.status_code) from None


def decode_json_or_none(response: HttpResponse) -> Any:
    """The decoded body, or ``None`` when it is not JSON (for error bodies that may be HTML)."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _status_refusal(gateway: str, response: HttpResponse) -> Refusal:
    def refuse() -> KlingError:
        message = snippet(response.text) or "empty body"
        return http_error(gateway, response, code=None, message=message)

    return refuse


# ===================================================================== failed jobs and the probe
def failure_by_wording(
    gateway: str,
    task: VideoTask,
    policy: re.Pattern[str],
    transient: re.Pattern[str] = TRANSIENT_FAILURE_WORDS,
) -> KlingError:
    """Classify a failed job from its code and message, for gateways with no documented vocabulary.

    Safety wording -> content policy (never retried); transient wording -> a generation failure that
    a new job may survive; anything else -> a generation failure.
    """
    message = task.error_message or f"job {task.task_id} ended {task.state.value}"
    if task.state is TaskState.CANCELLED:
        return KlingTaskFailedError(message, gateway=gateway, code=task.error_code or "cancelled")
    signal = f"{task.error_code or ''} {message}"
    if policy.search(signal):
        return KlingContentPolicyError(message, gateway=gateway, code=task.error_code)
    if transient.search(signal):
        return KlingTaskFailedError(message, gateway=gateway, code=task.error_code, retryable=True)
    return KlingTaskFailedError(message, gateway=gateway, code=task.error_code)


def _down(gateway: str, response: HttpResponse, num: int | None, message: str) -> KlingError | None:
    if response.status_code >= 500 or (num is not None and num >= 500):
        return http_error(
            gateway,
            response,
            code=num or response.status_code,
            message=message or "server error",
            kind=KlingServerError,
        )
    return None


def check_probe(
    gateway: str,
    response: HttpResponse,
    *,
    api: str,
    message_of: Callable[[Any], str | None],
    code_of: Callable[[Any], str | int | None] = lambda body: None,
    down: Callable[[str, HttpResponse, int | None, str], KlingError | None] = _down,
) -> None:
    """The connection test of a gateway with no free call: the answer about a task id that does not
    exist. 401/403 (HTTP or envelope ``code``) means the key is refused, ``down`` decides whether the
    gateway cannot serve (default: 5xx either way); any other JSON object (typically "task not
    found") proves the key was accepted. A body that is not a JSON object did not come from ``api``."""
    status = response.status_code
    body = decode_json_or_none(response)
    num = opt_int(body.get("code")) if isinstance(body, dict) else None
    message = message_of(body) or snippet(response.text)
    if status in (401, 403) or num in (401, 403):
        code = code_of(body) or num or status
        raise http_error(gateway, response, code=code, message=message or "key refused", kind=KlingAuthError)
    refused = down(gateway, response, num, message)
    if refused is not None:
        raise refused
    if not isinstance(body, dict):
        raise KlingProtocolError(
            f"the answer does not look like {api}: {snippet(response.text)!r}",
            gateway=gateway,
            status_code=status,
        )


def kind_named(table: Mapping[Any, str], key: Any) -> type[KlingError] | None:
    """The error class a vendor table names for ``key`` (``None`` when the table does not know it)."""
    name = table.get(key)
    return KINDS[name] if name is not None else None
