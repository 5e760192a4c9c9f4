"""Apikley and kie.ai: the kie.ai "Market" wire format, which Apikley clones.

Wire facts (https://docs.kie.ai and https://docs.apikley.ru, "Kling-2.6 - Text to Video" and "Get
Task Details"): Bearer key; ``POST /api/v1/jobs/createTask`` with ``{"model":
"kling-2.6/text-to-video"|"kling-2.6/image-to-video", "callBackUrl", "input": {...}}``;
``input.duration`` is a *string* (``"5"``), ``input.sound`` a *required boolean*,
``input.aspect_ratio`` text-to-video only (and required there; the gateway default is 1:1, so 16:9 is
always sent), ``input.image_urls`` image-to-video only with at most one item (no end frame, no
negative prompt, no cfg). The unified ``GET /api/v1/jobs/recordInfo?taskId=`` answers states
``waiting|queuing|generating|success|fail``; ``resultJson`` and ``param`` are JSON *strings*;
``failCode`` / ``failMsg`` may be ``""`` or ``null``. Envelope ``code`` (in an HTTP 200 body, or equal to
the HTTP status): 200, 401, 402, 404, 422, 429, 433 (sub-key usage limit), 455 (maintenance), 500,
501 (generation failed), 505 (function disabled). The submit answer says ``msg``, recordInfo
``message``: both are read. No idempotency key, no cost report.

Kling 3.0 (https://docs.kie.ai/market/kling/kling-3.0) is one model id for both task kinds,
``"kling-3.0/video"`` (one English example shows ``"kling-3.0"``; we send the id the API reference
gives: ``"kling-3.0"`` is also the normalized name, which names this row), with
``input.mode`` std/pro, ``input.duration`` a string ``"3"``..``"15"``, ``input.sound``, up to two
``input.image_urls`` (first and last frame), and multi-shot as ``input.multi_shots: true`` +
``input.multi_prompt: [{prompt, duration}]`` (first frame only). No 3.0 price is published here.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import (
    Capabilities,
    Gateway,
    HttpRequest,
    HttpResponse,
    check_task_id,
)
from airflow_provider_kling.gateways.billing import FailureBilling
from airflow_provider_kling.gateways.capabilities import KLING_3, by_model
from airflow_provider_kling.gateways.errors import POLICY_WORDS, ErrorTable, WordRule
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

_STATES = fields.state_table(fields.TASK_API_STATES, queued="queuing", running="generating", failed="fail")

#: the envelope ``code`` mirrors an HTTP status and wins over it; codes that are not listed mean what
#: the status means. 455 (maintenance) and 505 (function disabled) prove no job was created although
#: they are not 4xx; waiting will not switch 505 back on. kie documents no content-policy code: a
#: refusal arrives as 422 (or 501) with safety wording.
ERRORS = ErrorTable(
    codes={
        400: "validation",
        401: "auth",
        402: "quota",
        403: "auth",
        404: "not_found",
        422: "validation",
        429: "rate_limit",
        433: "quota",
        455: "server",
        500: "server",
        501: "task_failed",
        505: "server",
    },
    code_is_status=True,
    envelope_first=True,
    success_codes=frozenset((200,)),
    rejected_codes=frozenset((455, 505)),
    final_codes=frozenset((505,)),
    wording=(WordRule(POLICY_WORDS, kinds=frozenset(("validation", "task_failed"))),),
)
#: the envelope's message: ``msg`` on createTask, ``message`` on recordInfo
_MESSAGE_KEYS = ("msg", "message", "error")


#: where a job's end time is: ``completeTime``, else ``updateTime``
_FINISHED_KEYS = ("completeTime", "updateTime")


def market_job(
    gateway: Gateway,
    data: dict[str, Any],
    task_id: str,
    *,
    failed: tuple[str | None, str | None] | None = None,
    finished: tuple[str, ...] = ("completeTime",),
    endpoint: str | None = None,
) -> VideoTask:
    """A job record of the Market format (APIXO's is the same): ``taskId``, ``state``, ``resultJson``,
    ``failCode`` / ``failMsg``, ``createTime`` and the first of the ``finished`` keys that holds a
    time. ``failed`` is the (code, message) of a failure the envelope reported instead of a state."""
    if failed is None:
        state = gateway.state_of(data.get("state"))
        urls = fields.result_json_urls(gateway.name, data, required=state is TaskState.SUCCEEDED)
        code, reason = fields.opt_str(data.get("failCode")), None
    else:
        state, urls, (code, reason) = TaskState.FAILED, [], failed
    ended = next((t for t in map(fields.timestamp, map(data.get, finished)) if t is not None), None)
    return gateway.job(
        fields.first_str(data, "taskId", "task_id") or task_id,
        state,
        data,
        (code, fields.message_text(data.get("failMsg")) or reason),
        endpoint=endpoint,
        video_urls=urls,
        created_at=fields.timestamp(data.get("createTime")),
        finished_at=ended,
    )


#: what Kling 2.6 can do through this gateway
CAPS = Capabilities(
    model="kling-2.6",
    prompt_max=1000,
    price_note="Apikley / kie.ai publish no Kling 2.6 price",
    notes=(
        "no tier, negative prompt, cfg_scale or last frame; image-to-video takes one public "
        "image URL and its aspect ratio from the image"
    ),
)
#: the ``shape`` of the 3.0 row: one model id for both kinds, mode, multi-shot
V3_SHAPE = "v3"
#: Kling 3.0 through the Market API
V3 = replace(
    CAPS,
    model="kling-3.0/video",
    **KLING_3,
    shape=V3_SHAPE,
    prompt_max=2500,
    tiers=("std", "pro"),
    default_tier="std",
    end_image=True,
    multi_shot=True,
    price_note="Apikley / kie.ai publish no Kling 3.0 price",
    notes="3-15 s; mode std/pro; sound; first and last frame; multi-shot (first frame only)",
)


#: Whether a job without a video is charged: the documents are silent.
BILLING = FailureBilling(
    source="kie.ai's documents do not say whether a failed task (state fail, code 501) is charged"
)


class KieGateway(Gateway):
    """The kie.ai Market format (Apikley clones it): the task kind is part of the model id, the
    envelope ``code`` can contradict the HTTP status, and results arrive as a JSON string."""

    name = "kie"
    billing = BILLING
    title = "Apikley / kie.ai"
    default_base_url = "https://api.apikley.ru"
    states = _STATES
    key_help = (
        "API key from https://app.apikley.ru/keys (or kie.ai's API key page, with host "
        "https://api.kie.ai) in the password field; it is sent as a Bearer token."
    )
    models = by_model(CAPS, V3)
    errors = ERRORS
    failure_words = POLICY_WORDS  # Kling's ``failCode`` values here are undocumented
    #: no free call is documented: the connection test asks recordInfo about a task id that does not
    #: exist; 455 (maintenance) and 505 (function disabled) mean the gateway cannot serve too, while
    #: 501 ("generation failed") about a task id that does not exist still proves the key works
    probe_api = "the Apikley/kie.ai API"

    # ----------------------------------------------------------------- submit
    def wire_model(self, request: VideoRequest) -> str:
        """The ``model`` field: on 2.6 the task kind is part of the model id on this wire."""
        row = self.capabilities_for(request)
        if row.shape == V3_SHAPE:
            return row.model
        kind = "image-to-video" if request.is_image_to_video else "text-to-video"
        return f"{row.model}/{kind}"

    def build_submit(self, request: VideoRequest) -> HttpRequest:
        v3 = self.capabilities_for(request).shape == V3_SHAPE
        inp: dict[str, Any] = {"prompt": request.prompt}
        if request.is_image_to_video:
            images = (request.start_image, request.end_image) if v3 else (request.start_image,)
            inp["image_urls"] = [u for u in images if u is not None]
        inp["sound"] = bool(request.sound)
        if not request.is_image_to_video:
            inp["aspect_ratio"] = request.aspect_ratio or "16:9"
        inp["duration"] = str(request.duration)
        if v3:
            inp["mode"] = request.tier or "std"
            inp["multi_shots"] = bool(request.shots)
            if request.shots:
                inp["multi_prompt"] = [
                    {"prompt": s.prompt, "duration": int(s.duration)} for s in request.shots
                ]
        body: dict[str, Any] = {"model": self.wire_model(request)}
        if request.callback_url is not None:
            body["callBackUrl"] = request.callback_url
        body["input"] = inp
        return HttpRequest("POST", "/api/v1/jobs/createTask", json=body)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        data = fields.expect_dict(self.name, self._body(response).get("data"), "data", response.status_code)
        task_id = fields.first_str(data, "taskId", "task_id")
        if task_id is None:
            raise self.protocol_error("data.taskId is missing", response)
        return self.job(task_id, TaskState.QUEUED, data)

    # ----------------------------------------------------------------- status
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest(
            "GET", "/api/v1/jobs/recordInfo", params={"taskId": check_task_id(self.name, task_id)}
        )

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        body = self._body(response, generation_failed_ok=True)
        if fields.opt_int(body.get("code")) != 501:
            data = fields.expect_dict(self.name, body.get("data"), "data", response.status_code)
            return market_job(self, data, task_id, finished=_FINISHED_KEYS)
        # "501 Generation Failed" on a status query: the job exists and failed; return it as such
        found = body.get("data")
        data = found if isinstance(found, dict) else {}
        failure = (fields.opt_str(data.get("failCode")) or "501", fields.first_message(body, *_MESSAGE_KEYS))
        return market_job(self, data, task_id, failed=failure, finished=_FINISHED_KEYS)

    def error_fields(self, body: Any) -> tuple[str | int | None, str | None]:
        return None, fields.first_message(body, *_MESSAGE_KEYS)

    # ----------------------------------------------------------------- helpers
    def _body(self, response: HttpResponse, generation_failed_ok: bool = False) -> dict[str, Any]:
        """The envelope after checking the HTTP status and the body ``code`` (both can signal errors)."""
        body = self.decode(
            response, lambda: self.refusal(response, None, fields.snippet(response.text) or "empty body")
        )
        code = body.get("code")
        num = fields.opt_int(code)
        if generation_failed_ok and num == 501:
            return body
        if response.status_code >= 400 or num not in (None, 200):
            message = fields.first_message(body, *_MESSAGE_KEYS) or fields.snippet(response.text)
            raise self.refusal(response, code, message)
        return body
