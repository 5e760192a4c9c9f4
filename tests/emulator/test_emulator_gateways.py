"""Happy path of every gateway: submit, watch the states move, fetch and inspect the MP4."""

from __future__ import annotations

import json
from typing import Any

import httpx


def test_kling_text2video(client: httpx.Client, kit: Any) -> None:
    body = {
        "model_name": "kling-v2-6",
        "prompt": "A golden cat running on a sunlit meadow",
        "negative_prompt": "",
        "duration": "10",
        "mode": "pro",
        "sound": "on",
        "aspect_ratio": "9:16",
        "callback_url": "",
        "external_task_id": "ext-t2v-1",
    }
    r = client.post("/v1/videos/text2video", json=body, headers=kit.kling_headers())
    assert r.status_code == 200, r.text
    env = r.json()
    assert env["code"] == 0
    assert env["message"] == "SUCCEED"
    assert env["request_id"]
    data = env["data"]
    assert data["task_status"] == "submitted"
    assert data["task_info"] == {"external_task_id": "ext-t2v-1"}
    task_id = data["task_id"]
    assert task_id.isdigit()

    done, seen = kit.watch(
        lambda: client.get(f"/v1/videos/text2video/{task_id}", headers=kit.kling_headers()),
        "task_status",
        ("succeed", "failed"),
    )
    assert done["task_status"] == "succeed"
    assert seen >= {"processing", "succeed"}
    video = done["task_result"]["videos"][0]
    assert video["duration"] == "10.0"
    assert done["task_status_msg"] == ""
    assert done["updated_at"] >= done["created_at"]

    # the external id finds the same task, in the same family only
    by_ext = client.get("/v1/videos/text2video/ext-t2v-1", headers=kit.kling_headers()).json()["data"]
    assert by_ext["task_id"] == task_id
    wrong_family = client.get(f"/v1/videos/image2video/{task_id}", headers=kit.kling_headers())
    assert wrong_family.status_code == 404
    assert wrong_family.json()["code"] == 1203

    # the list endpoint (connection test) shows it
    listed = client.get("/v1/videos/text2video?pageNum=1&pageSize=30", headers=kit.kling_headers())
    assert listed.status_code == 200
    assert listed.json()["data"][0]["task_id"] == task_id

    kit.check_video(client, video["url"], duration=10, aspect="9:16", sound=True)


def test_kling_image2video_base64_and_url(client: httpx.Client, kit: Any) -> None:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (400, 300), (10, 120, 200)).save(buf, format="PNG")
    image_b64 = base64.b64encode(buf.getvalue()).decode()
    body = {
        "model_name": "kling-v2-6",
        "prompt": "The lake ripples",
        "image": image_b64,
        "image_tail": "https://example.com/last.jpg",
        "mode": "pro",
        "sound": "off",
        "duration": "5",
        "aspect_ratio": "1:1",
    }
    r = client.post("/v1/videos/image2video", json=body, headers=kit.kling_headers())
    assert r.status_code == 200, r.text
    task_id = r.json()["data"]["task_id"]
    done = kit.poll(
        lambda: client.get(f"/v1/videos/image2video/{task_id}", headers=kit.kling_headers()).json()["data"],
        lambda d: d["task_status"] in ("succeed", "failed"),
    )
    assert done["task_status"] == "succeed"
    kit.check_video(client, done["task_result"]["videos"][0]["url"], duration=5, aspect="1:1", sound=False)


def test_rivya_with_uploaded_reference(client: httpx.Client, kit: Any) -> None:
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    up = client.post(
        "/api/v1/files",
        headers=kit.BEARER,
        files={"file": ("ref.png", png, "image/png")},
        data={"kind": "image"},
    )
    assert up.status_code == 200, up.text
    file_info = up.json()
    assert file_info["id"].startswith("file_")
    assert file_info["kind"] == "image"
    assert file_info["mimeType"] == "image/png"
    assert file_info["size"] == len(png)
    served = client.get(file_info["url"])
    assert served.status_code == 200
    assert served.content == png

    body = {
        "model": "kling-2-6",
        "prompt": "A cinematic product reveal with smooth camera movement",
        "params": {
            "duration": "5",
            "sound": "false",
            "aspect_ratio": "16:9",
            "referenceMediaItems": [
                {"url": file_info["url"], "kind": "image", "name": "ref.png", "mimeType": "image/png"}
            ],
        },
        "client_request_id": "trace-1",
    }
    r = client.post("/api/v1/generations", json=body, headers={**kit.BEARER, "Idempotency-Key": "idem-1"})
    assert r.status_code == 200, r.text
    task = r.json()
    assert task["status"] == "queued"
    assert task["model"] == "kling-2-6"
    assert task["reserved_credits"] == 55
    assert task["final_credits"] == 0
    assert task["result"] is None
    assert task["error"] is None
    assert task["created_at"].endswith("Z")

    done = kit.poll(
        lambda: client.get(f"/api/v1/generations/{task['id']}", headers=kit.BEARER).json(),
        lambda t: t["status"] in ("succeeded", "failed"),
    )
    assert done["status"] == "succeeded"
    assert done["result"]["urls"] == [done["result"]["primary_url"]]
    assert done["final_credits"] == 55
    kit.check_video(client, done["result"]["primary_url"], duration=5, aspect="16:9", sound=False)

    credits = client.get("/api/v1/credits", headers=kit.BEARER)
    assert credits.status_code == 200
    assert isinstance(credits.json()["current_credits"], int)


def test_runware(client: httpx.Client, kit: Any) -> None:
    assert client.post("/v1", json=[{"taskType": "ping", "ping": True}], headers=kit.BEARER).json() == {
        "data": [{"taskType": "ping", "pong": True}]
    }
    task_uuid = kit.new_uuid()
    task = {
        "taskType": "videoInference",
        "taskUUID": task_uuid,
        "model": "klingai:kling-video@2.6-pro",
        "positivePrompt": "A drone shot over a misty forest",
        "negativePrompt": "blurry",
        "duration": 10,
        "width": 1920,
        "height": 1080,
        "deliveryMethod": "async",
        "outputType": "URL",
        "outputFormat": "MP4",
        "includeCost": True,
        "inputs": {"frameImages": [{"image": "https://example.com/first.jpg", "frame": "first"}]},
        "providerSettings": {"klingai": {"sound": True}},
    }
    r = client.post("/v1", json=[task], headers=kit.BEARER)
    assert r.status_code == 200, r.text
    assert r.json() == {"data": [{"taskType": "videoInference", "taskUUID": task_uuid}]}

    def fetch() -> dict[str, Any]:
        resp = client.post(
            "/v1", json=[{"taskType": "getResponse", "taskUUID": task_uuid}], headers=kit.BEARER
        )
        assert resp.status_code == 200, resp.text
        payload: dict[str, Any] = resp.json()
        return payload

    seen = [kit.poll(fetch, lambda p: True)]
    done = kit.poll(
        fetch, lambda p: bool(p.get("errors")) or any(i.get("status") == "success" for i in p["data"])
    )
    seen.append(done)
    item = done["data"][0]
    assert item["status"] == "success"
    assert item["taskUUID"] == task_uuid
    assert item["taskType"] == "videoInference"
    assert isinstance(item["cost"], float)
    assert isinstance(item["seed"], int)
    assert item["videoUUID"] in item["videoURL"]
    kit.check_video(client, item["videoURL"], duration=10, aspect="16:9", sound=True)


def test_apixo(client: httpx.Client, kit: Any) -> None:
    body = {
        "request_type": "async",
        "input": {
            "mode": "text-to-video",
            "prompt": "a rainy neon street at night",
            "duration": 5,
            "sound": True,
            "aspect_ratio": "1:1",
            "negative_prompt": "blur",
            "cfg_scale": 0.6,
        },
    }
    r = client.post("/api/v1/generateTask/kling-2-6", json=body, headers=kit.BEARER)
    assert r.status_code == 200, r.text
    env = r.json()
    assert env["code"] == 200
    assert env["message"] == "success"
    task_id = env["data"]["taskId"]
    done, states = kit.watch(lambda: kit.apixo_status(client, task_id), "state", ("success", "failed"))
    assert done["state"] == "success"
    assert states >= {"processing", "success"}
    assert isinstance(done["resultJson"], str)
    urls = json.loads(done["resultJson"])["resultUrls"]
    assert done["completeTime"] >= done["createTime"]
    assert done["costTime"] >= 0
    kit.check_video(client, urls[0], duration=5, aspect="1:1", sound=True)


def test_apimart(client: httpx.Client, kit: Any) -> None:
    body = {
        "model": "kling-v2-6",
        "prompt": "A golden cat running on a sunlit meadow, slow motion",
        "mode": "pro",
        "duration": 5,
        "aspect_ratio": "16:9",
        "negative_prompt": "blurry",
        "image_urls": ["https://example.com/first.jpg"],
        "audio": True,
        "watermark": False,
    }
    r = client.post("/v1/videos/generations", json=body, headers=kit.BEARER)
    assert r.status_code == 200, r.text
    env = r.json()
    assert env["code"] == 200
    assert env["data"][0]["status"] == "submitted"
    task_id = env["data"][0]["task_id"]
    assert task_id.startswith("task_01")
    done = kit.poll(
        lambda: client.get(f"/v1/tasks/{task_id}", params={"language": "en"}, headers=kit.BEARER).json()[
            "data"
        ],
        lambda d: d["status"] in ("completed", "failed", "cancelled"),
    )
    assert done["status"] == "completed"
    assert done["progress"] == 100
    video = done["result"]["videos"][0]
    assert isinstance(video["url"], list)
    assert video["expires_at"] > done["created"]
    kit.check_video(client, video["url"][0], duration=5, aspect="16:9", sound=True)


def test_kie(client: httpx.Client, kit: Any) -> None:
    body = {
        "model": "kling-2.6/text-to-video",
        "callBackUrl": "https://your-domain.com/api/callback",
        "input": {
            "prompt": "A fashion live-streaming sales setting",
            "sound": False,
            "aspect_ratio": "9:16",
            "duration": "10",
        },
    }
    r = client.post("/api/v1/jobs/createTask", json=body, headers=kit.BEARER)
    assert r.status_code == 200, r.text
    env = r.json()
    assert env == {"code": 200, "msg": "success", "data": {"taskId": env["data"]["taskId"]}}
    task_id = env["data"]["taskId"]
    assert task_id.startswith("task_kling-2.6_")
    done = kit.poll(
        lambda: client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=kit.BEARER).json(),
        lambda e: e["data"]["state"] in ("success", "fail"),
    )
    assert done["code"] == 200
    assert done["message"] == "success"
    data = done["data"]
    assert data["state"] == "success"
    assert data["model"] == "kling-2.6/text-to-video"
    assert json.loads(data["param"]) == body
    urls = json.loads(data["resultJson"])["resultUrls"]
    assert data["failCode"] == ""
    assert data["completeTime"] >= data["createTime"]
    kit.check_video(client, urls[0], duration=10, aspect="9:16", sound=False)


def test_kie_image_to_video(client: httpx.Client, kit: Any) -> None:
    body = {
        "model": "kling-2.6/image-to-video",
        "input": {
            "prompt": "animate",
            "image_urls": ["https://example.com/a.png"],
            "sound": True,
            "duration": "5",
        },
    }
    r = client.post("/api/v1/jobs/createTask", json=body, headers=kit.BEARER)
    assert r.status_code == 200, r.text
    bad = {**body, "input": {**body["input"], "aspect_ratio": "1:1"}}
    r = client.post("/api/v1/jobs/createTask", json=bad, headers=kit.BEARER)
    assert r.status_code == 422
    assert r.json()["code"] == 422


def test_video_not_ready_is_404(client: httpx.Client, kit: Any) -> None:
    task_id = kit.apixo_submit(client, "slow [latency:30]").json()["data"]["taskId"]
    status = kit.apixo_status(client, task_id).json()
    assert status["data"]["state"] in ("pending", "processing")
    assert client.get(f"/_emulator/videos/{task_id}.mp4").status_code == 404
