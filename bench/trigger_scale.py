"""CPU per status poll, memory per waiting job, open sockets and event lag of N concurrent triggers.

``KlingTaskTrigger.run()`` x N in one asyncio process (as the triggerer runs them), polling the
emulator over HTTPS on loopback, against the anchor ``HttpSensorTrigger`` (apache-airflow-providers-http)
x N polling the same emulator status route at the same interval. Every N runs twice: the emulator
answering at once, and with ``--response-delay-ms 100``.

Three processes per run, so that only the triggers' CPU is measured:

* the emulator (``python -m airflow_provider_kling.emulator --https``), one process (its jobs live in
  memory; the CLI has no workers option and a second worker would not see the first one's jobs);
* the *worker* (this file with ``--worker``): imports, reports ready (baseline RSS), then runs the N
  triggers until a fixed end time and writes the time of every event;
* the *controller* (this file): submits the jobs, starts the worker, and measures it from outside
  with psutil (process CPU time, RSS, sockets) and the emulator's ``/_emulator/counters``.

Timeline of one run (absolute times, ``I`` = poll interval)::

    go ............ first polls spread over [go, go + I] (a triggerer's tasks deferred over time)
    go + I + 5 .... steady window of S seconds: CPU time / status calls, RSS, sockets
    end of window . a subset of jobs becomes ready at known times over 2*I seconds
    ... + 2*I + 3*I: the worker stops; lag = event time - ready time for that subset

The start-up (``kling`` and the floors): each job's first poll is due at a time the worker planned
over ``[go, go + I]``; ``first_poll_late_p50_s``/``_p95_s``/``_max_s`` are how late the emulator saw
it (its ``first_status_at`` of the job), ``all_first_polls_s`` when the last job's first poll came
after ``go``, ``never_polled`` the jobs that had none by the end.

The route polled: the APIXO status call ``GET /api/v1/statusTask/kling-2-6?taskId=`` (the emulator's
cheapest status route, so the emulator is not the bottleneck). ``HttpSensorTrigger`` fires on the first
answer that is not a 404, so the anchor polls ids that answer 404 on that same route; its lag subset
polls the official-API route by ``external_task_id`` (``GET /v1/videos/text2video/{id}``), the one
emulator status route that turns from 404 into 200 when a job appears, and the controller submits those
jobs at the ready times. The anchor trusts the emulator's CA through ``SSL_CERT_FILE`` (aiohttp's
default SSL context loads it; a connection extra cannot carry an ``SSLContext``).

Usage::

    uv run --group bench python bench/trigger_scale.py                 # N = 100 1000 2000 5000 10000
    uv run --group bench python bench/trigger_scale.py --n 100 1000    # smaller
    uv run --group bench python bench/trigger_scale.py --n 2000 --delays 100 --kinds kling --profile
    uv run --group bench python bench/trigger_scale.py --n 2000 --delays 0 --kinds kling floor --repeat 3

The ``floor`` kind is the least a poll can cost in Python: one shared aiohttp session (the same
connector limit and TLS context as the provider's pool), per job a loop of ``GET`` the same APIXO
status route, ``json.loads`` of the body, a look at ``data.state``, and an ``asyncio.sleep`` of the
interval with the same jitter, with no provider code at all. ``floor_loaded`` is the same loop in a
process that imports what the ``kling`` kind's imports (Airflow, the provider), as a triggerer has
them loaded whatever it runs: it tells the cost of the bigger heap from the cost of the provider's
code. The target compares with ``floor``. ``kling``
over ``floor`` at the same N is the provider's overhead per poll; ``--repeat`` alternates the kinds so
that the ratio is measured side by side on a shared machine, and the summary quotes its spread.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import (
    REPO,
    loadavg,
    machine_info,
    percentile,
    rnd,
    verdict,
    write_result,
)

if TYPE_CHECKING:
    from tests.e2e.stack import EmulatorProcess

KINDS = ("kling", "floor", "floor_loaded", "anchor")
FLOORS = ("floor", "floor_loaded")
DEFAULT_NS = (100, 1000, 2000, 5000, 10000)
QUICK_NS = (100, 1000)
#: Poll interval by N. 10,000 jobs at 5 s would be 2,000 status calls/s: one emulator process on this
#: 2-core machine (sharing it with the measured process) cannot answer that, so 10,000 jobs poll every
#: 10 s: the same 1,000 calls/s as 5,000 jobs at 5 s.
DEFAULT_INTERVAL = 5.0
INTERVAL_BY_N = {10000: 10.0}
APIXO_STATUS = "/api/v1/statusTask/kling-2-6"
KLING_STATUS = "/v1/videos/text2video/"
API_KEY = "bench-api-key"
TARGET_CPU_RATIO = 0.25
#: CPU per poll of the provider's trigger over the ``floor`` kind's, at 2,000 jobs (median of repeats).
TARGET_FLOOR_RATIO = 1.25
TARGET_KIB_PER_JOB = 25.0


# ============================================================================================ worker
def _worker(spec_path: Path) -> None:
    """The measured process: N triggers in one event loop, the way the triggerer runs them."""
    spec = json.loads(spec_path.read_text())
    kind = spec["kind"]
    if spec.get("prelude"):
        import runpy

        runpy.run_path(spec["prelude"], run_name="kling_bench_prelude")
    if kind in ("kling", "floor_loaded"):  # floor_loaded: what a triggerer has loaded, none of it used
        import httpx  # noqa: F401
        import httpx_aiohttp  # noqa: F401

        from airflow_provider_kling.hooks.kling import KlingHook  # noqa: F401
        from airflow_provider_kling.polling import PollSchedule
        from airflow_provider_kling.triggers.kling import KlingTaskTrigger
    if kind in FLOORS:
        import ssl

        import aiohttp
    elif kind == "anchor":
        import aiohttp
        from airflow.providers.http.hooks.http import HttpAsyncHook  # noqa: F401
        from airflow.providers.http.triggers.http import HttpSensorTrigger
    import gc

    gc.collect()
    Path(spec["ready_file"]).write_text(str(os.getpid()))
    # The controller samples the baseline RSS now, then writes the job list.
    jobs_path = Path(sys.stdin.readline().strip())
    plan = json.loads(jobs_path.read_text())
    ids: list[str] = plan["ids"]
    n = len(ids)
    interval = float(spec["interval"])
    t_go, t_end = float(plan["t_go"]), float(plan["t_end"])
    rng = random.Random(7)
    events: list[list[Any] | None] = [None] * n
    planned: list[float | None] = [None] * n  # when each job's first poll is due (kling and floors)
    errors: dict[str, int] = {}
    profile = None

    async def drive(i: int, trigger: Any, start_delay: float) -> None:
        try:
            if start_delay > 0:
                await asyncio.sleep(start_delay)
            async for event in trigger.run():
                if events[i] is None:
                    payload = event.payload
                    status = payload.get("status") if isinstance(payload, dict) else str(payload)
                    events[i] = [i, time.time(), status]
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            key = f"{type(exc).__name__}: {str(exc)[:120]}"
            errors[key] = errors.get(key, 0) + 1

    async def main() -> None:
        nonlocal profile
        await asyncio.sleep(max(0.0, t_go - time.time()))
        tasks = []
        if kind in FLOORS:
            conn = json.loads(os.environ["AIRFLOW_CONN_BENCH_KLING"])
            connector = aiohttp.TCPConnector(
                ssl=ssl.create_default_context(cafile=conn["extra"]["verify"]), limit=128
            )
            session = aiohttp.ClientSession(connector=connector)
            floor_url = f"{conn['host']}{APIXO_STATUS}"
            for i, task_id in enumerate(ids):
                planned[i] = t_go + rng.uniform(0, interval)
                trigger = _FloorPoll(session, floor_url, task_id, interval, planned[i])
                tasks.append(asyncio.create_task(drive(i, trigger, 0.0)))
        elif kind == "kling":
            # A plain schedule (no render-time window, no refinement): the poll's cost is measured here.
            schedule = PollSchedule(first_delay=interval, interval=interval).to_dict()
            for i, task_id in enumerate(ids):
                planned[i] = t_go + rng.uniform(0, interval)
                trigger = KlingTaskTrigger(
                    kling_conn_id="bench_kling",
                    kling_task_id=task_id,
                    poll_schedule=schedule,
                    deadline=t_end + 3600,
                    not_before=planned[i],
                )
                tasks.append(asyncio.create_task(drive(i, trigger, 0.0)))
        else:
            bearer = {"Authorization": f"Bearer {API_KEY}"}
            kling_auth = {"Authorization": f"Bearer {plan['kling_jwt']}"}
            for i, ext in enumerate(ids):
                if ext.startswith("ext-"):  # lag subset: the official route, 404 until the job exists
                    endpoint, headers = f"{KLING_STATUS}{ext}", kling_auth
                else:
                    endpoint, headers = f"{APIXO_STATUS}?taskId={ext}", bearer
                trigger = HttpSensorTrigger(
                    endpoint=endpoint,
                    http_conn_id="bench_http",
                    method="GET",
                    headers=headers,
                    poke_interval=interval,
                )
                tasks.append(asyncio.create_task(drive(i, trigger, rng.uniform(0, interval))))
        if spec.get("profile"):
            import cProfile

            await asyncio.sleep(max(0.0, float(plan["t_s0"]) - time.time()))
            profile = cProfile.Profile(time.process_time)  # CPU time: the machine may be shared
            profile.enable()
            await asyncio.sleep(max(0.0, float(plan["t_s1"]) - time.time()))
            profile.disable()
        wanted = plan["subset"]
        while time.time() < t_end:
            await asyncio.sleep(min(1.0, max(0.0, t_end - time.time())))
            if time.time() > float(plan["t_s1"]) and all(events[i] is not None for i in wanted):
                await asyncio.sleep(1.0)
                break
        for task in tasks:
            task.cancel()
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 60)
        if kind in FLOORS:
            await session.close()
        await asyncio.sleep(0.2)  # let connectors close

    asyncio.run(main())
    out: dict[str, Any] = {
        "events": [e for e in events if e is not None],
        "errors": errors,
        "planned": planned,
    }
    if profile is not None:
        import io
        import pstats

        buf = io.StringIO()
        stats = pstats.Stats(profile, stream=buf)
        stats.sort_stats("tottime").print_stats(40)
        out["profile_tottime"] = buf.getvalue()
        buf = io.StringIO()
        stats = pstats.Stats(profile, stream=buf)
        stats.sort_stats("cumulative").print_stats(60)
        out["profile_cumulative"] = buf.getvalue()
    Path(plan["out"]).write_text(json.dumps(out))


class _FloorPoll:
    """The ``floor`` kind's job: the least a poll can do (see the module docstring)."""

    FINAL = frozenset({"success", "succeeded", "completed", "failed", "fail", "error"})

    def __init__(self, session: Any, url: str, task_id: str, interval: float, not_before: float) -> None:
        self.session, self.url, self.task_id = session, url, task_id
        self.interval, self.not_before = interval, not_before
        self.headers = {"Authorization": f"Bearer {API_KEY}"}

    async def run(self) -> Any:
        import types

        await asyncio.sleep(max(0.0, self.not_before - time.time()))
        while True:
            async with self.session.get(self.url, params={"taskId": self.task_id}, headers=self.headers) as r:
                body = json.loads(await r.read())
            if ((body.get("data") or {}).get("state") or "").lower() in self.FINAL:
                yield types.SimpleNamespace(payload={"status": "success"})
                return
            await asyncio.sleep(self.interval * (1 + random.uniform(-0.15, 0.15)))


# ============================================================================================ controller
def _emulator_key_pair() -> tuple[str, str]:
    """The official API's key pair of the e2e stack (imported here, never in the measured worker)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.e2e.stack import EMULATOR_KEY_PAIR

    return EMULATOR_KEY_PAIR


def _emulator(latency: float, response_delay_ms: float, log_path: Path) -> EmulatorProcess:
    """The e2e stack's emulator process, over HTTPS, accepting the official API's key pair (imported
    here, never in the measured worker)."""
    key_pair = _emulator_key_pair()  # puts the repository on sys.path
    from tests.e2e.stack import EmulatorProcess

    return EmulatorProcess(
        latency=latency,
        response_delay_ms=response_delay_ms,
        log_path=log_path,
        extra_args=["--kling-key", ":".join(key_pair)],
        https=True,
    )


def _kling_jwt(ttl: float = 7200) -> str:
    import jwt

    access, secret = _emulator_key_pair()
    now = int(time.time())
    return jwt.encode({"iss": access, "exp": now + int(ttl), "nbf": now - 5}, secret, algorithm="HS256")


async def _submit_apixo(emu: EmulatorProcess, prompts: list[str | None], concurrency: int = 48) -> list[str]:
    """Create jobs through the APIXO submit route; ``None`` prompt -> the emulator's default latency.

    A prompt may be a callable-free template ``"...[latency:@READY]"``; ``@READY`` is replaced by the
    seconds left until the absolute ready time that follows ``@`` (so latency is fixed at send time).
    """
    import ssl

    import aiohttp

    ctx = ssl.create_default_context(cafile=emu.ca)
    ids: list[str] = [""] * len(prompts)
    queue = list(enumerate(prompts))
    url = f"{emu.url}/api/v1/generateTask/kling-2-6"
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx, limit=concurrency)) as session:

        async def one() -> None:
            while queue:
                i, prompt = queue.pop()
                text = "bench clip"
                if prompt is not None:
                    ready = float(prompt)
                    text = f"bench clip [latency:{max(0.0, ready - time.time()):.3f}]"
                body = {
                    "request_type": "async",
                    "input": {
                        "mode": "text-to-video",
                        "prompt": text,
                        "duration": 5,
                        "sound": False,
                        "aspect_ratio": "16:9",
                    },
                }
                async with session.post(url, json=body, headers=headers) as resp:
                    data = await resp.json()
                    if resp.status != 200:
                        raise RuntimeError(f"submit failed: {resp.status} {data}")
                    ids[i] = data["data"]["taskId"]

        await asyncio.gather(*(one() for _ in range(concurrency)))
    return ids


def _submit_kling_at(
    emu: EmulatorProcess, schedule: list[tuple[float, str]], token: str
) -> list[threading.Thread]:
    """Submit official-API jobs with ``external_task_id`` at the given absolute times (anchor's subset).

    Eight threads, each taking every eighth job, so that a busy emulator does not delay the later jobs
    (the ready time used for the lag is the job's creation time at the emulator anyway).
    """
    import httpx

    ordered = sorted(schedule)

    def run(part: list[tuple[float, str]]) -> None:
        with httpx.Client(verify=emu.ca or True, timeout=30, trust_env=False) as client:
            for at, ext in part:
                time.sleep(max(0.0, at - time.time()))
                try:
                    client.post(
                        f"{emu.url}/v1/videos/text2video",
                        json={
                            "model_name": "kling-v2-6",
                            "prompt": "bench clip",
                            "duration": "5",
                            "external_task_id": ext,
                        },
                        headers={"Authorization": f"Bearer {token}"},
                    ).raise_for_status()
                except httpx.HTTPError as exc:  # counted as not submitted in the results
                    print(f"anchor subset submit of {ext} failed: {exc}", file=sys.stderr)

    threads = [
        threading.Thread(target=run, args=(ordered[k::8],), name=f"anchor-subset-{k}", daemon=True)
        for k in range(8)
    ]
    for thread in threads:
        thread.start()
    return threads


def _cpu(proc: Any) -> float:
    t = proc.cpu_times()
    return float(t.user + t.system)


def _runqueue_wait(pid: int) -> float:
    """Seconds the process's threads spent runnable but waiting for a CPU (``/proc/<pid>/task/*/schedstat``).

    On a shared machine this says whether a slow poll rate or a long lag came from the code or from
    not getting a CPU.
    """
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(stat.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def _sockets(proc: Any) -> dict[str, int]:
    conns = proc.net_connections(kind="inet")
    established = sum(1 for c in conns if c.status == "ESTABLISHED")
    return {"total": len(conns), "established": established}


def run_one(
    kind: str,
    n: int,
    delay_ms: float,
    *,
    interval: float,
    steady: float,
    profile: bool,
    log_dir: Path,
    prelude: Path | None = None,
) -> dict[str, Any]:
    """One measurement: a fresh emulator, N jobs, one worker process."""
    import psutil

    lag_window = 2 * interval
    subset = n if n <= 200 else max(200, n // 5)
    rng = random.Random(n * 31 + int(delay_ms))
    result: dict[str, Any] = {
        "kind": kind,
        "n": n,
        "delay_ms": delay_ms,
        "interval_s": interval,
        "steady_s": steady,
        "lag_subset": subset,
        "loadavg_before": loadavg(),
    }
    tmp = Path(tempfile.mkdtemp(prefix=f"kling-bench-{kind}-{n}-"))
    with _emulator(latency=36000, response_delay_ms=delay_ms, log_path=log_dir / "emulator.log") as emu:
        emu_proc = psutil.Process(emu.pid)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
        env["AIRFLOW_CONN_BENCH_KLING"] = json.dumps(
            {
                "conn_type": "kling",
                "host": emu.url,
                "password": API_KEY,
                "extra": {"gateway": "apixo", "verify": emu.ca},
            }
        )
        env["AIRFLOW_CONN_BENCH_HTTP"] = json.dumps({"conn_type": "http", "host": emu.url})
        if kind == "anchor":
            env["SSL_CERT_FILE"] = str(emu.ca)
        spec = {
            "kind": kind,
            "interval": interval,
            "ready_file": str(tmp / "ready"),
            "profile": profile,
            "prelude": str(prelude) if prelude else None,
        }
        (tmp / "spec.json").write_text(json.dumps(spec))
        worker_log = open(log_dir / f"worker-{kind}-{n}-{int(delay_ms)}.log", "w")  # noqa: SIM115
        worker = subprocess.Popen(
            [sys.executable, __file__, "--worker", str(tmp / "spec.json")],
            stdin=subprocess.PIPE,
            stdout=worker_log,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=str(REPO),
        )
        worker_log.close()
        try:
            wproc = psutil.Process(worker.pid)
            deadline = time.monotonic() + 120
            while not (tmp / "ready").exists():
                if worker.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"worker did not start; see {log_dir}")
                time.sleep(0.05)
            time.sleep(0.5)
            baseline = wproc.memory_info().rss
            result["baseline_rss_mib"] = rnd(baseline / 2**20, 1)

            # -- jobs: the subset becomes ready at known times after the steady window
            t_submit0 = time.time()
            bulk = n - subset
            est_submit = n / 400.0 + 2.0 if kind != "anchor" else 1.0
            t_go = time.time() + est_submit + 1.0
            t_s0 = t_go + interval + 3.0
            t_s1 = t_s0 + steady
            t_lag0 = t_s1 + 1.0
            ready_times = [t_lag0 + rng.uniform(0, lag_window) for _ in range(subset)]
            t_end = t_lag0 + lag_window + max(3 * interval, 10.0)
            token = _kling_jwt()
            if kind != "anchor":
                prompts: list[str | None] = [None] * bulk + [repr(t) for t in ready_times]
                ids = asyncio.run(_submit_apixo(emu, prompts))
            else:
                ids = [f"task_{900000000000 + i}" for i in range(bulk)]  # unknown ids: 404
                ids += [f"ext-{i:06d}" for i in range(subset)]
            result["submit_s"] = rnd(time.time() - t_submit0, 2)
            if time.time() > t_go:  # submitting took longer than planned: shift the plan, keep latencies
                result["warning"] = f"submit overran the plan by {time.time() - t_go:.1f} s"
            order = list(range(n))
            rng.shuffle(order)  # subset spread across the event loop's task list
            ids = [ids[i] for i in order]
            subset_pos = {pos for pos, i in enumerate(order) if i >= bulk}
            plan = {
                "ids": ids,
                "t_go": t_go,
                "t_s0": t_s0,
                "t_s1": t_s1,
                "t_end": t_end,
                "kling_jwt": token,
                "subset": sorted(subset_pos),
                "out": str(tmp / "out.json"),
            }
            (tmp / "plan.json").write_text(json.dumps(plan))
            assert worker.stdin is not None
            worker.stdin.write(str(tmp / "plan.json") + "\n")
            worker.stdin.flush()

            # -- steady window
            time.sleep(max(0.0, t_s0 - time.time()))
            c0, w0, e0, m0 = emu.status_calls(), _cpu(wproc), _cpu(emu_proc), time.monotonic()
            q0 = _runqueue_wait(worker.pid)
            rss_samples = []
            mid_sockets = None
            while time.time() < t_s1 - 0.5:
                time.sleep(min(2.0, max(0.0, t_s1 - 0.5 - time.time())))
                rss_samples.append(wproc.memory_info().rss)
                if mid_sockets is None and time.time() > (t_s0 + t_s1) / 2:
                    mid_sockets = _sockets(wproc)
            time.sleep(max(0.0, t_s1 - time.time()))
            c1, w1, e1, m1 = emu.status_calls(), _cpu(wproc), _cpu(emu_proc), time.monotonic()
            q1 = _runqueue_wait(worker.pid)
            end_sockets = _sockets(wproc)
            rss = wproc.memory_info().rss
            polls = c1 - c0
            elapsed = m1 - m0
            cpu = w1 - w0
            result.update(
                {
                    "polls": polls,
                    "polls_per_s": rnd(polls / elapsed, 1),
                    "expected_polls_per_s": rnd(n / interval, 1),
                    "cpu_s": rnd(cpu, 3),
                    "cpu_cores": rnd(cpu / elapsed, 3),
                    "cpu_ms_per_poll": rnd(1000 * cpu / polls, 4) if polls else None,
                    "emulator_cpu_cores": rnd((e1 - e0) / elapsed, 3),
                    "runqueue_wait_share": rnd((q1 - q0) / elapsed, 3),
                    "rss_mib": rnd(rss / 2**20, 1),
                    "rss_peak_in_window_mib": rnd(max([*rss_samples, rss]) / 2**20, 1),
                    "kib_per_job": rnd((rss - baseline) / 1024 / n, 2),
                    "sockets_mid": mid_sockets,
                    "sockets_end": end_sockets,
                    "loadavg_window": loadavg(),
                }
            )

            if polls > 1.5 * n / interval * elapsed:
                result["invalid"] = (
                    "more status calls than N / interval: a trigger is looping without sleeping"
                )

            # -- lag window
            submitters: list[threading.Thread] = []
            if kind == "anchor":
                schedule = [(t, ids[pos]) for pos, t in zip(sorted(subset_pos), ready_times, strict=True)]
                submitters = _submit_kling_at(emu, schedule, token)
            worker.wait(timeout=max(60.0, t_end - time.time() + 120))
            for thread in submitters:
                thread.join(30)
            out = json.loads((tmp / "out.json").read_text())
            ready: dict[str, float] = {}
            for job in emu.control("GET", "jobs"):
                if kind != "anchor":
                    ready[job["task_id"]] = float(job["finished_at"])
                else:
                    ext = (job.get("extra") or {}).get("external_task_id")
                    if ext:
                        ready[ext] = float(job["created"])
            result.update(_first_polls(emu.control("GET", "jobs"), ids, out.get("planned") or [], t_go))
            lags = []
            unexpected = 0
            statuses: dict[str, int] = {}
            seen = set()
            for i, t_event, status in out["events"]:
                statuses[str(status)] = statuses.get(str(status), 0) + 1
                if i not in subset_pos or ids[i] not in ready:
                    unexpected += 1
                    continue
                seen.add(i)
                lags.append(t_event - ready[ids[i]])
            # a job that appeared too late to be polled before the end does not count as missed
            became_ready = {i for i in subset_pos if ready.get(ids[i], t_end) <= t_end - interval}
            missed = len(became_ready - seen)
            result.update(
                {
                    "lag_p50_s": rnd(percentile(lags, 50)),
                    "lag_p95_s": rnd(percentile(lags, 95)),
                    "lag_max_s": rnd(max(lags) if lags else None),
                    "lag_events": len(lags),
                    "lag_missed": missed,
                    "lag_not_ready": len(subset_pos) - len(became_ready),
                    "unexpected_events": unexpected,
                    "event_statuses": statuses,
                    "errors": out["errors"],
                }
            )
            if profile:
                result["profile_tottime"] = out.get("profile_tottime")
                result["profile_cumulative"] = out.get("profile_cumulative")
        finally:
            if worker.poll() is None:
                worker.kill()
                worker.wait(10)
    return result


def _first_polls(
    jobs: list[dict[str, Any]], ids: list[str], planned: list[float | None], t_go: float
) -> dict[str, Any]:
    """How late each job's first status call came after it was due (the start-up of N triggers).

    ``first_poll_late_*``: the emulator's time of a job's first status call minus the time the worker
    planned it for (``not_before``, spread over the first interval); ``all_first_polls_s``: from the
    go time until the last job's first poll; ``never_polled``: jobs with no status call by the end.
    """
    first = {j["task_id"]: j.get("first_status_at") for j in jobs}
    late: list[float] = []
    seen: list[float] = []
    never = 0
    for task_id, due in zip(ids, planned, strict=False):
        if due is None:
            continue
        at = first.get(task_id)
        if at is None:
            never += 1
            continue
        late.append(at - due)
        seen.append(at)
    if not late:
        return {}
    return {
        "first_poll_late_p50_s": rnd(percentile(late, 50), 3),
        "first_poll_late_p95_s": rnd(percentile(late, 95), 3),
        "first_poll_late_max_s": rnd(max(late), 3),
        "all_first_polls_s": rnd(max(seen) - t_go, 2),
        "never_polled": never,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Ratios and targets from the individual runs."""
    by = {(r["kind"], r["n"], r["delay_ms"]): r for r in runs if "cpu_ms_per_poll" in r}
    ratios = []
    for (kind, n, delay), r in sorted(by.items()):
        if kind != "kling":
            continue
        anchor = by.get(("anchor", n, delay))
        if anchor and anchor.get("cpu_ms_per_poll") and r.get("cpu_ms_per_poll"):
            ratios.append(
                {
                    "n": n,
                    "delay_ms": delay,
                    "kling_ms_per_poll": r["cpu_ms_per_poll"],
                    "anchor_ms_per_poll": anchor["cpu_ms_per_poll"],
                    "ratio": rnd(r["cpu_ms_per_poll"] / anchor["cpu_ms_per_poll"], 3),
                    "kling_kib_per_job": r["kib_per_job"],
                    "anchor_kib_per_job": anchor["kib_per_job"],
                }
            )
    targets: list[dict[str, Any]] = []
    for delay in (0.0, 100.0):
        row = next((x for x in ratios if x["n"] == 2000 and x["delay_ms"] == delay), None)
        targets.append(
            {
                "target": f"CPU per poll <= {TARGET_CPU_RATIO}x anchor at 2,000 jobs, {delay:g} ms",
                "value": row["ratio"] if row else None,
                "met": None if row is None else row["ratio"] <= TARGET_CPU_RATIO,
            }
        )
    for delay in (0.0, 100.0):
        r = by.get(("kling", 10000, delay))
        targets.append(
            {
                "target": f"10,000 jobs at <= {TARGET_KIB_PER_JOB:g} KiB each, {delay:g} ms",
                "value": r["kib_per_job"] if r else None,
                "met": None if r is None else r["kib_per_job"] <= TARGET_KIB_PER_JOB,
            }
        )
    for delay in (0.0, 100.0):
        r = by.get(("kling", 5000, delay))
        limit = (r["interval_s"] / 2 + 0.2) if r else None
        targets.append(
            {
                "target": f"p50 lag <= interval/2 + 0.2 s at 5,000 jobs, {delay:g} ms",
                "value": r["lag_p50_s"] if r else None,
                "limit": limit,
                "met": None if r is None or r["lag_p50_s"] is None else r["lag_p50_s"] <= limit,
            }
        )
    # marginal memory per job: slope between consecutive N of the same kind and delay
    slopes = []
    for kind in KINDS:
        for delay in (0.0, 100.0):
            series = sorted((n, r) for (k, n, d), r in by.items() if k == kind and d == delay)
            for (n0, r0), (n1, r1) in itertools.pairwise(series):
                slopes.append(
                    {
                        "kind": kind,
                        "delay_ms": delay,
                        "from_n": n0,
                        "to_n": n1,
                        "kib_per_extra_job": rnd((r1["rss_mib"] - r0["rss_mib"]) * 1024 / (n1 - n0), 2),
                    }
                )
    floor_ratios = floor_ratio_rows(runs)
    row = next(
        (x for x in floor_ratios if x["floor"] == "floor" and x["n"] == 2000 and x["delay_ms"] == 0.0), None
    )
    targets.append(
        {
            "target": f"CPU per poll <= {TARGET_FLOOR_RATIO}x the floor at 2,000 jobs, 0 ms (median)",
            "value": row["median"] if row else None,
            "range": [row["min"], row["max"]] if row else None,
            "met": None if row is None else row["median"] <= TARGET_FLOOR_RATIO,
        }
    )
    return {"ratios": ratios, "floor_ratios": floor_ratios, "targets": targets, "marginal_memory": slopes}


def floor_ratio_rows(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``kling`` over each floor kind's CPU per poll, per (N, delay), from runs of the same repeat."""
    pairs: dict[tuple[str, int, float], list[tuple[float, float]]] = {}
    by = {(r["kind"], r["n"], r["delay_ms"], r.get("repeat", 0)): r for r in runs if r.get("cpu_ms_per_poll")}
    for (kind, n, delay, repeat), r in by.items():
        for floor_kind in FLOORS:
            floor = by.get((floor_kind, n, delay, repeat))
            if kind == "kling" and floor is not None:
                pairs.setdefault((floor_kind, n, delay), []).append(
                    (r["cpu_ms_per_poll"], floor["cpu_ms_per_poll"])
                )
    rows = []
    for (floor_kind, n, delay), values in sorted(pairs.items()):
        ratios = sorted(k / f for k, f in values)
        rows.append(
            {
                "floor": floor_kind,
                "n": n,
                "delay_ms": delay,
                "pairs": len(values),
                "median": rnd(statistics.median(ratios), 3),
                "min": rnd(ratios[0], 3),
                "max": rnd(ratios[-1], 3),
                "kling_ms_per_poll": rnd(statistics.median(k for k, _ in values), 4),
                "floor_ms_per_poll": rnd(statistics.median(f for _, f in values), 4),
            }
        )
    return rows


def coalescing_estimate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """What one status call for many tasks would save, from the measured per-request cost.

    A batched call (Runware ``getResponse`` takes a list of tasks; the official API lists tasks by page
    and the newer route family has ``GET /tasks?task_ids=``) costs one request plus a per-item parse.
    The per-request part is estimated as the measured CPU per poll minus the cost of parsing one
    status body (measured here by timing the gateway parser alone).
    """
    from airflow_provider_kling.gateways import get_gateway
    from airflow_provider_kling.gateways.base import HttpResponse

    gateway = get_gateway("apixo", None)
    body = json.dumps(
        {
            "code": 200,
            "message": "success",
            "data": {"taskId": "task_123456789012", "state": "processing", "createTime": 1795247021712},
        }
    ).encode()
    response = HttpResponse(status_code=200, headers={"content-type": "application/json"}, content=body)
    loops = 5000
    t0 = time.process_time()
    for _ in range(loops):
        gateway.parse_status("task_123456789012", None, response)
    parse_ms = (time.process_time() - t0) * 1000 / loops
    out: dict[str, Any] = {"parse_one_status_ms": rnd(parse_ms, 4), "by_run": []}
    for r in runs:
        if r["kind"] != "kling" or not r.get("cpu_ms_per_poll"):
            continue
        request_ms = max(0.0, r["cpu_ms_per_poll"] - parse_ms)
        for batch in (10, 50):
            per_task = request_ms / batch + parse_ms
            out["by_run"].append(
                {
                    "n": r["n"],
                    "delay_ms": r["delay_ms"],
                    "batch": batch,
                    "ms_per_task_status": rnd(per_task, 4),
                    "vs_now": rnd(per_task / r["cpu_ms_per_poll"], 3),
                }
            )
    return out


def print_table(runs: list[dict[str, Any]]) -> None:
    head = (
        f"{'kind':7} {'N':>6} {'delay':>5} {'int':>4} {'polls/s':>8} {'exp/s':>6} {'ms/poll':>8} "
        f"{'KiB/job':>8} {'RSS MiB':>8} {'socks':>6} {'lag p50':>7} {'p95':>6} {'miss':>5} {'emu cpu':>7} "
        f"{'rq wait':>7} {'1st p95':>7} {'wall':>5}"
    )
    print(head)
    for r in runs:
        if "error" in r:
            print(f"{r['kind']:7} {r['n']:>6} {r['delay_ms']:>5g} ERROR {r['error']}")
            continue
        socks = (r.get("sockets_end") or {}).get("total")
        print(
            f"{r['kind']:7} {r['n']:>6} {r['delay_ms']:>5g} {r['interval_s']:>4g} {r['polls_per_s']:>8} "
            f"{r['expected_polls_per_s']:>6} {r['cpu_ms_per_poll']!s:>8} {r['kib_per_job']!s:>8} "
            f"{r['rss_mib']!s:>8} {socks!s:>6} {r['lag_p50_s']!s:>7} {r['lag_p95_s']!s:>6} "
            f"{r['lag_missed']!s:>5} {r['emulator_cpu_cores']!s:>7} {r.get('runqueue_wait_share')!s:>7} "
            f"{r.get('first_poll_late_p95_s')!s:>7} {r.get('wall_s')!s:>5}",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    p.add_argument(
        "--n", type=int, nargs="+", help=f"numbers of jobs (default {' '.join(map(str, DEFAULT_NS))})"
    )
    p.add_argument("--quick", action="store_true", help=f"N = {' '.join(map(str, QUICK_NS))}, shorter window")
    p.add_argument(
        "--delays", type=float, nargs="+", default=[0.0, 100.0], help="emulator response delays, ms"
    )
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    p.add_argument("--steady", type=float, help="steady window, s (default 30 for N <= 100, else 20)")
    p.add_argument("--interval", type=float, help="poll interval, s (default 5; 10 at N = 10,000)")
    p.add_argument(
        "--anchor-max-n",
        type=int,
        default=5000,
        help="skip the anchor above this N (default 5000: at 10,000 it would need ~1,000 TLS handshakes/s)",
    )
    p.add_argument("--profile", action="store_true", help="cProfile the worker over the steady window")
    p.add_argument("--repeat", type=int, default=1, help="run each N K times, the kinds alternated")
    p.add_argument(
        "--prelude",
        type=Path,
        help="Python file the worker runs before creating triggers (to measure a proposed change)",
    )
    p.add_argument("--output", default="trigger_scale", help="results file name under bench/results/")
    args = p.parse_args(argv)
    if args.worker is not None:
        _worker(args.worker)
        return 0

    ns = args.n or (list(QUICK_NS) if args.quick else list(DEFAULT_NS))
    log_dir = Path(tempfile.mkdtemp(prefix="kling-bench-logs-"))
    print(f"trigger_scale: N={ns} delays={args.delays} kinds={args.kinds}; logs in {log_dir}", flush=True)
    started = time.time()
    machine = machine_info()  # at the start: the git state of the provider being measured
    runs: list[dict[str, Any]] = []
    for delay, n, repeat, kind in itertools.product(args.delays, ns, range(args.repeat), args.kinds):
        if kind == "anchor" and n > args.anchor_max_n:
            continue
        interval = args.interval or INTERVAL_BY_N.get(n, DEFAULT_INTERVAL)
        steady = args.steady or (15.0 if args.quick else (30.0 if n <= 100 else 20.0))
        t0 = time.time()
        try:
            r = run_one(
                kind,
                n,
                delay,
                interval=interval,
                steady=steady,
                profile=args.profile,
                log_dir=log_dir,
                prelude=args.prelude.resolve() if args.prelude else None,
            )
        except Exception as exc:
            r = {"kind": kind, "n": n, "delay_ms": delay, "error": f"{type(exc).__name__}: {exc}"}
        r["wall_s"] = rnd(time.time() - t0, 1)
        r["repeat"] = repeat
        runs.append(r)
        print_table([r])
        if args.profile and r.get("profile_tottime"):
            print(r["profile_tottime"][:6000])
    summary = summarize(runs)
    data = {
        "script": "trigger_scale",
        "machine": machine,
        "started": started,
        "wall_s": rnd(time.time() - started, 1),
        "route": {
            "kling": f"APIXO {APIXO_STATUS}",
            "floor, floor_loaded": f"APIXO {APIXO_STATUS}",
            "anchor": f"APIXO {APIXO_STATUS} (404) + {KLING_STATUS}",
        },
        "prelude": str(args.prelude) if args.prelude else None,
        "runs": runs,
        "summary": summary,
        "coalescing": coalescing_estimate(runs),
    }
    write_result(args.output, data)
    print()
    print_table(runs)
    print()
    for row in summary["floor_ratios"]:
        print(
            f"N={row['n']:>6} delay={row['delay_ms']:>5g} ms: Kling over {row['floor']} CPU per poll "
            f"{row['median']} (range {row['min']}-{row['max']}, {row['pairs']} alternated pairs; "
            f"Kling {row['kling_ms_per_poll']} ms, floor {row['floor_ms_per_poll']} ms, medians)"
        )
    for row in summary["ratios"]:
        print(
            f"N={row['n']:>6} delay={row['delay_ms']:>5g} ms: "
            f"Kling {row['kling_ms_per_poll']} ms/poll vs anchor "
            f"{row['anchor_ms_per_poll']} ms/poll -> ratio {row['ratio']}; "
            f"KiB/job {row['kling_kib_per_job']} vs {row['anchor_kib_per_job']}"
        )
    for t in summary["targets"]:
        print(f"target: {t['target']}: {t['value']} -> {verdict(t['met'])}")
    print(f"wall time {data['wall_s']} s; results in bench/results/{args.output}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
