"""fal's queue and Replicate's predictions on the emulator: happy paths, strictness, the queue over
the account limit, cancel (and what it costs), and Replicate's one-hour retention."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from airflow_provider_kling.emulator import EmulatorServer

FAL = {"Authorization": "Key fal-test-key"}
REPLICATE = {"Authorization": "Bearer r8_test"}
V3 = "/fal-ai/kling-video/v3/pro/text-to-video"


def job(client: httpx.Client, task_id: str) -> dict[str, Any]:
    r = client.get(f"/_emulator/jobs/{task_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


# ===================================================================== fal
def test_fal_kling_3_text_to_video(client: httpx.Client, kit: Any) -> None:
    body = {"prompt": "a paper boat on a rain gutter", "duration": "7", "aspect_ratio": "9:16"}
    r = client.post(V3, json={**body, "generate_audio": False}, headers=FAL)
    assert r.status_code == 200, r.text
    sub = r.json()
    rid = sub["request_id"]
    assert set(sub) == {"request_id", "response_url", "status_url", "cancel_url"}
    # the URLs name the app, never the subpath
    assert sub["status_url"].endswith(f"/fal-ai/kling-video/requests/{rid}/status")
    assert sub["cancel_url"].endswith(f"/fal-ai/kling-video/requests/{rid}/cancel")
    early = client.get(f"/fal-ai/kling-video/requests/{rid}", headers=FAL)
    assert early.status_code == 400
    done = kit.poll(
        lambda: client.get(f"/fal-ai/kling-video/requests/{rid}/status", headers=FAL).json(),
        lambda s: s["status"] == "COMPLETED",
    )
    assert "error" not in done
    result = client.get(f"/fal-ai/kling-video/requests/{rid}", headers=FAL)
    assert result.status_code == 200, result.text
    kit.check_video(client, result.json()["video"]["url"], duration=7, aspect="9:16", sound=False)
    assert job(client, rid)["billed"] is True


def test_fal_kling_4_is_30_seconds_21_9_with_audio(client: httpx.Client, kit: Any) -> None:
    body = {"prompt": "a desert convoy at dusk", "duration": 20, "aspect_ratio": "21:9", "resolution": "720p"}
    r = client.post("/kling/v4/text-to-video", json=body, headers=FAL)
    assert r.status_code == 200, r.text
    rid = r.json()["request_id"]
    assert r.json()["response_url"].endswith(f"/kling/v4/requests/{rid}")
    kit.poll(
        lambda: client.get(f"/kling/v4/requests/{rid}/status", headers=FAL).json(),
        lambda s: s["status"] == "COMPLETED",
    )
    url = client.get(f"/kling/v4/requests/{rid}", headers=FAL).json()["video"]["url"]
    kit.check_video(client, url, duration=20, aspect="21:9", sound=True)


@pytest.mark.parametrize(
    ("path", "body", "word"),
    [
        (V3, {"prompt": "x", "duration": 7}, "duration"),  # a string on 3.0
        (V3, {"prompt": "x", "duration": "16"}, "duration"),
        (V3, {"prompt": "x", "sound": True}, "sound"),  # not a fal field
        ("/kling/v4/text-to-video", {"prompt": "x", "duration": "5"}, "duration"),  # an integer on 4.0
        ("/kling/v4/text-to-video", {"prompt": "x", "generate_audio": False}, "generate_audio"),
        ("/fal-ai/kling-video/v2.6/pro/text-to-video", {"prompt": "x", "duration": "7"}, "duration"),
        # 2.6's image-to-video lists no cfg_scale (its text-to-video does)
        (
            "/fal-ai/kling-video/v2.6/pro/image-to-video",
            {"prompt": "x", "start_image_url": "https://a/1.png", "cfg_scale": 0.5},
            "cfg_scale",
        ),
    ],
)
def test_fal_is_strict(client: httpx.Client, path: str, body: dict[str, Any], word: str) -> None:
    r = client.post(path, json=body, headers=FAL)
    assert r.status_code == 422, r.text
    assert word in str(r.json()["detail"])


def test_fal_wants_its_key_scheme_and_a_known_model(client: httpx.Client) -> None:
    assert client.post(V3, json={"prompt": "x"}, headers={"Authorization": "Bearer k"}).status_code == 401
    assert client.post(V3, json={"prompt": "x"}).status_code == 401
    r = client.post("/fal-ai/kling-video/v9/pro/text-to-video", json={"prompt": "x"}, headers=FAL)
    assert r.status_code == 404


def test_fal_queues_over_the_limit_and_cancel_removes_a_queued_request(
    client: httpx.Client, kit: Any, limits: Callable[..., Any]
) -> None:
    limits(concurrency=1, latency=3.0)
    first = client.post(V3, json={"prompt": "one"}, headers=FAL)
    second = client.post(V3, json={"prompt": "two"}, headers=FAL)
    third = client.post(V3, json={"prompt": "three"}, headers=FAL)
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]  # queued, never refused
    ids = [r.json()["request_id"] for r in (first, second, third)]
    statuses = [client.get(f"/fal-ai/kling-video/requests/{i}/status", headers=FAL).json() for i in ids]
    assert statuses[1]["status"] == statuses[2]["status"] == "IN_QUEUE"
    assert statuses[2]["queue_position"] == statuses[1]["queue_position"] + 1
    assert job(client, ids[2])["queue_delay"] > job(client, ids[1])["queue_delay"] > 0
    r = client.put(f"/fal-ai/kling-video/requests/{ids[2]}/cancel", headers=FAL)
    assert (r.status_code, r.json()) == (202, {"status": "CANCELLATION_REQUESTED"})
    described = job(client, ids[2])
    assert (described["phase"], described["cancel"], described["billed"]) == ("cancelled", "removed", False)
    status = client.get(f"/fal-ai/kling-video/requests/{ids[2]}/status", headers=FAL).json()
    assert status["status"] == "CANCELED"
    charges = {line["task_id"]: line for line in client.get("/_emulator/billing").json()["jobs"]}
    assert (charges[ids[2]]["phase"], charges[ids[2]]["billed"], charges[ids[2]]["amount"]) == (
        "cancelled",
        False,
        0.0,
    )
    counters = client.get("/_emulator/counters").json()
    assert counters["refused"]["fal"] == 0


def test_fal_cancel_in_progress_is_a_signal_only(
    client: httpx.Client, kit: Any, limits: Callable[..., Any]
) -> None:
    limits(latency=1.5)
    rid = client.post(V3, json={"prompt": "busy"}, headers=FAL).json()["request_id"]
    kit.poll(lambda: job(client, rid), lambda j: j["phase"] == "running")
    r = client.put(f"/fal-ai/kling-video/requests/{rid}/cancel", headers=FAL)
    assert r.status_code == 202
    assert job(client, rid)["cancel"] == "signal"
    done = kit.poll(lambda: job(client, rid), lambda j: j["phase"] != "running")
    assert (done["phase"], done["billed"]) == ("succeeded", True)
    late = client.put(f"/fal-ai/kling-video/requests/{rid}/cancel", headers=FAL)
    assert (late.status_code, late.json()) == (400, {"status": "ALREADY_COMPLETED"})
    gone = client.put("/fal-ai/kling-video/requests/no-such-id/cancel", headers=FAL)
    assert (gone.status_code, gone.json()) == (404, {"status": "NOT_FOUND"})


# ===================================================================== Replicate
def test_replicate_kling_3(client: httpx.Client, kit: Any) -> None:
    body = {"input": {"prompt": "a lighthouse in fog", "duration": 6, "mode": "pro", "generate_audio": True}}
    r = client.post("/v1/models/kwaivgi/kling-v3-video/predictions", json=body, headers=REPLICATE)
    assert r.status_code == 201, r.text
    pred = r.json()
    assert pred["status"] == "starting"
    assert pred["urls"]["get"].endswith(f"/v1/predictions/{pred['id']}")
    done = kit.poll(
        lambda: client.get(f"/v1/predictions/{pred['id']}", headers=REPLICATE).json(),
        lambda p: p["status"] in ("succeeded", "failed", "canceled"),
    )
    assert done["status"] == "succeeded"
    assert done["completed_at"] and done["data_removed"] is False
    kit.check_video(client, done["output"], duration=6, aspect="16:9", sound=True)


@pytest.mark.parametrize(
    ("model", "inp"),
    [
        ("kling-v3-video", {"prompt": "x", "duration": "5"}),
        ("kling-v3-video", {"prompt": "x", "duration": 16}),
        ("kling-v3-video", {"prompt": "x", "mode": "4k"}),
        ("kling-v2.6", {"prompt": "x", "duration": 7}),
        ("kling-v2.6", {"prompt": "x", "mode": "pro"}),
    ],
)
def test_replicate_is_strict(client: httpx.Client, model: str, inp: dict[str, Any]) -> None:
    r = client.post(f"/v1/models/kwaivgi/{model}/predictions", json={"input": inp}, headers=REPLICATE)
    assert r.status_code == 422, r.text
    assert r.json()["title"] == "Input validation failed"


def test_replicate_cancel_stops_a_running_prediction_unbilled(
    client: httpx.Client, kit: Any, limits: Callable[..., Any]
) -> None:
    limits(latency=5.0)
    pid = client.post(
        "/v1/models/kwaivgi/kling-v2.6/predictions", json={"input": {"prompt": "p"}}, headers=REPLICATE
    ).json()["id"]
    r = client.post(f"/v1/predictions/{pid}/cancel", headers=REPLICATE)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "canceled"
    described = job(client, pid)
    assert (described["phase"], described["billed"]) == ("cancelled", False)
    assert client.get(f"/v1/predictions/{pid}", headers=REPLICATE).json()["status"] == "canceled"
    (line,) = client.get("/_emulator/billing", params={"gateway": "replicate"}).json()["jobs"]
    assert (line["task_id"], line["billed"], line["amount"]) == (pid, False, 0.0)


def test_replicate_throttles_creations(client: httpx.Client) -> None:
    """600 creations a minute: a bucket of 10, back at 10 a second. What the machine's speed allows
    is measured, not assumed: never more accepted than the bucket plus its refill over the burst."""
    from concurrent.futures import ThreadPoolExecutor

    def create(_: int) -> httpx.Response:
        return client.post(
            "/v1/models/kwaivgi/kling-v2.6/predictions", json={"input": {"prompt": "p"}}, headers=REPLICATE
        )

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(create, range(40)))
    elapsed = time.monotonic() - started
    accepted = sum(r.status_code == 201 for r in answers)
    refused = [r for r in answers if r.status_code == 429]
    assert accepted + len(refused) == 40
    assert 10 <= accepted <= 10 + 10 * elapsed + 1
    assert refused and all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert refused[0].json()["title"] == "Request was throttled"


def test_replicate_deletes_outputs_after_an_hour(
    client: httpx.Client, kit: Any, emulator: EmulatorServer, limits: Callable[..., Any]
) -> None:
    limits(latency=0.1)
    pid = client.post(
        "/v1/models/kwaivgi/kling-v2.6/predictions", json={"input": {"prompt": "p"}}, headers=REPLICATE
    ).json()["id"]
    done = kit.poll(
        lambda: client.get(f"/v1/predictions/{pid}", headers=REPLICATE).json(),
        lambda p: p["status"] == "succeeded",
    )
    url = done["output"]
    stored = emulator.app.state.emulator.store.lookup_any(pid)
    stored.created -= 3601  # an hour later
    late = client.get(f"/v1/predictions/{pid}", headers=REPLICATE).json()
    assert (late["output"], late["data_removed"]) == (None, True)
    assert client.get(url).status_code == 404
