"""Rivya Public API v1 adapter: requests checked against seed 000, answers against GATEWAYS.md §2."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import pytest

from airflow_provider_kling import exceptions
from airflow_provider_kling.gateways import get_gateway
from airflow_provider_kling.gateways.base import Credentials, Gateway
from airflow_provider_kling.models import TaskState, VideoRequest
from tests.unit.gateways.fakes import check_identity, respond

PROMPT = "A cinematic product reveal with smooth camera movement"

# -------------------------------------------------------------------- seed 000, verbatim
SEED_MINIMAL = {
    "model": "kling-2-6",
    "prompt": "A cinematic product reveal with smooth camera movement",
    "params": {"duration": "5", "sound": "false", "aspect_ratio": "1:1"},
}
SEED_REFERENCE = {
    "model": "kling-2-6",
    "prompt": "A cinematic product reveal with smooth camera movement",
    "params": {
        "duration": "5",
        "sound": "false",
        "aspect_ratio": "1:1",
        "referenceMediaItems": [
            {
                "url": "https://cdn.example.com/reference-image.png",
                "kind": "image",
                "name": "reference-image.png",
                "mimeType": "image/png",
            }
        ],
    },
}
SEED_CREATE_RESPONSE = {
    "id": "task_kling_2_6_example",
    "status": "queued",
    "model": "kling-2-6",
    "reserved_credits": 55,
    "final_credits": 0,
    "created_at": "2026-05-11T00:00:00.000Z",
    "updated_at": "2026-05-11T00:00:00.000Z",
    "result": None,
    "error": None,
}


@pytest.fixture
def gw() -> Gateway:
    return get_gateway("rivya")


# ==================================================================== (1) requests
def test_seed_minimal_request_is_reproduced_exactly(gw: Gateway) -> None:
    request = VideoRequest(prompt=PROMPT, duration=5, sound=False, aspect_ratio="1:1")
    gw.validate(request)
    http = gw.build_submit(request)
    assert http.method == "POST"
    assert http.path == "/api/v1/generations"
    assert http.json == SEED_MINIMAL
    assert json.loads(json.dumps(http.json)) == SEED_MINIMAL
    assert dict(http.headers) == {}  # no Idempotency-Key without a client reference


def test_seed_reference_file_request_is_reproduced_exactly(gw: Gateway) -> None:
    request = VideoRequest(
        prompt=PROMPT,
        duration=5,
        sound=False,
        aspect_ratio="1:1",
        start_image="https://cdn.example.com/reference-image.png",
    )
    gw.validate(request)
    http = gw.build_submit(request)
    assert (http.method, http.path) == ("POST", "/api/v1/generations")
    assert http.json == SEED_REFERENCE


def test_params_are_strings_and_text_to_video_sends_16_9_by_default(gw: Gateway) -> None:
    http = gw.build_submit(VideoRequest(prompt="waves", duration=10, sound=True))
    assert http.json == {
        "model": "kling-2-6",
        "prompt": "waves",
        "params": {"duration": "10", "sound": "true", "aspect_ratio": "16:9"},
    }


def test_image_without_explicit_aspect_ratio_omits_it(gw: Gateway) -> None:
    http = gw.build_submit(
        VideoRequest(prompt="p", start_image="https://cdn.example.com/a/My%20Photo.JPEG?sig=1")
    )
    assert http.json["params"] == {
        "duration": "5",
        "sound": "false",
        "referenceMediaItems": [
            {
                "url": "https://cdn.example.com/a/My%20Photo.JPEG?sig=1",
                "kind": "image",
                "name": "My Photo.JPEG",
                "mimeType": "image/jpeg",
            }
        ],
    }


@pytest.mark.parametrize(
    ("url", "mime"),
    [
        ("https://x.test/a.webp", "image/webp"),
        ("https://x.test/a.png", "image/png"),
        ("https://x.test/a.jpg", "image/jpeg"),
        ("https://x.test/files/abc123", "image/jpeg"),  # no extension: the default
    ],
)
def test_reference_mime_type_from_extension(gw: Gateway, url: str, mime: str) -> None:
    http = gw.build_submit(VideoRequest(prompt="p", start_image=url))
    assert http.json["params"]["referenceMediaItems"][0]["mimeType"] == mime


def test_client_reference_sets_idempotency_key_and_client_request_id(gw: Gateway) -> None:
    request = VideoRequest(prompt=PROMPT, aspect_ratio="1:1", client_reference="dag.run.task.0")
    http = gw.build_submit(request)
    assert http.headers == {"Idempotency-Key": "dag.run.task.0"}
    assert http.json == {**SEED_MINIMAL, "client_request_id": "dag.run.task.0"}


def test_non_ascii_reference_is_percent_encoded_in_the_header(gw: Gateway) -> None:
    http = gw.build_submit(VideoRequest(prompt="p", client_reference="run café"))
    assert http.headers == {"Idempotency-Key": "run%20caf%C3%A9"}
    assert http.json["client_request_id"] == "run café"


def test_status_request(gw: Gateway) -> None:
    http = gw.build_status("task_kling_2_6_example")
    assert (http.method, http.path, http.json) == ("GET", "/api/v1/generations/task_kling_2_6_example", None)
    assert gw.build_status("a/../b").path == "/api/v1/generations/a%2F..%2Fb"


def test_class_facts(gw: Gateway) -> None:
    hosts = {None: "https://rivya.ai", "https://rivya.ai/api/v1/": "https://rivya.ai"}
    check_identity(gw, "rivya", "kling-2-6", "dedup", hosts)
    caps = gw.capabilities_for(VideoRequest(prompt="p"))
    assert caps.local_images == "upload"
    assert caps.tiers == ()
    assert caps.cost_reporting is True
    with pytest.raises(exceptions.KlingValidationError, match="rivya"):
        get_gateway("rivya", "kling-v2-6")


# ==================================================================== (2) responses
def test_seed_create_response_is_queued(gw: Gateway) -> None:
    request = VideoRequest(prompt=PROMPT)
    task = gw.parse_submit(request, respond(SEED_CREATE_RESPONSE))
    assert task.task_id == "task_kling_2_6_example"
    assert task.gateway == "rivya"
    assert task.state is TaskState.QUEUED
    assert task.video_urls == []
    assert task.cost == 55.0  # final_credits is 0 until settled: the reservation is reported
    assert task.created_at == datetime(2026, 5, 11, tzinfo=timezone.utc)
    assert task.finished_at is None
    assert task.raw == SEED_CREATE_RESPONSE


def test_processing(gw: Gateway) -> None:
    body = {**SEED_CREATE_RESPONSE, "status": "processing", "client_request_id": "ref-1"}
    task = gw.parse_status("task_kling_2_6_example", None, respond(body))
    assert task.state is TaskState.RUNNING
    assert task.client_reference == "ref-1"


def test_succeeded(gw: Gateway) -> None:
    body = {
        **SEED_CREATE_RESPONSE,
        "status": "succeeded",
        "final_credits": 55,
        "updated_at": "2026-05-11T00:01:10.000Z",
        "result": {
            "primary_url": "https://cdn.rivya.ai/out/v1.mp4",
            "urls": ["https://cdn.rivya.ai/out/v1.mp4", "https://cdn.rivya.ai/out/v2.mp4"],
        },
    }
    task = gw.parse_status("task_kling_2_6_example", None, respond(body))
    assert task.state is TaskState.SUCCEEDED
    assert task.video_urls == ["https://cdn.rivya.ai/out/v1.mp4", "https://cdn.rivya.ai/out/v2.mp4"]
    assert task.cost == 55.0
    assert task.finished_at == datetime(2026, 5, 11, 0, 1, 10, tzinfo=timezone.utc)
    assert task.error_code is None


def test_succeeded_with_urls_only(gw: Gateway) -> None:
    body = {**SEED_CREATE_RESPONSE, "status": "succeeded", "result": {"urls": ["https://c/v.mp4"]}}
    assert gw.parse_status("t", None, respond(body)).video_urls == ["https://c/v.mp4"]


def test_succeeded_without_url_is_a_protocol_error(gw: Gateway) -> None:
    body = {**SEED_CREATE_RESPONSE, "status": "succeeded", "result": {"primary_url": None, "urls": []}}
    with pytest.raises(exceptions.KlingProtocolError, match="without a video URL"):
        gw.parse_status("task_kling_2_6_example", None, respond(body))


def test_failed_is_returned_and_classified(gw: Gateway) -> None:
    body = {
        **SEED_CREATE_RESPONSE,
        "status": "failed",
        "result": None,
        "error": {"code": "generation_failed", "message": "The model could not render this clip"},
    }
    task = gw.parse_status("task_kling_2_6_example", None, respond(body))
    assert task.state is TaskState.FAILED
    assert task.error_code == "generation_failed"
    assert task.error_message == "The model could not render this clip"
    assert task.finished_at is not None
    assert task.cost == 0.0  # refunded (final_credits 0), not the 55 credits held while it ran
    err = gw.failure_error(task)
    assert type(err) is exceptions.KlingTaskFailedError
    assert err.code == "generation_failed"


def test_failed_by_moderation_is_content_policy(gw: Gateway) -> None:
    body = {
        **SEED_CREATE_RESPONSE,
        "status": "failed",
        "error": {"code": "content_moderation_rejected", "message": "blocked"},
    }
    task = gw.parse_status("task_kling_2_6_example", None, respond(body))
    assert type(gw.failure_error(task)) is exceptions.KlingContentPolicyError


def test_unknown_state_keeps_polling(gw: Gateway) -> None:
    body = {**SEED_CREATE_RESPONSE, "status": "rendering_frames"}
    assert gw.parse_status("t", None, respond(body)).state is TaskState.RUNNING


def test_submit_without_id_is_a_protocol_error(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_submit(VideoRequest(prompt="p"), respond({"status": "queued"}))
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_submit(VideoRequest(prompt="p"), respond(b"<html>oops</html>"))


# ==================================================================== (3) validation
@pytest.mark.parametrize(
    ("fields", "field", "allowed"),
    [
        ({"prompt": "x" * 1001}, "prompt", "1 to 1000 characters"),
        ({"negative_prompt": "blur"}, "negative_prompt", "None"),
        (
            {"start_image": "https://x.test/a.png", "end_image": "https://x.test/b.png"},
            "end_image",
            "None",
        ),
        ({"cfg_scale": 0.5}, "cfg_scale", "None"),
        ({"tier": "pro"}, "tier", "no tier choice"),
        ({"callback_url": "https://hooks.example.com/k"}, "callback_url", "no per-request callback"),
        ({"extra": {"webhook": "https://x"}}, "extra.webhook", "extra keys: none"),
        ({"start_image": "https://x.test/anim.gif"}, "start_image", "JPEG, PNG or WebP"),
        ({"start_image": "/tmp/scan.tiff"}, "start_image", "JPEG, PNG or WebP"),
        ({"start_image": "data:image/gif;base64,R0lGOD"}, "start_image", "JPEG, PNG or WebP"),
        ({"start_image": ""}, "start_image", "non-empty"),
    ],
)
def test_invalid_requests(gw: Gateway, fields: dict[str, Any], field: str, allowed: str) -> None:
    request = VideoRequest(**{"prompt": "a prompt", **fields})
    with pytest.raises(exceptions.KlingValidationError) as info:
        gw.validate(request)
    err = info.value
    assert err.gateway == "rivya"
    assert err.field == field
    assert "'rivya'" in str(err)
    assert field in str(err)
    assert "allowed:" in str(err)
    assert allowed in str(err)


@pytest.mark.parametrize(
    "fields",
    [
        {"prompt": "x" * 1000, "duration": 10, "sound": True, "aspect_ratio": "9:16"},
        {"start_image": "https://x.test/a.webp", "aspect_ratio": "16:9"},
        {"start_image": "/data/local/photo.jpeg"},
        {"start_image": "https://x.test/no-extension"},
        {"start_image": "data:image/png;base64,iVBOR"},
    ],
)
def test_valid_requests(gw: Gateway, fields: dict[str, Any]) -> None:
    gw.validate(VideoRequest(**{"prompt": "a prompt", **fields}))


# ==================================================================== (4) errors
def envelope(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "requestId": "req_123"}}


@pytest.mark.parametrize(
    ("status", "code", "kind", "rejected"),
    [
        (503, "public_api_disabled", exceptions.KlingServerError, True),
        (401, "api_key_missing", exceptions.KlingAuthError, True),
        (401, "api_key_invalid", exceptions.KlingAuthError, True),
        (401, "api_key_revoked", exceptions.KlingAuthError, True),
        (401, "api_key_expired", exceptions.KlingAuthError, True),
        (403, "api_scope_denied", exceptions.KlingAuthError, True),
        (400, "validation_failed", exceptions.KlingValidationError, True),
        (404, "not_found", exceptions.KlingNotFoundError, True),
        (400, "webhook_url_rejected", exceptions.KlingValidationError, True),
        (409, "idempotency_conflict", exceptions.KlingValidationError, True),
        (402, "insufficient_credits", exceptions.KlingQuotaError, True),
        (400, "insufficient_credits", exceptions.KlingQuotaError, True),
        (200, "insufficient_credits", exceptions.KlingQuotaError, True),
        (400, "content_policy_violation", exceptions.KlingContentPolicyError, True),
        (422, "prompt_moderation_failed", exceptions.KlingContentPolicyError, True),
        (500, "internal_error", exceptions.KlingServerError, False),
        (418, "brand_new_code", exceptions.KlingValidationError, True),
    ],
)
def test_error_envelopes(
    gw: Gateway, status: int, code: str, kind: type[exceptions.KlingError], rejected: bool
) -> None:
    with pytest.raises(exceptions.KlingError) as info:
        gw.parse_submit(VideoRequest(prompt="p"), respond(envelope(code, "Something precise"), status))
    err = info.value
    assert type(err) is kind
    assert err.code == code
    assert err.gateway == "rivya"
    assert err.status_code == status
    assert "Something precise" in err.message
    assert "req_123" in err.message
    assert err.request_rejected is rejected


def test_error_envelope_with_http_200(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingAuthError) as info:
        gw.parse_status("t", None, respond(envelope("api_key_revoked", "Key revoked")))
    assert info.value.code == "api_key_revoked"


def test_non_json_errors(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingServerError):
        gw.parse_status("t", None, respond(b"<html>502 Bad Gateway</html>", 502))
    with pytest.raises(exceptions.KlingNotFoundError):
        gw.parse_status("t", None, respond(b"", 404))
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status("t", None, respond([1, 2, 3]))


# ==================================================================== (5) auth
def test_auth_header(gw: Gateway) -> None:
    headers = gw.auth_headers(Credentials(api_key="rvya_sk_test"), now=0.0)
    assert headers == {"Authorization": "Bearer rvya_sk_test"}
    with pytest.raises(exceptions.KlingAuthError):
        gw.auth_headers(Credentials(api_key=""), now=0.0)


# ==================================================================== (6) lookup, test, upload
def test_no_lookup_because_rivya_deduplicates(gw: Gateway) -> None:
    request = VideoRequest(prompt="p", client_reference="ref")
    assert gw.build_lookup(request) is None


def test_connection_test(gw: Gateway) -> None:
    http = gw.build_test_connection()
    assert (http.method, http.path, http.json) == ("GET", "/api/v1/credits", None)
    gw.check_test_connection(respond({"balance": 1200, "currency": "credits"}))
    with pytest.raises(exceptions.KlingAuthError):
        gw.check_test_connection(respond(envelope("api_key_invalid", "bad key"), 401))
    with pytest.raises(exceptions.KlingAuthError):
        gw.check_test_connection(respond(envelope("api_scope_denied", "needs credits:read"), 403))


def test_upload(gw: Gateway) -> None:
    http = gw.build_upload("ref.png", b"\x89PNG", "image/png")
    assert (http.method, http.path, http.json) == ("POST", "/api/v1/files", None)
    assert http.files == {"file": ("ref.png", b"\x89PNG", "image/png")}
    assert http.data == {"kind": "image"}


@pytest.mark.parametrize(
    "body",
    [
        {"id": "file_1", "url": "https://files.rivya.ai/f/ref.png"},
        {"file": {"id": "file_1", "url": "https://files.rivya.ai/f/ref.png"}},
        {"data": {"url": "https://files.rivya.ai/f/ref.png"}},
    ],
)
def test_parse_upload_is_lenient(gw: Gateway, body: dict[str, Any]) -> None:
    assert gw.parse_upload(respond(body, 201)) == "https://files.rivya.ai/f/ref.png"


def test_parse_upload_errors(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_upload(respond({"id": "file_1"}))
    with pytest.raises(exceptions.KlingValidationError):
        gw.parse_upload(respond(envelope("validation_failed", "too large"), 400))


def test_deeply_nested_json_is_a_protocol_error(gw: Gateway) -> None:
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status("t", None, respond(b"[" * 100_000 + b"]" * 100_000))
