"""KlingHook: retry policy, never-resend rule, validation before HTTP, secret hygiene, async path."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any

import httpx
import jwt
import pytest
import respx

from airflow_provider_kling.exceptions import (
    KlingAuthError,
    KlingServerError,
    KlingSubmitUncertainError,
    KlingValidationError,
)
from airflow_provider_kling.hooks._transport import HttpxAsyncShell
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import TaskState, VideoRequest
from tests.conftest import TEST_API_KEY

BASE = "http://gateway.test"


def make_hook(monkeypatch: pytest.MonkeyPatch, gateway: str, **extra: Any) -> tuple[KlingHook, list[float]]:
    conn = {
        "conn_type": "kling",
        "host": BASE,
        "password": TEST_API_KEY,
        "login": "AK-test-access" if gateway == "kling" else None,
        "extra": {"gateway": gateway, **extra},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_KLING_{gateway.upper()}", json.dumps(conn))
    hook = KlingHook(kling_conn_id=f"kling_{gateway}")
    waits: list[float] = []
    hook.retry_sleep = waits.append  # type: ignore[method-assign, assignment]
    return hook, waits


APIXO_STATUS = f"{BASE}/api/v1/statusTask/kling-2-6"
APIXO_SUBMIT = f"{BASE}/api/v1/generateTask/kling-2-6"
RUNNING = {"code": 200, "message": "success", "data": {"taskId": "t1", "state": "processing"}}
DONE = {
    "code": 200,
    "message": "success",
    "data": {
        "taskId": "t1",
        "state": "success",
        "resultJson": json.dumps({"resultUrls": ["https://r2/v.mp4"]}),
    },
}


@respx.mock
def test_429_retry_after_seconds_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, waits = make_hook(monkeypatch, "apixo")
    route = respx.get(APIXO_STATUS).mock(
        side_effect=[
            httpx.Response(429, json={"code": 429, "message": "slow down"}, headers={"Retry-After": "3"}),
            httpx.Response(200, json=DONE),
        ]
    )
    task = hook.get_task("t1")
    assert task.state is TaskState.SUCCEEDED and task.video_urls == ["https://r2/v.mp4"]
    assert route.call_count == 2
    assert waits == [3.0]


@respx.mock
def test_429_retry_after_http_date_is_honoured_and_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, waits = make_hook(monkeypatch, "apixo")
    soon = format_datetime(datetime.now(tz=timezone.utc) + timedelta(seconds=20), usegmt=True)
    later = format_datetime(datetime.now(tz=timezone.utc) + timedelta(hours=2), usegmt=True)
    respx.get(APIXO_STATUS).mock(
        side_effect=[
            httpx.Response(429, json={"code": 429, "message": "x"}, headers={"Retry-After": soon}),
            httpx.Response(429, json={"code": 429, "message": "x"}, headers={"Retry-After": later}),
            httpx.Response(200, json=RUNNING),
        ]
    )
    assert hook.get_task("t1").state is TaskState.RUNNING
    assert 17 <= waits[0] <= 20
    assert waits[1] == 60.0  # capped


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [(1e300, 60.0), (10**400, 60.0), (float("inf"), 60.0), (-5.0, 0.0), (float("nan"), None)],
    ids=["1e300", "10**400", "inf", "negative", "nan"],
)
def test_the_calls_own_wait_is_within_0_and_60_s_whatever_the_retry_after(
    retry_after: float, waited: float | None
) -> None:
    """The hook's retry waits between 0 and ``RETRY_AFTER_CAP``: an error built with a huge, negative
    or NaN ``retry_after`` (not from a header, whose reading already bounds it) is no exception."""
    from tenacity import RetryCallState

    from airflow_provider_kling.exceptions import KlingRateLimitError
    from airflow_provider_kling.hooks import _retry

    state = RetryCallState(None, lambda: None, (), {})
    state.set_exception((KlingRateLimitError, KlingRateLimitError("busy", retry_after=retry_after), None))
    wait = _retry._wait(state)
    assert 0.0 <= wait <= _retry.RETRY_AFTER_CAP == 60.0
    if waited is not None:
        assert wait == waited


@respx.mock
@pytest.mark.parametrize("header", ["1e300", "-5", "nan", "inf", "9" * 400], ids=lambda h: h[:8])
def test_a_429_with_an_odd_retry_after_header_waits_at_most_60_s(
    monkeypatch: pytest.MonkeyPatch, header: str
) -> None:
    hook, waits = make_hook(monkeypatch, "apixo")
    respx.get(APIXO_STATUS).mock(
        side_effect=[
            httpx.Response(429, json={"code": 429, "message": "x"}, headers={"Retry-After": header}),
            httpx.Response(200, json=RUNNING),
        ]
    )
    assert hook.get_task("t1").state is TaskState.RUNNING
    assert len(waits) == 1 and 0.0 <= waits[0] <= 60.0


@respx.mock
def test_503_twice_then_success(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, waits = make_hook(monkeypatch, "apixo")
    route = respx.get(APIXO_STATUS).mock(
        side_effect=[
            httpx.Response(503, text="<html>down</html>"),
            httpx.Response(503, json={"code": 503, "message": "busy"}),
            httpx.Response(200, json=RUNNING),
        ]
    )
    assert hook.get_task("t1").state is TaskState.RUNNING
    assert route.call_count == 3 and len(waits) == 2


@respx.mock
def test_retries_exhausted_raise_the_typed_error(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, waits = make_hook(monkeypatch, "apixo", max_retries=2)
    route = respx.get(APIXO_STATUS).mock(
        return_value=httpx.Response(502, json={"code": 502, "message": "upstream"})
    )
    with pytest.raises(KlingServerError) as info:
        hook.get_task("t1")
    assert len(waits) == 2
    assert route.call_count == 3
    assert info.value.status_code == 502 and "upstream" in str(info.value)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(httpx.ReadTimeout("timed out"), id="timeout"),
        pytest.param(httpx.Response(500, json={"code": 500, "message": "oops"}), id="5xx"),
    ],
)
@respx.mock
def test_submit_without_idempotency_is_not_resent(
    monkeypatch: pytest.MonkeyPatch, answer: httpx.Response | Exception
) -> None:
    hook, _ = make_hook(monkeypatch, "apixo")
    route = respx.post(APIXO_SUBMIT).mock(side_effect=[answer])
    with pytest.raises(KlingSubmitUncertainError) as info:
        hook.submit(VideoRequest(prompt="a cat"))
    assert route.call_count == 1
    assert "not resent" in str(info.value)


@pytest.mark.parametrize(
    ("refusal", "retry_after"),
    [
        # a refused connection proves the gateway never saw the request: resent after a backoff
        pytest.param(httpx.ConnectError("refused"), None, id="connect-error"),
        pytest.param(
            httpx.Response(429, json={"code": 429, "message": "busy"}, headers={"Retry-After": "1"}),
            1.0,
            id="429-after-retry-after",
        ),
    ],
)
@respx.mock
def test_submit_refused_is_resent(
    monkeypatch: pytest.MonkeyPatch, refusal: httpx.Response | Exception, retry_after: float | None
) -> None:
    hook, waits = make_hook(monkeypatch, "apixo")
    route = respx.post(APIXO_SUBMIT).mock(
        side_effect=[refusal, httpx.Response(200, json={"code": 200, "data": {"taskId": "t9"}})]
    )
    assert hook.submit(VideoRequest(prompt="a cat")).task_id == "t9"
    assert route.call_count == 2 and len(waits) == 1
    if retry_after is not None:
        assert waits == [retry_after]


@respx.mock
def test_submit_5xx_on_a_deduplicating_gateway_is_resent_with_the_same_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook, _ = make_hook(monkeypatch, "rivya")
    created = {"id": "task_1", "status": "queued", "model": "kling-2-6", "result": None, "error": None}
    route = respx.post(f"{BASE}/api/v1/generations").mock(
        side_effect=[
            httpx.Response(502, json={"error": {"code": "x", "message": "bad"}}),
            httpx.Response(201, json=created),
        ]
    )
    task = hook.submit(VideoRequest(prompt="a cat", client_reference="ref-1"))
    assert task.task_id == "task_1"
    keys = [call.request.headers["Idempotency-Key"] for call in route.calls]
    assert keys == ["ref-1", "ref-1"]


@respx.mock
def test_submit_timeout_with_lookup_attaches_to_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "kling")
    post = respx.post(f"{BASE}/v1/videos/text2video").mock(side_effect=httpx.ReadTimeout("slow"))
    found = {"code": 0, "message": "SUCCEED", "data": {"task_id": "k1", "task_status": "processing"}}
    lookup = respx.get(f"{BASE}/v1/videos/text2video/ref-7").mock(
        return_value=httpx.Response(200, json=found)
    )
    task = hook.submit(VideoRequest(prompt="a cat", client_reference="ref-7"))
    assert task.task_id == "k1" and post.call_count == 1 and lookup.call_count == 1


@respx.mock
def test_official_status_without_family_tries_both(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "kling")
    respx.get(f"{BASE}/v1/videos/text2video/k1").mock(
        return_value=httpx.Response(404, json={"code": 1203, "message": "not found"})
    )
    ok = {"code": 0, "data": {"task_id": "k1", "task_status": "processing"}}
    respx.get(f"{BASE}/v1/videos/image2video/k1").mock(return_value=httpx.Response(200, json=ok))
    task = hook.get_task("k1")
    assert task.endpoint == "image2video"


@respx.mock
def test_jwt_is_sent_signed_and_reused(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "kling")
    ok = {"code": 0, "data": {"task_id": "k1", "task_status": "processing"}}
    route = respx.get(f"{BASE}/v1/videos/text2video/k1").mock(return_value=httpx.Response(200, json=ok))
    hook.get_task("k1", "text2video")
    hook.get_task("k1", "text2video")
    tokens = {c.request.headers["Authorization"].removeprefix("Bearer ") for c in route.calls}
    assert len(tokens) == 1
    claims = jwt.decode(tokens.pop(), TEST_API_KEY, algorithms=["HS256"])
    assert claims["iss"] == "AK-test-access"


INVALID: dict[str, list[dict[str, Any]]] = {
    "kling": [
        {"prompt": "x" * 2501},
        {"prompt": "p", "sound": True},
        {"prompt": "p", "cfg_scale": 0.3},
        {"prompt": "p", "extra": {"nope": 1}},
        {"prompt": "p", "start_image": "/no/such/file.png"},
    ],
    "rivya": [
        {"prompt": "x" * 1001},
        {"prompt": "p", "negative_prompt": "blur"},
        {"prompt": "p", "tier": "pro"},
        {"prompt": "p", "start_image": "https://a/s.png", "end_image": "https://a/e.png"},
        {"prompt": "p", "callback_url": "https://cb"},
    ],
    "runware": [
        {"prompt": "p"},
        {"prompt": "pp", "negative_prompt": "n"},
        {"prompt": "pp", "extra": {"outputQuality": 5}},
        {"prompt": "pp", "extra": {"bogus": 1}},
        {"prompt": "pp", "start_image": "https://a/s.png", "aspect_ratio": "1:1"},
    ],
    "apixo": [
        {"prompt": "x" * 1001},
        {"prompt": "p", "tier": "std"},
        {"prompt": "p", "start_image": "https://a/s.png", "aspect_ratio": "1:1"},
        {"prompt": "p", "start_image": "/tmp/local.png"},
        {"prompt": "p", "callback_url": "http://insecure/cb"},
    ],
    "apimart": [
        {"prompt": "x" * 2501},
        {"prompt": "p", "sound": True},
        {"prompt": "p", "cfg_scale": 0.5},
        {"prompt": "p", "start_image": "https://a/s.png", "end_image": "https://a/e.png", "tier": "std"},
        {"prompt": "p", "callback_url": "https://cb"},
    ],
    "kie": [
        {"prompt": "x" * 1001},
        {"prompt": "p", "negative_prompt": "blur"},
        {"prompt": "p", "tier": "pro"},
        {"prompt": "p", "start_image": "https://a/s.png", "end_image": "https://a/e.png"},
        {"prompt": "p", "cfg_scale": 0.5},
    ],
    "fal": [  # Kling 2.6 Pro: pro only, 5 or 10 s, a first frame only
        {"prompt": "x" * 2501},
        {"prompt": "p", "tier": "std"},
        {"prompt": "p", "duration": 7},
        {"prompt": "p", "start_image": "https://a/s.png", "end_image": "https://a/e.png"},
        {"prompt": "p", "model": "kling-4.0", "sound": False},
    ],
    "replicate": [  # kling-v2.6: no tier choice, 5 or 10 s, no last frame, no cfg_scale
        {"prompt": "x" * 2501},
        {"prompt": "p", "tier": "pro"},
        {"prompt": "p", "duration": 7},
        {"prompt": "p", "start_image": "https://a/s.png", "end_image": "https://a/e.png"},
        {"prompt": "p", "cfg_scale": 0.5},
    ],
}


@pytest.mark.parametrize(
    ("gateway", "fields"), [(g, f) for g, cases in INVALID.items() for f in cases], ids=lambda v: str(v)[:40]
)
def test_invalid_requests_fail_before_any_http(
    monkeypatch: pytest.MonkeyPatch, gateway: str, fields: dict[str, Any]
) -> None:
    hook, _ = make_hook(monkeypatch, gateway)
    with respx.mock(assert_all_mocked=True) as mock:
        with pytest.raises(KlingValidationError) as info:
            hook.submit(VideoRequest(**fields))
        assert mock.calls.call_count == 0
    assert f"'{gateway}'" in str(info.value) and "allowed" in str(info.value)


@pytest.mark.parametrize("bad", [{"duration": 7}, {"aspect_ratio": "4:3"}, {"tier": "ultra"}, {"prompt": ""}])
def test_model_level_errors_name_the_gateway(monkeypatch: pytest.MonkeyPatch, bad: dict[str, Any]) -> None:
    hook, _ = make_hook(monkeypatch, "apixo")
    with pytest.raises(KlingValidationError) as info:
        hook.make_request(**{"prompt": "p", **bad})
    text = str(info.value)
    assert "'apixo'" in text and next(iter(bad)) in text and "allowed" in text


@respx.mock
def test_api_key_never_leaks_into_errors_or_logs(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    hook, _ = make_hook(monkeypatch, "apixo", max_retries=1)
    echo = {"code": 401, "message": f"invalid key {TEST_API_KEY}"}
    respx.get(APIXO_STATUS).mock(
        side_effect=[
            httpx.Response(503, json={"code": 503, "message": f"key {TEST_API_KEY} busy"}),
            httpx.Response(401, json=echo),
        ]
    )
    with pytest.raises(KlingAuthError) as info:
        hook.get_task("t1")
    assert TEST_API_KEY not in str(info.value) and TEST_API_KEY not in repr(info.value)
    assert TEST_API_KEY not in caplog.text
    assert TEST_API_KEY not in repr(hook) and TEST_API_KEY not in repr(hook.settings)
    ok, message = hook.test_connection()
    assert ok is False
    assert TEST_API_KEY not in message


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception chained to it (``__cause__``, ``__context__``)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


@respx.mock
async def test_a_key_echoed_in_an_error_is_nowhere_in_its_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    """The scrubbed error does not carry the unscrubbed original as its ``__context__`` (a traceback
    printer or an error tracker walks the chain): sync status, submit, and the async path."""
    hook, _ = make_hook(monkeypatch, "apixo", max_retries=1)
    echo = httpx.Response(401, json={"code": 401, "message": f"invalid key {TEST_API_KEY}"})
    respx.get(APIXO_STATUS).mock(return_value=echo)
    respx.post(APIXO_SUBMIT).mock(return_value=echo)
    errors = []
    with pytest.raises(KlingAuthError) as info:
        hook.get_task("t1")
    errors.append(info.value)
    with pytest.raises(KlingAuthError) as info:
        hook.submit(hook.make_request(prompt="a cat"))
    errors.append(info.value)
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda request: echo)) as client:
        with pytest.raises(KlingAuthError) as info:
            await hook.aget_task("t1", client=client)
    errors.append(info.value)
    for error in errors:
        chain = _chain(error)
        assert "***" in str(error)
        assert not [e for e in chain if TEST_API_KEY in str(e) or TEST_API_KEY in repr(e.args)], chain


FAILED_ECHO = {
    "code": 200,
    "message": "success",
    "data": {
        "taskId": "t1",
        "state": "failed",
        "failCode": f"E-{TEST_API_KEY}",
        "failMsg": f"bad {TEST_API_KEY}",
    },
}


@respx.mock
async def test_a_failed_jobs_text_echoing_the_key_is_scrubbed_wherever_the_job_goes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failed job's code and message are gateway text: the job the hook returns (sync and async)
    has them scrubbed, so its summary (XCom), its dump (the trigger's event) and its error do too."""
    hook, _ = make_hook(monkeypatch, "apixo")
    respx.get(APIXO_STATUS).mock(return_value=httpx.Response(200, json=FAILED_ECHO))
    tasks = [hook.get_task("t1")]
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=FAILED_ECHO))
    ) as client:
        tasks.append(await hook.aget_task("t1", client=client))
        tasks.append(await hook.status_poll("t1", None)(HttpxAsyncShell(client)))
    for task in tasks:
        assert task.error_message == "bad ***" and task.error_code == "E-***"
        shown = json.dumps([task.summary(), task.model_dump(mode="json", exclude={"raw"})])
        shown += str(hook.failure_error(task)) + json.dumps(hook.failure_error(task).to_dict())
        assert TEST_API_KEY not in shown


@respx.mock
def test_the_reconcile_manifest_lists_unadopted_jobs_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "kling")
    page = {
        "code": 0,
        "message": "ok",
        "data": [
            {
                "task_id": "j9",
                "task_status": "failed",
                "task_status_msg": f"auth header Bearer {TEST_API_KEY} rejected upstream",
                "task_info": {"external_task_id": "af-0123456789abcdef0123456789abcdef01234567-g0"},
            }
        ],
    }
    respx.get(url__regex=rf"{BASE}/v1/videos/(text2video|image2video)(\?.*)?$").mock(
        return_value=httpx.Response(200, json=page)
    )
    manifest = hook.reconcile([], list_unadopted=True)
    assert manifest["unadopted"][0]["error_message"] == "auth header Bearer *** rejected upstream"
    assert TEST_API_KEY not in json.dumps(manifest)


def test_a_cancel_outcome_is_scrubbed_too() -> None:
    from airflow_provider_kling.gateways.base import CancelOutcome
    from airflow_provider_kling.hooks import _secrets

    outcome = CancelOutcome("t1", None, None, f"fal accepted the cancel ({TEST_API_KEY})")
    assert _secrets.scrub_result(outcome, lambda: [TEST_API_KEY]).message == "fal accepted the cancel (***)"
    clean = CancelOutcome("t1", None, None, "fine")
    assert _secrets.scrub_result(clean, lambda: [TEST_API_KEY]) is clean


async def test_async_path_uses_the_given_client(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "apixo")
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    hook.retry_asleep = record  # type: ignore[method-assign, assignment]
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "2"}, json={"code": 429}),
            httpx.Response(200, json=DONE),
        ]
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        task = await hook.aget_task("t1", client=client)
    assert task.state is TaskState.SUCCEEDED and waits == [2.0] and len(seen) == 2
    assert seen[0].url.params["taskId"] == "t1"
    assert seen[0].headers["Authorization"] == f"Bearer {TEST_API_KEY}"


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"verify": "/nonexistent/ca.pem"}, "extra.verify"),
        ({"verify": "DIRECTORY"}, "extra.verify"),
        ({"verify": "NOT_PEM"}, "extra.verify"),
        ({"timeout": 0}, "extra.timeout"),
        ({"timeout": "nan"}, "extra.timeout"),
        ({"timeout": "inf"}, "extra.timeout"),
        ({"timeout": -1}, "extra.timeout"),
        ({"max_retries": "nan"}, "extra.max_retries"),
        ({"max_retries": "inf"}, "extra.max_retries"),
        ({"max_retries": 2.5}, "extra.max_retries"),
    ],
    ids=lambda v: v if isinstance(v, str) else "-".join(f"{k}={v[k]}" for k in v),
)
@respx.mock(assert_all_mocked=True)
def test_connection_settings_that_cannot_work_are_named_when_read(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Any, extra: dict[str, Any], field: str
) -> None:
    """A CA bundle that is missing, a directory or no PEM; a timeout that is 0, NaN, infinite or
    negative; a retry count that is no whole number: a validation error naming the field when the
    settings are read, before any request (not a FileNotFoundError on every call, not a ValueError)."""
    (tmp_path / "not.pem").write_text("hello")
    paths = {"DIRECTORY": str(tmp_path), "NOT_PEM": str(tmp_path / "not.pem")}
    extra = {
        key: paths.get(value, value) if isinstance(value, str) else value for key, value in extra.items()
    }
    hook, _ = make_hook(monkeypatch, "apixo", **extra)
    with pytest.raises(KlingValidationError) as info:
        hook.get_task("t1")
    assert info.value.field == field and f"{field}=" in str(info.value)
    assert not respx.calls


def test_connection_settings_that_work_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    import certifi

    hook, _ = make_hook(monkeypatch, "apixo", verify=certifi.where(), timeout="2.5", max_retries="3")
    s = hook.settings
    assert (s.verify, s.timeout, s.max_retries) == (certifi.where(), 2.5, 3)
    for given, read in (("false", False), (" True ", True), ("", True), (False, False)):
        hook, _ = make_hook(monkeypatch, "apixo", verify=given)
        assert hook.settings.verify is read


def test_missing_gateway_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_NOGW", json.dumps({"conn_type": "kling", "password": "k"}))
    with pytest.raises(KlingValidationError) as info:
        _ = KlingHook("kling_nogw").settings
    assert "extra.gateway" in str(info.value) and "rivya" in str(info.value)


@pytest.mark.parametrize(
    "host", ["http://127.0.0.1:http://127.0.0.1:8080", "http://gate way.test", "ftp://x.test"]
)
def test_a_host_that_is_not_a_url_is_named_before_any_request(
    monkeypatch: pytest.MonkeyPatch, host: str
) -> None:
    conn = {"conn_type": "kling", "host": host, "password": TEST_API_KEY, "extra": {"gateway": "apixo"}}
    monkeypatch.setenv("AIRFLOW_CONN_KLING_BADHOST", json.dumps(conn))
    hook = KlingHook("kling_badhost")
    with respx.mock(assert_all_mocked=True) as mock:
        with pytest.raises(KlingValidationError) as info:
            hook.submit(VideoRequest(prompt="a cat"))
        assert mock.calls.call_count == 0
    text = str(info.value)
    assert "kling_badhost" in text and "host=" in text and info.value.field == "host"


def _refused_hook(monkeypatch: pytest.MonkeyPatch, conn_id: str, userinfo: str = "") -> tuple[KlingHook, int]:
    """A hook (no retries) on an APIXO host whose port is bound but never listening: connecting is refused."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    conn = {
        "conn_type": "kling",
        "host": f"http://{userinfo}127.0.0.1:{port}",
        "password": TEST_API_KEY,
        "extra": {"gateway": "apixo", "max_retries": 0},
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    return KlingHook(conn_id), port


def test_a_refused_connection_names_the_url_without_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, port = _refused_hook(monkeypatch, "kling_refused", userinfo=f"user:{TEST_API_KEY}@")
    with pytest.raises(KlingServerError) as info:
        hook.get_task("t1")
    text = str(info.value)
    assert f"http://127.0.0.1:{port}/api/v1/statusTask/kling-2-6" in text
    assert TEST_API_KEY not in text and "user" not in text and "taskId" not in text
    assert info.value.request_rejected


async def test_a_refused_connection_names_the_url_on_the_async_path(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, port = _refused_hook(monkeypatch, "kling_arefused")
    with pytest.raises(KlingServerError) as info:
        await hook.aget_task("t1")  # through the pooled aiohttp session
    assert f"http://127.0.0.1:{port}/api/v1/statusTask/kling-2-6" in str(info.value)
    assert info.value.request_rejected


def test_cancel_on_kill_says_what_the_cancel_did_and_never_raises(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hook, _ = make_hook(monkeypatch, "apixo")  # no cancel: the job renders on and is billed
    said = logging.getLogger("test.on_kill")
    with caplog.at_level(logging.WARNING, logger="test.on_kill"):
        hook.cancel_on_kill("t1", None, said)

        def broken(*args: Any) -> Any:
            raise KlingServerError("gateway down")

        monkeypatch.setattr(hook, "cancel_task", broken)
        hook.cancel_on_kill("t2", None, said)  # does not raise
    lines = [r.getMessage() for r in caplog.records if r.name == "test.on_kill"]
    assert lines[0].startswith("Task stopped: ") and "t1" in lines[0]
    assert lines[1] == "Could not cancel Kling job t2: gateway down"


async def test_acancel_on_kill_says_who_stopped_the_task(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from airflow_provider_kling.gateways.base import CancelOutcome

    hook, _ = make_hook(monkeypatch, "apixo")
    asked: list[Any] = []

    async def cancelled(*args: Any) -> CancelOutcome:
        asked.append(args)
        return CancelOutcome("t1", True, False, "job t1 cancelled before any cost")

    monkeypatch.setattr(hook, "acancel_task", cancelled)
    with caplog.at_level(logging.WARNING, logger="test.on_kill"):
        await hook.acancel_on_kill("t1", "text2video", TaskState.QUEUED, logging.getLogger("test.on_kill"))
    assert asked == [("t1", "text2video", TaskState.QUEUED)]
    assert [r.getMessage() for r in caplog.records if r.name == "test.on_kill"] == [
        "Task stopped by a user: job t1 cancelled before any cost"
    ]
