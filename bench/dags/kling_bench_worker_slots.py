"""DAGs of ``bench/worker_slots.py``: N mapped Kling renders, waiting deferred or in the worker.

The run's ``conf`` says how many (``n``) and how long each emulator job takes (``latency``, seconds,
passed to the emulator as a ``[latency:...]`` prompt marker). The connection ``kling_bench`` is given to
every Airflow component by the benchmark (environment variable ``AIRFLOW_CONN_KLING_BENCH``).

``kling_bench_slots_floor`` is the anchor: the same mapping of an operator that does nothing but defer
to Airflow's own ``TimeDeltaTrigger`` for ``latency`` seconds and resume. No HTTP, no provider code: what
any mapped deferrable task costs on these worker slots.

Self-contained: the dag-processor and every task process import this file on its own.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from airflow.providers.standard.triggers.temporal import TimeDeltaTrigger
from airflow.sdk import DAG, BaseOperator, task

from airflow_provider_kling.operators.kling import KlingGenerateOperator

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


@task
def prompts(**context: Any) -> list[str]:
    conf = context["dag_run"].conf or {}
    n = int(conf.get("n", 20))
    latency = float(conf.get("latency", 30))
    return [f"[latency:{latency:g}] benchmark clip {i:03d}: a red kite over a green hill" for i in range(n)]


class DeferOnly(BaseOperator):
    """Defers for its prompt's ``[latency:S]``, then resumes and returns: the floor of a deferred task."""

    template_fields = ("prompt",)

    def __init__(self, *, prompt: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.prompt = prompt

    def execute(self, context: Any) -> None:
        found = re.search(r"\[latency:([0-9.]+)\]", self.prompt)
        seconds = float(found.group(1)) if found else 30.0
        self.defer(trigger=TimeDeltaTrigger(dt.timedelta(seconds=seconds)), method_name="execute_complete")

    def execute_complete(self, context: Any, event: Any = None) -> None:
        return None


def _dag(dag_id: str) -> DAG:
    tags = ["kling-bench"]
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, max_active_tasks=1000, tags=tags)


with _dag("kling_bench_slots_floor") as floor_dag:
    DeferOnly.partial(task_id="render").expand(prompt=prompts())

for dag_id, deferrable in (("kling_bench_slots_deferrable", True), ("kling_bench_slots_in_worker", False)):
    with _dag(dag_id) as dag:
        KlingGenerateOperator.partial(
            task_id="render",
            kling_conn_id="kling_bench",
            deferrable=deferrable,
        ).expand(prompt=prompts())
    globals()[dag_id] = dag
