"""The capacity DAG: N mapped deferrable clips against an account limit (e2e test and bench/capacity.py).

Environment (given to every component by the test or the benchmark):

* ``KLING_CAP_CLIPS``: how many clips (default 12).
* ``KLING_CAP_POOL``: the Airflow pool of the ``kling_capacity_pooled`` DAG (default ``kling_account``;
  whoever triggers that DAG creates the pool first, with ``include_deferred``).
* ``KLING_CAP_DEFERRABLE``: ``0`` waits in the worker instead (default ``1``).
* ``KLING_CAP_DOWNLOAD_TO``: where the ``kling_capacity_pooled_download`` DAG downloads its clips
  (default: a directory under the system's temporary directory).

Pooled variants for ``bench/capacity.py``: ``kling_capacity_pooled`` ends each clip from the trigger
(no download), ``kling_capacity_pooled_worker_resume`` resumes each clip in a worker as before
(``end_from_trigger=False``), ``kling_capacity_pooled_download`` downloads each clip (worker resume).
* ``AIRFLOW_CONN_KLING_DEFAULT``: the official-API gateway on the emulator.

Self-contained on purpose: the dag-processor and every task process import this file on its own.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from typing import Any

from airflow.sdk import DAG

from airflow_provider_kling.operators.kling import KlingGenerateOperator

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
CLIPS = int(os.environ.get("KLING_CAP_CLIPS") or 12)
POOL = os.environ.get("KLING_CAP_POOL") or "kling_account"
DEFERRABLE = os.environ.get("KLING_CAP_DEFERRABLE", "1") != "0"
DOWNLOAD_TO = os.environ.get("KLING_CAP_DOWNLOAD_TO") or os.path.join(
    tempfile.gettempdir(), "kling-capacity-downloads"
)

PROMPTS = [f"Capacity clip {i:03d}: a lantern on a river, take {i}" for i in range(CLIPS)]


def _clips(pool: str | None, **extra: Any) -> None:
    if pool:
        extra["pool"] = pool
    KlingGenerateOperator.partial(
        task_id="render",
        kling_conn_id="kling_default",
        deferrable=DEFERRABLE,
        retries=0,
        timeout=30 * 60,
        **extra,
    ).expand(prompt=PROMPTS)


with DAG("kling_capacity", schedule=None, start_date=START, catchup=False, tags=["kling-e2e"]):
    _clips(None)

with DAG("kling_capacity_pooled", schedule=None, start_date=START, catchup=False, tags=["kling-e2e"]):
    _clips(POOL)

with DAG(
    "kling_capacity_pooled_worker_resume", schedule=None, start_date=START, catchup=False, tags=["kling-e2e"]
):
    _clips(POOL, end_from_trigger=False)

with DAG(
    "kling_capacity_pooled_download", schedule=None, start_date=START, catchup=False, tags=["kling-e2e"]
):
    _clips(POOL, download_to=DOWNLOAD_TO)
