"""Jobs that finish late: the record of every submitted job, the sweep that delivers late
successes, and what a run cost. The operators keep only the Airflow side (where records are read
from: XCom of the clips' task instances); this module never submits.

**The record** (:func:`job_record`, XCom key :data:`RECORD_KEY` of the clip's task instance) is
pushed right after the submit or the attach, before any wait: gateway, connection, job id, client
reference, model, estimate and when. XCom survives the task's failure (Airflow deletes a task
instance's XCom only when its next try starts, and that try attaches to the same job and pushes
the record again), any task of any DAG can read it, and it works on every executor and metadata
database.

**The sweep** (:func:`reconcile`) takes the clips whose task did not succeed, asks the gateway for
each recorded job and sorts it: ``delivered`` (a late success, downloaded or its URLs listed),
``succeeded`` (the same when only asked, the run-cost step), ``rendering`` (ask again later),
``failed`` (with whether the gateway bills it), ``lost`` (the gateway no longer knows it) or
``error`` (the gateway could not be asked; nothing is assumed). Where the gateway lists the
account's jobs, jobs carrying this provider's client references that no task recorded are listed
as ``unadopted``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Protocol

from airflow_provider_kling.exceptions import KlingError, KlingNotFoundError
from airflow_provider_kling.gateways.billing import FailureBilling, possibly_billed
from airflow_provider_kling.gateways.pricing import CostEstimate, format_amount
from airflow_provider_kling.models import VideoRequest, VideoTask

#: Every client reference this provider derives starts with this (see the operator).
REFERENCE_PREFIX = "af-"
#: Statuses of a sweep row.
STATUSES = ("delivered", "delivered_by_task", "succeeded", "rendering", "failed", "lost", "error")


def job_record(
    task: VideoTask,
    request: VideoRequest,
    *,
    conn_id: str,
    model: str,
    estimate: CostEstimate | None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """What a later try and the sweep need to find and price ``task`` again (JSON-able, no secret)."""
    record: dict[str, Any] = {
        "job_id": task.task_id,
        "endpoint": task.endpoint,
        "gateway": task.gateway,
        "conn_id": conn_id,
        "client_reference": task.client_reference or request.client_reference,
        "model": model,
        "duration": request.duration,
        "submitted_at": (now or datetime.now(timezone.utc)).isoformat(),
    }
    if estimate is not None:
        record["estimated_cost"] = {"amount": estimate.amount, "unit": estimate.unit}
    return record


@dataclass(frozen=True)
class Clip:
    """One task instance of a clip, as the operator read it from Airflow."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int = -1
    state: str | None = None
    #: the XCom job record (:func:`job_record`), ``None`` when the task never submitted
    job: Mapping[str, Any] | None = None
    #: the task's ``return_value`` when it succeeded
    result: Mapping[str, Any] | None = None

    @property
    def label(self) -> str:
        return self.task_id if self.map_index < 0 else f"{self.task_id}[{self.map_index}]"


class JobReader(Protocol):
    """What the sweep needs from a hook of the record's connection."""

    def get_task(self, task_or_id: VideoTask | str, endpoint: str | None = None) -> VideoTask: ...

    def failure_error(self, task: VideoTask) -> KlingError: ...

    def download_videos(
        self, task: VideoTask, destination: Any, max_bytes: int | None = None
    ) -> list[dict[str, Any]]: ...


def reconcile(
    clips: Iterable[Clip],
    reader_for: Callable[[str], JobReader],
    billing_for: Callable[[str], FailureBilling],
    log: logging.Logger,
    *,
    deliver: bool = True,
    download_to: Any = None,
    max_download_bytes: int | None = None,
    listed: Iterable[VideoTask] = (),
) -> dict[str, Any]:
    """The manifest of ``clips``: one row per recorded job (see the module docstring). Never submits.

    ``deliver=False`` only asks (the run-cost step); ``listed`` are the jobs the gateway listed.
    """
    rows: list[dict[str, Any]] = []
    for clip in clips:
        try:
            row = _row(clip, reader_for, billing_for, log, deliver, download_to, max_download_bytes)
        except Exception as exc:  # a missing connection, say: report it, sweep the others
            log.warning("Could not reconcile %s of %s/%s: %s", clip.label, clip.dag_id, clip.run_id, exc)
            row = _error_row(clip, f"{type(exc).__name__}: {exc}")
        if row is not None:
            rows.append(row)
    known = {str(row["job_id"]) for row in rows}
    unadopted = [
        {**task.summary(), "client_reference": task.client_reference}
        for task in listed
        if task.task_id not in known and (task.client_reference or "").startswith(REFERENCE_PREFIX)
    ]
    return summarize(rows, unadopted)


def summarize(rows: list[dict[str, Any]], unadopted: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Counts per status, billed failures and the totals per unit (reported and estimated)."""
    reported: dict[str, float] = {}
    estimated: dict[str, float] = {}
    for row in rows:
        charged = row["status"] in ("delivered", "delivered_by_task", "succeeded", "rendering") or (
            row["status"] == "failed" and possibly_billed(row.get("billed"))
        )
        if not charged:
            continue
        if row.get("cost") is not None and row.get("cost_unit"):
            unit = str(row["cost_unit"])
            reported[unit] = round(reported.get(unit, 0.0) + float(row["cost"]), 6)
        est = row.get("estimated_cost")
        if isinstance(est, Mapping) and est.get("unit"):
            unit = str(est["unit"])
            estimated[unit] = round(estimated.get(unit, 0.0) + float(est.get("amount") or 0.0), 6)
    counts = {status: sum(1 for row in rows if row["status"] == status) for status in STATUSES}
    return {
        "jobs": rows,
        "counts": counts,
        "billed_failures": sum(
            1 for row in rows if row["status"] == "failed" and possibly_billed(row.get("billed"))
        ),
        "totals": {"reported": reported, "estimated": estimated},
        "unadopted": unadopted or [],
    }


def cost_table(manifest: Mapping[str, Any]) -> str:
    """A plain-text table of the manifest: one line per job, then the totals per unit."""
    lines = [f"{'clip':<24} {'status':<18} {'job':<24} {'cost':>14} {'estimated':>14} billed"]
    for row in manifest.get("jobs", []):
        cost = _amount(row.get("cost"), row.get("cost_unit"))
        est = row.get("estimated_cost") or {}
        lines.append(
            f"{row['clip']:<24} {row['status']:<18} {str(row['job_id'])[:24]:<24} {cost:>14} "
            f"{_amount(est.get('amount'), est.get('unit')):>14} {row.get('billed', '')}"
        )
    totals = manifest.get("totals", {})
    for kind in ("reported", "estimated"):
        for unit, amount in sorted(totals.get(kind, {}).items()):
            lines.append(f"total {kind:<10} {format_amount(amount, unit)}")
    lines.append(f"billed failures: {manifest.get('billed_failures', 0)}")
    return "\n".join(lines)


def _amount(amount: Any, unit: Any) -> str:
    return "-" if amount is None or not unit else format_amount(float(amount), str(unit))


def _row(
    clip: Clip,
    reader_for: Callable[[str], JobReader],
    billing_for: Callable[[str], FailureBilling],
    log: logging.Logger,
    deliver: bool,
    download_to: Any,
    max_download_bytes: int | None,
) -> dict[str, Any] | None:
    record = dict(clip.job or {})
    result = dict(clip.result or {})
    if not record.get("job_id") and not result.get("task_id"):
        return None  # never submitted: nothing paid
    row: dict[str, Any] = {
        "dag_id": clip.dag_id,
        "run_id": clip.run_id,
        "clip": clip.label,
        "task_id": clip.task_id,
        "map_index": clip.map_index,
        "job_id": record.get("job_id") or result.get("task_id"),
        "gateway": record.get("gateway") or result.get("gateway"),
        "conn_id": record.get("conn_id"),
        "model": record.get("model"),
        "client_reference": record.get("client_reference"),
        "submitted_at": record.get("submitted_at"),
        "estimated_cost": record.get("estimated_cost") or _estimate(result),
    }
    if clip.state == "success" and result.get("state") == "succeeded":
        row.update(status="delivered_by_task", state="succeeded", billed="yes")
        row["cost"], row["cost_unit"] = result.get("cost"), result.get("cost_unit")
        row["video"] = [d["path"] for d in result.get("downloads", [])] or list(result.get("video_urls", []))
        return row
    if not record.get("conn_id"):
        row.update(status="error", error="the job record names no connection")
        return row
    reader = reader_for(str(record["conn_id"]))
    try:
        task = reader.get_task(str(row["job_id"]), record.get("endpoint"))
    except KlingNotFoundError as err:
        row.update(status="lost", error=err.message)
        return row
    except KlingError as err:
        row.update(status="error", error=str(err))
        return row
    row["state"] = task.state.value
    row["cost"], row["cost_unit"] = task.cost, task.cost_unit
    if task.state.is_failed:
        error = reader.failure_error(task)
        outcome, billed = billing_for(str(row["gateway"])).for_error(error)
        row.update(status="failed", billed=billed, outcome=outcome, error=error.message)
        return row
    if not task.state.is_terminal:
        row.update(status="rendering", billed="yes")
        return row
    row["billed"] = "yes"
    row["video"] = list(task.video_urls)
    if deliver:
        row["status"] = "delivered"
        if download_to is not None:
            try:
                row["downloads"] = reader.download_videos(task, download_to, max_download_bytes)
                row["video"] = [d["path"] for d in row["downloads"]]
            except KlingError as err:
                row.update(status="error", error=f"the late success could not be downloaded: {err}")
                return row
        log.info("Late success of %s delivered: job %s -> %s", clip.label, task.task_id, row["video"])
    else:
        row["status"] = "succeeded"  # asked only (the run-cost step): nothing delivered
    return row


def _error_row(clip: Clip, error: str) -> dict[str, Any] | None:
    record = dict(clip.job or {})
    if not record.get("job_id"):
        return None
    keys = ("job_id", "gateway", "conn_id", "model", "client_reference", "submitted_at", "estimated_cost")
    return {
        "dag_id": clip.dag_id,
        "run_id": clip.run_id,
        "clip": clip.label,
        "task_id": clip.task_id,
        "map_index": clip.map_index,
        **{key: record.get(key) for key in keys},
        "status": "error",
        "error": error,
    }


def _estimate(result: Mapping[str, Any]) -> dict[str, Any] | None:
    est = result.get("estimated_cost")
    return {"amount": est.get("amount"), "unit": est.get("unit")} if isinstance(est, Mapping) else None
