"""Prices, costs and balances as each gateway reports them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer

T2V = "/v1/videos/text2video"


def kling_submit(client: httpx.Client, kit: Any, prompt: str, **extra: Any) -> httpx.Response:
    body = {"model_name": "kling-v2-6", "prompt": prompt, "duration": "5", **extra}
    return client.post(T2V, json=body, headers=kit.kling_headers())


def kling_task(client: httpx.Client, kit: Any, task_id: str) -> dict[str, Any]:
    return dict(client.get(f"{T2V}/{task_id}", headers=kit.kling_headers()).json()["data"])


def costs(client: httpx.Client, kit: Any, **params: Any) -> httpx.Response:
    query = {"start_time": 0, "end_time": int(time.time() * 1000), **params}
    return client.get("/account/costs", params=query, headers=kit.kling_headers())


def costs_when_allowed(client: httpx.Client, kit: Any, **params: Any) -> httpx.Response:
    """The account query allows one call per second: retry the 429s until the deadline."""
    return kit.poll(lambda: costs(client, kit, **params), lambda r: r.status_code != 429)  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("extra", "units"),
    [
        ({"mode": "std"}, "1.5"),
        ({"mode": "pro"}, "2.5"),
        ({"mode": "pro", "sound": "on"}, "5"),
        ({"mode": "std", "duration": "10"}, "3"),
        ({"mode": "pro", "sound": "on", "duration": "10"}, "10"),
    ],
)
def test_kling_final_unit_deduction(
    client: httpx.Client, kit: Any, extra: dict[str, Any], units: str
) -> None:
    task_id = kling_submit(client, kit, "priced [latency:0]", **extra).json()["data"]["task_id"]
    task = kit.poll(lambda: kling_task(client, kit, task_id), lambda t: t["task_status"] == "succeed")
    assert task["final_unit_deduction"] == units


def test_kling_failed_task_deducts_nothing(client: httpx.Client, kit: Any) -> None:
    task_id = kling_submit(client, kit, "broken [fault:fail][latency:0]").json()["data"]["task_id"]
    task = kit.poll(lambda: kling_task(client, kit, task_id), lambda t: t["task_status"] == "failed")
    assert task["final_unit_deduction"] == "0"


def test_kling_account_costs(client: httpx.Client, kit: Any) -> None:
    before = costs_when_allowed(client, kit)
    assert before.status_code == 200, before.text
    body = before.json()
    assert set(body) == {"code", "message", "request_id", "data"}
    assert body["code"] == 0
    assert body["data"]["code"] == 0
    (pack,) = body["data"]["resource_pack_subscribe_infos"]
    assert set(pack) == {
        "resource_pack_name",
        "resource_pack_id",
        "resource_pack_type",
        "total_quantity",
        "remaining_quantity",
        "purchase_time",
        "effective_time",
        "invalid_time",
        "status",
    }
    assert pack["resource_pack_type"] == "decreasing_total"
    assert pack["status"] == "online"
    assert pack["total_quantity"] == pack["remaining_quantity"] == 10_000.0
    assert pack["effective_time"] < pack["invalid_time"]

    done = kling_submit(client, kit, "spend [latency:0]", mode="pro", sound="on").json()["data"]["task_id"]
    kling_submit(client, kit, "refunded [fault:fail][latency:0]", mode="pro")
    kit.poll(lambda: kling_task(client, kit, done), lambda t: t["task_status"] == "succeed")
    after = costs_when_allowed(client, kit).json()["data"]["resource_pack_subscribe_infos"][0]
    assert after["remaining_quantity"] == 10_000.0 - 5
    assert after["resource_pack_id"] == pack["resource_pack_id"]

    named = costs_when_allowed(client, kit, resource_pack_name="no such pack").json()
    assert named["data"]["resource_pack_subscribe_infos"] == []


def test_kling_account_costs_rate_and_params(client: httpx.Client, kit: Any) -> None:
    assert costs_when_allowed(client, kit).status_code == 200
    throttled = costs(client, kit)
    assert throttled.status_code == 429
    assert throttled.json()["code"] == 1302
    assert int(throttled.headers["retry-after"]) >= 1
    missing = kit.poll(
        lambda: client.get("/account/costs", params={"start_time": 0}, headers=kit.kling_headers()),
        lambda r: r.status_code != 429,
    )
    assert (missing.status_code, missing.json()["code"]) == (400, 1201)
    assert "end_time" in missing.json()["message"]
    assert client.get("/account/costs", params={"start_time": 0, "end_time": 1}).status_code == 401


def test_rivya_credits_reserved_and_refunded(client: httpx.Client, kit: Any) -> None:
    def wallet() -> int:
        return int(client.get("/api/v1/credits", headers=kit.BEARER).json()["current_credits"])

    start = wallet()
    ok = client.post(
        "/api/v1/generations", json={"model": "kling-2-6", "prompt": "a [latency:0.2]"}, headers=kit.BEARER
    )
    bad = client.post(
        "/api/v1/generations",
        json={"model": "kling-2-6", "prompt": "b [fault:fail][latency:0.2]"},
        headers=kit.BEARER,
    )
    assert ok.json()["reserved_credits"] == bad.json()["reserved_credits"] == 55
    assert ok.json()["final_credits"] == 0
    assert wallet() == start - 110  # both reserved while in flight
    get = client.get
    kit.poll(
        lambda: get(f"/api/v1/generations/{bad.json()['id']}", headers=kit.BEARER).json(),
        lambda t: t["status"] == "failed",
    )
    done = kit.poll(
        lambda: get(f"/api/v1/generations/{ok.json()['id']}", headers=kit.BEARER).json(),
        lambda t: t["status"] == "succeeded",
    )
    assert done["final_credits"] == 55
    assert wallet() == start - 55  # the failed task was refunded
    assert client.get("/api/v1/credits", headers={"Authorization": "Bearer other-key"}).json() == {
        "current_credits": start
    }


def test_runware_cost_only_when_asked(client: httpx.Client, kit: Any) -> None:
    def run(include: bool | None, model: str, sound: bool) -> dict[str, Any]:
        task = kit.runware_task(
            "cost check [latency:0]", model, duration=10, providerSettings={"klingai": {"sound": sound}}
        )
        if include is not None:
            task["includeCost"] = include
        assert client.post("/v1", json=[task], headers=kit.BEARER).status_code == 200
        ask = [{"taskType": "getResponse", "taskUUID": task["taskUUID"]}]
        body = kit.poll(lambda: client.post("/v1", json=ask, headers=kit.BEARER).json(), lambda b: b["data"])
        return dict(body["data"][0])

    assert run(True, "klingai:kling-video@2.6-pro", True)["cost"] == pytest.approx(1.40)
    assert run(True, "klingai:kling-video@2.6-standard", False)["cost"] == pytest.approx(0.42)
    assert "cost" not in run(False, "klingai:kling-video@2.6-pro", False)
    assert "cost" not in run(None, "klingai:kling-video@2.6-pro", False)


def test_apixo_reports_no_cost(client: httpx.Client, kit: Any) -> None:
    task_id = kit.apixo_submit(client, "x [latency:0]", sound=True).json()["data"]["taskId"]
    data = kit.apixo_status(client, task_id).json()["data"]
    assert data["state"] == "success"
    assert not any("cost" in key.lower() and key != "costTime" for key in data)


def test_balance_refuses_what_the_account_cannot_cover(tmp_path: Path, kit: Any) -> None:
    config = EmulatorConfig(latency=0.2, fps=8, cache_dir=tmp_path, balance=100)
    with EmulatorServer(config) as server, httpx.Client(base_url=server.url, trust_env=False) as c:
        rivya = {"model": "kling-2-6", "prompt": "paid"}
        assert c.post("/api/v1/generations", json=rivya, headers=kit.BEARER).status_code == 200
        poor = c.post("/api/v1/generations", json=rivya, headers=kit.BEARER)
        assert poor.status_code == 402
        assert poor.json()["error"]["code"] == "insufficient_credits"
        assert c.get("/api/v1/credits", headers=kit.BEARER).json() == {"current_credits": 45}

        big = {"model_name": "kling-v2-6", "prompt": "pro", "mode": "pro", "sound": "on", "duration": "10"}
        for _ in range(10):  # 10 units each: the pack of 100 covers ten
            assert c.post(T2V, json=big, headers=kit.kling_headers()).status_code == 200
        depleted = c.post(T2V, json=big, headers=kit.kling_headers())
        assert (depleted.status_code, depleted.json()["code"]) == (429, 1102)
        assert len(c.get("/_emulator/jobs", params={"gateway": "kling"}).json()) == 10
        assert server.counters()["refused"]["kling"] == 0  # a balance refusal is not a limit refusal

        def pack() -> Any:
            r = c.get("/account/costs", params={"start_time": 0, "end_time": 1}, headers=kit.kling_headers())
            return r.json()["data"]["resource_pack_subscribe_infos"][0] if r.status_code == 200 else None

        last = kit.poll(pack, lambda p: p is not None and p["remaining_quantity"] == 0)
        assert (last["total_quantity"], last["status"]) == (100.0, "runOut")
