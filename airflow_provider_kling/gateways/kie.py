"""Apikley and kie.ai: the kie.ai "Market" wire format, which Apikley clones.

Wire facts (https://docs.kie.ai and https://docs.apikley.ru, "Kling-2.6 - Text to Video" and "Get
Task Details"): Bearer key; ``POST /api/v1/jobs/createTask`` with ``{"model":
"kling-2.6/text-to-video"|"kling-2.6/image-to-video", "callBackUrl", "input": {...}}``;
``input.duration`` is a *string* (``"5"``), ``input.sound`` a *required boolean*,
``input.aspect_ratio`` text-to-video only (and required there; the gateway default is 1:1, so 16:9 is
always sent), ``input.image_urls`` image-to-video only with at most one item (no end frame, no
negative prompt, no cfg). The unified ``GET /api/v1/jobs/recordInfo?taskId=`` answers states
``waiting|queuing|generating|success|fail``; ``resultJson`` and ``param`` are JSON *strings*;
``failCode`` / ``failMsg`` may be ``""`` or ``null``. Envelope ``code`` (in an HTTP 200 body, or equal to
the HTTP status): 200, 401, 402, 404, 422, 429, 433 (sub-key usage limit), 455 (maintenance), 500,
501 (generation failed), 505 (function disabled). The submit answer says ``msg``, recordInfo
``message``: both are read. No idempotency key, no cost report.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_kling.exceptions import KlingError
from airflow_provider_kling.gateways.base import Capabilities, Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.gateways.errors import (
    KINDS,
    POLICY_WORDS,
    check_probe,
    decode_object,
    failure_by_wording,
    http_error,
    kind_named,
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

#: the task id :meth:`KieGateway.build_test_connection` asks about (no free call is documented)
TEST_TASK_ID = "connection-test"

_STATES = state_table(
    queued="waiting queuing queued pending",
    running="generating processing running",
    succeeded="success succeeded",
    failed="fail failed error",
    cancelled="cancelled canceled",
)

#: envelope code -> error kind (codes that are not listed fall back to what the HTTP status means)
_CODE_KINDS: dict[int, str] = {
    400: "validation",
    401: "auth",
    402: "quota",
    403: "auth",
    404: "not_found",
    422: "validation",
    429: "rate_limit",
    433: "quota",
    455: "server",
    500: "server",
    501: "task_failed",
    505: "server",
}
#: codes that prove no job was created although they are not 4xx
_REJECTED_5XX = frozenset((455, 505))
#: the envelope's message: ``msg`` on createTask, ``message`` on recordInfo
_MESSAGE_KEYS = ("msg", "message", "error")


class KieGateway(Gateway):
    name: ClassVar[str] = "kie"
    title: ClassVar[str] = "Apikley / kie.ai"
    default_base_url: ClassVar[str] = "https://api.apikley.ru"
    idempotency = "none"
    default_model: ClassVar[str] = "kling-2.6"
    key_help: ClassVar[str] = (
        "API key from https://app.apikley.ru/keys (or kie.ai's API key page, with host "
        "https://api.kie.ai) in the password field; it is sent as a Bearer token."
    )
    models: ClassVar[dict[str, Capabilities]] = {
        "kling-2.6": Capabilities(
            model="kling-2.6",
            prompt_max=1000,
            notes=(
                "no tier, negative prompt, cfg_scale or last frame; image-to-video takes one public "
                "image URL and its aspect ratio from the image"
            ),
        )
    }

    # ----------------------------------------------------------------- submit
    def wire_model(self, request: VideoRequest) -> str:
        """The ``model`` field: the task kind is part of the model id on this wire."""
        kind = "image-to-video" if request.is_image_to_video else "text-to-video"
        return f"{self.model}/{kind}"

    def build_submit(self, request: VideoRequest) -> HttpRequest:
        inp: dict[str, Any] = {"prompt": request.prompt}
        if request.is_image_to_video:
            inp["image_urls"] = [u for u in (request.start_image,) if u is not None]
        inp["sound"] = bool(request.sound)
        if not request.is_image_to_video:
            inp["aspect_ratio"] = request.aspect_ratio or "16:9"
        inp["duration"] = str(request.duration)
        body: dict[str, Any] = {"model": self.wire_model(request)}
        if request.callback_url is not None:
            body["callBackUrl"] = request.callback_url
        body["input"] = inp
        return HttpRequest("POST", "/api/v1/jobs/createTask", json=body)

    def read_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        body = self._body(response)
        data = expect_dict(self.name, body.get("data"), "data", response.status_code)
        task_id = opt_str(data.get("taskId")) or opt_str(data.get("task_id"))
        if task_id is None:
            raise KINDS["protocol"](
                "data.taskId is missing", gateway=self.name, status_code=response.status_code
            )
        return VideoTask(task_id=task_id, gateway=self.name, state=TaskState.QUEUED, raw=data)

    # ----------------------------------------------------------------- status
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("GET", "/api/v1/jobs/recordInfo", params={"taskId": task_id})

    def read_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
        body = self._body(response, generation_failed_ok=True)
        if opt_int(body.get("code")) == 501:
            # "501 Generation Failed" on a status query: the job exists and failed; return it as such
            found = body.get("data")
            failed: dict[str, Any] = found if isinstance(found, dict) else {}
            tid = opt_str(failed.get("taskId")) or task_id
            return VideoTask(
                task_id=tid,
                gateway=self.name,
                state=TaskState.FAILED,
                error_code=opt_str(failed.get("failCode")) or "501",
                error_message=message_text(failed.get("failMsg"))
                or first_message(body, *_MESSAGE_KEYS)
                or f"job {tid} failed",
                created_at=timestamp(failed.get("createTime")),
                finished_at=timestamp(failed.get("completeTime")),
                raw=failed,
            )
        data = expect_dict(self.name, body.get("data"), "data", response.status_code)
        tid = opt_str(data.get("taskId")) or opt_str(data.get("task_id")) or task_id
        state = read_state(_STATES, data.get("state"))
        urls = result_json_urls(self.name, data, required=state is TaskState.SUCCEEDED)
        ended = state.is_failed
        error_message: str | None = None
        if ended:
            word = "failed" if state is TaskState.FAILED else "was cancelled"
            error_message = message_text(data.get("failMsg")) or f"job {tid} {word}"
        return VideoTask(
            task_id=tid,
            gateway=self.name,
            state=state,
            video_urls=urls,
            error_code=opt_str(data.get("failCode")) if ended else None,
            error_message=error_message,
            created_at=timestamp(data.get("createTime")),
            finished_at=(timestamp(data.get("completeTime")) or timestamp(data.get("updateTime")))
            if state.is_terminal
            else None,
            raw=data,
        )

    def failure_error(self, task: VideoTask) -> KlingError:
        """Kling's ``failCode`` values here are undocumented: safety wording means content policy."""
        return failure_by_wording(self.name, task, POLICY_WORDS)

    # ----------------------------------------------------------------- connection test
    def build_test_connection(self) -> HttpRequest:
        """No free call is documented: ask recordInfo about a task id that does not exist."""
        return self.build_status(TEST_TASK_ID)

    def check_test_connection(self, response: HttpResponse) -> None:
        """See :func:`check_probe`; 455 (maintenance) and 505 (function disabled) mean the gateway
        cannot serve too, while 501 ("generation failed") about a task id that does not exist still
        proves the key works."""
        check_probe(
            self.name,
            response,
            api="the Apikley/kie.ai API",
            message_of=lambda body: first_message(body, *_MESSAGE_KEYS),
            down=_down,
        )

    # ----------------------------------------------------------------- helpers
    def _body(self, response: HttpResponse, generation_failed_ok: bool = False) -> dict[str, Any]:
        """The envelope after checking the HTTP status and the body ``code`` (both can signal errors)."""
        body = decode_object(
            self.name, response, lambda: self._error(response, None, snippet(response.text) or "empty body")
        )
        code = body.get("code")
        num = opt_int(code)
        if generation_failed_ok and num == 501:
            return body
        if response.status_code >= 400 or num not in (None, 200):
            message = first_message(body, *_MESSAGE_KEYS) or snippet(response.text)
            raise self._error(response, code, message)
        return body

    def _error(self, response: HttpResponse, code: Any, message: str) -> KlingError:
        """The typed error for the envelope ``code`` (or the HTTP status when the body has none)."""
        num = opt_int(code)
        status = num if num is not None and num != 200 else response.status_code
        text = message or f"HTTP {response.status_code}"
        kind = kind_named(_CODE_KINDS, status) or status_kind(status)
        if kind.kind in ("validation", "task_failed") and POLICY_WORDS.search(text):
            # kie documents no content-policy code: a refusal arrives as 422 (or 501) with safety wording
            kind = KINDS["content_policy"]
        return http_error(
            self.name,
            response,
            code=status,
            message=text,
            kind=kind,
            rejected=400 <= status < 500 or status in _REJECTED_5XX,
            # 505 "function disabled": waiting will not switch it back on
            retryable=False if status == 505 else None,
        )


def _down(gateway: str, response: HttpResponse, num: int | None, message: str) -> KlingError | None:
    status = response.status_code
    if status >= 500 or num == 455 or (num is not None and num >= 500 and num != 501):
        return http_error(
            gateway,
            response,
            code=num or status,
            message=message or "server error",
            kind=KINDS["server"],
            retryable=num != 505,
        )
    return None
