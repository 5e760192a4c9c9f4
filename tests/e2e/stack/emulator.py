"""The Kling emulator as a subprocess, in its own session (the e2e suites and ``bench/`` both use it)."""

from __future__ import annotations

import os
import shutil
import ssl
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
    """The Kling emulator as a subprocess (``python -m airflow_provider_kling.emulator``).

    One process, in its own session (its CPU is not the caller's): the emulator keeps its jobs in
    memory, and its CLI has no workers option (a second uvicorn worker would not see the first one's
    jobs). The CLI's stdout and stderr go to ``log_path``. ``url`` is read from ``--port-file`` (the
    CLI writes it with or without ``--https``). With ``https`` the CLI serves TLS with a throw-away CA
    it generates and prints ``KLING_EMULATOR_CA=<path>`` on stdout: ``ca`` is that path, read from this
    start's part of the log; the control helpers verify with it, and so should every other client.
    """

    def __init__(
        self,
        latency: float = 20.0,
        extra_args: Iterable[str] = (),
        log_path: str | os.PathLike[str] | None = None,
        python: str = sys.executable,
        startup_timeout: float = 60.0,
        *,
        https: bool = False,
        response_delay_ms: float = 0.0,
    ) -> None:
        self.latency = latency
        self.extra_args = list(extra_args)
        self.https = https
        self.response_delay_ms = response_delay_ms
        self._dir = Path(tempfile.mkdtemp(prefix="kling-e2e-emulator-"))
        self.log_path = Path(log_path) if log_path is not None else self._dir / "emulator.out"
        self.python = python
        self.startup_timeout = startup_timeout
        self.url = ""
        #: The CA file to verify the emulator with (``https`` only); the emulator removes it on stop.
        self.ca: str | None = None
        self._verify: ssl.SSLContext | bool = True
        self._proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._log_start = 0

    def __enter__(self) -> EmulatorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _command(self, port_file: Path) -> list[str]:
        """The command line ``start()`` runs."""
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
        ]
        if self.response_delay_ms:
            cmd += ["--response-delay-ms", str(self.response_delay_ms)]
        if self.https:
            cmd.append("--https")
        return cmd + self.extra_args

    def start(self) -> EmulatorProcess:
        port_file = self._dir / "url"
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._log_start = self._log.tell()  # the log may hold earlier runs' lines (and CA paths)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        self._proc = subprocess.Popen(
            self._command(port_file),
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
            if self.https:
                # The CLI writes the port file first, then prints the URL and CA lines.
                self.ca = self._printed("KLING_EMULATOR_CA")
                if self.ca is None:
                    return False
                self._verify = ssl.create_default_context(cafile=self.ca)
            with self._client(timeout=5) as client:
                return client.get(f"{self.url}/_emulator/health").status_code == 200

        try:
            wait_until(ready, self.startup_timeout, 0.1, what="the emulator")
        except BaseException:
            self.stop()
            raise
        return self

    def _printed(self, key: str) -> str | None:
        """The value of the ``KEY=value`` line the CLI printed since this start, if it has yet."""
        with open(self.log_path, "rb") as log:
            log.seek(self._log_start)
            for raw in log:
                name, sep, value = raw.decode(errors="replace").strip().partition("=")
                if raw.endswith(b"\n") and sep and name == key:
                    return value
        return None

    def _client(self, timeout: float) -> httpx.Client:
        return httpx.Client(verify=self._verify, timeout=timeout, trust_env=False)

    def control(self, method: str, path: str, *, timeout: float = 60.0, **kwargs: Any) -> Any:
        """``METHOD /_emulator/<path>`` (``kwargs`` as for ``httpx.request``): the JSON answer."""
        with self._client(timeout) as client:
            response = client.request(method, f"{self.url}/_emulator/{path}", **kwargs)
            response.raise_for_status()
            return response.json()

    def counters(self) -> dict[str, Any]:
        return dict(self.control("GET", "counters", timeout=10))

    def status_calls(self) -> int:
        """Status calls the emulator answered so far, all gateways together."""
        return int(sum(self.counters()["status_calls"].values()))

    def jobs(self, gateway: str | None = None) -> list[dict[str, Any]]:
        params = {"gateway": gateway} if gateway else {}
        return list(self.control("GET", "jobs", params=params, timeout=10))

    def reset(self) -> None:
        self.control("POST", "reset", timeout=10)

    def stop(self) -> None:
        if self._proc is not None:
            terminate_tree(self._proc, grace=5)
            self._proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self._dir, ignore_errors=True)  # port file and rendered-MP4 cache
        unregister(self)
