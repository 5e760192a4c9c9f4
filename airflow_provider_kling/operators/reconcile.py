"""Jobs that finish late: the reconcile sweep and the cost of a run.

A gateway renders and bills a job whether or not its task is still waiting. When a clip's task ends
first (its ``timeout``, the trigger's failure budget or deadline, a person marking it failed, a lost
worker), the job's record stays in the clip's XCom (key ``kling_job``: gateway, connection, job id,
client reference, model, estimate, when). These operators read those records through Airflow (task
states and XCom, which every executor and metadata database serve to a running task) and leave the
rest to the hook (``KlingHook.reconcile``): they never submit.

* :class:`KlingReconcileOperator` sweeps a DAG's clips that did not succeed and delivers the late
  successes (downloads to ``download_to``, or lists their URLs), with a manifest in XCom.
* :class:`KlingRunCostOperator` sums what one DAG run cost, per unit, estimated and reported, billed
  failures included.

This module imports no HTTP library: DAG files import it on every parse.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_kling._airflow import KlingSettings
from airflow_provider_kling.defaults import DEFAULT_CONN_ID, JOB_RECORD_KEY

if TYPE_CHECKING:
    from airflow.sdk import Context

#: Task instance states of a clip whose task gave up: its job, if any, is nobody's to finish.
GAVE_UP = ("failed", "removed", "skipped", "upstream_failed")
_MAPPED_KEY = re.compile(r"^(?P<task>.+)_(?P<index>\d+)$")


class KlingReconcileOperator(KlingSettings, BaseOperator):
    """Find the paid jobs of a DAG's clips that no task delivered, and deliver the late successes.

    For each task instance of ``dag_id`` that gave up (failed, removed, skipped) and recorded a job,
    the hook asks the job's gateway (through the record's own connection) and sorts it: delivered,
    rendering (ask again on the next sweep), failed (with whether the gateway bills it), lost, or
    error. Where the gateway lists the account's jobs (the official API), jobs carrying this
    provider's client references that no clip recorded are listed too (``unadopted``).

    XCom ``return_value``: ``{"jobs": [{"dag_id", "run_id", "clip", "task_id", "map_index",
    "job_id", "gateway", "conn_id", "model", "client_reference", "submitted_at", "status", "state",
    "cost", "cost_unit", "estimated_cost", "billed", "video", "downloads"?, "error"?}], "counts":
    {status: n}, "billed_failures": n, "totals": {"reported": {unit: amount}, "estimated": {unit:
    amount}}, "unadopted": [...]}``. A readable table goes to the log.

    :param dag_id: the DAG whose clips to sweep (templated); default: this task's own DAG.
    :param run_ids: only these DAG runs (templated); default: every run of the DAG.
    :param task_ids: only these tasks (default: every task that recorded a job).
    :param lookback: only jobs submitted within this long before now (e.g. ``timedelta(days=2)`` for
        a nightly sweep).
    :param submitted_after: only jobs submitted at or after this time (templated; ISO 8601 or datetime).
    :param submitted_before: only jobs submitted before this time (templated).
    :param kling_conn_id: the connection whose gateway's task list is read for unadopted jobs.
    :param download_to: directory or object-storage URI for the late videos (templated); ``None``
        lists their URLs only.
    :param max_download_bytes: refuse larger downloads.
    :param list_unadopted: read the gateway's task list, where it documents one.
    """

    template_fields: Sequence[str] = (
        "target_dag_id",
        "run_ids",
        "submitted_after",
        "submitted_before",
        "download_to",
    )
    ui_color = "#e4f0ff"

    def __init__(
        self,
        *,
        dag_id: str | None = None,
        run_ids: list[str] | None = None,
        task_ids: list[str] | None = None,
        lookback: timedelta | None = None,
        submitted_after: str | datetime | None = None,
        submitted_before: str | datetime | None = None,
        kling_conn_id: str = DEFAULT_CONN_ID,
        download_to: str | None = None,
        max_download_bytes: int | None = None,
        list_unadopted: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.keep_settings(kling_conn_id, download_to=download_to, max_download_bytes=max_download_bytes)
        self.target_dag_id = dag_id
        self.run_ids = run_ids
        self.task_ids = task_ids
        self.lookback = lookback
        self.submitted_after = submitted_after
        self.submitted_before = submitted_before
        self.list_unadopted = list_unadopted

    def execute(self, context: Context) -> Any:
        after = _when(self.submitted_after)
        if self.lookback is not None:
            since = datetime.now(timezone.utc) - self.lookback
            after = since if after is None else max(after, since)
        clips = [
            clip
            for clip in read_clips(
                context, self.target_dag_id, self.run_ids, self.task_ids, states=GAVE_UP, results=False
            )
            if _within(clip["job"], after, _when(self.submitted_before))
        ]
        self.log.info(
            "Sweeping %d recorded job%s of DAG %s",
            len(clips),
            "" if len(clips) == 1 else "s",
            self.target_dag_id or context["ti"].dag_id,
        )
        hook = self.hook
        manifest = hook.reconcile(
            clips,
            download_to=self.download_to,
            max_download_bytes=self.max_download_bytes,
            list_unadopted=self.list_unadopted,
        )
        self.log.info("Reconcile manifest:\n%s", hook.cost_table(manifest))
        if manifest["unadopted"]:
            self.log.warning(
                "%d job(s) under this provider's client references were never recorded by a task: %s",
                len(manifest["unadopted"]),
                ", ".join(str(job["task_id"]) for job in manifest["unadopted"]),
            )
        return manifest


class KlingRunCostOperator(KlingSettings, BaseOperator):
    """What one DAG run's clips cost, per unit: estimated and reported, billed failures included.

    Reads every clip of the run (a succeeded clip's return value; a clip that gave up is asked at its
    gateway, without delivering anything) and returns the manifest of :class:`KlingReconcileOperator`
    without ``unadopted``; logs a table. Runs whatever the clips' outcome (``trigger_rule``
    ``all_done`` unless given).

    :param dag_id: the DAG (templated); default: this task's own.
    :param run_id: the run (templated); default: this task's own run.
    :param task_ids: only these tasks (default: every task that recorded a job).
    :param kling_conn_id: the connection used when a record names none.
    """

    template_fields: Sequence[str] = ("target_dag_id", "target_run_id")
    ui_color = "#e4f0ff"

    def __init__(
        self,
        *,
        dag_id: str | None = None,
        run_id: str | None = None,
        task_ids: list[str] | None = None,
        kling_conn_id: str = DEFAULT_CONN_ID,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("trigger_rule", "all_done")
        super().__init__(**kwargs)
        self.keep_settings(kling_conn_id)
        self.target_dag_id = dag_id
        self.target_run_id = run_id
        self.task_ids = task_ids

    def execute(self, context: Context) -> Any:
        run_id = self.target_run_id or context["ti"].run_id
        clips = read_clips(context, self.target_dag_id, [run_id], self.task_ids, states=None, results=True)
        hook = self.hook
        manifest = hook.reconcile(clips, deliver=False, list_unadopted=False)
        self.log.info("What run %s cost:\n%s", run_id, hook.cost_table(manifest))
        return manifest


def read_clips(
    context: Context,
    dag_id: str | None,
    run_ids: Iterable[str] | None,
    task_ids: Iterable[str] | None,
    *,
    states: Iterable[str] | None,
    results: bool,
) -> list[dict[str, Any]]:
    """The task instances of ``dag_id`` (in ``states``; ``None``: finished ones) that recorded a job,
    with their XCom record and (``results``) a succeeded one's return value."""
    ti = context["ti"]
    dag_id = dag_id or ti.dag_id
    wanted = set(states) if states is not None else {"success", *GAVE_UP}
    by_run = ti.get_task_states(
        dag_id=dag_id,
        run_ids=list(run_ids) if run_ids else None,
        task_ids=list(task_ids) if task_ids else None,
    )
    clips: list[dict[str, Any]] = []
    for run_id, per_task in sorted(by_run.items()):
        for key, state in sorted(per_task.items()):
            if state not in wanted or (dag_id == ti.dag_id and run_id == ti.run_id and key == ti.task_id):
                continue
            for task_id, map_index in _candidates(key, task_ids):
                job = ti.xcom_pull(task_id, dag_id, JOB_RECORD_KEY, run_id=run_id, map_indexes=map_index)
                if isinstance(job, dict):
                    result = (
                        ti.xcom_pull(task_id, dag_id, run_id=run_id, map_indexes=map_index)
                        if results and state == "success"
                        else None
                    )
                    clips.append(
                        {
                            "dag_id": dag_id,
                            "run_id": run_id,
                            "task_id": task_id,
                            "map_index": map_index,
                            "state": state,
                            "job": job,
                            "result": result if isinstance(result, dict) else None,
                        }
                    )
                    break
    return clips


def _candidates(key: str, task_ids: Iterable[str] | None) -> list[tuple[str, int]]:
    """``get_task_states`` names a mapped task instance ``<task_id>_<map_index>``: both readings."""
    found = _MAPPED_KEY.match(key)
    options = [(found["task"], int(found["index"]))] if found else []
    options.append((key, -1))
    allowed = set(task_ids) if task_ids else None
    return [(t, i) for t, i in options if allowed is None or t in allowed]


def _when(value: str | datetime | None) -> datetime | None:
    if value is None or value == "":
        return None
    when = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return when if when.tzinfo is not None else when.replace(tzinfo=timezone.utc)


def _within(record: dict[str, Any], after: datetime | None, before: datetime | None) -> bool:
    if after is None and before is None:
        return True
    try:
        submitted = _when(record.get("submitted_at"))
    except ValueError:
        return True  # an unreadable time: sweep it rather than forget a paid job
    if submitted is None:
        return True
    return (after is None or submitted >= after) and (before is None or submitted < before)
