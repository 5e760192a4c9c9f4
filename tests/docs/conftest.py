"""Fixtures of the documentation tests: an emulator with ``kling_*`` connections, and loaders for the
docs' hook modules and snippets (``docs/`` is not a package)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_kling.gateways import GATEWAY_NAMES
from tests.conftest import DAGS, REPO
from tests.integration.conftest import connection

DOCS = REPO / "docs"
SNIPPETS = DOCS / "snippets"
HOOKS = DOCS / "_hooks"

# ``dag.test()`` only runs DAGs it finds in the DAG folder: put the snippet DAGs there too.
for _dag_file in SNIPPETS.glob("*_dag.py"):
    shutil.copy(_dag_file, DAGS / _dag_file.name)


def load_module(path: Path, name: str | None = None) -> ModuleType:
    """Import a Python file that is not in a package (a docs hook or snippet)."""
    spec = importlib.util.spec_from_file_location(name or f"kling_docs_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_hook(name: str) -> ModuleType:
    """One of the MkDocs hooks in ``docs/_hooks``."""
    return load_module(HOOKS / f"{name}.py")


@pytest.fixture(scope="session")
def docs_emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(EmulatorConfig(latency=0.5)) as emu:
        yield emu


@pytest.fixture
def emulator_connections(docs_emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> EmulatorServer:
    """``kling_<gateway>`` for every gateway and ``kling_default`` (official API) on a reset emulator."""
    for gateway in GATEWAY_NAMES:
        monkeypatch.setenv(
            f"AIRFLOW_CONN_KLING_{gateway.upper()}", json.dumps(connection(docs_emulator.url, gateway))
        )
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", json.dumps(connection(docs_emulator.url, "kling")))
    docs_emulator.reset()
    return docs_emulator
