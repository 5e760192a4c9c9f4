"""The emulator's Kling 2.5 Turbo and 2.1 on Runware: what the documents show is accepted, the rest
refused (numbered ids ``klingai:6@1``, ``6@0``, ``5@1``, ``5@2``, ``5@3``)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

FIRST = {"image": "https://img.test/a.png", "frame": "first"}
LAST = {"image": "https://img.test/b.png", "frame": "last"}


def submit(client: httpx.Client, kit: Any, model: str, **fields: Any) -> httpx.Response:
    task = kit.runware_task("a red fox in snow", model=model, **{"duration": 5, **fields})
    return client.post("/v1", json=[task], headers=kit.BEARER)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        ("klingai:6@1", {"duration": 10, "width": 720, "height": 1280, "CFGScale": 0.5}),
        ("klingai:6@1", {"inputs": {"frameImages": [FIRST, LAST]}, "negativePrompt": "blur"}),
        ("klingai:6@0", {"inputs": {"frameImages": [FIRST]}}),
        ("klingai:5@1", {"inputs": {"frameImages": [FIRST]}, "duration": 10}),
        ("klingai:5@2", {"inputs": {"frameImages": [FIRST, LAST]}, "CFGScale": 0.3}),
        ("klingai:5@3", {"width": 1080, "height": 1080}),
        ("klingai:5@3", {"inputs": {"frameImages": [FIRST]}}),
    ],
)
def test_documented_2_5_turbo_tasks_are_accepted(
    client: httpx.Client, kit: Any, model: str, fields: dict[str, Any]
) -> None:
    r = submit(client, kit, model, **fields)
    assert r.status_code == 200 and "errors" not in r.json(), r.text


@pytest.mark.parametrize(
    ("model", "fields", "code"),
    [
        ("klingai:6@1", {"providerSettings": {"klingai": {"sound": True}}}, "unsupportedParameter"),
        ("klingai:6@1", {"duration": 8}, "invalidDuration"),
        (
            "klingai:6@1",
            {"providerSettings": {"klingai": {"multiPrompt": [{"prompt": "one", "duration": 5}]}}},
            "unsupportedParameter",
        ),
        ("klingai:6@0", {}, "missingFrameImages"),  # image-to-video only
        ("klingai:6@0", {"inputs": {"frameImages": [FIRST, LAST]}}, "unsupportedParameter"),
        ("klingai:6@0", {"inputs": {"frameImages": [LAST]}}, "unsupportedParameter"),
        ("klingai:6@2", {}, "invalidModel"),
        ("klingai:5@1", {}, "missingFrameImages"),
        ("klingai:5@1", {"inputs": {"frameImages": [FIRST]}, "CFGScale": 0.5}, "unsupportedParameter"),
        (
            "klingai:5@2",
            {"inputs": {"frameImages": [FIRST]}, "negativePrompt": "blur"},
            "unsupportedParameter",
        ),
        ("klingai:5@2", {"providerSettings": {"klingai": {"sound": False}}}, "unsupportedParameter"),
        ("klingai:5@3", {"inputs": {"frameImages": [FIRST, LAST]}}, "unsupportedParameter"),
        ("klingai:5@3", {"duration": 15}, "invalidDuration"),
    ],
)
def test_what_2_5_turbo_lacks_is_refused(
    client: httpx.Client, kit: Any, model: str, fields: dict[str, Any], code: str
) -> None:
    r = submit(client, kit, model, **fields)
    assert r.status_code == 400, r.text
    assert r.json()["errors"][0]["code"] == code


# ------------------------------------------------------------------ fal, Replicate, APIXO, Rivya
FAL = {"Authorization": "Key fal-test-key"}
FAL_25 = "/fal-ai/kling-video/v2.5-turbo/pro"
IMG, TAIL = "https://img.test/a.png", "https://img.test/b.png"


def host_submit(
    client: httpx.Client, kit: Any, host: str, model: str, body: dict[str, Any]
) -> httpx.Response:
    """One submit of ``body`` (the model's own fields) to ``model`` on ``host``, as its wire wraps it."""
    if host == "fal":
        return client.post(f"{FAL_25}/{model}", json={"prompt": "a red fox", **body}, headers=FAL)
    if host == "replicate":
        inp = {"prompt": "a red fox", **body}
        return client.post(f"/v1/models/kwaivgi/{model}/predictions", json={"input": inp}, headers=kit.BEARER)
    if host == "apixo":
        inp = {"mode": "text-to-video", "prompt": "a red fox", **body}
        envelope = {"request_type": "async", "input": inp}
        return client.post(f"/api/v1/generateTask/{model}", json=envelope, headers=kit.BEARER)
    generation = {"model": model, "prompt": body.pop("prompt", "a red fox"), "params": body}
    return client.post("/api/v1/generations", json=generation, headers=kit.BEARER)


@pytest.mark.parametrize(
    ("host", "model", "body"),
    [
        ("fal", "text-to-video", {"duration": "10", "aspect_ratio": "9:16", "cfg_scale": 0.4}),
        ("fal", "image-to-video", {"image_url": IMG, "tail_image_url": TAIL, "negative_prompt": "blur"}),
        ("replicate", "kling-v2.5-turbo-pro", {"duration": 10, "negative_prompt": "blur"}),
        ("replicate", "kling-v2.5-turbo-pro", {"start_image": IMG}),
        ("replicate", "kling-v2.1", {"start_image": IMG, "end_image": TAIL, "mode": "pro"}),
        ("apixo", "kling-2-5-turbo-pro", {"duration": 10, "negative_prompt": "blur", "cfg_scale": 0.5}),
        ("apixo", "kling-2-5-turbo-pro", {"mode": "image-to-video", "image_urls": [IMG, TAIL]}),
        ("rivya", "kling-v2-5-turbo-pro", {"duration": "10", "negative_prompt": "blur", "cfg_scale": 0.5}),
        ("rivya", "kling-v2-1-master", {"prompt": "x" * 5000, "aspect_ratio": "1:1"}),
    ],
)
def test_documented_sibling_requests_are_accepted(
    client: httpx.Client, kit: Any, host: str, model: str, body: dict[str, Any]
) -> None:
    r = host_submit(client, kit, host, model, body)
    assert r.status_code in (200, 201), r.text


@pytest.mark.parametrize(
    ("host", "model", "body", "status", "word"),
    [
        ("fal", "text-to-video", {"generate_audio": False}, 422, "generate_audio"),
        ("fal", "image-to-video", {"start_image_url": IMG}, 422, "image_url"),
        ("fal", "text-to-video", {"duration": "8"}, 422, "duration"),
        ("replicate", "kling-v2.5-turbo-pro", {"generate_audio": False}, 422, "generate_audio"),
        ("replicate", "kling-v2.5-turbo-pro", {"start_image": IMG, "end_image": TAIL}, 422, "end_image"),
        ("replicate", "kling-v2.1", {}, 422, "start_image"),
        ("replicate", "kling-v2.1", {"start_image": IMG, "end_image": TAIL}, 422, "pro mode"),
        ("replicate", "kling-v2.1", {"start_image": IMG, "aspect_ratio": "1:1"}, 422, "aspect_ratio"),
        ("apixo", "kling-2-5-turbo-pro", {"sound": False}, 400, "sound"),
        ("apixo", "kling-2-5-turbo-pro", {"duration": 15}, 400, "duration"),
        ("rivya", "kling-v2-5-turbo-pro", {"sound": "false"}, 400, "sound"),
        ("rivya", "kling-v2-5-turbo-pro", {"prompt": "x" * 2501}, 400, "2500"),
        ("rivya", "kling-v2-1-master", {"duration": "15"}, 400, "duration"),
        ("rivya", "kling-2-6", {"negative_prompt": "blur"}, 400, "negative_prompt"),
    ],
)
def test_what_the_siblings_lack_is_refused(
    client: httpx.Client, kit: Any, host: str, model: str, body: dict[str, Any], status: int, word: str
) -> None:
    r = host_submit(client, kit, host, model, body)
    assert r.status_code == status, r.text
    assert word in r.text
