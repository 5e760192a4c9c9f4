"""Worker slots: makespan of N mapped Kling renders with 2 worker slots, deferrable vs in-worker waiting.

A real Airflow 3 deployment (``tests/e2e/harness.py``: api-server, scheduler, dag-processor and
triggerer as separate processes, ``LocalExecutor`` with ``[core] parallelism=2``, SQLite) runs the DAGs
of ``bench/dags/kling_bench_worker_slots.py`` against the emulator (a separate process), every job
taking the same ``--latency`` seconds (default 60: a 5 s clip takes 50-70 s at the vendors). Reported
per run: makespan (first render task start to last render task end) divided by one job's latency
(``ratio``), and divided by the makespan of the same mode's 1-job run (``ratio_vs_one``: what N jobs
cost over one job through the same Airflow). Deferrable renders give their slot back while the job
runs, so N jobs should take about one latency plus the time 2 slots need to start N tasks; in-worker
renders hold a slot each, so N jobs take about N / 2 latencies.

Modes: ``deferrable`` and ``in_worker`` (the provider), and ``floor``, the anchor: the same mapped
task shape with an operator that only defers to Airflow's ``TimeDeltaTrigger`` and resumes, so its
makespan is what Airflow itself needs to start, defer and resume N tasks on 2 slots.

The connection's ``first_poll_delay`` is ``latency - 5`` s (the provider's idea of "the earliest
plausible finish") and the interval the default 5 s, so detection adds ~0-5 s to every job in both
modes.

In-worker waiting for 100 jobs takes 50 latencies (~28 min at 30 s); unless ``--in-worker-max``
allows it, that figure is extrapolated from the measured 20-job run (its time per round of 2 jobs)
and marked as such.

Usage::

    uv run --group bench python bench/worker_slots.py                # 1, 20 and 100 jobs of 60 s
    uv run --group bench python bench/worker_slots.py --quick        # 20 jobs (10 in-worker) of 20 s
    uv run --group bench python bench/worker_slots.py --latency 30 --modes deferrable floor
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from benchlib import loadavg, machine_info, rnd, verdict, write_result  # noqa: E402

DAGS = BENCH / "dags"
DAG_IDS = {
    "deferrable": "kling_bench_slots_deferrable",
    "floor": "kling_bench_slots_floor",
    "in_worker": "kling_bench_slots_in_worker",
}
PARALLELISM = 2
TARGET_RATIO = 1.3
API_KEY = "bench-api-key"


def _harness() -> Any:
    """``tests/e2e/harness.py``, written alongside this benchmark; waits for it if it is not there yet."""
    path = BENCH.parent / "tests" / "e2e" / "harness.py"
    deadline = time.monotonic() + 5
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{path} is missing: worker_slots needs the end-to-end harness")
        time.sleep(0.5)
    from tests.e2e import harness

    return harness


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _task_starts(airflow: Any, dag_id: str, run_id: str) -> list[float]:
    """When each mapped render's first try began running: the first line of its task log."""
    base = Path(airflow.logs_folder) / f"dag_id={dag_id}" / f"run_id={run_id}" / "task_id=render"
    starts = []
    for log in base.glob("map_index=*/attempt=1.log"):
        with log.open() as fh:
            first = fh.readline()
        with contextlib.suppress(ValueError, KeyError, TypeError):
            ts = _ts(json.loads(first)["timestamp"])
            if ts is not None:
                starts.append(ts)
    return sorted(starts)


def run_one(
    harness: Any, airflow: Any, emulator: Any, mode: str, n: int, latency: float, timeout: float
) -> dict[str, Any]:
    api = airflow.api
    dag_id = DAG_IDS[mode]
    before = emulator.counters()
    t0 = time.time()
    run_id = api.trigger_dag_run(dag_id, conf={"n": n, "latency": latency})["dag_run_id"]
    peak_deferred = 0
    max_running = 0

    def finished() -> dict[str, Any] | None:
        nonlocal peak_deferred, max_running
        peak_deferred = max(peak_deferred, api.count_task_instances(dag_id, run_id, "deferred"))
        max_running = max(max_running, api.count_task_instances(dag_id, run_id, "running"))
        run = api.dag_run(dag_id, run_id)
        return run if run["state"] in ("success", "failed") else None

    run = harness.wait_until(finished, timeout, 2.0, what=f"{dag_id} with {n} jobs")
    wall = time.time() - t0
    tis = [ti for ti in api.task_instances(dag_id, run_id) if ti["task_id"] == "render"]
    starts = [s for s in (_ts(ti.get("start_date")) for ti in tis) if s is not None]
    ends = [e for e in (_ts(ti.get("end_date")) for ti in tis) if e is not None]
    states: dict[str, int] = {}
    for ti in tis:
        states[ti["state"]] = states.get(ti["state"], 0) + 1
    after = emulator.counters()
    jobs = [j for j in emulator.jobs() if float(j["created"]) >= t0 - 1]
    created = sorted(float(j["created"]) for j in jobs)
    task_starts = _task_starts(airflow, dag_id, run_id)
    makespan = (max(ends) - min(starts)) if starts and ends else None
    run_makespan = None
    if run.get("start_date") and run.get("end_date"):
        run_makespan = _ts(run["end_date"]) - _ts(run["start_date"])  # type: ignore[operator]
    submits = sum(after["submits"].values()) - sum(before["submits"].values())
    polls = sum(after["status_calls"].values()) - sum(before["status_calls"].values())
    result = {
        "mode": mode,
        "n": n,
        "latency_s": latency,
        "run_id": run_id,
        "state": run["state"],
        "ti_states": states,
        "makespan_s": rnd(makespan, 1),
        "ratio": rnd(makespan / latency, 2) if makespan else None,
        "dag_run_makespan_s": rnd(run_makespan, 1),
        "wall_s": rnd(wall, 1),
        "submits": submits,
        "status_calls": polls,
        "status_calls_per_job": rnd(polls / n, 2),
        "first_to_last_start_s": rnd(task_starts[-1] - task_starts[0], 1) if task_starts else None,
        "task_starts_logged": len(task_starts),
        "first_to_last_submit_s": rnd(created[-1] - created[0], 1) if created else None,
        "last_ready_to_end_s": rnd(max(ends) - (created[-1] + latency), 1) if created and ends else None,
        "peak_deferred": peak_deferred,
        "max_running": max_running,
        "loadavg_after": loadavg(),
    }
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency", type=float, help="seconds every emulator job takes (default 60; quick 20)")
    p.add_argument("--counts", type=int, nargs="+", help="mapped jobs per run (default 1 20 100; quick 20)")
    p.add_argument("--modes", nargs="+", choices=list(DAG_IDS), default=list(DAG_IDS))
    p.add_argument(
        "--in-worker-max",
        type=int,
        default=20,
        help="measure in-worker runs up to this many jobs; larger counts are extrapolated (default 20)",
    )
    p.add_argument("--quick", action="store_true", help="20 jobs (10 in-worker) of 20 s, every mode")
    p.add_argument("--output", default="worker_slots")
    args = p.parse_args(argv)
    latency = args.latency or (20.0 if args.quick else 60.0)
    counts = args.counts or ([20] if args.quick else [1, 20, 100])
    in_worker_max = 10 if args.quick and args.in_worker_max == 20 else args.in_worker_max
    harness = _harness()
    started = time.time()
    machine = machine_info()
    runs: list[dict[str, Any]] = []
    first_delay = max(0.0, latency - 5.0)
    conn = {
        "conn_type": "kling",
        "password": API_KEY,
        "extra": {"gateway": "apixo", "first_poll_delay": first_delay, "poll_interval": 5},
    }
    with harness.EmulatorProcess(latency=latency) as emulator:
        conn["host"] = emulator.url
        t = time.time()
        deployment = harness.AirflowDeployment(
            DAGS,
            parallelism=PARALLELISM,
            env={"AIRFLOW_CONN_KLING_BENCH": json.dumps(conn)},
        )
        with deployment as airflow:
            airflow.wait_for_dags(list(DAG_IDS.values()), timeout=180)
            ready_s = time.time() - t
            print(f"worker_slots: Airflow up in {ready_s:.0f} s (home {airflow.home}); latency {latency:g} s")
            for mode in args.modes:
                for n in counts:
                    if mode == "in_worker" and n > in_worker_max:
                        continue
                    rounds = math.ceil(n / PARALLELISM) if mode == "in_worker" else 1
                    timeout = rounds * (latency + 30) + n * 6 + 300
                    try:
                        r = run_one(harness, airflow, emulator, mode, n, latency, timeout)
                    except Exception as exc:
                        r = {
                            "mode": mode,
                            "n": n,
                            "latency_s": latency,
                            "error": f"{type(exc).__name__}: {exc}",
                        }
                    runs.append(r)
                    print(json.dumps(r), flush=True)
    # in-worker counts beyond --in-worker-max: from the measured time per round of PARALLELISM jobs
    measured = [r for r in runs if r["mode"] == "in_worker" and r.get("makespan_s")]
    if "in_worker" in args.modes and measured:
        base = max(measured, key=lambda r: r["n"])
        per_round = base["makespan_s"] / math.ceil(base["n"] / PARALLELISM)
        for n in counts:
            if n > in_worker_max:
                makespan = per_round * math.ceil(n / PARALLELISM)
                runs.append(
                    {
                        "mode": "in_worker",
                        "n": n,
                        "latency_s": latency,
                        "extrapolated_from_n": base["n"],
                        "makespan_s": rnd(makespan, 1),
                        "ratio": rnd(makespan / latency, 2),
                    }
                )
    for r in runs:  # N jobs over 1 job through the same Airflow, where the 1-job run was measured
        one = next((x for x in runs if x["mode"] == r["mode"] and x["n"] == 1 and x.get("makespan_s")), None)
        if one is not None and r.get("makespan_s"):
            r["ratio_vs_one"] = rnd(r["makespan_s"] / one["makespan_s"], 2)
    targets = []
    for n in (c for c in counts if c > 1):
        r = next((x for x in runs if x["mode"] == "deferrable" and x["n"] == n and x.get("ratio")), None)
        targets.append(
            {
                "target": f"deferrable makespan <= {TARGET_RATIO}x one job's latency, {n} jobs",
                "value": r["ratio"] if r else None,
                "met": None if r is None else r["ratio"] <= TARGET_RATIO,
            }
        )
    print()
    print(
        f"{'mode':11} {'N':>4} {'latency':>7} {'makespan':>9} {'ratio':>6} {'vs 1':>5} "
        f"{'starts spread':>13} {'submits spread':>14} {'tail':>6}"
    )
    for r in runs:
        note = f" (extrapolated from {r['extrapolated_from_n']})" if "extrapolated_from_n" in r else ""
        print(
            f"{r['mode']:11} {r['n']:>4} {r['latency_s']:>7g} {r.get('makespan_s')!s:>9} "
            f"{r.get('ratio')!s:>6} {r.get('ratio_vs_one', '-')!s:>5} "
            f"{r.get('first_to_last_start_s')!s:>13} {r.get('first_to_last_submit_s')!s:>14} "
            f"{r.get('last_ready_to_end_s')!s:>6}{note}"
        )
    for t in targets:
        print(f"target: {t['target']}: {t['value']} -> {verdict(t['met'])}")
    data = {
        "script": "worker_slots",
        "machine": machine,
        "started": started,
        "wall_s": rnd(time.time() - started, 1),
        "parallelism": PARALLELISM,
        "latency_s": latency,
        "first_poll_delay_s": first_delay,
        "runs": runs,
        "targets": targets,
    }
    write_result(args.output, data)
    print(f"results in bench/results/{args.output}.json; wall {data['wall_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
