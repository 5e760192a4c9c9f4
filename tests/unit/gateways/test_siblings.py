"""The 2.x siblings of Kling 2.6 (issue 19): rows only where a gateway documents the model's id.

Kling 2.5 Turbo (``klingai:6@1`` pro, ``klingai:6@0`` std), Kling 2.1 (``klingai:5@1`` std,
``klingai:5@2`` pro) and Kling 2.1 Master (``klingai:5@3``) are rows on Runware; Kling 2.5 Turbo Pro
is a row on fal, Replicate, APIXO and Rivya, Kling 2.1 on Replicate and Kling 2.1 Master on Rivya
(see each module's docstring). None of these rows has a sound field: the request leaves it out.
Each test pins what the row documents and that a field it lacks is refused before any HTTP request
(the respx route counts the calls).
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.models import VideoRequest
from tests.unit.test_hook import BASE, make_hook

#: (gateway, normalized name) -> the gateway's ids of it, default tier first
SIBLINGS = {
    ("runware", "kling-2.5-turbo"): ("klingai:6@1", "klingai:6@0"),
    ("runware", "kling-2.1"): ("klingai:5@1", "klingai:5@2"),
    ("runware", "kling-2.1-master"): ("klingai:5@3",),
    ("fal", "kling-2.5-turbo"): ("fal-ai/kling-video/v2.5-turbo/pro",),
    ("replicate", "kling-2.5-turbo"): ("kwaivgi/kling-v2.5-turbo-pro",),
    ("replicate", "kling-2.1"): ("kwaivgi/kling-v2.1",),
    ("apixo", "kling-2.5-turbo"): ("kling-2-5-turbo-pro",),
    ("rivya", "kling-2.5-turbo"): ("kling-v2-5-turbo-pro",),
    ("rivya", "kling-2.1-master"): ("kling-v2-1-master",),
}
IMAGE = "https://img.test/first.png"


def turbo25(**fields: Any) -> VideoRequest:
    return VideoRequest(**{"prompt": "a red fox in snow", "model": "kling-2.5-turbo", **fields})


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
@pytest.mark.parametrize("name", ["kling-2.5-turbo", "kling-2.1", "kling-2.1-master"])
def test_siblings_only_where_a_gateway_documents_their_id(gateway: str, name: str) -> None:
    gw = get_gateway(gateway)
    ids = SIBLINGS.get((gateway, name), ())
    assert (name in gw.offered()) == bool(ids)
    assert gw.offered()[0] == "kling-2.6"  # the default is unchanged
    for own_id in ids:
        assert gw.capabilities_for(turbo25(model=own_id)).name == name
    if ids:  # the normalized name alone renders the first id (its default tier)
        assert gw.capabilities_for(turbo25(model=name)).model == ids[0]


def test_runware_2_5_turbo_wire() -> None:
    gw = get_gateway("runware")
    pro = gw.build_submit(turbo25(duration=10, aspect_ratio="9:16", negative_prompt="blur", cfg_scale=0.4))
    (task,) = pro.json
    assert task["model"] == "klingai:6@1"  # no tier: the pro id, the one that takes text
    assert (task["duration"], task["width"], task["height"]) == (10.0, 720, 1280)
    assert (task["negativePrompt"], task["CFGScale"]) == ("blur", 0.4)
    assert "providerSettings" not in task  # no sound setting on 2.5 Turbo
    frames = turbo25(tier="pro", start_image=IMAGE, end_image="https://img.test/last.png")
    assert gw.build_submit(frames).json[0]["inputs"] == {
        "frameImages": [
            {"image": IMAGE, "frame": "first"},
            {"image": "https://img.test/last.png", "frame": "last"},
        ]
    }
    (std,) = gw.build_submit(turbo25(tier="std", start_image=IMAGE)).json
    assert std["model"] == "klingai:6@0" and "width" not in std
    assert std["inputs"] == {"frameImages": [{"image": IMAGE, "frame": "first"}]}


def test_runware_2_5_turbo_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "runware")
    est = hook.estimate_cost(turbo25(tier="std", start_image=IMAGE, duration=10))
    assert est is not None and est.amount == pytest.approx(0.42) and est.unit == "USD"
    assert "2.5 Turbo Standard" in est.basis
    quote = hook.quote(turbo25(duration=10))  # the pro id: no readable price, said, never guessed
    assert quote.estimate is None and "no Kling 2.5 Turbo price" in quote.reason


def test_runware_2_1_wire() -> None:
    gw = get_gateway("runware")
    std = VideoRequest(prompt="a fox", model="kling-2.1", start_image=IMAGE, duration=10)
    gw.validate(std)
    (task,) = gw.build_submit(std).json
    assert (task["model"], task["duration"]) == ("klingai:5@1", 10.0) and "width" not in task
    pro = VideoRequest(
        prompt="a fox", model="kling-2.1", tier="pro", start_image=IMAGE, end_image=IMAGE, cfg_scale=0.3
    )
    gw.validate(pro)
    (task,) = gw.build_submit(pro).json
    assert (task["model"], task["CFGScale"], len(task["inputs"]["frameImages"])) == ("klingai:5@2", 0.3, 2)
    master = VideoRequest(prompt="a fox", model="kling-2.1-master", aspect_ratio="1:1")
    gw.validate(master)
    (task,) = gw.build_submit(master).json
    assert (task["model"], task["width"], task["height"]) == ("klingai:5@3", 1080, 1080)
    assert "providerSettings" not in task


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"model": "kling-2.5-turbo", "sound": True}, "sound"),
        ({"model": "kling-2.5-turbo", "duration": 8}, "duration"),
        ({"model": "kling-2.5-turbo", "tier": "4k"}, "tier"),
        ({"model": "kling-2.5-turbo", "shots": [{"prompt": "one", "duration": 5}]}, "shots"),
        ({"model": "kling-2.5-turbo", "tier": "std"}, "start_image"),  # 6@0 is image-to-video only
        ({"model": "kling-2.5-turbo", "tier": "std", "start_image": IMAGE, "end_image": IMAGE}, "end_image"),
        ({"model": "kling-2.1"}, "start_image"),  # image-to-video only, both tiers
        ({"model": "kling-2.1", "tier": "pro"}, "start_image"),
        ({"model": "kling-2.1", "start_image": IMAGE, "end_image": IMAGE}, "end_image"),  # std: first only
        ({"model": "kling-2.1", "start_image": IMAGE, "cfg_scale": 0.5}, "cfg_scale"),
        (
            {"model": "kling-2.1", "tier": "pro", "start_image": IMAGE, "negative_prompt": "blur"},
            "negative_prompt",
        ),
        ({"model": "kling-2.1", "tier": "pro", "start_image": IMAGE, "sound": True}, "sound"),
        ({"model": "kling-2.1-master", "tier": "pro"}, "tier"),  # no tier choice
        ({"model": "kling-2.1-master", "duration": 15}, "duration"),
        ({"model": "kling-2.1-master", "start_image": IMAGE, "end_image": IMAGE}, "end_image"),
    ],
)
@respx.mock
def test_runware_siblings_refuse_what_their_rows_lack_before_any_request(
    monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], field: str
) -> None:
    hook, _ = make_hook(monkeypatch, "runware")
    route = respx.post(f"{BASE}/v1").mock(return_value=httpx.Response(200, json={"data": []}))
    with pytest.raises(KlingValidationError) as info:
        hook.submit(VideoRequest(prompt="a fox", **fields))
    assert (info.value.gateway, info.value.field) == ("runware", field)
    assert fields["model"] in str(info.value)
    assert route.call_count == 0


def test_runware_2_1_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "runware")
    std = hook.estimate_cost(VideoRequest(prompt="a fox", model="kling-2.1", start_image=IMAGE, duration=10))
    assert std is not None and std.amount == pytest.approx(0.37) and std.unit == "USD"
    master = hook.estimate_cost(VideoRequest(prompt="a fox", model="kling-2.1-master"))
    assert master is not None and master.amount == pytest.approx(0.924) and "2.1 Master" in master.basis
    pro = hook.quote(VideoRequest(prompt="a fox", model="kling-2.1", tier="pro", start_image=IMAGE))
    assert pro.estimate is None and "no Kling 2.1 price" in pro.reason


# ------------------------------------------------------------------ fal, Replicate, APIXO, Rivya
LAST = "https://img.test/last.png"


def test_fal_2_5_turbo_wire_names_its_frames_and_sends_no_audio_field() -> None:
    gw = get_gateway("fal")
    text = gw.build_submit(turbo25(duration=10, aspect_ratio="1:1", negative_prompt="blur", cfg_scale=0.4))
    assert text.path == "/fal-ai/kling-video/v2.5-turbo/pro/text-to-video"
    assert text.json == {
        "prompt": "a red fox in snow",
        "duration": "10",
        "aspect_ratio": "1:1",
        "negative_prompt": "blur",
        "cfg_scale": 0.4,
    }
    frames = gw.build_submit(turbo25(start_image=IMAGE, end_image=LAST))
    assert frames.path == "/fal-ai/kling-video/v2.5-turbo/pro/image-to-video"
    assert frames.json == {
        "prompt": "a red fox in snow",
        "image_url": IMAGE,
        "tail_image_url": LAST,
        "duration": "5",
    }


def test_replicate_siblings_wire() -> None:
    gw = get_gateway("replicate")
    turbo = gw.build_submit(turbo25(negative_prompt="blur", aspect_ratio="9:16"))
    assert turbo.path == "/v1/models/kwaivgi/kling-v2.5-turbo-pro/predictions"
    assert turbo.json == {
        "input": {
            "prompt": "a red fox in snow",
            "negative_prompt": "blur",
            "aspect_ratio": "9:16",
            "duration": 5,
        }
    }
    pro = VideoRequest(
        prompt="a fox", model="kling-2.1", tier="pro", start_image=IMAGE, end_image=LAST, duration=10
    )
    gw.validate(pro)
    built = gw.build_submit(pro)
    assert built.path == "/v1/models/kwaivgi/kling-v2.1/predictions"
    assert built.json == {
        "input": {"prompt": "a fox", "start_image": IMAGE, "end_image": LAST, "mode": "pro", "duration": 10}
    }
    std = gw.build_submit(VideoRequest(prompt="a fox", model="kling-2.1", start_image=IMAGE))
    assert std.json["input"]["mode"] == "standard"


def test_apixo_2_5_turbo_wire() -> None:
    gw = get_gateway("apixo")
    built = gw.build_submit(turbo25(start_image=IMAGE, end_image=LAST, negative_prompt="blur", cfg_scale=0.6))
    assert built.path == "/api/v1/generateTask/kling-2-5-turbo-pro"
    assert built.json["input"] == {
        "mode": "image-to-video",
        "prompt": "a red fox in snow",
        "duration": 5,
        "image_urls": [IMAGE, LAST],
        "negative_prompt": "blur",
        "cfg_scale": 0.6,
    }
    assert gw.build_status("t-1", "kling-2-5-turbo-pro").path == "/api/v1/statusTask/kling-2-5-turbo-pro"


def test_rivya_siblings_wire() -> None:
    gw = get_gateway("rivya")
    turbo = gw.build_submit(turbo25(duration=10, negative_prompt="blur", cfg_scale=0.3))
    assert turbo.json == {
        "model": "kling-v2-5-turbo-pro",
        "prompt": "a red fox in snow",
        "params": {"duration": "10", "negative_prompt": "blur", "cfg_scale": 0.3, "aspect_ratio": "16:9"},
    }
    master = gw.build_submit(VideoRequest(prompt="a fox", model="kling-2.1-master", start_image=IMAGE))
    assert master.json["model"] == "kling-v2-1-master"
    assert "sound" not in master.json["params"]
    assert [item["url"] for item in master.json["params"]["referenceMediaItems"]] == [IMAGE]


@pytest.mark.parametrize(
    ("gateway", "fields", "field"),
    [
        ("fal", {"model": "kling-2.5-turbo", "sound": True}, "sound"),
        ("fal", {"model": "kling-2.5-turbo", "tier": "std"}, "tier"),
        ("fal", {"model": "kling-2.5-turbo", "duration": 8}, "duration"),
        ("fal", {"model": "kling-2.5-turbo", "end_image": LAST}, "end_image"),  # a last frame needs a first
        ("replicate", {"model": "kling-2.5-turbo", "sound": True}, "sound"),
        ("replicate", {"model": "kling-2.5-turbo", "start_image": IMAGE, "end_image": LAST}, "end_image"),
        ("replicate", {"model": "kling-2.5-turbo", "tier": "pro"}, "tier"),
        ("replicate", {"model": "kling-2.1"}, "start_image"),  # image-to-video only
        (
            "replicate",
            {"model": "kling-2.1", "start_image": IMAGE, "end_image": LAST},
            "end_image",
        ),  # pro only
        ("replicate", {"model": "kling-2.1", "start_image": IMAGE, "sound": True}, "sound"),
        ("replicate", {"model": "kling-2.1", "start_image": IMAGE, "cfg_scale": 0.5}, "cfg_scale"),
        ("apixo", {"model": "kling-2.5-turbo", "sound": True}, "sound"),
        ("apixo", {"model": "kling-2.5-turbo", "duration": 15}, "duration"),
        ("apixo", {"model": "kling-2.5-turbo", "prompt": "x" * 2501}, "prompt"),
        ("rivya", {"model": "kling-2.5-turbo", "sound": True}, "sound"),
        ("rivya", {"model": "kling-2.5-turbo", "tier": "pro"}, "tier"),
        ("rivya", {"model": "kling-2.1-master", "sound": True}, "sound"),
        ("rivya", {"model": "kling-2.1-master", "start_image": IMAGE, "end_image": LAST}, "end_image"),
        ("rivya", {"model": "kling-2.1-master", "prompt": "x" * 5001}, "prompt"),
    ],
)
@respx.mock
def test_other_siblings_refuse_what_their_rows_lack_before_any_request(
    monkeypatch: pytest.MonkeyPatch, gateway: str, fields: dict[str, Any], field: str
) -> None:
    hook, _ = make_hook(monkeypatch, gateway)
    route = respx.route().mock(return_value=httpx.Response(500))
    with pytest.raises(KlingValidationError) as info:
        hook.submit(VideoRequest(**{"prompt": "a fox", **fields}))
    assert (info.value.gateway, info.value.field) == (gateway, field)
    assert route.call_count == 0


def test_siblings_prices(monkeypatch: pytest.MonkeyPatch) -> None:
    fal, _ = make_hook(monkeypatch, "fal")
    est = fal.estimate_cost(turbo25(duration=10))
    assert est is not None and est.amount == pytest.approx(0.70) and est.unit == "USD"
    rivya, _ = make_hook(monkeypatch, "rivya")
    turbo = rivya.estimate_cost(turbo25(duration=10))
    assert turbo is not None and (turbo.amount, turbo.unit) == (42.0, "credits")
    master = rivya.estimate_cost(VideoRequest(prompt="a fox", model="kling-2.1-master"))
    assert master is not None and master.amount == 160.0
    for gateway in ("replicate", "apixo"):
        hook, _ = make_hook(monkeypatch, gateway)
        quote = hook.quote(turbo25())  # none published: said, never guessed
        assert quote.estimate is None and f"'{gateway}' publishes no Kling 2.5 Turbo price" in quote.reason
