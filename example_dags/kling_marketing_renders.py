"""Weekly marketing renders: one Kling clip per (product, aspect ratio), then an Asset event.

The prompt table is ``assets/products.csv`` next to this file: one row per clip, with the columns
``product``, ``aspect_ratio`` (``16:9``, ``9:16`` or ``1:1``), ``model`` and ``description``. The
model is picked per row: the landscape *hero* clip of each product is Kling 3.0 (8 s, the better and
dearer model), the vertical variants Kling 2.6 (5 s); an empty ``model`` means the connection's
default. Edit the table to add products or formats; the DAG picks the change up at the next run (the
table is read by a task, not when the file is parsed).

Flow:

1. ``read_table`` reads the CSV; ``build_prompts`` turns each row into the operator's arguments
   (``prompt``, ``aspect_ratio``, ``model``, ``duration``) with one shared style template, so the
   brand look stays consistent.
2. ``budget`` (:class:`KlingBudgetGateOperator`) prices the mixed batch before any clip is submitted,
   each clip at its own model's price (a 3.0 second costs 1.2-3x a 2.6 one; amounts are summed per
   unit only): under ``APPROVE_ABOVE`` it goes on, over ``FAIL_ABOVE`` it fails, in between a person
   approves in the Airflow UI (see ``kling_budget_gate``).
3. ``render`` is a *mapped* :class:`KlingGenerateOperator` (``expand_kwargs``): one task instance per
   row, each deferring to the triggerer while its job renders (``deferrable=True``: a waiting clip
   holds no worker slot), then downloading its MP4 to ``KLING_DOWNLOAD_DIR/marketing``. The grid
   names each render after its product and aspect ratio (``map_index_template``), not 0, 1, 2...
   A retry attaches to the job an earlier try submitted: a clip is never paid twice.
4. ``publish`` pairs each row with its render and emits an event on the Asset
   ``kling://marketing-renders`` whose ``extra`` lists the videos::

       {"videos": [{"product": "...", "aspect_ratio": "16:9", "path": "/.../<id>.mp4",
                    "url": "https://...", "sha256": "...", "size": 123456, "task_id": "..."}],
        "count": 6}

   ``kling_post_processing`` is scheduled on that Asset. Keep the list small (it is stored in the
   metadata database): for thousands of clips, write a manifest file and put its path in ``extra``.

**Pool.** The mapped renders run in the pool named by the environment variable ``KLING_POOL``
(default ``kling``). Gateways limit how many jobs one account renders at once; a pool of that size
with ``include_deferred`` keeps the other clips ``scheduled``, holding nothing, instead of submitting
and being refused (a refused clip waits for capacity and submits again, but each refusal costs a
scheduler round trip). Create it once, with your account's number of concurrent jobs::

    airflow pools set kling 4 "Kling renders" --include-deferred

A task in a pool that does not exist is never scheduled, so create the pool before enabling the DAG.
Without ``--include-deferred`` a deferred task leaves its slot while its clip renders, so the pool
limits only *submits in flight*. See the guide "Rendering thousands of clips".

Connection set-up and ``KLING_DOWNLOAD_DIR``: see ``kling_quickstart``. The template only uses fields
every gateway accepts (no negative prompt, no tier), and every gateway offers both models, so any
gateway works.
"""

from __future__ import annotations

import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, task

from airflow_provider_kling.operators.budget import KlingBudgetGateOperator
from airflow_provider_kling.operators.kling import KlingGenerateOperator

#: The pool the renders run in: size it to the account's concurrent jobs, with ``include_deferred``.
POOL = os.environ.get("KLING_POOL") or "kling"
#: The Asset ``kling_post_processing`` is scheduled on.
MARKETING_RENDERS = Asset("kling://marketing-renders")
TABLE = Path(__file__).resolve().parent / "assets" / "products.csv"
DOWNLOAD_DIR = os.path.join(
    os.environ.get("KLING_DOWNLOAD_DIR") or os.path.join(tempfile.gettempdir(), "kling-videos"), "marketing"
)
#: One look for every clip; the row fills in the product and the framing.
#: The product name comes first: ``RENDER_NAME`` shows the text before the first colon in the UI.
PROMPT_TEMPLATE = (
    "{product}: {framing} product commercial, {description}. Product name '{product}' stays "
    "readable. Clean studio lighting, slow cinematic camera move, premium brand look, no people"
)
#: How the UI names each mapped render (instead of 0, 1, 2...): "Aurora sparkling water · 16:9".
#: Rendered with the task's own rendered fields (``task.prompt``, ``task.aspect_ratio``...).
RENDER_NAME = "{{ task.prompt.partition(':')[0] }} · {{ task.aspect_ratio }}"
#: clip length per model (Kling 3.0 takes any whole second from 3 to 15; Kling 2.6 5 or 10)
DURATION = {"kling-3.0": 8}
DEFAULT_DURATION = 5
#: no one is asked up to these totals, per unit (three 8 s 3.0 heroes and three 5 s 2.6 variants:
#: official API $2.02 + 4.5 units; Rivya 435 credits; APIXO's 2.6 $0.90 with the 3.0 clips unpriced)
APPROVE_ABOVE = {"units": 10.0, "USD": 5.0, "credits": 600.0}
#: never spend more than this in one run
FAIL_ABOVE = {"units": 50.0, "USD": 25.0, "credits": 3000.0}
FRAMING = {
    "16:9": "Wide landscape",
    "9:16": "Vertical full-screen (stories/reels)",
    "1:1": "Square social-feed",
}

with DAG(
    dag_id="kling_marketing_renders",
    description="Weekly product clips: a Kling 3.0 hero and 2.6 variants per product, priced, then announced",
    schedule="@weekly",
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    tags=["kling", "example"],
    doc_md=__doc__,
) as dag:

    @task
    def read_table() -> list[dict[str, str]]:
        """The prompt table as a list of rows (``product``, ``aspect_ratio``, ``description``)."""
        import csv

        with TABLE.open(newline="", encoding="utf-8") as fh:
            rows = [{k: (v or "").strip() for k, v in row.items()} for row in csv.DictReader(fh)]
        bad = [row for row in rows if row["aspect_ratio"] not in FRAMING]
        if bad:
            raise ValueError(f"{TABLE.name}: unknown aspect_ratio in {bad}; allowed: {sorted(FRAMING)}")
        return rows

    @task
    def build_prompts(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
        """One set of operator arguments per row (the keys must be operator parameters)."""
        return [
            {
                "prompt": PROMPT_TEMPLATE.format(framing=FRAMING[row["aspect_ratio"]], **row),
                "aspect_ratio": row["aspect_ratio"],
                "model": row.get("model") or None,
                "duration": DURATION.get(row.get("model") or "", DEFAULT_DURATION),
            }
            for row in rows
        ]

    rows = read_table()
    clips = build_prompts(rows)
    budget = KlingBudgetGateOperator(
        task_id="budget",
        clips=clips,
        kling_conn_id="kling_default",
        approve_above=APPROVE_ABOVE,
        fail_above=FAIL_ABOVE,
        subject="Weekly marketing renders over the budget",
    )
    render = KlingGenerateOperator.partial(
        task_id="render",
        kling_conn_id="kling_default",
        pool=POOL,
        map_index_template=RENDER_NAME,
        deferrable=True,
        download_to=DOWNLOAD_DIR,
        timeout=30 * 60,
        retries=2,
    ).expand_kwargs(clips)
    budget >> render

    @task(outlets=[MARKETING_RENDERS])
    def publish(
        rows: list[dict[str, str]], renders: list[dict[str, Any]], outlet_events: Any = None
    ) -> list[dict[str, Any]]:
        """Pair rows with renders (both in row order) and announce the videos on the Asset."""
        videos = []
        for row, result in zip(rows, renders, strict=True):
            for item in result.get("downloads", []):
                videos.append(
                    {
                        "product": row["product"],
                        "aspect_ratio": row["aspect_ratio"],
                        "path": item["path"],
                        "url": item["url"],
                        "sha256": item["sha256"],
                        "size": item["size"],
                        "task_id": result["task_id"],
                    }
                )
        outlet_events[MARKETING_RENDERS].extra = {"videos": videos, "count": len(videos)}
        print(f"Published {len(videos)} videos on {MARKETING_RENDERS.uri}")
        return videos

    publish(rows, render.output)
