"""The emulator and the recorded samples describe the same wire: one list of gateways, one shape.

The contract suite (``tests/unit/gateways/test_contract.py``) parses the recorded bodies in
``tests/unit/gateways/samples/<gateway>/``; the integration and e2e suites parse what the emulator
answers. Both can pass while the two drift apart, so this file holds them together: the emulator
serves exactly the registered gateways, and for each one its submit answer, its status answers
(running, succeeded, failed) and its error envelopes (rate limited, refused key) have the shape of
the matching sample: the same keys and the same JSON types, recursively. Values differ (ids, times),
and so may list lengths: a list's shape is the set of its items' shapes.

The requests are built by the provider's own gateway modules, so a new gateway is covered as soon
as it is registered and has its samples.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.emulator.dialects import ROUTERS
from airflow_provider_kling.emulator.state import GATEWAYS as EMULATOR_COUNTED
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.base import Credentials, HttpRequest, HttpResponse
from airflow_provider_kling.models import TaskState, VideoRequest
from tests.conftest import TEST_API_KEY
from tests.helpers import KLING_ACCESS_KEY, KLING_SECRET_KEY, wait_until
from tests.unit.gateways.fakes import sample


def test_the_emulator_speaks_exactly_the_registered_gateways() -> None:
    assert tuple(ROUTERS) == GATEWAY_NAMES
    assert EMULATOR_COUNTED == GATEWAY_NAMES


def shape(value: Any) -> Any:
    """Keys and JSON types, recursively; a list is the list of its items' distinct shapes."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in sorted(value.items())}
    if isinstance(value, list):
        shapes: list[Any] = []
        for item in map(shape, value):
            if item not in shapes:
                shapes.append(item)
        return ["list", *shapes]
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    assert value is None, value
    return "null"


def differences(recorded: Any, got: Any, path: str = "") -> list[str]:
    """Where ``got`` does not have the shape of ``recorded``.

    Every key of the sample is in the emulator's answer with the same JSON type (recursively). The
    emulator may add keys: the samples are abridged to what the parsers read. ``null`` against a value
    is no difference: the documents print nullable fields either way (kie: "empty string vs null for
    failCode varies", GATEWAYS.md).
    """
    if isinstance(recorded, dict) and isinstance(got, dict):
        return [
            f"{path}{key}: missing" if key not in got else diff
            for key in recorded
            for diff in (differences(recorded[key], got[key], f"{path}{key}.") if key in got else [""])
        ]
    if isinstance(recorded, list) and isinstance(got, list):
        if recorded[1:] and got[1:]:
            return differences(recorded[1], got[1], f"{path}[].")
        return []
    if "null" in (recorded, got) or recorded == got:
        return []
    return [f"{path.rstrip('.')}: {got} where the sample has {recorded}"]


#: What the samples hold and the emulator does not send, and why the emulator is right (each entry is
#: checked to still be a difference, so the list cannot outlive the drift it excuses).
SAMPLE_ONLY: dict[tuple[str, str], set[str]] = {
    # Rivya's client_request_id is an echo-less trace id (GATEWAYS.md, Rivya's idempotency row).
    ("rivya", "submit"): {"client_request_id: missing"},
    # APIXO's documented submit answer (seed 002) carries only data.taskId.
    ("apixo", "submit"): {"data.createTime: missing"},
    # Rivya documents result.primary_url and result.urls; the sample adds the expires_at its parser
    # also reads when a host sends it.
    ("rivya", "succeeded"): {"result.expires_at: missing"},
    # APIMart documents no error envelope (GATEWAYS.md 6.4): the sample records a terse
    # {"code", "message"}, the emulator answers an OpenAI-style {"code", "error": {...}}; the parser
    # reads both, and between them the two suites cover both.
    ("apimart", "rate_limited"): {"message: missing"},
    ("apimart", "refused_key"): {"error.code: missing"},
}


def test_differences_sees_keys_and_types() -> None:
    assert (
        differences(shape({"a": [1], "b": {"c": None}}), shape({"a": [2.5], "b": {"c": "x"}, "d": 1})) == []
    )
    assert differences(shape({"a": "1"}), shape({"a": 1})) == ["a: number where the sample has string"]
    assert differences(shape({"a": {"b": True}}), shape({"a": {}})) == ["a.b: missing"]
    assert differences(shape({"a": [{"b": 1}]}), shape({"a": [{"b": {}}]})) != []
    assert differences(shape({"a": 1}), shape([1])) != []


class Wire:
    """One gateway on the emulator, spoken through the provider's own request builders."""

    def __init__(self, client: httpx.Client, name: str, *, refused_key: bool = False) -> None:
        self.client, self.name, self.gw = client, name, get_gateway(name)
        if name == "kling":  # the official API signs a JWT with the key pair the emulator knows
            secret = "bad-secret-the-emulator-does-not-know" if refused_key else KLING_SECRET_KEY
            self.credentials = Credentials(api_key=secret, access_key=KLING_ACCESS_KEY)
        else:  # the emulator refuses any key that starts with "bad"
            self.credentials = Credentials(api_key="bad-key" if refused_key else TEST_API_KEY)

    def send(self, request: HttpRequest) -> HttpResponse:
        headers = {**self.gw.auth_headers(self.credentials, time.time()), **request.headers}
        r = self.client.request(
            request.method, request.path, json=request.json, params=request.params, headers=headers
        )
        return HttpResponse(r.status_code, dict(r.headers), r.content)

    def submit(self, prompt: str) -> tuple[HttpResponse, str]:
        request = VideoRequest(prompt=prompt, client_reference=f"ref-{uuid.uuid4().hex}")  # as recorded
        self.gw.validate(request)
        response = self.send(self.gw.build_submit(request))
        return response, self.gw.parse_submit(request, response).task_id

    def status(self, task_id: str) -> tuple[HttpResponse, TaskState]:
        endpoint = self.gw.status_endpoints[0]
        response = self.send(self.gw.build_status(task_id, endpoint))
        return response, self.gw.parse_status(task_id, endpoint, response).state

    def status_when(self, task_id: str, state: TaskState) -> HttpResponse:
        response, _ = wait_until(lambda: self.status(task_id), lambda answer: answer[1] is state, 60.0, 0.2)
        return response


def assert_same_shape(name: str, case: str, response: HttpResponse) -> None:
    found = differences(shape(sample(name, case)), shape(json.loads(response.content)))
    excused = SAMPLE_ONLY.get((name, case), set())
    assert set(found) == excused, f"{name} {case}: the emulator's answer differs from the sample: {found}"


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emulator.url, timeout=30, trust_env=False) as c:
        yield c


@pytest.mark.parametrize("name", GATEWAY_NAMES)
def test_submit_and_status_answers_have_the_samples_shape(client: httpx.Client, name: str) -> None:
    wire = Wire(client, name)
    response, task_id = wire.submit("a lighthouse in a storm [latency:2]")
    assert_same_shape(name, "submit", response)
    assert_same_shape(name, "running", wire.status_when(task_id, TaskState.RUNNING))
    assert_same_shape(name, "succeeded", wire.status_when(task_id, TaskState.SUCCEEDED))


@pytest.mark.parametrize("name", GATEWAY_NAMES)
def test_failed_job_has_the_samples_shape(client: httpx.Client, name: str) -> None:
    wire = Wire(client, name)
    _, task_id = wire.submit("a lighthouse in a storm [latency:1][fault:fail]")
    assert_same_shape(name, "failed", wire.status_when(task_id, TaskState.FAILED))


@pytest.mark.parametrize("name", GATEWAY_NAMES)
def test_error_envelopes_have_the_samples_shape(client: httpx.Client, name: str) -> None:
    wire = Wire(client, name)
    request = VideoRequest(prompt="a lighthouse in a storm [fault:429]")
    limited = wire.send(wire.gw.build_submit(request))
    assert limited.status_code == 429
    assert_same_shape(name, "rate_limited", limited)
    refused = Wire(client, name, refused_key=True).send(wire.gw.build_submit(request))
    assert refused.status_code in (401, 403)
    assert_same_shape(name, "refused_key", refused)


def test_turbo_path_route_answers_have_the_samples_shape(client: httpx.Client) -> None:
    """The official gateway's Kling 3.0 Turbo image-to-video (GATEWAYS.md 1.9): the submit answer and
    the ``GET /tasks?task_ids=`` answer have the shape of ``turbo_i2v_submit`` / ``turbo_i2v_succeeded``."""
    wire = Wire(client, "kling")
    recorded = sample("kling", "turbo_i2v_request")["request"]
    fresh = {"prompt": "a lighthouse in a storm [latency:1]", "client_reference": f"ref-{uuid.uuid4().hex}"}
    request = VideoRequest(**{**recorded, **fresh})
    wire.gw.validate(request)
    response = wire.send(wire.gw.build_submit(request))
    assert_same_shape("kling", "turbo_i2v_submit", response)
    task = wire.gw.parse_submit(request, response)

    def status() -> tuple[HttpResponse, TaskState]:
        answer = wire.send(wire.gw.build_status(task.task_id, task.endpoint))
        return answer, wire.gw.parse_status(task.task_id, task.endpoint, answer).state

    done, _ = wait_until(status, lambda answer: answer[1] is TaskState.SUCCEEDED, 60.0, 0.2)
    assert_same_shape("kling", "turbo_i2v_succeeded", done)
