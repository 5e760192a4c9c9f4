"""The contract every gateway module fulfils, and the pure helpers they share.

A gateway is sans-IO (after gidgethub's ``sansio`` module): it builds :class:`HttpRequest` values and
parses :class:`HttpResponse` values, and never sends, sleeps, logs or reads an Airflow connection.
The hook does the I/O. Everything that differs between vendors lives in the gateway's own module:
its :class:`Capabilities` (data the docs' capability matrix is generated from), its wire format and
its error vocabulary. The checks that read capabilities are written once, here.
"""

from __future__ import annotations

import base64
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal

from airflow_provider_kling.exceptions import (
    KlingAuthError,
    KlingError,
    KlingNotFoundError,
    KlingProtocolError,
    KlingQuotaError,
    KlingRateLimitError,
    KlingServerError,
    KlingValidationError,
)
from airflow_provider_kling.models import VideoRequest, VideoTask

#: How a gateway guards against paying twice when a submit is repeated.
#: ``dedup``: the gateway itself answers a repeated idempotency key with the first job.
#: ``lookup``: the client-chosen id can be queried, so an earlier submit can be found and attached to.
#: ``none``: neither; only the operator's record of the task id (Airflow's task state store) helps.
Idempotency = Literal["dedup", "lookup", "none"]

#: How a local image file reaches the gateway: inlined as raw base64, as a ``data:`` URI, uploaded
#: through the gateway's Files API, or not at all (the gateway takes public URLs only).
LocalImages = Literal["base64", "data_uri", "upload", "url_only"]


@dataclass(frozen=True)
class Credentials:
    """Secrets from the connection. ``repr`` never shows them."""

    api_key: str = field(repr=False)
    access_key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class HttpRequest:
    """One HTTP request, relative to the connection's base URL. Auth headers are added by the hook."""

    method: Literal["GET", "POST"]
    path: str
    json: Any = None
    params: Mapping[str, str] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: multipart upload: field name -> (filename, content, content type); plain form fields in ``data``
    files: Mapping[str, tuple[str, bytes, str]] | None = field(default=None, repr=False)
    data: Mapping[str, str] | None = None


@dataclass(frozen=True)
class HttpResponse:
    """What the hook received: status, headers (lower-case names) and the raw body."""

    status_code: int
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes = b""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Capabilities:
    """What one model id on one gateway can do. Data only: the checks live in :func:`check_capabilities`."""

    model: str
    prompt_max: int
    prompt_min: int = 1
    negative_prompt: bool = False
    negative_prompt_max: int = 2500
    negative_prompt_min: int = 1
    durations: tuple[int, ...] = (5, 10)
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16", "1:1")
    #: whether an explicit aspect ratio may accompany a start image (some gateways take it from the image)
    aspect_ratio_with_image: bool = False
    #: tiers the user may choose; ``()`` means the gateway has no tier control
    tiers: tuple[str, ...] = ()
    sound: bool = True
    sound_needs_pro: bool = False
    text_to_video: bool = True
    start_image: bool = True
    end_image: bool = False
    end_image_needs_pro: bool = False
    end_image_excludes_sound: bool = False
    end_image_needs_start: bool = True
    cfg_scale: bool = False
    callback: bool = True
    local_images: LocalImages = "url_only"
    #: gateway-specific ``extra`` keys and what each does
    extra_fields: Mapping[str, str] = field(default_factory=dict)
    cost_reporting: bool = False
    notes: str = ""


class Gateway(ABC):
    """One gateway's wire format. Subclasses set the class attributes and implement the builders/parsers."""

    name: ClassVar[str]
    title: ClassVar[str]
    default_base_url: ClassVar[str]
    #: a host that already ends with this prefix (as the vendor docs print base URLs) is trimmed
    path_prefix: ClassVar[str] = ""
    idempotency: ClassVar[Idempotency] = "none"
    default_model: ClassVar[str]
    models: ClassVar[Mapping[str, Capabilities]]
    #: where the API key comes from, for docs and the connection form
    key_help: ClassVar[str] = ""
    #: how long the hook may reuse :meth:`auth_headers` (``None``: for ever; Kling's JWT expires)
    auth_cache_seconds: ClassVar[float | None] = None
    #: the ``endpoint`` values to try, in order, when polling a job whose endpoint is not known
    status_endpoints: ClassVar[tuple[str | None, ...]] = (None,)

    def __init__(self, model: str | None = None) -> None:
        chosen = model or self.default_model
        if chosen not in self.models:
            raise KlingValidationError.for_field(
                self.name, "model", chosen, ", ".join(sorted(self.models)), reason="unknown model id"
            )
        self.model = chosen

    def __repr__(self) -> str:
        return f"<{type(self).__name__} model={self.model!r}>"

    # ----------------------------------------------------------------- capabilities and validation
    def capabilities_for(self, request: VideoRequest) -> Capabilities:
        """The capabilities that apply to this request (a gateway may pick a model id from the tier)."""
        return self.models[self.model]

    def validate(self, request: VideoRequest) -> None:
        """Raise :class:`KlingValidationError` if this gateway cannot honour every field of ``request``."""
        check_capabilities(self.name, self.capabilities_for(request), request)
        self.validate_extra(request)

    def validate_extra(self, request: VideoRequest) -> None:
        """Gateway-specific checks beyond the capability data (e.g. the types of ``extra`` values)."""

    # ----------------------------------------------------------------- auth
    def auth_headers(self, credentials: Credentials, now: float) -> dict[str, str]:
        """Headers that authenticate a request. ``now`` is a POSIX timestamp (pure: no clock read here)."""
        if not credentials.api_key:
            raise KlingAuthError("no API key in the connection (password field)", gateway=self.name)
        return {"Authorization": f"Bearer {credentials.api_key}"}

    # ----------------------------------------------------------------- never-pay-twice policy, as questions
    # The layers above ask these instead of comparing the policy strings themselves.
    @property
    def deduplicates(self) -> bool:
        """The gateway answers a repeated idempotency key with the first job (a resend cannot pay twice)."""
        return self.idempotency == "dedup"

    @property
    def finds_by_client_id(self) -> bool:
        """A job can be looked up by the client reference it was submitted with."""
        return self.idempotency == "lookup"

    @property
    def uses_client_reference(self) -> bool:
        """A later try can find (or the gateway deduplicates) a job by its client reference."""
        return self.idempotency != "none"

    def uploads_local_images(self, request: VideoRequest) -> bool:
        """Local image files reach this gateway through its Files API (not inlined)."""
        return self.capabilities_for(request).local_images == "upload"

    def client_id(self, client_reference: str) -> str:
        """The id this gateway gets for a client reference (by default the reference itself)."""
        return client_reference

    # ----------------------------------------------------------------- submit and status
    @abstractmethod
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        """The request that creates the job (``request`` was validated and its images resolved)."""

    @abstractmethod
    def parse_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        """The created job, or raise the typed error the response describes."""

    @abstractmethod
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        """The request that reads a job's state."""

    @abstractmethod
    def parse_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        """The job's state; a failed job is returned (state ``failed``), not raised."""

    def build_lookup(self, request: VideoRequest) -> HttpRequest | None:
        """A request that finds a job by the request's client reference, where the gateway allows it."""
        return None

    def parse_lookup(self, request: VideoRequest, response: HttpResponse) -> VideoTask | None:
        """The job found by :meth:`build_lookup`'s request, or ``None`` when there is none."""
        return None

    def failure_error(self, task: VideoTask) -> KlingError:
        """The typed error for a failed or cancelled job (content policy vs generation failure)."""
        from airflow_provider_kling.exceptions import KlingTaskFailedError

        return KlingTaskFailedError(
            task.error_message or f"job {task.task_id} ended {task.state.value}",
            gateway=self.name,
            code=task.error_code,
        )

    # ----------------------------------------------------------------- connection test and uploads
    @abstractmethod
    def build_test_connection(self) -> HttpRequest:
        """A cheap authenticated request that creates no paid job (the UI's Test button)."""

    def check_test_connection(self, response: HttpResponse) -> None:
        """Raise if the test request shows the connection does not work (default: any error status)."""
        if response.status_code >= 400:
            raise http_error(self.name, response, code=None, message=_snippet(response.text))

    def encode_local_image(self, content: bytes, mime: str) -> str:
        """Inline a local image the way this gateway takes it (for ``base64`` / ``data_uri``)."""
        data = base64.b64encode(content).decode("ascii")
        if self.models[self.model].local_images == "base64":
            return data
        return f"data:{mime};base64,{data}"

    def build_upload(self, filename: str, content: bytes, mime: str) -> HttpRequest:
        """The Files API request for a gateway whose ``local_images`` is ``upload``."""
        raise KlingValidationError(f"gateway {self.name!r} has no file upload", gateway=self.name)

    def parse_upload(self, response: HttpResponse) -> str:
        """The URL of an uploaded file."""
        raise KlingValidationError(f"gateway {self.name!r} has no file upload", gateway=self.name)

    def base_url(self, host: str | None) -> str:
        """The connection's base URL with the vendor's documented default and a repeated prefix trimmed."""
        base = (host or self.default_base_url).strip().rstrip("/")
        if "://" not in base:
            base = f"https://{base}"
        if self.path_prefix and base.endswith(self.path_prefix):
            base = base[: -len(self.path_prefix)]
        return base


# ===================================================================== shared checks
def check_capabilities(gateway: str, caps: Capabilities, request: VideoRequest) -> None:
    """The generic part of validation: every rule here reads only ``caps``."""

    def bad(fieldname: str, value: Any, allowed: str, reason: str = "") -> KlingValidationError:
        return KlingValidationError.for_field(gateway, fieldname, value, allowed, reason)

    prompt_len = len(request.prompt)
    if not caps.prompt_min <= prompt_len <= caps.prompt_max:
        raise bad(
            "prompt",
            request.prompt,
            f"{caps.prompt_min} to {caps.prompt_max} characters",
            f"{prompt_len} characters",
        )
    if request.negative_prompt is not None:
        if not caps.negative_prompt:
            raise bad(
                "negative_prompt", request.negative_prompt, "None (this gateway has no negative prompt)"
            )
        n = len(request.negative_prompt)
        if not caps.negative_prompt_min <= n <= caps.negative_prompt_max:
            raise bad(
                "negative_prompt",
                request.negative_prompt,
                f"{caps.negative_prompt_min} to {caps.negative_prompt_max} characters",
                f"{n} characters",
            )
    if request.duration not in caps.durations:
        raise bad("duration", request.duration, ", ".join(map(str, caps.durations)))
    if request.tier is not None and request.tier not in caps.tiers:
        allowed = (
            ", ".join(repr(t) for t in caps.tiers) if caps.tiers else "None (no tier choice on this gateway)"
        )
        raise bad("tier", request.tier, allowed)
    pro = request.tier == "pro"
    if request.sound:
        if not caps.sound:
            raise bad("sound", True, "False (no audio on this gateway/model)")
        if caps.sound_needs_pro and not pro:
            raise bad("sound", True, "True only with tier='pro'", "std is silent only; set tier='pro'")
    if request.cfg_scale is not None:
        if not caps.cfg_scale:
            raise bad("cfg_scale", request.cfg_scale, "None (not supported for this gateway/model)")
        if not (isinstance(request.cfg_scale, float | int) and 0 <= request.cfg_scale <= 1) or math.isnan(
            request.cfg_scale
        ):
            raise bad("cfg_scale", request.cfg_scale, "a number from 0 to 1")
    if request.callback_url is not None:
        if not caps.callback:
            raise bad("callback_url", request.callback_url, "None (no per-request callback on this gateway)")
        if not request.callback_url.startswith(("https://", "http://")):
            raise bad("callback_url", request.callback_url, "an http(s) URL")
    for name in ("start_image", "end_image"):
        if getattr(request, name) == "":
            raise bad(name, "", "None or a non-empty URL, data: URI or file path")
    if request.is_image_to_video:
        if request.start_image is not None and not caps.start_image:
            raise bad("start_image", request.start_image, "None (no image-to-video on this gateway/model)")
        if request.end_image is not None:
            if not caps.end_image:
                raise bad(
                    "end_image", request.end_image, "None (no last-frame control on this gateway/model)"
                )
            if caps.end_image_needs_start and request.start_image is None:
                raise bad("end_image", request.end_image, "only together with start_image")
            if caps.end_image_needs_pro and not pro:
                raise bad("end_image", request.end_image, "only with tier='pro'")
            if caps.end_image_excludes_sound and request.sound:
                raise bad("sound", True, "False when end_image is set", "last frame and audio are exclusive")
        if request.aspect_ratio is not None and not caps.aspect_ratio_with_image:
            raise bad(
                "aspect_ratio",
                request.aspect_ratio,
                "None with an image (the image decides the aspect ratio on this gateway)",
            )
        for name in ("start_image", "end_image"):
            value = getattr(request, name)
            if value is not None and not _is_remote(value) and caps.local_images == "url_only":
                raise bad(
                    name, value, "a public http(s) URL (this gateway does not take local files or data URIs)"
                )
    elif not caps.text_to_video:
        raise bad("start_image", None, "an image (this model is image-to-video only)")
    if request.aspect_ratio is not None and request.aspect_ratio not in caps.aspect_ratios:
        raise bad("aspect_ratio", request.aspect_ratio, ", ".join(caps.aspect_ratios))
    unknown = sorted(set(request.extra) - set(caps.extra_fields))
    if unknown:
        allowed = ", ".join(sorted(caps.extra_fields)) or "none"
        raise bad(f"extra.{unknown[0]}", request.extra[unknown[0]], f"extra keys: {allowed}")


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
    from airflow_provider_kling.exceptions import KlingContentPolicyError, KlingTaskFailedError

    message = task.error_message or f"job {task.task_id} ended {task.state.value}"
    if task.state.value == "cancelled":
        return KlingTaskFailedError(message, gateway=gateway, code=task.error_code or "cancelled")
    signal = f"{task.error_code or ''} {message}"
    if policy.search(signal):
        return KlingContentPolicyError(message, gateway=gateway, code=task.error_code)
    if transient.search(signal):
        return KlingTaskFailedError(message, gateway=gateway, code=task.error_code, retryable=True)
    return KlingTaskFailedError(message, gateway=gateway, code=task.error_code)


def _is_remote(value: str) -> bool:
    return value.startswith(("https://", "http://"))


def is_local_image(value: str | None) -> bool:
    """Whether an image reference is a local path (not a URL, not a data URI)."""
    return value is not None and not _is_remote(value) and not value.startswith("data:")


# ===================================================================== shared parsing helpers
def decode_json(gateway: str, response: HttpResponse) -> Any:
    """Decode a JSON body; a non-JSON body is a server error for 5xx, else a protocol error."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        message = f"response is not JSON: {_snippet(response.text)!r}"
        if response.status_code >= 500 or response.status_code in (429,):
            raise http_error(gateway, response, code=None, message=message) from None
        raise KlingProtocolError(message, gateway=gateway, status_code=response.status_code) from None


def decode_json_or_none(response: HttpResponse) -> Any:
    """The decoded body, or ``None`` when it is not JSON (for error bodies that may be HTML)."""
    try:
        return json.loads(response.content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def expect_dict(gateway: str, value: Any, where: str, status: int | None = None) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise KlingProtocolError(
            f"expected a JSON object at {where}, got {type(value).__name__}",
            gateway=gateway,
            status_code=status,
        )
    return value


def opt_str(value: Any) -> str | None:
    """A string field that gateways send as string, number or null."""
    if value is None or value == "":
        return None
    if isinstance(value, str | int | float) and not isinstance(value, bool):
        return str(value)
    return None


def opt_int(value: Any) -> int | None:
    """An envelope code sent as a number or a numeric string; ``None`` when it is neither."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float | str):
        try:
            f = float(value)
            return int(f) if f == int(f) else None
        except (ValueError, OverflowError):
            return None
    return None


def message_text(value: Any) -> str | None:
    """A human-readable message from a string, or from an ``{"message": ...}`` object."""
    if isinstance(value, dict):
        return opt_str(value.get("message")) or opt_str(value.get("msg"))
    if isinstance(value, str):
        return value.strip() or None
    return None


def opt_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            return None
        return f if math.isfinite(f) else None
    return None


def url_list(value: Any) -> list[str]:
    """URLs from a string, a list of strings, or a list of nested lists (lenient)."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, list):
        out: list[str] = []
        for item in value:
            out.extend(url_list(item))
        return out
    return []


def timestamp(value: Any) -> datetime | None:
    """A datetime from epoch seconds, epoch milliseconds or an ISO-8601 string; ``None`` if unreadable."""
    try:
        return _timestamp(value)
    except (OverflowError, OSError, ValueError):
        return None


def _timestamp(value: Any) -> datetime | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        if not math.isfinite(value) or value <= 0:
            return None
        seconds = value / 1000 if value > 1e11 else value
        return datetime.fromtimestamp(seconds, tz=timezone.utc)
    if isinstance(value, str):
        if value.isascii() and value.isdigit() and len(value) < 20:
            return _timestamp(int(value))
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)
    return None


def parse_json_string(gateway: str, value: Any, where: str) -> Any:
    """Fields such as ``resultJson`` hold JSON encoded as a string; accept an object too (lenient)."""
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        return value
    if isinstance(value, str):
        try:
            return json.loads(value)
        except (ValueError, RecursionError):
            raise KlingProtocolError(
                f"{where} is not valid JSON: {_snippet(value)!r}", gateway=gateway
            ) from None
    raise KlingProtocolError(f"{where} has type {type(value).__name__}", gateway=gateway)


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


def http_error(
    gateway: str,
    response: HttpResponse,
    *,
    code: str | int | None,
    message: str,
    kind: type[KlingError] | None = None,
    retry_after: float | None = None,
) -> KlingError:
    """The typed error for an HTTP status when the gateway's body gives no better classification.

    4xx answers mean the gateway refused the request, so no job exists (``request_rejected``).
    """
    status = response.status_code
    rejected = 400 <= status < 500
    if kind is None:
        if status in (401, 403):
            kind = KlingAuthError
        elif status == 402:
            kind = KlingQuotaError
        elif status == 404:
            kind = KlingNotFoundError
        elif status == 429:
            kind = KlingRateLimitError
        elif status >= 500 or status == 408:
            kind = KlingServerError
        elif status >= 400:
            kind = KlingValidationError
        else:
            kind = KlingProtocolError
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
        )
    return kind(message, gateway=gateway, status_code=status, code=code, request_rejected=rejected)


def _snippet(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


snippet = _snippet


def result_json_urls(gateway: str, data: dict[str, Any], required: bool) -> list[str]:
    """``resultJson`` (a JSON string, or an object) -> ``resultUrls``, as the Market-style APIs (APIXO,
    kie) report them, falling back to ``data.resultUrls``. Garbage only matters on success."""
    try:
        result = parse_json_string(gateway, data.get("resultJson"), "data.resultJson")
    except KlingProtocolError:
        if required:
            raise
        result = None
    urls: list[str] = []
    if isinstance(result, dict):
        urls = url_list(result.get("resultUrls")) or url_list(result.get("urls"))
    elif isinstance(result, list):
        urls = url_list(result)
    if not urls:
        urls = url_list(data.get("resultUrls"))
    return urls
