"""fal's queue adapter: what is peculiar to it (the contract suite covers the rest from the samples)."""

from __future__ import annotations

import pytest

from airflow_provider_kling.exceptions import KlingQuotaError, KlingValidationError
from airflow_provider_kling.gateways import get_gateway
from airflow_provider_kling.gateways.base import Credentials
from airflow_provider_kling.models import TaskState, VideoRequest
from tests.unit.gateways.fakes import respond, sample

RID = "764cabcf-b745-4b3e-ae38-1200304cf45b"


def test_auth_is_key_not_bearer() -> None:
    headers = get_gateway("fal").auth_headers(Credentials(api_key="abc:def"), 0)
    assert headers == {"Authorization": "Key abc:def"}


def test_kling_26_sends_the_duration_as_text_and_the_webhook_as_a_query_parameter() -> None:
    http = get_gateway("fal", "kling-2.6").build_submit(
        VideoRequest(prompt="p", duration=10, sound=True, callback_url="https://hooks.example.com/k")
    )
    assert (http.method, http.path) == ("POST", "/fal-ai/kling-video/v2.6/pro/text-to-video")
    assert http.json == {"prompt": "p", "duration": "10", "aspect_ratio": "16:9", "generate_audio": True}
    assert http.params == {"fal_webhook": "https://hooks.example.com/k"}


def test_kling_30_tier_picks_the_path_and_images_their_fields() -> None:
    gw = get_gateway("fal", "kling-3.0")
    http = gw.build_submit(
        VideoRequest(prompt="p", start_image="https://a/1.png", end_image="https://a/2.png", tier="pro")
    )
    assert http.path == "/fal-ai/kling-video/v3/pro/image-to-video"
    assert (
        http.json["start_image_url"] == "https://a/1.png" and http.json["end_image_url"] == "https://a/2.png"
    )
    assert "aspect_ratio" not in http.json
    assert gw.build_submit(VideoRequest(prompt="p")).path == "/fal-ai/kling-video/v3/standard/text-to-video"


def test_kling_26_takes_cfg_scale_for_text_only() -> None:
    gw = get_gateway("fal", "kling-2.6")
    assert gw.build_submit(VideoRequest(prompt="p", cfg_scale=0.3)).json["cfg_scale"] == 0.3
    with pytest.raises(KlingValidationError) as err:
        gw.validate(VideoRequest(prompt="p", start_image="https://a/1.png", cfg_scale=0.3))
    assert "cfg_scale" in str(err.value) and "0.3" in str(err.value) and "with an image" in str(err.value)
    # 3.0's image-to-video has it
    get_gateway("fal", "kling-3.0").validate(
        VideoRequest(prompt="p", start_image="https://a/1.png", cfg_scale=0.3)
    )


def test_a_failed_status_word_is_a_failure_not_a_wait() -> None:
    gw = get_gateway("fal", "kling-2.6")
    task = gw.parse_status(RID, None, respond({"status": "FAILED", "request_id": RID}))
    assert task.state is TaskState.FAILED
    assert RID in str(task.error_message)


def test_kling_40_sends_an_integer_duration_and_a_resolution_and_needs_sound() -> None:
    gw = get_gateway("fal", "kling-4.0")
    http = gw.build_submit(VideoRequest(prompt="p", duration=10, sound=True, tier="std"))
    assert http.path == "/kling/v4/text-to-video"
    assert http.json == {"prompt": "p", "duration": 10, "resolution": "720p", "aspect_ratio": "16:9"}
    assert gw.build_submit(VideoRequest(prompt="p", sound=True)).json["resolution"] == "1080p"
    with pytest.raises(KlingValidationError, match="always renders audio"):
        gw.validate(VideoRequest(prompt="p"))
    row = gw.models[gw.row_key("kling-4.0")]
    assert (row.model, row.durations, row.prices is not None) == ("kling/v4", tuple(range(3, 31)), True)
    assert "21:9" in row.aspect_ratios


def test_the_request_model_picks_the_row_not_the_connection() -> None:
    gw = get_gateway("fal")  # the connection's default: Kling 2.6
    long_wide = VideoRequest(prompt="p", model="kling-4.0", duration=20, aspect_ratio="21:9", sound=True)
    gw.validate(long_wide)
    http = gw.build_submit(long_wide)
    assert http.path == "/kling/v4/text-to-video"
    assert (http.json["duration"], http.json["aspect_ratio"]) == (20, "21:9")
    assert gw.parse_submit(long_wide, respond(sample("fal", "v4_submit"))).endpoint == "kling/v4"
    pro = gw.build_submit(VideoRequest(prompt="p", model="kling-3.0", tier="pro"))
    assert pro.path == "/fal-ai/kling-video/v3/pro/text-to-video"
    assert gw.build_submit(VideoRequest(prompt="p", model="fal-ai/kling-video/v3/standard")).path.startswith(
        "/fal-ai/kling-video/v3/standard/"
    )
    for model, fieldname, request in (
        ("kling-3.0", "aspect_ratio", {"aspect_ratio": "21:9"}),
        (None, "aspect_ratio", {"aspect_ratio": "21:9"}),
        ("kling-4.0", "duration", {"duration": 31, "sound": True}),
        (None, "duration", {"duration": 20}),
    ):
        with pytest.raises(KlingValidationError, match=fieldname):
            gw.validate(VideoRequest(prompt="p", model=model, **request))


def test_the_status_urls_name_the_app_not_the_subpath() -> None:
    gw = get_gateway("fal", "kling-4.0")
    body = {**sample("fal", "submit"), "status_url": f"https://queue.fal.run/kling/v4/requests/{RID}/status"}
    task = gw.parse_submit(VideoRequest(prompt="p", sound=True), respond(body))
    assert task.endpoint == "kling/v4"
    assert gw.build_status(RID, task.endpoint).path == f"/kling/v4/requests/{RID}/status"
    assert gw.build_cancel(RID, task.endpoint).method == "PUT"


def test_a_queued_request_reports_its_position_and_the_output_comes_from_the_result() -> None:
    gw = get_gateway("fal")
    queued = gw.parse_status(RID, None, respond(sample("fal", "queued")))
    assert (queued.state, queued.queue_position) == (TaskState.QUEUED, 3)
    done = gw.parse_status(RID, None, respond(sample("fal", "succeeded")))
    assert done.state is TaskState.SUCCEEDED and not done.video_urls and gw.has_result_step
    assert gw.build_result(done).path == f"/fal-ai/kling-video/requests/{RID}"
    result = gw.parse_result(done, respond(sample("fal", "result")))
    assert result.video_urls == ["https://v3b.fal.media/files/b/koala/xk2Q9m1u_output.mp4"]


def test_cancel_outcomes_depend_on_where_the_request_was() -> None:
    gw = get_gateway("fal")
    accepted = respond(sample("fal", "cancel_requested"), 202)
    queued = gw.parse_cancel(RID, TaskState.QUEUED, accepted)
    assert (queued.stopped, queued.billed) == (True, False)
    rendering = gw.parse_cancel(RID, TaskState.RUNNING, accepted)
    assert (rendering.stopped, rendering.billed) == (False, True)
    assert gw.parse_cancel(RID, None, accepted).stopped is None  # the hook asks for the state
    late = gw.parse_cancel(RID, TaskState.RUNNING, respond(sample("fal", "cancel_too_late"), 400))
    assert late.stopped is False and "already finished" in late.message


def test_a_locked_account_is_a_quota_error() -> None:
    with pytest.raises(KlingQuotaError):
        get_gateway("fal").parse_submit(
            VideoRequest(prompt="p"), respond({"detail": "User is locked. Reason: Exhausted balance"}, 403)
        )
