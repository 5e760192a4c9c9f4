"""Apikley (seed 004) and kie.ai: the kie.ai "Market" wire format, which Apikley clones.

Wire facts (``../shared/design/GATEWAYS.md`` §5 and the seed's OpenAPI): Bearer key;
``POST /api/v1/jobs/createTask`` with ``{"model": "kling-2.6/text-to-video"|"kling-2.6/image-to-video",
"callBackUrl", "input": {...}}``; ``input.duration`` is a *string* (``"5"``), ``input.sound`` a *required
boolean*, ``input.aspect_ratio`` text-to-video only (and required there; the gateway default is 1:1, so
16:9 is always sent), ``input.image_urls`` image-to-video only with at most one item (no end frame, no
negative prompt, no cfg). The unified ``GET /api/v1/jobs/recordInfo?taskId=`` answers states
``waiting|queuing|generating|success|fail``; ``resultJson`` and ``param`` are JSON *strings*;
``failCode`` / ``failMsg`` may be ``""`` or ``null``. Envelope ``code`` (in an HTTP 200 body, or equal to
the HTTP status): 200, 401, 402, 404, 422, 429, 433 (sub-key usage limit), 455 (maintenance), 500,
501 (generation failed), 505 (function disabled). The submit answer says ``msg``, recordInfo
``message``: both are read. No idempotency key, no cost report.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_provider_kling.exceptions import (
    KlingAuthError,
    KlingContentPolicyError,
    KlingError,
    KlingNotFoundError,
    KlingProtocolError,
    KlingQuotaError,
    KlingRateLimitError,
    KlingServerError,
    KlingTaskFailedError,
    KlingValidationError,
)
from airflow_provider_kling.gateways.base import (
    POLICY_WORDS,
    Capabilities,
    Gateway,
    HttpRequest,
    HttpResponse,
    decode_json,
    decode_json_or_none,
    expect_dict,
    failure_by_wording,
    http_error,
    message_text,
    opt_int,
    opt_str,
    result_json_urls,
    snippet,
    timestamp,
)
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

#: the task id :meth:`KieGateway.build_test_connection` asks about (no free call is documented)
TEST_TASK_ID = "connection-test"

_STATES = {
    "waiting": TaskState.QUEUED,
    "queuing": TaskState.QUEUED,
    "queued": TaskState.QUEUED,
    "pending": TaskState.QUEUED,
    "generating": TaskState.RUNNING,
    "processing": TaskState.RUNNING,
    "running": TaskState.RUNNING,
    "success": TaskState.SUCCEEDED,
    "succeeded": TaskState.SUCCEEDED,
    "fail": TaskState.FAILED,
    "failed": TaskState.FAILED,
    "error": TaskState.FAILED,
    "cancelled": TaskState.CANCELLED,
    "canceled": TaskState.CANCELLED,
}

#: envelope code -> error class (HTTP statuses that are not listed fall back to :func:`http_error`)
_CODE_KINDS: dict[int, type[KlingError]] = {
    400: KlingValidationError,
    401: KlingAuthError,
    402: KlingQuotaError,
    403: KlingAuthError,
    404: KlingNotFoundError,
    422: KlingValidationError,
    429: KlingRateLimitError,
    433: KlingQuotaError,
    455: KlingServerError,
    500: KlingServerError,
    501: KlingTaskFailedError,
    505: KlingServerError,
}
#: codes that prove no job was created although they are not 4xx
_REJECTED_5XX = frozenset((455, 505))


class KieGateway(Gateway):
    name: ClassVar[str] = "kie"
    title: ClassVar[str] = "Apikley / kie.ai"
    default_base_url: ClassVar[str] = "https://api.apikley.ru"
    path_prefix: ClassVar[str] = ""
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
            negative_prompt=False,
            tiers=(),
            sound=True,
            start_image=True,
            end_image=False,
            aspect_ratio_with_image=False,
            cfg_scale=False,
            callback=True,
            local_images="url_only",
            extra_fields={},
            cost_reporting=False,
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

    def parse_submit(self, request: VideoRequest, response: HttpResponse) -> VideoTask:
        body = self._body(response)
        data = expect_dict(self.name, body.get("data"), "data", response.status_code)
        task_id = opt_str(data.get("taskId")) or opt_str(data.get("task_id"))
        if task_id is None:
            raise KlingProtocolError(
                "data.taskId is missing", gateway=self.name, status_code=response.status_code
            )
        return VideoTask(task_id=task_id, gateway=self.name, state=TaskState.QUEUED, raw=data)

    # ----------------------------------------------------------------- status
    def build_status(self, task_id: str, endpoint: str | None = None) -> HttpRequest:
        return HttpRequest("GET", "/api/v1/jobs/recordInfo", params={"taskId": task_id})

    def parse_status(self, task_id: str, endpoint: str | None, response: HttpResponse) -> VideoTask:
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
                error_message=message_text(failed.get("failMsg")) or _message(body) or f"job {tid} failed",
                created_at=timestamp(failed.get("createTime")),
                finished_at=timestamp(failed.get("completeTime")),
                raw=failed,
            )
        data = expect_dict(self.name, body.get("data"), "data", response.status_code)
        tid = opt_str(data.get("taskId")) or opt_str(data.get("task_id")) or task_id
        state_name = data.get("state")
        state = (
            _STATES.get(state_name.strip().lower(), TaskState.RUNNING)
            if isinstance(state_name, str)
            else TaskState.RUNNING
        )
        urls = result_json_urls(self.name, data, required=state is TaskState.SUCCEEDED)
        if state is TaskState.SUCCEEDED and not urls:
            raise KlingProtocolError(
                f"job {tid} succeeded without a video URL",
                gateway=self.name,
                status_code=response.status_code,
            )
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
        """401/403 (HTTP or envelope ``code``) means the key is refused; 5xx, 455 (maintenance) and 505
        (function disabled) that the gateway cannot serve; any other JSON answer (typically 404/422
        "record not found") proves the key was accepted. A body that is not a JSON object did not come
        from this API (wrong host?), so it is a protocol error."""
        status = response.status_code
        body = decode_json_or_none(response)
        message = _message(body) or snippet(response.text)
        code = opt_int(body.get("code")) if isinstance(body, dict) else None
        if status in (401, 403) or code in (401, 403):
            raise http_error(
                self.name,
                response,
                code=code or status,
                message=message or "key refused",
                kind=KlingAuthError,
            )
        # 501 ("generation failed") about a task id that does not exist still proves the key works
        if status >= 500 or code == 455 or (code is not None and code >= 500 and code != 501):
            err = http_error(
                self.name,
                response,
                code=code or status,
                message=message or "server error",
                kind=KlingServerError,
            )
            err.retryable = code != 505
            raise err
        if not isinstance(body, dict):
            raise KlingProtocolError(
                f"the answer does not look like the Apikley/kie.ai API: {snippet(response.text)!r}",
                gateway=self.name,
                status_code=status,
            )

    # ----------------------------------------------------------------- helpers
    def _body(self, response: HttpResponse, generation_failed_ok: bool = False) -> dict[str, Any]:
        """The envelope after checking the HTTP status and the body ``code`` (both can signal errors)."""
        try:
            body = decode_json(self.name, response)
        except KlingProtocolError:
            if response.status_code >= 400:
                raise self._error(response, None, snippet(response.text) or "empty body") from None
            raise
        if not isinstance(body, dict):
            if response.status_code >= 400:
                raise self._error(response, None, snippet(response.text) or "empty body")
            raise KlingProtocolError(
                "response is not a JSON object", gateway=self.name, status_code=response.status_code
            )
        code = body.get("code")
        num = opt_int(code)
        if generation_failed_ok and num == 501:
            return body
        if response.status_code >= 400 or num not in (None, 200):
            raise self._error(response, code, _message(body) or snippet(response.text))
        return body

    def _error(self, response: HttpResponse, code: Any, message: str) -> KlingError:
        """The typed error for the envelope ``code`` (or the HTTP status when the body has none)."""
        num = opt_int(code)
        status = num if num is not None and num != 200 else response.status_code
        text = message or f"HTTP {response.status_code}"
        kind = _CODE_KINDS.get(status)
        if kind is None:
            if 400 <= status < 500:
                kind = KlingValidationError
            elif status >= 500 or status == 408:
                kind = KlingServerError
            else:
                kind = KlingProtocolError
        if kind in (KlingValidationError, KlingTaskFailedError) and POLICY_WORDS.search(text):
            # kie documents no content-policy code: a refusal arrives as 422 (or 501) with safety wording
            kind = KlingContentPolicyError
        err = http_error(self.name, response, code=status, message=text, kind=kind)
        if 400 <= status < 500 or status in _REJECTED_5XX:
            err.request_rejected = True
        if status == 505:
            err.retryable = False  # "function disabled": waiting will not switch it back on
        return err


def _message(body: Any) -> str | None:
    """The envelope's message: ``msg`` on createTask, ``message`` on recordInfo."""
    if not isinstance(body, dict):
        return None
    return (
        message_text(body.get("msg")) or message_text(body.get("message")) or message_text(body.get("error"))
    )
