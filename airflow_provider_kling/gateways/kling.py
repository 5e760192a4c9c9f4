"""The official Kling API (Kuaishou): ``/v1/videos/*``, and the path-addressed family (Turbo).

Wire facts (https://app.klingai.com/global/dev/document-api/apiReference/model/textToVideo and
``.../imageToVideo``): JWT auth (HS256, ``iss`` = access key, signed with the secret key); ``duration``
and ``sound`` are *strings* (``"5"``, ``"on"``); text-to-video and image-to-video are separate families
and a job must be polled under the family that created it; the success state is spelled ``succeed``; a
failed job's reason is in ``task_status_msg`` while the envelope still says ``SUCCEED``. Errors are
numeric ``code`` values in the body (https://app.klingai.com/global/dev/document-api/apiReference/commonInfo),
and HTTP 429 carries both billing (1100-1102) and throttling (1302-1303) codes, so we branch on the code.

Kling 3.0 (``model_name: "kling-v3"``, out 2026-02-05) travels on the same ``/v1`` routes: ``mode``
std/pro/4k, ``duration`` a string ``"3"``..``"15"``, sound in every tier, and multi-shot as
``multi_shot: true`` + ``shot_type: "customize"`` + ``multi_prompt: [{index, prompt, duration}]``
(1-6 shots of <= 512 characters summing to the clip; no start/end frame with it) [2ND: the Vercel AI
SDK's official-API adapter, AceDataCloud/Nexior PRs #562 and #581, docs.powertokens.ai
kling-v3-text2video]. Kling 3.0 Turbo lives on the newer *path-addressed* family instead (GATEWAYS.md
section 1.9, "Newer path-addressed route family" [2ND: inference-sh/grid ``KlingV2API``,
cluely/unmodel; docs.comfy.org kling-3-0-turbo; docs.cloudsway.net KL_3.0_turbo]):

- ``POST /text-to-video/kling-3.0-turbo`` with ``{prompt, settings: {resolution 720p|1080p,
  aspect_ratio, duration <int>}, options: {callback_url, external_task_id, watermark_info}}``;
- ``POST /image-to-video/kling-3.0-turbo`` with ``{contents: [{type: "prompt", text}, {type:
  "first_frame", url}, {type: "last_frame", url}], settings, options}``: the prompt is a ``contents``
  item, not a top-level field, and the frames are URLs (the documents give no base64 form, so the
  Turbo row takes public image URLs only and refuses a local file or ``data:`` URI before any request);
- ``settings.audio`` (native|off) is the family's sound field, sent only by a row that has one: Turbo
  has no sound field and no multi-shot (MODELS.md); its row offers no last frame either;
- the submit is answered ``{code, data: {id, status, create_time}}``; a job is polled with ``GET
  /tasks?task_ids=<id>``, answered ``data: [{id, status, message, create_time, update_time,
  external_id, outputs: [{type: "video", url, id, duration, watermark_url}]}]``, terminal
  ``succeeded`` / ``failed``, the failure's reason in ``message``. The reader is lenient: ``data`` as an
  object and the ``/v1``-like ``task_result.videos`` shape are read too.
- No query by external id is published for the family: no lookup there (``build_lookup``).
- Auth: section 1.9 says "static API key as Bearer"; this module sends the same ``Bearer <JWT>`` as on
  ``/v1`` (one connection, one key pair), which the emulator checks on both families.

Prices for 3.0 are a third party's reading of the official card ($0.084 / $0.112 / $0.42 per second
for std / pro / 4K, +50 % with sound) [2ND]: estimates say so in their basis.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import jwt

from airflow_provider_kling.exceptions import (
    ErrorKind,
    KlingAuthError,
    KlingError,
    KlingNotFoundError,
    KlingValidationError,
    error_class,
)
from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import (
    Capabilities,
    Credentials,
    Gateway,
    HttpRequest,
    HttpResponse,
    check_task_id,
)
from airflow_provider_kling.gateways.billing import FailureBilling
from airflow_provider_kling.gateways.capabilities import KLING_3, NO_SOUND, by_model
from airflow_provider_kling.gateways.errors import ErrorTable
from airflow_provider_kling.gateways.pricing import Balance, Prices, usd_per_second
from airflow_provider_kling.models import Shot, VideoRequest, VideoTask

#: JWT lifetime; the hook refreshes a token ``JWT_REFRESH_MARGIN`` seconds before it expires.
JWT_TTL = 1800
JWT_REFRESH_MARGIN = 300
#: ``nbf`` is set this far in the past to absorb clock skew (error 1003 otherwise).
JWT_NBF_SKEW = 5

FAMILIES: tuple[str, ...] = ("text2video", "image2video")
#: the path-addressed family's routes, by whether the request has an image (the model id follows)
PATH_ROUTES = {False: "text-to-video", True: "image-to-video"}
#: the ``shape`` of the rows served on the path-addressed family
PATH = "path"
#: the path-addressed family's status query: ``GET /tasks?task_ids=<id>`` (GATEWAYS.md 1.9)
PATH_STATUS = "/tasks"

_STATES = fields.state_table(
    queued="submitted queued",
    running="processing running",
    succeeded="succeed succeeded success",
    failed="failed fail",
)

#: envelope ``code`` groups, from the error-code table of the API's "common info" page
_AUTH_CODES = (1000, 1001, 1002, 1003, 1004, 1103, 1304)
_QUOTA_CODES = (1100, 1101, 1102)
_RATE_CODES = (1302, 1303)
_POLICY_CODES = (1300, 1301)
_NOT_FOUND_CODES = (1202, 1203)
_SERVER_CODES = (5000, 5001, 5002)
#: the error table: envelope ``code`` -> kind; a numeric code the table does not know, under HTTP
#: 200, is a refusal of the request (validation); these kinds prove no job exists, whatever the status
ERRORS = ErrorTable(
    codes={
        **dict.fromkeys(_AUTH_CODES, "auth"),
        **dict.fromkeys(_QUOTA_CODES, "quota"),
        **dict.fromkeys(_RATE_CODES, "rate_limit"),
        **dict.fromkeys(_POLICY_CODES, "content_policy"),
        **dict.fromkeys(_NOT_FOUND_CODES, "not_found"),
        **dict.fromkeys(_SERVER_CODES, "server"),
        **dict.fromkeys((1200, 1201), "validation"),
    },
    success_codes=frozenset((0,)),
    unknown_code="validation",
    rejected_kinds=frozenset(("quota", "content_policy", "validation", "auth")),
)
#: words in ``task_status_msg`` that mark a content-safety refusal of an accepted job
_POLICY_WORDS = ("risk", "sensitive", "security", "policy", "nsfw", "violat", "prohibit", "safety")


def make_jwt(access_key: str, secret_key: str, now: float) -> str:
    """The bearer token the official API wants: pure function of the keys and the time."""
    payload = {"iss": access_key, "exp": int(now) + JWT_TTL, "nbf": int(now) - JWT_NBF_SKEW}
    return jwt.encode(payload, secret_key, algorithm="HS256", headers={"alg": "HS256", "typ": "JWT"})


#: Kling's published v2.6 rates, in resource-pack units per 5 s of output (10 s doubles; a failed
#: task is not charged). What a unit costs in money depends on the account's packs and discounts.
PRICES = Prices(
    unit="units",
    rates={"std": 1.5, "pro": 2.5, "pro+sound": 5.0},
    per_seconds=5,
    default_tier="std",
    basis="Kling API v2.6 rates: std 1.5, pro 2.5, pro with audio 5 units per 5 s",
    source="https://klingai.com/document-api",
    unit_note="Kling API resource-pack units (what a unit costs depends on the account's packs)",
)

#: Kling 3.0 per output second, as a third party read the official card (sound +50 %)
V3_PRICES = usd_per_second(
    {"std": 0.084, "std+sound": 0.126, "pro": 0.112, "pro+sound": 0.168, "4k": 0.42, "4k+sound": 0.63},
    "Kling 3.0 per second: std $0.084, pro $0.112, 4K $0.42, +50 % with sound "
    "(a third party's reading of the official card; the account is billed in units)",
    "https://docs.powertokens.ai/en/zmodelVideo/kling/kling-v3-text2video",
    "std",
)

#: Kling 2.6's own limits: sound needs pro, and a last frame needs pro and excludes sound (3.0 lifts them)
_LIMITS = ("sound_needs_pro", "end_image_needs_pro", "end_image_excludes_sound")
V26_LIMITS: dict[str, Any] = dict.fromkeys(_LIMITS, True)
V3_LIMITS: dict[str, Any] = dict.fromkeys(_LIMITS, False)

#: Kling 2.6 as its maker serves it; gateways relaying the same matrix start from it
NATIVE = Capabilities(
    model="kling-v2-6",
    prompt_max=2500,
    negative_prompt=True,
    tiers=("std", "pro"),
    default_tier="std",
    **V26_LIMITS,
    end_image=True,
    end_image_needs_start=False,
    local_images="base64",
    extra_fields={"watermark": "bool: sent as watermark_info.enabled"},
    cost_unit="units",  # final_unit_deduction
    prices=PRICES,
    notes="sound needs pro; last frame needs pro and no sound; cfg_scale is not supported on v2.x",
)

#: Kling 3.0 on ``/v1``: 3-15 s, sound and last frame in every tier, 4K, multi-shot without frames
V3 = replace(
    NATIVE,
    model="kling-v3",
    **KLING_3,
    tiers=("std", "pro", "4k"),
    **V3_LIMITS,
    multi_shot=True,
    multi_shot_start_image=False,
    prices=V3_PRICES,
    notes="3-15 s; sound and last frame in every tier; 4K; multi-shot (1-6 shots) without start/end frame",
)

#: Kling 3.0 Turbo on the path-addressed family: a resolution instead of a mode, no sound field, and
#: frames as ``contents`` items carrying a ``url`` (GATEWAYS.md 1.9 gives no base64 form)
TURBO = Capabilities(
    model="kling-3.0-turbo",
    name="kling-3.0-turbo",
    shape=PATH,
    prompt_max=3072,
    durations=tuple(range(3, 16)),
    tiers=("std", "pro"),
    default_tier="std",
    resolutions={"std": "720p", "pro": "1080p"},
    **NO_SOUND,
    local_images="url_only",
    extra_fields={"watermark": "bool: sent as options.watermark_info.enabled"},
    cost_unit="units",
    price_note="the official API publishes no Kling 3.0 Turbo price",
    notes="path-addressed route; tier std = 720p, pro = 1080p; image URLs only; no sound, last frame or "
    "multi-shot fields",
)

#: Only a task deducts units (``final_unit_deduction``), and "failed tasks are not charged".
BILLING = FailureBilling(
    failed="no",
    refused="no",
    content_policy="no",
    source="Kling API: failed tasks are not charged and a refused request creates no task "
    "(https://klingai.com/document-api)",
)

#: the account's resource packs: free to ask, at most one request per second
ACCOUNT_COSTS = "/account/costs"


class KlingGateway(Gateway):
    """Kling's own API: JWT auth, and a job is polled under the route family that created it."""

    name = "kling"
    title = "Kling official API"
    default_base_url = "https://api-singapore.klingai.com"
    idempotency = "lookup"
    auth_cache_seconds = JWT_TTL - JWT_REFRESH_MARGIN
    # a Turbo job is polled on its route (the task's ``endpoint``, e.g. ``text-to-video/kling-3.0-turbo``);
    # a bare id is looked for in the two ``/v1`` families only (each extra try is a call per poll)
    status_endpoints = FAMILIES
    states = _STATES
    key_help = (
        "Access key (login) and secret key (password) from the Kling developer console; "
        "China-region keys need host https://api-beijing.klingai.com."
    )
    models = by_model(NATIVE, V3, TURBO)
    prices = PRICES
    billing = BILLING
    errors = ERRORS

    # ----------------------------------------------------------------- auth
    def auth_headers(self, credentials: Credentials, now: float) -> dict[str, str]:
        if not credentials.access_key or not credentials.api_key:
            raise KlingAuthError(
                "the official Kling API needs the access key (login) and the secret key (password)",
                gateway=self.name,
            )
        return {"Authorization": f"Bearer {make_jwt(credentials.access_key, credentials.api_key, now)}"}

    def validate_extra(self, request: VideoRequest) -> None:
        wm = request.extra.get("watermark")
        if "watermark" in request.extra and not isinstance(wm, bool):
            raise KlingValidationError.for_field(self.name, "extra.watermark", wm, "true, false")

    # ----------------------------------------------------------------- submit
    @staticmethod
    def family(request: VideoRequest) -> str:
        return "image2video" if request.is_image_to_video else "text2video"

    def endpoint(self, request: VideoRequest) -> str:
        """Where the job lives: a ``/v1`` family, or a path-addressed route (``text-to-video/<id>``)."""
        row = self.capabilities_for(request)
        if row.shape == PATH:
            return f"{PATH_ROUTES[request.is_image_to_video]}/{row.model}"
        return self.family(request)

    def build_submit(self, request: VideoRequest) -> HttpRequest:
        row = self.capabilities_for(request)
        if row.shape == PATH:
            return self._build_path(request, row)
        body: dict[str, Any] = {
            "model_name": row.model,
            "prompt": request.prompt,
            "duration": str(request.duration),
            "mode": request.tier or "std",
            "sound": "on" if request.sound else "off",
        }
        if request.negative_prompt is not None:
            body["negative_prompt"] = request.negative_prompt
        if request.is_image_to_video:
            if request.start_image is not None:
                body["image"] = _strip_data_uri(request.start_image)
            if request.end_image is not None:
                body["image_tail"] = _strip_data_uri(request.end_image)
        else:
            body["aspect_ratio"] = request.aspect_ratio or "16:9"
        if request.shots:
            body.update(multi_shot_fields(request.shots, str))
        body.update(self._options(request))
        return HttpRequest("POST", f"/v1/videos/{self.family(request)}", json=body)

    def _build_path(self, request: VideoRequest, row: Capabilities) -> HttpRequest:
        """The path-addressed family (GATEWAYS.md 1.9): ``settings`` (resolution, aspect ratio,
        duration as an integer, ``audio`` where the row has a sound field) and ``options`` (callback,
        external id, watermark); text-to-video has a top-level ``prompt``, image-to-video has none and
        sends ``contents``: the prompt item, then the frames as URLs (the row refused anything else)."""
        settings: dict[str, Any] = {"resolution": row.resolutions[request.tier or row.default_tier or "std"]}
        if not request.is_image_to_video:
            settings["aspect_ratio"] = request.aspect_ratio or "16:9"
        settings["duration"] = int(request.duration)
        if row.sound_field:
            settings["audio"] = "native" if request.sound else "off"
        body: dict[str, Any]
        if request.is_image_to_video:
            frames = (("first_frame", request.start_image), ("last_frame", request.end_image))
            contents: list[dict[str, Any]] = [{"type": "prompt", "text": request.prompt}]
            contents += [{"type": kind, "url": url} for kind, url in frames if url is not None]
            body = {"contents": contents, "settings": settings}
        else:
            body = {"prompt": request.prompt, "settings": settings}
        options = self._options(request)
        if options:
            body["options"] = options
        return HttpRequest("POST", f"/{self.endpoint(request)}", json=body)

    def _options(self, request: VideoRequest) -> dict[str, Any]:
        """The callback, the external id and the watermark: top level on ``/v1``, ``options`` on the
        path-addressed family."""
        options: dict[str, Any] = {}
        if request.callback_url is not None:
            options["callback_url"] = request.callback_url
        if request.client_reference is not None:
            options["external_task_id"] = self.client_id(request.client_reference)
        if "watermark" in request.extra:
            options["watermark_info"] = {"enabled": request.extra["watermark"]}
        return options

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        data = self._data(response, allow_list=True)
        if isinstance(data, list):  # lenient: a path-addressed answer listing the one new task
            data = fields.expect_dict(self.name, (data or [None])[0], "data[0]", response.status_code)
        return self._task(data, self.endpoint(request), response)

    # ----------------------------------------------------------------- status
    def endpoint_ok(self, endpoint: str) -> bool:
        return endpoint in self.job_endpoints()

    def job_endpoints(self) -> tuple[str, ...]:
        """What :meth:`endpoint` gives a job: a ``/v1`` family or a path-addressed model's route."""
        models = dict.fromkeys(row.model for row in self.models.values() if row.shape == PATH)
        return (*FAMILIES, *(f"{route}/{model}" for model in models for route in PATH_ROUTES.values()))

    def endpoints_allowed(self) -> str:
        return f"{', '.join(self.job_endpoints())}, or None (both families are tried)"

    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        """``/v1``: ``GET /v1/videos/{family}/{id}``; a path-addressed job (its endpoint is its route,
        ``image-to-video/kling-3.0-turbo``): ``GET /tasks?task_ids=<id>`` (GATEWAYS.md 1.9)."""
        endpoint = self.check_endpoint(endpoint)
        if endpoint is not None and _is_path_route(endpoint):
            return HttpRequest("GET", PATH_STATUS, params={"task_ids": check_task_id(self.name, task_id)})
        family = endpoint if endpoint in FAMILIES else "text2video"
        return HttpRequest("GET", f"/v1/videos/{family}/{self.task_ref(task_id)}")

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        if endpoint is not None and _is_path_route(endpoint):
            return self._task(self._path_item(task_id, response), endpoint, response)
        known = endpoint if endpoint in FAMILIES else None
        return self._task(self._data(response), known or "text2video", response)

    def _path_item(self, task_id: str, response: HttpResponse) -> dict[str, Any]:
        """The job's item in a ``GET /tasks?task_ids=`` answer: ``data`` is a list of tasks (the one
        whose ``id`` is ``task_id``); a lone object is read as that task (lenient). No such item: the
        job is not known to this account."""
        data = self._data(response, allow_list=True)
        if isinstance(data, dict):
            return data
        items = fields.objects(data)
        for item in items:
            if fields.opt_str(item.get("id", item.get("task_id"))) == task_id:
                return item
        if items:
            raise self.protocol_error(f"data[] has no item with id {task_id!r}", response)
        raise KlingNotFoundError(
            f"task not found: {task_id}", gateway=self.name, status_code=response.status_code
        )

    def build_lookup(self, request: VideoRequest) -> HttpRequest | None:
        # the path-addressed family publishes no query by external id: no lookup there
        if request.client_reference is None or self.capabilities_for(request).shape == PATH:
            return None
        return self.build_status(self.client_id(request.client_reference), self.family(request))

    def read_lookup(self, request: VideoRequest, response: HttpResponse) -> VideoTask | None:
        try:
            return self.parse_status(
                self.client_id(request.client_reference or ""), self.endpoint(request), response
            )
        except KlingNotFoundError:
            return None

    def failure_error(self, task: VideoTask) -> KlingError:
        message = task.error_message or f"job {task.task_id} failed"
        lowered = message.lower()
        kind: ErrorKind = (
            "content_policy" if any(word in lowered for word in _POLICY_WORDS) else "task_failed"
        )
        return error_class(kind)(message, gateway=self.name, code=task.error_code)

    # ----------------------------------------------------------------- task list
    list_endpoints = FAMILIES

    def build_list(self, endpoint: str | None, page: int, size: int) -> HttpRequest:
        """``GET /v1/videos/{family}?pageNum=&pageSize=`` (pageNum 1-1000, pageSize 1-500)."""
        family = endpoint if endpoint in FAMILIES else "text2video"
        page, size = max(1, min(page, 1000)), max(1, min(size, 500))
        params = {"pageNum": str(page), "pageSize": str(size)}
        return HttpRequest("GET", f"/v1/videos/{family}", params=params)

    def read_list(self, endpoint: str | None, response: HttpResponse) -> list[VideoTask]:
        data = self._data(response, allow_list=True)
        family = endpoint if endpoint in FAMILIES else "text2video"
        items = data if isinstance(data, list) else []
        return [self._task(item, family, response) for item in items if isinstance(item, dict)]

    # ----------------------------------------------------------------- connection test
    def build_test_connection(self) -> HttpRequest:
        return HttpRequest("GET", "/v1/videos/text2video", params={"pageNum": "1", "pageSize": "1"})

    def check_test_connection(self, response: HttpResponse) -> None:
        self._data(response, allow_list=True)

    # ----------------------------------------------------------------- balance
    def build_balance(self, now: float) -> HttpRequest | None:
        """The resource packs (https://klingai.com/document-api/api/assets/account-usage): free, at
        most one query per second, ``start_time``/``end_time`` in Unix ms are required."""
        end = int(now * 1000)
        return HttpRequest("GET", ACCOUNT_COSTS, params={"start_time": "0", "end_time": str(end)})

    def read_balance(self, response: HttpResponse) -> Balance:
        """The units left in the packs that are online (an expired or used-up pack pays for nothing)."""
        data = self._data(response)
        if isinstance(data.get("code"), int | str) and str(data.get("code")) not in ("0", ""):
            raise self.refusal(response, data.get("code"), str(data.get("msg") or ""))
        left = 0.0
        for pack in fields.objects(data.get("resource_pack_subscribe_infos")):
            status = fields.opt_str(pack.get("status"))
            remaining = fields.opt_float(pack.get("remaining_quantity"))
            if remaining is not None and (status is None or status.lower() == "online"):
                left += remaining
        return Balance(amount=left, unit="units", source="GET /account/costs (online resource packs)")

    # ----------------------------------------------------------------- helpers
    def _data(self, response: HttpResponse, allow_list: bool = False) -> Any:
        """The envelope's ``data`` after checking HTTP status and ``code`` (both can signal errors)."""
        body = self.decode(response)
        code = body.get("code")
        if response.status_code >= 400 or (code not in (0, "0", None)):
            raise self.refusal(response, code, str(body.get("message") or body.get("msg") or ""))
        data = body.get("data")
        if allow_list and isinstance(data, list):
            return data
        return fields.expect_dict(self.name, data, "data", response.status_code)

    def _task(self, data: dict[str, Any], family: str, response: HttpResponse) -> VideoTask:
        # ``/v1`` says task_id / task_status / task_status_msg / task_result.videos / task_info; the
        # path-addressed family id / status / message / outputs / external_id (either is read)
        task_id = fields.opt_str(data.get("task_id")) or fields.opt_str(data.get("id"))
        if task_id is None:
            raise self.protocol_error("data.task_id is missing", response)
        status = data.get("task_status", data.get("status"))
        state = self.state_of(status)
        result = data.get("task_result", data.get("result"))
        urls: list[str] = []
        if isinstance(result, dict) and isinstance(result.get("videos"), list):
            for video in result["videos"]:
                if isinstance(video, dict):
                    urls.extend(fields.url_list(video.get("url")))
        urls.extend(u for u in _output_urls(data.get("outputs")) if u not in urls)
        info = data.get("task_info")
        external = fields.opt_str(info.get("external_task_id")) if isinstance(info, dict) else None
        failure = None
        if state.is_failed:
            message = fields.opt_str(data.get("task_status_msg")) or fields.opt_str(data.get("message"))
            failure = (str(status).lower(), message or "generation failed")
        return self.job(
            task_id,
            state,
            data,
            failure,
            endpoint=family,
            video_urls=urls,
            cost=fields.opt_float(data.get("final_unit_deduction")),
            created_at=fields.timestamp(data.get("created_at", data.get("create_time"))),
            finished_at=(
                fields.timestamp(data.get("updated_at", data.get("update_time")))
                if state.is_terminal
                else None
            ),
            client_reference=external
            or fields.opt_str(data.get("external_id"))
            or fields.opt_str(data.get("external_task_id")),
        )


def multi_shot_fields(shots: list[Shot], duration: Callable[[int], Any]) -> dict[str, Any]:
    """Kling's multi-shot fields: ``multi_shot``, ``shot_type: "customize"`` and the numbered
    ``multi_prompt`` (``duration`` spells a shot's seconds: a string here, an integer on APIMart)."""
    prompts = [
        {"index": i, "prompt": shot.prompt, "duration": duration(shot.duration)}
        for i, shot in enumerate(shots, start=1)
    ]
    return {"multi_shot": True, "shot_type": "customize", "multi_prompt": prompts}


def _output_urls(outputs: Any) -> list[str]:
    """The video URLs of a path-addressed task's ``outputs`` (``[{type: "video", url, ...}]``); when
    no item says ``video``, the URL of the first item that has one (lenient)."""
    items = fields.objects(outputs)
    videos = [item for item in items if str(item.get("type", "")).lower() == "video"]
    urls = [url for item in videos for url in fields.url_list(item.get("url"))]
    if urls:
        return urls
    return next((found for item in items if (found := fields.url_list(item.get("url")))), [])[:1]


def _is_path_route(endpoint: str) -> bool:
    """Whether an endpoint names a path-addressed route (``text-to-video/kling-3.0-turbo``)."""
    return endpoint.partition("/")[0] in PATH_ROUTES.values()


def _strip_data_uri(value: str) -> str:
    """The official API takes an image URL or raw base64, never a ``data:`` URI."""
    if value.startswith("data:") and "," in value:
        return value.split(",", 1)[1]
    return value
