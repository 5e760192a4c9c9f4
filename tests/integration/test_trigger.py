"""KlingTaskTrigger against the emulator: one event, the failure budget, Retry-After, the shared client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.hooks._transport import ASYNC_POOL
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.polling import PollSchedule
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from tests.conftest import TEST_API_KEY
from tests.integration.conftest import KLING_SECRET_KEY, connection, submit

FAST = PollSchedule(first_delay=0.2, interval=0.2, jitter=0.1).to_dict()


def trigger(conn_id: str, task_id: str, endpoint: str | None = None, **kw: Any) -> KlingTaskTrigger:
    return KlingTaskTrigger(
        kling_conn_id=conn_id,
        kling_task_id=task_id,
        endpoint=endpoint,
        poll_schedule=FAST,
        deadline=kw.pop("deadline", time.time() + 60),
        not_before=time.time(),
        **kw,
    )


async def events(trig: KlingTaskTrigger) -> list[dict[str, Any]]:
    return [event.payload async for event in trig.run()]


def test_serialize_round_trip_has_no_secret(emulator: EmulatorServer) -> None:
    trig = trigger("kling_kling", "123", "image2video", failure_budget=3)
    path, kwargs = trig.serialize()
    assert path == "airflow_provider_kling.triggers.kling.KlingTaskTrigger"
    again = KlingTaskTrigger(**kwargs)
    assert again.serialize() == (path, kwargs)
    blob = json.dumps(kwargs) + repr(trig) + repr(again)
    assert TEST_API_KEY not in blob and KLING_SECRET_KEY not in blob
    assert set(kwargs) == {
        "kling_conn_id",
        "kling_task_id",
        "endpoint",
        "poll_schedule",
        "deadline",
        "not_before",
        "failure_budget",
        "end_task",
    }


@pytest.mark.parametrize("gateway", ["kling", "runware", "kie"])
async def test_success_yields_exactly_one_event(emulator: EmulatorServer, gateway: str) -> None:
    task = submit(f"kling_{gateway}", "A quiet forest")
    got = await events(trigger(f"kling_{gateway}", task.task_id, task.endpoint))
    assert len(got) == 1 and got[0]["status"] == "success"
    assert got[0]["task"]["task_id"] == task.task_id and got[0]["task"]["video_urls"]
    assert "raw" not in got[0]["task"]


async def test_failed_job_yields_the_typed_error(emulator: EmulatorServer) -> None:
    task = submit("kling_apixo", "[fault:policy-task] nope")
    got = await events(trigger("kling_apixo", task.task_id))
    assert len(got) == 1 and got[0]["status"] == "error"
    assert got[0]["error"]["kind"] == "content_policy" and got[0]["error"]["gateway"] == "apixo"
    assert got[0]["error"]["code"] == "SensitiveContentDetected"


async def test_deadline_in_the_past_times_out_without_polling(emulator: EmulatorServer) -> None:
    before = emulator.counters()["status_calls"]["apixo"]
    got = await events(trigger("kling_apixo", "whatever", deadline=time.time() - 1))
    assert [e["status"] for e in got] == ["timeout"]
    assert emulator.counters()["status_calls"]["apixo"] == before


async def test_transient_errors_within_the_budget_are_survived(
    emulator: EmulatorServer, strict_conn: str
) -> None:
    task = submit(strict_conn, "[fault:status-503x2] a calm sea")
    got = await events(trigger(strict_conn, task.task_id, failure_budget=3))
    assert [e["status"] for e in got] == ["success"]


async def test_transient_errors_beyond_the_budget_fail(emulator: EmulatorServer, strict_conn: str) -> None:
    task = submit(strict_conn, "[fault:status-503x5] a stormy sea")
    got = await events(trigger(strict_conn, task.task_id, failure_budget=2))
    assert len(got) == 1 and got[0]["status"] == "error"
    assert got[0]["error"]["kind"] == "server" and got[0]["error"]["retryable"] is True


async def test_retry_after_is_honoured(emulator: EmulatorServer, strict_conn: str) -> None:
    task = submit(strict_conn, "[fault:status-429x1] [latency:0.2] a bird")
    started = time.monotonic()
    got = await events(trigger(strict_conn, task.task_id))
    assert [e["status"] for e in got] == ["success"]
    assert time.monotonic() - started >= 1.0  # the emulator's Retry-After: 1


async def test_many_triggers_share_one_client(emulator: EmulatorServer) -> None:
    tasks = [submit("kling_rivya", f"Crowd shot {i}") for i in range(12)]
    seen: list[int] = []

    async def watch() -> None:
        while len(seen) < 50:
            seen.append(ASYNC_POOL.active())
            await asyncio.sleep(0.02)

    watcher = asyncio.create_task(watch())
    results = await asyncio.gather(*(events(trigger("kling_rivya", t.task_id)) for t in tasks))
    watcher.cancel()
    assert all(r[0]["status"] == "success" for r in results)
    assert max(seen) == 1
    assert ASYNC_POOL.active() == 0  # closed when the last trigger finished


@pytest.fixture
def echo_gateway(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str, dict[str, Any]], str]]:
    """A loopback gateway answering every request with one JSON body; ``serve(gateway, body)`` gives
    the id of a connection of ``gateway`` on it (no retries)."""
    answer: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def serve(gateway: str, body: dict[str, Any]) -> str:
        answer.clear()
        answer.update(body)
        conn = connection(f"http://127.0.0.1:{server.server_port}", gateway, max_retries=0)
        monkeypatch.setenv(f"AIRFLOW_CONN_KLING_ECHO_{gateway.upper()}", json.dumps(conn))
        return f"kling_echo_{gateway}"

    try:
        yield serve
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


#: a failed job whose failure text quotes the key back, in APIXO's and kie.ai's shapes
KEY_ECHOES = {
    "apixo": {
        "code": 200,
        "message": "success",
        "data": {
            "taskId": "t1",
            "state": "failed",
            "failCode": "500",
            "failMsg": f"rejected Bearer {TEST_API_KEY}",
        },
    },
    "kie": {
        "code": 200,
        "msg": "success",
        "data": {"taskId": "t1", "state": "fail", "failCode": "500", "failMsg": f"bad key {TEST_API_KEY}"},
    },
}


@pytest.mark.parametrize("gateway", sorted(KEY_ECHOES))
async def test_a_failure_text_echoing_the_key_stays_out_of_the_error_event(
    echo_gateway: Callable[[str, dict[str, Any]], str], gateway: str
) -> None:
    """Both parts of the error event (stored in the trigger and task-instance rows) are scrubbed: the
    typed error and the job's dump (its failure code and message)."""
    got = await events(trigger(echo_gateway(gateway, KEY_ECHOES[gateway]), "t1"))
    assert [e["status"] for e in got] == ["error"]
    assert "***" in got[0]["error"]["message"] and "***" in got[0]["task"]["error_message"]
    assert TEST_API_KEY not in json.dumps(got)


async def test_a_success_answer_quoting_the_key_elsewhere_stays_out_of_the_event(
    echo_gateway: Callable[[str, dict[str, Any]], str],
) -> None:
    """The success event carries the job's dump without ``raw`` (the answer as it came)."""
    body = {
        "code": 200,
        "message": f"ok for {TEST_API_KEY}",
        "data": {
            "taskId": "t1",
            "state": "success",
            "failMsg": f"key {TEST_API_KEY}",
            "resultJson": json.dumps({"resultUrls": ["https://r2.apixo.ai/v.mp4"]}),
        },
    }
    got = await events(trigger(echo_gateway("apixo", body), "t1"))
    assert [e["status"] for e in got] == ["success"] and got[0]["task"]["video_urls"]
    assert TEST_API_KEY not in json.dumps(got)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"poll_schedule": {"bogus": 1}}, "poll_schedule"),
        ({"poll_schedule": {"first_delay": -1, "interval": 1}}, "poll_schedule"),
        ({"poll_schedule": {"first_delay": 0, "interval": float("nan")}}, "poll_schedule"),
        ({"poll_schedule": {"first_delay": 0, "interval": 1, "window": float("inf")}}, "poll_schedule"),
        ({"poll_schedule": "every second"}, "poll_schedule"),
        ({"failure_budget": "x"}, "failure_budget"),
        ({"failure_budget": -1}, "failure_budget"),
        ({"deadline": "tomorrow"}, "deadline"),
        ({"deadline": float("nan")}, "deadline"),
        ({"not_before": "soon"}, "not_before"),
        ({"kling_task_id": None}, "kling_task_id"),
        ({"end_task": "yes"}, "end_task"),
    ],
    ids=[
        "schedule-without-delays",
        "negative-first-delay",
        "nan-interval",
        "infinite-window",
        "schedule-not-a-dict",
        "budget-not-a-number",
        "negative-budget",
        "deadline-not-a-number",
        "nan-deadline",
        "not-before-not-a-number",
        "no-task-id",
        "end-task-not-a-dict",
    ],
)
async def test_trigger_kwargs_that_cannot_work_end_with_one_error_event(
    kwargs: dict[str, Any], named: str
) -> None:
    """Kwargs come back from the database: whatever they hold, ``run`` ends with one typed error
    event naming the argument (no exception out of ``run``, no wait without end); nothing is polled."""
    given = {
        "kling_conn_id": "kling_missing_conn",
        "kling_task_id": "t1",
        "deadline": time.time() + 60,
        "poll_schedule": FAST,
        **kwargs,
    }
    got = await asyncio.wait_for(events(KlingTaskTrigger(**given)), 5)
    assert [e["status"] for e in got] == ["error"]
    assert got[0]["error"]["kind"] == "validation" and got[0]["error"]["retryable"] is False
    assert (
        got[0]["error"]["message"].startswith(f"{named}=")
        and "KlingTaskTrigger" in got[0]["error"]["message"]
    )


async def test_trigger_nan_delays_are_read_as_no_delay(emulator: EmulatorServer) -> None:
    task = submit("kling_kie", "[latency:0.8] A quiet forest")  # a few polls: the window is read
    nan = float("nan")
    trig = KlingTaskTrigger(
        kling_conn_id="kling_kie",
        kling_task_id=task.task_id,
        endpoint=task.endpoint,
        poll_schedule={"first_delay": nan, "interval": 0.2, "jitter": 0.1, "window": nan},
        deadline=time.time() + 30,
        not_before=nan,
    )
    got = await asyncio.wait_for(events(trig), 10)
    assert [e["status"] for e in got] == ["success"]


async def test_unknown_connection_yields_an_error_event() -> None:
    got = await events(trigger("kling_missing_conn", "t"))
    assert (
        len(got) == 1 and got[0]["status"] == "error" and "kling_missing_conn" in got[0]["error"]["message"]
    )


def test_async_pool_hands_out_an_aiohttp_session(emulator: EmulatorServer) -> None:
    async def check() -> type:
        async with ASYNC_POOL.lease("k", True, 5.0) as shell:
            return type(shell.session)

    assert asyncio.run(check()).__name__ == "ClientSession"


async def test_pooled_fast_path_maps_transport_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the shared aiohttp session: a refused connection is a retryable, never-sent error."""
    import socket

    from airflow_provider_kling.exceptions import KlingServerError

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    conn = connection(f"http://127.0.0.1:{port}", "apixo", max_retries=0)
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DOWN", json.dumps(conn))
    hook = KlingHook("kling_down")
    settings = await hook.aresolve()
    async with ASYNC_POOL.lease(hook.pool_key, settings.verify, settings.timeout) as shell:
        with pytest.raises(KlingServerError) as info:
            await hook.aget_task("t1", client=shell)
    assert info.value.request_rejected and info.value.retryable


async def test_concurrent_leases_build_one_client(emulator: EmulatorServer) -> None:
    clients = []

    async def lease_once() -> None:
        async with ASYNC_POOL.lease("single-flight", True, 5.0) as client:
            clients.append(client)
            await asyncio.sleep(0.05)

    await asyncio.gather(*(lease_once() for _ in range(20)))
    assert len({id(c) for c in clients}) == 1
    assert ASYNC_POOL.active() == 0


async def test_default_schedule_follows_the_render_times_seen_for_the_connection(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow_provider_kling.polling import ObservedRenderTimes
    from airflow_provider_kling.triggers import kling as trigger_module

    seen = ObservedRenderTimes()
    monkeypatch.setattr(trigger_module, "RENDER_TIMES_SEEN", seen)
    for _ in range(5):  # this connection's 5 s clips took about a second
        seen.record("kling_kling/kling-2.6/5", 1.0)
    task = submit("kling_kling", "A paper boat")
    schedule = PollSchedule.for_duration(5)  # the default: first poll at 60 s
    assert schedule.first_delay == 60.0
    now = time.time()
    trig = KlingTaskTrigger(
        kling_conn_id="kling_kling",
        kling_task_id=task.task_id,
        endpoint=task.endpoint,
        poll_schedule=schedule.to_dict(),
        deadline=now + 120,
        not_before=now + schedule.first_delay,
    )
    got = await asyncio.wait_for(events(trig), timeout=45)
    assert [e["status"] for e in got] == ["success"]
    assert time.time() - now < 45  # polled at the observed time, not at 60 s
    # the gateway's own created/finished times of this job were recorded for the next one
    assert len(seen._seen["kling_kling/kling-2.6/5"]) == 6
