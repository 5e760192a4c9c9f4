"""The provider on a real Airflow 3 deployment: api-server, scheduler, dag-processor and triggerer as separate
processes, ``LocalExecutor`` with ``[core] parallelism=2``, SQLite, plus the emulator (job latency 20 s).

``dag.test()`` runs triggers inline, so it cannot show what matters most: waiting jobs hold no worker slot,
a triggerer restart loses nothing, a worker crash after the submit does not pay twice, the UI knows the
connection type, and no secret reaches the logs or the API. One deployment serves the whole module:

1. ``mapped_run`` triggers 20 mapped deferrable renders and watches them through the REST API (tests 1-2).
2. ``side_runs`` creates an APIXO connection through ``POST /api/v2/connections``, then runs three DAGs side
   by side: 8 mapped renders, during which the triggerer's process tree gets SIGKILL and a new triggerer
   starts (test 3); a task whose process dies right after its submit (test 4); the APIXO render (test 5).
3. Clips without a download end in the triggerer (test 5b): no worker resume, the same XCom and link.
4. The secret scan (test 6) runs last, over everything the runs left behind.

Measured figures are printed (``pytest -s``) and written as JSON into the deployment's temporary directory.
"""

from __future__ import annotations

import json
import shutil
import signal
import statistics
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_kling.gateways import GATEWAY_NAMES
from tests.e2e.stack import Stack, running_stack, timestamp, wait_until
from tests.helpers import KLING_ACCESS_KEY, KLING_SECRET_KEY

pytestmark = pytest.mark.e2e

DAGS = Path(__file__).resolve().parent / "dags"
MAPPED_DAG = "kling_e2e_mapped"
RESTART_DAG = "kling_e2e_triggerer_restart"
CRASH_DAG = "kling_e2e_worker_crash"
APIXO_DAG = "kling_e2e_apixo_rest_conn"
MAPPED_TASKS = 20
RESTART_TASKS = 8
PARALLELISM = 2
LATENCY = 20.0
DEFERRED_TARGET = 18
#: The APIXO connection's API key, created through the REST API: distinctive, so any leak is found.
APIXO_API_KEY = "apixo-e2e-SECRET-5b7d0c9e41f2a8c3"
#: What must never show: the official API's secret key (the emulator's default pair) and the APIXO key.
SECRETS = (KLING_SECRET_KEY, APIXO_API_KEY)
RUN_TIMEOUT = 150.0


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with running_stack(
        DAGS,
        latency=LATENCY,
        # First poll shortly before a 20 s job can be ready, then every second: early polls would
        # only cost CPU on this 2-core machine while the tasks are being submitted.
        conn_extra={"gateway": "kling", "poll_interval": 1, "first_poll_delay": LATENCY - 5},
        env=lambda home: {"KLING_E2E_DOWNLOAD_DIR": str(home / "downloads")},
        dag_ids=[MAPPED_DAG, RESTART_DAG, CRASH_DAG, APIXO_DAG],
        prefix="kling-e2e-airflow-",
        parallelism=PARALLELISM,
    ) as result:
        try:
            yield result
        finally:
            shutil.rmtree(result.home / "downloads", ignore_errors=True)


# ------------------------------------------------------------------------------------------------ runs
@dataclass
class MappedRun:
    run_id: str
    run: dict[str, Any]
    tis: list[dict[str, Any]]
    jobs: list[dict[str, Any]]
    peak_deferred: int
    running_at_peak: int
    max_running: int
    time_to_target_s: float | None
    time_to_all_deferred_s: float | None
    counters: dict[str, Any]


@pytest.fixture(scope="module")
def mapped_run(stack: Stack) -> MappedRun:
    """20 mapped renders, watched through the REST API until the run ends.

    Polls with state counts (``total_entries`` of a one-row page): listing all 20 task instances costs
    the api-server ~50-100 ms of CPU each time, which on 2 cores slows the very tasks being measured.
    """
    api = stack.api
    assert sum(stack.emulator.counters()["submits"].values()) == 0
    t0 = time.monotonic()
    run_id = api.trigger_dag_run(MAPPED_DAG)["dag_run_id"]
    peak, running_at_peak, max_running = 0, 0, 0
    time_to_target: float | None = None
    time_to_all: float | None = None

    def finished() -> dict[str, Any] | None:
        nonlocal peak, running_at_peak, max_running, time_to_target, time_to_all
        deferred = api.count_task_instances(MAPPED_DAG, run_id, "deferred")
        running = api.count_task_instances(MAPPED_DAG, run_id, "running")
        max_running = max(max_running, running)
        if deferred > peak:
            peak, running_at_peak = deferred, running
        if deferred >= DEFERRED_TARGET and time_to_target is None:
            time_to_target = time.monotonic() - t0
            print(f"[e2e] {deferred} deferred ({running} running) {time_to_target:.1f}s after the trigger")
            stack.evidence.append(json.dumps(api.task_instances(MAPPED_DAG, run_id)))
            stack.trigger_kwargs.extend(row["kwargs"] for row in stack.airflow.decrypted_trigger_kwargs())
        if deferred == MAPPED_TASKS and time_to_all is None:
            time_to_all = time.monotonic() - t0
        run = api.dag_run(MAPPED_DAG, run_id)
        return run if run["state"] in ("success", "failed") else None

    run = wait_until(finished, RUN_TIMEOUT, 0.5, what="the mapped run to finish")
    return MappedRun(
        run_id=run_id,
        run=run,
        tis=api.task_instances(MAPPED_DAG, run_id),
        jobs=stack.emulator.jobs("kling"),
        peak_deferred=peak,
        running_at_peak=running_at_peak,
        max_running=max_running,
        time_to_target_s=time_to_target,
        time_to_all_deferred_s=time_to_all,
        counters=stack.emulator.counters(),
    )


@dataclass
class SideRuns:
    connection: dict[str, Any]
    restart: dict[str, Any]
    crash: dict[str, Any]
    apixo: dict[str, Any]
    deferred_at_kill: int
    killed_triggerer_job: int | None
    new_triggerer_job: int | None
    recovery_s: float
    counters_before: dict[str, Any]
    counters_after: dict[str, Any]
    jobs: list[dict[str, Any]]


@pytest.fixture(scope="module")
def side_runs(stack: Stack, mapped_run: MappedRun) -> SideRuns:
    """The triggerer-restart, worker-crash and APIXO DAGs side by side, after the measured mapped run.

    Once the restart DAG's tasks are all deferred with their triggers running in the triggerer, the
    triggerer's whole process tree gets SIGKILL and a new triggerer is started. (Not during the mapped
    run: the restart's downtime would inflate the makespan that test 1 measures.)
    """
    api, airflow = stack.api, stack.airflow
    connection = api.create_connection(
        {
            "connection_id": "kling_apixo_api",
            "conn_type": "kling",
            "host": stack.emulator.url,
            "password": APIXO_API_KEY,
            "extra": {"gateway": "apixo", "poll_interval": 1, "first_poll_delay": 2},
        }
    )
    before = stack.emulator.counters()
    run_ids = {
        dag_id: api.trigger_dag_run(dag_id)["dag_run_id"] for dag_id in (RESTART_DAG, CRASH_DAG, APIXO_DAG)
    }
    restart_id = run_ids[RESTART_DAG]

    def all_deferred_and_running() -> list[dict[str, Any]] | None:
        tis = api.task_instances(RESTART_DAG, restart_id)
        ok = len(tis) == RESTART_TASKS and all(
            ti["state"] == "deferred" and ti.get("trigger") and ti["trigger"]["triggerer_id"] for ti in tis
        )
        return tis if ok else None

    tis = wait_until(all_deferred_and_running, RUN_TIMEOUT, 0.5, what="the restart DAG's tasks to defer")
    stack.evidence.append(json.dumps(tis))
    stack.trigger_kwargs.extend(row["kwargs"] for row in airflow.decrypted_trigger_kwargs())
    killed = {ti["trigger"]["triggerer_id"] for ti in tis}
    assert len(killed) == 1, killed
    killed_job = killed.pop()
    kill_at = time.monotonic()
    airflow.kill_component("triggerer", signal.SIGKILL)
    airflow.start_component("triggerer")
    print(f"[e2e] triggerer (job {killed_job}) SIGKILLed with {len(tis)} restart-DAG tasks deferred")

    def reassigned() -> int | None:
        tis = api.task_instances(RESTART_DAG, restart_id)
        deferred = [ti for ti in tis if ti["state"] == "deferred"]
        owners = {(ti.get("trigger") or {}).get("triggerer_id") for ti in deferred}
        if deferred and len(owners) == 1 and not owners & {None, killed_job}:
            stack.evidence.append(json.dumps(tis))
            return owners.pop()
        if not deferred and all(ti["state"] == "success" for ti in tis):  # all done before we looked
            alive = [j["id"] for j in api.jobs("TriggererJob", is_alive=True) if j["id"] != killed_job]
            return alive[0] if alive else None
        return None

    new_job = wait_until(reassigned, RUN_TIMEOUT, 0.5, what="the new triggerer to take over the triggers")
    recovery = time.monotonic() - kill_at
    print(f"[e2e] new triggerer (job {new_job}) owns every trigger {recovery:.1f}s after the kill")
    runs = {dag_id: api.wait_for_dag_run(dag_id, run_id, RUN_TIMEOUT) for dag_id, run_id in run_ids.items()}
    return SideRuns(
        connection=connection,
        restart=runs[RESTART_DAG],
        crash=runs[CRASH_DAG],
        apixo=runs[APIXO_DAG],
        deferred_at_kill=len(tis),
        killed_triggerer_job=killed_job,
        new_triggerer_job=new_job,
        recovery_s=recovery,
        counters_before=before,
        counters_after=stack.emulator.counters(),
        jobs=stack.emulator.jobs(),
    )


# ------------------------------------------------------------------------------------------------ tests
def test_1_worker_slots_stay_free(stack: Stack, mapped_run: MappedRun) -> None:
    run, tis = mapped_run.run, mapped_run.tis
    states = Counter(ti["state"] for ti in tis)
    assert run["state"] == "success", states
    assert len(tis) == MAPPED_TASKS and states == {"success": MAPPED_TASKS}
    assert sorted(ti["map_index"] for ti in tis) == list(range(MAPPED_TASKS))
    run_start, run_end = timestamp(run["start_date"]), timestamp(run["end_date"])
    submitted = {job["task_id"]: job["created"] for job in mapped_run.jobs}
    job_of = {
        ti["map_index"]: str(
            stack.api.xcom(MAPPED_DAG, mapped_run.run_id, "render", "kling_task_id", ti["map_index"])
        )
        for ti in tis
    }
    assert len(submitted) == MAPPED_TASKS and set(job_of.values()) == set(submitted)
    makespan = run_end - run_start
    startup = min(submitted.values()) - run_start  # trigger -> first Kling submit (scheduler, cold worker)
    latencies = sorted(timestamp(ti["end_date"]) - submitted[job_of[ti["map_index"]]] for ti in tis)
    figures = {
        "tasks": len(tis),
        "parallelism": PARALLELISM,
        "emulator_latency_s": LATENCY,
        "peak_deferred": mapped_run.peak_deferred,
        "running_at_peak": mapped_run.running_at_peak,
        "max_running_seen": mapped_run.max_running,
        "time_to_18_deferred_s": mapped_run.time_to_target_s and round(mapped_run.time_to_target_s, 1),
        "time_to_all_deferred_s": mapped_run.time_to_all_deferred_s
        and round(mapped_run.time_to_all_deferred_s, 1),
        "first_submit_s": round(startup, 1),
        "all_submitted_s": round(max(submitted.values()) - run_start, 1),
        "makespan_s": round(makespan, 1),
        "makespan_bound_on_an_idle_machine_s": round(2 * LATENCY + startup, 1),
        "task_latency_submit_to_success_s": {
            "min": round(latencies[0], 1),
            "median": round(statistics.median(latencies), 1),
            "max": round(latencies[-1], 1),
        },
        "serial_in_two_slots_s": MAPPED_TASKS * LATENCY / PARALLELISM,
    }
    stack.figures["slots"] = figures
    print(f"[e2e] slots: {json.dumps(figures)}")
    # Deferral frees the slots: more clips waited at once than the slots could hold (18 of 20 on an
    # idle machine; fewer when tasks start slowly), never more running than the slots.
    assert mapped_run.peak_deferred > PARALLELISM, figures
    assert mapped_run.max_running <= PARALLELISM, figures
    # No clip queued behind another for a slot after its submit: the last one finished within two
    # job latencies of the last submit, however long the machine took to submit them all; and the
    # run took less than the same jobs waited for in two slots one after the other.
    assert makespan < figures["all_submitted_s"] + 2 * LATENCY, figures
    assert makespan < figures["serial_in_two_slots_s"], figures


def test_2_xcom_urls_downloads_and_link(stack: Stack, mapped_run: MappedRun) -> None:
    api, run_id = stack.api, mapped_run.run_id
    download_dir = stack.airflow.home / "downloads"
    job_ids = set()
    for ti in mapped_run.tis:
        i = ti["map_index"]
        result = stack.checked_clip(MAPPED_DAG, run_id, i, download_dir)
        assert str(api.xcom(MAPPED_DAG, run_id, "render", "kling_task_id", i)) == result["task_id"]
        assert api.xcom(MAPPED_DAG, run_id, "render", "_link_KlingVideoLink", i) == result["video_urls"][0]
        job_ids.add(result["task_id"])
    assert len(job_ids) == MAPPED_TASKS


def test_3_triggerer_restart_loses_nothing(stack: Stack, mapped_run: MappedRun, side_runs: SideRuns) -> None:
    stack.figures["triggerer_restart"] = {
        "tasks_deferred_at_kill": side_runs.deferred_at_kill,
        "killed_job": side_runs.killed_triggerer_job,
        "new_job": side_runs.new_triggerer_job,
        "recovery_s": round(side_runs.recovery_s, 1),
    }
    print(f"[e2e] triggerer restart: {json.dumps(stack.figures['triggerer_restart'])}")
    assert side_runs.new_triggerer_job not in (None, side_runs.killed_triggerer_job)
    run = side_runs.restart
    assert run["state"] == "success", run
    tis = stack.api.task_instances(RESTART_DAG, run["dag_run_id"])
    assert len(tis) == RESTART_TASKS
    assert all(ti["state"] == "success" and ti["try_number"] == 1 for ti in tis), tis
    # Exactly one submit per task, over the whole module: every client reference was submitted once
    # and the emulator holds one job per Kling task instance (20 mapped + 8 restart + 1 crash).
    counters = side_runs.counters_after
    by_client = counters["submits_by_client_id"]["kling"]
    kling_tasks = MAPPED_TASKS + RESTART_TASKS + 1
    assert set(by_client.values()) == {1} and len(by_client) == kling_tasks, by_client
    assert counters["submits"]["kling"] == kling_tasks, counters["submits"]
    jobs = {job["task_id"]: job for job in side_runs.jobs}
    for ti in tis:
        job = jobs[
            str(stack.api.xcom(RESTART_DAG, run["dag_run_id"], "render", "kling_task_id", ti["map_index"]))
        ]
        assert by_client[job["client_id"]] == 1
    restart_jobs = [j for j in side_runs.jobs if j["prompt"].startswith("E2E restart")]
    assert len(restart_jobs) == RESTART_TASKS
    # The triggers the new triggerer re-created say they resumed (those started more than
    # RESUME_GRACE after their defer; a fast takeover may start the last-deferred ones sooner).
    folder = stack.airflow.logs_folder / f"dag_id={RESTART_DAG}" / f"run_id={run['dag_run_id']}"
    moved = sorted(
        folder.glob(f"task_id=render/map_index=*/attempt=1.log.trigger.{side_runs.new_triggerer_job}.log")
    )
    texts = [p.read_text(errors="replace") for p in moved]
    assert len(moved) == RESTART_TASKS and any("resumed waiting after" in t for t in texts), texts


def _task_log(stack: Stack, dag_id: str, run_id: str, attempt: int) -> str:
    folder = stack.airflow.logs_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=render"
    return "\n".join(p.read_text(errors="replace") for p in sorted(folder.glob(f"attempt={attempt}.log*")))


def test_4_worker_crash_after_submit_attaches_to_the_same_job(stack: Stack, side_runs: SideRuns) -> None:
    api, run = stack.api, side_runs.crash
    assert run["state"] == "success", run
    ti = api.get(f"/api/v2/dags/{CRASH_DAG}/dagRuns/{run['dag_run_id']}/taskInstances/render")
    assert ti["state"] == "success" and ti["try_number"] == 2, ti
    tries = {
        t["try_number"]: t["state"] for t in api.task_instance_tries(CRASH_DAG, run["dag_run_id"], "render")
    }
    assert tries[1] in ("failed", "up_for_retry") and tries[2] == "success", tries
    result = api.xcom(CRASH_DAG, run["dag_run_id"], "render")
    job = result["task_id"]
    assert result["state"] == "succeeded" and result["video_urls"]
    first, second = (_task_log(stack, CRASH_DAG, run["dag_run_id"], n) for n in (1, 2))
    assert f"right after submitting Kling job {job}" in first
    assert f"Attaching to Kling job {job}" in second
    crash_jobs = [j for j in side_runs.jobs if "E2E crash" in j["prompt"]]
    assert [j["task_id"] for j in crash_jobs] == [job], crash_jobs  # one job at the emulator: the same one
    assert side_runs.counters_after["submits_by_client_id"]["kling"][crash_jobs[0]["client_id"]] == 1


def test_5_ui_knows_the_connection_type_and_a_rest_connection_works(
    stack: Stack, side_runs: SideRuns
) -> None:
    api = stack.api
    meta = {m["connection_type"]: m for m in api.hook_meta()}
    assert "kling" in meta, sorted(k for k in meta if k)
    kling = meta["kling"]
    assert kling["hook_name"] == "Kling"
    assert kling["hook_class_name"] == "airflow_provider_kling.hooks.kling.KlingHook"
    assert {"gateway", "model", "timeout", "max_retries", "poll_interval", "first_poll_delay"} <= set(
        kling["extra_fields"]
    )
    assert kling["extra_fields"]["gateway"]["schema"]["enum"] == list(GATEWAY_NAMES)
    std = kling["standard_fields"]
    assert std["password"]["title"] == "API key / secret key"
    assert std["login"]["title"] == "Access key (official Kling API only)"
    assert std["host"]["title"] == "Base URL (optional)"
    # Port is shown (for Airflow 3.3's Test button: see tests/e2e/test_connection_test_button.py).
    assert std["port"]["hidden"] is False and std["url_schema"]["hidden"] is True

    assert side_runs.connection["connection_id"] == "kling_apixo_api"
    assert "kling_apixo_api" in {c["connection_id"] for c in api.connections()}
    run = side_runs.apixo
    assert run["state"] == "success", run
    result = api.xcom(APIXO_DAG, run["dag_run_id"], "render")
    assert result["gateway"] == "apixo" and result["state"] == "succeeded" and result["video_urls"]
    before, after = side_runs.counters_before, side_runs.counters_after
    assert after["submits"]["apixo"] - before["submits"]["apixo"] == 1


#: What ``execute_complete`` logs when a clip resumes in a worker after its trigger.
WORKER_RESUME = "resuming in a worker (execute_complete)"


def _task_logs(stack: Stack, dag_id: str, run_id: str) -> dict[str, str]:
    """Every log file of the run's ``render`` tasks (worker and trigger parts), by path."""
    folder = stack.airflow.logs_folder / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=render"
    return {str(p.relative_to(folder)): p.read_text(errors="replace") for p in sorted(folder.rglob("*.log*"))}


def test_5b_clips_without_downloads_end_in_the_triggerer(
    stack: Stack, mapped_run: MappedRun, side_runs: SideRuns
) -> None:
    """No download: the trigger ends the task (no worker resume), with the XCom and link a resume gives."""
    api = stack.api
    with_downloads = api.xcom(MAPPED_DAG, mapped_run.run_id, "render", "return_value", 0)
    resumed = _task_logs(stack, MAPPED_DAG, mapped_run.run_id)
    # the mapped DAG downloads: every clip resumed in a worker to download
    assert sum(WORKER_RESUME in text for text in resumed.values()) == MAPPED_TASKS
    checked = 0
    for dag_id, run in ((RESTART_DAG, side_runs.restart), (APIXO_DAG, side_runs.apixo)):
        run_id = run["dag_run_id"]
        logs = _task_logs(stack, dag_id, run_id)
        assert logs and not [path for path, text in logs.items() if WORKER_RESUME in text], logs.keys()
        for ti in api.task_instances(dag_id, run_id):
            index = ti["map_index"]
            result = api.xcom(dag_id, run_id, "render", "return_value", index)
            assert result["state"] == "succeeded" and result["video_urls"], result
            if dag_id == RESTART_DAG:  # same gateway as the mapped run: the same XCom, less the downloads
                assert set(result) == set(with_downloads) - {"downloads"}, (result, with_downloads)
                assert result["estimated_cost"] == with_downloads["estimated_cost"]
                # Stored JSON-encoded by Airflow when a trigger pushes it (a worker's push is stored as
                # the object): the same value once decoded, which is why a task with downstream tasks
                # resumes in a worker by default (see _airflow.trigger_end).
                raw = api.xcom_raw(dag_id, run_id, "render", "return_value", index)["value"]
                assert json.loads(raw) == result if isinstance(raw, str) else raw == result
            assert (
                api.xcom(dag_id, run_id, "render", "_link_KlingVideoLink", index) == result["video_urls"][0]
            )
            links = api.extra_links(dag_id, run_id, "render", index)["extra_links"]
            assert links["Kling video"] == result["video_urls"][0], links
            assert any(f"Kling job {result['task_id']} succeeded: " in text for text in logs.values())
            checked += 1
    assert checked == RESTART_TASKS + 1
    stack.figures["ended_in_triggerer"] = {"clips": checked, "resumed_in_worker_with_downloads": MAPPED_TASKS}


def test_6_no_secret_in_the_open(stack: Stack, mapped_run: MappedRun, side_runs: SideRuns) -> None:
    api, airflow = stack.api, stack.airflow
    findings: list[str] = []

    def scan(where: str, text: str | bytes) -> None:
        data = text if isinstance(text, bytes) else text.encode()
        findings.extend(f"{secret!r} in {where}" for secret in SECRETS if secret.encode() in data)

    # Every file under AIRFLOW_HOME/logs: task and trigger logs, dag-processor logs, component output.
    files = list(airflow.log_files())
    assert any(p.name.endswith(".log") and "trigger" in p.name for p in files), "no trigger log written"
    for path in files:
        scan(str(path.relative_to(airflow.home)), path.read_bytes())
    # Every XCom and task instance (every try) of every run, through the REST API.
    xcoms = 0
    for dag_id, run_id in (
        (MAPPED_DAG, mapped_run.run_id),
        (RESTART_DAG, side_runs.restart["dag_run_id"]),
        (CRASH_DAG, side_runs.crash["dag_run_id"]),
        (APIXO_DAG, side_runs.apixo["dag_run_id"]),
    ):
        tis = api.task_instances(dag_id, run_id)
        scan(f"task instances of {dag_id}", json.dumps(tis))
        for ti in tis:
            scan(
                f"tries of {dag_id}[{ti['map_index']}]",
                json.dumps(api.task_instance_tries(dag_id, run_id, ti["task_id"], ti["map_index"])),
            )
        for entry in api.xcom_entries(dag_id, run_id):
            raw = api.xcom_raw(dag_id, run_id, entry["task_id"], entry["key"], entry["map_index"])
            scan(f"XCom {dag_id}.{entry['task_id']}[{entry['map_index']}].{entry['key']}", json.dumps(raw))
            xcoms += 1
    # Task instances with their triggers (REST) and the decrypted trigger kwargs, captured while deferred:
    # the trigger carries ids only and resolves the connection itself.
    assert any('"trigger": {' in e for e in stack.evidence), "no trigger response captured"
    assert stack.trigger_kwargs and all("kling_conn_id" in k for k in stack.trigger_kwargs)
    for i, text in enumerate(stack.evidence):
        scan(f"REST answer captured while deferred #{i}", text)
    for i, text in enumerate(stack.trigger_kwargs):
        scan(f"decrypted trigger kwargs #{i}", text)
        assert stack.emulator.url not in text and KLING_ACCESS_KEY not in text, text
    # Connections through the API (passwords are redacted), and the metadata database file itself.
    scan("GET /api/v2/connections", json.dumps(api.connections()))
    for db_file in airflow.home.glob("airflow.db*"):
        scan(db_file.name, db_file.read_bytes())
    stack.figures["secret_scan"] = {
        "log_files": len(files),
        "xcoms": xcoms,
        "rest_answers_while_deferred": len(stack.evidence),
        "trigger_rows": len(stack.trigger_kwargs),
    }
    print(f"[e2e] secret scan: {json.dumps(stack.figures['secret_scan'])}")
    assert not findings, findings
