"""A capacity refusal is a wait, not a failure: each gateway's refusal, the operator's two waits, the timeout.

The session emulator gets a concurrency limit of 1 per key for each test (``POST /_emulator/limits``)
and a blocking job holds that slot; the operator then meets a real refusal on the wire.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from airflow.exceptions import TaskDeferred
from airflow.sdk.exceptions import AirflowException

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.exceptions import KlingRateLimitError
from airflow_provider_kling.gateways import GATEWAY_NAMES
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import TaskState
from airflow_provider_kling.operators import kling as operator_module
from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.triggers import capacity as capacity_module
from airflow_provider_kling.triggers.capacity import COORDINATOR, KlingCapacityTrigger
from tests.conftest import TEST_API_KEY
from tests.helpers import wait_until
from tests.integration.conftest import KLING_SECRET_KEY, counters

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def one_slot(emulator: EmulatorServer) -> Iterator[EmulatorServer]:
    httpx.post(f"{emulator.url}/_emulator/limits", json={"concurrency": 1}, timeout=10).raise_for_status()
    try:
        yield emulator
    finally:
        httpx.post(f"{emulator.url}/_emulator/limits", json={"concurrency": 0}, timeout=10).raise_for_status()


def _context(task_id: str) -> dict[str, Any]:
    pushed: dict[str, Any] = {}
    ti = SimpleNamespace(
        dag_id="capacity",
        run_id=f"run-{time.time_ns()}",
        task_id=task_id,
        map_index=-1,
        try_number=1,
        xcom_push=lambda key, value: pushed.__setitem__(key, value),
        pushed=pushed,
    )
    return {"ti": ti}


def _block(gateway: str, seconds: float) -> None:
    """Take the only slot of the key with a job of ``seconds`` (once an earlier test's job has ended)."""
    emulator_url = KlingHook(f"kling_{gateway}").settings.base_url
    wait_until(
        lambda: httpx.get(f"{emulator_url}/_emulator/counters", timeout=10).json()["in_flight"][gateway],
        lambda in_flight: in_flight == 0,
        timeout=15,
    )
    hook = KlingHook(f"kling_{gateway}")
    hook.submit(hook.make_request(prompt=f"[latency:{seconds}] holds the only slot"))


def _operator(task_id: str, prompt: str, gateway: str, **kwargs: Any) -> KlingGenerateOperator:
    """The operator under test, on the ``kling_<gateway>`` connection."""
    return KlingGenerateOperator(task_id=task_id, prompt=prompt, kling_conn_id=f"kling_{gateway}", **kwargs)


#: Gateways that queue a submit over the account's limit instead of refusing it (fal): a wait.
QUEUEING = ("fal",)


@pytest.mark.parametrize("gateway", [g for g in GATEWAY_NAMES if g not in QUEUEING])
def test_every_gateway_refusal_is_a_typed_rejected_rate_limit(one_slot: EmulatorServer, gateway: str) -> None:
    _block(gateway, 2)
    before = counters(one_slot)
    hook = KlingHook(f"kling_{gateway}")
    with pytest.raises(KlingRateLimitError) as info:
        hook.submit(hook.make_request(prompt="refused: no slot"), resend_refused=False)
    err = info.value
    assert err.request_rejected and err.retryable and err.retry_after is not None and err.retry_after >= 1
    after = counters(one_slot)
    assert after["refused"][gateway] == before["refused"][gateway] + 1  # raised at once: one refusal
    assert after["accepted"][gateway] == before["accepted"][gateway]


@pytest.mark.parametrize("gateway", QUEUEING)
def test_a_queueing_gateway_accepts_over_the_limit_and_the_job_waits_queued(
    one_slot: EmulatorServer, gateway: str
) -> None:
    _block(gateway, 2)
    before = counters(one_slot)
    hook = KlingHook(f"kling_{gateway}")
    task = hook.submit(hook.make_request(prompt="queued: no slot"), resend_refused=False)
    status = hook.get_task(task.task_id, task.endpoint)
    assert status.state is TaskState.QUEUED and status.queue_position is not None
    after = counters(one_slot)
    assert after["refused"][gateway] == before["refused"][gateway]
    assert after["accepted"][gateway] == before["accepted"][gateway] + 1


def test_in_worker_wait_submits_again_once_a_slot_frees(
    one_slot: EmulatorServer, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(seconds)

    monkeypatch.setattr(operator_module, "_sleep", sleep)
    _block("apixo", 2)
    before = counters(one_slot)
    op = _operator("in_worker", "[latency:0.5] waits in the worker", "apixo", deferrable=False)
    context = _context("in_worker")
    result = op.execute(context)  # type: ignore[arg-type]
    after = counters(one_slot)
    assert result["state"] == "succeeded" and result["video_urls"]
    assert after["accepted"]["apixo"] == before["accepted"]["apixo"] + 1
    refusals = after["refused"]["apixo"] - before["refused"]["apixo"]
    assert refusals >= 1 and len(waits) == refusals
    # Retry-After (1-2 s) is honoured but capped at the connection's poll interval (0.3 s here).
    assert all(0 < w <= 0.3 for w in waits), waits
    out, err = capfd.readouterr()  # the task logger (structlog) writes to the process's output
    assert "Waiting for capacity at gateway apixo (1 refusal so far, next try in" in out + err


def test_timeout_while_waiting_says_how_long_and_how_many(
    one_slot: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(operator_module, "_sleep", time.sleep)
    _block("kie", 4)
    op = _operator("times_out", "never gets a slot", "kie", deferrable=False, timeout=1.0)
    with pytest.raises(AirflowException, match=r"waited \d+ s for capacity, \d+ refusals?") as info:
        op.execute(_context("times_out"))  # type: ignore[arg-type]
    assert "no capacity before the task's timeout" in str(info.value)


def test_deferrable_wait_defers_to_the_capacity_trigger_and_resumes(
    one_slot: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(capacity_module, "CAPACITY_MIN_DEFER", 0.2)
    _block("rivya", 1.5)
    before = counters(one_slot)
    op = _operator("deferred", "[latency:0.5] waits deferred", "rivya", deferrable=True)
    context = _context("deferred")
    with pytest.raises(TaskDeferred) as info:
        op.execute(context)  # type: ignore[arg-type]
    deferred = info.value
    assert deferred.method_name == "execute_after_capacity"
    trigger = deferred.trigger
    assert isinstance(trigger, KlingCapacityTrigger) and trigger.refusals == 1
    classpath, kwargs = trigger.serialize()
    assert classpath.endswith("KlingCapacityTrigger")
    assert set(kwargs) == {
        "kling_conn_id",
        "deadline",
        "waiting_since",
        "refusals",
        "next_delay",
        "poll_interval",
    }
    assert TEST_API_KEY not in repr(kwargs) and KLING_SECRET_KEY not in repr(kwargs)

    async def first_event() -> dict[str, Any]:
        async for event in KlingCapacityTrigger(**kwargs).run():
            return dict(event.payload)
        raise AssertionError("no event")

    time.sleep(1.6)  # the blocking job ends (the emulator frees its slot)
    event = asyncio.run(first_event())
    assert event["status"] == "capacity" and event["refusals"] == 1
    with pytest.raises(TaskDeferred) as resumed:
        op.execute_after_capacity(context, event)  # type: ignore[arg-type]
    assert resumed.value.method_name == "execute_complete"  # submitted: now waiting for the job
    after = counters(one_slot)
    assert after["accepted"]["rivya"] == before["accepted"]["rivya"] + 1
    assert context["ti"].pushed["kling_task_id"]


def test_capacity_timeout_event_fails_the_task_with_the_counts() -> None:
    op = _operator("t", "x", "kling", deferrable=True)
    event = {
        "status": "timeout",
        "message": "no capacity before the task's timeout: waited 60 s for capacity, 7 refusals",
    }
    with pytest.raises(AirflowException, match="waited 60 s for capacity, 7 refusals"):
        op.execute_after_capacity(_context("t"), event)  # type: ignore[arg-type]


async def test_a_freed_slot_wakes_the_oldest_waiter_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capacity_module, "CAPACITY_MIN_DEFER", 0.0)
    now = time.time()

    def trigger(since: float) -> KlingCapacityTrigger:
        return KlingCapacityTrigger(
            kling_conn_id="kling_wake", deadline=now + 30, waiting_since=since, refusals=3, next_delay=20
        )

    async def first(t: KlingCapacityTrigger) -> dict[str, Any]:
        async for event in t.run():
            return dict(event.payload)
        raise AssertionError("no event")

    young = asyncio.ensure_future(first(trigger(now - 1)))
    old = asyncio.ensure_future(first(trigger(now - 10)))
    for _ in range(50):
        if COORDINATOR.waiting("kling_wake") == 2:
            break
        await asyncio.sleep(0.01)
    assert COORDINATOR.slot_freed("kling_wake")
    event = await asyncio.wait_for(old, 2)
    assert event["status"] == "capacity" and event["reason"] == "a slot was freed"
    assert not young.done()
    assert COORDINATOR.slot_freed("kling_wake")
    assert (await asyncio.wait_for(young, 2))["waiting_since"] == pytest.approx(now - 1)
    assert COORDINATOR.waiting("kling_wake") == 0


async def test_a_woken_waiter_still_waits_out_the_minimum_deferral(monkeypatch: pytest.MonkeyPatch) -> None:
    """Airflow 3.3 fails a task whose trigger fires before the scheduler saw it defer (measured 1.2 s)."""
    monkeypatch.setattr(capacity_module, "CAPACITY_MIN_DEFER", 0.6)
    started = time.monotonic()
    trigger = KlingCapacityTrigger(
        kling_conn_id="kling_min",
        deadline=time.time() + 30,
        waiting_since=time.time(),
        refusals=1,
        next_delay=0,
    )

    async def first() -> dict[str, Any]:
        async for event in trigger.run():
            return dict(event.payload)
        raise AssertionError("no event")

    pending = asyncio.ensure_future(first())
    for _ in range(50):
        if COORDINATOR.waiting("kling_min"):
            break
        await asyncio.sleep(0.01)
    assert COORDINATOR.slot_freed("kling_min")
    event = await asyncio.wait_for(pending, 3)
    assert event["reason"] == "a slot was freed"
    assert time.monotonic() - started >= 0.6


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"deadline": "x"}, "deadline"),
        ({"deadline": float("nan")}, "deadline"),
        ({"waiting_since": None}, "waiting_since"),
        ({"refusals": -1}, "refusals"),
        ({"refusals": "many"}, "refusals"),
        ({"next_delay": "soon"}, "next_delay"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": float("inf")}, "poll_interval"),
    ],
    ids=[
        "deadline-not-a-number",
        "nan-deadline",
        "no-waiting-since",
        "negative-refusals",
        "refusals-not-a-number",
        "delay-not-a-number",
        "zero-interval",
        "infinite-interval",
    ],
)
async def test_capacity_trigger_kwargs_that_cannot_work_end_with_one_error_event(
    kwargs: dict[str, Any], named: str
) -> None:
    given = {
        "kling_conn_id": "kling_bad",
        "deadline": time.time() + 30,
        "waiting_since": time.time(),
        "refusals": 1,
        "next_delay": 1.0,
        **kwargs,
    }
    got = await asyncio.wait_for(_all_events(KlingCapacityTrigger(**given)), 5)
    assert [e["status"] for e in got] == ["error"]
    assert got[0]["error"]["kind"] == "validation" and got[0]["error"]["message"].startswith(f"{named}=")
    assert COORDINATOR.waiting("kling_bad") == 0
    op = _operator("t", "x", "kling", deferrable=True)  # the operator fails the task with it, no retry
    with pytest.raises(AirflowException, match=named):
        op.execute_after_capacity(_context("t"), got[0])  # type: ignore[arg-type]


async def test_capacity_trigger_nan_next_delay_is_read_as_no_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    """A NaN delay used to make the wait never end, even past its deadline."""
    monkeypatch.setattr(capacity_module, "CAPACITY_MIN_DEFER", 0.0)
    trigger = KlingCapacityTrigger(
        kling_conn_id="kling_nan",
        deadline=time.time() + 30,
        waiting_since=time.time(),
        refusals=1,
        next_delay=float("nan"),
    )
    got = await asyncio.wait_for(_all_events(trigger), 3)
    assert [(e["status"], e["reason"]) for e in got] == [("capacity", "backoff")]


async def test_capacity_trigger_after_very_many_refusals_still_waits() -> None:
    trigger = KlingCapacityTrigger(
        kling_conn_id="kling_many",
        deadline=time.time() - 1,
        waiting_since=time.time() - 3600,
        refusals=5000,
        next_delay=1.0,
    )
    got = await asyncio.wait_for(_all_events(trigger), 3)
    assert [e["status"] for e in got] == ["timeout"]


async def _all_events(trigger: KlingCapacityTrigger) -> list[dict[str, Any]]:
    return [dict(event.payload) async for event in trigger.run()]
