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
  ``aspect_ratio`` (text only), ``negative_prompt``, ``cfg_scale`` (text only), ``generate_audio``,
  ``start_image_url`` (image only); $0.07/s, $0.14/s with audio.
  ``fal-ai/kling-video/v3/{standard,pro}/{text,image}-to-video``: ``duration`` ``"3"``..``"15"``,
  ``end_image_url`` too; no fal price in our sources (estimate refused with the reason).
  ``kling/v4/{text,image}-to-video`` (https://fal.ai/models/kling/v4/text-to-video): ``duration``
  3-30 (an *integer*), ``resolution`` ``720p|1080p`` (default 1080p), ``aspect_ratio`` incl. 21:9,
  audio always on, ``start_image_url``/``end_image_url``; $0.157/s at 720p, $0.235/s at 1080p.
  The page also said "API access is coming soon" when we read it: 4.0 may answer 404 on some accounts.
  ``fal-ai/kling-video/v2.5-turbo/pro/{text,image}-to-video`` (Kling 2.5 Turbo Pro) [DOC:
  https://fal.ai/models/fal-ai/kling-video/v2.5-turbo/pro/image-to-video/llms.txt and
  https://fal.ai/docs/model-api-reference/video-generation-api/kling-video-v2.5-turbo-pro.md]:
  ``duration`` ``"5"|"10"``, ``aspect_ratio`` (text only), ``negative_prompt``, ``cfg_scale`` 0-1,
  no ``generate_audio`` (silent), and its frames are ``image_url`` and ``tail_image_url`` (image
  only); $0.35 for 5 s and $0.07 per further second, i.e. $0.07/s at 5 or 10 s.
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
from typing import Any

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import (
    CancelOutcome,
    Capabilities,
    Gateway,
    HttpRequest,
    HttpResponse,
)
from airflow_provider_kling.gateways.capabilities import KLING_3, KLING_25_TURBO
from airflow_provider_kling.gateways.errors import POLICY_WORDS, ErrorTable, WordRule
from airflow_provider_kling.gateways.pricing import usd_per_second
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

V26_PRO = "fal-ai/kling-video/v2.6/pro"
V3_STANDARD = "fal-ai/kling-video/v3/standard"
V3_PRO = "fal-ai/kling-video/v3/pro"
V4 = "kling/v4"
V25_TURBO_PRO = "fal-ai/kling-video/v2.5-turbo/pro"
#: the ``shape`` of the 4.0 row: an integer ``duration``, the tier as ``resolution``, no
#: ``generate_audio`` (audio is always rendered)
V4_SHAPE = "v4"

_SOURCE = "https://fal.ai/models (model pages, 2026-12)"


def _v3(model: str, tier: str) -> Capabilities:
    return Capabilities(
        model=model,
        **KLING_3,
        fixed_tier=tier,
        prompt_max=2500,
        negative_prompt=True,
        tiers=("std", "pro"),
        cfg_scale=True,
        end_image=True,
        local_images="data_uri",
        price_note="no fal price for Kling 3.0 in our sources",
        notes="std or pro (a model id each); first and last frame",
    )


#: a row per model id; the submit path is ``<model id>/text-to-video`` or ``/image-to-video``, and the
#: status, result and cancel URLs name the app (the id's first two segments, :func:`app_of`)
MODELS: dict[str, Capabilities] = {
    V26_PRO: Capabilities(
        model=V26_PRO,
        default_tier="pro",
        prompt_max=2500,
        negative_prompt=True,
        tiers=("pro",),
        cfg_scale=True,
        cfg_scale_with_image=False,
        local_images="data_uri",
        prices=usd_per_second(
            {"pro": 0.07, "pro+sound": 0.14},
            "fal's Kling 2.6 Pro page: $0.07 per second, $0.14 with audio",
            _SOURCE,
            "pro",
        ),
        notes="pro only; image-to-video takes a first frame (no last frame) and its aspect ratio from it",
    ),
    V3_STANDARD: _v3(V3_STANDARD, "std"),
    V3_PRO: _v3(V3_PRO, "pro"),
    V4: Capabilities(
        model=V4,
        name="kling-4.0",
        shape=V4_SHAPE,
        default_tier="pro",
        resolutions={"std": "720p", "pro": "1080p"},
        prompt_max=26000,
        durations=tuple(range(3, 31)),
        aspect_ratios=("16:9", "9:16", "1:1", "21:9"),
        tiers=("std", "pro"),
        end_image=True,
        local_images="data_uri",
        prices=usd_per_second(
            {"std+sound": 0.157, "pro+sound": 0.235},
            "fal's Kling 4.0 page: $0.157 per second at 720p, $0.235 at 1080p",
            _SOURCE,
            "pro",
        ),
        sound_field=False,
        notes="3-30 s, audio always on (sound=True required); tier std = 720p, pro = 1080p (default)",
    ),
    V25_TURBO_PRO: Capabilities(
        model=V25_TURBO_PRO,
        **KLING_25_TURBO,
        default_tier="pro",
        negative_prompt=True,
        tiers=("pro",),
        cfg_scale=True,
        end_image=True,
        image_fields=("image_url", "tail_image_url"),
        local_images="data_uri",
        prices=usd_per_second(
            {"pro": 0.07},
            "fal's Kling 2.5 Turbo Pro page: $0.35 for 5 s, $0.07 per further second",
            "https://fal.ai/models/fal-ai/kling-video/v2.5-turbo/pro/image-to-video/llms.txt",
            "pro",
        ),
        notes="pro only; 5 or 10 s; no sound; image-to-video takes a first and last frame "
        "(image_url, tail_image_url) and its aspect ratio from the image",
    ),
}


def app_of(model: str) -> str:
    """The app of a model id, as the status URLs name it (``fal-ai/kling-video``, ``kling/v4``)."""
    return "/".join(model.split("/")[:2])


#: an app id, as :func:`app_of` and the queue's ``status_url`` give it and as it goes into a queue
#: URL's path: ``owner/app``, each of letters, digits, ``.``, ``_``, ``-`` (no ``.`` or ``..``, no
#: ``requests``, no other segment, no query, nothing to encode)
_APP = re.compile(r"(?!requests/)[A-Za-z0-9][\w.-]*/(?!requests$)[A-Za-z0-9][\w.-]*", re.ASCII)


_STATES = fields.state_table(
    queued="in_queue",
    running="in_progress",
    succeeded="completed",
    failed="failed",  # some of fal's schemas list it; most report a failure as COMPLETED with an error
    cancelled="cancellation_requested",  # besides the usual two spellings
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
        "'Authorization: Key <key>'. extra.model: kling-2.6 (default), kling-3.0, kling-4.0 or "
        "kling-2.5-turbo."
    )
    models = MODELS
    errors = ERRORS
    failure_words = POLICY_WORDS  # fal's ``error_type`` is free text
    #: no free call is documented: the connection test asks for the status of a request that does not exist
    probe_api = "fal's queue"

    @property
    def app(self) -> str:
        """The app of the connection's model (for a status request that has no endpoint)."""
        return app_of(self.model)

    # ----------------------------------------------------------------- auth
    def auth_headers(self, credentials: Any, now: float) -> dict[str, str]:
        headers = super().auth_headers(credentials, now)  # refuses an empty key
        return {"Authorization": headers["Authorization"].replace("Bearer ", "Key ", 1)}

    def validate_extra(self, request: VideoRequest) -> None:
        row = self.capabilities_for(request)
        if row.shape == V4_SHAPE and not request.sound:
            raise KlingValidationError.for_field(
                self.name, "sound", False, f"True ({row.name} on fal always renders audio)"
            )

    # ----------------------------------------------------------------- submit
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        row = self.capabilities_for(request)
        v4 = row.shape == V4_SHAPE
        kind = "image-to-video" if request.is_image_to_video else "text-to-video"
        body: dict[str, Any] = {"prompt": request.prompt}
        first, last = row.frame_fields("start_image_url", "end_image_url")
        if request.start_image is not None:
            body[first] = request.start_image
        if request.end_image is not None:
            body[last] = request.end_image
        body["duration"] = int(request.duration) if v4 else str(request.duration)
        if row.resolutions:
            body["resolution"] = row.resolutions[request.tier or row.default_tier or "pro"]
        if not request.is_image_to_video:
            body["aspect_ratio"] = request.aspect_ratio or "16:9"
        if request.negative_prompt is not None:
            body["negative_prompt"] = request.negative_prompt
        if request.cfg_scale is not None:
            body["cfg_scale"] = request.cfg_scale
        if row.sound_field:
            body["generate_audio"] = bool(request.sound)
        params = {"fal_webhook": request.callback_url} if request.callback_url else None
        return HttpRequest("POST", f"/{row.model}/{kind}", json=body, params=params)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        body = self.status_body(response)
        request_id = fields.first_str(body, "request_id")
        if request_id is None:
            raise self.protocol_error("request_id is missing", response)
        app = app_of(self.capabilities_for(request).model)
        return self.job(request_id, TaskState.QUEUED, body, endpoint=self._app_of(body, app))

    def _app_of(self, body: dict[str, Any], app: str) -> str:
        """The model id of the status URLs: from ``status_url`` when it has one (and it is an app
        id, :meth:`endpoint_ok`), else the route's."""
        url = fields.first_str(body, "status_url") or ""
        marker = "/requests/"
        if marker in url and "://" in url:
            path = url.split("://", 1)[1].partition("/")[2].partition(marker)[0]
            return path if self.endpoint_ok(path) else app
        return app

    # ----------------------------------------------------------------- status and result
    def endpoint_ok(self, endpoint: str) -> bool:
        return len(endpoint) <= 200 and _APP.fullmatch(endpoint) is not None

    def endpoints_allowed(self) -> str:
        return (
            "a fal app id such as 'fal-ai/kling-video' or 'kling/v4' (the operator result's endpoint: "
            "owner/app, each of letters, digits, '.', '_', '-'), or None (the connection's model's app)"
        )

    def _app_path(self, task_id: str, endpoint: str | None) -> str:
        """``/<app>/requests/<id>``: the app checked (:meth:`check_endpoint`), the id encoded."""
        return f"/{self.check_endpoint(endpoint) or self.app}/requests/{self.task_ref(task_id)}"

    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("GET", f"{self._app_path(task_id, endpoint)}/status")

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        body = self.status_body(response)
        word = body.get("status")
        state = self.state_of(word)
        error = fields.message_text(body.get("error"))
        failure = None
        if state is TaskState.SUCCEEDED and error:
            # a failed run is COMPLETED with an error (there is no output to fetch)
            state = TaskState.FAILED
            failure = (fields.opt_str(body.get("error_type")), error)
        elif state is TaskState.FAILED:
            failure = (fields.opt_str(body.get("error_type")), error or f"request {task_id} failed")
        elif state is TaskState.CANCELLED:
            failure = ("cancelled", f"request {task_id} was cancelled")
        position = fields.opt_int(body.get("queue_position")) if state is TaskState.QUEUED else None
        return self.job(
            fields.first_str(body, "request_id") or task_id,
            state,
            body,
            failure,
            endpoint=endpoint or self.app,
            queue_position=position,
        )

    def build_result(self, task: VideoTask) -> HttpRequest:
        return HttpRequest("GET", self._app_path(task.task_id, task.endpoint))

    def read_result(self, task: VideoTask, response: HttpResponse) -> VideoTask:
        body = self.status_body(response)
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

    # ----------------------------------------------------------------- cancel
    def build_cancel(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("PUT", f"{self._app_path(task_id, endpoint)}/cancel")

    def read_cancel(
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
