"""The README's Python x Airflow table and feature table say what `make test-compat` and the code do."""

from __future__ import annotations

import re

from airflow_provider_kling._airflow import FEATURES
from tests.conftest import REPO


def makefile_var(name: str) -> str:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    match = re.search(rf"^{re.escape(name)} :=[ \t]*(.*)$", text, re.MULTILINE)
    assert match, name
    return match.group(1).strip()


def readme_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("## Airflow versions", 1)[1].split("\n## ", 1)[0]


def test_the_floor_is_what_make_test_compat_installs_exactly() -> None:
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    [floor] = re.findall(r'"apache-airflow>=([0-9.]+)"', pyproject)
    [python] = re.findall(r'^requires-python = ">=([0-9.]+)"', pyproject, re.MULTILINE)
    versions = makefile_var("COMPAT_AIRFLOW").split()
    assert versions[0] == floor and makefile_var(f"COMPAT_PYTHON_{floor}") == python
    lock = (REPO / "compat" / f"airflow-{floor}.txt").read_text(encoding="utf-8")
    assert f"\napache-airflow=={floor}\n" in lock
    assert f"Apache Airflow **{floor} or later** (`apache-airflow>={floor}`)" in readme_section()
    assert f"Python **{python} or later**" in readme_section()


def test_the_readme_lists_every_tested_combination() -> None:
    rows = [line for line in readme_section().splitlines() if line.startswith("| 3.")]
    for version in makefile_var("COMPAT_AIRFLOW").split():
        python = makefile_var(f"COMPAT_PYTHON_{version}")
        assert (REPO / "compat" / f"airflow-{version}.txt").is_file()
        assert any(
            row.startswith(f"| {python} ")
            and f"| {version} " in row
            and f"compat/airflow-{version}.txt" in row
            for row in rows
        ), (python, version)


def test_the_feature_table_names_the_version_of_each_feature() -> None:
    section = readme_section()
    for key, words in {
        "task_state_store": "Task state store",
        "retry_policy": "Retry policy `KlingRetryPolicy`",
        "retry_reschedule": "`RetryAction.RESCHEDULE`",
    }.items():
        [row] = [line for line in section.splitlines() if words in line]
        since = FEATURES[key][1]
        cells = [c.strip() for c in row.strip("|").split("|")]
        header = [c.strip() for c in section.split("| Feature |", 1)[1].splitlines()[0].strip("|").split("|")]
        # "yes" exactly in the columns from the feature's first version on.
        assert [c.startswith("yes") for c in cells[1:]] == [h >= since for h in header], (key, cells)
