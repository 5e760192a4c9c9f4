"""Test-suite setup: a private AIRFLOW_HOME (SQLite) so tests never touch a user's Airflow.

Set before Airflow is imported anywhere: pytest imports this file first.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from types import ModuleType

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
