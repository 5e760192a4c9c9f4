"""Replicate: the official Kling models (``kwaivgi/...``) through Replicate's predictions API.

Wire facts (re-checked 2026-12-05):

* Predictions (https://replicate.com/docs/topics/predictions, https://replicate.com/docs/reference/http):
  ``POST /v1/models/<owner>/<name>/predictions`` with ``{"input": {...}, "webhook"?,
  "webhook_events_filter"?}`` creates a prediction of an official model (201, ``status:
  "starting"``); ``GET /v1/predictions/<id>`` reads it (``starting``, ``processing``, ``succeeded``,
  ``failed``, ``canceled``; ``output`` is the video URL, ``error`` a string); ``POST
  /v1/predictions/<id>/cancel`` stops it and answers the prediction. ``Authorization: Bearer
  <token>``. ``GET /v1/account`` is free (the connection test).
* Limits: 600 prediction creations a minute (https://replicate.com/docs/topics/predictions/rate-limits),
  429 with ``Retry-After``. Inputs and outputs of API predictions are **deleted after one hour**
  (https://replicate.com/docs/topics/predictions/data-retention): set ``download_to``.
* Errors are problem JSON ``{"title", "detail", "status"}`` (422 adds ``invalid_fields``).
* Models (https://replicate.com/kwaivgi/kling-v2.6/api, https://replicate.com/kwaivgi/kling-v3-video/api):
  ``kling-v2.6``: ``prompt``, ``negative_prompt``, ``start_image``, ``aspect_ratio`` (ignored with
  an image, so not sent then), ``duration`` 5|10 (an integer), ``generate_audio``.
  ``kling-v3-video``: also ``end_image``, ``mode`` ``standard|pro``, ``duration`` 3-15,
  ``multi_prompt`` (a JSON string; not used here). Prices are not in our sources: the estimate is
  refused with the reason unless the connection sets ``extra.prices``.
  ``kling-v2.5-turbo-pro`` (Kling 2.5 Turbo Pro): ``prompt``, ``negative_prompt``, ``start_image``,
  ``aspect_ratio`` (ignored with an image), ``duration`` 5|10; no ``end_image``, no ``mode``, no
  ``generate_audio`` (silent). ``kling-v2.1`` (Kling 2.1): image-to-video only (``start_image``
  required), ``mode`` ``standard`` (720p, default) | ``pro`` (1080p), ``end_image`` with pro only,
  ``negative_prompt``, ``duration`` 5|10, no ``aspect_ratio``, no ``generate_audio``. Both [2ND:
  their input schemas as api.core.today mirrors them,
  https://api.core.today/v1/models/kwaivgi/kling-v2.5-turbo-pro/llms.txt and
  .../kwaivgi/kling-v2.1/llms.txt, naming https://replicate.com/kwaivgi/kling-v2.5-turbo-pro and
  https://replicate.com/kwaivgi/kling-v2.1 as their documentation; we could not read Replicate's
  own pages]; no Replicate price in our sources.

A cancel of an official model's prediction before it has output stops the work; Replicate prices
these models per output, so a canceled prediction has nothing to bill (our reading of the pricing
page; the log says "not billed for output").

No ``replicate`` client dependency, for the reasons the :mod:`.fal` module gives.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from airflow_provider_kling.gateways import fields
from airflow_provider_kling.gateways.base import (
    CancelOutcome,
    Capabilities,
    Gateway,
    HttpRequest,
    HttpResponse,
)
from airflow_provider_kling.gateways.capabilities import KLING_3, KLING_25_TURBO, NO_SOUND, by_model
from airflow_provider_kling.gateways.errors import POLICY_WORDS, ErrorTable, WordRule
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

#: request tier -> ``mode`` (3.0 only)
MODES: dict[str, str] = {"std": "standard", "pro": "pro"}

V26 = "kwaivgi/kling-v2.6"
V3 = "kwaivgi/kling-v3-video"
V25_TURBO_PRO = "kwaivgi/kling-v2.5-turbo-pro"
V21 = "kwaivgi/kling-v2.1"
_V26_ROW = Capabilities(
    model=V26,
    prompt_max=2500,
    negative_prompt=True,
    local_images="data_uri",
    price_note="no Replicate price in our sources",
    notes="no tier choice, no last frame; image-to-video takes its aspect ratio from the image",
)
_V3_ROW = replace(
    _V26_ROW,
    model=V3,
    **KLING_3,
    tiers=("std", "pro"),
    default_tier="std",
    end_image=True,
    notes="mode standard (std, default) or pro; first and last frame",
)
#: a row per official model, keyed by Replicate's ``owner/name`` (the id in the submit path)
MODELS: dict[str, Capabilities] = by_model(
    _V26_ROW,
    _V3_ROW,
    replace(
        _V26_ROW,
        model=V25_TURBO_PRO,
        **KLING_25_TURBO,
        notes="5 or 10 s; no sound, no tier choice, no last frame; image-to-video takes its aspect "
        "ratio from the image",
    ),
    replace(
        _V3_ROW,
        model=V21,
        name="kling-2.1",
        durations=(5, 10),
        **NO_SOUND,
        text_to_video=False,
        end_image_needs_pro=True,
        notes="image-to-video only; mode standard (std, 720p, default) or pro (1080p, last frame "
        "too); 5 or 10 s; no sound",
    ),
)

_STATES = fields.state_table(
    queued="starting",
    running="processing",
    succeeded="succeeded",
    failed="failed",
    cancelled="aborted",  # besides the usual two spellings
)
#: Replicate's errors are HTTP statuses with problem JSON: what the status means, except a refused
#: input worded as a safety refusal
ERRORS = ErrorTable(wording=(WordRule(POLICY_WORDS, kinds=frozenset(("validation",))),))
#: how long Replicate keeps a prediction's output (one hour)
RETENTION_SECONDS = 3600.0


class ReplicateGateway(Gateway):
    """Replicate's predictions: one object read, created and cancelled at documented URLs."""

    name = "replicate"
    title = "Replicate"
    default_base_url = "https://api.replicate.com"
    states = _STATES
    key_help = (
        "API token from https://replicate.com/account/api-tokens in the password field; it is sent "
        "as a Bearer token. extra.model: kling-2.6 (default), kling-3.0, kling-2.5-turbo or kling-2.1."
    )
    models = MODELS
    errors = ERRORS
    failure_words = POLICY_WORDS
    output_retention = RETENTION_SECONDS

    # ----------------------------------------------------------------- submit
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        row = self.capabilities_for(request)
        inp: dict[str, Any] = {"prompt": request.prompt}
        if request.negative_prompt is not None:
            inp["negative_prompt"] = request.negative_prompt
        if request.start_image is not None:
            inp["start_image"] = request.start_image
        if request.end_image is not None:
            inp["end_image"] = request.end_image
        if row.default_tier is not None:  # the 3.0 and 2.1 rows: the tier is ``mode``
            inp["mode"] = MODES[request.tier or row.default_tier]
        if not request.is_image_to_video:
            inp["aspect_ratio"] = request.aspect_ratio or "16:9"
        inp["duration"] = request.duration
        if row.sound_field:
            inp["generate_audio"] = bool(request.sound)
        body: dict[str, Any] = {"input": inp}
        if request.callback_url is not None:
            body["webhook"] = request.callback_url
            body["webhook_events_filter"] = ["completed"]
        return HttpRequest("POST", f"/v1/models/{row.model}/predictions", json=body)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        return self._prediction(None, self.status_body(response), response)

    # ----------------------------------------------------------------- status
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("GET", f"/v1/predictions/{self.task_ref(task_id)}")

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        return self._prediction(task_id, self.status_body(response), response)

    def _prediction(self, task_id: str | None, body: dict[str, Any], response: HttpResponse) -> VideoTask:
        pid = fields.first_str(body, "id") or task_id
        if pid is None:
            raise self.protocol_error("the prediction has no id", response)
        state = self.state_of(body.get("status"))
        urls = fields.url_list(body.get("output")) if state is TaskState.SUCCEEDED else []
        failure = None
        if state.is_failed:
            word = "was canceled" if state is TaskState.CANCELLED else "failed"
            failure = (None, fields.message_text(body.get("error")) or f"prediction {pid} {word}")
        finished = fields.timestamp(body.get("completed_at"))
        expires = finished + timedelta(seconds=RETENTION_SECONDS) if finished and urls else None
        return self.job(
            pid,
            state,
            body,
            failure,
            video_urls=urls,
            created_at=fields.timestamp(body.get("created_at")),
            finished_at=finished,
            expires_at=expires,
        )

    # ----------------------------------------------------------------- cancel
    def build_cancel(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("POST", f"/v1/predictions/{self.task_ref(task_id)}/cancel")

    def read_cancel(
        self, task_id: str, last_state: TaskState | None, response: HttpResponse
    ) -> CancelOutcome:
        task = self.read_status(task_id, None, response)
        if task.state is TaskState.CANCELLED:
            return CancelOutcome(
                task.task_id,
                True,
                False,
                f"Replicate prediction {task.task_id} canceled: not billed for output",
            )
        if task.state is TaskState.SUCCEEDED:
            return CancelOutcome(
                task.task_id, False, True, f"Replicate prediction {task.task_id} had already succeeded"
            )
        if task.state is TaskState.FAILED:
            return CancelOutcome(
                task.task_id, False, False, f"Replicate prediction {task.task_id} had already failed"
            )
        return CancelOutcome(
            task.task_id, None, None, f"Replicate prediction {task.task_id} is {task.state.value}"
        )

    # ----------------------------------------------------------------- connection test
    def build_test_connection(self) -> HttpRequest:
        """``GET /v1/account``: free, authenticated, creates nothing."""
        return HttpRequest("GET", "/v1/account")

    def check_test_connection(self, response: HttpResponse) -> None:
        self.status_body(response)

    # ----------------------------------------------------------------- helpers
    def error_fields(self, body: Any) -> tuple[str | int | None, str | None]:
        """Problem JSON: ``detail``, else ``title``."""
        if not isinstance(body, dict):
            return None, None
        return None, fields.message_text(body.get("detail")) or fields.message_text(body.get("title"))
