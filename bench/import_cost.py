"""DAG-parse cost: import time of the operator module over ``import airflow.sdk``, against dbt Cloud's.

Each sample is a fresh interpreter that imports ``airflow.sdk`` (timed), then the operator module
(timed): the second figure is what a DAG file importing the operator pays on top of the Task SDK the
DAG file needs anyway. Runs alternate between ``airflow_provider_kling.operators.kling`` and the
anchor ``airflow.providers.dbt.cloud.operators.dbt`` (apache-airflow-providers-dbt-cloud, a comparable
official provider's operator module), after one warm-up run of each (bytecode and file cache).
Medians are reported, and their difference.

``python -X importtime`` then lists the modules our import pulls in that ``airflow.sdk`` alone does
not, heaviest first.

Usage::

    uv run --group bench python bench/import_cost.py [--runs 15]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import REPO, machine_info, rnd, verdict, write_result

MODULES = {
    "kling": "airflow_provider_kling.operators.kling",
    "dbt_cloud": "airflow.providers.dbt.cloud.operators.dbt",
}
TARGET_MS = 30.0

PROBE = """
import json, sys, time
t0 = time.perf_counter()
import airflow.sdk
t1 = time.perf_counter()
import importlib
importlib.import_module(sys.argv[1])
t2 = time.perf_counter()
print(json.dumps({"sdk_ms": (t1 - t0) * 1000, "module_ms": (t2 - t1) * 1000, "modules": len(sys.modules)}))
"""


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW__")}
    # A throw-away AIRFLOW_HOME: importing Airflow may create airflow.cfg there.
    home = Path(os.environ.get("TMPDIR", "/tmp")) / "kling-bench-import-home"
    home.mkdir(parents=True, exist_ok=True)
    env["AIRFLOW_HOME"] = str(home)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def probe(module: str) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, module],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        cwd=str(REPO),
    )
    data: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return data


def importtime(code: str) -> dict[str, tuple[int, int]]:
    """``module -> (self us, cumulative us)`` from ``python -X importtime``."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=_env(),
        cwd=str(REPO),
    )
    table: dict[str, tuple[int, int]] = {}
    for line in out.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        parts = line[len("import time:") :].split("|")
        if len(parts) != 3:
            continue
        try:
            self_us, cum_us = int(parts[0]), int(parts[1])
        except ValueError:
            continue
        table[parts[2].strip()] = (self_us, cum_us)
    return table


def heavy_modules(module: str, top: int = 15) -> dict[str, Any]:
    base = importtime("import airflow.sdk")
    both = importtime(f"import airflow.sdk; import {module}")
    extra = {name: v for name, v in both.items() if name not in base}
    by_package: dict[str, int] = defaultdict(int)
    for name, (self_us, _) in extra.items():
        by_package[name.split(".")[0]] += self_us
    heaviest = sorted(extra.items(), key=lambda kv: kv[1][1], reverse=True)[:top]
    return {
        "new_modules": len(extra),
        "self_ms_total": rnd(sum(v[0] for v in extra.values()) / 1000, 1),
        "by_package_self_ms": {
            k: rnd(v / 1000, 1)
            for k, v in sorted(by_package.items(), key=lambda kv: kv[1], reverse=True)[:12]
        },
        "heaviest_cumulative": [
            {"module": name, "self_ms": rnd(s / 1000, 2), "cumulative_ms": rnd(c / 1000, 2)}
            for name, (s, c) in heaviest
        ],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=15, help="fresh interpreters per module (alternating)")
    p.add_argument("--output", default="import_cost")
    args = p.parse_args(argv)
    started = time.time()
    machine = machine_info()
    for module in MODULES.values():  # warm-up: bytecode, file cache
        probe(module)
    samples: dict[str, list[dict[str, float]]] = {k: [] for k in MODULES}
    for i in range(args.runs):
        order = list(MODULES.items()) if i % 2 == 0 else list(reversed(MODULES.items()))
        for key, module in order:
            samples[key].append(probe(module))
    import statistics

    summary: dict[str, Any] = {}
    for key, rows in samples.items():
        module_ms = [r["module_ms"] for r in rows]
        sdk_ms = [r["sdk_ms"] for r in rows]
        summary[key] = {
            "module": MODULES[key],
            "median_ms_over_sdk": rnd(statistics.median(module_ms), 1),
            "min_ms_over_sdk": rnd(min(module_ms), 1),
            "max_ms_over_sdk": rnd(max(module_ms), 1),
            "median_sdk_ms": rnd(statistics.median(sdk_ms), 1),
            "samples_ms_over_sdk": [rnd(x, 1) for x in module_ms],
        }
        print(
            f"{MODULES[key]:45} over airflow.sdk: median {summary[key]['median_ms_over_sdk']} ms "
            f"(min {summary[key]['min_ms_over_sdk']}, max {summary[key]['max_ms_over_sdk']}); "
            f"airflow.sdk itself {summary[key]['median_sdk_ms']} ms"
        )
    diff = summary["kling"]["median_ms_over_sdk"] - summary["dbt_cloud"]["median_ms_over_sdk"]
    ours = summary["kling"]["median_ms_over_sdk"]
    target = {
        "target": f"kling operator import <= +{TARGET_MS:g} ms over airflow.sdk",
        "value_ms": ours,
        "met": ours <= TARGET_MS,
    }
    print(f"difference kling - dbt Cloud: {diff:+.1f} ms")
    print(f"target: {target['target']}: +{ours} ms -> {verdict(target['met'])}")
    heavy = {key: heavy_modules(module) for key, module in MODULES.items()}
    for key, h in heavy.items():
        print(
            f"\n{MODULES[key]}: {h['new_modules']} modules beyond airflow.sdk, self {h['self_ms_total']} ms"
        )
        print("  by package (self ms):", ", ".join(f"{k} {v}" for k, v in h["by_package_self_ms"].items()))
        for row in h["heaviest_cumulative"][:10]:
            print(f"  {row['cumulative_ms']:8.2f} ms cumulative {row['self_ms']:7.2f} self  {row['module']}")
    data = {
        "script": "import_cost",
        "machine": machine,
        "started": started,
        "runs": args.runs,
        "summary": summary,
        "difference_ms": rnd(diff, 1),
        "target": target,
        "importtime": heavy,
    }
    write_result(args.output, data)
    print(f"\nresults in bench/results/{args.output}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
