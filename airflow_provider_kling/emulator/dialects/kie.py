"""Apikley / kie.ai "Market" API (``/api/v1/jobs/createTask``, ``/api/v1/jobs/recordInfo``), server side.

Wire format: https://docs.kie.ai/market/kling/text-to-video and
https://docs.kie.ai/market/common/get-task-detail (Apikley serves the same API). Submit answers
``{"code": 200, "msg": "success", "data": {"taskId": "task_kling-2.6_..."}}`` (note ``msg``); recordInfo
answers ``{"code": 200, "message": "success", "data": {...}}`` (note ``message``) with ``state``
``waiting`` (first half of the queued time) / ``queuing`` / ``generating`` / ``success`` / ``fail``,
``param`` (the create request as a JSON **string**), ``resultJson`` (a JSON **string** ``{"resultUrls":
[...]}``; ``""`` before success), ``failCode``/``failMsg`` (``""`` unless failed: ``"500"`` generation
failed, ``"400"`` content flagged), ``costTime`` (ms) and ``completeTime`` (``null`` until terminal),
``createTime``, ``updateTime``.

Errors: ``{"code": <code>, "msg": str, "data": null}``: 401 key, 402 credits, 404 unknown task,
422 validation (also a body that is not JSON, and the ``policy`` fault - kie has no documented
submit-time content-policy code), 429 rate limit, 455 maintenance (emulated 503), 500 server error
(also emulated 502/504). The HTTP status equals the code, except 455 -> HTTP 503 and code 500 for
emulated 502/504 keeps their HTTP status. With ``kie_errors_http_200`` every error is HTTP 200 and
only the body carries the code, as kie.ai itself often does.

Rules: ``kling-2.6/text-to-video`` requires ``input.prompt`` (1..1000), ``sound`` (bool),
``aspect_ratio`` and ``duration`` (``"5"|"10"`` string); ``kling-2.6/image-to-video`` requires
``prompt``, ``image_urls`` (exactly one http(s) URL), ``sound``, ``duration`` and has no
``aspect_ratio``. ``callBackUrl`` (optional; a string, so JSON ``null`` is refused) must be an http(s)
URL; callbacks are not delivered.
``kling-3.0/video`` (https://docs.kie.ai/market/kling/kling-3.0; also spelled ``kling-3.0``): one model
for both kinds; ``input`` takes ``prompt``, ``image_urls`` (0-2: first and last frame; 1 with
multi-shot), ``sound``, ``aspect_ratio``, ``duration`` (a string ``"3"``..``"15"``), ``mode`` std|pro,
``multi_shots`` and ``multi_prompt: [{prompt, duration}]`` (summing to the duration; the clip is cut
into those shots).

Account limits (see ``limits``): 429 (``{"code": 429, "msg", "data": null}``, inside HTTP 200 with
``kie_errors_http_200``) with ``Retry-After``.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ..state import Job
from .base import Call, Dialect, StrictModel, SubmitSpec, json_response, lookup, submission
from .values import describe_validation_error, is_http_url, ms, now_ms

T2V = "kling-2.6/text-to-video"
I2V = "kling-2.6/image-to-video"
FAILURES = {
    "fail": ("500", "Generation failed: internal error, please try again later"),
    "policy-task": ("400", "The content was flagged as sensitive by the safety system"),
}


class KieDialect(Dialect):
    name = "kie"

    statuses = {("bad_json", "validation", "policy", "conflict", "duplicate"): 422}
    server_codes = {503: 455, 0: 500}

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        http, default = self.status_and_code(kind, status)
        return json_response({"code": code or default or http, "msg": message, "data": None}, http)


DIALECT = KieDialect()
router = APIRouter()


class Submit(StrictModel):
    model: Literal["kling-2.6/text-to-video", "kling-2.6/image-to-video", "kling-3.0/video", "kling-3.0"]
    callBackUrl: str | None = None
    input: dict[str, Any]


Prompt = Annotated[str, Field(min_length=1, max_length=1000)]


class TextInput(StrictModel):
    prompt: Prompt
    sound: bool
    aspect_ratio: Literal["1:1", "16:9", "9:16"]
    duration: Literal["5", "10"]


class ImageInput(StrictModel):
    prompt: Prompt
    image_urls: Annotated[list[str], Field(min_length=1, max_length=1)]
    sound: bool
    duration: Literal["5", "10"]


class Shot(StrictModel):
    prompt: Annotated[str, Field(min_length=1, max_length=512)]
    duration: Annotated[int, Field(ge=1, le=15)]


class V3Input(StrictModel):
    prompt: Annotated[str, Field(min_length=1, max_length=2500)]
    image_urls: Annotated[list[str], Field(max_length=2)] | None = None
    sound: bool | None = None
    aspect_ratio: Literal["1:1", "16:9", "9:16"] | None = None
    duration: Literal["3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"] | None = None
    mode: Literal["std", "pro"] | None = None
    multi_shots: bool | None = None
    multi_prompt: Annotated[list[Shot], Field(min_length=1, max_length=6)] | None = None


def _v3_problem(inp: V3Input) -> str | None:
    images = inp.image_urls or []
    if any(not is_http_url(url) for url in images):
        return "input.image_urls must contain http(s) URLs"
    if inp.multi_shots:
        if not inp.multi_prompt:
            return "input.multi_prompt is required when multi_shots is true"
        if sum(shot.duration for shot in inp.multi_prompt) != int(inp.duration or "5"):
            return "input.multi_prompt durations must sum to input.duration"
        if len(images) > 1:
            return "multi-shot takes a first frame only (one image_urls item)"
    elif inp.multi_prompt is not None:
        return "input.multi_prompt needs multi_shots: true"
    return None


def _http200(call: Call, response: Response) -> Response:
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if call.emu.config.kie_errors_http_200 and is_json and response.status_code != 200:
        response.status_code = 200
    return response


class KieCall(Call):
    """kie.ai may answer errors with HTTP 200 (``kie_errors_http_200``)."""

    def reject(self, response: Response) -> Response:
        return super().reject(_http200(self, response))

    def finish(self, response: Response) -> Response:
        return _http200(self, super().finish(response))


def record(call: Call, job: Job) -> dict[str, Any]:
    phase = job.phase()
    if phase == "queued":
        state = "waiting" if job.elapsed() < job.latency * job.queued_fraction / 2 else "queuing"
    else:
        state = {"running": "generating", "succeeded": "success", "failed": "fail"}[phase]
    terminal = phase in ("succeeded", "failed")
    fail_code, fail_msg = FAILURES[job.outcome] if phase == "failed" and job.outcome else ("", "")
    return {
        "taskId": job.task_id,
        "model": job.family,
        "state": state,
        "param": json.dumps(job.request, ensure_ascii=False),
        "resultJson": json.dumps({"resultUrls": [call.emu.video_url(call.request, job)]})
        if phase == "succeeded"
        else "",
        "failCode": fail_code,
        "failMsg": fail_msg,
        "costTime": ms(job.finished_at) - ms(job.created) if terminal else None,
        "completeTime": ms(job.finished_at) if terminal else None,
        "createTime": ms(job.created),
        "updateTime": ms(job.updated_at()),
    }


def _input(req: Submit) -> TextInput | ImageInput | V3Input:
    """``input`` parsed by the model's own schema (raises ``ValidationError``)."""
    if req.model.startswith("kling-3.0"):
        return V3Input.model_validate(req.input)
    return (TextInput if req.model == T2V else ImageInput).model_validate(req.input)


def _rules(call: Call, req: Submit) -> str | None:
    try:
        inp = _input(req)
    except ValidationError as exc:
        return describe_validation_error(exc)
    if "callBackUrl" in req.model_fields_set and req.callBackUrl is None:
        return "callBackUrl: must be a string (leave it out rather than send null)"
    if req.callBackUrl is not None and not is_http_url(req.callBackUrl):
        return "callBackUrl must be an http(s) URL"
    if isinstance(inp, ImageInput) and not is_http_url(inp.image_urls[0]):
        return "input.image_urls must contain an http(s) URL"
    if isinstance(inp, V3Input):
        return _v3_problem(inp)
    return None


SUBMIT = SubmitSpec(Submit, prompt=lambda req: _input(req).prompt, prefix="Validation error: ", rules=_rules)


@router.post("/api/v1/jobs/createTask")
async def create_task(request: Request) -> Response:
    sub = await submission(request, DIALECT, SUBMIT, call_class=KieCall)
    if isinstance(sub, Response):
        return sub
    req = sub.req
    inp = _input(req)
    v3 = isinstance(inp, V3Input)
    shots: tuple[tuple[str, float], ...] = ()
    if isinstance(inp, V3Input) and inp.multi_shots:
        shots = tuple((s.prompt, float(s.duration)) for s in inp.multi_prompt or [])
    prefix = "kling-3.0" if v3 else "kling-2.6"
    job = sub.new_job(
        ids=lambda: f"task_{prefix}_{now_ms()}{secrets.token_hex(2)}",
        prompt=inp.prompt,
        duration=int(inp.duration or "5"),
        aspect=None if isinstance(inp, ImageInput) else inp.aspect_ratio,
        sound=bool(inp.sound),
        family=req.model,
        model=req.model,
        shots=shots,
        extra={"callback_url": req.callBackUrl},
    )
    return sub.accepted(job, {"code": 200, "msg": "success", "data": {"taskId": job.task_id}})


@router.get("/api/v1/jobs/recordInfo")
async def record_info(request: Request) -> Response:
    task_id = request.query_params.get("taskId")
    found = await lookup(request, DIALECT, task_id, required="taskId is required", call_class=KieCall)
    if isinstance(found, Response):
        return found
    return json_response({"code": 200, "message": "success", "data": record(*found)})
