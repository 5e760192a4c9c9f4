"""A capacity refusal is a wait, not a failure, on a real Airflow 3 deployment (LocalExecutor).

12 mapped deferrable clips with ``retries=0`` against an emulated account that allows 3 jobs in
flight (latency 3 s): every clip succeeds, exactly 12 submits are accepted (never paying twice),
refusals happen, and every refusal is waited for in the triggerer (the task defers to
``KlingCapacityTrigger``), never in a worker slot.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import running_stack, wait_until

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).resolve().parent / "dags_capacity"
DAG_ID = "kling_capacity"
CLIPS = 12
CONCURRENCY = 3
LATENCY = 3.0
PARALLELISM = 4
CAPACITY_TRIGGER = "airflow_provider_kling.triggers.capacity.KlingCapacityTrigger"


def test_capacity_refusals_wait_deferred_and_every_clip_succeeds() -> None:
    with running_stack(
        DAGS,
        latency=LATENCY,
        emulator_args=["--concurrency", str(CONCURRENCY)],
        conn_extra={"gateway": "kling", "poll_interval": 1, "first_poll_delay": LATENCY - 1},
        env={"KLING_CAP_CLIPS": str(CLIPS)},
        dag_ids=[DAG_ID],
        prefix="kling-e2e-capacity-",
        parallelism=PARALLELISM,
        remove_home=True,
    ) as stack:
        emulator, airflow = stack.emulator, stack.airflow
        api = airflow.api
        run_id = api.trigger_dag_run(DAG_ID)["dag_run_id"]
        seen: dict[str, int] = {"capacity_deferred_max": 0, "samples_with_capacity_waiters": 0}

        def finished() -> dict[str, Any] | None:
            tis = api.task_instances(DAG_ID, run_id)
            waiting = [
                ti
                for ti in tis
                if ti["state"] == "deferred"
                and (ti.get("trigger") or {}).get("classpath") == CAPACITY_TRIGGER
            ]
            seen["capacity_deferred_max"] = max(seen["capacity_deferred_max"], len(waiting))
            seen["samples_with_capacity_waiters"] += bool(waiting)
            run = api.dag_run(DAG_ID, run_id)
            return run if run["state"] in ("success", "failed") else None

        run = wait_until(finished, 300, 1.0, what="the capacity run to finish")
        tis = api.task_instances(DAG_ID, run_id)
        counters = emulator.counters()
        # Task and trigger logs only (the components' own output repeats some of their lines).
        files = [p for p in airflow.log_files() if "dag_id=" in str(p)]
        logs = [p.read_text(errors="replace") for p in files]
        waits_logged = sum(text.count("Waiting for capacity at gateway kling") for text in logs)
        resumed = sum(text.count("Submitting again after waiting for capacity") for text in logs)
        woken = sum(
            text.count("Submitting again after waiting for capacity (a slot was freed)") for text in logs
        )
        in_worker = sum(text.count("next try in") - text.count("sooner when a slot frees") for text in logs)
        figures = {
            "states": dict(Counter(ti["state"] for ti in tis)),
            "accepted": counters["accepted"]["kling"],
            "refused": counters["refused"]["kling"],
            "peak_in_flight": counters["peak_in_flight"]["kling"],
            "waits_logged": waits_logged,
            "resumed_from_capacity_trigger": resumed,
            "woken_by_a_freed_slot": woken,
            **seen,
        }
        print(f"\n[e2e capacity] {json.dumps(figures)}")
        assert run["state"] == "success", figures
        assert figures["states"] == {"success": CLIPS}, figures
        assert figures["accepted"] == CLIPS, figures  # one paid job per clip
        assert figures["refused"] >= 1, figures
        assert figures["peak_in_flight"] <= CONCURRENCY, figures
        # Every refusal the emulator counted was logged by a task and waited for in the triggerer.
        assert waits_logged == figures["refused"], figures
        assert resumed == figures["refused"], figures
        assert in_worker == 0, figures
        assert seen["capacity_deferred_max"] >= 1, figures
