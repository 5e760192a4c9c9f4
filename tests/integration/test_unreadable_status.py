"""Unreadable status answers (HTTP 200 with truncated JSON) count against each wait's failure budget.

A load balancer or a gateway mid-deploy answers garbage for a few seconds; that is no reason to end
the wait (the job is fine), but garbage that never stops is. The same rule in all three wait paths:
the worker wait, the trigger, and the sensor. Connections here do not retry inside the hook
(``max_retries=0``), so every unreadable answer reaches the wait's budget.

When it keeps coming, the wait ends with a *retryable* error, like a 5xx: reading a job's state is
idempotent, so an Airflow retry (which re-attaches to the same job) is allowed, not refused.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_kling._airflow import AirflowFailException
from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.exceptions import KlingProtocolError
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import TaskState
from airflow_provider_kling.polling import PollSchedule
from airflow_provider_kling.sensors.kling import KlingTaskSensor
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from tests.helpers import wait_until
from tests.integration.conftest import connection, submit

FAST = PollSchedule(first_delay=0.1, interval=0.2, jitter=0.0)
GARBLED_TWICE = "[fault:status-malformedx2] [latency:0.5] a lighthouse at dusk"
GARBLED_ALWAYS = "[fault:status-malformed] [latency:0.5] a lighthouse in fog"


# ------------------------------------------------------------------------------------ worker wait
def test_worker_wait_survives_a_few_unreadable_answers(strict_conn: str) -> None:
    hook = KlingHook(strict_conn)
    task = submit(strict_conn, GARBLED_TWICE)
    done = hook.wait_for_task(task, timeout=30, schedule=FAST, failure_budget=3)
    assert done.state is TaskState.SUCCEEDED and done.video_urls


def test_worker_wait_gives_up_when_they_keep_coming(strict_conn: str) -> None:
    hook = KlingHook(strict_conn)
    task = submit(strict_conn, GARBLED_ALWAYS)
    with pytest.raises(KlingProtocolError) as info:
        hook.wait_for_task(task, timeout=30, schedule=FAST, failure_budget=2)
    assert info.value.retryable is True


# ------------------------------------------------------------------------------- one status read
def test_an_unreadable_status_answer_is_retryable_like_a_5xx(
    strict_conn: str, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``get_task`` after the hook's own retries (here 1) ends with a retryable error, not a final one;
    the same on the async path."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_KLING_ONERETRY", json.dumps(connection(emulator.url, "apixo", max_retries=1))
    )
    task = submit(strict_conn, GARBLED_ALWAYS)
    for conn_id in (strict_conn, "kling_oneretry"):
        hook = KlingHook(conn_id)
        hook.retry_sleep = lambda seconds: None  # type: ignore[method-assign]
        with pytest.raises(KlingProtocolError) as info:
            hook.get_task(task)
        assert info.value.retryable is True, conn_id
        assert info.value.status_code == 200 and info.value.gateway == "apixo"


async def test_an_unreadable_status_answer_is_retryable_on_the_async_path(strict_conn: str) -> None:
    task = submit(strict_conn, GARBLED_ALWAYS)
    with pytest.raises(KlingProtocolError) as info:
        await KlingHook(strict_conn).aget_task(task)
    assert info.value.retryable is True


# ---------------------------------------------------------------------------------------- trigger
async def trigger_events(conn_id: str, task_id: str, budget: int) -> list[dict[str, Any]]:
    trig = KlingTaskTrigger(
        kling_conn_id=conn_id,
        kling_task_id=task_id,
        poll_schedule=FAST.to_dict(),
        deadline=time.time() + 30,
        not_before=time.time(),
        failure_budget=budget,
    )
    return [event.payload async for event in trig.run()]


async def test_trigger_survives_a_few_unreadable_answers(strict_conn: str) -> None:
    task = submit(strict_conn, GARBLED_TWICE)
    got = await trigger_events(strict_conn, task.task_id, budget=3)
    assert [e["status"] for e in got] == ["success"]


async def test_trigger_gives_up_when_they_keep_coming(strict_conn: str) -> None:
    task = submit(strict_conn, GARBLED_ALWAYS)
    got = await trigger_events(strict_conn, task.task_id, budget=2)
    assert len(got) == 1 and got[0]["status"] == "error" and got[0]["error"]["kind"] == "protocol"
    assert got[0]["error"]["retryable"] is True


# ----------------------------------------------------------------------------------------- sensor
def sensor(conn_id: str, task_id: str, budget: int) -> KlingTaskSensor:
    return KlingTaskSensor(
        task_id="wait",
        kling_task_id=task_id,
        kling_conn_id=conn_id,
        deferrable=False,
        poke_interval=0.2,
        failure_budget=budget,
    )


def test_sensor_survives_a_few_unreadable_answers(strict_conn: str) -> None:
    task = submit(strict_conn, GARBLED_TWICE)
    poking = sensor(strict_conn, task.task_id, budget=3)
    result = wait_until(lambda: poking.poke({}), lambda r: r is not False, timeout=30, interval=0.2)
    assert result.is_done and result.xcom_value["state"] == "succeeded"  # type: ignore[union-attr]


def test_sensor_gives_up_when_they_keep_coming(strict_conn: str) -> None:
    task = submit(strict_conn, GARBLED_ALWAYS)
    poking = sensor(strict_conn, task.task_id, budget=2)
    with pytest.raises(AirflowException, match="gateway=apixo") as info:
        wait_until(lambda: poking.poke({}), lambda r: r is not False, timeout=30, interval=0.2)
    assert not isinstance(info.value, AirflowFailException)  # retried by Airflow, like a 5xx
