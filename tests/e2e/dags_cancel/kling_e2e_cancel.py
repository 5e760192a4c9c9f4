"""The DAG of ``tests/e2e/test_cancel.py``: one deferrable Kling 3.0 render on fal (connection
``kling_default``, which the suite's stack points at the emulator's fal), waiting in fal's queue
behind a job the test submitted first."""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_kling.operators.kling import KlingGenerateOperator

with DAG(
    "kling_e2e_fal_cancel",
    schedule=None,
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["kling-e2e"],
) as kling_e2e_fal_cancel:
    KlingGenerateOperator(
        task_id="render",
        prompt="A queued clip nobody needs any more",
        deferrable=True,
        download_to="/tmp",
        timeout=600,
    )
