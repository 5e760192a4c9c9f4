"""Runs the pytest module the testing guide tells users to copy (``docs/snippets/test_my_dags.py``).

Its fixtures and tests are collected here as if they were written in this file; the metadata database
that its ``dag.test()`` needs is the suite's ``airflow_db``.
"""

from __future__ import annotations

import pytest

from tests.docs.conftest import SNIPPETS, load_module

pytestmark = pytest.mark.usefixtures("airflow_db")

_example = load_module(SNIPPETS / "test_my_dags.py", "kling_docs_test_my_dags")
kling_emulator = _example.kling_emulator
kling_default = _example.kling_default
test_dags_import_cleanly = _example.test_dags_import_cleanly
test_quickstart_renders_one_clip_and_downloads_it = _example.test_quickstart_renders_one_clip_and_downloads_it
test_a_refused_prompt_raises_a_typed_error = _example.test_a_refused_prompt_raises_a_typed_error


def test_every_test_of_the_example_runs_here() -> None:
    names = {n for n in vars(_example) if n.startswith("test_")}
    assert names <= set(globals())
