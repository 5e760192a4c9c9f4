"""Kling with Airflow's retry policies (Airflow >= 3.3): retry what can succeed, fail what cannot.

``retry_policy=KlingRetryPolicy()`` decides per failure, from the provider's typed errors, instead of
spending every one of the task's ``retries`` the same way (docs/guides/retries.md):

* content policy, invalid request, auth, quota and budget errors fail at once (no retry, no second
  charge);
* transient errors (a server error, a timeout, a failed generation) are retried after an exponential
  backoff: ``retry_delay``, then twice that, up to ``max_retry_delay`` (at least the gateway's
  ``Retry-After``);
* no capacity at the gateway is waited for without spending a retry where Airflow offers it
  (``RetryAction.RESCHEDULE``, Airflow >= 3.4; a retry after the delay on 3.3);
* anything else falls back to the task's own ``retries`` and ``retry_delay``.

On Airflow 3.1 and 3.2 this file does not parse: ``KlingRetryPolicy()`` raises
``KlingAirflowVersionError`` ("retry policies ... need Airflow >= 3.3; this is Airflow 3.1.0").

Trigger it with a prompt of your own (``{"prompt": "..."}`` as the run's conf). Against the local
emulator, a ``[fault:failx1]`` marker in the prompt makes the first job fail: the policy retries it
once and the second try renders; ``[fault:policy]`` is refused for content policy and the task
fails on its first try, although ``retries=3``.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timedelta, timezone

from airflow.sdk import DAG, Param

from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.retry_policy import KlingRetryPolicy

DOWNLOAD_DIR = os.environ.get("KLING_DOWNLOAD_DIR") or os.path.join(tempfile.gettempdir(), "kling-videos")

with DAG(
    dag_id="kling_retry_policy",
    description="Render one clip; Airflow's retry policy decides per Kling error whether to retry",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["kling", "example"],
    doc_md=__doc__,
    params={"prompt": Param("A lighthouse beam sweeps over a stormy sea at night, wide shot", type="string")},
) as dag:
    render = KlingGenerateOperator(
        task_id="render",
        kling_conn_id="kling_default",
        prompt="{{ params.prompt }}",
        duration=5,
        aspect_ratio="16:9",
        download_to=DOWNLOAD_DIR,
        timeout=15 * 60,
        # The most a transient error may cost; a content-policy refusal costs none of them.
        retries=3,
        retry_policy=KlingRetryPolicy(
            retry_delay=timedelta(seconds=30),
            max_retry_delay=timedelta(minutes=10),
            capacity_delay=timedelta(minutes=1),
            # Bounds of a capacity wait (Airflow >= 3.4): then it counts as a failed try.
            max_reschedules=60,
            reschedule_timeout=timedelta(hours=2),
        ),
    )
