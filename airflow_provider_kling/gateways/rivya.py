"""Rivya Public API v1, ``/api/v1/generations`` routes (model id ``kling-2-6``).

Wire facts (Rivya's "Kling 2.6 API Integration" page in the Public API v1 docs, https://rivya.ai): the
model id is top level and every model control lives in ``params`` as a *string* (the page's "select"
type: ``"5"``, ``"false"``, ``"1:1"``); Rivya's own aspect-ratio default is 1:1, so text-to-video
always sends one; a reference image is a Files API URL inside ``params.referenceMediaItems`` (at most
one, jpeg/png/webp); there is no negative prompt, CFG, tier or last frame, and webhooks are
registered per account, not per request. A repeated ``Idempotency-Key`` is answered with the first
job (``dedup``). Create and status share one task serializer (``id``, ``status``
queued|processing|succeeded|failed, ``result.primary_url`` / ``result.urls``, ``error``, credits);
errors are ``{"error": {"code", "message", "requestId"}}``.

Kling 3.0 is model id ``kling-3-0`` (https://rivya.ai/docs/api/models/kling-3-0): a prompt of <= 2000
characters, ``params.mode`` std/pro (Rivya's default pro), ``params.duration`` ``"3"``..``"15"``,
``params.sound`` in every mode, up to two images in ``params.referenceMediaItems`` (first and last
frame) and ``params.multi_shots`` ``"true"``/``"false"`` *without* per-shot prompts: a request with
``shots`` is refused before any call. 90 credits per clip, fixed.

Kling 2.5 Turbo Pro is model id ``kling-v2-5-turbo-pro`` [DOC:
https://rivya.ai/docs/api/models/kling-v2-5-turbo-pro]: a prompt of <= 2500 characters,
``params.duration`` ``"5"``/``"10"``, ``params.aspect_ratio`` (default 16:9),
``params.negative_prompt`` (text), ``params.cfg_scale`` (a *number* 0-1), up to two reference images
(the second is the last frame) and no ``params.sound`` (silent); 42 credits per clip, fixed. Kling
2.1 Master is ``kling-v2-1-master`` [DOC: https://rivya.ai/docs/api/models/kling-v2-1-master]: the
same controls with a prompt of <= 5000 characters and one optional reference image; 160 credits per
clip, fixed.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import replace
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from airflow_provider_kling.exceptions import KlingError, KlingValidationError
from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import Capabilities, Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.gateways.billing import FailureBilling
from airflow_provider_kling.gateways.capabilities import KLING_3, NO_SOUND, by_model, reject_blank_images
from airflow_provider_kling.gateways.errors import ErrorTable, WordRule
from airflow_provider_kling.gateways.pricing import Balance, Prices
from airflow_provider_kling.models import VideoRequest, VideoTask

MODEL = "kling-2-6"

_STATES = fields.state_table(
    queued="queued pending",
    running="processing running",
    succeeded="succeeded",
    failed="failed",
)

#: The image types the Files API's upload policy allows, by file extension (no ``mimetypes``: it reads
#: system files, and a gateway does no I/O).
_IMAGE_MIME = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".jpe": "image/jpeg",
    ".jfif": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
ALLOWED_MIME = tuple(dict.fromkeys(_IMAGE_MIME.values()))
#: Extensions we recognise as *other* media types: a start image ending in one is refused up front.
_OTHER_MIME = {
    ".gif": "image/gif",
    ".bmp": "image/bmp",
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".avif": "image/avif",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".jxl": "image/jxl",
    ".jp2": "image/jp2",
    ".psd": "image/vnd.adobe.photoshop",
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
    ".mkv": "video/x-matroska",
    ".avi": "video/x-msvideo",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".pdf": "application/pdf",
    ".txt": "text/plain",
    ".json": "application/json",
}
#: non-standard spellings seen in data URIs
_MIME_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
DEFAULT_MIME = "image/jpeg"

_AUTH_CODES = ("api_key_missing", "api_key_invalid", "api_key_revoked", "api_key_expired", "api_scope_denied")
_VALIDATION_CODES = frozenset(("validation_failed", "webhook_url_rejected", "idempotency_conflict"))
#: substrings of an error code that mark a content-safety refusal
_POLICY_WORDS = ("policy", "moderation", "safety", "content", "nsfw")
#: substrings of a failed job's free-text message that mark a content-safety refusal
_POLICY_MESSAGE_WORDS = ("content policy", "moderation", "nsfw", "safety", "unsafe")
#: substrings of a submit refusal's message that mark it as a content-safety refusal
_POLICY_REFUSAL_WORDS = (*_POLICY_MESSAGE_WORDS, "content security", "policy violation", "prohibited")


def _any_of(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(map(re.escape, words)), re.IGNORECASE)


#: error ``code`` -> kind, then the code's wording (``api_key_*`` is auth, credit/quota/balance is
#: quota, safety words are content policy). Rivya documents no policy code: a refusal may come as
#: ``validation_failed`` whose message is about the content ("content security policy triggered").
#: Every kind the codes name proves the request was refused before a job existed.
ERRORS = ErrorTable(
    codes={
        **dict.fromkeys(_AUTH_CODES, "auth"),
        "public_api_disabled": "server",  # the API is switched off: nothing was created, try again later
        "rate_limited": "rate_limit",
        **dict.fromkeys(_VALIDATION_CODES, "validation"),
        "not_found": "not_found",
    },
    code_rules=(
        (re.compile(r"^api_key_"), "auth"),
        (re.compile(r"credit|quota|balance"), "quota"),
        (_any_of(_POLICY_WORDS), "content_policy"),
    ),
    rejected_kinds=frozenset(("auth", "server", "quota", "content_policy", "validation")),
    wording=(WordRule(_any_of(_POLICY_REFUSAL_WORDS), codes=_VALIDATION_CODES),),
)


#: Rivya's price for a Kling 2.6 clip: fixed, whatever its length or sound
PRICES = Prices(
    unit="credits",
    rates={"clip": 55.0},
    per_seconds=None,
    basis="Rivya Kling 2.6: 55 credits per clip, fixed",
    source="https://rivya.ai/docs/api",
    unit_note="Rivya credits (prepaid; reserved at submit, refunded when a generation fails)",
)
#: Rivya's price for a Kling 3.0 clip: fixed, whatever its length, mode or sound
V3_PRICES = replace(
    PRICES,
    rates={"clip": 90.0},
    basis="Rivya Kling 3.0: 90 credits per clip, fixed",
    source="https://rivya.ai/docs/api/models/kling-3-0",
)

#: what Kling 2.6 can do through this gateway
CAPS = Capabilities(
    model=MODEL,
    prompt_max=1000,
    aspect_ratios=("1:1", "16:9", "9:16"),
    aspect_ratio_with_image=True,
    callback=False,
    local_images="upload",
    cost_unit="credits",  # final_credits, else reserved_credits
    prices=PRICES,
    notes=(
        "one reference image (jpeg/png/webp, <=10 MB) uploaded through the Files API; "
        "webhooks are account-level; cost is in Rivya credits (55 per clip, fixed)"
    ),
)

#: Kling 3.0 through Rivya: 3-15 s, std/pro, sound in both, first and last frame, no per-shot prompts
V3 = replace(
    CAPS,
    model="kling-3-0",
    **KLING_3,
    prompt_max=2000,
    tiers=("std", "pro"),
    end_image=True,
    prices=V3_PRICES,
    notes=(
        "up to two reference images (first and last frame) through the Files API; mode std/pro "
        "(Rivya's default pro); multi_shots has no per-shot prompts, so shots are refused; "
        "90 credits per clip"
    ),
)


def _silent(model: str, name: str, credits: float, notes: str, **changes: Any) -> Capabilities:
    """A Kling 2.x row without ``params.sound``: 5 or 10 s, a negative prompt and CFG, a fixed price."""
    return replace(
        CAPS,
        model=model,
        name=name,
        negative_prompt=True,
        cfg_scale=True,
        **NO_SOUND,
        prices=replace(
            PRICES,
            rates={"clip": credits},
            basis=f"Rivya {name}: {credits:g} credits per clip, fixed",
            source=f"https://rivya.ai/docs/api/models/{model}",
        ),
        notes=f"{notes}; 5 or 10 s; no sound; {credits:g} credits per clip",
        **changes,
    )


TURBO25 = _silent(
    "kling-v2-5-turbo-pro",
    "kling-2.5-turbo",
    42.0,
    "up to two reference images (first and last frame) through the Files API",
    prompt_max=2500,
    end_image=True,
)
V21_MASTER = _silent(
    "kling-v2-1-master",
    "kling-2.1-master",
    160.0,
    "one optional reference image through the Files API",
    prompt_max=5000,
)

#: Credits are reserved per generation and refunded when it fails (``final_credits`` 0).
BILLING = FailureBilling(
    failed="no",
    refused="no",
    content_policy="no",
    source="Rivya: a failed generation's final_credits is 0 (refunded); a refused request creates "
    "no generation (https://rivya.ai/docs/api-generation-status)",
)


class RivyaGateway(Gateway):
    """Rivya: string-typed ``params``, images through its Files API, and a repeated idempotency key
    answered with the first job (so a resend cannot pay twice)."""

    name = "rivya"
    title = "Rivya Public API v1"
    default_base_url = "https://rivya.ai"
    path_prefix = "/api/v1"
    idempotency = "dedup"
    states = _STATES
    key_help = (
        "API key (rvya_sk_...) from the Rivya dashboard, with the generations:create, generations:read, "
        "files:create and credits:read scopes."
    )
    models = by_model(CAPS, V3, TURBO25, V21_MASTER)
    prices = PRICES
    errors = ERRORS
    billing = BILLING

    # ----------------------------------------------------------------- validation
    def validate_extra(self, request: VideoRequest) -> None:
        # Rivya takes jpeg, png and webp only: refuse an image whose name says it is something else,
        # rather than paying for an upload (or a job) that Rivya rejects.
        reject_blank_images(self.name, request, "None, or an https:// URL, a data: URI or a local file path")
        for name in ("start_image", "end_image"):
            image = getattr(request, name)
            mime = None if image is None else image_mime(image)
            if image is not None and mime is not None and mime not in ALLOWED_MIME:
                raise KlingValidationError.for_field(
                    self.name,
                    name,
                    image,
                    "a JPEG, PNG or WebP image (.jpg, .jpeg, .png, .webp)",
                    reason=f"{mime} is not accepted",
                )

    # ----------------------------------------------------------------- submit
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        row = self.capabilities_for(request)
        params: dict[str, Any] = {}
        if request.tier is not None:
            params["mode"] = request.tier
        params["duration"] = str(request.duration)
        if row.sound_field:
            params["sound"] = "true" if request.sound else "false"
        if request.negative_prompt is not None:
            params["negative_prompt"] = request.negative_prompt
        if request.cfg_scale is not None:
            params["cfg_scale"] = request.cfg_scale
        if request.start_image is not None:
            # the image decides unless the user chose a ratio (Rivya honours one with an image)
            if request.aspect_ratio is not None:
                params["aspect_ratio"] = request.aspect_ratio
            images = (request.start_image, request.end_image)
            params["referenceMediaItems"] = [reference_item(i) for i in images if i is not None]
        else:
            params["aspect_ratio"] = request.aspect_ratio or "16:9"
        body: dict[str, Any] = {"model": row.model, "prompt": request.prompt, "params": params}
        headers: dict[str, str] = {}
        if request.client_reference is not None:
            ref = self.client_id(request.client_reference)
            body["client_request_id"] = ref
            # a header value must be printable ASCII: percent-encode anything else (still deterministic)
            headers["Idempotency-Key"] = (
                ref if ref.isascii() and ref.isprintable() else quote(ref, safe="", errors="surrogatepass")
            )
        return HttpRequest("POST", "/api/v1/generations", json=body, headers=headers)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        return self._task(self._body(response), response, task_id=None)

    # ----------------------------------------------------------------- status
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("GET", f"/api/v1/generations/{self.task_ref(task_id)}")

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        return self._task(self._body(response), response, task_id=task_id)

    def failure_error(self, task: VideoTask) -> KlingError:
        message = task.error_message or f"job {task.task_id} ended {task.state.value}"
        code = (task.error_code or "").lower()
        if any(word in code for word in _POLICY_WORDS) or any(
            word in message.lower() for word in _POLICY_MESSAGE_WORDS
        ):
            return self.job_error("content_policy", task)
        return self.job_error("task_failed", task)

    # ----------------------------------------------------------------- balance
    def build_balance(self, now: float) -> HttpRequest | None:
        """``GET /api/v1/credits`` (https://rivya.ai/docs/api-credits): free, needs ``credits:read``."""
        return HttpRequest("GET", "/api/v1/credits")

    def read_balance(self, response: HttpResponse) -> Balance:
        body = self._body(response)
        left = fields.opt_float(body.get("current_credits"))
        if left is None:
            raise self.protocol_error(f"no current_credits in {fields.snippet(response.text)!r}", response)
        return Balance(amount=left, unit="credits", source="GET /api/v1/credits")

    # ----------------------------------------------------------------- connection test and uploads
    def build_test_connection(self) -> HttpRequest:
        return HttpRequest("GET", "/api/v1/credits")

    def check_test_connection(self, response: HttpResponse) -> None:
        self._body(response)

    def build_upload(self, filename: str, content: bytes, mime: str) -> HttpRequest:
        return HttpRequest(
            "POST", "/api/v1/files", files={"file": (filename, content, mime)}, data={"kind": "image"}
        )

    def read_upload(self, response: HttpResponse) -> str:
        body = self._body(response)
        for holder in (body, body.get("file"), body.get("data")):
            if isinstance(holder, dict):
                url = fields.opt_str(holder.get("url"))
                if url is not None:
                    return url
        raise self.protocol_error(
            f"the Files API answer has no url: {fields.snippet(response.text)!r}", response
        )

    # ----------------------------------------------------------------- helpers
    def _body(self, response: HttpResponse) -> dict[str, Any]:
        """The JSON object of a successful answer; raise the typed error an error answer describes."""
        body = self.decode(response)
        # A task carries ``error`` too (its failure reason); only a body without a task id is an
        # error envelope. Some proxies wrap the task in ``data``: accept that.
        data: dict[str, Any] = body
        if not _has_id(data) and isinstance(data.get("data"), dict) and _has_id(data["data"]):
            data = data["data"]
        error = data.get("error")
        if response.status_code >= 400 or (error not in (None, "", {}) and not _has_id(data)):
            raise self._refusal(response, error, data)
        return data

    def _refusal(self, response: HttpResponse, error: Any, body: dict[str, Any]) -> KlingError:
        """The code and message of an error body (``error`` an object or a string), classified."""
        if isinstance(error, dict):
            code = fields.opt_str(error.get("code"))
            message = fields.opt_str(error.get("message"))
            request_id = fields.opt_str(error.get("requestId"))
        else:
            code = fields.opt_str(body.get("code"))
            message = fields.opt_str(error) or fields.opt_str(body.get("message"))
            request_id = fields.opt_str(body.get("requestId"))
        text = message or fields.snippet(response.text) or f"HTTP {response.status_code}"
        return self.refusal(response, code, f"{text} (requestId {request_id})" if request_id else text)

    def _task(self, data: dict[str, Any], response: HttpResponse, task_id: str | None) -> VideoTask:
        known = fields.first_str(data, "id", "task_id")
        status = fields.opt_str(data.get("status"))
        found = known or (task_id if status is not None else None)  # a bare status names no task
        if found is None:
            raise self.protocol_error(f"the task has no id: {fields.snippet(response.text)!r}", response)
        state = self.state_of(data.get("status"))
        result = data.get("result")
        failure = None
        if state.is_failed:
            error = data.get("error")
            code, reason = None, fields.opt_str(error)
            if isinstance(error, dict):
                code, reason = fields.opt_str(error.get("code")), fields.opt_str(error.get("message"))
            failure = (code, reason or f"generation {status or 'failed'}")
        final = fields.opt_float(data.get("final_credits"))
        reserved = fields.opt_float(data.get("reserved_credits"))
        # a failed job is refunded (its final_credits, 0, is what it cost); a live one holds credits
        cost = final if state.is_failed or (final is not None and final > 0) else reserved
        expires = result.get("expires_at") if isinstance(result, dict) else None
        return self.job(
            found,
            state,
            data,
            failure,
            video_urls=result_urls(result),
            cost=final if cost is None else cost,
            created_at=fields.timestamp(data.get("created_at")),
            finished_at=fields.timestamp(data.get("updated_at")) if state.is_terminal else None,
            expires_at=fields.timestamp(expires if expires is not None else data.get("expires_at")),
            client_reference=fields.opt_str(data.get("client_request_id")),
        )


# ===================================================================== pure helpers
def image_mime(image: str) -> str | None:
    """The MIME type an image reference names (data URI header or file extension); ``None`` if unknown."""
    if image.startswith("data:"):
        mime = image[5:].split(",", 1)[0].split(";", 1)[0].strip().lower()
        return _MIME_ALIASES.get(mime, mime) or None
    ext = _extension(image)
    return _IMAGE_MIME.get(ext) or _OTHER_MIME.get(ext)


def _has_id(body: dict[str, Any]) -> bool:
    return "id" in body or "task_id" in body


def _path(image: str) -> str:
    """The path part of a URL (or the local path itself), with forward slashes."""
    path = image
    if "://" in image:
        try:
            path = urlsplit(image).path
        except ValueError:  # e.g. a malformed IPv6 host; fall back to the raw text
            path = image.split("?", 1)[0].split("#", 1)[0]
    return path.replace("\\", "/")


def _extension(image: str) -> str:
    return posixpath.splitext(_path(image))[1].lower()


def reference_item(url: str) -> dict[str, str]:
    """One ``params.referenceMediaItems`` entry: the URL, its file name and MIME type."""
    mime = image_mime(url)
    if mime not in ALLOWED_MIME:
        mime = DEFAULT_MIME
    if url.startswith("data:"):
        name = "image" + {"image/png": ".png", "image/webp": ".webp"}.get(mime, ".jpg")
    else:
        name = unquote(posixpath.basename(_path(url))) or "image"
    return {"url": url, "kind": "image", "name": name, "mimeType": mime}


def result_urls(result: Any) -> list[str]:
    """``result.primary_url`` first, then ``result.urls[]`` (strings or objects with ``url``), no repeats."""
    if not isinstance(result, dict):
        return []
    found: list[str] = []
    primary = result.get("primary_url")
    if isinstance(primary, str) and primary:
        found.append(primary)
    for item in fields.one_or_many(result.get("urls"), str):
        if isinstance(item, dict):
            item = item.get("url")
        if isinstance(item, str) and item and item not in found:
            found.append(item)
    return found
