"""Replicate's predictions adapter: what is peculiar to it (the contract suite covers the rest)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways import get_gateway
from airflow_provider_kling.models import TaskState, VideoRequest
from tests.unit.gateways.fakes import respond, sample

PID = "ufawqhfynnddngldkgtslldrkq"


def test_kling_26_takes_an_integer_duration_and_no_aspect_ratio_with_an_image() -> None:
    gw = get_gateway("replicate")
    http = gw.build_submit(VideoRequest(prompt="p", duration=10, start_image="https://a/1.png"))
    assert http.path == "/v1/models/kwaivgi/kling-v2.6/predictions"
    assert http.json == {
        "input": {"prompt": "p", "start_image": "https://a/1.png", "duration": 10, "generate_audio": False}
    }
    with pytest.raises(KlingValidationError, match="tier"):
        gw.validate(VideoRequest(prompt="p", tier="pro"))


def test_kling_30_mode_and_webhook() -> None:
    http = get_gateway("replicate", "kling-3.0").build_submit(
        VideoRequest(prompt="p", tier="pro", callback_url="https://hooks.example.com/r")
    )
    assert http.path == "/v1/models/kwaivgi/kling-v3-video/predictions"
    assert http.json["input"]["mode"] == "pro"
    assert http.json["webhook"] == "https://hooks.example.com/r"
    assert http.json["webhook_events_filter"] == ["completed"]


def test_a_success_expires_an_hour_after_it_completed() -> None:
    task = get_gateway("replicate").parse_status(PID, None, respond(sample("replicate", "succeeded")))
    assert task.finished_at is not None and task.expires_at == task.finished_at + timedelta(hours=1)
    assert get_gateway("replicate").output_retention == 3600


def test_cancel_reads_the_prediction() -> None:
    gw = get_gateway("replicate")
    assert gw.build_cancel(PID).path == f"/v1/predictions/{PID}/cancel"
    stopped = gw.parse_cancel(PID, None, respond(sample("replicate", "canceled")))
    assert (stopped.stopped, stopped.billed) == (True, False)
    late = gw.parse_cancel(PID, TaskState.RUNNING, respond(sample("replicate", "succeeded")))
    assert (late.stopped, late.billed) == (False, True)


def test_gateways_without_cancel_say_the_job_is_billed() -> None:
    gw = get_gateway("apixo")
    assert not gw.can_cancel and gw.build_cancel("t") is None
    outcome = gw.no_cancel("t")
    assert (outcome.stopped, outcome.billed) == (False, True)
    assert "keeps rendering and will be billed" in outcome.message
