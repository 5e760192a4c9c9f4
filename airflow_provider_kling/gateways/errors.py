"""From an HTTP answer to a typed error, written once for every gateway.

Each vendor module declares its error vocabulary as data, an :class:`ErrorTable` (codes to
:data:`~airflow_provider_kling.exceptions.ErrorKind` names, the codes that prove no job was created,
the codes that are final, the wording rules), and one classifier reads it (:func:`classify`, in the
manner of gidgethub's ``decipher_response``). Next to it: the decoding opening every parser starts
with (:func:`decode_object`), the status ladder (:func:`status_kind`), one constructor that makes each
error complete (:func:`http_error`: an error is never changed after it is made), the failure
classifier for vendors without a documented vocabulary (:func:`failure_by_wording`) and the
connection probe (:func:`check_probe`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timezone
from email.utils import parsedate_to_datetime
from typing import Any

from airflow_provider_kling.exceptions import (
    ErrorKind,
    KlingAuthError,
    KlingContentPolicyError,
    KlingError,
    KlingProtocolError,
    KlingRateLimitError,
    KlingServerError,
    KlingTaskFailedError,
    error_class,
)
from airflow_provider_kling.gateways.fields import opt_int, opt_str, snippet
from airflow_provider_kling.gateways.wire import HttpResponse
from airflow_provider_kling.models import TaskState, VideoTask

#: the task id a connection probe asks about, for gateways that document no free call
PROBE_TASK_ID = "connection-test"

#: job-failure wording that an identical later submit may not hit (worth an Airflow retry)
TRANSIENT_FAILURE_WORDS = re.compile(
    r"timeout|timed out|time out|rate[ _-]?limit|overload|busy", re.IGNORECASE
)
#: content-safety wording in a gateway's error or failure message. ``content`` must not be the header
#: name (``Content-Type``) nor kie.ai's plain failure ("Content generation task execution failed").
POLICY_WORDS = re.compile(
    r"sensitive|nsfw|prohibit|moderat|polic|violat|unsafe"
    r"|\bcontent\b(?![-_ ]?(?:type|length|encoding|generation))",
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


def status_kind_name(status: int | None) -> ErrorKind:
    """The error kind an HTTP status (or an envelope code that mirrors one) means by itself."""
    if status is None:
        return "protocol"
    if status in (401, 403):
        return "auth"
    if status == 402:
        return "quota"
    if status == 404:
        return "not_found"
    if status == 429:
        return "rate_limit"
    if status >= 500 or status == 408:
        return "server"
    if status >= 400:
        return "validation"
    return "protocol"


def status_kind(status: int | None) -> type[KlingError]:
    """The error class an HTTP status (or an envelope code that mirrors one) means by itself."""
    return error_class(status_kind_name(status))


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
    extra: dict[str, Any] = {}
    if kind is KlingRateLimitError:  # a rate-limit refusal never created a job, whatever its status
        extra["retry_after"] = retry_after_seconds(response, None) if retry_after is None else retry_after
        rejected = True
    return kind(
        message,
        gateway=gateway,
        status_code=status,
        code=code,
        request_rejected=rejected or 400 <= status < 500,
        retryable=retryable,
        **extra,
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


#: reads an error body's code and message (``None`` for what it does not find)
ErrorFields = Callable[[Any], tuple[str | int | None, str | None]]


def check_probe(
    gateway: str, table: ErrorTable, response: HttpResponse, *, api: str, error_fields: ErrorFields
) -> None:
    """The connection test of a gateway with no free call: the answer about a task id that does not
    exist. 401/403 (HTTP or envelope ``code``) means the key is refused; an answer the gateway's
    :class:`ErrorTable` reads as a server error (or any 5xx) means it cannot serve; any other JSON
    object (typically "task not found") proves the key was accepted. A body that is not a JSON object
    did not come from ``api``."""
    status = response.status_code
    body = decode_json_or_none(response)
    num = opt_int(body.get("code")) if isinstance(body, dict) else None
    code, message = error_fields(body)
    message = message or snippet(response.text)
    if status in (401, 403) or num in (401, 403):
        code = code or num or status
        raise http_error(gateway, response, code=code, message=message or "key refused", kind=KlingAuthError)
    refusal = classify(gateway, table, response, code=num, message=message or "server error")
    if refusal.kind == "server":
        raise refusal
    if status >= 500:
        raise http_error(
            gateway, response, code=num or status, message=message or "server error", kind=KlingServerError
        )
    if not isinstance(body, dict):
        raise KlingProtocolError(
            f"the answer does not look like {api}: {snippet(response.text)!r}",
            gateway=gateway,
            status_code=status,
        )


# ===================================================================== the vendor's error table
@dataclass(frozen=True)
class WordRule:
    """Wording that makes an error of another kind: ``words`` found in the code and message of an
    error whose kind is in ``kinds``, whose status is in ``statuses`` or whose (lower-case) code is in
    ``codes`` makes it a ``kind`` error, unless ``unless`` is found too. Vendors word refusals that
    their codes do not tell apart (a content refusal sent as a plain 400, a quota refusal as a 403)."""

    words: re.Pattern[str]
    kind: ErrorKind = "content_policy"
    kinds: frozenset[ErrorKind] = frozenset()
    statuses: frozenset[int] = frozenset()
    codes: frozenset[str] = frozenset()
    unless: re.Pattern[str] | None = None

    def applies(self, kind: ErrorKind, status: int, code: str, signal: str) -> bool:
        if kind not in self.kinds and status not in self.statuses and code not in self.codes:
            return False
        return bool(self.words.search(signal)) and not (self.unless and self.unless.search(signal))


@dataclass(frozen=True)
class ErrorTable:
    """A gateway's error vocabulary, as data; :func:`classify` reads it.

    The status an answer means is the HTTP status, or (``code_is_status``) an envelope code that
    mirrors one: the envelope's wins under HTTP 2xx, and always with ``envelope_first``. The kind is,
    in order: the kind the wire names itself (a caller's ``kind``), ``codes`` (exact; numeric codes as
    ints, others lower-case; looked up by that status when ``code_is_status``), the first
    ``code_rules`` pattern found in the lower-cased code, ``unknown_code`` for a numeric code no table
    knows under HTTP 2xx, and else what the status means (:func:`status_kind_name`); then the first
    ``wording`` rule that applies.

    No job exists after a 4xx status, a rate-limit refusal, a status in ``rejected_codes``, or a kind
    in ``rejected_kinds`` that the vendor's own vocabulary named (not one read from the status alone).
    A status in ``final_codes`` is never retried.
    """

    codes: Mapping[int | str, ErrorKind] = field(default_factory=dict)
    code_rules: tuple[tuple[re.Pattern[str], ErrorKind], ...] = ()
    code_is_status: bool = False
    envelope_first: bool = False
    #: envelope codes that mean "no error" (read as no code at all)
    success_codes: frozenset[int] = frozenset()
    unknown_code: ErrorKind | None = None
    rejected_kinds: frozenset[ErrorKind] = frozenset()
    rejected_codes: frozenset[int] = frozenset()
    final_codes: frozenset[int] = frozenset()
    wording: tuple[WordRule, ...] = ()

    def kind_of_code(self, code: Any) -> ErrorKind | None:
        """The kind the vendor's vocabulary gives ``code`` (``None``: it does not know the code)."""
        num = opt_int(code)
        key: int | str = num if num is not None else (opt_str(code) or "").lower()
        kind = self.codes.get(key)
        if kind is None and isinstance(key, str) and key:
            kind = next((named for pattern, named in self.code_rules if pattern.search(key)), None)
        return kind


def classify(
    gateway: str,
    table: ErrorTable,
    response: HttpResponse,
    *,
    code: Any,
    message: str | None,
    status: int | None = None,
    kind: ErrorKind | None = None,
) -> KlingError:
    """The typed error for an error answer, from the gateway's :class:`ErrorTable`.

    ``code`` is the vendor's error code (shown in the error), ``message`` its wording (default: the
    body), ``status`` an envelope status the vendor reads apart from its code, ``kind`` the kind the
    wire names itself (for example an error entry's task type).
    """
    http = response.status_code
    num = opt_int(code)
    if num is not None and num in table.success_codes:
        code = num = None
    mirror = status if status is not None else (num if table.code_is_status else None)
    if mirror is not None and mirror in table.success_codes:
        mirror = None
    effective = mirror if mirror is not None and (table.envelope_first or http < 400) else http
    if kind is None:
        kind = table.kind_of_code(effective if table.code_is_status else code)
        if kind is None and num is not None and http < 400:
            kind = table.unknown_code
    named = kind is not None
    if kind is None:
        kind = status_kind_name(effective)
    shown: str | int | None = num if num is not None else opt_str(code)
    if shown is None and table.code_is_status and (mirror is not None or http >= 400):
        shown = effective
    text = message or snippet(response.text) or f"HTTP {http}"
    lowered = (opt_str(code) or "").lower()
    signal = f"{lowered} {text}"
    for rule in table.wording:
        if rule.applies(kind, effective, lowered, signal):
            kind, named = rule.kind, True
            break
    return http_error(
        gateway,
        response,
        code=shown,
        message=text,
        kind=error_class(kind),
        rejected=400 <= effective < 500
        or effective in table.rejected_codes
        or (named and kind in table.rejected_kinds),
        retryable=False if effective in table.final_codes else None,
    )
