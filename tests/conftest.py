"""Test-suite setup: a private AIRFLOW_HOME (SQLite) so tests never touch a user's Airflow.

Set before Airflow is imported anywhere: pytest imports this file first.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_home = Path(tempfile.mkdtemp(prefix="kling-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(_home)
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(REPO))
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
