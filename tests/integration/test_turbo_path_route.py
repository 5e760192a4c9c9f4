"""Kling 3.0 Turbo on the official gateway, through ``KlingHook`` on the emulator: the path-addressed
family of GATEWAYS.md section 1.9.

Image-to-video goes to ``POST /image-to-video/kling-3.0-turbo`` with the prompt and the first frame as
``contents`` items (the frame a URL), the job is polled with ``GET /tasks?task_ids=<id>`` until its
``outputs`` carry the video; a local image file or a ``data:`` URI fails before any request reaches
the emulator (its counters), since the documents give the family no base64 form.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.models import TaskState
from tests.conftest import REPO
from tests.helpers import probe_video, wait_until
from tests.integration.conftest import counters

IMAGE = REPO / "example_dags" / "assets" / "product.png"


def test_turbo_image_to_video_renders_on_the_path_route(emulator: EmulatorServer, tmp_path: Path) -> None:
    hook = KlingHook("kling_kling")
    request = hook.make_request(
        prompt="A paper boat on a rain puddle",
        model="kling-3.0-turbo",
        start_image="https://cdn.example.com/boat.png",
        duration=6,
    )
    task = hook.submit(request)
    assert task.endpoint == "image-to-video/kling-3.0-turbo"
    done = hook.raise_for_task(wait_until(lambda: hook.get_task(task), lambda t: t.is_terminal, 30.0))
    assert done.state == TaskState.SUCCEEDED and done.endpoint == task.endpoint
    assert done.client_reference is not None  # external_id, sent as options.external_task_id
    job = emulator.job(task.task_id)
    assert job["model"] == "kling-3.0-turbo" and job["sound"] is False
    info = probe_video(Path(hook.download(done.video_urls[0], tmp_path)["path"]))
    assert info["duration"] == pytest.approx(6, abs=0.3) and info["audio"] == 0


@pytest.mark.parametrize(
    "image",
    [str(IMAGE), "data:image/png;base64," + base64.b64encode(IMAGE.read_bytes()).decode()],
    ids=["file", "data-uri"],
)
def test_turbo_local_image_fails_before_any_request(emulator: EmulatorServer, image: str) -> None:
    hook = KlingHook("kling_kling")
    before = counters(emulator)["requests"]["kling"]
    with pytest.raises(KlingValidationError) as info:
        hook.submit(hook.make_request(prompt="A paper boat", model="kling-3.0-turbo", start_image=image))
    assert (info.value.gateway, info.value.field, info.value.value) == ("kling", "start_image", image)
    assert "http(s) URL" in str(info.value.allowed)
    assert counters(emulator)["requests"]["kling"] == before
