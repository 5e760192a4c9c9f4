"""Small helpers shared by the test packages: waiting with a deadline, and decoding a video."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from airflow_provider_kling.emulator.config import DEFAULT_KLING_ACCESS_KEY, DEFAULT_KLING_SECRET_KEY

#: The official API's key pair the emulator knows by default (it verifies the JWT with them); every
#: suite takes it from here.
KLING_ACCESS_KEY = DEFAULT_KLING_ACCESS_KEY
KLING_SECRET_KEY = DEFAULT_KLING_SECRET_KEY

T = TypeVar("T")


def wait_until(
    fetch: Callable[[], T], done: Callable[[T], bool], timeout: float = 30.0, interval: float = 0.1
) -> T:
    """Call ``fetch`` until ``done(result)``, with short waits and a hard deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = fetch()
        if done(result):
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not done within {timeout}s; last: {result!r}")
        time.sleep(interval)


def probe_video(source: str | Path | Any) -> dict[str, Any]:
    """Duration, size and streams of a video file (path or binary file object), decoded with PyAV."""
    import av

    with av.open(source if not isinstance(source, Path) else str(source)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        return {
            "duration": None if container.duration is None else float(container.duration / av.time_base),
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "codec": video.codec_context.name,
            "audio": len(container.streams.audio),
            "frames": frames,
        }
