"""What-if for ``trigger_scale.py --prelude``: the ``kling`` kind without the shared connection lookup.

Each ``KlingHook.aresolve()`` makes its own ``BaseHook.aget_connection`` call, as before
``hooks/_lookup.py``: 10,000 triggers starting together make 10,000 lookups. The floors are left
as they are (the prelude runs in every kind's worker; it reads the kind from the worker's spec).

Measurement aid only: it replaces a method of the provider in the benchmark's worker process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

if json.loads(Path(sys.argv[sys.argv.index("--worker") + 1]).read_text())["kind"] == "kling":
    from airflow_provider_kling.hooks import kling

    async def _aresolve_alone(self: kling.KlingHook) -> kling.ConnectionSettings:
        if self._settings is None:
            self._use(await kling._read_settings(self.kling_conn_id))
        assert self._settings is not None
        return self._settings

    kling.KlingHook.aresolve = _aresolve_alone  # type: ignore[method-assign]
