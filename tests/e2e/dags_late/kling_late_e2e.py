"""DAGs of the late-jobs end-to-end test (copied into the deployment's dags folder on their own).

* ``late_e2e``: 6 mapped clips render for ``LATE_RENDER_S`` but wait only ``LATE_TIMEOUT_S`` (deferred,
  no retry): every clip fails while its job renders on. ``cost`` sums the run whatever happened.
* ``late_e2e_manual``: one clip on APIXO (no lookup by client id) with a generous timeout, marked
  failed by a person while it renders.
* ``late_e2e_sweep``: the reconcile sweep over both, downloading to ``KLING_LATE_DIR``.
* ``late_e2e_cost``: the run-cost step over ``late_e2e``'s run named in the trigger's conf.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile

from airflow.sdk import DAG

from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.operators.reconcile import KlingReconcileOperator, KlingRunCostOperator

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
LATE_DIR = os.environ.get("KLING_LATE_DIR") or os.path.join(tempfile.gettempdir(), "kling-late-e2e")
LATE_RENDER_S = int(os.environ.get("KLING_LATE_RENDER_S", "25"))
LATE_TIMEOUT_S = 4
CLIPS = 6


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["kling-e2e"])


with _dag("late_e2e") as late_e2e:
    renders = KlingGenerateOperator.partial(
        task_id="render", timeout=LATE_TIMEOUT_S, retries=0, deferrable=True, download_to=LATE_DIR
    ).expand(prompt=[f"Late clip {i} [latency:{LATE_RENDER_S}]" for i in range(CLIPS)])
    renders >> KlingRunCostOperator(task_id="cost")

with _dag("late_e2e_manual") as late_e2e_manual:
    KlingGenerateOperator(
        task_id="render",
        kling_conn_id="kling_apixo",  # no lookup by client id: only the task state store attaches
        prompt=f"Marked failed by a person [latency:{2 * LATE_RENDER_S}]",
        timeout=600,
        retries=0,
        deferrable=True,
    )

with _dag("late_e2e_sweep") as late_e2e_sweep:
    for _swept in ("late_e2e", "late_e2e_manual"):
        KlingReconcileOperator(task_id=f"sweep_{_swept}", dag_id=_swept, download_to=LATE_DIR)

with _dag("late_e2e_cost") as late_e2e_cost:
    KlingRunCostOperator(task_id="cost", dag_id="late_e2e", run_id="{{ dag_run.conf['run_id'] }}")
