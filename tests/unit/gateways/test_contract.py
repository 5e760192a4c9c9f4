"""The contract every gateway keeps, run against each one with its recorded sample bodies.

Per-gateway files test only what is peculiar to one wire format; what must hold for all six is here:
invalid requests are refused before any call, garbage answers are typed errors, Retry-After reaches the
rate-limit error, a success carries URLs, only typed errors leave a parser, and the connection test
passes or fails as the answer says. Samples: ``samples/<gateway>/<case>.json``, where a new gateway
adds its own set (the cases are the names in :data:`CASES`, plus ``refused_key``, ``probe_ok`` and
``about``; ``undocumented`` is a status answer out of its documented shape).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from airflow_provider_kling.exceptions import (
    KlingAuthError,
    KlingError,
    KlingProtocolError,
    KlingRateLimitError,
    KlingServerError,
    KlingValidationError,
)
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.base import Gateway, HttpRequest, HttpResponse
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask
from tests.unit.gateways.fakes import respond, sample

#: ``about.json`` says what the samples are about: the task id of the status samples and the HTTP
#: status of ``probe_ok`` (the answer to the connection test when the key is accepted), and the
#: error code the ``rate_limited`` sample carries
ABOUT = {name: sample(name, "about") for name in GATEWAY_NAMES}
TASK_IDS = {name: str(about["task_id"]) for name, about in ABOUT.items()}
PROBE_STATUS = {name: int(about["probe_status"]) for name, about in ABOUT.items()}
CASES = ("submit", "queued", "running", "succeeded", "succeeded_no_url", "failed", "rate_limited")
GARBAGE = (b"<html><body>Bad gateway</body></html>", b"", b'"a string"', b"null", b"{")

REQUEST = VideoRequest(prompt="a red fox running through snow at dawn", client_reference=None)

pytestmark = pytest.mark.parametrize("name", GATEWAY_NAMES)


def parsers(gw: Gateway, name: str, response: HttpResponse) -> list[Callable[[], Any]]:
    lookup = VideoRequest(prompt=REQUEST.prompt, client_reference="ref-1")
    return [
        lambda: gw.parse_submit(REQUEST, response),
        lambda: gw.parse_status(TASK_IDS[name], None, response),
        lambda: gw.parse_lookup(lookup, response),
    ]


def status(gw: Gateway, name: str, case: str, code: int = 200) -> VideoTask:
    return gw.parse_status(TASK_IDS[name], gw.status_endpoints[0], respond(sample(name, case), code))


def finished(gw: Gateway, name: str, case: str) -> VideoTask:
    """A finished job with its output: the status answer, then (where the gateway's status answer
    carries no output, fal's queue) the result answer: ``result``, or ``succeeded_no_url``."""
    if not gw.has_result_step:
        return status(gw, name, case)
    done = status(gw, name, "succeeded")
    assert done.state is TaskState.SUCCEEDED and not done.video_urls
    return gw.parse_result(done, respond(sample(name, "result" if case == "succeeded" else case)))


# ===================================================================== invalid requests
@pytest.mark.parametrize(
    "change",
    [
        {"extra": {"no_such_option": 1}},
        {"callback_url": "ftp://example.com/hook"},
        {"start_image": ""},
        {"negative_prompt": "x" * 2501},
        {"cfg_scale": 5},
    ],
    ids=["extra", "callback", "empty-image", "negative-prompt", "cfg-scale"],
)
def test_invalid_requests_are_refused_before_any_call(name: str, change: dict[str, Any]) -> None:
    gw = get_gateway(name)
    with pytest.raises(KlingValidationError) as caught:
        gw.validate(VideoRequest(prompt=REQUEST.prompt, **change))
    assert caught.value.gateway == name


def test_a_prompt_over_the_limit_is_refused(name: str) -> None:
    gw = get_gateway(name)
    limit = gw.models[gw.model].prompt_max
    gw.validate(VideoRequest(prompt="x" * limit))
    with pytest.raises(KlingValidationError, match="prompt"):
        gw.validate(VideoRequest(prompt="x" * (limit + 1)))


# ===================================================================== recorded answers
def test_submit_answer_is_an_unfinished_job(name: str) -> None:
    gw = get_gateway(name)
    http = gw.build_submit(REQUEST)
    assert isinstance(http, HttpRequest) and http.method == "POST"
    task = gw.parse_submit(REQUEST, respond(sample(name, "submit")))
    assert task.gateway == name
    assert task.task_id
    assert task.state in (TaskState.QUEUED, TaskState.RUNNING)
    assert not task.video_urls


def test_status_answers_map_to_states(name: str) -> None:
    gw = get_gateway(name)
    assert status(gw, name, "queued").state is TaskState.QUEUED
    assert status(gw, name, "running").state is TaskState.RUNNING
    done = finished(gw, name, "succeeded")
    assert done.state is TaskState.SUCCEEDED
    assert done.task_id == TASK_IDS[name]
    assert done.video_urls and all(url.startswith("https://") for url in done.video_urls)
    assert done.error_code is None and done.error_message is None


def test_success_without_a_url_is_a_protocol_error(name: str) -> None:
    gw = get_gateway(name)
    with pytest.raises(KlingProtocolError, match="without a video URL"):
        finished(gw, name, "succeeded_no_url")


def test_a_failed_job_is_returned_with_its_reason_and_typed_by_failure_error(name: str) -> None:
    gw = get_gateway(name)
    task = status(gw, name, "failed")
    assert task.state is TaskState.FAILED
    assert task.error_message
    assert not task.video_urls
    error = gw.failure_error(task)
    assert isinstance(error, KlingError)
    assert error.gateway == name


# ===================================================================== error answers
@pytest.mark.parametrize("body", GARBAGE)
def test_garbage_on_success_is_a_protocol_error(name: str, body: bytes) -> None:
    gw = get_gateway(name)
    for parse in parsers(gw, name, respond(body, 200))[:2]:
        with pytest.raises(KlingProtocolError):
            parse()


@pytest.mark.parametrize("code", [500, 502, 503])
def test_garbage_with_a_5xx_is_a_retryable_server_error(name: str, code: int) -> None:
    gw = get_gateway(name)
    for parse in parsers(gw, name, respond(GARBAGE[0], code))[:2]:
        with pytest.raises(KlingServerError) as caught:
            parse()
        assert caught.value.retryable
        assert caught.value.status_code == code


@pytest.mark.parametrize("body_of", [lambda name: sample(name, "rate_limited"), lambda name: b"slow down"])
def test_retry_after_reaches_the_rate_limit_error(name: str, body_of: Callable[[str], Any]) -> None:
    gw = get_gateway(name)
    response = respond(body_of(name), 429, {"retry-after": "7"})
    for parse in parsers(gw, name, response)[:2]:
        with pytest.raises(KlingRateLimitError) as caught:
            parse()
        assert caught.value.retry_after == 7.0
        assert caught.value.retryable
        assert caught.value.request_rejected


def test_the_rate_limit_sample_keeps_the_gateways_code(name: str) -> None:
    response = respond(sample(name, "rate_limited"), 429, {"retry-after": "7"})
    for parse in parsers(get_gateway(name), name, response)[:2]:
        with pytest.raises(KlingRateLimitError) as caught:
            parse()
        assert caught.value.code == ABOUT[name]["rate_limit_code"]


def test_a_refused_key_is_an_auth_error_and_no_job(name: str) -> None:
    gw = get_gateway(name)
    with pytest.raises(KlingAuthError) as caught:
        gw.parse_submit(REQUEST, respond(sample(name, "refused_key"), 401))
    assert caught.value.request_rejected
    assert not caught.value.retryable


@pytest.mark.parametrize("code", [200, 400, 401, 404, 429, 500])
@pytest.mark.parametrize("case", CASES)
def test_only_typed_errors_leave_a_parser(name: str, case: str, code: int) -> None:
    gw = get_gateway(name)
    for parse in parsers(gw, name, respond(sample(name, case), code, {"retry-after": "1"})):
        try:
            result = parse()
        except KlingError as error:
            result = error
        assert result is None or isinstance(result, VideoTask | KlingError)
        assert result is None or result.gateway == name


# ===================================================================== connection test
def test_connection_ok(name: str) -> None:
    gw = get_gateway(name)
    http = gw.build_test_connection()
    assert isinstance(http, HttpRequest)
    gw.check_test_connection(respond(sample(name, "probe_ok"), PROBE_STATUS[name]))


def test_connection_fails_on_a_refused_key(name: str) -> None:
    gw = get_gateway(name)
    with pytest.raises(KlingAuthError):
        gw.check_test_connection(respond(sample(name, "refused_key"), 401))


def test_connection_fails_when_the_gateway_is_down(name: str) -> None:
    gw = get_gateway(name)
    with pytest.raises(KlingServerError) as caught:
        gw.check_test_connection(respond(GARBAGE[0], 503))
    assert caught.value.retryable


def test_an_undocumented_shape_is_a_protocol_error_not_a_state(name: str) -> None:
    """``undocumented``: a documented answer bent out of shape (Runware's items as a bare array, the
    others' job without its state field). Read as "queued" or "running", it would be polled until
    the deadline; it is a protocol error instead."""
    gw = get_gateway(name)
    with pytest.raises(KlingProtocolError):
        status(gw, name, "undocumented")
