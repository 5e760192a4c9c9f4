"""``make help`` lists every ``make <target>`` a reader meets in the README or the docs."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.conftest import REPO
from tests.docs.conftest import DOCS

#: What a reader sees: the README, the changelog, the docs (pages and snippets), the example DAGs
#: and the bench README.
TEXTS = [
    REPO / "README.md",
    REPO / "CHANGELOG.md",
    REPO / "bench" / "README.md",
    *sorted(
        p for p in DOCS.rglob("*") if p.suffix in {".md", ".sh", ".py", ".json"} and "_hooks" not in p.parts
    ),
    *sorted((REPO / "example_dags").glob("*.py")),
]
MAKE = re.compile(r"\bmake ([a-z][a-z0-9-]*)\b")


def mentioned_targets() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in TEXTS:
        if path.is_file():
            for target in MAKE.findall(path.read_text(encoding="utf-8")):
                found.setdefault(target, []).append(str(path.relative_to(REPO)))
    return found


def make_help() -> dict[str, str]:
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed")
    out = subprocess.run(
        [make, "--no-print-directory", "help"], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return dict(re.findall(r"^make ([a-z][a-z0-9-]*) +- (.+)$", out.stdout, re.MULTILINE))


def test_make_help_lists_every_target_the_docs_mention() -> None:
    mentioned = mentioned_targets()
    assert {"demo", "test", "docs", "bench"} <= set(mentioned)  # the scan finds what it should
    listed = make_help()
    missing = {t: where for t, where in mentioned.items() if t not in listed}
    assert not missing, f"make help does not list: {missing}"


def test_every_listed_target_exists_and_is_described() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    defined = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.MULTILINE))
    listed = make_help()
    assert listed and set(listed) <= defined
    assert all(len(text) > 10 for text in listed.values())
