"""DAGs of ``bench/worker_slots.py``: N mapped Kling renders, waiting deferred or in the worker.

The run's ``conf`` says how many (``n``) and how long each emulator job takes (``latency``, seconds,
passed to the emulator as a ``[latency:...]`` prompt marker). The connection ``kling_bench`` is given to
every Airflow component by the benchmark (environment variable ``AIRFLOW_CONN_KLING_BENCH``).

Self-contained: the dag-processor and every task process import this file on its own.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_kling.operators.kling import KlingGenerateOperator

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


@task
def prompts(**context: Any) -> list[str]:
    conf = context["dag_run"].conf or {}
    n = int(conf.get("n", 20))
    latency = float(conf.get("latency", 30))
    return [f"[latency:{latency:g}] benchmark clip {i:03d}: a red kite over a green hill" for i in range(n)]


for dag_id, deferrable in (("kling_bench_slots_deferrable", True), ("kling_bench_slots_in_worker", False)):
    with DAG(
        dag_id,
        schedule=None,
        start_date=START,
        catchup=False,
        max_active_tasks=1000,
        tags=["kling-bench"],
    ) as dag:
        KlingGenerateOperator.partial(
            task_id="render",
            kling_conn_id="kling_bench",
            deferrable=deferrable,
        ).expand(prompt=prompts())
    globals()[dag_id] = dag
