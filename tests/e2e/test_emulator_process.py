"""``EmulatorProcess`` (the e2e suites' and ``bench/``'s emulator subprocess) over HTTP and HTTPS.

No Airflow here: each test starts the emulator CLI alone (about a second each).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import psutil
import pytest

from tests.e2e.stack import EmulatorProcess


def test_http_by_default() -> None:
    with EmulatorProcess(latency=1.0) as emulator:
        pid = emulator.pid
        assert emulator.url.startswith("http://127.0.0.1:") and emulator.ca is None
        assert emulator.jobs() == [] and emulator.status_calls() == 0
        assert emulator.control("GET", "limits")["latency"] == 1.0
    assert pid is not None and not psutil.pid_exists(pid)


def test_https_reads_the_ca_the_cli_prints(tmp_path: Path) -> None:
    log = tmp_path / "emulator.out"
    with EmulatorProcess(https=True, log_path=log) as first:
        first_ca = first.ca
    with EmulatorProcess(https=True, response_delay_ms=1, log_path=log) as emulator:
        # the shared log holds both starts' lines: this one's CA is the one read
        assert emulator.url.startswith("https://127.0.0.1:")
        assert emulator.ca is not None and emulator.ca != first_ca
        assert f"KLING_EMULATOR_CA={emulator.ca}\n" in log.read_text()
        with pytest.raises(httpx.ConnectError):  # the system's CAs do not trust it
            httpx.get(f"{emulator.url}/_emulator/health", timeout=5)
        context = ssl.create_default_context(cafile=emulator.ca)
        response = httpx.get(
            f"{emulator.url}/api/v1/statusTask/kling-2-6",
            params={"taskId": "nope"},
            headers={"Authorization": "Bearer sk-test"},
            verify=context,
            timeout=5,
        )
        assert response.status_code in (200, 404), response.text
        assert emulator.status_calls() == 1
        emulator.reset()
        assert emulator.status_calls() == 0
