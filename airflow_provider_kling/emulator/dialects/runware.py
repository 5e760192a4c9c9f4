"""Runware REST API (``POST /v1``), server side.

Wire format: https://runware.ai/docs (video inference, task polling, errors). The body is a JSON
**array** of tasks; the answer is ``{"data": [...]}`` and/or ``{"errors": [...]}``, where each error is
``{"code", "message", "parameter"?, "taskType", "taskUUID"?}``.

Tasks: ``videoInference`` (submit; ``{"data":[{"taskType","taskUUID"}]}``), ``getResponse``
(status: ``{"data": []}`` while queued, an item with ``status: "processing"`` while running, a
``status: "success"`` item with ``videoUUID``/``videoURL``/``seed`` (+ ``cost`` when the submit had
``includeCost: true``) when done, and on failure an ``errors`` entry with HTTP 200) and ``ping``
(``{"data":[{"taskType":"ping","pong":true}]}``).

HTTP statuses / codes: validation 400 with ``missing<Field>`` / ``invalid<Field>`` (e.g.
``invalidPositivePrompt``, ``invalidDuration``) / ``unsupportedParameter`` (unknown field) /
``unsupportedTaskType``; body not a JSON array 400 ``invalidRequestBody``; ``duplicateTaskUUID`` 400
(no new job); unknown ``taskUUID`` on getResponse 400 ``taskNotFound``; auth 401 ``missingApiKey`` /
``invalidApiKey`` (``taskType: "authentication"``); ``insufficientCredits`` 402;
``contentPolicyViolation`` 400 at submit and in ``errors`` (HTTP 200) for a failed task;
``taskFailed`` for a generation failure; ``rateLimitExceeded`` 429; ``serverError`` 500/502,
``serviceUnavailable`` 503, ``timeoutProvider`` 504 (emulated; Runware's codes are "being
standardized"). Several tasks in one array are answered together (HTTP 200 when any task produced
data, otherwise the first error's status); a transport fault answers the whole request.

Documented checks: ``taskUUID`` must be a UUID **v4** in its canonical hyphenated form (the model pages:
"string required UUID v4"; a v1 or v5 UUID is ``invalidTaskUUID``), ``CFGScale`` 0-1 in steps of 0.01
(``invalidCFGScale``) and ``uploadEndpoint`` a URI (an http(s) URL, where Runware PUTs the video:
``invalidUploadEndpoint``).

Choices where the docs are silent: ``width``/``height`` are optional, must come together and have a 16:9,
9:16 or 1:1 ratio (the emulator renders that aspect; default 16:9); ``outputFormat`` WEBM/MOV are
accepted but the emulator always serves MP4; ``numberResults > 1`` yields that many success items
that share one video URL.

Account limits (see ``limits``): a ``videoInference`` beyond them gets a per-task
``rateLimitExceeded`` error (HTTP 429 when no task of the request produced data, with
``Retry-After``). ``cost`` (USD, only with ``includeCost: true``) uses the official Kling 2.6 dollar
prices per 5 s (std 0.21, pro 0.35, pro with sound 0.70): Runware publishes no Kling 2.6 price.

Kling 3.0 (https://runware.ai/docs/models/klingai-video-3-0-standard, ``-pro``, ``-4k``):
``klingai:kling-video@3-standard`` / ``@3-pro`` / ``@3-4k`` take a whole-second ``duration`` 3-15 and
``providerSettings.klingai.multiPrompt: [{prompt, duration}]`` (1-6 shots summing to the duration;
the clip is cut into those shots); cost per second $0.084 / $0.112 (x1.5 with sound), 4K $0.42 (an
emulator choice: Runware prices no 4K). ``klingai:kling-video@3.0-turbo``: 3-15 s, no sound setting,
no multiPrompt.

Kling 2.5 Turbo and 2.1, numbered ids (https://runware.ai/docs/en/providers/klingai and the model
pages ``klingai-2-5-turbo-standard``, ``klingai-2-1-standard``, ``-2-1-pro``, ``-2-1-master``): 5 or
10 s, no sound setting, and per id (:data:`NUMBERED`) whether a first frame is required, a last frame,
``negativePrompt`` and ``CFGScale`` are taken. Cost per second: the published $0.042 (2.5 Turbo
Standard), $0.037 (2.1 Standard) and $0.1848 (2.1 Master); $0.07 for 2.5 Turbo Pro and 2.1 Pro (an
emulator choice: no Runware price was readable).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import AfterValidator, Field, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from ..faults import MarkerError, parse_markers
from ..state import Job
from .base import Call, Dialect, StrictModel, json_response
from .values import describe_validation_error, is_http_url

MODELS = ("klingai:kling-video@2.6-standard", "klingai:kling-video@2.6-pro")
V3_MODELS = ("klingai:kling-video@3-standard", "klingai:kling-video@3-pro", "klingai:kling-video@3-4k")
TURBO = "klingai:kling-video@3.0-turbo"
TURBO25_PRO, TURBO25_STANDARD = "klingai:6@1", "klingai:6@0"
V21_STANDARD, V21_PRO, V21_MASTER = "klingai:5@1", "klingai:5@2", "klingai:5@3"
#: numbered Kling 2.x ids -> (image required, last frame, negativePrompt, CFGScale) as documented
NUMBERED = {
    TURBO25_PRO: (False, True, True, True),
    TURBO25_STANDARD: (True, False, True, True),
    V21_STANDARD: (True, False, False, False),
    V21_PRO: (True, True, False, True),
    V21_MASTER: (False, False, False, False),
}
#: USD per output second of a clip priced per second, without sound (x1.5 with sound)
V3_PER_SECOND = {
    V3_MODELS[0]: 0.084,
    V3_MODELS[1]: 0.112,
    V3_MODELS[2]: 0.42,
    TURBO: 0.084,
    TURBO25_PRO: 0.07,
    TURBO25_STANDARD: 0.042,
    V21_STANDARD: 0.037,
    V21_PRO: 0.07,
    V21_MASTER: 0.1848,
}
FAILURES = {
    "fail": ("taskFailed", "The provider failed to generate the video. Please try again."),
    "policy-task": (
        "contentPolicyViolation",
        "The generated content was flagged by the provider's content policy.",
    ),
}


class RunwareDialect(Dialect):
    name = "runware"

    statuses = {"not_found": 400}
    codes = {
        "auth_missing": "missingApiKey",
        "auth_invalid": "invalidApiKey",
        "bad_json": "invalidRequestBody",
        "validation": "invalidParameter",
        "not_found": "taskNotFound",
        ("duplicate", "conflict"): "duplicateTaskUUID",
        "credits": "insufficientCredits",
        "policy": "contentPolicyViolation",
        "rate_limited": "rateLimitExceeded",
    }
    server_codes = {503: "serviceUnavailable", 504: "timeoutProvider", 0: "serverError"}

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        http, default = self.status_and_code(kind, status)
        item: dict[str, Any] = {"code": code or default, "message": message}
        if kind.startswith("auth"):
            item.update(parameter="apiKey", taskType="authentication")
        return json_response({"errors": [item]}, http)


DIALECT = RunwareDialect()
router = APIRouter()


class FrameImage(StrictModel):
    image: Annotated[str, Field(min_length=1)]
    frame: Literal["first", "last", 0, -1] | None = None


class Inputs(StrictModel):
    frameImages: (
        Annotated[list[Annotated[str, Field(min_length=1)] | FrameImage], Field(min_length=1, max_length=2)]
        | None
    ) = None
    referenceVideos: Annotated[list[str], Field(min_length=1, max_length=1)] | None = None


class Shot(StrictModel):
    prompt: Annotated[str, Field(min_length=1, max_length=512)]
    duration: Annotated[int, Field(ge=1, le=15)]


class KlingSettings(StrictModel):
    sound: bool | None = None
    multiPrompt: Annotated[list[Shot], Field(min_length=1, max_length=6)] | None = None
    keepOriginalSound: bool | None = None
    characterOrientation: Literal["image", "video"] | None = None


class ProviderSettings(StrictModel):
    klingai: KlingSettings | None = None


class Safety(StrictModel):
    checkContent: bool | None = None
    mode: Literal["none", "fast", "full"] | None = None


Prompt = Annotated[str, Field(min_length=2, max_length=2500)]


def _hundredths(value: float) -> float:
    """``CFGScale`` is documented with "step: 0.01": a value between two steps is refused."""
    if abs(value * 100 - round(value * 100)) > 1e-6:
        raise ValueError("CFGScale must be a multiple of 0.01")
    return value


class VideoInference(StrictModel):
    taskType: Literal["videoInference"]
    taskUUID: str
    model: Literal[
        "klingai:kling-video@2.6-standard",
        "klingai:kling-video@2.6-pro",
        "klingai:kling-video@3-standard",
        "klingai:kling-video@3-pro",
        "klingai:kling-video@3-4k",
        "klingai:kling-video@3.0-turbo",
        "klingai:6@1",
        "klingai:6@0",
        "klingai:5@1",
        "klingai:5@2",
        "klingai:5@3",
    ]
    positivePrompt: Prompt
    negativePrompt: Prompt | None = None
    duration: float | None = None
    CFGScale: Annotated[float, Field(ge=0, le=1), AfterValidator(_hundredths)] | None = None
    width: Annotated[int, Field(gt=0, le=4096)] | None = None
    height: Annotated[int, Field(gt=0, le=4096)] | None = None
    deliveryMethod: Literal["async"] | None = None
    outputType: Literal["URL"] | None = None
    outputFormat: Literal["MP4", "WEBM", "MOV"] | None = None
    outputQuality: Annotated[int, Field(ge=20, le=99)] | None = None
    numberResults: Annotated[int, Field(ge=1, le=20)] | None = None
    includeCost: bool | None = None
    ttl: Annotated[int, Field(ge=60)] | None = None
    webhookURL: str | None = None
    uploadEndpoint: str | None = None
    safety: Safety | None = None
    inputs: Inputs | None = None
    providerSettings: ProviderSettings | None = None


class GetResponse(StrictModel):
    taskType: Literal["getResponse"]
    taskUUID: str


class Ping(StrictModel):
    taskType: Literal["ping"]
    ping: bool | None = None
    taskUUID: str | None = None


def _cap(name: str) -> str:
    return name[:1].upper() + name[1:]


def _validation_item(exc: ValidationError, task: dict[str, Any]) -> dict[str, Any]:
    first = exc.errors(include_url=False)[0]
    loc = [str(p) for p in first["loc"]]
    field = loc[0] if loc else "body"
    if first["type"] == "extra_forbidden":
        code = "unsupportedParameter"
    elif first["type"] == "missing" and len(loc) == 1:
        code = f"missing{_cap(field)}"
    else:
        code = f"invalid{_cap(field)}"
    return _item(code, describe_validation_error(exc), task, parameter=".".join(loc) or None)


def _item(code: str, message: str, task: dict[str, Any], parameter: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"code": code, "message": message}
    if parameter:
        item["parameter"] = parameter
    task_type = task.get("taskType")
    if isinstance(task_type, str):
        item["taskType"] = task_type
    task_uuid = task.get("taskUUID")
    if isinstance(task_uuid, str):
        item["taskUUID"] = task_uuid
    return item


def _is_uuid_v4(value: str) -> bool:
    """A canonical ``8-4-4-4-12`` UUID whose version is 4 (and variant RFC 4122)."""
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return str(parsed) == value.lower() and parsed.version == 4


def _aspect(req: VideoInference) -> str | Literal[False]:
    if req.width is None and req.height is None:
        return "16:9"
    if req.width is None or req.height is None:
        return False
    ratio = req.width / req.height
    for aspect, value in (("16:9", 16 / 9), ("9:16", 9 / 16), ("1:1", 1.0)):
        if abs(ratio - value) / value < 0.02:
            return aspect
    return False


def _model_problem(req: VideoInference) -> tuple[str, str, str] | None:
    """What the model's page allows: durations, multiPrompt, sound."""
    settings = req.providerSettings.klingai if req.providerSettings else None
    shots = settings.multiPrompt if settings else None
    if req.model in (*MODELS, *NUMBERED):
        if req.duration is not None and req.duration not in (5, 10):
            return ("invalidDuration", "duration must be 5 or 10", "duration")
    elif req.duration is not None and (req.duration != int(req.duration) or not 3 <= req.duration <= 15):
        return ("invalidDuration", "duration must be a whole number of seconds from 3 to 15", "duration")
    if shots is not None:
        if req.model not in V3_MODELS:
            return ("unsupportedParameter", f"multiPrompt is not supported by {req.model}", "multiPrompt")
        if sum(shot.duration for shot in shots) != (req.duration or 5):
            return ("invalidMultiPrompt", "the shot durations must sum to duration", "multiPrompt")
    if (req.model == TURBO or req.model in NUMBERED) and settings is not None and settings.sound is not None:
        return (
            "unsupportedParameter",
            f"sound is not supported by {req.model}",
            "providerSettings.klingai.sound",
        )
    return _numbered_problem(req) if req.model in NUMBERED else None


def _numbered_problem(req: VideoInference) -> tuple[str, str, str] | None:
    """A numbered Kling 2.x id: what its page documents (:data:`NUMBERED`), nothing more."""
    image_only, last_frame, negative, cfg = NUMBERED[req.model]
    frames = (req.inputs.frameImages if req.inputs else None) or []
    if image_only and not frames:
        return ("missingFrameImages", f"{req.model} is image-to-video only", "inputs.frameImages")
    last = [f for f in frames if not isinstance(f, str) and f.frame in ("last", -1)]
    if not last_frame and (len(frames) > 1 or last):
        return ("unsupportedParameter", f"{req.model} takes a first frame only", "inputs.frameImages")
    if not negative and req.negativePrompt is not None:
        return ("unsupportedParameter", f"negativePrompt is not supported by {req.model}", "negativePrompt")
    if not cfg and req.CFGScale is not None:
        return ("unsupportedParameter", f"CFGScale is not supported by {req.model}", "CFGScale")
    return None


def _cost(req: VideoInference, sound: bool) -> float:
    if req.model in V3_PER_SECOND:
        per_second = V3_PER_SECOND[req.model] * (1.5 if sound else 1)
        return round(per_second * (req.duration or 5) * (req.numberResults or 1), 4)
    pro = req.model.endswith("pro")
    per_5s = (0.70 if sound else 0.35) if pro else 0.21
    return round(per_5s * (req.duration or 5) / 5 * (req.numberResults or 1), 4)


class _Batch:
    def __init__(self) -> None:
        self.data: list[dict[str, Any]] = []
        self.errors: list[tuple[int, dict[str, Any]]] = []
        self.retry_after = 0  # seconds; set by a task refused under the account limits

    def response(self) -> Response:
        payload: dict[str, Any] = {}
        if self.data or not self.errors:
            payload["data"] = self.data
        if self.errors:
            payload["errors"] = [item for _, item in self.errors]
        failing = [status for status, _ in self.errors if status != 200]
        status = 200 if self.data or not failing else failing[0]
        headers = {"Retry-After": str(self.retry_after)} if self.retry_after else None
        return json_response(payload, status, headers)


async def _video_inference(call: Call, task: dict[str, Any], batch: _Batch) -> Response | None:
    """Handle one submit; a returned Response (transport fault) answers the whole request."""
    call.op = "submit"
    try:
        req = VideoInference.model_validate(task)
    except ValidationError as exc:
        call.count("rejected")
        batch.errors.append((400, _validation_item(exc, task)))
        return None
    problem: tuple[str, str, str] | None = None
    aspect = _aspect(req)
    if not _is_uuid_v4(req.taskUUID):
        problem = ("invalidTaskUUID", "taskUUID must be a UUID (v4)", "taskUUID")
    elif (problem := _model_problem(req)) is not None:
        pass
    elif aspect is False:
        problem = (
            "invalidWidth",
            "width and height must be given together with a 16:9, 9:16 or 1:1 ratio",
            "width",
        )
    elif req.webhookURL is not None and not req.webhookURL.startswith(("http://", "https://")):
        problem = ("invalidWebhookURL", "webhookURL must be an http(s) URL", "webhookURL")
    elif req.uploadEndpoint is not None and not is_http_url(req.uploadEndpoint):
        problem = ("invalidUploadEndpoint", "uploadEndpoint must be an http(s) URL (a URI)", "uploadEndpoint")
    if problem is not None:
        call.count("rejected")
        batch.errors.append((400, _item(problem[0], problem[1], task, parameter=problem[2])))
        return None
    try:
        markers = parse_markers(req.positivePrompt)
    except MarkerError as exc:
        call.count("rejected")
        batch.errors.append((400, _item("invalidPositivePrompt", str(exc), task, "positivePrompt")))
        return None
    kind = await call.submit_fault_kind(markers)
    if kind in ("policy", "credits"):  # business rejections are per task
        call.count("rejected")
        code, status, message = (
            ("contentPolicyViolation", 400, "The prompt was flagged by the content policy (emulated fault).")
            if kind == "policy"
            else ("insufficientCredits", 402, "Insufficient credits to run this task (emulated fault).")
        )
        batch.errors.append(
            (status, _item(code, message, task, "positivePrompt" if kind == "policy" else None))
        )
        return None
    if kind is not None:
        return call.reject(DIALECT.fault_response(kind))
    if (refusal := call.admission()) is not None:  # per task, like the business rejections
        call.count("rejected")
        batch.errors.append((429, _item("rateLimitExceeded", refusal.message, task)))
        batch.retry_after = max(batch.retry_after, refusal.retry_after)
        return None

    settings = req.providerSettings.klingai if req.providerSettings and req.providerSettings.klingai else None
    sound = bool(settings and settings.sound)
    shots = (
        tuple((shot.prompt, float(shot.duration)) for shot in (settings.multiPrompt or []))
        if settings
        else ()
    )
    assert aspect is not False
    video_uuid = call.emu.store.unique_id(lambda: str(uuid.uuid4()))
    job = call.new_job(
        job_id=video_uuid,
        task_id=req.taskUUID,
        markers=markers,
        prompt=req.positivePrompt,
        duration=int(req.duration or 5),
        aspect=aspect,
        sound=sound,
        client_id=req.taskUUID,
        family=req.model,
        model=req.model,
        shots=shots,
        request=task,
        extra={
            "include_cost": bool(req.includeCost),
            "cost": _cost(req, sound),
            "number_results": req.numberResults or 1,
            "seed": secrets.randbelow(2**31),
            "nsfw_flag": req.safety is not None
            and bool(req.safety.checkContent or (req.safety.mode not in (None, "none"))),
            "webhook_url": req.webhookURL,
        },
    )
    stored = call.store_job(job, lookup_keys=(), unique_keys=(req.taskUUID,))
    if stored is not job:
        call.count("dedup_hits")
        call.count("rejected")
        batch.errors.append(
            (
                400,
                _item(
                    "duplicateTaskUUID",
                    f"taskUUID {req.taskUUID} was already used by another task",
                    task,
                    "taskUUID",
                ),
            )
        )
        return None
    batch.data.append({"taskType": "videoInference", "taskUUID": req.taskUUID})
    return None


def _status_items(call: Call, job: Job) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    phase = job.phase()
    base = {"taskType": "videoInference", "taskUUID": job.task_id}
    if phase == "queued":
        return [], []
    if phase == "running":
        return [{**base, "status": "processing"}], []
    if phase == "failed" and job.outcome:
        code, message = FAILURES[job.outcome]
        return [], [{"code": code, "message": message, **base}]
    url = call.emu.video_url(call.request, job)
    items = []
    n = int(job.extra["number_results"])
    for i in range(n):
        item: dict[str, Any] = {
            **base,
            "status": "success",
            "videoUUID": job.job_id if i == 0 else str(uuid.uuid5(uuid.UUID(job.job_id), str(i))),
            "videoURL": url,
            "seed": int(job.extra["seed"]) + i,
        }
        if job.extra["include_cost"]:
            item["cost"] = round(float(job.extra["cost"]) / n, 4)
        if job.extra["nsfw_flag"]:
            item["NSFWContent"] = False
        items.append(item)
    return items, []


async def _get_response(call: Call, task: dict[str, Any], batch: _Batch) -> Response | None:
    call.op = "status"
    call.count("status_calls")
    try:
        req = GetResponse.model_validate(task)
    except ValidationError as exc:
        batch.errors.append((400, _validation_item(exc, task)))
        return None
    job = call.emu.store.find(DIALECT.name, call.account, req.taskUUID)
    if (fault := await call.status_fault(job)) is not None:
        return fault
    if job is None:
        batch.errors.append(
            (400, _item("taskNotFound", f"no task with taskUUID {req.taskUUID}", task, "taskUUID"))
        )
        return None
    data, errors = _status_items(call, job)
    batch.data.extend(data)
    batch.errors.extend((200, e) for e in errors)
    return None


@router.post("/v1")
async def tasks(request: Request) -> Response:
    call = await Call.enter(request, DIALECT, "other")
    if isinstance(call, Response):
        return call
    body = await call.json_body()
    if isinstance(body, Response):
        return body
    if not isinstance(body, list) or not body:
        return call.error("bad_json", "the request body must be a non-empty JSON array of task objects")
    batch = _Batch()
    for task in body:
        if not isinstance(task, dict):
            batch.errors.append((400, _item("invalidRequestBody", "each task must be a JSON object", {})))
            continue
        task_type = task.get("taskType")
        if task_type == "videoInference":
            answer = await _video_inference(call, task, batch)
        elif task_type == "getResponse":
            answer = await _get_response(call, task, batch)
        elif task_type == "ping":
            call.op = "other"
            if (answer := await call.call_fault()) is None:
                try:
                    Ping.model_validate(task)
                    batch.data.append({"taskType": "ping", "pong": True})
                except ValidationError as exc:
                    batch.errors.append((400, _validation_item(exc, task)))
        elif task_type is None:
            batch.errors.append((400, _item("missingTaskType", "taskType is required", task, "taskType")))
            answer = None
        else:
            batch.errors.append(
                (400, _item("unsupportedTaskType", f"unsupported taskType {task_type!r}", task, "taskType"))
            )
            answer = None
        if answer is not None:
            return answer
    return call.finish(batch.response())
