"""Each gateway's Kling 3.0 dialect: what its documents accept is accepted, the rest refused, and
2.6 requests do not gain 3.0 features (4K, 3-15 s, multi-shot) on the way."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.emulator.bodies import APIXO, KIE, RIVYA

SHOTS = [{"prompt": "close-up", "duration": 4}, {"prompt": "wide shot", "duration": 8}]
KLING_V3 = {"model_name": "kling-v3", "prompt": "a cat", "duration": "12", "mode": "4k", "sound": "on"}
KLING_SHOTS = {
    **KLING_V3,
    "multi_shot": True,
    "shot_type": "customize",
    "multi_prompt": [
        {"index": i, "prompt": s["prompt"], "duration": str(s["duration"])} for i, s in enumerate(SHOTS, 1)
    ],
}
TURBO = {"prompt": "a cat", "settings": {"resolution": "1080p", "aspect_ratio": "16:9", "duration": 8}}
#: GATEWAYS.md 1.9: image-to-video carries the prompt and the frames (as URLs) in ``contents``
TURBO_I2V = {
    "contents": [{"type": "prompt", "text": "a cat"}, {"type": "first_frame", "url": "https://i/cat.png"}],
    "settings": {"resolution": "720p", "duration": 5},
    "options": {"external_task_id": "turbo-i2v-1"},
}
TURBO_I2V_PATH = "/image-to-video/kling-3.0-turbo"
TURBO_FRAME = TURBO_I2V["contents"][1]
RIVYA_V3 = {**RIVYA, "model": "kling-3-0", "params": {"mode": "std", "duration": "12", "sound": "true"}}
APIXO_V3 = {**APIXO, "input": {**APIXO["input"], "duration": 12, "sound": True}}
APIMART_V3 = {"model": "kling-v3", "prompt": "a cat", "mode": "4k", "duration": 12, "audio": True}
APIMART_SHOTS = {
    **APIMART_V3,
    "multi_shot": True,
    "shot_type": "customize",
    "multi_prompt": [{"index": i, **s} for i, s in enumerate(SHOTS, 1)],
}
KIE_V3 = {
    "model": "kling-3.0/video",
    "input": {"prompt": "a cat", "duration": "12", "mode": "pro", "sound": True},
}
KIE_SHOTS = {
    "model": "kling-3.0/video",
    "input": {"prompt": "a cat", "duration": "12", "multi_shots": True, "multi_prompt": SHOTS},
}
APIXO_TURBO = {
    "request_type": "async",
    "input": {"mode": "text-to-video", "prompt": "p", "duration": 9, "resolution": "720p"},
}
KIE_26 = {**KIE, "input": {**KIE["input"], "prompt": "p", "duration": "12"}}


def runware(kit: Any, model: str = "klingai:kling-video@3-pro", **fields: Any) -> list[dict[str, Any]]:
    task = {
        "taskType": "videoInference",
        "taskUUID": kit.new_uuid(),
        "model": model,
        "positivePrompt": "a cat",
    }
    return [{**task, "duration": 12, **fields}]


FAL = {"Authorization": "Key fal-test-key"}
FAL_V3 = {"prompt": "a cat", "duration": "12", "generate_audio": True}
FAL_V4 = {"prompt": "a cat", "duration": 24, "resolution": "720p", "aspect_ratio": "21:9"}
REPLICATE_V3 = {"input": {"prompt": "a cat", "duration": 12, "mode": "pro", "generate_audio": True}}


def post(client: httpx.Client, kit: Any, gateway: str, body: Any, path: str = "") -> httpx.Response:
    routes = {
        "kling": ("/v1/videos/text2video", kit.kling_headers()),
        "rivya": ("/api/v1/generations", kit.BEARER),
        "runware": ("/v1", kit.BEARER),
        "apixo": ("/api/v1/generateTask/kling-3-0-std", kit.BEARER),
        "apimart": ("/v1/videos/generations", kit.BEARER),
        "kie": ("/api/v1/jobs/createTask", kit.BEARER),
        "fal": ("/fal-ai/kling-video/v3/pro/text-to-video", FAL),
        "replicate": ("/v1/models/kwaivgi/kling-v3-video/predictions", kit.BEARER),
    }
    route, headers = routes[gateway]
    return client.post(path or route, json=body, headers=headers)


def accepted(r: httpx.Response) -> bool:
    body = r.json()
    return r.status_code in (200, 201) and not (
        isinstance(body, dict) and (body.get("errors") or body.get("error"))
    )


@pytest.mark.parametrize(
    ("gateway", "body", "path"),
    [
        ("kling", KLING_V3, ""),
        ("kling", KLING_SHOTS, ""),
        ("kling", TURBO, "/text-to-video/kling-3.0-turbo"),
        ("kling", {**TURBO_I2V, "options": {}}, TURBO_I2V_PATH),
        ("kling", {"contents": [TURBO_FRAME]}, TURBO_I2V_PATH),  # the prompt item is optional
        ("rivya", RIVYA_V3, ""),
        ("apixo", APIXO_V3, ""),
        ("apixo", APIXO_TURBO, "/api/v1/generateTask/kling-3-0-turbo"),
        ("apimart", APIMART_SHOTS, ""),
        ("apimart", {"model": "kling-3.0-turbo", "prompt": "a cat", "resolution": "720p", "duration": 3}, ""),
        ("kie", KIE_V3, ""),
        ("kie", KIE_SHOTS, ""),
        ("fal", FAL_V3, ""),
        ("fal", FAL_V3, "/fal-ai/kling-video/v3/standard/text-to-video"),
        ("fal", FAL_V4, "/kling/v4/text-to-video"),
        ("replicate", REPLICATE_V3, ""),
    ],
)
def test_documented_3_0_requests_are_accepted(
    client: httpx.Client, kit: Any, gateway: str, body: Any, path: str
) -> None:
    r = post(client, kit, gateway, body, path)
    assert accepted(r), r.text


def test_runware_3_0_tiers_and_multi_prompt(client: httpx.Client, kit: Any) -> None:
    shots = {"providerSettings": {"klingai": {"sound": True, "multiPrompt": SHOTS}}}
    for model in ("klingai:kling-video@3-standard", "klingai:kling-video@3-pro", "klingai:kling-video@3-4k"):
        assert accepted(post(client, kit, "runware", runware(kit, model, **shots))), model
    refused = post(client, kit, "runware", runware(kit, "klingai:kling-video@2.6-pro", duration=5, **shots))
    assert refused.status_code == 400 and refused.json()["errors"][0]["code"] == "unsupportedParameter"
    wrong_sum = runware(kit, duration=10, **shots)
    assert post(client, kit, "runware", wrong_sum).json()["errors"][0]["code"] == "invalidMultiPrompt"
    turbo = runware(kit, "klingai:kling-video@3.0-turbo", providerSettings={"klingai": {"sound": True}})
    assert post(client, kit, "runware", turbo).status_code == 400


@pytest.mark.parametrize(
    ("gateway", "body", "path"),
    [
        # 3.0 rules
        ("kling", {**KLING_V3, "duration": "16"}, ""),
        ("kling", {**KLING_SHOTS, "multi_prompt": KLING_SHOTS["multi_prompt"][:1]}, ""),  # sums to 4, not 12
        (
            "kling",
            {**TURBO, "settings": {**TURBO["settings"], "audio": "native"}},
            "/text-to-video/kling-3.0-turbo",
        ),
        (
            "kling",
            {**TURBO, "settings": {**TURBO["settings"], "resolution": "4k"}},
            "/text-to-video/kling-3.0-turbo",
        ),
        # the path route's image-to-video (GATEWAYS.md 1.9)
        ("kling", {**TURBO_I2V, "prompt": "a cat"}, TURBO_I2V_PATH),  # no top-level prompt there
        ("kling", {**TURBO, "contents": TURBO_I2V["contents"]}, "/text-to-video/kling-3.0-turbo"),
        ("kling", {"contents": [{"type": "prompt", "text": "a cat"}]}, TURBO_I2V_PATH),  # no frame
        ("kling", {"contents": [{"type": "first_frame", "image": "https://i/cat.png"}]}, TURBO_I2V_PATH),
        ("kling", {"contents": [{"type": "first_frame", "url": "iVBORw0KGgo="}]}, TURBO_I2V_PATH),  # base64
        (
            "kling",
            {"contents": [{"type": "first_frame", "url": "data:image/png;base64,QUJD"}]},
            TURBO_I2V_PATH,
        ),
        ("kling", {"contents": [{"type": "first_frame", "url": 7}]}, TURBO_I2V_PATH),
        (
            "kling",
            {"contents": [TURBO_FRAME, {"type": "last_frame", "url": "https://i/b.png"}]},
            TURBO_I2V_PATH,
        ),
        ("kling", {"contents": [TURBO_FRAME, TURBO_FRAME]}, TURBO_I2V_PATH),
        ("kling", {"contents": [TURBO_FRAME], "settings": {"audio": "off"}}, TURBO_I2V_PATH),
        ("rivya", {**RIVYA_V3, "params": {**RIVYA_V3["params"], "mode": "4k"}}, ""),
        ("rivya", {**RIVYA_V3, "params": {**RIVYA_V3["params"], "duration": "16"}}, ""),
        ("apixo", {**APIXO_V3, "input": {**APIXO_V3["input"], "negative_prompt": "blur"}}, ""),
        ("apixo", {**APIXO_V3, "input": {**APIXO_V3["input"], "multi_shots": True}}, ""),
        ("apimart", {**APIMART_V3, "duration": 16}, ""),
        ("apimart", {"model": "kling-3.0-turbo", "prompt": "a cat", "audio": True}, ""),
        ("kie", {**KIE_V3, "input": {**KIE_V3["input"], "mode": "4k"}}, ""),
        ("kie", {**KIE_SHOTS, "input": {**KIE_SHOTS["input"], "duration": "10"}}, ""),
        ("fal", {**FAL_V3, "duration": "16"}, ""),
        ("fal", {**FAL_V3, "duration": 12}, ""),  # a string on 3.0
        ("fal", {**FAL_V4, "duration": 31}, "/kling/v4/text-to-video"),
        ("fal", {**FAL_V4, "generate_audio": False}, "/kling/v4/text-to-video"),  # audio always on
        ("replicate", {"input": {**REPLICATE_V3["input"], "duration": 16}}, ""),
        ("replicate", {"input": {**REPLICATE_V3["input"], "mode": "4k"}}, ""),
        # 2.6 does not gain 3.0 features
        ("kling", {**KLING_V3, "model_name": "kling-v2-6", "duration": "5"}, ""),  # 4k
        ("rivya", {**RIVYA_V3, "model": "kling-2-6", "params": {"duration": "5", "mode": "pro"}}, ""),
        ("apixo", APIXO_V3, "/api/v1/generateTask/kling-2-6"),  # 12 s
        ("apimart", {**APIMART_SHOTS, "model": "kling-v2-6", "mode": "pro", "duration": 12}, ""),
        ("kie", KIE_26, ""),
        ("fal", FAL_V3, "/fal-ai/kling-video/v2.6/pro/text-to-video"),  # 12 s
        ("replicate", REPLICATE_V3, "/v1/models/kwaivgi/kling-v2.6/predictions"),  # mode, 12 s
    ],
)
def test_undocumented_fields_and_values_are_refused(
    client: httpx.Client, kit: Any, gateway: str, body: Any, path: str
) -> None:
    r = post(client, kit, gateway, body, path)
    assert not accepted(r), r.text
    assert r.status_code in (400, 404, 422) or (gateway == "kie" and r.json()["code"] == 422)


def test_a_3_0_job_answers_on_its_own_route_only(client: httpx.Client, kit: Any) -> None:
    task_id = post(client, kit, "apixo", APIXO_V3).json()["data"]["taskId"]
    own = client.get("/api/v1/statusTask/kling-3-0-std", params={"taskId": task_id}, headers=kit.BEARER)
    assert own.status_code == 200 and own.json()["data"]["taskId"] == task_id
    other = client.get("/api/v1/statusTask/kling-2-6", params={"taskId": task_id}, headers=kit.BEARER)
    assert other.status_code == 404
    ack = post(client, kit, "kling", TURBO, "/text-to-video/kling-3.0-turbo").json()["data"]
    turbo = client.get("/tasks", params={"task_ids": ack["id"]}, headers=kit.kling_headers())
    assert turbo.status_code == 200 and [item["id"] for item in turbo.json()["data"]] == [ack["id"]]
    assert client.get(f"/v1/videos/text2video/{ack['id']}", headers=kit.kling_headers()).status_code == 404
    gone = client.get(f"/text-to-video/kling-3.0-turbo/{ack['id']}", headers=kit.kling_headers())
    assert gone.status_code == 404  # the invented per-route status path is gone


def test_turbo_image_to_video_is_polled_with_a_task_ids_query(client: httpx.Client, kit: Any) -> None:
    """GATEWAYS.md 1.9: ``GET /tasks?task_ids=<id>`` answers ``data[]`` items with ``outputs``."""
    ack = post(client, kit, "kling", TURBO_I2V, TURBO_I2V_PATH)
    assert accepted(ack), ack.text
    task_id = ack.json()["data"]["id"]

    def poll() -> dict[str, Any]:
        r = client.get("/tasks", params={"task_ids": task_id}, headers=kit.kling_headers())
        assert r.status_code == 200 and r.json()["code"] == 0, r.text
        (item,) = r.json()["data"]
        return dict(item)

    done = kit.poll(poll, lambda item: item["status"] in ("succeeded", "failed"))
    assert done["status"] == "succeeded" and done["external_id"] == "turbo-i2v-1"
    assert set(done) == {"id", "status", "message", "create_time", "update_time", "external_id", "outputs"}
    (video,) = done["outputs"]
    assert set(video) == {"type", "url", "id", "duration", "watermark_url"} and video["type"] == "video"
    kit.check_video(client, video["url"], 5, "16:9", False)
    unknown = client.get("/tasks", params={"task_ids": "404404"}, headers=kit.kling_headers())
    assert unknown.status_code == 200 and unknown.json()["data"] == []
    both = client.get("/tasks", params={"task_ids": f"404404,{task_id}"}, headers=kit.kling_headers())
    assert [item["id"] for item in both.json()["data"]] == [task_id]
    assert client.get("/tasks", headers=kit.kling_headers()).json()["code"] == 1201  # task_ids required
    assert client.get("/tasks", params={"task_ids": task_id}).status_code == 401  # Bearer auth as on /v1


def test_a_multi_shot_clip_is_cut_into_its_shots(client: httpx.Client, kit: Any) -> None:
    task_id = post(client, kit, "apimart", APIMART_SHOTS).json()["data"][0]["task_id"]
    done = kit.poll(
        lambda: client.get(f"/v1/tasks/{task_id}", headers=kit.BEARER).json()["data"],
        lambda data: data["status"] == "completed",
    )
    url = done["result"]["videos"][0]["url"][0]
    info = kit.check_video(client, url, 12, "16:9", True)
    assert info["duration"] == pytest.approx(12, abs=0.3)
