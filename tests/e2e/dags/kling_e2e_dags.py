"""DAGs the real-Airflow end-to-end suite loads (copied into the deployment's own dags folder).

Environment (given to every component by the test):

* ``KLING_E2E_DOWNLOAD_DIR``: where the mapped DAG downloads its videos.
* ``AIRFLOW_CONN_KLING_DEFAULT``: the official-API gateway on the emulator.
* connection ``kling_apixo_api`` is created through ``POST /api/v2/connections`` by the test.

Self-contained on purpose: the dag-processor and every task process import this file on its own.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_kling.operators.kling import KlingGenerateOperator

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
MAPPED_TASKS = 20
RESTART_TASKS = 8
DOWNLOAD_DIR = os.environ.get("KLING_E2E_DOWNLOAD_DIR") or tempfile.gettempdir()


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["kling-e2e"])


class DieAfterSubmit(KlingGenerateOperator):
    """Test only: on try 1 the task process dies (``os._exit``) right after the submit was recorded.

    ``_attach_or_submit`` returns once the remote id is in the task state store, before the XCom push
    and the deferral: the worst moment for a crash, since the job is paid for and nothing else knows.
    """

    def _attach_or_submit(self, hook: Any, request: Any, context: Any) -> Any:
        task = super()._attach_or_submit(hook, request, context)
        if context["ti"].try_number == 1:
            print(
                f"e2e: killing the task process right after submitting Kling job {task.task_id}", flush=True
            )
            os._exit(1)
        return task


with _dag("kling_e2e_mapped") as kling_e2e_mapped:
    KlingGenerateOperator.partial(
        task_id="render",
        kling_conn_id="kling_default",
        deferrable=True,
        download_to=DOWNLOAD_DIR,
    ).expand(prompt=[f"E2E clip {i:02d}: a paper boat on a pond, take {i}" for i in range(MAPPED_TASKS)])

with _dag("kling_e2e_triggerer_restart") as kling_e2e_triggerer_restart:
    KlingGenerateOperator.partial(
        task_id="render",
        kling_conn_id="kling_default",
        deferrable=True,
    ).expand(prompt=[f"E2E restart {i}: a windmill at dawn, take {i}" for i in range(RESTART_TASKS)])

with _dag("kling_e2e_worker_crash") as kling_e2e_worker_crash:
    DieAfterSubmit(
        task_id="render",
        prompt="[latency:6] E2E crash: a lighthouse in fog",
        kling_conn_id="kling_default",
        deferrable=True,
        poll_interval=1,  # also the first delay: the connection's first delay suits 20 s jobs
        retries=1,
        retry_delay=dt.timedelta(seconds=1),
    )


@task
def publish(result: Any, ti: Any = None) -> dict[str, Any]:
    """Downstream post-processing: what ``xcom_pull`` hands it after the trigger ended ``render``."""
    pulled = ti.xcom_pull(task_ids="render")
    return {
        "argument_type": type(result).__name__,
        "pulled_type": type(pulled).__name__,
        "same": pulled == result,
        "first_url": result["video_urls"][0] if isinstance(result, dict) else None,
    }


with _dag("kling_e2e_apixo_rest_conn") as kling_e2e_apixo_rest_conn:
    rendered = KlingGenerateOperator(
        task_id="render",
        prompt="[latency:6] E2E APIXO: a kite over dunes",
        kling_conn_id="kling_apixo_api",
        deferrable=True,
    )
    publish(rendered.output)
