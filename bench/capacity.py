"""Capacity: N mapped deferrable clips against an account that allows C jobs in flight.

A real Airflow 3 deployment (``tests/e2e/harness.py``, ``LocalExecutor`` with ``[core]
parallelism=4``, SQLite) runs the DAGs of ``tests/e2e/dags_capacity/`` (``retries=0``) against the
emulator started with ``--concurrency C --latency L --latency-jitter 0.3``. Three runs on one
deployment:

* ``no pool``: every clip starts, C are accepted, the rest are refused and wait for capacity
  deferred (``KlingCapacityTrigger``), woken when a job of the connection ends;
* ``pool``: the same clips in an Airflow pool of C slots with ``include_deferred=True``; waiting
  clips stay ``scheduled`` holding nothing, so refusals should be rare;
* ``no cap``: the emulator's concurrency limit off (``POST /_emulator/limits``), the reference.

Two more pooled runs compare how a clip ends (``--runs``):

* ``pool, worker resume``: ``end_from_trigger=False``, every clip resumes in a worker after its job
  (``execute_complete``), as every clip did before the trigger could end it (the ``pool`` run ends
  clips without downloads from the trigger);
* ``pool, download``: ``download_to`` set, so every clip resumes in a worker to download.

``--repeat K`` runs the chosen runs K times, alternated (A B C A B C), so that their ratios are
measured side by side on a shared machine; the summary gives each figure's median and range.

Per run: succeeded / failed clips, accepted submits per clip (exactly 1.00: never paying twice),
refusals, worker-slot seconds per clip (the number of ``running`` task instances sampled every
second, integrated over time), the emulator's peak jobs in flight, makespan (DAG run start to end)
and makespan / ideal, where ideal = ceil(N / C) x L (the ``no cap`` run has no such bound and shows
the ratio for comparison only). Pooled runs also break down, step by step, where each account
slot's seconds go between a job's end and the next submit (``slot_gap_s``, median seconds; see
``slot_breakdown``). Every refusal is also checked to have been waited for deferred: the
task logs hold one "Waiting for capacity" line per refusal, none of them an in-worker wait.

Usage::

    uv run --group bench python bench/capacity.py            # 200 clips, C=10, L=20 s (~25 min)
    uv run --group bench python bench/capacity.py --quick    # 40 clips, C=5, L=10 s
    uv run --group bench python bench/capacity.py --clips 100 --latency 10 --repeat 2 \
        --runs "pool, worker resume" pool "pool, download" --output capacity-end-from-trigger
"""

from __future__ import annotations

import argparse
import compileall
import datetime as dt
import heapq
import json
import math
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(BENCH.parent))

from benchlib import loadavg, machine_info, read_result, rnd, verdict, write_result  # noqa: E402

DAGS = BENCH.parent / "tests" / "e2e" / "dags_capacity"
PARALLELISM = 4
POOL = "kling_account"
TARGETS = {"pool": 1.15, "no pool": 1.5}
#: run name -> DAG (tests/e2e/dags_capacity/kling_capacity_dags.py)
RUN_DAGS = {
    "no pool": "kling_capacity",
    "pool": "kling_capacity_pooled",
    "pool, worker resume": "kling_capacity_pooled_worker_resume",
    "pool, download": "kling_capacity_pooled_download",
    "no cap": "kling_capacity",
}
ORDER = list(RUN_DAGS)


def _ts(value: str | None) -> float | None:
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def run_one(
    harness: Any, airflow: Any, emulator: Any, name: str, dag_id: str, n: int, c: int, latency: float
) -> dict[str, Any]:
    api = airflow.api
    emulator.reset()  # counters, not limits
    run_id = api.trigger_dag_run(dag_id)["dag_run_id"]
    slot_seconds = 0.0
    max_running = 0
    last = time.monotonic()

    def finished() -> dict[str, Any] | None:
        nonlocal slot_seconds, max_running, last
        running = api.count_task_instances(dag_id, run_id, "running")
        now = time.monotonic()
        slot_seconds += running * (now - last)
        last = now
        max_running = max(max_running, running)
        run = api.dag_run(dag_id, run_id)
        return run if run["state"] in ("success", "failed") else None

    timeout = math.ceil(n / c) * latency * 4 + 600
    run = harness.wait_until(finished, timeout, 1.0, what=f"{dag_id} ({name})")
    tis = [ti for ti in api.task_instances(dag_id, run_id) if ti["task_id"] == "render"]
    counters = emulator.counters()
    states: dict[str, int] = {}
    for ti in tis:
        states[ti["state"]] = states.get(ti["state"], 0) + 1
    base = Path(airflow.logs_folder) / f"dag_id={dag_id}" / f"run_id={run_id}"
    logs = [p.read_text(errors="replace") for p in base.rglob("*.log")]
    waits = sum(t.count("Waiting for capacity at gateway") for t in logs)
    in_worker = sum(
        t.count("Waiting for capacity at gateway") - t.count("sooner when a slot frees") for t in logs
    )
    woken = sum(t.count("waiting for capacity (a slot was freed)") for t in logs)
    resumed = sum(t.count("resuming in a worker (execute_complete)") for t in logs)
    start, end = _ts(run.get("start_date")), _ts(run.get("end_date"))
    makespan = end - start if start is not None and end is not None else None
    ideal = math.ceil(n / c) * latency
    gaps = slot_breakdown(airflow, emulator, dag_id, run_id, base, c, pooled="pooled" in dag_id)
    accepted = counters["accepted"].get("kling", 0)
    return {
        "run": name,
        "dag_id": dag_id,
        "n": n,
        "concurrency": c if name != "no cap" else None,
        "latency_s": latency,
        "state": run["state"],
        "succeeded": states.get("success", 0),
        "failed": n - states.get("success", 0),
        "ti_states": states,
        "accepted": accepted,
        "accepted_per_clip": rnd(accepted / n, 2),
        "refusals": counters["refused"].get("kling", 0),
        "waits_logged": waits,
        "waits_in_worker": in_worker,
        "woken_by_freed_slot": woken,
        "resumed_in_worker": resumed,
        "worker_slot_s_per_clip": rnd(slot_seconds / n, 2),
        "worker_log_s_per_clip": gaps.pop("worker_log_s_per_clip"),
        "max_running": max_running,
        "peak_in_flight": counters["peak_in_flight"].get("kling", 0),
        "makespan_s": rnd(makespan, 1),
        "ideal_s": ideal,
        "makespan_over_ideal": rnd(makespan / ideal, 2) if makespan else None,
        "no_overhead_over_ideal": gaps.pop("no_overhead_over_ideal"),
        "slot_gap_s": gaps,
        "loadavg_after": loadavg(),
    }


#: Where an account slot's seconds go between one job's end and the next job's submit (in order).
GAP_STEPS = (
    ("detect", "job finished (emulator) -> the trigger's poll that saw it (trigger log)"),
    ("end_path", "-> the clip's task instance ends (DB end_date; a worker resume included)"),
    ("schedule", "-> the next clip queued (DB queued_dttm)"),
    ("start", "-> the next clip running (its first task-log line)"),
    ("parse", "-> DAG file parsed ('Worker startup parse complete')"),
    ("pre_submit", "-> submit accepted by the emulator (the operator's start-up and submit)"),
)
#: ``schedule_start``: schedule and start together (a worker resume overwrites ``queued_dttm``);
#: ``total``: the whole gap (medians do not add up: each step has its own spread).
_CLIP = re.compile(r"Capacity clip (\d+):")
_LOG = re.compile(r"map_index=(\d+)/attempt=\d+\.log(\.trigger\.\d+\.log)?$")


def _db_time(value: Any) -> float | None:
    """POSIX seconds of a metadata-database time (SQLite: naive UTC text)."""
    if not value:
        return None
    parsed = dt.datetime.fromisoformat(str(value))
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)).timestamp()


def slot_breakdown(
    airflow: Any, emulator: Any, dag_id: str, run_id: str, base: Path, c: int, pooled: bool
) -> dict[str, Any]:
    """Median seconds of each step between a job's end and the next submit on the freed slot.

    From what the run recorded: the emulator's job created/finished times, the task instances'
    queued/start/end dates, and the task and trigger logs. The k-th slot freed (task instances by end
    date) is paired with the k-th clip that had to wait for one (by start, after the first ``c``);
    only for a pooled run (without a pool, clips start at once and wait refused, not in turn).
    Also ``worker_log_s_per_clip``: the first to last line of each run of a clip in a worker (submit
    run, and resume if any), a finer measure than the 1 s sampling; ``no_overhead_over_ideal``: the
    makespan of these jobs' latencies on ``c`` slots with no gap at all, over the ideal.
    """
    from tests.e2e.harness import log_events

    clips: dict[int, dict[str, float | None]] = {}
    latencies = []
    for job in sorted(emulator.jobs("kling"), key=lambda j: j["created"]):
        latencies.append(job["finished_at"] - job["created"])
        if m := _CLIP.search(str(job.get("prompt") or "")):
            clips.setdefault(int(m.group(1)), {}).update(created=job["created"], finished=job["finished_at"])
    where = f"dag_id = '{dag_id}' AND run_id = '{run_id}' AND task_id = 'render'"  # our own ids
    rows = airflow.query(f"SELECT map_index, queued_dttm, end_date FROM task_instance WHERE {where}")  # noqa: S608
    for map_index, queued, end in rows:
        clips.setdefault(int(map_index), {}).update(queued=_db_time(queued), end=_db_time(end))
    worker_s = []
    for path in base.rglob("*.log*"):
        m = _LOG.search(path.as_posix())
        events = log_events(path) if m else []
        if not m or not events:
            continue
        clip = clips.setdefault(int(m.group(1)), {})
        if m.group(2):  # a trigger's log (a capacity trigger's has no such line)
            seen = next((t for t, e in events if " succeeded after " in e), None)
            clip["detected"] = seen if seen is not None else clip.get("detected")
            continue
        runs: list[list[tuple[float, str]]] = [[]]
        for t, e in events:
            if e.startswith("::group::Pre Execute") and runs[-1]:
                runs.append([])
            runs[-1].append((t, e))
        clip["running"] = runs[0][0][0]
        clip["parsed"] = next((t for t, e in runs[0] if e.startswith("Worker startup parse complete")), None)
        worker_s.append(sum(run[-1][0] - run[0][0] for run in runs))
    done = [clip for clip in clips.values() if clip.get("end") and clip.get("running")] if pooled else []
    freed = sorted(done, key=lambda clip: clip["end"] or 0.0)
    waited = sorted(done, key=lambda clip: clip["running"] or 0.0)[c:]
    steps: dict[str, list[float]] = {name: [] for name, _ in GAP_STEPS}
    steps["schedule_start"], steps["total"] = [], []
    for before, after in zip(freed, waited, strict=False):  # the last c freed none
        keys = (("finished", before), ("detected", before), ("end", before), ("queued", after),
                ("running", after), ("parsed", after), ("created", after))  # fmt: skip
        points = [clip.get(key) for key, clip in keys]
        if any(p is None for p in points[:3] + points[4:]):
            continue
        if points[3] is not None and points[3] > points[4]:  # type: ignore[operator]
            points[3] = None  # the queued date of its worker resume, not of this start
        for (name, _), a, b in zip(GAP_STEPS, points[:-1], points[1:], strict=True):
            if a is not None and b is not None:
                steps[name].append(b - a)
        steps["schedule_start"].append(points[4] - points[2])  # type: ignore[operator]
        steps["total"].append(points[-1] - points[0])  # type: ignore[operator]
    out: dict[str, Any] = {"pairs": len(steps["total"])}
    out.update({name: rnd(statistics.median(v), 2) for name, v in steps.items() if v})
    out["worker_log_s_per_clip"] = rnd(sum(worker_s) / len(worker_s), 2) if worker_s else None
    slots = [0.0] * c
    for latency in latencies:  # in submit order, each on the first slot free
        heapq.heapreplace(slots, slots[0] + latency)
    ideal = math.ceil(len(latencies) / c) * emulator.latency if latencies else 0
    out["no_overhead_over_ideal"] = rnd(max(slots) / ideal, 3) if ideal else None
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--clips", type=int, help="mapped clips per run (default 200; quick 40)")
    p.add_argument("--concurrency", type=int, help="the account's jobs in flight (default 10; quick 5)")
    p.add_argument("--latency", type=float, help="seconds per job, +/- 30 %% (default 20; quick 10)")
    p.add_argument("--runs", nargs="+", choices=ORDER, default=["no pool", "pool", "no cap"])
    p.add_argument("--repeat", type=int, default=1, help="run the chosen runs K times, alternated")
    p.add_argument("--quick", action="store_true", help="40 clips, concurrency 5, latency 10 s")
    p.add_argument(
        "--scheduler-idle-sleep",
        type=float,
        help="[scheduler] scheduler_idle_sleep_time for the deployment, every run alike (default: the "
        "e2e stack's 0.5 s; Airflow's own default is 1 s)",
    )
    p.add_argument("--output", default="capacity")
    p.add_argument(
        "--keep",
        metavar="NAME",
        help="keep the runs not re-run here from bench/results/NAME.json (same parameters)",
    )
    args = p.parse_args(argv)
    n = args.clips or (40 if args.quick else 200)
    c = args.concurrency or (5 if args.quick else 10)
    latency = args.latency or (10.0 if args.quick else 20.0)
    from tests.e2e import harness

    # Bytecode for the provider, as a wheel install has: the components inherit the caller's
    # environment, and with PYTHONDONTWRITEBYTECODE set every task process would compile the
    # provider's modules (and the DAG file) from source again.
    compileall.compile_dir(str(BENCH.parent / "airflow_provider_kling"), quiet=1)
    started = time.time()
    machine = machine_info()
    runs: list[dict[str, Any]] = []
    extra_args = ["--concurrency", str(c), "--latency-jitter", "0.3", "--latency-seed", "13"]
    with harness.EmulatorProcess(latency=latency, extra_args=extra_args) as emulator:
        # The emulator's official-API key pair (the e2e stack's); first poll when the fastest job
        # (latency - 30 %) can be ready, then every second.
        extra = {"gateway": "kling", "poll_interval": 1, "first_poll_delay": round(latency * 0.7, 1)}
        env = {
            "AIRFLOW_CONN_KLING_DEFAULT": harness.kling_connection(emulator.url, extra),
            "KLING_CAP_CLIPS": str(n),
            "KLING_CAP_POOL": POOL,
        }
        if args.scheduler_idle_sleep is not None:
            env["AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME"] = str(args.scheduler_idle_sleep)
        with harness.AirflowDeployment(DAGS, parallelism=PARALLELISM, env=env) as airflow:
            airflow.wait_for_dags(sorted({RUN_DAGS[name] for name in args.runs}), timeout=180)
            compileall.compile_dir(str(airflow.dags_folder), quiet=1)
            airflow.api.post("/api/v2/pools", {"name": POOL, "slots": c, "include_deferred": True})
            print(
                f"capacity: Airflow up (home {airflow.home}); "
                f"{n} clips, concurrency {c}, latency {latency:g} s"
            )
            for repeat in range(args.repeat):
                for name in args.runs:
                    limits = {"concurrency": 0 if name == "no cap" else c}
                    httpx_post(f"{emulator.url}/_emulator/limits", limits)
                    try:
                        r = run_one(harness, airflow, emulator, name, RUN_DAGS[name], n, c, latency)
                    except Exception as exc:
                        r = {"run": name, "n": n, "error": f"{type(exc).__name__}: {exc}"}
                    r["repeat"] = repeat
                    runs.append(r)
                    print(json.dumps(r), flush=True)
    if args.keep:
        kept = read_result(args.keep) or {}
        done = {r["run"] for r in runs}
        old = [dict(r, kept_from=args.keep) for r in kept.get("runs", []) if r.get("run") not in done]
        runs = sorted(old + runs, key=lambda r: ORDER.index(r["run"]) if r["run"] in ORDER else 9)
    targets = []
    for r in runs:
        if "error" in r:
            continue
        targets.append(
            {"target": f"{r['run']}: {n}/{n} succeed", "value": r["succeeded"], "met": r["succeeded"] == n}
        )
        targets.append(
            {
                "target": f"{r['run']}: 1.00 accepted submit per clip",
                "value": r["accepted_per_clip"],
                "met": r["accepted"] == n,
            }
        )
        if r["run"] in TARGETS:
            bound = TARGETS[r["run"]]
            targets.append(
                {
                    "target": f"{r['run']}: makespan <= {bound}x ideal",
                    "value": r["makespan_over_ideal"],
                    "met": r["makespan_over_ideal"] is not None and r["makespan_over_ideal"] <= bound,
                }
            )
            targets.append(
                {
                    "target": f"{r['run']}: no worker slot held while refused",
                    "value": r["waits_in_worker"],
                    "met": r["waits_in_worker"] == 0,
                }
            )
    summary = summarize(runs)
    targets += halving_targets(runs, summary)
    print()
    print(table(runs))
    print()
    print("Median seconds from a job's end to the next submit on its account slot:")
    print(gap_table(runs))
    print()
    print(summary_table(summary))
    for t in targets:
        print(f"target: {t['target']}: {t['value']} -> {verdict(t['met'])}")
    data = {
        "script": "capacity",
        "machine": machine,
        "params": {
            "clips": n,
            "concurrency": c,
            "latency_s": latency,
            "latency_jitter": 0.3,
            "parallelism": PARALLELISM,
            "repeat": args.repeat,
            "scheduler_idle_sleep_s": args.scheduler_idle_sleep,
            "bytecode": "compiled before the start",
        },
        "runs": runs,
        "summary": summary,
        "targets": targets,
        "wall_s": rnd(time.time() - started, 1),
    }
    path = write_result(args.output, data)
    print(f"\nwrote {path}")
    return 0 if all(t["met"] for t in targets if not t.get("informative")) and len(targets) else 1


def table(runs: list[dict[str, Any]]) -> str:
    """The per-run figures as a Markdown table (printed, and pasted into ``docs/performance.md``)."""
    rows = [
        "| run | succeeded / failed | accepted submits per clip | refusals | worker-slot s per clip "
        "| peak in flight | makespan s | makespan / ideal | resumed in a worker |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in runs:
        if "error" in r:
            rows.append(f"| {r['run']} | error: {r['error']} |")
            continue
        rows.append(
            f"| {r['run']} | {r['succeeded']} / {r['failed']} | {r['accepted_per_clip']:.2f} "
            f"| {r['refusals']} "
            f"| {r['worker_slot_s_per_clip']} | {r['peak_in_flight']} | {r['makespan_s']} "
            f"| {r['makespan_over_ideal']} (ideal {r['ideal_s']:g} s) | {r.get('resumed_in_worker', '')} |"
        )
    return "\n".join(rows)


#: Figures summarized per run name over the repeats.
SUMMARY_FIGURES = (
    "makespan_over_ideal", "no_overhead_over_ideal", "worker_slot_s_per_clip", "worker_log_s_per_clip",
    "accepted_per_clip", "resumed_in_worker",
)  # fmt: skip


def summarize(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per run name: median, min and max of each figure over the repeats (the spread)."""
    out: dict[str, dict[str, Any]] = {}
    for name in ORDER:
        done = [r for r in runs if r.get("run") == name and "error" not in r]
        if not done:
            continue
        row: dict[str, Any] = {"repeats": len(done)}
        for key in SUMMARY_FIGURES:
            values = sorted(float(r[key]) for r in done if r.get(key) is not None)
            if values:
                row[key] = {"median": rnd(statistics.median(values), 2), "min": values[0], "max": values[-1]}
        out[name] = row
    return out


def halving_targets(runs: list[dict[str, Any]], summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Ending from the trigger at least halves the worker-slot seconds per clip of a worker resume:
    the ratio of the medians, sampled (the target) and from the task logs, and repeat by repeat."""
    out = []
    for key, label in (("worker_slot_s_per_clip", "sampled"), ("worker_log_s_per_clip", "task logs")):
        before = summary.get("pool, worker resume", {}).get(key)
        after = summary.get("pool", {}).get(key)
        if not before or not after or not before["median"]:
            continue
        ratio = after["median"] / before["median"]
        pairs = []
        for repeat in sorted({r.get("repeat") for r in runs}, key=lambda x: (x is None, x)):
            by = {r["run"]: r for r in runs if r.get("repeat") == repeat and "error" not in r}
            if by.get("pool", {}).get(key) and by.get("pool, worker resume", {}).get(key):
                pairs.append(f"{by['pool'][key]:g} / {by['pool, worker resume'][key]:g}")
        out.append(
            {
                "target": f"pool: worker-slot s per clip ({label}) <= 0.5x the worker resume's (median)"
                + ("" if label == "sampled" else ", for information"),
                "value": f"{ratio:.2f} ({after['median']:g} / {before['median']:g}; by repeat: "
                + ", ".join(pairs)
                + ")",
                "met": ratio <= 0.5,
                **({} if label == "sampled" else {"informative": True}),
            }
        )
    return out


def summary_table(summary: dict[str, dict[str, Any]]) -> str:
    """Median (min-max) of each figure per run, over the alternated repeats."""
    rows = [
        "| run | repeats | makespan / ideal | with no gap at all | worker-slot s per clip (sampled) "
        "| (task logs) | accepted submits per clip | resumed in a worker |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def cell(row: dict[str, Any], key: str) -> str:
        v = row.get(key)
        return "" if v is None else f"{v['median']:g} ({v['min']:g}-{v['max']:g})"

    for name, row in summary.items():
        rows.append(
            f"| {name} | {row['repeats']} | {cell(row, 'makespan_over_ideal')} "
            f"| {cell(row, 'no_overhead_over_ideal')} | {cell(row, 'worker_slot_s_per_clip')} "
            f"| {cell(row, 'worker_log_s_per_clip')} | {cell(row, 'accepted_per_clip')} "
            f"| {cell(row, 'resumed_in_worker')} |"
        )
    return "\n".join(rows)


def gap_table(runs: list[dict[str, Any]]) -> str:
    """Per run: median seconds of each step between a job's end and the next submit on its slot."""
    names = [name for name, _ in GAP_STEPS] + ["schedule_start", "total"]
    rows = [
        "| run | repeat | pairs | " + " | ".join(names) + " |",
        "|---|---|---|" + "---|" * len(names),
    ]
    for r in runs:
        gaps = r.get("slot_gap_s")
        if not gaps:
            continue
        cells = " | ".join("" if gaps.get(n) is None else f"{gaps[n]:g}" for n in names)
        rows.append(f"| {r['run']} | {r.get('repeat', '')} | {gaps.get('pairs', '')} | {cells} |")
    rows.append("")
    rows.extend(f"{name}: {text}" for name, text in GAP_STEPS)
    return "\n".join(rows)


def httpx_post(url: str, body: dict[str, Any]) -> None:
    import httpx

    httpx.post(url, json=body, timeout=10).raise_for_status()


if __name__ == "__main__":
    sys.exit(main())
