"""DAGs of the Kling model family, run with ``dag.test()`` by ``tests/integration/test_model_family.py``.

Connections ``kling_<gateway>`` point at the emulator (see ``tests/integration/conftest.py``); clips
are downloaded under ``KLING_TEST_DOWNLOAD_DIR`` so that the test can measure them.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile

from airflow.sdk import DAG

from airflow_provider_kling.operators.kling import KlingGenerateOperator

GATEWAYS = ("kling", "rivya", "runware", "apixo", "apimart", "kie", "fal", "replicate")
START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
DOWNLOADS = os.environ.get("KLING_TEST_DOWNLOAD_DIR") or os.path.join(tempfile.gettempdir(), "kling-models")
SHOTS = [
    {"prompt": "Close-up: a red fox wakes in its den", "duration": 4},
    {"prompt": "Wide shot: the fox runs across the snowfield", "duration": 8},
]


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["kling-tests"])


for _gw in GATEWAYS:
    with _dag(f"v3_12s_sound_{_gw}") as _d:
        KlingGenerateOperator(
            task_id="render",
            prompt=f"A red fox runs through fresh snow ({_gw})",
            model="kling-3.0",
            duration=12,
            sound=True,
            kling_conn_id=f"kling_{_gw}",
            deferrable=_gw in ("kling", "apixo"),  # both waits: the trigger polls the 3.0 route too
            download_to=os.path.join(DOWNLOADS, _gw),
        )
    globals()[_d.dag_id] = _d
    with _dag(f"v3_16s_{_gw}") as _d:
        KlingGenerateOperator(
            task_id="render", prompt="Too long", model="kling-3.0", duration=16, kling_conn_id=f"kling_{_gw}"
        )
    globals()[_d.dag_id] = _d
    with _dag(f"v3_4k_{_gw}") as _d:
        KlingGenerateOperator(
            task_id="render", prompt="In 4K", model="kling-3.0", tier="4k", kling_conn_id=f"kling_{_gw}"
        )
    globals()[_d.dag_id] = _d
    with _dag(f"v3_shots_{_gw}") as _d:
        KlingGenerateOperator(
            task_id="render",
            prompt=f"The fox's morning ({_gw})",
            model="{{ params.model }}",  # templated: the model may come from the run's params
            params={"model": "kling-3.0"},
            duration=12,
            shots=SHOTS,
            kling_conn_id=f"kling_{_gw}",
            download_to=os.path.join(DOWNLOADS, f"{_gw}-shots"),
        )
    globals()[_d.dag_id] = _d
