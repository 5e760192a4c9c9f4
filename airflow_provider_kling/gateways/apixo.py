"""APIXO: ``POST /api/v1/generateTask/kling-2-6``, ``GET /api/v1/statusTask/kling-2-6``.

Wire facts (APIXO's Kling 2.6 page, indexed at https://apixo.ai/docs/llms.txt): Bearer key; the body
is ``{"request_type": "async"|"callback", "callback_url", "provider", "input": {...}}`` where
``input.mode`` (``text-to-video`` / ``image-to-video``) discriminates, ``duration`` is an *integer* and
``sound`` a *required boolean*; ``aspect_ratio`` is text-to-video only; ``image_urls`` holds the start
frame and optionally the end frame. Status states are ``pending|processing|success|failed``; the
result is in ``resultJson``, a JSON *string* holding ``resultUrls``; a failed job keeps envelope
``code`` 200 and carries ``failCode`` / ``failMsg``. HTTP errors: 400 validation, 401 key, 402
balance, 403 key/route *or* content rejected, 429 rate/concurrency, 500/502/504 upstream. No
idempotency key, no cost report.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from airflow_provider_kling.exceptions import KlingError, KlingValidationError
from airflow_provider_kling.gateways.base import Capabilities, Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.gateways.errors import (
    KINDS,
    POLICY_WORDS,
    check_probe,
    decode_object,
    http_error,
    status_kind,
)
from airflow_provider_kling.gateways.fields import (
    expect_dict,
    first_message,
    message_text,
    opt_int,
    opt_str,
    read_state,
    result_json_urls,
    snippet,
    state_table,
    timestamp,
)
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

#: the task id :meth:`ApixoGateway.build_test_connection` asks about (no free call is documented)
TEST_TASK_ID = "connection-test"

PROVIDERS = ("auto", "value", "official")

_STATES = state_table(
    queued="pending queued waiting",
    running="processing running",
    succeeded="success succeeded completed",
    failed="failed fail error",
    cancelled="cancelled canceled",
)
_MESSAGE_KEYS = ("message", "msg", "error")

#: documented ``failCode`` values of a content-safety refusal (compared case-insensitively)
_POLICY_FAIL_CODES = frozenset(
    c.lower()
    for c in (
        "SensitiveContentDetected",
        "InputOutputSensitiveContentDetected",
        "NSFW",
        "ProhibitedContentDetected",
        "CONTENT_VIOLATION",
    )
)
#: documented ``failCode`` values where the same request may succeed later
_RETRYABLE_FAIL_CODES = frozenset(("ratelimited", "timeout"))

#: ``reject`` alone makes a 403 a content refusal unless the message is about the key.
_REJECT = re.compile(r"reject", re.IGNORECASE)
_KEY_WORDS = re.compile(r"\bkey\b|token|auth|permission|access|route", re.IGNORECASE)


class ApixoGateway(Gateway):
    name: ClassVar[str] = "apixo"
    title: ClassVar[str] = "APIXO"
    default_base_url: ClassVar[str] = "https://api.apixo.ai"
    path_prefix: ClassVar[str] = "/api/v1"
    idempotency = "none"
    default_model: ClassVar[str] = "kling-2-6"
    key_help: ClassVar[str] = (
        "API key from the APIXO dashboard (sent as a Bearer token) in the password field."
    )
    models: ClassVar[dict[str, Capabilities]] = {
        "kling-2-6": Capabilities(
            model="kling-2-6",
            prompt_max=1000,
            negative_prompt=True,
            negative_prompt_max=2500,
            end_image=True,
            cfg_scale=True,
            extra_fields={
                "provider": "routing: auto|value|official (sent as the top-level provider field)",
            },
            notes=(
                "no tier choice (provider is routing, not quality); image-to-video takes the aspect "
                "ratio from the image; callback_url must be public HTTPS; images must be public URLs"
            ),
        )
    }

    # ----------------------------------------------------------------- validation
    def validate_extra(self, request: VideoRequest) -> None:
        if "provider" in request.extra:
            provider = request.extra["provider"]
            if not isinstance(provider, str) or provider not in PROVIDERS:
                raise KlingValidationError.for_field(
                    self.name, "extra.provider", provider, ", ".join(repr(p) for p in PROVIDERS)
                )
        if request.callback_url is not None and not request.callback_url.startswith("https://"):
            raise KlingValidationError.for_field(
                self.name,
                "callback_url",
                request.callback_url,
                "a public https:// URL",
                reason="APIXO delivers callbacks to HTTPS URLs only",
            )

    # ----------------------------------------------------------------- submit
    def build_submit(self, request: VideoRequest) -> HttpRequest:
        inp: dict[str, Any] = {
            "mode": "image-to-video" if request.is_image_to_video else "text-to-video",
            "prompt": request.prompt,
            "duration": int(request.duration),
            "sound": bool(request.sound),
        }
        if request.is_image_to_video:
            inp["image_urls"] = [u for u in (request.start_image, request.end_image) if u is not None]
        else:
            inp["aspect_ratio"] = request.aspect_ratio or "16:9"
        if request.negative_prompt is not None:
            inp["negative_prompt"] = request.negative_prompt
        if request.cfg_scale is not None:
            inp["cfg_scale"] = float(request.cfg_scale)
        body: dict[str, Any] = {}
        if request.callback_url is not None:
            body["request_type"] = "callback"
            body["callback_url"] = request.callback_url
        else:
            body["request_type"] = "async"
        if "provider" in request.extra:
            body["provider"] = request.extra["provider"]
        body["input"] = inp
        return HttpRequest("POST", f"/api/v1/generateTask/{self.model}", json=body)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        data = self._data(response)
        task_id = opt_str(data.get("taskId")) or opt_str(data.get("task_id"))
        if task_id is None:
            raise KINDS["protocol"](
                "data.taskId is missing", gateway=self.name, status_code=response.status_code
            )
        return VideoTask(
            task_id=task_id,
            gateway=self.name,
            state=TaskState.QUEUED,
            created_at=timestamp(data.get("createTime")),
            raw=data,
        )

    # ----------------------------------------------------------------- status
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("GET", f"/api/v1/statusTask/{self.model}", params={"taskId": task_id})

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        data = self._data(response)
        tid = opt_str(data.get("taskId")) or opt_str(data.get("task_id")) or task_id
        state = read_state(_STATES, data.get("state"))
        urls = result_json_urls(self.name, data, required=state is TaskState.SUCCEEDED)
        failed = state is TaskState.FAILED
        cancelled = state is TaskState.CANCELLED
        error_message: str | None = None
        if failed or cancelled:
            ended = "failed" if failed else "was cancelled"
            error_message = message_text(data.get("failMsg")) or f"job {tid} {ended}"
        return VideoTask(
            task_id=tid,
            gateway=self.name,
            state=state,
            video_urls=urls,
            error_code=opt_str(data.get("failCode")) if failed or cancelled else None,
            error_message=error_message,
            created_at=timestamp(data.get("createTime")),
            finished_at=timestamp(data.get("completeTime")) if state.is_terminal else None,
            raw=data,
        )

    def failure_error(self, task: VideoTask) -> KlingError:
        """``failCode`` decides: safety codes are content policy, RateLimited/Timeout may be retried."""
        code = task.error_code
        message = task.error_message or f"job {task.task_id} ended {task.state.value}"
        lowered = (code or "").strip().lower()
        if lowered in _POLICY_FAIL_CODES:
            return KINDS["content_policy"](message, gateway=self.name, code=code)
        if lowered in _RETRYABLE_FAIL_CODES:
            return KINDS["task_failed"](message, gateway=self.name, code=code, retryable=True)
        if code is None and task.state is TaskState.FAILED and POLICY_WORDS.search(message):
            # no failCode at all: the message is the only signal left
            return KINDS["content_policy"](message, gateway=self.name, code=code)
        return KINDS["task_failed"](message, gateway=self.name, code=code)

    # ----------------------------------------------------------------- connection test
    def build_test_connection(self) -> HttpRequest:
        """APIXO documents no free call: ask about a task id that does not exist."""
        return self.build_status(TEST_TASK_ID)

    def check_test_connection(self, response: HttpResponse) -> None:
        """See :func:`check_probe`."""
        check_probe(
            self.name,
            response,
            api="APIXO's API",
            message_of=lambda body: first_message(body, *_MESSAGE_KEYS),
        )

    # ----------------------------------------------------------------- helpers
    def _data(self, response: HttpResponse) -> dict[str, Any]:
        """The envelope's ``data`` after checking the HTTP status and the body ``code`` (both can fail)."""
        body = decode_object(
            self.name, response, lambda: self._error(response, None, snippet(response.text) or "empty body")
        )
        code = body.get("code")
        if response.status_code >= 400 or opt_int(code) not in (None, 200):
            raise self._error(response, code, first_message(body, *_MESSAGE_KEYS) or snippet(response.text))
        return expect_dict(self.name, body.get("data"), "data", response.status_code)

    def _error(self, response: HttpResponse, code: Any, message: str) -> KlingError:
        """The typed error for an HTTP status (or, in an HTTP 200 body, the envelope ``code``)."""
        num = opt_int(code)
        status = response.status_code if response.status_code >= 400 else num
        text = message or f"HTTP {response.status_code}"
        kind = status_kind(status)
        if status in (400, 422) and POLICY_WORDS.search(text):
            # 400 covers "prompt rejected" too: a refusal worded as a safety one is content policy
            kind = KINDS["content_policy"]
        elif status == 403 and _is_policy_refusal(text):
            kind = KINDS["content_policy"]
        shown: str | int | None = num if num is not None else opt_str(code)
        return http_error(
            self.name,
            response,
            code=shown if shown is not None or response.status_code < 400 else response.status_code,
            message=text,
            kind=kind,
            rejected=status is not None and 400 <= status < 500,
        )


def _is_policy_refusal(message: str) -> bool:
    if POLICY_WORDS.search(message):
        return True
    return bool(_REJECT.search(message)) and not _KEY_WORDS.search(message)
