"""APIXO (``/api/v1/generateTask/kling-2-6``, ``/api/v1/statusTask/kling-2-6``), server side.

Wire format: https://apixo.ai/docs/models/video/kling-2-6. Success answers are ``{"code": 200, "message":
"success", "data": {...}}``; errors are ``{"code": <HTTP status>, "message": str, "data": null}`` with
the same HTTP status: 400 invalid body/parameter (also a body that is not JSON), 401 key, 402 balance
(``credits`` fault), 403 content rejected (``policy`` fault), 404 unknown task or model path (APIXO does
not document 404; chosen), 429 rate limit, 500/502/503/504.

Status ``data``: ``taskId``, ``state`` (``pending|processing|success|failed``), ``createTime`` (ms);
plus ``resultJson`` (a JSON **string** ``{"resultUrls": [...]}``), ``completeTime`` and ``costTime``
on success, ``failCode``/``failMsg``/``completeTime`` on failure (``policy-task`` ->
``SensitiveContentDetected``, ``fail`` -> ``Timeout``). The envelope ``code`` stays 200 for failed
tasks.

Strictness: ``request_type`` is required (``async`` | ``callback``; ``callback`` needs a
``callback_url``, which must be an https URL: "Must be a public HTTPS URL"); ``input.mode`` and
``input.sound`` (boolean) are required; ``duration`` is an integer 5|10 (default 5); ``aspect_ratio``
only for text-to-video; ``image_urls`` (1-2 http(s) URLs) required for image-to-video and rejected
for text-to-video; ``cfg_scale`` 0..1.

Kling 3.0 (https://apixo.ai/docs/models/video/kling-3-0-std) is the ``kling-3-0-std`` route: ``input``
takes ``mode``, ``prompt``, ``duration`` (an integer 3-15), ``sound`` (required boolean),
``aspect_ratio`` (text-to-video) and ``image_urls`` (1-2); no negative prompt, cfg or multi-shot
field. ``kling-3-0-turbo`` takes ``resolution`` (720p|1080p) instead of ``sound`` and exactly one
image. ``kling-2-5-turbo-pro`` (https://apixo.ai/docs/models/video/kling-2-5-turbo-pro) is the 2.6
body without ``sound`` (silent): a prompt of 1-2500 characters, ``duration`` 5|10, 1-2 images (the
second the last frame), ``negative_prompt``, ``cfg_scale``. A job answers only on the route of the
model that created it.

Account limits (see ``limits``): 429 ``{"code": 429, ...}`` with ``Retry-After``. APIXO bills $0.06
per output second silent and $0.12 with sound but reports no cost on tasks, so neither does the
emulator.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from ..state import Job
from .base import Call, Dialect, StrictModel, SubmitSpec, json_response, lookup, submission
from .values import is_http_url, ms, phase_words, random_digits

MODEL_PATH = "kling-2-6"
V3_PATH = "kling-3-0-std"
TURBO_PATH = "kling-3-0-turbo"
TURBO25_PATH = "kling-2-5-turbo-pro"
MODEL_PATHS = (MODEL_PATH, V3_PATH, TURBO_PATH, TURBO25_PATH)
STATE = phase_words("pending", "processing", "success", "failed")
FAILURES = {
    "fail": ("Timeout", "The provider timed out while generating the video. Please retry."),
    "policy-task": (
        "SensitiveContentDetected",
        "The input or output was flagged as sensitive. Please try again with different inputs.",
    ),
}


class ApixoDialect(Dialect):
    name = "apixo"

    statuses = {"policy": 403}

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        http, _ = self.status_and_code(kind, status)
        return json_response({"code": code or http, "message": message, "data": None}, http)


DIALECT = ApixoDialect()
router = APIRouter()


class Input(StrictModel):
    mode: Literal["text-to-video", "image-to-video"]
    prompt: Annotated[str, Field(min_length=1, max_length=1000)]
    duration: int | None = None
    sound: bool
    aspect_ratio: Literal["1:1", "9:16", "16:9"] | None = None
    image_urls: Annotated[list[str], Field(min_length=1, max_length=2)] | None = None
    negative_prompt: Annotated[str, Field(max_length=2500)] | None = None
    cfg_scale: Annotated[float, Field(ge=0, le=1)] | None = None


class Submit(StrictModel):
    request_type: Literal["async", "callback"]
    callback_url: str | None = None
    provider: Literal["auto", "value", "official"] | None = None
    input: Input


class InputV3(StrictModel):
    mode: Literal["text-to-video", "image-to-video"]
    prompt: Annotated[str, Field(min_length=1, max_length=2500)]
    duration: Annotated[int, Field(ge=3, le=15)] | None = None
    sound: bool
    aspect_ratio: Literal["1:1", "9:16", "16:9"] | None = None
    image_urls: Annotated[list[str], Field(min_length=1, max_length=2)] | None = None


class SubmitV3(Submit):
    input: InputV3  # type: ignore[assignment]


class InputTurbo(StrictModel):
    mode: Literal["text-to-video", "image-to-video"]
    prompt: Annotated[str, Field(min_length=1, max_length=2500)]
    duration: Annotated[int, Field(ge=3, le=15)] | None = None
    resolution: Literal["720p", "1080p"] | None = None
    aspect_ratio: Literal["1:1", "9:16", "16:9"] | None = None
    image_urls: Annotated[list[str], Field(min_length=1, max_length=1)] | None = None


class SubmitTurbo(Submit):
    input: InputTurbo  # type: ignore[assignment]


class InputTurbo25(StrictModel):
    mode: Literal["text-to-video", "image-to-video"]
    prompt: Annotated[str, Field(min_length=1, max_length=2500)]
    duration: Literal[5, 10] | None = None
    aspect_ratio: Literal["1:1", "9:16", "16:9"] | None = None
    image_urls: Annotated[list[str], Field(min_length=1, max_length=2)] | None = None
    negative_prompt: Annotated[str, Field(max_length=2500)] | None = None
    cfg_scale: Annotated[float, Field(ge=0, le=1)] | None = None


class SubmitTurbo25(Submit):
    input: InputTurbo25  # type: ignore[assignment]


def _rules(call: Call, req: Submit) -> str | None:
    inp = req.input
    if isinstance(inp, Input) and inp.duration is not None and inp.duration not in (5, 10):
        return "input.duration must be 5 or 10"
    if req.request_type == "callback" and not req.callback_url:
        return "callback_url is required when request_type is 'callback'"
    if req.callback_url is not None and not (
        is_http_url(req.callback_url) and req.callback_url.lower().startswith("https://")
    ):
        return "callback_url must be a public HTTPS URL"
    if inp.mode == "text-to-video":
        if inp.image_urls is not None:
            return "input.image_urls is only allowed for mode 'image-to-video'"
    else:
        if not inp.image_urls:
            return "input.image_urls is required for mode 'image-to-video'"
        if inp.aspect_ratio is not None:
            return "input.aspect_ratio is only supported for mode 'text-to-video'"
        for url in inp.image_urls:
            if not is_http_url(url):
                return "input.image_urls must be public direct http(s) URLs"
    return None


def _ok(data: dict[str, Any]) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": data}


def status_data(call: Call, job: Job) -> dict[str, Any]:
    phase = job.phase()
    data: dict[str, Any] = {"taskId": job.task_id, "state": STATE[phase], "createTime": ms(job.created)}
    if phase == "succeeded":
        data["resultJson"] = json.dumps({"resultUrls": [call.emu.video_url(call.request, job)]})
        data["completeTime"] = ms(job.finished_at)
        data["costTime"] = ms(job.finished_at) - ms(job.created)
    elif phase == "failed" and job.outcome:
        data["failCode"], data["failMsg"] = FAILURES[job.outcome]
        data["completeTime"] = ms(job.finished_at)
    return data


def _model_path(call: Call) -> Response | None:
    model = call.request.path_params.get("model")
    if model in MODEL_PATHS:
        return None
    served = ", ".join(repr(p) for p in MODEL_PATHS)
    return call.error("not_found", f"model {model!r} not found; this emulator serves {served}")


def _spec(schema: type[Submit]) -> SubmitSpec[Submit]:
    return SubmitSpec(
        schema,
        prompt=lambda req: req.input.prompt,
        prefix="invalid parameter: ",
        rules=_rules,
        before=_model_path,
    )


#: the request schema of each model route
SUBMITS = {
    MODEL_PATH: _spec(Submit),
    V3_PATH: _spec(SubmitV3),
    TURBO_PATH: _spec(SubmitTurbo),
    TURBO25_PATH: _spec(SubmitTurbo25),
}


@router.post("/api/v1/generateTask/{model}")
async def generate_task(request: Request, model: str) -> Response:
    sub = await submission(request, DIALECT, SUBMITS.get(model, SUBMITS[MODEL_PATH]))
    if isinstance(sub, Response):
        return sub
    req = sub.req
    inp = req.input
    job = sub.new_job(
        ids=lambda: f"task_{random_digits(12)}",
        prompt=inp.prompt,
        duration=inp.duration or 5,
        aspect=inp.aspect_ratio,
        sound=bool(getattr(inp, "sound", False)),
        family=inp.mode,
        model=model,
        extra={"callback_url": req.callback_url, "provider": req.provider or "auto"},
    )
    return sub.accepted(job, _ok({"taskId": job.task_id}))


@router.get("/api/v1/statusTask/{model}")
async def status_task(request: Request, model: str) -> Response:
    required = "invalid parameter: taskId query parameter is required"
    found = await lookup(
        request, DIALECT, request.query_params.get("taskId"), required=required, before=_model_path
    )
    if isinstance(found, Response):
        return found
    call, job = found
    if job.model != model:  # a job lives on the route of its model
        return call.error("not_found", f"task {job.task_id} not found for model {model!r}")
    return json_response(_ok(status_data(call, job)))
