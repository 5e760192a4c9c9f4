"""KlingGenerateOperator, KlingTaskSensor and the trigger in real ``dag.test()`` runs on the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.gateways import GATEWAY_NAMES
from tests.integration.conftest import counters
from tests.integration.dagrun import run_dag, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "emulator")
DAGS = "kling_test_dags"
#: gateway -> (reports a cost, its unit) for a 5 s silent default-tier clip
REPORTED_COST = {
    "kling": (True, "units"),
    "rivya": (True, "credits"),
    "runware": (True, "USD"),
    "apixo": (False, None),
    "apimart": (False, None),
    "kie": (False, None),
    "fal": (False, None),
    "replicate": (False, None),
}
#: gateway -> (estimated amount, unit) from the published prices (None: no price published)
ESTIMATE = {
    "kling": (1.5, "units"),
    "rivya": (55.0, "credits"),
    "runware": (None, None),
    "apixo": (0.3, "USD"),
    "apimart": (None, None),
    "kie": (None, None),
    "fal": (0.35, "USD"),  # Kling 2.6 Pro: $0.07 per second
    "replicate": (None, None),
}


@pytest.mark.parametrize("mode", ["worker", "deferrable"])
@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_operator_waits_and_returns_urls(emulator: EmulatorServer, gateway: str, mode: str) -> None:
    dr, tis = run_dag(DAGS, f"op_{gateway}_{mode}")
    assert dr.state == DagRunState.SUCCESS
    result = xcom(tis["render"])
    assert result["state"] == "succeeded" and result["gateway"] == gateway
    assert result["video_urls"] and result["video_urls"][0].startswith(emulator.url)
    assert str(xcom(tis["render"], "kling_task_id")) == result["task_id"]
    assert xcom(tis["render"], "_link_KlingVideoLink") == result["video_urls"][0]
    # the reported cost carries its unit; the estimate its unit and basis
    assert (result.get("cost") is not None, result.get("cost_unit")) == REPORTED_COST[gateway]
    estimated = result.get("estimated_cost")
    assert (estimated or {}).get("amount") == ESTIMATE[gateway][0]
    assert (estimated or {}).get("unit") == ESTIMATE[gateway][1]


@pytest.mark.parametrize("mode", ["poke", "deferrable"])
def test_fire_and_forget_then_sensor(mode: str) -> None:
    dr, tis = run_dag(DAGS, f"fire_and_forget_{mode}")
    assert dr.state == DagRunState.SUCCESS
    submitted = xcom(tis["submit"])
    assert submitted["state"] in ("queued", "running")
    waited = xcom(tis["wait"])
    assert (
        waited["task_id"] == submitted["task_id"] and waited["state"] == "succeeded" and waited["video_urls"]
    )


def test_content_policy_fails_without_retry_and_names_the_code(
    emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    before = counters(emulator)["submits"]["apixo"]
    dr, tis = run_dag(DAGS, "content_policy")
    assert dr.state == DagRunState.FAILED
    ti = tis["render"]
    assert ti.state == TaskInstanceState.FAILED and ti.try_number == 1
    assert counters(emulator)["submits"]["apixo"] == before + 1
    out, err = capfd.readouterr()
    assert "SensitiveContentDetected" in out + err


def test_validation_error_fails_before_any_request(emulator: EmulatorServer) -> None:
    before = counters(emulator)["requests"]["kie"]
    dr, tis = run_dag(DAGS, "invalid_duration")
    assert dr.state == DagRunState.FAILED and tis["render"].try_number == 1
    assert counters(emulator)["requests"]["kie"] == before


@pytest.mark.parametrize(
    ("dag_id", "gateway", "said"),
    [
        ("over_budget", "apixo", "over max_cost=$0.25"),
        ("cap_without_estimate", "kie", "cost cannot be estimated"),
    ],
)
def test_max_cost_refuses_before_any_request_and_is_not_retried(
    emulator: EmulatorServer, capfd: pytest.CaptureFixture[str], dag_id: str, gateway: str, said: str
) -> None:
    before = counters(emulator)["requests"][gateway]
    dr, tis = run_dag(DAGS, dag_id)
    assert dr.state == DagRunState.FAILED
    assert tis["render"].state == TaskInstanceState.FAILED and tis["render"].try_number == 1
    assert counters(emulator)["requests"][gateway] == before
    out, err = capfd.readouterr()
    assert said in out + err


@pytest.mark.parametrize(
    ("dag_id", "said"),
    [
        ("download_to_unknown_scheme", "download_to='foo://bucket/renders' cannot be used"),
        ("download_to_not_writable", "kling_test_dags.py/renders' cannot be used"),
    ],
)
def test_a_download_to_that_cannot_work_fails_before_any_request(
    emulator: EmulatorServer, capfd: pytest.CaptureFixture[str], dag_id: str, said: str
) -> None:
    before = counters(emulator)["requests"]["apixo"]
    dr, tis = run_dag(DAGS, dag_id)
    assert dr.state == DagRunState.FAILED
    assert tis["render"].state == TaskInstanceState.FAILED and tis["render"].try_number == 1
    assert counters(emulator)["requests"]["apixo"] == before  # nothing submitted, nothing paid
    out, err = capfd.readouterr()
    assert said in out + err and "by gateway" not in (out + err).split(said)[1].split("\n")[0]


def test_the_video_link_opens_the_downloaded_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KLING_TEST_DOWNLOAD_DIR", str(tmp_path))
    dr, tis = run_dag(DAGS, "link_to_download")
    assert dr.state == DagRunState.SUCCESS
    result = xcom(tis["render"])
    [item] = result["downloads"]
    name = Path(item["path"]).name
    assert Path(item["path"]).parent == tmp_path and (tmp_path / name).stat().st_size > 0
    assert xcom(tis["render"], "_link_KlingVideoLink") == f"https://media.example.com/kling/{name}"
    assert result["video_urls"][0] != f"https://media.example.com/kling/{name}"


def test_twenty_mapped_renders() -> None:
    dr, tis = run_dag(DAGS, "mapped_twenty")
    assert dr.state == DagRunState.SUCCESS
    results = [xcom(ti) for ti in tis.values()]
    assert len(results) == 20
    assert len({r["task_id"] for r in results}) == 20
    assert all(r["state"] == "succeeded" and r["video_urls"] for r in results)


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_retry_after_crash_submits_exactly_once(emulator: EmulatorServer, gateway: str) -> None:
    before = counters(emulator)["submits"][gateway]
    dr, tis = run_dag(DAGS, f"crash_{gateway}")
    assert dr.state == DagRunState.SUCCESS
    assert tis["render"].try_number == 2
    assert counters(emulator)["submits"][gateway] == before + 1


@pytest.mark.parametrize("gateway", ["kling", "rivya", "runware"])
def test_client_id_gateways_survive_a_crash_before_the_record(emulator: EmulatorServer, gateway: str) -> None:
    before = counters(emulator)["submits"][gateway]
    dr, tis = run_dag(DAGS, f"crash_before_record_{gateway}")
    assert dr.state == DagRunState.SUCCESS and tis["render"].try_number == 2
    assert counters(emulator)["submits"][gateway] == before + 1
