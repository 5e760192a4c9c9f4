"""The DAG of the distributed end-to-end test (``tests/e2e/test_distributed.py``): 60 mapped clips.

In a folder of its own, so the single-machine suite does not parse it. Environment (given to every
component by the test):

* ``AIRFLOW_CONN_KLING_DEFAULT``: the official-API gateway on the emulator.
* ``KLING_E2E_DOWNLOAD_DIR``: where the videos are copied. With several workers this must be a
  location every worker reaches (a shared directory here; an object-storage URI across machines).
* ``KLING_E2E_MARKER_DIR``: where the slow clip reports that it has submitted (see below).

Self-contained on purpose: the dag-processor and every task process import this file on its own.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from airflow.sdk import DAG

from airflow_provider_kling.operators.kling import KlingGenerateOperator

CLIPS = 60
#: The clip whose first try waits after its submit, so the test can SIGKILL the worker running it.
#: The last one: the other clips start on all four slots, so at least 50 are deferred at once before
#: the worker is lost, and its loss costs the run least.
SLOW_CLIP = 59
#: How long the slow clip waits at most (the test kills its worker within a second or two).
SLOW_WAIT_S = 90
DOWNLOAD_DIR = os.environ.get("KLING_E2E_DOWNLOAD_DIR") or tempfile.gettempdir()
MARKER_DIR = os.environ.get("KLING_E2E_MARKER_DIR") or tempfile.gettempdir()


class SlowAfterSubmit(KlingGenerateOperator):
    """Test only: clip ``SLOW_CLIP``'s first try waits right after its submit was recorded.

    ``_attach_or_submit`` returns once the remote id is in the task state store, before the XCom push
    and the deferral: the job is paid for and only this task knows it. The task writes a marker file
    (its PID and the job id) and waits, so the test can SIGKILL the whole Celery worker at this very
    moment; the retry, on the other worker, must attach to the same job instead of paying again.
    """

    def _attach_or_submit(self, hook: Any, request: Any, context: Any) -> Any:
        task = super()._attach_or_submit(hook, request, context)
        ti = context["ti"]
        if ti.map_index == SLOW_CLIP and ti.try_number == 1:
            marker = Path(MARKER_DIR) / f"submitted-{ti.map_index}-try{ti.try_number}.json"
            body = {"pid": os.getpid(), "job": task.task_id, "client_reference": task.client_reference}
            tmp = marker.with_suffix(".tmp")
            tmp.write_text(json.dumps(body))
            tmp.rename(marker)  # atomic: the test never reads half a file
            print(f"e2e: submitted Kling job {task.task_id}; waiting for the worker to be killed", flush=True)
            deadline = time.monotonic() + SLOW_WAIT_S
            while time.monotonic() < deadline:
                time.sleep(0.5)
        return task


with DAG(
    "kling_e2e_distributed",
    schedule=None,
    start_date=dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    tags=["kling-e2e"],
) as kling_e2e_distributed:
    SlowAfterSubmit.partial(
        task_id="render",
        kling_conn_id="kling_default",
        deferrable=True,
        download_to=DOWNLOAD_DIR,
        # A lost worker's tasks are failed by their heartbeat timeout and retried; an emulator with an
        # account concurrency cap may also refuse submits for longer than the hook retries.
        retries=3,
        retry_delay=dt.timedelta(seconds=2),
    ).expand(prompt=[f"E2E dist clip {i:02d}: a tram in the rain, take {i}" for i in range(CLIPS)])
