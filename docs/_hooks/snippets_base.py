"""MkDocs hook: make ``pymdownx.snippets``' ``base_path`` absolute (the repository root).

Pages include ``example_dags/*.py`` and ``docs/snippets/*`` by their repository paths; this keeps
those includes working whatever directory ``mkdocs`` is started from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

#: The repository root: this file is ``docs/_hooks/snippets_base.py``.
ROOT = Path(__file__).resolve().parents[2]


def on_config(config: Any) -> Any:
    snippets = config.mdx_configs.setdefault("pymdownx.snippets", {})
    snippets["base_path"] = [
        str(ROOT / p) if not os.path.isabs(p) else p for p in snippets.get("base_path", ["."])
    ]
    return config
