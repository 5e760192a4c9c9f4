"""The e2e stack under its former name, for ``bench/`` (which imports ``tests.e2e.harness``).

The code is in :mod:`tests.e2e.stack`, one module per concern; see its docstring for the API.
"""

from __future__ import annotations

from tests.e2e.stack import *  # noqa: F403
from tests.e2e.stack import __all__  # noqa: F401
