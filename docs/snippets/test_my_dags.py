"""Test your Kling DAGs offline: the emulator stands in for the gateway. Copy into your tests/."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from airflow.models import DagBag

from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_kling.exceptions import KlingContentPolicyError
from airflow_provider_kling.hooks.kling import KlingHook


@pytest.fixture(scope="session")
def kling_emulator() -> Iterator[EmulatorServer]:
    """One emulator for the whole session; a job takes 1 s instead of a minute."""
    with EmulatorServer(EmulatorConfig(latency=1.0)) as emulator:
        yield emulator


@pytest.fixture
def kling_default(
    kling_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> EmulatorServer:
    """Point the connection the DAGs use at the emulator, and poll it fast."""
    connection = {
        "conn_type": "kling",
        "host": kling_emulator.url,
        "password": "any-key",  # the emulator takes any key that does not start with "bad"
        "extra": {"gateway": "runware", "first_poll_delay": 0.5, "poll_interval": 0.3},
    }
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", json.dumps(connection))
    monkeypatch.setenv("KLING_DOWNLOAD_DIR", str(tmp_path))  # read by the example DAGs
    kling_emulator.reset()  # forget the jobs and counters of earlier tests
    return kling_emulator


def test_dags_import_cleanly() -> None:
    assert DagBag().import_errors == {}


def test_quickstart_renders_one_clip_and_downloads_it(kling_default: EmulatorServer, tmp_path: Path) -> None:
    dag = DagBag().get_dag("kling_quickstart")
    run = dag.test()
    assert run.state == "success"
    assert kling_default.counters()["submits"]["runware"] == 1  # one clip, paid once
    assert list(tmp_path.glob("*.mp4"))


def test_a_refused_prompt_raises_a_typed_error(kling_default: EmulatorServer) -> None:
    hook = KlingHook(kling_conn_id="kling_default")
    with pytest.raises(KlingContentPolicyError):
        hook.submit(hook.make_request(prompt="A fox in the snow [fault:policy]"))
    assert kling_default.counters()["submits"]["runware"] == 0  # refused: no job was created
