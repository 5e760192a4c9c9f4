"""Late jobs, pure parts: who bills a failure, the job record, the sweep's sorting and totals."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

from airflow_provider_kling.exceptions import (
    KlingContentPolicyError,
    KlingError,
    KlingNotFoundError,
    KlingServerError,
    KlingTaskFailedError,
    KlingValidationError,
)
from airflow_provider_kling.gateways import GATEWAY_NAMES, get_gateway
from airflow_provider_kling.gateways.base import HttpResponse
from airflow_provider_kling.gateways.billing import FailureBilling, possibly_billed
from airflow_provider_kling.gateways.pricing import CostEstimate
from airflow_provider_kling.hooks import _late
from airflow_provider_kling.models import TaskState, VideoRequest, VideoTask

GATEWAYS = GATEWAY_NAMES
LOG = logging.getLogger("test")


# ------------------------------------------------------------------------------------ billing
@pytest.mark.parametrize(
    ("gateway", "billed"),
    [
        ("kling", "no"),
        ("rivya", "no"),
        ("runware", "unknown"),
        ("apixo", "unknown"),
        ("apimart", "unknown"),
        ("kie", "unknown"),
        ("fal", "unknown"),
        ("replicate", "unknown"),
    ],
)
def test_each_gateway_states_whether_a_failed_job_is_billed(gateway: str, billed: str) -> None:
    rule = get_gateway(gateway).billing
    assert rule.failed == rule.content_policy == billed and rule.source
    assert rule.to_dict()["failed"] == billed


def test_an_error_names_its_outcome() -> None:
    rule = FailureBilling(failed="yes", refused="no", content_policy="unknown", source="the docs")
    assert rule.for_error(KlingContentPolicyError("nsfw")) == ("content_policy", "unknown")
    assert rule.for_error(KlingValidationError("bad", request_rejected=True)) == ("refused", "no")
    assert rule.for_error(KlingTaskFailedError("boom")) == ("failed", "yes")
    assert rule.sentence("failed") == "billed: yes (a failed job; the docs)"
    assert "do not say" in rule.sentence("content_policy")
    assert [possibly_billed(b) for b in ("yes", "unknown", "no", None)] == [True, True, False, False]


# ------------------------------------------------------------------------------------ the record
def test_the_job_record_has_what_a_later_try_and_the_sweep_need() -> None:
    task = VideoTask(task_id="j1", gateway="apixo", state=TaskState.RUNNING, endpoint=None)
    request = VideoRequest(prompt="p", client_reference="af-abc-g0")
    estimate = CostEstimate(amount=0.3, unit="USD", basis="b")
    record = _late.job_record(task, request, conn_id="c", model="kling-2.6", estimate=estimate)
    assert record["job_id"] == "j1" and record["client_reference"] == "af-abc-g0"
    assert record["conn_id"] == "c" and record["model"] == "kling-2.6" and record["gateway"] == "apixo"
    assert record["estimated_cost"] == {"amount": 0.3, "unit": "USD"} and record["submitted_at"]
    json.dumps(record)  # XCom-able


# ------------------------------------------------------------------------------------ the sweep
class FakeReader:
    def __init__(self, tasks: dict[str, VideoTask | KlingError]) -> None:
        self.tasks = tasks
        self.downloads: list[str] = []

    def get_task(self, task_or_id: Any, endpoint: str | None = None) -> VideoTask:
        found = self.tasks[str(task_or_id)]
        if isinstance(found, KlingError):
            raise found
        return found

    def failure_error(self, task: VideoTask) -> KlingError:
        if task.error_code == "policy":
            return KlingContentPolicyError(task.error_message or "", gateway=task.gateway)
        return KlingTaskFailedError(task.error_message or "", gateway=task.gateway)

    def download_videos(
        self, task: VideoTask, destination: Any, max_bytes: Any = None
    ) -> list[dict[str, Any]]:
        self.downloads.extend(task.video_urls)
        return [
            {"url": url, "path": f"{destination}/{task.task_id}.mp4", "size": 1} for url in task.video_urls
        ]


def task(job_id: str, state: TaskState, **fields: Any) -> VideoTask:
    return VideoTask(task_id=job_id, gateway="kling", state=state, **fields)


def clip(job_id: str, index: int, state: str = "failed", **extra: Any) -> _late.Clip:
    record = {
        "job_id": job_id,
        "gateway": "kling",
        "conn_id": "c",
        "model": "kling-v2-6",
        "estimated_cost": {"amount": 1.5, "unit": "units"},
    }
    return _late.Clip("d", "r", "render", index, state, {**record, **extra})


def test_the_sweep_sorts_each_job_and_totals_what_was_billed() -> None:
    reader = FakeReader(
        {
            "ok": task(
                "ok", TaskState.SUCCEEDED, video_urls=["http://v/ok.mp4"], cost=1.5, cost_unit="units"
            ),
            "busy": task("busy", TaskState.RUNNING),
            "bad": task("bad", TaskState.FAILED, error_code="x", error_message="boom"),
            "gone": KlingNotFoundError("no such task"),
            "down": KlingServerError("503"),
        }
    )
    clips = [clip(j, i) for i, j in enumerate(("ok", "busy", "bad", "gone", "down"))]
    clips.append(_late.Clip("d", "r", "plan", -1, "failed", None))  # never submitted: not a row
    manifest = _late.reconcile(
        clips, lambda conn: reader, lambda gw: get_gateway(gw).billing, LOG, download_to="/out"
    )
    status = {row["job_id"]: row["status"] for row in manifest["jobs"]}
    assert status == {
        "ok": "delivered",
        "busy": "rendering",
        "bad": "failed",
        "gone": "lost",
        "down": "error",
    }
    ok = manifest["jobs"][0]
    assert ok["video"] == ["/out/ok.mp4"] and ok["clip"] == "render[0]" and ok["billed"] == "yes"
    assert reader.downloads == ["http://v/ok.mp4"]
    assert manifest["jobs"][2]["billed"] == "no" and manifest["billed_failures"] == 0  # Kling: not charged
    # billed: the success (reported 1.5) and the job still rendering (estimated only)
    assert manifest["totals"] == {"reported": {"units": 1.5}, "estimated": {"units": 3.0}}
    table = _late.cost_table(manifest)
    assert "render[0]" in table and "total reported   1.5 units" in table


def test_a_failure_the_documents_do_not_cover_counts_as_billed() -> None:
    reader = FakeReader({"bad": task("bad", TaskState.FAILED, error_code="policy", error_message="nsfw")})
    manifest = _late.reconcile(
        [clip("bad", 0, gateway="apixo")], lambda c: reader, lambda gw: get_gateway(gw).billing, LOG
    )
    row = manifest["jobs"][0]
    assert (row["status"], row["outcome"], row["billed"]) == ("failed", "content_policy", "unknown")
    assert manifest["billed_failures"] == 1


def test_asking_only_delivers_nothing_and_a_succeeded_task_is_read_from_its_result() -> None:
    reader = FakeReader({"late": task("late", TaskState.SUCCEEDED, video_urls=["http://v/l.mp4"])})
    done = _late.Clip(
        "d",
        "r",
        "render",
        1,
        "success",
        {"job_id": "t1", "gateway": "kling", "conn_id": "c"},
        {"task_id": "t1", "state": "succeeded", "video_urls": ["u"], "cost": 2.5, "cost_unit": "units"},
    )
    manifest = _late.reconcile(
        [clip("late", 0), done],
        lambda c: reader,
        lambda gw: get_gateway(gw).billing,
        LOG,
        deliver=False,
        download_to="/out",
    )
    assert [row["status"] for row in manifest["jobs"]] == ["succeeded", "delivered_by_task"]
    assert reader.downloads == [] and manifest["totals"]["reported"] == {"units": 2.5}


def test_jobs_listed_under_this_providers_references_that_no_clip_recorded_are_unadopted() -> None:
    reader = FakeReader({"ok": task("ok", TaskState.RUNNING)})
    listed = [
        task("ok", TaskState.SUCCEEDED, client_reference="af-1-g0"),  # recorded
        task("orphan", TaskState.SUCCEEDED, client_reference="af-2-g0"),
        task("theirs", TaskState.SUCCEEDED, client_reference="someone-else"),
        task("plain", TaskState.SUCCEEDED),
    ]
    manifest = _late.reconcile(
        [clip("ok", 0)], lambda c: reader, lambda gw: get_gateway(gw).billing, LOG, listed=listed
    )
    assert [job["task_id"] for job in manifest["unadopted"]] == ["orphan"]


# ------------------------------------------------------------------------------------ task list
def test_the_official_api_lists_tasks_per_family() -> None:
    gw = get_gateway("kling")
    assert gw.list_endpoints == ("text2video", "image2video")
    http = gw.build_list("image2video", 2, 1000)
    assert (http.method, http.path, http.params) == (
        "GET",
        "/v1/videos/image2video",
        {"pageNum": "2", "pageSize": "500"},
    )
    body = {
        "code": 0,
        "message": "SUCCEED",
        "data": [
            {
                "task_id": "1",
                "task_status": "succeed",
                "task_info": {"external_task_id": "af-x-g0"},
                "task_result": {"videos": [{"url": "https://v/1.mp4"}]},
                "final_unit_deduction": "1.5",
            },
            {"task_id": "2", "task_status": "processing", "task_info": {}},
        ],
    }
    tasks = gw.parse_list("image2video", HttpResponse(200, {}, json.dumps(body).encode()))
    assert [(t.task_id, t.state.value, t.client_reference, t.endpoint) for t in tasks] == [
        ("1", "succeeded", "af-x-g0", "image2video"),
        ("2", "running", None, "image2video"),
    ]
    assert tasks[0].cost == 1.5


@pytest.mark.parametrize("gateway", [g for g in GATEWAYS if g != "kling"])
def test_other_gateways_document_no_task_list(gateway: str) -> None:
    assert get_gateway(gateway).list_endpoints == ()


def test_a_record_whose_connection_is_gone_is_reported_and_the_others_swept() -> None:
    reader = FakeReader({"ok": task("ok", TaskState.RUNNING)})

    def reader_for(conn_id: str) -> FakeReader:
        if conn_id == "gone":
            raise RuntimeError("The conn_id `gone` isn't defined")
        return reader

    clips = [clip("lost", 0, conn_id="gone"), clip("ok", 1)]
    manifest = _late.reconcile(clips, reader_for, lambda gw: get_gateway(gw).billing, LOG)
    assert [(row["job_id"], row["status"]) for row in manifest["jobs"]] == [
        ("lost", "error"),
        ("ok", "rendering"),
    ]
    assert "gone" in manifest["jobs"][0]["error"]
