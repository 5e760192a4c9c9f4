"""APIXO: ``POST /api/v1/generateTask/kling-2-6``, ``GET /api/v1/statusTask/kling-2-6``.

Wire facts (APIXO's Kling 2.6 page, indexed at https://apixo.ai/docs/llms.txt): Bearer key; the body
is ``{"request_type": "async"|"callback", "callback_url", "provider", "input": {...}}`` where
``input.mode`` (``text-to-video`` / ``image-to-video``) discriminates, ``duration`` is an *integer* and
``sound`` a *required boolean*; ``aspect_ratio`` is text-to-video only; ``image_urls`` holds the start
frame and optionally the end frame. Status states are ``pending|processing|success|failed``; the
result is in ``resultJson``, a JSON *string* holding ``resultUrls``; a failed job keeps envelope
``code`` 200 and carries ``failCode`` / ``failMsg``. HTTP errors: 400 validation, 401 key, 402
balance, 403 key/route *or* content rejected, 429 rate/concurrency, 500/502/504 upstream. No
idempotency key, no cost report.

Kling 3.0 is its own route, ``/generateTask/kling-3-0-std`` and ``/statusTask/kling-3-0-std``
(https://apixo.ai/docs/models/video/kling-3-0-std): the standard tier only, ``duration`` an integer
3-15, ``sound`` a boolean, 1-2 ``image_urls``; no per-shot prompts are documented, so ``shots`` are
refused. Kling 3.0 Turbo is ``kling-3-0-turbo`` (https://apixo.ai/docs/models/video/kling-3-0-turbo):
``resolution`` 720p/1080p, 3-15 s, exactly one image, no sound field. A job is polled on the route of
its model (the task's ``endpoint``). No 3.0 price is published.

Kling 2.5 Turbo Pro is ``kling-2-5-turbo-pro`` [DOC: https://apixo.ai/docs/models/video/kling-2-5-turbo-pro]:
the 2.6 body without ``sound`` (the model is silent): ``mode`` text-to-video / image-to-video, a
prompt of 1-2500 characters, ``duration`` 5 or 10 (an integer), 1-2 ``image_urls`` (the second is
the last frame), ``aspect_ratio`` 16:9/9:16/1:1 for text only, ``negative_prompt`` (<= 2500),
``cfg_scale`` 0-1. The page we read lists no price. Kling 2.1 (``kling-2-1``) is not offered: one
route serves std, pro and Master through its own ``mode`` words, which this table cannot yet say.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from airflow_provider_kling.exceptions import KlingError, KlingValidationError
from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import (
    Capabilities,
    Gateway,
    HttpRequest,
    HttpResponse,
    check_task_id,
)
from airflow_provider_kling.gateways.billing import FailureBilling
from airflow_provider_kling.gateways.capabilities import KLING_3, KLING_25_TURBO, NO_SOUND, by_model
from airflow_provider_kling.gateways.errors import POLICY_WORDS, ErrorTable, WordRule
from airflow_provider_kling.gateways.kie import market_job
from airflow_provider_kling.gateways.pricing import usd_per_second
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

PROVIDERS = ("auto", "value", "official")

_STATES = fields.state_table(fields.TASK_API_STATES, succeeded="completed", failed="fail")
_MESSAGE_KEYS = ("message", "msg", "error")

#: documented ``failCode`` values of a content-safety refusal (compared case-insensitively)
_POLICY_FAIL_CODES = frozenset(
    c.lower()
    for c in (
        "SensitiveContentDetected",
        "InputOutputSensitiveContentDetected",
        "NSFW",
        "ProhibitedContentDetected",
        "CONTENT_VIOLATION",
    )
)
#: documented ``failCode`` values where the same request may succeed later
_RETRYABLE_FAIL_CODES = frozenset(("ratelimited", "timeout"))

#: the HTTP status decides (in an HTTP 200 body, the envelope ``code``); 400 covers "prompt rejected"
#: and 403 "content rejected" too: a refusal worded as a safety one is content policy, and ``reject``
#: alone makes a 403 a content refusal unless the message is about the key.
ERRORS = ErrorTable(
    code_is_status=True,
    success_codes=frozenset((200,)),
    wording=(
        WordRule(POLICY_WORDS, statuses=frozenset((400, 422, 403))),
        WordRule(
            re.compile(r"reject", re.IGNORECASE),
            statuses=frozenset((403,)),
            unless=re.compile(r"\bkey\b|token|auth|permission|access|route", re.IGNORECASE),
        ),
    ),
)


#: APIXO's Kling 2.6 price per second of output (its Kling 2.6 page); it reports no cost per task
PRICES = usd_per_second(
    {"silent": 0.06, "sound": 0.12},
    "APIXO Kling 2.6: $0.06 per output second without sound, $0.12 with sound",
    "https://apixo.ai/docs/llms.txt",
)
#: the ``shape`` of the 3.0 Turbo row (a resolution)
TURBO_SHAPE = "turbo"

#: what Kling 2.6 can do through this gateway
CAPS = Capabilities(
    model="kling-2-6",
    prompt_max=1000,
    negative_prompt=True,
    end_image=True,
    cfg_scale=True,
    extra_fields={
        "provider": "routing: auto|value|official (sent as the top-level provider field)",
    },
    notes=(
        "no tier choice (provider is routing, not quality); image-to-video takes the aspect "
        "ratio from the image; callback_url must be public HTTPS; images must be public URLs"
    ),
    prices=PRICES,
)

#: Kling 3.0 (standard tier only) on its own route: 3-15 s, sound, first and last frame
V3 = replace(
    CAPS,
    model="kling-3-0-std",
    **KLING_3,
    prompt_max=2500,
    negative_prompt=False,
    cfg_scale=False,
    tiers=("std",),
    prices=None,
    price_note="APIXO publishes no Kling 3.0 price",
    notes="the standard tier only (route kling-3-0-std); 3-15 s; 1-2 image URLs; no per-shot prompts",
)
#: Kling 3.0 Turbo: a resolution (tier std = 720p, pro = 1080p), one image, no sound field
TURBO = replace(
    V3,
    model="kling-3-0-turbo",
    name="kling-3.0-turbo",
    shape=TURBO_SHAPE,
    tiers=("std", "pro"),
    default_tier="std",
    resolutions={"std": "720p", "pro": "1080p"},
    **NO_SOUND,
    end_image=False,
    price_note="APIXO publishes no Kling 3.0 Turbo price",
    notes="route kling-3-0-turbo; tier std = 720p, pro = 1080p; exactly one image; no sound field",
)

#: Kling 2.5 Turbo Pro: the 2.6 body without a sound field; 5 or 10 s, first and last frame
TURBO25 = replace(
    CAPS,
    model="kling-2-5-turbo-pro",
    **KLING_25_TURBO,
    prices=None,
    price_note="APIXO's Kling 2.5 Turbo Pro page lists no price",
    notes="route kling-2-5-turbo-pro; 5 or 10 s; no sound; 1-2 image URLs (first and last frame)",
)


#: Whether a job without a video is charged: the documents are silent.
BILLING = FailureBilling(
    source="APIXO documents its per-second price but not whether a failed or rejected task is charged"
)


class ApixoGateway(Gateway):
    """APIXO's per-model routes: ``input.mode`` tells text- from image-to-video, results arrive as a
    JSON string, and a 403 is either a refused key or refused content."""

    name = "apixo"
    billing = BILLING
    title = "APIXO"
    default_base_url = "https://api.apixo.ai"
    path_prefix = "/api/v1"
    states = _STATES
    key_help = "API key from the APIXO dashboard (sent as a Bearer token) in the password field."
    models = by_model(CAPS, V3, TURBO, TURBO25)
    prices = PRICES
    errors = ERRORS
    probe_api = "APIXO's API"  # no free call is documented: ask about a task id that does not exist
    # A job of another model than the connection's carries its route as the task's ``endpoint``
    # (XCom, trigger, sensor ``endpoint=``); a bare id is polled on the connection's model's route
    # only: trying every route would triple the calls for a job that does not exist yet.

    # ----------------------------------------------------------------- validation
    def validate_extra(self, request: VideoRequest) -> None:
        if "provider" in request.extra:
            provider = request.extra["provider"]
            if not isinstance(provider, str) or provider not in PROVIDERS:
                raise KlingValidationError.for_field(
                    self.name, "extra.provider", provider, ", ".join(repr(p) for p in PROVIDERS)
                )
        if request.callback_url is not None and not request.callback_url.startswith("https://"):
            raise KlingValidationError.for_field(
                self.name,
                "callback_url",
                request.callback_url,
                "a public https:// URL",
                reason="APIXO delivers callbacks to HTTPS URLs only",
            )

    # ----------------------------------------------------------------- submit
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        row = self.capabilities_for(request)
        inp: dict[str, Any] = {
            "mode": "image-to-video" if request.is_image_to_video else "text-to-video",
            "prompt": request.prompt,
            "duration": int(request.duration),
        }
        if row.shape == TURBO_SHAPE:
            inp["resolution"] = row.resolutions[request.tier or row.default_tier or "std"]
        if row.sound_field:
            inp["sound"] = bool(request.sound)
        if request.is_image_to_video:
            inp["image_urls"] = [u for u in (request.start_image, request.end_image) if u is not None]
        else:
            inp["aspect_ratio"] = request.aspect_ratio or "16:9"
        if request.negative_prompt is not None:
            inp["negative_prompt"] = request.negative_prompt
        if request.cfg_scale is not None:
            inp["cfg_scale"] = float(request.cfg_scale)
        body: dict[str, Any] = {}
        if request.callback_url is not None:
            body["request_type"] = "callback"
            body["callback_url"] = request.callback_url
        else:
            body["request_type"] = "async"
        if "provider" in request.extra:
            body["provider"] = request.extra["provider"]
        body["input"] = inp
        return HttpRequest("POST", f"/api/v1/generateTask/{row.model}", json=body)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        data = self._data(response)
        task_id = fields.first_str(data, "taskId", "task_id")
        if task_id is None:
            raise self.protocol_error("data.taskId is missing", response)
        route = self.wire_id(request)
        return self.job(
            task_id,
            TaskState.QUEUED,
            data,
            created_at=fields.timestamp(data.get("createTime")),
            # the route to poll, where it is not the connection's model's
            endpoint=route if route != self.model else None,
        )

    # ----------------------------------------------------------------- status
    def endpoint_ok(self, endpoint: str) -> bool:
        return endpoint in self.models  # a model's route

    def endpoints_allowed(self) -> str:
        return f"{', '.join(self.models)}, or None (the connection's model's route)"

    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        route = self.check_endpoint(endpoint) or self.model
        return HttpRequest(
            "GET", f"/api/v1/statusTask/{route}", params={"taskId": check_task_id(self.name, task_id)}
        )

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        own_route = endpoint if endpoint in self.models and endpoint != self.model else None
        return market_job(self, self._data(response), task_id, endpoint=own_route)

    def failure_error(self, task: VideoTask) -> KlingError:
        """``failCode`` decides: safety codes are content policy, RateLimited/Timeout may be retried."""
        lowered = (task.error_code or "").strip().lower()
        if lowered in _POLICY_FAIL_CODES:
            return self.job_error("content_policy", task)
        if lowered in _RETRYABLE_FAIL_CODES:
            return self.job_error("task_failed", task, retryable=True)
        message = task.error_message or ""
        if task.error_code is None and task.state is TaskState.FAILED and POLICY_WORDS.search(message):
            # no failCode at all: the message is the only signal left
            return self.job_error("content_policy", task)
        return self.job_error("task_failed", task)

    # ----------------------------------------------------------------- helpers
    def _data(self, response: HttpResponse) -> dict[str, Any]:
        """The envelope's ``data`` after checking the HTTP status and the body ``code`` (both can fail)."""
        body = self.decode(
            response, lambda: self.refusal(response, None, fields.snippet(response.text) or "empty body")
        )
        code = body.get("code")
        if response.status_code >= 400 or fields.opt_int(code) not in (None, 200):
            raise self.refusal(
                response, code, fields.first_message(body, *_MESSAGE_KEYS) or fields.snippet(response.text)
            )
        return fields.expect_dict(self.name, body.get("data"), "data", response.status_code)
