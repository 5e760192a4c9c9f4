"""The trigger ends a clip that needs nothing from a worker: same XCom, same link, same log line."""

from __future__ import annotations

import re
import time
from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk import Asset
from airflow.sdk.bases.operator import BaseOperator
from airflow.triggers.base import TaskSuccessEvent, TriggerEvent

from airflow_provider_kling._airflow import trigger_end
from airflow_provider_kling.emulator import EmulatorServer
from airflow_provider_kling.hooks.kling import KlingHook
from airflow_provider_kling.links import KlingVideoLink
from airflow_provider_kling.models import VideoRequest
from airflow_provider_kling.operators.kling import KlingGenerateOperator
from airflow_provider_kling.polling import PollSchedule
from airflow_provider_kling.triggers.kling import KlingTaskTrigger

FAST = PollSchedule(first_delay=0.2, interval=0.2, jitter=0.1).to_dict()


class _Transcoding(KlingGenerateOperator):
    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> Any:
        return super().execute_complete(context, event)


class _Publish(BaseOperator):
    def __init__(self, *, item: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.item = item


class _Comms:
    """Stands in for the triggerer's channel to its supervisor: records what a trigger sends."""

    def __init__(self, fail: bool = False) -> None:
        self.sent: list[Any] = []
        self.fail = fail

    def send(self, msg: Any) -> None:
        if self.fail:
            raise ConnectionError("the supervisor went away")
        self.sent.append(msg)

    async def asend(self, msg: Any) -> None:
        self.send(msg)


def _trigger(conn_id: str, task: Any, end_task: dict[str, Any] | None) -> KlingTaskTrigger:
    return KlingTaskTrigger(
        kling_conn_id=conn_id,
        kling_task_id=task.task_id,
        endpoint=task.endpoint,
        poll_schedule=FAST,
        deadline=time.time() + 60,
        not_before=time.time(),
        end_task=end_task,
    )


async def _events(trig: KlingTaskTrigger) -> list[Any]:
    return [event async for event in trig.run()]


def _final_lines(text: str, task_id: str) -> list[str]:
    """The "succeeded:" log lines of ``task_id`` as printed (message only, without the log prefix)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # Airflow 3.1 prints in colour
    found = re.findall(rf"(Kling job {task_id} succeeded: .*?) \[airflow", text)
    return [str(line) for line in found]


@pytest.mark.parametrize("gateway", ["rivya", "apixo", "kling"])
async def test_the_trigger_ends_the_task_with_the_workers_xcom_and_log_line(
    emulator: EmulatorServer, gateway: str, capfd: pytest.CaptureFixture[str]
) -> None:
    conn_id = f"kling_{gateway}"
    op = KlingGenerateOperator(task_id="t", prompt="A red kite", kling_conn_id=conn_id, deferrable=True)
    hook = KlingHook(conn_id)
    request = hook.make_request(prompt="A red kite")
    estimate = hook.estimate_cost(request)
    task = hook.submit(request)

    ended = await _events(_trigger(conn_id, task, trigger_end(op, KlingGenerateOperator, estimate)))
    assert len(ended) == 1 and isinstance(ended[0], TaskSuccessEvent)
    xcoms = ended[0].xcoms
    assert xcoms is not None and set(xcoms) == {"return_value", "_link_KlingVideoLink"}
    trigger_lines = _final_lines(capfd.readouterr().out, task.task_id)

    # The worker path on the same job: the trigger's plain event, then execute_complete.
    resumed = await _events(_trigger(conn_id, task, None))
    worker = KlingGenerateOperator(task_id="t", prompt="A red kite", kling_conn_id=conn_id, deferrable=True)
    result = worker.execute_complete({}, resumed[0].payload)  # type: ignore[arg-type]
    worker_lines = _final_lines(capfd.readouterr().out, task.task_id)
    assert xcoms["return_value"] == result
    link = KlingVideoLink().get_link(worker, ti_key=None)  # type: ignore[arg-type]
    assert xcoms["_link_KlingVideoLink"] == link == result["video_urls"][0]
    if estimate is not None:
        assert result["estimated_cost"] == estimate.to_dict()
        assert f"(estimated {estimate})" in trigger_lines[0]
    assert len(trigger_lines) == 1 and trigger_lines == worker_lines


async def test_in_a_triggerer_the_trigger_pushes_the_xcom_as_a_worker_does(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the task SDK's channel (the worker's push: the dict, serialized once), not in the event,
    whose XComs Airflow stores JSON-encoded (a downstream ``xcom_pull`` would read a string)."""
    from airflow.sdk.execution_time import task_runner

    comms = _Comms()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    op = KlingGenerateOperator(task_id="t", prompt="A red kite", kling_conn_id="kling_apixo", deferrable=True)
    hook = KlingHook("kling_apixo")
    request = hook.make_request(prompt="A red kite")
    task = hook.submit(request)
    trig = _trigger("kling_apixo", task, trigger_end(op, KlingGenerateOperator, hook.estimate_cost(request)))
    trig.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=3)  # type: ignore[assignment]

    ended = await _events(trig)
    assert len(ended) == 1 and isinstance(ended[0], TaskSuccessEvent) and ended[0].xcoms is None
    resumed = await _events(_trigger("kling_apixo", task, None))
    result = op.execute_complete({}, resumed[0].payload)  # type: ignore[arg-type]
    sent = {msg.key: msg for msg in comms.sent if hasattr(msg, "key")}  # the XCom writes (no MaskSecret)
    assert set(sent) == {"return_value", "_link_KlingVideoLink"}
    assert sent["return_value"].value == result and isinstance(sent["return_value"].value, dict)
    assert sent["_link_KlingVideoLink"].value == result["video_urls"][0]
    assert all(getattr(msg, "map_index", 3) == 3 for msg in sent.values())


async def test_if_the_push_fails_the_task_resumes_in_a_worker(
    emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk.execution_time import task_runner

    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", _Comms(fail=True), raising=False)
    op = KlingGenerateOperator(task_id="t", prompt="x", kling_conn_id="kling_apixo", deferrable=True)
    task = KlingHook("kling_apixo").submit(VideoRequest(prompt="x"))
    trig = _trigger("kling_apixo", task, trigger_end(op, KlingGenerateOperator, None))
    trig.task_instance = SimpleNamespace(dag_id="d", task_id="t", run_id="r", map_index=-1)  # type: ignore[assignment]
    ended = await _events(trig)
    assert (
        len(ended) == 1 and not isinstance(ended[0], TaskSuccessEvent) and isinstance(ended[0], TriggerEvent)
    )
    assert ended[0].payload["status"] == "success" and ended[0].payload["task"]["task_id"] == task.task_id
    assert op.execute_complete({}, ended[0].payload)["task_id"] == task.task_id  # type: ignore[arg-type]


async def test_a_failed_job_still_resumes_in_a_worker(emulator: EmulatorServer) -> None:
    op = KlingGenerateOperator(task_id="t", prompt="x", kling_conn_id="kling_apixo", deferrable=True)
    task = KlingHook("kling_apixo").submit(VideoRequest(prompt="[fault:policy-task] nope"))
    got = await _events(_trigger("kling_apixo", task, trigger_end(op, KlingGenerateOperator, None)))
    assert len(got) == 1 and not isinstance(got[0], TaskSuccessEvent)
    assert got[0].payload["status"] == "error" and got[0].payload["error"]["kind"] == "content_policy"


@pytest.mark.parametrize(
    ("cls", "kwargs", "ends_in_trigger"),
    [
        (KlingGenerateOperator, {}, True),
        (KlingGenerateOperator, {"download_to": "/tmp/videos"}, False),
        (KlingGenerateOperator, {"end_from_trigger": False}, False),
        (KlingGenerateOperator, {"outlets": [Asset("s3://bucket/clip")]}, False),
        (_Transcoding, {}, False),
        (KlingGenerateOperator, {"downstream": True}, True),  # it pulls the dict (pushed as a worker does)
        (KlingGenerateOperator, {"downstream": True, "end_from_trigger": False}, False),
        (KlingGenerateOperator, {"mapped_downstream": True}, False),  # the worker records the length
    ],
)
def test_the_trigger_ends_the_task_only_when_no_worker_step_is_left(
    cls: type[KlingGenerateOperator], kwargs: dict[str, Any], ends_in_trigger: bool
) -> None:
    from airflow.sdk import DAG

    downstream = kwargs.pop("downstream", False)
    mapped_downstream = kwargs.pop("mapped_downstream", False)
    with DAG("end_from_trigger_choice", schedule=None):
        op = cls(task_id="t", prompt="x", deferrable=True, **kwargs)
        if downstream:
            op >> BaseOperator(task_id="publish")
        if mapped_downstream:
            _Publish.partial(task_id="publish_each").expand(item=op.output)
    end = trigger_end(op, KlingGenerateOperator, None)
    assert (end is not None) is ends_in_trigger
    if end is not None:
        assert end == {"estimated_cost": None, "estimate_text": None, "link_keys": ["_link_KlingVideoLink"]}
