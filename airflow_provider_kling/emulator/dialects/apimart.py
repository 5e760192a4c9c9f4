"""APIMart (also sold under white-label hosts): ``POST /v1/videos/generations``, ``GET /v1/tasks/{id}``.

Wire format: https://docs.apimart.ai/en/api-reference/videos/kling-v2-6/generation and
https://docs.apimart.ai/en/api-reference/tasks/status. Submit answers ``{"code": 200, "data": [{"status":
"submitted", "task_id": "task_01..."}]}`` (``data`` is an array); status answers ``{"code": 200, "data":
{"id", "status", "progress", "created", "estimated_time", ...}}`` with ``status``
``pending|processing|completed|failed``, ``result.videos[].url`` an **array** of strings (+
``expires_at``, 24 h after completion), ``completed``/``actual_time`` once terminal and ``error: {"code",
"message"}`` on failure (``generation_failed`` / ``content_policy_violation``).

APIMart's error format is not documented; the emulator uses its OpenAI-style shape
``{"code": <HTTP status>, "error": {"message": str, "type": str}}`` with the same HTTP status and these
types: 400 ``invalid_request_error`` (validation, body not JSON), 400 ``content_policy_violation``
(``policy`` fault), 401 ``authentication_error``, 402 ``insufficient_quota``, 404 ``not_found_error``,
429 ``rate_limit_error``, 5xx ``server_error`` (500) / ``upstream_error`` (502, 503, 504).

Rules: ``model`` ``kling-v2-6``; ``prompt`` 1..2500; ``duration`` integer 5|10; ``mode`` std|pro;
``image_urls`` absent (text-to-video) or 1..2 http(s) URLs (image-to-video; 2 need pro; ``[]`` is
refused: the page marks it "Not used" for text-to-video and "Required (1-2 images)" otherwise);
``audio`` needs pro and excludes a last frame.

Kling 3.0 (https://docs.apimart.ai/en/api-reference/videos/kling-v3/generation): ``model``
``kling-v3``, ``prompt`` 1..3072, ``duration`` integer 3..15, ``mode`` std|pro|4k, audio in every
mode, ``multi_shot`` + ``shot_type`` (customize|intelligence) + ``multi_prompt: [{index, prompt
(<= 512), duration}]`` (1-6 shots summing to the duration, no last frame; the clip is cut into them).
Kling 3.0 Turbo (``.../kling-3.0-turbo/generation``): ``model`` ``kling-3.0-turbo``, ``resolution``
720p|1080p, ``first_frame_image`` for image-to-video, no ``mode``, ``audio``, ``image_urls`` or
multi-shot fields.

Account limits (see ``limits``): 429 ``rate_limit_error`` with ``Retry-After``.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from ..state import Job
from .base import Call, Dialect, StrictModel, SubmitSpec, json_response, lookup, submission
from .values import is_http_url, phase_words

STATUS = phase_words("pending", "processing", "completed", "failed")
FAILURES = {
    "fail": ("generation_failed", "Video generation failed upstream, please retry"),
    "policy-task": ("content_policy_violation", "The generated content violated the content policy"),
}
URL_LIFETIME = 24 * 3600
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class ApimartDialect(Dialect):
    name = "apimart"

    codes = {
        ("auth_missing", "auth_invalid"): "authentication_error",
        ("bad_json", "validation", "conflict", "duplicate"): "invalid_request_error",
        "policy": "content_policy_violation",
        "credits": "insufficient_quota",
        "not_found": "not_found_error",
        "rate_limited": "rate_limit_error",
    }
    server_codes = {500: "server_error", 0: "upstream_error"}

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        http, err_type = self.status_and_code(kind, status)
        return json_response({"code": code or http, "error": {"message": message, "type": err_type}}, http)


DIALECT = ApimartDialect()
router = APIRouter()


class Shot(StrictModel):
    index: Annotated[int, Field(ge=1, le=6)]
    prompt: Annotated[str, Field(min_length=1, max_length=512)]
    duration: Annotated[int, Field(ge=1, le=15)]


class Generation(StrictModel):
    model: Literal["kling-v2-6", "kling-v3", "kling-3.0-turbo"]
    prompt: Annotated[str, Field(min_length=1, max_length=3072)]
    mode: Literal["std", "pro", "4k"] | None = None
    resolution: Literal["720p", "1080p"] | None = None
    duration: int | None = None
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None
    negative_prompt: Annotated[str, Field(max_length=2500)] | None = None
    image_urls: Annotated[list[str], Field(min_length=1, max_length=2)] | None = None
    first_frame_image: Annotated[str, Field(min_length=1)] | None = None
    audio: bool | None = None
    multi_shot: bool | None = None
    shot_type: Literal["customize", "intelligence"] | None = None
    multi_prompt: Annotated[list[Shot], Field(min_length=1, max_length=6)] | None = None
    watermark: bool | None = None


#: the fields each model's page lists (besides model and prompt)
FIELDS = {
    "kling-v2-6": {"mode", "duration", "aspect_ratio", "negative_prompt", "image_urls", "audio", "watermark"},
    "kling-v3": {
        "mode", "duration", "aspect_ratio", "negative_prompt", "image_urls", "audio", "watermark",
        "multi_shot", "shot_type", "multi_prompt",
    },
    "kling-3.0-turbo": {"resolution", "duration", "aspect_ratio", "first_frame_image", "watermark"},
}  # fmt: skip


def _v3_rules(req: Generation) -> str | None:
    if req.duration is not None and not 3 <= req.duration <= 15:
        return "duration must be an integer from 3 to 15"
    if req.model == "kling-v3" and req.multi_shot:
        if req.shot_type == "customize" and not req.multi_prompt:
            return "multi_prompt is required when multi_shot is true and shot_type is customize"
        if req.multi_prompt and sum(s.duration for s in req.multi_prompt) != (req.duration or 5):
            return "the multi_prompt durations must sum to duration"
        if len(req.image_urls or []) == 2:
            return "a last frame cannot be used with multi_shot"
    elif req.multi_prompt is not None or req.shot_type is not None:
        return "multi_prompt and shot_type need multi_shot: true"
    if req.model == "kling-3.0-turbo" and req.first_frame_image is not None and req.aspect_ratio is not None:
        return "aspect_ratio has no effect with first_frame_image; leave it out"
    return None


def _rules(call: Call, req: Generation) -> str | None:
    sent = {name for name in req.model_fields_set if name not in ("model", "prompt")}
    if unknown := sorted(sent - FIELDS[req.model]):
        return f"{', '.join(unknown)}: not a parameter of {req.model}"
    images = [*(req.image_urls or []), *([req.first_frame_image] if req.first_frame_image else [])]
    for url in images:
        if not is_http_url(url):
            return "image_urls must contain http(s) URLs"
    if req.model != "kling-v2-6":
        return _v3_rules(req)
    if len(req.prompt) > 2500:
        return "prompt: at most 2500 characters for kling-v2-6"
    if req.duration is not None and req.duration not in (5, 10):
        return "duration must be 5 or 10"
    if req.mode == "4k":
        return "mode must be std or pro for kling-v2-6"
    pro = (req.mode or "std") == "pro"
    if len(images) == 2 and not pro:
        return "a last frame (2 image_urls) requires mode 'pro'"
    if req.audio and not pro:
        return "audio requires mode 'pro'"
    if req.audio and len(images) == 2:
        return "in pro mode, last frame and audio cannot be used together"
    return None


SUBMIT = SubmitSpec(Generation, prompt=lambda req: req.prompt, rules=_rules)


def _task_id() -> str:
    # ULID-like: "task_01" + 24 Crockford base32 characters (time-ordered, then random).
    stamp = int(time.time() * 1000)
    head = "".join(_CROCKFORD[(stamp >> (5 * i)) & 31] for i in reversed(range(10)))
    tail = "".join(secrets.choice(_CROCKFORD) for _ in range(14))
    return f"task_01{head}{tail}"


def task_data(call: Call, job: Job) -> dict[str, Any]:
    phase = job.phase()
    data: dict[str, Any] = {
        "id": job.task_id,
        "status": STATUS[phase],
        "progress": 100
        if phase in ("succeeded", "failed")
        else int(job.progress() * 100)
        if phase == "running"
        else 0,
        "created": int(job.created),
        "estimated_time": max(1, math.ceil(job.latency)),
    }
    if phase in ("succeeded", "failed"):
        data["completed"] = int(job.finished_at)
        data["actual_time"] = max(0, round(job.latency))
    if phase == "succeeded":
        data["result"] = {
            "videos": [
                {
                    "url": [call.emu.video_url(call.request, job)],
                    "expires_at": int(job.finished_at) + URL_LIFETIME,
                }
            ]
        }
    elif phase == "failed" and job.outcome:
        code, message = FAILURES[job.outcome]
        data["error"] = {"code": code, "message": message}
    return data


@router.post("/v1/videos/generations")
async def create(request: Request) -> Response:
    sub = await submission(request, DIALECT, SUBMIT)
    if isinstance(sub, Response):
        return sub
    req = sub.req
    shots = tuple((s.prompt, float(s.duration)) for s in req.multi_prompt or []) if req.multi_shot else ()
    job = sub.new_job(
        ids=_task_id,
        prompt=req.prompt,
        duration=req.duration or 5,
        aspect=req.aspect_ratio or "16:9",
        sound=bool(req.audio),
        family="image-to-video" if req.image_urls or req.first_frame_image else "text-to-video",
        model=req.model,
        shots=shots,
        extra={"mode": req.mode or req.resolution or "std", "watermark": bool(req.watermark)},
    )
    return sub.accepted(job, {"code": 200, "data": [{"status": "submitted", "task_id": job.task_id}]})


@router.get("/v1/tasks/{task_id}")
async def get_task(request: Request, task_id: str) -> Response:
    found = await lookup(request, DIALECT, task_id, missing=f"task {task_id} not found")
    if isinstance(found, Response):
        return found
    return json_response({"code": 200, "data": task_data(*found)})
