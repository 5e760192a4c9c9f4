"""The nightly sweep: deliver the clips whose job finished after their task gave up.

A gateway renders and bills a job whether or not its task is still waiting. When a clip's task ends
first (its ``timeout``, the trigger's failure budget or deadline, a person marking it failed, a
worker lost for good), its XCom ``kling_job`` keeps the job's record: gateway, connection, job id,
client reference, model, estimate and when. Every night this DAG:

1. ``reconcile`` (:class:`KlingReconcileOperator`) reads the records of the clips of
   ``KLING_SWEEP_DAG`` (default ``kling_marketing_renders``) that did not succeed and were submitted
   in the last two days, asks each job's gateway (read-only: it never submits), downloads the late
   successes to ``KLING_DOWNLOAD_DIR/late`` and returns a manifest::

       {"jobs": [{"clip": "render[3]", "job_id": "...", "model": "kling-v2-6", "status": "delivered",
                  "cost": 1.5, "cost_unit": "units", "billed": "yes", "video": ["/.../<id>.mp4"], ...}],
        "counts": {"delivered": 1, "rendering": 0, "failed": 0, "lost": 0, ...},
        "billed_failures": 0, "totals": {"reported": {"units": 1.5}, "estimated": {"units": 1.5}},
        "unadopted": []}

   A job still rendering is reported and looked at again the next night; a failed job says whether
   its gateway bills it (``billed``: ``no``, ``yes`` or ``unknown``). On the official API the sweep
   also reads the account's task list and reports jobs under this provider's client references that
   no clip recorded (``unadopted``).
2. ``report`` writes the manifest as JSON next to the videos.

To sweep once instead of nightly, trigger it by hand (or set ``schedule=None``). In a rendering DAG
itself, :class:`KlingRunCostOperator` after the clips sums what that run cost (see the guide "Jobs
that finish late").

Connection set-up and ``KLING_DOWNLOAD_DIR``: see ``kling_quickstart``.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow.sdk import DAG, task

from airflow_provider_kling.operators.reconcile import KlingReconcileOperator

LATE_DIR = os.path.join(
    os.environ.get("KLING_DOWNLOAD_DIR") or os.path.join(tempfile.gettempdir(), "kling-videos"), "late"
)
SWEPT_DAG = os.environ.get("KLING_SWEEP_DAG", "kling_marketing_renders")

with DAG(
    dag_id="kling_late_jobs",
    description="Nightly: deliver Kling clips whose job finished after their task gave up",
    schedule="0 3 * * *",
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["kling", "example"],
    doc_md=__doc__,
) as dag:
    reconcile = KlingReconcileOperator(
        task_id="reconcile",
        dag_id=SWEPT_DAG,
        lookback=timedelta(days=2),
        download_to=LATE_DIR,
    )

    @task
    def report(manifest: dict[str, Any], ds: str | None = None) -> str:
        """Write the manifest next to the videos; its path is the task's result."""
        os.makedirs(LATE_DIR, exist_ok=True)
        path = os.path.join(LATE_DIR, f"manifest-{ds}.json")
        with open(path, "w", encoding="utf-8") as out:
            json.dump(manifest, out, indent=2, sort_keys=True)
        return path

    report(reconcile.output)  # type: ignore[arg-type]
