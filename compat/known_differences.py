"""Pytest plugin for `make test-compat`: behaviour that is documented to differ on older Airflow.

Each entry is a test that asserts what a newer Airflow makes possible and that the documentation says
does not hold before (docs/guides/retries.md, "A retry on Airflow < 3.3"; README, "Airflow versions").
On an older Airflow such a test is marked ``xfail(strict=True, raises=...)``: it must still fail, and
only the way the entry says (by its assertion, unless the entry names Airflow's own error), so a
crash, another error or an unexpected pass fails the run and the documented difference stays checked
instead of being skipped. Loaded with ``-p compat.known_differences``.
"""

from __future__ import annotations

import subprocess

import pytest
from packaging.version import Version

from airflow_provider_kling.gateways import GATEWAY_NAMES, gateway_class

#: Gateways with neither a client-id lookup nor deduplication: only the task state store attaches a retry.
_NO_CLIENT_REFERENCE = tuple(name for name in GATEWAY_NAMES if gateway_class(name).idempotency == "none")

#: (node id, first Airflow version where it holds, why it does not hold before, how it fails there).
DIFFERENCES: tuple[tuple[str, str, str, type[BaseException]], ...] = (
    *(
        (
            f"tests/integration/test_operator_dag.py::test_retry_after_crash_submits_exactly_once[{gateway}]",
            "3.3.0",
            f"no task state store before Airflow 3.3: a retry on {gateway} (no client-id lookup, no "
            "deduplication) submits a new job (docs/guides/retries.md)",
            AssertionError,
        )
        for gateway in _NO_CLIENT_REFERENCE
    ),
    (
        "tests/integration/test_provider_cli.py::test_airflow_reads_a_documentation_url_for_the_provider",
        "3.2.0",
        "Airflow 3.1 has no provider documentation URL (the providers API and UI show none; 3.2 reads it "
        "from the package's Project-URL)",
        subprocess.CalledProcessError,
    ),
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from airflow import __version__ as airflow_version

    running = Version(airflow_version)
    for item in items:
        for nodeid, since, reason, raises in DIFFERENCES:
            if item.nodeid == nodeid and running < Version(since):
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True, raises=raises))
