"""Counters, idempotency, the control API, server options, HTTPS and the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_provider_kling.emulator import EmulatorConfig, EmulatorServer
from airflow_provider_kling.gateways import GATEWAY_NAMES


def kling_body(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model_name": "kling-v2-6", "prompt": prompt, "duration": "5", **extra}


def test_health_and_two_submits_counted(client: httpx.Client, kit: Any) -> None:
    assert client.get("/_emulator/health").json() == {"ok": True}
    h = kit.kling_headers()
    for i in range(2):
        assert (
            client.post("/v1/videos/text2video", json=kling_body(f"clip {i}"), headers=h).status_code == 200
        )
    counters = client.get("/_emulator/counters").json()
    assert counters["submits"]["kling"] == 2
    assert counters["submits"]["rivya"] == 0
    assert set(counters) >= {
        "submits",
        "submits_by_client_id",
        "dedup_hits",
        "status_calls",
        "uploads",
        "rejected",
    }


def test_kling_external_task_id_is_unique(client: httpx.Client, kit: Any) -> None:
    h = kit.kling_headers()
    body = kling_body("same clip", external_task_id="dag.run.task.0")
    first = client.post("/v1/videos/text2video", json=body, headers=h)
    second = client.post("/v1/videos/text2video", json=body, headers=h)
    assert first.status_code == 200
    assert second.status_code == 400
    assert second.json()["code"] == 1201
    assert "already exists" in second.json()["message"]
    counters = client.get("/_emulator/counters").json()
    assert counters["submits"]["kling"] == 1
    assert counters["submits_by_client_id"]["kling"] == {"dag.run.task.0": 1}
    assert counters["dedup_hits"]["kling"] == 1
    # the job is still reachable by its external id
    found = client.get("/v1/videos/text2video/dag.run.task.0", headers=h).json()["data"]
    assert found["task_id"] == first.json()["data"]["task_id"]


def test_rivya_idempotency_key(client: httpx.Client, kit: Any) -> None:
    h = {**kit.BEARER, "Idempotency-Key": "run-42"}
    body = {"model": "kling-2-6", "prompt": "once only"}
    first = client.post("/api/v1/generations", json=body, headers=h)
    second = client.post("/api/v1/generations", json=body, headers=h)
    assert first.status_code == second.status_code == 200
    assert first.json()["id"] == second.json()["id"]
    conflict = client.post("/api/v1/generations", json={**body, "prompt": "something else"}, headers=h)
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_conflict"
    counters = client.get("/_emulator/counters").json()
    assert counters["submits"]["rivya"] == 1
    assert counters["dedup_hits"]["rivya"] == 1
    assert counters["submits_by_client_id"]["rivya"] == {"run-42": 1}


def test_runware_duplicate_task_uuid(client: httpx.Client, kit: Any) -> None:
    task = kit.runware_task("twice", "klingai:kling-video@2.6-standard")
    assert client.post("/v1", json=[task], headers=kit.BEARER).status_code == 200
    dup = client.post("/v1", json=[task], headers=kit.BEARER)
    assert dup.status_code == 400
    assert dup.json()["errors"][0]["code"] == "duplicateTaskUUID"
    counters = client.get("/_emulator/counters").json()
    assert counters["submits"]["runware"] == 1
    assert counters["dedup_hits"]["runware"] == 1
    assert counters["submits_by_client_id"]["runware"] == {task["taskUUID"]: 1}


def test_jobs_and_reset(client: httpx.Client, kit: Any) -> None:
    r = client.post(
        "/v1/videos/generations", json={"model": "kling-v2-6", "prompt": "debug me"}, headers=kit.BEARER
    )
    task_id = r.json()["data"][0]["task_id"]
    job = client.get(f"/_emulator/jobs/{task_id}").json()
    assert job["gateway"] == "apimart"
    assert job["prompt"] == "debug me"
    assert job["phase"] in ("queued", "running", "succeeded")
    assert (job["status_calls"], job["first_status_at"]) == (0, None)
    before = time.time()
    client.get(f"/v1/tasks/{task_id}", headers=kit.BEARER)
    first = client.get(f"/_emulator/jobs/{task_id}").json()["first_status_at"]
    assert before <= first <= time.time()
    client.get(f"/v1/tasks/{task_id}", headers=kit.BEARER)
    job = client.get(f"/_emulator/jobs/{task_id}").json()
    assert (job["status_calls"], job["first_status_at"]) == (2, first)  # the first one, kept
    assert client.post("/_emulator/reset").json() == {"ok": True}
    assert client.get(f"/_emulator/jobs/{task_id}").status_code == 404
    assert client.get("/_emulator/counters").json()["submits"]["apimart"] == 0
    assert client.get(f"/v1/tasks/{task_id}", headers=kit.BEARER).status_code == 404


def test_server_options(tmp_path: Path, kit: Any) -> None:
    config = EmulatorConfig(
        latency=0,
        response_delay_ms=150,
        faults={"status-503": 1.0},
        kie_errors_http_200=True,
        api_keys=frozenset({"only-this-key"}),
        cache_dir=tmp_path,
        fps=4,
    )
    with EmulatorServer(config) as emu, httpx.Client(base_url=emu.url, trust_env=False) as c:
        h = {"Authorization": "Bearer only-this-key"}
        body = {
            "model": "kling-2.6/text-to-video",
            "input": {"prompt": "x", "sound": False, "aspect_ratio": "1:1", "duration": "5"},
        }
        started = time.monotonic()
        r = c.post("/api/v1/jobs/createTask", json=body, headers=h)
        assert time.monotonic() - started >= 0.14
        assert r.status_code == 200
        status = c.get("/api/v1/jobs/recordInfo", params={"taskId": r.json()["data"]["taskId"]}, headers=h)
        assert status.status_code == 200
        assert status.json()["code"] == 455
        other = c.post("/api/v1/jobs/createTask", json=body, headers={"Authorization": "Bearer test-key"})
        assert other.status_code == 200
        assert other.json()["code"] == 401
        assert emu.counters()["submits"]["kie"] == 1
        emu.reset()
        assert emu.counters()["submits"]["kie"] == 0


def test_https(kit: Any) -> None:
    with EmulatorServer(EmulatorConfig(latency=0.1), https=True) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        assert emu.ca_path is not None
        assert emu.ca_path.exists()
        with httpx.Client(verify=str(emu.ca_path), trust_env=False) as c:
            assert c.get(f"{emu.url}/_emulator/health").json() == {"ok": True}
        with httpx.Client(trust_env=False) as c, pytest.raises(httpx.ConnectError):
            c.get(f"{emu.url}/_emulator/health")
        assert emu.counters()["submits"]["kling"] == 0


def test_cli_runs_until_sigterm(tmp_path: Path) -> None:
    port_file = tmp_path / "url.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow_provider_kling.emulator",
            "--port",
            "0",
            "--latency",
            "0.2",
            "--port-file",
            str(port_file),
            "--fault",
            "html:0",
            "--cache-dir",
            str(tmp_path / "cache"),
            "--concurrency",
            "2",
            "--rate",
            "5",
            "--latency-jitter",
            "0.3",
            "--latency-seed",
            "4",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("KLING_EMULATOR_URL=http://127.0.0.1:"), (line, proc.poll())
        url = line.split("=", 1)[1]
        assert port_file.read_text().strip() == url
        assert httpx.get(f"{url}/_emulator/health", trust_env=False).json() == {"ok": True}
        assert httpx.get(f"{url}/_emulator/limits", trust_env=False).json() == {
            "concurrency": 2,
            "rate": 5.0,
            "latency": 0.2,
            "latency_jitter": 0.3,
        }
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_package_import_is_cheap() -> None:
    code = (
        "import sys, airflow_provider_kling.emulator as e; "
        "heavy = [m for m in ('av', 'PIL', 'numpy', 'fastapi', 'uvicorn') if m in sys.modules]; "
        "print(heavy); assert not heavy, heavy; assert e.EmulatorConfig"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


BAD_OPTIONS = [
    (["--port", "99999"], "bad --port '99999': expected 0-65535"),
    (["--port", "-1"], "bad --port '-1': expected 0-65535"),
    (["--log-level", "bogus"], "argument --log-level: invalid choice: 'bogus'"),
    (["--latency", "nan"], "latency must be a finite number >= 0"),
    (["--latency", "inf"], "latency must be a finite number >= 0"),
    (["--slow-seconds", "-1"], "slow_seconds must be a finite number >= 0"),
    (["--response-delay-ms", "nan"], "response_delay_ms must be a finite number >= 0"),
    (["--public-url", "notaurl"], "public_url must be an http(s) URL with a host"),
    (["--fault", "503:nan"], "fault rate for '503' must be within [0, 1]"),
]


@pytest.mark.parametrize(("argv", "said"), BAD_OPTIONS, ids=[" ".join(argv) for argv, _ in BAD_OPTIONS])
def test_cli_refuses_a_bad_option_with_exit_2_and_a_message(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], said: str
) -> None:
    """A bad option is one line on stderr and exit status 2, as argparse's own refusals; no traceback
    (an out-of-range port and an unknown log level raised OverflowError / KeyError from the server
    start), and nothing starts (a NaN latency, a negative slow fault, a public URL that is no URL
    were accepted)."""
    from airflow_provider_kling.emulator import server
    from airflow_provider_kling.emulator.__main__ import main

    class Refused:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            raise AssertionError(f"the emulator would start with {argv}")

    monkeypatch.setattr(server, "EmulatorServer", Refused)

    try:
        code = main(argv)
    except SystemExit as done:  # argparse's own refusal
        code = done.code
    err = capsys.readouterr().err
    assert code == 2 and said in err and "Traceback" not in err
    assert err.startswith("kling-emulator: ") or "usage: kling-emulator" in err


def test_cli_takes_a_log_level_in_any_case() -> None:
    from airflow_provider_kling.emulator.__main__ import build_parser

    assert build_parser().parse_args(["--log-level", "INFO"]).log_level == "info"
    assert build_parser().parse_args(["--port", "65535"]).port == 65535


def test_help_names_the_counters_and_jobs_views(capsys: pytest.CaptureFixture[str]) -> None:
    """``kling-emulator --help`` ends with the control API a user reaches for to count paid jobs."""
    from airflow_provider_kling.emulator.__main__ import main

    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    epilogue = capsys.readouterr().out.split("control API (no auth)", 1)[1]
    for path in ("/_emulator/counters", "/_emulator/jobs ", "/_emulator/jobs?by=client_reference"):
        assert path in epilogue, epilogue
    assert "one paid job" in epilogue


def test_jobs_by_client_reference_and_a_bad_by(client: httpx.Client, kit: Any) -> None:
    h = kit.kling_headers()
    client.post("/v1/videos/text2video", json=kling_body("a", external_task_id="clip-a"), headers=h)
    client.post("/v1/videos/text2video", json=kling_body("no reference"), headers=h)
    grouped = client.get("/_emulator/jobs", params={"by": "client_reference"}).json()
    assert tuple(grouped) == GATEWAY_NAMES
    counts = {key: len(ids) for key, ids in grouped["kling"].items()}
    assert counts == {"clip-a": 1, "prompt: no reference": 1}
    only = client.get("/_emulator/jobs", params={"by": "client_reference", "gateway": "kling"}).json()
    assert only == {"kling": grouped["kling"]}
    bad = client.get("/_emulator/jobs", params={"by": "prompt"})
    assert bad.status_code == 400 and "by=client_reference" in bad.json()["error"]
