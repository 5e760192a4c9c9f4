"""The Kling family on every gateway: a model per request, its row's checks, its wire and its price.

Each expectation is the gateway's own document for Kling 3.0 (see ``/work/shared/design/MODELS.md``
and each gateway module's docstring): field names, JSON types and paths as the vendor spells them.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.base import Gateway
from airflow_provider_kling.models import VideoRequest
from tests.unit.test_hook import make_hook

#: gateway -> its own id of Kling 3.0 (the default tier's row)
V3_IDS = {
    "kling": "kling-v3",
    "rivya": "kling-3-0",
    "runware": "klingai:kling-video@3-standard",
    "apixo": "kling-3-0-std",
    "apimart": "kling-v3",
    "kie": "kling-3.0/video",
    "fal": "fal-ai/kling-video/v3/standard",
    "replicate": "kwaivgi/kling-v3-video",
}
TURBO_GATEWAYS = ("kling", "runware", "apixo", "apimart")
MULTI_SHOT = ("kling", "runware", "apimart", "kie")
NO_PER_SHOT_PROMPTS = ("rivya", "apixo")
SHOTS = [
    {"prompt": "a red fox wakes up", "duration": 4},
    {"prompt": "the fox runs through snow", "duration": 8},
]


def v3(**fields: Any) -> VideoRequest:
    return VideoRequest(**{"prompt": "a red fox in snow", "model": "kling-3.0", **fields})


def submit_body(gw: Gateway, request: VideoRequest) -> Any:
    gw.validate(request)
    return gw.build_submit(request)


# ===================================================================== names
@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_every_gateway_offers_2_6_by_default_and_3_0(gateway: str) -> None:
    gw = get_gateway(gateway)
    assert gw.offered()[0] == "kling-2.6"
    assert "kling-3.0" in gw.offered()
    assert gw.capabilities_for(v3()).model == V3_IDS[gateway]
    # the gateway's own id is an alias of the same row
    assert gw.capabilities_for(v3(model=V3_IDS[gateway])).name == "kling-3.0"
    # a connection whose extra.model is the normalized name renders 3.0 without a model per request
    assert get_gateway(gateway, "kling-3.0").capabilities_for(VideoRequest(prompt="pp")).name == "kling-3.0"


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_turbo_where_documented(gateway: str) -> None:
    gw = get_gateway(gateway)
    assert ("kling-3.0-turbo" in gw.offered()) == (gateway in TURBO_GATEWAYS)


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_an_unknown_model_lists_what_the_gateway_offers(gateway: str) -> None:
    gw = get_gateway(gateway)
    with pytest.raises(KlingValidationError) as info:
        gw.validate(v3(model="kling-9.9"))
    err = info.value
    assert (err.gateway, err.field, err.value) == (gateway, "model", "kling-9.9")
    for name in gw.offered():
        assert name in str(err.allowed)


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_without_a_model_the_wire_is_the_2_6_one(gateway: str) -> None:
    gw = get_gateway(gateway)
    plain = VideoRequest(prompt="a red fox in snow", duration=10, client_reference="ref-1")
    named = plain.model_copy(update={"model": "kling-2.6"})
    first, second = gw.build_submit(plain), gw.build_submit(named)
    if gateway == "runware":  # a random taskUUID only without a reference; with one, stable
        assert first.json[0]["taskUUID"] == second.json[0]["taskUUID"]
    assert (first.path, json.dumps(first.json)) == (second.path, json.dumps(second.json))


# ===================================================================== the row's checks
@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_3_0_takes_any_whole_second_from_3_to_15(gateway: str) -> None:
    gw = get_gateway(gateway)
    for seconds in (3, 12, 15):
        gw.validate(v3(duration=seconds))
    with pytest.raises(KlingValidationError) as info:
        gw.validate(v3(duration=16))
    err = info.value
    assert (err.gateway, err.field, err.value, err.allowed) == (gateway, "duration", 16, "3 to 15")
    assert "model kling-3.0" in str(err)


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_12_s_with_sound_on_every_gateway(gateway: str) -> None:
    submit_body(get_gateway(gateway), v3(duration=12, sound=True))


@pytest.mark.parametrize("gateway", ["rivya", "apixo", "kie"])
def test_4k_where_undocumented_is_refused(gateway: str) -> None:
    with pytest.raises(KlingValidationError) as info:
        get_gateway(gateway).validate(v3(tier="4k"))
    assert (info.value.field, info.value.value) == ("tier", "4k")


@pytest.mark.parametrize("gateway", NO_PER_SHOT_PROMPTS)
def test_shots_are_refused_where_no_per_shot_prompts_exist(gateway: str) -> None:
    with pytest.raises(KlingValidationError) as info:
        get_gateway(gateway).validate(v3(duration=12, shots=SHOTS))
    assert info.value.field == "shots" and "no per-shot prompts" in str(info.value.allowed)


@pytest.mark.parametrize("gateway", MULTI_SHOT)
def test_shots_must_sum_to_the_clip_and_number_1_to_6(gateway: str) -> None:
    gw = get_gateway(gateway)
    with pytest.raises(KlingValidationError, match="sum to 12"):
        gw.validate(v3(duration=10, shots=SHOTS))
    with pytest.raises(KlingValidationError, match="1 to 6 shots"):
        gw.validate(v3(duration=14, shots=[{"prompt": "p", "duration": 2}] * 7))
    with pytest.raises(KlingValidationError, match="1 to 512 characters"):
        gw.validate(v3(duration=12, shots=[{"prompt": "p" * 513, "duration": 12}]))


def test_official_multi_shot_takes_no_frames() -> None:
    with pytest.raises(KlingValidationError) as info:
        get_gateway("kling").validate(v3(duration=12, shots=SHOTS, start_image="https://img/a.png"))
    assert info.value.field == "start_image"
    with pytest.raises(KlingValidationError):
        get_gateway("kie").validate(
            v3(duration=12, shots=SHOTS, start_image="https://img/a.png", end_image="https://img/b.png")
        )


def test_2_6_rules_stay_and_3_0_lifts_them() -> None:
    kling = get_gateway("kling")
    with pytest.raises(KlingValidationError, match="pro"):
        kling.validate(VideoRequest(prompt="pp", sound=True, tier="std"))
    kling.validate(v3(sound=True, tier="std", start_image="https://i/a.png", end_image="https://i/b.png"))


def test_turbo_has_no_sound() -> None:
    for gateway in TURBO_GATEWAYS:
        with pytest.raises(KlingValidationError) as info:
            get_gateway(gateway).validate(v3(model="kling-3.0-turbo", sound=True))
        assert info.value.field == "sound"


# ===================================================================== the wire, per gateway
def test_kling_v1_body() -> None:
    http = submit_body(get_gateway("kling"), v3(duration=12, sound=True, tier="4k"))
    assert http.path == "/v1/videos/text2video"
    assert http.json["model_name"] == "kling-v3"
    assert (http.json["duration"], http.json["mode"], http.json["sound"]) == ("12", "4k", "on")
    multi = submit_body(get_gateway("kling"), v3(duration=12, shots=SHOTS)).json
    assert multi["multi_shot"] is True and multi["shot_type"] == "customize"
    assert multi["multi_prompt"] == [
        {"index": 1, "prompt": SHOTS[0]["prompt"], "duration": "4"},
        {"index": 2, "prompt": SHOTS[1]["prompt"], "duration": "8"},
    ]


def test_kling_turbo_is_the_path_addressed_family() -> None:
    gw = get_gateway("kling")
    request = v3(model="kling-3.0-turbo", duration=12, tier="pro", client_reference="r1")
    http = submit_body(gw, request)
    assert (http.method, http.path) == ("POST", "/text-to-video/kling-3.0-turbo")
    assert http.json == {
        "prompt": "a red fox in snow",
        "settings": {"resolution": "1080p", "aspect_ratio": "16:9", "duration": 12},
        "options": {"external_task_id": "r1"},
    }
    image = submit_body(gw, v3(model="kling-3.0-turbo", start_image="https://i/a.png"))
    assert image.path == "/image-to-video/kling-3.0-turbo"
    assert image.json == {  # the prompt is a contents item on image-to-video (GATEWAYS.md 1.9)
        "contents": [
            {"type": "prompt", "text": "a red fox in snow"},
            {"type": "first_frame", "url": "https://i/a.png"},
        ],
        "settings": {"resolution": "720p", "duration": 5},
    }
    poll = gw.build_status("t9", "text-to-video/kling-3.0-turbo")
    assert (poll.method, poll.path, poll.params) == ("GET", "/tasks", {"task_ids": "t9"})
    assert gw.build_lookup(request) is None  # no published query by external id on that family


def test_rivya_body() -> None:
    http = submit_body(get_gateway("rivya"), v3(duration=12, sound=True, tier="std"))
    assert http.json["model"] == "kling-3-0"
    assert http.json["params"] == {"mode": "std", "duration": "12", "sound": "true", "aspect_ratio": "16:9"}


def test_runware_body() -> None:
    gw = get_gateway("runware")
    task = submit_body(gw, v3(duration=12, sound=True, tier="pro", shots=SHOTS)).json[0]
    assert task["model"] == "klingai:kling-video@3-pro"
    assert task["duration"] == 12 and isinstance(task["duration"], int)
    assert (task["width"], task["height"]) == (1920, 1080)
    assert task["providerSettings"] == {
        "klingai": {
            "sound": True,
            "multiPrompt": [{"prompt": s["prompt"], "duration": s["duration"]} for s in SHOTS],
        }
    }
    assert submit_body(gw, v3(tier="4k")).json[0]["model"] == "klingai:kling-video@3-4k"
    turbo = submit_body(gw, v3(model="kling-3.0-turbo", duration=8)).json[0]
    assert turbo["model"] == "klingai:kling-video@3.0-turbo" and "providerSettings" not in turbo


def test_apixo_body_and_status_route() -> None:
    gw = get_gateway("apixo")
    http = submit_body(gw, v3(duration=12, sound=True))
    assert http.path == "/api/v1/generateTask/kling-3-0-std"
    assert http.json["input"] == {
        "mode": "text-to-video",
        "prompt": "a red fox in snow",
        "duration": 12,
        "sound": True,
        "aspect_ratio": "16:9",
    }
    turbo = submit_body(gw, v3(model="kling-3.0-turbo", tier="pro"))
    assert turbo.path == "/api/v1/generateTask/kling-3-0-turbo"
    assert turbo.json["input"]["resolution"] == "1080p" and "sound" not in turbo.json["input"]
    assert gw.build_status("t1", "kling-3-0-std").path == "/api/v1/statusTask/kling-3-0-std"
    assert gw.build_status("t1").path == "/api/v1/statusTask/kling-2-6"


def test_apimart_body() -> None:
    gw = get_gateway("apimart")
    body = submit_body(gw, v3(duration=12, sound=True, tier="4k", shots=SHOTS)).json
    assert (body["model"], body["mode"], body["duration"], body["audio"]) == ("kling-v3", "4k", 12, True)
    assert body["multi_shot"] is True and body["shot_type"] == "customize"
    assert body["multi_prompt"][1] == {"index": 2, "prompt": SHOTS[1]["prompt"], "duration": 8}
    turbo = submit_body(gw, v3(model="kling-3.0-turbo", start_image="https://i/a.png")).json
    assert turbo == {
        "model": "kling-3.0-turbo",
        "prompt": "a red fox in snow",
        "first_frame_image": "https://i/a.png",
        "resolution": "720p",
        "duration": 5,
    }


def test_kie_body() -> None:
    body = submit_body(get_gateway("kie"), v3(duration=12, sound=True, tier="pro", shots=SHOTS)).json
    assert body["model"] == "kling-3.0/video"
    inp = body["input"]
    assert (inp["duration"], inp["mode"], inp["sound"], inp["multi_shots"]) == ("12", "pro", True, True)
    assert inp["multi_prompt"] == [{"prompt": s["prompt"], "duration": s["duration"]} for s in SHOTS]
    assert get_gateway("kie").build_submit(v3()).json["input"]["multi_shots"] is False


# ===================================================================== prices
@pytest.mark.parametrize(
    ("gateway", "fields", "amount", "unit"),
    [
        # MODELS.md, "Prices for the estimate tables"
        ("runware", {"duration": 12, "sound": True}, 0.126 * 12, "USD"),
        ("runware", {"duration": 10, "tier": "pro"}, 0.112 * 10, "USD"),
        ("runware", {"duration": 10, "tier": "pro", "sound": True}, 0.168 * 10, "USD"),
        ("kling", {"duration": 5}, 0.084 * 5, "USD"),
        ("kling", {"duration": 10, "tier": "4k"}, 0.42 * 10, "USD"),
        ("rivya", {"duration": 15, "sound": True}, 90.0, "credits"),
        ("apimart", {"duration": 10}, 0.0672 * 10, "USD"),
        ("apimart", {"duration": 10, "tier": "pro", "sound": True}, 0.112 * 10, "USD"),
    ],
)
def test_estimate_cost_for_3_0_matches_the_published_prices(
    monkeypatch: pytest.MonkeyPatch, gateway: str, fields: dict[str, Any], amount: float, unit: str
) -> None:
    hook, _ = make_hook(monkeypatch, gateway)
    est = hook.estimate_cost(v3(**fields))
    assert est is not None
    assert est.amount == pytest.approx(amount) and est.unit == unit
    assert "3.0" in est.basis


@pytest.mark.parametrize("gateway", ["apixo", "kie"])
def test_no_3_0_price_is_none_with_the_reason(monkeypatch: pytest.MonkeyPatch, gateway: str) -> None:
    hook, _ = make_hook(monkeypatch, gateway)
    quote = hook.quote(v3(duration=12))
    assert quote.estimate is None and "publishes no Kling 3.0 price" in quote.reason


def test_3_0_costs_more_than_2_6_where_both_are_priced(monkeypatch: pytest.MonkeyPatch) -> None:
    hook, _ = make_hook(monkeypatch, "rivya")
    old, new = hook.estimate_cost(VideoRequest(prompt="pp")), hook.estimate_cost(v3())
    assert old is not None and new is not None and new.amount > old.amount


def test_connection_prices_apply_to_the_connection_model_only(monkeypatch: pytest.MonkeyPatch) -> None:
    prices = {"unit": "credits", "per_seconds": None, "rates": {"clip": 40}, "basis": "our contract"}
    hook, _ = make_hook(monkeypatch, "rivya", prices=prices)
    ours = hook.estimate_cost(VideoRequest(prompt="pp"))
    assert ours is not None and ours.amount == 40
    published = hook.estimate_cost(v3())
    assert published is not None and published.amount == 90
    hook, _ = make_hook(monkeypatch, "rivya", model="kling-3.0", prices=prices)
    default = hook.estimate_cost(VideoRequest(prompt="pp"))
    assert default is not None and default.amount == 40 and hook.gateway.model == "kling-3-0"
