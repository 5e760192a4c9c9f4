"""While a clip renders, every wait says how long and how many polls, and ends with one clear line."""

from __future__ import annotations

import logging
import re
import time

import pytest

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import VideoRequest, VideoTask
from airflow_provider_kling.polling import PollSchedule
from airflow_provider_kling.sensors.kling import KlingTaskSensor
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from tests.helpers import wait_until

FAST = PollSchedule(first_delay=0.1, interval=0.2, jitter=0.0)
PROMPT = "[latency:2] a kite over dunes"
PROGRESS = re.compile(r"Kling job \S+ is (queued|running) \(\d+ s, \d+ polls?\)")
FINAL = re.compile(r"Kling job (\S+) succeeded after \d+ s and (\d+) polls?$")


def submit() -> VideoTask:
    return KlingHook("kling_apixo").submit(VideoRequest(prompt=PROMPT))


def check(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], task_id: str) -> None:
    """Task and trigger loggers print through Airflow's structlog (stdout); the hook's reach caplog."""
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # Airflow 3.1 prints in colour
    printed = [m.group(1).rstrip() for m in re.finditer(r"\] (Kling job .*?) \[", out)]
    lines = [r.getMessage() for r in caplog.records if "Kling job" in r.getMessage()] + printed
    assert any(PROGRESS.fullmatch(line) for line in lines), lines
    finals = [m for m in map(FINAL.match, lines) if m]
    assert len(finals) == 1 and finals[0].group(1) == task_id and int(finals[0].group(2)) >= 2, lines
    assert not any("is succeeded" in line for line in lines)


def test_worker_wait_logs_progress(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    task = submit()
    KlingHook("kling_apixo").wait_for_task(task, timeout=30, schedule=FAST)
    check(caplog, capsys, task.task_id)


async def test_trigger_logs_progress(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    task = submit()
    trig = KlingTaskTrigger(
        kling_conn_id="kling_apixo",
        kling_task_id=task.task_id,
        poll_schedule=FAST.to_dict(),
        deadline=time.time() + 30,
        not_before=time.time(),
    )
    assert [e.payload["status"] async for e in trig.run()] == ["success"]
    check(caplog, capsys, task.task_id)


def test_sensor_logs_progress(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    task = submit()
    sensor = KlingTaskSensor(
        task_id="wait", kling_task_id=task.task_id, kling_conn_id="kling_apixo", deferrable=False
    )
    wait_until(lambda: sensor.poke({}), lambda r: r is not False, timeout=30, interval=0.2)
    check(caplog, capsys, task.task_id)
