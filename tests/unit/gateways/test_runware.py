"""Runware adapter: requests checked against seed 001 / GATEWAYS.md §3.2, answers against §3.3-§3.5."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from airflow_provider_kling import exceptions
from airflow_provider_kling.gateways import get_gateway
from airflow_provider_kling.gateways.base import Credentials, Gateway
from airflow_provider_kling.models import TaskState, VideoRequest
from tests.unit.gateways.fakes import check_identity, respond
from tests.unit.gateways.shapes import UID

STD = "klingai:kling-video@2.6-standard"
PRO = "klingai:kling-video@2.6-pro"
REF = "kling_demo.render.clip__2026-05-11T00:00:00+00:00__0"


@pytest.fixture
def gw() -> Gateway:
    return get_gateway("runware")


@pytest.fixture
def uid(gw: Gateway) -> str:
    return gw.client_id(REF)


# ==================================================================== (1) requests
def test_first_and_last_frame_request_matches_gateways_md_3_2(gw: Gateway, uid: str) -> None:
    """The §3.2 example, for a first+last frame job (no width/height: the images decide the size)."""
    request = VideoRequest(
        prompt="A paper boat drifts down a rain gutter",
        negative_prompt="blurry, distorted",
        duration=5,
        cfg_scale=0.5,
        start_image="https://cdn.example.com/first.jpg",
        end_image="https://cdn.example.com/last.jpg",
        callback_url="https://hooks.example.com/runware",
        client_reference=REF,
        extra={"outputQuality": 95, "ttl": 3600, "safety": {"checkContent": True, "mode": "fast"}},
    )
    gw.validate(request)
    http = gw.build_submit(request)
    assert (http.method, http.path) == ("POST", "/v1")
    assert dict(http.headers) == {}
    expected = [
        {
            "taskType": "videoInference",
            "taskUUID": uid,
            "model": STD,
            "positivePrompt": "A paper boat drifts down a rain gutter",
            "negativePrompt": "blurry, distorted",
            "duration": 5.0,
            "CFGScale": 0.5,
            "deliveryMethod": "async",
            "outputType": "URL",
            "outputFormat": "MP4",
            "outputQuality": 95,
            "numberResults": 1,
            "includeCost": True,
            "ttl": 3600,
            "webhookURL": "https://hooks.example.com/runware",
            "safety": {"checkContent": True, "mode": "fast"},
            "inputs": {
                "frameImages": [
                    {"image": "https://cdn.example.com/first.jpg", "frame": "first"},
                    {"image": "https://cdn.example.com/last.jpg", "frame": "last"},
                ]
            },
            "providerSettings": {"klingai": {"sound": False}},
        }
    ]
    assert http.json == expected
    # JSON types as the seed documents them (5 == 5.0 in Python, so check the types too)
    task = http.json[0]
    assert type(task["duration"]) is float
    assert type(task["CFGScale"]) is float
    assert type(task["providerSettings"]["klingai"]["sound"]) is bool
    assert json.dumps(task["duration"]) == "5.0"


@pytest.mark.parametrize(
    ("tier", "aspect", "model", "size"),
    [
        (None, None, STD, (1280, 720)),
        ("std", "9:16", STD, (720, 1280)),
        ("std", "1:1", STD, (720, 720)),
        ("pro", None, PRO, (1920, 1080)),
        ("pro", "9:16", PRO, (1080, 1920)),
        ("pro", "1:1", PRO, (1080, 1080)),
    ],
)
def test_text_to_video_model_and_size(
    gw: Gateway, tier: Any, aspect: Any, model: str, size: tuple[int, int]
) -> None:
    request = VideoRequest(prompt="ocean at dusk", duration=10, sound=True, tier=tier, aspect_ratio=aspect)
    gw.validate(request)
    task = gw.build_submit(request).json[0]
    assert task["model"] == model
    assert (task["width"], task["height"]) == size
    assert task["duration"] == 10.0
    assert task["providerSettings"] == {"klingai": {"sound": True}}
    assert "inputs" not in task
    assert "negativePrompt" not in task
    assert "CFGScale" not in task
    assert "webhookURL" not in task


def test_start_image_only_and_extra_output_format(gw: Gateway) -> None:
    request = VideoRequest(
        prompt="pan left",
        start_image="data:image/png;base64,iVBOR",
        extra={"outputFormat": "WEBM", "uploadEndpoint": "https://bucket.s3.amazonaws.com/x.webm?sig=1"},
    )
    gw.validate(request)
    task = gw.build_submit(request).json[0]
    assert task["inputs"] == {"frameImages": [{"image": "data:image/png;base64,iVBOR", "frame": "first"}]}
    assert task["outputFormat"] == "WEBM"
    assert task["uploadEndpoint"] == "https://bucket.s3.amazonaws.com/x.webm?sig=1"
    assert "width" not in task
    assert "height" not in task


def test_task_uuid_is_a_deterministic_uuid4(gw: Gateway, uid: str) -> None:
    parsed = uuid.UUID(uid)
    assert parsed.version == 4
    assert parsed.variant == uuid.RFC_4122
    assert str(parsed) == uid
    assert gw.client_id(REF) == uid
    assert gw.client_id(REF + "x") != uid
    request = VideoRequest(prompt="pp", client_reference=REF)
    assert gw.build_submit(request).json[0]["taskUUID"] == uid


def test_task_uuid_without_reference_is_random_uuid4(gw: Gateway) -> None:
    request = VideoRequest(prompt="pp")
    first = gw.build_submit(request).json[0]["taskUUID"]
    second = gw.build_submit(request).json[0]["taskUUID"]
    assert uuid.UUID(first).version == 4
    assert first != second


def test_explicit_model_without_tier(gw: Gateway) -> None:
    pro = get_gateway("runware", PRO)
    request = VideoRequest(prompt="pp", tier="pro")
    pro.validate(request)
    assert pro.build_submit(request).json[0]["model"] == PRO
    assert pro.build_submit(VideoRequest(prompt="pp")).json[0]["model"] == PRO
    assert get_gateway("runware", STD).build_submit(VideoRequest(prompt="pp", tier="std")).json[0][
        "model"
    ] == (STD)


def test_status_request(gw: Gateway, uid: str) -> None:
    http = gw.build_status(uid)
    assert (http.method, http.path) == ("POST", "/v1")
    assert http.json == [{"taskType": "getResponse", "taskUUID": uid}]


def test_class_facts(gw: Gateway) -> None:
    hosts = {None: "https://api.runware.ai", "https://api.runware.ai/v1": "https://api.runware.ai"}
    check_identity(gw, "runware", STD, "lookup", hosts)
    assert {STD, PRO} <= set(gw.models)
    caps = gw.capabilities_for(VideoRequest(prompt="pp"))
    assert caps.local_images == "data_uri"
    assert gw.encode_local_image(b"\x89PNG", "image/png") == "data:image/png;base64,iVBORw=="


# ==================================================================== (2) responses
def test_submit_ack_is_queued(gw: Gateway, uid: str) -> None:
    request = VideoRequest(prompt="pp", client_reference=REF)
    body = {"data": [{"taskType": "videoInference", "taskUUID": uid}]}
    task = gw.parse_submit(request, respond(body))
    assert task.task_id == uid
    assert task.gateway == "runware"
    assert task.state is TaskState.QUEUED
    assert task.video_urls == []
    assert task.cost is None
    assert task.raw == body


def test_submit_ack_without_reference_takes_the_returned_uuid(gw: Gateway) -> None:
    body = {"data": [{"taskType": "videoInference", "taskUUID": "0b7c6f8e-1111-4222-8333-444455556666"}]}
    task = gw.parse_submit(VideoRequest(prompt="pp"), respond(body))
    assert task.task_id == "0b7c6f8e-1111-4222-8333-444455556666"


def test_submit_ack_without_uuid_is_a_protocol_error(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_submit(VideoRequest(prompt="pp"), respond({"data": []}))


def test_status_no_item_yet_is_queued(gw: Gateway, uid: str) -> None:
    assert gw.parse_status(uid, None, respond({"data": []})).state is TaskState.QUEUED
    assert gw.parse_status(uid, None, respond({"data": [], "errors": []})).state is TaskState.QUEUED


@pytest.mark.parametrize("status", ["queued", "pending", "scheduled", "waiting"])
def test_status_pending_states_are_queued(gw: Gateway, uid: str, status: str) -> None:
    body = {"data": [{"taskType": "videoInference", "taskUUID": uid, "status": status}]}
    assert gw.parse_status(uid, None, respond(body)).state is TaskState.QUEUED


def test_status_processing_is_running(gw: Gateway, uid: str) -> None:
    body = {"data": [{"taskType": "videoInference", "taskUUID": uid, "status": "processing"}]}
    assert gw.parse_status(uid, None, respond(body)).state is TaskState.RUNNING


def test_status_unknown_state_is_running(gw: Gateway, uid: str) -> None:
    body = {"data": [{"taskType": "videoInference", "taskUUID": uid, "status": "upscaling"}]}
    assert gw.parse_status(uid, None, respond(body)).state is TaskState.RUNNING


def test_status_success(gw: Gateway, uid: str) -> None:
    body = {
        "data": [
            {
                "taskType": "videoInference",
                "taskUUID": uid,
                "status": "success",
                "videoUUID": "b7db282d-2943-4f12-992f-77df3ad3ec71",
                "videoURL": "https://vm.runware.ai/video/ws/0.5/vi/b7db282d.mp4",
                "cost": 0.42,
                "seed": 12345,
                "NSFWContent": False,
            }
        ]
    }
    task = gw.parse_status(uid, None, respond(body))
    assert task.state is TaskState.SUCCEEDED
    assert task.video_urls == ["https://vm.runware.ai/video/ws/0.5/vi/b7db282d.mp4"]
    assert task.cost == pytest.approx(0.42)
    assert task.error_code is None


def test_status_video_url_without_status_is_success_and_costs_add_up(gw: Gateway, uid: str) -> None:
    body = {
        "data": [
            {"taskType": "videoInference", "taskUUID": uid, "videoURL": "https://v/1.mp4", "cost": 0.25},
            {"taskType": "videoInference", "taskUUID": uid, "videoURL": "https://v/2.mp4", "cost": 0.25},
            {"taskType": "videoInference", "taskUUID": "someone-else", "videoURL": "https://v/x.mp4"},
        ]
    }
    task = gw.parse_status(uid, None, respond(body))
    assert task.state is TaskState.SUCCEEDED
    assert task.video_urls == ["https://v/1.mp4", "https://v/2.mp4"]
    assert task.cost == pytest.approx(0.5)


def test_status_success_without_url_is_a_protocol_error(gw: Gateway, uid: str) -> None:
    body = {"data": [{"taskType": "videoInference", "taskUUID": uid, "status": "success"}]}
    with pytest.raises(exceptions.KlingProtocolError, match="without a video URL"):
        gw.parse_status(uid, None, respond(body))


def test_status_error_item_is_failed(gw: Gateway, uid: str) -> None:
    body = {
        "data": [
            {
                "taskType": "videoInference",
                "taskUUID": uid,
                "status": "error",
                "code": "inferenceError",
                "message": "Provider failed to render",
            }
        ]
    }
    task = gw.parse_status(uid, None, respond(body))
    assert task.state is TaskState.FAILED
    assert task.error_code == "inferenceError"
    assert task.error_message == "Provider failed to render"
    assert type(gw.failure_error(task)) is exceptions.KlingTaskFailedError


def test_status_top_level_error_with_http_200_is_failed(gw: Gateway, uid: str) -> None:
    body = {
        "data": [{"taskType": "videoInference", "taskUUID": uid, "status": "processing"}],
        "errors": [
            {
                "code": "providerContentPolicyViolation",
                "message": "The provider rejected the content of the prompt",
                "taskType": "videoInference",
                "taskUUID": uid,
            }
        ],
    }
    task = gw.parse_status(uid, None, respond(body))
    assert task.state is TaskState.FAILED
    assert task.error_code == "providerContentPolicyViolation"
    assert task.error_message == "The provider rejected the content of the prompt"
    err = gw.failure_error(task)
    assert type(err) is exceptions.KlingContentPolicyError
    assert err.code == "providerContentPolicyViolation"


def test_status_top_level_provider_error_is_a_task_failure(gw: Gateway, uid: str) -> None:
    body = {"errors": [{"code": "timeoutProvider", "message": "timed out", "taskUUID": uid}]}
    task = gw.parse_status(uid, None, respond(body))
    assert task.state is TaskState.FAILED
    assert type(gw.failure_error(task)) is exceptions.KlingTaskFailedError


def test_status_auth_error_is_raised_not_returned(gw: Gateway, uid: str) -> None:
    body = {"errors": [{"code": "invalidApiKey", "message": "Invalid API key", "taskType": "authentication"}]}
    with pytest.raises(exceptions.KlingAuthError):
        gw.parse_status(uid, None, respond(body))


# ==================================================================== (3) validation
@pytest.mark.parametrize(
    ("model", "fields", "field", "allowed"),
    [
        (None, {"prompt": "x"}, "prompt", "2 to 2500 characters"),
        (None, {"prompt": "x" * 2501}, "prompt", "2 to 2500 characters"),
        (None, {"negative_prompt": "x"}, "negative_prompt", "2 to 2500 characters"),
        (STD, {"tier": "pro"}, "tier", f"'std' or None (the connection's model is {STD})"),
        (PRO, {"tier": "std"}, "tier", f"'pro' or None (the connection's model is {PRO})"),
        (
            None,
            {"start_image": "https://x/a.png", "aspect_ratio": "16:9"},
            "aspect_ratio",
            "None with an image",
        ),
        (None, {"extra": {"outputQuality": 10}}, "extra.outputQuality", "an integer from 20 to 99"),
        (None, {"extra": {"outputQuality": 95.5}}, "extra.outputQuality", "an integer from 20 to 99"),
        (None, {"extra": {"seed": 42}}, "extra.seed", "extra keys: outputFormat, outputQuality"),
        (None, {"extra": {"numberResults": 2}}, "extra.numberResults", "extra keys:"),
        (None, {"end_image": "https://x/last.png"}, "end_image", "only together with start_image"),
        (None, {"extra": {"ttl": 30}}, "extra.ttl", "at least 60"),
        (None, {"extra": {"ttl": True}}, "extra.ttl", "at least 60"),
        (None, {"extra": {"outputFormat": "GIF"}}, "extra.outputFormat", "MP4, WEBM, MOV"),
        (None, {"extra": {"safety": {"mode": "paranoid"}}}, "extra.safety.mode", "none, fast, full"),
        (None, {"extra": {"safety": {"checkContent": "yes"}}}, "extra.safety.checkContent", "true, false"),
        (None, {"extra": {"safety": {"level": 1}}}, "extra.safety.level", "checkContent, mode"),
        (None, {"extra": {"safety": True}}, "extra.safety", "an object"),
        (None, {"extra": {"uploadEndpoint": "http://insecure/x"}}, "extra.uploadEndpoint", "https://"),
        (None, {"cfg_scale": 1.5}, "cfg_scale", "a number from 0 to 1"),
        (None, {"cfg_scale": 0.555}, "cfg_scale", "steps of 0.01"),
        (None, {"start_image": "", "end_image": "https://x/b.png"}, "start_image", "non-empty"),
        (None, {"duration": 10, "aspect_ratio": "1:1", "extra": {"ttl": "3600"}}, "extra.ttl", "integer"),
    ],
)
def test_invalid_requests(model: str | None, fields: dict[str, Any], field: str, allowed: str) -> None:
    gw = get_gateway("runware", model)
    request = VideoRequest(**{"prompt": "a prompt", **fields})
    with pytest.raises(exceptions.KlingValidationError) as info:
        gw.validate(request)
    err = info.value
    assert err.gateway == "runware"
    assert err.field == field
    assert "'runware'" in str(err)
    assert field in str(err)
    assert "allowed:" in str(err)
    assert allowed in str(err)


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": "ab", "negative_prompt": "xy", "cfg_scale": 0.07, "sound": True, "tier": "pro"},
        {"start_image": "https://x/a.png", "end_image": "https://x/b.png", "tier": "std"},
        {"start_image": "/local/file.png"},
        {"callback_url": "https://hooks.example.com/x", "aspect_ratio": "9:16", "duration": 10},
        {
            "extra": {
                "outputFormat": "MOV",
                "outputQuality": 20,
                "ttl": 60,
                "safety": {"checkContent": False, "mode": "none"},
                "uploadEndpoint": "https://storage.googleapis.com/b/o?X-Goog-Signature=1",
            }
        },
    ],
)
def test_valid_requests(gw: Gateway, fields: dict[str, Any]) -> None:
    gw.validate(VideoRequest(**{"prompt": "a prompt", **fields}))


def test_unknown_model_id() -> None:
    with pytest.raises(exceptions.KlingValidationError, match="runware"):
        get_gateway("runware", "klingai:kling-video@2.5-turbo")


# ==================================================================== (4) errors
def errors(code: str, message: str, **more: Any) -> dict[str, Any]:
    return {"errors": [{"code": code, "message": message, **more}]}


@pytest.mark.parametrize(
    ("status", "code", "kind", "rejected"),
    [
        (401, "invalidApiKey", exceptions.KlingAuthError, True),
        (200, "invalidApiKey", exceptions.KlingAuthError, True),
        (402, "insufficientCredits", exceptions.KlingQuotaError, True),
        (200, "notEnoughBalance", exceptions.KlingQuotaError, True),
        (200, "quotaExceeded", exceptions.KlingQuotaError, True),
        (400, "contentPolicyViolation", exceptions.KlingContentPolicyError, True),
        (200, "nsfwContentDetected", exceptions.KlingContentPolicyError, True),
        (200, "promptBlocked", exceptions.KlingContentPolicyError, True),
        (400, "invalidPositivePrompt", exceptions.KlingValidationError, True),
        (200, "missingTaskUUID", exceptions.KlingValidationError, True),
        (400, "unsupportedDuration", exceptions.KlingValidationError, True),
        (200, "inferenceError", exceptions.KlingServerError, False),
        (200, "noAvailableServer", exceptions.KlingServerError, False),
        (503, "modelUnavailable", exceptions.KlingServerError, False),
        (500, "somethingNew", exceptions.KlingServerError, False),
        (400, "somethingNew", exceptions.KlingValidationError, True),
        (200, "somethingNew", exceptions.KlingProtocolError, False),
    ],
)
def test_submit_error_envelopes(
    gw: Gateway, uid: str, status: int, code: str, kind: type[exceptions.KlingError], rejected: bool
) -> None:
    request = VideoRequest(prompt="pp", client_reference=REF)
    body = errors(code, "Precise reason", parameter="positivePrompt", taskType="videoInference", taskUUID=uid)
    with pytest.raises(exceptions.KlingError) as info:
        gw.parse_submit(request, respond(body, status))
    err = info.value
    assert type(err) is kind
    assert err.code == code
    assert err.gateway == "runware"
    assert "Precise reason" in err.message
    assert "positivePrompt" in err.message
    assert err.request_rejected is rejected


def test_non_json_and_garbage(gw: Gateway, uid: str) -> None:
    with pytest.raises(exceptions.KlingServerError):
        gw.parse_status(uid, None, respond(b"<html>bad gateway</html>", 502))
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status(uid, None, respond(b"not json"))
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status(uid, None, respond("just a string"))
    with pytest.raises(exceptions.KlingServerError):
        gw.parse_status(uid, None, respond({"data": []}, 503))


# ==================================================================== (5) auth
def test_auth_header(gw: Gateway) -> None:
    assert gw.auth_headers(Credentials(api_key="rw-key"), now=0.0) == {"Authorization": "Bearer rw-key"}
    with pytest.raises(exceptions.KlingAuthError):
        gw.auth_headers(Credentials(api_key=""), now=0.0)


# ==================================================================== (6) lookup and connection test
def test_lookup_builder(gw: Gateway, uid: str) -> None:
    assert gw.build_lookup(VideoRequest(prompt="pp")) is None
    http = gw.build_lookup(VideoRequest(prompt="pp", client_reference=REF))
    assert http is not None
    assert (http.method, http.path) == ("POST", "/v1")
    assert http.json == [{"taskType": "getResponse", "taskUUID": uid}]


def test_parse_lookup(gw: Gateway, uid: str) -> None:
    request = VideoRequest(prompt="pp", client_reference=REF)
    # nothing known about our UUID: no earlier submit reached Runware
    queued = gw.parse_lookup(request, respond({"data": []}))  # a queued task has no item yet
    assert queued is not None and queued.state is TaskState.QUEUED and queued.task_id == uid
    assert gw.parse_lookup(request, respond(errors("taskNotFound", "no such task", taskUUID=uid))) is None
    assert gw.parse_lookup(request, respond(errors("unknownTaskUUID", "unknown", taskUUID=uid), 400)) is None
    assert gw.parse_lookup(request, respond(errors("taskUUIDDoesNotExist", "gone"), 404)) is None
    with pytest.raises(exceptions.KlingNotFoundError):  # a bare 404 is a wrong URL, not an unknown task
        gw.parse_lookup(request, respond(b"", 404))
    # an earlier submit exists: attach to it
    found = gw.parse_lookup(
        request, respond({"data": [{"taskType": "videoInference", "taskUUID": uid, "status": "processing"}]})
    )
    assert found is not None
    assert (found.task_id, found.state) == (uid, TaskState.RUNNING)
    failed = gw.parse_lookup(request, respond(errors("inferenceError", "failed", taskUUID=uid)))
    assert failed is not None
    assert failed.state is TaskState.FAILED
    # errors about the call itself are raised
    with pytest.raises(exceptions.KlingAuthError):
        gw.parse_lookup(request, respond(errors("invalidApiKey", "bad key", taskType="authentication"), 401))
    assert gw.parse_lookup(VideoRequest(prompt="pp"), respond({"data": []})) is None


def test_connection_test(gw: Gateway) -> None:
    http = gw.build_test_connection()
    assert (http.method, http.path) == ("POST", "/v1")
    assert http.json == [{"taskType": "ping", "ping": True}]
    gw.check_test_connection(respond({"data": [{"taskType": "ping", "pong": True}]}))
    with pytest.raises(exceptions.KlingAuthError):
        gw.check_test_connection(
            respond(errors("invalidApiKey", "Invalid API key", taskType="authentication"))
        )
    with pytest.raises(exceptions.KlingAuthError):
        gw.check_test_connection(respond(errors("weirdCode", "refused")))
    with pytest.raises(exceptions.KlingAuthError):
        gw.check_test_connection(respond({"data": []}, 401))
    with pytest.raises(exceptions.KlingServerError):
        gw.check_test_connection(respond(b"down", 503))


def test_deeply_nested_json_is_a_protocol_error(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status(UID, None, respond(b"[" * 100_000 + b"]" * 100_000))
