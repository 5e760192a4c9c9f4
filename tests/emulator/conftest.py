"""Fixtures for the emulator tests: one real loopback server per module, plain httpx clients.

These tests talk HTTP to the emulator the way any client would; they never import the provider's
gateway adapters (the emulator is the independent oracle for those).
"""

from __future__ import annotations

import io
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest

from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer
from tests.helpers import KLING_ACCESS_KEY as ACCESS_KEY
from tests.helpers import KLING_SECRET_KEY as SECRET_KEY
from tests.helpers import wait_until

LATENCY = 0.5


def kling_token(
    secret: str = SECRET_KEY, iss: str = ACCESS_KEY, exp_in: float = 1800, nbf_in: float = -5
) -> str:
    now = time.time()
    claims = {"iss": iss, "exp": int(now + exp_in), "nbf": int(now + nbf_in)}
    with warnings.catch_warnings():  # the documented default secret is shorter than PyJWT likes
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(claims, secret, algorithm="HS256", headers={"typ": "JWT"})


def kling_headers(**kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {kling_token(**kwargs)}"}


BEARER = {"Authorization": "Bearer test-key"}


def poll(fetch: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 10.0) -> Any:
    """:func:`tests.helpers.wait_until` with this package's shorter deadline and waits."""
    return wait_until(fetch, done, timeout=timeout, interval=0.05)


def watch(
    get: Callable[[], httpx.Response], key: str, final: tuple[str, ...]
) -> tuple[dict[str, Any], set[str]]:
    """Poll a status (``get`` answers 200 with ``{"data": {...}}``) until ``data[key]`` is in ``final``.

    Returns the last ``data`` and every state seen on the way.
    """
    seen: set[str] = set()

    def fetch() -> dict[str, Any]:
        resp = get()
        assert resp.status_code == 200, resp.text
        data: dict[str, Any] = resp.json()["data"]
        seen.add(data[key])
        return data

    return poll(fetch, lambda data: data[key] in final), seen


def probe_mp4(data: bytes) -> dict[str, Any]:
    """Open an MP4 with PyAV and describe its streams."""
    import av

    with av.open(io.BytesIO(data)) as container:
        video = container.streams.video[0]
        info: dict[str, Any] = {
            "format": container.format.name,
            "duration": container.duration / 1_000_000 if container.duration else None,
            "codec": video.codec_context.name,
            "width": video.codec_context.width,
            "height": video.codec_context.height,
            "audio": [s.codec_context.name for s in container.streams.audio],
        }
        info["frames"] = sum(1 for _ in container.decode(video=0))
    return info


def check_video(client: httpx.Client, url: str, duration: int, aspect: str, sound: bool) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "video/mp4"
    assert int(response.headers["content-length"]) == len(response.content) > 0
    info = probe_mp4(response.content)
    assert "mp4" in info["format"]
    assert info["codec"] == "h264"
    assert info["duration"] == pytest.approx(duration, abs=0.5)
    w, h = (int(x) for x in aspect.split(":"))
    assert info["width"] / info["height"] == pytest.approx(w / h, rel=0.02)
    assert (info["audio"] == ["aac"]) if sound else (info["audio"] == [])
    return info


def new_uuid() -> str:
    return str(uuid.uuid4())


def runware_task(prompt: str, model: str = "klingai:kling-video@2.6-pro", **fields: Any) -> dict[str, Any]:
    """One Runware ``videoInference`` task (a new ``taskUUID`` unless given), for ``POST /v1`` in a list."""
    return {
        "taskType": "videoInference",
        "taskUUID": new_uuid(),
        "model": model,
        "positivePrompt": prompt,
        **fields,
    }


def apixo_submit(client: httpx.Client, prompt: str, **inputs: Any) -> httpx.Response:
    """An APIXO text-to-video submit (silent unless ``inputs`` say otherwise)."""
    body = {
        "request_type": "async",
        "input": {"mode": "text-to-video", "prompt": prompt, "sound": False, **inputs},
    }
    return client.post("/api/v1/generateTask/kling-2-6", json=body, headers=BEARER)


def apixo_status(client: httpx.Client, task_id: str) -> httpx.Response:
    return client.get("/api/v1/statusTask/kling-2-6", params={"taskId": task_id}, headers=BEARER)


class Kit:
    """Helpers handed to the tests as the ``kit`` fixture (no cross-module imports of conftest)."""

    ACCESS_KEY = ACCESS_KEY
    SECRET_KEY = SECRET_KEY
    LATENCY = LATENCY
    BEARER = BEARER
    kling_token = staticmethod(kling_token)
    kling_headers = staticmethod(kling_headers)
    poll = staticmethod(poll)
    watch = staticmethod(watch)
    probe_mp4 = staticmethod(probe_mp4)
    check_video = staticmethod(check_video)
    new_uuid = staticmethod(new_uuid)
    runware_task = staticmethod(runware_task)
    apixo_submit = staticmethod(apixo_submit)
    apixo_status = staticmethod(apixo_status)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(
        latency=LATENCY,
        slow_seconds=1.0,
        fps=8,
        cache_dir=tmp_path_factory.mktemp("emulator-cache"),
    )
    with EmulatorServer(config) as server:
        yield server


@pytest.fixture
def client(emulator: EmulatorServer) -> Iterator[httpx.Client]:
    emulator.reset()
    with httpx.Client(base_url=emulator.url, timeout=15.0, trust_env=False) as c:
        yield c


@pytest.fixture
def limits(client: httpx.Client) -> Iterator[Callable[..., dict[str, Any]]]:
    """Set limits through the control API; put the defaults back afterwards."""

    def set_limits(**values: Any) -> dict[str, Any]:
        r = client.post("/_emulator/limits", json=values)
        assert r.status_code == 200, r.text
        return dict(r.json())

    yield set_limits
    set_limits(concurrency=0, rate=0.0, latency=LATENCY, latency_jitter=0.0)
