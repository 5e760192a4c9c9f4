"""Jobs render on after the client gave up, are billed under each gateway's documented rule
(``GET /_emulator/billing``), and the official API lists them."""

from __future__ import annotations

from typing import Any

import httpx

T2V = "/v1/videos/text2video"


def billing(client: httpx.Client, **params: Any) -> dict[str, Any]:
    return dict(client.get("/_emulator/billing", params=params).json())


def kling_submit(client: httpx.Client, kit: Any, prompt: str, external: str | None = None) -> str:
    body: dict[str, Any] = {"model_name": "kling-v2-6", "prompt": prompt, "duration": "5", "mode": "pro"}
    if external:
        body["external_task_id"] = external
    return str(client.post(T2V, json=body, headers=kit.kling_headers()).json()["data"]["task_id"])


def apixo_submit(client: httpx.Client, kit: Any, prompt: str) -> str:
    body = {
        "request_type": "async",
        "input": {
            "mode": "text-to-video",
            "prompt": prompt,
            "duration": 5,
            "sound": False,
            "aspect_ratio": "16:9",
        },
    }
    r = client.post("/api/v1/generateTask/kling-2-6", json=body, headers=kit.BEARER)
    return str(r.json()["data"]["taskId"])


def test_a_job_nobody_polls_finishes_and_is_billed(client: httpx.Client, kit: Any) -> None:
    task_id = kling_submit(client, kit, "nobody waits [latency:2]")
    line = billing(client)["jobs"][0]
    # not billed before it ends; queued or already running, as a loaded machine may read it late
    assert (line["task_id"], line["billed"], line["amount"]) == (task_id, None, None)
    assert line["phase"] in ("queued", "running")
    done = kit.poll(lambda: billing(client)["jobs"][0], lambda job: job["phase"] == "succeeded")
    assert (done["billed"], done["amount"], done["unit"]) == (True, 2.5, "units")
    assert client.get(f"/_emulator/jobs/{task_id}").json()["status_calls"] == 0  # nobody asked
    assert billing(client)["totals"] == {"kling": {"units": 2.5}}


def test_failed_jobs_follow_each_gateways_rule(client: httpx.Client, kit: Any) -> None:
    kling_submit(client, kit, "broken [fault:fail][latency:0]")
    apixo_submit(client, kit, "broken [fault:fail][latency:0]")
    lines = kit.poll(
        lambda: billing(client)["jobs"], lambda jobs: all(job["phase"] == "failed" for job in jobs)
    )
    by_gateway = {line["gateway"]: line for line in lines}
    assert (by_gateway["kling"]["billed"], by_gateway["kling"]["amount"]) == (False, 0.0)  # not charged
    # APIXO's documents are silent about failures: the emulator charges the worst case, $0.06/s
    assert (by_gateway["apixo"]["billed"], by_gateway["apixo"]["amount"]) == (True, 0.3)
    assert billing(client, gateway="apixo")["totals"] == {"apixo": {"USD": 0.3}}


def test_the_official_api_lists_its_tasks_with_their_external_ids(client: httpx.Client, kit: Any) -> None:
    first = kling_submit(client, kit, "one [latency:0]", external="af-one-g0")
    second = kling_submit(client, kit, "two [latency:0]")
    r = client.get(T2V, params={"pageNum": 1, "pageSize": 30}, headers=kit.kling_headers())
    listed = {task["task_id"]: task for task in r.json()["data"]}
    assert set(listed) == {first, second}
    assert listed[first]["task_info"] == {"external_task_id": "af-one-g0"}
