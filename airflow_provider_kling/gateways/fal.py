"""fal: the Kling models on fal's queue (``https://queue.fal.run``), including Kling 4.0.

Wire facts (re-checked 2026-12-05):

* Queue (https://fal.ai/docs/model-endpoints/queue, https://fal.ai/docs/inference-api/queue/cancel):
  ``POST /<model id>/<subpath>`` with the model's input as the body answers ``{"request_id",
  "response_url", "status_url", "cancel_url"}``; ``GET /<model id>/requests/<id>/status`` answers
  ``IN_QUEUE`` (with ``queue_position``) / ``IN_PROGRESS`` / ``COMPLETED``; ``GET
  /<model id>/requests/<id>`` the output; ``PUT /<model id>/requests/<id>/cancel``: a queued request
  is removed, an in-progress one gets a cancellation signal the app may ignore (answers ``OK`` /
  ``CANCELLATION_REQUESTED`` / ``ALREADY_COMPLETED`` / ``NOT_FOUND``). The status, result and cancel
  URLs name the model id *without* its subpath (``fal-ai/kling-video``, ``kling/v4``).
* Auth: ``Authorization: Key <key>`` (https://fal.ai/docs/authentication).
* Webhooks: ``?fal_webhook=<url>`` on the submit (https://fal.ai/docs/model-endpoints/webhooks).
* Limits: requests over the account's limit on requests in progress are queued, never refused;
  5xx answers are never charged (https://fal.ai/docs/faq). A job queued at fal is a wait.
* Models (model pages and their ``/llms.txt``):
  ``fal-ai/kling-video/v2.6/pro/{text,image}-to-video``: ``duration`` ``"5"|"10"`` (a string),
  ``aspect_ratio`` (text only), ``negative_prompt``, ``cfg_scale``, ``generate_audio``,
  ``start_image_url`` (image only); $0.07/s, $0.14/s with audio.
  ``fal-ai/kling-video/v3/{standard,pro}/{text,image}-to-video``: ``duration`` ``"3"``..``"15"``,
  ``end_image_url`` too; no fal price in our sources (estimate refused with the reason).
  ``kling/v4/{text,image}-to-video`` (https://fal.ai/models/kling/v4/text-to-video): ``duration``
  3-30 (an *integer*), ``resolution`` ``720p|1080p`` (default 1080p), ``aspect_ratio`` incl. 21:9,
  audio always on, ``start_image_url``/``end_image_url``; $0.157/s at 720p, $0.235/s at 1080p.
  The page also said "API access is coming soon" when we read it: 4.0 may answer 404 on some accounts.
* Output: ``{"video": {"url", "content_type", "file_name", "file_size"}}``.

Oddities written here: the status answer carries no output (a second request, :meth:`build_result`,
fetches it), the model id of the status URLs differs from the submit path (kept in the task's
``endpoint``), a cancel answer that does not say whether the job had started (``last_state`` decides,
or the hook asks), and Kling 4.0's tier is its ``resolution`` (std = 720p, pro = 1080p).

No ``fal-client`` / ``replicate`` dependency: the wire is a few plain JSON calls, and our own transport
gives what those clients would not share: one pooled aiohttp session for every trigger of a
connection in the triggerer, the retry policy, secret scrubbing and the typed errors. A vendor client
would be a second HTTP stack (its own sessions and retries) per trigger.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_kling.exceptions import KlingError, KlingValidationError
from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import (
    CancelOutcome,
    Capabilities,
    Gateway,
    HttpRequest,
    HttpResponse,
)
from airflow_provider_kling.gateways.errors import POLICY_WORDS, ErrorTable, WordRule
from airflow_provider_kling.gateways.pricing import Prices
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask


@dataclass(frozen=True)
class Route:
    """Where one model lives on fal's queue and how its input is spelt."""

    #: the model id of the status, result and cancel URLs
    app: str
    #: submit paths; ``{tier}`` is replaced by the tier's word (:attr:`tier_words`)
    text: str
    image: str
    #: request tier -> the word in the path, or the ``resolution`` value
    tier_words: Mapping[str, str]
    default_tier: str
    #: ``True``: the tier is the ``resolution`` field, not part of the path
    tier_is_resolution: bool = False
    #: ``duration`` as a JSON string (2.6, 3.0) or an integer (4.0)
    duration_as_text: bool = True
    #: the model takes ``generate_audio`` (4.0 always renders audio and has no such field)
    audio_field: bool = True


ROUTES: dict[str, Route] = {
    "kling-2.6": Route(
        app="fal-ai/kling-video",
        text="fal-ai/kling-video/v2.6/{tier}/text-to-video",
        image="fal-ai/kling-video/v2.6/{tier}/image-to-video",
        tier_words={"pro": "pro"},
        default_tier="pro",
    ),
    "kling-3.0": Route(
        app="fal-ai/kling-video",
        text="fal-ai/kling-video/v3/{tier}/text-to-video",
        image="fal-ai/kling-video/v3/{tier}/image-to-video",
        tier_words={"std": "standard", "pro": "pro"},
        default_tier="std",
    ),
    "kling-4.0": Route(
        app="kling/v4",
        text="kling/v4/text-to-video",
        image="kling/v4/image-to-video",
        tier_words={"std": "720p", "pro": "1080p"},
        default_tier="pro",
        tier_is_resolution=True,
        duration_as_text=False,
        audio_field=False,
    ),
}

MODELS: dict[str, Capabilities] = {
    "kling-2.6": Capabilities(
        model="kling-2.6",
        prompt_max=2500,
        negative_prompt=True,
        tiers=("pro",),
        cfg_scale=True,
        local_images="data_uri",
        notes="pro only; image-to-video takes a first frame (no last frame) and its aspect ratio from it",
    ),
    "kling-3.0": Capabilities(
        model="kling-3.0",
        prompt_max=2500,
        negative_prompt=True,
        durations=tuple(range(3, 16)),
        tiers=("std", "pro"),
        cfg_scale=True,
        end_image=True,
        local_images="data_uri",
        notes="std or pro (a separate path each); first and last frame",
    ),
    "kling-4.0": Capabilities(
        model="kling-4.0",
        prompt_max=26000,
        durations=tuple(range(3, 31)),
        aspect_ratios=("16:9", "9:16", "1:1", "21:9"),
        tiers=("std", "pro"),
        end_image=True,
        local_images="data_uri",
        notes="3-30 s, audio always on (sound=True required); tier std = 720p, pro = 1080p (default)",
    ),
}

_SOURCE = "https://fal.ai/models (model pages, 2026-12)"
PRICES: dict[str, Prices] = {
    "kling-2.6": Prices(
        unit="USD",
        rates={"pro": 0.07, "pro+sound": 0.14},
        per_seconds=1,
        basis="fal's Kling 2.6 Pro page: $0.07 per second, $0.14 with audio",
        source=_SOURCE,
        default_tier="pro",
    ),
    "kling-4.0": Prices(
        unit="USD",
        rates={"std+sound": 0.157, "pro+sound": 0.235},
        per_seconds=1,
        basis="fal's Kling 4.0 page: $0.157 per second at 720p, $0.235 at 1080p",
        source=_SOURCE,
        default_tier="pro",
    ),
}

_STATES = fields.state_table(
    queued="in_queue",
    running="in_progress",
    succeeded="completed",
    cancelled="canceled cancelled cancellation_requested",
)

#: fal's errors are HTTP statuses with a ``detail``: what the status means, except a 403 about money
#: (fal locks an account whose balance is exhausted) and a refused input worded as a safety refusal
ERRORS = ErrorTable(
    wording=(
        WordRule(
            re.compile(r"balance|locked|billing|payment", re.IGNORECASE),
            kind="quota",
            statuses=frozenset((403,)),
        ),
        WordRule(POLICY_WORDS, kinds=frozenset(("validation",))),
    ),
)


class FalGateway(Gateway):
    """fal's queue: submit, status, result and cancel, each at its own URL."""

    name = "fal"
    title = "fal"
    default_base_url = "https://queue.fal.run"
    states = _STATES
    key_help = (
        "API key from https://fal.ai/dashboard/keys in the password field; it is sent as "
        "'Authorization: Key <key>'. extra.model: kling-2.6 (default), kling-3.0 or kling-4.0."
    )
    models = MODELS
    model_prices = PRICES
    errors = ERRORS
    #: no free call is documented: the connection test asks for the status of a request that does not exist
    probe_api = "fal's queue"

    @property
    def route(self) -> Route:
        return ROUTES[self.model]

    # ----------------------------------------------------------------- auth
    def auth_headers(self, credentials: Any, now: float) -> dict[str, str]:
        headers = super().auth_headers(credentials, now)  # refuses an empty key
        return {"Authorization": headers["Authorization"].replace("Bearer ", "Key ", 1)}

    def validate_extra(self, request: VideoRequest) -> None:
        if not self.route.audio_field and not request.sound:
            raise KlingValidationError.for_field(
                self.name, "sound", False, f"True ({self.model} on fal always renders audio)"
            )

    # ----------------------------------------------------------------- submit
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        route = self.route
        tier = route.tier_words[request.tier or route.default_tier]
        path = route.image if request.is_image_to_video else route.text
        body: dict[str, Any] = {"prompt": request.prompt}
        if request.start_image is not None:
            body["start_image_url"] = request.start_image
        if request.end_image is not None:
            body["end_image_url"] = request.end_image
        body["duration"] = str(request.duration) if route.duration_as_text else request.duration
        if route.tier_is_resolution:
            body["resolution"] = tier
        if not request.is_image_to_video:
            body["aspect_ratio"] = request.aspect_ratio or "16:9"
        if request.negative_prompt is not None:
            body["negative_prompt"] = request.negative_prompt
        if request.cfg_scale is not None:
            body["cfg_scale"] = request.cfg_scale
        if route.audio_field:
            body["generate_audio"] = bool(request.sound)
        params = {"fal_webhook": request.callback_url} if request.callback_url else None
        return HttpRequest("POST", "/" + path.format(tier=tier), json=body, params=params)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        body = self._body(response)
        request_id = fields.first_str(body, "request_id")
        if request_id is None:
            raise self.protocol_error("request_id is missing", response)
        return self.job(request_id, TaskState.QUEUED, body, endpoint=self._app_of(body))

    def _app_of(self, body: dict[str, Any]) -> str:
        """The model id of the status URLs: from ``status_url`` when it has one, else the route's."""
        url = fields.first_str(body, "status_url") or ""
        marker = "/requests/"
        if marker in url and "://" in url:
            path = url.split("://", 1)[1].partition("/")[2]
            return path.partition(marker)[0] or self.route.app
        return self.route.app

    # ----------------------------------------------------------------- status and result
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("GET", f"/{endpoint or self.route.app}/requests/{task_id}/status")

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        body = self._body(response)
        word = body.get("status")
        state = self.state_of(word)
        error = fields.message_text(body.get("error"))
        failure = None
        if state is TaskState.SUCCEEDED and error:
            # a failed run is COMPLETED with an error (there is no output to fetch)
            state = TaskState.FAILED
            failure = (fields.opt_str(body.get("error_type")), error)
        elif state is TaskState.CANCELLED:
            failure = ("cancelled", f"request {task_id} was cancelled")
        position = fields.opt_int(body.get("queue_position")) if state is TaskState.QUEUED else None
        return self.job(
            fields.first_str(body, "request_id") or task_id,
            state,
            body,
            failure,
            endpoint=endpoint or self.route.app,
            queue_position=position,
        )

    def build_result(self, task: VideoTask) -> HttpRequest:
        return HttpRequest("GET", f"/{task.endpoint or self.route.app}/requests/{task.task_id}")

    def read_result(self, task: VideoTask, response: HttpResponse) -> VideoTask:
        body = self._body(response)
        video = body.get("video")
        url = fields.first_str(video, "url") if isinstance(video, dict) else None
        return self.job(
            task.task_id,
            TaskState.SUCCEEDED,
            body,
            video_urls=[url] if url else [],
            endpoint=task.endpoint,
            created_at=task.created_at,
        )

    def failure_error(self, task: VideoTask) -> KlingError:
        """fal's ``error_type`` is free text: safety wording means content policy."""
        return self.failure_by_wording(task, POLICY_WORDS)

    # ----------------------------------------------------------------- cancel
    def build_cancel(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("PUT", f"/{endpoint or self.route.app}/requests/{task_id}/cancel")

    def parse_cancel(
        self, task_id: str, last_state: TaskState | None, response: HttpResponse
    ) -> CancelOutcome:
        body = fields.expect_dict(
            self.name, self._decoded_any(response), "cancel answer", response.status_code
        )
        word = (fields.opt_str(body.get("status")) or "").upper()
        if word == "ALREADY_COMPLETED":
            return CancelOutcome(task_id, False, None, f"fal request {task_id} had already finished")
        if word == "NOT_FOUND" or response.status_code == 404:
            return CancelOutcome(task_id, False, None, f"fal knows no request {task_id}")
        if response.status_code >= 400:
            raise self.refusal(response, None, _detail(body))
        if last_state is TaskState.QUEUED:
            return CancelOutcome(
                task_id,
                True,
                False,
                f"fal request {task_id} removed from the queue before it started: not billed",
            )
        if last_state is TaskState.RUNNING:
            return CancelOutcome(
                task_id,
                False,
                True,
                f"fal request {task_id} was already rendering: fal only signals the cancel; "
                "it may finish and be billed",
            )
        return CancelOutcome(
            task_id, None, None, f"fal accepted the cancel of request {task_id} ({word or 'OK'})"
        )

    def error_fields(self, body: Any) -> tuple[str | int | None, str | None]:
        return None, _detail(body)

    # ----------------------------------------------------------------- helpers
    def _decoded_any(self, response: HttpResponse) -> Any:
        return self.decode(response, lambda: self.refusal(response, response.status_code))

    def _body(self, response: HttpResponse) -> dict[str, Any]:
        body = self.decode(response, lambda: self.refusal(response, response.status_code))
        if response.status_code >= 400:
            raise self.refusal(response, response.status_code, _detail(body))
        return body


def _detail(body: Any) -> str | None:
    """fal's ``detail``: a string, or FastAPI's list of ``{"loc", "msg", "type"}``."""
    if not isinstance(body, dict):
        return None
    detail = body.get("detail")
    if isinstance(detail, list):
        parts = [
            f"{'.'.join(str(p) for p in item.get('loc', []))}: {item.get('msg')}"
            for item in detail
            if isinstance(item, dict)
        ]
        return "; ".join(parts) or None
    return fields.message_text(detail) or fields.message_text(body.get("error"))
