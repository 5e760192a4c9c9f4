"""A ``@task`` that submits through the hook and lets a capacity refusal out to ``KlingRetryPolicy``.

``retries=0``: on Airflow 3.4 the policy reschedules the task without spending a retry, so the second
run of the same try submits; on 3.3 it can only retry, which ``retries=0`` forbids. On Airflow < 3.3
the task has no policy (the test skips).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import DAG, task

from airflow_provider_kling._airflow import has_feature

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["kling-tests"])


with _dag("kling_retry_policy_capacity") as capacity_dag:
    policy = None
    if has_feature("retry_policy"):
        from airflow_provider_kling.retry_policy import KlingRetryPolicy

        policy = KlingRetryPolicy(capacity_delay=dt.timedelta(seconds=1), max_reschedules=3)

    @task(retries=0, retry_policy=policy)
    def submit_when_capacity(prompt: str) -> str:
        from airflow_provider_kling.hooks.kling import KlingHook

        hook = KlingHook("kling_kie")
        return hook.submit(hook.make_request(prompt=prompt, duration=5), resend_refused=False).task_id

    submit_when_capacity("A harbour at dawn, one refusal first [fault:429x1]")
