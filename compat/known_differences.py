"""Pytest plugin for `make test-compat`: behaviour that is documented to differ on older Airflow.

Each entry is a test that asserts what Airflow 3.3+ makes possible and that the documentation says does
not hold before (docs/guides/retries.md, "A retry on Airflow < 3.3"). On an older Airflow such a test
is marked ``xfail(strict=True, raises=AssertionError)``: it must still fail, and only by its assertion
(a crash, an import error or an unexpected pass fails the run), so the documented difference stays
checked instead of being skipped. Loaded with ``-p compat.known_differences``.
"""

from __future__ import annotations

import pytest
from packaging.version import Version

#: (node id, first Airflow version where it holds, why it does not hold before).
DIFFERENCES: tuple[tuple[str, str, str], ...] = tuple(
    (
        f"tests/integration/test_operator_dag.py::test_retry_after_crash_submits_exactly_once[{gateway}]",
        "3.3.0",
        f"no task state store before Airflow 3.3: a retry on {gateway} (no client-id lookup, no "
        "deduplication) submits a new job (docs/guides/retries.md)",
    )
    for gateway in ("apixo", "apimart", "kie")
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from airflow import __version__ as airflow_version

    running = Version(airflow_version)
    for item in items:
        for nodeid, since, reason in DIFFERENCES:
            if item.nodeid == nodeid and running < Version(since):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True, raises=AssertionError))
