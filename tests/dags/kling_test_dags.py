"""DAGs the integration tests run with ``dag.test()``; connections ``kling_<gateway>`` come from the tests.

Test-only operator subclasses simulate a worker dying right after the gateway accepted a job.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from typing import Any

from airflow.sdk import DAG

from airflow_provider_kling._airflow import client_reference
from airflow_provider_kling.gateways import GATEWAY_NAMES
from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.sensors.kling import KlingTaskSensor

START = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
NO_DELAY = dt.timedelta(0)


def _dag(dag_id: str) -> DAG:
    return DAG(dag_id, schedule=None, start_date=START, catchup=False, tags=["kling-tests"])


class CrashAfterSubmit(KlingGenerateOperator):
    """The first try dies right after the job was submitted and recorded."""

    def _attach_or_submit(self, hook: Any, request: Any, context: Any) -> Any:
        task = super()._attach_or_submit(hook, request, context)
        if context["ti"].try_number == 1:
            raise RuntimeError("worker died right after submit")
        return task


class CrashBeforeRecord(KlingGenerateOperator):
    """The first try dies after the HTTP submit returned, before anything was recorded."""

    def _attach_or_submit(self, hook: Any, request: Any, context: Any) -> Any:
        if context["ti"].try_number == 1:
            hook.submit(request.model_copy(update={"client_reference": client_reference(context, 0)}))
            raise RuntimeError("worker died before recording the job")
        return super()._attach_or_submit(hook, request, context)


def _render(dag_id: str, operator: type[KlingGenerateOperator] = KlingGenerateOperator, **kwargs: Any) -> DAG:
    """A DAG of one ``render`` task, bound to a module global named ``dag_id`` (dag.test() finds it)."""
    with _dag(dag_id) as dag:
        operator(task_id="render", **kwargs)
    globals()[dag_id] = dag
    return dag


#: Retries a task must not spend when it is refused before any submit (the tests count the tries).
RETRIES = {"retries": 2, "retry_delay": NO_DELAY}

for _gw in GATEWAY_NAMES:
    for _mode, _deferrable in (("worker", False), ("deferrable", True)):
        _render(
            f"op_{_gw}_{_mode}",
            prompt="A red balloon over a harbour",
            kling_conn_id=f"kling_{_gw}",
            deferrable=_deferrable,
        )
    _render(f"crash_{_gw}", CrashAfterSubmit, prompt="Crash test", kling_conn_id=f"kling_{_gw}", **RETRIES)
    _render(
        f"crash_before_record_{_gw}",
        CrashBeforeRecord,
        prompt="Crash test",
        kling_conn_id=f"kling_{_gw}",
        retries=1,
        retry_delay=NO_DELAY,
    )

for _mode, _deferrable in (("poke", False), ("deferrable", True)):
    with _dag(f"fire_and_forget_{_mode}") as _d:
        _submit = KlingGenerateOperator(
            task_id="submit",
            prompt="A lighthouse at dusk",
            kling_conn_id="kling_kling",
            wait_for_completion=False,
        )
        _wait = KlingTaskSensor(
            task_id="wait",
            kling_task_id="{{ ti.xcom_pull(task_ids='submit', key='kling_task_id') }}",
            kling_conn_id="kling_kling",
            deferrable=_deferrable,
            poke_interval=0.5,
            timeout=60,
        )
        _submit >> _wait
    globals()[f"fire_and_forget_{_mode}"] = _d

_render(
    "content_policy",
    prompt="[fault:policy-task] something forbidden",
    kling_conn_id="kling_apixo",
    retries=3,
    retry_delay=NO_DELAY,
)
_render("invalid_duration", prompt="p", duration=7, kling_conn_id="kling_kie", **RETRIES)

with _dag("mapped_twenty") as mapped_twenty:
    KlingGenerateOperator.partial(task_id="render", kling_conn_id="kling_runware", deferrable=True).expand(
        prompt=[f"Product shot number {i}" for i in range(20)]
    )

# APIXO publishes $0.06 per output second: a 5 s clip is estimated at $0.30
_render("over_budget", prompt="Too dear", kling_conn_id="kling_apixo", max_cost=0.25, **RETRIES)
# kie publishes no price: a cap cannot be shown to hold, so the job is refused
_render("cap_without_estimate", prompt="Unpriced", kling_conn_id="kling_kie", max_cost=10, **RETRIES)
# the "Kling video" link opens the downloaded copy, served under video_link_base
_render(
    "link_to_download",
    prompt="A kite on a beach",
    kling_conn_id="kling_rivya",
    download_to=os.environ.get("KLING_TEST_DOWNLOAD_DIR") or os.path.join(tempfile.gettempdir(), "kling-t"),
    video_link_base="https://media.example.com/kling",
)
# no filesystem for foo:// (and none for s3:// without the Amazon provider): found before the submit
_render(
    "download_to_unknown_scheme",
    prompt="Nowhere to put it",
    kling_conn_id="kling_apixo",
    download_to="foo://bucket/renders",
    **RETRIES,
)
# a "directory" below a regular file can never be created
_render(
    "download_to_not_writable",
    prompt="Nowhere to put it",
    kling_conn_id="kling_apixo",
    download_to=__file__ + "/renders",
    **RETRIES,
)
