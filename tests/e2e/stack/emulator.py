"""The Kling emulator as a subprocess, in its own session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import httpx

from tests.e2e.stack.processes import (
    DeploymentError,
    die_with_parent,
    register,
    terminate_tree,
    unregister,
    wait_until,
)


class EmulatorProcess:
    """The Kling emulator as a subprocess (``python -m airflow_provider_kling.emulator``)."""

    def __init__(
        self,
        latency: float = 20.0,
        extra_args: Iterable[str] = (),
        log_path: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
        startup_timeout: float = 60.0,
    ) -> None:
        self.latency = latency
        self.extra_args = list(extra_args)
        self._dir = Path(tempfile.mkdtemp(prefix="kling-e2e-emulator-"))
        self.log_path = Path(log_path) if log_path is not None else self._dir / "emulator.out"
        self.python = python
        self.startup_timeout = startup_timeout
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self) -> EmulatorProcess:
        port_file = self._dir / "url"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        cmd = [
            self.python,
            "-m",
            "airflow_provider_kling.emulator",
            "--port",
            "0",
            "--latency",
            str(self.latency),
            "--port-file",
            str(port_file),
            "--cache-dir",
            str(self._dir / "cache"),
            *self.extra_args,
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self._proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=die_with_parent,
        )
        register(self)

        def ready() -> bool:
            if self._proc is not None and self._proc.poll() is not None:
                output = self.log_path.read_text(errors="replace")
                raise DeploymentError(f"emulator exited with {self._proc.returncode}: {output}")
            if not port_file.exists():
                return False
            self.url = port_file.read_text().strip()
            return httpx.get(f"{self.url}/_emulator/health", timeout=5).status_code == 200

        try:
            wait_until(ready, self.startup_timeout, 0.1, what="the emulator")
        except BaseException:
            self.stop()
            raise
        return self

    def counters(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_emulator/counters", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def jobs(self, gateway: str | None = None) -> list[dict[str, Any]]:
        params = {"gateway": gateway} if gateway else {}
        response = httpx.get(f"{self.url}/_emulator/jobs", params=params, timeout=10)
        response.raise_for_status()
        return list(response.json())

    def reset(self) -> None:
        httpx.post(f"{self.url}/_emulator/reset", timeout=10).raise_for_status()

    def stop(self) -> None:
        if self._proc is not None:
            terminate_tree(self._proc, grace=5)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self._dir, ignore_errors=True)  # port file and rendered-MP4 cache
        unregister(self)
