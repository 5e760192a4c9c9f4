"""Apikley / kie.ai gateway (seed 004): the seed's OpenAPI example, recordInfo answers, envelope codes."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_kling import exceptions
from airflow_provider_kling.gateways import get_gateway
from airflow_provider_kling.gateways.base import Gateway, HttpResponse
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask
from tests.unit.gateways.fakes import check_identity, respond

SEED_PROMPT = (
    "Scene: A fashion live-streaming sales setting, with clothes hanging on racks and the host's figure "
    "reflected in a full-length mirror. Lines: [African female host] turns around to showcase the "
    "hoodie's cut. [African female host, in a cheerful tone] says: \"360-degree flawless tailoring, "
    'slimming and versatile." She then [African female host] leans closer to the camera. [African female '
    'host, in a lively tone] says: "Double-sided fleece fabric, $30 off immediately when you order now."'
)
TASK = "task_kling-2.6_1765182425861"


@pytest.fixture
def gw() -> Gateway:
    return get_gateway("kie")


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


# ===================================================================== (1) the seed's example requests
def test_identity_and_base_url(gw: Gateway) -> None:
    hosts = {None: "https://api.apikley.ru", "https://api.kie.ai/": "https://api.kie.ai"}
    check_identity(gw, "kie", "kling-2.6", "none", hosts)
    assert list(gw.models) == ["kling-2.6", "kling-3.0/video"]


def test_seed_openapi_example(gw: Gateway) -> None:
    request = VideoRequest(
        prompt=SEED_PROMPT,
        sound=False,
        aspect_ratio="1:1",
        duration=5,
        callback_url="https://your-domain.com/api/callback",
    )
    gw.validate(request)
    http = gw.build_submit(request)
    assert http.method == "POST"
    assert http.path == "/api/v1/jobs/createTask"
    assert http.json == {
        "model": "kling-2.6/text-to-video",
        "callBackUrl": "https://your-domain.com/api/callback",
        "input": {"prompt": SEED_PROMPT, "sound": False, "aspect_ratio": "1:1", "duration": "5"},
    }
    assert type(http.json["input"]["duration"]) is str


def test_text_to_video_sends_16_9_explicitly(gw: Gateway) -> None:
    request = VideoRequest(prompt="a cat", duration=10, sound=True, client_reference="ref")
    gw.validate(request)
    assert gw.build_submit(request).json == {
        "model": "kling-2.6/text-to-video",
        "input": {"prompt": "a cat", "sound": True, "aspect_ratio": "16:9", "duration": "10"},
    }


def test_image_to_video(gw: Gateway) -> None:
    request = VideoRequest(
        prompt="the product turns slowly",
        start_image="https://file.example.com/product.png",
        callback_url="https://your-domain.com/api/callback",
    )
    gw.validate(request)
    assert gw.build_submit(request).json == {
        "model": "kling-2.6/image-to-video",
        "callBackUrl": "https://your-domain.com/api/callback",
        "input": {
            "prompt": "the product turns slowly",
            "image_urls": ["https://file.example.com/product.png"],
            "sound": False,
            "duration": "5",
        },
    }


def test_status_request(gw: Gateway) -> None:
    http = gw.build_status(TASK)
    assert http.method == "GET"
    assert http.path == "/api/v1/jobs/recordInfo"
    assert http.params == {"taskId": TASK}


# ===================================================================== (2) recorded responses
SUBMITTED: dict[str, Any] = {"code": 200, "msg": "success", "data": {"taskId": TASK}}


def record(state: str, **fields: Any) -> dict[str, Any]:
    """A recordInfo answer shaped like §5.4."""
    data: dict[str, Any] = {
        "taskId": TASK,
        "model": "kling-2.6/text-to-video",
        "state": state,
        "param": json.dumps(
            {
                "model": "kling-2.6/text-to-video",
                "callBackUrl": "https://your-domain.com/api/callback",
                "input": {"prompt": "a cat", "sound": False, "aspect_ratio": "16:9", "duration": "5"},
            }
        ),
        "resultJson": "",
        "failCode": "",
        "failMsg": "",
        "costTime": None,
        "completeTime": None,
        "createTime": 1698765400000,
        "updateTime": 1698765400000,
    }
    data.update(fields)
    return {"code": 200, "message": "success", "data": data}


def test_parse_submit(gw: Gateway) -> None:
    task = gw.parse_submit(VideoRequest(prompt="x"), respond(SUBMITTED, 200))
    assert task.task_id == TASK
    assert task.gateway == "kie"
    assert task.state is TaskState.QUEUED
    assert task.raw == {"taskId": TASK}


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("waiting", TaskState.QUEUED),
        ("queuing", TaskState.QUEUED),
        ("generating", TaskState.RUNNING),
        ("brand-new-state", TaskState.RUNNING),
    ],
)
def test_parse_pending_states(gw: Gateway, state: str, expected: TaskState) -> None:
    task = gw.parse_status(TASK, None, respond(record(state), 200))
    assert task.state is expected
    assert task.video_urls == []
    assert task.error_code is None
    assert task.created_at == ms(1698765400000)
    assert task.finished_at is None


def test_parse_success(gw: Gateway) -> None:
    body = record(
        "success",
        resultJson='{"resultUrls":["https://tempfile.aiquickdraw.com/v/abc.mp4"]}',
        costTime=32000,
        completeTime=1698765432000,
        updateTime=1698765432000,
    )
    task = gw.parse_status(TASK, None, respond(body, 200))
    assert task == VideoTask(
        task_id=TASK,
        gateway="kie",
        state=TaskState.SUCCEEDED,
        video_urls=["https://tempfile.aiquickdraw.com/v/abc.mp4"],
        created_at=ms(1698765400000),
        finished_at=ms(1698765432000),
        raw=body["data"],
    )


@pytest.mark.parametrize("empty", ["", None])
def test_parse_fail(gw: Gateway, empty: Any) -> None:
    body = record(
        "fail", failCode="500", failMsg="Internal error, please try again", completeTime=1698765432000
    )
    task = gw.parse_status(TASK, None, respond(body, 200))
    assert task.state is TaskState.FAILED
    assert task.error_code == "500"
    assert task.error_message == "Internal error, please try again"
    assert task.finished_at == ms(1698765432000)
    body = record("fail", failCode=empty, failMsg=empty)
    task = gw.parse_status(TASK, None, respond(body, 200))
    assert task.error_code is None
    assert task.error_message


def test_success_without_url_is_protocol_error(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status(TASK, None, respond(record("success", resultJson='{"resultUrls":[]}'), 200))
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status(TASK, None, respond(record("success", resultJson="{broken"), 200))


def test_envelope_501_on_status_is_a_failed_job(gw: Gateway) -> None:
    task = gw.parse_status(TASK, None, respond({"code": 501, "msg": "Generation failed", "data": None}, 200))
    assert task.state is TaskState.FAILED
    assert task.task_id == TASK
    assert task.error_code == "501"
    assert task.error_message == "Generation failed"
    assert type(gw.failure_error(task)) is exceptions.KlingTaskFailedError


# ===================================================================== (3) invalid requests
IMG = "https://file.example.com/a.png"
INVALID = [
    ({"prompt": "x" * 1001}, "prompt", "1 to 1000 characters"),
    ({"prompt": "x", "tier": "pro"}, "tier", "no tier choice"),
    ({"prompt": "x", "negative_prompt": "blur"}, "negative_prompt", "no negative prompt"),
    ({"prompt": "x", "start_image": IMG, "aspect_ratio": "16:9"}, "aspect_ratio", "None with an image"),
    ({"prompt": "x", "start_image": IMG, "end_image": IMG}, "end_image", "no last-frame control"),
    ({"prompt": "x", "end_image": IMG}, "end_image", "no last-frame control"),
    ({"prompt": "x", "cfg_scale": 0.5}, "cfg_scale", "not supported"),
    ({"prompt": "x", "start_image": "C:/frames/a.png"}, "start_image", "public http(s) URL"),
    ({"prompt": "x", "extra": {"watermark": False}}, "extra.watermark", "extra keys: none"),
    ({"prompt": "x", "callback_url": "your-domain.com/cb"}, "callback_url", "http(s) URL"),
]


@pytest.mark.parametrize(("fields", "field", "allowed"), INVALID)
def test_invalid_requests(gw: Gateway, fields: dict[str, Any], field: str, allowed: str) -> None:
    with pytest.raises(exceptions.KlingValidationError) as info:
        gw.validate(VideoRequest(**fields))
    message = str(info.value)
    assert "'kie'" in message
    assert field in message
    assert allowed in message
    assert info.value.field == field


# ===================================================================== (4) error envelopes
@pytest.mark.parametrize(
    ("code", "kind", "rejected", "retryable"),
    [
        (401, exceptions.KlingAuthError, True, False),
        (402, exceptions.KlingQuotaError, True, False),
        (433, exceptions.KlingQuotaError, True, False),
        (404, exceptions.KlingNotFoundError, True, False),
        (422, exceptions.KlingValidationError, True, False),
        (429, exceptions.KlingRateLimitError, True, True),
        (455, exceptions.KlingServerError, True, True),
        (500, exceptions.KlingServerError, False, True),
        (501, exceptions.KlingTaskFailedError, False, False),
        (505, exceptions.KlingServerError, True, False),
    ],
)
@pytest.mark.parametrize("http_status", ["200", "same"])
def test_envelope_codes(
    gw: Gateway,
    code: int,
    kind: type[exceptions.KlingError],
    rejected: bool,
    retryable: bool,
    http_status: str,
) -> None:
    status = 200 if http_status == "200" else code
    body = {"code": code, "msg": f"message for {code}", "data": None}
    with pytest.raises(kind) as info:
        gw.parse_submit(VideoRequest(prompt="x"), respond(body, status))
    err = info.value
    assert type(err) is kind
    assert err.gateway == "kie"
    assert err.code == str(code)
    assert err.message == f"message for {code}"
    assert err.request_rejected is rejected
    assert err.retryable is retryable


@pytest.mark.parametrize(
    ("code", "message", "kind"),
    [
        (
            422,
            "content security policy triggered: the prompt was flagged",
            exceptions.KlingContentPolicyError,
        ),
        (501, "Generation failed: sensitive content detected", exceptions.KlingContentPolicyError),
        (422, "input.duration must be one of '5', '10'", exceptions.KlingValidationError),
        (422, "Content-Type must be application/json", exceptions.KlingValidationError),
        # the document's own words for 501: a failed job, not a safety refusal
        (501, "Content generation task execution failed", exceptions.KlingTaskFailedError),
    ],
)
def test_submit_refusal_wording(
    gw: Gateway, code: int, message: str, kind: type[exceptions.KlingError]
) -> None:
    """kie has no content-policy code: a safety refusal is recognised by its wording."""
    with pytest.raises(kind) as info:
        gw.parse_submit(VideoRequest(prompt="x"), respond({"code": code, "msg": message, "data": None}, 200))
    assert info.value.code == str(code)
    assert type(info.value) is kind


def test_status_errors_use_message_key(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingNotFoundError) as info:
        gw.parse_status(TASK, None, respond({"code": 404, "message": "record not found", "data": None}, 200))
    assert info.value.message == "record not found"


@pytest.mark.parametrize(
    ("status", "content", "kind"),
    [
        (502, b"<html>Bad Gateway</html>", exceptions.KlingServerError),
        (401, b"nope", exceptions.KlingAuthError),
        (200, b"<html></html>", exceptions.KlingProtocolError),
        (200, b'{"code": 200, "msg": "success", "data": []}', exceptions.KlingProtocolError),
    ],
)
def test_garbage(gw: Gateway, status: int, content: bytes, kind: type[exceptions.KlingError]) -> None:
    with pytest.raises(kind):
        gw.parse_status(TASK, None, HttpResponse(status, {}, content))


# ===================================================================== (5) failure classification
@pytest.mark.parametrize(
    ("fail_code", "fail_msg", "kind", "retryable"),
    [
        (
            "400",
            "The content you uploaded contains sensitive information",
            exceptions.KlingContentPolicyError,
            False,
        ),
        ("SensitiveContent", "flagged", exceptions.KlingContentPolicyError, False),
        ("", "Your prompt violates our content policy", exceptions.KlingContentPolicyError, False),
        ("NSFW", "nsfw output", exceptions.KlingContentPolicyError, False),
        ("422", "Prohibited content detected", exceptions.KlingContentPolicyError, False),
        ("500", "Internal error, please try again later", exceptions.KlingTaskFailedError, False),
        ("501", "Generation timed out", exceptions.KlingTaskFailedError, True),
        ("501", "Content generation task execution failed", exceptions.KlingTaskFailedError, False),
        (None, None, exceptions.KlingTaskFailedError, False),
    ],
)
def test_failure_error(
    gw: Gateway, fail_code: Any, fail_msg: Any, kind: type[exceptions.KlingError], retryable: bool
) -> None:
    task = gw.parse_status(TASK, None, respond(record("fail", failCode=fail_code, failMsg=fail_msg), 200))
    err = gw.failure_error(task)
    assert type(err) is kind
    assert err.retryable is retryable
    assert err.gateway == "kie"
    assert err.code == (fail_code or None)


# ===================================================================== (6) connection test
def test_connection_request(gw: Gateway) -> None:
    http = gw.build_test_connection()
    assert http.method == "GET"
    assert http.path == "/api/v1/jobs/recordInfo"
    assert http.params == {"taskId": "connection-test"}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"code": 404, "message": "record not found", "data": None}),
        (200, {"code": 422, "message": "recordInfo is null", "data": None}),
        (404, {"code": 404, "msg": "not found"}),
        (200, {"code": 402, "msg": "Insufficient credits"}),
        (200, {"code": 200, "message": "success", "data": None}),
    ],
)
def test_connection_ok(gw: Gateway, status: int, body: dict[str, Any]) -> None:
    gw.check_test_connection(respond(body, status))


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"code": 401, "msg": "You do not have access permissions"}, exceptions.KlingAuthError),
        (200, {"code": 401, "msg": "You do not have access permissions"}, exceptions.KlingAuthError),
        (403, b"Forbidden", exceptions.KlingAuthError),
        (200, {"code": 455, "msg": "maintenance"}, exceptions.KlingServerError),
        (200, {"code": 500, "msg": "server error"}, exceptions.KlingServerError),
        (502, b"Bad Gateway", exceptions.KlingServerError),
        (200, b"<html>wrong host</html>", exceptions.KlingProtocolError),
    ],
)
def test_connection_fails(gw: Gateway, status: int, body: Any, kind: type[exceptions.KlingError]) -> None:
    with pytest.raises(kind):
        gw.check_test_connection(respond(body, status))
