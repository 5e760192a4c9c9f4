"""While a clip renders, every wait says how long and how many polls, and ends with one clear line."""

from __future__ import annotations

import logging
import re
import time

import pytest

from airflow_provider_kling.defaults import PROGRESS_EVERY_POLLS, RESUME_GRACE
from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import VideoRequest, VideoTask
from airflow_provider_kling.polling import PollSchedule
from airflow_provider_kling.sensors.kling import KlingTaskSensor
from airflow_provider_kling.triggers.kling import KlingTaskTrigger
from tests.helpers import wait_until

FAST = PollSchedule(first_delay=0.1, interval=0.2, jitter=0.0)
PROMPT = "[latency:2] a kite over dunes"
PROGRESS = re.compile(r"Kling job \S+ is (queued|running) \(\d+ s, (\d+) polls?\)")
FINAL = re.compile(r"Kling job (\S+) succeeded after \d+ s and (\d+) polls?$")
RESUMED = re.compile(
    r"Kling job (\S+): resumed waiting after (\d+) s \(about (\d+) polls so far\), deadline in \d+ s"
)


def submit() -> VideoTask:
    return KlingHook("kling_apixo").submit(VideoRequest(prompt=PROMPT))


def kling_lines(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]) -> list[str]:
    """Task and trigger loggers print through Airflow's structlog (stdout); the hook's reach caplog."""
    out = re.sub(r"\x1b\[[0-9;]*m", "", capsys.readouterr().out)  # Airflow 3.1 prints in colour
    printed = [m.group(1).rstrip() for m in re.finditer(r"\] (.*?Kling job .*?) \[", out)]
    return [r.getMessage() for r in caplog.records if "Kling job" in r.getMessage()] + printed


def check(caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], task_id: str) -> list[str]:
    lines = kling_lines(caplog, capsys)
    assert any(PROGRESS.fullmatch(line) for line in lines), lines
    finals = [m for m in map(FINAL.match, lines) if m]
    assert len(finals) == 1 and finals[0].group(1) == task_id and int(finals[0].group(2)) >= 2, lines
    assert not any("is succeeded" in line for line in lines)
    return lines


def test_worker_wait_logs_progress(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    task = submit()
    KlingHook("kling_apixo").wait_for_task(task, timeout=30, schedule=FAST)
    check(caplog, capsys, task.task_id)


async def run_trigger(task_id: str, submitted: float, deadline: float, schedule: PollSchedule = FAST) -> None:
    """Run a trigger as the operator defers it for a job submitted at ``submitted`` (POSIX time)."""
    trig = KlingTaskTrigger(
        kling_conn_id="kling_apixo",
        kling_task_id=task_id,
        poll_schedule=schedule.to_dict(),
        deadline=submitted + deadline,
        not_before=submitted + schedule.first_delay,
    )
    assert [e.payload["status"] async for e in trig.run()] == ["success"]


def first_lines(lines: list[str]) -> list[str]:
    """The lines a trigger's run starts with (fresh or resumed)."""
    return [line for line in lines if "Waiting for" in line or "resumed" in line]


async def test_trigger_logs_progress(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.INFO)
    # A first delay of 2 s (a 4 s job): the trigger starts before its first poll is due however
    # busy the machine, and the job still runs then.
    task = KlingHook("kling_apixo").submit(VideoRequest(prompt="[latency:4] a kite over dunes"))
    later = PollSchedule(first_delay=2.0, interval=FAST.interval, jitter=0.0)
    await run_trigger(task.task_id, time.time(), deadline=30, schedule=later)
    lines = check(caplog, capsys, task.task_id)
    begins = first_lines(lines)
    assert len(begins) == 1, lines
    fresh = re.fullmatch(
        rf"Waiting for Kling job {task.task_id}: first poll in [12] s, deadline in \d+ s", begins[0]
    )
    assert fresh, lines


async def test_trigger_logs_progress_every_few_polls(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A long render is not one "running" line and then silence: every PROGRESS_EVERY_POLLS polls
    the state is logged again with elapsed time and polls."""
    caplog.set_level(logging.INFO)
    task = KlingHook("kling_apixo").submit(VideoRequest(prompt="[latency:4] a slow kite"))
    await run_trigger(task.task_id, time.time(), deadline=60)
    lines = check(caplog, capsys, task.task_id)
    progress = [(m.group(1), int(m.group(2))) for m in map(PROGRESS.fullmatch, lines) if m]
    pairs = zip(progress[1:], progress, strict=False)
    repeated = [polls for (state, polls), (before, _) in pairs if state == before]
    assert repeated and all(polls % PROGRESS_EVERY_POLLS == 0 for polls in repeated), lines


async def test_resumed_trigger_says_so(
    emulator: EmulatorServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """A trigger re-created by another triggerer (its kwargs as the task deferred them, first poll
    long past) says it resumed, since when and about how many polls, and keeps counting from there."""
    caplog.set_level(logging.INFO)
    task = submit()
    await run_trigger(task.task_id, time.time() - RESUME_GRACE - 2.0, deadline=60)
    lines = check(caplog, capsys, task.task_id)
    begins = first_lines(lines)
    resumed = RESUMED.fullmatch(begins[0])
    assert len(begins) == 1 and resumed and resumed.group(1) == task.task_id, lines
    assert int(resumed.group(2)) >= RESUME_GRACE + 2 and int(resumed.group(3)) >= RESUME_GRACE / FAST.interval
    final = next(m for m in map(FINAL.match, lines) if m)
    assert int(final.group(2)) > int(resumed.group(3)), lines


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
