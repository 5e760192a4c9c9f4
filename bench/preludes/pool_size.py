"""What-if for ``trigger_scale.py --prelude``: another size of the triggerer's shared connection pool.

``KLING_BENCH_POOL=<n>`` in the environment sets ``ASYNC_POOL.max_connections`` (the provider's
default is 128) before any trigger runs. The pool bounds concurrent status calls: with a round trip of
R seconds it serves at most about n / R calls per second (64 at 100 ms: ~640/s, i.e. 3,200 jobs at a
5 s interval), and each TLS connection it keeps holds a 256 KiB read buffer in asyncio's SSL protocol.

Measurement aid only: it changes a module attribute of the provider in the benchmark's worker process.
"""

from __future__ import annotations

import os

from airflow_provider_kling.hooks import _transport

if os.environ.get("KLING_BENCH_POOL"):
    _transport.ASYNC_POOL.max_connections = int(os.environ["KLING_BENCH_POOL"])
