"""Every response parser, given arbitrary JSON, returns what it promises or raises a KlingError: the
parsers of a submit, a status, a lookup, a result, a cancel, a task list, a balance and an upload, and
the connection probe.

JSON allows numbers no Python float holds: integers of hundreds of digits and ``1e999`` (which
``json.loads`` reads as infinity). They are generated in every position, numeric fields included.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_kling.exceptions import KlingError, KlingProtocolError
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.base import CancelOutcome, Gateway, HttpResponse
from airflow_provider_kling.gateways.pricing import Balance
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask
from tests.unit.gateways.shapes import SHAPES, json_values

KEYS = st.sampled_from(
    [
        "code",
        "message",
        "msg",
        "data",
        "errors",
        "error",
        "task_id",
        "taskId",
        "id",
        "taskUUID",
        "task_status",
        "status",
        "state",
        "resultJson",
        "result",
        "videos",
        "url",
        "urls",
        "primary_url",
        "videoURL",
        "task_result",
        "failCode",
        "failMsg",
        "createTime",
        "created_at",
        "cost",
        "final_credits",
        "expires_at",
        "taskType",
        "final_unit_deduction",
        "reserved_credits",
        "final_credits",
        "updated_at",
        "completeTime",
        "created",
        "completed",
        "progress",
    ]
)
#: written into the body as the JSON number ``1e999`` (see :func:`_body`)
INF_LITERAL = "<1e999>"
HUGE = st.one_of(
    st.integers(min_value=10**300, max_value=10**400),
    st.integers(min_value=-(10**400), max_value=-(10**300)),
    st.just(INF_LITERAL),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
    HUGE,
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        ["succeed", "success", "completed", "failed", "fail", "processing", '{"resultUrls":[1]}', "[]"]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=25,
)
STATUSES = st.sampled_from([200, 201, 400, 401, 402, 403, 404, 409, 422, 429, 500, 502, 503])


def _body(value: Any, raw: bytes | None) -> bytes:
    if raw is not None:
        return raw
    return json.dumps(value, allow_nan=True).replace(json.dumps(INF_LITERAL), "1e999").encode()


def _other_parsers(gateway: Gateway, task_id: str, response: HttpResponse) -> list[Any]:
    """The parsers besides submit, status and lookup, each with the type it returns: a result, a
    cancel (after each last state), each task-list endpoint, the balance, an upload."""
    finished = VideoTask(task_id=task_id, gateway=gateway.name, state=TaskState.SUCCEEDED)
    parsers: list[Any] = [
        (lambda: gateway.parse_result(finished, response), VideoTask),
        *(
            (lambda s=state: gateway.parse_cancel(task_id, s, response), CancelOutcome)
            for state in (None, TaskState.QUEUED, TaskState.RUNNING)
        ),
        *((lambda e=ep: gateway.parse_list(e, response), list) for ep in gateway.list_endpoints),
        (lambda: gateway.parse_balance(response), Balance),
        (lambda: gateway.parse_upload(response), str),
    ]
    return parsers


def _only_typed(parsers: list[Any]) -> None:
    for parse, returns in parsers:
        try:
            result = parse()
        except KlingError:
            continue
        assert isinstance(result, returns), (returns, result)
        if isinstance(result, list):
            assert all(isinstance(task, VideoTask) for task in result), result


@pytest.mark.parametrize("name", GATEWAY_NAMES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=JSON, status=STATUSES, raw=st.one_of(st.none(), st.binary(max_size=30)))
def test_parsers_only_raise_kling_errors(name: str, value: Any, status: int, raw: bytes | None) -> None:
    gateway = get_gateway(name)
    response = HttpResponse(status, {"retry-after": "1"}, _body(value, raw))
    request = VideoRequest(prompt="a prompt", client_reference="ref-1")
    for parse in (
        lambda: gateway.parse_submit(request, response),
        lambda: gateway.parse_status("t1", None, response),
        lambda: gateway.parse_lookup(request, response),
        lambda: gateway.check_test_connection(response),
    ):
        try:
            result = parse()
        except KlingError:
            continue
        assert result is None or isinstance(result, VideoTask)
    _only_typed(_other_parsers(gateway, "t1", response))


HUGE_INT = "9" * 400


@pytest.mark.parametrize(
    ("name", "body"),
    [
        (
            "kling",
            '{"code":0,"data":{"task_id":"t1","task_status":"processing","final_unit_deduction":NUMBER}}',
        ),
        ("rivya", '{"id": "t1", "status": "processing", "reserved_credits": NUMBER}'),
        ("rivya", '{"id": "t1", "status": "processing", "final_credits": NUMBER, "reserved_credits": 55}'),
        ("runware", '{"data": [{"taskUUID": "t1", "status": "processing", "cost": NUMBER}]}'),
    ],
)
@pytest.mark.parametrize("number", [HUGE_INT, "-" + HUGE_INT, "1e999"])
def test_a_cost_no_float_holds_is_left_empty(name: str, body: str, number: str) -> None:
    task = get_gateway(name).parse_status(
        "t1", None, HttpResponse(200, {}, body.replace("NUMBER", number).encode())
    )
    assert task.task_id == "t1"
    assert task.cost is None or task.cost == 55


@pytest.mark.parametrize("number", ["1e999", "-1e999", HUGE_INT])
def test_an_envelope_code_no_int_holds_is_a_typed_error(number: str) -> None:
    body = '{"code": NUMBER, "message": "?", "data": {"task_id": "t1", "task_status": "processing"}}'
    body = body.replace("NUMBER", number)
    with pytest.raises(KlingError):
        get_gateway("kling").parse_status("t1", None, HttpResponse(200, {}, body.encode()))


@pytest.mark.parametrize("name", sorted(SHAPES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_wire_shaped_answers_raise_only_kling_errors(name: str, data: st.DataObject) -> None:
    """Answers in the gateway's own shape: typed errors only, a returned job can be classified, and a
    job reported as succeeded has a URL."""
    shape, task_id, statuses = SHAPES[name]
    gateway = get_gateway(name)
    body = data.draw(st.one_of(json_values, shape), label="body")
    response = HttpResponse(data.draw(st.sampled_from(statuses), label="status"), {}, _body(body, None))
    for request in (VideoRequest(prompt="pp"), VideoRequest(prompt="pp", client_reference="r")):
        for parse in (
            lambda r=request: gateway.parse_submit(r, response),
            lambda: gateway.parse_status(task_id, None, response),
            lambda r=request: gateway.parse_lookup(r, response),
            lambda: gateway.check_test_connection(response),
        ):
            try:
                result = parse()
            except KlingError:
                continue
            if isinstance(result, VideoTask):
                assert isinstance(gateway.failure_error(result), KlingError)
                if result.state is TaskState.SUCCEEDED and not gateway.has_result_step:
                    assert result.video_urls  # fal's come from the result request (parse_result checks)
    _only_typed(_other_parsers(gateway, task_id, response))


def test_every_gateway_has_wire_shaped_answers() -> None:
    assert sorted(SHAPES) == sorted(GATEWAY_NAMES)


@pytest.mark.parametrize("name", GATEWAY_NAMES)
def test_no_gateway_overrides_a_guarded_parser(name: str) -> None:
    """The ``parse_*`` methods run the module's ``read_*`` under the guard that turns a reader's
    untyped error into a protocol error; a module that overrode one would be outside that net."""
    klass = type(get_gateway(name))
    overridden = [
        attr
        for attr in vars(klass)
        if attr.startswith("parse_") and getattr(klass, attr) is not getattr(Gateway, attr, None)
    ]
    assert overridden == [], f"{klass.__name__} overrides {overridden}: write read_* instead"


#: a prediction that finished in the last second a ``datetime`` holds: its output's expiry (one
#: hour later) overflows
_YEAR_9999 = {
    "id": "p1",
    "status": "succeeded",
    "output": "https://replicate.delivery/x/v.mp4",
    "completed_at": "9999-12-31T23:59:59Z",
}


@pytest.mark.parametrize("state", [None, TaskState.RUNNING])
def test_a_replicate_cancel_answer_that_overflows_is_a_protocol_error(state: TaskState | None) -> None:
    gateway = get_gateway("replicate")
    response = HttpResponse(200, {}, json.dumps(_YEAR_9999).encode())
    with pytest.raises(KlingProtocolError, match="could not be read"):
        gateway.parse_status("p1", None, response)
    with pytest.raises(KlingProtocolError, match=r"could not be read \(OverflowError\)"):
        gateway.parse_cancel("p1", state, response)


_turbo_values = st.one_of(
    json_values,
    st.sampled_from(["submitted", "processing", "queued", "succeeded", "failed", "t1", "video", ""]),
    st.just("https://x/v.mp4"),
)
_turbo_output = st.fixed_dictionaries(
    {}, optional={k: _turbo_values for k in ("type", "url", "id", "duration")}
)
_turbo_item = st.fixed_dictionaries(
    {},
    optional={
        **{
            k: _turbo_values for k in ("id", "status", "message", "create_time", "update_time", "external_id")
        },
        "outputs": st.one_of(_turbo_values, st.lists(_turbo_output, max_size=3)),
    },
)
#: a ``GET /tasks?task_ids=`` answer of the official path-addressed family (GATEWAYS.md 1.9)
_turbo_tasks = st.fixed_dictionaries(
    {},
    optional={
        "code": st.one_of(st.just(0), _turbo_values),
        "message": _turbo_values,
        "data": st.one_of(_turbo_values, _turbo_item, st.lists(_turbo_item, max_size=3)),
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.one_of(json_values, _turbo_tasks), status=st.sampled_from([200, 400, 404, 429, 500]))
def test_kling_path_route_answers_raise_only_kling_errors(body: Any, status: int) -> None:
    """The official Kling 3.0 Turbo reader (``data[]`` items, ``outputs``): typed errors only, and a job
    reported as succeeded has a URL."""
    gateway = get_gateway("kling")
    response = HttpResponse(status, {}, _body(body, None))
    request = VideoRequest(prompt="pp", model="kling-3.0-turbo", start_image="https://i/a.png")
    route = gateway.endpoint(request)
    for parse in (
        lambda: gateway.parse_submit(request, response),
        lambda: gateway.parse_status("t1", route, response),
    ):
        try:
            result = parse()
        except KlingError:
            continue
        assert isinstance(gateway.failure_error(result), KlingError)
        if result.state is TaskState.SUCCEEDED:
            assert result.video_urls
