"""Marking a deferred fal clip failed through the REST API of a real Airflow cancels its remote job.

A real deployment (api-server, scheduler, dag-processor, triggerer; LocalExecutor, SQLite) and the
emulator with one job in flight per key: the test submits a long job first, so the DAG's clip waits
in fal's queue (a wait, not a refusal) while its task is deferred. ``PATCH .../taskInstances/render``
with ``new_state: failed`` makes the triggerer cancel the trigger with its "user action" message and
call ``KlingTaskTrigger.on_kill``, which cancels the request: the emulator shows it removed from the
queue and not billed, and the trigger's log says so. The first job, which nobody stopped, renders on.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.stack import EMULATOR_KEY_PAIR, EmulatorProcess, Stack, running_stack, wait_until

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).resolve().parent / "dags_cancel"
DAG_ID = "kling_e2e_fal_cancel"
#: the connection's key (its password); the test's own submit uses it too, so both share one account
API_KEY = EMULATOR_KEY_PAIR[1]
LATENCY = 120.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(
        DAGS,
        latency=LATENCY,
        conn_extra={"gateway": "fal", "model": "kling-3.0", "poll_interval": 1, "first_poll_delay": 1},
        dag_ids=[DAG_ID],
        prefix="kling-e2e-cancel-",
        label="e2e-cancel",
    ) as running:
        yield running


def fal_jobs(emulator: EmulatorProcess) -> list[dict[str, Any]]:
    return [dict(j) for j in emulator.jobs("fal")]


def test_marking_a_deferred_fal_clip_failed_cancels_its_remote_job(
    stack: Stack,
) -> None:
    emulator, airflow = stack.emulator, stack.airflow
    api = airflow.api
    assert (
        httpx.post(f"{emulator.url}/_emulator/limits", json={"concurrency": 1}, timeout=10).status_code == 200
    )
    blocker = httpx.post(
        f"{emulator.url}/fal-ai/kling-video/v3/standard/text-to-video",
        json={"prompt": "the job in front"},
        headers={"Authorization": f"Key {API_KEY}"},
        timeout=10,
    )
    assert blocker.status_code == 200, blocker.text
    first = blocker.json()["request_id"]

    run_id = api.trigger_dag_run(DAG_ID)["dag_run_id"]
    deferred = wait_until(
        lambda: [ti for ti in api.task_instances(DAG_ID, run_id) if ti["state"] == "deferred"],
        120,
        1.0,
        what="the render to be deferred",
    )
    ours = wait_until(
        lambda: [j for j in fal_jobs(emulator) if j["task_id"] != first],
        30,
        0.5,
        what="the clip's request at fal",
    )[0]
    assert ours["phase"] == "queued" and ours["queue_delay"] > 0  # waiting in fal's queue
    # the triggerer runs the wait (it polls the request); a trigger the triggerer has not loaded yet
    # cannot be told anything: Airflow just deletes its row
    wait_until(
        lambda: next(j for j in fal_jobs(emulator) if j["task_id"] == ours["task_id"])["status_calls"] >= 1,
        60,
        0.5,
        what="the triggerer to poll the clip",
    )

    response = api.request(
        "PATCH",
        f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/render",
        json={"new_state": "failed"},
    )
    assert response.status_code == 200, response.text
    assert deferred[0]["task_id"] == "render"

    cancelled = wait_until(
        lambda: (j := next(j for j in fal_jobs(emulator) if j["task_id"] == ours["task_id"]))["cancel"] and j,
        60,
        0.5,
        what="the remote job to be cancelled",
    )
    assert (cancelled["phase"], cancelled["cancel"], cancelled["billed"]) == ("cancelled", "removed", False)
    survivor = next(j for j in fal_jobs(emulator) if j["task_id"] == first)
    assert survivor["cancel"] is None and survivor["phase"] in ("queued", "running")
    said = wait_until(
        lambda: any(
            "removed from the queue before it started: not billed" in p.read_text(errors="replace")
            for p in airflow.log_files()
        ),
        30,
        0.5,
        what="the log line saying the job was cancelled before any cost",
    )
    assert said
