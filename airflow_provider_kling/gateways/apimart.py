"""An APIMart-compatible gateway (APIMart or a white-label of it), so any APIMart-compatible host.

Wire facts (APIMart's "Kling 2.6 Video Generation" page, https://docs.apimart.ai): Bearer key;
``POST /v1/videos/generations`` with a flat body ``{"model": "kling-v2-6", "prompt", "mode":
"std"|"pro", "duration": <int>, "aspect_ratio", "negative_prompt", "image_urls": [first] | [first,
last], "audio": <bool>, "watermark": <bool>}``. The page's feature matrix: std is 720p and silent, pro
is 1080p and may have audio; a last frame needs pro and excludes audio; an explicit aspect ratio "may
be overridden by image ratio" (so it may accompany an image). The submit answer's ``data`` is an
*array* of ``{"status": "submitted", "task_id"}`` (other APIMart models answer an object with ``id``:
both are read). ``GET /v1/tasks/{task_id}?language=en`` returns
``pending|processing|completed|failed|cancelled`` with the video at ``data.result.videos[].url`` (a
string *or* an array) and a per-video ``expires_at`` in epoch seconds. Error bodies and failure codes
are undocumented, so they are read leniently: the OpenAI-style ``{"error": {"message", "type",
"code"}}`` and the plain ``{"code", "message"|"msg"}``. No webhook parameter is documented, no
idempotency key, no cost report.

Kling 3.0 (https://docs.apimart.ai/en/api-reference/videos/kling-v3/generation) is ``model:
"kling-v3"`` on the same route: ``mode`` std/pro/4k, ``duration`` an integer 3-15 ("a plain
number"), ``audio``, and multi-shot as ``multi_shot`` + ``shot_type: "customize"`` + ``multi_prompt:
[{index, prompt, duration}]`` (1-6 shots of <= 512 characters). Kling 3.0 Turbo
(https://docs.apimart.ai/en/api-reference/videos/kling-3.0-turbo/generation) is ``model:
"kling-3.0-turbo"`` with ``resolution`` 720p/1080p, the start frame in ``first_frame_image``, a prompt
of <= 3072 characters and no audio field. 3.0 prices (720p $0.0672/s, 1080p $0.0896/s, 1080p with
sound $0.112/s) were seen on 2026-10-12 by a third party [2ND].
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime
from typing import Any, ClassVar

from airflow_provider_kling.exceptions import KlingError, KlingValidationError
from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import Capabilities, Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.gateways.billing import FailureBilling
from airflow_provider_kling.gateways.errors import POLICY_WORDS, ErrorTable, WordRule
from airflow_provider_kling.gateways.kling import NATIVE, V3, multi_shot_fields
from airflow_provider_kling.gateways.kling import TURBO as KLING_TURBO
from airflow_provider_kling.gateways.pricing import usd_per_second
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

_STATES = fields.state_table(
    fields.TASK_API_STATES, queued="submitted", running="in_progress", succeeded="completed", failed="failure"
)

#: Kling 3.0 per output second, as a third party saw APIMart's price page on 2026-10-12
V3_PRICES = usd_per_second(
    {"std": 0.0672, "pro": 0.0896, "pro+sound": 0.112},
    "APIMart Kling 3.0 per second: 720p $0.0672, 1080p $0.0896, 1080p with sound $0.112 (seen 2026-10-12)",
    "https://docs.apimart.ai/en/api-reference/videos/kling-v3/generation",
    "std",
)
#: the ``shape`` of the Turbo row (a resolution and ``first_frame_image`` instead of mode and image_urls)
TURBO_SHAPE = "turbo"

#: a content-safety refusal, in an error message/type/code: the shared wording plus "inappropriate"
_POLICY_WORDS = re.compile(rf"{POLICY_WORDS.pattern}|inappropriate", re.IGNORECASE)
#: the HTTP status decides, else the body ``code``; then the wording of the code and message: a 403
#: about balance is quota (OpenAI-compatible relays answer 403 ``insufficient_user_quota``), and a
#: refusal (but a 401) worded as a safety one is content policy
ERRORS = ErrorTable(
    code_is_status=True,
    success_codes=frozenset((0, 200)),
    wording=(
        WordRule(
            re.compile(r"insufficient|quota|balance|credit|余额|额度", re.IGNORECASE),
            kind="quota",
            statuses=frozenset((403,)),
        ),
        WordRule(_POLICY_WORDS, statuses=frozenset((403,)), kinds=frozenset(("validation", "protocol"))),
    ),
)


#: Whether a job without a video is charged: the documents are silent.
BILLING = FailureBilling(source="APIMart's documents do not say whether a failed or rejected task is charged")


#: what APIMart changes in every Kling row it relays: URLs only, no webhook, no reported cost
_RELAYED: dict[str, Any] = {
    "callback": False,
    "cost_unit": None,
    "local_images": "url_only",
    "extra_fields": {"watermark": "bool: sent as watermark"},
}


class ApimartGateway(Gateway):
    """An APIMart relay of Kling's own feature matrix: a flat body, a job list in the submit answer,
    and error bodies read in the shapes APIMart relays use (none is documented)."""

    name = "apimart"
    billing = BILLING
    title = "APIMart-compatible gateway"
    default_base_url = "https://api.apimart.ai"
    path_prefix = "/v1"
    states = _STATES
    errors = ERRORS
    failure_words = _POLICY_WORDS  # an undocumented failure vocabulary
    probe_api = "an APIMart API"  # no free call is documented: ask about a task id that does not exist
    key_help = (
        "API key from the gateway's API key page (sent as a Bearer token) in the password field; "
        "set the host for a white-label APIMart deployment."
    )
    #: Kling's own matrix, relayed; but URLs only, an aspect ratio may come with an image, no webhook
    models: ClassVar[dict[str, Capabilities]] = {
        NATIVE.model: replace(
            NATIVE,
            **_RELAYED,
            aspect_ratio_with_image=True,
            end_image_needs_start=True,
            prices=None,
            price_note="APIMart publishes no Kling 2.6 price",
            notes=(
                "std is 720p and silent; audio needs pro; the last frame needs pro and excludes audio; "
                "with an image the aspect ratio may be overridden by the image; no documented webhook"
            ),
        ),
        V3.model: replace(
            V3,
            **_RELAYED,
            prompt_max=3072,
            aspect_ratio_with_image=True,
            end_image_needs_start=True,
            multi_shot_start_image=True,
            prices=V3_PRICES,
            notes="3-15 s; std 720p, pro 1080p, 4k; sound in every tier; 1-6 shots (no last frame)",
        ),
        KLING_TURBO.model: replace(
            KLING_TURBO,
            **_RELAYED,
            shape=TURBO_SHAPE,
            price_note="APIMart publishes no Kling 3.0 Turbo price",
            notes="tier std = 720p, pro = 1080p; one start frame (first_frame_image); no audio field",
        ),
    }

    # ----------------------------------------------------------------- validation
    def validate_extra(self, request: VideoRequest) -> None:
        if "watermark" in request.extra and not isinstance(request.extra["watermark"], bool):
            raise KlingValidationError.for_field(
                self.name, "extra.watermark", request.extra["watermark"], "true, false"
            )

    # ----------------------------------------------------------------- submit
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        row = self.capabilities_for(request)
        if row.shape == TURBO_SHAPE:
            return self._build_turbo(request, row)
        body: dict[str, Any] = {
            "model": row.model,
            "prompt": request.prompt,
            "mode": request.tier or "std",
            "duration": int(request.duration),
        }
        if not request.is_image_to_video:
            body["aspect_ratio"] = request.aspect_ratio or "16:9"
        elif request.aspect_ratio is not None:
            body["aspect_ratio"] = request.aspect_ratio
        if request.negative_prompt is not None:
            body["negative_prompt"] = request.negative_prompt
        if request.is_image_to_video:
            body["image_urls"] = [u for u in (request.start_image, request.end_image) if u is not None]
        body["audio"] = bool(request.sound)
        if request.shots:
            body.update(multi_shot_fields(request.shots, int))
        if "watermark" in request.extra:
            body["watermark"] = request.extra["watermark"]
        return HttpRequest("POST", "/v1/videos/generations", json=body)

    def _build_turbo(self, request: VideoRequest, row: Capabilities) -> HttpRequest:
        body: dict[str, Any] = {"model": row.model, "prompt": request.prompt}
        if request.start_image is not None:
            body["first_frame_image"] = request.start_image
        else:
            body["aspect_ratio"] = request.aspect_ratio or "16:9"
        body["resolution"] = row.resolutions[request.tier or row.default_tier or "std"]
        body["duration"] = int(request.duration)
        if "watermark" in request.extra:
            body["watermark"] = request.extra["watermark"]
        return HttpRequest("POST", "/v1/videos/generations", json=body)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        data = self._data(response)
        task_id = _task_id(data)
        if task_id is None:
            raise self.protocol_error("data[0].task_id is missing", response)
        # a submit acknowledges a job ("submitted"); it is queued whatever else the item says
        state = TaskState.QUEUED
        if isinstance(data.get("status"), str) and self.state_of(data["status"]) is TaskState.RUNNING:
            state = TaskState.RUNNING
        return self.job(task_id, state, data, created_at=fields.timestamp(data.get("created")))

    # ----------------------------------------------------------------- status
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("GET", f"/v1/tasks/{self.task_ref(task_id)}", params={"language": "en"})

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        data = self._data(response)
        tid = _task_id(data) or task_id
        state = self.state_of(data.get("status"))
        urls, expires = _videos(data.get("result"))
        expiry = [t for t in (*expires, fields.timestamp(data.get("expires_at"))) if t is not None]
        error_code, reason = _error_fields(data.get("error"))
        reason = (
            reason or fields.message_text(data.get("fail_reason")) or fields.message_text(data.get("message"))
        )
        return self.job(
            tid,
            state,
            data,
            (error_code, reason),
            video_urls=urls,
            created_at=fields.timestamp(data.get("created")),
            finished_at=fields.timestamp(data.get("completed")),
            expires_at=min(expiry) if expiry else None,
        )

    def error_fields(self, body: Any) -> tuple[str | int | None, str | None]:
        return _envelope(body)

    # ----------------------------------------------------------------- helpers
    def _data(self, response: HttpResponse) -> dict[str, Any]:
        """The job object in ``data`` (an object, or the first item of an array) after the error checks."""
        body = self.decode(response, lambda: self._refusal(response, None))
        data = body.get("data")
        if (
            response.status_code >= 400
            or fields.opt_int(body.get("code")) not in (None, 0, 200)
            or (data is None and body.get("error") not in (None, "", {}))
        ):
            raise self._refusal(response, body)
        if isinstance(data, list):
            data = next((item for item in data if isinstance(item, dict)), None)
            if data is None:
                raise self.protocol_error("data holds no task object", response)
        if not isinstance(data, dict):
            raise self.protocol_error(f"expected a JSON object at data, got {type(data).__name__}", response)
        return data

    def _refusal(self, response: HttpResponse, body: Any) -> KlingError:
        """The error code and message found in any of the shapes APIMart relays use, classified."""
        code, message = _envelope(body)
        status = fields.opt_int(body.get("code")) if isinstance(body, dict) else None
        return self.refusal(response, code, message, status=status)


def _task_id(data: dict[str, Any]) -> str | None:
    return fields.first_str(data, "task_id", "id", "taskId")


def _videos(result: Any) -> tuple[list[str], list[datetime]]:
    """URLs and expiry times from ``result.videos[]`` (``url`` a string or an array; lenient)."""
    urls: list[str] = []
    expires: list[datetime] = []
    if not isinstance(result, dict):
        return urls, expires
    for video in fields.one_or_many(result.get("videos"), dict):
        if isinstance(video, dict):
            found = fields.url_list(video.get("url")) or fields.url_list(video.get("urls"))
            urls.extend(found)
            when = fields.timestamp(video.get("expires_at"))
            if found and when is not None:
                expires.append(when)
        else:
            urls.extend(fields.url_list(video))
    if not urls:
        urls = fields.url_list(result.get("url")) or fields.url_list(result.get("urls"))
    return urls, expires


def _envelope(body: Any) -> tuple[str | None, str | None]:
    """The error code and message of an error body, in any of the shapes APIMart relays use."""
    if not isinstance(body, dict):
        return None, None
    code, message = _error_fields(body.get("error"))
    if code is None:
        code = (
            fields.opt_str(body.get("code"))
            if fields.opt_int(body.get("code")) not in (None, 0, 200)
            else None
        )
    message = message or fields.message_text(body.get("message")) or fields.message_text(body.get("msg"))
    return code, message


def _error_fields(error: Any) -> tuple[str | None, str | None]:
    """``error`` as ``{"code", "message", "type"}`` or as a plain string."""
    if isinstance(error, dict):
        code = fields.opt_str(error.get("code")) or fields.opt_str(error.get("type"))
        return code, fields.message_text(error.get("message")) or fields.message_text(error.get("msg"))
    return None, fields.message_text(error)
