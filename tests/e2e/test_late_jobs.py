"""Jobs that finish after their task gave up, on a real Airflow 3 deployment (LocalExecutor, SQLite).

1. ``late_e2e``: 6 mapped clips whose ``timeout`` (4 s) is shorter than the render (25 s) all fail,
   each leaving its job's record in XCom ``kling_job``; the emulator renders on.
2. ``late_e2e_manual``: a clip on APIXO a person marks failed through the REST API while its job renders.
3. ``late_e2e_sweep`` after the jobs finished: all 7 videos delivered, 0 new submits, and the
   manifest's costs equal the emulator's billing record.
4. Clearing one failed clip of ``late_e2e``, and the APIXO clip, re-runs them: each attaches to its job
   (APIXO cannot look a job up: the task state store does it), 0 new submits.
5. ``late_e2e_cost``: the run-cost step's totals equal the emulator's record of the 6 jobs.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.harness import AirflowDeployment, EmulatorProcess, wait_until
from tests.e2e.stack import EMULATOR_KEY_PAIR

pytestmark = pytest.mark.e2e

DAG_FILE = Path(__file__).resolve().parent / "dags_late" / "kling_late_e2e.py"
KLING_ACCESS_KEY, KLING_SECRET_KEY = EMULATOR_KEY_PAIR
CLIPS = 6


def billing(emulator: EmulatorProcess, gateway: str = "kling") -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{emulator.url}/_emulator/billing", params={"gateway": gateway}, timeout=10)
    response.raise_for_status()
    return {line["task_id"]: line for line in response.json()["jobs"]}


def test_late_jobs_are_swept_delivered_and_priced() -> None:
    home = Path(tempfile.mkdtemp(prefix="kling-e2e-late-"))
    dags = home / "src"
    dags.mkdir()
    shutil.copy(DAG_FILE, dags / DAG_FILE.name)
    late_dir = home / "late"
    connection = {
        "conn_type": "kling",
        "host": "",
        "login": KLING_ACCESS_KEY,
        "password": KLING_SECRET_KEY,
        "extra": {"gateway": "kling", "poll_interval": 0.5, "first_poll_delay": 1},
    }
    with EmulatorProcess(latency=2.0, log_path=home / "emulator.out") as emulator:
        connection["host"] = emulator.url
        apixo = {
            "conn_type": "kling",
            "host": emulator.url,
            "password": "sk-e2e-apixo-key",
            "extra": {"gateway": "apixo", "poll_interval": 0.5, "first_poll_delay": 1},
        }
        env = {
            "AIRFLOW_CONN_KLING_DEFAULT": json.dumps(connection),
            "AIRFLOW_CONN_KLING_APIXO": json.dumps(apixo),
            "KLING_LATE_DIR": str(late_dir),
        }
        with AirflowDeployment(dags, home=home / "airflow", env=env) as airflow:
            airflow.wait_for_dags(["late_e2e", "late_e2e_manual", "late_e2e_sweep", "late_e2e_cost"])
            api = airflow.api

            # 1. six clips give up before their jobs finish
            run = api.trigger_dag_run("late_e2e")["dag_run_id"]
            manual = api.trigger_dag_run("late_e2e_manual")["dag_run_id"]
            api.wait_for_dag_run("late_e2e", run, timeout=240)
            renders = api.mapped_task_instances("late_e2e", run, "render")
            assert [ti["state"] for ti in renders] == ["failed"] * CLIPS
            records = [api.xcom("late_e2e", run, "render", "kling_job", i) for i in range(CLIPS)]
            jobs = {str(r["job_id"]) for r in records}
            assert len(jobs) == CLIPS and all(r["client_reference"].startswith("af-") for r in records)
            # the in-run cost step saw six jobs (still rendering, or done if it ran late), 1.5 units each
            in_run = api.xcom("late_e2e", run, "cost")
            assert in_run["counts"]["rendering"] + in_run["counts"]["succeeded"] == CLIPS
            assert in_run["totals"]["estimated"] == {"units": 1.5 * CLIPS}

            # 2. a person marks a rendering clip failed
            base = f"/api/v2/dags/late_e2e_manual/dagRuns/{manual}/taskInstances/render"
            wait_until(lambda: api.get(base)["state"] == "deferred", 120, 0.5, what="the clip to defer")
            answer = api.request("PATCH", base, json={"new_state": "failed"})
            assert answer.status_code == 200, answer.text
            api.wait_for_dag_run("late_e2e_manual", manual, timeout=60)
            assert api.get(base)["state"] == "failed"
            manual_job = str(api.xcom("late_e2e_manual", manual, "render", "kling_job")["job_id"])
            assert billing(emulator, "apixo")[manual_job]["phase"] in ("queued", "running")  # renders on
            submits = emulator.counters()["submits"]
            assert (submits["kling"], submits["apixo"]) == (CLIPS, 1)

            # 3. the sweep, once the jobs finished at the gateway
            wait_until(
                lambda: (
                    all(billing(emulator)[j]["phase"] == "succeeded" for j in jobs)
                    and billing(emulator, "apixo")[manual_job]["phase"] == "succeeded"
                ),
                180,
                1.0,
                what="the late jobs to finish",
            )
            sweep = api.trigger_dag_run("late_e2e_sweep")["dag_run_id"]
            assert api.wait_for_dag_run("late_e2e_sweep", sweep, timeout=180)["state"] == "success"
            manifest = api.xcom("late_e2e_sweep", sweep, "sweep_late_e2e")
            swept = {row["job_id"]: row for row in manifest["jobs"]}
            assert set(swept) == jobs and manifest["counts"]["delivered"] == CLIPS
            assert sorted(row["clip"] for row in swept.values()) == [f"render[{i}]" for i in range(CLIPS)]
            record = billing(emulator)
            for job, row in swept.items():
                assert (row["cost"], row["cost_unit"]) == (record[job]["amount"], record[job]["unit"])
                assert all(Path(p).stat().st_size > 0 and Path(p).parent == late_dir for p in row["video"])
            billed = sum(record[j]["amount"] for j in jobs)
            assert manifest["totals"]["reported"] == {"units": billed} and manifest["billed_failures"] == 0
            by_hand = api.xcom("late_e2e_sweep", sweep, "sweep_late_e2e_manual")
            assert [(row["job_id"], row["status"]) for row in by_hand["jobs"]] == [(manual_job, "delivered")]
            # APIXO reports no cost: the estimate ($0.06/s) is what the emulator charged
            charged = billing(emulator, "apixo")[manual_job]
            assert by_hand["totals"]["estimated"] == {"USD": charged["amount"]} and charged["unit"] == "USD"
            assert emulator.counters()["submits"] == submits  # the sweep never submits

            # 4. clearing a failed clip re-runs it: it attaches to its job (official API and APIXO)
            cleared_clips = (
                ("late_e2e", run, ["render", 0], "/0"),
                ("late_e2e_manual", manual, "render", ""),
            )
            for dag_id, run_id, task, index in cleared_clips:
                body = {"dry_run": False, "dag_run_id": run_id, "task_ids": [task], "only_failed": True}
                cleared = api.post(f"/api/v2/dags/{dag_id}/clearTaskInstances", body)
                assert len(cleared["task_instances"]) == 1, cleared
                path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/render{index}"
                wait_until(lambda p=path: api.get(p)["state"] == "success", 180, 1.0, what=f"{dag_id} again")
            again = api.xcom("late_e2e", run, "render", map_index=0)
            assert again["task_id"] == str(records[0]["job_id"]) and again["state"] == "succeeded"
            assert api.xcom("late_e2e_manual", manual, "render")["task_id"] == manual_job
            assert emulator.counters()["submits"] == submits  # 0 new paid jobs

            # 5. what the run cost, per unit, against the emulator's record
            cost_run = api.trigger_dag_run("late_e2e_cost", conf={"run_id": run})["dag_run_id"]
            assert api.wait_for_dag_run("late_e2e_cost", cost_run, timeout=120)["state"] == "success"
            cost = api.xcom("late_e2e_cost", cost_run, "cost")
            assert cost["totals"]["reported"] == {"units": billed}
            assert cost["totals"]["estimated"] == {"units": 1.5 * CLIPS}
            assert cost["counts"]["delivered_by_task"] == 1 and cost["counts"]["succeeded"] == CLIPS - 1
        assert not airflow.leftover_pids()
    shutil.rmtree(home, ignore_errors=True)
