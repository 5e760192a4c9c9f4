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
