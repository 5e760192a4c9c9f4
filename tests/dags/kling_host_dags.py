"""DAGs for the fal and Replicate gateways; the tests define ``kling_fal_30``, ``kling_fal_40`` and
``kling_replicate_30`` connections on the emulator and a download directory in
``KLING_TEST_DOWNLOADS``."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from airflow.sdk import DAG

from airflow_provider_kling.operators.kling import KlingGenerateOperator

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
DOWNLOADS = os.environ.get("KLING_TEST_DOWNLOADS", "/tmp/kling-host-downloads")

#: dag id -> (connection, operator arguments)
CLIPS: dict[str, tuple[str, dict[str, Any]]] = {
    "fal_kling_30": ("kling_fal_30", {"duration": 10, "aspect_ratio": "9:16", "tier": "pro"}),
    "replicate_kling_30": ("kling_replicate_30", {"duration": 5, "sound": True}),
    "fal_kling_40": ("kling_fal_40", {"duration": 10, "sound": True, "tier": "std"}),
    "replicate_no_download": ("kling_replicate_30", {"duration": 5}),
    "fal_kling_40_20s": ("kling_fal_40", {"duration": 20, "aspect_ratio": "21:9", "sound": True}),
    # the same clip named by the task's model on a connection whose model is 3.0
    "fal_kling_40_20s_by_model": (
        "kling_fal_30",
        {"model": "kling-4.0", "duration": 20, "aspect_ratio": "21:9", "sound": True},
    ),
}

for _dag_id, (_conn, _args) in CLIPS.items():
    with DAG(_dag_id, schedule=None, start_date=START, catchup=False, tags=["kling-tests"]) as _d:
        KlingGenerateOperator(
            task_id="render",
            prompt=f"A paper lantern drifting over a lake ({_dag_id})",
            kling_conn_id=_conn,
            deferrable=_dag_id.startswith("fal"),
            download_to=None if _dag_id.endswith("no_download") else f"{DOWNLOADS}/{_dag_id}",
            **_args,
        )
    globals()[_dag_id] = _d
