"""A priced batch: estimate every clip, approve the budget, render them mapped, then a cost manifest.

Flow:

1. ``plan`` lists the clips (``shots`` of them, from the run's params: trigger with
   ``{"shots": 5}`` to ask for more) as the render's keyword arguments.
2. ``budget`` (:class:`KlingBudgetGateOperator`) prices the whole batch *before any clip is
   submitted*, from the gateway's published prices or the connection's ``extra.prices``, and reads
   what the account has left where the gateway has a free endpoint (official API, Rivya). Then:

   * total at most ``APPROVE_ABOVE``: it goes on at once;
   * over ``FAIL_ABOVE`` (or over the balance): it fails, nothing is submitted, no retry;
   * in between, or some clip has no price: a person answers "Approve" or "Reject" in the Airflow
     UI (Required actions; Airflow's human-in-the-loop ``ApprovalOperator``, Airflow >= 3.1).
     "Reject" skips the renders.

   The thresholds are given per unit, so the same DAG works on every gateway: Kling API units
   (official API), US dollars (APIXO, or a connection's own prices) and Rivya credits.
3. ``render`` is the mapped :class:`KlingGenerateOperator` over the same clips.
4. ``manifest`` lists each clip's reported cost with its unit and the totals per unit, actual and
   estimated (dollars and credits never add up), and writes it to ``KLING_DOWNLOAD_DIR/budget``.

Connection set-up: see ``kling_quickstart``.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import DAG, Param, task

from airflow_provider_kling.operators.budget import KlingBudgetGateOperator
from airflow_provider_kling.operators.kling import KlingGenerateOperator

MANIFEST_DIR = os.path.join(
    os.environ.get("KLING_DOWNLOAD_DIR") or os.path.join(tempfile.gettempdir(), "kling-videos"), "budget"
)
#: no one is asked up to these totals (3 silent 5 s std clips: 4.5 units, $0.90 on APIXO, 165 credits)
APPROVE_ABOVE = {"units": 5.0, "USD": 1.0, "credits": 170.0}
#: never spend more than this in one run
FAIL_ABOVE = {"units": 30.0, "USD": 6.0, "credits": 1100.0}
SUBJECTS = ("a paper boat on a rain puddle", "a lighthouse at dusk", "a fox in fresh snow", "a tram at night")

with DAG(
    dag_id="kling_budget_gate",
    description="Price a batch of Kling clips, approve the budget, render, and a cost manifest",
    schedule=None,
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["kling", "example"],
    params={"shots": Param(3, type="integer", minimum=1, maximum=20, description="clips to render")},
    doc_md=__doc__,
) as dag:

    @task
    def plan(params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        """The clips, as the render's keyword arguments (the gate prices exactly these)."""
        shots = int((params or {}).get("shots", 3))
        return [
            {"prompt": f"Cinematic shot of {SUBJECTS[i % len(SUBJECTS)]}, take {i + 1}", "duration": 5}
            for i in range(shots)
        ]

    clips = plan()
    budget = KlingBudgetGateOperator(
        task_id="budget",
        clips=clips,
        kling_conn_id="kling_default",
        approve_above=APPROVE_ABOVE,
        fail_above=FAIL_ABOVE,
        subject="Kling renders over the budget",
    )
    render = KlingGenerateOperator.partial(
        task_id="render", kling_conn_id="kling_default", deferrable=True, retries=2
    ).expand_kwargs(clips)
    budget >> render

    @task
    def manifest(renders: list[dict[str, Any]]) -> dict[str, Any]:
        """Per clip: task id, URL, cost and its unit; totals per unit, actual and estimated."""
        import json

        actual: dict[str, float] = {}
        estimated: dict[str, float] = {}
        rows = []
        for result in renders:
            unit, cost = result.get("cost_unit"), result.get("cost")
            if cost is not None:
                key = unit or "unknown unit"
                actual[key] = round(actual.get(key, 0.0) + float(cost), 6)
            est = result.get("estimated_cost") or {}
            if est:
                estimated[est["unit"]] = round(estimated.get(est["unit"], 0.0) + float(est["amount"]), 6)
            rows.append(
                {
                    "task_id": result["task_id"],
                    "video_url": (result.get("video_urls") or [None])[0],
                    "cost": cost,
                    "cost_unit": unit,
                    "estimated_cost": est or None,
                }
            )
        out = {"clips": rows, "totals": actual, "estimated_totals": estimated}
        os.makedirs(MANIFEST_DIR, exist_ok=True)
        path = os.path.join(MANIFEST_DIR, "manifest.json")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(out, fh, indent=2)
        print(f"Manifest of {len(rows)} clips at {path}: totals {actual}, estimated {estimated}")
        return out

    manifest(render.output)
