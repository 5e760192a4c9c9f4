"""Official Kling API adapter: wire format, parsing, validation, error codes, JWT."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest

from airflow_provider_kling import exceptions
from airflow_provider_kling.gateways import get_gateway
from airflow_provider_kling.gateways.base import Credentials, HttpResponse
from airflow_provider_kling.gateways.kling import JWT_NBF_SKEW, JWT_TTL, make_jwt
from airflow_provider_kling.models import TaskState, VideoRequest
from tests.unit.gateways.fakes import respond

gw = get_gateway("kling")


def test_official_sample_body_for_2_6() -> None:
    """The official 2.6 sample (pro, sound on, 1:1) with its empty optionals filled in."""
    request = VideoRequest(
        prompt="A cat surfing at sunset",
        negative_prompt="blur",
        duration=5,
        tier="pro",
        sound=True,
        aspect_ratio="1:1",
        callback_url="https://example.com/cb",
        client_reference="ext-1",
    )
    http = gw.build_submit(request)
    assert (http.method, http.path) == ("POST", "/v1/videos/text2video")
    assert http.json == {
        "model_name": "kling-v2-6",
        "prompt": "A cat surfing at sunset",
        "negative_prompt": "blur",
        "duration": "5",
        "mode": "pro",
        "sound": "on",
        "aspect_ratio": "1:1",
        "callback_url": "https://example.com/cb",
        "external_task_id": "ext-1",
    }


def test_image_to_video_body_strips_data_uri_and_omits_aspect() -> None:
    request = VideoRequest(
        prompt="p",
        start_image="data:image/png;base64,QUJD",
        end_image="https://x/e.png",
        tier="pro",
        duration=10,
    )
    http = gw.build_submit(request)
    assert http.path == "/v1/videos/image2video"
    assert http.json["image"] == "QUJD"
    assert http.json["image_tail"] == "https://x/e.png"
    assert http.json["duration"] == "10"
    assert "aspect_ratio" not in http.json


def test_status_paths_follow_the_family() -> None:
    assert gw.build_status("123", "image2video").path == "/v1/videos/image2video/123"
    assert gw.build_status("123").path == "/v1/videos/text2video/123"


SUBMIT_OK = {
    "code": 0,
    "message": "SUCCEED",
    "request_id": "r1",
    "data": {
        "task_id": "867283741759111202",
        "task_info": {"external_task_id": "ext-1"},
        "task_status": "submitted",
        "created_at": 1722769557708,
        "updated_at": 1722769557708,
    },
}


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("submitted", TaskState.QUEUED),
        ("processing", TaskState.RUNNING),
        ("brand-new-state", TaskState.RUNNING),
    ],
)
def test_parse_states(status: str, state: TaskState) -> None:
    body = json.loads(json.dumps(SUBMIT_OK))
    body["data"]["task_status"] = status
    task = gw.parse_status("867283741759111202", "text2video", respond(body))
    assert task.state is state
    assert task.task_id == "867283741759111202"
    assert task.client_reference == "ext-1"
    assert task.created_at is not None and task.created_at.year == 2024


def test_parse_succeed_spelling_and_string_duration() -> None:
    body = {
        "code": 0,
        "message": "SUCCEED",
        "data": {
            "task_id": "t1",
            "task_status": "succeed",
            "task_status_msg": "",
            "final_unit_deduction": "2.5",
            "task_result": {"videos": [{"id": "v", "url": "https://cdn/v.mp4", "duration": "5.042"}]},
            "created_at": 1722769557708,
            "updated_at": 1722769600000,
        },
    }
    task = gw.parse_status("t1", "image2video", respond(body))
    assert task.state is TaskState.SUCCEEDED
    assert task.video_urls == ["https://cdn/v.mp4"]
    assert task.endpoint == "image2video"
    assert task.cost == 2.5
    assert task.finished_at is not None


def test_failed_job_reason_is_in_task_status_msg() -> None:
    body = {
        "code": 0,
        "message": "SUCCEED",
        "data": {"task_id": "t1", "task_status": "failed", "task_status_msg": "Image pixel is invalid"},
    }
    task = gw.parse_status("t1", "text2video", respond(body))
    assert task.state is TaskState.FAILED
    assert task.error_message == "Image pixel is invalid"
    assert isinstance(gw.failure_error(task), exceptions.KlingTaskFailedError)
    body["data"]["task_status_msg"] = "Failure to pass the risk control system"
    assert isinstance(
        gw.failure_error(gw.parse_status("t1", None, respond(body))), exceptions.KlingContentPolicyError
    )


def test_succeeded_without_url_is_a_protocol_error() -> None:
    body = {"code": 0, "data": {"task_id": "t1", "task_status": "succeed", "task_result": {"videos": []}}}
    with pytest.raises(exceptions.KlingProtocolError):
        gw.parse_status("t1", None, respond(body))


@pytest.mark.parametrize(
    ("http", "code", "kind"),
    [
        (401, 1004, exceptions.KlingAuthError),
        (429, 1102, exceptions.KlingQuotaError),
        (429, 1302, exceptions.KlingRateLimitError),
        (429, 1303, exceptions.KlingRateLimitError),
        (400, 1301, exceptions.KlingContentPolicyError),
        (400, 1201, exceptions.KlingValidationError),
        (404, 1203, exceptions.KlingNotFoundError),
        (500, 5000, exceptions.KlingServerError),
        (503, 5001, exceptions.KlingServerError),
        (200, 1201, exceptions.KlingValidationError),
    ],
)
def test_error_codes(http: int, code: int, kind: type[Exception]) -> None:
    with pytest.raises(kind) as info:
        gw.parse_submit(VideoRequest(prompt="p"), respond({"code": code, "message": f"msg {code}"}, http))
    err = info.value
    assert err.code == str(code) and f"msg {code}" in str(err) and "kling" in str(err)


def test_html_error_page_is_a_server_error() -> None:
    page = HttpResponse(502, {"content-type": "text/html"}, b"<html><body>Bad gateway</body></html>")
    with pytest.raises(exceptions.KlingServerError):
        gw.parse_status("t", None, page)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"prompt": "x" * 2501}, "prompt"),
        ({"prompt": "p", "sound": True}, "sound"),
        ({"prompt": "p", "sound": True, "tier": "std"}, "sound"),
        (
            {"prompt": "p", "start_image": "https://a/b.png", "end_image": "https://a/c.png", "tier": "std"},
            "end_image",
        ),
        (
            {
                "prompt": "p",
                "start_image": "https://a/b.png",
                "end_image": "https://a/c.png",
                "tier": "pro",
                "sound": True,
            },
            "sound",
        ),
        ({"prompt": "p", "cfg_scale": 0.5}, "cfg_scale"),
        ({"prompt": "p", "start_image": "https://a/b.png", "aspect_ratio": "16:9"}, "aspect_ratio"),
        ({"prompt": "p", "extra": {"camera_control": {}}}, "extra.camera_control"),
        ({"prompt": "p", "extra": {"watermark": "yes"}}, "extra.watermark"),
        ({"prompt": "p", "negative_prompt": "n" * 2501}, "negative_prompt"),
    ],
)
def test_invalid_requests(fields: dict[str, object], field: str) -> None:
    with pytest.raises(exceptions.KlingValidationError) as info:
        gw.validate(VideoRequest(**fields))  # type: ignore[arg-type]
    assert info.value.field == field
    assert "'kling'" in str(info.value) and field in str(info.value) and "allowed" in str(info.value)


def test_jwt_is_hs256_with_iss_exp_nbf() -> None:
    token = make_jwt("AK", "SK", 1_700_000_000)
    header = jwt.get_unverified_header(token)
    assert header == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, "SK", algorithms=["HS256"], options={"verify_exp": False, "verify_nbf": False})
    assert claims == {"iss": "AK", "exp": 1_700_000_000 + JWT_TTL, "nbf": 1_700_000_000 - JWT_NBF_SKEW}
    headers = gw.auth_headers(Credentials(api_key="SK", access_key="AK"), 1_700_000_000)
    assert headers == {"Authorization": f"Bearer {token}"}


def test_jwt_needs_both_keys() -> None:
    with pytest.raises(exceptions.KlingAuthError):
        gw.auth_headers(Credentials(api_key="SK"), 0)


def test_credentials_repr_hides_secrets() -> None:
    assert "SK-secret" not in repr(Credentials(api_key="SK-secret", access_key="AK-secret"))
    assert "AK-secret" not in repr(Credentials(api_key="SK-secret", access_key="AK-secret"))


def test_lookup_by_external_task_id() -> None:
    request = VideoRequest(prompt="p", client_reference="ref-9")
    http = gw.build_lookup(request)
    assert http is not None and http.path == "/v1/videos/text2video/ref-9"
    assert gw.parse_lookup(request, respond({"code": 1203, "message": "not found"}, 404)) is None
    assert gw.parse_lookup(request, respond(SUBMIT_OK)) is not None


def test_base_url_trims_and_defaults() -> None:
    assert gw.base_url(None) == "https://api-singapore.klingai.com"
    assert gw.base_url("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"


# ===================================================================== Kling 3.0 Turbo: the path route
# GATEWAYS.md 1.9: POST /text-to-video/<model> {prompt, settings, options}; POST /image-to-video/<model>
# {contents: [{type: prompt, text}, {type: first_frame, url}, ...], settings, options} (no top-level
# prompt); GET /tasks?task_ids=<id> -> data[] items {id, status, message, ..., external_id, outputs}.
TURBO_ROUTE = "image-to-video/kling-3.0-turbo"


def turbo(**fields: Any) -> VideoRequest:
    return VideoRequest(**{"prompt": "a fox in snow", "model": "kling-3.0-turbo", **fields})


def tasks_answer(*items: object, data: object = None) -> HttpResponse:
    body = {"code": 0, "message": "SUCCEED", "request_id": "r", "data": list(items) if data is None else data}
    return respond(body)


def turbo_item(**fields: object) -> dict[str, object]:
    item: dict[str, object] = {
        "id": "t1",
        "status": "processing",
        "message": "",
        "create_time": 1783065388949,
        "update_time": 1783065448949,
        "external_id": "",
        "outputs": [],
    }
    return {**item, **fields}


def test_turbo_image_to_video_sends_the_prompt_as_a_contents_item_and_the_frame_as_a_url() -> None:
    request = turbo(start_image="https://i/a.png", tier="pro", duration=8, client_reference="c1")
    gw.validate(request)
    http = gw.build_submit(request)
    assert (http.method, http.path) == ("POST", "/" + TURBO_ROUTE)
    assert http.json == {
        "contents": [
            {"type": "prompt", "text": "a fox in snow"},
            {"type": "first_frame", "url": "https://i/a.png"},
        ],
        "settings": {"resolution": "1080p", "duration": 8},
        "options": {"external_task_id": "c1"},
    }
    assert "prompt" not in http.json and "audio" not in http.json["settings"]  # Turbo has no sound field
    assert gw.endpoint(request) == TURBO_ROUTE
    assert gw.build_lookup(request) is None  # no published query by external id on this family


def test_turbo_text_to_video_keeps_the_top_level_prompt() -> None:
    http = gw.build_submit(turbo(duration=3))
    assert http.path == "/text-to-video/kling-3.0-turbo"
    assert http.json == {
        "prompt": "a fox in snow",
        "settings": {"resolution": "720p", "aspect_ratio": "16:9", "duration": 3},
    }


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start_image", "/tmp/fox.png"),
        ("start_image", "data:image/png;base64,QUJD"),
        ("start_image", "QUJD"),  # raw base64: no form of it is documented for the path route
    ],
)
def test_turbo_refuses_local_files_and_data_uris_before_any_request(field: str, value: str) -> None:
    with pytest.raises(exceptions.KlingValidationError) as info:
        gw.validate(turbo(**{field: value}))
    err = info.value
    assert (err.gateway, err.field, err.value) == ("kling", field, value)
    assert "http(s) URL" in str(err.allowed) and "kling-3.0-turbo" in str(err)


def test_turbo_refuses_a_last_frame_and_sound() -> None:
    with pytest.raises(exceptions.KlingValidationError) as info:
        gw.validate(turbo(start_image="https://i/a.png", end_image="https://i/b.png"))
    assert info.value.field == "end_image"
    with pytest.raises(exceptions.KlingValidationError) as info:
        gw.validate(turbo(sound=True))
    assert info.value.field == "sound"


def test_turbo_status_is_a_task_ids_query() -> None:
    for route in (TURBO_ROUTE, "text-to-video/kling-3.0-turbo"):
        http = gw.build_status("901930004609634393", route)
        assert (http.method, http.path, http.params) == ("GET", "/tasks", {"task_ids": "901930004609634393"})
    assert gw.build_status("123", "image2video").path == "/v1/videos/image2video/123"  # /v1 unchanged


def test_turbo_succeeded_reads_the_video_output_and_the_external_id() -> None:
    outputs = [
        {"type": "cover", "url": "https://cdn/cover.jpg"},
        {"type": "video", "url": "https://cdn/v.mp4", "id": "v1", "duration": "8", "watermark_url": ""},
    ]
    answer = tasks_answer(
        turbo_item(id="other", status="processing"),
        turbo_item(status="succeeded", external_id="c1", outputs=outputs),
    )
    task = gw.parse_status("t1", TURBO_ROUTE, answer)
    assert (task.task_id, task.state, task.video_urls) == ("t1", TaskState.SUCCEEDED, ["https://cdn/v.mp4"])
    assert (task.client_reference, task.endpoint) == ("c1", TURBO_ROUTE)  # the next poll: same family
    assert task.created_at is not None and task.finished_at is not None


def test_turbo_outputs_without_a_video_type_give_their_first_url() -> None:
    outputs = [{"id": "x"}, {"url": "https://cdn/a.mp4"}, {"url": "https://cdn/b.mp4"}]
    task = gw.parse_status("t1", TURBO_ROUTE, tasks_answer(turbo_item(status="succeeded", outputs=outputs)))
    assert task.video_urls == ["https://cdn/a.mp4"]


@pytest.mark.parametrize(
    ("status", "state"),
    [
        ("submitted", TaskState.QUEUED),
        ("queued", TaskState.QUEUED),
        ("processing", TaskState.RUNNING),
        ("running", TaskState.RUNNING),
        ("a-new-word", TaskState.RUNNING),
        ("SUCCEEDED", TaskState.SUCCEEDED),
        ("failed", TaskState.FAILED),
    ],
)
def test_turbo_status_words(status: str, state: TaskState) -> None:
    outputs = [{"type": "video", "url": "https://cdn/v.mp4"}]
    task = gw.parse_status("t1", TURBO_ROUTE, tasks_answer(turbo_item(status=status, outputs=outputs)))
    assert task.state is state


def test_turbo_failure_reason_is_in_message() -> None:
    answer = tasks_answer(turbo_item(status="failed", message="Failure to pass the risk control system"))
    task = gw.parse_status("t1", TURBO_ROUTE, answer)
    assert task.state is TaskState.FAILED and task.error_message == "Failure to pass the risk control system"
    assert isinstance(gw.failure_error(task), exceptions.KlingContentPolicyError)
    plain = gw.parse_status("t1", TURBO_ROUTE, tasks_answer(turbo_item(status="failed", message="")))
    assert plain.error_message == "generation failed"
    assert isinstance(gw.failure_error(plain), exceptions.KlingTaskFailedError)


def test_turbo_status_reads_data_as_an_object_and_the_older_shape() -> None:
    lone = gw.parse_status("t1", TURBO_ROUTE, tasks_answer(data=turbo_item(status="submitted")))
    assert lone.state is TaskState.QUEUED
    older = {
        "id": "t1",
        "status": "succeed",
        "message": "",
        "task_result": {"videos": [{"id": "v", "url": "https://cdn/old.mp4", "duration": "8"}]},
        "create_time": 1783065388949,
    }
    task = gw.parse_status("t1", TURBO_ROUTE, tasks_answer(data=older))
    assert (task.state, task.video_urls) == (TaskState.SUCCEEDED, ["https://cdn/old.mp4"])


def test_turbo_submit_answer_as_a_list_is_read_too() -> None:
    request = turbo(start_image="https://i/a.png")
    task = gw.parse_submit(request, tasks_answer(turbo_item(status="submitted")))
    assert (task.task_id, task.state, task.endpoint) == ("t1", TaskState.QUEUED, TURBO_ROUTE)


def test_turbo_unknown_task_is_not_found_and_an_unmatched_list_is_a_protocol_error() -> None:
    with pytest.raises(exceptions.KlingNotFoundError):
        gw.parse_status("t1", TURBO_ROUTE, tasks_answer())
    with pytest.raises(exceptions.KlingProtocolError, match="no item with id 't1'"):
        gw.parse_status("t1", TURBO_ROUTE, tasks_answer(turbo_item(id="t2")))
    refused = respond({"code": 1203, "message": "task not found", "data": None}, 404)
    with pytest.raises(exceptions.KlingNotFoundError):
        gw.parse_status("t1", TURBO_ROUTE, refused)


@pytest.mark.parametrize(
    "body",
    [
        {"code": 0, "data": "t1"},
        {"code": 0, "data": [["t1"]]},
        {"code": 0, "data": [{"id": "t1"}]},  # no status
        {"code": 0, "data": [{"id": "t1", "status": "succeeded", "outputs": "https://cdn/v.mp4"}]},
        {"code": 0, "data": [{"id": "t1", "status": "succeeded", "outputs": [{"type": "video", "url": 7}]}]},
        {"code": 0, "data": [{"id": {"x": 1}, "status": "processing"}]},
        b"<html>maintenance</html>",
    ],
)
def test_turbo_malformed_status_answers_are_typed_errors(body: object) -> None:
    with pytest.raises(exceptions.KlingError):
        gw.parse_status("t1", TURBO_ROUTE, respond(body))
