"""Run every benchmark, then write ``bench/results/latest.json`` and the plot ``docs/img/performance.png``.

``make bench`` runs this. Each script also runs on its own (see ``bench/README.md``). Order: the cheap
ones first, ``worker_slots`` and ``capacity`` (real Airflow deployments) last.

Usage::

    uv run --group bench python bench/run_all.py            # full sizes (~40-50 min on 2 cores)
    uv run --group bench python bench/run_all.py --quick    # small N (~15 min); results *-quick.json
    uv run --group bench python bench/run_all.py --only trigger_scale poll_economy
    uv run --group bench python bench/run_all.py --report-only   # latest.json + plot from results
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import BENCH, REPO, RESULTS, machine_info, read_result, rnd, verdict, write_result

#: script -> its arguments in a quick run
QUICK_ARGS = {
    "poll_economy": ["--jobs", "5000"],
    "import_cost": ["--runs", "9"],
    "trigger_scale": ["--quick"],
    "worker_slots": ["--quick"],
    "capacity": ["--quick"],
}
SCRIPTS = tuple(QUICK_ARGS)
PLOT = REPO / "docs" / "img" / "performance.png"


def plot(trigger: dict[str, Any], path: Path) -> Path | None:
    """Two panels against N: CPU per status poll, and memory per waiting job; both triggers, both delays."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in trigger.get("runs", []) if r.get("cpu_ms_per_poll") is not None]
    if not runs:
        return None
    fig, (ax_cpu, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    styles = {
        ("kling", 0.0): ("KlingTaskTrigger, 0 ms", "tab:purple", "-", "o"),
        ("kling", 100.0): ("KlingTaskTrigger, 100 ms", "tab:purple", "--", "s"),
        ("anchor", 0.0): ("HttpSensorTrigger, 0 ms", "tab:gray", "-", "o"),
        ("anchor", 100.0): ("HttpSensorTrigger, 100 ms", "tab:gray", "--", "s"),
    }
    for (kind, delay), (label, color, line, marker) in styles.items():
        series = sorted((r["n"], r) for r in runs if r["kind"] == kind and float(r["delay_ms"]) == delay)
        if not series:
            continue
        ns = [n for n, _ in series]
        ax_cpu.plot(
            ns, [r["cpu_ms_per_poll"] for _, r in series], line, color=color, marker=marker, label=label
        )
        ax_mem.plot(ns, [r["kib_per_job"] for _, r in series], line, color=color, marker=marker, label=label)
    ax_cpu.set_title("CPU per status poll (ms = CPU s per 1,000 polls)")
    ax_mem.set_title("Memory per waiting job (KiB RSS)")
    for ax in (ax_cpu, ax_mem):
        ax.set_xscale("log")
        ax.set_xlabel("concurrent waiting jobs (N)")
        ax.grid(True, which="both", alpha=0.3)
        ax.set_ylim(bottom=0)
    ax_cpu.set_ylabel("ms CPU / poll")
    ax_mem.set_ylabel("KiB / job")
    ax_mem.axhline(25, color="tab:red", linewidth=0.8, linestyle=":", label="target at 10,000 jobs (25 KiB)")
    ax_mem.legend(fontsize=8)
    machine = trigger.get("machine", {})
    fig.suptitle(
        f"One asyncio process, HTTPS on loopback, emulator in a separate process "
        f"({machine.get('nproc', '?')} cores, {machine.get('cpu_model', '?')}; "
        "5 s interval, 10 s at N=10,000)",
        fontsize=9,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def markdown(combined: dict[str, Any]) -> str:
    """The figures as Markdown tables (``bench/results/latest.md``), for ``docs/performance.md``."""
    out: list[str] = []
    res = combined["results"]
    ts = res.get("trigger_scale")
    if ts:
        out += [
            "### trigger_scale",
            "",
            "| trigger | N | delay ms | interval s | polls/s (expected) | CPU ms/poll | KiB/job | RSS MiB "
            "| sockets | lag p50 s | lag p95 s | missed | emulator cores | run-queue wait |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in ts["runs"]:
            if "error" in r:
                out.append(f"| {r['kind']} | {r['n']} | {_fmt(r['delay_ms'])} | error: {r['error']} |")
                continue
            out.append(
                f"| {'KlingTaskTrigger' if r['kind'] == 'kling' else 'HttpSensorTrigger'} | {r['n']:,} "
                f"| {_fmt(r['delay_ms'])} | {_fmt(r['interval_s'])} "
                f"| {_fmt(r['polls_per_s'])} ({_fmt(r['expected_polls_per_s'])}) "
                f"| {_fmt(r['cpu_ms_per_poll'])} | {_fmt(r['kib_per_job'])} | {_fmt(r['rss_mib'])} "
                f"| {_fmt((r.get('sockets_end') or {}).get('total'))} "
                f"| {_fmt(r['lag_p50_s'])} | {_fmt(r['lag_p95_s'])} | {r['lag_missed']}/{r['lag_subset']} "
                f"| {_fmt(r['emulator_cpu_cores'])} | {_fmt(r.get('runqueue_wait_share'))} |"
            )
        out += [
            "",
            "| N | delay ms | Kling ms/poll | anchor ms/poll | ratio | Kling KiB/job | anchor KiB/job |",
        ]
        out += ["|---|---|---|---|---|---|---|"]
        for row in ts["summary"]["ratios"]:
            out.append(
                f"| {row['n']:,} | {_fmt(row['delay_ms'])} | {_fmt(row['kling_ms_per_poll'])} "
                f"| {_fmt(row['anchor_ms_per_poll'])} | {_fmt(row['ratio'])} "
                f"| {_fmt(row['kling_kib_per_job'])} "
                f"| {_fmt(row['anchor_kib_per_job'])} |"
            )
        out += _targets_md(ts["summary"]["targets"])
    pe = res.get("poll_economy")
    if pe:
        out += [
            "### poll_economy",
            "",
            "| clip | strategy | calls mean | median | p95 | max | lag median s | p95 | max |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in pe["rows"]:
            out.append(
                f"| {r['clip_s']} s | {r['strategy']} | {_fmt(r['calls_mean'])} | {_fmt(r['calls_median'])} "
                f"| {_fmt(r['calls_p95'])} | {_fmt(r['calls_max'])} | {_fmt(r['lag_median_s'])} "
                f"| {_fmt(r['lag_p95_s'])} | {_fmt(r['lag_max_s'])} |"
            )
        out += _targets_md(pe["targets"])
    ic = res.get("import_cost")
    if ic:
        out += [
            "### import_cost",
            "",
            "| module | median ms over airflow.sdk | min | max |",
            "|---|---|---|---|",
        ]
        for s in ic["summary"].values():
            out.append(
                f"| `{s['module']}` | {_fmt(s['median_ms_over_sdk'])} | {_fmt(s['min_ms_over_sdk'])} "
                f"| {_fmt(s['max_ms_over_sdk'])} |"
            )
        t = ic["target"]
        out += ["", f"{t['target']}: {_fmt(t['value_ms'])} ms -> {verdict(t['met'])}", ""]
    ws = res.get("worker_slots")
    if ws:
        out += [
            "### worker_slots",
            "",
            "| mode | N | latency s | makespan s | ÷ latency | ÷ 1-job makespan | first-to-last task start s "
            "| first-to-last submit s | last ready to end s |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for r in ws["runs"]:
            note = f" (extrapolated from {r['extrapolated_from_n']})" if "extrapolated_from_n" in r else ""
            out.append(
                f"| {r['mode']} | {r['n']} | {_fmt(r.get('latency_s'))} | {_fmt(r.get('makespan_s'))}{note} "
                f"| {_fmt(r.get('ratio'))} | {_fmt(r.get('ratio_vs_one'))} "
                f"| {_fmt(r.get('first_to_last_start_s'))} | {_fmt(r.get('first_to_last_submit_s'))} "
                f"| {_fmt(r.get('last_ready_to_end_s'))} |"
            )
        out += _targets_md(ws["targets"])
    cap = res.get("capacity")
    if cap:
        from capacity import table

        p = cap["params"]
        out += [
            "### capacity",
            "",
            f"{p['clips']} clips, concurrency {p['concurrency']}, latency {p['latency_s']:g} s "
            f"+/- {p['latency_jitter']:.0%}, parallelism {p['parallelism']}",
            "",
            table(cap["runs"]),
        ]
        out += _targets_md(cap["targets"])
    return "\n".join(out) + "\n"


def _targets_md(targets: list[dict[str, Any]]) -> list[str]:
    rows = [f"| {t['target']} | {_fmt(t['value'])} | {verdict(t['met'])} |" for t in targets]
    return ["", "| target | value | met |", "|---|---|---|", *rows, ""]


def report(suffix: str) -> dict[str, Any]:
    """Combine the scripts' latest results into ``latest{suffix}.json`` and draw the plot."""
    combined: dict[str, Any] = {"generated": time.time(), "machine": machine_info(), "results": {}}
    for name in SCRIPTS:
        data = read_result(f"{name}{suffix}")
        if data is not None:
            combined["results"][name] = data
    trigger = combined["results"].get("trigger_scale")
    if trigger:
        target = PLOT if not suffix else RESULTS / f"performance{suffix}.png"
        drawn = plot(trigger, target)
        combined["plot"] = str(drawn.relative_to(REPO)) if drawn else None
    write_result(f"latest{suffix}", combined)
    (RESULTS / f"latest{suffix}.md").write_text(markdown(combined))
    return combined


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes; results go to *-quick.json")
    p.add_argument("--only", nargs="+", choices=SCRIPTS, help="run only these scripts")
    p.add_argument("--report-only", action="store_true", help="only combine results and draw the plot")
    args = p.parse_args(argv)
    suffix = "-quick" if args.quick else ""
    status: dict[str, Any] = {}
    if not args.report_only:
        for name in args.only or SCRIPTS:
            cmd = [sys.executable, str(BENCH / f"{name}.py"), "--output", f"{name}{suffix}"]
            cmd += QUICK_ARGS[name] if args.quick else []
            print(f"\n=== {name}: {' '.join(cmd[1:])}", flush=True)
            t0 = time.time()
            rc = subprocess.call(cmd, cwd=str(REPO))
            status[name] = {"returncode": rc, "wall_s": rnd(time.time() - t0, 1)}
            print(f"=== {name}: exit {rc} after {status[name]['wall_s']} s", flush=True)
    combined = report(suffix)
    plot_note = f" and {combined['plot']}" if combined.get("plot") else ""
    print(f"\nwrote bench/results/latest{suffix}.json, latest{suffix}.md{plot_note}")
    failed = [k for k, v in status.items() if v["returncode"] != 0]
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
