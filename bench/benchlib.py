"""Helpers shared by the benchmark scripts: the emulator as a separate process, machine facts, results.

Not a test module and not part of the package. Every script in ``bench/`` runs on its own
(``uv run --group bench python bench/<script>.py``) and imports this file from its own directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"


# ============================================================================================ emulator
class EmulatorProc:
    """``python -m airflow_provider_kling.emulator --https`` in its own process (its CPU is not ours).

    The emulator keeps its jobs in memory, so it runs as one process (its CLI has no ``--workers``; a
    second uvicorn worker would not see the first one's jobs). ``url`` and ``ca`` are read from the
    lines the CLI prints once it answers.
    """

    def __init__(
        self,
        *,
        https: bool = True,
        latency: float = 3600.0,
        response_delay_ms: float = 0.0,
        log_path: Path | None = None,
        python: str = sys.executable,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.https = https
        self.extra_args = list(extra_args)
        self.latency = latency
        self.response_delay_ms = response_delay_ms
        self._dir = Path(tempfile.mkdtemp(prefix="kling-bench-emulator-"))
        self.log_path = log_path or self._dir / "emulator.log"
        self.python = python
        self.url = ""
        self.ca: str | None = None
        self.proc: subprocess.Popen[str] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> EmulatorProc:
        port_file = self._dir / "url"
        cmd = [
            self.python,
            "-m",
            "airflow_provider_kling.emulator",
            "--port",
            "0",
            "--port-file",
            str(port_file),
            "--latency",
            str(self.latency),
            "--response-delay-ms",
            str(self.response_delay_ms),
            "--cache-dir",
            str(self._dir / "cache"),
        ]
        if self.https:
            cmd.append("--https")
        cmd += self.extra_args
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        log = open(self.log_path, "a")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"emulator exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            key, _, value = line.strip().partition("=")
            if key == "KLING_EMULATOR_URL":
                self.url = value
            elif key == "KLING_EMULATOR_CA":
                self.ca = value
            if self.url and (self.ca or not self.https):
                return self
        raise TimeoutError("the emulator did not start")

    def control(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        with httpx.Client(verify=self.ca or True, timeout=60.0, trust_env=False) as client:
            response = client.request(method, f"{self.url}/_emulator/{path}", **kwargs)
            response.raise_for_status()
            return response.json()

    def status_calls(self) -> int:
        return int(sum(self.control("GET", "counters")["status_calls"].values()))

    def stop(self) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc = None

    def __enter__(self) -> EmulatorProc:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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
