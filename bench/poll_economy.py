"""Poll economy: status calls per job and detection lag of the provider's default poll schedule.

A simulation (no server): job latencies are drawn like the vendors' published figures (APIXO: a 5 s
clip takes 50-70 s, a 10 s clip 80-100 s; uniform), and each strategy's poll times are generated;
a job is detected at the first poll at or after its latency. Calls = polls up to and including that
one; lag = detection time - latency. The provider's schedule is the real one:
:meth:`airflow_provider_kling.polling.PollSchedule.delay`, called the way the code calls it:

* ``provider (deferrable)``: the operator defers with ``not_before = submit + first_delay`` (no
  jitter on the first poll), then ``KlingTaskTrigger`` sleeps ``schedule.delay(polls)`` after each poll
  (``polls`` >= 1: the interval, +/- 15 % jitter);
* ``provider (in-worker)``: ``KlingHook.wait_for_task`` sleeps ``schedule.delay(0)`` (the first delay,
  jittered), then ``schedule.delay(1)``, ``schedule.delay(2)``, ...

Against:

* ``fixed 5 s``: a poll every 5 s after submit (5, 10, 15, ... s);
* ``Runware SDK``: ``runware-sdk``'s REST polling (``client.py::_poll_rest``): sleep 1.0 s, poll, then
  0.5 s growing x1.5 per poll up to 10 s (polls at 1.0, 1.5, 2.25, 3.4, 5.1, 7.6, 11.4, 17.1, 25.6,
  35.6, 45.6, ... s).

``--rtt`` adds a status call's round trip after every poll (default 0: the answer is instant).

Usage::

    uv run --group bench python bench/poll_economy.py [--jobs 20000] [--seed 1] [--rtt 0.2]
"""

from __future__ import annotations

import argparse
import itertools
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import machine_info, percentile, rnd, verdict, write_result

from airflow_provider_kling.polling import PollSchedule

#: Published latency ranges by clip duration (APIXO's Kling 2.6 page,
#: https://apixo.ai/docs/models/video/kling-2-6: 50-70 s for a 5 s clip, 80-100 s for 10 s; the same
#: figures as ``defaults.DEFAULT_FIRST_POLL_DELAY``).
LATENCY = {5: (50.0, 70.0), 10: (80.0, 100.0)}
TARGET_CALLS = 6.0
TARGET_MEDIAN_LAG = 5.0

PollTimes = Callable[[random.Random, float], Iterator[float]]


def provider(duration: int, *, deferrable: bool) -> PollTimes:
    """The default ``PollSchedule``: the trigger starts at ``not_before = started + first_delay``, the
    in-worker wait at ``delay(0)`` (jittered); both then wait ``delay(1)``, ``delay(2)``, ..."""
    schedule = PollSchedule.for_duration(duration)

    def times(rng: random.Random, rtt: float) -> Iterator[float]:
        t = schedule.first_delay if deferrable else schedule.delay(0, rng)
        for polls in itertools.count(1):
            yield t
            t += rtt + schedule.delay(polls, rng)

    return times


def fixed(interval: float) -> PollTimes:
    def times(rng: random.Random, rtt: float) -> Iterator[float]:
        t = interval
        while True:
            yield t
            t += rtt + interval

    return times


def runware_sdk(rng: random.Random, rtt: float) -> Iterator[float]:
    """``runware-sdk`` ``_poll_rest``: ``delay = 1.0``; after poll 1 it is 0.5, then x1.5 up to 10."""
    delay = 1.0
    t = delay
    poll_number = 0
    while True:
        yield t
        poll_number += 1
        delay = 0.5 if poll_number == 1 else min(delay * 1.5, 10.0)
        t += rtt + delay


def simulate(times: PollTimes, latencies: list[float], seed: int, rtt: float) -> dict[str, Any]:
    rng = random.Random(seed)
    calls: list[int] = []
    lags: list[float] = []
    for latency in latencies:
        for n, t in enumerate(times(rng, rtt), start=1):
            if t >= latency:
                calls.append(n)
                lags.append(t - latency)
                break
    return {
        "calls_mean": rnd(statistics.fmean(calls), 2),
        "calls_median": statistics.median(calls),
        "calls_p95": percentile(calls, 95),
        "calls_max": max(calls),
        "lag_mean_s": rnd(statistics.fmean(lags), 2),
        "lag_median_s": rnd(statistics.median(lags), 2),
        "lag_p95_s": rnd(percentile(lags, 95), 2),
        "lag_max_s": rnd(max(lags), 2),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jobs", type=int, default=20000, help="simulated jobs per clip duration")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--rtt", type=float, default=0.0, help="seconds a status call takes (added per poll)")
    p.add_argument("--output", default="poll_economy")
    args = p.parse_args(argv)
    started = time.time()
    machine = machine_info()

    rows: list[dict[str, Any]] = []
    for duration, (lo, hi) in LATENCY.items():
        rng = random.Random(args.seed * 1000 + duration)
        latencies = [rng.uniform(lo, hi) for _ in range(args.jobs)]
        strategies: dict[str, PollTimes] = {
            "provider (deferrable)": provider(duration, deferrable=True),
            "provider (in-worker)": provider(duration, deferrable=False),
            "fixed 5 s": fixed(5.0),
            "Runware SDK backoff": runware_sdk,
        }
        for name, times in strategies.items():
            row = {"clip_s": duration, "latency_range_s": [lo, hi], "strategy": name}
            row.update(simulate(times, latencies, args.seed, args.rtt))
            rows.append(row)

    print(
        f"{'clip':>4} {'strategy':24} {'calls mean':>10} {'median':>6} {'p95':>5} {'max':>4} "
        f"{'lag median':>10} {'p95':>6} {'max':>6}"
    )
    for r in rows:
        print(
            f"{r['clip_s']:>3}s {r['strategy']:24} {r['calls_mean']:>10} {r['calls_median']:>6} "
            f"{r['calls_p95']:>5} {r['calls_max']:>4} {r['lag_median_s']:>10} {r['lag_p95_s']:>6} "
            f"{r['lag_max_s']:>6}"
        )
    targets = []
    for strategy in ("provider (deferrable)", "provider (in-worker)"):
        r = next(x for x in rows if x["clip_s"] == 5 and x["strategy"] == strategy)
        targets.append(
            {
                "target": f"<= {TARGET_CALLS:g} status calls per job, 5 s clips, {strategy}",
                "value": r["calls_mean"],
                "max": r["calls_max"],
                "met": r["calls_mean"] <= TARGET_CALLS,
            }
        )
        targets.append(
            {
                "target": f"<= {TARGET_MEDIAN_LAG:g} s median lag, 5 s clips, {strategy}",
                "value": r["lag_median_s"],
                "met": r["lag_median_s"] <= TARGET_MEDIAN_LAG,
            }
        )
    for t in targets:
        print(f"target: {t['target']}: {t['value']} -> {verdict(t['met'])}")
    data = {
        "script": "poll_economy",
        "machine": machine,
        "started": started,
        "jobs_per_clip": args.jobs,
        "seed": args.seed,
        "rtt_s": args.rtt,
        "schedule": {d: PollSchedule.for_duration(d).to_dict() for d in LATENCY},
        "rows": rows,
        "targets": targets,
    }
    write_result(args.output, data)
    print(f"results in bench/results/{args.output}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
