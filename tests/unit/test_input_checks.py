"""Bad operator, sensor, budget-gate and download inputs: a :class:`KlingValidationError` naming the
field, the value and what is allowed, raised before any HTTP request, from every entry point (the
operator and the gate wrap it in ``AirflowFailException``, never retried)."""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import respx

from airflow_provider_kling._airflow import AirflowFailException
from airflow_provider_kling.budget import BatchEstimate, decide
from airflow_provider_kling.exceptions import KlingBudgetError, KlingValidationError
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.pricing import Quote, cap_refusal
from airflow_provider_kling.hooks import _transport
from airflow_provider_kling.hooks._settings import ConnectionSettings
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import VideoTask
from airflow_provider_kling.operators.budget import KlingBudgetGateOperator
from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.sensors.kling import KlingTaskSensor
from tests.conftest import TEST_API_KEY

UNITS = "USD, credits, units"


class Sent(list[tuple[str, str]]):
    """The gateway requests that went out (each one also fails the call that made it)."""


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sent]:
    """Record (and refuse) every request: the hook's gateway calls and any other httpx request."""
    calls = Sent()

    def send(self: Any, req: Any, auth: Any) -> Any:
        calls.append((req.method, req.path))
        raise AssertionError(f"HTTP {req.method} {req.path} went out")

    monkeypatch.setattr(_transport.SyncShell, "send", send)
    with respx.mock(assert_all_mocked=True) as mock:
        yield calls
        calls.extend(("GET", str(call.request.url)) for call in mock.calls)


def conn(monkeypatch: pytest.MonkeyPatch, gateway: str, **extra: Any) -> str:
    conn_id = f"kling_{gateway}"
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{conn_id.upper()}",
        json.dumps(
            {
                "conn_type": "kling",
                "host": "http://gateway.test",
                "password": TEST_API_KEY,
                "login": "AK-test-access" if gateway == "kling" else None,
                "extra": {"gateway": gateway, **extra},
            }
        ),
    )
    return conn_id


class TI:
    dag_id, run_id, task_id, map_index = "d", "r", "t", -1

    def xcom_push(self, key: str, value: Any) -> None:
        pass

    def xcom_pull(self, *args: Any, **kwargs: Any) -> None:
        return None


def context() -> Any:
    return {"ti": TI(), "params": {}}


def refused(info: pytest.ExceptionInfo[BaseException], field: str, value: Any, allowed: str) -> None:
    """The error (or the Airflow error wrapping it) is a validation error naming all three."""
    err = getattr(info.value, "kling_error", info.value)
    assert isinstance(err, KlingValidationError), repr(info.value)
    assert err.field == field, str(err)
    assert f"{field}={value!r}" in str(err) and allowed in str(err), str(err)


def run_operator(monkeypatch: pytest.MonkeyPatch, gateway: str, **kwargs: Any) -> Any:
    op = KlingGenerateOperator(
        task_id="t", kling_conn_id=conn(monkeypatch, gateway), deferrable=False, **kwargs
    )
    return op.execute(context())


# ------------------------------------------------------------------------------------ 1. cost cap
BAD_CAPS = ["10", "abc", [1], {"USD": 1}, math.nan, math.inf, -1, True]


@pytest.mark.parametrize("gateway", ["apixo", "kling", "kie"])  # priced in USD, in units, unpriced
@pytest.mark.parametrize("max_cost", BAD_CAPS, ids=repr)
def test_a_max_cost_that_is_no_cap_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, gateway: str, max_cost: Any
) -> None:
    with pytest.raises(AirflowFailException) as info:
        run_operator(monkeypatch, gateway, prompt="a cat", max_cost=max_cost)
    refused(info, "max_cost", max_cost, "a finite number >= 0")
    assert sent == []


@pytest.mark.parametrize("gateway", ["apixo", "kling", "kie"])
@pytest.mark.parametrize("unit", ["EUR", "usd", 5])
def test_a_max_cost_unit_outside_the_units_is_a_validation_error(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, gateway: str, unit: Any
) -> None:
    with pytest.raises(AirflowFailException) as info:
        run_operator(monkeypatch, gateway, prompt="a cat", max_cost=100, max_cost_unit=unit)
    refused(info, "max_cost_unit", unit, UNITS)
    assert sent == []


def test_hook_check_cost_and_cap_refusal_check_the_cap(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    hook = KlingHook(conn(monkeypatch, "apixo"))
    request = hook.make_request(prompt="a cat")
    for bad in ("10", math.nan):
        with pytest.raises(KlingValidationError) as info:
            hook.check_cost(request, bad)
        refused(info, "max_cost", bad, "a finite number >= 0")
    with pytest.raises(KlingValidationError) as info:
        cap_refusal(Quote(None, "no price"), 10, "EUR")
    refused(info, "max_cost_unit", "EUR", UNITS)
    # a real cap keeps working: 0 is a cap (over it), 0.30 is the estimate itself
    with pytest.raises(KlingBudgetError):
        hook.check_cost(request, 0)
    assert hook.check_cost(request, 0.3, "USD") is not None
    assert sent == []


# ------------------------------------------------------------------------------------ 2, 3. settings
@pytest.mark.parametrize(
    ("setting", "value", "allowed"),
    [
        ("max_download_bytes", 0, "a positive integer"),
        ("max_download_bytes", -5, "a positive integer"),
        ("max_download_bytes", "10", "a positive integer"),
        ("max_download_bytes", math.nan, "a positive integer"),
        ("timeout", -5, "seconds > 0"),
        ("timeout", 0, "seconds > 0"),
        ("timeout", "abc", "seconds > 0"),
        ("timeout", math.inf, "seconds > 0"),
        ("poll_interval", "x", "seconds > 0"),
        ("poll_interval", -1, "seconds > 0"),
        ("poll_interval", 0, "seconds > 0"),
    ],
    ids=repr,
)
def test_operator_settings_that_cannot_work_fail_before_the_submit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sent: Sent, setting: str, value: Any, allowed: str
) -> None:
    with pytest.raises(AirflowFailException) as info:
        run_operator(monkeypatch, "fal", prompt="a cat", download_to=str(tmp_path), **{setting: value})
    refused(info, setting, value, allowed)
    assert "KlingGenerateOperator" in str(info.value)
    assert sent == []


@pytest.mark.parametrize("value", [0, "0", "nan", -1])
def test_connection_poll_interval_must_be_positive(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, value: Any
) -> None:
    op = KlingGenerateOperator(
        task_id="t", kling_conn_id=conn(monkeypatch, "fal", poll_interval=value), prompt="a cat"
    )
    with pytest.raises(AirflowFailException) as info:
        op.execute(context())
    refused(info, "extra.poll_interval", value, "> 0")
    assert sent == []
    from airflow.sdk import BaseHook

    with pytest.raises(KlingValidationError):
        ConnectionSettings.from_connection(BaseHook.get_connection("kling_fal"))


# ------------------------------------------------------------------------------------ 4. downloads
BAD_DESTINATIONS = ["", "  ", 5, b"/tmp/x", "file://"]


@pytest.mark.parametrize("destination", BAD_DESTINATIONS, ids=repr)
def test_a_download_to_that_cannot_be_a_place_is_refused_before_the_submit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sent: Sent, destination: Any
) -> None:
    monkeypatch.chdir(tmp_path)  # "" used to write its probe here, "  " to create a folder of spaces
    hook = KlingHook(conn(monkeypatch, "apixo"))
    with pytest.raises(KlingValidationError) as info:
        hook.check_download_to(destination)
    refused(info, "download_to", destination, "a writable local directory")
    with pytest.raises(AirflowFailException) as info:
        run_operator(monkeypatch, "apixo", prompt="a cat", download_to=destination)
    refused(info, "download_to", destination, "a writable local directory")
    with pytest.raises(KlingValidationError) as info:
        hook.download("https://cdn.test/v.mp4", destination)
    refused(info, "download_to", destination, "a writable local directory")
    assert sent == [] and os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("kwargs", "field", "allowed"),
    [
        ({"url": ""}, "url", "an http(s) URL"),
        ({"url": "not a url"}, "url", "an http(s) URL"),
        ({"url": "ftp://cdn.test/v.mp4"}, "url", "an http(s) URL"),
        ({"url": "file:///etc/passwd"}, "url", "an http(s) URL"),
        ({"max_bytes": "10"}, "max_bytes", "a positive integer"),
        ({"max_bytes": None}, "max_bytes", "a positive integer"),
        ({"max_bytes": math.nan}, "max_bytes", "a positive integer"),
        ({"filename": 5}, "filename", "a plain file name"),
    ],
    ids=repr,
)
def test_hook_download_checks_its_arguments_before_fetching(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    sent: Sent,
    kwargs: dict[str, Any],
    field: str,
    allowed: str,
) -> None:
    hook = KlingHook(conn(monkeypatch, "apixo"))
    args: dict[str, Any] = {"url": "https://cdn.test/v.mp4", "destination": tmp_path, **kwargs}
    with pytest.raises(KlingValidationError) as info:
        hook.download(**args)
    refused(info, field, kwargs[field], allowed)
    assert sent == [] and os.listdir(tmp_path) == []


# ------------------------------------------------------------------------------------ 5. budget gate
@pytest.mark.parametrize(
    ("kwargs", "field", "value", "allowed"),
    [
        ({"approve_above": "2"}, "approve_above", "2", "a finite number >= 0"),
        ({"fail_above": "2"}, "fail_above", "2", "a finite number >= 0"),
        ({"fail_above": math.nan}, "fail_above", math.nan, "a finite number >= 0"),
        ({"fail_above": math.inf}, "fail_above", math.inf, "a finite number >= 0"),
        ({"approve_above": True}, "approve_above", True, "a finite number >= 0"),
        ({"fail_above": {"USD": "x"}}, "fail_above.USD", "x", "a finite number >= 0"),
        ({"fail_above": {"EUR": 1}}, "fail_above", {"EUR": 1}, UNITS),
        ({"approve_above": 1, "unit": "EUR"}, "unit", "EUR", UNITS),
        ({"approve_above": 1, "unit": 5}, "unit", 5, UNITS),
    ],
    ids=repr,
)
def test_budget_gate_thresholds_are_checked_before_pricing_or_the_balance(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, kwargs: dict[str, Any], field: str, value: Any, allowed: str
) -> None:
    gate = KlingBudgetGateOperator(
        task_id="g", clips=[{"prompt": "a"}], kling_conn_id=conn(monkeypatch, "kling"), **kwargs
    )  # the official API has a balance endpoint: check_balance would read it
    with pytest.raises(AirflowFailException) as info:
        gate.execute(context())
    refused(info, field, value, allowed)
    assert sent == []
    with pytest.raises(KlingValidationError):
        decide(BatchEstimate(), kwargs.get("approve_above"), kwargs.get("fail_above"), kwargs.get("unit"))


# ------------------------------------------------------------------------------------ 6. task ids
BAD_IDS = ["", "None", "   ", "..", None]


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
@pytest.mark.parametrize("task_id", BAD_IDS, ids=repr)
def test_a_task_id_that_names_no_job_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, gateway: str, task_id: Any
) -> None:
    sensor = KlingTaskSensor(
        task_id="s", kling_conn_id=conn(monkeypatch, gateway), kling_task_id=task_id, deferrable=False
    )
    with pytest.raises(AirflowFailException) as info:
        sensor.poke(context())
    refused(info, "kling_task_id", task_id, "a non-empty string, not 'None'")
    deferred = KlingTaskSensor(
        task_id="s", kling_conn_id=conn(monkeypatch, gateway), kling_task_id=task_id, deferrable=True
    )
    with pytest.raises(AirflowFailException):  # not TaskDeferred: the trigger would poll for nothing
        deferred.execute(context())
    hook = KlingHook(conn(monkeypatch, gateway))
    with pytest.raises(KlingValidationError) as info:
        hook.get_task(task_id)
    assert info.value.field == "kling_task_id"
    if hook.gateway.can_cancel:
        with pytest.raises(KlingValidationError) as info:
            hook.cancel_task(task_id)
        assert info.value.field == "kling_task_id"
    assert sent == []


@pytest.mark.parametrize("task_id", ["../../v1/account", "a/b?x=1", "100%", "a b"])
@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_task_ids_are_one_percent_encoded_path_segment(gateway: str, task_id: str) -> None:
    """Where an id goes into the path (status, result, cancel), it is one encoded segment: it adds
    no segment, no query; elsewhere (a query parameter, a JSON body) it is not in the path at all."""
    from urllib.parse import quote

    gw = get_gateway(gateway)
    encoded = quote(task_id, safe="")
    requests = [gw.build_status(task_id)]
    cancel = gw.build_cancel(task_id)
    if cancel is not None:
        requests.append(cancel)
    if gw.has_result_step:
        requests.append(gw.build_result(VideoTask(task_id=task_id, gateway=gateway, state="succeeded")))
    for http in requests:
        assert "?" not in http.path and " " not in http.path and "/v1/account" not in http.path, http.path
        segments = http.path.split("/")
        assert encoded in segments or (task_id not in http.path and encoded not in http.path), http.path


def test_the_sensor_checks_download_to_before_polling(monkeypatch: pytest.MonkeyPatch, sent: Sent) -> None:
    for destination in ("ftp://host/x", 5):
        sensor = KlingTaskSensor(
            task_id="s", kling_conn_id=conn(monkeypatch, "apixo"), kling_task_id="t1",
            download_to=destination, deferrable=False,
        )  # fmt: skip
        with pytest.raises(AirflowFailException) as info:
            sensor.poke(context())
        refused(info, "download_to", destination, "a writable local directory")
    assert sent == []


# ------------------------------------------------------------------------------------ 7. endpoints
#: what each gateway's refusal of an endpoint says is allowed (those it gives a job, or none)
ENDPOINTS_ALLOWED = {
    "kling": "text2video, image2video, text-to-video/kling-3.0-turbo",
    "apixo": "kling-2-6, kling-3-0-std",
    "fal": "a fal app id such as 'fal-ai/kling-video'",
}
BY_ID_ALONE = "finds a job by its id alone"
BAD_ENDPOINTS = ["bogus", "../../v1/account", "a/b?x=1", "fal-ai/kling-video/requests/x", " ", 5]


async def first_event(trigger: Any) -> dict[str, Any]:
    async for event in trigger.run():
        return dict(event.payload)
    raise AssertionError("no event")


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS, ids=repr)
def test_an_endpoint_the_gateway_never_gives_a_job_is_refused_before_any_request(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, gateway: str, endpoint: Any
) -> None:
    """The sensor, the hook (status, cancel), the trigger and fal's URL builders refuse it: it was
    polled as ``text2video`` (official API), as the connection's model (APIXO), ignored, or put
    into the URL path as given (fal); the trigger's refusal is the test below."""
    allowed = ENDPOINTS_ALLOWED.get(gateway, BY_ID_ALONE)
    conn_id = conn(monkeypatch, gateway)
    for deferrable in (False, True):
        sensor = KlingTaskSensor(
            task_id="s", kling_conn_id=conn_id, kling_task_id="t1", endpoint=endpoint, deferrable=deferrable
        )
        with pytest.raises(AirflowFailException) as info:  # not TaskDeferred
            sensor.poke(context()) if not deferrable else sensor.execute(context())
        refused(info, "endpoint", endpoint, allowed)
    hook = KlingHook(conn_id)
    with pytest.raises(KlingValidationError) as info:
        hook.get_task("t1", endpoint)
    refused(info, "endpoint", endpoint, allowed)
    with pytest.raises(KlingValidationError):
        hook.get_task(VideoTask(task_id="t1", gateway=gateway, state="running", endpoint=str(endpoint)))
    if hook.gateway.can_cancel:
        with pytest.raises(KlingValidationError) as info:
            hook.cancel_task("t1", endpoint)
        refused(info, "endpoint", endpoint, allowed)
    assert sent == []


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
@pytest.mark.parametrize("endpoint", BAD_ENDPOINTS, ids=repr)
async def test_the_trigger_refuses_an_endpoint_the_gateway_never_gives_a_job(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, gateway: str, endpoint: Any
) -> None:
    """The same refusal from ``KlingTaskTrigger``, as one error event (an async test: on Airflow 3.1
    the conftest gives it a triggerer's channel for the connection lookup)."""
    import time

    from airflow_provider_kling.triggers.kling import KlingTaskTrigger

    allowed = ENDPOINTS_ALLOWED.get(gateway, BY_ID_ALONE)
    trigger = KlingTaskTrigger(
        kling_conn_id=conn(monkeypatch, gateway),
        kling_task_id="t1",
        endpoint=endpoint,
        deadline=time.time() + 30,
    )
    event = await first_event(trigger)
    error = event.get("error") or {}
    assert event["status"] == "error" and error.get("kind") == "validation", event
    said = allowed if isinstance(endpoint, str) else "a non-empty string or None"  # the kwargs check
    assert f"endpoint={endpoint!r}" in error["message"] and said in error["message"], event
    assert sent == []


@pytest.mark.parametrize("endpoint", ["../../v1/account", "a/b?x=1", "x/requests", "a//b", "a b", "%2e%2e"])
def test_fal_puts_no_endpoint_into_its_urls_that_is_no_app_id(endpoint: str) -> None:
    gw = get_gateway("fal")
    done = VideoTask(task_id="r1", gateway="fal", state="succeeded", endpoint=endpoint)
    for build in (
        lambda: gw.build_status("r1", endpoint),
        lambda: gw.build_cancel("r1", endpoint),
        lambda: gw.build_result(done),
    ):
        with pytest.raises(KlingValidationError) as info:
            build()
        refused(info, "endpoint", endpoint, ENDPOINTS_ALLOWED["fal"])


@pytest.mark.parametrize(
    ("gateway", "endpoints"),
    [
        (
            "kling",
            ["text2video", "image2video", "text-to-video/kling-3.0-turbo", "image-to-video/kling-3.0-turbo"],
        ),
        ("apixo", ["kling-2-6", "kling-3-0-std", "kling-3-0-turbo"]),
        ("fal", ["fal-ai/kling-video", "kling/v4", "fal-ai/kling-video.v2_x-1"]),
        ("rivya", []),
    ],
)
def test_the_endpoints_a_gateway_gives_its_jobs_are_accepted(gateway: str, endpoints: list[str]) -> None:
    gw = get_gateway(gateway)
    for given in endpoints:
        assert gw.check_endpoint(given) == given
        gw.build_status("t1", given)
    for none in (None, "", "None"):  # "None": what a template renders from a result without one
        assert gw.check_endpoint(none) is None


def test_the_sensor_reads_an_endpoint_rendered_as_none_as_no_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sensor = KlingTaskSensor(
        task_id="s", kling_conn_id=conn(monkeypatch, "apixo"), kling_task_id="t1", endpoint="None"
    )
    with respx.mock(assert_all_mocked=True) as mock:
        route = mock.get("http://gateway.test/api/v1/statusTask/kling-2-6").respond(
            json={"code": 200, "data": {"taskId": "t1", "state": "running"}}
        )
        assert sensor.poke(context()) is False
    assert route.call_count == 1 and sensor.endpoint is None


# ------------------------------------------------------------------------------------ 8. operator
@pytest.mark.parametrize(
    "base", ["ftp://x", "x", "https://", "//cdn.test/v", "https://a b.test", 5, ["https://x"]]
)
def test_a_video_link_base_that_is_no_http_url_is_refused_before_the_submit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, sent: Sent, base: Any
) -> None:
    allowed = "an http(s):// URL with a host"
    with pytest.raises(AirflowFailException) as info:
        run_operator(monkeypatch, "fal", prompt="a cat", download_to=str(tmp_path), video_link_base=base)
    refused(info, "video_link_base", base, allowed)
    assert "KlingGenerateOperator" in str(info.value)
    sensor = KlingTaskSensor(
        task_id="s", kling_conn_id=conn(monkeypatch, "fal"), kling_task_id="t1",
        download_to=str(tmp_path), video_link_base=base, deferrable=False,
    )  # fmt: skip
    with pytest.raises(AirflowFailException) as info:
        sensor.poke(context())
    refused(info, "video_link_base", base, allowed)
    assert sent == []


@pytest.mark.parametrize("extra", [[], "", 0, False, ["watermark"], "{}"], ids=repr)
def test_an_extra_that_is_no_dict_is_refused_before_the_submit(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, extra: Any
) -> None:
    """``extra=[]`` (or another empty non-dict) was read as "no extra" and the job submitted."""
    with pytest.raises(AirflowFailException) as info:
        run_operator(monkeypatch, "fal", prompt="a cat", extra=extra)
    refused(info, "extra", extra, "a dict of gateway-specific fields")
    assert sent == []


# ------------------------------------------------------------------------------------ 9. connection
@pytest.mark.parametrize(
    ("extra", "field", "allowed"),
    [
        ({"first_poll_delay": "nan"}, "extra.first_poll_delay", "a finite number of seconds >= 0"),
        ({"first_poll_delay": math.nan}, "extra.first_poll_delay", "a finite number of seconds >= 0"),
        ({"first_poll_delay": "inf"}, "extra.first_poll_delay", "a finite number of seconds >= 0"),
        ({"first_poll_delay": -1}, "extra.first_poll_delay", "a finite number of seconds >= 0"),
        ({"first_poll_delay": True}, "extra.first_poll_delay", "a finite number of seconds >= 0"),
        ({"first_poll_delay": "soon"}, "extra.first_poll_delay", "a finite number of seconds >= 0"),
        ({"first_poll_delay": [1]}, "extra.first_poll_delay", "a finite number of seconds >= 0"),
        ({"timeout": True}, "extra.timeout", "a finite number of seconds > 0"),
        ({"max_retries": True}, "extra.max_retries", "a whole number >= 0"),
        ({"max_retries": "-inf"}, "extra.max_retries", "a whole number >= 0"),
        ({"verify": 5}, "extra.verify", "true, false or the path of a readable CA bundle"),
        ({"verify": 0}, "extra.verify", "true, false or the path of a readable CA bundle"),
        ({"verify": 1.5}, "extra.verify", "true, false or the path of a readable CA bundle"),
        ({"verify": []}, "extra.verify", "true, false or the path of a readable CA bundle"),
        ({"verify": {"ca": "x"}}, "extra.verify", "true, false or the path of a readable CA bundle"),
    ],
    ids=repr,
)
def test_connection_settings_that_cannot_work_are_refused_before_the_submit(
    monkeypatch: pytest.MonkeyPatch, sent: Sent, extra: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(AirflowFailException) as info:
        KlingGenerateOperator(
            task_id="t", kling_conn_id=conn(monkeypatch, "fal", **extra), prompt="a cat", deferrable=False
        ).execute(context())
    (value,) = extra.values()
    refused(info, field, value, allowed)
    assert sent == []


def test_connection_poll_settings_that_work_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import BaseHook

    for given, read in (("2.5", 2.5), (0, 0.0), ("", None), (None, None)):
        conn(monkeypatch, "fal", first_poll_delay=given, verify=None)
        settings = ConnectionSettings.from_connection(BaseHook.get_connection("kling_fal"))
        assert (settings.first_poll_delay, settings.verify) == (read, True)
