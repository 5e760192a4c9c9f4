"""MkDocs hook: ``<!-- changelog -->`` becomes the repository's ``CHANGELOG.md``.

The changelog is written at the repository root (it ships in the sdist); the docs page shows it
without a copy. Its own top heading is dropped (the page has one), the others move one level down.
When there is no ``CHANGELOG.md`` yet the page says so instead of failing the build.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
CHANGELOG = ROOT / "CHANGELOG.md"
MARKER = "<!-- changelog -->"
MISSING = "No release has been recorded yet (`CHANGELOG.md` does not exist)."


def changelog_markdown(path: Path = CHANGELOG) -> str:
    if not path.is_file():
        return MISSING
    lines = path.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    fenced = False
    dropped_title = False
    for line in lines:
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        heading = re.match(r"^(#{1,5}) ", line) if not fenced else None
        if heading and len(heading.group(1)) == 1 and not dropped_title and not any(o.strip() for o in out):
            dropped_title = True
            continue
        out.append(f"#{line}" if heading else line)
    return "\n".join(out).strip() or MISSING


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    if MARKER in markdown:
        markdown = markdown.replace(MARKER, changelog_markdown())
    return markdown
