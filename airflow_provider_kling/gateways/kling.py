"""The official Kling API (Kuaishou), ``/v1/videos/*`` routes.

Wire facts (https://app.klingai.com/global/dev/document-api/apiReference/model/textToVideo and
``.../imageToVideo``): JWT auth (HS256, ``iss`` = access key, signed with the secret key); ``duration``
and ``sound`` are *strings* (``"5"``, ``"on"``); text-to-video and image-to-video are separate families
and a job must be polled under the family that created it; the success state is spelled ``succeed``; a
failed job's reason is in ``task_status_msg`` while the envelope still says ``SUCCEED``. Errors are
numeric ``code`` values in the body (https://app.klingai.com/global/dev/document-api/apiReference/commonInfo),
and HTTP 429 carries both billing (1100-1102) and throttling (1302-1303) codes, so we branch on the code.
"""

from __future__ import annotations

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
from airflow_provider_kling.gateways.base import Capabilities, Credentials, Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.gateways.errors import ErrorTable
from airflow_provider_kling.gateways.pricing import Balance, Prices
from airflow_provider_kling.models import VideoRequest, VideoTask

#: JWT lifetime; the hook refreshes a token ``JWT_REFRESH_MARGIN`` seconds before it expires.
JWT_TTL = 1800
JWT_REFRESH_MARGIN = 300
#: ``nbf`` is set this far in the past to absorb clock skew (error 1003 otherwise).
JWT_NBF_SKEW = 5

FAMILIES: tuple[str, ...] = ("text2video", "image2video")

_STATES = fields.state_table(
    queued="submitted", running="processing", succeeded="succeed succeeded success", failed="failed fail"
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


#: Kling 2.6 as its maker serves it; gateways relaying the same matrix start from it
NATIVE = Capabilities(
    model="kling-v2-6",
    prompt_max=2500,
    negative_prompt=True,
    tiers=("std", "pro"),
    sound_needs_pro=True,
    end_image=True,
    end_image_needs_pro=True,
    end_image_excludes_sound=True,
    end_image_needs_start=False,
    local_images="base64",
    extra_fields={"watermark": "bool: sent as watermark_info.enabled"},
    cost_unit="units",  # final_unit_deduction
    notes="sound needs pro; last frame needs pro and no sound; cfg_scale is not supported on v2.x",
)


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
#: the account's resource packs: free to ask, at most one request per second
ACCOUNT_COSTS = "/account/costs"


class KlingGateway(Gateway):
    """Kling's own API: JWT auth, and a job is polled under the route family that created it."""

    name = "kling"
    title = "Kling official API"
    default_base_url = "https://api-singapore.klingai.com"
    idempotency = "lookup"
    auth_cache_seconds = JWT_TTL - JWT_REFRESH_MARGIN
    status_endpoints = FAMILIES
    states = _STATES
    key_help = (
        "Access key (login) and secret key (password) from the Kling developer console; "
        "China-region keys need host https://api-beijing.klingai.com."
    )
    models = {NATIVE.model: NATIVE}
    prices = PRICES
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

    def build_submit(self, request: VideoRequest) -> HttpRequest:
        body: dict[str, Any] = {
            "model_name": self.model,
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
        if request.callback_url is not None:
            body["callback_url"] = request.callback_url
        if request.client_reference is not None:
            body["external_task_id"] = self.client_id(request.client_reference)
        if "watermark" in request.extra:
            body["watermark_info"] = {"enabled": request.extra["watermark"]}
        return HttpRequest("POST", f"/v1/videos/{self.family(request)}", json=body)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        return self._task(self._data(response), self.family(request), response)

    # ----------------------------------------------------------------- status
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        family = endpoint if endpoint in FAMILIES else "text2video"
        return HttpRequest("GET", f"/v1/videos/{family}/{task_id}")

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        return self._task(self._data(response), endpoint if endpoint in FAMILIES else "text2video", response)

    def build_lookup(self, request: VideoRequest) -> HttpRequest | None:
        if request.client_reference is None:
            return None
        return self.build_status(self.client_id(request.client_reference), self.family(request))

    def read_lookup(self, request: VideoRequest, response: HttpResponse) -> VideoTask | None:
        try:
            return self.parse_status(
                self.client_id(request.client_reference or ""), self.family(request), response
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

    def parse_balance(self, response: HttpResponse) -> Balance:
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
        task_id = fields.opt_str(data.get("task_id"))
        if task_id is None:
            raise self.protocol_error("data.task_id is missing", response)
        status = data.get("task_status")
        state = self.state_of(status)
        result = data.get("task_result")
        urls: list[str] = []
        if isinstance(result, dict) and isinstance(result.get("videos"), list):
            for video in result["videos"]:
                if isinstance(video, dict):
                    urls.extend(fields.url_list(video.get("url")))
        info = data.get("task_info")
        failure = None
        if state.is_failed:
            failure = (
                str(status).lower(),
                fields.opt_str(data.get("task_status_msg")) or "generation failed",
            )
        return self.job(
            task_id,
            state,
            data,
            failure,
            endpoint=family,
            video_urls=urls,
            cost=fields.opt_float(data.get("final_unit_deduction")),
            created_at=fields.timestamp(data.get("created_at")),
            finished_at=fields.timestamp(data.get("updated_at")) if state.is_terminal else None,
            client_reference=fields.opt_str(info.get("external_task_id")) if isinstance(info, dict) else None,
        )


def _strip_data_uri(value: str) -> str:
    """The official API takes an image URL or raw base64, never a ``data:`` URI."""
    if value.startswith("data:") and "," in value:
        return value.split(",", 1)[1]
    return value
