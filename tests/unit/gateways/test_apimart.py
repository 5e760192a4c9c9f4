"""APIMart-compatible gateway (seed 003): the seed's body and feature matrix, APIMart's task answers."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_kling import exceptions
from airflow_provider_kling.gateways import get_gateway
from airflow_provider_kling.gateways.base import Gateway, HttpResponse
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask
from tests.unit.gateways.fakes import check_identity, respond

CAT = "A golden cat running on a sunlit meadow, slow motion, cinematic quality"
TASK = "task_01K8SGYNNNVBQTXNR4MM964S7K"


@pytest.fixture
def gw() -> Gateway:
    return get_gateway("apimart")


def sec(value: int) -> datetime:
    return datetime.fromtimestamp(value, tz=timezone.utc)


# ===================================================================== (1) the seed's example requests
def test_identity_and_base_url(gw: Gateway) -> None:
    hosts = {None: "https://api.apimart.ai", "https://gccai.example.com/v1": "https://gccai.example.com"}
    check_identity(gw, "apimart", "kling-v2-6", "none", hosts)


def test_full_body_first_and_last_frame_pro(gw: Gateway) -> None:
    """§6.1's body: every field, two frames (which need pro), audio false, watermark false."""
    request = VideoRequest(
        prompt=CAT,
        tier="pro",
        duration=5,
        aspect_ratio="16:9",
        negative_prompt="blurry, low quality, distorted",
        start_image="https://example.com/first.jpg",
        end_image="https://example.com/last.jpg",
        sound=False,
        extra={"watermark": False},
    )
    gw.validate(request)
    http = gw.build_submit(request)
    assert http.method == "POST"
    assert http.path == "/v1/videos/generations"
    assert http.json == {
        "model": "kling-v2-6",
        "prompt": CAT,
        "mode": "pro",
        "duration": 5,
        "aspect_ratio": "16:9",
        "negative_prompt": "blurry, low quality, distorted",
        "image_urls": ["https://example.com/first.jpg", "https://example.com/last.jpg"],
        "audio": False,
        "watermark": False,
    }
    assert type(http.json["duration"]) is int
    assert http.json["audio"] is False


def test_text_to_video_defaults(gw: Gateway) -> None:
    """Case 1: std, silent; mode, duration, aspect ratio and audio are always sent explicitly."""
    request = VideoRequest(prompt=CAT, client_reference="ref-1")
    gw.validate(request)
    assert gw.build_submit(request).json == {
        "model": "kling-v2-6",
        "prompt": CAT,
        "mode": "std",
        "duration": 5,
        "aspect_ratio": "16:9",
        "audio": False,
    }


def test_pro_with_audio(gw: Gateway) -> None:
    """Case 5: pro mode + auto audio."""
    request = VideoRequest(prompt=CAT, tier="pro", sound=True, duration=10, aspect_ratio="9:16")
    gw.validate(request)
    assert gw.build_submit(request).json == {
        "model": "kling-v2-6",
        "prompt": CAT,
        "mode": "pro",
        "duration": 10,
        "aspect_ratio": "9:16",
        "audio": True,
    }


def test_first_frame_without_aspect_ratio(gw: Gateway) -> None:
    """Case 3: one image = first frame; no aspect ratio sent unless the user set one."""
    request = VideoRequest(prompt=CAT, start_image="https://example.com/first.jpg")
    gw.validate(request)
    assert gw.build_submit(request).json == {
        "model": "kling-v2-6",
        "prompt": CAT,
        "mode": "std",
        "duration": 5,
        "image_urls": ["https://example.com/first.jpg"],
        "audio": False,
    }


def test_status_request(gw: Gateway) -> None:
    http = gw.build_status(TASK)
    assert http.method == "GET"
    assert http.path == f"/v1/tasks/{TASK}"
    assert http.params == {"language": "en"}


# ===================================================================== (2) recorded responses
SUBMITTED_ARRAY: dict[str, Any] = {"code": 200, "data": [{"status": "submitted", "task_id": TASK}]}
SUBMITTED_OBJECT: dict[str, Any] = {"code": 200, "data": {"id": TASK, "status": "submitted"}}
COMPLETED: dict[str, Any] = {
    "code": 200,
    "data": {
        "id": TASK,
        "status": "completed",
        "progress": 100,
        "result": {
            "videos": [{"url": ["https://upload.apimart.ai/f/video/v.mp4"], "expires_at": 1763174708}]
        },
        "created": 1763088289,
        "completed": 1763088308,
        "estimated_time": 60,
        "actual_time": 19,
    },
}


@pytest.mark.parametrize("body", [SUBMITTED_ARRAY, SUBMITTED_OBJECT])
def test_parse_submit_array_or_object(gw: Gateway, body: dict[str, Any]) -> None:
    task = gw.parse_submit(VideoRequest(prompt=CAT), respond(body, 200))
    assert task.task_id == TASK
    assert task.gateway == "apimart"
    assert task.state is TaskState.QUEUED


def test_parse_submit_empty_array_is_protocol_error(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_submit(VideoRequest(prompt=CAT), respond({"code": 200, "data": []}, 200))


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("submitted", TaskState.QUEUED),
        ("pending", TaskState.QUEUED),
        ("processing", TaskState.RUNNING),
        ("cancelled", TaskState.CANCELLED),
        ("something-new", TaskState.RUNNING),
    ],
)
def test_parse_states(gw: Gateway, status: str, state: TaskState) -> None:
    body = {"code": 200, "data": {"id": TASK, "status": status, "progress": 30, "created": 1763088289}}
    task = gw.parse_status(TASK, None, respond(body, 200))
    assert task.state is state
    assert task.created_at == sec(1763088289)
    assert task.video_urls == []


def test_parse_completed_url_array(gw: Gateway) -> None:
    task = gw.parse_status(TASK, None, respond(COMPLETED, 200))
    assert task == VideoTask(
        task_id=TASK,
        gateway="apimart",
        state=TaskState.SUCCEEDED,
        video_urls=["https://upload.apimart.ai/f/video/v.mp4"],
        created_at=sec(1763088289),
        finished_at=sec(1763088308),
        expires_at=sec(1763174708),
        raw=COMPLETED["data"],
    )


def test_parse_completed_url_string_data_array_earliest_expiry(gw: Gateway) -> None:
    body = {
        "code": 200,
        "data": [
            {
                "id": TASK,
                "status": "completed",
                "result": {
                    "videos": [
                        {"url": "https://cdn.example.com/a.mp4", "expires_at": 1763174708},
                        {"url": "https://cdn.example.com/b.mp4", "expires_at": 1763170000},
                    ]
                },
            }
        ],
    }
    task = gw.parse_status(TASK, None, respond(body, 200))
    assert task.video_urls == ["https://cdn.example.com/a.mp4", "https://cdn.example.com/b.mp4"]
    assert task.expires_at == sec(1763170000)


def test_parse_failed_error_object(gw: Gateway) -> None:
    body = {
        "code": 200,
        "data": {
            "id": TASK,
            "status": "failed",
            "error": {"code": "content_moderation", "message": "The prompt failed moderation"},
            "created": 1763088289,
            "completed": 1763088300,
        },
    }
    task = gw.parse_status(TASK, None, respond(body, 200))
    assert task.state is TaskState.FAILED
    assert task.error_code == "content_moderation"
    assert task.error_message == "The prompt failed moderation"
    assert task.finished_at == sec(1763088300)
    assert isinstance(gw.failure_error(task), exceptions.KlingContentPolicyError)


def test_parse_failed_error_string(gw: Gateway) -> None:
    body = {"code": 200, "data": {"id": TASK, "status": "failed", "error": "upstream generation error"}}
    task = gw.parse_status(TASK, None, respond(body, 200))
    assert task.error_code is None
    assert task.error_message == "upstream generation error"
    err = gw.failure_error(task)
    assert type(err) is exceptions.KlingTaskFailedError
    assert not err.retryable


def test_completed_without_url_is_protocol_error(gw: Gateway) -> None:
    body = {"code": 200, "data": {"id": TASK, "status": "completed", "result": {"videos": []}}}
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status(TASK, None, respond(body, 200))


# ===================================================================== (3) invalid requests
IMG = "https://example.com/first.jpg"
INVALID = [
    ({"prompt": "x" * 2501}, "prompt", "1 to 2500 characters"),
    ({"prompt": "x", "sound": True}, "sound", "only with tier='pro'"),
    ({"prompt": "x", "sound": True, "tier": "std"}, "sound", "only with tier='pro'"),
    (
        {"prompt": "x", "tier": "pro", "sound": True, "start_image": IMG, "end_image": IMG},
        "sound",
        "False when end_image is set",
    ),
    (
        {"prompt": "x", "tier": "std", "start_image": IMG, "end_image": IMG},
        "end_image",
        "only with tier='pro'",
    ),
    ({"prompt": "x", "tier": "pro", "end_image": IMG}, "end_image", "only together with start_image"),
    ({"prompt": "x", "cfg_scale": 0.5}, "cfg_scale", "None (not supported"),
    ({"prompt": "x", "callback_url": "https://example.com/hook"}, "callback_url", "no per-request callback"),
    ({"prompt": "x", "start_image": "./frame.png"}, "start_image", "public http(s) URL"),
    ({"prompt": "x", "extra": {"provider": "auto"}}, "extra.provider", "extra keys: watermark"),
    ({"prompt": "x", "extra": {"watermark": "no"}}, "extra.watermark", "true, false"),
]


@pytest.mark.parametrize(("fields", "field", "allowed"), INVALID)
def test_invalid_requests(gw: Gateway, fields: dict[str, Any], field: str, allowed: str) -> None:
    with pytest.raises(exceptions.KlingValidationError) as info:
        gw.validate(VideoRequest(**fields))
    message = str(info.value)
    assert "'apimart'" in message
    assert field in message
    assert allowed in message
    assert info.value.field == field


def test_aspect_ratio_with_image_is_allowed(gw: Gateway) -> None:
    request = VideoRequest(prompt="x", start_image=IMG, aspect_ratio="1:1")
    gw.validate(request)
    assert gw.build_submit(request).json["aspect_ratio"] == "1:1"


# ===================================================================== (4) error envelopes
@pytest.mark.parametrize(
    ("status", "body", "kind", "code", "message"),
    [
        (
            401,
            {
                "code": 401,
                "error": {"message": "Invalid token", "type": "auth_error", "code": "invalid_api_key"},
            },
            exceptions.KlingAuthError,
            "invalid_api_key",
            "Invalid token",
        ),
        (
            402,
            {"code": 402, "msg": "Insufficient balance"},
            exceptions.KlingQuotaError,
            "402",
            "Insufficient balance",
        ),
        (
            403,
            {"error": {"message": "user quota is not enough", "code": "insufficient_user_quota"}},
            exceptions.KlingQuotaError,
            "insufficient_user_quota",
            "user quota",
        ),
        (403, {"code": 403, "message": "Forbidden"}, exceptions.KlingAuthError, "403", "Forbidden"),
        (
            404,
            {"code": 404, "message": "task not found"},
            exceptions.KlingNotFoundError,
            "404",
            "task not found",
        ),
        (
            429,
            {"code": 429, "message": "rate limited"},
            exceptions.KlingRateLimitError,
            "429",
            "rate limited",
        ),
        (
            400,
            {"code": 400, "error": {"message": "invalid duration", "type": "invalid_request_error"}},
            exceptions.KlingValidationError,
            "invalid_request_error",
            "invalid duration",
        ),
        (
            422,
            {"code": 422, "message": "mode must be std or pro"},
            exceptions.KlingValidationError,
            "422",
            "mode",
        ),
        (
            400,
            {"code": 400, "error": {"message": "prompt contains sensitive words", "code": "sensitive"}},
            exceptions.KlingContentPolicyError,
            "sensitive",
            "sensitive words",
        ),
        (
            400,
            {"code": 400, "message": "Content-Type must be application/json"},
            exceptions.KlingValidationError,
            "400",
            "Content-Type",
        ),
        (
            500,
            {"code": 500, "message": "internal error"},
            exceptions.KlingServerError,
            "500",
            "internal error",
        ),
        (
            503,
            {"code": 503, "error": {"message": "upstream busy"}},
            exceptions.KlingServerError,
            "503",
            "upstream busy",
        ),
        (200, {"code": 401, "message": "Invalid token"}, exceptions.KlingAuthError, "401", "Invalid token"),
        (200, {"code": 500, "msg": "internal error"}, exceptions.KlingServerError, "500", "internal error"),
    ],
)
def test_error_envelopes(
    gw: Gateway, status: int, body: dict[str, Any], kind: type[exceptions.KlingError], code: str, message: str
) -> None:
    with pytest.raises(kind) as info:
        gw.parse_submit(VideoRequest(prompt="x"), respond(body, status))
    err = info.value
    assert type(err) is kind
    assert err.gateway == "apimart"
    assert err.code == code
    assert message in err.message
    effective = status if status >= 400 else body["code"]
    assert err.request_rejected is (400 <= effective < 500)


@pytest.mark.parametrize(
    ("status", "content", "kind"),
    [
        (502, b"<html>Bad Gateway</html>", exceptions.KlingServerError),
        (401, b"", exceptions.KlingAuthError),
        (200, b"not json", exceptions.KlingProtocolError),
        (200, b'{"code": 200, "data": 5}', exceptions.KlingProtocolError),
    ],
)
def test_garbage(gw: Gateway, status: int, content: bytes, kind: type[exceptions.KlingError]) -> None:
    with pytest.raises(kind):
        gw.parse_status(TASK, None, HttpResponse(status, {}, content))


# ===================================================================== (5) failure classification
@pytest.mark.parametrize(
    ("error", "kind", "retryable"),
    [
        ({"code": "sensitive_content", "message": "flagged"}, exceptions.KlingContentPolicyError, False),
        ({"message": "Output blocked by content policy"}, exceptions.KlingContentPolicyError, False),
        ({"code": "nsfw", "message": "nsfw detected"}, exceptions.KlingContentPolicyError, False),
        ("moderation rejected the image", exceptions.KlingContentPolicyError, False),
        ({"code": "generation_failed", "message": "model error"}, exceptions.KlingTaskFailedError, False),
        ({"code": "timeout", "message": "upstream timed out"}, exceptions.KlingTaskFailedError, True),
        (None, exceptions.KlingTaskFailedError, False),
    ],
)
def test_failure_error(gw: Gateway, error: Any, kind: type[exceptions.KlingError], retryable: bool) -> None:
    body = {"code": 200, "data": {"id": TASK, "status": "failed", "error": error}}
    task = gw.parse_status(TASK, None, respond(body, 200))
    err = gw.failure_error(task)
    assert type(err) is kind
    assert err.retryable is retryable
    assert err.gateway == "apimart"


def test_cancelled_is_task_failed(gw: Gateway) -> None:
    task = gw.parse_status(
        TASK, None, respond({"code": 200, "data": {"id": TASK, "status": "cancelled"}}, 200)
    )
    err = gw.failure_error(task)
    assert type(err) is exceptions.KlingTaskFailedError
    assert "cancelled" in err.message


# ===================================================================== (6) connection test
def test_connection_request(gw: Gateway) -> None:
    http = gw.build_test_connection()
    assert http.method == "GET"
    assert http.path == "/v1/tasks/connection-test"
    assert http.params == {"language": "en"}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, {"code": 404, "error": {"message": "task not found"}}),
        (200, {"code": 404, "message": "task not found"}),
        (400, {"code": 400, "message": "invalid task id"}),
        (200, {"code": 200, "data": None}),
    ],
)
def test_connection_ok(gw: Gateway, status: int, body: dict[str, Any]) -> None:
    gw.check_test_connection(respond(body, status))


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (401, {"error": {"message": "Invalid token", "code": "invalid_api_key"}}, exceptions.KlingAuthError),
        (403, {"code": 403, "message": "Forbidden"}, exceptions.KlingAuthError),
        (200, {"code": 401, "message": "Invalid token"}, exceptions.KlingAuthError),
        (500, {"code": 500, "message": "oops"}, exceptions.KlingServerError),
        (502, b"Bad Gateway", exceptions.KlingServerError),
        (200, b"<html>wrong host</html>", exceptions.KlingProtocolError),
    ],
)
def test_connection_fails(gw: Gateway, status: int, body: Any, kind: type[exceptions.KlingError]) -> None:
    with pytest.raises(kind):
        gw.check_test_connection(respond(body, status))
