"""Rivya Public API v1 (``/api/v1/*``), server side.

Wire format: https://rivya.ai/docs/api (generations, files, credits, errors). Errors are ``{"error":
{"code": str, "message": str, "requestId": "req_..."}}`` with these codes/HTTP statuses:
``api_key_missing``/``api_key_invalid`` 401, ``validation_failed`` 400 (also for a body that is not JSON
and for the ``policy`` fault, whose message says "content policy"), ``not_found`` 404,
``idempotency_conflict`` 409, ``insufficient_credits`` 402, ``rate_limited`` 429,
``public_api_disabled`` 503 (the documented code for 503); for the other emulated server faults
(codes not documented by Rivya): ``internal_error`` 500, ``upstream_error`` 502, ``upstream_timeout``
504.

``params`` values are strings (``"5"``, ``"false"``): a JSON number or boolean is a
``validation_failed``. ``Idempotency-Key``: the same key with the same body returns the same task
(HTTP 200, header ``Idempotent-Replayed: true``; counted as a dedup hit, not a submit); the same key
with another body is ``409 idempotency_conflict``. Tasks and keys are scoped to the API key.
``referenceMediaItems[].url`` must come from this emulator's ``POST /api/v1/files`` unless
``rivya_require_uploaded_refs`` is off. Create answers HTTP 200.

Kling 3.0 is ``model: "kling-3-0"`` (https://rivya.ai/docs/api/models/kling-3-0): a prompt of <= 2000
characters, ``params.mode`` std|pro, ``params.multi_shots`` "false"|"true" (no per-shot prompts: the
emulator cuts no shots), ``params.duration`` "3".."15", up to two reference images; 90 credits.
Kling 2.5 Turbo Pro (``kling-v2-5-turbo-pro``, https://rivya.ai/docs/api/models/kling-v2-5-turbo-pro)
and Kling 2.1 Master (``kling-v2-1-master``, .../kling-v2-1-master): ``params.duration`` "5"|"10",
``params.negative_prompt`` (text), ``params.cfg_scale`` (a *number* 0-1), no ``params.sound``; a
prompt of <= 2500 / <= 5000 characters, up to two / one reference images; 42 / 160 credits.

Account limits (see ``limits``): ``rate_limited`` 429 with ``Retry-After``. Billing: every task
reserves 55 credits (``reserved_credits``), ``final_credits`` is 55 once succeeded and 0 otherwise (a
failed task is refunded); ``GET /api/v1/credits`` answers ``{"current_credits": N}``, the key's
wallet (``STARTING_CREDITS`` or ``--balance``) minus the credits its queued, running and succeeded
tasks hold. With ``--balance`` a submit the wallet cannot cover gets 402 ``insufficient_credits``.
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter
from pydantic import Field
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from ..state import NOT_FAILED, Job, StoredFile
from .base import Call, Dialect, StrictModel, SubmitSpec, json_response, lookup, submission
from .values import canonical_fingerprint, is_http_url, phase_words

MODEL = "kling-2-6"
V3_MODEL = "kling-3-0"
TURBO25_MODEL = "kling-v2-5-turbo-pro"
V21_MASTER_MODEL = "kling-v2-1-master"
CREDITS_PER_TASK = 55
#: credits reserved per task, by model id
CREDITS = {MODEL: CREDITS_PER_TASK, V3_MODEL: 90, TURBO25_MODEL: 42, V21_MASTER_MODEL: 160}
#: the silent Kling 2.x models -> (prompt limit, reference images)
SILENT = {TURBO25_MODEL: (2500, 2), V21_MASTER_MODEL: (5000, 1)}
SECONDS = tuple(str(s) for s in range(3, 16))
STARTING_CREDITS = 100_000
IMAGE_MIME = ("image/jpeg", "image/png", "image/webp")
STATUS = phase_words("queued", "processing", "succeeded", "failed")
FAILURES = {
    "fail": ("generation_failed", "The generation failed upstream; credits were refunded."),
    "policy-task": ("content_policy_violation", "The output was blocked by the content safety filter."),
}


class RivyaDialect(Dialect):
    name = "rivya"

    statuses = {"conflict": 409, "duplicate": 409}
    codes = {
        "auth_missing": "api_key_missing",
        "auth_invalid": "api_key_invalid",
        ("bad_json", "validation", "policy"): "validation_failed",
        "not_found": "not_found",
        ("conflict", "duplicate"): "idempotency_conflict",
        "credits": "insufficient_credits",
        "rate_limited": "rate_limited",
    }
    server_codes = {
        502: "upstream_error",
        503: "public_api_disabled",
        504: "upstream_timeout",
        0: "internal_error",
    }

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        http, default = self.status_and_code(kind, status)
        request_id = f"req_{secrets.token_hex(12)}"
        return json_response(
            {"error": {"code": code or default, "message": message, "requestId": request_id}}, http
        )


DIALECT = RivyaDialect()
router = APIRouter()


def iso(t: float) -> str:
    return (
        dt.datetime.fromtimestamp(t, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(t * 1000) % 1000:03d}Z"
    )


class ReferenceMediaItem(StrictModel):
    url: Annotated[str, Field(min_length=1)]
    kind: Literal["image"]
    name: str | None = None
    mimeType: Literal["image/jpeg", "image/png", "image/webp"] | None = None
    durationToken: str | None = None


class Params(StrictModel):
    mode: Literal["std", "pro"] | None = None
    multi_shots: Literal["false", "true"] | None = None
    duration: str | None = None
    sound: Literal["false", "true"] | None = None
    aspect_ratio: Literal["1:1", "16:9", "9:16"] | None = None
    negative_prompt: str | None = None
    cfg_scale: Annotated[float, Field(ge=0, le=1)] | None = None
    referenceMediaItems: Annotated[list[ReferenceMediaItem], Field(max_length=2)] | None = None


class Generation(StrictModel):
    model: Literal["kling-2-6", "kling-3-0", "kling-v2-5-turbo-pro", "kling-v2-1-master"]
    prompt: Annotated[str, Field(min_length=1, max_length=5000)]
    params: Params | None = None
    client_request_id: Annotated[str, Field(max_length=128)] | None = None


def task_body(call: Call, job: Job) -> dict[str, Any]:
    phase = job.phase()
    result = None
    error = None
    if phase == "succeeded":
        url = call.emu.video_url(call.request, job)
        result = {"primary_url": url, "urls": [url]}
    elif phase == "failed" and job.outcome:
        code, message = FAILURES[job.outcome]
        error = {"code": code, "message": message}
    return {
        "id": job.task_id,
        "status": STATUS[phase],
        "model": job.model or MODEL,
        "reserved_credits": CREDITS[job.model or MODEL],
        "final_credits": CREDITS[job.model or MODEL] if phase == "succeeded" else 0,
        "created_at": iso(job.created),
        "updated_at": iso(job.updated_at()),
        "result": result,
        "error": error,
    }


def _reference_problem(call: Call, item: ReferenceMediaItem) -> str | None:
    if not is_http_url(item.url):
        return "params.referenceMediaItems[0].url must be an http(s) URL"
    if not call.emu.config.rivya_require_uploaded_refs:
        return None
    parts = urlsplit(item.url).path.split("/")
    # /_emulator/files/{id}/{name}
    if len(parts) >= 5 and parts[1] == "_emulator" and parts[2] == "files":
        stored = call.emu.store.get_file(parts[3])
        if stored is not None and stored.gateway == DIALECT.name and stored.account == call.account:
            return None
    return "params.referenceMediaItems[0].url must be a URL returned by POST /api/v1/files (upload first)"


def _model_rules(req: Generation) -> str | None:
    """What one model's page allows beyond the shared schema."""
    params = req.params or Params()
    if req.model in SILENT:
        return _silent_rules(req, params)
    if len(req.prompt) > 2000:
        return f"prompt: at most 2000 characters for {req.model}"
    if params.negative_prompt is not None or params.cfg_scale is not None:
        return f"params: negative_prompt and cfg_scale are not parameters of {req.model}"
    if req.model == MODEL:
        if len(req.prompt) > 1000:
            return "prompt: at most 1000 characters for kling-2-6"
        if params.duration not in (None, "5", "10"):
            return "params.duration: must be '5' or '10'"
        if params.mode is not None or params.multi_shots is not None:
            return "params: mode and multi_shots are not parameters of kling-2-6"
        if len(params.referenceMediaItems or []) > 1:
            return "params.referenceMediaItems: at most 1 item for kling-2-6"
    elif params.duration not in (None, *SECONDS):
        return "params.duration: must be one of '3'..'15'"
    return None


def _silent_rules(req: Generation, params: Params) -> str | None:
    """A Kling 2.x model without ``params.sound``: 5 or 10 s, its prompt and reference limits."""
    prompt_max, images = SILENT[req.model]
    if len(req.prompt) > prompt_max:
        return f"prompt: at most {prompt_max} characters for {req.model}"
    if params.duration not in (None, "5", "10"):
        return "params.duration: must be '5' or '10'"
    if params.sound is not None or params.mode is not None or params.multi_shots is not None:
        return f"params: sound, mode and multi_shots are not parameters of {req.model}"
    if len(params.referenceMediaItems or []) > images:
        return f"params.referenceMediaItems: at most {images} item(s) for {req.model}"
    return None


def _rules(call: Call, req: Generation) -> str | None:
    if (problem := _model_rules(req)) is not None:
        return problem
    items = req.params.referenceMediaItems if req.params else None
    return next((p for item in items or [] if (p := _reference_problem(call, item)) is not None), None)


def _gate(call: Call, body: dict[str, Any], req: Generation) -> Response | None:
    """An ``Idempotency-Key`` seen before answers for the new job: the same task (same body) or
    409; then, with ``--balance``, a wallet that cannot cover 55 credits answers 402."""
    idem_key = call.request.headers.get("idempotency-key")
    record = call.emu.store.idempotency_get(DIALECT.name, call.account, idem_key) if idem_key else None
    if record is not None:
        previous_fingerprint, job_id = record
        if previous_fingerprint != canonical_fingerprint(body):
            return call.finish(
                call.error("conflict", "Idempotency-Key was already used with a different request body")
            )
        existing = call.emu.store.get(job_id)
        if existing is not None:
            call.count("dedup_hits")
            return call.finish(
                json_response(task_body(call, existing), headers={"Idempotent-Replayed": "true"})
            )
    needed = CREDITS[req.model]
    if call.emu.config.balance is not None and _credits_left(call) < needed:
        return call.finish(
            call.error("credits", f"insufficient credits: this generation needs {needed} credits")
        )
    return None


SUBMIT = SubmitSpec(Generation, prompt=lambda req: req.prompt, rules=_rules, gate=_gate)


@router.post("/api/v1/generations")
async def create_generation(request: Request) -> Response:
    sub = await submission(request, DIALECT, SUBMIT)
    if isinstance(sub, Response):
        return sub
    call, req = sub.call, sub.req
    params = req.params or Params()
    idem_key = request.headers.get("idempotency-key") or ""
    job = sub.new_job(
        ids=lambda: f"task_{secrets.token_hex(12)}",
        prompt=req.prompt,
        duration=int(params.duration or "5"),
        aspect=params.aspect_ratio or "1:1",
        sound=params.sound == "true",
        model=req.model,
        client_id=idem_key or req.client_request_id or None,
        extra={"idempotency_key": idem_key or None, "client_request_id": req.client_request_id},
    )
    call.store_job(job)
    if idem_key:
        fingerprint = canonical_fingerprint(sub.body)
        call.emu.store.idempotency_put(DIALECT.name, call.account, idem_key, fingerprint, job.job_id)
    return call.finish(json_response(task_body(call, job)))


@router.get("/api/v1/generations/{task_id}")
async def get_generation(request: Request, task_id: str) -> Response:
    found = await lookup(request, DIALECT, task_id, missing=f"generation {task_id} not found")
    return found if isinstance(found, Response) else json_response(task_body(*found))


def _sniff_mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def _file_body(call: Call, stored: StoredFile) -> dict[str, Any]:
    return {
        "id": stored.file_id,
        "url": call.emu.file_url(call.request, stored.file_id, stored.name),
        "kind": stored.kind,
        "name": stored.name,
        "mimeType": stored.mime,
        "size": len(stored.data),
        "created_at": iso(stored.created),
    }


@router.post("/api/v1/files")
async def upload_file(request: Request) -> Response:
    call = await Call.enter(request, DIALECT, "other", fault=True)
    if isinstance(call, Response):
        return call
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return call.error("validation", "expected a multipart/form-data body with 'file' and 'kind'")
    form = await request.form(max_files=1, max_fields=10)
    try:
        upload = form.get("file")
        kind = form.get("kind")
        model = form.get("model")
        client_request_id = form.get("client_request_id")
        unknown = sorted(set(form.keys()) - {"file", "kind", "model", "client_request_id"})
        if unknown:
            return call.error("validation", f"unknown form field(s): {', '.join(unknown)}")
        if not isinstance(upload, UploadFile):
            return call.error("validation", "file: a file part is required")
        if kind != "image":
            return call.error("validation", "kind: must be 'image' for kling-2-6")
        if model is not None and model not in CREDITS:
            return call.error("validation", f"model: must be {MODEL!r} or {V3_MODEL!r}")
        if isinstance(client_request_id, str) and len(client_request_id) > 128:
            return call.error("validation", "client_request_id: at most 128 characters")
        data = await upload.read(call.emu.config.max_upload_bytes + 1)
        if len(data) > call.emu.config.max_upload_bytes:
            return call.error("validation", "file: larger than 10 MB")
        if not data:
            return call.error("validation", "file: empty")
        sniffed = _sniff_mime(data)
        declared = (upload.content_type or "").split(";")[0].strip().lower()
        mime = declared if declared in IMAGE_MIME else sniffed
        if mime not in IMAGE_MIME or sniffed != mime:
            return call.error(
                "validation", f"file: must be one of {', '.join(IMAGE_MIME)} (got {declared or 'unknown'})"
            )
        name = (upload.filename or "upload").replace("/", "_").replace("\\", "_") or "upload"
    finally:
        await form.close()
    file_id = call.emu.store.unique_id(lambda: f"file_{secrets.token_hex(12)}")
    stored = StoredFile(file_id, name, mime, data, "image", call.account, DIALECT.name, time.time())
    call.emu.store.add_file(stored)
    return json_response(_file_body(call, stored))


@router.get("/api/v1/files/{file_id}")
async def get_file(request: Request, file_id: str) -> Response:
    call = await Call.enter(request, DIALECT, "other")
    if isinstance(call, Response):
        return call
    stored = call.emu.store.get_file(file_id)
    if stored is None or stored.gateway != DIALECT.name or stored.account != call.account:
        return call.error("not_found", f"file {file_id} not found")
    return json_response(_file_body(call, stored))


def _credits_left(call: Call) -> float:
    """The key's wallet: credits are reserved at submit and refunded when the task fails."""
    start = STARTING_CREDITS if call.emu.config.balance is None else call.emu.config.balance
    return start - call.emu.spent(
        DIALECT.name, call.account, lambda job: CREDITS[job.model or MODEL], NOT_FAILED
    )


@router.get("/api/v1/credits")
async def credits(request: Request) -> Response:
    """``{"current_credits": N}`` (https://rivya.ai/docs/api-credits)."""
    call = await Call.enter(request, DIALECT, "other", fault=True)
    if isinstance(call, Response):
        return call
    return json_response({"current_credits": max(0, int(_credits_left(call)))})


@router.get("/api/v1/models")
async def models(request: Request) -> Response:
    call = await Call.enter(request, DIALECT, "other")
    if isinstance(call, Response):
        return call
    return json_response(
        {"data": [{"id": model, "type": "video", "credits": credits} for model, credits in CREDITS.items()]}
    )
