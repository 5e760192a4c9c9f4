"""Jobs that finish after their task gave up: recorded, swept, delivered, and priced (``dag.test()``)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.gateways import GATEWAY_NAMES
from tests.integration.conftest import counters
from tests.integration.dagrun import run_dag, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "emulator")
DAGS = "kling_late_dags"
RECORD_FIELDS = {"job_id", "gateway", "conn_id", "client_reference", "model", "submitted_at", "duration"}


def billing(emu: EmulatorServer, gateway: str | None = None) -> dict[str, Any]:
    return emu.billing(gateway)


def wait_jobs_done(emu: EmulatorServer, job_ids: set[str], deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        lines = {line["task_id"]: line for line in billing(emu)["jobs"]}
        if all(lines.get(j, {}).get("phase") in ("succeeded", "failed") for j in job_ids):
            return
        time.sleep(0.2)
    raise AssertionError(f"jobs {job_ids} still rendering after {deadline_s} s")


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_clips_that_time_out_are_recorded_swept_and_delivered(
    emulator: EmulatorServer, gateway: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = counters(emulator)["submits"][gateway]
    _, tis = run_dag(DAGS, f"late_{gateway}")  # the run succeeds: its leaf, ``cost``, runs all_done
    clips = [tis["render[0]"], tis["render[1]"]]
    assert all(ti.state == TaskInstanceState.FAILED for ti in clips)
    assert counters(emulator)["submits"][gateway] == before + 2
    records = [xcom(ti, "kling_job") for ti in clips]
    for record in records:
        assert set(record) >= RECORD_FIELDS and record["gateway"] == gateway
        assert record["conn_id"] == f"kling_{gateway}" and record["client_reference"].startswith("af-")
    jobs = {str(r["job_id"]) for r in records}

    # the run-cost step ran after the failures: both jobs are counted (still rendering, or done by then)
    cost = xcom(tis["cost"])
    assert {row["job_id"] for row in cost["jobs"]} == jobs
    assert cost["counts"]["rendering"] + cost["counts"]["succeeded"] == 2

    wait_jobs_done(emulator, jobs)
    monkeypatch.setenv("KLING_LATE_DIR", str(tmp_path))
    dr, tis = run_dag(DAGS, f"sweep_{gateway}")
    assert dr.state == DagRunState.SUCCESS
    manifest = xcom(tis["reconcile"])
    mine = [row for row in manifest["jobs"] if row["job_id"] in jobs]
    assert {row["status"] for row in mine} == {"delivered"}
    assert counters(emulator)["submits"][gateway] == before + 2  # the sweep never submits
    for row in mine:
        assert row["clip"] in ("render[0]", "render[1]") and row["billed"] == "yes"
        assert all(Path(p).stat().st_size > 0 for p in row["video"])
    record = billing(emulator, gateway)
    charged = {line["task_id"]: line for line in record["jobs"] if line["task_id"] in jobs}
    for row in mine:
        line = charged[row["job_id"]]
        assert line["billed"] is True
        if row["cost"] is not None:  # the gateway reports cost: it equals the emulator's charge
            assert (row["cost"], row["cost_unit"]) == pytest.approx((line["amount"], line["unit"]))


def test_the_nightly_sweep_example_delivers_and_writes_its_manifest(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``example_dags/kling_late_jobs.py`` over ``late_kling`` (its clips time out, their jobs finish)."""
    from tests.conftest import load_dag_module

    _, tis = run_dag(DAGS, "late_kling")
    jobs = {str(xcom(tis[f"render[{i}]"], "kling_job")["job_id"]) for i in range(2)}
    wait_jobs_done(emulator, jobs)
    before = counters(emulator)["submits"]["kling"]
    monkeypatch.setenv("KLING_DOWNLOAD_DIR", str(tmp_path))
    monkeypatch.setenv("KLING_SWEEP_DAG", "late_kling")
    dr = load_dag_module("kling_late_jobs").dag.test()
    assert dr.state == DagRunState.SUCCESS
    manifest_path = Path(xcom(next(ti for ti in dr.get_task_instances() if ti.task_id == "report")))
    manifest = json.loads(manifest_path.read_text())
    delivered = {row["job_id"] for row in manifest["jobs"] if row["status"] == "delivered"}
    assert jobs <= delivered and counters(emulator)["submits"]["kling"] == before
    assert all(Path(p).parent == tmp_path / "late" for row in manifest["jobs"] for p in row["video"])


def test_the_sweep_lists_jobs_under_the_providers_references_that_no_clip_recorded(
    emulator: EmulatorServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose worker died between the submit and the record: the official API's task list shows it."""
    from airflow_provider_kling.hooks.kling import KlingHook

    hook = KlingHook(kling_conn_id="kling_kling")
    orphan = hook.submit(
        hook.make_request(prompt="orphan [latency:0]").model_copy(
            update={"client_reference": "af-orphan-of-a-dead-worker-g0"}
        )
    )
    someone_elses = hook.submit(
        hook.make_request(prompt="not ours").model_copy(update={"client_reference": "their-own-id"})
    )
    before = counters(emulator)["submits"]["kling"]
    monkeypatch.setenv("KLING_LATE_DIR", str(tmp_path))
    dr, tis = run_dag(DAGS, "sweep_kling")
    assert dr.state == DagRunState.SUCCESS
    unadopted = {job["task_id"]: job for job in xcom(tis["reconcile"])["unadopted"]}
    assert orphan.task_id in unadopted and someone_elses.task_id not in unadopted
    assert unadopted[orphan.task_id]["client_reference"] == "af-orphan-of-a-dead-worker-g0"
    assert counters(emulator)["submits"]["kling"] == before
