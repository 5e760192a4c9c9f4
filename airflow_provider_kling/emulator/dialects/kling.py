"""Official Kling API (``/v1/videos/*`` and the path-addressed family), server side.

Wire format: https://klingai.com/document-api (video, account, error codes). Every answer is the envelope
``{"code": int, "message": str, "request_id": str, "data": ...}`` with ``code`` 0 on success and ``data``
``null`` on errors.

Auth: ``Authorization: Bearer <JWT>``, HS256, ``iss`` = access key, signed with its secret key
(``EmulatorConfig.kling_keys``), ``exp`` required, ``nbf`` optional; ``jwt_leeway`` seconds of skew.
Codes (HTTP 401): 1001 header missing, 1002 malformed header/token (bad scheme, not a JWT, wrong
``alg``, missing ``exp``/``iss``), 1000 unknown access key or bad signature, 1003 ``nbf`` in the
future, 1004 expired.

Errors: 1200 (400) body is not JSON; 1201 (400) any invalid/unknown field or 2.6 rule, including a
duplicate ``external_task_id`` (that submit creates no job); 1203 (404) unknown task (ids are scoped to
the access key, and to the family the task was created in; a path-addressed one is only found by
``GET /tasks``); 1301 (400) content policy; 1102 (429)
resource pack depleted (``credits`` fault); 1302 (429) rate limit; 5000 (500, also used for an
emulated 502), 5001 (503), 5002 (504).

``model_name`` must be ``kling-v2-6`` (omitting it would mean ``kling-v1``, which this emulator does
not serve); the legacy alias ``model`` is accepted. Empty strings for optional string fields (as in
the official samples) mean "absent". ``aspect_ratio`` is accepted on image2video too (the output
otherwise defaults to 16:9, the emulator does not look at the image). Callbacks are validated and
recorded but not delivered.

Kling 3.0 on ``/v1`` (``model_name: "kling-v3"``): ``mode`` std|pro|4k, ``duration`` ``"3"``..``"15"``,
sound in every mode, end frame with sound, and multi-shot as ``multi_shot: true`` + ``shot_type``
customize|intelligence + ``multi_prompt: [{index, prompt (<= 512), duration}]`` (1-6 shots summing to
the clip; no ``image``/``image_tail`` with it); the clip is cut into those shots.

Kling 3.0 Turbo (and 3.0) on the path-addressed family, as GATEWAYS.md section 1.9 describes it:
``POST /text-to-video/<model>`` with ``{prompt (<= 3072), settings: {resolution, aspect_ratio,
duration <int>, audio?}, options: {callback_url, external_task_id, watermark_info}}``, and ``POST
/image-to-video/<model>`` with ``{contents: [{type: "prompt", text}, {type: "first_frame", url},
{type: "last_frame", url}, {type: "voice", voice_id, id}], settings, options}``: no top-level prompt
there (an unknown field, refused like any other), at most one prompt, first_frame and last_frame and
two voices, at least one frame,
frame ``url`` an http(s) URL (no base64 form is documented). Answered ``data: {id, status, message,
create_time, update_time}``; polled with ``GET /tasks?task_ids=<id>[,<id>...]``, answered ``data: [{id,
status, message, create_time, update_time, external_id, outputs: [{type: "video", url, id, duration,
watermark_url}]}]`` with ``succeeded`` / ``failed`` as terminal words; an unknown id is left out of
the list (no document says what an unknown id gets). Turbo takes 720p|1080p, no ``audio``, no
multi-shot and no last frame. Auth is the same ``Bearer <JWT>`` as on ``/v1`` (section 1.9 says a
static API key as Bearer; the provider sends its JWT on both families).

Account limits (see ``limits``): a submit beyond ``--concurrency`` tasks in flight gets 429 / 1303
("parallel task over resource pack limit"), beyond ``--rate`` 429 / 1302, both with ``Retry-After``.
Billing: a terminal task reports ``final_unit_deduction`` (``_units``; ``"0"`` when failed).
``GET /account/costs`` lists the key's resource pack, whose ``remaining_quantity`` drops as tasks
succeed; with ``--balance`` a submit the pack cannot cover gets 429 / 1102.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import io
import uuid
from typing import Annotated, Any, Literal

import jwt
from fastapi import APIRouter
from pydantic import Field
from starlette.requests import Request
from starlette.responses import Response

from ..state import NOT_FAILED, Job
from .base import Call, Dialect, StrictModel, SubmitSpec, json_response, lookup, submission
from .values import is_http_url, ms, phase_words, random_digits

MODEL_NAME = "kling-v2-6"
V3_NAME = "kling-v3"
MODEL_NAMES = (MODEL_NAME, V3_NAME)
FAMILIES = ("text2video", "image2video")
#: the path-addressed family: route kinds and the models served there
PATH_KINDS = ("text-to-video", "image-to-video")
PATH_MODELS = ("kling-3.0", "kling-3.0-turbo")
SECONDS = tuple(str(n) for n in range(3, 16))
STATUS = phase_words("submitted", "processing", "succeed", "failed")
PATH_STATUS = phase_words("submitted", "processing", "succeeded", "failed")
FAILURE_MESSAGES = {
    "fail": "Video generation failed due to an internal error, please try again later",
    "policy-task": "Failure to pass the risk control system: the generated content may contain risky content",
}


class KlingDialect(Dialect):
    name = "kling"
    limit_codes = {"concurrency": 1303, "rate": 1302}

    def authenticate(self, call: Call) -> Response | None:
        return authenticate(call)

    statuses = {"credits": 429}
    codes = {
        "auth_missing": 1001,
        "auth_invalid": 1002,
        "bad_json": 1200,
        ("validation", "duplicate", "conflict"): 1201,
        "not_found": 1203,
        "rate_limited": 1302,
        "credits": 1102,
        "policy": 1301,
    }
    server_codes = {503: 5001, 504: 5002, 0: 5000}

    def error(self, kind: str, message: str, *, status: int | None = None, code: Any = None) -> Response:
        http, default = self.status_and_code(kind, status)
        code = code if code is not None else default
        payload = {"code": code, "message": message, "request_id": str(uuid.uuid4()), "data": None}
        return json_response(payload, http)


DIALECT = KlingDialect()
router = APIRouter()


def _envelope(data: Any) -> Response:
    return json_response({"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": data})


# -- auth -----------------------------------------------------------------------------------------
def _signature_ok(token: str, secret: str) -> bool:
    """HS256 check done by hand: PyJWT warns about the short default secret on every decode."""
    signing_input, _, signature = token.rpartition(".")
    expected = hmac.new(
        secret.encode("utf-8"), signing_input.encode("ascii", "replace"), hashlib.sha256
    ).digest()
    try:
        given = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (binascii.Error, ValueError):
        return False
    return hmac.compare_digest(expected, given)


def authenticate(call: Call) -> Response | None:
    header = call.request.headers.get("authorization")
    if not header:
        return call.error("auth_missing", "Authorization header is empty", code=1001)
    scheme, _, token = header.partition(" ")
    if scheme != "Bearer" or not token or token != token.strip():
        return call.error(
            "auth_invalid", "Authorization header is invalid: expected 'Bearer <JWT>'", code=1002
        )
    try:
        jwt_header = jwt.get_unverified_header(token)
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return call.error("auth_invalid", "Authorization token is invalid: not a JWT", code=1002)
    if jwt_header.get("alg") != "HS256":
        return call.error("auth_invalid", "Authorization token is invalid: alg must be HS256", code=1002)
    issuer = claims.get("iss")
    keys = call.emu.config.kling_keys
    if not isinstance(issuer, str) or not issuer:
        return call.error(
            "auth_invalid", "Authorization token is invalid: iss (access key) missing", code=1002
        )
    if issuer not in keys:
        return call.error("auth_invalid", "Auth failed: unknown access key", code=1000)
    if not _signature_ok(token, keys[issuer]):
        return call.error("auth_invalid", "Auth failed: signature verification failed", code=1000)
    try:
        jwt.decode(
            token,
            options={
                "verify_signature": False,
                "verify_exp": True,
                "verify_nbf": True,
                "require": ["iss", "exp", "nbf"],
            },
            leeway=call.emu.config.jwt_leeway,
        )
    except jwt.ExpiredSignatureError:
        return call.error("auth_invalid", "Auth failed: token expired", code=1004)
    except jwt.ImmatureSignatureError:
        return call.error("auth_invalid", "Auth failed: token not yet valid (nbf)", code=1003)
    except jwt.PyJWTError as exc:
        return call.error("auth_invalid", f"Authorization token is invalid: {exc}", code=1002)
    call.account = issuer
    return None


# -- request bodies -------------------------------------------------------------------------------
Text2500 = Annotated[str, Field(max_length=2500)]


class WatermarkInfo(StrictModel):
    enabled: bool


class Voice(StrictModel):
    voice_id: Annotated[str, Field(min_length=1)]


class Shot(StrictModel):
    index: Annotated[int, Field(ge=1, le=6)]
    prompt: Annotated[str, Field(min_length=1, max_length=512)]
    duration: str


class Text2Video(StrictModel):
    model_name: str | None = None
    model: str | None = None
    prompt: Annotated[str, Field(min_length=1, max_length=2500)]
    negative_prompt: Text2500 | None = None
    sound: Literal["on", "off"] | None = None
    cfg_scale: Annotated[float, Field(ge=0, le=1)] | None = None
    mode: Literal["std", "pro", "4k"] | None = None
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None
    duration: str | None = None
    multi_shot: bool | None = None
    shot_type: Literal["customize", "intelligence"] | None = None
    multi_prompt: Annotated[list[Shot], Field(min_length=1, max_length=6)] | None = None
    watermark_info: WatermarkInfo | None = None
    callback_url: str | None = None
    external_task_id: str | None = None


class Image2Video(Text2Video):
    image: str | None = None
    image_tail: str | None = None
    voice_list: Annotated[list[Voice], Field(max_length=2)] | None = None


def _check_image(field: str, value: str) -> str | None:
    """None when ``value`` is an http(s) URL or raw base64 of a JPG/PNG >= 300 px, else the problem."""
    if value.startswith("data:"):
        return f"{field}: base64 must be raw, without a 'data:' prefix"
    if value.startswith(("http://", "https://")):
        return None if is_http_url(value) else f"{field}: invalid URL"
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return f"{field}: neither an http(s) URL nor valid base64"
    if len(raw) > 10 * 1024 * 1024:
        return f"{field}: image larger than 10MB"
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(raw)) as img:
            fmt, (width, height) = img.format, img.size
    except (UnidentifiedImageError, OSError):
        return f"{field}: base64 does not decode to an image"
    if fmt not in ("JPEG", "PNG"):
        return f"{field}: image format must be jpg/jpeg/png"
    if width < 300 or height < 300:
        return f"{field}: image width and height must be at least 300px"
    if not (1 / 2.5 <= width / height <= 2.5):
        return f"{field}: image aspect ratio must be between 1:2.5 and 2.5:1"
    return None


def _rules(req: Text2Video) -> str | None:
    """Kling 2.6 capability map (https://klingai.com/document-api, model capabilities)."""
    model = req.model_name or None
    if req.model and model and req.model != model:
        return "model and model_name disagree"
    model = model or req.model or None
    if model is None:
        return "model_name is required by the emulator (omitted it means kling-v1, which is not served)"
    if model not in MODEL_NAMES:
        return f"model_name {model!r} is not supported here; use {MODEL_NAME!r} or {V3_NAME!r}"
    if model == V3_NAME:
        return _v3_rules(req)
    if req.duration not in (None, "5", "10"):
        return "duration must be '5' or '10' for kling-v2-6"
    if req.mode == "4k" or req.multi_shot is not None or req.shot_type or req.multi_prompt:
        return "mode '4k' and multi-shot are kling-v3 features"
    mode = req.mode or "std"
    sound = req.sound == "on"
    if sound and mode != "pro":
        return "sound 'on' requires mode 'pro' for kling-v2-6"
    if req.callback_url and not is_http_url(req.callback_url):
        return "callback_url must be an http(s) URL"
    if isinstance(req, Image2Video):
        if not req.image and not req.image_tail:
            return "at least one of image and image_tail is required"
        for field, value in (("image", req.image), ("image_tail", req.image_tail)):
            if value:
                problem = _check_image(field, value)
                if problem:
                    return problem
        if req.image_tail:
            if mode != "pro":
                return "image_tail (end frame) requires mode 'pro' for kling-v2-6"
            if sound:
                return "image_tail (end frame) cannot be combined with sound 'on'"
        if req.voice_list and not sound:
            return "voice_list requires sound 'on'"
    return None


def _v3_rules(req: Text2Video) -> str | None:
    """Kling 3.0: 3-15 s, sound and end frame in every mode, multi-shot without frames."""
    if req.duration not in (None, *SECONDS):
        return "duration must be one of '3'..'15' for kling-v3"
    if req.callback_url and not is_http_url(req.callback_url):
        return "callback_url must be an http(s) URL"
    image = isinstance(req, Image2Video) and bool(req.image or req.image_tail)
    if req.multi_shot:
        if req.shot_type is None:
            return "shot_type is required when multi_shot is true"
        if req.shot_type == "customize":
            if not req.multi_prompt:
                return "multi_prompt is required when shot_type is 'customize'"
            if any(not shot.duration.isdigit() or int(shot.duration) < 1 for shot in req.multi_prompt):
                return "multi_prompt[].duration must be a whole number of seconds (a string)"
            if sum(int(shot.duration) for shot in req.multi_prompt) != int(req.duration or "5"):
                return "the multi_prompt durations must sum to duration"
        if image:
            return "image and image_tail cannot be used with multi_shot"
    elif req.shot_type is not None or req.multi_prompt is not None:
        return "shot_type and multi_prompt need multi_shot: true"
    if isinstance(req, Image2Video):
        if not req.image and not req.image_tail:
            return "at least one of image and image_tail is required"
        for field, value in (("image", req.image), ("image_tail", req.image_tail)):
            if value and (problem := _check_image(field, value)):
                return problem
        if req.voice_list and req.sound != "on":
            return "voice_list requires sound 'on'"
    return None


#: Units of the emulated resource pack of each access key when ``EmulatorConfig.balance`` is unset.
KLING_PACK_UNITS = 10_000.0
PACK_NAME = "Video Generation - emulator"
PACK_LIFETIME_MS = 365 * 24 * 3600 * 1000
MAX_MS = 10**14  # far beyond any Unix time in ms


def _job_units(job: Job) -> float:
    return float(job.extra["units"])


def _units(req: Text2Video) -> float:
    """Units a task deducts (``final_unit_deduction``): std 1.5, pro 2.5, pro with sound 5, with a
    voice 6, per 5 s; 10 s doubles; failed tasks deduct nothing (https://klingai.com/document-api)."""
    if (req.model_name or req.model) == V3_NAME:  # an emulator choice: per 5 s, sound +50 %
        base = {"std": 2.0, "pro": 3.0, "4k": 10.0}[req.mode or "std"] * (1.5 if req.sound == "on" else 1)
        return round(base * int(req.duration or "5") / 5, 4)
    pro = (req.mode or "std") == "pro"
    base = 1.5 if not pro else (5.0 if req.sound == "on" else 2.5)
    if isinstance(req, Image2Video) and req.voice_list:
        base = 6.0
    return base * (2 if req.duration == "10" else 1)


# -- serializer -----------------------------------------------------------------------------------
def task_data(call: Call, job: Job) -> dict[str, Any]:
    phase = job.phase()
    external = job.extra.get("external_task_id") or ""
    data: dict[str, Any] = {
        "task_id": job.task_id,
        "task_status": STATUS[phase],
        "task_status_msg": FAILURE_MESSAGES[job.outcome] if phase == "failed" and job.outcome else "",
        "task_info": {"external_task_id": external} if external else {},
        "created_at": ms(job.created),
        "updated_at": ms(job.updated_at()),
    }
    watermark = job.extra.get("watermark")
    if watermark is not None:
        data["watermark_info"] = {"enabled": watermark}
    if phase == "succeeded":
        url = call.emu.video_url(call.request, job)
        video: dict[str, Any] = {"id": job.extra["video_id"], "url": url, "duration": f"{job.duration:.1f}"}
        if watermark:
            video["watermark_url"] = url
        data["task_result"] = {"videos": [video]}
        data["final_unit_deduction"] = f"{job.extra['units']:g}"
    elif phase == "failed":
        data["final_unit_deduction"] = "0"
    return data


# -- resource pack --------------------------------------------------------------------------------
def _pack_check(call: Call, units: float) -> Response | None:
    """With ``--balance``: 1102 when the units held by queued, running and succeeded tasks plus this
    task's would exceed the pack (failed tasks give their units back)."""
    total = call.emu.config.balance
    if total is None:
        return None
    held = call.emu.spent(DIALECT.name, call.account, _job_units, NOT_FAILED)
    if held + units <= total:
        return None
    return call.error("credits", f"resource pack depleted: {units:g} units needed, {total - held:g} left")


def _pack(call: Call) -> dict[str, Any]:
    """The key's one resource pack; ``remaining_quantity`` drops as its tasks succeed."""
    total = KLING_PACK_UNITS if call.emu.config.balance is None else call.emu.config.balance
    remaining = max(0.0, total - call.emu.spent(DIALECT.name, call.account, _job_units, ("succeeded",)))
    bought = ms(call.emu.started)
    return {
        "resource_pack_name": PACK_NAME,
        "resource_pack_id": hashlib.md5(call.account.encode(), usedforsecurity=False).hexdigest(),
        "resource_pack_type": "decreasing_total",
        "total_quantity": float(total),
        "remaining_quantity": remaining,
        "purchase_time": bought,
        "effective_time": bought,
        "invalid_time": bought + PACK_LIFETIME_MS,
        "status": "online" if remaining > 0 else "runOut",
    }


# -- routes ---------------------------------------------------------------------------------------
def _spec(schema: type[Text2Video]) -> SubmitSpec[Text2Video]:
    return SubmitSpec(
        schema,
        prompt=lambda req: req.prompt,
        prefix="Invalid request parameters: ",
        rules=lambda call, req: _rules(req),
        gate=lambda call, body, req: _pack_check(call, _units(req)),
    )


SUBMITS = {"text2video": _spec(Text2Video), "image2video": _spec(Image2Video)}


async def _submit(request: Request, family: str) -> Response:
    sub = await submission(request, DIALECT, SUBMITS[family])
    if isinstance(sub, Response):
        return sub
    call, req = sub.call, sub.req
    external = req.external_task_id or ""
    shots = tuple((s.prompt, float(s.duration)) for s in req.multi_prompt or []) if req.multi_shot else ()
    job = sub.new_job(
        ids=lambda: random_digits(18),
        prompt=req.prompt,
        duration=int(req.duration or "5"),
        aspect=req.aspect_ratio,
        sound=req.sound == "on",
        client_id=external or None,
        family=family,
        model=req.model_name or req.model or MODEL_NAME,
        shots=shots,
        extra={
            "external_task_id": external,
            "mode": req.mode or "std",
            "units": _units(req),
            "video_id": str(uuid.uuid4()),
            "watermark": req.watermark_info.enabled if req.watermark_info else None,
            "callback_url": req.callback_url or None,
        },
    )
    if (duplicate := _store(call, job, family, external)) is not None:
        return duplicate
    data = {
        "task_id": job.task_id,
        "task_info": {"external_task_id": external} if external else {},
        "task_status": "submitted",
        "created_at": ms(job.created),
        "updated_at": ms(job.created),
    }
    return call.finish(_envelope(data))


def _store(call: Call, job: Job, route: str, external: str) -> Response | None:
    """Store ``job`` under its route (a family, or a path-addressed route) by task id and external id;
    the duplicate answer when the external id already names a job (that submit creates none)."""
    stored = call.store_job(
        job,
        lookup_keys=(f"{route}/task/{job.task_id}",) + ((f"{route}/ext/{external}",) if external else ()),
        unique_keys=(f"ext/{external}",) if external else (),
    )
    if stored is job:
        return None
    call.count("dedup_hits")
    return call.finish(
        call.error("duplicate", f"Invalid request parameters: external_task_id {external!r} already exists")
    )


async def _status(request: Request, family: str, task_id: str) -> Response:
    keys = (f"{family}/task/{task_id}", f"{family}/ext/{task_id}")  # task_id or external_task_id
    found = await lookup(request, DIALECT, *keys, missing=f"task not found: {task_id}")
    return found if isinstance(found, Response) else _envelope(task_data(*found))


def _query_ints(call: Call, spec: tuple[tuple[str, int | None, int], ...]) -> dict[str, int] | Response:
    """Integer query parameters ``(name, default or None when required, highest)``.

    The lowest accepted value is 1 (page numbers), or 0 for a required one (timestamps).
    """
    params: dict[str, int] = {}
    for name, default, high in spec:
        raw = call.request.query_params.get(name)
        if raw is None and default is not None:
            params[name] = default
            continue
        low = 0 if default is None else 1
        if raw is None or not raw.isdigit() or not low <= int(raw) <= high:
            problem = f"{name} must be an integer in [{low}, {high}]"
            return call.error("validation", f"Invalid request parameters: {problem}")
        params[name] = int(raw)
    return params


async def _list(request: Request, family: str) -> Response:
    call = await Call.enter(request, DIALECT, "other", fault=True)
    if isinstance(call, Response):
        return call
    params = _query_ints(call, (("pageNum", 1, 1000), ("pageSize", 30, 500)))
    if isinstance(params, Response):
        return params
    jobs = sorted(
        (j for j in call.emu.store.jobs(DIALECT.name, call.account) if j.family == family),
        key=lambda j: j.created,
        reverse=True,
    )
    start = (params["pageNum"] - 1) * params["pageSize"]
    return _envelope([task_data(call, j) for j in jobs[start : start + params["pageSize"]]])


def _family_routes(family: str) -> None:
    """Submit, list and status of one family; a task is only found under the family it was made in."""

    async def submit(request: Request) -> Response:
        return await _submit(request, family)

    async def list_tasks(request: Request) -> Response:
        return await _list(request, family)

    async def status(request: Request, task_id: str) -> Response:
        return await _status(request, family, task_id)

    path = f"/v1/videos/{family}"
    router.add_api_route(path, submit, methods=["POST"], name=f"submit_{family}")
    router.add_api_route(path, list_tasks, methods=["GET"], name=f"list_{family}")
    router.add_api_route(path + "/{task_id}", status, methods=["GET"], name=f"status_{family}")


for _family in FAMILIES:
    _family_routes(_family)


# -- the path-addressed family (Kling 3.0 Turbo; GATEWAYS.md 1.9) ---------------------------------
class PathSettings(StrictModel):
    resolution: Literal["720p", "1080p", "4k"] | None = None
    aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None
    duration: Annotated[int, Field(ge=3, le=15)] | None = None
    audio: Literal["native", "off"] | None = None
    multi_shot: bool | None = None


class PromptItem(StrictModel):
    type: Literal["prompt"]
    text: Annotated[str, Field(min_length=1, max_length=3072)]


class FrameItem(StrictModel):
    type: Literal["first_frame", "last_frame"]
    url: Annotated[str, Field(min_length=1)]


class VoiceItem(StrictModel):
    type: Literal["voice"]
    voice_id: Annotated[str, Field(min_length=1)]
    id: Annotated[str, Field(min_length=1)]


Content = Annotated[PromptItem | FrameItem | VoiceItem, Field(discriminator="type")]


class PathOptions(StrictModel):
    callback_url: str | None = None
    external_task_id: str | None = None
    watermark_info: WatermarkInfo | None = None


class PathText(StrictModel):
    """``POST /text-to-video/<model>``: the prompt at the top level, no ``contents``."""

    prompt: Annotated[str, Field(min_length=1, max_length=3072)]
    settings: PathSettings | None = None
    options: PathOptions | None = None


class PathImage(StrictModel):
    """``POST /image-to-video/<model>``: the prompt and the frames are ``contents`` items; a top-level
    ``prompt`` (or ``image``) is an unknown field, refused."""

    contents: Annotated[list[Content], Field(min_length=1, max_length=5)]
    settings: PathSettings | None = None
    options: PathOptions | None = None

    @property
    def prompt(self) -> str:
        return next((c.text for c in self.contents if isinstance(c, PromptItem)), "")

    @property
    def frames(self) -> list[FrameItem]:
        return [c for c in self.contents if isinstance(c, FrameItem)]


PathSubmit = PathText | PathImage


def _kind_model(call: Call) -> tuple[str, str | None]:
    """The route kind (``text-to-video``) and model of a path-addressed call."""
    return call.request.url.path.strip("/").split("/")[0], call.request.path_params.get("model")


def _path_rules(call: Call, req: PathSubmit) -> str | None:
    _, model = _kind_model(call)
    settings = req.settings or PathSettings()
    turbo = model == "kling-3.0-turbo"
    if turbo and (
        settings.resolution == "4k" or settings.audio is not None or settings.multi_shot is not None
    ):
        return "kling-3.0-turbo takes resolution 720p|1080p and no audio or multi_shot setting"
    if isinstance(req, PathImage):
        types = [c.type for c in req.contents]
        if any(types.count(kind) > 1 for kind in ("prompt", "first_frame", "last_frame")):
            return "contents: at most one prompt, one first_frame and one last_frame"
        if not req.frames:
            return "contents: image-to-video needs a first_frame or a last_frame item"
        if turbo and "last_frame" in types:
            return "kling-3.0-turbo takes no last_frame"
        if "voice" in types and settings.audio != "native":
            return "contents: a voice item needs settings.audio 'native'"
        for frame in req.frames:
            if not is_http_url(frame.url):
                return f"contents.{frame.type}.url must be an http(s) URL"
    options = req.options or PathOptions()
    if options.callback_url and not is_http_url(options.callback_url):
        return "options.callback_url must be an http(s) URL"
    return None


def _path_route(call: Call) -> Response | None:
    kind, model = _kind_model(call)
    if kind in PATH_KINDS and model in PATH_MODELS:
        return None
    return call.error("not_found", f"no route /{kind}/{model}")


def _path_spec(schema: type[PathText] | type[PathImage]) -> SubmitSpec[Any]:
    return SubmitSpec(
        schema,
        prompt=lambda req: req.prompt,
        prefix="Invalid request parameters: ",
        rules=_path_rules,
        before=_path_route,
    )


PATH_SUBMITS = {"text-to-video": _path_spec(PathText), "image-to-video": _path_spec(PathImage)}
#: the lookup key prefix of every path-addressed job: ``GET /tasks`` names no route
PATH_TASKS = "tasks"


def path_item(call: Call, job: Job) -> dict[str, Any]:
    """One item of ``GET /tasks?task_ids=``: ``{id, status, message, create_time, update_time,
    external_id, outputs: [{type: "video", url, id, duration, watermark_url}]}``, terminal
    ``succeeded`` / ``failed`` (GATEWAYS.md 1.9)."""
    phase = job.phase()
    item: dict[str, Any] = {
        "id": job.task_id,
        "status": PATH_STATUS[phase],
        "message": FAILURE_MESSAGES[job.outcome] if phase == "failed" and job.outcome else "",
        "create_time": ms(job.created),
        "update_time": ms(job.updated_at()),
        "external_id": job.extra.get("external_task_id") or "",
        "outputs": [],
    }
    if phase == "succeeded":
        url = call.emu.video_url(call.request, job)
        item["outputs"] = [
            {
                "type": "video",
                "url": url,
                "id": job.extra["video_id"],
                "duration": f"{job.duration:.1f}",
                "watermark_url": url if job.extra.get("watermark") else "",
            }
        ]
    return item


async def path_submit(request: Request, model: str) -> Response:
    kind = request.url.path.strip("/").split("/")[0]
    sub = await submission(request, DIALECT, PATH_SUBMITS[kind])
    if isinstance(sub, Response):
        return sub
    call, req = sub.call, sub.req
    settings = req.settings or PathSettings()
    options = req.options or PathOptions()
    external = options.external_task_id or ""
    seconds = settings.duration or 5
    job = sub.new_job(
        ids=lambda: random_digits(18),
        prompt=req.prompt,
        duration=seconds,
        aspect=settings.aspect_ratio,
        sound=settings.audio == "native",
        client_id=external or None,
        family=f"{kind}/{model}",
        model=model,
        extra={
            "external_task_id": external,
            "mode": settings.resolution or "720p",
            "units": round({"4k": 10.0, "1080p": 3.0}.get(settings.resolution or "", 2.0) * seconds / 5, 4),
            "video_id": str(uuid.uuid4()),
            "watermark": options.watermark_info.enabled if options.watermark_info else None,
            "callback_url": options.callback_url or None,
        },
    )
    if (duplicate := _store(call, job, PATH_TASKS, external)) is not None:
        return duplicate
    data = {"id": job.task_id, "status": "submitted", "message": "", "create_time": ms(job.created)}
    return call.finish(_envelope({**data, "update_time": ms(job.created)}))


@router.get("/tasks")
async def path_tasks(request: Request) -> Response:
    """``GET /tasks?task_ids=<id>[,<id>...]``: ``data`` lists the account's path-addressed jobs among
    the ids, in the order asked (an unknown id is left out, so one unknown id gives ``[]``)."""
    call = await Call.enter(request, DIALECT, "status")
    if isinstance(call, Response):
        return call
    ids = [i.strip() for i in request.query_params.get("task_ids", "").split(",") if i.strip()]
    if not ids:
        return call.error("validation", "Invalid request parameters: task_ids is required")
    items = []
    for task_id in dict.fromkeys(ids):
        job = call.emu.store.find(DIALECT.name, call.account, f"{PATH_TASKS}/task/{task_id}")
        if (fault := await call.status_fault(job)) is not None:
            return fault
        if job is not None:
            items.append(path_item(call, job))
    return _envelope(items)


for _kind in PATH_KINDS:  # explicit prefixes: a bare /{kind}/{model} would shadow other routes
    router.add_api_route(f"/{_kind}/{{model}}", path_submit, methods=["POST"], name=f"submit_{_kind}")


@router.get("/account/costs")
async def account_costs(request: Request) -> Response:
    """The key's resource packs (https://klingai.com/document-api/api/assets/account-usage).

    Free to call but limited to one query per second per key: a faster one gets 429 / 1302.
    ``start_time`` and ``end_time`` (Unix ms) are required, ``resource_pack_name`` filters by exact
    name. The emulator's pack is live where the real ``remaining_quantity`` may lag by hours, and it is
    listed whatever the window.
    """
    call = await Call.enter(request, DIALECT, "other", fault=True)
    if isinstance(call, Response):
        return call
    if (refusal := call.emu.limits.throttle((DIALECT.name, call.account, "account/costs"), 1.0)) is not None:
        message = "request rate too high: the account query allows 1 request per second"
        return DIALECT.too_many(message, refusal.retry_after, code=1302)
    window = _query_ints(call, (("start_time", None, MAX_MS), ("end_time", None, MAX_MS)))
    if isinstance(window, Response):
        return window
    if window["start_time"] > window["end_time"]:
        return call.error("validation", "Invalid request parameters: start_time is after end_time")
    wanted = request.query_params.get("resource_pack_name")
    packs = [_pack(call)] if wanted in (None, PACK_NAME) else []
    return _envelope({"code": 0, "msg": "success", "resource_pack_subscribe_infos": packs})
