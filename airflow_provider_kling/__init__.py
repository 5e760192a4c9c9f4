"""Apache Airflow provider for the Kling 2.6 video model.

Importing this package is cheap on purpose: DAG files import the operator on every parse, so
nothing here touches the network, the metadata database or heavy libraries.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
