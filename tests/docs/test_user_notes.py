"""Notes a new user needed (issue 16) stay in the docs: each test names the page and what it must say.

These facts are not in the code, so they cannot be generated; the tests keep a rewrite from
dropping them.
"""

from __future__ import annotations

import re

from tests.conftest import REPO
from tests.docs.conftest import DOCS


def page(path: str) -> str:
    """A page's text with line breaks and indentation collapsed, so a sentence can be matched."""
    return re.sub(r"\s+", " ", (DOCS / path).read_text(encoding="utf-8"))


def test_the_testing_guide_says_dag_test_runs_mapped_deferred_tasks_one_at_a_time() -> None:
    text = page("guides/testing.md")
    assert "render **one after the other**" in text
    assert "a test of 8 mapped clips takes 8 renders' time" in text


def test_the_post_processing_guide_warns_that_a_local_download_is_machine_local() -> None:
    text = page("guides/post-processing.md")
    assert "A local `download_to` is only readable on the machine that downloaded" in text
    assert "object storage" in text and "a path every worker mounts" in text


LINK_TARGET = (
    "the downloaded copy when the task downloaded to a location a browser can open (an http(s) URL, "
    "or `download_to` served under the `video_link_base` you set), otherwise the gateway's URL, which expires"
)


def test_the_docs_say_where_the_kling_video_link_is_and_what_it_opens() -> None:
    reference = page("reference/index.md")
    assert "**Details** tab: the link is a button under **Extra Links**" in reference
    assert LINK_TARGET in reference
    quickstart = page("quickstart.md")
    assert (
        "(task instance, **Details** tab, under **Extra Links**)" in quickstart and LINK_TARGET in quickstart
    )


def test_the_marketing_example_names_its_mapped_clips() -> None:
    """The grid names each clip (``map_index_template``); the guide shows how."""
    dag = (REPO / "example_dags" / "kling_marketing_renders.py").read_text(encoding="utf-8")
    assert "map_index_template=RENDER_NAME" in dag
    assert "map_index_template" in page("guides/marketing-renders.md")
