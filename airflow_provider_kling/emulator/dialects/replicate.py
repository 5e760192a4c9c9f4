"""Replicate's predictions API for the official Kling models, server side.

Wire format, from https://replicate.com/docs/topics/predictions (lifecycle, cancel, data retention),
https://replicate.com/docs/reference/http (create a prediction of an official model, get, cancel),
https://replicate.com/docs/topics/predictions/rate-limits and the model pages
https://replicate.com/kwaivgi/kling-v2.6/api and https://replicate.com/kwaivgi/kling-v3-video/api:

* ``POST /v1/models/kwaivgi/<model>/predictions`` with ``{"input": {...}, "webhook"?,
  "webhook_events_filter"?}`` -> 201 and the prediction (``status: "starting"``).
* ``GET /v1/predictions/<id>`` -> the prediction: ``status`` ``starting`` / ``processing`` /
  ``succeeded`` / ``failed`` / ``canceled``; ``output`` the video URL (a string) on success;
  ``error`` a string on failure; ``urls.get`` / ``urls.cancel``; ``created_at``, ``started_at``,
  ``completed_at``; ``data_removed``.
* ``POST /v1/predictions/<id>/cancel`` -> the prediction, ``canceled`` if it had not ended (a
  running prediction is stopped; nothing is billed for an official model that produced no output),
  unchanged if it had.
* ``GET /v1/account``: the token's account (free; the connection test).
* ``Authorization: Bearer <token>``; errors are problem JSON ``{"title", "detail", "status"}``
  (422 adds ``invalid_fields``); 404 ``{"detail": "Not found."}``.
* Limits: 600 prediction creations per minute (a 10-per-second bucket here), 429 with
  ``Retry-After``; predictions are not refused for concurrency.
* Retention: inputs and outputs are deleted an hour after the prediction ends: ``output`` becomes
  ``null``, ``data_removed`` ``true`` and the file is gone (the emulator's video route answers 404).

Kling 2.5 Turbo Pro (``kling-v2.5-turbo-pro``) and Kling 2.1 (``kling-v2.1``), as their schemas are
mirrored at https://api.core.today/v1/models/kwaivgi/kling-v2.5-turbo-pro/llms.txt and
.../kling-v2.1/llms.txt: neither has ``generate_audio`` (silent); 2.5 Turbo Pro takes a first frame
only; 2.1 requires ``start_image``, has ``mode`` and takes ``end_image`` in pro mode only, and no
``aspect_ratio``.

Strict: ``input`` fields the model page does not list are refused, and types are not coerced
(``duration`` is an integer, ``generate_audio`` a boolean).
"""

from __future__ import annotations

import secrets
import string
import time
from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ..state import Job
from .base import Call, Dialect, StrictModel, SubmitSpec, json_response, lookup, submission
from .values import describe_validation_error, is_http_url, phase_words

#: how long outputs are kept after a prediction ends (seconds)
RETENTION_SECONDS = 3600.0
#: 600 creations per minute
CREATE_RATE = 10.0

Prompt = Annotated[str, Field(min_length=1, max_length=2500)]
Ratio = Literal["16:9", "9:16", "1:1"]


class Input25Turbo(StrictModel):
    prompt: Prompt
    negative_prompt: str | None = None
    start_image: str | None = None
    aspect_ratio: Ratio = "16:9"
    duration: Literal[5, 10] = 5


class Input26(Input25Turbo):
    generate_audio: bool = True


class Input30(StrictModel):
    prompt: Prompt
    negative_prompt: str | None = None
    start_image: str | None = None
    end_image: str | None = None
    mode: Literal["standard", "pro"] = "standard"
    aspect_ratio: Ratio = "16:9"
    duration: Annotated[int, Field(ge=3, le=15)] = 5
    generate_audio: bool = True
    multi_prompt: str | None = None


class Input21(StrictModel):
    prompt: Prompt
    negative_prompt: str | None = None
    start_image: str
    end_image: str | None = None
    mode: Literal["standard", "pro"] = "standard"
    duration: Literal[5, 10] = 5


#: model name -> (input schema, normalized model)
MODELS: dict[str, tuple[type[StrictModel], str]] = {
    "kling-v2.6": (Input26, "kling-2.6"),
    "kling-v3-video": (Input30, "kling-3.0"),
    "kling-v2.5-turbo-pro": (Input25Turbo, "kling-2.5-turbo"),
    "kling-v2.1": (Input21, "kling-2.1"),
}
STATUS = phase_words("starting", "processing", "succeeded", "failed", "canceled")
FAILURES = {
    "fail": "Prediction failed: the video generation service returned an error",
    "policy-task": "The input or output was flagged as sensitive (E005)",
}


class Create(StrictModel):
    input: dict[str, Any]
    webhook: str | None = None
    webhook_events_filter: list[Literal["start", "output", "logs", "completed"]] | None = None


class ReplicateDialect(Dialect):
    name = "replicate"

    statuses = {("validation", "policy"): 422, ("conflict", "duplicate"): 409}
    #: the problem's ``title``
    codes = {
        ("auth_missing", "auth_invalid"): "Unauthenticated",
        "bad_json": "Bad request",
        ("validation", "policy"): "Input validation failed",
        ("conflict", "duplicate"): "Conflict",
        "credits": "Insufficient credit",
        "not_found": "Not found",
        "rate_limited": "Request was throttled",
    }
    server_codes = {0: "Internal server error"}

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        http, title = self.status_and_code(kind, status)
        body: dict[str, Any] = {"title": title, "detail": message, "status": http}
        if kind == "validation":
            body["invalid_fields"] = [{"type": "invalid", "field": code or "input", "description": message}]
        return json_response(body, http)


DIALECT = ReplicateDialect()
router = APIRouter()


def _iso(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, tz=timezone.utc).isoformat().replace("+00:00", "Z")


def _model_of(call: Call) -> str:
    return str(call.request.path_params.get("model", ""))


def _before(call: Call) -> Response | None:
    if _model_of(call) not in MODELS:
        return call.error("not_found", f"Model kwaivgi/{_model_of(call)} not found")
    refusal = call.emu.limits.throttle(("replicate-create", call.account), CREATE_RATE)
    if refusal is not None:
        return call.reject(
            DIALECT.too_many(
                f"Request was throttled. Expected available in {refusal.retry_after} second.",
                refusal.retry_after,
            )
        )
    return None


def _input(call: Call, req: Create) -> StrictModel:
    schema, _ = MODELS[_model_of(call)]
    return schema.model_validate(req.input)


def _rules(call: Call, req: Create) -> str | None:
    try:
        inp = _input(call, req)
    except ValidationError as exc:
        return "input." + describe_validation_error(exc)
    for name in ("start_image", "end_image"):
        value = getattr(inp, name, None)
        if value is not None and not (is_http_url(value) or value.startswith("data:")):
            return f"input.{name}: must be a URL or a data URI"
    if getattr(inp, "end_image", None) is not None and getattr(inp, "start_image", None) is None:
        return "input.end_image: requires start_image"
    if isinstance(inp, Input21) and inp.end_image is not None and inp.mode != "pro":
        return "input.end_image: only in pro mode"
    if req.webhook is not None and not is_http_url(req.webhook):
        return "webhook: must be an http(s) URL"
    return None


SUBMIT = SubmitSpec(
    Create,
    prompt=lambda req: str(req.input.get("prompt", "")),
    rules=_rules,
    before=_before,
)


def prediction(call: Call, job: Job) -> dict[str, Any]:
    phase = job.phase()
    ended = phase in ("succeeded", "failed", "cancelled")
    removed = ended and time.time() - job.finished_at >= RETENTION_SECONDS
    base = f"{call.emu.base_url(call.request)}/v1/predictions/{job.task_id}"
    return {
        "id": job.task_id,
        "model": f"kwaivgi/{job.family}",
        "version": "hidden",
        "input": {} if removed else job.request.get("input", {}),
        "logs": "",
        "output": call.emu.video_url(call.request, job) if phase == "succeeded" and not removed else None,
        "data_removed": removed,
        "error": FAILURES.get(job.outcome or "", "Prediction failed") if phase == "failed" else None,
        "status": STATUS[phase],
        "source": "api",
        "created_at": _iso(job.created),
        "started_at": _iso(job.started_at) if phase != "queued" else None,
        "completed_at": _iso(job.finished_at) if ended else None,
        "urls": {"get": base, "cancel": f"{base}/cancel", "web": f"https://replicate.com/p/{job.task_id}"},
        "metrics": {"predict_time": round(job.latency, 3)} if ended else {},
    }


def _prediction_id() -> str:
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(26))


@router.post("/v1/models/kwaivgi/{model}/predictions")
async def create(request: Request, model: str) -> Response:
    sub = await submission(request, DIALECT, SUBMIT)
    if isinstance(sub, Response):
        return sub
    call, req = sub.call, sub.req
    inp = _input(call, req)
    job = sub.new_job(
        ids=_prediction_id,
        prompt=str(getattr(inp, "prompt", "")),
        duration=int(getattr(inp, "duration", 5)),
        aspect=None if getattr(inp, "start_image", None) else getattr(inp, "aspect_ratio", None),
        sound=bool(getattr(inp, "generate_audio", False)),  # a model without the field is silent
        model=f"kwaivgi/{model}",
        family=model,
        extra={"model": MODELS[model][1], "webhook": req.webhook, "retention": RETENTION_SECONDS},
    )
    return sub.accepted(job, prediction(call, job), 201)


@router.get("/v1/predictions/{prediction_id}")
async def get(request: Request, prediction_id: str) -> Response:
    found = await lookup(request, DIALECT, prediction_id, missing="Not found.")
    if isinstance(found, Response):
        return found
    return json_response(prediction(*found))


@router.post("/v1/predictions/{prediction_id}/cancel")
async def cancel(request: Request, prediction_id: str) -> Response:
    found = await lookup(request, DIALECT, prediction_id, missing="Not found.")
    if isinstance(found, Response):
        return found
    call, job = found
    if job.cancel(stop=True) in ("removed", "cancelled"):
        call.emu.limits.end(job)
    return json_response(prediction(call, job))


@router.get("/v1/account")
async def account(request: Request) -> Response:
    """The account of the token: free, what the provider's connection test asks."""
    call = await Call.enter(request, DIALECT, "other", fault=True)
    if isinstance(call, Response):
        return call
    return json_response({"type": "user", "username": "emulator", "name": "Emulator", "github_url": None})
