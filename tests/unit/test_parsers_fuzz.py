"""Every response parser, given arbitrary JSON, returns a VideoTask (or None) or raises a KlingError."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from airflow_provider_kling.exceptions import KlingError
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.base import HttpResponse
from airflow_provider_kling.models import VideoRequest, VideoTask

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
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63),
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
    return raw if raw is not None else json.dumps(value, allow_nan=True).encode()


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
    ):
        try:
            result = parse()
        except KlingError:
            continue
        assert result is None or isinstance(result, VideoTask)
