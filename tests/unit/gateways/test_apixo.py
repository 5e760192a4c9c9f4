"""APIXO gateway (seed 002): requests built from the seed's own examples, its recorded responses."""

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


@pytest.fixture
def gw() -> Gateway:
    return get_gateway("apixo")


def ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, tz=timezone.utc)


# ===================================================================== (1) the seed's example requests
def test_identity_and_base_url(gw: Gateway) -> None:
    hosts = {None: "https://api.apixo.ai", "https://api.apixo.ai/api/v1/": "https://api.apixo.ai"}
    check_identity(gw, "apixo", "kling-2-6", "none", hosts)


QUICKSTART_PROMPT = "a rainy neon street at night with reflections on the pavement and soft traffic ambience"


def test_quickstart_text_to_video(gw: Gateway) -> None:
    request = VideoRequest(
        prompt=QUICKSTART_PROMPT,
        duration=5,
        sound=True,
        aspect_ratio="16:9",
    )
    gw.validate(request)
    http = gw.build_submit(request)
    assert http.method == "POST"
    assert http.path == "/api/v1/generateTask/kling-2-6"
    assert http.json == {
        "request_type": "async",
        "input": {
            "mode": "text-to-video",
            "prompt": QUICKSTART_PROMPT,
            "duration": 5,
            "sound": True,
            "aspect_ratio": "16:9",
        },
    }
    # the JSON types the seed requires: integer duration, boolean sound
    assert type(http.json["input"]["duration"]) is int
    assert http.json["input"]["sound"] is True


def test_text_to_video_with_negative_prompt_and_cfg(gw: Gateway) -> None:
    request = VideoRequest(
        prompt="a calm seaside sunrise with waves, distant birds, and soft narration",
        duration=5,
        sound=True,
        aspect_ratio="16:9",
        negative_prompt="blur, low quality",
        cfg_scale=0.6,
    )
    gw.validate(request)
    assert gw.build_submit(request).json == {
        "request_type": "async",
        "input": {
            "mode": "text-to-video",
            "prompt": "a calm seaside sunrise with waves, distant birds, and soft narration",
            "duration": 5,
            "sound": True,
            "aspect_ratio": "16:9",
            "negative_prompt": "blur, low quality",
            "cfg_scale": 0.6,
        },
    }


def test_image_to_video_start_and_end_frame(gw: Gateway) -> None:
    request = VideoRequest(
        prompt="animate this product photo with a slow camera push and subtle ambient music",
        duration=10,
        sound=True,
        start_image="https://example.com/start.jpg",
        end_image="https://example.com/end.jpg",
        negative_prompt="jitter, distortion",
        cfg_scale=0.4,
    )
    gw.validate(request)
    http = gw.build_submit(request)
    assert http.path == "/api/v1/generateTask/kling-2-6"
    assert http.json == {
        "request_type": "async",
        "input": {
            "mode": "image-to-video",
            "prompt": "animate this product photo with a slow camera push and subtle ambient music",
            "duration": 10,
            "sound": True,
            "image_urls": ["https://example.com/start.jpg", "https://example.com/end.jpg"],
            "negative_prompt": "jitter, distortion",
            "cfg_scale": 0.4,
        },
    }


def test_callback_mode(gw: Gateway) -> None:
    request = VideoRequest(
        prompt="animate this mountain view with moving clouds, wind, and distant birds",
        duration=5,
        sound=True,
        start_image="https://example.com/mountain-start.jpg",
        callback_url="https://your-server.com/webhooks/apixo",
    )
    gw.validate(request)
    assert gw.build_submit(request).json == {
        "request_type": "callback",
        "callback_url": "https://your-server.com/webhooks/apixo",
        "input": {
            "mode": "image-to-video",
            "prompt": "animate this mountain view with moving clouds, wind, and distant birds",
            "duration": 5,
            "sound": True,
            "image_urls": ["https://example.com/mountain-start.jpg"],
        },
    }


def test_defaults_sound_false_and_aspect_16_9(gw: Gateway) -> None:
    request = VideoRequest(prompt="a cat", client_reference="dag-run-task-0")
    gw.validate(request)
    body = gw.build_submit(request).json
    assert body == {
        "request_type": "async",
        "input": {
            "mode": "text-to-video",
            "prompt": "a cat",
            "duration": 5,
            "sound": False,
            "aspect_ratio": "16:9",
        },
    }
    assert "dag-run-task-0" not in json.dumps(body)  # no idempotency field on APIXO


def test_provider_routing_is_top_level(gw: Gateway) -> None:
    request = VideoRequest(prompt="a cat", aspect_ratio="9:16", extra={"provider": "official"})
    gw.validate(request)
    body = gw.build_submit(request).json
    assert body["provider"] == "official"
    assert body["input"]["aspect_ratio"] == "9:16"
    assert "provider" not in body["input"]


def test_status_request(gw: Gateway) -> None:
    http = gw.build_status("task_12345678")
    assert http.method == "GET"
    assert http.path == "/api/v1/statusTask/kling-2-6"
    assert http.params == {"taskId": "task_12345678"}


# ===================================================================== (2) recorded responses (seed verbatim)
SUBMITTED: dict[str, Any] = {"code": 200, "message": "success", "data": {"taskId": "task_12345678"}}
PROCESSING: dict[str, Any] = {
    "code": 200,
    "message": "success",
    "data": {"taskId": "task_12345678", "state": "processing", "createTime": 1767965610929},
}
PENDING: dict[str, Any] = {
    "code": 200,
    "message": "success",
    "data": {"taskId": "task_12345678", "state": "pending", "createTime": 1767965610929},
}
SUCCESS: dict[str, Any] = {
    "code": 200,
    "message": "success",
    "data": {
        "taskId": "task_12345678",
        "state": "success",
        "resultJson": '{"resultUrls":["https://r2.apixo.ai/video.mp4"]}',
        "createTime": 1767965610929,
        "completeTime": 1767965652317,
        "costTime": 41388,
    },
}
FAILED: dict[str, Any] = {
    "code": 200,
    "message": "success",
    "data": {
        "taskId": "task_12345678",
        "state": "failed",
        "failCode": "SensitiveContentDetected",
        "failMsg": "The input or output was flagged as sensitive. Please try again with different inputs.",
        "createTime": 1767965610929,
        "completeTime": 1767965652317,
    },
}


def test_parse_submit(gw: Gateway) -> None:
    task = gw.parse_submit(VideoRequest(prompt="x"), respond(SUBMITTED, 200))
    assert task.task_id == "task_12345678"
    assert task.gateway == "apixo"
    assert task.state is TaskState.QUEUED
    assert task.raw == {"taskId": "task_12345678"}


def test_parse_submit_without_task_id_is_protocol_error(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_submit(VideoRequest(prompt="x"), respond({"code": 200, "data": {}}, 200))


def test_parse_pending(gw: Gateway) -> None:
    task = gw.parse_status("task_12345678", None, respond(PENDING, 200))
    assert task.state is TaskState.QUEUED
    assert task.created_at == ms(1767965610929)
    assert task.finished_at is None


def test_parse_processing(gw: Gateway) -> None:
    task = gw.parse_status("task_12345678", None, respond(PROCESSING, 200))
    assert task.state is TaskState.RUNNING
    assert task.video_urls == []
    assert task.created_at == ms(1767965610929)
    assert task.raw == PROCESSING["data"]


def test_parse_success(gw: Gateway) -> None:
    task = gw.parse_status("task_12345678", None, respond(SUCCESS, 200))
    assert task == VideoTask(
        task_id="task_12345678",
        gateway="apixo",
        state=TaskState.SUCCEEDED,
        video_urls=["https://r2.apixo.ai/video.mp4"],
        created_at=ms(1767965610929),
        finished_at=ms(1767965652317),
        raw=SUCCESS["data"],
    )
    assert task.cost is None


def test_parse_success_with_result_as_object(gw: Gateway) -> None:
    body = json.loads(json.dumps(SUCCESS))
    body["data"]["resultJson"] = {"resultUrls": ["https://r2.apixo.ai/a.mp4"]}
    assert gw.parse_status("t", None, respond(body, 200)).video_urls == ["https://r2.apixo.ai/a.mp4"]


def test_parse_failed_is_returned_not_raised(gw: Gateway) -> None:
    task = gw.parse_status("task_12345678", None, respond(FAILED, 200))
    assert task.state is TaskState.FAILED
    assert task.error_code == "SensitiveContentDetected"
    assert task.error_message == FAILED["data"]["failMsg"]
    assert task.finished_at == ms(1767965652317)
    err = gw.failure_error(task)
    assert isinstance(err, exceptions.KlingContentPolicyError)
    assert err.code == "SensitiveContentDetected"


def test_success_without_url_is_protocol_error(gw: Gateway) -> None:
    body: dict[str, Any] = {
        "code": 200,
        "data": {"taskId": "t", "state": "success", "resultJson": '{"resultUrls":[]}'},
    }
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status("t", None, respond(body, 200))
    body["data"]["resultJson"] = "{not json"
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status("t", None, respond(body, 200))


def test_unknown_state_keeps_polling(gw: Gateway) -> None:
    body = {"code": 200, "data": {"taskId": "t", "state": "warming-up", "resultJson": "garbage"}}
    assert gw.parse_status("t", None, respond(body, 200)).state is TaskState.RUNNING


# ===================================================================== (3) invalid requests
INVALID = [
    ({"prompt": "x" * 1001}, "prompt", "1 to 1000 characters"),
    ({"prompt": "x", "tier": "pro"}, "tier", "no tier choice"),
    (
        {"prompt": "x", "start_image": "https://e.com/a.jpg", "aspect_ratio": "9:16"},
        "aspect_ratio",
        "None with an image",
    ),
    ({"prompt": "x", "start_image": "/tmp/frame.png"}, "start_image", "public http(s) URL"),
    ({"prompt": "x", "start_image": "data:image/png;base64,AAAA"}, "start_image", "public http(s) URL"),
    ({"prompt": "x", "end_image": "https://e.com/b.jpg"}, "end_image", "only together with start_image"),
    ({"prompt": "x", "extra": {"watermark": True}}, "extra.watermark", "extra keys: provider"),
    ({"prompt": "x", "extra": {"provider": "cheapest"}}, "extra.provider", "'auto', 'value', 'official'"),
    ({"prompt": "x", "extra": {"provider": 1}}, "extra.provider", "'auto', 'value', 'official'"),
    ({"prompt": "x", "callback_url": "http://example.com/hook"}, "callback_url", "https://"),
    ({"prompt": "x", "callback_url": "ftp://example.com/hook"}, "callback_url", "http(s) URL"),
    ({"prompt": "x", "negative_prompt": "n" * 2501}, "negative_prompt", "1 to 2500 characters"),
    ({"prompt": "x", "cfg_scale": 1.5}, "cfg_scale", "0 to 1"),
]


@pytest.mark.parametrize(("fields", "field", "allowed"), INVALID)
def test_invalid_requests(gw: Gateway, fields: dict[str, Any], field: str, allowed: str) -> None:
    with pytest.raises(exceptions.KlingValidationError) as info:
        gw.validate(VideoRequest(**fields))
    message = str(info.value)
    assert "'apixo'" in message
    assert field in message
    assert allowed in message
    assert info.value.field == field


# ===================================================================== (4) error envelopes
@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (400, {"code": 400, "message": "Invalid mode"}, exceptions.KlingValidationError),
        (401, {"code": 401, "message": "Invalid API key"}, exceptions.KlingAuthError),
        (402, {"code": 402, "message": "Insufficient balance"}, exceptions.KlingQuotaError),
        (403, {"code": 403, "message": "This key cannot access the route"}, exceptions.KlingAuthError),
        (403, {"code": 403, "message": "Your content was rejected"}, exceptions.KlingContentPolicyError),
        (403, {"code": 403, "message": "Prompt flagged as sensitive"}, exceptions.KlingContentPolicyError),
        (400, {"code": 400, "message": "Prompt was flagged as NSFW"}, exceptions.KlingContentPolicyError),
        (
            400,
            {"code": 400, "message": "Content-Type must be application/json"},
            exceptions.KlingValidationError,
        ),
        (404, {"code": 404, "message": "Task not found"}, exceptions.KlingNotFoundError),
        (429, {"code": 429, "message": "Too many requests"}, exceptions.KlingRateLimitError),
        (500, {"code": 500, "message": "Upstream provider error"}, exceptions.KlingServerError),
        (502, {"code": 502, "message": "Bad gateway"}, exceptions.KlingServerError),
        (504, {"code": 504, "message": "Upstream timeout"}, exceptions.KlingServerError),
        # an error code inside an HTTP 200 envelope is mapped the same way
        (200, {"code": 402, "message": "Insufficient balance"}, exceptions.KlingQuotaError),
        (200, {"code": 401, "message": "Invalid API key"}, exceptions.KlingAuthError),
        (200, {"code": 500, "message": "Upstream provider error"}, exceptions.KlingServerError),
        (200, {"code": 403, "message": "content was rejected"}, exceptions.KlingContentPolicyError),
    ],
)
def test_error_envelopes(
    gw: Gateway, status: int, body: dict[str, Any], kind: type[exceptions.KlingError]
) -> None:
    with pytest.raises(kind) as info:
        gw.parse_submit(VideoRequest(prompt="x"), respond(body, status))
    err = info.value
    assert type(err) is kind
    assert err.gateway == "apixo"
    assert err.code == str(body["code"])
    assert body["message"] in err.message
    if 400 <= body["code"] < 500:
        assert err.request_rejected
    else:
        assert not err.request_rejected


@pytest.mark.parametrize(
    ("status", "content", "kind"),
    [
        (502, b"<html>Bad Gateway</html>", exceptions.KlingServerError),
        (401, b"Unauthorized", exceptions.KlingAuthError),
        (200, b"<html>hello</html>", exceptions.KlingProtocolError),
        (200, b"[1, 2]", exceptions.KlingProtocolError),
        (200, b'{"code": 200, "data": "nope"}', exceptions.KlingProtocolError),
    ],
)
def test_garbage(gw: Gateway, status: int, content: bytes, kind: type[exceptions.KlingError]) -> None:
    with pytest.raises(kind):
        gw.parse_status("t", None, HttpResponse(status, {}, content))


# ===================================================================== (5) failure classification
@pytest.mark.parametrize(
    ("fail_code", "kind", "retryable"),
    [
        ("SensitiveContentDetected", exceptions.KlingContentPolicyError, False),
        ("InputOutputSensitiveContentDetected", exceptions.KlingContentPolicyError, False),
        ("NSFW", exceptions.KlingContentPolicyError, False),
        ("ProhibitedContentDetected", exceptions.KlingContentPolicyError, False),
        ("CONTENT_VIOLATION", exceptions.KlingContentPolicyError, False),
        ("RateLimited", exceptions.KlingTaskFailedError, True),
        ("Timeout", exceptions.KlingTaskFailedError, True),
        ("PromptLengthExceeded", exceptions.KlingTaskFailedError, False),
        ("PromptInvalid", exceptions.KlingTaskFailedError, False),
        ("ImageFormatIncorrect", exceptions.KlingTaskFailedError, False),
        ("Upload error", exceptions.KlingTaskFailedError, False),
        ("INVALID_IMAGE_URL", exceptions.KlingTaskFailedError, False),
        ("SomethingNew", exceptions.KlingTaskFailedError, False),
    ],
)
def test_failure_error(
    gw: Gateway, fail_code: str, kind: type[exceptions.KlingError], retryable: bool
) -> None:
    body = {
        "code": 200,
        "message": "success",
        "data": {"taskId": "t1", "state": "failed", "failCode": fail_code, "failMsg": "it failed"},
    }
    task = gw.parse_status("t1", None, respond(body, 200))
    err = gw.failure_error(task)
    assert type(err) is kind
    assert err.retryable is retryable
    assert err.code == fail_code
    assert err.message == "it failed"
    assert err.gateway == "apixo"


def test_failure_without_code_or_message(gw: Gateway) -> None:
    task = gw.parse_status(
        "t1", None, respond({"code": 200, "data": {"taskId": "t1", "state": "failed"}}, 200)
    )
    assert task.error_code is None
    assert task.error_message
    assert type(gw.failure_error(task)) is exceptions.KlingTaskFailedError


# ===================================================================== (6) connection test
def test_connection_request(gw: Gateway) -> None:
    http = gw.build_test_connection()
    assert http.method == "GET"
    assert http.path == "/api/v1/statusTask/kling-2-6"
    assert http.params == {"taskId": "connection-test"}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, {"code": 404, "message": "task not found"}),
        (404, {"code": 404, "message": "task not found"}),
        (400, {"code": 400, "message": "invalid taskId"}),
        (200, {"code": 200, "message": "success", "data": None}),
        (402, {"code": 402, "message": "Insufficient balance"}),
    ],
)
def test_connection_ok(gw: Gateway, status: int, body: dict[str, Any]) -> None:
    gw.check_test_connection(respond(body, status))


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"code": 401, "message": "Invalid API key"}, exceptions.KlingAuthError),
        (403, {"code": 403, "message": "content was rejected"}, exceptions.KlingAuthError),
        (200, {"code": 401, "message": "Invalid API key"}, exceptions.KlingAuthError),
        (500, {"code": 500, "message": "oops"}, exceptions.KlingServerError),
        (503, b"Service Unavailable", exceptions.KlingServerError),
        (200, b"<html>not the API</html>", exceptions.KlingProtocolError),
    ],
)
def test_connection_fails(gw: Gateway, status: int, body: Any, kind: type[exceptions.KlingError]) -> None:
    with pytest.raises(kind):
        gw.check_test_connection(respond(body, status))
