"""Kling 2.5 Turbo and 2.1 through ``KlingHook`` on the emulator, on the gateways that have their rows
(Runware; fal, Replicate, APIXO and Rivya).

A render with ``model="kling-2.5-turbo"`` (or ``kling-2.1``, ``kling-2.1-master``) reaches the
gateway's own id, lasts what was asked and is silent; what the row lacks fails before any request
reaches the emulator (its counters).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import TaskState
from tests.conftest import REPO
from tests.helpers import probe_video, wait_until
from tests.integration.conftest import counters

IMAGE = str(REPO / "example_dags" / "assets" / "product.png")


@pytest.mark.parametrize(
    ("gateway", "model", "tier", "image", "model_id"),
    [
        ("runware", "kling-2.5-turbo", None, None, "klingai:6@1"),
        ("runware", "kling-2.5-turbo", "std", IMAGE, "klingai:6@0"),
        ("runware", "kling-2.1", None, IMAGE, "klingai:5@1"),
        ("runware", "kling-2.1-master", None, None, "klingai:5@3"),
        ("fal", "kling-2.5-turbo", None, IMAGE, "fal-ai/kling-video/v2.5-turbo/pro"),
        ("replicate", "kling-2.1", "pro", IMAGE, "kwaivgi/kling-v2.1"),
        ("replicate", "kling-2.5-turbo", None, None, "kwaivgi/kling-v2.5-turbo-pro"),
        ("apixo", "kling-2.5-turbo", None, None, "kling-2-5-turbo-pro"),
        ("rivya", "kling-2.5-turbo", None, IMAGE, "kling-v2-5-turbo-pro"),
        ("rivya", "kling-2.1-master", None, None, "kling-v2-1-master"),
    ],
)
def test_siblings_render_through_the_hook(
    emulator: EmulatorServer,
    tmp_path: Path,
    gateway: str,
    model: str,
    tier: str | None,
    image: str | None,
    model_id: str,
) -> None:
    hook = KlingHook(f"kling_{gateway}")
    request = hook.make_request(
        prompt="A paper boat on a rain puddle", model=model, duration=10, tier=tier, start_image=image
    )
    task = hook.submit(request)
    done = hook.raise_for_task(wait_until(lambda: hook.get_task(task), lambda t: t.is_terminal, 30.0))
    assert done.state == TaskState.SUCCEEDED
    assert emulator.job(task.task_id)["model"] == model_id
    info = probe_video(Path(hook.download(done.video_urls[0], tmp_path)["path"]))
    assert info["duration"] == pytest.approx(10, abs=0.3) and info["audio"] == 0


@pytest.mark.parametrize("gateway", ["runware", "fal", "replicate", "apixo", "rivya"])
def test_2_5_turbo_with_sound_fails_before_any_request_on_every_host(
    emulator: EmulatorServer, gateway: str
) -> None:
    hook = KlingHook(f"kling_{gateway}")
    before = counters(emulator)["requests"][gateway]
    with pytest.raises(KlingValidationError) as info:
        hook.submit(hook.make_request(prompt="A paper boat", model="kling-2.5-turbo", sound=True))
    assert (info.value.gateway, info.value.field) == (gateway, "sound")
    assert counters(emulator)["requests"][gateway] == before
