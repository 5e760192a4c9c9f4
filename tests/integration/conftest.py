"""Integration fixtures: the emulator on loopback and ``kling_<gateway>`` connections pointing at it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_kling.gateways import GATEWAY_NAMES
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import VideoRequest, VideoTask
from tests.conftest import TEST_API_KEY
from tests.helpers import KLING_ACCESS_KEY, KLING_SECRET_KEY


def connection(url: str, gateway: str, **extra: Any) -> dict[str, Any]:
    """A ``kling`` connection (JSON form) for ``gateway`` on the emulator, polling fast."""
    official = gateway == "kling"
    return {
        "conn_type": "kling",
        "host": url,
        "login": KLING_ACCESS_KEY if official else None,
        "password": KLING_SECRET_KEY if official else TEST_API_KEY,
        "extra": {"gateway": gateway, "poll_interval": 0.3, "first_poll_delay": 0.5, **extra},
    }


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    """One emulator for the session, with ``kling_<gateway>`` and ``kling_default`` connections on it."""
    mp = pytest.MonkeyPatch()
    with EmulatorServer(EmulatorConfig(latency=1.0)) as emu:
        for gateway in GATEWAY_NAMES:
            mp.setenv(f"AIRFLOW_CONN_KLING_{gateway.upper()}", json.dumps(connection(emu.url, gateway)))
        mp.setenv("AIRFLOW_CONN_KLING_DEFAULT", json.dumps(connection(emu.url, "kling")))
        yield emu
    mp.undo()


def counters(emu: EmulatorServer) -> dict[str, Any]:
    return dict(httpx.get(f"{emu.url}/_emulator/counters", timeout=10).json())


@pytest.fixture
def strict_conn(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> str:
    """An APIXO connection whose hook does not retry, so each failed poll counts against a wait's budget."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_KLING_STRICT", json.dumps(connection(emulator.url, "apixo", max_retries=0))
    )
    return "kling_strict"


def submit(conn_id: str, prompt: str) -> VideoTask:
    """Submit ``prompt`` through a hook on ``conn_id``."""
    return KlingHook(conn_id).submit(VideoRequest(prompt=prompt))
