"""DAGs of the late-jobs tests: clips whose ``timeout`` is shorter than the render, the sweep, the run cost.

``late_<gateway>``: two mapped clips render for 4 s but give up after 1.5 s (no retry), then
``cost`` sums the run. ``sweep_<gateway>``: :class:`KlingReconcileOperator` over ``late_<gateway>``,
downloading to ``$KLING_LATE_DIR/<gateway>``.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile

from airflow.sdk import DAG

from airflow_provider_kling.gateways import GATEWAY_NAMES
from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.operators.reconcile import KlingReconcileOperator, KlingRunCostOperator

GATEWAYS = GATEWAY_NAMES
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
LATE_DIR = os.environ.get("KLING_LATE_DIR") or os.path.join(tempfile.gettempdir(), "kling-late-tests")
#: how long each clip renders, and how long its task waits
RENDER_S, TIMEOUT_S = 4, 1.5

for _gw in GATEWAYS:
    with DAG(f"late_{_gw}", schedule=None, start_date=START, catchup=False, tags=["kling-tests"]) as _d:
        _render = KlingGenerateOperator.partial(
            task_id="render",
            kling_conn_id=f"kling_{_gw}",
            timeout=TIMEOUT_S,
            retries=0,
            deferrable=_gw == "kling",
        ).expand(prompt=[f"A late clip {i} [latency:{RENDER_S}]" for i in range(2)])
        _render >> KlingRunCostOperator(task_id="cost", kling_conn_id=f"kling_{_gw}")
    globals()[f"late_{_gw}"] = _d

    with DAG(f"sweep_{_gw}", schedule=None, start_date=START, catchup=False, tags=["kling-tests"]) as _d:
        KlingReconcileOperator(
            task_id="reconcile",
            dag_id=f"late_{_gw}",
            kling_conn_id=f"kling_{_gw}",
            download_to=os.path.join(LATE_DIR, _gw),
            lookback=dt.timedelta(hours=1),
        )
    globals()[f"sweep_{_gw}"] = _d
