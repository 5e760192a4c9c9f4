"""Test-suite setup: a private AIRFLOW_HOME (SQLite) so tests never touch a user's Airflow.

Set before Airflow is imported anywhere: pytest imports this file first.
"""

from __future__ import annotations

import importlib.util
import inspect
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
_home = Path(tempfile.mkdtemp(prefix="kling-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_home)
#: dag.test() parses its whole DAG folder, and the DAG must live in a file there: a small folder with
#: copies of the example DAGs (and their assets) and of the test DAGs.
DAGS = _home / "dags"
shutil.copytree(REPO / "example_dags", DAGS, ignore=shutil.ignore_patterns("__pycache__"))
for _file in (REPO / "tests" / "dags").glob("*.py"):
    shutil.copy(_file, DAGS / _file.name)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(DAGS)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "False")
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_home / 'airflow.db'}")
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

#: The API key used throughout the tests; no log line or exception may contain it.
TEST_API_KEY = "sk-test-SECRET-0123456789abcdef"


class _TriggererComms:
    """What a triggerer's comms answer when nothing else has the connection: nothing (not found)."""

    def send(self, msg: Any) -> None:
        return None

    async def asend(self, msg: Any) -> None:
        return None


@pytest.fixture(autouse=True)
def _triggerer_comms_on_airflow_3_1(request: pytest.FixtureRequest) -> Iterator[None]:
    """Run async tests (triggers, the hook's async path) as a triggerer would, on Airflow 3.1.

    Airflow 3.1's ``BaseHook.aget_connection`` imports the task runner's ``SUPERVISOR_COMMS`` before
    it reads the secrets backends (here ``AIRFLOW_CONN_*``); a triggerer sets it, a test process does
    not, so every connection lookup raised ImportError. Airflow 3.2 reads the backends first.
    """
    from airflow import __version__
    from packaging.version import Version

    if not inspect.iscoroutinefunction(request.function) or Version(__version__) >= Version("3.2.0.dev0"):
        yield
        return
    from airflow.sdk.execution_time import task_runner
    from airflow.sdk.execution_time.supervisor import set_supervisor_comms

    if hasattr(task_runner, "SUPERVISOR_COMMS"):
        yield
        return
    with set_supervisor_comms(_TriggererComms()):
        yield


@pytest.fixture(autouse=True)
def _fresh_connection_lookups() -> Iterator[None]:
    """Each test looks its connections up afresh: the async path keeps a looked-up connection for
    half a minute (``hooks/_lookup.py``), and tests reuse connection ids with other settings."""
    from airflow_provider_kling.hooks.kling import CONNECTIONS

    CONNECTIONS.clear()
    yield
    CONNECTIONS.clear()


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated metadata database (``dag.test()`` needs one)."""
    from airflow.utils.db import resetdb

    resetdb(skip_init=False)
    return _home


def load_dag_module(name: str) -> ModuleType:
    """Import a DAG file from the test DAG folder (where ``dag.test()`` can find it again)."""
    path = DAGS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"kling_test_dags_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow_provider_kling._airflow import serialize_for_dag_test

    serialize_for_dag_test(path)  # Airflow 3.1's dag.test() needs it
    return module
