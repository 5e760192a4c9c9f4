"""fal and Replicate through the operator in ``dag.test()`` on the emulator: Kling 3.0 on both and
Kling 4.0 on fal render and download (an MP4 of the requested length), the hook's cancel stops a
queued fal request before any cost, and the operator warns when Replicate's outputs would expire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.utils.state import DagRunState

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import TaskState, VideoRequest
from tests.helpers import wait_until
from tests.integration.conftest import connection
from tests.integration.dagrun import run_dag, xcom

pytestmark = pytest.mark.usefixtures("airflow_db")
DAGS = "kling_host_dags"


@pytest.fixture
def hosts(emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``kling_fal_30``, ``kling_fal_40`` and ``kling_replicate_30`` on the emulator; the downloads."""
    for conn_id, gateway, model in (
        ("kling_fal_30", "fal", "kling-3.0"),
        ("kling_fal_40", "fal", "kling-4.0"),
        ("kling_replicate_30", "replicate", "kling-3.0"),
    ):
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(connection(emulator.url, gateway, model=model))
        )
    monkeypatch.setenv("KLING_TEST_DOWNLOADS", str(tmp_path))
    return tmp_path


def emulated_job(emulator: EmulatorServer, task_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{emulator.url}/_emulator/jobs/{task_id}", timeout=10).json())


def mp4_seconds(path: Path) -> float:
    import av

    with av.open(str(path)) as container:
        assert container.duration is not None
        return float(container.duration) / 1_000_000


@pytest.mark.parametrize(
    ("dag_id", "gateway", "seconds", "family"),
    [
        ("fal_kling_30", "fal", 10, "fal-ai/kling-video/v3/pro/text-to-video"),
        ("replicate_kling_30", "replicate", 5, "kling-v3-video"),
        ("fal_kling_40", "fal", 10, "kling/v4/text-to-video"),
    ],
)
def test_a_clip_renders_and_downloads(
    emulator: EmulatorServer, hosts: Path, dag_id: str, gateway: str, seconds: int, family: str
) -> None:
    dr, tis = run_dag(DAGS, dag_id)
    assert dr.state == DagRunState.SUCCESS
    result = xcom(tis["render"])
    assert (result["gateway"], result["state"]) == (gateway, "succeeded")
    job = emulated_job(emulator, result["task_id"])
    assert (job["family"], job["billed"]) == (family, True)
    (download,) = result["downloads"]
    path = Path(download["path"])
    assert path.parent == hosts / dag_id and path.stat().st_size == download["size"] > 0
    assert mp4_seconds(path) == pytest.approx(seconds, abs=0.5)


@pytest.mark.parametrize("dag_id", ["fal_kling_40_20s", "fal_kling_40_20s_by_model"])
def test_kling_4_twenty_seconds_21_9_on_fal(emulator: EmulatorServer, hosts: Path, dag_id: str) -> None:
    """Kling 4.0's row takes 20 s and 21:9 (the connection's model, or the task's ``model``)."""
    dr, tis = run_dag(DAGS, dag_id)
    assert dr.state == DagRunState.SUCCESS
    result = xcom(tis["render"])
    job = emulated_job(emulator, result["task_id"])
    assert (job["family"], job["duration"], job["aspect_ratio"]) == ("kling/v4/text-to-video", 20, "21:9")
    (download,) = result["downloads"]
    assert mp4_seconds(Path(download["path"])) == pytest.approx(20, abs=0.5)


def test_replicate_without_download_to_warns_that_the_output_expires(
    hosts: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    dr, _tis = run_dag(DAGS, "replicate_no_download")
    assert dr.state == DagRunState.SUCCESS
    out, err = capfd.readouterr()
    assert "Gateway replicate deletes outputs 60 minutes after the job ends" in out + err
    dr, _tis = run_dag(DAGS, "replicate_kling_30")  # with download_to: no warning
    out, err = capfd.readouterr()
    assert "deletes outputs" not in out + err


def test_fal_cancel_removes_a_queued_request_before_any_cost(emulator: EmulatorServer, hosts: Path) -> None:
    limits = httpx.post(
        f"{emulator.url}/_emulator/limits", json={"concurrency": 1, "latency": 4.0}, timeout=10
    )
    assert limits.status_code == 200
    try:
        hook = KlingHook(kling_conn_id="kling_fal_30")
        running = hook.submit(VideoRequest(prompt="first in line"))
        queued = hook.submit(VideoRequest(prompt="second in line"))
        polled = hook.get_task(queued)
        assert polled.state is TaskState.QUEUED and polled.queue_position == 0
        outcome = hook.cancel_task(queued, last_state=polled.state)
        assert (outcome.stopped, outcome.billed) == (True, False)
        assert "before it started: not billed" in outcome.message
        job = emulated_job(emulator, queued.task_id)
        assert (job["phase"], job["cancel"], job["billed"]) == ("cancelled", "removed", False)
        # without knowing the last state, the hook asks fal and finds the job rendering: a signal only
        wait_until(lambda: emulated_job(emulator, running.task_id), lambda j: j["phase"] == "running")
        unknown = hook.cancel_task(running)
        assert (unknown.stopped, unknown.billed) == (False, True)
        assert "only a signal" in unknown.message
        assert emulated_job(emulator, running.task_id)["cancel"] == "signal"
    finally:
        httpx.post(f"{emulator.url}/_emulator/limits", json={"concurrency": 0, "latency": 1.0}, timeout=10)


def test_a_gateway_without_cancel_says_the_job_keeps_rendering(emulator: EmulatorServer) -> None:
    hook = KlingHook(kling_conn_id="kling_apixo")
    task = hook.submit(VideoRequest(prompt="no way back"))
    outcome = hook.cancel_task(task)
    assert (outcome.stopped, outcome.billed) == (False, True)
    assert "keeps rendering and will be billed" in outcome.message


async def test_the_async_cancel_of_replicate_stops_the_prediction(
    emulator: EmulatorServer, hosts: Path
) -> None:
    hook = KlingHook(kling_conn_id="kling_replicate_30")
    task = hook.submit(VideoRequest(prompt="stop me", duration=10))
    outcome = await hook.acancel_task(task.task_id)
    assert (outcome.stopped, outcome.billed) == (True, False)
    assert emulated_job(emulator, task.task_id)["phase"] == "cancelled"


async def test_a_stopping_triggerer_leaves_the_job_and_only_on_kill_cancels_it(
    emulator: EmulatorServer, hosts: Path
) -> None:
    """A triggerer shutting down cancels ``run`` without calling ``on_kill``: the job renders on and
    the next triggerer resumes it. ``on_kill`` (a user's action) cancels it."""
    import asyncio
    import time

    from airflow_provider_kling.polling import PollSchedule
    from airflow_provider_kling.triggers.kling import KlingTaskTrigger

    task = KlingHook(kling_conn_id="kling_replicate_30").submit(VideoRequest(prompt="long [latency:30]"))
    trigger = KlingTaskTrigger(
        kling_conn_id="kling_replicate_30",
        kling_task_id=task.task_id,
        poll_schedule=PollSchedule(first_delay=0.1, interval=0.2, jitter=0).to_dict(),
        deadline=time.time() + 60,
        not_before=time.time(),
    )

    async def first_event() -> Any:
        async for event in trigger.run():
            return event
        return None

    running = asyncio.ensure_future(first_event())
    for _ in range(400):  # until the trigger has polled once (20 s at most)
        if trigger._last_state is not None:
            break
        await asyncio.sleep(0.05)
    assert trigger._last_state is TaskState.QUEUED or trigger._last_state is TaskState.RUNNING
    running.cancel()  # what a triggerer shutting down does: no "user action" message, no on_kill
    with pytest.raises(asyncio.CancelledError):
        await running
    assert emulated_job(emulator, task.task_id)["cancel"] is None
    await trigger.on_kill()  # what Airflow calls after a user marked the task failed or cleared it
    job = emulated_job(emulator, task.task_id)
    assert (job["phase"], job["billed"]) == ("cancelled", False)


def test_on_kill_of_a_worker_wait_cancels_the_job(emulator: EmulatorServer, hosts: Path) -> None:
    from airflow_provider_kling.operators.kling import KlingGenerateOperator

    task = KlingHook(kling_conn_id="kling_replicate_30").submit(VideoRequest(prompt="long [latency:30]"))
    op = KlingGenerateOperator(task_id="render", prompt="x", kling_conn_id="kling_replicate_30")
    op.on_kill()  # not waiting: nothing to cancel
    assert emulated_job(emulator, task.task_id)["cancel"] is None
    op._waiting_on = ("kling_replicate_30", task.task_id, None)  # as while hook.wait_for_task runs
    op.on_kill()
    assert emulated_job(emulator, task.task_id)["phase"] == "cancelled"


def test_the_wait_logs_the_position_in_fals_queue(
    emulator: EmulatorServer, hosts: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A job queued at fal behind the account's limit is a wait, and the log says where it stands."""
    from airflow_provider_kling.polling import PollSchedule

    assert (
        httpx.post(f"{emulator.url}/_emulator/limits", json={"concurrency": 1}, timeout=10).status_code == 200
    )
    try:
        hook = KlingHook(kling_conn_id="kling_fal_30")
        hook.submit(VideoRequest(prompt="in front [latency:2]"))
        queued = hook.submit(VideoRequest(prompt="behind [latency:1]"))
        with caplog.at_level("INFO", logger="airflow_provider_kling"):
            done = hook.wait_for_task(queued, 30, PollSchedule(first_delay=0, interval=0.2, jitter=0))
        assert done.state is TaskState.SUCCEEDED and done.video_urls
        assert f"Kling job {queued.task_id} is queued, position 0 in the gateway's queue" in caplog.text
        assert emulated_job(emulator, queued.task_id)["queue_delay"] > 0
    finally:
        httpx.post(f"{emulator.url}/_emulator/limits", json={"concurrency": 0}, timeout=10)
