"""Account limits: concurrency and rate per key, each gateway's refusal, counters, latency spread."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_kling.emulator.__main__ import build_parser
from airflow_provider_kling.emulator.limits import Limits
from airflow_provider_kling.gateways import GATEWAY_NAMES

LONG = "[latency:30]"  # holds its slot for the whole test
FAL = {"Authorization": "Key fal-test-key"}


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorServer]:
    config = EmulatorConfig(latency=0.5, fps=8, cache_dir=tmp_path_factory.mktemp("emulator-cache"))
    with EmulatorServer(config) as server:
        yield server


def submit(
    client: httpx.Client, kit: Any, gateway: str, prompt: str, ref: str | None = None
) -> httpx.Response:
    """One minimal valid submit of ``gateway``; ``ref`` is the client reference where there is one."""
    b = kit.BEARER
    if gateway == "kling":
        body: Any = {"model_name": "kling-v2-6", "prompt": prompt, "duration": "5"}
        if ref:
            body["external_task_id"] = ref
        return client.post("/v1/videos/text2video", json=body, headers=kit.kling_headers())
    if gateway == "rivya":
        headers = {**b, "Idempotency-Key": ref} if ref else b
        return client.post(
            "/api/v1/generations", json={"model": "kling-2-6", "prompt": prompt}, headers=headers
        )
    if gateway == "runware":
        task = kit.runware_task(prompt, **({"taskUUID": ref} if ref else {}))
        return client.post("/v1", json=[task], headers=b)
    if gateway == "apixo":
        body = {"request_type": "async", "input": {"mode": "text-to-video", "prompt": prompt, "sound": False}}
        return client.post("/api/v1/generateTask/kling-2-6", json=body, headers=b)
    if gateway == "apimart":
        return client.post(
            "/v1/videos/generations", json={"model": "kling-v2-6", "prompt": prompt}, headers=b
        )
    if gateway == "fal":
        body = {"prompt": prompt, "duration": "5"}
        return client.post("/fal-ai/kling-video/v2.6/pro/text-to-video", json=body, headers=FAL)
    if gateway == "replicate":
        body = {"input": {"prompt": prompt, "duration": 5}}
        return client.post("/v1/models/kwaivgi/kling-v2.6/predictions", json=body, headers=b)
    assert gateway == "kie"
    body = {
        "model": "kling-2.6/text-to-video",
        "input": {"prompt": prompt, "sound": False, "aspect_ratio": "16:9", "duration": "5"},
    }
    return client.post("/api/v1/jobs/createTask", json=body, headers=b)


def check_refusal(gateway: str, r: httpx.Response, kind: str) -> None:
    """The gateway's documented 429 envelope, code by code."""
    assert r.status_code == 429, r.text
    assert int(r.headers["retry-after"]) >= 1
    body = r.json()
    if gateway == "kling":
        assert set(body) == {"code", "message", "request_id", "data"}
        assert body["code"] == (1303 if kind == "concurrency" else 1302)
        assert body["data"] is None
        assert ("parallel task over resource pack limit" in body["message"]) == (kind == "concurrency")
    elif gateway == "rivya":
        assert set(body) == {"error"}
        assert body["error"]["code"] == "rate_limited"
        assert body["error"]["requestId"].startswith("req_")
    elif gateway == "runware":
        (item,) = body["errors"]
        assert "data" not in body
        assert item["code"] == "rateLimitExceeded"
        assert item["taskType"] == "videoInference"
        assert item["taskUUID"]
    elif gateway == "apixo":
        assert body["code"] == 429
        assert body["data"] is None
        assert set(body) == {"code", "message", "data"}
    elif gateway == "apimart":
        assert body["code"] == 429
        assert body["error"]["type"] == "rate_limit_error"
    elif gateway == "replicate":
        assert body["status"] == 429 and body["title"] == "Request was throttled" and body["detail"]
    else:
        assert body == {"code": 429, "msg": body["msg"], "data": None}


def counters(client: httpx.Client) -> dict[str, Any]:
    return dict(client.get("/_emulator/counters").json())


#: Gateways that queue a submit over the account's concurrency limit instead of refusing it.
QUEUEING = ("fal",)
#: The HTTP status of an accepted submit, where it is not 200.
CREATED = {"replicate": 201}


@pytest.mark.parametrize("gateway", [g for g in GATEWAY_NAMES if g not in QUEUEING])
def test_capacity_refusal_creates_no_job(
    client: httpx.Client, kit: Any, limits: Callable[..., Any], gateway: str
) -> None:
    limits(concurrency=1)
    first = submit(client, kit, gateway, f"first {LONG}")
    assert first.status_code == CREATED.get(gateway, 200), first.text
    refused = submit(client, kit, gateway, f"second {LONG}")
    check_refusal(gateway, refused, "concurrency")
    assert 1 <= int(refused.headers["retry-after"]) <= 30
    assert len(client.get("/_emulator/jobs", params={"gateway": gateway}).json()) == 1
    c = counters(client)
    assert (c["accepted"][gateway], c["refused"][gateway]) == (1, 1)
    assert (c["in_flight"][gateway], c["peak_in_flight"][gateway]) == (1, 1)
    assert c["submits"][gateway] == 1
    assert c["rejected"][gateway] == 1


@pytest.mark.parametrize("gateway", QUEUEING)
def test_a_queueing_gateway_queues_over_capacity_and_refuses_nothing(
    client: httpx.Client, kit: Any, limits: Callable[..., Any], gateway: str
) -> None:
    limits(concurrency=1)
    first = submit(client, kit, gateway, f"first {LONG}")
    second = submit(client, kit, gateway, f"second {LONG}")
    assert (first.status_code, second.status_code) == (200, 200), second.text
    jobs = {j["task_id"]: j for j in client.get("/_emulator/jobs", params={"gateway": gateway}).json()}
    assert len(jobs) == 2
    assert jobs[second.json()["request_id"]]["queue_delay"] > 0
    c = counters(client)
    assert (c["accepted"][gateway], c["refused"][gateway], c["rejected"][gateway]) == (2, 0, 0)


def test_concurrency_is_per_key_and_per_gateway(
    client: httpx.Client, kit: Any, limits: Callable[..., Any]
) -> None:
    limits(concurrency=1)
    body = {"model": "kling-v2-6", "prompt": f"a {LONG}"}
    for key in ("key-one", "key-two"):
        r = client.post("/v1/videos/generations", json=body, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text
    assert submit(client, kit, "apixo", f"other gateway {LONG}").status_code == 200
    c = counters(client)
    assert c["in_flight"]["apimart"] == c["peak_in_flight"]["apimart"] == 2
    assert c["refused"]["apimart"] == 0


@pytest.mark.parametrize("gateway", ["kling", "rivya", "apixo"])
def test_rate_refusal(client: httpx.Client, kit: Any, limits: Callable[..., Any], gateway: str) -> None:
    limits(rate=0.5)  # one token, back after 2 s
    assert submit(client, kit, gateway, "first").status_code == 200
    refused = submit(client, kit, gateway, "second")
    check_refusal(gateway, refused, "rate")
    assert int(refused.headers["retry-after"]) == 2
    c = counters(client)
    assert (c["accepted"][gateway], c["refused"][gateway]) == (1, 1)
    assert len(client.get("/_emulator/jobs", params={"gateway": gateway}).json()) == 1


def test_rate_allows_a_burst_of_rate_then_refills(
    client: httpx.Client, kit: Any, limits: Callable[..., Any]
) -> None:
    limits(rate=3)
    codes = [submit(client, kit, "apimart", f"burst {i}").status_code for i in range(4)]
    assert codes == [200, 200, 200, 429]
    kit.poll(lambda: submit(client, kit, "apimart", "after refill").status_code, lambda s: s == 200)
    assert counters(client)["accepted"]["apimart"] == 4


def test_kie_refusal_inside_http_200(tmp_path: Any, kit: Any) -> None:
    config = EmulatorConfig(latency=5, fps=8, cache_dir=tmp_path, kie_errors_http_200=True, concurrency=1)
    with EmulatorServer(config) as server, httpx.Client(base_url=server.url, trust_env=False) as c:
        assert submit(c, kit, "kie", "first").json()["code"] == 200
        refused = submit(c, kit, "kie", "second")
        assert refused.status_code == 200
        assert refused.json()["code"] == 429
        assert refused.json()["data"] is None
        assert server.counters()["refused"]["kie"] == 1


def test_slot_freed_when_the_job_ends(client: httpx.Client, kit: Any, limits: Callable[..., Any]) -> None:
    limits(concurrency=1)
    first = submit(client, kit, "apixo", "short [latency:0.4]")
    assert first.status_code == 200
    assert submit(client, kit, "apixo", "while busy").status_code == 429
    # nobody polls the first job: it leaves the in-flight count when its latency has elapsed
    kit.poll(lambda: submit(client, kit, "apixo", "after [latency:0.4]").status_code, lambda s: s == 200)
    c = counters(client)
    assert c["accepted"]["apixo"] == 2
    assert c["refused"]["apixo"] >= 1
    assert c["peak_in_flight"]["apixo"] == 1
    assert c["status_calls"]["apixo"] == 0
    kit.poll(lambda: counters(client)["in_flight"]["apixo"], lambda n: n == 0)


def test_duplicate_gives_its_slot_back(client: httpx.Client, kit: Any, limits: Callable[..., Any]) -> None:
    limits(concurrency=2)
    assert submit(client, kit, "kling", f"one {LONG}", ref="dup-1").status_code == 200
    duplicate = submit(client, kit, "kling", f"one {LONG}", ref="dup-1")
    assert duplicate.json()["code"] == 1201
    assert submit(client, kit, "kling", f"two {LONG}", ref="dup-2").status_code == 200
    c = counters(client)
    assert (c["accepted"]["kling"], c["in_flight"]["kling"], c["refused"]["kling"]) == (2, 2, 0)


@pytest.mark.parametrize("gateway", ["kling", "rivya", "runware"])
def test_each_client_reference_accepted_once(
    client: httpx.Client, kit: Any, limits: Callable[..., Any], gateway: str
) -> None:
    """A client that resends refused submits until accepted ends with each reference once."""
    limits(concurrency=2)
    refs = [kit.new_uuid() for _ in range(5)]
    for i, ref in enumerate(refs):
        kit.poll(
            lambda i=i, ref=ref: submit(client, kit, gateway, f"clip {i} [latency:0.3]", ref=ref).status_code,
            lambda s: s == 200,
        )
    jobs = client.get("/_emulator/jobs", params={"gateway": gateway}).json()
    assert sorted(j["client_id"] for j in jobs) == sorted(refs)
    c = counters(client)
    assert c["submits_by_client_id"][gateway] == dict.fromkeys(refs, 1)
    assert c["accepted"][gateway] == 5
    assert c["refused"][gateway] >= 1
    assert c["peak_in_flight"][gateway] == 2


def test_limits_control_api(client: httpx.Client, kit: Any, limits: Callable[..., Any]) -> None:
    assert client.get("/_emulator/limits").json() == {
        "concurrency": 0,
        "rate": 0.0,
        "latency": 0.5,
        "latency_jitter": 0.0,
    }
    assert limits(concurrency=3, latency=0.25) == {
        "concurrency": 3,
        "rate": 0.0,
        "latency": 0.25,
        "latency_jitter": 0.0,
    }
    assert client.get("/_emulator/config").json()["concurrency"] == 3
    submit(client, kit, "apimart", "uses the new latency")
    (job,) = client.get("/_emulator/jobs", params={"gateway": "apimart"}).json()
    assert job["latency"] == 0.25
    for bad in (
        {"concurrency": -1},
        {"rate": "fast"},
        {"concurrency": 1.5},
        {"burst": 2},
        {"latency_jitter": 2},
    ):
        r = client.post("/_emulator/limits", json=bad)
        assert r.status_code == 400, bad
        assert "error" in r.json()
    assert client.post("/_emulator/limits", content=b"[1]").status_code == 400
    assert client.get("/_emulator/limits").json()["concurrency"] == 3  # bad requests changed nothing


def test_server_limits_helper(emulator: EmulatorServer, limits: Callable[..., Any]) -> None:
    assert emulator.limits()["rate"] == 0.0
    assert emulator.limits(rate=4, latency_jitter=0.1)["rate"] == 4.0
    assert emulator.limits() == {"concurrency": 0, "rate": 4.0, "latency": 0.5, "latency_jitter": 0.1}


def test_reset_clears_limit_counters_not_limits(
    client: httpx.Client, kit: Any, limits: Callable[..., Any]
) -> None:
    limits(concurrency=1)
    submit(client, kit, "apixo", f"a {LONG}")
    submit(client, kit, "apixo", f"b {LONG}")
    assert counters(client)["refused"]["apixo"] == 1
    client.post("/_emulator/reset")
    c = counters(client)
    assert all(c[name]["apixo"] == 0 for name in ("accepted", "refused", "in_flight", "peak_in_flight"))
    assert client.get("/_emulator/limits").json()["concurrency"] == 1
    assert submit(client, kit, "apixo", f"c {LONG}").status_code == 200  # the held slot was forgotten


def test_latency_jitter_is_seeded() -> None:
    def draws(seed: int) -> list[float]:
        limits = Limits(EmulatorConfig(latency=20, latency_jitter=0.3, latency_seed=seed))
        return [limits.draw_latency() for _ in range(50)]

    first = draws(7)
    assert first == draws(7)
    assert first != draws(8)
    assert all(14 <= x <= 26 for x in first)
    assert max(first) - min(first) > 6  # a real spread, not one value
    assert Limits(EmulatorConfig(latency=20)).draw_latency() == 20


def test_jobs_end_at_different_times(client: httpx.Client, kit: Any, limits: Callable[..., Any]) -> None:
    limits(latency=10, latency_jitter=0.5)
    for i in range(5):
        assert submit(client, kit, "apimart", f"spread {i}").status_code == 200
    latencies = [j["latency"] for j in client.get("/_emulator/jobs", params={"gateway": "apimart"}).json()]
    assert len(set(latencies)) == 5
    assert all(5 <= x <= 15 for x in latencies)
    submit(client, kit, "apimart", "exact [latency:2]")
    assert 2 in [j["latency"] for j in client.get("/_emulator/jobs").json()]


def test_cli_flags() -> None:
    args = build_parser().parse_args(
        [
            "--concurrency",
            "4",
            "--rate",
            "2.5",
            "--latency",
            "20",
            "--latency-jitter",
            "0.3",
            "--latency-seed",
            "9",
        ]
    )
    assert (args.concurrency, args.rate, args.latency, args.latency_jitter, args.latency_seed) == (
        4,
        2.5,
        20,
        0.3,
        9,
    )
    defaults = build_parser().parse_args([])
    assert (defaults.concurrency, defaults.rate, defaults.latency_jitter, defaults.latency_seed) == (
        0,
        0,
        0,
        None,
    )
    with pytest.raises(ValueError, match="concurrency"):
        EmulatorConfig(concurrency=-1)
    with pytest.raises(ValueError, match="latency_jitter"):
        EmulatorConfig(latency_jitter=1.5)
