"""Airflow itself sees the provider: `airflow providers list/hooks/links` (a mismatch breaks them all)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def airflow(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "airflow", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ.copy(),
        check=True,
    )
    return out.stdout


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (("providers", "list"), "airflow-provider-kling"),
        (("providers", "hooks"), "airflow_provider_kling.hooks.kling.KlingHook"),
        (("providers", "links"), "airflow_provider_kling.links.KlingVideoLink"),
        (("providers", "triggers"), "airflow_provider_kling.triggers.kling"),
    ],
)
def test_airflow_lists_the_provider(command: tuple[str, ...], expected: str) -> None:
    assert expected in airflow(*command)


def test_hooks_listing_has_the_kling_connection_type() -> None:
    lines = [line for line in airflow("providers", "hooks").splitlines() if "KlingHook" in line]
    assert lines and lines[0].split("|")[0].strip() == "kling"


def test_airflow_reads_a_documentation_url_for_the_provider() -> None:
    # The api-server's /providers answer and the UI show provider.data["documentation-url"].
    code = (
        "from airflow.providers_manager import ProvidersManager;"
        "print(ProvidersManager().providers['airflow-provider-kling'].data['documentation-url'])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    ).stdout
    assert out.strip().startswith("https://"), out
