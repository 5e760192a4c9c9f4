"""Every example DAG runs with ``dag.test()`` against the emulator and leaves its outputs behind.

The example DAGs read ``KLING_DOWNLOAD_DIR`` / ``KLING_POST_PROCESSING_DIR`` when they are parsed,
so each test sets them before loading the DAG file (``dag.test()`` runs the tasks of the DAG object
it is called on, in this process).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.utils.state import DagRunState, TaskInstanceState

from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.hooks.kling import KlingHook
from tests.conftest import DAGS, REPO, load_dag_module
from tests.helpers import probe_video, wait_until
from tests.integration.conftest import connection, counters
from tests.integration.dagrun import xcom

pytestmark = pytest.mark.usefixtures("airflow_db", "emulator")

EXAMPLES = sorted(p.stem for p in (REPO / "example_dags").glob("*.py"))
#: Airflow normalizes the URI (``kling://marketing-renders/``); the name stays as written.
RENDERS_URI = Asset("kling://marketing-renders").uri
#: Emulator output size per aspect ratio.
SIZES = {"16:9": (320, 180), "9:16": (180, 320), "1:1": (240, 240)}


@pytest.fixture
def outputs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KLING_DOWNLOAD_DIR", str(tmp_path / "videos"))
    monkeypatch.setenv("KLING_POST_PROCESSING_DIR", str(tmp_path / "post"))
    return tmp_path


@pytest.fixture(scope="module")
def kling_pool(airflow_db: Path) -> Iterator[None]:
    """The pool the marketing renders run in (``airflow pools set kling 4 "Kling renders"``).

    ``dag.test()`` in Airflow 3.3 runs tasks without checking pools (a missing pool does not block
    it; the scheduler, by contrast, never schedules a task whose pool does not exist), so this only
    mirrors a real deployment; the test checks that the mapped renders are assigned to it.
    """
    from airflow.models.pool import Pool

    Pool.create_or_update_pool("kling", 4, "Kling renders", include_deferred=False)
    yield
    Pool.delete_pool("kling")


def skip_without_retry_policies() -> None:
    from airflow_provider_kling._airflow import airflow_version, has_feature

    if not has_feature("retry_policy"):
        pytest.skip(f"Airflow {airflow_version()} has no retry policies (Airflow >= 3.3)")


def run_example(name: str, **test_kwargs: Any) -> tuple[Any, dict[str, Any]]:
    """``dag.test()`` the example DAG ``name`` (bound to ``dag`` in its file); task instances by key."""
    dr = load_dag_module(name).dag.test(**test_kwargs)
    tis = {
        ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]": ti
        for ti in dr.get_task_instances()
    }
    return dr, tis


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def latest_asset_event(uri: str) -> Any:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        event = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == uri)
            .order_by(AssetEvent.id.desc())
            .limit(1)
        ).first()
        session.expunge_all()
        return event


def check_download(item: dict[str, Any], folder: Path, duration: int, aspect: str) -> None:
    path = Path(item["path"])
    assert path.parent == folder and path.is_file()
    assert item["size"] == path.stat().st_size and item["sha256"] == sha256(item["path"])
    info = probe_video(path)
    assert info["duration"] == pytest.approx(duration, abs=0.3)
    assert (info["width"], info["height"]) == SIZES[aspect]


# ------------------------------------------------------------------------------------ parsing
def test_the_examples_are_the_expected_six() -> None:
    assert EXAMPLES == [
        "kling_budget_gate",
        "kling_image_to_video",
        "kling_late_jobs",
        "kling_marketing_renders",
        "kling_post_processing",
        "kling_quickstart",
        "kling_retry_policy",
    ]
    assert (REPO / "example_dags" / "assets" / "product.png").stat().st_size < 10 * 1024 * 1024


@pytest.mark.parametrize("name", EXAMPLES)
def test_parsing_an_example_imports_nothing_heavy(name: str) -> None:
    if name == "kling_retry_policy":
        skip_without_retry_policies()
    """A DAG file is parsed often: no HTTP client, PyAV or provider hook at import time.

    ``airflow.sdk`` imports httpx itself (its API client), so httpx is checked against what
    ``airflow.sdk`` alone loads; PyAV, aiohttp and the hook must not be loaded at all.
    """
    code = f"""
import importlib.util, json, sys
import airflow.sdk
baseline = set(sys.modules)
spec = importlib.util.spec_from_file_location("example", {str(DAGS / f"{name}.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(json.dumps({{"baseline": sorted(baseline), "after": sorted(sys.modules),
                  "dags": [d.dag_id for d in vars(module).values() if type(d).__name__ == "DAG"]}}))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ.copy()
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    after, baseline = set(data["after"]), set(data["baseline"])
    # What airflow.sdk loads itself is not the example's doing (Airflow 3.1.0's loads fastapi).
    loaded = {m.split(".")[0] for m in after - baseline}
    assert not loaded & {"av", "aiohttp", "httpx_aiohttp", "numpy", "PIL", "fastapi", "uvicorn"}
    assert "httpx" in baseline or "httpx" not in after
    assert not {
        m for m in after if m.startswith(("airflow_provider_kling.hooks", "airflow_provider_kling.emulator"))
    }
    assert data["dags"] == [name]


# ------------------------------------------------------------------------------------ quickstart
def test_quickstart_renders_downloads_and_prints(
    outputs: Path, emulator: EmulatorServer, capfd: pytest.CaptureFixture[str]
) -> None:
    dr, tis = run_example("kling_quickstart")
    assert dr.state == DagRunState.SUCCESS
    result = xcom(tis["render"])
    assert result["state"] == "succeeded" and result["gateway"] == "kling"
    assert result["video_urls"][0].startswith(emulator.url)
    [item] = result["downloads"]
    check_download(item, outputs / "videos", 5, "16:9")
    assert xcom(tis["show"]) == item
    out, err = capfd.readouterr()
    assert f"local file: {item['path']}" in out + err and item["sha256"] in out + err


# ------------------------------------------------------------------------------------ budget gate
def test_budget_gate_under_the_threshold_renders_and_totals_per_unit(
    outputs: Path, emulator: EmulatorServer
) -> None:
    """3 std 5 s clips on the official API: 4.5 units, under the 5-unit approval threshold."""
    before = counters(emulator)["submits"]["kling"]
    dr, tis = run_example("kling_budget_gate")
    assert dr.state == DagRunState.SUCCESS
    gate = xcom(tis["budget"])
    assert gate["decision"] == "continue" and gate["clips"] == 3
    assert gate["totals"] == {"units": 4.5} and gate["unpriced"] == []
    assert gate["balance"]["unit"] == "units" and gate["balance"]["amount"] > 4.5  # GET /account/costs
    assert counters(emulator)["submits"]["kling"] == before + 3
    manifest = xcom(tis["manifest"])
    assert manifest["totals"] == {"units": 4.5} and manifest["estimated_totals"] == {"units": 4.5}
    assert [row["cost_unit"] for row in manifest["clips"]] == ["units"] * 3
    written = json.loads((outputs / "videos" / "budget" / "manifest.json").read_text(encoding="utf-8"))
    assert written == manifest


def test_budget_gate_over_the_hard_limit_submits_nothing(outputs: Path, emulator: EmulatorServer) -> None:
    """5 clips (the run conf's ``shots``) are 7.5 units, over a 6-unit hard limit: nothing is submitted."""
    before = counters(emulator)["submits"]["kling"]
    module = load_dag_module("kling_budget_gate")
    module.budget.fail_above = {"units": 6.0}
    dr = module.dag.test(run_conf={"shots": 5})
    tis = {ti.task_id: ti for ti in dr.get_task_instances() if ti.map_index < 0}
    assert dr.state == DagRunState.FAILED
    assert tis["budget"].state == TaskInstanceState.FAILED and tis["budget"].try_number == 1
    assert counters(emulator)["submits"]["kling"] == before
    assert xcom(tis["budget"], "kling_budget")["totals"] == {"units": 7.5}


# ------------------------------------------------------------------------------------ image to video
#: Output aspect of image-to-video without ``aspect_ratio``: the emulator does not look at the image;
#: it uses each API's own default (Rivya's is 1:1, documented; Kling's, Runware's, fal's and
#: Replicate's 16:9).
I2V_ASPECT = {"kling": "16:9", "runware": "16:9", "rivya": "1:1", "fal": "16:9", "replicate": "16:9"}


@pytest.mark.parametrize("gateway", sorted(I2V_ASPECT))
def test_image_to_video_per_gateway(
    outputs: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, gateway: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", json.dumps(connection(emulator.url, gateway)))
    uploads = counters(emulator)["uploads"].get(gateway, 0)
    dr, tis = run_example("kling_image_to_video")
    assert dr.state == DagRunState.SUCCESS
    result = xcom(tis["animate"])
    assert result["gateway"] == gateway
    [item] = result["downloads"]
    check_download(item, outputs / "videos" / "image-to-video", 5, I2V_ASPECT[gateway])
    assert xcom(tis["show"]) == [item["path"]]
    # how the local PNG travelled: raw base64 (Kling), a data URI (Runware, fal, Replicate), a Files
    # API upload (Rivya)
    png_b64 = base64.b64encode((REPO / "example_dags" / "assets" / "product.png").read_bytes()).decode()
    sent = emulator.job(result["task_id"])["request"]
    if gateway == "kling":
        assert sent["image"] == png_b64
    elif gateway == "runware":
        assert sent["inputs"]["frameImages"] == [
            {"image": f"data:image/png;base64,{png_b64}", "frame": "first"}
        ]
    elif gateway == "fal":
        assert sent["start_image_url"] == f"data:image/png;base64,{png_b64}"
    elif gateway == "replicate":
        assert sent["input"]["start_image"] == f"data:image/png;base64,{png_b64}"
    else:
        [ref] = sent["params"]["referenceMediaItems"]
        assert ref["url"].startswith(f"{emulator.url}/_emulator/files/") and ref["name"] == "product.png"
    assert counters(emulator)["uploads"].get(gateway, 0) == uploads + (gateway == "rivya")


@pytest.mark.parametrize("gateway", ["apixo", "apimart", "kie"])
def test_image_to_video_on_a_url_only_gateway_fails_before_spending(
    outputs: Path, emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch, gateway: str
) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_KLING_DEFAULT", json.dumps(connection(emulator.url, gateway)))
    before = counters(emulator)["requests"][gateway]
    dr, tis = run_example("kling_image_to_video")
    assert dr.state == DagRunState.FAILED
    assert tis["animate"].state == TaskInstanceState.FAILED and tis["animate"].try_number == 1
    assert counters(emulator)["requests"][gateway] == before


# ------------------------------------------------------------------------------------ marketing + post
@pytest.fixture(scope="module")
def marketing(
    airflow_db: Path, emulator: EmulatorServer, kling_pool: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    """One ``dag.test()`` of the marketing DAG, shared by the tests below (it renders six clips)."""
    root = tmp_path_factory.mktemp("marketing")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KLING_DOWNLOAD_DIR", str(root / "videos"))
        mp.setenv("KLING_POST_PROCESSING_DIR", str(root / "post"))
        submits = counters(emulator)["submits"]["kling"]
        dr, tis = run_example("kling_marketing_renders")
        yield {
            "root": root,
            "dr": dr,
            "tis": tis,
            "submits": counters(emulator)["submits"]["kling"] - submits,
            "event": latest_asset_event(RENDERS_URI),
        }


def test_marketing_renders_six_mapped_clips_in_the_pool(marketing: dict[str, Any]) -> None:
    assert marketing["dr"].state == DagRunState.SUCCESS
    renders = {k: ti for k, ti in marketing["tis"].items() if k.startswith("render[")}
    assert sorted(renders) == [f"render[{i}]" for i in range(6)]
    assert all(ti.state == TaskInstanceState.SUCCESS and ti.pool == "kling" for ti in renders.values())
    assert marketing["submits"] == 6
    rows = xcom(marketing["tis"]["read_table"])
    assert [(r["product"], r["aspect_ratio"]) for r in rows] == [
        (product, aspect)
        for product in ("Aurora sparkling water", "Nimbus trail shoes", "Ember desk lamp")
        for aspect in ("16:9", "9:16")
    ]
    for i, row in enumerate(rows):
        [item] = xcom(renders[f"render[{i}]"])["downloads"]
        seconds = 8 if row["model"] == "kling-3.0" else 5  # the hero is Kling 3.0, the variants 2.6
        check_download(item, marketing["root"] / "videos" / "marketing", seconds, row["aspect_ratio"])


def test_marketing_prices_the_mixed_batch_per_model(marketing: dict[str, Any]) -> None:
    """The gate priced each clip at its own model: 3 x 8 s of Kling 3.0 std ($0.084/s, a third
    party's reading of the official card) and 3 x 5 s of Kling 2.6 std (1.5 units)."""
    gate = xcom(marketing["tis"]["budget"])
    assert gate["decision"] == "continue" and gate["clips"] == 6 and not gate["unpriced"]
    assert gate["totals"] == {"USD": pytest.approx(3 * 8 * 0.084), "units": pytest.approx(3 * 1.5)}


def test_marketing_renders_are_named_after_product_and_aspect_ratio(marketing: dict[str, Any]) -> None:
    """``map_index_template``: the grid shows "Aurora sparkling water · 16:9", not 0, 1, 2..."""
    rows = xcom(marketing["tis"]["read_table"])
    names = [marketing["tis"][f"render[{i}]"].rendered_map_index for i in range(len(rows))]
    assert names == [f"{row['product']} · {row['aspect_ratio']}" for row in rows]
    assert len(set(names)) == len(rows)


def test_marketing_emits_an_asset_event_listing_the_videos(marketing: dict[str, Any]) -> None:
    event = marketing["event"]
    assert event is not None and event.source_dag_id == "kling_marketing_renders"
    assert event.source_run_id == marketing["dr"].run_id
    videos = event.extra["videos"]
    assert event.extra["count"] == len(videos) == 6
    assert videos == xcom(marketing["tis"]["publish"])
    assert {(v["product"], v["aspect_ratio"]) for v in videos} == {
        (r["product"], r["aspect_ratio"]) for r in xcom(marketing["tis"]["read_table"])
    }
    for video in videos:
        assert set(video) >= {"path", "url", "product", "aspect_ratio", "sha256"}
        assert Path(video["path"]).is_file() and sha256(video["path"]) == video["sha256"]
        assert (probe_video(video["path"])["width"], probe_video(video["path"])["height"]) == SIZES[
            video["aspect_ratio"]
        ]


def check_post_processing(tis: dict[str, Any], videos: list[dict[str, Any]], root: Path) -> None:
    processed = [xcom(tis[f"make_previews[{i}]"]) for i in range(len(videos))]
    assert [p["path"] for p in processed] == [v["path"] for v in videos]
    manifest_path = Path(xcom(tis["write_manifest"]))
    assert manifest_path.parent.parent == root / "post" and manifest_path.name == "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    assert manifest["count"] == len(videos) and manifest["videos"] == processed
    for i, item in enumerate(processed):
        assert tis[f"make_previews[{i}]"].rendered_map_index == Path(item["path"]).stem
        assert Path(item["thumbnail"]).parent == manifest_path.parent
        thumb = probe_video(Path(item["thumbnail"]))
        assert thumb["codec"] == "png" and (thumb["width"], thumb["height"]) == SIZES[item["aspect_ratio"]]
        preview = probe_video(Path(item["preview"]))
        assert preview["codec"] == "h264" and preview["duration"] == pytest.approx(2, abs=0.35)
        assert (preview["width"], preview["height"]) == SIZES[item["aspect_ratio"]]
        sound = bool(item.get("sound"))
        assert item["has_audio"] is sound and preview["audio"] == int(sound)
        hero = item["aspect_ratio"] == "16:9"  # the marketing hero clips are 8 s of Kling 3.0
        assert item["duration"] == pytest.approx(8 if hero else 5, abs=0.3)


def test_post_processing_of_the_latest_asset_event(marketing: dict[str, Any], monkeypatch: Any) -> None:
    """A manual run (no triggering event, no conf) processes the Asset's latest event (via inlets)."""
    root = marketing["root"]
    monkeypatch.setenv("KLING_POST_PROCESSING_DIR", str(root / "post"))
    dr, tis = run_example("kling_post_processing")
    assert dr.state == DagRunState.SUCCESS
    videos = marketing["event"].extra["videos"]
    assert xcom(tis["collect_videos"]) == videos
    check_post_processing(tis, videos, root)


def test_post_processing_triggered_by_the_asset_event(
    marketing: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Asset-scheduled path: the run consumes the marketing run's event (``triggering_asset_events``).

    ``dag.test()`` only creates manual runs, so the run it creates is linked to the event the way the
    scheduler links an Asset-triggered run (``DagRun.consumed_asset_events``) before any task runs.
    """
    import airflow.models.dagrun as dagrun_module
    from airflow.models.asset import AssetEvent

    root = marketing["root"] / "triggered"
    monkeypatch.setenv("KLING_POST_PROCESSING_DIR", str(root / "post"))
    original = dagrun_module.get_or_create_dagrun
    event_id = marketing["event"].id

    def linked(*, session: Any, **kwargs: Any) -> Any:
        dr = original(session=session, **kwargs)
        dr.consumed_asset_events.append(session.get(AssetEvent, event_id))
        session.commit()
        return dr

    monkeypatch.setattr(dagrun_module, "get_or_create_dagrun", linked)
    # a newer event exists: the triggering one must win over "the latest event"
    newer = _add_asset_event({"videos": [{"path": "/nonexistent.mp4"}], "count": 1})
    assert latest_asset_event(RENDERS_URI).id == newer
    try:
        dr, tis = run_example("kling_post_processing")
    finally:
        _delete_asset_event(newer)
    assert dr.state == DagRunState.SUCCESS
    videos = marketing["event"].extra["videos"]
    assert xcom(tis["collect_videos"]) == videos
    check_post_processing(tis, videos, root)


def _add_asset_event(extra: dict[str, Any]) -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalars(select(AssetModel).where(AssetModel.uri == RENDERS_URI)).one()
        event = AssetEvent(asset_id=asset.id, extra=extra)
        session.add(event)
        session.flush()
        return int(event.id)


def _delete_asset_event(event_id: int) -> None:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session

    with create_session() as session:
        session.delete(session.get(AssetEvent, event_id))


def test_post_processing_of_videos_given_in_the_run_conf(
    marketing: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A manual run with ``{"videos": [...]}`` in its conf; one clip has sound (re-encoded AAC)."""
    root = marketing["root"] / "conf"
    monkeypatch.setenv("KLING_POST_PROCESSING_DIR", str(root / "post"))
    hook = KlingHook("kling_kling")
    task = hook.submit(
        hook.make_request(prompt="A street band plays", sound=True, tier="pro", aspect_ratio="1:1")
    )
    done = wait_until(lambda: hook.get_task(task), lambda t: t.is_terminal)
    with_sound = hook.download(hook.raise_for_task(done).video_urls[0], root / "in")
    videos = [
        {"path": v["path"], "aspect_ratio": v["aspect_ratio"]} for v in marketing["event"].extra["videos"][:1]
    ] + [{"path": with_sound["path"], "aspect_ratio": "1:1", "sound": True}]
    dr, tis = run_example("kling_post_processing", run_conf={"videos": videos})
    assert dr.state == DagRunState.SUCCESS
    assert xcom(tis["collect_videos"]) == videos
    check_post_processing(tis, videos, root)


def test_the_worker_path_does_not_load_aiohttp() -> None:
    """A worker's ``execute()`` (submit, then defer) imports the hook and the trigger class, never aiohttp.

    aiohttp is the triggerer's transport and costs ~150 ms to import, paid by every task start on a
    worker if the hook loaded it; the triggerer loads it (in a thread) when it builds its shared client.
    """
    code = """
import json, sys
import airflow.sdk
baseline = set(sys.modules)
import airflow_provider_kling.operators.kling
import airflow_provider_kling.hooks.kling
import airflow_provider_kling.sensors.kling
import airflow_provider_kling.triggers.kling
print(json.dumps(sorted(set(sys.modules) - baseline)))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=os.environ.copy()
    )
    assert out.returncode == 0, out.stderr[-3000:]
    # Beyond what airflow.sdk loads itself (Airflow 3.1.0's loads fastapi).
    loaded = {m.split(".")[0] for m in json.loads(out.stdout.strip().splitlines()[-1])}
    assert "airflow_provider_kling" in loaded
    assert not loaded & {"aiohttp", "httpx_aiohttp", "av", "fastapi", "uvicorn"}


# ------------------------------------------------------------------------------------ retry policy
def run_retry_policy_example(prompt: str) -> tuple[Any, Any]:
    """``dag.test()`` the retry-policy example with a short backoff (``dag.test()`` waits it out)."""
    from datetime import timedelta

    skip_without_retry_policies()
    dag = load_dag_module("kling_retry_policy").dag
    dag.task_dict["render"].retry_policy.retry_delay = timedelta(seconds=1)
    dr = dag.test(run_conf={"prompt": prompt})
    [ti] = dr.get_task_instances()
    return dr, ti


def test_retry_policy_retries_a_failed_generation_and_renders(
    outputs: Path, emulator: EmulatorServer
) -> None:
    before = counters(emulator)["submits"]["kling"]
    dr, ti = run_retry_policy_example("A lighthouse at night, the first job fails [fault:failx1]")
    assert dr.state == DagRunState.SUCCESS and ti.try_number == 2
    assert counters(emulator)["submits"]["kling"] - before == 2  # the failed job, then the rendered one
    [item] = xcom(ti)["downloads"]
    check_download(item, outputs / "videos", 5, "16:9")


def test_retry_policy_fails_a_content_policy_refusal_on_the_first_try(
    outputs: Path, emulator: EmulatorServer
) -> None:
    dr, ti = run_retry_policy_example("A lighthouse at night [fault:policy]")
    assert dr.state == DagRunState.FAILED
    assert ti.state == TaskInstanceState.FAILED and ti.try_number == 1 and ti.max_tries == 3


def test_retry_policy_waits_for_capacity_without_spending_a_retry(emulator: EmulatorServer) -> None:
    from airflow_provider_kling._airflow import has_feature

    skip_without_retry_policies()
    before = counters(emulator)["submits"]["kie"]
    dr = load_dag_module("kling_retry_policy_dags").capacity_dag.test()
    [ti] = dr.get_task_instances()
    if has_feature("retry_reschedule"):  # Airflow 3.4: rescheduled once, the same try submitted
        assert dr.state == DagRunState.SUCCESS and ti.try_number == 1
        assert counters(emulator)["submits"]["kie"] - before == 1 and xcom(ti)
    else:  # Airflow 3.3: the policy can only retry, and retries=0 allows none
        assert dr.state == DagRunState.FAILED and ti.try_number == 1
