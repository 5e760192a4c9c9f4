"""Every fault kind, injected with prompt markers, answered in the gateway's own format."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from tests.emulator.bodies import KIE


def kling_body(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model_name": "kling-v2-6", "prompt": prompt, "duration": "5", **extra}


def kie_body(prompt: str) -> dict[str, Any]:
    return {**KIE, "input": {**KIE["input"], "prompt": prompt}}


# -- transport faults ----------------------------------------------------------------------------
def test_429_with_retry_after_then_success(client: httpx.Client, kit: Any) -> None:
    prompt = "rate limited twice [fault:429x2]"
    for _ in range(2):
        r = kit.apixo_submit(client, prompt)
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"
        assert r.json()["code"] == 429
    assert kit.apixo_submit(client, prompt).status_code == 200
    counters = client.get("/_emulator/counters").json()
    assert counters["submits"]["apixo"] == 1
    assert counters["rejected"]["apixo"] == 2


def test_kling_429_and_5xx_envelopes(client: httpx.Client, kit: Any) -> None:
    h = kit.kling_headers()
    expected = {
        "429": (429, 1302),
        "500": (500, 5000),
        "502": (502, 5000),
        "503": (503, 5001),
        "504": (504, 5002),
    }
    for kind, (status, code) in expected.items():
        r = client.post("/v1/videos/text2video", json=kling_body(f"kling fault [fault:{kind}]"), headers=h)
        assert r.status_code == status, (kind, r.text)
        body = r.json()
        assert body["code"] == code
        assert body["data"] is None
        assert body["request_id"]
    assert client.get("/_emulator/counters").json()["submits"]["kling"] == 0


@pytest.mark.parametrize("kind", ["500", "502", "503", "504"])
def test_apixo_5xx_envelopes(client: httpx.Client, kit: Any, kind: str) -> None:
    r = kit.apixo_submit(client, f"apixo fault [fault:{kind}]")
    assert r.status_code == int(kind)
    assert r.json()["code"] == int(kind)
    assert r.json()["message"]


def test_slow(client: httpx.Client, kit: Any, emulator: Any) -> None:
    started = time.monotonic()
    r = client.post(
        "/v1/videos/generations",
        json={"model": "kling-v2-6", "prompt": "slow [fault:slowx1]"},
        headers=kit.BEARER,
    )
    elapsed = time.monotonic() - started
    assert r.status_code == 200
    assert elapsed >= emulator.config.slow_seconds * 0.9


def test_malformed(client: httpx.Client, kit: Any) -> None:
    body = kie_body("broken [fault:malformed]")
    r = client.post("/api/v1/jobs/createTask", json=body, headers=kit.BEARER)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(r.text)


def test_html(client: httpx.Client, kit: Any) -> None:
    task = kit.runware_task("lb page [fault:html]")
    r = client.post("/v1", json=[task], headers=kit.BEARER)
    assert r.status_code == 502
    assert r.headers["content-type"].startswith("text/html")
    assert "<html>" in r.text


# -- business faults at submit -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kind", "kling", "apixo"), [("policy", (400, 1301), 403), ("credits", (429, 1102), 402)]
)
def test_business_faults_at_submit_official_and_apixo(
    client: httpx.Client, kit: Any, kind: str, kling: tuple[int, int], apixo: int
) -> None:
    prompt = f"refused [fault:{kind}]"
    r = client.post("/v1/videos/text2video", json=kling_body(prompt), headers=kit.kling_headers())
    assert (r.status_code, r.json()["code"]) == kling
    r = kit.apixo_submit(client, prompt)
    assert (r.status_code, r.json()["code"]) == (apixo, apixo)


def test_policy_at_submit(client: httpx.Client, kit: Any) -> None:
    task = kit.runware_task("bad [fault:policy]")
    r = client.post("/v1", json=[task], headers=kit.BEARER)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == "contentPolicyViolation"


def test_credits(client: httpx.Client, kit: Any) -> None:
    rivya = {"model": "kling-2-6", "prompt": "poor [fault:credits]"}
    r = client.post("/api/v1/generations", json=rivya, headers=kit.BEARER)
    assert r.status_code == 402
    assert r.json()["error"]["code"] == "insufficient_credits"
    kie = kie_body("poor [fault:credits]")
    r = client.post("/api/v1/jobs/createTask", json=kie, headers=kit.BEARER)
    assert r.status_code == 402
    assert r.json()["code"] == 402


# -- job faults ----------------------------------------------------------------------------------
def test_policy_task_and_fail(client: httpx.Client, kit: Any) -> None:
    h = kit.kling_headers()
    task_id = client.post(
        "/v1/videos/text2video", json=kling_body("risky [fault:policy-task]"), headers=h
    ).json()["data"]["task_id"]
    done = kit.poll(
        lambda: client.get(f"/v1/videos/text2video/{task_id}", headers=h).json()["data"],
        lambda d: d["task_status"] in ("succeed", "failed"),
    )
    assert done["task_status"] == "failed"
    assert "risk" in done["task_status_msg"]
    assert "task_result" not in done

    ids = {
        kind: kit.apixo_submit(client, f"job [fault:{kind}]").json()["data"]["taskId"]
        for kind in ("policy-task", "fail")
    }
    results = {
        kind: kit.poll(
            lambda t=tid: kit.apixo_status(client, t).json(),
            lambda e: e["data"]["state"] in ("success", "failed"),
        )
        for kind, tid in ids.items()
    }
    assert results["policy-task"]["code"] == 200
    assert results["policy-task"]["data"]["failCode"] == "SensitiveContentDetected"
    assert results["fail"]["data"]["state"] == "failed"
    assert results["fail"]["data"]["failMsg"]

    task = kit.runware_task("risky [fault:policy-task]")
    task_uuid = task["taskUUID"]
    assert client.post("/v1", json=[task], headers=kit.BEARER).status_code == 200
    failed = kit.poll(
        lambda: client.post(
            "/v1", json=[{"taskType": "getResponse", "taskUUID": task_uuid}], headers=kit.BEARER
        ),
        lambda r: "errors" in r.json(),
    )
    assert failed.status_code == 200
    assert failed.json()["errors"][0] == {
        "code": "contentPolicyViolation",
        "message": failed.json()["errors"][0]["message"],
        "taskType": "videoInference",
        "taskUUID": task_uuid,
    }


def test_fail_x1_then_success(client: httpx.Client, kit: Any) -> None:
    body = {"model": "kling-v2-6", "prompt": "flaky [fault:failx1] [latency:0]"}
    first = client.post("/v1/videos/generations", json=body, headers=kit.BEARER).json()["data"][0]["task_id"]
    second = client.post("/v1/videos/generations", json=body, headers=kit.BEARER).json()["data"][0]["task_id"]
    one = client.get(f"/v1/tasks/{first}", headers=kit.BEARER).json()["data"]
    two = client.get(f"/v1/tasks/{second}", headers=kit.BEARER).json()["data"]
    assert one["status"] == "failed"
    assert one["error"]["code"] == "generation_failed"
    assert two["status"] == "completed"


# -- status faults -------------------------------------------------------------------------------
def test_status_503_x2(client: httpx.Client, kit: Any) -> None:
    task_id = kit.apixo_submit(client, "poll trouble [fault:status-503x2] [latency:0]").json()["data"][
        "taskId"
    ]
    assert [kit.apixo_status(client, task_id).status_code for _ in range(3)] == [503, 503, 200]
    assert kit.apixo_status(client, task_id).json()["data"]["state"] == "success"
    assert client.get("/_emulator/counters").json()["status_calls"]["apixo"] == 4


def test_status_malformed_on_kie(client: httpx.Client, kit: Any) -> None:
    body = kie_body("[fault:status-malformedx1]")
    task_id = client.post("/api/v1/jobs/createTask", json=body, headers=kit.BEARER).json()["data"]["taskId"]
    first = client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=kit.BEARER)
    with pytest.raises(json.JSONDecodeError):
        first.json()
    assert (
        client.get("/api/v1/jobs/recordInfo", params={"taskId": task_id}, headers=kit.BEARER).json()["code"]
        == 200
    )


def test_lost_response_creates_the_job(client: httpx.Client, kit: Any) -> None:
    h = {**kit.BEARER, "Idempotency-Key": "lost-1"}
    body = {"model": "kling-2-6", "prompt": "lost answer [fault:lostx1]"}
    first = client.post("/api/v1/generations", json=body, headers=h)
    assert first.status_code == 504
    assert first.json()["error"]["code"] == "upstream_timeout"
    retry = client.post("/api/v1/generations", json=body, headers=h)
    assert retry.status_code == 200
    assert retry.headers["idempotent-replayed"] == "true"
    counters = client.get("/_emulator/counters").json()
    assert counters["submits"]["rivya"] == 1
    assert counters["dedup_hits"]["rivya"] == 1


def test_unknown_marker_is_a_validation_error(client: httpx.Client, kit: Any) -> None:
    r = kit.apixo_submit(client, "[fault:explode]")
    assert r.status_code == 400
    assert "explode" in r.json()["message"]
