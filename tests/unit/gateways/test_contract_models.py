"""The model family's contract, against each gateway's recorded samples built from its documents.

``samples/<gateway>/<case>_request.json`` holds a normalized request (``request``) and what the
gateway's document says goes on the wire for it (``method``, ``path``, ``json``); ``<case>_submit``
and ``<case>_succeeded`` are the answers its document shows. Cases: ``v3`` (Kling 3.0, 12 s with
sound) on every gateway, ``v3_multishot`` (4 s + 8 s) where shots have prompts, and ``turbo`` where
the gateway serves Kling 3.0 Turbo on a wire shape of its own (the official path-addressed family),
``v4`` (Kling 4.0, 20 s 21:9) on fal, ``turbo25`` (Kling 2.5 Turbo Pro, no sound field; on fal its
frames are ``image_url`` / ``tail_image_url``) on fal, APIXO and Rivya, from their pages' examples;
a gateway with a result step (fal) has ``<case>_result`` too.
The 2.6 samples next to them are untouched and still drive ``test_contract.py``.
"""

from __future__ import annotations

import pytest

from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.models import TaskState, VideoRequest
from tests.unit.gateways.fakes import SAMPLES, respond, sample

CASES = sorted(
    (path.parent.name, path.name.removesuffix("_request.json")) for path in SAMPLES.glob("*/*_request.json")
)


def test_every_gateway_has_a_recorded_3_0_sample() -> None:
    assert {g for g, case in CASES if case == "v3"} == set(GATEWAY_NAMES)
    assert {g for g, case in CASES if case == "v3_multishot"} == {"kling", "runware", "apimart", "kie"}


@pytest.mark.parametrize(("gateway", "case"), CASES)
def test_the_request_is_what_the_document_says(gateway: str, case: str) -> None:
    recorded = sample(gateway, f"{case}_request")
    gw = get_gateway(gateway)
    request = VideoRequest(**recorded["request"])
    gw.validate(request)
    http = gw.build_submit(request)
    assert (http.method, http.path) == (recorded["method"], recorded["path"])
    assert http.json == recorded["json"]


@pytest.mark.parametrize(("gateway", "case"), [(g, c) for g, c in CASES if not c.endswith("multishot")])
def test_the_answers_are_read_and_polled_where_the_job_lives(gateway: str, case: str) -> None:
    recorded = sample(gateway, f"{case}_request")
    gw = get_gateway(gateway)
    request = VideoRequest(**recorded["request"])
    task = gw.parse_submit(request, respond(sample(gateway, f"{case}_submit")))
    assert task.state in (TaskState.QUEUED, TaskState.RUNNING) and task.task_id
    poll = gw.build_status(task.task_id, task.endpoint)
    assert task.task_id in poll.path or task.task_id in str(poll.params) or task.task_id in str(poll.json)
    done = gw.parse_status(task.task_id, task.endpoint, respond(sample(gateway, f"{case}_succeeded")))
    if gw.has_result_step:  # the status carries no output (fal): the result request fetches it
        assert done.state is TaskState.SUCCEEDED and not done.video_urls
        assert task.task_id in gw.build_result(done).path
        done = gw.parse_result(done, respond(sample(gateway, f"{case}_result")))
    assert done.state is TaskState.SUCCEEDED and done.video_urls
    assert done.endpoint == task.endpoint  # the next poll goes to the same route
