"""Helpers shared by the benchmark scripts: machine facts, numbers, results.

Not a test module and not part of the package. Every script in ``bench/`` runs on its own
(``uv run --group bench python bench/<script>.py``) and imports this file from its own directory. The
emulator as a separate process is the e2e stack's ``tests.e2e.stack.EmulatorProcess`` (``https=True``).
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"


# ============================================================================================ machine
def machine_info() -> dict[str, Any]:
    """What the figures ran on (they are only comparable within one run on one machine)."""
    cpu_model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_kib = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    versions: dict[str, str] = {}
    from importlib.metadata import PackageNotFoundError, version

    for dist in (
        "apache-airflow",
        "apache-airflow-task-sdk",
        "apache-airflow-providers-http",
        "apache-airflow-providers-dbt-cloud",
        "httpx",
        "httpx-aiohttp",
        "aiohttp",
        "uvicorn",
        "airflow-provider-kling",
    ):
        with contextlib.suppress(PackageNotFoundError):
            versions[dist] = version(dist)
    return {
        "git": _git_state(),
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "mem_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "loadavg_at_start": list(os.getloadavg()),
    }


def _git_state() -> dict[str, Any]:
    """The provider's commit and whether its files differ from it (the tree may move while we measure)."""
    out: dict[str, Any] = {}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "airflow_provider_kling"],
            capture_output=True,
            text=True,
            cwd=REPO,
            check=True,
        ).stdout.split("\n")
        out["provider_changes_not_committed"] = [line[3:] for line in dirty if line.strip()]
    return out


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ============================================================================================ numbers
def percentile(values: Sequence[float], q: float) -> float | None:
    """``q`` in [0, 100], linear interpolation; ``None`` for no values."""
    if not values:
        return None
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = (len(ordered) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def rnd(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


# ============================================================================================ results
def write_result(name: str, data: dict[str, Any]) -> Path:
    """``bench/results/<name>.json`` (the latest run of that script)."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    data.setdefault("git_at_end", _git_state())
    path = RESULTS / f"{name}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)
    return path


def read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.exists():
        return None
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")
