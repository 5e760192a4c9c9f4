"""Airflow < 3.3 with a gateway without idempotency: submit once, retry only the waiting."""

import datetime as dt

from airflow.sdk import DAG

from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.sensors.kling import KlingTaskSensor

with DAG(
    "kling_submit_once",
    schedule=None,
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
) as dag:
    submit = KlingGenerateOperator(
        task_id="submit",
        prompt="A lighthouse at dusk, slow dolly-in",
        kling_conn_id="kling_apixo",
        wait_for_completion=False,  # return right after the submit
        retries=0,  # a retry here could submit, and pay for, a second job
    )
    wait = KlingTaskSensor(
        task_id="wait",
        kling_task_id="{{ ti.xcom_pull(task_ids='submit', key='kling_task_id') }}",
        kling_conn_id="kling_apixo",
        deferrable=True,
        poke_interval=5,
        timeout=30 * 60,
        retries=3,  # retrying the wait costs nothing
        retry_delay=dt.timedelta(seconds=30),
    )
    submit >> wait
