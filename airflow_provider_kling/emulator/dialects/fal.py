"""fal's queue (``queue.fal.run``) for the Kling models it hosts, server side.

Wire format, from fal's docs (https://fal.ai/docs "Queue", "Cancel a request", "Webhooks", "FAQ")
and the model pages (https://fal.ai/models/fal-ai/kling-video/v2.6/pro/text-to-video,
``.../v3/pro/text-to-video``, https://fal.ai/models/kling/v4/text-to-video, their ``/llms.txt``):

* ``POST /<model id>/<subpath>`` with the model's input as the JSON body (no envelope), optional
  ``?fal_webhook=<url>`` (callbacks are not delivered). Answers ``{"request_id", "response_url",
  "status_url", "cancel_url"}``; the three URLs name the *app* (``fal-ai/kling-video``,
  ``kling/v4``), never the subpath.
* ``GET /<app>/requests/<id>/status`` -> ``{"status": "IN_QUEUE", "queue_position": N, ...}`` /
  ``IN_PROGRESS`` / ``COMPLETED`` (a failed run is ``COMPLETED`` with ``error`` and ``error_type``).
* ``GET /<app>/requests/<id>`` -> the model's output, ``{"video": {"url", "content_type",
  "file_name", "file_size"}}``; before completion 400 ``{"detail": "Request is still in progress"}``;
  a failed run answers 422 with its ``detail``.
* ``PUT /<app>/requests/<id>/cancel``: a queued request is removed (202 ``{"status":
  "CANCELLATION_REQUESTED"}``), an in-progress one only gets a signal (202, the same answer; the
  Kling app runs on and is billed), a finished one 400 ``{"status": "ALREADY_COMPLETED"}``, an
  unknown one 404 ``{"status": "NOT_FOUND"}``. fal documents no status word for a removed request;
  the emulator answers ``CANCELED`` (the provider reads any cancel word as cancelled).
* Auth: ``Authorization: Key <key>`` (401 ``{"detail": ...}`` without it).
* Over the account's limit on requests in progress, requests are **queued, never refused**: the
  job stays ``IN_QUEUE`` with a ``queue_position`` until a slot frees (``limits.Limits.enqueue``).
* Errors: 401/403 ``{"detail": str}``, 422 ``{"detail": [{"loc", "msg", "type"}]}`` (validation, as
  FastAPI spells it), 404, 5xx (never charged).

Kling 2.5 Turbo Pro (https://fal.ai/models/fal-ai/kling-video/v2.5-turbo/pro/image-to-video/llms.txt):
``duration`` ``"5"|"10"``, ``negative_prompt``, ``cfg_scale``, no ``generate_audio`` (silent); text
takes ``aspect_ratio``, image ``image_url`` (required) and ``tail_image_url``.

Strict: a field a model page does not list is refused (422), and JSON types are not coerced
(``duration`` is a *string* on 2.6 and 3.0, an *integer* on 4.0).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from ..state import Job
from .base import Call, Dialect, KeyWording, StrictModel, SubmitSpec, json_response, lookup, submission
from .values import is_http_url, phase_words

Prompt = Annotated[str, Field(min_length=1, max_length=2500)]
Cfg = Annotated[float, Field(ge=0, le=1)]
Ratio = Literal["16:9", "9:16", "1:1"]
Duration26 = Literal["5", "10"]
Duration30 = Literal["3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15"]


class SilentText(StrictModel):
    """Text-to-video without an audio field (2.5 Turbo Pro); 2.6 and 3.0 add ``generate_audio``."""

    prompt: Prompt
    duration: str = "5"
    aspect_ratio: Ratio = "16:9"
    negative_prompt: str | None = None
    cfg_scale: Cfg | None = None


class TextToVideo(SilentText):
    """Text-to-video on 2.6 and 3.0: the versions differ only in their durations."""

    generate_audio: bool = True


class T2V26(TextToVideo):
    duration: Duration26 = "5"


class StartFrame(StrictModel):
    prompt: Prompt
    start_image_url: str


class EndFrame(StartFrame):
    end_image_url: str | None = None


class ImageSettings26(StrictModel):
    """Image-to-video on 2.6 after the frames (no ``cfg_scale``: the page lists it for text only).
    A version lists it before its frames class: pydantic orders the fields of the last base first, so
    the frames come first on the wire's error list, as in the documented field order."""

    duration: str = "5"
    negative_prompt: str | None = None
    generate_audio: bool = True


class ImageSettings(ImageSettings26):
    """Image-to-video on 3.0 after the frames: 2.6's fields and ``cfg_scale``."""

    cfg_scale: Cfg | None = None


class I2V26(ImageSettings26, StartFrame):
    duration: Duration26 = "5"


class T2V30(TextToVideo):
    duration: Duration30 = "5"


class I2V30(ImageSettings, EndFrame):
    duration: Duration30 = "5"


class T2V40(StrictModel):
    prompt: Annotated[str, Field(min_length=1, max_length=26000)]
    duration: Annotated[int, Field(ge=3, le=30)] = 5
    resolution: Literal["720p", "1080p"] = "1080p"
    aspect_ratio: Literal["auto", "16:9", "9:16", "1:1", "21:9"] = "16:9"


class I2V40(StrictModel):
    prompt: Annotated[str, Field(min_length=1, max_length=26000)]
    start_image_url: str
    end_image_url: str | None = None
    duration: Annotated[int, Field(ge=3, le=30)] = 5
    resolution: Literal["720p", "1080p"] = "1080p"


class T2V25(SilentText):
    """Kling 2.5 Turbo Pro, text: no audio field."""

    duration: Duration26 = "5"


class I2V25(StrictModel):
    """Kling 2.5 Turbo Pro, image: its frames are ``image_url`` and ``tail_image_url``."""

    prompt: Prompt
    image_url: str
    duration: Duration26 = "5"
    negative_prompt: str | None = None
    cfg_scale: Cfg | None = None
    tail_image_url: str | None = None


#: submit path -> (app id of the status/result/cancel URLs, input schema, normalized model)
ENDPOINTS: dict[str, tuple[str, type[StrictModel], str]] = {
    "fal-ai/kling-video/v2.6/pro/text-to-video": ("fal-ai/kling-video", T2V26, "kling-2.6"),
    "fal-ai/kling-video/v2.6/pro/image-to-video": ("fal-ai/kling-video", I2V26, "kling-2.6"),
    "fal-ai/kling-video/v3/standard/text-to-video": ("fal-ai/kling-video", T2V30, "kling-3.0"),
    "fal-ai/kling-video/v3/pro/text-to-video": ("fal-ai/kling-video", T2V30, "kling-3.0"),
    "fal-ai/kling-video/v3/standard/image-to-video": ("fal-ai/kling-video", I2V30, "kling-3.0"),
    "fal-ai/kling-video/v3/pro/image-to-video": ("fal-ai/kling-video", I2V30, "kling-3.0"),
    "fal-ai/kling-video/v2.5-turbo/pro/text-to-video": ("fal-ai/kling-video", T2V25, "kling-2.5-turbo"),
    "fal-ai/kling-video/v2.5-turbo/pro/image-to-video": ("fal-ai/kling-video", I2V25, "kling-2.5-turbo"),
    "kling/v4/text-to-video": ("kling/v4", T2V40, "kling-4.0"),
    "kling/v4/image-to-video": ("kling/v4", I2V40, "kling-4.0"),
}
APPS = frozenset(app for app, _, _ in ENDPOINTS.values())
STATUS = phase_words("IN_QUEUE", "IN_PROGRESS", "COMPLETED", "COMPLETED", "CANCELED")
FAILURES = {
    "fail": ("generation_failed", "Video generation failed, please try again"),
    "policy-task": ("content_policy_violation", "The content was flagged by the safety checker"),
}

KEY_WORDING = KeyWording(
    missing="No authentication credentials: send 'Authorization: Key <key>'",
    scheme="Invalid Authorization header: expected 'Key <key>'",
    key="Invalid API key",
)


class FalDialect(Dialect):
    name = "fal"
    queues_over_limit = True

    def authenticate(self, call: Call) -> Response | None:
        """``Authorization: Key <key>`` (fal's scheme, not Bearer)."""
        return call.api_key("Key", KEY_WORDING)

    statuses = {("bad_json", "validation", "policy", "conflict", "duplicate"): 422, "credits": 403}

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        http, _ = self.status_and_code(kind, status)
        detail: Any = message
        if kind in ("validation", "bad_json", "policy"):
            detail = [{"loc": ["body"], "msg": message, "type": code or "value_error"}]
        if kind == "credits":
            detail = f"User is locked. Reason: {message}"
        return json_response({"detail": detail}, http)


DIALECT = FalDialect()
router = APIRouter()


def _urls(call: Call, app: str, request_id: str) -> dict[str, str]:
    base = f"{call.emu.base_url(call.request)}/{app}/requests/{request_id}"
    return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}


def _rules(endpoint: str) -> SubmitSpec[StrictModel]:
    _, schema, _ = ENDPOINTS[endpoint]

    def rules(call: Call, req: StrictModel) -> str | None:
        for name in ("start_image_url", "end_image_url", "image_url", "tail_image_url"):
            value = getattr(req, name, None)
            if value is not None and not (is_http_url(value) or value.startswith("data:")):
                return f"{name}: must be a URL or a data URI"
        webhook = call.request.query_params.get("fal_webhook")
        if webhook is not None and not is_http_url(webhook):
            return "fal_webhook: must be an http(s) URL"
        unknown = sorted(set(call.request.query_params) - {"fal_webhook"})
        if unknown:
            return f"{unknown[0]}: unknown query parameter"
        return None

    return SubmitSpec(schema, prompt=lambda req: str(getattr(req, "prompt", "")), rules=rules)


SPECS = {endpoint: _rules(endpoint) for endpoint in ENDPOINTS}


def _queue_position(call: Call, job: Job) -> int:
    """How many of the key's fal requests of the same app wait for a slot ahead of this one."""
    ahead = [
        j
        for j in call.emu.store.jobs(DIALECT.name, job.account)
        if j.queue_delay > 0
        and j.phase() == "queued"
        and j.created_mono < job.created_mono
        and j.extra.get("app") == job.extra["app"]
    ]
    return len(ahead)


def status_body(call: Call, job: Job) -> dict[str, Any]:
    phase = job.phase()
    body: dict[str, Any] = {"status": STATUS[phase], "request_id": job.task_id}
    if phase == "queued":
        body["queue_position"] = _queue_position(call, job)
    body.update(_urls(call, job.extra["app"], job.task_id))
    if phase == "failed" and job.outcome:
        error_type, message = FAILURES[job.outcome]
        body["error"] = message
        body["error_type"] = error_type
    if phase in ("running", "succeeded", "failed"):
        body["logs"] = None
    if phase in ("succeeded", "failed"):
        body["metrics"] = {"inference_time": round(job.latency, 3)}
    return body


async def submit(request: Request) -> Response:
    endpoint = request.url.path.lstrip("/")
    if endpoint not in ENDPOINTS:
        call = await Call.enter(request, DIALECT, "other")
        return (
            call if isinstance(call, Response) else call.error("not_found", f"Path '/{endpoint}' not found")
        )
    sub = await submission(request, DIALECT, SPECS[endpoint])
    if isinstance(sub, Response):
        return sub
    call, req = sub.call, sub.req
    app, _, model = ENDPOINTS[endpoint]
    ratio = getattr(req, "aspect_ratio", None)
    job = sub.new_job(
        ids=lambda: str(uuid.uuid4()),
        prompt=str(getattr(req, "prompt", "")),
        duration=int(getattr(req, "duration", 5)),
        aspect=None if ratio == "auto" else ratio,
        sound=bool(getattr(req, "generate_audio", model == "kling-4.0")),  # 4.0: audio always on
        model=endpoint.rsplit("/", 1)[0],  # the model id, without its text/image-to-video subpath
        family=endpoint,
        extra={"app": app, "model": model, "webhook": request.query_params.get("fal_webhook")},
    )
    return sub.accepted(job, {"request_id": job.job_id, **_urls(call, app, job.job_id)})


async def _find(request: Request, request_id: str) -> tuple[Call, Job] | Response:
    app = request.url.path.lstrip("/").partition("/requests/")[0]
    found = await lookup(request, DIALECT, request_id, missing=f"Request '{request_id}' not found")
    if isinstance(found, Response):
        return found
    call, job = found
    if job.extra.get("app") != app:
        return call.error("not_found", f"Request '{request_id}' not found")
    return call, job


async def status(request: Request, request_id: str) -> Response:
    found = await _find(request, request_id)
    if isinstance(found, Response):
        return found
    return json_response(status_body(*found))


async def result(request: Request, request_id: str) -> Response:
    found = await _find(request, request_id)
    if isinstance(found, Response):
        return found
    call, job = found
    phase = job.phase()
    if phase in ("queued", "running"):
        return json_response({"detail": "Request is still in progress"}, 400)
    if phase == "cancelled":
        return json_response({"detail": "Request was cancelled"}, 400)
    if phase == "failed" and job.outcome:
        error_type, message = FAILURES[job.outcome]
        return json_response({"detail": [{"loc": ["body"], "msg": message, "type": error_type}]}, 422)
    video = {
        "url": call.emu.video_url(call.request, job),
        "content_type": "video/mp4",
        "file_name": f"{job.job_id}.mp4",
    }
    return json_response({"video": video})


async def cancel(request: Request, request_id: str) -> Response:
    found = await _find(request, request_id)
    if isinstance(found, Response):
        if found.status_code == 404:
            return json_response({"status": "NOT_FOUND"}, 404)
        return found
    call, job = found
    # queued: fal removes the request; in progress: a signal the Kling app does not act on
    effect = job.cancel(stop=job.phase() == "queued")
    if effect == "removed":
        call.emu.limits.end(job)
    if effect == "too_late":
        return json_response({"status": "ALREADY_COMPLETED"}, 400)
    return json_response({"status": "CANCELLATION_REQUESTED"}, 202)


for _app in sorted(APPS):
    router.add_api_route(f"/{_app}/requests/{{request_id}}/status", status, methods=["GET"])
    router.add_api_route(f"/{_app}/requests/{{request_id}}/cancel", cancel, methods=["PUT"])
    router.add_api_route(f"/{_app}/requests/{{request_id}}", result, methods=["GET"])
    router.add_api_route(f"/{_app}/{{subpath:path}}", submit, methods=["POST"])
