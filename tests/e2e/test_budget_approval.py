"""The budget gate's approval path on a real Airflow 3 deployment: a person answers through the HITL API.

``dag.test()`` never answers a human-in-the-loop task (it stays parked in ``awaiting_input``), so the
example DAG ``kling_budget_gate`` runs here with its scheduler, triggerer and api-server: 4 clips on the
official API are 6 units, over the 5-unit approval threshold and under the 30-unit hard limit. The
test checks that nothing is submitted while the gate waits, reads the request the approver sees,
answers "Approve" with ``PATCH .../taskInstances/budget/-1/hitlDetails``, and then sees the four
clips rendered and the manifest's totals per unit. A second run answered "Reject" skips the renders.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from tests.e2e.stack import running_stack, wait_until

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "example_dags" / "kling_budget_gate.py"
DAG_ID = "kling_budget_gate"


def test_budget_over_the_threshold_waits_for_approval_then_renders() -> None:
    home = Path(tempfile.mkdtemp(prefix="kling-e2e-budget-"))
    dags = home / "src"
    dags.mkdir()
    shutil.copy(EXAMPLE, dags / EXAMPLE.name)
    with running_stack(
        dags,
        latency=2.0,
        conn_extra={"gateway": "kling", "poll_interval": 0.5, "first_poll_delay": 1},
        env={"KLING_DOWNLOAD_DIR": str(home / "downloads")},
        dag_ids=[DAG_ID],
        home=home,
        remove_home=True,
    ) as stack:
        emulator, airflow = stack.emulator, stack.airflow
        api = airflow.api
        run_id = api.trigger_dag_run(DAG_ID, conf={"shots": 4})["dag_run_id"]
        base = f"/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/budget/-1"

        def gate_state(base: str) -> str | None:
            return api.get(base).get("state")  # type: ignore[no-any-return]

        def parked(run: str) -> bool:
            """The executor's report of the workload that parked the gate reached the scheduler.

            Answering before that loses a race in Airflow 3.3 with the LocalExecutor: the answer
            re-queues the task, then the late "success" of the parked workload finds it queued,
            and the scheduler marks it failed ("state changed externally")."""
            seen = airflow.component_log("scheduler").read_text(encoding="utf-8", errors="replace")
            return f"task_id=budget, run_id={run}, map_index=-1" in seen and "TaskInstance Finished" in seen

        wait_until(lambda: gate_state(base) == "awaiting_input", 120, 1.0, what="the gate to ask")
        wait_until(lambda: parked(run_id), 60, 0.5, what="the parked workload to be reported")
        assert emulator.counters()["submits"]["kling"] == 0  # nothing paid while a person decides
        asked = api.get(f"{base}/hitlDetails")
        assert asked["options"] == ["Approve", "Reject"]
        assert "6 units" in asked["body"] and "over 5 units" in asked["body"]
        estimate = api.xcom(DAG_ID, run_id, "budget", key="kling_budget")
        assert estimate["totals"] == {"units": 6.0} and estimate["balance"]["unit"] == "units"

        answer = api.request("PATCH", f"{base}/hitlDetails", json={"chosen_options": ["Approve"]})
        assert answer.status_code == 200, answer.text
        run = api.wait_for_dag_run(DAG_ID, run_id, timeout=180)
        assert run["state"] == "success"
        gate = api.xcom(DAG_ID, run_id, "budget")
        assert gate["decision"] == "approved" and gate["totals"] == {"units": 6.0}
        assert emulator.counters()["submits"]["kling"] == 4
        manifest = api.xcom(DAG_ID, run_id, "manifest")
        assert manifest["totals"] == {"units": 6.0} and len(manifest["clips"]) == 4
        assert {row["cost_unit"] for row in manifest["clips"]} == {"units"}

        # "Reject": the renders are skipped and nothing more is submitted
        rejected = api.trigger_dag_run(DAG_ID, conf={"shots": 4})["dag_run_id"]
        second = f"/api/v2/dags/{DAG_ID}/dagRuns/{rejected}/taskInstances/budget/-1"
        wait_until(lambda: gate_state(second) == "awaiting_input", 120, 1.0, what="the gate to ask again")
        wait_until(lambda: parked(rejected), 60, 0.5, what="the parked workload to be reported")
        answer = api.request("PATCH", f"{second}/hitlDetails", json={"chosen_options": ["Reject"]})
        assert answer.status_code == 200, answer.text
        api.wait_for_dag_run(DAG_ID, rejected, timeout=120)
        assert api.xcom(DAG_ID, rejected, "budget")["decision"] == "rejected"
        states = {ti["task_id"]: ti["state"] for ti in api.task_instances(DAG_ID, rejected)}
        assert states["render"] == "skipped", states
        assert emulator.counters()["submits"]["kling"] == 4
