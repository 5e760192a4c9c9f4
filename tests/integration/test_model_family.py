"""Acceptance of the Kling model family through the operator in ``dag.test()`` on the emulator.

On every gateway: ``model="kling-3.0"``, 12 s with sound renders and the downloaded MP4 lasts 12 s;
16 s, and 4K where the gateway documents none, fail before any request reaches the emulator (its
counters). Multi-shot 4 s + 8 s renders a 12 s clip whose shots differ on the gateways with per-shot
prompts, and is refused before any request on Rivya and APIXO.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.exceptions import KlingValidationError
from airflow_provider_kling.gateways import GATEWAY_NAMES
from airflow_provider_kling.hooks.kling import KlingHook
from tests.conftest import load_dag_module
from tests.helpers import probe_video
from tests.integration.conftest import counters
from tests.integration.dagrun import run_dag, xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "emulator")
DAGS = "kling_model_dags"
#: gateways documenting 4K for Kling 3.0 (official mode 4k, Runware @3-4k, APIMart mode 4k)
WITH_4K = ("kling", "runware", "apimart")
MULTI_SHOT = ("kling", "runware", "apimart", "kie")


@pytest.fixture(autouse=True)
def downloads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KLING_TEST_DOWNLOAD_DIR", str(tmp_path))
    return tmp_path


def _job(emulator: EmulatorServer, result: dict[str, Any]) -> dict[str, Any]:
    """The emulator's record of the job behind a result (its video's id names the job)."""
    job_id = result["video_urls"][0].rsplit("/", 1)[1].removesuffix(".mp4")
    return dict(httpx.get(f"{emulator.url}/_emulator/jobs/{job_id}", timeout=10).json())


def _refused_before_any_request(emulator: EmulatorServer, gateway: str, dag_id: str, field: str) -> None:
    before = counters(emulator)["requests"][gateway]
    dr, tis = run_dag(DAGS, dag_id)
    assert dr.state == DagRunState.FAILED
    assert tis["render"].state == TaskInstanceState.FAILED and tis["render"].try_number == 1
    assert counters(emulator)["requests"][gateway] == before  # nothing reached the gateway
    # why: the same fields through the hook name the gateway, the model and the field
    dag = getattr(load_dag_module(DAGS), dag_id)
    op = dag.get_task("render")
    fields = {name: getattr(op, name) for name in ("prompt", "duration", "tier", "shots")}
    with pytest.raises(KlingValidationError) as info:
        KlingHook(kling_conn_id=f"kling_{gateway}").make_request(model="kling-3.0", **fields)
    assert (info.value.gateway, info.value.field) == (gateway, field) and "kling-3.0" in str(info.value)


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_3_0_12_s_with_sound_renders_a_12_s_clip(emulator: EmulatorServer, gateway: str) -> None:
    dr, tis = run_dag(DAGS, f"v3_12s_sound_{gateway}")
    assert dr.state == DagRunState.SUCCESS
    result = xcom(tis["render"])
    assert result["state"] == "succeeded" and result["gateway"] == gateway
    job = _job(emulator, result)
    assert (job["duration"], job["sound"], job["model"]) == (
        12,
        True,
        {"kling": "kling-v3", "rivya": "kling-3-0", "runware": "klingai:kling-video@3-standard",
         "apixo": "kling-3-0-std", "apimart": "kling-v3", "kie": "kling-3.0/video",
         "fal": "fal-ai/kling-video/v3/standard", "replicate": "kwaivgi/kling-v3-video"}[gateway],
    )  # fmt: skip
    (download,) = result["downloads"]
    video = probe_video(Path(download["path"]))
    assert video["duration"] == pytest.approx(12.0, abs=0.25)
    assert video["audio"] == 1


@pytest.mark.parametrize("gateway", GATEWAY_NAMES)
def test_16_s_fails_before_any_request(emulator: EmulatorServer, gateway: str) -> None:
    _refused_before_any_request(emulator, gateway, f"v3_16s_{gateway}", "duration")


@pytest.mark.parametrize("gateway", [g for g in GATEWAY_NAMES if g not in WITH_4K])
def test_4k_where_undocumented_fails_before_any_request(emulator: EmulatorServer, gateway: str) -> None:
    _refused_before_any_request(emulator, gateway, f"v3_4k_{gateway}", "tier")


@pytest.mark.parametrize("gateway", MULTI_SHOT)
def test_multi_shot_4_plus_8_renders_12_s_of_two_shots(emulator: EmulatorServer, gateway: str) -> None:
    dr, tis = run_dag(DAGS, f"v3_shots_{gateway}")
    assert dr.state == DagRunState.SUCCESS
    result = xcom(tis["render"])
    job = _job(emulator, result)
    assert [s["duration"] for s in job["shots"]] == [4, 8]
    path = Path(result["downloads"][0]["path"])
    assert probe_video(path)["duration"] == pytest.approx(12.0, abs=0.25)
    first, second = _mean_colour(path, 2.0), _mean_colour(path, 8.0)
    assert max(abs(a - b) for a, b in zip(first, second, strict=True)) > 3  # the shots differ visibly


@pytest.mark.parametrize("gateway", ["rivya", "apixo", "fal", "replicate"])
def test_multi_shot_is_refused_before_any_request_without_per_shot_prompts(
    emulator: EmulatorServer, gateway: str
) -> None:
    _refused_before_any_request(emulator, gateway, f"v3_shots_{gateway}", "shots")


def _mean_colour(path: Path, at: float) -> tuple[float, float, float]:
    """The mean RGB of the frame shown at ``at`` seconds (decoded with PyAV)."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= at:
                rgb = frame.to_ndarray(format="rgb24")
                return tuple(float(rgb[..., c].mean()) for c in range(3))  # type: ignore[return-value]
    raise AssertionError(f"no frame at {at} s in {path}")
