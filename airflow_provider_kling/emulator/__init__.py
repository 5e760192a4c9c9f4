"""A local HTTP emulator of the official Kling API and five Kling 2.6 gateways.

One server speaks all six wire formats (paths do not overlap), so a connection whose host is the
emulator's URL works for every gateway. Jobs progress with time (queued -> running -> terminal),
results are real H.264 MP4s, and prompt markers inject faults (see ``faults``).

Importing this package is cheap: FastAPI, uvicorn and PyAV load only when an app or server is built.

    from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer

    with EmulatorServer(EmulatorConfig(latency=0.5)) as emu:
        print(emu.url, emu.counters())
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import DEFAULT_KLING_ACCESS_KEY, DEFAULT_KLING_SECRET_KEY, EmulatorConfig

if TYPE_CHECKING:
    from .app import create_app
    from .server import EmulatorServer

__all__ = [
    "DEFAULT_KLING_ACCESS_KEY",
    "DEFAULT_KLING_SECRET_KEY",
    "EmulatorConfig",
    "EmulatorServer",
    "create_app",
]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "EmulatorServer":
        from .server import EmulatorServer

        return EmulatorServer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
